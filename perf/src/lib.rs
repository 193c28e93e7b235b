//! `starpipe-perf`: a deterministic CDC workload generator for starpipe.
//!
//! - [`schema`]: the tables (`sbtest`, `orders`, `order_items`, `wide`), their MySQL source types
//!   and StarRocks DDL.
//! - [`workload`]: [`Workload`] (configuration) and [`Generator`] (an iterator of [`Message`]s in
//!   canal-json or CloudCanal JSON, with the partition of each message), and the expected final
//!   state ([`Generator::expected_state`]).
//! - [`model`]: an independent `BTreeMap` reference model ([`Model`]) and [`ExpectedState`]
//!   (JSON read/write).
//! - [`kafka`]: [`produce`] / [`create_topic`] with a `BaseProducer` / `AdminClient` (no tokio);
//!   a group's committed offsets and a topic's watermarks.
//! - [`broker`]: a local Kafka broker (`tests/kafka/broker`) that can be stopped and started
//!   again on its data.
//! - [`verify`]: compares an [`ExpectedState`] with what StarRocks returns over MySQL.
//!
//! ```no_run
//! use starpipe_perf::{Format, Workload, generate};
//! let mut w = Workload::new(42, Format::Canal);
//! w.messages = 500;
//! let (messages, expected, stats) = generate(&w);
//! ```

pub mod broker;
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
    Format, Generator, KeyDist, Message, Op, Partitioning, RowChange, Stats, Workload, generate,
};
