//! The library side of `starrocks-sim`: starting it from tests and benchmarks ([`launch`]) and
//! driving its control API ([`client`]). The emulator itself is the binary (`src/main.rs`).

pub mod client;
pub mod launch;
