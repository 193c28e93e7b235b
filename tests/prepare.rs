//! `starpipe prepare` end to end — a real Kafka broker, starrocks-sim and the real binary:
//! truncating or re-creating every target table the job maps and resetting its group to
//! `startFrom`, then a full rerun that ends with every row of the workload model; the dry run;
//! the refusal while a consumer of the group is live; a run started during prepare, reported;
//! a partition added during prepare, reset with the rest (to its start under `latest`).

mod support;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use mysql::prelude::Queryable;
use starpipe_perf::workload::Format;
use support::e2e::*;

const TABLES: [&str; 3] = ["orders", "order_items", "sbtest"];

/// `starpipe prepare --config JOB ARGS…`, not started.
fn prepare_command(job: &std::path::Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(starpipe_bin());
    cmd.arg("prepare")
        .arg("--config")
        .arg(job)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    cmd
}

/// `starpipe prepare --config JOB ARGS…` to its end.
fn prepare(job: &std::path::Path, args: &[&str]) -> Output {
    prepare_command(job, args)
        .output()
        .expect("run starpipe prepare")
}

fn text(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn counts(db: &str) -> Vec<u64> {
    let mut conn = mysql_conn();
    TABLES
        .iter()
        .map(|t| {
            conn.query_first(format!("SELECT COUNT(*) FROM {db}.{t}"))
                .unwrap()
                .unwrap()
        })
        .collect()
}

fn show_create(db: &str, table: &str) -> String {
    let row: Option<(String, String)> = mysql_conn()
        .query_first(format!("SHOW CREATE TABLE {db}.{table}"))
        .unwrap();
    row.unwrap().1
}

/// A world loaded once to its end, with the job file `entries` map its tables with.
fn loaded(
    name: &str,
    seed: u64,
    entries: impl Fn(&World) -> String,
) -> (
    World,
    std::path::PathBuf,
    starpipe_perf::model::ExpectedState,
) {
    let w = world(name, 2);
    let workload = w.workload(Format::Canal, 300, seed);
    let (messages, expected, _) = starpipe_perf::workload::generate(&workload);
    w.create_tables(&workload);
    w.produce(&messages);
    let job = w.job(Format::Canal, "", &entries(&w));
    let out = w.run_to_end(&job, "first");
    assert!(out.status.success(), "{}", w.log_text("first"));
    w.assert_state(&expected);
    // prepare is refused while the stopped run's member lingers (see wait_group_inactive).
    let waited = w.wait_group_inactive(Duration::from_secs(30));
    if !waited.is_empty() {
        eprintln!("{}: the first run's member lingered: {waited:?}", w.name);
    }
    (w, job, expected)
}

/// One glob entry for the world's database: prepare finds its tables in StarRocks.
fn glob_entry(w: &World) -> String {
    format!(
        "\n[[tables]]\nsource = \"{db}.*\"\ntarget = \"{db}.*\"\n",
        db = w.db
    )
}

/// One explicit entry per table.
fn explicit_entries(w: &World) -> String {
    TABLES
        .iter()
        .map(|t| {
            format!(
                "\n[[tables]]\nsource = \"{db}.{t}\"\ntarget = \"{db}.{t}\"\n",
                db = w.db
            )
        })
        .collect()
}

#[test]
fn truncate_then_a_rerun_loads_every_row_again() {
    let (w, job, expected) = loaded("prepare-truncate", 41, glob_entry);
    let out = prepare(&job, &["--truncate", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for t in TABLES {
        assert!(
            stdout.contains(&format!("truncated {}.{t}", w.db)),
            "{}",
            text(&out)
        );
    }
    let reset = stdout.find(&format!("reset group {} to earliest", w.group));
    // The reset comes first: had it been refused, no table would have been touched.
    assert!(
        reset.is_some_and(|r| Some(r) < stdout.find("truncated")),
        "{}",
        text(&out)
    );
    assert_eq!(counts(&w.db), [0, 0, 0]);
    assert_eq!(w.committed(), vec![Some(0); w.partitions as usize]);
    let out = w.run_to_end(&job, "second");
    assert!(out.status.success(), "{}", w.log_text("second"));
    w.assert_state(&expected);
    w.assert_all_committed();
}

#[test]
fn recreate_then_a_rerun_loads_every_row_again() {
    let (w, job, expected) = loaded("prepare-recreate", 43, explicit_entries);
    let before: Vec<String> = TABLES.iter().map(|t| show_create(&w.db, t)).collect();
    let out = prepare(&job, &["--recreate", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for t in TABLES {
        assert!(
            stdout.contains(&format!("re-created {}.{t}", w.db)),
            "{}",
            text(&out)
        );
    }
    let after: Vec<String> = TABLES.iter().map(|t| show_create(&w.db, t)).collect();
    assert_eq!(after, before, "the tables are created as they were");
    assert_eq!(counts(&w.db), [0, 0, 0]);
    assert_eq!(w.committed(), vec![Some(0); w.partitions as usize]);
    let out = w.run_to_end(&job, "second");
    assert!(out.status.success(), "{}", w.log_text("second"));
    w.assert_state(&expected);
}

#[test]
fn without_yes_nothing_changes() {
    let (w, job, expected) = loaded("prepare-dry", 47, glob_entry);
    let committed = w.committed();
    for mode in ["--truncate", "--recreate"] {
        let out = prepare(&job, &[mode]);
        assert!(out.status.success(), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        for t in TABLES {
            assert!(stdout.contains(&format!("{}.{t}", w.db)), "{}", text(&out));
        }
        assert!(
            stdout.contains("dry run: nothing changed"),
            "{}",
            text(&out)
        );
        assert!(stdout.contains("→ 0"), "the reset is shown: {}", text(&out));
        w.assert_state(&expected);
        assert_eq!(w.committed(), committed);
    }
    // A table the job names that does not exist is shown, not an error.
    let job = w.job(
        Format::Canal,
        "",
        &format!(
            "{}\n[[tables]]\nsource = \"x.gone\"\ntarget = \"{}.gone\"\n",
            glob_entry(&w),
            w.db
        ),
    );
    let out = prepare(&job, &["--truncate"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("absent: nothing to do"),
        "{}",
        text(&out)
    );
}

#[test]
fn refused_while_a_consumer_of_the_group_is_live() {
    let w = world("prepare-live", 2);
    let workload = w.workload(Format::Canal, 200, 53);
    let (messages, expected, _) = starpipe_perf::workload::generate(&workload);
    w.create_tables(&workload);
    w.produce(&messages);
    let job = w.job(Format::Canal, "", &glob_entry(&w));
    let running = w.spawn(&job, "live", false);
    wait_for_rows(&w.db, 1, Duration::from_secs(60));
    // The run keeps its membership until it is stopped; wait until it committed everything.
    let start = std::time::Instant::now();
    let all_committed = || {
        let committed = w.committed();
        w.end_offsets()
            .iter()
            .enumerate()
            .all(|(p, end)| *end == 0 || committed[p] == Some(*end))
    };
    while !all_committed() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{}",
            w.log_text("live")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let committed = w.committed();
    let out = prepare(&job, &["--truncate", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is active") && stderr.contains("live member"),
        "{}",
        text(&out)
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("truncated"),
        "{}",
        text(&out)
    );
    w.assert_state(&expected);
    assert_eq!(w.committed(), committed);
    signal(&running, libc::SIGTERM);
    let stopped = wait_bounded(running, Duration::from_secs(60)).expect("run stops on SIGTERM");
    assert!(stopped.status.success(), "{}", w.log_text("live"));
}

/// `prepare --truncate --yes` with its first TRUNCATE held by the emulator, started and waited
/// for until it printed its group reset (which it does before any table).
struct HeldPrepare {
    child: std::process::Child,
    fault: u64,
    stdout: std::sync::mpsc::Receiver<String>,
    printed: Vec<String>,
}

impl HeldPrepare {
    fn start(w: &World, job: &std::path::Path, hold_ms: u64) -> HeldPrepare {
        let fault = add_fault(serde_json::json!({
            "target": "mysql", "label": format!("TRUNCATE TABLE*{}*", w.db), "times": 1,
            "action": {"kind": "latency", "ms": hold_ms, "phase": "before_commit"}
        }));
        let mut child = prepare_command(job, &["--truncate", "--yes"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start starpipe prepare");
        let (lines, stdout) = std::sync::mpsc::channel();
        let out = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let mut held = HeldPrepare {
            child,
            fault,
            stdout,
            printed: Vec::new(),
        };
        while !held.printed.iter().any(|l| l.starts_with("reset group")) {
            match held.stdout.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => held.printed.push(line),
                Err(e) => panic!("no reset ({e}): {:?}", held.printed),
            }
        }
        held
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for its end and removes the fault; stdout is everything it printed.
    fn finish(mut self) -> Output {
        let mut out = self.child.wait_with_output().expect("prepare ends");
        remove_fault(self.fault);
        self.printed.extend(self.stdout.iter());
        out.stdout = (self.printed.join("\n") + "\n").into_bytes();
        out
    }
}

/// A run started while prepare truncates (here: the first TRUNCATE held 20 s by the emulator)
/// joins after the reset and loads rows the truncation then removes. prepare's last commit is
/// refused and names it; stopped, and prepared again, the rerun loads every row.
#[test]
fn a_run_started_during_prepare_is_reported() {
    let (w, job, expected) = loaded("prepare-joined", 59, explicit_entries);
    // The reset is done first: then the run joins while the first TRUNCATE waits.
    let mut preparing = HeldPrepare::start(&w, &job, 20_000);
    let running = w.spawn(&job, "during", false);
    // The run must join while the TRUNCATE is held: a slow start fails here, said as such.
    while w.group_members() == 0 {
        assert!(
            preparing.running(),
            "prepare ended before the run joined:\n{}",
            w.log_text("during")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = preparing.finish();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("became active while prepare ran"),
        "{}",
        text(&out)
    );
    signal(&running, libc::SIGTERM);
    let stopped = wait_bounded(running, Duration::from_secs(60)).expect("run stops on SIGTERM");
    assert!(stopped.status.success(), "{}", w.log_text("during"));
    w.wait_group_inactive(Duration::from_secs(30));
    let out = prepare(&job, &["--truncate", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = w.run_to_end(&job, "after");
    assert!(out.status.success(), "{}", w.log_text("after"));
    w.assert_state(&expected);
    w.assert_all_committed();
}

/// A partition created while prepare truncates (the first TRUNCATE held 20 s), with an offset
/// committed on it by a consumer of the group that came and went (as a run that joined and left
/// would), is reset by prepare's last commit, like the partitions it reset first: to
/// `startFrom`, here `earliest`.
#[test]
fn a_partition_added_during_prepare_is_reset_too() {
    let (w, job, _) = loaded("prepare-grown", 61, explicit_entries);
    let (out, committed) = grow_during_prepare(w, &job);
    assert_eq!(
        committed,
        vec![Some(0); 3],
        "the partition added while prepare ran is reset to startFrom too:\n{}",
        text(&out)
    );
}

/// With `startFrom = "latest"` the partitions prepare knew are reset to their ends, and a
/// partition created while it ran to its start: every message in it is newer than the reset
/// (the end would skip the rows a consumer loaded from it before the truncation).
#[test]
fn with_latest_a_partition_added_during_prepare_is_reset_to_its_start() {
    let (w, job, _) = loaded("prepare-latest", 62, explicit_entries);
    let ends = w.committed();
    let text_now = std::fs::read_to_string(&job).unwrap();
    let latest = text_now.replacen("[source]\n", "[source]\nstartFrom = \"latest\"\n", 1);
    std::fs::write(&job, latest).unwrap();
    let (out, committed) = grow_during_prepare(w, &job);
    let mut expected = ends;
    expected.push(Some(0));
    assert_eq!(committed, expected, "{}", text(&out));
}

/// Runs prepare with its first TRUNCATE held; meanwhile grows the topic to 3 partitions, writes
/// two messages to the new one and commits offset 7 on it as the group. Returns what prepare
/// printed (it must succeed and report the new partition) and the offsets committed after it.
fn grow_during_prepare(mut w: World, job: &std::path::Path) -> (Output, Vec<Option<i64>>) {
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    use rdkafka::{Offset, TopicPartitionList};

    let mut preparing = HeldPrepare::start(&w, job, 20_000);
    support::grow_topic(&w.topic, 3);
    for value in ["one", "two"] {
        support::produce(&w.topic, Some(2), None, value.as_bytes(), None);
    }
    let consumer: BaseConsumer = support::consumer_config(&w.group).create().unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&w.topic, 2, Offset::Offset(7))
        .unwrap();
    retry_coordinator(|| consumer.commit(&tpl, CommitMode::Sync));
    drop(consumer);
    w.partitions = 3;
    assert_eq!(w.committed()[2], Some(7));
    assert!(
        preparing.running(),
        "prepare ended before the partition was added and committed on"
    );
    let out = preparing.finish();
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("7 → 0"),
        "the added partition is reported:\n{stdout}"
    );
    (out, w.committed())
}
