//! `SourceRecord`: one Kafka record as the engine sees it. In production every field borrows
//! from rdkafka's message; tests build records from owned data ([`OwnedRecord`]), so the
//! partition worker is tested without a broker.

use rdkafka::Message;
use rdkafka::message::{BorrowedHeaders, BorrowedMessage, Headers};

/// Where a record is: topic, partition, offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

impl std::fmt::Display for Position<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{}]@{}", self.topic, self.partition, self.offset)
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct SourceRecord<'a> {
    pub position: Position<'a>,
    /// Create or log-append time, milliseconds since the epoch.
    pub timestamp: Option<i64>,
    pub key: Option<&'a [u8]>,
    /// The payload; empty for a tombstone.
    pub value: &'a [u8],
    pub headers: RecordHeaders<'a>,
}

/// The record's headers, borrowed.
#[derive(Clone, Copy)]
pub(crate) enum RecordHeaders<'a> {
    None,
    Kafka(&'a BorrowedHeaders),
    #[cfg(test)]
    Owned(&'a [(String, Vec<u8>)]),
}

impl std::fmt::Debug for RecordHeaders<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.each().iter().map(|(k, _)| k))
            .finish()
    }
}

impl<'a> RecordHeaders<'a> {
    /// `(name, value)` pairs in order; a header without a value has `None`.
    pub(crate) fn each(&self) -> Vec<(&'a str, Option<&'a [u8]>)> {
        match *self {
            RecordHeaders::None => Vec::new(),
            RecordHeaders::Kafka(h) => h.iter().map(|h| (h.key, h.value)).collect(),
            #[cfg(test)]
            RecordHeaders::Owned(h) => h.iter().map(|(k, v)| (k.as_str(), Some(&v[..]))).collect(),
        }
    }
}

impl<'a> SourceRecord<'a> {
    pub(crate) fn from_kafka(msg: &'a BorrowedMessage<'_>) -> Self {
        SourceRecord {
            position: Position {
                topic: msg.topic(),
                partition: msg.partition(),
                offset: msg.offset(),
            },
            timestamp: msg.timestamp().to_millis(),
            key: msg.key(),
            value: msg.payload().unwrap_or(&[]),
            headers: msg
                .headers()
                .map_or(RecordHeaders::None, RecordHeaders::Kafka),
        }
    }
}

/// A record with owned data, for tests.
#[cfg(test)]
#[derive(Debug, Clone, Default)]
pub(crate) struct OwnedRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: Option<i64>,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
}

#[cfg(test)]
impl OwnedRecord {
    pub(crate) fn new(topic: &str, partition: i32, offset: i64, value: impl Into<Vec<u8>>) -> Self {
        OwnedRecord {
            topic: topic.to_string(),
            partition,
            offset,
            value: value.into(),
            ..Default::default()
        }
    }

    pub(crate) fn as_record(&self) -> SourceRecord<'_> {
        SourceRecord {
            position: Position {
                topic: &self.topic,
                partition: self.partition,
                offset: self.offset,
            },
            timestamp: self.timestamp,
            key: self.key.as_deref(),
            value: &self.value,
            headers: RecordHeaders::Owned(&self.headers),
        }
    }
}
