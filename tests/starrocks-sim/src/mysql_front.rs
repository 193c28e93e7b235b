//! MySQL-protocol front on `--query` (§5.1, §9.3) using `opensrv-mysql`. The crate is async,
//! so this module alone runs a small current-thread tokio runtime on its own thread.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use opensrv_mysql::{
    AsyncMysqlIntermediary, AsyncMysqlShim, Column, ColumnFlags, ColumnType, ErrorKind, InitWriter,
    IntermediaryOptions, OkResponse, ParamParser, QueryResultWriter, StatementMetaWriter,
};
use sha1::{Digest, Sha1};
use tokio::io::AsyncWrite;
use tokio_rustls::rustls::ServerConfig;

use crate::gate::Gate;
use crate::query::{self, ColKind, QueryResult, Session};
use crate::state::Sim;

static CONN_IDS: AtomicU32 = AtomicU32::new(1);

struct Shim {
    sim: Arc<Sim>,
    sess: Session,
    salt: [u8; 20],
}

/// mysql_native_password: SHA1(pw) XOR SHA1(salt + SHA1(SHA1(pw))).
fn native_password_ok(password: &str, salt: &[u8], auth: &[u8]) -> bool {
    if password.is_empty() {
        return auth.is_empty();
    }
    let h1 = Sha1::digest(password.as_bytes());
    let h2 = Sha1::digest(h1);
    let mut h = Sha1::new();
    h.update(salt);
    h.update(h2);
    let h3 = h.finalize();
    let expected: Vec<u8> = h1.iter().zip(h3.iter()).map(|(a, b)| a ^ b).collect();
    expected == auth
}

#[async_trait::async_trait]
impl<W: AsyncWrite + Send + Unpin> AsyncMysqlShim<W> for Shim {
    type Error = io::Error;

    fn version(&self) -> String {
        self.sim.limits.read().server_version.clone()
    }

    fn connect_id(&self) -> u32 {
        self.sess.conn_id
    }

    fn salt(&self) -> [u8; 20] {
        self.salt
    }

    async fn authenticate(
        &self,
        _auth_plugin: &str,
        username: &[u8],
        salt: &[u8],
        auth_data: &[u8],
    ) -> bool {
        username == self.sim.cfg.user.as_bytes()
            && native_password_ok(&self.sim.cfg.password, salt, auth_data)
    }

    async fn on_prepare<'a>(
        &'a mut self,
        _query: &'a str,
        info: StatementMetaWriter<'a, W>,
    ) -> io::Result<()> {
        // StarRocks 2.5 behaviour (§9.3); the engine must use the text protocol.
        info.error(
            ErrorKind::ER_PARSE_ERROR,
            b"Unsupported command(COM_STMT_PREPARE)",
        )
        .await
    }

    async fn on_execute<'a>(
        &'a mut self,
        _id: u32,
        _params: ParamParser<'a>,
        results: QueryResultWriter<'a, W>,
    ) -> io::Result<()> {
        results
            .error(
                ErrorKind::ER_PARSE_ERROR,
                b"Unsupported command(COM_STMT_EXECUTE)",
            )
            .await
    }

    async fn on_close<'a>(&'a mut self, _stmt: u32)
    where
        W: 'async_trait,
    {
    }

    async fn on_init<'a>(&'a mut self, db: &'a str, writer: InitWriter<'a, W>) -> io::Result<()> {
        match query::execute(&self.sim, &mut self.sess, &format!("USE `{db}`")) {
            Ok(_) => writer.ok().await,
            Err(e) => {
                writer
                    .error(ErrorKind::from(e.code), e.msg.as_bytes())
                    .await
            }
        }
    }

    async fn on_query<'a>(
        &'a mut self,
        sql: &'a str,
        results: QueryResultWriter<'a, W>,
    ) -> io::Result<()> {
        let ctx = crate::faults::FaultCtx {
            target: "mysql",
            op: "query",
            db: self.sess.db.as_deref().unwrap_or(""),
            table: "",
            label: sql,
        };
        let fault = self.sim.faults.take(&ctx, |a| {
            matches!(
                a,
                crate::faults::FaultAction::Latency { .. }
                    | crate::faults::FaultAction::DropConnection
            )
        });
        match fault {
            Some(crate::faults::FaultAction::Latency { ms, .. }) => {
                self.sim.counters.lock().faults_fired += 1;
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            }
            Some(_) => {
                self.sim.counters.lock().faults_fired += 1;
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "fault: drop connection",
                ));
            }
            None => {}
        }
        match query::execute(&self.sim, &mut self.sess, sql) {
            Ok(QueryResult::Ok { affected }) => {
                results
                    .completed(OkResponse {
                        affected_rows: affected,
                        ..Default::default()
                    })
                    .await
            }
            Ok(QueryResult::Dml { affected, info }) => {
                results
                    .completed(OkResponse {
                        affected_rows: affected,
                        info: lenenc_info(info),
                        ..Default::default()
                    })
                    .await
            }
            Ok(QueryResult::Rows { columns, rows }) => {
                let cols: Vec<Column> = columns
                    .iter()
                    .map(|(name, kind)| Column {
                        table: String::new(),
                        column: name.clone(),
                        coltype: match kind {
                            ColKind::Int => ColumnType::MYSQL_TYPE_LONGLONG,
                            ColKind::Str => ColumnType::MYSQL_TYPE_VAR_STRING,
                        },
                        colflags: ColumnFlags::empty(),
                    })
                    .collect();
                let mut w = results.start(&cols).await?;
                for row in rows {
                    for v in row {
                        match v {
                            None => w.write_col(None::<&str>)?,
                            Some(s) => w.write_col(s.as_str())?,
                        }
                    }
                    w.end_row().await?;
                }
                w.finish().await
            }
            Err(e) => {
                results
                    .error(ErrorKind::from(e.code), e.msg.as_bytes())
                    .await
            }
        }
    }
}

/// The OK packet's info text with its length-encoded prefix. MySQL servers send `info` as a
/// length-encoded string and clients parse it so (mysql_common: "The `info` field is a
/// `string<EOF>` according to the MySQL Internals Manual, but actually it's a
/// `string<lenenc>`"), but opensrv writes the bare bytes unless the client asked for
/// CLIENT_SESSION_TRACK, which opensrv never offers. A one-byte prefix only fits texts of
/// fewer than 128 bytes (the `String` must stay UTF-8); longer ones are left out.
fn lenenc_info(info: String) -> String {
    match u8::try_from(info.len()) {
        Ok(n) if n < 128 && n > 0 => format!("{}{info}", n as char),
        _ => String::new(),
    }
}

/// Starts the MySQL front: a current-thread tokio runtime on its own thread runs the
/// connections; the gate's accept thread hands each accepted socket to it.
pub fn serve(
    gate: &Arc<Gate>,
    listener: std::net::TcpListener,
    sim: Arc<Sim>,
    tls: Option<Arc<ServerConfig>>,
) -> io::Result<()> {
    let handle = start_runtime()?;
    gate.serve(listener, move |stream, guard| {
        let sim = sim.clone();
        let tls = tls.clone();
        handle.spawn(async move {
            // Holding the guard keeps the socket registered, so an outage can close it.
            let _guard = guard;
            let _ = stream.set_nodelay(true);
            if stream.set_nonblocking(true).is_err() {
                return;
            }
            let Ok(stream) = tokio::net::TcpStream::from_std(stream) else {
                return;
            };
            let shim = Shim::new(sim);
            let _ = match tls {
                None => {
                    let (r, w) = stream.into_split();
                    AsyncMysqlIntermediary::run_on(shim, r, w).await
                }
                Some(cfg) => run_tls_capable(shim, stream, cfg).await,
            };
        });
    });
    Ok(())
}

/// Offers SSL in the handshake; a client that asks for it continues over TLS, others in
/// plain text (StarRocks does not require TLS unless told to).
async fn run_tls_capable(
    mut shim: Shim,
    stream: tokio::net::TcpStream,
    cfg: Arc<ServerConfig>,
) -> io::Result<()> {
    let (mut r, mut w) = stream.into_split();
    let (is_ssl, init) =
        AsyncMysqlIntermediary::init_before_ssl(&mut shim, &mut r, &mut w, &Some(cfg.clone()))
            .await?;
    let opts = IntermediaryOptions::default();
    if is_ssl {
        opensrv_mysql::secure_run_with_options(shim, w, opts, cfg, init).await
    } else {
        opensrv_mysql::plain_run_with_options(shim, w, opts, init).await
    }
}

/// Runs the runtime forever on a dedicated thread and returns a handle to spawn onto it.
fn start_runtime() -> io::Result<tokio::runtime::Handle> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    let handle = rt.handle().clone();
    std::thread::spawn(move || rt.block_on(std::future::pending::<()>()));
    Ok(handle)
}

impl Shim {
    fn new(sim: Arc<Sim>) -> Shim {
        let conn_id = CONN_IDS.fetch_add(1, Ordering::Relaxed);
        Shim {
            sess: Session {
                db: None,
                user: sim.cfg.user.clone(),
                conn_id,
            },
            sim,
            salt: new_salt(conn_id),
        }
    }
}

/// A per-connection scramble: printable, never NUL or '$' (it must be a C string).
fn new_salt(conn_id: u32) -> [u8; 20] {
    let mut salt = [0u8; 20];
    let seed = (conn_id as u64).wrapping_mul(0x9E3779B97F4A7C15)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(7);
    let mut x = seed | 1;
    for b in salt.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = b'0' + (x % 75) as u8;
    }
    salt
}
