//! The release daemon: watches repositories for new tags and publishes them
//! in the background, exactly as `tagpub release` would.
//!
//! Two signals, one action: the reference-transaction hook's nudge over the
//! socket and the filesystem watch of the refs both only mark a repository
//! dirty; after a short debounce the daemon rescans it and diffs the tags
//! against what it knew. A periodic rescan catches anything both missed.

pub mod desktop;
mod job;
pub mod lifecycle;
pub mod queue;
pub mod registry;
pub mod server;
pub mod watcher;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use crate::config::Config;
use crate::dirs::Dirs;
use crate::git::Repo;
use crate::ipc::{DaemonState, Request, Response, StatusReply, WatchedRepo};
use crate::ledger::JobState;
use queue::Queue;
use registry::{Registry, common_git_dir, diff};
use server::{Handler, Shutdown};
use watcher::{RefWatcher, debounce};

/// The daemon's log file (its stdout and stderr when started in the background).
pub fn log_path(dirs: &Dirs) -> PathBuf {
    dirs.data.join("daemon.log")
}

/// How long the daemon lets ref events settle before rescanning.
const DEBOUNCE: Duration = Duration::from_millis(5);
/// How often, and for how long after activity, pushes are looked for.
const PUSH_POLL: Duration = Duration::from_secs(2);
const PUSH_POLL_WINDOW: Duration = Duration::from_secs(120);
/// The periodic rescan; `TAGPUB_RESCAN_INTERVAL` (e.g. `2s`) overrides.
const DEFAULT_RESCAN: Duration = Duration::from_secs(300);

fn rescan_interval() -> Duration {
    crate::env::RESCAN_INTERVAL
        .get()
        .and_then(|text| humantime::parse_duration(&text).ok())
        .unwrap_or(DEFAULT_RESCAN)
}

/// Runs the daemon in the foreground until SIGTERM, SIGINT or a `Shutdown`
/// request (`tagpub daemon run`, and what service managers start).
#[cfg(unix)]
pub fn run_foreground(dirs: &Dirs) -> anyhow::Result<()> {
    let instance = lifecycle::acquire(dirs)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let served = runtime.block_on(async {
        let listener = tokio::net::UnixListener::from_std(instance.bind()?)?;
        let shutdown = Shutdown::new();
        shutdown.on_signals()?;
        tracing::info!(pid = instance.pid(), socket = %instance.socket_path().display(), "daemon listening");
        Daemon::run(dirs.clone(), listener, shutdown).await
    });
    // Releases still running get a moment to reach a checkpoint; the locks
    // are let go only after that (a new daemon must not resume a job this
    // one still runs), and the process ends right after: what did not
    // finish resumes at the next start.
    runtime.shutdown_timeout(STOP_GRACE);
    drop(instance);
    served
}

/// How long a stopping daemon lets running releases go on (`daemon stop`
/// waits 10 s in all).
const STOP_GRACE: Duration = Duration::from_secs(5);

struct Daemon {
    dirs: Dirs,
    queue: Arc<Queue>,
    dirty: UnboundedSender<PathBuf>,
    /// Problems per repository (a broken config, a deleted repo), for status.
    problems: Mutex<std::collections::BTreeMap<PathBuf, String>>,
    started: std::time::Instant,
}

impl Daemon {
    async fn run(
        dirs: Dirs,
        listener: tokio::net::UnixListener,
        shutdown: Shutdown,
    ) -> anyhow::Result<()> {
        let (dirty, mut dirty_rx) = unbounded_channel::<PathBuf>();
        let daemon = Arc::new(Daemon {
            queue: Queue::new(dirs.clone(), queue::DEFAULT_WORKERS),
            dirs,
            dirty: dirty.clone(),
            problems: Mutex::new(Default::default()),
            started: std::time::Instant::now(),
        });
        let server = tokio::spawn(server::serve(
            listener,
            daemon.clone() as Arc<dyn Handler>,
            shutdown.clone(),
        ));

        let mut watcher = RefWatcher::new(dirty.clone())?;
        let mut watched: BTreeSet<PathBuf> = BTreeSet::new();
        daemon.sync_watches(&mut watcher, &mut watched);
        // Jobs a previous daemon left unfinished resume now.
        for job in daemon.queue.unfinished() {
            if let Some(workdir) = daemon.workdir_of(&job.git_dir) {
                let grace = Config::discover(&workdir)
                    .map(|c| c.defaults.grace)
                    .unwrap_or_default();
                daemon.queue.spawn(job, workdir, grace);
            }
        }
        // Tags created while no daemon ran are found by a first rescan.
        for git_dir in &watched {
            let _ = dirty.send(git_dir.clone());
        }

        let mut periodic = tokio::time::interval(rescan_interval());
        periodic.tick().await;
        // After any activity, repositories with tags waiting for their push
        // are looked at every 2 s for 2 minutes: the pre-push hook nudges
        // before git sends the tag, so the first look is always too early.
        let mut push_poll = tokio::time::interval(PUSH_POLL);
        let mut poll_until = tokio::time::Instant::now();
        let stop = shutdown.wait();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => break,
                batch = debounce(&mut dirty_rx, DEBOUNCE) => {
                    // A nudge may name a repository added since the last look.
                    if batch.iter().any(|dir| !watched.contains(dir)) {
                        daemon.sync_watches(&mut watcher, &mut watched);
                    }
                    for git_dir in batch.into_iter().filter(|dir| watched.contains(dir)) {
                        let daemon = daemon.clone();
                        let _ = tokio::task::spawn_blocking(move || daemon.rescan(&git_dir)).await;
                    }
                    // Poll only while a tag waits for its push: an idle daemon
                    // must not wake every 2 s.
                    if watched.iter().any(|dir| daemon.queue.waits_for_push(dir)) {
                        poll_until = tokio::time::Instant::now() + PUSH_POLL_WINDOW;
                    }
                }
                _ = push_poll.tick(), if tokio::time::Instant::now() < poll_until => {
                    // Rescanned here, not through the dirty channel, so polling
                    // does not keep extending its own window.
                    for git_dir in watched.iter().filter(|dir| daemon.queue.waits_for_push(dir)) {
                        let git_dir = git_dir.clone();
                        let daemon = daemon.clone();
                        let _ = tokio::task::spawn_blocking(move || daemon.rescan(&git_dir)).await;
                    }
                }
                _ = periodic.tick() => {
                    daemon.sync_watches(&mut watcher, &mut watched);
                    for git_dir in &watched {
                        let _ = dirty.send(git_dir.clone());
                    }
                }
            }
        }
        tracing::info!("stopping: running releases finish or resume at the next start");
        let _ = server.await;
        Ok(())
    }

    /// Makes the filesystem watches match the registry on disk (which
    /// `tagpub watch add|remove` change).
    fn sync_watches(&self, watcher: &mut RefWatcher, watched: &mut BTreeSet<PathBuf>) {
        let registry = match Registry::load(&self.dirs) {
            Ok(registry) => registry,
            Err(err) => {
                tracing::error!(err = %crate::exit::chain_text(&err), "cannot read the watch list");
                return;
            }
        };
        let wanted: BTreeSet<PathBuf> =
            registry.repos().iter().map(|r| r.git_dir.clone()).collect();
        for gone in watched.difference(&wanted).cloned().collect::<Vec<_>>() {
            watcher.unwatch(&gone);
            watched.remove(&gone);
            tracing::info!(git_dir = %gone.display(), "no longer watched");
        }
        for new in wanted.difference(watched).cloned().collect::<Vec<_>>() {
            match watcher.watch(&new) {
                Ok(_) => {
                    tracing::info!(git_dir = %new.display(), "watching");
                    watched.insert(new);
                }
                // The error says "cannot watch …" itself.
                Err(err) => self.problem(&new, crate::exit::chain_text(&err)),
            }
        }
    }

    fn problem(&self, git_dir: &Path, message: String) {
        tracing::warn!(git_dir = %git_dir.display(), %message);
        self.problems
            .lock()
            .expect("not poisoned")
            .insert(git_dir.to_path_buf(), message);
    }

    fn workdir_of(&self, git_dir: &Path) -> Option<PathBuf> {
        Registry::load(&self.dirs)
            .ok()?
            .get(git_dir)
            .map(|r| r.workdir.clone())
    }

    /// Reads the tags of one repository, turns what changed into jobs, and
    /// only then records the new tags as known: a crash in between finds the
    /// same changes again.
    fn rescan(&self, git_dir: &Path) {
        let Some(workdir) = self.workdir_of(git_dir) else {
            return;
        };
        let scanned = Repo::discover(&workdir).and_then(|repo| repo.tag_targets());
        let now = match scanned {
            Ok(now) => now,
            Err(err) => {
                return self.problem(
                    git_dir,
                    crate::exit::chain_text_in("cannot read tags", &err),
                );
            }
        };
        // A broken config stops this repository only; its tags wait (not
        // recorded as known) until the config loads again.
        let config = match Config::discover(&workdir) {
            Ok(config) => config,
            Err(err) => return self.problem(git_dir, crate::exit::chain_text(&err)),
        };
        self.problems.lock().expect("not poisoned").remove(git_dir);
        let repo = Repo::discover(&workdir).ok();
        // Each new tag is matched with the config its release will use.
        let config_for = |tag: &str| match &repo {
            Some(repo) => Config::for_tag(repo, tag).map_err(|e| crate::exit::chain_text(&e)),
            None => Ok(config.clone()),
        };
        let mut started = Registry::update(&self.dirs, |registry| {
            let repo = registry.get_mut(git_dir)?;
            let changes = diff(&repo.known, &now);
            if changes.is_empty() {
                return Some(Vec::new());
            }
            // A tag is known only once its job is on disk: a change whose
            // record could not be written stays unknown and comes back at
            // the next rescan.
            let (jobs, handled) = self.queue.on_changes(git_dir, &config_for, &changes);
            repo.apply(&handled);
            Some(jobs)
        });
        if let (Ok(Some(jobs)), Ok(repo)) = (&mut started, Repo::discover(&workdir)) {
            jobs.extend(self.queue.check_pushes(git_dir, &repo));
        }
        match started {
            Ok(Some(jobs)) => {
                for job in jobs {
                    self.queue
                        .spawn(job, workdir.clone(), config.defaults.grace);
                }
            }
            Ok(None) => {}
            Err(err) => self.problem(
                git_dir,
                crate::exit::chain_text_in("cannot record the tags", &err),
            ),
        }
    }

    fn status(&self) -> StatusReply {
        let registry = Registry::load(&self.dirs).unwrap_or_default();
        let problems = self.problems.lock().expect("not poisoned").clone();
        let repos = registry
            .repos()
            .iter()
            .map(|r| {
                let mut problem: Vec<String> =
                    problems.get(&r.git_dir).cloned().into_iter().collect();
                problem.extend(self.queue.write_problems(&r.git_dir));
                WatchedRepo {
                    git_dir: r.git_dir.clone(),
                    workdir: r.workdir.clone(),
                    known_tags: r.known.len(),
                    problem: (!problem.is_empty()).then(|| problem.join("; ")),
                }
            })
            .collect();
        let jobs = self.queue.jobs();
        let queued = jobs.iter().filter(|j| j.state == JobState::Waiting).count();
        let running = jobs.iter().filter(|j| j.state == JobState::Running).count();
        StatusReply {
            daemon: DaemonState {
                running: true,
                pid: Some(std::process::id()),
                uptime_secs: Some(self.started.elapsed().as_secs()),
            },
            repos,
            queued: Some(queued),
            running: Some(running),
            jobs,
        }
    }
}

impl Handler for Daemon {
    fn handle(&self, request: Request) -> Response {
        tracing::debug!(?request, "request");
        match request {
            Request::Nudge { git_dir } => {
                let git_dir = common_git_dir(&git_dir).unwrap_or(git_dir);
                let git_dir = git_dir.canonicalize().unwrap_or(git_dir);
                let _ = self.dirty.send(git_dir);
                Response::Ok
            }
            Request::Status => Response::Status(self.status()),
            Request::Cancel { job } => match self.queue.cancel(job) {
                Ok(_) => Response::Ok,
                Err(message) => Response::Error { message },
            },
            Request::Retry { job } => {
                // Everything the retry needs is checked before the job
                // changes state: a refused retry leaves it as it was.
                let retried = self
                    .queue
                    .get(job)
                    .ok_or_else(|| format!("no job {job}"))
                    .and_then(|record| {
                        self.workdir_of(&record.git_dir).ok_or_else(|| {
                            format!(
                                "job {job} belongs to {}, which is no longer watched: `tagpub watch add` it again, then retry",
                                record.git_dir.display()
                            )
                        })
                    })
                    .and_then(|workdir| {
                        let record = self.queue.retry(job)?;
                        self.queue.spawn(record, workdir, Duration::ZERO);
                        Ok(())
                    });
                match retried {
                    Ok(()) => Response::Ok,
                    Err(message) => Response::Error { message },
                }
            }
            // The server answers these itself.
            Request::Ping | Request::Shutdown => Response::Ok,
        }
    }
}
