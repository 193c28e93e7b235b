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
