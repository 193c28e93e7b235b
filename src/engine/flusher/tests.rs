//! The table flusher's loop without StarRocks: blocks go in through its channel, loads come out
//! at a scripted Stream Load service.

use std::sync::Arc;

use crossbeam_channel::{Sender, bounded};

use super::*;
use crate::engine::blocks::PartitionId;
use crate::engine::lease::Epochs;
use crate::engine::offsets::OffsetTracker;
use crate::engine::testkit::{Rows, TestEngine, block, config, leased_block, loaded, table};
use crate::model::ChangeOp::{Delete, Upsert};

struct Harness {
    engine: TestEngine,
    table: Arc<TargetTable>,
    tracker: Arc<OffsetTracker>,
    items: Option<Sender<FlushItem>>,
    thread: Option<JoinHandle<()>>,
}

const DEAD_LETTER: &str = "onError = \"deadLetter\"\ndeadLetterTopic = \"dlq\"";

fn harness(extra: &str) -> Harness {
    let engine = TestEngine::flushing(config(extra), &[table("db", "t")]);
    let table = engine
        .shared
        .tables
        .get(&crate::config::TargetName {
            db: "db".into(),
            table: "t".into(),
        })
        .unwrap()
        .snapshot()
        .0;
    // A flusher of its own, fed by the test (the registry's flusher stays idle).
    let (items, rx) = bounded(64);
    let flusher = TableFlusher::new(Arc::clone(&table), rx, flush_context(&engine));
    Harness {
        tracker: Arc::new(OffsetTracker::new(Some(0))),
        thread: Some(std::thread::spawn(move || flusher.run())),
        items: Some(items),
        engine,
        table,
    }
}

/// A context like the registry's, with the test engine's doubles.
fn flush_context(engine: &TestEngine) -> Arc<FlushContext> {
    let s = &engine.shared;
    let dead_letters: Option<Arc<dyn DeadLetterSink>> = match s.config().on_error {
        crate::config::OnError::DeadLetter => s.dead_letters.clone(),
        crate::config::OnError::Fail => None,
    };
    Arc::new(FlushContext {
        loader: Box::new(Arc::clone(&engine.loads)),
        budget: Arc::clone(&s.budget),
        pending: Default::default(),
        settings: FlushSettings {
            job: "job".into(),
            run: crate::engine::label::RunId::new(),
            batch_bytes: 1 << 20,
            interval: Duration::from_secs(3600),
            pause: Duration::ZERO,
        },
        fatal: Arc::clone(&s.fatal),
        hard_stop: Arc::clone(&s.hard_stop),
        metrics: Arc::clone(&s.metrics),
        dead_letters,
        alerts: Arc::clone(&s.alerts),
    })
}

impl Harness {
    fn send(&self, partition: i32, rows: Rows<'_>, first: i64) {
        let b = block(
            &self.table,
            partition,
            rows,
            first,
            &self.tracker,
            &self.engine.shared.budget,
        );
        self.items
            .as_ref()
            .unwrap()
            .send(FlushItem::Block(b))
            .unwrap();
    }

    fn flush(&self) {
        let (ack, done) = bounded(1);
        self.items
            .as_ref()
            .unwrap()
            .send(FlushItem::Flush(ack))
            .unwrap();
        done.recv_timeout(Duration::from_secs(5)).unwrap();
    }

    fn close(&mut self) {
        drop(self.items.take());
        self.thread.take().unwrap().join().unwrap();
    }

    fn bodies(&self) -> Vec<String> {
        self.engine
            .loads
            .seen
            .lock()
            .iter()
            .map(|l| crate::encode::printable_csv_row(&l.body))
            .collect()
    }
}

#[test]
fn a_flush_request_loads_the_last_op_per_key_and_completes_the_blocks() {
    let mut h = harness("");
    h.send(0, &[(Upsert, "1", "a"), (Upsert, "2", "b")], 0);
    h.send(0, &[(Delete, "1", "a"), (Upsert, "2", "c")], 2);
    h.tracker.polled(3);
    assert_eq!(h.tracker.committable(), Some(0));
    h.flush();
    assert_eq!(h.bodies(), ["1|\\N|1⏎2|c|0⏎"]);
    assert_eq!(h.engine.loads.seen.lock()[0].table, "db.t");
    assert_eq!(h.tracker.committable(), Some(4));
    assert_eq!(h.engine.shared.budget.used(), 0, "memory given back");
    h.close();
    assert_eq!(h.engine.loads.seen.lock().len(), 1, "nothing left to load");
}

#[test]
fn a_batch_loads_its_csv_rows_then_its_json_rows() {
    let mut h = harness("");
    // `\N` as text and a separator byte cannot be unquoted CSV: those rows are JSON.
    h.send(
        0,
        &[(Upsert, "1", "a"), (Upsert, "2", "\\N"), (Upsert, "3", "c")],
        0,
    );
    h.send(
        0,
        &[
            (Upsert, "1", "x\u{1}"),
            (Delete, "3", "c"),
            (Upsert, "4", "d"),
        ],
        3,
    );
    h.tracker.polled(5);
    h.flush();
    let seen = h.engine.loads.seen.lock().clone();
    // The last row per key across both formats: 1 is JSON now, 3 a delete.
    assert_eq!(h.bodies()[0], "3|\\N|1⏎4|d|0⏎");
    let json: serde_json::Value = serde_json::from_slice(&seen[1].body).unwrap();
    assert_eq!(
        json,
        serde_json::json!([{"id":2,"v":"\\N","__op":0},{"id":1,"v":"x\u{1}","__op":0}])
    );
    assert_eq!(seen.len(), 2);
    assert_ne!(seen[0].label, seen[1].label);
    assert_eq!(h.tracker.committable(), Some(6));
    assert_eq!(h.engine.shared.budget.used(), 0);
    h.close();
}

#[test]
fn a_batch_whose_json_load_fails_commits_nothing() {
    let mut h = harness("");
    h.engine.loads.then(Ok(loaded(None)));
    h.engine.loads.then(Err(LoadError::Permanent {
        label: "l".into(),
        message: "unknown table".into(),
    }));
    h.send(0, &[(Upsert, "1", "a"), (Upsert, "2", "\\N")], 0);
    h.tracker.polled(1);
    h.flush();
    assert_eq!(h.engine.loads.seen.lock().len(), 2);
    assert!(h.engine.shared.fatal.is_set());
    assert_eq!(
        h.tracker.committable(),
        Some(0),
        "the CSV rows' load alone commits nothing"
    );
    h.close();
}

#[test]
fn a_revocation_between_a_batchs_two_loads_reloads_it_without_the_revoked_block() {
    let mut h = harness("");
    let budget = &h.engine.shared.budget;
    let a = block(
        &h.table,
        0,
        &[(Upsert, "1", "a"), (Upsert, "2", "\\N")],
        0,
        &h.tracker,
        budget,
    );
    let lease = Arc::new(Epochs::default().lease(PartitionId::new("t", 1)));
    let b = leased_block(
        &h.table,
        &[(Upsert, "3", "c"), (Upsert, "4", "\u{1}")],
        2,
        &h.tracker,
        budget,
        Arc::clone(&lease),
    );
    // `b`'s partition is revoked while the CSV rows load; the JSON load is then abandoned
    // before it is sent (the loader asks before every attempt).
    *h.engine.loads.during.lock() = Some(Box::new(move || lease.revoke()));
    h.items.as_ref().unwrap().send(FlushItem::Block(a)).unwrap();
    h.items.as_ref().unwrap().send(FlushItem::Block(b)).unwrap();
    h.tracker.polled(3);
    h.flush();
    let seen = h.engine.loads.seen.lock().clone();
    assert_eq!(seen.len(), 3, "the first JSON load was never sent");
    assert_eq!(h.bodies()[0], "1|a|0⏎3|c|0⏎");
    // Rebuilt without the revoked block: new labels, so nothing is taken for loaded.
    assert_eq!(h.bodies()[1], "1|a|0⏎");
    let json: serde_json::Value = serde_json::from_slice(&seen[2].body).unwrap();
    assert_eq!(json, serde_json::json!([{"id":2,"v":"\\N","__op":0}]));
    let labels: std::collections::HashSet<&str> = seen.iter().map(|l| l.label.as_str()).collect();
    assert_eq!(labels.len(), 3);
    assert_eq!(
        h.tracker.committable(),
        Some(2),
        "the revoked block stays uncommitted"
    );
    assert_eq!(h.engine.shared.budget.used(), 0);
    h.close();
}

#[test]
fn the_batch_size_triggers_a_load_without_a_request() {
    let mut h = harness("");
    let big = "x".repeat(90);
    let rows: Vec<(crate::model::ChangeOp, String, &str)> = (0..12_000)
        .map(|i| (Upsert, i.to_string(), big.as_str()))
        .collect();
    let rows: Vec<(crate::model::ChangeOp, &str, &str)> = rows
        .iter()
        .map(|(o, id, v)| (*o, id.as_str(), *v))
        .collect();
    h.send(0, &rows, 0);
    let until = Instant::now() + Duration::from_secs(5);
    while h.engine.loads.seen.lock().is_empty() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(h.engine.loads.seen.lock().len(), 1);
    h.close();
}

#[test]
fn a_failed_load_stops_the_job_and_commits_nothing_past_it() {
    let mut h = harness("");
    h.engine.loads.then(Err(LoadError::Permanent {
        label: "l".into(),
        message: "unknown table".into(),
    }));
    h.send(1, &[(Upsert, "1", "a")], 10);
    h.tracker.polled(10);
    h.flush();
    let fatal = h.engine.shared.fatal.message().unwrap();
    assert!(
        fatal.contains("db.t") && fatal.contains("t[1] 10..=10"),
        "{fatal}"
    );
    assert_eq!(h.tracker.committable(), Some(10));
    assert_eq!(h.engine.shared.budget.used(), 0);
    h.send(1, &[(Upsert, "2", "b")], 11);
    h.flush();
    assert_eq!(
        h.engine.loads.seen.lock().len(),
        1,
        "later rows never overtake the failed ones"
    );
    h.close();
}

#[test]
fn rejected_rows_are_isolated_loaded_around_and_dead_lettered() {
    let mut h = harness(DEAD_LETTER);
    h.engine.dead_letters.hold.store(true, Ordering::Relaxed);
    let data = |rejected: &str| LoadError::Data {
        label: "l".into(),
        message: "too many filtered rows".into(),
        rejected: rejected.into(),
    };
    // The batch fails; its halves: row 1 loads, rows 2–3 fail and split again: row 2 fails
    // alone, row 3 loads.
    h.engine.loads.then(Err(data("")));
    h.engine.loads.then(Ok(loaded(None)));
    h.engine.loads.then(Err(data("")));
    h.engine
        .loads
        .then(Err(data("Error: too long. Row: [2, 'b']")));
    h.engine.loads.then(Ok(loaded(None)));
    h.send(
        0,
        &[(Upsert, "1", "a"), (Upsert, "2", "b"), (Upsert, "3", "c")],
        0,
    );
    h.tracker.polled(2);
    h.flush();
    let seen = h.engine.loads.seen.lock().clone();
    assert_eq!(
        h.bodies(),
        [
            "1|a|0⏎2|b|0⏎3|c|0⏎",
            "1|a|0⏎",
            "2|b|0⏎3|c|0⏎",
            "2|b|0⏎",
            "3|c|0⏎"
        ]
    );
    assert!(seen.iter().all(|l| l.filtered == FilteredRows::Reject));
    let labels: std::collections::HashSet<&str> = seen.iter().map(|l| l.label.as_str()).collect();
    assert_eq!(
        labels.len(),
        seen.len(),
        "every part has a label of its own"
    );
    let rejected = h.engine.dead_letters.rejected.lock().clone();
    assert_eq!(rejected.len(), 1);
    let rows = &rejected[0].rows;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].row["id"], 2);
    assert_eq!(rows[0].row["v"], "b");
    assert_eq!(rows[0].reason, "Error: too long. Row: [2, 'b']");
    assert!(rows[0].isolated);
    assert_eq!(rejected[0].ranges, "t[0] 0..=2");
    assert_eq!(
        h.tracker.committable(),
        Some(0),
        "outstanding until the dead letter is acknowledged"
    );
    assert_eq!(h.engine.shared.budget.used(), 0);
    for claim in std::mem::take(&mut *h.engine.dead_letters.held.lock()) {
        claim.complete();
    }
    assert_eq!(h.tracker.committable(), Some(3));
    assert!(!h.engine.shared.fatal.is_set());
    h.close();
}

#[test]
fn blocks_of_another_schema_load_separately() {
    let mut h = harness("");
    h.send(0, &[(Upsert, "1", "a")], 0);
    // Equal schemas share loads whatever their Arc; a partial update of the same columns does
    // not share one with full rows (another `partial_update` header).
    let mut other = table("db", "t");
    other.update = crate::schema::RowUpdate::Partial;
    let other = Arc::new(other);
    let b = block(
        &other,
        0,
        &[(Upsert, "1", "b")],
        1,
        &h.tracker,
        &h.engine.shared.budget,
    );
    h.items.as_ref().unwrap().send(FlushItem::Block(b)).unwrap();
    h.flush();
    assert_eq!(h.bodies(), ["1|a|0⏎", "1|b|0⏎"]);
    h.close();
}

#[test]
fn blocks_of_a_revoked_partition_never_load() {
    let mut h = harness("");
    h.send(0, &[(Upsert, "1", "a")], 0);
    let revoked = block(
        &h.table,
        1,
        &[(Upsert, "2", "b")],
        5,
        &h.tracker,
        &h.engine.shared.budget,
    );
    revoked.pending.lease().revoke();
    h.items
        .as_ref()
        .unwrap()
        .send(FlushItem::Block(revoked))
        .unwrap();
    h.tracker.polled(5);
    h.flush();
    assert_eq!(
        h.bodies(),
        ["1|a|0⏎"],
        "the batch was rebuilt without the revoked block"
    );
    assert_eq!(
        h.tracker.committable(),
        Some(5),
        "the dropped block stays uncommitted"
    );
    assert_eq!(h.engine.shared.budget.used(), 0);
    h.close();
}

#[test]
fn a_revocation_during_retries_drops_the_block_before_the_next_attempt() {
    let mut h = harness("");
    let budget = &h.engine.shared.budget;
    let a = block(&h.table, 0, &[(Upsert, "1", "a")], 0, &h.tracker, budget);
    let lease = Arc::new(Epochs::default().lease(PartitionId::new("t", 1)));
    let b = leased_block(
        &h.table,
        &[(Upsert, "2", "b")],
        1,
        &h.tracker,
        budget,
        Arc::clone(&lease),
    );
    // The partition of `b` is revoked while the first attempt is answered (a failure).
    *h.engine.loads.during.lock() = Some(Box::new(move || lease.revoke()));
    h.engine
        .loads
        .then(Err(LoadError::Abandoned { label: "l".into() }));
    h.items.as_ref().unwrap().send(FlushItem::Block(a)).unwrap();
    h.items.as_ref().unwrap().send(FlushItem::Block(b)).unwrap();
    h.flush();
    let bodies = h.bodies();
    assert_eq!(
        bodies,
        ["1|a|0⏎2|b|0⏎", "1|a|0⏎"],
        "rebuilt without the revoked block"
    );
    h.close();
}

#[test]
fn closing_the_channel_loads_what_is_left() {
    let mut h = harness("");
    h.send(0, &[(Upsert, "7", "z")], 3);
    h.close();
    assert_eq!(h.bodies(), ["7|z|0⏎"]);
    assert_eq!(h.tracker.outstanding(), 0);
}
