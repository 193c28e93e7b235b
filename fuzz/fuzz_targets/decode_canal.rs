//! Arbitrary bytes → the Canal decoder: never panics; invariants in `starpipe_fuzz::check_decode`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use starpipe::decode::Format;

fuzz_target!(|data: &[u8]| {
    starpipe_fuzz::check_decode(Format::Canal, data);
});
