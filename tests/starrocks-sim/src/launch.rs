//! Starting `starrocks-sim` from tests and benchmarks: free loopback ports, the child process,
//! its `ready` line, its log. The one launcher of the workspace: starpipe's test support, the
//! sim's own tests and `perf/run` all use it.
//!
//! The child is spawned from a keeper thread that lives exactly as long as the child: with
//! [`Launch::die_with_parent`] the child gets `PR_SET_PDEATHSIG`, which fires when the *thread*
//! that forked it ends, so the keeper must outlive the child. The keeper also reaps the child,
//! under a lock that [`SimProcess::kill`] takes too, so a kill never hits a reused pid.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// How long a starting sim may take to print `ready`.
const READY_WITHIN: Duration = Duration::from_secs(60);
/// Attempts when another process took a chosen port meanwhile.
const ATTEMPTS: usize = 5;

/// Why the sim did not start.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("no free loopback port: {0}")]
    Ports(std::io::Error),
    #[error("cannot start {bin}: {source}")]
    Spawn {
        bin: PathBuf,
        source: std::io::Error,
    },
    #[error("starrocks-sim did not print `ready` ({why}){log}")]
    NotReady { why: String, log: String },
}

/// `N` distinct free loopback ports (all held open until every one is chosen, then released).
pub fn free_ports<const N: usize>() -> std::io::Result<[u16; N]> {
    let listeners = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    let mut ports = [0u16; N];
    for (port, l) in ports.iter_mut().zip(&listeners) {
        *port = l.local_addr()?.port();
    }
    Ok(ports)
}

/// How to start a sim.
#[derive(Debug, Clone)]
pub struct Launch {
    bin: PathBuf,
    args: Vec<String>,
    user: String,
    password: String,
    log: Option<PathBuf>,
    die_with_parent: bool,
}

/// A running sim; killed when dropped.
#[derive(Debug)]
pub struct SimProcess {
    /// FE HTTP (Stream Load entry, redirects to the BE), `127.0.0.1:port`.
    pub fe_http: String,
    /// BE HTTP.
    pub be_http: String,
    /// MySQL-protocol query port.
    pub query: String,
    /// Control API.
    pub control: String,
    pub user: String,
    pub password: String,
    pub pid: u32,
    /// Where the sim's output goes, if anywhere.
    pub log: Option<PathBuf>,
    /// Set, under the lock, right before the child is reaped.
    reaped: Arc<Mutex<bool>>,
}

impl Launch {
    /// The sim binary at `bin`, user `root` with an empty password.
    pub fn new(bin: impl Into<PathBuf>) -> Launch {
        Launch {
            bin: bin.into(),
            args: Vec::new(),
            user: "root".into(),
            password: String::new(),
            log: None,
            die_with_parent: false,
        }
    }

    pub fn credentials(mut self, user: &str, password: &str) -> Launch {
        self.user = user.into();
        self.password = password.into();
        self
    }

    /// Extra arguments, e.g. `["--schema-change-ms", "50"]`.
    pub fn args(mut self, args: &[&str]) -> Launch {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// The sim's stdout and stderr go to `path` (appended).
    pub fn log(mut self, path: &Path) -> Launch {
        self.log = Some(path.to_path_buf());
        self
    }

    /// The sim is killed when this process ends, however it ends (for a sim that lives in a
    /// `static` and is never dropped).
    pub fn die_with_parent(mut self) -> Launch {
        self.die_with_parent = true;
        self
    }

    /// Starts the sim on free ports and waits for `ready`.
    pub fn start(&self) -> Result<SimProcess, LaunchError> {
        let mut last = None;
        for _ in 0..ATTEMPTS {
            let ports = free_ports::<4>().map_err(LaunchError::Ports)?;
            match self.start_on(ports) {
                Err(LaunchError::NotReady { why, log }) => {
                    last = Some(LaunchError::NotReady { why, log })
                }
                other => return other,
            }
        }
        Err(last.expect("at least one attempt"))
    }

    fn command(&self, [fe, be, query, control]: [u16; 4]) -> Command {
        let addr = |p: u16| format!("127.0.0.1:{p}");
        let mut cmd = Command::new(&self.bin);
        cmd.args(["--fe-http", &addr(fe), "--be-http", &addr(be)])
            .args(["--query", &addr(query), "--control", &addr(control)])
            .args(["--user", &self.user, "--password", &self.password])
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        match self.log.as_deref().map(append) {
            Some(Some(file)) => cmd.stderr(file),
            _ => cmd.stderr(Stdio::null()),
        };
        if self.die_with_parent {
            die_with_parent(&mut cmd);
        }
        cmd
    }

    fn start_on(&self, ports: [u16; 4]) -> Result<SimProcess, LaunchError> {
        let cmd = self.command(ports);
        let (events, rx) = mpsc::channel::<Event>();
        let reaped = Arc::new(Mutex::new(false));
        let keeper = Keeper {
            log: self.log.clone(),
            reaped: Arc::clone(&reaped),
            events,
        };
        std::thread::Builder::new()
            .name("starrocks-sim-keeper".into())
            .spawn(move || keeper.run(cmd))
            .map_err(|source| self.spawn_error(source))?;
        let pid = self.wait_ready(&rx)?;
        let addr = |p: u16| format!("127.0.0.1:{p}");
        Ok(SimProcess {
            fe_http: addr(ports[0]),
            be_http: addr(ports[1]),
            query: addr(ports[2]),
            control: addr(ports[3]),
            user: self.user.clone(),
            password: self.password.clone(),
            pid,
            log: self.log.clone(),
            reaped,
        })
    }

    fn spawn_error(&self, source: std::io::Error) -> LaunchError {
        LaunchError::Spawn {
            bin: self.bin.clone(),
            source,
        }
    }

    /// The pid once the sim printed `ready`.
    fn wait_ready(&self, rx: &mpsc::Receiver<Event>) -> Result<u32, LaunchError> {
        let mut pid = None;
        loop {
            match rx.recv_timeout(READY_WITHIN) {
                Ok(Event::Spawned(p)) => pid = Some(p),
                Ok(Event::Ready) => return Ok(pid.unwrap_or(0)),
                Ok(Event::SpawnFailed(source)) => return Err(self.spawn_error(source)),
                Ok(Event::Exited(status)) => return Err(self.not_ready(status)),
                Err(_) => {
                    if let Some(p) = pid {
                        kill_pid(p);
                    }
                    return Err(self.not_ready(format!("nothing within {READY_WITHIN:?}")));
                }
            }
        }
    }

    fn not_ready(&self, why: String) -> LaunchError {
        let log = match &self.log {
            Some(path) => format!("\n--- {} ---\n{}", path.display(), tail(path)),
            None => String::new(),
        };
        LaunchError::NotReady { why, log }
    }
}

impl SimProcess {
    /// SIGKILLs the sim (e.g. to test an outage). Idempotent.
    pub fn kill(&self) {
        let reaped = self.reaped.lock().unwrap_or_else(|e| e.into_inner());
        if !*reaped {
            kill_pid(self.pid);
        }
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

enum Event {
    Spawned(u32),
    SpawnFailed(std::io::Error),
    Ready,
    Exited(String),
}

/// The thread that spawns, watches and reaps the child.
struct Keeper {
    log: Option<PathBuf>,
    reaped: Arc<Mutex<bool>>,
    events: mpsc::Sender<Event>,
}

impl Keeper {
    fn run(self, mut cmd: Command) {
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let _ = self.events.send(Event::SpawnFailed(e));
                return;
            }
        };
        let _ = self.events.send(Event::Spawned(child.id()));
        let stdout = child.stdout.take().expect("piped stdout");
        let ready = self.forward_until_ready(BufReader::new(stdout));
        let status = self.reap(&mut child);
        if !ready {
            let _ = self
                .events
                .send(Event::Exited(format!("exited: {status:?}")));
        }
    }

    /// Copies stdout to the log; reports `ready`, then keeps draining so the sim never blocks
    /// on a full pipe. Whether `ready` came.
    fn forward_until_ready(&self, mut stdout: BufReader<std::process::ChildStdout>) -> bool {
        let mut line = String::new();
        loop {
            line.clear();
            match stdout.read_line(&mut line) {
                Ok(0) | Err(_) => return false,
                Ok(_) if line.trim() == "ready" => break,
                Ok(_) => self.write_log(line.as_bytes()),
            }
        }
        let _ = self.events.send(Event::Ready);
        let mut buf = [0u8; 8192];
        while let Ok(n @ 1..) = stdout.read(&mut buf) {
            self.write_log(&buf[..n]);
        }
        true
    }

    fn write_log(&self, bytes: &[u8]) {
        if let Some(mut f) = self.log.as_deref().and_then(append) {
            let _ = f.write_all(bytes);
        }
    }

    /// Waits for the exit without reaping, then reaps under the lock (see [`SimProcess::kill`]).
    fn reap(&self, child: &mut Child) -> std::io::Result<std::process::ExitStatus> {
        wait_exit_no_reap(child.id());
        let mut reaped = self.reaped.lock().unwrap_or_else(|e| e.into_inner());
        *reaped = true;
        child.wait()
    }
}

fn append(path: &Path) -> Option<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .ok()
}

fn tail(path: &Path) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn kill_pid(pid: u32) {
    // SAFETY: plain syscall on a child of this process that was not reaped yet.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGKILL);
    }
}

fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: only async-signal-safe libc calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                libc::_exit(1); // the parent is already gone
            }
            Ok(())
        });
    }
}

fn wait_exit_no_reap(pid: u32) {
    loop {
        // SAFETY: waitid with WNOWAIT on our own child; `info` is a plain out-parameter.
        let rc = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        let eintr = std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR);
        if rc == 0 || !eintr {
            return;
        }
    }
}
