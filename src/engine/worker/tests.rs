//! The partition worker without Kafka: records are handed to `handle` directly, blocks are
//! captured where a flusher would receive them.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::unbounded;

use super::*;
use crate::engine::blocks::BlockLimits;
use crate::engine::record::OwnedRecord;
use crate::engine::testkit::{TestEngine, canal_insert, config, table};

const DEAD_LETTER: &str = "onError = \"deadLetter\"\ndeadLetterTopic = \"dlq\"";

struct Harness {
    engine: TestEngine,
    worker: PartitionWorker,
    partition: AssignedPartition,
    _commands: Sender<WorkerCmd>,
}

fn harness(extra: &str, limits: BlockLimits) -> Harness {
    let engine = TestEngine::capturing(
        config(extra),
        &[table("shop", "orders"), table("ods", "orders")],
    );
    let (commands, rx) = unbounded();
    let worker = PartitionWorker::with_limits(Arc::clone(&engine.shared), rx, limits);
    let id = PartitionId::new("cdc", 0);
    let partition = AssignedPartition {
        tracker: Arc::new(OffsetTracker::new(Some(0))),
        lease: Arc::new(crate::engine::lease::Epochs::default().lease(id.clone())),
        id,
    };
    Harness {
        engine,
        worker,
        partition,
        _commands: commands,
    }
}

fn large_blocks() -> BlockLimits {
    BlockLimits {
        bytes: 1 << 20,
        age: Duration::from_secs(3600),
    }
}

impl Harness {
    fn feed(&mut self, offset: i64, value: &str) {
        let record = OwnedRecord::new("cdc", 0, offset, value);
        self.worker.handle(&self.partition, &record.as_record());
    }

    fn send_everything(&mut self) {
        self.worker
            .writer
            .blocks
            .send_all(&self.engine.shared.hard_stop);
    }
}

#[test]
fn rows_are_routed_to_their_target_and_offsets_travel_with_the_block() {
    let mut h = harness(
        "[[tables]]\nsource = \"shop.*\"\ntarget = \"ods.*\"",
        large_blocks(),
    );
    h.feed(0, &canal_insert("shop", "orders", &[(1, "a"), (2, "b")]));
    h.feed(1, &canal_insert("shop", "orders", &[(3, "c")]));
    h.send_everything();
    assert_eq!(h.engine.captured.wait_for(1), 1);
    let blocks = h.engine.captured.blocks.lock();
    let b = &blocks[0];
    assert_eq!(b.schema.to_string(), "ods.orders");
    assert_eq!(
        (*b.offsets.start(), *b.offsets.end(), b.rows.len()),
        (0, 1, 3)
    );
    assert_eq!(
        h.partition.tracker.committable(),
        Some(0),
        "nothing is committable before the block loaded"
    );
    assert_eq!(h.partition.tracker.next(), Some(2));
}

#[test]
fn a_block_is_cut_by_size_between_messages() {
    let mut h = harness(
        "",
        BlockLimits {
            bytes: 40,
            age: Duration::from_secs(3600),
        },
    );
    for offset in 0..4 {
        h.feed(
            offset,
            &canal_insert("shop", "orders", &[(offset, "0123456789")]),
        );
    }
    h.send_everything();
    h.engine.captured.wait_for_rows(4);
    let summary = h.engine.captured.summary();
    assert!(summary.len() >= 2, "{summary:?}");
    // Contiguous offset ranges, each message in one block.
    let mut next = 0;
    for (_, first, last, rows) in &summary {
        assert_eq!(*first, next, "{summary:?}");
        assert_eq!(rows, &((last - first + 1) as usize));
        next = last + 1;
    }
    assert_eq!(next, 4);
}

#[test]
fn a_block_is_cut_by_age() {
    let mut h = harness(
        "",
        BlockLimits {
            bytes: 1 << 20,
            age: Duration::ZERO,
        },
    );
    h.feed(5, &canal_insert("shop", "orders", &[(1, "a")]));
    h.worker.writer.blocks.send_due(&h.engine.shared.hard_stop);
    assert_eq!(h.engine.captured.wait_for(1), 1);
    assert_eq!(h.engine.captured.summary()[0].1, 5);
}

#[test]
fn a_message_larger_than_a_block_stays_whole() {
    let mut h = harness(
        "",
        BlockLimits {
            bytes: 64,
            age: Duration::from_secs(3600),
        },
    );
    let rows: Vec<(i64, &str)> = (0..50).map(|i| (i, "some text")).collect();
    h.feed(0, &canal_insert("shop", "orders", &rows));
    h.feed(1, &canal_insert("shop", "orders", &[(99, "x")]));
    h.send_everything();
    h.engine.captured.wait_for_rows(51);
    let summary = h.engine.captured.summary();
    assert_eq!(summary[0].1..=summary[0].2, 0..=0);
    assert_eq!(summary[0].3, 50, "all rows of the message in one block");
    assert_eq!(summary[1].1, 1);
}

#[test]
fn on_error_fail_stops_before_the_bad_message() {
    let mut h = harness("", large_blocks());
    h.feed(0, &canal_insert("shop", "orders", &[(1, "a")]));
    h.feed(1, "{not json");
    assert!(h.engine.shared.fatal.is_set());
    let message = h.engine.shared.fatal.message().unwrap();
    assert!(
        message.contains("cdc[0]@1") && message.contains("Malformed"),
        "{message}"
    );
    assert_eq!(
        h.partition.tracker.next(),
        Some(1),
        "the bad message is not polled"
    );
    assert!(h.worker.halted);
}

#[test]
fn payload_excerpts_can_be_kept_out_of_logs() {
    let mut with = harness("", large_blocks());
    with.feed(0, "{\"secret\": \"4111-1111\"");
    assert!(
        with.engine
            .shared
            .fatal
            .message()
            .unwrap()
            .contains("4111-1111")
    );
    let mut without = harness("logPayloadExcerpt = false", large_blocks());
    without.feed(0, "{\"secret\": \"4111-1111\"");
    let message = without.engine.shared.fatal.message().unwrap();
    assert!(
        message.contains("Malformed") && !message.contains("4111"),
        "{message}"
    );
}

#[test]
fn on_error_dead_letter_sends_the_record_and_continues() {
    let mut h = harness(DEAD_LETTER, large_blocks());
    h.engine.dead_letters.hold.store(true, Ordering::Relaxed);
    h.feed(0, "{not json");
    h.feed(1, &canal_insert("shop", "missing", &[(1, "a")]));
    h.feed(2, &canal_insert("shop", "orders", &[(1, "a")]));
    assert!(!h.engine.shared.fatal.is_set());
    let records = h.engine.dead_letters.records.lock().clone();
    let classes: Vec<(&str, &str)> = records
        .iter()
        .map(|(at, p)| (at.as_str(), p.class))
        .collect();
    assert_eq!(classes, [("cdc[0]@0", "Malformed"), ("cdc[0]@1", "Target")]);
    assert_eq!(
        h.partition.tracker.committable(),
        Some(0),
        "a dead letter is outstanding until acknowledged"
    );
    for claim in std::mem::take(&mut *h.engine.dead_letters.held.lock()) {
        claim.complete();
    }
    assert_eq!(
        h.partition.tracker.committable(),
        Some(2),
        "the block at 2 is still out"
    );
}

#[test]
fn a_partial_row_is_bad_input_and_rolls_the_message_back() {
    let mut h = harness(DEAD_LETTER, large_blocks());
    h.feed(0, &canal_insert("shop", "orders", &[(1, "a")]));
    let partial = r#"{"data":[{"id":"2","v":"b"},{"id":"3"}],"database":"shop","table":"orders","isDdl":false,"type":"INSERT","pkNames":["id"],"old":null,"es":1,"ts":1}"#;
    h.feed(1, partial);
    h.send_everything();
    h.engine.captured.wait_for_rows(1);
    let records = h.engine.dead_letters.records.lock().clone();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].1.class, "PartialRow");
    assert_eq!(
        h.engine.captured.summary()[0].3,
        1,
        "no row of the bad message reached the block"
    );
}

/// A message of `n` rows whose last row lacks `v`: its rows grow the block's buffers, then it
/// is rolled back.
fn partial_after_long_rows(n: usize) -> String {
    let long = "x".repeat(100);
    let mut rows: Vec<String> = (10..10 + n)
        .map(|i| format!(r#"{{"id":"{i}","v":"{long}"}}"#))
        .collect();
    rows.push(r#"{"id":"9"}"#.to_string());
    format!(
        r#"{{"data":[{}],"database":"shop","table":"orders","isDdl":false,"type":"INSERT","pkNames":["id"],"old":null,"es":1,"ts":1}}"#,
        rows.join(",")
    )
}

#[test]
fn a_rolled_back_message_leaves_no_uncounted_buffer() {
    let mut h = harness(DEAD_LETTER, large_blocks());
    let used = |h: &Harness| h.engine.shared.budget.used();
    // On a block with rows: what its buffers hold is counted when it is handed over.
    h.feed(0, &canal_insert("shop", "orders", &[(1, "a")]));
    h.feed(1, &partial_after_long_rows(2000));
    h.send_everything();
    h.engine.captured.wait_for_rows(1);
    let held: usize = (h.engine.captured.blocks.lock().iter())
        .map(|b| b.rows.held_bytes())
        .sum();
    assert!(
        held > 200_000,
        "the rolled-back rows grew the buffers: {held}"
    );
    assert!(used(&h) >= held as u64, "{} < {held}", used(&h));
    // On an empty block: the buffers are freed, not kept (and counted) for the next rows.
    let before = used(&h);
    h.feed(2, &partial_after_long_rows(2000));
    h.feed(3, &canal_insert("shop", "orders", &[(2, "b")]));
    let grown = used(&h) - before;
    assert!(grown <= 64 * 1024, "one row's reservation, got {grown}");
}

#[test]
fn ddl_rereads_the_target_schema_and_new_blocks_use_it() {
    let mut h = harness("", large_blocks());
    h.feed(0, &canal_insert("shop", "orders", &[(1, "a")]));
    let reads = h.engine.schemas.reads.load(Ordering::Relaxed);
    let mut wider = table("shop", "orders");
    wider.columns[1].ty = crate::schema::StarRocksType::parse("varchar(800)").unwrap();
    h.engine.schemas.tables.lock().insert(
        crate::config::TargetName {
            db: "shop".into(),
            table: "orders".into(),
        },
        wider,
    );
    let ddl = r#"{"data":null,"database":"shop","table":"orders","isDdl":true,"type":"ALTER","sql":"ALTER TABLE orders MODIFY v varchar(200)","es":1,"ts":1}"#;
    // As the control thread would once the row before the DDL loaded.
    h.partition.tracker.set_committed(1);
    h.feed(1, ddl);
    assert!(h.engine.schemas.reads.load(Ordering::Relaxed) > reads);
    assert!(
        h.engine.schemas.executed.lock().is_empty(),
        "the target holds the wider type already: nothing to run; ran {:?}",
        h.engine.schemas.executed.lock()
    );
    h.feed(2, &canal_insert("shop", "orders", &[(2, "b")]));
    h.send_everything();
    h.engine.captured.wait_for(2);
    let blocks = h.engine.captured.blocks.lock();
    assert_eq!(blocks.len(), 2, "the schema change cut the block");
    assert!(!Arc::ptr_eq(&blocks[0].schema, &blocks[1].schema));
    assert_eq!(h.partition.tracker.next(), Some(3));
}

#[test]
fn a_ddl_runs_its_statements_after_the_rows_before_it_were_handed_over() {
    let mut h = harness("", large_blocks());
    h.feed(0, &canal_insert("shop", "orders", &[(1, "a")]));
    let ddl = r#"{"data":null,"database":"shop","table":"orders","isDdl":true,"type":"ALTER","sql":"ALTER TABLE orders ADD COLUMN c INT","es":1,"ts":1}"#;
    h.partition.tracker.set_committed(1);
    h.feed(1, ddl);
    assert_eq!(
        h.engine.captured.summary().len(),
        1,
        "the block before the DDL went to the flusher"
    );
    let executed = h.engine.schemas.executed.lock().clone();
    assert_eq!(executed.len(), 1, "{executed:?}");
    assert!(executed[0].contains("ADD COLUMN `c` INT"), "{executed:?}");
    assert_eq!(
        h.partition.tracker.next(),
        Some(2),
        "the DDL's offset is done"
    );
}

#[test]
fn a_ddl_that_cannot_be_applied_stops_the_job_at_it() {
    let mut h = harness("", large_blocks());
    let ddl = r#"{"data":null,"database":"shop","table":"orders","isDdl":true,"type":"ALTER","sql":"ALTER TABLE orders DROP PRIMARY KEY","es":1,"ts":1}"#;
    h.feed(0, ddl);
    let fatal = h.engine.shared.fatal.message().expect("the job stops");
    assert!(fatal.contains("DDL at cdc[0]@0"), "{fatal}");
    assert!(fatal.contains("ddlExceptionSkip"), "{fatal}");
    assert_eq!(
        h.partition.tracker.next(),
        None,
        "the DDL's offset is not done"
    );
}

#[test]
fn ddl_exception_skip_goes_on_past_a_ddl_that_cannot_be_applied() {
    let mut h = harness("[target]\nddlExceptionSkip = true", large_blocks());
    let ddl = r#"{"data":null,"database":"shop","table":"orders","isDdl":true,"type":"ALTER","sql":"ALTER TABLE orders DROP PRIMARY KEY","es":1,"ts":1}"#;
    h.feed(0, ddl);
    assert!(h.engine.shared.fatal.message().is_none());
    assert_eq!(h.partition.tracker.next(), Some(1));
}

#[test]
fn a_replayed_drop_column_still_lets_older_rows_through() {
    let mut h = harness("", large_blocks());
    h.feed(0, &canal_insert("shop", "orders", &[(1, "a")]));
    // Replayed after a crash: the target lacks `gone` already, so the schema does not change.
    let ddl = r#"{"data":null,"database":"shop","table":"orders","isDdl":true,"type":"ALTER","sql":"ALTER TABLE orders DROP COLUMN gone","es":1,"ts":1}"#;
    h.partition.tracker.set_committed(1);
    h.feed(1, ddl);
    assert!(h.engine.schemas.executed.lock().is_empty());
    // A row produced before the DROP (another partition's, in production) still carries it.
    let older = r#"{"data":[{"id":"2","v":"b","gone":"x"}],"database":"shop","table":"orders","isDdl":false,"type":"INSERT","pkNames":["id"],"mysqlType":{"id":"int","v":"varchar(100)","gone":"varchar(10)"},"old":null,"es":1,"ts":1}"#;
    h.feed(2, older);
    assert!(
        h.engine.shared.fatal.message().is_none(),
        "{:?}",
        h.engine.shared.fatal.message()
    );
    assert_eq!(h.partition.tracker.next(), Some(3));
}
