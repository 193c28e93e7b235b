//! The criterion decode benchmarks (`benches/decode.rs`), run and summarised: their own summary
//! lines (`format bench ms/pass MB/s rows/s`) are parsed from the output. Then the same bench's
//! alternated mode (`STARPIPE_BENCH_RATIO`), whose ratio decides the decoder's goal: criterion
//! times each bench in a phase of its own, and this VM's speed drifts by 2× between phases of
//! one run (perf/README, "A full run after the decoder's seventh look"); a pass of each in turn
//! sees the same machine.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use anyhow::Context;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct DecodeBench {
    pub format: String,
    pub bench: String,
    pub ms_per_pass: f64,
    pub mb_per_s: f64,
    pub rows_per_s: f64,
}

/// decode+encode against simd-json's parse, a pass of each in turn, the fastest of each.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Alternated {
    pub format: String,
    pub rounds: u32,
    pub decode_encode_mb_per_s: f64,
    pub simd_json_mb_per_s: f64,
    /// simd-json's fastest pass over decode+encode's fastest pass (time, so MB/s inverted).
    pub ratio: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DecodeBenches {
    pub results: Vec<DecodeBench>,
    /// The bench's own ratio lines (decode+encode against the parse-only baselines).
    pub ratios: Vec<String>,
    /// The alternated runs, one per format.
    pub alternated: Vec<Alternated>,
    pub quick: bool,
}

impl DecodeBenches {
    /// The result of `bench` on `format`'s corpus.
    pub fn find(&self, format: &str, bench: &str) -> Option<&DecodeBench> {
        self.results
            .iter()
            .find(|r| r.format == format && r.bench == bench)
    }

    /// decode+encode over simd-json's parse-only speed on the same corpus, from the alternated
    /// passes: the goal's figure.
    pub fn decode_encode_vs_simd_json(&self, format: &str) -> Option<f64> {
        let alternated = self.alternated.iter().find(|a| a.format == format)?;
        Some(alternated.ratio)
    }

    /// The same ratio from criterion's separate phases (MB/s over MB/s), reported beside it.
    pub fn criterion_ratio(&self, format: &str) -> Option<f64> {
        Some(
            self.find(format, "decode+encode")?.mb_per_s / self.find(format, "simd_json")?.mb_per_s,
        )
    }
}

/// Alternated rounds per format, `--quick` too: 10 were too few on this VM (one run's two
/// fastest passes came from different states of the machine), and 40 take a few seconds.
const ALTERNATED_ROUNDS: u32 = 40;

pub fn run(root: &Path, quick: bool, log: &Path) -> anyhow::Result<DecodeBenches> {
    std::fs::write(log, "")?;
    let env = if quick {
        vec![("STARPIPE_BENCH_QUICK", "1".to_string())]
    } else {
        vec![]
    };
    let stdout = bench(root, &["--noplot"], &env, log)?;
    let mut benches = parse(&stdout, quick);
    benches.alternated = run_alternated(root, ALTERNATED_ROUNDS, log)?;
    Ok(benches)
}

/// The bench's alternated mode; its output is appended to `log`.
fn run_alternated(root: &Path, rounds: u32, log: &Path) -> anyhow::Result<Vec<Alternated>> {
    let stdout = bench(
        root,
        &["--bench"],
        &[("STARPIPE_BENCH_RATIO", rounds.to_string())],
        log,
    )?;
    let alternated = parse_alternated(&stdout);
    anyhow::ensure!(
        alternated.len() == 2,
        "the alternated decode bench printed {} ratio lines, not 2; see {}",
        alternated.len(),
        log.display()
    );
    Ok(alternated)
}

/// Runs `cargo bench --bench decode -- <args>` with `env`, appends its output to `log` under a
/// heading that names them, and returns its stdout.
fn bench(root: &Path, args: &[&str], env: &[(&str, String)], log: &Path) -> anyhow::Result<String> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root)
        .args(["bench", "-p", "starpipe", "--bench", "decode", "--"])
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)));
    let what = std::iter::once("cargo bench -p starpipe --bench decode --".to_string())
        .chain(args.iter().map(|a| a.to_string()))
        .chain(env.iter().map(|(k, v)| format!("({k}={v})")))
        .collect::<Vec<_>>()
        .join(" ");
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    write!(
        file,
        "--- {what} ---\n{stdout}\n--- stderr ---\n{}\n",
        String::from_utf8_lossy(&out.stderr)
    )?;
    anyhow::ensure!(
        out.status.success(),
        "{what} failed ({}); see {}",
        out.status,
        log.display()
    );
    Ok(stdout)
}

/// Lines such as `canal      fastest of 40: decode+encode 297 MB/s, simd_json 398 MB/s, ratio 0.746`.
fn parse_alternated(stdout: &str) -> Vec<Alternated> {
    stdout.lines().filter_map(parse_alternated_line).collect()
}

fn parse_alternated_line(line: &str) -> Option<Alternated> {
    let (head, tail) = line.split_once(':')?;
    let (format, rounds) = head.split_once(" fastest of ")?;
    let number_after = |key: &str| -> Option<f64> {
        let rest = tail.split(key).nth(1)?;
        rest.split([' ', ',']).find(|w| !w.is_empty())?.parse().ok()
    };
    Some(Alternated {
        format: format.trim().to_string(),
        rounds: rounds.trim().parse().ok()?,
        decode_encode_mb_per_s: number_after("decode+encode ")?,
        simd_json_mb_per_s: number_after("simd_json ")?,
        ratio: number_after("ratio ")?,
    })
}

fn parse(stdout: &str, quick: bool) -> DecodeBenches {
    let summary = stdout
        .split("== decode bench summary")
        .nth(1)
        .unwrap_or_default();
    let mut results = Vec::new();
    let mut ratios = Vec::new();
    for line in summary.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if line.contains("decode+encode /") {
            ratios.push(line.trim().to_string());
        } else if f.len() == 5
            && (f[0] == "canal" || f[0] == "cloudcanal")
            && let (Ok(ms), Ok(mb), Ok(rows)) = (
                f[2].parse::<f64>(),
                f[3].parse::<f64>(),
                f[4].parse::<f64>(),
            )
        {
            results.push(DecodeBench {
                format: f[0].into(),
                bench: f[1].into(),
                ms_per_pass: ms,
                mb_per_s: mb,
                rows_per_s: rows,
            });
        }
    }
    DecodeBenches {
        results,
        ratios,
        alternated: Vec::new(),
        quick,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_the_summary() {
        let out = "noise\n== decode bench summary (mean) ==\ncanal      corpus: 1 messages, 1.0 MB, 2 source rows, 2 changes, 400 B/row\nformat     bench             ms/pass       MB/s       rows/s\ncanal      decode+encode       250.00       67.1       166000\ncloudcanal simd_json            60.00      280.0       580000\ncanal      decode+encode / simd_json = 0.24 (goal ≥ 0.8), decode+encode / serde_json = 1.10 (goal ≥ 2)\n";
        let d = super::parse(out, true);
        assert_eq!(d.results.len(), 2);
        assert_eq!(d.results[0].bench, "decode+encode");
        assert_eq!(d.results[1].rows_per_s, 580000.0);
        assert_eq!(d.ratios.len(), 1);
        assert_eq!(
            d.find("canal", "decode+encode").unwrap().rows_per_s,
            166000.0
        );
        assert_eq!(d.criterion_ratio("canal"), None);
        assert_eq!(d.decode_encode_vs_simd_json("canal"), None);
    }

    #[test]
    fn parses_the_alternated_ratios() {
        let out = "canal      fastest of 40: decode+encode 297 MB/s, simd_json 398 MB/s, ratio 0.746\ncloudcanal fastest of 40: decode+encode 317 MB/s, simd_json 411 MB/s, ratio 0.771\nnoise: here\n";
        let alternated = super::parse_alternated(out);
        assert_eq!(
            alternated[0],
            super::Alternated {
                format: "canal".into(),
                rounds: 40,
                decode_encode_mb_per_s: 297.0,
                simd_json_mb_per_s: 398.0,
                ratio: 0.746,
            }
        );
        assert_eq!(alternated.len(), 2);
        let benches = super::DecodeBenches {
            results: Vec::new(),
            ratios: Vec::new(),
            alternated,
            quick: false,
        };
        assert_eq!(
            benches.decode_encode_vs_simd_json("cloudcanal"),
            Some(0.771)
        );
    }
}
