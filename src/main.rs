//! The `starpipe` binary: parses the command line and dispatches to [`starpipe::cli`].

use std::process::ExitCode;

use clap::Parser;
use starpipe::cli::{Cli, Command, ConfigCommand, LogFormat};
use tracing_subscriber::EnvFilter;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
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
    }
}

/// Logs go to stderr; the level comes from `RUST_LOG` (default `info`).
fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
