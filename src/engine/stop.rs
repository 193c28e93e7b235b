//! `StopWatchdog`: a stop always terminates. After a stop signal or a fatal error the job has
//! `stopGraceSec` to load what it consumed and commit; past it, the watchdog raises the hard
//! stop, which every wait in the engine checks (loads abandon their retries, workers stop
//! waiting for memory or channels), so the process ends, committing nothing past what is loaded.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};

use super::Shared;
use crate::config::AlertEvent;

const TICK: Duration = Duration::from_millis(100);
/// After the hard stop, how long threads get to notice it before the process exits anyway (an
/// HTTP request in flight cannot be interrupted).
const HARD_STOP_EXIT: Duration = Duration::from_secs(10);
/// Exit status when the watchdog ends the process itself.
const EXIT_ABANDONED: i32 = 1;

pub(crate) struct StopWatchdog {
    finished: Sender<()>,
    thread: JoinHandle<()>,
}

impl StopWatchdog {
    pub(crate) fn start(shared: Arc<Shared>, stop: Arc<AtomicBool>) -> StopWatchdog {
        let (finished, done) = bounded(1);
        let thread = std::thread::Builder::new()
            .name("stop-watchdog".into())
            .spawn(move || watch(&shared, &stop, &done))
            .expect("spawn the stop watchdog");
        StopWatchdog { finished, thread }
    }

    /// The run ended by itself: the watchdog exits.
    pub(crate) fn finish(self) {
        drop(self.finished);
        let _ = self.thread.join();
    }
}

fn watch(shared: &Shared, stop: &AtomicBool, done: &Receiver<()>) {
    // Wait for a stop (or the end of the run).
    loop {
        match done.recv_timeout(TICK) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        if let Some(e) = shared.fatal.message() {
            shared.alerts.raise(AlertEvent::Failed, "job", &e);
            break;
        }
        if stop.load(Ordering::SeqCst) {
            break;
        }
    }
    let grace = shared.config().stop_grace();
    if let Err(RecvTimeoutError::Timeout) = done.recv_timeout(grace) {
        shared.fatal.set(format!(
            "stopGraceSec ({} s) elapsed while loads were still retrying: abandoned; rows not \
             loaded were not committed and are replayed by the next run",
            grace.as_secs()
        ));
        shared.hard_stop.store(true, Ordering::SeqCst);
        if let Err(RecvTimeoutError::Timeout) = done.recv_timeout(HARD_STOP_EXIT) {
            tracing::error!("threads did not stop in time (a request in flight); exiting now");
            std::process::exit(EXIT_ABANDONED);
        }
    }
}
