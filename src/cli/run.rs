//! `starpipe run --config FILE [--stop-at-end]`: runs the engine until SIGINT/SIGTERM (then
//! stops consuming, loads what was consumed, commits, exits 0); a second signal exits at once
//! without committing. With `--stop-at-end` it stops once every assigned partition reached the
//! end offset it had at assignment.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use signal_hook::consts::{SIGINT, SIGTERM};

use super::RunArgs;
use crate::config::Config;
use crate::engine;

/// Exit status of a second signal (128 + SIGINT, as shells report it).
const HARD_STOP_STATUS: i32 = 130;

pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let stop = Arc::new(AtomicBool::new(false));
    let hard_stop = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        // Order matters: the conditional exit sees the flag set by an earlier signal.
        signal_hook::flag::register_conditional_shutdown(
            signal,
            HARD_STOP_STATUS,
            Arc::clone(&stop),
        )?;
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    let summary = engine::run(config, args.stop_at_end, stop, hard_stop)?;
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
