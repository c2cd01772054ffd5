//! `sdn.xml`, and the streaming XML walk both XML readers share.

use std::fmt;
use std::io::{BufRead, Read};
use std::path::PathBuf;

use quick_xml::events::{BytesStart, Event};

use super::{EntryNumber, INPUT_NAME, MARKER, MAX_TEXT, SdnFormat, SdnList, input_error};
use crate::error::{Error, Result};

/// A `BufRead` that counts the lines it has handed out, so XML errors can
/// name a line.
pub(super) struct LineCounter<R> {
    pub(super) inner: R,
    pub(super) line: usize,
}

impl<R: BufRead> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.line += buf[..n].iter().filter(|&&b| b == b'\n').count();
        Ok(n)
    }
}

impl<R: BufRead> BufRead for LineCounter<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        // `consume` follows `fill_buf`, whose buffer is still there to count.
        if let Ok(buf) = self.inner.fill_buf() {
            let n = amt.min(buf.len());
            self.line += buf[..n].iter().filter(|&&b| b == b'\n').count();
        }
        self.inner.consume(amt);
    }
}

/// Elements the two XML parsers look at; everything else is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum El {
    // sdn_advanced.xml
    FeatureType,
    NamePartType,
    DistinctParty,
    Profile,
    Alias,
    DocumentedName,
    NamePartValue,
    NamePartGroup,
    Feature,
    VersionDetail,
    SanctionsEntry,
    SanctionsMeasure,
    Comment,
    // sdn.xml
    SdnEntry,
    Uid,
    LastName,
    FirstName,
    ProgramList,
    Program,
    IdList,
    Id,
    IdType,
    IdNumber,
    Other,
}

impl El {
    fn of(local: &str) -> El {
        match local {
            "FeatureType" => El::FeatureType,
            "NamePartType" => El::NamePartType,
            "DistinctParty" => El::DistinctParty,
            "Profile" => El::Profile,
            "Alias" => El::Alias,
            "DocumentedName" => El::DocumentedName,
            "NamePartValue" => El::NamePartValue,
            "NamePartGroup" => El::NamePartGroup,
            "Feature" => El::Feature,
            "VersionDetail" => El::VersionDetail,
            "SanctionsEntry" => El::SanctionsEntry,
            "SanctionsMeasure" => El::SanctionsMeasure,
            "Comment" => El::Comment,
            "sdnEntry" => El::SdnEntry,
            "uid" => El::Uid,
            "lastName" => El::LastName,
            "firstName" => El::FirstName,
            "programList" => El::ProgramList,
            "program" => El::Program,
            "idList" => El::IdList,
            "id" => El::Id,
            "idType" => El::IdType,
            "idNumber" => El::IdNumber,
            _ => El::Other,
        }
    }
}

/// Streams XML events to a handler, keeping the element stack and the text
/// of the innermost element, with line numbers for errors.
pub(super) struct XmlWalk<R: BufRead> {
    reader: quick_xml::Reader<LineCounter<R>>,
    stack: Vec<El>,
    text: String,
}

/// What the walk hands to a parser.
pub(super) enum Step<'a> {
    Start(&'a BytesStart<'a>),
    /// The element just closed, with its (untrimmed) text.
    End(El, String),
    Eof,
}

impl<R: BufRead> XmlWalk<R> {
    pub(super) fn new(inner: R) -> Self {
        let mut reader = quick_xml::Reader::from_reader(LineCounter { inner, line: 1 });
        let config = reader.config_mut();
        config.expand_empty_elements = true;
        config.check_end_names = true;
        XmlWalk {
            reader,
            stack: Vec::new(),
            text: String::new(),
        }
    }

    pub(super) fn line(&self) -> usize {
        self.reader.get_ref().line
    }

    pub(super) fn error(&self, reason: impl fmt::Display) -> Error {
        input_error(
            self.line(),
            format!("xml near byte {}: {reason}", self.reader.buffer_position()),
        )
    }

    fn xml_error(&self, e: quick_xml::Error) -> Error {
        match e {
            quick_xml::Error::Io(io) => Error::Io {
                path: PathBuf::from(INPUT_NAME),
                source: std::io::Error::new(io.kind(), io.to_string()),
            },
            other => self.error(other),
        }
    }

    pub(super) fn parent(&self, up: usize) -> El {
        self.stack
            .len()
            .checked_sub(up + 1)
            .and_then(|i| self.stack.get(i))
            .copied()
            .unwrap_or(El::Other)
    }

    fn push_text(&mut self, s: &str) -> Result<()> {
        if self.text.len() + s.len() > MAX_TEXT {
            return Err(self.error(format!("text longer than {MAX_TEXT} bytes")));
        }
        self.text.push_str(s);
        Ok(())
    }

    /// Calls `on` for each start and end of element, then once with `Eof`.
    pub(super) fn run(mut self, mut on: impl FnMut(&Self, Step<'_>) -> Result<()>) -> Result<()> {
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let event = match self.reader.read_event_into(&mut buf) {
                Ok(ev) => ev,
                Err(e) => return Err(self.xml_error(e)),
            };
            match event {
                Event::Start(e) => {
                    self.stack.push(El::of(e.local_name().as_ref()));
                    self.text.clear();
                    on(&self, Step::Start(&e))?;
                }
                Event::End(_) => {
                    let el = self.stack.pop().unwrap_or(El::Other);
                    let text = std::mem::take(&mut self.text);
                    on(&self, Step::End(el, text))?;
                }
                Event::Text(t) => {
                    self.push_text(&t.xml10_content())?;
                }
                Event::CData(t) => {
                    self.push_text(t.as_ref())?;
                }
                Event::GeneralRef(r) => {
                    let resolved = if r.is_char_ref() {
                        match r.resolve_char_ref() {
                            Ok(Some(c)) => c.to_string(),
                            Ok(None) => String::new(),
                            Err(e) => return Err(self.error(e)),
                        }
                    } else {
                        let name: &str = r.as_ref();
                        match quick_xml::escape::resolve_predefined_entity(name) {
                            Some(s) => s.to_owned(),
                            None => return Err(self.error(format!("unknown entity &{name};"))),
                        }
                    };
                    self.push_text(&resolved)?;
                }
                Event::Eof => {
                    if let Some(open) = self.stack.last() {
                        return Err(self.error(format!(
                            "input ends inside an open element ({open:?}; truncated file?)"
                        )));
                    }
                    return on(&self, Step::Eof);
                }
                Event::Empty(_)
                | Event::Comment(_)
                | Event::Decl(_)
                | Event::PI(_)
                | Event::DocType(_) => {}
            }
        }
    }
}

pub(super) fn attr_u64<R: BufRead>(
    walk: &XmlWalk<R>,
    e: &BytesStart<'_>,
    name: &str,
) -> Result<Option<u64>> {
    let attr = e
        .try_get_attribute(name)
        .map_err(|err| walk.error(format!("attribute {name}: {err}")))?;
    let Some(attr) = attr else { return Ok(None) };
    // Ids are plain digits: no entities or encodings to resolve.
    let value = &attr.value;
    value
        .trim()
        .parse::<u64>()
        .map(Some)
        .map_err(|_| walk.error(format!("attribute {name}={value:?} is not a number")))
}

pub(super) fn attr_is_true<R: BufRead>(
    walk: &XmlWalk<R>,
    e: &BytesStart<'_>,
    name: &str,
) -> Result<bool> {
    let attr = e
        .try_get_attribute(name)
        .map_err(|err| walk.error(format!("attribute {name}: {err}")))?;
    Ok(attr.is_some_and(|a| a.value == "true"))
}

pub(super) fn entry_number<R: BufRead>(walk: &XmlWalk<R>, n: u64) -> Result<EntryNumber> {
    u32::try_from(n)
        .map(EntryNumber)
        .map_err(|_| walk.error(format!("entry number {n} out of range")))
}

// ---------------------------------------------------------------------------
// sdn.xml

/// Parses the older `sdn.xml` format, streaming.
///
/// The entry name is `lastName, firstName` (or `lastName` alone), as in
/// `SDN.CSV`; listings come from `<idList><id>` elements whose `idType`
/// starts with `Digital Currency Address - `.
///
/// # Errors
/// [`Error::InputLine`](crate::Error::InputLine) (input named [`INPUT_NAME`](super::INPUT_NAME)) for malformed XML, a
/// truncated file, or an entry without a numeric `uid`; [`Error::Io`](crate::Error::Io) if
/// reading fails.
pub fn parse_sdn_xml<R: BufRead>(reader: R) -> Result<SdnList> {
    #[derive(Default)]
    struct Entry {
        uid: Option<u64>,
        last: String,
        first: String,
        programs: Vec<String>,
        listings: Vec<(String, String, Option<u64>)>,
        id: (Option<u64>, String, String),
    }
    let mut list = SdnList::new(SdnFormat::Xml);
    let mut cur: Option<Entry> = None;
    XmlWalk::new(reader).run(|walk, step| {
        match step {
            Step::Start(_) => {
                let el = walk.parent(0);
                if el == El::SdnEntry {
                    cur = Some(Entry::default());
                } else if el == El::Id
                    && let Some(c) = cur.as_mut()
                {
                    c.id = (None, String::new(), String::new());
                }
            }
            Step::End(el, text) => {
                // The parent of the element that just closed is now on top.
                let parent = walk.parent(0);
                let Some(c) = cur.as_mut() else {
                    return Ok(());
                };
                let text = text.trim();
                match (el, parent) {
                    (El::Uid, El::SdnEntry) => {
                        c.uid = Some(text.parse::<u64>().map_err(|_| {
                            walk.error(format!("sdnEntry uid {text:?} is not a number"))
                        })?);
                    }
                    (El::LastName, El::SdnEntry) => c.last = text.to_owned(),
                    (El::FirstName, El::SdnEntry) => c.first = text.to_owned(),
                    (El::Program, El::ProgramList)
                        if walk.parent(1) == El::SdnEntry && !text.is_empty() =>
                    {
                        c.programs.push(text.to_owned());
                    }
                    (El::Uid, El::Id) => c.id.0 = text.parse::<u64>().ok(),
                    (El::IdType, El::Id) => c.id.1 = text.to_owned(),
                    (El::IdNumber, El::Id) => c.id.2 = text.to_owned(),
                    (El::Id, El::IdList) => {
                        let (uid, id_type, number) = std::mem::take(&mut c.id);
                        if let Some(tag) = id_type.strip_prefix(MARKER) {
                            c.listings.push((tag.trim().to_owned(), number, uid));
                        }
                    }
                    (El::SdnEntry, _) => {
                        let Some(c) = cur.take() else { return Ok(()) };
                        let uid = c.uid.ok_or_else(|| walk.error("sdnEntry without a uid"))?;
                        if !c.listings.is_empty() {
                            let name = if c.first.is_empty() {
                                c.last
                            } else {
                                format!("{}, {}", c.last, c.first)
                            };
                            list.push_entry(entry_number(walk, uid)?, name, c.programs, c.listings);
                        }
                    }
                    _ => {}
                }
            }
            Step::Eof => {}
        }
        Ok(())
    })?;
    Ok(list)
}
