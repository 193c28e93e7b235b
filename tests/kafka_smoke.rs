//! Smoke test of the real-Kafka test infrastructure (`tests/support`, `tests/kafka/broker`):
//! topic creation, produce with explicit partitions and timestamps, group consumption,
//! synchronous commits, committed-offset read-back and timestamp lookups against a real broker.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rdkafka::Offset;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Headers, Message};

use support::{Consumed, Delivered, TestRecord};

const PARTITIONS: i32 = 3;
const PER_PARTITION: i64 = 5;
const WAIT: Duration = Duration::from_secs(30);

fn value(p: i32, i: i64) -> Vec<u8> {
    format!("value-p{p}-r{i}").into_bytes()
}

fn key(p: i32, i: i64) -> Vec<u8> {
    format!("key-p{p}-r{i}").into_bytes()
}

/// Create time of record `i` of partition `p`: strictly increasing within a partition,
/// interleaved across partitions, an hour in the past (inside any retention/skew limit).
fn ts(base: i64, p: i32, i: i64) -> i64 {
    base + i * 1000 + i64::from(p) * 10
}

fn tpl(topic: &str, entries: &[(i32, Offset)]) -> TopicPartitionList {
    let mut t = TopicPartitionList::new();
    for &(p, o) in entries {
        t.add_partition_offset(topic, p, o).unwrap();
    }
    t
}

fn offsets_of(list: &TopicPartitionList) -> BTreeMap<i32, Offset> {
    list.elements()
        .iter()
        .map(|e| {
            assert!(
                e.error().is_ok(),
                "partition {} error: {:?}",
                e.partition(),
                e.error()
            );
            (e.partition(), e.offset())
        })
        .collect()
}

/// `(offset, key, value, timestamp)`
type Rec = (i64, Vec<u8>, Vec<u8>, i64);

fn by_partition(msgs: &[Consumed]) -> BTreeMap<i32, Vec<Rec>> {
    let mut m: BTreeMap<i32, Vec<_>> = BTreeMap::new();
    for c in msgs {
        m.entry(c.partition).or_default().push((
            c.offset,
            c.key.clone().expect("key"),
            c.value.clone().expect("value"),
            c.timestamp.expect("timestamp"),
        ));
    }
    m
}

fn subscribed(group: &str, topic: &str) -> BaseConsumer {
    let c: BaseConsumer = support::consumer_config(group)
        .create()
        .expect("create consumer");
    c.subscribe(&[topic]).expect("subscribe");
    c
}

#[test]
fn produce_consume_commit_and_lookup_by_timestamp() {
    let topic = support::unique_topic("smoke");
    let group = support::unique_group("smoke");
    support::create_topic(&topic, PARTITIONS);

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let base = (now - 3_600_000) / 1000 * 1000;

    // --- produce PER_PARTITION records with explicit partition and timestamp to each partition
    let mut records = Vec::new();
    for i in 0..PER_PARTITION {
        for p in 0..PARTITIONS {
            records.push(
                TestRecord::new(value(p, i))
                    .key(key(p, i))
                    .partition(p)
                    .timestamp(ts(base, p, i)),
            );
        }
    }
    let delivered = support::produce_batch(&topic, &records);
    let expected_delivery: Vec<Delivered> = (0..PER_PARTITION)
        .flat_map(|i| {
            (0..PARTITIONS).map(move |p| Delivered {
                partition: p,
                offset: i,
            })
        })
        .collect();
    assert_eq!(
        delivered, expected_delivery,
        "offsets assigned by the broker"
    );

    // watermarks: every partition holds offsets 0..PER_PARTITION
    let probe: BaseConsumer = support::client_config().create().unwrap();
    for p in 0..PARTITIONS {
        assert_eq!(
            probe.fetch_watermarks(&topic, p, WAIT).unwrap(),
            (0, PER_PARTITION),
            "partition {p}"
        );
    }

    // NOTE: every TopicPartitionList passed to or returned by a consumer must be dropped
    // before the consumer: librdkafka keeps partition references in them, and
    // `rd_kafka_destroy` (consumer drop) blocks forever while any is alive. Hence the blocks.
    let all: Vec<(i32, Offset)> = (0..PARTITIONS).map(|p| (p, Offset::Invalid)).collect();
    let want: BTreeMap<i32, Offset> = [
        (0, Offset::Offset(5)),
        (1, Offset::Offset(2)),
        (2, Offset::Offset(4)),
    ]
    .into_iter()
    .collect();
    {
        let c1 = subscribed(&group, &topic);
        // --- a fresh group has no committed offsets
        let before = offsets_of(&committed(&c1, tpl(&topic, &all)));
        assert_eq!(
            before.values().copied().collect::<Vec<_>>(),
            vec![Offset::Invalid; PARTITIONS as usize]
        );

        // --- consume everything in the group: partition, offset, key, value, timestamp
        let got = support::consume_n(&c1, (PARTITIONS * PER_PARTITION as i32) as usize, WAIT);
        assert!(got.iter().all(|m| m.topic == topic));
        let expected: BTreeMap<i32, Vec<Rec>> = (0..PARTITIONS)
            .map(|p| {
                let recs = (0..PER_PARTITION)
                    .map(|i| (i, key(p, i), value(p, i), ts(base, p, i)))
                    .collect();
                (p, recs)
            })
            .collect();
        assert_eq!(
            by_partition(&got),
            expected,
            "consumed records (per partition, in offset order)"
        );
        assert_eq!(
            c1.assignment().unwrap().count(),
            PARTITIONS as usize,
            "all partitions assigned to the only member"
        );

        // --- commit synchronously: p0 fully processed, p1 up to offset 1, p2 up to offset 3
        {
            let commit = tpl(
                &topic,
                &want.iter().map(|(p, o)| (*p, *o)).collect::<Vec<_>>(),
            );
            commit
                .find_partition(&topic, 1)
                .unwrap()
                .set_metadata("starpipe-smoke;label=42");
            c1.commit(&commit, CommitMode::Sync).expect("sync commit");
        }
        let committed = committed(&c1, tpl(&topic, &all));
        assert_eq!(
            offsets_of(&committed),
            want,
            "committed offsets read back by the committer"
        );
        assert_eq!(
            committed.find_partition(&topic, 1).unwrap().metadata(),
            "starpipe-smoke;label=42",
            "commit metadata"
        );
        drop(committed);
        drop(c1); // leaves the group
    }

    // --- a new member of the same group sees the commits and resumes exactly there
    {
        let c2 = subscribed(&group, &topic);
        assert_eq!(
            offsets_of(&committed(&c2, tpl(&topic, &all))),
            want,
            "committed offsets read back by a new consumer"
        );
        let resumed = support::consume_n(&c2, 4, WAIT);
        let extra = support::consume_n(&c2, 1, Duration::from_secs(2));
        assert!(
            extra.is_empty(),
            "nothing beyond the committed position expected, got {extra:?}"
        );
        let mut resumed_at: Vec<(i32, i64)> =
            resumed.iter().map(|m| (m.partition, m.offset)).collect();
        resumed_at.sort();
        assert_eq!(
            resumed_at,
            vec![(1, 2), (1, 3), (1, 4), (2, 4)],
            "resumed from committed offsets"
        );
        for m in &resumed {
            assert_eq!(
                m.value.as_deref(),
                Some(value(m.partition, m.offset).as_slice())
            );
        }
        // position after consuming = end of each partition that delivered something
        let pos = offsets_of(&c2.position().unwrap());
        for p in [1, 2] {
            assert_eq!(
                pos[&p],
                Offset::Offset(PER_PARTITION),
                "position of partition {p}"
            );
        }
    }
    // --- offsets_for_times: earliest offset with timestamp >= t
    let lookup = tpl(
        &topic,
        &[
            (0, Offset::Offset(ts(base, 0, 2))),       // exact hit -> 2
            (1, Offset::Offset(ts(base, 1, 2) + 500)), // between r2 and r3 -> 3
            (2, Offset::Offset(ts(base, 2, 4) + 1)),   // after the last record -> End
        ],
    );
    let found = offsets_of(&probe.offsets_for_times(lookup, WAIT).unwrap());
    let want_ts: BTreeMap<i32, Offset> = [
        (0, Offset::Offset(2)),
        (1, Offset::Offset(3)),
        (2, Offset::End),
    ]
    .into_iter()
    .collect();
    assert_eq!(found, want_ts, "offsets_for_times");
    let before_all = tpl(
        &topic,
        &(0..PARTITIONS)
            .map(|p| (p, Offset::Offset(base - 1)))
            .collect::<Vec<_>>(),
    );
    let found = offsets_of(&probe.offsets_for_times(before_all, WAIT).unwrap());
    assert!(
        found.values().all(|o| *o == Offset::Offset(0)),
        "timestamp before everything -> 0: {found:?}"
    );
}

#[test]
fn keyed_produce_headers_and_assign_mode() {
    let topic = support::unique_topic("smoke-keys");
    support::create_topic(&topic, 2);

    // same key -> same partition, consecutive offsets
    let a = support::produce(&topic, None, Some(b"same-key"), b"first", None);
    let b = support::produce(&topic, None, Some(b"same-key"), b"second", None);
    assert_eq!(a.partition, b.partition);
    assert_eq!(b.offset, a.offset + 1);

    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 60_000;
    let d = support::produce_batch(
        &topic,
        &[TestRecord::tombstone()
            .key("gone")
            .partition(0)
            .header("op", "d")
            .timestamp(t)],
    );
    assert_eq!(d[0].partition, 0);

    // assign mode (no subscription), explicit start offsets
    let c: BaseConsumer = support::consumer_config(&support::unique_group("assign"))
        .create()
        .unwrap();
    c.assign(&tpl(
        &topic,
        &[
            (a.partition, Offset::Offset(a.offset)),
            (1 - a.partition, Offset::Beginning),
        ],
    ))
    .unwrap();
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + WAIT;
    while seen.len() < 3 && std::time::Instant::now() < deadline {
        if let Some(r) = c.poll(Duration::from_millis(100)) {
            let m = r.expect("consume");
            let hdr = m.headers().and_then(|h| {
                h.iter()
                    .next()
                    .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
            });
            seen.push((
                m.partition(),
                m.offset(),
                m.payload().map(<[u8]>::to_vec),
                m.timestamp().to_millis(),
                hdr,
            ));
        }
    }
    seen.sort();
    let mut want = vec![
        (a.partition, a.offset, Some(b"first".to_vec())),
        (b.partition, b.offset, Some(b"second".to_vec())),
        (0, d[0].offset, None),
    ];
    want.sort();
    assert_eq!(
        seen.iter()
            .map(|s| (s.0, s.1, s.2.clone()))
            .collect::<Vec<_>>(),
        want
    );
    let tomb = seen.iter().find(|s| s.2.is_none()).unwrap();
    assert_eq!(tomb.3, Some(t), "explicit timestamp");
    assert_eq!(
        tomb.4,
        Some(("op".to_string(), Some(b"d".to_vec()))),
        "header"
    );
}

/// `committed_offsets`, retried while the group coordinator is not ready: on a fresh broker the
/// first group creates `__consumer_offsets`, and until its leader is elected the broker answers
/// NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS (retriable errors in Kafka's protocol).
fn committed<C: rdkafka::consumer::ConsumerContext>(
    c: &BaseConsumer<C>,
    tpl: TopicPartitionList,
) -> TopicPartitionList {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        match c.committed_offsets(tpl.clone(), WAIT) {
            Ok(t) => return t,
            Err(e) if std::time::Instant::now() < deadline && is_coordinator_not_ready(&e) => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("committed_offsets: {e}"),
        }
    }
}

fn is_coordinator_not_ready(e: &rdkafka::error::KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as C;
    matches!(
        e.rdkafka_error_code(),
        Some(C::NotCoordinator | C::CoordinatorLoadInProgress | C::CoordinatorNotAvailable)
    )
}
