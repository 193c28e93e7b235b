//! What a person at a terminal sees: when stderr is a terminal, a live status line (indicatif)
//! under the log lines; otherwise plain log lines without colour codes (so log files stay clean).
//! Log lines pass through [`LogWriter`], which lifts the status line out of the way while a line
//! is written.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

static STATUS: OnceLock<ProgressBar> = OnceLock::new();

/// Whether stderr is a terminal (colours and the status line are for people, not log files).
pub fn is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// Shows the status line (only on a terminal).
pub fn start_status_line() {
    if !is_terminal() {
        return;
    }
    STATUS.get_or_init(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(250));
        bar
    });
}

/// Replaces the status line's text (no-op without a terminal).
pub fn status(text: &str) {
    if let Some(bar) = STATUS.get() {
        bar.set_message(text.to_string());
    }
}

/// Removes the status line.
pub fn finish_status_line() {
    if let Some(bar) = STATUS.get() {
        bar.finish_and_clear();
    }
}

/// Writes log lines to stderr, around the status line.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match STATUS.get() {
            Some(bar) => bar.suspend(|| std::io::stderr().write(buf)),
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LogWriter
    }
}
