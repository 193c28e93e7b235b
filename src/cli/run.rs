//! `starpipe run --config FILE [--stop-at-end]`: runs the engine until SIGINT/SIGTERM (then
//! stops consuming, loads what was consumed, commits, exits 0); a second signal exits at once
//! without committing. With `--stop-at-end` it stops once every assigned partition reached the
//! end offset it had at assignment.

use std::process::ExitCode;
use std::sync::Arc;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use super::RunArgs;
use crate::config::Config;
use std::io::Write;

use crate::engine::{self, RunSummary, RunUntil, StopSignals};

/// Exit status of a second signal (128 + SIGINT, as shells report it).
const HARD_STOP_STATUS: i32 = 130;

pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let config = Config::read(&args.config)?;
    let signals = StopSignals::default();
    for signal in [SIGINT, SIGTERM] {
        // Order matters: the conditional exit sees the flag set by an earlier signal.
        signal_hook::flag::register_conditional_shutdown(
            signal,
            HARD_STOP_STATUS,
            Arc::clone(&signals.stop),
        )?;
        signal_hook::flag::register(signal, Arc::clone(&signals.stop))?;
    }
    let until = if args.stop_at_end {
        RunUntil::End
    } else {
        RunUntil::Stopped
    };
    signal_hook::flag::register(SIGHUP, Arc::clone(&signals.reload))?;
    let summary = engine::run(config, Some(args.config.clone()), until, signals);
    crate::terminal::finish_status_line();
    let summary = summary?;
    tracing::info!(
        rows_loaded = summary.rows_loaded,
        bytes_loaded = summary.bytes_loaded,
        messages = summary.messages,
        peak_memory_mb = summary.peak_memory >> 20,
        "stopped"
    );
    if args.stop_at_end {
        write_summary(&summary, &mut std::io::stdout().lock())?;
    }
    match summary.error {
        Some(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::FAILURE)
        }
        None => Ok(ExitCode::SUCCESS),
    }
}

/// The per-table summary `--stop-at-end` ends with.
fn write_summary(summary: &RunSummary, out: &mut dyn Write) -> std::io::Result<()> {
    let mut table = tabwriter::TabWriter::new(Vec::new()).padding(2);
    writeln!(table, "TABLE\tLOADS\tUPSERTED\tDELETED\tBYTES\tLAST ERROR")?;
    for t in &summary.tables {
        writeln!(
            table,
            "{}\t{}\t{}\t{}\t{}\t{}",
            t.table,
            t.loads,
            t.rows_upserted,
            t.rows_deleted,
            t.bytes,
            t.last_error.as_deref().unwrap_or("-")
        )?;
    }
    writeln!(
        table,
        "total\t\t{} rows\t\t{}\t{} messages read",
        summary.rows_loaded, summary.bytes_loaded, summary.messages
    )?;
    let text = table
        .into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    out.write_all(&text)
}
