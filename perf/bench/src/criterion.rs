//! The criterion decode benchmarks (`benches/decode.rs`), run and summarised: their own summary
//! lines (`format bench ms/pass MB/s rows/s`) are parsed from the output.

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

#[derive(Debug, Clone, Serialize)]
pub struct DecodeBenches {
    pub results: Vec<DecodeBench>,
    /// The bench's own ratio lines (decode+encode against the parse-only baselines).
    pub ratios: Vec<String>,
    pub quick: bool,
}

impl DecodeBenches {
    /// The result of `bench` on `format`'s corpus.
    pub fn find(&self, format: &str, bench: &str) -> Option<&DecodeBench> {
        self.results
            .iter()
            .find(|r| r.format == format && r.bench == bench)
    }

    /// decode+encode MB/s over simd-json's parse-only MB/s on the same corpus.
    pub fn decode_encode_vs_simd_json(&self, format: &str) -> Option<f64> {
        Some(
            self.find(format, "decode+encode")?.mb_per_s / self.find(format, "simd_json")?.mb_per_s,
        )
    }
}

pub fn run(root: &Path, quick: bool, log: &Path) -> anyhow::Result<DecodeBenches> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root).args([
        "bench", "-p", "starpipe", "--bench", "decode", "--", "--noplot",
    ]);
    if quick {
        cmd.env("STARPIPE_BENCH_QUICK", "1");
    }
    let out = cmd.output().context("running cargo bench --bench decode")?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    std::fs::write(
        log,
        format!(
            "{stdout}\n--- stderr ---\n{}",
            String::from_utf8_lossy(&out.stderr)
        ),
    )?;
    anyhow::ensure!(
        out.status.success(),
        "cargo bench --bench decode failed ({}); see {}",
        out.status,
        log.display()
    );
    Ok(parse(&stdout, quick))
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
        assert_eq!(d.decode_encode_vs_simd_json("canal"), None);
    }
}
