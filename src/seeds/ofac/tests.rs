//! Unit tests of the OFAC readers.

use std::io::BufRead;

use super::csv::scan_remarks;
use super::xml::LineCounter;
use super::*;

fn row(number: u32, name: &str, programs: &str, remarks: &str) -> String {
    format!(
        "{number},\"{name}\",\"individual\",\"{programs}\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,\"{remarks}\"\r\n"
    )
}

#[test]
fn remarks_listings_and_cuts() {
    let s = scan_remarks(
        "DOB 1965; Digital Currency Address - XBT 1D6gG9iKEhPitTcWRJiniuj1jYM2hNeAfJ; alt. Digital Currency Address - ETH 0xab.",
    );
    assert_eq!(s.listings.len(), 2);
    assert_eq!(s.listings[1], ("ETH".into(), "0xab".into()));
    assert!(s.cut.is_none());

    let s = scan_remarks(
        "Digital Currency Address - XBT 1abc; alt. Digital Currency Address - XBT 1Gq",
    );
    assert_eq!(s.listings.len(), 1);
    assert_eq!(
        s.cut,
        Some(("alt. Digital Currency Address - XBT 1Gq".into(), true))
    );
    assert!(scan_remarks("x; alt. Digital Currency A").cut.unwrap().1);
    assert!(
        scan_remarks("x; Digital Currency Address - XBT ")
            .cut
            .unwrap()
            .1
    );
    assert!(!scan_remarks("x; a.k.a. 'WHOIS HACKIN").cut.unwrap().1);
    assert_eq!(scan_remarks("x;").cut, Some((String::new(), false)));
}

#[test]
fn tags_and_formats() {
    let eth = "0x97b1043abd9e6fc31681635166d430a458d14f9c";
    assert!(classify_listing("USDT", eth).is_ok());
    assert!(classify_listing("USDT", "1D6gG9iKEhPitTcWRJiniuj1jYM2hNeAfJ").is_ok());
    assert!(matches!(
        classify_listing("USDT", "TYxwUhoLPF7AgfG9GaXFEp8CQi8K8KG1m3"),
        Err(SkipReason::UnsupportedChain { chain, .. }) if chain == "tron"
    ));
    assert!(matches!(
        classify_listing("XBT", "TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq"),
        Err(SkipReason::UnsupportedChain { chain, .. }) if chain == "tron"
    ));
    assert!(matches!(
        classify_listing("ARB", eth),
        Err(SkipReason::UnsupportedChain { chain, .. }) if chain == "arbitrum"
    ));
    assert!(matches!(
        classify_listing("XBT", eth),
        Err(SkipReason::TagMismatch {
            tag_chain: Chain::Bitcoin,
            ..
        })
    ));
    assert!(matches!(
        classify_listing("XBT", "1D6gG9iKEhPitTcWRJiniuj1jYM2hNeAfK"),
        Err(SkipReason::InvalidAddress { .. })
    ));
    assert_eq!(classify_listing("FOO", eth), Err(SkipReason::UnknownTag));
    for (s, chain) in [
        ("LgwmgYnraU2uBWHVFUDgAmFCPYj5Yw8C9L", "litecoin"),
        ("XyARKoupuArYtToA2S6yMdnoquDCDaBsaT", "dash"),
        ("t1g7wowvQ8gn2v8jrU1biyJ26sieNqNsBJy", "zcash"),
        ("rnXyVQzgxZe7TR1EPzTkGj2jxH4LMJYh66", "xrp ledger"),
        ("qzjv8hrdvz6edu4gkzpnd4w6jc7zf296g5e9kkq4lx", "bitcoin cash"),
        ("42RLPACwZPx3vYYmxSueqsogfynBDqXK298EDsNoyoHi", "solana"),
    ] {
        assert_eq!(classify_address(s), AddressFormat::Other(chain), "{s}");
    }
    for s in [
        "coinbase",
        "script-0000000000000000000000000000000000000000",
        "bitcoin:1D6gG9iKEhPitTcWRJiniuj1jYM2hNeAfJ",
    ] {
        assert!(
            matches!(classify_address(s), AddressFormat::Invalid(_)),
            "{s}"
        );
    }
}

#[test]
fn csv_rows_become_entries() {
    let text = row(
        7,
        "X, Y",
        "DPRK3] [CYBER2",
        "Digital Currency Address - ETH 0x97b1043abd9e6fc31681635166d430a458d14f9c; Digital Currency Address - USDC 0x97b1043abd9e6fc31681635166d430a458d14f9c.",
    ) + &row(8, "NO CRYPTO", "SDGT", "Passport 1.");
    let list = parse_sdn_csv(format!("{text}\x1a").as_bytes()).unwrap();
    assert_eq!(list.entries.len(), 1);
    assert_eq!(list.entries[0].programs, ["DPRK3", "CYBER2"]);
    assert_eq!(list.seeds().len(), 1);
    assert!(list.select(&[EntitySelector::number(8)]).is_err());
}

#[test]
fn csv_errors_name_the_line() {
    let good = row(
        7,
        "X",
        "P",
        "Digital Currency Address - XBT 1D6gG9iKEhPitTcWRJiniuj1jYM2hNeAfJ.",
    );
    let e = parse_sdn_csv(format!("{good}8,\"short\"\r\n").as_bytes()).unwrap_err();
    assert!(
        e.to_string()
            .contains(":2: sdn entry 8: expected 12 fields"),
        "{e}"
    );
    let e = parse_sdn_csv(&good.as_bytes()[..good.len() - 10]).unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");
    assert!(parse_sdn_csv(b"").is_err());
    assert!(parse_sdn_csv(b"x,y\r\n").is_err());
}

#[test]
fn names_and_selectors() {
    assert_eq!(fold_name("KIM, Sang  Man"), "kim sang man");
    let sel: EntitySelector = "43377".parse().unwrap();
    assert_eq!(sel, EntitySelector::number(43377));
    let sel: EntitySelector = "KIM, Sang Man".parse().unwrap();
    assert_eq!(sel, EntitySelector::name("KIM, Sang Man"));
    assert!("  ".parse::<EntitySelector>().is_err());
}

#[test]
fn formats_are_detected() {
    assert_eq!(detect_format(b"123,\"x\""), Some(SdnFormat::Csv));
    assert_eq!(
        detect_format(b"\xef\xbb\xbf<?xml version=\"1.0\"?>\n<sdnList xmlns=\"x\">"),
        Some(SdnFormat::Xml)
    );
    assert_eq!(
        detect_format(b"<?xml version=\"1.0\"?><Sanctions><DateOfIssue>"),
        Some(SdnFormat::AdvancedXml)
    );
    assert_eq!(detect_format(b"<html><body>"), None);
    assert_eq!(detect_format(b"   "), None);
}

#[test]
fn line_counter_counts_consumed_lines() {
    let mut r = LineCounter {
        inner: &b"a\nb\nc"[..],
        line: 1,
    };
    let mut s = String::new();
    r.read_line(&mut s).unwrap();
    r.read_line(&mut s).unwrap();
    assert_eq!(r.line, 3);
}
