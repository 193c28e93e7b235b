//! The control API (README "Control API") from the test side: one client that starpipe's test
//! support, `perf/run` and the fault campaign share, as methods of [`SimProcess`].

use std::time::Duration;

use serde_json::Value;

use crate::launch::SimProcess;

/// A control request that failed: transport, a non-200 answer, or an unreadable body.
#[derive(Debug, thiserror::Error)]
#[error("starrocks-sim control {method} {path}: {why}")]
pub struct ControlError {
    method: &'static str,
    path: String,
    why: String,
}

/// Control requests are local and quick; a sim that does not answer within this is hung.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(30);

impl SimProcess {
    /// `GET path` (e.g. `/counters`), the answer's JSON.
    pub fn control_get(&self, path: &str) -> Result<Value, ControlError> {
        self.control("GET", path, None)
    }

    /// `POST path` with a JSON body, the answer's JSON.
    pub fn control_post(&self, path: &str, body: &Value) -> Result<Value, ControlError> {
        self.control("POST", path, Some(body))
    }

    /// `DELETE path`, the answer's JSON.
    pub fn control_delete(&self, path: &str) -> Result<Value, ControlError> {
        self.control("DELETE", path, None)
    }

    /// Adds a fault rule (`POST /faults`); its id.
    pub fn add_fault(&self, rule: &Value) -> Result<u64, ControlError> {
        let answer = self.control_post("/faults", rule)?;
        answer["id"].as_u64().ok_or_else(|| ControlError {
            method: "POST",
            path: "/faults".into(),
            why: format!("no id in {answer}"),
        })
    }

    /// Removes a fault rule; a rule that is already gone is not an error.
    pub fn remove_fault(&self, id: u64) -> Result<(), ControlError> {
        match self.control_delete(&format!("/faults/{id}")) {
            Ok(_) => Ok(()),
            Err(e) if e.why.starts_with("HTTP 404") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// How often each fault rule fired, by id (`GET /faults`).
    pub fn fired_counts(&self) -> Result<std::collections::HashMap<u64, u64>, ControlError> {
        let rules = self.control_get("/faults")?;
        Ok(rules
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| Some((r["id"].as_u64()?, r["fired"].as_u64().unwrap_or(0))))
            .collect())
    }

    /// The counters (`GET /counters`).
    pub fn counters(&self) -> Result<Value, ControlError> {
        self.control_get("/counters")
    }

    /// Takes `ports` (`fe`, `be`, `query`) down for `ms` (`POST /outage`): they refuse
    /// connections and drop open ones, as a StarRocks that is down would.
    pub fn start_outage(&self, ports: &[&str], ms: u64) -> Result<Value, ControlError> {
        self.control_post("/outage", &serde_json::json!({"ports": ports, "ms": ms}))
    }

    /// Whether an outage still holds a port down (`GET /outage`).
    pub fn outage_active(&self) -> Result<bool, ControlError> {
        Ok(self.control_get("/outage")?["active"] == true)
    }

    fn control(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ControlError> {
        let fail = |why: String| ControlError {
            method,
            path: path.to_string(),
            why,
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(CONTROL_TIMEOUT))
            .build()
            .into();
        let url = format!("http://{}{path}", self.control);
        let sent = match (method, body) {
            ("POST", Some(b)) => agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(b.to_string()),
            ("POST", None) => agent.post(&url).send_empty(),
            ("DELETE", _) => agent.delete(&url).call(),
            _ => agent.get(&url).call(),
        };
        let mut resp = sent.map_err(|e| fail(e.to_string()))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| fail(e.to_string()))?;
        if status != 200 {
            return Err(fail(format!("HTTP {status}: {text}")));
        }
        serde_json::from_str(&text).map_err(|e| fail(format!("{e}: {text}")))
    }
}
