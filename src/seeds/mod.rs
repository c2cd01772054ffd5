//! Seeds: the addresses a trace starts from.
//!
//! * [`read_address_list`] and [`parse_address_list`]: plain lists, one
//!   address per line;
//! * [`ofac`]: OFAC SDN files (`SDN.CSV`, `sdn.xml`, `sdn_advanced.xml`),
//!   with every listing kept as provenance.

use std::path::Path;

use crate::error::{Error, Result};
use crate::types::Address;

pub mod ofac;

/// Reads addresses, one per line. Blank lines and lines starting with `#`
/// are skipped; anything after whitespace on a line is ignored (so a line
/// may carry a note after the address).
///
/// # Errors
/// [`Error::Io`] if the file cannot be read, [`Error::InputLine`] naming the
/// file and line of the first malformed address.
pub fn read_address_list(path: &Path) -> Result<Vec<Address>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_address_list(&text).map_err(|(line, e)| Error::InputLine {
        path: path.to_owned(),
        line,
        reason: e.to_string(),
    })
}

/// The pure part of [`read_address_list`]: on error, the 1-based line number
/// and the parse error.
pub fn parse_address_list(text: &str) -> std::result::Result<Vec<Address>, (usize, Error)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let word = t.split_whitespace().next().unwrap_or(t);
        out.push(Address::parse(word).map_err(|e| (i + 1, e))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        let text = "# KIM Sang Man\n1D6gG9iKEhPitTcWRJiniuj1jYM2hNeAfJ  xbt\n\n0x97b1043abd9e6fc31681635166d430a458d14f9c\n";
        assert_eq!(parse_address_list(text).unwrap().len(), 2);
        let (line, e) =
            parse_address_list("1D6gG9iKEhPitTcWRJiniuj1jYM2hNeAfJ\nnot-an-address\n").unwrap_err();
        assert_eq!(line, 2);
        assert!(e.to_string().contains("not-an-address"));
    }

    #[test]
    fn file_errors_name_the_file_and_line() {
        let dir = std::env::temp_dir().join(format!("fundtrace-seeds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("seeds.txt");
        std::fs::write(&p, "1D6gG9iKEhPitTcWRJiniuj1jYM2hNeAfJ\n0xZZ\n").unwrap();
        let e = read_address_list(&p).unwrap_err().to_string();
        assert!(e.contains("seeds.txt:2"), "{e}");
        let missing = read_address_list(&dir.join("missing.txt"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("missing.txt"), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
