//! Test doubles for the engine's unit tests: a job, fixed target schemas, a flusher factory that
//! captures blocks, a scripted Stream Load service, a dead-letter sink that records. None of
//! them talks to Kafka or StarRocks.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use parking_lot::Mutex;

use super::blocks::{Block, PartitionId};
use super::catalog::{AlterJob, CatalogError, ExecError, TargetDdl};
use super::deadletter::{DeadLetterSink, Problem, RejectedRows};
use super::flusher::FlushItem;
use super::lease::{Epochs, Lease};
use super::load::{Feedback, FilteredRows, LoadError, LoadRequest, LoadService, Loaded};
use super::memory::{MemoryBudget, Reservation};
use super::metrics::Metrics;
use super::offsets::{OffsetClaim, OffsetTracker};
use super::receipt::Pending;
use super::record::SourceRecord;
use super::shared::{Fatal, Parts, Shared};
use super::tables::{FlusherFactory, SchemaSource};
use crate::config::{Config, TargetName};
use crate::encode::BodyEncoder;
use crate::model::{ChangeOp, Column, Value, ValueKind};
use crate::schema::{StarRocksType, TableModel, TargetColumn, TargetTable};

/// A canal job; `extra` is appended at the top level (e.g. `onError`, `[[tables]]`).
pub(crate) fn config(extra: &str) -> Config {
    // `extra`: top-level lines, then optionally `[target]` lines, then `[[tables]]` entries.
    let (rest, tables) = extra.split_at(extra.find("[[tables]]").unwrap_or(extra.len()));
    let (top, target) = match rest.split_once("[target]") {
        Some((top, target)) => (top, target),
        None => (rest, ""),
    };
    let text = format!(
        r#"{top}
[source]
brokers = "kafka:9092"
topics = ["cdc"]
consumerGroupId = "job"
schemaFormat = "AlibabaCanal"
maxPollRecords = 10

[target]
host = "fe:9030"
httpHost = "fe:8030"
user = "root"
totalDataInMemMb = 64
flushBatchMb = 1
asyncFlushIntervalSec = 1
{target}
{tables}
"#
    );
    Config::parse(&text).unwrap_or_else(|p| panic!("test config: {p}"))
}

/// `db.t (id INT key, v VARCHAR(100) NULL)`.
pub(crate) fn table(db: &str, name: &str) -> TargetTable {
    TargetTable::new(
        db,
        name,
        vec![
            TargetColumn::new("id", StarRocksType::parse("int").unwrap(), false, true),
            TargetColumn::new(
                "v",
                StarRocksType::parse("varchar(100)").unwrap(),
                true,
                false,
            ),
        ],
        TableModel::PrimaryKeys,
    )
    .unwrap()
}

/// A canal INSERT of `rows` `(id, v)` into `db.t`.
pub(crate) fn canal_insert(db: &str, t: &str, rows: &[(i64, &str)]) -> String {
    let data: Vec<String> = rows
        .iter()
        .map(|(id, v)| format!(r#"{{"id":"{id}","v":"{v}"}}"#))
        .collect();
    format!(
        r#"{{"data":[{}],"database":"{db}","table":"{t}","isDdl":false,"type":"INSERT","pkNames":["id"],"mysqlType":{{"id":"int","v":"varchar(100)"}},"old":null,"es":1,"ts":1}}"#,
        data.join(",")
    )
}

/// Target schemas known up front; reads are counted.
#[derive(Default)]
pub(crate) struct FixedSchemas {
    pub tables: Mutex<HashMap<TargetName, TargetTable>>,
    pub reads: AtomicUsize,
    /// Statements a schema change ran, in order (none of them changes `tables`).
    pub executed: Mutex<Vec<String>>,
}

impl FixedSchemas {
    pub(crate) fn with(tables: &[TargetTable]) -> Arc<Self> {
        let s = FixedSchemas::default();
        for t in tables {
            s.tables.lock().insert(
                TargetName {
                    db: t.db.clone(),
                    table: t.table.clone(),
                },
                t.clone(),
            );
        }
        Arc::new(s)
    }
}

impl SchemaSource for Arc<FixedSchemas> {
    fn read(&self, target: &TargetName) -> Result<TargetTable, CatalogError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.tables
            .lock()
            .get(target)
            .cloned()
            .ok_or_else(|| CatalogError::Missing(target.to_string()))
    }
}

impl TargetDdl for FixedSchemas {
    fn execute(&self, sql: &str) -> Result<(), ExecError> {
        self.executed.lock().push(sql.to_string());
        Ok(())
    }

    fn alter_jobs(&self, _: &TargetName) -> Result<Vec<AlterJob>, CatalogError> {
        Ok(Vec::new())
    }
}

/// Keeps every block handed to a flusher (the receipts stay unsettled until a test settles
/// them); flush requests are answered at once.
#[derive(Default)]
pub(crate) struct CapturedBlocks {
    pub blocks: Mutex<Vec<Block>>,
}

impl CapturedBlocks {
    /// Waits until at least `n` blocks arrived (they arrive through a thread).
    pub(crate) fn wait_for(&self, n: usize) -> usize {
        self.wait_until(|blocks| blocks.len() >= n);
        self.blocks.lock().len()
    }

    /// Waits until the captured blocks hold at least `n` rows.
    pub(crate) fn wait_for_rows(&self, n: usize) {
        self.wait_until(|blocks| blocks.iter().map(|b| b.rows.len()).sum::<usize>() >= n);
    }

    fn wait_until(&self, done: impl Fn(&[Block]) -> bool) {
        let until = Instant::now() + Duration::from_secs(5);
        while !done(&self.blocks.lock()) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// `(partition, first offset, last offset, rows)` of each captured block.
    pub(crate) fn summary(&self) -> Vec<(PartitionId, i64, i64, usize)> {
        self.blocks
            .lock()
            .iter()
            .map(|b| {
                let (f, l) = (*b.offsets.start(), *b.offsets.end());
                (b.partition.clone(), f, l, b.rows.len())
            })
            .collect()
    }
}

impl FlusherFactory for Arc<CapturedBlocks> {
    fn start(&self, _table: Arc<TargetTable>, items: Receiver<FlushItem>) -> JoinHandle<()> {
        let captured = Arc::clone(self);
        std::thread::spawn(move || {
            for item in items {
                match item {
                    FlushItem::Block(b) => captured.blocks.lock().push(b),
                    FlushItem::Flush(ack) => {
                        let _ = ack.send(());
                    }
                }
            }
        })
    }
}

/// A Stream Load as the fake service saw it.
#[derive(Debug, Clone)]
pub(crate) struct SeenLoad {
    pub table: String,
    pub label: String,
    pub body: Vec<u8>,
    pub filtered: FilteredRows,
}

/// Something a test does while a load is being answered.
pub(crate) type DuringLoad = Box<dyn Fn() + Send>;

/// Answers loads from a script (then `Success`), recording each.
#[derive(Default)]
pub(crate) struct ScriptedLoads {
    pub seen: Mutex<Vec<SeenLoad>>,
    pub script: Mutex<VecDeque<Result<Loaded, LoadError>>>,
    /// Runs during every load, before it is answered.
    pub during: Mutex<Option<DuringLoad>>,
}

impl ScriptedLoads {
    pub(crate) fn then(&self, answer: Result<Loaded, LoadError>) {
        self.script.lock().push_back(answer);
    }
}

pub(crate) fn loaded(rejected: Option<&str>) -> Loaded {
    Loaded {
        status: "Success".into(),
        loaded_rows: 0,
        rejected: rejected.map(str::to_string),
        attempts: 1,
        took: Duration::ZERO,
    }
}

impl LoadService for Arc<ScriptedLoads> {
    fn load(
        &self,
        req: &LoadRequest<'_>,
        abandon: &dyn Fn() -> bool,
        _feedback: &mut Feedback,
    ) -> Result<Loaded, LoadError> {
        if abandon() {
            return Err(LoadError::Abandoned {
                label: req.label.to_string(),
            });
        }
        if let Some(during) = &*self.during.lock() {
            during();
        }
        self.seen.lock().push(SeenLoad {
            table: format!("{}.{}", req.db, req.table),
            label: req.label.to_string(),
            body: {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut req.body.reader(), &mut bytes)
                    .expect("a test body reads");
                bytes
            },
            filtered: req.filtered,
        });
        self.script
            .lock()
            .pop_front()
            .unwrap_or_else(|| Ok(loaded(None)))
    }
}

/// Records dead letters; acknowledges them at once unless `hold` is set.
#[derive(Default)]
pub(crate) struct RecordedDeadLetters {
    pub records: Mutex<Vec<(String, Problem)>>,
    pub rejected: Mutex<Vec<RejectedRows>>,
    pub hold: AtomicBool,
    pub held: Mutex<Vec<OffsetClaim>>,
}

impl RecordedDeadLetters {
    fn settle(&self, claims: Vec<OffsetClaim>) {
        if self.hold.load(Ordering::Relaxed) {
            self.held.lock().extend(claims);
        } else {
            claims.into_iter().for_each(OffsetClaim::complete);
        }
    }
}

impl DeadLetterSink for Arc<RecordedDeadLetters> {
    fn send_record(&self, record: &SourceRecord<'_>, problem: &Problem, claim: OffsetClaim) {
        self.records
            .lock()
            .push((record.position.to_string(), problem.clone()));
        self.settle(vec![claim]);
    }

    fn send_rejected(&self, rows: &RejectedRows, claims: Vec<OffsetClaim>) {
        self.rejected.lock().push(rows.clone());
        self.settle(claims);
    }

    fn flush(&self, _timeout: Duration) {}
}

/// The engine's shared state with test doubles.
pub(crate) struct TestEngine {
    pub shared: Arc<Shared>,
    pub schemas: Arc<FixedSchemas>,
    pub captured: Arc<CapturedBlocks>,
    pub loads: Arc<ScriptedLoads>,
    pub dead_letters: Arc<RecordedDeadLetters>,
}

impl TestEngine {
    /// Workers' blocks are captured (no flusher runs).
    pub(crate) fn capturing(config: Config, tables: &[TargetTable]) -> TestEngine {
        let captured = Arc::new(CapturedBlocks::default());
        let flushers: Box<dyn FlusherFactory> = Box::new(Arc::clone(&captured));
        TestEngine::build(config, tables, captured, Some(flushers))
    }

    /// Real `TableFlusher`s load through the scripted service.
    pub(crate) fn flushing(config: Config, tables: &[TargetTable]) -> TestEngine {
        TestEngine::build(config, tables, Arc::default(), None)
    }

    fn build(
        config: Config,
        tables: &[TargetTable],
        captured: Arc<CapturedBlocks>,
        flushers: Option<Box<dyn FlusherFactory>>,
    ) -> TestEngine {
        let schemas = FixedSchemas::with(tables);
        let loads = Arc::new(ScriptedLoads::default());
        let dead_letters = Arc::new(RecordedDeadLetters::default());
        let sink: Arc<dyn DeadLetterSink> = Arc::new(Arc::clone(&dead_letters));
        let shared = Shared::assemble(
            Arc::new(config.clone()),
            Parts {
                fatal: Arc::new(Fatal::default()),
                metrics: Arc::new(Metrics::default()),
                hard_stop: Arc::new(AtomicBool::new(false)),
                loader: Box::new(Arc::clone(&loads)),
                schemas: Box::new(Arc::clone(&schemas)),
                target_ddl: Arc::clone(&schemas) as Arc<dyn TargetDdl>,
                flushers,
                dead_letters: Some(sink),
                alerts: Arc::new(super::alerts::Alerts::new(&config)),
            },
        );
        TestEngine {
            shared: Arc::new(shared),
            schemas,
            captured,
            loads,
            dead_letters,
        }
    }
}

/// Rows of a test block: `(op, id, v)`.
pub(crate) type Rows<'a> = &'a [(ChangeOp, &'a str, &'a str)];

/// A block of `rows` `(op, id, v)` for `table`, with its receipt, at `first` in `tracker`.
pub(crate) fn block(
    table: &Arc<TargetTable>,
    partition: i32,
    rows: Rows<'_>,
    first: i64,
    tracker: &Arc<OffsetTracker>,
    budget: &Arc<MemoryBudget>,
) -> Block {
    let lease = Arc::new(Epochs::default().lease(PartitionId::new("t", partition)));
    leased_block(table, rows, first, tracker, budget, lease)
}

/// [`block`] read under `lease`.
pub(crate) fn leased_block(
    table: &Arc<TargetTable>,
    rows: Rows<'_>,
    first: i64,
    tracker: &Arc<OffsetTracker>,
    budget: &Arc<MemoryBudget>,
    lease: Arc<Lease>,
) -> Block {
    let mut enc = BodyEncoder::new(table).unwrap();
    for (op, id, v) in rows {
        let cols = [
            Column {
                name: "id",
                kind: ValueKind::Integer,
                value: Value::Text(id),
            },
            Column {
                name: "v",
                kind: ValueKind::Text,
                value: Value::Text(v),
            },
        ];
        enc.push_row(*op, cols).unwrap();
    }
    let rows_encoded = enc.take_block(None);
    let mut memory = Reservation::empty(budget);
    assert!(memory.try_grow(rows_encoded.held_bytes() as u64));
    Block {
        partition: lease.partition().clone(),
        offsets: first..=first + rows.len().max(1) as i64 - 1,
        rows: rows_encoded,
        schema: Arc::clone(table),
        pending: Pending::new(tracker.claim(first), memory, lease),
        timestamps: Vec::new(),
    }
}
