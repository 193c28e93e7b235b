//! Dead letters (`onError = "deadLetter"`): the original record goes to `deadLetterTopic` with
//! its key and headers, plus headers naming the error and the source position. The source
//! offset stays outstanding until the broker acknowledges the dead letter, so a lost dead letter
//! is replayed, never skipped.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

use super::offsets::OffsetClaim;
use super::record::SourceRecord;
use super::{Fatal, Metrics};
use crate::config::Config;

/// Why a record is a dead letter.
#[derive(Debug, Clone)]
pub(crate) struct Problem {
    /// The error class (formats.md §4.1, or `Target`).
    pub class: &'static str,
    pub message: String,
}

/// Rows StarRocks rejected in a batch.
#[derive(Debug, Clone)]
pub(crate) struct RejectedRows {
    /// `db.table` of the target.
    pub table: String,
    /// The batch's label, its first load's: a second load (its JSON rows, `body::parts`) and
    /// the loads isolating rejected rows derive theirs from it (`label::sub_label`).
    pub label: String,
    /// The batch's source ranges, `topic[p] first..=last, …`.
    pub ranges: String,
    pub rows: Vec<RejectedRow>,
}

impl RejectedRows {
    /// Adds the rows another load of the same batch rejected.
    pub(crate) fn append(&mut self, other: RejectedRows) {
        self.rows.extend(other.rows);
    }
}

/// One rejected row, as it was sent.
#[derive(Debug, Clone)]
pub(crate) struct RejectedRow {
    /// Column → value (and `__op`: 0 upsert, 1 delete).
    pub row: serde_json::Value,
    /// StarRocks' reason.
    pub reason: String,
    /// Rejected alone (else one of a rest loaded leniently: it may have loaded).
    pub isolated: bool,
}

/// A dead letter's payload is at most about this large; more rejected rows make more records.
const PAYLOAD_BYTES: usize = 512 * 1024;

impl RejectedRows {
    /// The payloads of the dead letters: JSON documents `{"table", "label", "ranges", "rows":
    /// [{"row": {…}, "reason": "…", "isolated": true}]}` of at most about [`PAYLOAD_BYTES`].
    pub(crate) fn payloads(&self) -> Vec<String> {
        let mut payloads = Vec::new();
        let mut chunk: Vec<serde_json::Value> = Vec::new();
        let mut size = 0;
        for r in &self.rows {
            let row = serde_json::json!({"row": r.row, "reason": r.reason, "isolated": r.isolated});
            let len = row.to_string().len();
            if size + len > PAYLOAD_BYTES && !chunk.is_empty() {
                payloads.push(self.document(std::mem::take(&mut chunk)));
                size = 0;
            }
            size += len;
            chunk.push(row);
        }
        if !chunk.is_empty() {
            payloads.push(self.document(chunk));
        }
        payloads
    }

    fn document(&self, rows: Vec<serde_json::Value>) -> String {
        serde_json::json!({
            "table": self.table,
            "label": self.label,
            "ranges": self.ranges,
            "rows": rows,
        })
        .to_string()
    }
}

/// Where dead letters go: the dead-letter topic in production. Each call takes the claims that
/// stay outstanding until the dead letter is durable.
pub(crate) trait DeadLetterSink: Send + Sync {
    fn send_record(&self, record: &SourceRecord<'_>, problem: &Problem, claim: OffsetClaim);
    fn send_rejected(&self, rows: &RejectedRows, claims: Vec<OffsetClaim>);
    /// Waits (up to `timeout`) until what was sent is acknowledged.
    fn flush(&self, timeout: Duration);
}

/// What a delivery report completes: the claims held until every record of one dead-lettering
/// is acknowledged.
type Opaque = Arc<Awaited>;

/// Claims released once `remaining` deliveries succeeded.
pub(crate) struct Awaited {
    remaining: std::sync::atomic::AtomicUsize,
    claims: parking_lot::Mutex<Vec<OffsetClaim>>,
    /// The source topic, the metric's label.
    topic: String,
}

impl Awaited {
    fn new(records: usize, claims: Vec<OffsetClaim>, topic: &str) -> Arc<Awaited> {
        Arc::new(Awaited {
            remaining: std::sync::atomic::AtomicUsize::new(records),
            claims: parking_lot::Mutex::new(claims),
            topic: topic.to_string(),
        })
    }

    /// One record is acknowledged; the last one completes the claims.
    fn delivered(&self) {
        if self
            .remaining
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel)
            == 1
        {
            for claim in std::mem::take(&mut *self.claims.lock()) {
                claim.complete();
            }
        }
    }
}

pub(crate) struct DeadLetterContext {
    fatal: Arc<Fatal>,
    metrics: Arc<Metrics>,
    client_log: crate::kafka::ClientLog,
}

impl ClientContext for DeadLetterContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.client_log.log(level, fac, log_message);
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        self.client_log.error(&error, reason);
    }
}

impl ProducerContext for DeadLetterContext {
    type DeliveryOpaque = Opaque;

    fn delivery(&self, result: &DeliveryResult<'_>, claims: Self::DeliveryOpaque) {
        match result {
            Ok(_) => {
                self.metrics.dead_letter(&claims.topic);
                claims.delivered();
            }
            // The claims stay outstanding: nothing past them is committed.
            Err((e, _)) => self.fatal.set(format!("dead letter not delivered: {e}")),
        }
    }
}

/// The dead-letter topic on the source cluster.
pub(crate) struct DeadLetters {
    producer: ThreadedProducer<DeadLetterContext>,
    topic: String,
    fatal: Arc<Fatal>,
}

impl DeadLetters {
    pub(crate) fn new(
        config: &Config,
        topic: &str,
        fatal: Arc<Fatal>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        // The job's client settings (SASL, TLS, networking), as the consumer has them.
        let mut cc = crate::kafka::producer_config(&config.source);
        cc.set("enable.idempotence", "true").set("acks", "all");
        let producer = cc.create_with_context(DeadLetterContext {
            fatal: Arc::clone(&fatal),
            metrics,
            client_log: crate::kafka::ClientLog::default(),
        })?;
        Ok(DeadLetters {
            producer,
            topic: topic.to_string(),
            fatal,
        })
    }

    fn produce(&self, mut record: BaseRecord<'_, [u8], [u8], Opaque>, what: &str) {
        loop {
            match self.producer.send(record) {
                Ok(()) => return,
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    back,
                )) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err((e, _)) => {
                    self.fatal
                        .set(format!("cannot produce the dead letter for {what}: {e}"));
                    return;
                }
            }
        }
    }
}

/// Adds one header to `headers`.
fn with(headers: OwnedHeaders, key: &str, value: &str) -> OwnedHeaders {
    headers.insert(Header {
        key,
        value: Some(value),
    })
}

impl DeadLetterSink for DeadLetters {
    fn send_record(&self, record: &SourceRecord<'_>, problem: &Problem, claim: OffsetClaim) {
        let at = record.position;
        let mut headers = OwnedHeaders::new();
        for (key, value) in record.headers.each() {
            headers = headers.insert(Header { key, value });
        }
        let ts = record.timestamp.unwrap_or(-1).to_string();
        headers = with(headers, "starpipe.error.class", problem.class);
        headers = with(headers, "starpipe.error.message", &problem.message);
        headers = with(headers, "starpipe.source.topic", at.topic);
        headers = with(
            headers,
            "starpipe.source.partition",
            &at.partition.to_string(),
        );
        headers = with(headers, "starpipe.source.offset", &at.offset.to_string());
        headers = with(headers, "starpipe.source.timestamp", &ts);
        let mut out: BaseRecord<'_, [u8], [u8], Opaque> =
            BaseRecord::with_opaque_to(&self.topic, Awaited::new(1, vec![claim], at.topic))
                .headers(headers)
                .payload(record.value);
        if let Some(k) = record.key {
            out = out.key(k);
        }
        self.produce(out, &at.to_string());
    }

    fn send_rejected(&self, rows: &RejectedRows, claims: Vec<OffsetClaim>) {
        let payloads = rows.payloads();
        let source = rows.ranges.split('[').next().unwrap_or_default();
        let awaited = Awaited::new(payloads.len(), claims, source);
        for payload in &payloads {
            let mut headers = with(OwnedHeaders::new(), "starpipe.error.class", "Filtered");
            headers = with(
                headers,
                "starpipe.error.message",
                "rows rejected by StarRocks",
            );
            headers = with(headers, "starpipe.target.table", &rows.table);
            headers = with(headers, "starpipe.load.label", &rows.label);
            headers = with(headers, "starpipe.source.ranges", &rows.ranges);
            let record: BaseRecord<'_, [u8], [u8], Opaque> =
                BaseRecord::with_opaque_to(&self.topic, Arc::clone(&awaited))
                    .headers(headers)
                    .payload(payload.as_bytes());
            self.produce(record, &rows.label);
        }
    }

    fn flush(&self, timeout: Duration) {
        let _ = self.producer.flush(timeout);
    }
}
