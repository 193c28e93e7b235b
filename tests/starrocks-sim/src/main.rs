//! starrocks-sim: an in-memory StarRocks emulator for starpipe's tests.
//!
//! `starrocks-sim --fe-http ADDR --be-http ADDR --query ADDR --control ADDR [--user U --password P]`
//! prints `ready` once every listener accepts connections.

mod catalog;
mod control;
mod dml;
mod eval;
mod faults;
mod gate;
mod http;
mod http_be;
mod http_fe;
mod jsonval;
mod loadlog;
mod mysql_front;
mod nodes;
mod query;
mod sql;
mod state;
mod stream_load;
mod tls;
mod txn;
mod types;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use gate::{Gate, PortKind};
use state::{Limits, Sim, StaticConfig};

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("missing value for {0}")]
    MissingValue(String),
    #[error("unknown argument {0}")]
    Unknown(String),
    #[error("required argument {0} is missing")]
    Required(&'static str),
    #[error("invalid value for {0}: {1}")]
    Invalid(String, String),
    #[error("cannot listen on {0}: {1}")]
    Bind(String, std::io::Error),
    #[error("--tls-cert and --tls-key go together")]
    TlsPair,
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

struct Args {
    fe: String,
    be: Vec<String>,
    query: String,
    control: String,
    user: String,
    password: String,
    limits: Limits,
    /// PEM certificate chain and private key: FE/BE serve HTTPS, the MySQL front accepts TLS.
    tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

const USAGE: &str = "usage: starrocks-sim --fe-http ADDR --be-http ADDR [--be-http ADDR ...] --query ADDR --control ADDR \
[--user U] [--password P] [--schema-change-ms N] [--tablet-max-versions N] [--json-max-bytes N] [--discard] \
[--tls-cert FILE --tls-key FILE]";

fn parse_args() -> Result<Args, CliError> {
    let mut it = std::env::args().skip(1);
    let (mut fe, mut be, mut query, mut control) = (None, Vec::new(), None, None);
    let mut user = "root".to_string();
    let mut password = String::new();
    let mut limits = Limits::default();
    let (mut tls_cert, mut tls_key) = (None, None);
    while let Some(a) = it.next() {
        if a == "--help" || a == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut value = || -> Result<String, CliError> {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| CliError::MissingValue(name.clone()))
        };
        let num = |v: String| -> Result<u64, CliError> {
            v.parse().map_err(|_| CliError::Invalid(name.clone(), v))
        };
        match name.as_str() {
            "--fe-http" => fe = Some(value()?),
            "--be-http" => be.push(value()?),
            "--query" => query = Some(value()?),
            "--control" => control = Some(value()?),
            "--user" => user = value()?,
            "--password" => password = value()?,
            "--schema-change-ms" => limits.schema_change_ms = num(value()?)?,
            "--tablet-max-versions" => limits.tablet_max_versions = num(value()?)?,
            "--json-max-bytes" => limits.json_max_bytes = num(value()?)?,
            "--discard" => limits.discard = true,
            "--tls-cert" => tls_cert = Some(value()?.into()),
            "--tls-key" => tls_key = Some(value()?.into()),
            _ => return Err(CliError::Unknown(a)),
        }
    }
    if be.is_empty() {
        return Err(CliError::Required("--be-http"));
    }
    Ok(Args {
        fe: fe.ok_or(CliError::Required("--fe-http"))?,
        be,
        query: query.ok_or(CliError::Required("--query"))?,
        control: control.ok_or(CliError::Required("--control"))?,
        user,
        password,
        limits,
        tls: match (tls_cert, tls_key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => return Err(CliError::TlsPair),
        },
    })
}

fn bind(addr: &str) -> Result<(TcpListener, SocketAddr), CliError> {
    let l = TcpListener::bind(addr).map_err(|e| CliError::Bind(addr.into(), e))?;
    let a = l.local_addr().map_err(|e| CliError::Bind(addr.into(), e))?;
    Ok((l, a))
}

fn run() -> Result<(), CliError> {
    let args = parse_args()?;
    let tls = match &args.tls {
        Some((cert, key)) => Some(tls::TlsConfigs::load(cert, key)?),
        None => None,
    };
    // Bind everything first so `ready` means all listeners accept connections.
    let (fe_l, fe_addr) = bind(&args.fe)?;
    let mut bes = Vec::new();
    for b in &args.be {
        bes.push(bind(b)?);
    }
    let (q_l, query_addr) = bind(&args.query)?;
    let (c_l, _) = bind(&args.control)?;
    let sim = Arc::new(Sim::new(
        StaticConfig {
            user: args.user,
            password: args.password,
            fe_addr,
            be_addrs: bes.iter().map(|(_, a)| *a).collect(),
            query_addr,
            tls: tls.is_some(),
        },
        args.limits,
    ));
    let gate = |kind, l: &TcpListener, addr: &str| {
        Gate::new(kind, l).map_err(|e| CliError::Bind(addr.into(), e))
    };
    let fe_gate = gate(PortKind::Fe, &fe_l, &args.fe)?;
    let q_gate = gate(PortKind::Query, &q_l, &args.query)?;
    let c_gate = gate(PortKind::Control, &c_l, &args.control)?;
    let mut gates = vec![fe_gate.clone(), q_gate.clone()];
    let https = tls.as_ref().map(|t| t.http.clone());
    http::serve(
        &fe_gate,
        fe_l,
        Arc::new(http_fe::FeHandler { sim: sim.clone() }),
        https.clone(),
    );
    for (idx, ((l, _), addr)) in bes.into_iter().zip(&args.be).enumerate() {
        let be_gate = gate(PortKind::Be, &l, addr)?;
        gates.push(be_gate.clone());
        http::serve(
            &be_gate,
            l,
            Arc::new(http_be::BeHandler {
                sim: sim.clone(),
                idx,
            }),
            https.clone(),
        );
    }
    // The control API stays plain HTTP.
    http::serve(
        &c_gate,
        c_l,
        Arc::new(control::ControlHandler { sim: sim.clone() }),
        None,
    );
    mysql_front::serve(&q_gate, q_l, sim.clone(), tls.map(|t| t.mysql))
        .map_err(|e| CliError::Bind(args.query.clone(), e))?;
    let _ = sim.gates.set(gates);
    let mut out = std::io::stdout();
    let _ = writeln!(out, "ready");
    let _ = out.flush();
    loop {
        std::thread::park();
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("starrocks-sim: {e}\n{USAGE}");
        std::process::exit(2);
    }
}
