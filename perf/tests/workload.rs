//! Generator tests: determinism, cross-check against starpipe's decoders, op coverage.

use std::collections::HashMap;

use starpipe::decode::{DecodeOptions, Decoded, Decoder, Format as DecFormat};
use starpipe::model::{ChangeOp, Value};
use starpipe_perf::{
    ExpectedState, Format, KeyDist, Message, Model, Partitioning, Row, Workload, generate,
};

fn workload(seed: u64, format: Format, messages: u64) -> Workload {
    let mut w = Workload::new(seed, format);
    w.messages = messages;
    w.values.tricky_fraction = 0.05;
    w
}

/// Decodes every message with starpipe and applies the decoded changes to a fresh model.
fn replay_decoded(w: &Workload, msgs: &[Message]) -> ExpectedState {
    let fmt = match w.format {
        Format::Canal => DecFormat::Canal,
        Format::CloudCanal => DecFormat::CloudCanal,
    };
    let keys: HashMap<String, std::sync::Arc<[String]>> = w
        .tables
        .iter()
        .map(|t| {
            let names: Vec<String> = t.key_names().iter().map(|s| s.to_string()).collect();
            (format!("{}.{}", w.database, t.name), names.into())
        })
        .collect();
    let mut dec = Decoder::new(DecodeOptions::new(fmt));
    let mut model = Model::new(&w.tables);
    for m in msgs {
        let mut buf = m.payload.clone().into_bytes();
        let decoded = dec
            .decode(&mut buf, &keys)
            .unwrap_or_else(|e| panic!("message {} does not decode: {e}\n{}", m.seq, m.payload));
        let Decoded::Rows(batch) = decoded else {
            panic!("message {} decoded to {decoded:?}", m.seq);
        };
        assert_eq!(batch.table.table, m.table);
        assert_eq!(batch.table.db, w.database);
        let table = w.tables.iter().find(|t| t.name == m.table).unwrap();
        let mut changes = 0;
        for ch in batch.changes() {
            changes += 1;
            let row: Row = table
                .columns
                .iter()
                .map(|c| {
                    let col = ch
                        .row
                        .get(c.name)
                        .unwrap_or_else(|| panic!("column {} missing in {}", c.name, m.seq));
                    match col.value {
                        Value::Null => None,
                        Value::Text(s) => Some(s.to_string()),
                        Value::Bytes(b) => Some(String::from_utf8(b.to_vec()).unwrap()),
                    }
                })
                .collect();
            match ch.op {
                ChangeOp::Upsert => model.upsert(m.table, row),
                ChangeOp::Delete => model.delete(m.table, &row),
            }
        }
        // A key-changing UPDATE row decodes to DELETE + UPSERT.
        assert_eq!(changes, m.rows + m.key_changes, "message {}", m.seq);
    }
    model.expected_state(&w.database)
}

fn check_crosscheck(w: &Workload) {
    let (msgs, expected, stats) = generate(w);
    assert_eq!(msgs.len() as u64, w.messages);
    let replayed = replay_decoded(w, &msgs);
    assert_eq!(replayed.tables.len(), expected.tables.len());
    for (a, b) in replayed.tables.iter().zip(&expected.tables) {
        assert_eq!(a.rows.len(), b.rows.len(), "table {}", a.name);
        for (ra, rb) in a.rows.iter().zip(&b.rows) {
            assert_eq!(ra, rb, "table {}", a.name);
        }
    }
    assert_eq!(replayed, expected);
    assert!(expected.total_rows() > 0);
    assert!(stats.deleted_rows > 0 && stats.updated_rows > 0 && stats.inserted_rows > 0);
}

#[test]
fn deterministic() {
    for f in [Format::Canal, Format::CloudCanal] {
        let w = workload(7, f, 200);
        let (a, ea, sa) = generate(&w);
        let (b, eb, sb) = generate(&w);
        assert_eq!(a, b);
        assert_eq!(ea, eb);
        assert_eq!(sa, sb);
        assert_eq!(ea.to_json_string(), eb.to_json_string());
        let (c, _, _) = generate(&workload(8, f, 200));
        assert_ne!(a, c, "another seed gives another stream");
    }
}

#[test]
fn canal_decodes_and_matches_model() {
    check_crosscheck(&workload(1, Format::Canal, 800));
}

#[test]
fn cloudcanal_decodes_and_matches_model() {
    check_crosscheck(&workload(2, Format::CloudCanal, 800));
}

#[test]
fn hot_keys_small_batches_no_quirk() {
    for f in [Format::Canal, Format::CloudCanal] {
        let mut w = workload(3, f, 800);
        w.key_dist = KeyDist::Hot {
            hot_fraction: 0.01,
            hot_probability: 0.9,
        };
        w.max_rows = 5;
        w.pk_change_fraction = 0.3;
        w.canal_old_quirk = false;
        w.insert_weight = 0.4;
        w.update_weight = 0.4;
        w.delete_weight = 0.2;
        check_crosscheck(&w);
    }
}

#[test]
fn ascii_no_nulls() {
    let mut w = workload(4, Format::Canal, 300);
    w.values.unicode = false;
    w.values.null_fraction = 0.0;
    w.values.tricky_fraction = 0.0;
    let (msgs, _, _) = generate(&w);
    assert!(msgs.iter().all(|m| m.payload.is_ascii()));
    check_crosscheck(&w);
}

#[test]
fn key_changes_and_deletes_occur_by_default() {
    for f in [Format::Canal, Format::CloudCanal] {
        let w = workload(5, f, 600);
        let (msgs, _, stats) = generate(&w);
        assert!(stats.key_changes > 0, "{stats:?}");
        assert!(stats.deleted_rows > 0, "{stats:?}");
        assert!(msgs.iter().any(|m| m.key_changes > 0));
        // Multi-row messages of every op.
        for op in [
            starpipe_perf::Op::Insert,
            starpipe_perf::Op::Update,
            starpipe_perf::Op::Delete,
        ] {
            assert!(msgs.iter().any(|m| m.op == op && m.rows > 1), "{op:?}");
        }
        // Every table appears.
        for t in &w.tables {
            assert!(msgs.iter().any(|m| m.table == t.name));
        }
    }
}

#[test]
fn table_partitioning_is_per_table() {
    let mut w = workload(6, Format::Canal, 500);
    w.partitions = 8;
    let (msgs, _, _) = generate(&w);
    let mut seen: HashMap<&str, i32> = HashMap::new();
    for m in &msgs {
        assert!((0..8).contains(&m.partition));
        assert_eq!(*seen.entry(m.table).or_insert(m.partition), m.partition);
    }
}

#[test]
fn spread_partitioning_gives_each_table_its_own_partition() {
    let mut w = workload(6, Format::Canal, 500);
    w.partitions = 4;
    w.partitioning = Partitioning::Spread;
    let (msgs, _, _) = generate(&w);
    for m in &msgs {
        let i = w.tables.iter().position(|t| t.name == m.table).unwrap();
        assert_eq!(m.partition, i as i32 % 4, "{}", m.table);
    }
    let parts: std::collections::HashSet<i32> = msgs.iter().map(|m| m.partition).collect();
    assert_eq!(parts.len(), 4.min(w.tables.len()));
    // Key changes stay on: a table's history is in one partition.
    assert!(generate(&w).2.key_changes > 0);
}

#[test]
fn key_partitioning_has_no_key_changes_and_decodes() {
    for f in [Format::Canal, Format::CloudCanal] {
        let mut w = workload(9, f, 600);
        w.partitions = 4;
        w.partitioning = Partitioning::Key;
        let (msgs, _, stats) = generate(&w);
        assert_eq!(stats.key_changes, 0);
        let parts: std::collections::HashSet<i32> = msgs.iter().map(|m| m.partition).collect();
        assert_eq!(parts.len(), 4);
        check_crosscheck(&w);
        // Per-partition replay in any interleaving gives the same state because a key never
        // leaves its partition: replay partition by partition.
        let mut by_part: Vec<Message> = msgs.clone();
        by_part.sort_by_key(|m| (m.partition, m.seq));
        let a = replay_decoded(&w, &by_part);
        let b = replay_decoded(&w, &msgs);
        assert_eq!(a, b);
    }
}

#[test]
fn expected_json_roundtrip() {
    let w = workload(10, Format::CloudCanal, 200);
    let (_, e, _) = generate(&w);
    let s = e.to_json_string();
    let back: ExpectedState = serde_json::from_str(&s).unwrap();
    assert_eq!(back, e);
}

#[test]
fn message_shapes() {
    let w = workload(11, Format::Canal, 300);
    let (msgs, _, _) = generate(&w);
    for m in &msgs {
        let v: serde_json::Value = serde_json::from_str(&m.payload).unwrap();
        for k in [
            "data",
            "old",
            "type",
            "database",
            "table",
            "pkNames",
            "isDdl",
            "mysqlType",
            "sqlType",
            "es",
            "ts",
            "id",
            "sql",
        ] {
            assert!(v.get(k).is_some(), "canal message lacks {k}");
        }
        assert_eq!(v["isDdl"], false);
        assert_eq!(v["sql"], "");
        if m.op == starpipe_perf::Op::Update {
            assert_eq!(v["old"].as_array().unwrap().len(), m.rows as usize);
        } else {
            assert!(v["old"].is_null());
        }
    }
    let w = workload(11, Format::CloudCanal, 300);
    let (msgs, _, _) = generate(&w);
    for m in &msgs {
        let v: serde_json::Value = serde_json::from_str(&m.payload).unwrap();
        for k in [
            "action",
            "data",
            "before",
            "db",
            "schema",
            "table",
            "pks",
            "isDdl",
            "dbValType",
            "jdbcType",
            "entryType",
            "execTs",
            "sendTs",
            "bid",
            "sql",
        ] {
            assert!(v.get(k).is_some(), "cloudcanal message lacks {k}");
        }
        assert_eq!(v["entryType"], "ROWDATA");
        let before = v["before"].as_array().unwrap();
        if m.op == starpipe_perf::Op::Update {
            assert_eq!(before.len(), m.rows as usize);
            // Full before image.
            assert_eq!(
                before[0].as_object().unwrap().len(),
                v["data"][0].as_object().unwrap().len()
            );
        } else {
            assert!(before.is_empty());
        }
    }
}

#[test]
fn ddl_is_well_formed() {
    let d = starpipe_perf::ddl("db1", &starpipe_perf::all_tables());
    assert!(d.starts_with("CREATE DATABASE IF NOT EXISTS `db1`;"));
    assert!(d.contains("PRIMARY KEY(`order_id`, `line_no`, `sku`)"));
    assert_eq!(d.matches("BUCKETS 1").count(), 4);
    let wide = starpipe_perf::schema::wide();
    assert!(wide.columns.len() >= 40);
}

/// The row changes `next_with_changes` reports, applied to a fresh model, give the generator's
/// expected state; the messages are the ones `next_message` yields.
#[test]
fn row_changes_rebuild_the_expected_state() {
    use starpipe_perf::RowChange;
    let w = workload(17, Format::Canal, 800);
    let (plain, expected, _) = generate(&w);
    let mut g = w.generator();
    let mut model = Model::new(&w.tables);
    let mut key_changes = 0;
    for m in &plain {
        let (again, changes) = g.next_with_changes();
        assert_eq!(&again, m);
        let deletes_in_update = changes
            .iter()
            .filter(|c| matches!(c, RowChange::Delete { .. }))
            .count();
        if m.op == starpipe_perf::Op::Update {
            assert_eq!(deletes_in_update as u32, m.key_changes);
            key_changes += m.key_changes;
        }
        for c in changes {
            match c {
                RowChange::Upsert { table, row } => model.upsert(table, row),
                RowChange::Delete { table, row } => model.delete(table, &row),
            }
        }
    }
    assert!(key_changes > 0, "the workload changes keys");
    assert_eq!(model.expected_state(&w.database), expected);
}

/// `max_live_rows` bounds every table: INSERTs become DELETEs at the bound.
#[test]
fn max_live_rows_bounds_the_tables() {
    let mut w = workload(23, Format::CloudCanal, 3000);
    w.max_live_rows = Some(200);
    let mut g = w.generator();
    for _ in 0..w.messages {
        g.next_message();
        // An INSERT message may start just below the bound.
        assert!(g.live_rows().iter().all(|(_, n)| *n < 200 + w.max_rows));
    }
    assert!(
        g.live_rows().iter().all(|(_, n)| *n >= 100),
        "{:?}",
        g.live_rows()
    );
}
