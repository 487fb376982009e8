//! The service under test as a process: started in its own process group with settle's
//! environment, waited on until its health URL answers 2xx, and killed (`SIGKILL` to the whole
//! group) when the run ends, fails, or settle is interrupted (Ctrl-C / SIGTERM).
//!
//! The environment settle passes (documented in the README's "Any language" section):
//! - `SETTLE_PROVIDER_URL`: the provider's base URL, e.g. `http://127.0.0.1:41234`;
//! - `SETTLE_SERVER_KEY`: the Midtrans server key (it signs notifications);
//! - `SETTLE_DATABASE_URL`: the `[check] database_url` of the scenario, or with `[database]` the
//!   same URL through settle's database proxy (see [`super::proxy`]);
//! - `PORT`: the port the service must listen on (127.0.0.1);
//! - `SETTLE_TIME_SCALE`: simulated milliseconds per real millisecond (for services that run
//!   their own timers: divide their intervals by it).
//!
//! The service's stdout and stderr go to a log file; its last lines are shown when it fails.
//!
//! [`Service::restart`] kills the group and starts the command again on the same port (the crash
//! plan, [`super::crash`]); the log goes on in the same file.
//!
//! What it does not do: proxy its database (see [`super::proxy`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use crate::Error;
use crate::sim::Request;
use crate::sim::world::lock;

/// Process groups settle has started and not yet killed: the signal handler kills them all.
static GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// How the tail of the service's log starts in an error message: what comes before it is the
/// error's own first line ([`super::crash`] records only that).
pub const LOG_TAIL: &str = "; the end of its log";

/// A running service. Dropping it kills its process group.
pub struct Service {
    child: Option<tokio::process::Child>,
    pgid: Option<i32>,
    pub base: String,
    pub port: u16,
    pub log: Option<PathBuf>,
}

/// What the service is started with.
pub struct Launch<'a> {
    pub command: &'a [String],
    pub cwd: &'a Path,
    pub env: &'a BTreeMap<String, String>,
    pub settle_env: Vec<(String, String)>,
}

/// A free port on 127.0.0.1 (bound, then released for the service to take).
pub fn free_port() -> Result<u16, Error> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::Infrastructure(format!("cannot find a free port on 127.0.0.1: {e}")))?;
    l.local_addr().map(|a| a.port()).map_err(|e| Error::Infrastructure(format!("cannot read a bound port: {e}")))
}

impl Service {
    /// A service that already listens at `base` (settle neither starts nor stops it).
    pub fn external(base: &str) -> Result<Service, Error> {
        let port = base.rsplit(':').next().and_then(|p| p.trim_end_matches('/').parse().ok()).unwrap_or(80);
        Ok(Service { child: None, pgid: None, base: base.trim_end_matches('/').to_string(), port, log: None })
    }

    /// Starts `launch.command` in its own process group, listening on `port`.
    pub fn spawn(launch: &Launch<'_>, port: u16) -> Result<Service, Error> {
        Service::spawn_logged(launch, port, false)
    }

    /// Kills the process group, reaps it, and starts `launch` again on the same port.
    pub async fn restart(&mut self, launch: &Launch<'_>) -> Result<(), Error> {
        self.kill_group();
        if let Some(mut c) = self.child.take() {
            let _ = c.wait().await;
        }
        *self = Service::spawn_logged(launch, self.port, true)?;
        Ok(())
    }

    fn spawn_logged(launch: &Launch<'_>, port: u16, append: bool) -> Result<Service, Error> {
        let shown = launch.command.join(" ");
        if !launch.cwd.is_dir() {
            return Err(Error::Service(format!(
                "service `{shown}`: its working directory {} does not exist",
                launch.cwd.display()
            )));
        }
        let log = std::env::temp_dir().join(format!("settle-drive-{}-{port}.log", std::process::id()));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(&log)
            .map_err(|e| Error::Infrastructure(format!("cannot create the service log {}: {e}", log.display())))?;
        let err = out.try_clone().map_err(|e| Error::Infrastructure(format!("service log: {e}")))?;
        let mut cmd = tokio::process::Command::new(&launch.command[0]);
        cmd.args(&launch.command[1..])
            .current_dir(launch.cwd)
            .envs(launch.env)
            .envs(launch.settle_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .process_group(0)
            .kill_on_drop(true);
        let child = cmd.spawn().map_err(|e| Error::Service(format!("service `{shown}` did not start: {e}")))?;
        let pgid = child.id().and_then(|p| i32::try_from(p).ok());
        if let Some(g) = pgid {
            lock(&GROUPS).push(g);
        }
        Ok(Service { child: Some(child), pgid, base: format!("http://127.0.0.1:{port}"), port, log: Some(log) })
    }

    /// Waits until `GET health` answers 2xx, for at most `timeout_ms` of real time. A service
    /// that exits first, or never answers, is an [`Error::Service`] with its last log lines.
    pub async fn wait_healthy(&mut self, health: &str, timeout_ms: u64) -> Result<(), Error> {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(timeout_ms);
        let mut last;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(Error::Service(format!(
                    "the service exited ({status}) before {health} answered{}",
                    self.log_tail()
                )));
            }
            match send(&self.base, Request::new(http::Method::GET, health), 1_000).await {
                Ok(r) if (200..300).contains(&r.status) => return Ok(()),
                Ok(r) => last = format!("last answer {}", r.status),
                Err(e) => last = format!("last try: {e}"),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Service(format!(
                    "the service never became healthy: GET {}{health} gave no 2xx within {} ms ({last}){}",
                    self.base,
                    timeout_ms,
                    self.log_tail()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The last lines of the service's log, for error messages.
    pub fn log_tail(&self) -> String {
        let Some(path) = &self.log else { return String::new() };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n    ");
        if tail.is_empty() {
            format!("; its log {} is empty", path.display())
        } else {
            format!("{LOG_TAIL} ({}):\n    {tail}", path.display())
        }
    }

    /// Kills the process group and reaps the child.
    pub async fn stop(mut self) {
        self.kill_group();
        if let Some(mut c) = self.child.take() {
            let _ = c.wait().await;
        }
    }

    fn kill_group(&mut self) {
        if let Some(g) = self.pgid.take() {
            kill_group(g);
            lock(&GROUPS).retain(|x| *x != g);
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill_group();
    }
}

fn kill_group(pgid: i32) {
    // SAFETY: kill(2) with a negative pid signals that process group; no memory is touched.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// Kills every service group still alive (the Ctrl-C / SIGTERM path).
pub fn kill_all() {
    for g in std::mem::take(&mut *lock(&GROUPS)) {
        kill_group(g);
    }
}

/// Sends `req` to the service at `base` (`http://127.0.0.1:PORT`) over real TCP.
pub async fn send(base: &str, req: Request, timeout_ms: u64) -> Result<crate::sim::Response, crate::sim::NetError> {
    let hostport = base.trim_start_matches("http://").trim_end_matches('/').to_string();
    let connect = tokio::net::TcpStream::connect(hostport.clone());
    crate::hosted::http::exchange(connect, &hostport, req, timeout_ms).await
}
