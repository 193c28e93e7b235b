//! `SHOW FRONTENDS` and `SHOW BACKENDS` with the columns of StarRocks 3.3
//! (`FrontendsProcNode.TITLE_NAMES`, `BackendsProcDir.TITLE_NAMES`). The ports clients use are
//! the sim's real listeners; the others carry StarRocks' defaults.

use std::time::{Duration, SystemTime};

use crate::query::{STARROCKS_VERSION, show_time};
use crate::state::Sim;

/// StarRocks' default ports for the services the sim does not run.
const EDIT_LOG_PORT: u16 = 9010;
const RPC_PORT: u16 = 9020;
const HEARTBEAT_PORT: u16 = 9050;
const BE_PORT: u16 = 9060;
const BRPC_PORT: u16 = 8060;
const CLUSTER_ID: u32 = 1_652_468_471;

pub const FRONTEND_COLUMNS: &[&str] = &[
    "Name",
    "IP",
    "EditLogPort",
    "HttpPort",
    "QueryPort",
    "RpcPort",
    "Role",
    "ClusterId",
    "Join",
    "Alive",
    "ReplayedJournalId",
    "LastHeartbeat",
    "IsHelper",
    "ErrMsg",
    "StartTime",
    "Version",
];

pub const BACKEND_COLUMNS: &[&str] = &[
    "BackendId",
    "IP",
    "HeartbeatPort",
    "BePort",
    "HttpPort",
    "BrpcPort",
    "LastStartTime",
    "LastHeartbeat",
    "Alive",
    "SystemDecommissioned",
    "ClusterDecommissioned",
    "TabletNum",
    "DataUsedCapacity",
    "AvailCapacity",
    "TotalCapacity",
    "UsedPct",
    "MaxDiskUsedPct",
    "ErrMsg",
    "Version",
    "Status",
    "DataTotalCapacity",
    "DataUsedPct",
    "CpuCores",
    "MemLimit",
    "NumRunningQueries",
    "MemUsedPct",
    "CpuUsedPct",
    "DataCacheMetrics",
    "Location",
];

fn start_time(sim: &Sim) -> SystemTime {
    SystemTime::now() - sim.started.elapsed()
}

fn epoch_ms(t: SystemTime) -> u128 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis()
}

/// Version strings look like `3.3.0-<commit>`.
fn version() -> String {
    format!("{STARROCKS_VERSION}-starrocks-sim")
}

/// The sim's single FE: the leader, alive, with its HTTP and query ports.
pub fn frontends(sim: &Sim) -> Vec<Vec<Option<String>>> {
    let fe = sim.cfg.fe_addr;
    let started = start_time(sim);
    let row = [
        format!("{}_{EDIT_LOG_PORT}_{}", fe.ip(), epoch_ms(started)),
        fe.ip().to_string(),
        EDIT_LOG_PORT.to_string(),
        fe.port().to_string(),
        sim.cfg.query_addr.port().to_string(),
        RPC_PORT.to_string(),
        "LEADER".into(),
        CLUSTER_ID.to_string(),
        "true".into(),
        "true".into(),
        sim.catalog.journal_id().to_string(),
        show_time(SystemTime::now()),
        "true".into(),
        String::new(),
        show_time(started),
        version(),
    ];
    vec![row.into_iter().map(Some).collect()]
}

/// One row per `--be-http` listener; `Alive` follows the `be_alive` config.
pub fn backends(sim: &Sim) -> Vec<Vec<Option<String>>> {
    let alive = sim.limits.read().be_alive.clone();
    let started = show_time(start_time(sim));
    let tables = sim.catalog.table_count();
    sim.cfg
        .be_addrs
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let is_alive = alive.get(i).copied().unwrap_or(true);
            let row = [
                (10001 + i).to_string(),
                a.ip().to_string(),
                HEARTBEAT_PORT.to_string(),
                BE_PORT.to_string(),
                a.port().to_string(),
                BRPC_PORT.to_string(),
                started.clone(),
                show_time(SystemTime::now()),
                is_alive.to_string(),
                "false".into(),
                "false".into(),
                tables.to_string(),
                "0.000 B".into(),
                "1.000 TB".into(),
                "1.000 TB".into(),
                "0.00 %".into(),
                "0.00 %".into(),
                if is_alive {
                    String::new()
                } else {
                    "java.net.ConnectException: Connection refused".into()
                },
                version(),
                format!(
                    "{{\"lastSuccessReportTabletsTime\":\"{}\"}}",
                    show_time(SystemTime::now())
                ),
                "1.000 TB".into(),
                "0.00 %".into(),
                "2".into(),
                "8.000GB".into(),
                "0".into(),
                "0.00 %".into(),
                "0.0 %".into(),
                "N/A".into(),
                String::new(),
            ];
            row.into_iter().map(Some).collect()
        })
        .collect()
}
