//! FE HTTP listener (§1.1–1.3, §9.1): authentication, the 100-continue requirement, the 307
//! redirect to a BE, `get_load_state`, `_cancel`, and the FE half of the transaction API.

use std::sync::Arc;

use crate::faults::{FaultAction, FaultCtx, Phase, ResetPhase};
use crate::http::{Conn, Handler, Outcome, Request, Response};
use crate::state::{AuthError, Sim};
use crate::txn::TxnState;

pub struct FeHandler {
    pub sim: Arc<Sim>,
}

/// FE generic result shape (lower-case keys, `RestBaseResult`).
fn fe_result(status: &str, msg: &str) -> String {
    let code = if status == "OK" { "0" } else { "1" };
    serde_json::json!({"status": status, "code": code, "msg": msg, "message": msg}).to_string()
}

fn fe_failed_upper(msg: &str) -> Response {
    Response::json(
        200,
        serde_json::json!({"Status": "FAILED", "Message": msg}).to_string(),
    )
    .closing()
}

fn unauthorized(msg: &str) -> Response {
    Response::json(401, fe_result("FAILED", msg))
        .with_header("WWW-Authenticate", "Basic realm=\"\"")
        .closing()
}

impl FeHandler {
    fn auth(&self, req: &Request) -> Result<(), Response> {
        match self.sim.check_basic(req.header("authorization")) {
            Ok(_) => Ok(()),
            Err(AuthError::Missing) => Err(unauthorized(
                "Access denied for user 'anonymous'. Need a valid Basic authorization header.",
            )),
            Err(AuthError::Denied(u)) => Err(unauthorized(&format!(
                "Access denied for user '{}'@'{}' (using password: YES)",
                u,
                req.peer.ip()
            ))),
        }
    }

    fn redirect(&self, be: usize, req: &Request) -> Response {
        self.sim.counters.lock().fe_redirects += 1;
        let location = format!("{}{}", self.sim.be_url(be), req.path_and_query());
        Response {
            status: 307,
            headers: vec![("Location".into(), location)],
            body: Vec::new(),
            close: true,
        }
    }

    /// 307 back to this FE with the same path and query (a redirect loop).
    fn redirect_to_self(&self, req: &Request) -> Response {
        redirect_to(
            &format!("{}://{}", self.sim.cfg.scheme(), self.sim.cfg.fe_addr),
            req,
        )
    }

    fn stream_load(
        &self,
        req: &Request,
        conn: &mut Option<Conn>,
        db: &str,
        table: &str,
    ) -> Outcome {
        if let Err(r) = self.auth(req) {
            return Outcome::Respond(r);
        }
        if req.version == 1 && !req.expects_continue() {
            return Outcome::Respond(fe_failed_upper(
                "class com.starrocks.common.DdlException: There is no 100-continue header",
            ));
        }
        if db.is_empty() {
            return Outcome::Respond(fe_failed_upper("No database selected."));
        }
        if table.is_empty() {
            return Outcome::Respond(fe_failed_upper("No table selected."));
        }
        let label = req.header("label").unwrap_or("");
        let ctx = FaultCtx {
            target: "fe",
            op: "stream_load",
            db,
            table,
            label,
        };
        for a in self.sim.faults.take_all(&ctx, |a| {
            matches!(
                a,
                FaultAction::Latency {
                    phase: Phase::BeforeRedirect,
                    ..
                } | FaultAction::HttpError { .. }
                    | FaultAction::Reset {
                        phase: ResetPhase::BeforeContinue
                    }
                    | FaultAction::RedirectTo { .. }
                    | FaultAction::RedirectLoop
                    | FaultAction::FeFailed { .. }
                    | FaultAction::Unauthorized
            )
        }) {
            self.sim.counters.lock().faults_fired += 1;
            match a {
                FaultAction::Latency { ms, .. } => {
                    std::thread::sleep(std::time::Duration::from_millis(ms))
                }
                FaultAction::HttpError { status, body } => {
                    return Outcome::Respond(Response::text(status, body).closing());
                }
                FaultAction::Reset { .. } => {
                    if let Some(c) = conn.take() {
                        c.reset();
                    }
                    return Outcome::Done;
                }
                FaultAction::RedirectTo { location } => {
                    return Outcome::Respond(redirect_to(&location, req));
                }
                FaultAction::RedirectLoop => {
                    return Outcome::Respond(self.redirect_to_self(req));
                }
                FaultAction::FeFailed { message } => {
                    return Outcome::Respond(fe_failed_upper(&message));
                }
                FaultAction::Unauthorized => {
                    return Outcome::Respond(unauthorized("Access denied for user 'root'"));
                }
                _ => {}
            }
        }
        match self.sim.pick_be() {
            None => Outcome::Respond(fe_failed_upper("No backend alive.")),
            Some(be) => Outcome::Respond(self.redirect(be, req)),
        }
    }

    fn load_state(&self, req: &Request, db: &str) -> Response {
        let Some(label) = req.query_param("label") else {
            return Response::json(200, fe_result("FAILED", "No label selected."));
        };
        let ctx = FaultCtx {
            target: "fe",
            op: "get_load_state",
            db,
            table: "",
            label: &label,
        };
        let mut forced = None;
        for a in self.sim.faults.take_all(&ctx, |a| {
            matches!(
                a,
                FaultAction::HttpError { .. }
                    | FaultAction::FeFailed { .. }
                    | FaultAction::Latency { .. }
                    | FaultAction::RedirectTo { .. }
                    | FaultAction::RedirectLoop
                    | FaultAction::LoadState { .. }
            )
        }) {
            self.sim.counters.lock().faults_fired += 1;
            match a {
                FaultAction::Latency { ms, .. } => {
                    std::thread::sleep(std::time::Duration::from_millis(ms))
                }
                FaultAction::HttpError { status, body } => return Response::text(status, body),
                FaultAction::FeFailed { message } => {
                    return Response::json(200, fe_result("FAILED", &message));
                }
                // A follower FE sends get_load_state to the leader with a 307 (§1.1, §2.4).
                FaultAction::RedirectTo { location } => return redirect_to(&location, req),
                FaultAction::RedirectLoop => return self.redirect_to_self(req),
                FaultAction::LoadState { state } => forced = Some(state),
                _ => {}
            }
        }
        if !self.sim.catalog.db_exists(db) {
            return Response::json(
                200,
                fe_result("FAILED", &format!("unknown database, database={db}")),
            );
        }
        let state = match forced {
            Some(s) => s.name(),
            None => label_state(&self.sim, db, &label),
        };
        let body = serde_json::json!({
            "state": state, "status": "OK", "code": "0", "msg": "Success", "message": "Success"
        });
        Response::json(200, body.to_string())
    }

    fn cancel(&self, req: &Request, db: &str) -> Response {
        let Some(label) = req.query_param("label") else {
            return Response::json(200, fe_result("FAILED", "No label selected."));
        };
        let r = self.sim.txns.with_label(db, &label, |t| {
            if matches!(t.state, TxnState::Prepare | TxnState::Prepared) {
                t.state = TxnState::Aborted;
                t.reason = "cancelled".into();
                if let Some(a) = t.api.as_mut() {
                    a.loads.clear();
                }
                Ok(t.id)
            } else {
                Err(format!(
                    "txn {} is in state {}, can not cancel",
                    t.id,
                    t.state.name()
                ))
            }
        });
        match r {
            Some(Ok(id)) => {
                self.sim.loadlog.resolve_txn(
                    db,
                    id,
                    TxnState::Aborted.name(),
                    crate::loadlog::now_ms(),
                );
                Response::json(200, fe_result("OK", "Success"))
            }
            Some(Err(m)) => Response::json(200, fe_result("FAILED", &m)),
            None => Response::json(
                200,
                fe_result("FAILED", &format!("Load job [{label}] does not exist")),
            ),
        }
    }

    fn transaction(&self, req: &Request, op: &str) -> Response {
        if let Err(r) = self.auth(req) {
            return r;
        }
        let label = req.header("label").unwrap_or("");
        let db = req.header("db").unwrap_or("");
        // No `Expect: 100-continue` requirement here: StarRocks' TransactionLoadAction (unlike the
        // Stream Load LoadAction) never checks it, and clients such as the Flink connector send
        // `begin` without a body, hence without `Expect`.
        if label.is_empty() {
            return fe_failed_upper("No label selected.");
        }
        if db.is_empty() {
            return fe_failed_upper("No database selected.");
        }
        if !matches!(op, "begin" | "load" | "prepare" | "commit" | "rollback") {
            return fe_failed_upper(&format!("Invalid transaction operation {op}"));
        }
        if op == "begin" {
            return match self.sim.pick_be() {
                None => fe_failed_upper("No backend alive."),
                Some(be) => self.redirect(be, req),
            };
        }
        // Later calls go to the BE the label is bound to.
        match self
            .sim
            .txns
            .with_label(db, label, |t| t.api.as_ref().map(|a| a.be))
            .flatten()
        {
            Some(be) => self.redirect(be, req),
            None => fe_failed_upper(&format!(
                "transaction with op {op} label {label} has no backend"
            )),
        }
    }
}

/// 307 to `location`: a bare `http://host:port` gets the request's path and query appended,
/// a URL that has a path is used verbatim. The FE closes the connection after it.
fn redirect_to(location: &str, req: &Request) -> Response {
    let has_path = location
        .split_once("://")
        .is_some_and(|(_, rest)| rest.trim_end_matches('/').contains('/'));
    let loc = if has_path {
        location.to_string()
    } else {
        format!("{}{}", location.trim_end_matches('/'), req.path_and_query())
    };
    Response {
        status: 307,
        headers: vec![("Location".into(), loc)],
        body: Vec::new(),
        close: true,
    }
}

/// Label state for `get_load_state`; a COMMITTED txn whose publish is due becomes VISIBLE.
pub fn label_state(sim: &Sim, db: &str, label: &str) -> &'static str {
    match sim.txns.label_state(db, label) {
        None => "UNKNOWN",
        Some((_, TxnState::Committed)) => {
            let table = sim.txns.with_label(db, label, |t| t.table.clone());
            if let Some(t) = table.and_then(|t| sim.catalog.table(db, &t).ok()) {
                crate::http_be::publish_now(sim, db, &t);
            }
            sim.txns
                .label_state(db, label)
                .map(|(_, s)| s.name())
                .unwrap_or("UNKNOWN")
        }
        Some((_, s)) => s.name(),
    }
}

impl Handler for FeHandler {
    fn handle(&self, req: Request, conn: &mut Option<Conn>) -> Outcome {
        self.sim.counters.lock().fe_requests += 1;
        // Like StarRocks' FE (its `PathTrie` with `WebUtils.REST_DECODER`), each path segment is
        // percent-decoded, `+` as a space. The redirect keeps the raw path: the BE does not
        // decode it.
        let decoded: Vec<String> = req
            .path
            .trim_start_matches('/')
            .split('/')
            .map(crate::http::percent_decode)
            .collect();
        let parts: Vec<&str> = decoded.iter().map(String::as_str).collect();
        match parts.as_slice() {
            ["api", db, table, "_stream_load"] => {
                if req.method != "PUT" {
                    return Outcome::Respond(fe_failed_upper("Not implemented"));
                }
                self.stream_load(&req, conn, db, table)
            }
            ["api", "transaction", op] => Outcome::Respond(self.transaction(&req, op)),
            ["api", db, "get_load_state"] => {
                if let Err(r) = self.auth(&req) {
                    return Outcome::Respond(r);
                }
                Outcome::Respond(self.load_state(&req, db))
            }
            ["api", db, _table, "_cancel"] => {
                if let Err(r) = self.auth(&req) {
                    return Outcome::Respond(r);
                }
                Outcome::Respond(self.cancel(&req, db))
            }
            ["api", "health"] => Outcome::Respond(Response::json(200, fe_result("OK", "Success"))),
            _ => Outcome::Respond(Response::text(404, "Not Found")),
        }
    }
}
