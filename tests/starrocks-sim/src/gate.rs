//! Listeners that can go down and come back (`POST /outage`). During an outage the listening
//! socket is closed, so clients get "connection refused" instead of a hang, and every open
//! connection on the port is shut down; afterwards the same address is bound again.
//!
//! Each listener has one accept thread. An outage shuts the listening socket down from the
//! control thread, which wakes the blocked `accept` (Linux turns a listening socket that is
//! shut down for reading into a closed one); the accept thread then drops it, waits out the
//! outage and binds the address again with SO_REUSEADDR, retrying while the port is busy.

use std::collections::HashMap;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PortKind {
    Fe,
    Be,
    Query,
    /// The control API never goes down.
    Control,
}

impl PortKind {
    pub fn parse(name: &str) -> Option<PortKind> {
        match name {
            "fe" => Some(PortKind::Fe),
            "be" => Some(PortKind::Be),
            "query" => Some(PortKind::Query),
            _ => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            PortKind::Fe => "fe",
            PortKind::Be => "be",
            PortKind::Query => "query",
            PortKind::Control => "control",
        }
    }
}

#[derive(Default)]
struct GateState {
    /// A handle on the listening socket, used to shut it down; `None` while down.
    listener: Option<TcpListener>,
    down_until: Option<Instant>,
    /// Handles on the open connections, to close them when the port goes down.
    conns: HashMap<u64, TcpStream>,
    next_conn: u64,
}

pub struct Gate {
    pub kind: PortKind,
    pub addr: SocketAddr,
    state: Mutex<GateState>,
    wakeup: Condvar,
}

/// Keeps a connection registered with its gate; dropping it unregisters the connection.
pub struct ConnGuard {
    gate: Arc<Gate>,
    id: u64,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.gate.state.lock().conns.remove(&self.id);
    }
}

/// How long the accept thread keeps trying to bind the address again before it says so.
const REBIND_WARN_AFTER: Duration = Duration::from_secs(5);
const REBIND_RETRY: Duration = Duration::from_millis(20);

impl Gate {
    pub fn new(kind: PortKind, listener: &TcpListener) -> std::io::Result<Arc<Gate>> {
        let addr = listener.local_addr()?;
        let handle = listener.try_clone()?;
        Ok(Arc::new(Gate {
            kind,
            addr,
            state: Mutex::new(GateState {
                listener: Some(handle),
                ..Default::default()
            }),
            wakeup: Condvar::new(),
        }))
    }

    /// Starts the accept thread; `on_conn` gets each accepted stream and must hand it (with
    /// its guard) to another thread or task.
    pub fn serve(
        self: &Arc<Self>,
        listener: TcpListener,
        on_conn: impl Fn(TcpStream, ConnGuard) + Send + 'static,
    ) {
        let gate = self.clone();
        std::thread::spawn(move || gate.accept_loop(listener, on_conn));
    }

    fn accept_loop(
        self: Arc<Self>,
        mut listener: TcpListener,
        on_conn: impl Fn(TcpStream, ConnGuard),
    ) {
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    if let Some(guard) = self.register(&stream) {
                        on_conn(stream, guard);
                    }
                }
                Err(_) if self.down_or_unbound() => {
                    drop(listener);
                    listener = self.wait_and_rebind();
                }
                // EMFILE and friends: back off a little instead of spinning.
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }

    /// Registers an accepted connection, or shuts it at once if the port just went down.
    fn register(self: &Arc<Self>, stream: &TcpStream) -> Option<ConnGuard> {
        let mut g = self.state.lock();
        if g.listener.is_none() {
            let _ = stream.shutdown(Shutdown::Both);
            return None;
        }
        let handle = stream.try_clone().ok()?;
        g.next_conn += 1;
        let id = g.next_conn;
        g.conns.insert(id, handle);
        Some(ConnGuard {
            gate: self.clone(),
            id,
        })
    }

    fn down_or_unbound(&self) -> bool {
        self.state.lock().listener.is_none()
    }

    /// Sleeps until the outage is over, then binds the address again.
    fn wait_and_rebind(&self) -> TcpListener {
        let started = Instant::now();
        let mut warned = false;
        loop {
            self.wait_while_down();
            match bind_reuse(self.addr) {
                Ok(l) => {
                    let mut g = self.state.lock();
                    // The outage may have been extended while we were binding.
                    if g.down_until.is_some_and(|u| u > Instant::now()) {
                        continue;
                    }
                    match l.try_clone() {
                        Ok(handle) => {
                            g.listener = Some(handle);
                            g.down_until = None;
                            return l;
                        }
                        Err(_) => continue,
                    }
                }
                Err(e) => {
                    if !warned && started.elapsed() > REBIND_WARN_AFTER {
                        eprintln!(
                            "starrocks-sim: cannot bind {} again after an outage: {e}; still trying",
                            self.addr
                        );
                        warned = true;
                    }
                    std::thread::sleep(REBIND_RETRY);
                }
            }
        }
    }

    /// Blocks until the outage time is over; `bring_up` and `take_down` wake it early.
    fn wait_while_down(&self) {
        let mut g = self.state.lock();
        loop {
            let wait = g
                .down_until
                .map(|u| u.saturating_duration_since(Instant::now()))
                .unwrap_or_default();
            if wait.is_zero() {
                return;
            }
            self.wakeup.wait_for(&mut g, wait);
        }
    }

    /// Takes the port down until `until`: no new connections, open ones closed.
    pub fn take_down(&self, until: Instant) {
        let mut g = self.state.lock();
        g.down_until = Some(g.down_until.map_or(until, |u| u.max(until)));
        if let Some(l) = g.listener.take() {
            // Wakes the accept thread and stops the socket from listening at once.
            let _ = socket2::SockRef::from(&l).shutdown(Shutdown::Both);
        }
        for (_, c) in g.conns.drain() {
            let _ = c.shutdown(Shutdown::Both);
        }
        self.wakeup.notify_all();
    }

    /// Ends a running outage now (the port comes back as soon as it is bound again).
    pub fn bring_up(&self) {
        let mut g = self.state.lock();
        if g.down_until.is_some() {
            g.down_until = Some(Instant::now());
        }
        self.wakeup.notify_all();
    }

    /// `Some(remaining)` while the port is down or not yet bound again.
    pub fn outage_remaining(&self) -> Option<Duration> {
        let g = self.state.lock();
        if g.listener.is_some() {
            return None;
        }
        Some(
            g.down_until
                .map(|u| u.saturating_duration_since(Instant::now()))
                .unwrap_or_default(),
        )
    }
}

/// Binds like `TcpListener::bind`, with SO_REUSEADDR set explicitly so connections of the
/// previous socket lingering in TIME_WAIT do not block the address.
fn bind_reuse(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let domain = socket2::Domain::for_address(addr);
    let s = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    Ok(s.into())
}
