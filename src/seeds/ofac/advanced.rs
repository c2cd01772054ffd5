//! `sdn_advanced.xml`: OFAC's advanced XML publication, streamed.

use std::collections::HashMap;
use std::io::BufRead;

use super::xml::{El, Step, XmlWalk, attr_is_true, attr_u64, entry_number};
use super::{EntryNumber, MARKER, SdnFormat, SdnList};
use crate::error::Result;

/// `NamePartType` values of `sdn_advanced.xml`, used when the file being read
/// does not define them (as in excerpts). The same values appear in OFAC's
/// `ReferenceValueSets/NamePartTypeValues`.
const DEFAULT_NAME_PART_TYPES: [(u64, &str); 10] = [
    (1520, "Last Name"),
    (1521, "First Name"),
    (1522, "Middle Name"),
    (1523, "Maiden Name"),
    (1524, "Aircraft Name"),
    (1525, "Entity Name"),
    (1526, "Vessel Name"),
    (1528, "Nickname"),
    (91708, "Patronymic"),
    (91709, "Matronymic"),
];

/// Parses `sdn_advanced.xml`, streaming: memory is kept only for the
/// reference values, the profile being read, and the profiles that have
/// digital currency features.
///
/// The entry number is the Profile ID; the name is built from the primary
/// alias's documented name (the `Primary Latin` one when marked) as
/// `Last, Other parts` in document order; programs are the
/// `SanctionsMeasure` comments of the profile's `SanctionsEntry`.
///
/// # Errors
/// [`Error::InputLine`](crate::Error::InputLine) (input named [`INPUT_NAME`](super::INPUT_NAME)) for malformed XML, a
/// truncated file or non-numeric ids; [`Error::Io`](crate::Error::Io) if reading fails.
pub fn parse_sdn_advanced_xml<R: BufRead>(reader: R) -> Result<SdnList> {
    #[derive(Default)]
    struct Profile {
        id: Option<u64>,
        primary_alias: bool,
        /// (DocNameStatusID, [(NamePartGroupID, text)]) of the primary alias's names.
        names: Vec<DocumentedName>,
        group_types: HashMap<u64, u64>,
        /// (FeatureTypeID, feature id, VersionDetail texts).
        features: Vec<(u64, u64, Vec<String>)>,
        feature: Option<(u64, u64, Vec<String>)>,
    }
    struct Kept {
        number: EntryNumber,
        name: String,
        /// (FeatureTypeID, feature id, address text).
        features: Vec<(u64, u64, String)>,
    }

    let mut dc_types: HashMap<u64, String> = HashMap::new();
    let mut part_types: HashMap<u64, String> = HashMap::new();
    let mut pending_type: Option<u64> = None;
    let mut profile: Option<Profile> = None;
    let mut kept: Vec<Kept> = Vec::new();
    let mut kept_index: HashMap<EntryNumber, usize> = HashMap::new();
    let mut programs: HashMap<EntryNumber, Vec<String>> = HashMap::new();
    let mut sanctions_entry: Option<EntryNumber> = None;
    let mut parties_seen = false;

    XmlWalk::new(reader).run(|walk, step| {
        match step {
            Step::Start(e) => match walk.parent(0) {
                El::FeatureType | El::NamePartType => pending_type = attr_u64(walk, e, "ID")?,
                El::DistinctParty => profile = Some(Profile::default()),
                El::Profile => {
                    if let Some(p) = profile.as_mut() {
                        p.id = attr_u64(walk, e, "ID")?;
                    }
                }
                El::Alias => {
                    if let Some(p) = profile.as_mut() {
                        p.primary_alias = attr_is_true(walk, e, "Primary")?;
                    }
                }
                El::DocumentedName => {
                    let status = attr_u64(walk, e, "DocNameStatusID")?;
                    if let Some(p) = profile.as_mut().filter(|p| p.primary_alias) {
                        p.names.push((status, Vec::new()));
                    }
                }
                El::NamePartValue => {
                    let group = attr_u64(walk, e, "NamePartGroupID")?;
                    if let Some(p) = profile.as_mut().filter(|p| p.primary_alias)
                        && let Some(n) = p.names.last_mut()
                    {
                        n.1.push((group, String::new()));
                    }
                }
                El::NamePartGroup => {
                    let id = attr_u64(walk, e, "ID")?;
                    let ty = attr_u64(walk, e, "NamePartTypeID")?;
                    if let (Some(p), Some(id), Some(ty)) = (profile.as_mut(), id, ty) {
                        p.group_types.insert(id, ty);
                    }
                }
                El::Feature => {
                    let id = attr_u64(walk, e, "ID")?.unwrap_or(0);
                    let ty = attr_u64(walk, e, "FeatureTypeID")?;
                    if let (Some(p), Some(ty)) = (profile.as_mut(), ty) {
                        p.feature = Some((ty, id, Vec::new()));
                    }
                }
                El::SanctionsEntry => {
                    sanctions_entry = match attr_u64(walk, e, "ProfileID")? {
                        Some(n) => Some(entry_number(walk, n)?),
                        None => None,
                    };
                }
                _ => {}
            },
            Step::End(el, text) => match el {
                El::FeatureType | El::NamePartType => {
                    if let Some(id) = pending_type.take() {
                        let text = text.trim();
                        if el == El::NamePartType {
                            part_types.insert(id, text.to_owned());
                        } else if let Some(tag) = text.strip_prefix(MARKER) {
                            dc_types.insert(id, tag.trim().to_owned());
                        }
                    }
                }
                El::NamePartValue => {
                    if let Some(p) = profile.as_mut().filter(|p| p.primary_alias)
                        && let Some((_, parts)) = p.names.last_mut()
                        && let Some(part) = parts.last_mut()
                    {
                        part.1 = text.trim().to_owned();
                    }
                }
                El::Alias => {
                    if let Some(p) = profile.as_mut() {
                        p.primary_alias = false;
                    }
                }
                El::VersionDetail => {
                    if let Some((_, _, values)) = profile.as_mut().and_then(|p| p.feature.as_mut())
                    {
                        let t = text.trim();
                        if !t.is_empty() {
                            values.push(t.to_owned());
                        }
                    }
                }
                El::Feature => {
                    if let Some(p) = profile.as_mut()
                        && let Some(f) = p.feature.take()
                        && !f.2.is_empty()
                        // Before the FeatureType definitions are known every
                        // feature with text is kept, to be resolved at the end.
                        && (dc_types.is_empty() || dc_types.contains_key(&f.0))
                    {
                        p.features.push(f);
                    }
                }
                El::DistinctParty => {
                    parties_seen = true;
                    let Some(p) = profile.take() else {
                        return Ok(());
                    };
                    if p.features.is_empty() {
                        return Ok(());
                    }
                    let id =
                        p.id.ok_or_else(|| walk.error("DistinctParty without a Profile ID"))?;
                    let number = entry_number(walk, id)?;
                    let name = profile_name(&p.names, &p.group_types, &part_types);
                    let features = p
                        .features
                        .into_iter()
                        .flat_map(|(ty, fid, values)| values.into_iter().map(move |v| (ty, fid, v)))
                        .collect();
                    kept_index.insert(number, kept.len());
                    kept.push(Kept {
                        number,
                        name,
                        features,
                    });
                }
                El::Comment if walk.parent(0) == El::SanctionsMeasure => {
                    if let Some(n) = sanctions_entry {
                        let t = text.trim();
                        // After the parties, only the kept ones matter.
                        if !t.is_empty() && (!parties_seen || kept_index.contains_key(&n)) {
                            programs.entry(n).or_default().push(t.to_owned());
                        }
                    }
                }
                El::SanctionsEntry => sanctions_entry = None,
                _ => {}
            },
            Step::Eof => {}
        }
        Ok(())
    })?;

    let mut list = SdnList::new(SdnFormat::AdvancedXml);
    for k in kept {
        let raw: Vec<(String, String, Option<u64>)> = k
            .features
            .into_iter()
            .filter_map(|(ty, fid, value)| {
                dc_types.get(&ty).map(|tag| (tag.clone(), value, Some(fid)))
            })
            .collect();
        if raw.is_empty() {
            continue;
        }
        let progs = programs.remove(&k.number).unwrap_or_default();
        list.push_entry(k.number, k.name, progs, raw);
    }
    Ok(list)
}

/// A documented name: its DocNameStatusID and its (NamePartGroupID, text) parts.
type DocumentedName = (Option<u64>, Vec<(Option<u64>, String)>);

/// `Last, Other parts` from the primary alias's documented names: the one
/// with DocNameStatusID 1 (`Primary Latin`) if any, else the first.
fn profile_name(
    names: &[DocumentedName],
    group_types: &HashMap<u64, u64>,
    part_types: &HashMap<u64, String>,
) -> String {
    let Some((_, parts)) = names
        .iter()
        .find(|(status, _)| *status == Some(1))
        .or_else(|| names.first())
    else {
        return String::new();
    };
    let type_name = |group: Option<u64>| -> Option<&str> {
        let ty = group_types.get(&group?)?;
        part_types.get(ty).map(String::as_str).or_else(|| {
            DEFAULT_NAME_PART_TYPES
                .iter()
                .find(|(id, _)| id == ty)
                .map(|(_, n)| *n)
        })
    };
    let last: Vec<&str> = parts
        .iter()
        .filter(|(g, _)| type_name(*g) == Some("Last Name"))
        .map(|(_, t)| t.as_str())
        .collect();
    let others: Vec<&str> = parts
        .iter()
        .filter(|(g, _)| type_name(*g) != Some("Last Name"))
        .map(|(_, t)| t.as_str())
        .collect();
    if last.is_empty() {
        others.join(" ")
    } else if others.is_empty() {
        last.join(" ")
    } else {
        format!("{}, {}", last.join(" "), others.join(" "))
    }
}
