//! `starpipe prepare --config FILE (--truncate | --recreate) [--yes]`: prints the plan of
//! [`crate::prepare`] (each table and what happens to it, then the group's reset), and with
//! `--yes` carries it out. Output documented in README.md (Commands).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use tabwriter::TabWriter;

use super::PrepareArgs;
use super::position::write_changes;
use crate::config::Config;
use crate::position::OffsetChange;
use crate::prepare::{self, Action, Mode, Plan, TablePlan};

/// Bound on each round trip to the brokers.
const KAFKA_TIMEOUT: Duration = Duration::from_secs(10);

pub fn run(args: &PrepareArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let config = Config::read(&args.job.config)?;
    let plan = prepare::plan(&config, args.mode.mode(), KAFKA_TIMEOUT)?;
    write_plan(&plan, out)?;
    if !args.yes {
        writeln!(
            out,
            "dry run: nothing changed; add --yes to {} {} table(s) and reset group {} to {}",
            verb(plan.mode),
            plan.changed().count(),
            plan.group,
            plan.reset_to
        )?;
        if !plan.status.is_inactive() {
            writeln!(
                out,
                "note: group {} is not inactive now ({}); prepare is refused until every \
                 consumer of the group stops",
                plan.group, plan.status
            )?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    // Both reports write to `out`; one closure each cannot borrow it twice.
    let out = std::cell::RefCell::new(out);
    let mut reset = |changes: &[OffsetChange]| {
        let mut out = out.borrow_mut();
        let _ = write_changes(changes, &mut **out);
        let _ = writeln!(out, "reset group {} to {}", plan.group, plan.reset_to);
    };
    let mut report = |t: &TablePlan| {
        let _ = writeln!(out.borrow_mut(), "{} {}", done(&t.action), t.table);
    };
    prepare::execute(&config, &plan, KAFKA_TIMEOUT, &mut reset, &mut report)
        .with_context(|| format!("preparing the targets of group {}", plan.group))?;
    Ok(ExitCode::SUCCESS)
}

fn verb(mode: Mode) -> &'static str {
    match mode {
        Mode::Truncate => "truncate",
        Mode::Recreate => "re-create",
    }
}

fn done(action: &Action) -> &'static str {
    match action {
        Action::Truncate => "truncated",
        Action::Recreate { .. } => "re-created",
        Action::Absent | Action::NotPrimaryKey { .. } => "left",
    }
}

/// The tables and their actions, the statements re-created tables get, the group's reset.
fn write_plan(plan: &Plan, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut tw = TabWriter::new(&mut *out).padding(2);
    writeln!(tw, "TABLE\tACTION")?;
    for t in &plan.tables {
        let action = match &t.action {
            Action::Truncate => "truncate".to_string(),
            Action::Recreate { .. } => "drop, then create from its SHOW CREATE TABLE".to_string(),
            Action::Absent => "absent: nothing to do".to_string(),
            Action::NotPrimaryKey { model } => {
                format!("not a Primary Key table ({model}): left alone")
            }
        };
        writeln!(tw, "{}\t{action}", t.table)?;
    }
    tw.flush()?;
    for t in &plan.tables {
        if let Action::Recreate { create } = &t.action {
            writeln!(out, "\n{} is created again with:\n{create}", t.table)?;
        }
    }
    writeln!(out, "\ngroup {}: reset to {}", plan.group, plan.reset_to)?;
    write_changes(&plan.offsets, out)?;
    Ok(())
}
