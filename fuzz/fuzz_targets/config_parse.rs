//! Job-file text → `Config::parse`: never panics; problems carry a message and a key path or a
//! place; a valid job's effective configuration reads back as the same job
//! (`starpipe_fuzz::config_parse`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    starpipe_fuzz::config_parse::check_config(data);
});
