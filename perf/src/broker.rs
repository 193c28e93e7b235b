//! A local Apache Kafka broker for `perf/run` and the fault campaign, run by
//! `tests/kafka/broker` (fetched with Maven on first use), or an external cluster.
//!
//! A local broker keeps its client and controller ports, so it can be stopped and started
//! again on the same data directory (the script formats a directory only once): the fault
//! campaign's broker restarts.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// A Kafka broker: ours (stopped on drop) or an external one.
pub struct Broker {
    pub bootstrap: String,
    local: Option<LocalBroker>,
}

/// What `tests/kafka/broker start` needs to start the same broker again.
struct LocalBroker {
    script: PathBuf,
    dir: PathBuf,
    port: u16,
    controller_port: u16,
    heap: String,
}

impl Broker {
    pub fn external(bootstrap: String) -> Broker {
        Broker {
            bootstrap,
            local: None,
        }
    }

    /// Starts a single-node KRaft broker in `dir` with `script` (`tests/kafka/broker`) on
    /// 127.0.0.1, `ports` being its client and controller ports (e.g. from
    /// `starrocks_sim::launch::free_ports`), with the JVM heap flags `heap`. The broker watches
    /// this process and exits with it.
    pub fn start(
        script: &Path,
        dir: &Path,
        heap: &str,
        [port, controller_port]: [u16; 2],
    ) -> anyhow::Result<Broker> {
        let local = LocalBroker {
            script: script.to_path_buf(),
            dir: dir.to_path_buf(),
            port,
            controller_port,
            heap: heap.to_string(),
        };
        local.start()?;
        Ok(Broker {
            bootstrap: format!("127.0.0.1:{port}"),
            local: Some(local),
        })
    }

    pub fn is_local(&self) -> bool {
        self.local.is_some()
    }

    /// Stops the local broker (SIGTERM: a controlled shutdown, then SIGKILL after 30 s); its
    /// data stays.
    pub fn stop(&self) -> anyhow::Result<()> {
        self.local()?.stop()
    }

    /// Starts the local broker again on its data directory and ports, after [`Broker::stop`].
    pub fn start_again(&self) -> anyhow::Result<()> {
        self.local()?.start()
    }

    fn local(&self) -> anyhow::Result<&LocalBroker> {
        self.local
            .as_ref()
            .context("an external broker cannot be stopped or started")
    }
}

impl LocalBroker {
    fn start(&self) -> anyhow::Result<()> {
        let out = Command::new(&self.script)
            .args(["start", "--port", &self.port.to_string()])
            .args(["--controller-port", &self.controller_port.to_string()])
            .args(["--heap", &self.heap, "--dir"])
            .arg(&self.dir)
            .args(["--parent-pid", &std::process::id().to_string()])
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("running {} start", self.script.display()))?;
        if !out.status.success() {
            bail!("{} start failed ({})", self.script.display(), out.status);
        }
        Ok(())
    }

    fn stop(&self) -> anyhow::Result<()> {
        let status = Command::new(&self.script)
            .args(["stop", "--dir"])
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .with_context(|| format!("running {} stop", self.script.display()))?;
        if !status.success() {
            bail!("{} stop failed ({status})", self.script.display());
        }
        Ok(())
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(local) = &self.local {
            let _ = local.stop();
        }
    }
}
