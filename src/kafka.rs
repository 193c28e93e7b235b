//! The Kafka client settings every starpipe client shares: the job's brokers and its
//! `[source.kafka]` properties (SASL, TLS, …), so that `position` and `check` reach the cluster
//! exactly as `run` does.

use rdkafka::ClientConfig;

use crate::config::SourceConfig;

/// `bootstrap.servers` from `source.brokers`, then every `[source.kafka]` property as given.
/// Callers add what their client needs (`group.id`, commit settings) on top.
pub fn client_config(source: &SourceConfig) -> ClientConfig {
    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", &source.brokers);
    for (k, v) in source.kafka.iter() {
        cc.set(k, v);
    }
    cc
}

/// librdkafka properties that only a consumer reads (scope `C` in librdkafka 2.12's
/// CONFIGURATION.md). A producer built from `[source.kafka]` leaves them out; librdkafka would
/// only warn that it ignores them.
const CONSUMER_ONLY: &[&str] = &[
    "group.id",
    "group.instance.id",
    "partition.assignment.strategy",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "group.protocol.type",
    "group.protocol",
    "group.remote.assignor",
    "coordinator.query.interval.ms",
    "max.poll.interval.ms",
    "enable.auto.commit",
    "auto.commit.interval.ms",
    "auto.commit.enable",
    "enable.auto.offset.store",
    "queued.min.messages",
    "queued.max.messages.kbytes",
    "fetch.wait.max.ms",
    "fetch.queue.backoff.ms",
    "fetch.message.max.bytes",
    "max.partition.fetch.bytes",
    "fetch.max.bytes",
    "fetch.min.bytes",
    "fetch.error.backoff.ms",
    "offset.store.method",
    "offset.store.path",
    "offset.store.sync.interval.ms",
    "isolation.level",
    "enable.partition.eof",
    "check.crcs",
    "auto.offset.reset",
    "consume.callback.max.messages",
];

/// [`client_config`] for a producer (the dead-letter topic): every `[source.kafka]` property
/// but the consumer-only ones, so security (SASL, TLS), networking and client settings reach
/// the producer exactly as they reach the consumer.
pub fn producer_config(source: &SourceConfig) -> ClientConfig {
    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", &source.brokers);
    for (k, v) in source.kafka.iter() {
        if !CONSUMER_ONLY.contains(&k) {
            cc.set(k, v);
        }
    }
    cc
}

/// A client context that remembers the last broker failure librdkafka logged (its `FAIL`
/// line: which broker, and why), so that a call that times out can say why — above all when
/// the broker refused the job's credentials or TLS settings, which retrying does not fix.
/// rust-rdkafka delivers log lines as events of the client's main queue: they reach the
/// context only while that queue is polled.
#[derive(Debug, Default)]
pub struct FailureWatch {
    last: parking_lot::Mutex<Option<String>>,
}

impl FailureWatch {
    /// The last failure, when it is one retrying cannot fix: SASL authentication, or TLS (the
    /// handshake, the broker's certificate).
    pub fn refusal(&self) -> Option<String> {
        self.last.lock().clone().filter(|line| is_refusal(line))
    }

    /// The last failure librdkafka logged, whatever it was.
    pub fn last(&self) -> Option<String> {
        self.last.lock().clone()
    }
}

/// Whether a librdkafka `FAIL` line says the broker refused the client (authentication or
/// TLS), as opposed to being down or unreachable.
fn is_refusal(line: &str) -> bool {
    const REFUSALS: [&str; 4] = [
        "SASL authentication error",
        "Authentication failed",
        "SSL handshake failed",
        "certificate verify failed",
    ];
    REFUSALS.iter().any(|r| line.contains(r))
}

impl rdkafka::ClientContext for FailureWatch {
    fn log(&self, _level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        if facility == "FAIL" {
            // `[thrd:…]: ` names librdkafka's thread; the broker is named after it again.
            let line = match message.split_once("]: ") {
                Some((thread, rest)) if thread.starts_with("[thrd:") => rest,
                _ => message,
            };
            *self.last.lock() = Some(line.to_string());
        }
    }

    /// The same failures come as error events too; the caller reports them (the default would
    /// log each one).
    fn error(&self, _error: rdkafka::error::KafkaError, _reason: &str) {}
}

impl rdkafka::consumer::ConsumerContext for FailureWatch {}

/// librdkafka's own log lines and errors, relayed without flooding: an unreachable broker makes
/// librdkafka report every reconnection attempt (dozens of lines a second). The same message
/// (digits aside) is logged at most once per [`ClientLog::EVERY`], with a count of the repeats
/// it stood for and what starpipe does meanwhile.
#[derive(Debug, Default)]
pub struct ClientLog {
    seen: parking_lot::Mutex<std::collections::HashMap<String, Seen>>,
}

#[derive(Debug)]
struct Seen {
    last: std::time::Instant,
    suppressed: u64,
}

impl ClientLog {
    /// How often one kind of message is logged at most.
    pub const EVERY: std::time::Duration = std::time::Duration::from_secs(10);

    /// A librdkafka error (`ClientContext::error`).
    pub fn error(&self, error: &rdkafka::error::KafkaError, reason: &str) {
        if let Some(repeats) = self.admit(reason) {
            tracing::warn!(
                "Kafka: {reason} ({error}); librdkafka retries on its own, nothing is lost \
                 meanwhile{}",
                Self::repeats(repeats)
            );
        }
    }

    /// A librdkafka log line (`ClientContext::log`); debug levels stay at debug. A `FAIL` line
    /// says what the error callback reports too: it is kept at debug.
    pub fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        use rdkafka::config::RDKafkaLogLevel as L;
        if facility == "FAIL" {
            tracing::debug!("librdkafka {facility}: {message}");
            return;
        }
        let Some(repeats) = self.admit(message) else {
            return;
        };
        let repeats = Self::repeats(repeats);
        match level {
            L::Emerg | L::Alert | L::Critical | L::Error => {
                tracing::error!("librdkafka {facility}: {message}{repeats}")
            }
            L::Warning => tracing::warn!("librdkafka {facility}: {message}{repeats}"),
            L::Notice | L::Info => tracing::info!("librdkafka {facility}: {message}{repeats}"),
            L::Debug => tracing::debug!("librdkafka {facility}: {message}{repeats}"),
        }
    }

    fn repeats(n: u64) -> String {
        if n == 0 {
            String::new()
        } else {
            format!(
                " ({n} similar messages in the last {} s)",
                Self::EVERY.as_secs()
            )
        }
    }

    /// Whether to log `message` now, and how many like it were held back since it last was.
    fn admit(&self, message: &str) -> Option<u64> {
        let key: String = message.chars().filter(|c| !c.is_ascii_digit()).collect();
        let mut seen = self.seen.lock();
        match seen.get_mut(&key) {
            Some(s) if s.last.elapsed() < Self::EVERY => {
                s.suppressed += 1;
                None
            }
            Some(s) => {
                s.last = std::time::Instant::now();
                Some(std::mem::take(&mut s.suppressed))
            }
            None => {
                let now = std::time::Instant::now();
                seen.insert(
                    key,
                    Seen {
                        last: now,
                        suppressed: 0,
                    },
                );
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_authentication_and_tls_failures() {
        assert!(is_refusal(
            "sasl_ssl://127.0.0.1:9093/bootstrap: SASL authentication error: Authentication \
             failed during authentication due to invalid credentials with SASL mechanism \
             SCRAM-SHA-512 (after 4ms in state AUTH_REQ)"
        ));
        assert!(is_refusal(
            "ssl://k:9093/bootstrap: SSL handshake failed: error:0A000086:SSL routines::\
             certificate verify failed: broker certificate could not be verified"
        ));
        assert!(!is_refusal(
            "127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused \
             (after 0ms in state CONNECT)"
        ));
    }

    #[test]
    fn producers_get_every_property_but_the_consumer_only_ones() {
        let text = "[source]\nbrokers = \"k:9092\"\ntopics = [\"t\"]\nconsumerGroupId = \"g\"\n\
                    [source.kafka]\n\"security.protocol\" = \"SASL_SSL\"\n\
                    \"enable.ssl.certificate.verification\" = false\n\
                    \"client.dns.lookup\" = \"use_all_dns_ips\"\n\"fetch.max.bytes\" = 1048576\n\
                    [target]\nhost = \"fe:9030\"\nhttpHost = \"fe:8030\"\nuser = \"u\"\n";
        let source = crate::config::Config::parse(text).unwrap().source;
        let cc = producer_config(&source);
        assert_eq!(cc.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(cc.get("enable.ssl.certificate.verification"), Some("false"));
        assert_eq!(cc.get("client.dns.lookup"), Some("use_all_dns_ips"));
        assert_eq!(cc.get("fetch.max.bytes"), None);
    }

    #[test]
    fn repeats_of_one_message_are_held_back() {
        let log = ClientLog::default();
        let msg = |ms: u32| format!("127.0.0.1:9092/bootstrap: Connect failed (after {ms}ms)");
        assert_eq!(log.admit(&msg(1)), Some(0));
        for ms in 2..40 {
            assert_eq!(
                log.admit(&msg(ms)),
                None,
                "digits aside it is the same message"
            );
        }
        assert_eq!(log.admit("another error"), Some(0));
    }
}
