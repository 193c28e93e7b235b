//! The workload generator: a seeded stream of canal-json / CloudCanal JSON messages that is a
//! valid change history (UPDATEs and DELETEs hit live keys, INSERTs use fresh keys), plus the
//! expected final state.
//!
//! Row contents are a pure function of `(seed, table, lineage, version)`: a row is born with a
//! lineage id and version 0, each UPDATE bumps the version, and column `c` takes a new value
//! every `c.period` versions. The generator therefore stores only `key → (lineage, version)`
//! per live row (tens of bytes), which keeps `produce` of very large workloads in bounded
//! memory, and regenerates before/after images when it needs them.

use std::collections::{HashMap, HashSet};

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::model::{ExpectedState, ExpectedTable, Key, Row, key_of};
use crate::rng::{Rng, hash, java_hash};
use crate::schema::{Table, all_tables};
use crate::values::{ValueOptions, gen_value, wire_text};

/// Message format: starpipe's own (`canal`, `cloudcanal` on the command line).
pub use starpipe::decode::Format;

/// How messages are spread over partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Partitioning {
    /// By table: `abs(javaHash(table)) % partitions` (canal `partitionHash=db.table`), so the
    /// order of a table's messages is total.
    Table,
    /// By table, spread: the workload's `i`-th table goes to partition `i % partitions` (a
    /// canal `partitionHash` routing each table to a partition of its own). The order of a
    /// table's messages is total, and with as many partitions as tables every partition carries
    /// one; by name hash the four benchmark tables all land on one partition of 2 or 4.
    Spread,
    /// By the primary key of the message's rows (canal `db.table:$pk$`): every row of a message
    /// hashes to the message's partition. Key-changing UPDATEs are never generated in this mode:
    /// the old key's history lives in another partition and a consumer may apply the DELETE of
    /// the old key before its INSERT (formats.md §4.5), so no expected state would be exact.
    Key,
}

/// Which live keys UPDATEs and DELETEs pick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeyDist {
    Uniform,
    /// With probability `hot_probability` pick among the first `hot_fraction` of the live keys
    /// (a small, slowly changing hot set), otherwise uniformly.
    Hot {
        hot_fraction: f64,
        hot_probability: f64,
    },
}

/// The source operation of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Insert,
    Update,
    Delete,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Insert => "INSERT",
            Op::Update => "UPDATE",
            Op::Delete => "DELETE",
        }
    }
}

/// Workload configuration. `Workload::new(seed, format)` gives the defaults.
#[derive(Debug, Clone)]
pub struct Workload {
    pub seed: u64,
    pub format: Format,
    pub tables: Vec<Table>,
    pub database: String,
    /// Number of messages the iterator yields.
    pub messages: u64,
    /// Rows per message, uniform in `min_rows..=max_rows` (UPDATE/DELETE may get fewer when
    /// fewer keys are live).
    pub min_rows: usize,
    pub max_rows: usize,
    /// Op mix weights (default 70 / 25 / 5).
    pub insert_weight: f64,
    pub update_weight: f64,
    pub delete_weight: f64,
    /// Fraction of UPDATE rows that change the primary key (0 with `Partitioning::Key`).
    pub pk_change_fraction: f64,
    pub key_dist: KeyDist,
    /// Per table: once a table holds this many live rows, its INSERTs become DELETEs, so a long
    /// run's tables (and the emulator's memory) stay bounded. `None`: no bound.
    pub max_live_rows: Option<usize>,
    pub values: ValueOptions,
    pub partitions: u32,
    pub partitioning: Partitioning,
    /// Relative frequency of each table's messages, in `tables` order; `None`: uniform. See
    /// [`byte_balanced_weights`].
    pub table_weights: Option<Vec<f64>>,
    /// canal only: reproduce canal's `old` quirk (formats.md §2.4): the set of updated column
    /// names accumulates over the rows of a message, so `old[i]` may also list a column that
    /// changed only in an earlier row (with its unchanged value).
    pub canal_old_quirk: bool,
    /// Source clock of the first message (epoch ms) for `es`/`ts`/`execTs`/`sendTs`.
    pub start_ms: i64,
}

impl Workload {
    pub fn new(seed: u64, format: Format) -> Self {
        Workload {
            seed,
            format,
            tables: all_tables(),
            database: "starpipe_e2e".to_string(),
            messages: 1000,
            min_rows: 1,
            max_rows: 50,
            insert_weight: 0.70,
            update_weight: 0.25,
            delete_weight: 0.05,
            pk_change_fraction: 0.05,
            key_dist: KeyDist::Uniform,
            max_live_rows: None,
            values: ValueOptions::default(),
            partitions: 1,
            partitioning: Partitioning::Table,
            table_weights: None,
            canal_old_quirk: true,
            start_ms: 1_717_200_000_000,
        }
    }

    /// Keeps only the named tables (in the given order). Unknown names are an error.
    pub fn with_tables(mut self, names: &[&str]) -> Result<Self, String> {
        let mut v = Vec::new();
        for n in names {
            v.push(crate::schema::table(n).ok_or_else(|| format!("unknown table {n:?}"))?);
        }
        self.tables = v;
        Ok(self)
    }

    pub fn generator(&self) -> Generator {
        Generator::new(self.clone())
    }
}

/// One generated Kafka record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// 0-based position in the stream.
    pub seq: u64,
    pub table: &'static str,
    /// Target partition (`< Workload::partitions`).
    pub partition: i32,
    pub op: Op,
    pub rows: u32,
    /// Rows of this (UPDATE) message that change the primary key.
    pub key_changes: u32,
    /// The record value (one JSON object, no trailing newline).
    pub payload: String,
}

/// One row change a message makes, as the model applies it (a key-changing UPDATE is a
/// `Delete` of the old row followed by an `Upsert` of the new one). Rows are canonical text in
/// schema order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowChange {
    /// Insert or full replacement of the row with this row's key.
    Upsert { table: &'static str, row: Row },
    /// Deletion of the row with this row's key (the old image).
    Delete { table: &'static str, row: Row },
}

/// Counters over the generated stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    pub messages: u64,
    pub bytes: u64,
    pub insert_messages: u64,
    pub update_messages: u64,
    pub delete_messages: u64,
    pub inserted_rows: u64,
    pub updated_rows: u64,
    pub deleted_rows: u64,
    pub key_changes: u64,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    lineage: u64,
    version: u32,
    pool: u32,
    idx: u32,
}

#[derive(Debug)]
struct TableState {
    next_key: u64,
    live: HashMap<u64, Entry>,
    /// Live key numbers per pool (one pool per partition with key partitioning, else one).
    pools: Vec<Vec<u64>>,
    table_partition: u32,
}

impl TableState {
    fn add(&mut self, n: u64, lineage: u64, version: u32, pool: u32) {
        let p = &mut self.pools[pool as usize];
        p.push(n);
        let idx = (p.len() - 1) as u32;
        self.live.insert(
            n,
            Entry {
                lineage,
                version,
                pool,
                idx,
            },
        );
    }

    fn remove(&mut self, n: u64) -> Entry {
        let e = self.live.remove(&n).expect("live key");
        let p = &mut self.pools[e.pool as usize];
        p.swap_remove(e.idx as usize);
        if let Some(&moved) = p.get(e.idx as usize) {
            self.live.get_mut(&moved).expect("moved key").idx = e.idx;
        }
        e
    }
}

/// The generator; an `Iterator<Item = Message>` of `Workload::messages` messages.
pub struct Generator {
    w: Workload,
    rng: Rng,
    seq: u64,
    clock_ms: i64,
    state: Vec<TableState>,
    stats: Stats,
}

/// Canal `$pk$`-style hash of key values (XOR of Java hash codes, XOR the database's).
fn key_partition(db: &str, key_texts: &[String], partitions: u32) -> u32 {
    let mut h = java_hash(db);
    for k in key_texts {
        h ^= java_hash(k);
    }
    h.unsigned_abs() % partitions
}

impl Generator {
    pub fn new(w: Workload) -> Self {
        assert!(!w.tables.is_empty(), "workload without tables");
        assert!(w.partitions > 0, "partitions must be > 0");
        assert!(
            w.min_rows >= 1 && w.min_rows <= w.max_rows,
            "bad rows per message"
        );
        let pools = match w.partitioning {
            Partitioning::Table | Partitioning::Spread => 1,
            Partitioning::Key => w.partitions as usize,
        };
        let state = w
            .tables
            .iter()
            .enumerate()
            .map(|(i, t)| TableState {
                next_key: 1,
                live: HashMap::new(),
                pools: vec![Vec::new(); pools],
                table_partition: match w.partitioning {
                    Partitioning::Spread => i as u32 % w.partitions,
                    _ => java_hash(t.name).unsigned_abs() % w.partitions,
                },
            })
            .collect();
        Generator {
            rng: Rng::new(w.seed),
            seq: 0,
            clock_ms: w.start_ms,
            state,
            stats: Stats::default(),
            w,
        }
    }

    pub fn workload(&self) -> &Workload {
        &self.w
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Number of live rows per table right now.
    pub fn live_rows(&self) -> Vec<(&'static str, usize)> {
        self.w
            .tables
            .iter()
            .zip(&self.state)
            .map(|(t, s)| (t.name, s.live.len()))
            .collect()
    }

    /// The row with key number `n`, lineage and version (canonical text, schema order).
    fn row(&self, ti: usize, n: u64, lineage: u64, version: u32) -> Row {
        let t = &self.w.tables[ti];
        let mut row: Row = t.key_texts(n).into_iter().map(Some).collect();
        for (ci, c) in t.columns.iter().enumerate().skip(t.key_len) {
            let epoch = version.checked_div(c.period).unwrap_or(0);
            let mut rng = Rng::new(hash(&[
                self.w.seed,
                ti as u64,
                ci as u64,
                lineage,
                epoch as u64,
            ]));
            row.push(gen_value(c, &self.w.values, &mut rng));
        }
        row
    }

    /// Expected final state of the stream generated so far (StarRocks text, key order).
    pub fn expected_state(&self) -> ExpectedState {
        let tables = self
            .w
            .tables
            .iter()
            .enumerate()
            .map(|(ti, t)| {
                let mut rows: Vec<(Key, Row)> = self.state[ti]
                    .live
                    .iter()
                    .map(|(&n, e)| {
                        let r = self.row(ti, n, e.lineage, e.version);
                        (key_of(t, &r), r)
                    })
                    .collect();
                rows.sort_by(|a, b| a.0.cmp(&b.0));
                ExpectedTable::new(t, rows.iter().map(|(_, r)| r))
            })
            .collect();
        ExpectedState {
            database: self.w.database.clone(),
            tables,
        }
    }

    fn pick_op(&mut self) -> Op {
        let total = self.w.insert_weight + self.w.update_weight + self.w.delete_weight;
        let x = self.rng.unit() * total;
        if x < self.w.insert_weight {
            Op::Insert
        } else if x < self.w.insert_weight + self.w.update_weight {
            Op::Update
        } else {
            Op::Delete
        }
    }

    fn pick_index(&mut self, len: usize) -> usize {
        match self.w.key_dist {
            KeyDist::Uniform => self.rng.below(len as u64) as usize,
            KeyDist::Hot {
                hot_fraction,
                hot_probability,
            } => {
                let hot = ((len as f64 * hot_fraction) as usize).clamp(1, len);
                if self.rng.chance(hot_probability) {
                    self.rng.below(hot as u64) as usize
                } else {
                    self.rng.below(len as u64) as usize
                }
            }
        }
    }

    fn fresh_key(&mut self, ti: usize, pool: u32) -> u64 {
        loop {
            let n = self.state[ti].next_key;
            self.state[ti].next_key += 1;
            if self.w.partitioning != Partitioning::Key
                || key_partition(
                    &self.w.database,
                    &self.w.tables[ti].key_texts(n),
                    self.w.partitions,
                ) == pool
            {
                return n;
            }
        }
    }

    /// Generates the next message (the iterator stops after `Workload::messages`; this does not).
    pub fn next_message(&mut self) -> Message {
        self.next_with_changes().0
    }

    /// [`Generator::next_message`] with the row changes the message makes, in the order a
    /// consumer applies them: what a model of any prefix of the stream is built from.
    pub fn next_with_changes(&mut self) -> (Message, Vec<RowChange>) {
        loop {
            if let Some((m, changes)) = self.try_message() {
                self.seq += 1;
                self.count(&m);
                return (m, changes);
            }
        }
    }

    fn count(&mut self, m: &Message) {
        self.stats.messages += 1;
        self.stats.bytes += m.payload.len() as u64;
        match m.op {
            Op::Insert => {
                self.stats.insert_messages += 1;
                self.stats.inserted_rows += m.rows as u64;
            }
            Op::Update => {
                self.stats.update_messages += 1;
                self.stats.updated_rows += m.rows as u64;
                self.stats.key_changes += m.key_changes as u64;
            }
            Op::Delete => {
                self.stats.delete_messages += 1;
                self.stats.deleted_rows += m.rows as u64;
            }
        }
    }

    fn pick_table(&mut self) -> usize {
        let Some(weights) = &self.w.table_weights else {
            return self.rng.below(self.w.tables.len() as u64) as usize;
        };
        let mut x = self.rng.unit() * weights.iter().sum::<f64>();
        for (i, weight) in weights.iter().enumerate() {
            if x < *weight {
                return i;
            }
            x -= weight;
        }
        weights.len() - 1
    }

    fn try_message(&mut self) -> Option<(Message, Vec<RowChange>)> {
        let ti = self.pick_table();
        let mut op = self.pick_op();
        if op == Op::Insert
            && self
                .w
                .max_live_rows
                .is_some_and(|cap| self.state[ti].live.len() >= cap)
        {
            op = Op::Delete;
        }
        let want = self
            .rng
            .range(self.w.min_rows as u64, self.w.max_rows as u64) as usize;
        let key_mode = self.w.partitioning == Partitioning::Key;
        let npools = self.state[ti].pools.len();
        let mut pool = if key_mode {
            self.rng.below(npools as u64) as u32
        } else {
            0
        };
        if op != Op::Insert && self.state[ti].pools[pool as usize].is_empty() {
            match (0..npools).find(|&p| !self.state[ti].pools[p].is_empty()) {
                Some(p) => pool = p as u32,
                None => op = Op::Insert,
            }
        }
        let partition = if key_mode {
            pool
        } else {
            self.state[ti].table_partition
        };

        let mut data: Vec<Row> = Vec::with_capacity(want);
        let mut before: Vec<Row> = Vec::new();
        let mut key_changes = 0u32;
        match op {
            Op::Insert => {
                for _ in 0..want {
                    let n = self.fresh_key(ti, pool);
                    data.push(self.row(ti, n, n, 0));
                    self.state[ti].add(n, n, 0, pool);
                }
            }
            Op::Update | Op::Delete => {
                let len = self.state[ti].pools[pool as usize].len();
                let want = want.min(len);
                let mut chosen: Vec<u64> = Vec::with_capacity(want);
                let mut seen = HashSet::with_capacity(want);
                let mut attempts = 0;
                while chosen.len() < want && attempts < want * 4 + 8 {
                    attempts += 1;
                    let i = self.pick_index(len);
                    let n = self.state[ti].pools[pool as usize][i];
                    if seen.insert(n) {
                        chosen.push(n);
                    }
                }
                for n in chosen {
                    let e = self.state[ti].live[&n];
                    let old = self.row(ti, n, e.lineage, e.version);
                    if op == Op::Delete {
                        self.state[ti].remove(n);
                        data.push(old);
                        continue;
                    }
                    let change_key = !key_mode && self.rng.chance(self.w.pk_change_fraction);
                    let new_n = if change_key {
                        self.fresh_key(ti, pool)
                    } else {
                        n
                    };
                    let new = self.row(ti, new_n, e.lineage, e.version + 1);
                    if new == old {
                        // MySQL logs no row image for an UPDATE that changes nothing.
                        continue;
                    }
                    if change_key {
                        self.state[ti].remove(n);
                        self.state[ti].add(new_n, e.lineage, e.version + 1, pool);
                        key_changes += 1;
                    } else {
                        self.state[ti].live.get_mut(&n).expect("live").version += 1;
                    }
                    before.push(old);
                    data.push(new);
                }
            }
        }
        if data.is_empty() {
            return None;
        }
        self.clock_ms += 1 + self.rng.below(20) as i64;
        let payload = self.encode(ti, op, &data, &before);
        let message = Message {
            seq: self.seq,
            table: self.w.tables[ti].name,
            partition: partition as i32,
            op,
            rows: data.len() as u32,
            key_changes,
            payload,
        };
        Some((message, self.changes(ti, op, data, before)))
    }

    /// The row changes of a message's images (`before` is empty unless `op` is an UPDATE).
    fn changes(&self, ti: usize, op: Op, data: Vec<Row>, before: Vec<Row>) -> Vec<RowChange> {
        let t = &self.w.tables[ti];
        let table = t.name;
        match op {
            Op::Insert => data
                .into_iter()
                .map(|row| RowChange::Upsert { table, row })
                .collect(),
            Op::Delete => data
                .into_iter()
                .map(|row| RowChange::Delete { table, row })
                .collect(),
            Op::Update => {
                let mut changes = Vec::with_capacity(data.len());
                for (old, new) in before.into_iter().zip(data) {
                    if old[..t.key_len] != new[..t.key_len] {
                        changes.push(RowChange::Delete { table, row: old });
                    }
                    changes.push(RowChange::Upsert { table, row: new });
                }
                changes
            }
        }
    }

    fn encode(&self, ti: usize, op: Op, data: &[Row], before: &[Row]) -> String {
        let t = &self.w.tables[ti];
        let es = self.clock_ms / 1000 * 1000;
        match self.w.format {
            Format::Canal => {
                let canal = true;
                let old = if op == Op::Update {
                    // old[i]: the old values of the columns canal flags as updated.
                    let mut masks = Vec::with_capacity(data.len());
                    let mut acc = vec![false; t.columns.len()];
                    for (a, b) in data.iter().zip(before) {
                        let mut m: Vec<bool> = a.iter().zip(b).map(|(x, y)| x != y).collect();
                        if self.w.canal_old_quirk {
                            for (mi, ai) in m.iter_mut().zip(acc.iter_mut()) {
                                *ai |= *mi;
                                *mi = *ai;
                            }
                        }
                        masks.push(m);
                    }
                    Some(masks)
                } else {
                    None
                };
                let msg = CanalMsg {
                    data: Rows {
                        t,
                        rows: data,
                        masks: None,
                        canal,
                    },
                    database: &self.w.database,
                    es,
                    id: self.seq / 4,
                    is_ddl: false,
                    mysql_type: Types { t, jdbc: false },
                    old: old.as_ref().map(|m| Rows {
                        t,
                        rows: before,
                        masks: Some(m),
                        canal,
                    }),
                    pk_names: t.key_names(),
                    sql: "",
                    sql_type: Types { t, jdbc: true },
                    table: t.name,
                    ts: self.clock_ms + 7,
                    kind: op.as_str(),
                };
                serde_json::to_string(&msg).expect("serialisable")
            }
            Format::CloudCanal => {
                let msg = CloudCanalMsg {
                    action: op.as_str(),
                    before: Rows {
                        t,
                        rows: before,
                        masks: None,
                        canal: false,
                    },
                    bid: self.seq,
                    data: Rows {
                        t,
                        rows: data,
                        masks: None,
                        canal: false,
                    },
                    db: &self.w.database,
                    db_val_type: Types { t, jdbc: false },
                    entry_type: "ROWDATA",
                    exec_ts: es,
                    is_ddl: false,
                    jdbc_type: Types { t, jdbc: true },
                    pks: t.key_names(),
                    schema: &self.w.database,
                    send_ts: self.clock_ms + 31,
                    sql: "",
                    table: t.name,
                };
                serde_json::to_string(&msg).expect("serialisable")
            }
        }
    }
}

impl Iterator for Generator {
    type Item = Message;

    fn next(&mut self) -> Option<Message> {
        (self.seq < self.w.messages).then(|| self.next_message())
    }
}

/// Table weights under which every table of `w` carries about the same message bytes (from a
/// sample of `sample` messages with uniform tables): a wide table no longer outweighs the others,
/// so with one table per partition every partition carries about the same work.
pub fn byte_balanced_weights(w: &Workload, sample: u64) -> Vec<f64> {
    let mut uniform = w.clone();
    uniform.table_weights = None;
    uniform.messages = sample;
    let mut bytes = vec![0u64; w.tables.len()];
    for m in uniform.generator() {
        if let Some(i) = w.tables.iter().position(|t| t.name == m.table) {
            bytes[i] += m.payload.len() as u64;
        }
    }
    bytes.iter().map(|b| 1.0 / (*b).max(1) as f64).collect()
}

/// Generates the whole workload in memory: the messages and the expected final state.
pub fn generate(w: &Workload) -> (Vec<Message>, ExpectedState, Stats) {
    let mut g = w.generator();
    let msgs: Vec<Message> = g.by_ref().collect();
    (msgs, g.expected_state(), g.stats().clone())
}

struct Types<'a> {
    t: &'a Table,
    jdbc: bool,
}

impl Serialize for Types<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.t.columns.len()))?;
        for c in &self.t.columns {
            if self.jdbc {
                m.serialize_entry(c.name, &c.jdbc_type)?;
            } else {
                m.serialize_entry(c.name, c.mysql_type)?;
            }
        }
        m.end()
    }
}

struct Rows<'a> {
    t: &'a Table,
    rows: &'a [Row],
    /// Per row: which columns to write (canal `old`).
    masks: Option<&'a [Vec<bool>]>,
    canal: bool,
}

struct OneRow<'a> {
    t: &'a Table,
    row: &'a Row,
    mask: Option<&'a [bool]>,
    canal: bool,
}

impl Serialize for Rows<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.rows.len()))?;
        for (i, row) in self.rows.iter().enumerate() {
            seq.serialize_element(&OneRow {
                t: self.t,
                row,
                mask: self.masks.map(|m| m[i].as_slice()),
                canal: self.canal,
            })?;
        }
        seq.end()
    }
}

impl Serialize for OneRow<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for (i, (c, v)) in self.t.columns.iter().zip(self.row).enumerate() {
            if self.mask.is_some_and(|mask| !mask[i]) {
                continue;
            }
            match v {
                None => m.serialize_entry(c.name, &None::<&str>)?,
                Some(v) => m.serialize_entry(c.name, &*wire_text(c, v, self.canal))?,
            }
        }
        m.end()
    }
}

#[derive(Serialize)]
struct CanalMsg<'a> {
    data: Rows<'a>,
    database: &'a str,
    es: i64,
    id: u64,
    #[serde(rename = "isDdl")]
    is_ddl: bool,
    #[serde(rename = "mysqlType")]
    mysql_type: Types<'a>,
    old: Option<Rows<'a>>,
    #[serde(rename = "pkNames")]
    pk_names: Vec<&'a str>,
    sql: &'a str,
    #[serde(rename = "sqlType")]
    sql_type: Types<'a>,
    table: &'a str,
    ts: i64,
    #[serde(rename = "type")]
    kind: &'a str,
}

#[derive(Serialize)]
struct CloudCanalMsg<'a> {
    action: &'a str,
    before: Rows<'a>,
    bid: u64,
    data: Rows<'a>,
    db: &'a str,
    #[serde(rename = "dbValType")]
    db_val_type: Types<'a>,
    #[serde(rename = "entryType")]
    entry_type: &'a str,
    #[serde(rename = "execTs")]
    exec_ts: i64,
    #[serde(rename = "isDdl")]
    is_ddl: bool,
    #[serde(rename = "jdbcType")]
    jdbc_type: Types<'a>,
    pks: Vec<&'a str>,
    schema: &'a str,
    #[serde(rename = "sendTs")]
    send_ts: i64,
    sql: &'a str,
    table: &'a str,
}
