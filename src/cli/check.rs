//! `starpipe check --config FILE`: runs every check of [`crate::check`] and prints one line
//! each, `ok   <what>: <detail>` or `FAIL <what>: <error>`. Exit status 0 when every check
//! passed, 1 otherwise (also when the job file cannot be read).

use std::io::Write;
use std::process::ExitCode;

use super::JobArgs;
use crate::check::{self, CheckOptions, CheckResult};
use crate::config::Config;

pub fn run(args: &JobArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let config = Config::read(&args.config)?;
    let results = check::run_all(&config, &CheckOptions::for_job(&config));
    check::write_report(&results, out)?;
    out.flush()?;
    Ok(if results.iter().all(CheckResult::passed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
