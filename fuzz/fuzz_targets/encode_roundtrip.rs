//! Arbitrary bytes → both decoders → Stream Load body encoder → independent CSV / JSON parser:
//! the values read back equal the decoded values (`starpipe_fuzz::check_roundtrip`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    starpipe_fuzz::check_roundtrip(data);
});
