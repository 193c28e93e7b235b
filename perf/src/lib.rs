//! `starpipe-perf`: a deterministic CDC workload generator for starpipe.
//!
//! - [`schema`]: the tables (`sbtest`, `orders`, `order_items`, `wide`), their MySQL source types
//!   and StarRocks DDL.
//! - [`workload`]: [`Workload`] (configuration) and [`Generator`] (an iterator of [`Message`]s in
//!   canal-json or CloudCanal JSON, with the partition of each message), and the expected final
//!   state ([`Generator::expected_state`]).
//! - [`model`]: an independent `BTreeMap` reference model ([`Model`]) and [`ExpectedState`]
//!   (JSON read/write).
//! - [`kafka`]: [`produce`] / [`create_topic`] with a `BaseProducer` / `AdminClient` (no tokio).
//! - [`verify`]: compares an [`ExpectedState`] with what StarRocks returns over MySQL.
//!
//! ```no_run
//! use starpipe_perf::{Format, Workload, generate};
//! let mut w = Workload::new(42, Format::Canal);
//! w.messages = 500;
//! let (messages, expected, stats) = generate(&w);
//! ```

pub mod flink;
pub mod kafka;
pub mod model;
pub mod plot;
pub mod rng;
pub mod schema;
pub mod values;
pub mod verify;
pub mod workload;

pub use kafka::{ProduceStats, create_topic, produce};
pub use model::{ExpectedState, ExpectedTable, Key, KeyPart, Model, Row, key_of};
pub use schema::{Column, Table, all_tables, ddl};
pub use values::ValueOptions;
pub use verify::{VerifyReport, verify};
pub use workload::{
    Format, Generator, KeyDist, Message, Op, Partitioning, Stats, Workload, generate,
};
