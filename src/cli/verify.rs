//! `starpipe verify`: runs [`crate::verify::verify`] and prints its report, as a table or as
//! one JSON document (`--json`). Exit status 0 when every table is equal, 1 when differences
//! remain, 2 on error (then `error: …` on stderr and, with `--json`, `{"ok": false, "error":
//! "…"}` on stdout). A progress line is drawn on stderr only when it is a terminal.

use std::cell::RefCell;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::VerifyArgs;
use crate::config::Config;
use crate::verify::{self, Progress, Quiet, Report, VerifyOptions};

/// Exit status when verify could not finish.
const ERROR_EXIT: u8 = 2;

/// `starpipe verify --config FILE …`.
pub fn run(args: &VerifyArgs, out: &mut dyn Write, err: &mut dyn Write) -> ExitCode {
    match outcome(args).and_then(|r| print(args, &r, out).map(|()| r)) {
        Ok(report) => ExitCode::from(report.exit_code()),
        Err(e) => {
            if args.json {
                let doc = serde_json::json!({"ok": false, "error": format!("{e:#}")});
                let _ = writeln!(out, "{doc}");
            }
            let _ = writeln!(err, "error: {e:#}");
            ExitCode::from(ERROR_EXIT)
        }
    }
}

fn outcome(args: &VerifyArgs) -> anyhow::Result<Report> {
    let config = Config::read(&args.job.config)?;
    let max_mb = args
        .max_memory_mb
        .unwrap_or(config.target.total_data_in_mem_mb);
    let options = VerifyOptions {
        from: args.from,
        to: args.to,
        tables: args.tables.clone(),
        recheck_after: Duration::from_secs(args.recheck_after),
        repair: args.repair,
        max_memory_bytes: max_mb.saturating_mul(1 << 20),
    };
    let report = if std::io::stderr().is_terminal() {
        let progress = Terminal::new();
        let report = verify::verify(&config, &options, &progress);
        progress.bar.finish_and_clear();
        report
    } else {
        verify::verify(&config, &options, &Quiet)
    };
    report.context("verify")
}

fn print(args: &VerifyArgs, report: &Report, out: &mut dyn Write) -> anyhow::Result<()> {
    if args.json {
        serde_json::to_writer_pretty(&mut *out, report)?;
        writeln!(out)?;
    } else {
        report.write_text(out)?;
    }
    out.flush()?;
    Ok(())
}

/// A spinner line on stderr: the step, messages read, keys checked per table.
struct Terminal {
    bar: ProgressBar,
    step: RefCell<String>,
}

impl Terminal {
    fn new() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        Terminal {
            bar,
            step: RefCell::new(String::new()),
        }
    }
}

impl Progress for Terminal {
    fn step(&self, what: &str) {
        *self.step.borrow_mut() = what.to_string();
        self.bar.set_message(what.to_string());
    }

    fn read(&self, messages: u64) {
        let step = self.step.borrow();
        self.bar
            .set_message(format!("{step}: {messages} message(s) read"));
    }

    fn checked(&self, table: &str, checked: u64, total: u64) {
        self.bar
            .set_message(format!("checking {table}: {checked}/{total} key(s)"));
    }
}
