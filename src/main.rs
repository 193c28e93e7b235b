//! The `starpipe` binary: parses the command line and dispatches to [`starpipe::cli`].

use std::process::ExitCode;

use clap::Parser;
use starpipe::cli::{Cli, Command, ConfigCommand, LogFormat, PositionCommand};
use tracing_subscriber::EnvFilter;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc reads its options from the environment when the process starts.
const MIMALLOC_EAGER_COMMIT: &str = "MIMALLOC_ARENA_EAGER_COMMIT";
const MIMALLOC_PURGE_DELAY: &str = "MIMALLOC_PURGE_DELAY";

fn main() -> ExitCode {
    lazy_arena_commit();
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    match dispatch(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: &Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Run(args) => starpipe::cli::run::run(args),
        Command::Decode(args) => starpipe::cli::decode::run(args),
        Command::Config(ConfigCommand::Check(args)) => Ok(starpipe::cli::config_check(
            args,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        )),
        Command::Check(args) => starpipe::cli::check::run(args, &mut std::io::stdout().lock()),
        Command::Position(PositionCommand::Show(args)) => {
            starpipe::cli::position::show(args, &mut std::io::stdout().lock())
        }
        Command::Position(PositionCommand::Reset(args)) => {
            starpipe::cli::position::reset(args, &mut std::io::stdout().lock())
        }
        // stderr stays unlocked: the progress line's ticker thread writes to it too.
        Command::Verify(args) => Ok(starpipe::cli::verify::run(
            args,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr(),
        )),
        Command::Prepare(args) => starpipe::cli::prepare::run(args, &mut std::io::stdout().lock()),
    }
}

/// starpipe promises RSS ≈ `totalDataInMemMb` + a fixed margin, and two mimalloc defaults break
/// that promise:
/// - On Linux mimalloc commits its first arena eagerly: ~60 MiB of RSS before starpipe holds a
///   single row. starpipe asks for lazy commits.
/// - Freed pages are returned to the OS only after a 10 ms delay. Load bodies, blocks and
///   librdkafka's fetch buffers are megabytes each and churn constantly, so delayed pages pile
///   up. At a 64 MiB budget and a 10x backlog the peak RSS was 226 MB with the delay and 148 MB
///   without it under librdkafka's default-sized prefetch; with the budget-sized prefetch
///   (`engine::prefetch_settings`) it is 116–121 MB with the delay and 111–112 MB
///   without, and the system CPU time stayed within run-to-run noise. starpipe asks for an
///   immediate purge.
///
/// Both options are only read at process start (the first arena exists before `main`), hence
/// the re-exec with the variables set; a user's own settings are left alone.
fn lazy_arena_commit() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os(MIMALLOC_EAGER_COMMIT).is_some() {
        return;
    }
    if let Ok(exe) = std::env::current_exe() {
        let mut cmd = std::process::Command::new(exe);
        cmd.args(std::env::args_os().skip(1))
            .env(MIMALLOC_EAGER_COMMIT, "0");
        if std::env::var_os(MIMALLOC_PURGE_DELAY).is_none() {
            cmd.env(MIMALLOC_PURGE_DELAY, "0");
        }
        let err = cmd.exec();
        // exec only returns on failure: run with the eager arena then.
        eprintln!("warning: could not re-exec with lazy allocator commits: {err}");
    }
}

/// Logs go to stderr (around the status line on a terminal, without colour codes elsewhere); the
/// level comes from `RUST_LOG` (default `info`).
fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(starpipe::terminal::is_terminal())
        .with_writer(starpipe::terminal::LogWriter);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
