//! `starpipe run --config FILE [--stop-at-end]`: runs the engine until SIGINT/SIGTERM (then
//! stops consuming, loads what was consumed, commits, exits 0); a second signal exits at once
//! without committing. With `--stop-at-end` it stops once every assigned partition reached the
//! end offset it had at assignment.

use std::process::ExitCode;
use std::sync::Arc;

use signal_hook::consts::{SIGINT, SIGTERM};

use super::RunArgs;
use crate::config::Config;
use crate::engine::{self, RunUntil, StopSignals};

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
    let summary = engine::run(config, until, signals)?;
    tracing::info!(
        rows_loaded = summary.rows_loaded,
        bytes_loaded = summary.bytes_loaded,
        messages = summary.messages,
        peak_memory_mb = summary.peak_memory >> 20,
        "stopped"
    );
    match summary.error {
        Some(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::FAILURE)
        }
        None => Ok(ExitCode::SUCCESS),
    }
}
