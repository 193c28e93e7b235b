//! Control API (plain HTTP + JSON on its own port) for tests: faults, counters, table dumps,
//! limits/config, label cleaner, SQL. Documented in README.md.

use std::sync::Arc;

use crate::faults::FaultRule;
use crate::gate::{Gate, PortKind};
use crate::http::{Conn, Handler, Outcome, Request, Response};
use crate::loadlog::TxnOutcome;
use crate::query::{self, QueryResult, Session};
use crate::state::{Counters, Limits, Sim};

pub struct ControlHandler {
    pub sim: Arc<Sim>,
}

fn ok_json(v: serde_json::Value) -> Outcome {
    Outcome::Respond(Response::json(200, v.to_string()))
}

fn bad(status: u16, msg: impl Into<String>) -> Outcome {
    Outcome::Respond(Response::json(
        status,
        serde_json::json!({ "error": msg.into() }).to_string(),
    ))
}

impl Handler for ControlHandler {
    fn handle(&self, req: Request, conn: &mut Option<Conn>) -> Outcome {
        let body = match conn.as_mut() {
            Some(c) => match c.read_body(1 << 30) {
                Ok(b) => b,
                Err(e) => return bad(400, e.to_string()),
            },
            None => return Outcome::Done,
        };
        let sim = &self.sim;
        sim.catalog.tick_jobs();
        let path = req.path.clone();
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (req.method.as_str(), parts.as_slice()) {
            ("GET", ["health"]) => ok_json(serde_json::json!({"status": "ok"})),
            ("GET", ["faults"]) => {
                ok_json(serde_json::to_value(sim.faults.list()).unwrap_or_default())
            }
            ("POST", ["faults"]) => match serde_json::from_slice::<FaultRule>(&body) {
                Ok(rule) => ok_json(serde_json::json!({ "id": sim.faults.add(rule) })),
                Err(e) => bad(400, format!("invalid fault rule: {e}")),
            },
            ("DELETE", ["faults"]) => {
                sim.faults.clear();
                ok_json(serde_json::json!({"cleared": true}))
            }
            ("DELETE", ["faults", id]) => match id.parse::<u64>() {
                Ok(id) if sim.faults.remove(id) => ok_json(serde_json::json!({"removed": id})),
                _ => bad(404, "no such fault"),
            },
            ("GET", ["counters"]) => {
                let c = sim.counters.lock().clone();
                ok_json(serde_json::to_value(c).unwrap_or_default())
            }
            ("POST", ["counters", "reset"]) => {
                *sim.counters.lock() = Counters::default();
                ok_json(serde_json::json!({"reset": true}))
            }
            ("GET", ["config"]) => {
                ok_json(serde_json::to_value(sim.limits.read().clone()).unwrap_or_default())
            }
            ("POST", ["config"]) => {
                let patch: serde_json::Value = match serde_json::from_slice(&body) {
                    Ok(v) => v,
                    Err(e) => return bad(400, e.to_string()),
                };
                let mut cur = serde_json::to_value(sim.limits.read().clone()).unwrap_or_default();
                let (Some(obj), Some(p)) = (cur.as_object_mut(), patch.as_object()) else {
                    return bad(400, "config patch must be an object");
                };
                for (k, v) in p {
                    if !obj.contains_key(k) {
                        return bad(400, format!("unknown config key {k}"));
                    }
                    obj.insert(k.clone(), v.clone());
                }
                match serde_json::from_value::<Limits>(cur) {
                    Ok(l) => {
                        *sim.limits.write() = l.clone();
                        ok_json(serde_json::to_value(l).unwrap_or_default())
                    }
                    Err(e) => bad(400, e.to_string()),
                }
            }
            ("POST", ["labels", "clean"]) => {
                let removed = sim.txns.clean(&crate::http_be::retention(sim));
                ok_json(serde_json::json!({ "removed": removed }))
            }
            ("GET", ["labels", db, label]) => ok_json(serde_json::json!({
                "state": crate::http_fe::label_state(sim, db, label)
            })),
            ("POST", ["outage"]) => start_outage(sim, &body),
            ("GET", ["outage"]) => ok_json(outage_status(sim)),
            ("DELETE", ["outage"]) => {
                gates(sim).iter().for_each(|g| g.bring_up());
                ok_json(outage_status(sim))
            }
            ("GET", ["loads"]) => loads(sim),
            ("DELETE", ["loads"]) => ok_json(serde_json::json!({ "cleared": sim.loadlog.clear() })),
            ("GET", ["txns"]) => ok_json(serde_json::Value::Array(sim.txns.snapshot())),
            ("GET", ["tables", db, table]) => dump(sim, db, table),
            ("POST", ["sql"]) => {
                let v: serde_json::Value = match serde_json::from_slice(&body) {
                    Ok(v) => v,
                    Err(e) => return bad(400, e.to_string()),
                };
                let mut sess = Session {
                    db: v.get("db").and_then(|d| d.as_str()).map(String::from),
                    user: sim.cfg.user.clone(),
                    conn_id: 0,
                };
                let sql = v.get("sql").and_then(|s| s.as_str()).unwrap_or("");
                match query::execute(sim, &mut sess, sql) {
                    Ok(QueryResult::Ok { affected }) => {
                        ok_json(serde_json::json!({ "affected": affected }))
                    }
                    Ok(QueryResult::Dml { affected, info }) => {
                        ok_json(serde_json::json!({ "affected": affected, "info": info }))
                    }
                    Ok(QueryResult::Rows { columns, rows }) => ok_json(serde_json::json!({
                        "columns": columns.iter().map(|c| c.0.clone()).collect::<Vec<_>>(),
                        "rows": rows,
                    })),
                    Err(e) => bad(400, format!("ERROR {} (HY000): {}", e.code, e.msg)),
                }
            }
            _ => bad(404, "unknown control endpoint"),
        }
    }
}

/// Table dump for assertions: visible rows in key order, values typed as JSON.
fn dump(sim: &Sim, db: &str, table: &str) -> Outcome {
    let t = match sim.catalog.table(db, table) {
        Ok(t) => t,
        Err(e) => return bad(404, e.to_string()),
    };
    crate::http_be::publish_now(sim, db, &t);
    let td = t.lock();
    let meta = td.meta.clone();
    let rows: Vec<serde_json::Value> = td
        .rows
        .values()
        .map(|r| {
            serde_json::Value::Object(
                meta.columns
                    .iter()
                    .zip(r)
                    .map(|(c, v)| (c.name.clone(), v.to_json(Some(&c.ty))))
                    .collect(),
            )
        })
        .collect();
    ok_json(serde_json::json!({
        "columns": meta.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
        "keys": meta.key_names(),
        "version": td.version,
        "schema_version": meta.schema_version,
        "row_count": rows.len(),
        "rows": rows,
    }))
}

/// The load log, with open transaction-API loads brought up to date from the txn registry.
fn loads(sim: &Sim) -> Outcome {
    let entries = sim.loadlog.snapshot(|db, txn_id| {
        let (state, finished) = sim.txns.outcome(db, txn_id)?;
        Some(TxnOutcome {
            state: state.name(),
            finished_ms: finished
                .filter(|_| state.finished())
                .map(crate::loadlog::epoch_ms_of),
        })
    });
    // Serialised from the structs so the fields keep their documented order.
    let body = serde_json::to_string(&entries).unwrap_or_else(|_| "[]".into());
    Outcome::Respond(Response::json(200, body))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OutageRequest {
    /// `fe`, `be`, `query`; all three when absent. Never the control port.
    #[serde(default)]
    ports: Option<Vec<String>>,
    ms: u64,
}

fn gates(sim: &Sim) -> &[std::sync::Arc<Gate>] {
    sim.gates.get().map(|g| g.as_slice()).unwrap_or(&[])
}

fn start_outage(sim: &Sim, body: &[u8]) -> Outcome {
    let req: OutageRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => return bad(400, format!("invalid outage: {e}")),
    };
    let names = req
        .ports
        .unwrap_or_else(|| vec!["fe".into(), "be".into(), "query".into()]);
    let mut kinds = Vec::new();
    for n in &names {
        match PortKind::parse(n) {
            Some(k) => kinds.push(k),
            None => return bad(400, format!("unknown port {n}: use fe, be or query")),
        }
    }
    let until = std::time::Instant::now() + std::time::Duration::from_millis(req.ms);
    for g in gates(sim).iter().filter(|g| kinds.contains(&g.kind)) {
        g.take_down(until);
    }
    ok_json(outage_status(sim))
}

/// `{"active", "ports", "remaining_ms"}`: which kinds of port are down (or not yet bound
/// again) and for how much longer.
fn outage_status(sim: &Sim) -> serde_json::Value {
    let mut ports: Vec<&str> = Vec::new();
    let mut remaining = std::time::Duration::ZERO;
    for kind in [PortKind::Fe, PortKind::Be, PortKind::Query] {
        let down = gates(sim)
            .iter()
            .filter(|g| g.kind == kind)
            .filter_map(|g| g.outage_remaining())
            .max();
        if let Some(r) = down {
            ports.push(kind.name());
            remaining = remaining.max(r);
        }
    }
    serde_json::json!({
        "active": !ports.is_empty(),
        "ports": ports,
        "remaining_ms": remaining.as_millis() as u64,
    })
}
