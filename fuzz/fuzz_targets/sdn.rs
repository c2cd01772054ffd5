#![no_main]
//! Input: an OFAC list (SDN.CSV, sdn.xml or sdn_advanced.xml); format detection plus each
//! parser directly.
use fundtrace::seeds::ofac;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(list) = ofac::parse(data) {
        let _ = list.seeds();
    }
    let _ = ofac::parse_sdn_csv(data);
    let _ = ofac::parse_sdn_xml(data);
    let _ = ofac::parse_sdn_advanced_xml(data);
});
