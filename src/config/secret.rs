//! Values that must never reach logs: [`Secret`] and the masked view of `[source.kafka]`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Serialize, Serializer};

/// What every secret prints as.
pub const MASK: &str = "***";

/// A secret string (password, token). `Debug`, `Display` and `Serialize` print `***`; the value
/// is available only through [`Secret::expose`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value itself. Call it only where the value is handed to a client.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(MASK)
    }
}

/// Whether a librdkafka property holds a secret, judged by its name: it contains `password`,
/// `secret`, `token`, `key` or `credential` (case-insensitive), or is `sasl.oauthbearer.config`.
/// Examples: `sasl.password`, `ssl.key.password`, `ssl.key.pem`, `sasl.oauthbearer.client.secret`.
pub fn is_sensitive_kafka_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "token", "key", "credential"]
        .iter()
        .any(|word| key.contains(word))
        || key == "sasl.oauthbearer.config"
}

/// The `[source.kafka]` table: librdkafka properties passed to the consumer as given
/// (BladePipe's `customClientProps`). `Debug` and `Serialize` mask the values of sensitive keys
/// (see [`is_sensitive_kafka_key`]).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KafkaProps(BTreeMap<String, String>);

impl KafkaProps {
    pub fn new(map: BTreeMap<String, String>) -> Self {
        KafkaProps(map)
    }

    /// The real (unmasked) properties, in key order, for configuring the client.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The real (unmasked) value of one property.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn masked(&self) -> impl Iterator<Item = (&str, &str)> {
        self.iter().map(|(k, v)| {
            if is_sensitive_kafka_key(k) {
                (k, MASK)
            } else {
                (k, v)
            }
        })
    }
}

impl fmt::Debug for KafkaProps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.masked()).finish()
    }
}

impl Serialize for KafkaProps {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.masked())
    }
}
