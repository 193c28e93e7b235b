//! What one `perf/run` found, put together: the goals with their values, the summary line, the
//! scaling points, the plot's bars and series, and the table printed at the end.
//!
//! Goals use steady-state figures (`Measured::steady`: the middle 80 % of a run's rows, and the
//! CPU spent in that window); a run too short to have one gives no value rather than a
//! whole-run figure in its place. The comparisons with the peer use the discard target, where
//! neither system waits for the emulator's apply.

use serde_json::{Value, json};

use crate::criterion::DecodeBenches;
use crate::e2e::{E2eRun, LatencyRun};
use crate::env::Target;
use crate::peer::PeerRun;
use crate::sink::SinkCeiling;
use crate::source::SourceCeiling;
use starpipe_perf::plot::{Bar, Series};

/// The measured runs of one `perf/run`.
pub struct Runs<'a> {
    pub source: &'a SourceCeiling,
    pub sink: &'a SinkCeiling,
    /// starpipe, 2 partition threads, applied (verified).
    pub e2e: &'a E2eRun,
    /// starpipe against the discard target, one run per `DISCARD_THREADS` entry.
    pub discard: &'a [E2eRun],
    pub latency: Option<&'a LatencyRun>,
    pub peer: Option<&'a PeerRun>,
    pub peer_discard: Option<&'a PeerRun>,
    pub decode: Option<&'a DecodeBenches>,
    pub budget_mb: u64,
    /// CPUs the machine has: what every process of a run shares.
    pub cpus: usize,
    /// Rows of one pass, the sink ceiling's (it encodes one pass).
    pub pass_rows: u64,
    pub source_bytes: u64,
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? / b?)
}

fn goal(goal: &str, value: Option<f64>, met: impl Fn(f64) -> bool) -> Value {
    json!({ "goal": goal, "value": value, "met": value.map(met) })
}

pub fn fmt_opt(v: Option<f64>, prec: usize) -> String {
    v.filter(|v| v.is_finite())
        .map_or_else(|| "-".into(), |v| format!("{v:.prec$}"))
}

impl Runs<'_> {
    /// The discard-target run with `threads` partition threads.
    fn discard_run(&self, threads: u32) -> Option<&E2eRun> {
        self.discard
            .iter()
            .find(|r| r.settings.consume_parallel == threads)
    }

    fn discard_rate(&self, threads: u32) -> Option<f64> {
        self.discard_run(threads)?.steady_rows_per_s
    }

    fn peer_discard_rate(&self) -> Option<f64> {
        self.peer_discard?.steady_rows_per_s
    }

    /// Every starpipe run's tables equal the model (discard runs have none to compare).
    fn correct(&self) -> bool {
        self.e2e.correct()
            && self.discard.iter().all(E2eRun::correct)
            && self.latency.is_none_or(|l| l.verified.correct)
    }

    fn peak_rss_mb(&self) -> f64 {
        self.discard
            .iter()
            .map(|r| r.measured.peak_rss_mb)
            .fold(self.e2e.measured.peak_rss_mb, f64::max)
    }

    fn cpu_s_per_m_rows(&self) -> Option<f64> {
        self.discard_run(2)?.steady_cpu_s_per_m_rows
    }

    fn peer_cpu_s_per_m_rows(&self) -> Option<f64> {
        self.peer_discard?.steady_cpu_s_per_m_rows
    }

    /// starpipe's decoder and encoder alone on the workload itself (the sink ceiling's
    /// preparation, one thread's CPU time), per million source rows.
    fn decode_encode_cpu(&self) -> f64 {
        self.sink.decode_encode_cpu_s / (self.pass_rows as f64 / 1e6)
    }

    /// The shortest steady state (middle 80 % of the rows) of the measured runs, starpipe's and
    /// the peer's: `perf/run` is sized so that each has at least 10 s.
    /// A peer that did not run (`unavailable`, `failed`, `--skip-peer`) is left out.
    fn shortest_steady_secs(&self) -> Option<f64> {
        let starpipe = std::iter::once(self.e2e)
            .chain(self.discard)
            .map(|r| &r.measured);
        let peers = [self.peer, self.peer_discard]
            .into_iter()
            .flatten()
            .filter_map(|p| p.measured.as_ref());
        starpipe
            .chain(peers)
            .map(|m| m.steady.as_ref().map_or(0.0, |s| s.secs))
            .reduce(f64::min)
    }

    /// decode+encode vs simd-json on `format`'s corpus: the alternated passes decide; criterion's
    /// ratio of separate phases is reported beside them.
    fn decoder_goal(&self, format: &str) -> Value {
        let value = self
            .decode
            .and_then(|d| d.decode_encode_vs_simd_json(format));
        let mut g = goal(">= 0.8 (alternated passes)", value, |v| v >= 0.8);
        g["criterion"] = json!(self.decode.and_then(|d| d.criterion_ratio(format)));
        g
    }

    /// The applied run's steady state against min(source ceiling, sink ceiling). The sink
    /// ceiling is the mean of its measurements right before and right after the applied run,
    /// which bracket it in time (no value without the second); the ratio against the one
    /// before alone, the goal's meaning until 2026-12-07, is reported beside it.
    fn applied_goal(&self) -> Value {
        let against = |sink: f64| {
            let min_ceiling = self.source.rows_per_s.min(sink);
            self.e2e.steady_rows_per_s.map(|r| r / min_ceiling)
        };
        let value = self.sink.bracketing_rows_per_s().and_then(against);
        let mut g = goal(
            ">= 0.8 (sink ceiling: the mean of before and after)",
            value,
            |v| v >= 0.8,
        );
        g["value_vs_sink_ceiling_before"] = json!(against(self.sink.rows_per_s));
        g["cores_busy"] = json!(self.e2e.measured.steady.as_ref().map(|s| s.cores()));
        g
    }

    /// The peer's CPU per row against starpipe's, with the ratio starpipe would reach if it
    /// spent nothing beyond its decode+encode (the bench's CPU per row) beside it.
    fn peer_cpu_goal(&self, peer_cpu: Option<f64>) -> Value {
        let mut g = goal(">= 10", ratio(peer_cpu, self.cpu_s_per_m_rows()), |v| {
            v >= 10.0
        });
        g["value_at_decode_encode"] = json!(ratio(peer_cpu, Some(self.decode_encode_cpu())));
        g
    }

    /// 2 threads against 1, with the most this machine allows beside it.
    fn scaling_goal(&self) -> Value {
        let mut g = goal(
            ">= 1.7",
            ratio(self.discard_rate(2), self.discard_rate(1)),
            |v| v >= 1.7,
        );
        g["machine_bound"] = json!(self.machine_bound(2));
        g
    }

    /// The speed-up over one partition thread that `threads` threads could reach if every
    /// process's CPU per row stayed what it was with one thread: starpipe, the emulator and
    /// the broker share the machine's cores, so a one-thread run that keeps `b` of `n` cores
    /// busy leaves room for at most `n / b` times its rate at those costs per row. A bound
    /// under that premise, not a law: any process getting cheaper per row raises it. `n` is
    /// `available_parallelism`, which an affinity mask or a cgroup quota lowers while
    /// `/proc/stat` still counts every CPU: the bound is for a run with the whole machine.
    fn machine_bound(&self, threads: u32) -> Option<f64> {
        let one = self.discard_run(1)?.measured.steady.as_ref()?;
        let busy = one.cores().machine?;
        Some((self.cpus as f64 / busy).min(threads as f64))
    }

    pub fn goals(&self) -> Value {
        let peer_rss = self.peer_discard.and_then(|p| p.peak_rss_mb);
        let rss2 = self.discard_run(2).map(|r| r.measured.peak_rss_mb);
        let peer_cpu = self.peer_cpu_s_per_m_rows();
        let scans = [self.peer, self.peer_discard]
            .into_iter()
            .flatten()
            .filter_map(|p| p.source_scans)
            .max();
        let peak = self.peak_rss_mb();
        json!({
            "e2e_steady_vs_min_ceiling": self.applied_goal(),
            "discard_vs_peer_discard_throughput": goal(">= 3", ratio(self.discard_rate(2), self.peer_discard_rate()), |v| v >= 3.0),
            "discard_peer_rss_vs_starpipe_rss": goal(">= 5", ratio(peer_rss, rss2), |v| v >= 5.0),
            "discard_peer_cpu_vs_starpipe_cpu": self.peer_cpu_goal(peer_cpu),
            "scaling_2_vs_1_threads": self.scaling_goal(),
            "cpu_vs_decode_encode": goal("<= 1.5", ratio(self.cpu_s_per_m_rows(), Some(self.decode_encode_cpu())), |v| v <= 1.5),
            "decode_encode_vs_simd_json_canal": self.decoder_goal("canal"),
            "decode_encode_vs_simd_json_cloudcanal": self.decoder_goal("cloudcanal"),
            "peak_rss_vs_budget": {
                "goal": format!("<= totalDataInMemMb + 100 = {} MB under a backlog >= 10x the budget", self.budget_mb + 100),
                "backlog_vs_budget": self.source_bytes as f64 / (self.budget_mb as f64 * 1048576.0),
                "value_mb": peak,
                "met": peak <= (self.budget_mb + 100) as f64,
            },
            "steady_state_secs": goal(">= 10 (each measured run)", self.shortest_steady_secs(), |v| v >= 10.0),
            "peer_source_scans": goal("== 1 (the peer reads the topic once)", scans.map(|n| n as f64), |v| v == 1.0),
            "correct": { "goal": "every starpipe run equal to the model", "met": self.correct() },
        })
    }

    /// The last line of `perf/run`: the first seven fields as before, then the fair comparison.
    pub fn summary(&self) -> Value {
        json!({
            "e2e_rows_per_s": self.e2e.rows_per_s,
            "source_ceiling_rows_per_s": self.source.rows_per_s,
            "sink_ceiling_rows_per_s": self.sink.rows_per_s,
            "peer_rows_per_s": self.peer.and_then(|p| p.rows_per_s),
            "peak_rss_mb": self.peak_rss_mb(),
            "correct": self.correct(),
            "peer_correct": self.peer.and_then(|p| p.verified.as_ref()).map(|v| v.correct),
            "e2e_steady_rows_per_s": self.e2e.steady_rows_per_s,
            "e2e_discard_rows_per_s": self.discard_rate(2),
            "peer_discard_rows_per_s": self.peer_discard_rate(),
            "cpu_s_per_m_rows": self.cpu_s_per_m_rows(),
            "decode_encode_cpu_s_per_m_rows": self.decode_encode_cpu(),
            "peer_cpu_s_per_m_rows": self.peer_cpu_s_per_m_rows(),
            "peer_defects": self.peer.and_then(|p| p.verified.as_ref()).map(|v| &v.defects),
        })
    }

    /// Discard-target rates per partition-thread count, and speed-ups over one thread.
    pub fn scaling(&self) -> Value {
        let one = self.discard_rate(1);
        let points: Vec<Value> = self
            .discard
            .iter()
            .map(|r| {
                json!({
                    "threads": r.settings.consume_parallel,
                    "steady_rows_per_s": r.steady_rows_per_s,
                    "speedup_vs_1": ratio(r.steady_rows_per_s, one),
                    "cores_busy": r.measured.steady.as_ref().map(|s| s.cores()),
                    "busiest_threads": r.measured.steady.as_ref().map(|s| &s.busiest_threads),
                })
            })
            .collect();
        json!({
            "target": "discard",
            "points": points,
            "machine_bound_2_vs_1": self.machine_bound(2),
        })
    }

    /// Bars at steady-state rates (whole-run where a run had none: the plot shows every run).
    pub fn plot(&self) -> (Vec<Bar>, Vec<Series>) {
        let bar = |label: &str, rows_per_s: f64| Bar {
            label: label.into(),
            rows_per_s,
        };
        let mut bars = vec![
            bar("source ceiling", self.source.rows_per_s),
            bar("sink ceiling", self.sink.rows_per_s),
        ];
        let mut series = Vec::new();
        for r in std::iter::once(self.e2e).chain(self.discard) {
            let label = run_name(r);
            bars.push(bar(&label, r.steady_rows_per_s.unwrap_or(r.rows_per_s)));
            if r.settings.consume_parallel == 2 {
                series.push(Series {
                    label,
                    points: r.measured.series.clone(),
                });
            }
        }
        for p in [self.peer, self.peer_discard].into_iter().flatten() {
            if let (Some(r), Some(m)) = (p.steady_rows_per_s.or(p.rows_per_s), &p.measured) {
                let label = format!("Flink SQL peer, {}", p.target.label());
                bars.push(bar(&label, r));
                series.push(Series {
                    label,
                    points: m.series.clone(),
                });
            }
        }
        (bars, series)
    }

    pub fn print_table(&self) {
        println!();
        TableRow::header();
        TableRow::ceiling(
            "source ceiling (null consumer)",
            self.source.rows_per_s,
            self.source.mb_per_s,
        )
        .print();
        TableRow::ceiling(
            "sink ceiling (pre-encoded bodies)",
            self.sink.rows_per_s,
            self.sink.mb_per_s,
        )
        .print();
        if let Some(again) = &self.sink.after_applied {
            TableRow::ceiling(
                "sink ceiling, after applied",
                again.rows_per_s,
                again.mb_per_s,
            )
            .print();
        }
        for r in std::iter::once(self.e2e).chain(self.discard) {
            TableRow::of_run(r).print();
        }
        for (target, p) in [
            (Target::Apply, self.peer),
            (Target::Discard, self.peer_discard),
        ] {
            let name = format!("Flink SQL peer, {}", target.label());
            match p {
                Some(p) if p.rows_per_s.is_some() => {
                    TableRow::of_peer(name, p, self.source_bytes).print()
                }
                Some(p) => println!(
                    "{name:<34} {}: {}",
                    p.status,
                    p.reason.as_deref().unwrap_or("")
                ),
                None => println!("{name:<34} skipped"),
            }
        }
        if let Some(v) = self
            .peer
            .and_then(|p| p.verified.as_ref())
            .filter(|v| !v.correct)
        {
            println!("peer defects by cause: {}", json!(v.defects));
        }
        if let Some(l) = self.latency {
            println!(
                "latency at {:.0} rows/s (50% of max): p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} heartbeats, asyncFlushIntervalSec = {}); correct: {}",
                l.rate_rows_per_s,
                l.p50_ms,
                l.p99_ms,
                l.max_ms,
                l.heartbeats,
                l.settings.async_flush_interval_sec,
                l.verified.correct
            );
        }
        if let Some(d) = self.decode {
            for r in &d.results {
                println!(
                    "decode bench {:<10} {:<14} {:>8.1} MB/s {:>10.0} rows/s",
                    r.format, r.bench, r.mb_per_s, r.rows_per_s
                );
            }
            for a in &d.alternated {
                println!(
                    "decode bench {:<10} alternated, fastest of {}: decode+encode {:.1} MB/s, simd_json {:.1} MB/s, ratio {:.3}",
                    a.format, a.rounds, a.decode_encode_mb_per_s, a.simd_json_mb_per_s, a.ratio
                );
            }
        }
        print_goals(&self.goals());
    }
}

fn run_name(r: &E2eRun) -> String {
    format!(
        "starpipe, {} threads, {}",
        r.settings.consume_parallel,
        r.target.label()
    )
}

fn print_goals(goals: &Value) {
    println!("goals:");
    let Value::Object(goals) = goals else { return };
    for (name, g) in goals {
        let value = g["value"].as_f64().or(g["value_mb"].as_f64());
        let verdict = match g["met"].as_bool() {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "-",
        };
        println!(
            "  {name:<40} {:>8} (goal {}) {verdict}{}",
            fmt_opt(value, 2),
            g["goal"].as_str().unwrap_or(""),
            figures_beside(g)
        );
    }
}

/// A goal's other numeric figures (`machine_bound`, `value_vs_sink_ceiling_before`, ...), for
/// its line; objects (`cores_busy`) and nulls are left to the JSON.
fn figures_beside(g: &Value) -> String {
    let Value::Object(fields) = g else {
        return String::new();
    };
    fields
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "goal" | "value" | "value_mb" | "met"))
        .filter_map(|(k, v)| Some(format!("; {k} {:.2}", v.as_f64()?)))
        .collect()
}

/// One line of the summary table.
struct TableRow {
    name: String,
    rows_per_s: Option<f64>,
    steady_rows_per_s: Option<f64>,
    mb_per_s: Option<f64>,
    steady_cpu_s_per_m_rows: Option<f64>,
    peak_rss_mb: Option<f64>,
    correct: Option<bool>,
}

impl TableRow {
    fn header() {
        println!(
            "{:<34} {:>10} {:>10} {:>8} {:>13} {:>9} {:>8}",
            "system", "rows/s", "steady", "MB/s", "CPU-s/M rows", "peak RSS", "correct"
        );
    }

    fn ceiling(name: &str, rows_per_s: f64, mb_per_s: f64) -> Self {
        TableRow {
            name: name.into(),
            rows_per_s: Some(rows_per_s),
            steady_rows_per_s: None,
            mb_per_s: Some(mb_per_s),
            steady_cpu_s_per_m_rows: None,
            peak_rss_mb: None,
            correct: None,
        }
    }

    fn of_run(r: &E2eRun) -> Self {
        TableRow {
            name: run_name(r),
            rows_per_s: Some(r.rows_per_s),
            steady_rows_per_s: r.steady_rows_per_s,
            mb_per_s: Some(r.mb_per_s),
            steady_cpu_s_per_m_rows: r.steady_cpu_s_per_m_rows,
            peak_rss_mb: Some(r.measured.peak_rss_mb),
            correct: r.verified.as_ref().map(|v| v.correct),
        }
    }

    fn of_peer(name: String, p: &PeerRun, source_bytes: u64) -> Self {
        TableRow {
            name,
            rows_per_s: p.rows_per_s,
            steady_rows_per_s: p.steady_rows_per_s,
            mb_per_s: p
                .measured
                .as_ref()
                .map(|m| source_bytes as f64 / 1e6 / m.wall_s),
            steady_cpu_s_per_m_rows: p.steady_cpu_s_per_m_rows,
            peak_rss_mb: p.peak_rss_mb,
            correct: p.verified.as_ref().map(|v| v.correct),
        }
    }

    fn print(&self) {
        println!(
            "{:<34} {:>10} {:>10} {:>8} {:>13} {:>9} {:>8}",
            self.name,
            fmt_opt(self.rows_per_s, 0),
            fmt_opt(self.steady_rows_per_s, 0),
            fmt_opt(self.mb_per_s, 1),
            fmt_opt(self.steady_cpu_s_per_m_rows, 2),
            self.peak_rss_mb
                .map_or_else(|| "-".into(), |r| format!("{r:.0} MB")),
            self.correct.map_or_else(|| "-".into(), |o| o.to_string())
        );
    }
}
