//! Dead letters (`onError = "deadLetter"`): the original record goes to `deadLetterTopic` with
//! headers naming the error and the source position. The source offset stays outstanding until
//! the broker acknowledges the dead letter, so a lost dead letter is replayed, never skipped.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::ClientContext;
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

use super::offsets::OffsetTracker;
use super::{Fatal, Metrics};
use crate::config::Config;

/// What a delivery report completes: outstanding items (tracker, first offset) it holds open.
type Opaque = Box<Vec<(Arc<OffsetTracker>, i64)>>;

pub struct DeadLetterContext {
    fatal: Arc<Fatal>,
    metrics: Arc<Metrics>,
}

impl ClientContext for DeadLetterContext {}

impl ProducerContext for DeadLetterContext {
    type DeliveryOpaque = Opaque;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: Self::DeliveryOpaque) {
        match result {
            Ok(_) => {
                self.metrics
                    .dead_letters
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                for (tracker, offset) in opaque.iter() {
                    tracker.complete(*offset);
                }
            }
            // The items stay outstanding: nothing past them is committed.
            Err((e, _)) => self.fatal.set(format!("dead letter not delivered: {e}")),
        }
    }
}

pub struct DeadLetters {
    producer: ThreadedProducer<DeadLetterContext>,
    topic: String,
    fatal: Arc<Fatal>,
}

impl DeadLetters {
    pub fn new(
        config: &Config,
        topic: &str,
        fatal: Arc<Fatal>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let mut cc = ClientConfig::new();
        cc.set("bootstrap.servers", &config.source.brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all");
        for (k, v) in config.source.kafka.iter() {
            // Client-level settings (security, SASL) apply to the producer too; consumer-only
            // keys would be rejected by librdkafka for a producer.
            if k.starts_with("security.") || k.starts_with("sasl.") || k.starts_with("ssl.") {
                cc.set(k, v);
            }
        }
        let producer = cc.create_with_context(DeadLetterContext {
            fatal: Arc::clone(&fatal),
            metrics,
        })?;
        Ok(DeadLetters {
            producer,
            topic: topic.to_string(),
            fatal,
        })
    }

    pub fn send(
        &self,
        msg: &BorrowedMessage<'_>,
        topic: &str,
        partition: i32,
        class: &str,
        error: &str,
        tracker: Arc<OffsetTracker>,
    ) {
        let offset = msg.offset();
        let ts = msg.timestamp().to_millis().unwrap_or(-1).to_string();
        let (p, o) = (partition.to_string(), offset.to_string());
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "starpipe.error.class",
                value: Some(class),
            })
            .insert(Header {
                key: "starpipe.error.message",
                value: Some(error),
            })
            .insert(Header {
                key: "starpipe.source.topic",
                value: Some(topic),
            })
            .insert(Header {
                key: "starpipe.source.partition",
                value: Some(p.as_str()),
            })
            .insert(Header {
                key: "starpipe.source.offset",
                value: Some(o.as_str()),
            })
            .insert(Header {
                key: "starpipe.source.timestamp",
                value: Some(ts.as_str()),
            });
        let mut record: BaseRecord<'_, [u8], [u8], Opaque> =
            BaseRecord::with_opaque_to(&self.topic, Box::new(vec![(tracker, offset)]))
                .headers(headers);
        if let Some(k) = msg.key() {
            record = record.key(k);
        }
        if let Some(v) = msg.payload() {
            record = record.payload(v);
        }
        self.produce(record, &format!("{topic}[{partition}]@{offset}"));
    }

    /// Rows StarRocks rejected in a load (`ErrorURL` text); the batch's offsets stay
    /// outstanding through `completions` until the dead letter is acknowledged.
    pub fn send_rejected(
        &self,
        table: &str,
        label: &str,
        ranges: &str,
        rejected: &str,
        completions: Vec<(Arc<OffsetTracker>, i64)>,
    ) {
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "starpipe.error.class",
                value: Some("Filtered"),
            })
            .insert(Header {
                key: "starpipe.error.message",
                value: Some("rows rejected by StarRocks"),
            })
            .insert(Header {
                key: "starpipe.target.table",
                value: Some(table),
            })
            .insert(Header {
                key: "starpipe.load.label",
                value: Some(label),
            })
            .insert(Header {
                key: "starpipe.source.ranges",
                value: Some(ranges),
            });
        let record: BaseRecord<'_, [u8], [u8], Opaque> =
            BaseRecord::with_opaque_to(&self.topic, Box::new(completions))
                .headers(headers)
                .payload(rejected.as_bytes());
        self.produce(record, label);
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

    pub fn flush(&self, timeout: Duration) {
        let _ = self.producer.flush(timeout);
    }
}
