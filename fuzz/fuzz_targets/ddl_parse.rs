//! `[--@db.table]` + DDL statement → `ddl::parse` → `ddl::translate` / `ddl::is_applied`: never
//! panics; every identifier written is backquoted and comes from the input
//! (`starpipe_fuzz::ddl_parse`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    starpipe_fuzz::ddl_parse::check_ddl(data);
});
