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
