//! A group member's assignment as the coordinator returns it in DescribeGroups: the raw bytes
//! of Kafka's `ConsumerProtocolAssignment` (protocol type `consumer`). librdkafka hands them
//! over undecoded and has no public decoder; the only crate that decodes them generates every
//! Kafka message, far more than four fields warrant. The layout (all versions, none flexible):
//!
//! ```text
//! version: int16
//! assigned_partitions: int32 count, then per topic:
//!     topic: int16 length + UTF-8 bytes
//!     partitions: int32 count + int32 each
//! user_data: int32 length (-1 = null) + bytes      (ignored)
//! ```

use super::Partition;

/// The partitions in `bytes`, or `None` when they are not a consumer-protocol assignment.
pub(super) fn decode(bytes: &[u8]) -> Option<Vec<Partition>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let mut r = Reader(bytes);
    let _version = r.i16()?;
    let topics = r.count()?;
    let mut out = Vec::new();
    for _ in 0..topics {
        let len = usize::try_from(r.i16()?).ok()?;
        let topic = std::str::from_utf8(r.take(len)?).ok()?.to_string();
        for _ in 0..r.count()? {
            out.push(Partition {
                topic: topic.clone(),
                partition: r.i32()?,
            });
        }
    }
    out.sort();
    Some(out)
}

/// Big-endian reads from the front of a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    /// An array length: non-negative, and no larger than the bytes left could hold.
    fn count(&mut self) -> Option<usize> {
        let n = usize::try_from(self.i32()?).ok()?;
        (n <= self.0.len()).then_some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(version: i16, topics: &[(&str, &[i32])]) -> Vec<u8> {
        let mut b = version.to_be_bytes().to_vec();
        b.extend((topics.len() as i32).to_be_bytes());
        for (t, ps) in topics {
            b.extend((t.len() as i16).to_be_bytes());
            b.extend(t.as_bytes());
            b.extend((ps.len() as i32).to_be_bytes());
            for p in *ps {
                b.extend(p.to_be_bytes());
            }
        }
        b.extend((-1i32).to_be_bytes()); // null user_data
        b
    }

    fn p(topic: &str, partition: i32) -> Partition {
        Partition {
            topic: topic.into(),
            partition,
        }
    }

    #[test]
    fn decodes_every_version_sorted() {
        for version in 0..=3 {
            let bytes = encode(version, &[("orders", &[2, 0]), ("items", &[1])]);
            assert_eq!(
                decode(&bytes),
                Some(vec![p("items", 1), p("orders", 0), p("orders", 2)])
            );
        }
    }

    #[test]
    fn empty_means_nothing_assigned() {
        assert_eq!(decode(&[]), Some(vec![]));
        assert_eq!(decode(&encode(0, &[])), Some(vec![]));
    }

    #[test]
    fn rejects_truncated_or_lying_bytes() {
        let bytes = encode(1, &[("orders", &[0, 1])]);
        for cut in 1..bytes.len() - 4 {
            assert_eq!(decode(&bytes[..cut]), None, "cut at {cut}");
        }
        let mut huge = 0i16.to_be_bytes().to_vec();
        huge.extend(i32::MAX.to_be_bytes());
        assert_eq!(decode(&huge), None);
        let mut negative = 0i16.to_be_bytes().to_vec();
        negative.extend((-1i32).to_be_bytes());
        assert_eq!(decode(&negative), None);
    }
}
