//! The admin endpoint (`[admin] listen`), served by `tiny_http` on a thread of its own:
//!
//! - `GET /metrics`: Prometheus text format.
//! - `GET /healthz`: 200 while healthy; 503 after a fatal error, or while lag > 0 and nothing
//!   was loaded for `stallAlertSec`.
//! - `GET /status`: JSON — the run, its assignment, each table's state, the settings (secrets
//!   masked).
//! - `POST /reload`: re-reads the job file (as `SIGHUP` does) and answers with the outcome.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};
use tiny_http::{Header, Method, Request, Response, Server};

use super::Shared;
use super::monitor::{Health, health};
use super::source::ReloadRequest;

/// How long `POST /reload` waits for the control thread's answer.
const RELOAD_ANSWER: Duration = Duration::from_secs(330);

pub(crate) struct Admin {
    done: Sender<()>,
    thread: JoinHandle<()>,
}

impl Admin {
    pub(crate) fn start(shared: Arc<Shared>, listen: &str) -> anyhow::Result<Admin> {
        let server = Server::http(listen)
            .map_err(|e| anyhow::anyhow!("cannot listen on admin.listen = {listen}: {e}"))?;
        let addr = server
            .server_addr()
            .to_ip()
            .map_or_else(|| listen.to_string(), |a| a.to_string());
        tracing::info!(%addr, "admin endpoint: /metrics /healthz /status /reload");
        let (done, stop) = bounded(1);
        let thread = std::thread::Builder::new()
            .name("admin".into())
            .spawn(move || serve(&server, &shared, &stop))?;
        Ok(Admin { done, thread })
    }

    pub(crate) fn finish(self) {
        drop(self.done);
        let _ = self.thread.join();
    }
}

fn serve(server: &Server, shared: &Shared, stop: &Receiver<()>) {
    loop {
        if let Err(RecvTimeoutError::Disconnected) = stop.recv_timeout(Duration::ZERO) {
            return;
        }
        match server.recv_timeout(Duration::from_millis(100)) {
            Ok(Some(request)) => answer(request, shared),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!("admin endpoint: {e}");
                return;
            }
        }
    }
}

fn answer(request: Request, shared: &Shared) {
    let response = match (request.method(), request.url()) {
        (Method::Get, "/metrics") => metrics(shared),
        (Method::Get, "/healthz") => healthz(shared),
        (Method::Get, "/status") => status(shared),
        (Method::Post, "/reload") => reload(shared),
        (_, "/metrics" | "/healthz" | "/status" | "/reload") => text(405, "method not allowed\n"),
        _ => text(404, "not found: /metrics /healthz /status /reload\n"),
    };
    let _ = request.respond(response);
}

fn text(status: u16, body: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_string(body).with_status_code(status)
}

fn with_type(
    response: Response<std::io::Cursor<Vec<u8>>>,
    content_type: &str,
) -> Response<std::io::Cursor<Vec<u8>>> {
    match Header::from_bytes("Content-Type", content_type) {
        Ok(h) => response.with_header(h),
        Err(()) => response,
    }
}

fn metrics(shared: &Shared) -> Response<std::io::Cursor<Vec<u8>>> {
    let body = shared
        .metrics
        .encode(shared.budget.used(), shared.budget.limit());
    with_type(
        text(200, &body),
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
    )
}

fn healthz(shared: &Shared) -> Response<std::io::Cursor<Vec<u8>>> {
    match health(shared) {
        Health::Healthy => text(200, "ok\n"),
        Health::Failed(e) => text(503, &format!("failed: {e}\n")),
        Health::Stalled(idle) => text(
            503,
            &format!(
                "stalled: lag {} and nothing loaded for {} s\n",
                shared.metrics.total_lag(),
                idle.as_secs()
            ),
        ),
    }
}

fn status(shared: &Shared) -> Response<std::io::Cursor<Vec<u8>>> {
    let config = shared.config();
    let state = match health(shared) {
        Health::Healthy => "running".to_string(),
        Health::Failed(_) => "failed".to_string(),
        Health::Stalled(_) => "stalled".to_string(),
    };
    let body = serde_json::json!({
        "job": config.source.consumer_group_id,
        "run": shared.run.as_str(),
        "state": state,
        "error": shared.fatal.message(),
        "lag": shared.metrics.total_lag(),
        "memory": {"used": shared.budget.used(), "limit": shared.budget.limit()},
        "assignment": *shared.assignment.lock(),
        "tables": shared.metrics.tables(),
        "config": &*config,
    });
    with_type(text(200, &body.to_string()), "application/json")
}

fn reload(shared: &Shared) -> Response<std::io::Cursor<Vec<u8>>> {
    let (reply, outcome) = bounded(1);
    let request = ReloadRequest { reply: Some(reply) };
    if shared.reloads.0.send(request).is_err() {
        return text(503, "the job is stopping\n");
    }
    match outcome.recv_timeout(RELOAD_ANSWER) {
        Ok(Ok(message)) => text(200, &format!("{message}\n")),
        Ok(Err(message)) => text(409, &format!("{message}\n")),
        Err(_) => text(503, "no answer from the job\n"),
    }
}
