//! starpipe: replicate CDC messages (CloudCanal JSON, Canal JSON) from AutoMQ / Apache Kafka into
//! StarRocks Primary Key tables.
//!
//! The data path reads as a straight line: source → [`decode`] → route → batch → [`encode`] →
//! load → commit. See `ARCHITECTURE.md` for the codemap and the invariants.

mod bytes;
pub mod check;
pub mod cli;
pub mod config;
pub mod ddl;
pub mod decode;
pub mod encode;
pub mod engine;
pub mod kafka;
pub mod model;
pub mod names;
pub mod position;
pub mod prepare;
pub mod schema;
pub mod starrocks;
pub mod terminal;
pub mod tls;
pub mod verify;
