//! Fault rules for §9.4, set through the control API. A rule matches requests by place
//! (FE/BE/transaction API), operation, database/table/label glob, then fires on the nth
//! match, with a probability, and/or at most `times` times.

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// FE: before answering the 307.
    BeforeRedirect,
    /// BE: before `100 Continue` (or before reading the body).
    BeforeContinue,
    /// BE: while reading the body (slow body read).
    Body,
    /// BE: after the body, before commit (shows in `CommitAndPublishTimeMs`).
    BeforeCommit,
    /// BE: after commit, before the response is written.
    BeforeResponse,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum ResetPhase {
    BeforeContinue,
    MidBody,
    /// After the whole body, while the transaction still runs: the client sees the reset, the
    /// load goes on and commits (after any `before_commit` latency), as a BE that has the whole
    /// body does when a proxy or the network drops the client's connection (§9.4 #4 and #8:
    /// `Label Already Exists` + `RUNNING`, then `VISIBLE`).
    BeforeCommit,
    AfterCommit,
    AfterAbort,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultAction {
    Latency {
        ms: u64,
        phase: Phase,
    },
    HttpError {
        status: u16,
        #[serde(default)]
        body: String,
    },
    Reset {
        phase: ResetPhase,
    },
    /// FE answers 307 to this location (e.g. a dead BE `http://127.0.0.1:1`).
    RedirectTo {
        location: String,
    },
    /// FE redirects to itself.
    RedirectLoop,
    /// FE answers `{"Status":"FAILED","Message":...}` (e.g. `No backend alive.`).
    FeFailed {
        message: String,
    },
    /// FE answers 401.
    Unauthorized,
    /// BE commits but the data becomes visible only after `visible_after_ms`.
    PublishTimeout {
        visible_after_ms: u64,
    },
    /// BE answers `Label Already Exists` with this `ExistingJobStatus`, without a txn.
    /// `new_style: true` answers the newer `Fail` + `Label [..] has already been used.` form.
    LabelExists {
        existing_job_status: String,
        #[serde(default)]
        new_style: bool,
    },
    /// BE aborts the load with this message after reading the body.
    Fail {
        message: String,
    },
    TooManyVersions,
    MemoryLimit,
    /// Marks the first `count` rows of the load as filtered; with `matching`, only rows with a
    /// value matching that glob (a value StarRocks would reject, deterministically by content).
    FilterRows {
        #[serde(default)]
        count: u64,
        #[serde(default)]
        matching: Option<String>,
    },
    /// Transaction API answers this `Status`/`Message` without doing anything.
    TxnStatus {
        status: String,
        #[serde(default)]
        message: String,
    },
    /// Transaction API commit: commit the txn but answer a failure (FE restart case).
    CommitFailsAfterCommit,
    /// Drops an upsert that follows a delete of the same key within one load (§9.4 #19).
    DropReupsertAfterDelete,
    /// MySQL front: drop the connection instead of answering (§9.4 #18).
    DropConnection,
    /// Response body variants (§9.4 #17): `put_time`, `lowercase`, `truncated`, `invalid_json`.
    ResponseVariant {
        variant: String,
    },
    /// FE `get_load_state`: answer this `state` whatever the label's real state is (with
    /// `times`, a label that stays RUNNING/PREPARE for a while).
    LoadState {
        state: LabelState,
    },
    /// MySQL front, a column ALTER (matched on its SQL text through `label`): the job it
    /// submits ends CANCELLED with `message` as `Msg` instead of FINISHED.
    CancelSchemaChange {
        #[serde(default = "schema_change_failure")]
        message: String,
    },
}

/// The `Msg` of a schema-change job whose BE tasks keep failing (`SchemaChangeJobV2`).
fn schema_change_failure() -> String {
    "schema change task failed after try three times: fault injected by starrocks-sim".into()
}

/// The states `get_load_state` can answer (§3.3).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LabelState {
    Unknown,
    Prepare,
    Prepared,
    Committed,
    Visible,
    Aborted,
}

impl LabelState {
    pub fn name(&self) -> &'static str {
        match self {
            LabelState::Unknown => "UNKNOWN",
            LabelState::Prepare => "PREPARE",
            LabelState::Prepared => "PREPARED",
            LabelState::Committed => "COMMITTED",
            LabelState::Visible => "VISIBLE",
            LabelState::Aborted => "ABORTED",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FaultRule {
    #[serde(default)]
    pub id: u64,
    /// `fe`, `be`, `txn`, `mysql` or `any`. For `mysql` rules `label` matches the SQL text.
    #[serde(default = "any")]
    pub target: String,
    /// `stream_load`, `begin`, `load`, `prepare`, `commit`, `rollback`, `get_load_state`.
    #[serde(default)]
    pub op: Option<String>,
    #[serde(default)]
    pub db: Option<String>,
    #[serde(default)]
    pub table: Option<String>,
    #[serde(default)]
    pub label: Option<String>,
    /// Fire only on the nth matching request (1-based).
    #[serde(default)]
    pub nth: Option<u64>,
    #[serde(default)]
    pub probability: Option<f64>,
    /// Fire at most this many times.
    #[serde(default)]
    pub times: Option<u64>,
    pub action: FaultAction,
    #[serde(default)]
    pub matched: u64,
    #[serde(default)]
    pub fired: u64,
}

fn any() -> String {
    "any".into()
}

pub struct FaultCtx<'a> {
    pub target: &'a str,
    pub op: &'a str,
    pub db: &'a str,
    pub table: &'a str,
    pub label: &'a str,
}

#[derive(Default)]
pub struct Faults {
    inner: Mutex<FaultsInner>,
}

#[derive(Default)]
struct FaultsInner {
    rules: Vec<FaultRule>,
    next_id: u64,
    rng: u64,
}

pub fn glob(pat: &str, s: &str) -> bool {
    fn rec(p: &[u8], s: &[u8]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some(b'*') => (0..=s.len()).any(|i| rec(&p[1..], &s[i..])),
            Some(b'?') => !s.is_empty() && rec(&p[1..], &s[1..]),
            Some(c) => s.first() == Some(c) && rec(&p[1..], &s[1..]),
        }
    }
    rec(pat.as_bytes(), s.as_bytes())
}

impl Faults {
    pub fn add(&self, mut rule: FaultRule) -> u64 {
        let mut g = self.inner.lock();
        g.next_id += 1;
        rule.id = g.next_id;
        rule.matched = 0;
        rule.fired = 0;
        let id = rule.id;
        g.rules.push(rule);
        id
    }

    pub fn remove(&self, id: u64) -> bool {
        let mut g = self.inner.lock();
        let before = g.rules.len();
        g.rules.retain(|r| r.id != id);
        before != g.rules.len()
    }

    pub fn clear(&self) {
        self.inner.lock().rules.clear();
    }

    pub fn list(&self) -> Vec<FaultRule> {
        self.inner.lock().rules.clone()
    }

    /// Returns the action of the first rule that matches `ctx`, whose action satisfies
    /// `wanted` (the hook point's kinds), and that decides to fire now.
    pub fn take(
        &self,
        ctx: &FaultCtx<'_>,
        wanted: impl Fn(&FaultAction) -> bool,
    ) -> Option<FaultAction> {
        self.take_n(ctx, wanted, 1).pop()
    }

    /// Every matching rule that fires, each at most once (one hook point of one request).
    pub fn take_all(
        &self,
        ctx: &FaultCtx<'_>,
        wanted: impl Fn(&FaultAction) -> bool,
    ) -> Vec<FaultAction> {
        self.take_n(ctx, wanted, usize::MAX)
    }

    fn take_n(
        &self,
        ctx: &FaultCtx<'_>,
        wanted: impl Fn(&FaultAction) -> bool,
        max: usize,
    ) -> Vec<FaultAction> {
        let mut g = self.inner.lock();
        if g.rules.is_empty() {
            return Vec::new();
        }
        if g.rng == 0 {
            g.rng = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1;
        }
        let mut rng = g.rng;
        let mut result = Vec::new();
        for r in g.rules.iter_mut() {
            if result.len() >= max {
                break;
            }
            if !wanted(&r.action) {
                continue;
            }
            if r.target != "any" && r.target != ctx.target {
                continue;
            }
            if r.op.as_deref().is_some_and(|o| o != ctx.op) {
                continue;
            }
            if r.db.as_deref().is_some_and(|p| !glob(p, ctx.db))
                || r.table.as_deref().is_some_and(|p| !glob(p, ctx.table))
                || r.label.as_deref().is_some_and(|p| !glob(p, ctx.label))
            {
                continue;
            }
            r.matched += 1;
            if r.nth.is_some_and(|n| n != r.matched) {
                continue;
            }
            if r.times.is_some_and(|t| r.fired >= t) {
                continue;
            }
            if let Some(p) = r.probability {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                if (rng % 1_000_000) as f64 / 1_000_000.0 >= p {
                    continue;
                }
            }
            r.fired += 1;
            result.push(r.action.clone());
        }
        g.rng = rng;
        result
    }
}
