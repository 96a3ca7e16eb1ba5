//! The daemon's socket server: newline-delimited JSON `Message<Request>`s in,
//! one `Message<Response>` line out per request (none for nudges: hooks do
//! not wait). Only the user who runs the daemon may talk to it: the socket is
//! 0600 in a 0700 dir, and each peer's uid is checked as well.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::ipc::{MAX_LINE, Message, PROTOCOL_VERSION, Request, Response};

/// What the rest of the daemon plugs into the server. Called on tokio's
/// blocking pool, never on the event loop, and waited for at most
/// [`REQUEST_TIMEOUT`]: a request that names something slow (or a FIFO)
/// cannot wedge the server.
///
/// `Ping` and `Shutdown` are answered by the server itself and never reach
/// the handler; the answer to a `Nudge` is dropped (nobody waits for it).
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, request: Request) -> Response;
}

/// How long a connection may sit silent before it is closed, so a stuck
/// client cannot hold a task forever.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the server waits for the handler's answer to one request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long in-flight connections may finish (e.g. write the answer to a
/// `Shutdown`) once the server stops accepting.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// One shutdown flag for the whole daemon: signals, a `Shutdown` request and
/// anything else that wants the daemon to stop set it; the server, the
/// watcher and the workers wait on it. A `watch` channel rather than
/// `Notify`, so whoever starts waiting late still sees it.
#[derive(Debug, Clone)]
pub struct Shutdown {
    sender: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Shutdown {
        Shutdown::new()
    }
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown {
            sender: Arc::new(watch::Sender::new(false)),
        }
    }

    pub fn trigger(&self) {
        self.sender.send_replace(true);
    }

    pub fn is_triggered(&self) -> bool {
        *self.sender.borrow()
    }

    /// Resolves once [`Shutdown::trigger`] was called (at once if it was).
    pub fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut receiver = self.sender.subscribe();
        async move {
            // The sender lives in `self`'s Arc, which outlives no receiver
            // here only if every clone is gone: then nobody can stop us
            // either, and returning is the right thing.
            let _ = receiver.wait_for(|stop| *stop).await;
        }
    }

    /// Triggers this shutdown on SIGTERM or SIGINT. Registers the handlers
    /// before returning (so a signal sent right after cannot be missed);
    /// must be called inside a tokio runtime.
    pub fn on_signals(&self) -> io::Result<()> {
        let signal = shutdown_signal()?;
        let this = self.clone();
        tokio::spawn(async move {
            signal.await;
            this.trigger();
        });
        Ok(())
    }
}

/// Resolves on the first SIGTERM (service managers, `kill`) or SIGINT
/// (Ctrl-C on `tagpub daemon run`). The handlers are installed when this is
/// called, not when the future is first polled. Needs a tokio runtime.
pub fn shutdown_signal() -> io::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM: stopping"),
            _ = interrupt.recv() => tracing::info!("SIGINT: stopping"),
        }
    })
}

/// Serves `listener` until `shutdown` is triggered (a `Shutdown` request
/// triggers it too), then stops accepting, gives open connections a moment
/// to finish their answers, and returns. Removing the socket file is the
/// [`Instance`](super::lifecycle::Instance)'s job.
pub async fn serve(
    listener: UnixListener,
    handler: Arc<dyn Handler>,
    shutdown: Shutdown,
) -> io::Result<()> {
    let own_uid = socket_owner(&listener)?;
    let started = Instant::now();
    let mut connections = JoinSet::new();
    let stop = shutdown.wait();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let peer = Peer { handler: handler.clone(), shutdown: shutdown.clone(), own_uid, started };
                    connections.spawn(peer.serve(stream));
                }
                Err(err) => {
                    // Usually EMFILE: back off instead of spinning.
                    tracing::warn!(%err, "cannot accept a connection on the daemon socket");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            // Reap finished connections so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all();
    }
    Ok(())
}

/// Our uid, read off the socket file we just bound (std has no getuid
/// without libc; a file we created is owned by our effective uid).
fn socket_owner(listener: &UnixListener) -> io::Result<u32> {
    use std::os::unix::fs::MetadataExt;
    let address = listener.local_addr()?;
    let path = address
        .as_pathname()
        .ok_or_else(|| io::Error::other("the daemon socket has no path"))?;
    Ok(std::fs::metadata(path)?.uid())
}

/// What the server does about one request line.
enum Answer {
    /// Known without the handler: the response (None: send nothing) and
    /// whether the daemon stops after sending it.
    Now(Option<Response>, bool),
    /// The handler's to answer.
    Handle(Request),
    /// The handler's to act on; nobody waits for an answer.
    Nudge(Request),
}

/// What one connection needs.
struct Peer {
    handler: Arc<dyn Handler>,
    shutdown: Shutdown,
    own_uid: u32,
    started: Instant,
}

impl Peer {
    async fn serve(self, stream: UnixStream) {
        match stream.peer_cred() {
            Ok(cred) if cred.uid() == self.own_uid => {}
            Ok(cred) => {
                tracing::warn!(uid = cred.uid(), "refused a connection from another user");
                return;
            }
            Err(err) => {
                tracing::warn!(%err, "cannot tell who connected: refused");
                return;
            }
        }
        let (read, mut write) = stream.into_split();
        let mut reader = BufReader::new(read);
        let mut line = String::new();
        loop {
            line.clear();
            let mut limited = (&mut reader).take(MAX_LINE);
            let read = tokio::select! {
                () = self.shutdown.wait() => return,
                read = tokio::time::timeout(IDLE_TIMEOUT, limited.read_line(&mut line)) => read,
            };
            match read {
                Ok(Ok(0)) | Err(_) => return,
                Ok(Ok(_)) => {}
                Ok(Err(err)) => {
                    // Includes invalid UTF-8: answer, then drop the connection.
                    let _ = write_response(&mut write, error(format!("unreadable request: {err}")))
                        .await;
                    return;
                }
            }
            if !line.ends_with('\n') && line.len() as u64 >= MAX_LINE {
                let _ = write_response(
                    &mut write,
                    error(format!("request longer than {MAX_LINE} bytes")),
                )
                .await;
                return;
            }
            let (response, stop) = match self.answer(line.trim()) {
                Answer::Now(response, stop) => (response, stop),
                Answer::Handle(request) => (Some(self.handle(request).await), false),
                // Waited for (bounded) so one connection's nudges queue
                // behind each other, but answered to nobody.
                Answer::Nudge(request) => {
                    let _ = self.handle(request).await;
                    (None, false)
                }
            };
            if let Some(response) = response
                && let Err(err) = write_response(&mut write, response).await
            {
                // The client left without reading (a nudge sender does):
                // nothing to do about it.
                tracing::debug!(%err, "client closed before the answer");
            }
            if stop {
                // After the answer is written, so `daemon stop` hears "ok".
                self.shutdown.trigger();
                return;
            }
        }
    }

    /// The handler's answer, computed off the event loop and bounded in time.
    async fn handle(&self, request: Request) -> Response {
        let handler = self.handler.clone();
        let task = tokio::task::spawn_blocking(move || handler.handle(request));
        match tokio::time::timeout(REQUEST_TIMEOUT, task).await {
            Ok(Ok(response)) => response,
            Ok(Err(err)) => error(format!(
                "the daemon failed to answer ({err}): see its log (`tagpub daemon status` shows where)"
            )),
            Err(_) => error(format!(
                "the daemon did not answer within {} s: see its log (`tagpub daemon status` shows where)",
                REQUEST_TIMEOUT.as_secs()
            )),
        }
    }

    /// What to do about one line: answer it now, or ask the handler.
    fn answer(&self, line: &str) -> Answer {
        if line.is_empty() {
            return Answer::Now(None, false);
        }
        let value: serde_json::Value = match serde_json::from_str(line) {
            Ok(value) => value,
            Err(err) => {
                return Answer::Now(Some(error(format!("malformed request: {err}"))), false);
            }
        };
        let Some(version) = value.get("version").and_then(serde_json::Value::as_u64) else {
            return Answer::Now(
                Some(error(
                    "malformed request: no protocol version: this client is not tagpub's"
                        .to_string(),
                )),
                false,
            );
        };
        // Checked before the body: another version's body may not parse,
        // and "restart the daemon" is the useful answer either way.
        if version != u64::from(PROTOCOL_VERSION) {
            return Answer::Now(
                Some(error(format!(
                    "protocol version {version} not supported (daemon speaks {PROTOCOL_VERSION}): restart the daemon after upgrading tagpub"
                ))),
                false,
            );
        }
        let request = match serde_json::from_value::<Message<Request>>(value) {
            Ok(message) => message.body,
            Err(err) => {
                return Answer::Now(
                    Some(error(format!(
                        "unknown or malformed request ({err}): restart the daemon after upgrading tagpub"
                    ))),
                    false,
                );
            }
        };
        match request {
            Request::Ping => Answer::Now(
                Some(Response::Pong {
                    pid: std::process::id(),
                    tagpub_version: env!("CARGO_PKG_VERSION").to_string(),
                    uptime_secs: self.started.elapsed().as_secs(),
                }),
                false,
            ),
            Request::Shutdown => Answer::Now(Some(Response::Ok), true),
            nudge @ Request::Nudge { .. } => Answer::Nudge(nudge),
            request => Answer::Handle(request),
        }
    }
}

fn error(message: String) -> Response {
    Response::Error { message }
}

async fn write_response(
    write: &mut tokio::net::unix::OwnedWriteHalf,
    response: Response,
) -> io::Result<()> {
    let line = match serde_json::to_string(&Message::new(response)) {
        Ok(mut line) => {
            line.push('\n');
            line
        }
        // Not expected (every response is a struct or enum of plain
        // fields), but the client gets an answer rather than silence.
        Err(err) => {
            Message::new(error(format!("the daemon cannot encode its answer: {err}"))).to_line()
        }
    };
    write.write_all(line.as_bytes()).await?;
    write.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc;
    use std::io::{BufRead, Write};

    struct Echo;
    impl Handler for Echo {
        fn handle(&self, request: Request) -> Response {
            match request {
                Request::Status => Response::Status(ipc::StatusReply::default()),
                Request::Nudge { .. } => Response::Ok,
                _ => Response::Error {
                    message: "unexpected".into(),
                },
            }
        }
    }

    /// A server on its own runtime thread; returns the socket, the shutdown
    /// and the thread (which ends when serve returns).
    fn start(dir: &std::path::Path) -> (std::path::PathBuf, Shutdown, std::thread::JoinHandle<()>) {
        let socket = dir.join("s.sock");
        let std_listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let shutdown = Shutdown::new();
        let server_shutdown = shutdown.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let listener = UnixListener::from_std(std_listener).unwrap();
                serve(listener, Arc::new(Echo), server_shutdown)
                    .await
                    .unwrap();
            });
        });
        (socket, shutdown, thread)
    }

    #[test]
    fn answers_ping_status_and_errors_and_stops_on_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let (socket, shutdown, thread) = start(dir.path());
        let timeout = Duration::from_secs(5);
        match ipc::request(&socket, Request::Ping, timeout).unwrap() {
            Response::Pong {
                pid,
                tagpub_version,
                ..
            } => {
                assert_eq!(pid, std::process::id());
                assert_eq!(tagpub_version, env!("CARGO_PKG_VERSION"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            ipc::request(&socket, Request::Status, timeout).unwrap(),
            Response::Status(ipc::StatusReply::default())
        );

        // Several lines on one connection; a nudge gets no answer, so the
        // next answer read is the ping's.
        let mut stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        stream.set_read_timeout(Some(timeout)).unwrap();
        stream
            .write_all(
                b"{\"version\":1,\"type\":\"nudge\",\"git_dir\":\"/x\"}\n\
                  {\"version\":2,\"type\":\"ping\"}\n\
                  not json\n\
                  {\"version\":1,\"type\":\"frobnicate\"}\n\
                  {\"version\":1,\"type\":\"ping\"}\n",
            )
            .unwrap();
        let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
        let mut next = || {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            serde_json::from_str::<Message<Response>>(&line)
                .unwrap()
                .body
        };
        assert_eq!(
            next(),
            Response::Error {
                message: "protocol version 2 not supported (daemon speaks 1): restart the daemon after upgrading tagpub".into()
            }
        );
        assert!(
            matches!(next(), Response::Error { message } if message.starts_with("malformed request"))
        );
        assert!(
            matches!(next(), Response::Error { message } if message.contains("unknown or malformed request"))
        );
        assert!(matches!(next(), Response::Pong { .. }));

        assert!(!shutdown.is_triggered());
        assert_eq!(
            ipc::request(&socket, Request::Shutdown, timeout).unwrap(),
            Response::Ok
        );
        thread.join().unwrap();
        assert!(shutdown.is_triggered());
        // Stopped accepting: the (still present) socket file refuses. (A
        // process another test forks at this instant holds a copy of the
        // listener until its exec; a connection queued there is reset.)
        let err = ipc::request(&socket, Request::Ping, timeout).unwrap_err();
        assert!(
            err.is_not_running() || err.to_string().contains("reset by peer"),
            "{err}"
        );
    }

    #[test]
    fn a_nudge_sender_that_closes_at_once_does_no_harm() {
        let dir = tempfile::tempdir().unwrap();
        let (socket, shutdown, thread) = start(dir.path());
        for _ in 0..20 {
            ipc::send_nudge(&socket, std::path::Path::new("/r/.git")).unwrap();
        }
        // Versions mismatch and the sender is gone: the error answer's write
        // fails (EPIPE) and is ignored.
        let mut stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        stream
            .write_all(b"{\"version\":9,\"type\":\"nudge\"}\n")
            .unwrap();
        drop(stream);
        assert!(matches!(
            ipc::request(&socket, Request::Ping, Duration::from_secs(5)).unwrap(),
            Response::Pong { .. }
        ));
        shutdown.trigger();
        thread.join().unwrap();
    }
}
