//! A small HTTP/1.1 connection layer over `std::net` with `httparse` for the request head.
//!
//! Why not a full server framework: the emulator must decide per request *when* (or whether)
//! to send `100 Continue`, answer without reading the body and close (FE 307), read only part
//! of a body and then reset the socket, or stall before answering (§9.4 faults). Those need the
//! raw socket, which tiny_http/hyper hide.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::rustls::{ServerConfig, ServerConnection, StreamOwned};

use crate::gate::{ConnGuard, Gate};

const MAX_HEAD: usize = 64 * 1024;

pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    pub headers: Vec<(String, String)>,
    pub peer: SocketAddr,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == name).then(|| percent_decode(v))
        })
    }

    pub fn expects_continue(&self) -> bool {
        self.header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    }

    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")
            .and_then(|v| v.trim().parse().ok())
    }

    pub fn is_chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }

    pub fn path_and_query(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        } else if b[i] == b'+' {
            out.push(b' ');
            i += 1;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Close the connection after this response.
    pub close: bool,
}

impl Response {
    pub fn json(status: u16, body: String) -> Response {
        Response {
            status,
            headers: vec![(
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: body.into_bytes(),
            close: false,
        }
    }

    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
            body: body.into().into_bytes(),
            close: false,
        }
    }

    pub fn with_header(mut self, k: &str, v: &str) -> Response {
        self.headers.push((k.into(), v.into()));
        self
    }

    pub fn closing(mut self) -> Response {
        self.close = true;
        self
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("io: {0}")]
    Io(#[from] io::Error),
    #[error("receive body don't equal with body bytes")]
    Truncated,
    #[error("bad chunked encoding")]
    BadChunk,
}

/// The socket of a connection: plain, or rustls over it (handshake on first use).
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(t) => &t.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(t) => t.flush(),
        }
    }
}

/// One client connection; owns the socket and the read buffer.
pub struct Conn {
    reader: BufReader<Stream>,
    peer: SocketAddr,
    /// Bytes of the current request body not yet read (None = chunked/unknown).
    body_left: Option<u64>,
    body_pending: bool,
    /// The gate's registration (and its clone of the socket), dropped with the connection.
    guard: Option<ConnGuard>,
}

impl Conn {
    pub fn new(stream: TcpStream, tls: Option<&Arc<ServerConfig>>) -> io::Result<Conn> {
        let peer = stream.peer_addr()?;
        let _ = stream.set_nodelay(true);
        let stream = match tls {
            None => Stream::Plain(stream),
            Some(cfg) => {
                let tls = ServerConnection::new(cfg.clone()).map_err(io::Error::other)?;
                Stream::Tls(Box::new(StreamOwned::new(tls, stream)))
            }
        };
        Ok(Conn {
            reader: BufReader::with_capacity(256 * 1024, stream),
            peer,
            body_left: None,
            body_pending: false,
            guard: None,
        })
    }

    fn tcp(&self) -> &TcpStream {
        self.reader.get_ref().tcp()
    }

    fn writer(&mut self) -> &mut Stream {
        self.reader.get_mut()
    }

    /// Reads the next request head; `Ok(None)` when the client closed between requests.
    pub fn read_request(&mut self) -> io::Result<Option<Request>> {
        let mut head = Vec::with_capacity(1024);
        loop {
            let available = self.reader.fill_buf()?;
            if available.is_empty() {
                return if head.is_empty() {
                    Ok(None)
                } else {
                    Err(io::ErrorKind::UnexpectedEof.into())
                };
            }
            // Consume up to and including the blank line, leave body bytes buffered.
            let start = head.len().saturating_sub(3);
            let take = available.len();
            head.extend_from_slice(available);
            if let Some(pos) = find_subslice(&head[start..], b"\r\n\r\n") {
                let end = start + pos + 4;
                let extra = head.len() - end;
                self.reader.consume(take - extra);
                head.truncate(end);
                break;
            }
            self.reader.consume(take);
            if head.len() > MAX_HEAD {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "head too large"));
            }
        }
        let mut headers = [httparse::EMPTY_HEADER; 96];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&head) {
            Ok(httparse::Status::Complete(_)) => {}
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "bad request head",
                ));
            }
        }
        let target = req.path.unwrap_or("/");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let request = Request {
            method: req.method.unwrap_or("GET").to_string(),
            path: path.to_string(),
            query: query.to_string(),
            version: req.version.unwrap_or(1),
            headers: req
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_string(),
                        String::from_utf8_lossy(h.value).trim().to_string(),
                    )
                })
                .collect(),
            peer: self.peer,
        };
        self.body_left = if request.is_chunked() {
            None
        } else {
            Some(request.content_length().unwrap_or(0))
        };
        self.body_pending = request.is_chunked() || request.content_length().unwrap_or(0) > 0;
        Ok(Some(request))
    }

    pub fn send_continue(&mut self) -> io::Result<()> {
        let s = self.writer();
        s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        s.flush()
    }

    /// Reads the whole body (Content-Length or chunked). `limit` caps chunked bodies.
    pub fn read_body(&mut self, limit: u64) -> Result<Vec<u8>, BodyError> {
        let out = match self.body_left {
            Some(n) => {
                let mut buf = Vec::with_capacity(n.min(1 << 30) as usize);
                let got = (&mut self.reader).take(n).read_to_end(&mut buf)?;
                if (got as u64) < n {
                    return Err(BodyError::Truncated);
                }
                buf
            }
            None => self.read_chunked(limit)?,
        };
        self.body_pending = false;
        self.body_left = Some(0);
        Ok(out)
    }

    /// Reads up to `n` body bytes (used by the mid-body reset fault).
    pub fn read_some_body(&mut self, n: u64) -> io::Result<u64> {
        let mut sink = io::sink();
        io::copy(&mut (&mut self.reader).take(n), &mut sink)
    }

    fn read_chunked(&mut self, limit: u64) -> Result<Vec<u8>, BodyError> {
        let mut out = Vec::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(BodyError::Truncated);
            }
            let size_txt = line.trim().split(';').next().unwrap_or("");
            let size = u64::from_str_radix(size_txt, 16).map_err(|_| BodyError::BadChunk)?;
            if size == 0 {
                // Trailers until blank line.
                loop {
                    let mut t = String::new();
                    if self.reader.read_line(&mut t)? == 0 || t.trim().is_empty() {
                        break;
                    }
                }
                return Ok(out);
            }
            if out.len() as u64 + size > limit {
                return Err(BodyError::Truncated);
            }
            let before = out.len();
            (&mut self.reader).take(size).read_to_end(&mut out)?;
            if (out.len() - before) as u64 != size {
                return Err(BodyError::Truncated);
            }
            let mut crlf = [0u8; 2];
            self.reader.read_exact(&mut crlf)?;
        }
    }

    pub fn write_response(&mut self, req_version: u8, resp: &Response) -> io::Result<()> {
        let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
        for (k, v) in &resp.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n", resp.body.len()));
        if resp.close || req_version == 0 {
            head.push_str("Connection: close\r\n");
        } else {
            head.push_str("Connection: keep-alive\r\n");
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(&resp.body);
        let s = self.writer();
        s.write_all(&out)?;
        s.flush()
    }

    /// True when a body was announced but not consumed: the connection cannot be reused.
    pub fn body_unread(&self) -> bool {
        self.body_pending
    }

    /// Aborts with a TCP RST (SO_LINGER 0), as a crashing BE or a proxy reset would look.
    pub fn reset(self) {
        let s = socket2::SockRef::from(self.tcp());
        let _ = s.set_linger(Some(Duration::ZERO));
        drop(self);
    }

    /// Graceful close; drains briefly so a client still sending a body sees the response
    /// before any RST.
    pub fn close(mut self) {
        if let Stream::Tls(t) = self.writer() {
            t.conn.send_close_notify();
            let _ = t.flush();
        }
        let s = self.tcp();
        let _ = s.shutdown(std::net::Shutdown::Write);
        let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
        let mut buf = [0u8; 64 * 1024];
        let mut r = self.reader;
        let mut total = 0usize;
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 || total > 64 * 1024 * 1024 {
                break;
            }
            total += n;
        }
    }
}

fn find_subslice(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// What a handler wants done with the connection after the request.
pub enum Outcome {
    Respond(Response),
    /// Connection already handled (reset or closed) by the handler.
    Done,
}

pub trait Handler: Send + Sync + 'static {
    fn handle(&self, req: Request, conn: &mut Option<Conn>) -> Outcome;
}

/// Serves a listener through its gate with one thread per connection and HTTP/1.1 keep-alive;
/// with a TLS configuration the port speaks HTTPS only.
pub fn serve(
    gate: &Arc<Gate>,
    listener: TcpListener,
    handler: Arc<dyn Handler>,
    tls: Option<Arc<ServerConfig>>,
) {
    gate.serve(listener, move |stream, guard| {
        let handler = handler.clone();
        let tls = tls.clone();
        std::thread::spawn(move || {
            serve_conn(stream, guard, handler, tls.as_ref());
        });
    });
}

fn serve_conn(
    stream: TcpStream,
    guard: ConnGuard,
    handler: Arc<dyn Handler>,
    tls: Option<&Arc<ServerConfig>>,
) {
    let Ok(mut conn) = Conn::new(stream, tls) else {
        return;
    };
    // The gate's handle on the socket goes with the connection: a reset closes the socket
    // while the handler goes on (a load that commits after its client was reset).
    conn.guard = Some(guard);
    let mut slot = Some(conn);
    loop {
        let Some(conn) = slot.as_mut() else { return };
        let req = match conn.read_request() {
            Ok(Some(r)) => r,
            _ => return,
        };
        let version = req.version;
        let keep = version == 1
            && !req
                .header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        match handler.handle(req, &mut slot) {
            Outcome::Done => return,
            Outcome::Respond(mut resp) => {
                let Some(conn) = slot.as_mut() else { return };
                if conn.body_unread() || !keep {
                    resp.close = true;
                }
                if conn.write_response(version, &resp).is_err() {
                    return;
                }
                if resp.close {
                    if let Some(c) = slot.take() {
                        c.close();
                    }
                    return;
                }
            }
        }
    }
}
