//! `[status line]` + body → Stream Load answer classification: never panics; the verdict obeys
//! starrocks.md §2.2–§2.5 (`starpipe_fuzz::load_response`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    starpipe_fuzz::load_response::check_load_response(data);
});
