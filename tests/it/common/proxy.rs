//! `FaultProxy`: a loopback-only HTTP/1.1 proxy that injects upload faults
//! (503/429, reset after the server stored the file, slow answers, refused
//! requests) between a client and a real index server.
//!
//! It is a reverse proxy in front of one upstream (`FaultProxy::start`) and,
//! at the same time, a forward proxy for requests in absolute form
//! (`HTTP_PROXY=http://127.0.0.1:PORT`), which it forwards only to
//! 127.0.0.1/localhost. One request per connection: every answer carries
//! `Connection: close`, so clients that ask for keep-alive just reconnect.
//!
//! Hand-written on std threads rather than on hyper: faults need control
//! hyper hides (answer nothing, reset with SO_LINGER 0, hold a stored
//! response), and the subset of HTTP/1.1 that index clients send is small.
//! Bodies are buffered whole (so a fault can act after the upstream stored
//! the file), capped at `MAX_BODY`.

use std::collections::{HashMap, VecDeque};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Largest request or response body the proxy buffers; more is answered 413
/// (request) or 502 (response) with a message naming this cap.
pub const MAX_BODY: usize = 16 << 20;
/// Largest request or response head (request line + headers).
const MAX_HEAD: usize = 64 << 10;
/// Connections handled at once; more are answered 503 right away.
const MAX_CONNECTIONS: usize = 64;
/// Log entries kept (oldest dropped first); counters are kept separately.
const MAX_LOG: usize = 10_000;
/// How long a silent client or upstream may stall a connection thread.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// What the proxy does to a request that matches a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status (and `Retry-After` if given) without
    /// forwarding: the upstream never sees the request.
    Status {
        code: u16,
        retry_after: Option<String>,
        body: String,
    },
    /// Forward the whole request, read the upstream's whole answer (so the
    /// server has stored the file), then reset the client's connection
    /// (SO_LINGER 0): the client sees a reset and no status.
    ResetAfterForward,
    /// Forward, then hold the upstream's answer this long before passing it
    /// on: pushes a client past its timeout after the server stored the file.
    DelayResponse(Duration),
    /// Wait this long, then forward and answer: the request reaches the
    /// server late (even if the client has given up meanwhile).
    DelayRequest(Duration),
    /// Read the request, then close the connection without an answer and
    /// without forwarding: nothing reached the server.
    Refuse,
}

impl Fault {
    /// `Fault::Status` from borrowed parts, e.g. `Fault::status(429, Some("1"), "slow down")`.
    pub fn status(code: u16, retry_after: Option<&str>, body: &str) -> Fault {
        Fault::Status {
            code,
            retry_after: retry_after.map(str::to_owned),
            body: body.to_owned(),
        }
    }
}

/// A queued fault: applies to the next `times` requests with this method
/// (and, if set, a request target containing `path`), then falls through.
#[derive(Clone, Debug)]
pub struct Rule {
    method: String,
    path: Option<String>,
    fault: Fault,
    times: usize,
}

impl Rule {
    /// A rule for `method` (`"*"`: any method), applied once.
    pub fn new(method: &str, fault: Fault) -> Rule {
        Rule {
            method: method.to_ascii_uppercase(),
            path: None,
            fault,
            times: 1,
        }
    }

    /// Only requests whose target (path, or absolute URL) contains `substring`.
    pub fn path(mut self, substring: &str) -> Rule {
        self.path = Some(substring.to_owned());
        self
    }

    /// Apply to this many matching requests (default 1).
    pub fn times(mut self, times: usize) -> Rule {
        self.times = times;
        self
    }

    fn matches(&self, method: &str, target: &str) -> bool {
        (self.method == "*" || self.method.eq_ignore_ascii_case(method))
            && self.path.as_deref().is_none_or(|p| target.contains(p))
    }
}

/// What the proxy did with one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// No rule matched: forwarded and the upstream's answer passed on.
    Forwarded,
    /// This rule's fault was applied.
    Fault(Fault),
    /// `set_down(true)` was on: answered 503 without forwarding.
    Down,
    /// Not forwardable (bad request, body over the cap, a non-loopback
    /// host, upstream unreachable, too many connections): the reason.
    Rejected(String),
}

/// One request the proxy saw.
#[derive(Clone, Debug)]
pub struct LogEntry {
    pub method: String,
    /// The request target as sent: a path, or an absolute URL (forward mode).
    pub target: String,
    pub outcome: Outcome,
    /// Whether the whole request was written to the upstream (and it answered
    /// or closed).
    pub forwarded: bool,
    /// The upstream's status, if it answered.
    pub upstream_status: Option<u16>,
    /// The request's body as read (an upload's multipart form).
    pub body: Arc<Vec<u8>>,
    /// The status sent to the client (even if it had hung up by then);
    /// `None` when it got no answer by design (reset, refused).
    pub status: Option<u16>,
}

struct State {
    rules: VecDeque<Rule>,
    log: VecDeque<LogEntry>,
    forwarded: HashMap<String, usize>,
}

struct Shared {
    /// `Some(base)` in reverse mode: scheme://host:port plus a path prefix
    /// without its trailing slash.
    upstream: Option<Upstream>,
    proxy_base: String,
    down: AtomicBool,
    stop: AtomicBool,
    connections: AtomicUsize,
    state: Mutex<State>,
}

#[derive(Clone, Debug)]
struct Upstream {
    host: String,
    port: u16,
    /// Path prefix without trailing slash ("" for the root).
    prefix: String,
}

impl Upstream {
    fn base(&self) -> String {
        format!("http://{}:{}{}/", self.host, self.port, self.prefix)
    }
}

/// The control side of a running proxy: rules, the down switch, the log.
/// Cheap to clone and `Send`, so another thread (e.g. one driving a daemon)
/// can flip `set_down` while the test holds the `FaultProxy`.
#[derive(Clone)]
pub struct ProxyControl {
    shared: Arc<Shared>,
}

/// A running proxy on 127.0.0.1; stops accepting on drop. Derefs to
/// `ProxyControl` for rules, `set_down`, `log` and counters.
pub struct FaultProxy {
    control: ProxyControl,
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// A reverse proxy in front of `upstream` (`http://127.0.0.1:PORT/prefix/`,
    /// loopback only): `POST /x` goes to `upstream` + `x`. Absolute-form
    /// requests are forwarded as a forward proxy would.
    pub fn start(upstream: &str) -> FaultProxy {
        let upstream = parse_loopback_url(upstream)
            .unwrap_or_else(|e| panic!("FaultProxy upstream {upstream}: {e}"));
        let prefix = upstream.path.trim_end_matches('/').to_owned();
        FaultProxy::spawn(Some(Upstream {
            host: upstream.host,
            port: upstream.port,
            prefix,
        }))
    }

    /// A forward proxy only (for `HTTP_PROXY`): origin-form requests are
    /// answered 400.
    pub fn start_forward() -> FaultProxy {
        FaultProxy::spawn(None)
    }

    fn spawn(upstream: Option<Upstream>) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("FaultProxy binds 127.0.0.1:0");
        let addr = listener.local_addr().expect("FaultProxy local addr");
        let shared = Arc::new(Shared {
            upstream,
            proxy_base: format!("http://{addr}/"),
            down: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            connections: AtomicUsize::new(0),
            state: Mutex::new(State {
                rules: VecDeque::new(),
                log: VecDeque::new(),
                forwarded: HashMap::new(),
            }),
        });
        let accept_shared = Arc::clone(&shared);
        let accept = std::thread::Builder::new()
            .name("fault-proxy-accept".into())
            .spawn(move || accept_loop(listener, accept_shared))
            .expect("spawn the FaultProxy accept thread");
        FaultProxy {
            control: ProxyControl { shared },
            addr,
            accept: Some(accept),
        }
    }

    /// `http://127.0.0.1:PORT/`: the upload base in reverse mode, the
    /// `HTTP_PROXY` value in forward mode.
    pub fn url(&self) -> String {
        self.control.shared.proxy_base.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle for another thread (rules, `set_down`, log).
    pub fn control(&self) -> ProxyControl {
        self.control.clone()
    }
}

impl std::ops::Deref for FaultProxy {
    type Target = ProxyControl;
    fn deref(&self) -> &ProxyControl {
        &self.control
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.control.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept; connection threads end on their own
        // (delays watch `stop`, I/O has timeouts).
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

impl ProxyControl {
    /// Queues `rule` after the existing ones (first match wins).
    pub fn push(&self, rule: Rule) {
        self.state().rules.push_back(rule);
    }

    /// Shorthand: `fault` for the next `times` requests with `method`.
    pub fn inject(&self, method: &str, times: usize, fault: Fault) {
        self.push(Rule::new(method, fault).times(times));
    }

    /// Uses left over all queued rules (0: every rule was consumed).
    pub fn rules_left(&self) -> usize {
        self.state().rules.iter().map(|r| r.times).sum()
    }

    pub fn clear_rules(&self) {
        self.state().rules.clear();
    }

    /// While on, every request is answered 503 without forwarding (an
    /// "index down" switch); queued rules are left untouched.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    /// Every request seen so far (the last `MAX_LOG`), oldest first.
    pub fn log(&self) -> Vec<LogEntry> {
        self.state().log.iter().cloned().collect()
    }

    /// How many requests with `method` were written whole to the upstream.
    pub fn forwarded(&self, method: &str) -> usize {
        self.state()
            .forwarded
            .get(&method.to_ascii_uppercase())
            .copied()
            .unwrap_or(0)
    }

    /// The log as text, one request a line, for assertion messages.
    pub fn log_text(&self) -> String {
        self.log()
            .iter()
            .map(|e| {
                format!(
                    "{} {} -> {:?} forwarded={} upstream={:?} status={:?}\n",
                    e.method, e.target, e.outcome, e.forwarded, e.upstream_status, e.status
                )
            })
            .collect()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state()
    }
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panicking connection thread must not hide the log from the test.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take_fault(&self, method: &str, target: &str) -> Option<Fault> {
        let mut state = self.state();
        let index = state
            .rules
            .iter()
            .position(|r| r.times > 0 && r.matches(method, target))?;
        let rule = &mut state.rules[index];
        rule.times -= 1;
        let fault = rule.fault.clone();
        if rule.times == 0 {
            state.rules.remove(index);
        }
        Some(fault)
    }

    /// Logs a request. Called before the client gets its answer (or its
    /// reset), so a test that saw the answer also sees the entry.
    fn record(&self, entry: LogEntry) {
        let mut state = self.state();
        if state.log.len() == MAX_LOG {
            state.log.pop_front();
        }
        state.log.push_back(entry);
    }

    /// Counted as soon as the upstream answered, before any delay, so a
    /// client that timed out can already see that the server got it.
    fn count_forwarded(&self, method: &str) {
        *self.state().forwarded.entry(method.to_owned()).or_default() += 1;
    }

    /// Sleeps `duration`, in slices, so a dropped proxy ends its threads.
    fn sleep(&self, duration: Duration) {
        let until = Instant::now() + duration;
        while !self.stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            if now >= until {
                return;
            }
            std::thread::sleep((until - now).min(Duration::from_millis(20)));
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(conn) = conn else { continue };
        if shared.connections.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            shared.connections.fetch_sub(1, Ordering::SeqCst);
            let mut conn = conn;
            let _ = write_simple(
                &mut conn,
                503,
                None,
                "FaultProxy: too many connections at once",
            );
            continue;
        }
        let conn_shared = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("fault-proxy-conn".into())
            .spawn(move || {
                handle(conn, &conn_shared);
                conn_shared.connections.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            shared.connections.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// A parsed request or response head.
struct Head {
    /// Request: method, target, version. Response: version, code, reason.
    start: [String; 3],
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn is_chunked(&self) -> bool {
        self.headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("transfer-encoding")
                && v.to_ascii_lowercase().contains("chunked")
        })
    }

    /// `Ok(None)`: no length given.
    fn content_length(&self) -> Result<Option<usize>, String> {
        match self.header("content-length") {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| format!("bad Content-Length {v:?}")),
        }
    }
}

enum ReadError {
    /// The peer closed before sending anything.
    Closed,
    TooLarge(String),
    Bad(String),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> ReadError {
        ReadError::Bad(format!("read failed: {e}"))
    }
}

fn read_head(reader: &mut impl BufRead) -> Result<Head, ReadError> {
    let mut lines = Vec::new();
    let mut total = 0;
    loop {
        let mut line = Vec::new();
        let n = reader
            .by_ref()
            .take((MAX_HEAD - total + 1) as u64)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return Err(if lines.is_empty() && total == 0 {
                ReadError::Closed
            } else {
                ReadError::Bad("connection closed inside the head".into())
            });
        }
        total += n;
        if total > MAX_HEAD {
            return Err(ReadError::TooLarge(format!(
                "head over the FaultProxy cap of {MAX_HEAD} bytes"
            )));
        }
        let line =
            String::from_utf8(line).map_err(|_| ReadError::Bad("head is not UTF-8".into()))?;
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            // Tolerate stray blank lines before a request line (RFC 9112 §2.2).
            if lines.is_empty() {
                continue;
            }
            break;
        }
        lines.push(line.to_owned());
    }
    let mut start = lines[0].splitn(3, ' ').map(str::to_owned);
    let start = [
        start.next().unwrap_or_default(),
        start.next().unwrap_or_default(),
        start.next().unwrap_or_default(),
    ];
    if start[1].is_empty() {
        return Err(ReadError::Bad(format!("bad start line {:?}", lines[0])));
    }
    let mut headers = Vec::new();
    for line in &lines[1..] {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| ReadError::Bad(format!("bad header line {line:?}")))?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    Ok(Head { start, headers })
}

/// Reads a body framed by `head`: chunked (decoded), Content-Length, or,
/// when `to_eof` (responses without a length), until the peer closes.
fn read_body(reader: &mut impl BufRead, head: &Head, to_eof: bool) -> Result<Vec<u8>, ReadError> {
    let too_large =
        || ReadError::TooLarge(format!("body over the FaultProxy cap of {MAX_BODY} bytes"));
    if head.is_chunked() {
        let mut body = Vec::new();
        loop {
            let mut line = String::new();
            reader.by_ref().take(1024).read_line(&mut line)?;
            let size = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16)
                .map_err(|_| ReadError::Bad(format!("bad chunk size line {line:?}")))?;
            if size == 0 {
                // Trailers (ignored) up to the blank line.
                loop {
                    let mut trailer = String::new();
                    let n = reader.by_ref().take(8192).read_line(&mut trailer)?;
                    if n == 0 || trailer.trim_end_matches(['\r', '\n']).is_empty() {
                        return Ok(body);
                    }
                }
            }
            if body.len() + size > MAX_BODY {
                return Err(too_large());
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf)?;
            if &crlf != b"\r\n" {
                return Err(ReadError::Bad("chunk not followed by CRLF".into()));
            }
        }
    }
    match head.content_length().map_err(ReadError::Bad)? {
        Some(len) if len > MAX_BODY => Err(too_large()),
        Some(len) => {
            let mut body = vec![0; len];
            reader.read_exact(&mut body)?;
            Ok(body)
        }
        None if to_eof => {
            let mut body = Vec::new();
            reader
                .by_ref()
                .take(MAX_BODY as u64 + 1)
                .read_to_end(&mut body)?;
            if body.len() > MAX_BODY {
                return Err(too_large());
            }
            Ok(body)
        }
        None => Ok(Vec::new()),
    }
}

struct ParsedUrl {
    /// As written in the URL (the Host header sent upstream); `localhost`
    /// is connected to as 127.0.0.1, never resolved.
    host: String,
    port: u16,
    /// Path and query, at least "/".
    path: String,
}

/// `http://127.0.0.1:PORT/path` (or localhost / [::1]); anything else is
/// refused so a test can never reach out past loopback.
fn parse_loopback_url(url: &str) -> Result<ParsedUrl, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    if parsed.scheme() != "http" {
        return Err(format!("scheme {} is not http", parsed.scheme()));
    }
    let host = match parsed.host() {
        Some(url::Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => "localhost".to_owned(),
        Some(url::Host::Ipv4(ip)) if ip.is_loopback() => ip.to_string(),
        Some(url::Host::Ipv6(ip)) if ip.is_loopback() => format!("[{ip}]"),
        other => {
            return Err(format!(
                "host {other:?} is not loopback: FaultProxy forwards to 127.0.0.1/localhost only"
            ));
        }
    };
    let mut path = parsed.path().to_owned();
    if let Some(query) = parsed.query() {
        path.push('?');
        path.push_str(query);
    }
    Ok(ParsedUrl {
        host,
        port: parsed.port_or_known_default().unwrap_or(80),
        path,
    })
}

/// Where a request goes: (upstream, path-and-query to send, reverse mode?).
fn route(shared: &Shared, target: &str) -> Result<(ParsedUrl, bool), (u16, String)> {
    if target.starts_with('/') {
        let upstream = shared.upstream.as_ref().ok_or((
            400,
            "FaultProxy: origin-form request to a forward-only proxy".to_owned(),
        ))?;
        return Ok((
            ParsedUrl {
                host: upstream.host.clone(),
                port: upstream.port,
                path: format!("{}{target}", upstream.prefix),
            },
            true,
        ));
    }
    if target.contains("://") {
        return parse_loopback_url(target)
            .map(|u| (u, false))
            .map_err(|e| (502, format!("FaultProxy: refused {target}: {e}")));
    }
    Err((
        400,
        format!("FaultProxy: unsupported request target {target:?}"),
    ))
}

/// Headers that belong to one connection, never forwarded as they are.
fn hop_by_hop(name: &str) -> bool {
    [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
        "proxy-authenticate",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "expect",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

struct Response {
    code: u16,
    reason: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Sends the request to the upstream and reads its whole answer. The bool
/// says whether the request was written whole (it reached the server).
fn forward(
    to: &ParsedUrl,
    request: &Head,
    body: &[u8],
    had_body: bool,
) -> (bool, Result<Response, String>) {
    let authority = format!("{}:{}", to.host, to.port);
    let connect = if to.host == "localhost" {
        format!("127.0.0.1:{}", to.port)
    } else {
        authority.clone()
    };
    let addr = match connect.to_socket_addrs().ok().and_then(|mut a| a.next()) {
        Some(addr) => addr,
        None => return (false, Err(format!("cannot resolve {authority}"))),
    };
    let mut upstream = match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
        Ok(s) => s,
        Err(e) => return (false, Err(format!("upstream {authority} unreachable: {e}"))),
    };
    let _ = upstream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = upstream.set_write_timeout(Some(IO_TIMEOUT));
    let _ = upstream.set_nodelay(true);

    let mut out = format!(
        "{} {} HTTP/1.1\r\nHost: {authority}\r\n",
        request.start[0], to.path
    );
    for (name, value) in &request.headers {
        if !hop_by_hop(name) && !name.eq_ignore_ascii_case("host") {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    if had_body {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("Connection: close\r\n\r\n");
    let written = upstream
        .write_all(out.as_bytes())
        .and_then(|()| upstream.write_all(body))
        .and_then(|()| upstream.flush());
    if let Err(e) = written {
        return (false, Err(format!("writing to upstream {authority}: {e}")));
    }

    let mut reader = BufReader::new(upstream);
    let result = (|| loop {
        let head = read_head(&mut reader).map_err(|e| describe(e, "upstream answer"))?;
        let code: u16 = head.start[1]
            .parse()
            .map_err(|_| format!("bad upstream status line {:?}", head.start))?;
        if (100..200).contains(&code) {
            continue; // 100 Continue and friends: the final answer follows.
        }
        let bodyless = request.start[0].eq_ignore_ascii_case("HEAD") || code == 204 || code == 304;
        let body = if bodyless {
            Vec::new()
        } else {
            read_body(&mut reader, &head, true).map_err(|e| describe(e, "upstream answer"))?
        };
        return Ok(Response {
            code,
            reason: head.start[2].clone(),
            headers: head.headers,
            body,
        });
    })();
    (true, result)
}

fn describe(e: ReadError, what: &str) -> String {
    match e {
        ReadError::Closed => format!("{what}: connection closed before a response"),
        ReadError::TooLarge(m) | ReadError::Bad(m) => format!("{what}: {m}"),
    }
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Fault",
    }
}

fn write_simple(
    conn: &mut TcpStream,
    code: u16,
    retry_after: Option<&str>,
    body: &str,
) -> io::Result<()> {
    let mut headers = vec![(
        "Content-Type".to_owned(),
        "text/plain; charset=utf-8".to_owned(),
    )];
    if let Some(value) = retry_after {
        headers.push(("Retry-After".to_owned(), value.to_owned()));
    }
    write_response(
        conn,
        &Response {
            code,
            reason: reason(code).to_owned(),
            headers,
            body: body.as_bytes().to_vec(),
        },
        false,
    )
}

/// Writes `response` with a fresh Content-Length (the body is decoded) and
/// `Connection: close`. For HEAD the upstream's length is kept, no body sent.
fn write_response(conn: &mut TcpStream, response: &Response, head_request: bool) -> io::Result<()> {
    let mut out = format!("HTTP/1.1 {} {}\r\n", response.code, response.reason);
    for (name, value) in &response.headers {
        let keep_length = head_request && name.eq_ignore_ascii_case("content-length");
        if keep_length || !hop_by_hop(name) {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    if !head_request {
        out.push_str(&format!("Content-Length: {}\r\n", response.body.len()));
    }
    out.push_str("Connection: close\r\n\r\n");
    conn.write_all(out.as_bytes())?;
    if !head_request {
        conn.write_all(&response.body)?;
    }
    conn.flush()?;
    // FIN after the answer; the client may still be sending, so do not
    // shut the read side (that could turn into a reset).
    conn.shutdown(Shutdown::Write)
}

fn handle(mut conn: TcpStream, shared: &Shared) {
    let _ = conn.set_read_timeout(Some(IO_TIMEOUT));
    let _ = conn.set_write_timeout(Some(IO_TIMEOUT));
    let _ = conn.set_nodelay(true);
    let Ok(read_half) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let request = match read_head(&mut reader) {
        Ok(head) => head,
        Err(ReadError::Closed) => return,
        Err(e) => {
            let (code, message) = match e {
                ReadError::TooLarge(m) => (431, m),
                ReadError::Bad(m) => (400, m),
                ReadError::Closed => unreachable!(),
            };
            let message = format!("FaultProxy: {message}");
            shared.record(LogEntry {
                method: String::new(),
                target: String::new(),
                outcome: Outcome::Rejected(message.clone()),
                forwarded: false,
                upstream_status: None,
                body: Arc::default(),
                status: Some(code),
            });
            let _ = write_simple(&mut conn, code, None, &message);
            return;
        }
    };
    let method = request.start[0].to_ascii_uppercase();
    let target = request.start[1].clone();
    let mut entry = LogEntry {
        method: method.clone(),
        target: target.clone(),
        outcome: Outcome::Forwarded,
        forwarded: false,
        upstream_status: None,
        body: Arc::default(),
        status: None,
    };
    let reject = |conn: &mut TcpStream, mut entry: LogEntry, code: u16, message: String| {
        entry.outcome = Outcome::Rejected(message.clone());
        entry.status = Some(code);
        shared.record(entry);
        let _ = write_simple(conn, code, None, &message);
    };

    let expects_continue = request
        .header("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    let had_body = request.is_chunked() || request.header("content-length").is_some();
    if expects_continue && had_body {
        // curl waits (a second) for this before sending a large body.
        let _ = conn.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let body = match read_body(&mut reader, &request, false) {
        Ok(body) => {
            entry.body = Arc::new(body.clone());
            body
        }
        Err(ReadError::TooLarge(m)) => {
            reject(&mut conn, entry, 413, format!("FaultProxy: request {m}"));
            // Drain (not buffer) what the client still sends, so closing
            // does not reset the connection before it reads the 413.
            let _ = reader
                .get_ref()
                .set_read_timeout(Some(Duration::from_secs(2)));
            let _ = io::copy(&mut reader.take(8 * MAX_BODY as u64), &mut io::sink());
            return;
        }
        Err(e) => {
            let message = describe(e, "FaultProxy: request body");
            return reject(&mut conn, entry, 400, message);
        }
    };

    let (to, reverse) = match route(shared, &target) {
        Ok(route) => route,
        Err((code, message)) => return reject(&mut conn, entry, code, message),
    };

    if shared.down.load(Ordering::SeqCst) {
        entry.outcome = Outcome::Down;
        entry.status = Some(503);
        shared.record(entry);
        let _ = write_simple(&mut conn, 503, None, "FaultProxy: index down (set_down)");
        return;
    }

    let fault = shared.take_fault(&method, &target);
    if let Some(fault) = &fault {
        entry.outcome = Outcome::Fault(fault.clone());
    }
    match &fault {
        Some(Fault::Status {
            code,
            retry_after,
            body,
        }) => {
            entry.status = Some(*code);
            shared.record(entry);
            let _ = write_simple(&mut conn, *code, retry_after.as_deref(), body);
            return;
        }
        Some(Fault::Refuse) => {
            shared.record(entry);
            let _ = conn.shutdown(Shutdown::Both);
            return;
        }
        Some(Fault::DelayRequest(delay)) => shared.sleep(*delay),
        _ => {}
    }

    let (reached, result) = forward(&to, &request, &body, had_body);
    entry.forwarded = reached;
    if reached {
        shared.count_forwarded(&method);
    }
    let mut response = match result {
        Ok(response) => response,
        Err(message) => {
            let message = format!("FaultProxy: {message}");
            entry.status = Some(502);
            if fault.is_none() {
                entry.outcome = Outcome::Rejected(message.clone());
            }
            shared.record(entry);
            let _ = write_simple(&mut conn, 502, None, &message);
            return;
        }
    };
    entry.upstream_status = Some(response.code);

    match &fault {
        Some(Fault::ResetAfterForward) => {
            // SO_LINGER 0: close sends RST, the client sees "connection reset".
            shared.record(entry);
            let _ = socket2::SockRef::from(&conn).set_linger(Some(Duration::ZERO));
            drop(reader);
            drop(conn);
            return;
        }
        Some(Fault::DelayResponse(delay)) => shared.sleep(*delay),
        _ => {}
    }

    if reverse {
        // Redirects to the upstream's own URL must come back through us.
        if let Some(upstream) = &shared.upstream {
            let base = upstream.base();
            for (name, value) in &mut response.headers {
                if name.eq_ignore_ascii_case("location") && value.starts_with(&base) {
                    *value = format!("{}{}", shared.proxy_base, &value[base.len()..]);
                }
            }
        }
    }
    entry.status = Some(response.code);
    shared.record(entry);
    let _ = write_response(&mut conn, &response, method == "HEAD");
}

/// The fields of a `multipart/form-data` body: (name, file name, value).
/// The boundary is the body's first line, as every client writes it.
pub fn form_fields(body: &[u8]) -> Vec<(String, Option<String>, Vec<u8>)> {
    let Some(end) = body.windows(2).position(|w| w == b"\r\n") else {
        return Vec::new();
    };
    let delimiter = [b"\r\n", &body[..end]].concat();
    let mut fields = Vec::new();
    let mut rest = &body[end + 2..];
    while let Some(head_end) = rest.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&rest[..head_end]).into_owned();
        let content = &rest[head_end + 4..];
        let Some(value_end) = content
            .windows(delimiter.len())
            .position(|w| w == delimiter.as_slice())
        else {
            break;
        };
        let param = |key: &str| {
            let start = head.find(&format!("{key}=\""))? + key.len() + 2;
            Some(head[start..start + head[start..].find('"')?].to_owned())
        };
        fields.push((
            param(" name").unwrap_or_default(),
            param("filename"),
            content[..value_end].to_vec(),
        ));
        rest = &content[value_end + delimiter.len()..];
        match rest.strip_prefix(b"\r\n") {
            Some(next) => rest = next,
            None => break, // `--`: the closing delimiter
        }
    }
    fields
}
