//! The library side of `starrocks-sim`: starting it from tests and benchmarks ([`launch`]).
//! The emulator itself is the binary (`src/main.rs`).

pub mod launch;
