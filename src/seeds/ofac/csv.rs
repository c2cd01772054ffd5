//! `SDN.CSV`: OFAC's CSV publication of the SDN list.

use super::{EntryNumber, MARKER, SdnFormat, SdnList, TruncatedEntry, input_error};
use crate::error::Result;
use crate::input::LineTracker;

/// Parses `SDN.CSV` bytes (the pure part of [`load`](super::load) for that format).
///
/// Tolerated: the trailing 0x1A byte, CRLF or LF line ends, a header row
/// starting `ent_num`, non-UTF-8 bytes (read as Latin-1).
///
/// # Errors
/// [`Error::InputLine`](crate::Error::InputLine) (input named [`INPUT_NAME`](super::INPUT_NAME)) for an empty input, a
/// file that ends inside a record (a truncated download), a row without 12
/// fields or without a numeric entry number.
pub fn parse_sdn_csv(bytes: &[u8]) -> Result<SdnList> {
    let mut data = bytes;
    while let [rest @ .., 0x1a] = data {
        data = rest;
    }
    if data.iter().all(u8::is_ascii_whitespace) {
        return Err(input_error(1, "empty input: no sdn records"));
    }
    if !data.ends_with(b"\n") {
        let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
        return Err(input_error(
            lines,
            "input ends inside a record, without a line end (truncated file?)",
        ));
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(data);
    let mut list = SdnList::new(SdnFormat::Csv);
    let mut record = csv::ByteRecord::new();
    let mut lines = LineTracker::new(data);
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = lines.error_line(&e, reader.position());
                return Err(input_error(line, format!("csv: {e}")));
            }
        }
        let line = lines.record_line(record.position());
        let field = |i: usize| record.get(i).map(decode_text).unwrap_or_default();
        let number_text = field(0);
        let number_text = number_text.trim();
        if line == 1 && number_text.eq_ignore_ascii_case("ent_num") {
            continue;
        }
        let number = number_text.parse::<u32>().map_err(|_| {
            input_error(
                line,
                format!("expected an sdn entry number, found {number_text:?}"),
            )
        })?;
        if record.len() != 12 {
            return Err(input_error(
                line,
                format!(
                    "sdn entry {number}: expected 12 fields, found {}",
                    record.len()
                ),
            ));
        }
        let name = null_to_empty(&field(1));
        let programs: Vec<String> = null_to_empty(&field(3))
            .split("] [")
            .map(|p| p.trim_matches(|c: char| c == '[' || c == ']' || c.is_whitespace()))
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        let remarks = null_to_empty(&field(11));
        let scan = scan_remarks(&remarks);
        let in_listing = scan.cut.as_ref().is_some_and(|c| c.1);
        if scan.listings.is_empty() && !in_listing {
            continue;
        }
        if let Some((fragment, in_listing)) = scan.cut {
            list.truncated.push(TruncatedEntry {
                number: EntryNumber(number),
                name: name.clone(),
                fragment,
                in_listing,
            });
        }
        let raw = scan
            .listings
            .into_iter()
            .map(|(tag, raw)| (tag, raw, None))
            .collect();
        list.push_entry(EntryNumber(number), name, programs, raw);
    }
    Ok(list)
}

/// UTF-8 if it is, else Latin-1 (each byte one character).
fn decode_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

fn null_to_empty(s: &str) -> String {
    let t = s.trim();
    if t == "-0-" {
        String::new()
    } else {
        t.to_owned()
    }
}

pub(super) struct RemarkScan {
    /// (tag, raw address) of each complete listing.
    pub(super) listings: Vec<(String, String)>,
    /// When the remarks were cut off: the unfinished item and whether it is a listing.
    pub(super) cut: Option<(String, bool)>,
}

/// Finds the digital currency listings in an `SDN.CSV` remarks field.
///
/// Items are separated by `;` and the field ends with `.`; a field that does
/// not end with `.` was cut off, and its last item is unfinished.
pub(super) fn scan_remarks(remarks: &str) -> RemarkScan {
    let text = remarks.trim();
    let complete = text.ends_with('.');
    let body = if complete {
        &text[..text.len() - 1]
    } else {
        text
    };
    let mut items: Vec<&str> = body.split(';').collect();
    let cut = if complete || text.is_empty() {
        None
    } else {
        let last = items.pop().unwrap_or_default().trim();
        let rest = last.strip_prefix("alt.").unwrap_or(last).trim_start();
        let in_listing = !rest.is_empty() && (rest.starts_with(MARKER) || MARKER.starts_with(rest));
        Some((last.to_owned(), in_listing))
    };
    let mut listings = Vec::new();
    for item in items {
        let t = item.trim();
        let rest = t.strip_prefix("alt.").unwrap_or(t).trim_start();
        if let Some(after) = rest.strip_prefix(MARKER) {
            let after = after.trim();
            let (tag, raw) = after.split_once(char::is_whitespace).unwrap_or((after, ""));
            listings.push((tag.to_owned(), raw.trim().to_owned()));
        }
    }
    RemarkScan { listings, cut }
}
