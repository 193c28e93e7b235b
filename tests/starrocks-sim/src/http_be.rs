//! BE HTTP listener: Stream Load (§1.4–§2.6, §9.2), the error log, and the BE half of the
//! transaction interface (§3.4).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::catalog::TableRef;
use crate::faults::{FaultAction, FaultCtx, Phase, ResetPhase};
use crate::http::{Conn, Handler, Outcome, Request, Response};
use crate::loadlog::LoadKind;
use crate::state::{AuthError, Sim};
use crate::stream_load::{self, LoadParams, LoadResponse, Prepared};
use crate::txn::{ApiTxn, BeginError, Retention, TxnState};

pub struct BeHandler {
    pub sim: Arc<Sim>,
    pub idx: usize,
}

impl Handler for BeHandler {
    fn handle(&self, req: Request, conn: &mut Option<Conn>) -> Outcome {
        self.sim.counters.lock().be_requests += 1;
        // The raw path, never percent-decoded: StarRocks' BE takes `db` and `table` from
        // libevent's `evhttp_uri_get_path` through its `PathTrie` as they are.
        let parts: Vec<&str> = req.path.trim_matches('/').split('/').collect();
        match (req.method.as_str(), parts.as_slice()) {
            ("PUT", ["api", db, table, "_stream_load"]) => {
                let (db, table) = (db.to_string(), table.to_string());
                stream_load_action(&self.sim, self.idx, &req, conn, &db, &table)
            }
            ("GET", ["api", "_load_error_log"]) => {
                let file = req.query_param("file").unwrap_or_default();
                match self.sim.error_log(&file) {
                    Some(text) => Outcome::Respond(Response::text(200, text)),
                    None => Outcome::Respond(Response::text(404, "Not Found")),
                }
            }
            (_, ["api", "transaction", op]) => {
                let op = op.to_string();
                txn_action(&self.sim, self.idx, &req, conn, &op)
            }
            ("GET", ["api", "health"]) => Outcome::Respond(Response::json(
                200,
                r#"{"status": "OK","msg": "To Be Added"}"#.into(),
            )),
            // Every other GET falls through to the BE's static-file handler, which answers
            // libevent's 404 page (so does `GET /api/{db}/get_load_state`: only FEs serve it).
            ("GET", _) => Outcome::Respond(libevent_not_found()),
            _ => Outcome::Respond(Response::text(404, "Not Found")),
        }
    }
}

/// What `evhttp_send_error(req, 404, "Not Found")` sends: an HTML page and `Connection: close`
/// (StarRocks `WebPageHandler` → `do_file_response` → `HttpChannel::send_error`).
fn libevent_not_found() -> Response {
    let body = "<HTML><HEAD>\n<TITLE>404 Not Found</TITLE>\n</HEAD><BODY>\n<H1>Not Found</H1>\n</BODY></HTML>\n";
    Response {
        status: 404,
        headers: vec![(
            "Content-Type".into(),
            "text/html; charset=ISO-8859-1".into(),
        )],
        body: body.as_bytes().to_vec(),
        close: true,
    }
}

pub fn retention(sim: &Sim) -> Retention {
    let l = sim.limits.read();
    Retention {
        max_running: l.max_running_txn_num_per_db,
        keep_max_second: l.label_keep_max_second,
        keep_max_num: l.label_keep_max_num,
        clean_interval_second: l.label_clean_interval_second,
    }
}

fn new_label() -> String {
    // Same shape as a UUID; uniqueness within the process is what matters.
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0) as u64;
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (t >> 32) as u32,
        (t >> 16) as u16,
        n & 0xfff,
        (t & 0xfff),
        n
    )
}

fn base_response(label: &str, txn_id: i64, status: &str, message: &str) -> LoadResponse {
    LoadResponse {
        txn_id,
        label: label.to_string(),
        status: status.to_string(),
        message: message.to_string(),
        ..Default::default()
    }
}

fn render(
    sim: &Sim,
    log: &StreamLog<'_>,
    mut r: LoadResponse,
    plan_ms: u64,
    variant: Option<&str>,
) -> Response {
    log.answered(&r);
    if sim.limits.read().use_put_time_field || variant == Some("put_time") {
        r.stream_load_put_time_ms = Some(plan_ms);
    } else {
        r.stream_load_plan_time_ms = Some(plan_ms);
    }
    sim.count_status(&r.status);
    let mut body = stream_load::pretty(&r);
    match variant {
        Some("lowercase") => {
            body = format!(
                "{{\n    \"status\": \"{}\",\n    \"msg\": {}\n}}",
                if r.status == "Success" {
                    "OK"
                } else {
                    "FAILED"
                },
                serde_json::Value::String(r.message.clone())
            );
        }
        Some("truncated") => body.truncate(body.len() / 2),
        Some("invalid_json") => body = "<html><body>502 Bad Gateway</body></html>".into(),
        _ => {}
    }
    Response::json(200, body)
}

fn fail_resp(sim: &Sim, log: &StreamLog<'_>, label: &str, txn_id: i64, msg: &str) -> Outcome {
    Outcome::Respond(render(
        sim,
        log,
        base_response(label, txn_id, "Fail", msg),
        0,
        None,
    ))
}

/// The load-log entry of one Stream Load. Answers are recorded by `render`; dropping it
/// without an answer (reset, dead socket) records what became of the transaction.
struct StreamLog<'a> {
    sim: &'a Sim,
    id: u64,
    db: &'a str,
    txn_id: std::cell::Cell<i64>,
}

impl<'a> StreamLog<'a> {
    fn open(sim: &'a Sim, req: &Request, db: &'a str, table: &str) -> StreamLog<'a> {
        let label = req.header("label").unwrap_or("");
        let id = sim.loadlog.open(
            LoadKind::StreamLoad,
            db,
            table,
            label,
            &req.peer.to_string(),
        );
        StreamLog {
            sim,
            id,
            db,
            txn_id: std::cell::Cell::new(-1),
        }
    }

    fn txn(&self, label: &str, txn_id: i64) {
        self.txn_id.set(txn_id);
        self.sim.loadlog.update(self.id, |e| {
            e.label = label.into();
            e.txn_id = txn_id;
        });
    }

    fn rows(&self, p: &Prepared) {
        self.sim.loadlog.update(self.id, |e| {
            e.rows_loaded = p.loaded();
            e.rows_filtered = p.filtered;
        });
    }

    fn answered(&self, r: &LoadResponse) {
        self.sim.loadlog.update(self.id, |e| {
            e.label = r.label.clone();
            e.txn_id = r.txn_id;
            e.rows_loaded = r.number_loaded_rows;
            e.rows_filtered = r.number_filtered_rows;
        });
        self.sim.loadlog.finish(self.id, &r.status);
    }

    /// A fault answered with a bare HTTP error instead of a Stream Load JSON.
    fn http_error(&self, status: u16) {
        self.sim.loadlog.finish(self.id, &format!("HTTP {status}"));
    }
}

impl Drop for StreamLog<'_> {
    fn drop(&mut self) {
        let txn_id = self.txn_id.get();
        let state = (txn_id >= 0)
            .then(|| self.sim.txns.state(self.db, txn_id))
            .flatten()
            .map(|s| s.name())
            .unwrap_or("ABORTED");
        self.sim.loadlog.finish(self.id, state);
    }
}

/// The load-log entry of one transaction-API `load` call: refused calls end with their
/// answer, accepted ones follow their transaction until it ends.
struct TxnLoadLog<'a> {
    sim: &'a Sim,
    id: u64,
}

impl<'a> TxnLoadLog<'a> {
    fn open(sim: &'a Sim, req: &Request, db: &str, label: &str) -> TxnLoadLog<'a> {
        let table = req.header("table").unwrap_or("");
        let peer = req.peer.to_string();
        let id = sim.loadlog.open(LoadKind::TxnLoad, db, table, label, &peer);
        TxnLoadLog { sim, id }
    }

    fn table(&self, table: &str) {
        self.sim.loadlog.update(self.id, |e| e.table = table.into());
    }

    fn refused(&self, status: &str, txn_id: i64) {
        self.sim.loadlog.update(self.id, |e| e.txn_id = txn_id);
        self.sim.loadlog.finish(self.id, status);
    }

    fn accepted(&self, txn_id: i64, loaded: u64, filtered: u64) {
        self.sim.loadlog.update(self.id, |e| {
            e.rows_loaded = loaded;
            e.rows_filtered = filtered;
        });
        self.sim
            .loadlog
            .follow_txn(self.id, txn_id, TxnState::Prepare.name());
    }
}

impl Drop for TxnLoadLog<'_> {
    fn drop(&mut self) {
        // Neither refused nor accepted: the connection died before an answer.
        self.sim.loadlog.finish(self.id, "ABORTED");
    }
}

struct InflightGuard<'a>(&'a Sim);
impl Drop for InflightGuard<'_> {
    fn drop(&mut self) {
        self.0.be_inflight.fetch_sub(1, Ordering::Relaxed);
    }
}

fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

fn access_denied(user: &str, req: &Request) -> String {
    format!(
        "Access denied for user '{}'@'{}' (using password: YES)",
        user,
        req.peer.ip()
    )
}

fn stream_load_action(
    sim: &Arc<Sim>,
    be_idx: usize,
    req: &Request,
    conn: &mut Option<Conn>,
    db: &str,
    table: &str,
) -> Outcome {
    let log = StreamLog::open(sim, req, db, table);
    stream_load(sim, &log, be_idx, req, conn, db, table)
}

fn stream_load(
    sim: &Arc<Sim>,
    log: &StreamLog<'_>,
    be_idx: usize,
    req: &Request,
    conn: &mut Option<Conn>,
    db: &str,
    table: &str,
) -> Outcome {
    let started = Instant::now();
    let header_label = req.header("label").unwrap_or("").to_string();
    match sim.check_basic(req.header("authorization")) {
        Ok(_) => {}
        Err(AuthError::Missing) => {
            return fail_resp(sim, log, &header_label, -1, "no valid Basic authorization");
        }
        Err(AuthError::Denied(u)) => {
            return fail_resp(sim, log, &header_label, -1, &access_denied(&u, req));
        }
    }
    let params = match stream_load::parse_params(req) {
        Ok(p) => p,
        Err(e) => return fail_resp(sim, log, &header_label, -1, &e.0),
    };
    let label = params.label.clone().unwrap_or_else(new_label);
    let ctx = FaultCtx {
        target: "be",
        op: "stream_load",
        db,
        table,
        label: &label,
    };
    // Faults that act before the body flows.
    for a in sim.faults.take_all(&ctx, |a| {
        matches!(
            a,
            FaultAction::HttpError { .. }
                | FaultAction::Reset {
                    phase: ResetPhase::BeforeContinue
                }
                | FaultAction::Latency {
                    phase: Phase::BeforeContinue,
                    ..
                }
                | FaultAction::LabelExists { .. }
        )
    }) {
        sim.counters.lock().faults_fired += 1;
        match a {
            FaultAction::Latency { ms, .. } => sleep_ms(ms),
            FaultAction::HttpError { status, body } => {
                log.http_error(status);
                return Outcome::Respond(Response::text(status, body).closing());
            }
            FaultAction::Reset { .. } => {
                if let Some(c) = conn.take() {
                    c.reset();
                }
                return Outcome::Done;
            }
            FaultAction::LabelExists {
                existing_job_status,
                new_style,
            } => {
                let msg = format!("Label [{label}] has already been used.");
                let mut r = if new_style {
                    base_response(&label, -1, "Fail", &msg)
                } else {
                    base_response(&label, -1, "Label Already Exists", &msg)
                };
                if !new_style {
                    r.existing_job_status = Some(existing_job_status);
                }
                return Outcome::Respond(render(sim, log, r, 0, None));
            }
            _ => {}
        }
    }
    let limits = sim.limits.read().clone();
    let content_length = req.content_length();
    if let Some(n) = content_length {
        let max = limits.streaming_load_max_mb * 1024 * 1024;
        if n > max {
            return fail_resp(
                sim,
                log,
                &label,
                -1,
                &format!(
                    "body size {n} exceed limit: {max}, table: {table}. You can increase the limit by setting streaming_load_max_mb in be.conf."
                ),
            );
        }
        if params.format == stream_load::Format::Json
            && !params.ignore_json_size
            && n > limits.json_max_bytes
        {
            return fail_resp(
                sim,
                log,
                &label,
                -1,
                &format!(
                    "The size of this batch exceed the max size [{}]  of json type data  data [ {} ]. Set ignore_json_size to skip the check, although it may lead huge memory consuming.",
                    limits.json_max_bytes, n
                ),
            );
        }
    }
    let inflight = sim.be_inflight.fetch_add(1, Ordering::Relaxed) + 1;
    let _guard = InflightGuard(sim);
    if inflight > limits.be_http_concurrency_limit {
        return fail_resp(
            sim,
            log,
            &label,
            -1,
            &format!(
                "Stream Load exceed http cuncurrent limit {}, please try again later",
                limits.be_http_concurrency_limit
            ),
        );
    }
    // Begin transaction (FE RPC): database must exist, label must be free.
    let Some(db_id) = sim.catalog.db_id(db) else {
        return fail_resp(
            sim,
            log,
            &label,
            -1,
            &format!("unknown database, database={db}"),
        );
    };
    let begin_started = Instant::now();
    let txn_id = match sim.txns.begin(
        db,
        table,
        &label,
        Duration::from_secs(params.timeout_s),
        None,
        &retention(sim),
    ) {
        Ok(id) => id,
        Err(BeginError::LabelExists { existing }) => {
            let mut r = base_response(
                &label,
                -1,
                "Label Already Exists",
                &format!("Label [{label}] has already been used."),
            );
            r.existing_job_status = Some(existing.existing_job_status().into());
            return Outcome::Respond(render(sim, log, r, 0, None));
        }
        Err(BeginError::TooManyRunning { running, limit }) => {
            return fail_resp(
                sim,
                log,
                &label,
                -1,
                &format!(
                    "current running txns on db {db_id} is {running}, larger than limit {limit}"
                ),
            );
        }
    };
    log.txn(&label, txn_id);
    let begin_ms = begin_started.elapsed().as_millis() as u64;
    let abort = |reason: &str| sim.txns.set_state(db, txn_id, TxnState::Aborted, reason);
    // Plan (FE RPC): table and column mapping.
    let plan_started = Instant::now();
    let table_ref = match sim.catalog.table(db, table) {
        Ok(t) => t,
        Err(_) => {
            let msg = format!("unknown table \"{db}.{table}\"");
            abort(&msg);
            return fail_resp(sim, log, &label, txn_id, &msg);
        }
    };
    let meta = table_ref.lock().meta.clone();
    let plan = match stream_load::plan(&params, meta) {
        Ok(p) => p,
        Err(e) => {
            abort(&e.0);
            return fail_resp(sim, log, &label, txn_id, &e.0);
        }
    };
    let plan_ms = plan_started.elapsed().as_millis() as u64;
    // Body.
    let read_started = Instant::now();
    let Some(c) = conn.as_mut() else {
        return Outcome::Done;
    };
    if req.expects_continue() && c.send_continue().is_err() {
        abort("connection closed");
        return Outcome::Done;
    }
    let body_fault = sim.faults.take(&ctx, |a| {
        matches!(
            a,
            FaultAction::Reset {
                phase: ResetPhase::MidBody
            } | FaultAction::Latency {
                phase: Phase::Body,
                ..
            }
        )
    });
    match body_fault {
        Some(FaultAction::Reset { .. }) => {
            sim.counters.lock().faults_fired += 1;
            let half = content_length.unwrap_or(2) / 2;
            let _ = c.read_some_body(half);
            abort("connection reset mid-body");
            if let Some(c) = conn.take() {
                c.reset();
            }
            return Outcome::Done;
        }
        Some(FaultAction::Latency { ms, .. }) => {
            sim.counters.lock().faults_fired += 1;
            sleep_ms(ms);
        }
        _ => {}
    }
    let body = match c.read_body(limits.streaming_load_max_mb * 1024 * 1024) {
        Ok(b) => b,
        Err(e) => {
            // Early EOF: abort, free the label; no response is possible on a dead socket.
            abort(&e.to_string());
            if let Some(c) = conn.take() {
                c.reset();
            }
            return Outcome::Done;
        }
    };
    let load_bytes = body.len() as u64;
    let body = match params.compression {
        Some(comp) => match stream_load::decompress(comp, body) {
            Ok(b) => b,
            Err(e) => {
                abort(&e.0);
                return fail_resp(sim, log, &label, txn_id, &e.0);
            }
        },
        None => body,
    };
    let read_ms = read_started.elapsed().as_millis() as u64;
    let write_started = Instant::now();
    let mut prepared = match stream_load::process(&params, &plan, &body) {
        Ok(p) => p,
        Err(e) => {
            abort(&e.0);
            return fail_resp(sim, log, &label, txn_id, &e.0);
        }
    };
    drop(body);
    // Faults acting on the written data / commit.
    let mut variant: Option<String> = None;
    let mut publish_delay: Option<u64> = None;
    let mut reset_after: Option<ResetPhase> = None;
    let mut latency_before_response = 0;
    let mut commit_delay_ms = 0;
    let actions = sim.faults.take_all(&ctx, |a| {
        matches!(
            a,
            FaultAction::Fail { .. }
                | FaultAction::TooManyVersions
                | FaultAction::MemoryLimit
                | FaultAction::FilterRows { .. }
                | FaultAction::DropReupsertAfterDelete
                | FaultAction::PublishTimeout { .. }
                | FaultAction::ResponseVariant { .. }
                | FaultAction::Reset {
                    phase: ResetPhase::BeforeCommit
                        | ResetPhase::AfterCommit
                        | ResetPhase::AfterAbort
                }
                | FaultAction::Latency {
                    phase: Phase::BeforeCommit | Phase::BeforeResponse,
                    ..
                }
        )
    });
    // The client's connection drops before any commit latency: the load goes on without it.
    let client_gone = FaultAction::Reset {
        phase: ResetPhase::BeforeCommit,
    };
    if actions.contains(&client_gone)
        && let Some(c) = conn.take()
    {
        c.reset();
    }
    for a in actions {
        sim.counters.lock().faults_fired += 1;
        let injected_fail = match a {
            FaultAction::Fail { message } => Some(message),
            FaultAction::TooManyVersions => Some(too_many_versions_msg(
                plan_table_id(&table_ref),
                limits.tablet_max_versions + 1,
                limits.tablet_max_versions,
            )),
            FaultAction::MemoryLimit => Some(
                "Memory of Fragment exceed limit, memory limit exceeded: load_mem_limit 2147483648, used 2147500000"
                    .into(),
            ),
            FaultAction::DropReupsertAfterDelete => {
                drop_reupserts(&mut prepared);
                None
            }
            FaultAction::FilterRows { count, matching } => {
                match matching {
                    Some(pattern) => filter_matching(&mut prepared, &pattern),
                    None => filter_first(&mut prepared, count),
                }
                None
            }
            FaultAction::PublishTimeout { visible_after_ms } => {
                publish_delay = Some(visible_after_ms);
                None
            }
            FaultAction::ResponseVariant { variant: v } => {
                variant = Some(v);
                None
            }
            FaultAction::Reset { phase } => {
                reset_after = Some(phase);
                None
            }
            FaultAction::Latency { ms, phase } => {
                if phase == Phase::BeforeCommit {
                    sleep_ms(ms);
                    commit_delay_ms += ms;
                } else {
                    latency_before_response += ms;
                }
                None
            }
            _ => None,
        };
        if let Some(msg) = injected_fail {
            abort(&msg);
            let mut r = counts_response(&label, txn_id, "Fail", &msg, &prepared, load_bytes);
            r.begin_txn_time_ms = begin_ms;
            return Outcome::Respond(render(sim, log, r, plan_ms, variant.as_deref()));
        }
    }
    let write_ms = write_started.elapsed().as_millis() as u64;
    let error_url = if prepared.filtered > 0 {
        Some(sim.store_error_log(&prepared.error_rows, be_idx))
    } else {
        None
    };
    let finish = |mut r: LoadResponse| {
        r.begin_txn_time_ms = begin_ms;
        r.read_data_time_ms = read_ms;
        r.write_data_time_ms = write_ms;
        r.load_time_ms = started.elapsed().as_millis() as u64;
        r.error_url = error_url.clone();
        r
    };
    if reset_after == Some(ResetPhase::AfterAbort) {
        abort("connection reset after body");
        if let Some(c) = conn.take() {
            c.reset();
        }
        return Outcome::Done;
    }
    // Ratio check: filtered / (total - unselected) > max_filter_ratio.
    let selected = prepared.total - prepared.unselected;
    if prepared.total == 0 {
        abort("all partitions have no load data");
        let r = counts_response(
            &label,
            txn_id,
            "Fail",
            "all partitions have no load data",
            &prepared,
            load_bytes,
        );
        return Outcome::Respond(render(sim, log, finish(r), plan_ms, variant.as_deref()));
    }
    if selected > 0 && prepared.filtered as f64 / selected as f64 > params.max_filter_ratio {
        abort("too many filtered rows");
        let r = counts_response(
            &label,
            txn_id,
            "Fail",
            "too many filtered rows",
            &prepared,
            load_bytes,
        );
        count_rows(sim, &prepared, false);
        return Outcome::Respond(render(sim, log, finish(r), plan_ms, variant.as_deref()));
    }
    // The txn may have been cancelled or timed out meanwhile.
    match sim.txns.state(db, txn_id) {
        Some(TxnState::Prepare) => {}
        _ => {
            let msg = if started.elapsed() > Duration::from_secs(params.timeout_s) {
                "[E1008]Reached timeout".to_string()
            } else {
                "cancelled".to_string()
            };
            let r = counts_response(&label, txn_id, "Fail", &msg, &prepared, load_bytes);
            return Outcome::Respond(render(sim, log, finish(r), plan_ms, variant.as_deref()));
        }
    }
    if started.elapsed() > Duration::from_secs(params.timeout_s) {
        abort("[E1008]Reached timeout");
        let r = counts_response(
            &label,
            txn_id,
            "Fail",
            "[E1008]Reached timeout",
            &prepared,
            load_bytes,
        );
        return Outcome::Respond(render(sim, log, finish(r), plan_ms, variant.as_deref()));
    }
    log.rows(&prepared);
    let commit_started = Instant::now();
    let loaded = prepared.loaded();
    let counts = (prepared.total, prepared.filtered, prepared.unselected);
    let resp_template = counts_response(&label, txn_id, "Success", "OK", &prepared, load_bytes);
    let status = match commit(
        sim,
        db,
        table,
        &table_ref,
        txn_id,
        vec![prepared],
        publish_delay,
        &limits,
    ) {
        Ok(visible) => {
            if visible {
                "Success"
            } else {
                "Publish Timeout"
            }
        }
        Err(msg) => {
            abort(&msg);
            let mut r = resp_template;
            r.status = "Fail".into();
            r.message = msg;
            return Outcome::Respond(render(sim, log, finish(r), plan_ms, variant.as_deref()));
        }
    };
    {
        let mut c = sim.counters.lock();
        c.rows_total += counts.0;
        c.rows_filtered += counts.1;
        c.rows_unselected += counts.2;
        c.rows_loaded += loaded;
        c.bytes_loaded += load_bytes;
    }
    if reset_after == Some(ResetPhase::AfterCommit) {
        if let Some(c) = conn.take() {
            c.reset();
        }
        return Outcome::Done;
    }
    if latency_before_response > 0 {
        sleep_ms(latency_before_response);
    }
    let mut r = resp_template;
    r.status = status.into();
    if status == "Publish Timeout" {
        r.message = "Publish timeout. The data will be visible after a while".into();
    }
    r.commit_and_publish_time_ms = commit_started.elapsed().as_millis() as u64 + commit_delay_ms;
    Outcome::Respond(render(sim, log, finish(r), plan_ms, variant.as_deref()))
}

fn plan_table_id(t: &TableRef) -> u64 {
    t.lock().meta.id + 1
}

pub fn too_many_versions_msg(tablet: u64, current: u64, limit: u64) -> String {
    format!(
        "Failed to load data into tablet {tablet}, because of too many versions, current/limit: {current}/{limit}. You can reduce the loading job concurrency, or increase loading data batch size. If you are loading data with Routine Load, you can increase FE configs routine_load_task_consume_second and max_routine_load_batch_size,"
    )
}

/// Reproduces the shared-data bug of §4.1 (issue 75014): an upsert that follows a delete of
/// the same key inside one load is lost.
fn drop_reupserts(p: &mut Prepared) {
    let key_count = p.meta.key_count;
    let mut deleted: std::collections::BTreeSet<Vec<crate::types::Value>> = Default::default();
    p.ops.retain(|op| match op {
        stream_load::RowOp::Delete(k) => {
            deleted.insert(k.clone());
            true
        }
        stream_load::RowOp::Upsert(r) => !deleted.contains(&r[..key_count]),
    });
}

fn filter_first(p: &mut Prepared, count: u64) {
    let n = (count as usize).min(p.ops.len());
    for op in p.ops.drain(..n).collect::<Vec<_>>() {
        reject_row(p, op);
    }
}

/// Filters every row holding a value that matches `pattern` (a glob).
fn filter_matching(p: &mut Prepared, pattern: &str) {
    let ops = std::mem::take(&mut p.ops);
    for op in ops {
        let row = match &op {
            stream_load::RowOp::Upsert(r) | stream_load::RowOp::Delete(r) => r,
        };
        let hit = row.iter().any(|v| {
            v.to_text()
                .is_some_and(|t| crate::faults::glob(pattern, &t))
        });
        if hit {
            reject_row(p, op);
        } else {
            p.ops.push(op);
        }
    }
}

fn reject_row(p: &mut Prepared, op: stream_load::RowOp) {
    p.filtered += 1;
    let row = match op {
        stream_load::RowOp::Upsert(r) | stream_load::RowOp::Delete(r) => r,
    };
    let rendered: Vec<String> = row
        .iter()
        .map(|v| {
            v.to_text()
                .map(|t| format!("'{t}'"))
                .unwrap_or("NULL".into())
        })
        .collect();
    p.error_rows.push(format!(
        "Error: injected fault: row filtered. Row: [{}]",
        rendered.join(", ")
    ));
}

fn counts_response(
    label: &str,
    txn_id: i64,
    status: &str,
    msg: &str,
    p: &Prepared,
    load_bytes: u64,
) -> LoadResponse {
    let mut r = base_response(label, txn_id, status, msg);
    r.number_total_rows = p.total;
    r.number_loaded_rows = p.loaded();
    r.number_filtered_rows = p.filtered;
    r.number_unselected_rows = p.unselected;
    r.load_bytes = load_bytes;
    r
}

fn count_rows(sim: &Sim, p: &Prepared, applied: bool) {
    let mut c = sim.counters.lock();
    c.rows_total += p.total;
    c.rows_filtered += p.filtered;
    c.rows_unselected += p.unselected;
    if applied {
        c.rows_loaded += p.loaded();
    }
}

/// Commits prepared loads atomically into the table: version check, then apply in commit
/// order. Returns whether the data is visible now (false → `Publish Timeout`).
#[allow(clippy::too_many_arguments)]
pub fn commit(
    sim: &Arc<Sim>,
    db: &str,
    table: &str,
    table_ref: &TableRef,
    txn_id: i64,
    loads: Vec<Prepared>,
    publish_delay: Option<u64>,
    limits: &crate::state::Limits,
) -> Result<bool, String> {
    sim.catalog.tick_jobs();
    let mut td = table_ref.lock();
    // Modelled compaction: pending versions decay at a fixed rate.
    let elapsed = td.versions_updated.elapsed().as_secs_f64();
    td.pending_versions =
        (td.pending_versions - elapsed * limits.compaction_versions_per_sec).max(0.0);
    td.versions_updated = Instant::now();
    if td.pending_versions + 1.0 > limits.tablet_max_versions as f64 {
        let cur = td.pending_versions.ceil() as u64 + 1;
        return Err(too_many_versions_msg(
            td.meta.id + 1,
            cur,
            limits.tablet_max_versions,
        ));
    }
    td.pending_versions += 1.0;
    let (mut ups, mut dels) = (0u64, 0u64);
    let mut loaded = 0u64;
    for p in &loads {
        loaded += p.loaded();
    }
    let key = format!("{db}.{table}");
    let counters_sim = sim.clone();
    let key2 = key.clone();
    let discard = limits.discard;
    let apply = move |td: &mut crate::catalog::TableData| {
        for p in loads {
            let (u, d) = if discard {
                count_ops(&p)
            } else {
                stream_load::apply(td, p)
            };
            ups += u;
            dels += d;
        }
        let mut c = counters_sim.counters.lock();
        c.rows_upserted += ups;
        c.rows_deleted += dels;
        let t = c.tables.entry(key2).or_default();
        t.loads += 1;
        t.rows_loaded += loaded;
        t.rows_upserted += ups;
        t.rows_deleted += dels;
    };
    let visible_at = Instant::now() + Duration::from_millis(publish_delay.unwrap_or(0));
    td.publish_queue.push_back(crate::catalog::PendingPublish {
        txn_id,
        visible_at,
        apply: Box::new(apply),
        bumps_version: !discard,
    });
    td.publish_due();
    let visible = !td.publish_queue.iter().any(|p| p.txn_id == txn_id);
    drop(td);
    sim.txns.set_state(
        db,
        txn_id,
        if visible {
            TxnState::Visible
        } else {
            TxnState::Committed
        },
        "",
    );
    if !visible {
        let sim = sim.clone();
        let table_ref = table_ref.clone();
        let db = db.to_string();
        let wait = publish_delay.unwrap_or(0);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(wait + 1));
            publish_now(&sim, &db, &table_ref);
            sim.txns.set_state(&db, txn_id, TxnState::Visible, "");
        });
    }
    Ok(visible)
}

/// What applying would count (upserts, deletes) without touching the table (discard mode).
fn count_ops(p: &Prepared) -> (u64, u64) {
    let deletes = p
        .ops
        .iter()
        .filter(|op| matches!(op, stream_load::RowOp::Delete(_)))
        .count() as u64;
    (p.ops.len() as u64 - deletes, deletes)
}

/// Publishes what is due and marks those transactions VISIBLE.
pub fn publish_now(sim: &Sim, db: &str, table_ref: &TableRef) {
    let ids = table_ref.lock().publish_due();
    for id in ids {
        sim.txns.set_state(db, id, TxnState::Visible, "");
    }
}

// ---------------------------------------------------------------------------------------
// Transaction interface, BE side.

fn txn_json(fields: serde_json::Value) -> Response {
    Response::json(200, stream_load::pretty(&fields))
}

fn txn_status(sim: &Sim, status: &str, msg: &str, label: &str, txn_id: Option<i64>) -> Response {
    *sim.counters
        .lock()
        .txn_api_by_status
        .entry(status.to_string())
        .or_default() += 1;
    let mut v = serde_json::Map::new();
    if let Some(id) = txn_id {
        v.insert("TxnId".into(), id.into());
    }
    v.insert("Label".into(), label.into());
    v.insert("Status".into(), status.into());
    v.insert("Message".into(), msg.into());
    txn_json(serde_json::Value::Object(v))
}

fn txn_action(
    sim: &Arc<Sim>,
    be_idx: usize,
    req: &Request,
    conn: &mut Option<Conn>,
    op: &str,
) -> Outcome {
    let label = req.header("label").unwrap_or("").to_string();
    let db = req.header("db").unwrap_or("").to_string();
    let table = req.header("table").unwrap_or("").to_string();
    match sim.check_basic(req.header("authorization")) {
        Ok(_) => {}
        Err(AuthError::Missing) => {
            return Outcome::Respond(txn_status(
                sim,
                "FAILED",
                "no valid Basic authorization",
                &label,
                None,
            ));
        }
        Err(AuthError::Denied(u)) => {
            return Outcome::Respond(txn_status(
                sim,
                "FAILED",
                &access_denied(&u, req),
                &label,
                None,
            ));
        }
    }
    if label.is_empty() {
        return Outcome::Respond(txn_status(
            sim,
            "FAILED",
            "No label selected.",
            &label,
            None,
        ));
    }
    if db.is_empty() {
        return Outcome::Respond(txn_status(
            sim,
            "FAILED",
            "No database selected.",
            &label,
            None,
        ));
    }
    let ctx = FaultCtx {
        target: "txn",
        op,
        db: &db,
        table: &table,
        label: &label,
    };
    let mut commit_fails = false;
    if let Some(a) = sim.faults.take(&ctx, |a| {
        matches!(
            a,
            FaultAction::TxnStatus { .. }
                | FaultAction::HttpError { .. }
                | FaultAction::CommitFailsAfterCommit
                | FaultAction::Latency { .. }
        )
    }) {
        sim.counters.lock().faults_fired += 1;
        match a {
            FaultAction::TxnStatus { status, message } => {
                return Outcome::Respond(txn_status(sim, &status, &message, &label, None));
            }
            FaultAction::HttpError { status, body } => {
                return Outcome::Respond(Response::text(status, body).closing());
            }
            FaultAction::CommitFailsAfterCommit => commit_fails = true,
            FaultAction::Latency { ms, .. } => sleep_ms(ms),
            _ => {}
        }
    }
    let limits = sim.limits.read().clone();
    match op {
        "begin" => {
            if !sim.catalog.db_exists(&db) {
                return Outcome::Respond(txn_status(
                    sim,
                    "FAILED",
                    &format!("unknown database, database={db}"),
                    &label,
                    None,
                ));
            }
            if sim.catalog.table(&db, &table).is_err() {
                return Outcome::Respond(txn_status(
                    sim,
                    "FAILED",
                    &format!("unknown table \"{db}.{table}\""),
                    &label,
                    None,
                ));
            }
            let secs = |name: &str| req.header(name).and_then(|v| v.trim().parse::<u64>().ok());
            let timeout = secs("timeout").unwrap_or(600);
            let api = ApiTxn {
                be: be_idx,
                idle_timeout: secs("idle_transaction_timeout").map(Duration::from_secs),
                last_activity: Instant::now(),
                prepared_at: None,
                prepared_timeout: Duration::from_secs(secs("prepared_timeout").unwrap_or(86400)),
                busy: false,
                loads: Vec::new(),
                seq: 0,
                total_rows: 0,
                loaded_rows: 0,
                filtered_rows: 0,
                unselected_rows: 0,
                load_bytes: 0,
            };
            match sim.txns.begin(
                &db,
                &table,
                &label,
                Duration::from_secs(timeout),
                Some(api),
                &retention(sim),
            ) {
                Ok(id) => {
                    *sim.counters
                        .lock()
                        .txn_api_by_status
                        .entry("OK".into())
                        .or_default() += 1;
                    Outcome::Respond(txn_json(serde_json::json!({
                        "Status": "OK", "Message": "", "Label": label, "TxnId": id, "BeginTxnTimeMs": 0
                    })))
                }
                Err(BeginError::LabelExists { existing }) => {
                    *sim.counters
                        .lock()
                        .txn_api_by_status
                        .entry("LABEL_ALREADY_EXISTS".into())
                        .or_default() += 1;
                    Outcome::Respond(txn_json(serde_json::json!({
                        "Status": "LABEL_ALREADY_EXISTS",
                        "ExistingJobStatus": existing.existing_job_status(),
                        "Message": format!("Label [{label}] has already been used."),
                    })))
                }
                Err(BeginError::TooManyRunning { running, limit }) => Outcome::Respond(txn_status(
                    sim,
                    "FAILED",
                    &format!(
                        "current running txns on db {} is {running}, larger than limit {limit}",
                        sim.catalog.db_id(&db).unwrap_or(0)
                    ),
                    &label,
                    None,
                )),
            }
        }
        "load" => txn_load(sim, be_idx, req, conn, &db, &label),
        "prepare" => {
            let r = sim.txns.with_label(&db, &label, |t| {
                let id = t.id;
                let state = t.state;
                let Some(a) = t.api.as_mut() else {
                    return Err(("FAILED", "Transcation State Invalid".to_string(), id));
                };
                if a.busy {
                    return Err(("TXN_IN_PROCESSING", "Transaction in processing".into(), id));
                }
                match state {
                    TxnState::Prepare => {
                        t.state = TxnState::Prepared;
                        let a = t.api.as_mut().expect("checked");
                        a.prepared_at = Some(Instant::now());
                        if let Some(p) = req.header("prepared_timeout").and_then(|v| v.parse().ok())
                        {
                            a.prepared_timeout = Duration::from_secs(p);
                        }
                        Ok((
                            id,
                            a.total_rows,
                            a.loaded_rows,
                            a.filtered_rows,
                            a.load_bytes,
                        ))
                    }
                    TxnState::Prepared => Ok((
                        id,
                        a.total_rows,
                        a.loaded_rows,
                        a.filtered_rows,
                        a.load_bytes,
                    )),
                    TxnState::Aborted => Err((
                        "FAILED",
                        format!("transaction {id} is already aborted: {}", t.reason),
                        id,
                    )),
                    _ => Err(("FAILED", "Transcation State Invalid".into(), id)),
                }
            });
            Outcome::Respond(match r {
                None => txn_status(sim, "TXN_NOT_EXISTS", "Transcation Not Exist", &label, None),
                Some(Err((s, m, id))) => txn_status(sim, s, &m, &label, Some(id)),
                Some(Ok((id, total, loaded, filtered, bytes))) => {
                    *sim.counters
                        .lock()
                        .txn_api_by_status
                        .entry("OK".into())
                        .or_default() += 1;
                    txn_json(serde_json::json!({
                        "TxnId": id, "Label": label, "Status": "OK", "Message": "",
                        "NumberTotalRows": total, "NumberLoadedRows": loaded, "NumberFilteredRows": filtered,
                        "NumberUnselectedRows": 0, "LoadBytes": bytes, "LoadTimeMs": 0,
                        "StreamLoadPutTimeMs": 0, "ReceivedDataTimeMs": 0, "WriteDataTimeMs": 0, "CommitAndPublishTimeMs": 0
                    }))
                }
            })
        }
        "commit" => {
            let taken = sim.txns.with_label(&db, &label, |t| {
                let id = t.id;
                let table = t.table.clone();
                match (t.state, t.api.as_mut()) {
                    (_, None) => Err(("FAILED", "Transcation State Invalid".to_string(), id)),
                    (_, Some(a)) if a.busy => {
                        Err(("TXN_IN_PROCESSING", "Transaction in processing".into(), id))
                    }
                    (TxnState::Committed | TxnState::Visible, _) => {
                        Err(("OK", "Transaction already commited".into(), id))
                    }
                    (TxnState::Aborted, _) => Err((
                        "FAILED",
                        format!("transaction {id} is already aborted: {}", t.reason),
                        id,
                    )),
                    (TxnState::Prepare | TxnState::Prepared, Some(a)) => {
                        // Commit implies prepare (§3.4); hold the txn busy while applying.
                        a.busy = true;
                        Ok((
                            id,
                            table,
                            std::mem::take(&mut a.loads),
                            a.total_rows,
                            a.loaded_rows,
                            a.filtered_rows,
                            a.load_bytes,
                        ))
                    }
                }
            });
            let (id, table, loads, total, loaded, filtered, bytes) = match taken {
                None => {
                    return Outcome::Respond(txn_status(
                        sim,
                        "TXN_NOT_EXISTS",
                        "Transcation Not Exist",
                        &label,
                        None,
                    ));
                }
                Some(Err((s, m, id))) => {
                    return Outcome::Respond(txn_status(sim, s, &m, &label, Some(id)));
                }
                Some(Ok(v)) => v,
            };
            let started = Instant::now();
            let result = match sim.catalog.table(&db, &table) {
                Ok(t) => commit(sim, &db, &table, &t, id, loads, None, &limits),
                Err(_) => Err(format!("unknown table \"{db}.{table}\"")),
            };
            sim.txns.with_label(&db, &label, |t| {
                if let Some(a) = t.api.as_mut() {
                    a.busy = false;
                }
            });
            // The load log records what happened to the data, whatever the answer says.
            let outcome = match &result {
                Ok(true) => TxnState::Visible,
                Ok(false) => TxnState::Committed,
                Err(_) => TxnState::Aborted,
            };
            sim.loadlog
                .resolve_txn(&db, id, outcome.name(), crate::loadlog::now_ms());
            match result {
                Err(msg) => {
                    sim.txns.set_state(&db, id, TxnState::Aborted, &msg);
                    Outcome::Respond(txn_status(sim, "INTERNAL_ERROR", &msg, &label, Some(id)))
                }
                Ok(_) if commit_fails => Outcome::Respond(txn_status(
                    sim,
                    "INTERNAL_ERROR",
                    &format!("transaction with op commit label {label} has no backend"),
                    &label,
                    Some(id),
                )),
                Ok(visible) => {
                    let status = if visible { "OK" } else { "PUBLISH_TIMEOUT" };
                    *sim.counters
                        .lock()
                        .txn_api_by_status
                        .entry(status.into())
                        .or_default() += 1;
                    {
                        let mut c = sim.counters.lock();
                        c.rows_loaded += loaded;
                        c.rows_total += total;
                        c.rows_filtered += filtered;
                        c.bytes_loaded += bytes;
                        *c.loads_by_status.entry("Success".into()).or_default() += 1;
                    }
                    Outcome::Respond(txn_json(serde_json::json!({
                        "TxnId": id, "Label": label, "Status": status, "Message": "",
                        "NumberTotalRows": total, "NumberLoadedRows": loaded, "NumberFilteredRows": filtered,
                        "NumberUnselectedRows": 0, "LoadBytes": bytes, "LoadTimeMs": started.elapsed().as_millis() as u64,
                        "StreamLoadPutTimeMs": 0, "ReceivedDataTimeMs": 0, "WriteDataTimeMs": 0,
                        "CommitAndPublishTimeMs": started.elapsed().as_millis() as u64
                    })))
                }
            }
        }
        "rollback" => {
            let r = sim.txns.with_label(&db, &label, |t| {
                let id = t.id;
                match t.state {
                    TxnState::Prepare | TxnState::Prepared => {
                        t.state = TxnState::Aborted;
                        t.reason = "transaction is aborted by user.".into();
                        if let Some(a) = t.api.as_mut() {
                            a.loads.clear();
                        }
                        Ok(id)
                    }
                    TxnState::Aborted => Ok(id),
                    _ => Err(("FAILED", "Transcation State Invalid".to_string(), id)),
                }
            });
            Outcome::Respond(match r {
                None => txn_status(sim, "TXN_NOT_EXISTS", "Transcation Not Exist", &label, None),
                Some(Err((s, m, id))) => txn_status(sim, s, &m, &label, Some(id)),
                Some(Ok(id)) => {
                    sim.loadlog.resolve_txn(
                        &db,
                        id,
                        TxnState::Aborted.name(),
                        crate::loadlog::now_ms(),
                    );
                    txn_status(sim, "OK", "", &label, Some(id))
                }
            })
        }
        _ => Outcome::Respond(Response::text(404, "Not Found")),
    }
}

fn txn_load(
    sim: &Arc<Sim>,
    be_idx: usize,
    req: &Request,
    conn: &mut Option<Conn>,
    db: &str,
    label: &str,
) -> Outcome {
    let started = Instant::now();
    let log = TxnLoadLog::open(sim, req, db, label);
    let params: LoadParams = match stream_load::parse_params(req) {
        Ok(p) => p,
        Err(e) => {
            log.refused("FAILED", -1);
            return Outcome::Respond(txn_status(sim, "FAILED", &e.0, label, None));
        }
    };
    let claimed = sim.txns.with_label(db, label, |t| {
        let id = t.id;
        let table = t.table.clone();
        match (t.state, t.api.as_mut()) {
            (TxnState::Prepare, Some(a)) if !a.busy => {
                a.busy = true;
                a.last_activity = Instant::now();
                Ok((id, table))
            }
            (TxnState::Prepare, Some(_)) => Err((
                "TXN_IN_PROCESSING",
                "Transaction in processing".to_string(),
                id,
            )),
            _ => Err(("FAILED", "Transcation State Invalid".to_string(), id)),
        }
    });
    let (txn_id, table) = match claimed {
        None => {
            log.refused("TXN_NOT_EXISTS", -1);
            return Outcome::Respond(txn_status(
                sim,
                "TXN_NOT_EXISTS",
                "Transcation Not Exist",
                label,
                None,
            ));
        }
        Some(Err((s, m, id))) => {
            log.refused(s, id);
            return Outcome::Respond(txn_status(sim, s, &m, label, Some(id)));
        }
        Some(Ok(v)) => v,
    };
    log.table(&table);
    let release = |prepared: Option<Prepared>| {
        sim.txns.with_label(db, label, |t| {
            if let Some(a) = t.api.as_mut() {
                a.busy = false;
                a.last_activity = Instant::now();
                if let Some(p) = prepared {
                    a.seq += 1;
                    a.total_rows += p.total;
                    a.loaded_rows += p.loaded();
                    a.filtered_rows += p.filtered;
                    a.unselected_rows += p.unselected;
                    a.loads.push(p);
                }
            }
        });
    };
    let result = (|| -> Result<(Prepared, u64), String> {
        let t = sim.catalog.table(db, &table).map_err(|e| e.to_string())?;
        let meta = t.lock().meta.clone();
        let plan = stream_load::plan(&params, meta).map_err(|e| e.0)?;
        let c = conn.as_mut().ok_or("connection gone")?;
        if req.expects_continue() {
            c.send_continue().map_err(|e| e.to_string())?;
        }
        let body = c
            .read_body(sim.limits.read().streaming_load_max_mb * 1024 * 1024)
            .map_err(|e| e.to_string())?;
        let bytes = body.len() as u64;
        let body = match params.compression {
            Some(comp) => stream_load::decompress(comp, body).map_err(|e| e.0)?,
            None => body,
        };
        let p = stream_load::process(&params, &plan, &body).map_err(|e| e.0)?;
        Ok((p, bytes))
    })();
    match result {
        Err(msg) => {
            release(None);
            log.refused("FAILED", txn_id);
            Outcome::Respond(txn_status(sim, "FAILED", &msg, label, Some(txn_id)))
        }
        Ok((p, bytes)) => {
            let error_url = (p.filtered > 0).then(|| sim.store_error_log(&p.error_rows, be_idx));
            let selected = p.total - p.unselected;
            if selected > 0 && p.filtered as f64 / selected as f64 > params.max_filter_ratio {
                release(None);
                log.refused("FAILED", txn_id);
                let mut v = serde_json::json!({
                    "TxnId": txn_id, "Label": label, "Status": "FAILED", "Message": "too many filtered rows",
                    "NumberTotalRows": p.total, "NumberLoadedRows": p.loaded(), "NumberFilteredRows": p.filtered,
                    "NumberUnselectedRows": p.unselected, "LoadBytes": bytes,
                });
                if let Some(u) = error_url {
                    v["ErrorURL"] = u.into();
                }
                return Outcome::Respond(txn_json(v));
            }
            let (total, loaded, filtered, unselected) =
                (p.total, p.loaded(), p.filtered, p.unselected);
            release(Some(p));
            log.accepted(txn_id, loaded, filtered);
            let seq = sim
                .txns
                .with_label(db, label, |t| t.api.as_ref().map(|a| a.seq).unwrap_or(0))
                .unwrap_or(0);
            *sim.counters
                .lock()
                .txn_api_by_status
                .entry("OK".into())
                .or_default() += 1;
            let mut v = serde_json::json!({
                "TxnId": txn_id, "Seq": seq, "Label": label, "Status": "OK", "Message": "",
                "NumberTotalRows": total, "NumberLoadedRows": loaded, "NumberFilteredRows": filtered,
                "NumberUnselectedRows": unselected, "LoadBytes": bytes,
                "LoadTimeMs": started.elapsed().as_millis() as u64, "StreamLoadPutTimeMs": 0, "ReceivedDataTimeMs": 0,
            });
            if let Some(u) = error_url {
                v["ErrorURL"] = u.into();
            }
            Outcome::Respond(txn_json(v))
        }
    }
}
