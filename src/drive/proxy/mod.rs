//! The database proxy of `settle drive`: a TCP proxy on 127.0.0.1 between the service and its
//! PostgreSQL database. With a `[database]` table in the scenario, settle passes the service a
//! `SETTLE_DATABASE_URL` that points here (the checks keep the direct `[check] database_url`).
//!
//! It frames the wire protocol ([`pg`]) so it knows each connection's round trips, its
//! transaction status (ReadyForQuery's `I`/`T`/`E`) and its COMMITs, forwards every byte
//! unchanged, and applies the seeded faults of [`DatabaseSpec`] — each recorded in the drive
//! trace as a `database` line:
//! - `latency`: simulated time added before each round trip (a `Q`, or a `Sync`) leaves;
//! - `reset`: the share of round trips whose connection is reset (RST) before it reaches the server;
//! - `lost_commit`: the share of COMMITs forwarded, committed by the server, whose answer the proxy
//!   drops before closing the connection — the client cannot know its transaction committed;
//! - `outages`: windows of simulated time when the proxy stops listening (connections refused)
//!   and resets the connections it has;
//! - `hold_commit`: the share of paying customers whose checkout COMMIT (the first COMMIT of a
//!   transaction that INSERTs and names the order id, in its SQL or its parameters) is held until
//!   the service has answered the provider's final notification for that order: seed 001's race
//!   — the webhook before the row — on purpose, with the row written but not yet visible.
//!
//! Faults apply in the safety phase only, from the moment the service is first healthy (holds are released in liveness too, when their
//! notification is answered). Every connection with a round trip in flight or a transaction open
//! counts as busy for [`DriveWorld::quiet`], so a step waits for the database to be idle too.
//!
//! What it does not do: MySQL's protocol; TLS (it answers `N` to `SSLRequest`, so a client with
//! `sslmode=require` cannot connect through it); Unix-socket database URLs; faults inside a
//! round trip (a statement of an extended-protocol batch alone); holding anything but COMMIT.

pub mod pg;

use std::sync::{Arc, Mutex};

use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

use super::runtime::DriveWorld;
use crate::Error;
use crate::sim::world::lock;
use crate::sim::{Kind, Millis, Phase, Range, Rate};

/// The longest a COMMIT is held, in simulated time (as Snap's answer, `midtrans::HOLD_MAX_MS`).
const HOLD_MAX_MS: u64 = 180_000;

/// The scenario's `[database]` table: the proxy is on when it is present.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSpec {
    pub latency: Option<Range>,
    pub reset: Rate,
    pub lost_commit: Rate,
    pub outages: Vec<Outage>,
    pub hold_commit: f64,
}

/// A window of simulated time (from the run's start) when the database is down.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outage {
    pub from: Millis,
    pub to: Millis,
}

impl DatabaseSpec {
    /// What is wrong with the table, if anything.
    pub fn problem(&self) -> Option<String> {
        if !(0.0..=1.0).contains(&self.hold_commit) {
            return Some(format!("[database] hold_commit {} must be between 0 and 1", self.hold_commit));
        }
        self.outages
            .iter()
            .find(|o| o.from >= o.to)
            .map(|o| format!("[database] outage from {} to {}: `from` must be before `to`", o.from, o.to))
    }
}

/// `host:port` of a `postgres://` URL, or why the proxy cannot stand in front of it.
pub fn upstream_of(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .ok_or_else(|| format!("the database proxy speaks PostgreSQL only, and {url:?} is not a postgres:// URL"))?;
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let hostport = authority.rsplit('@').next().unwrap_or("");
    if hostport.is_empty() || hostport.starts_with('%') {
        return Err(format!("{url:?} names no TCP host (the proxy does not serve Unix sockets)"));
    }
    Ok(if hostport.contains(':') { hostport.to_string() } else { format!("{hostport}:5432") })
}

/// `url` with its host and port replaced by `proxy` (`127.0.0.1:PORT`).
pub fn through(url: &str, proxy: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[scheme_end..];
    let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let userinfo = rest[..auth_end].rfind('@').map_or(String::new(), |i| rest[..=i].to_string());
    format!("{}{userinfo}{proxy}{}", &url[..scheme_end], &rest[auth_end..])
}

/// A running proxy. Dropping it stops listening and closes every connection through it.
pub struct DbProxy {
    pub addr: std::net::SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DbProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What every connection of one proxy shares.
struct Shared {
    world: DriveWorld,
    upstream: String,
    latency: Option<Range>,
    reset: u32,
    lost_commit: u32,
    outages: Vec<Outage>,
    /// Faults start once the service is first healthy ([`DbProxy::arm`]).
    armed: std::sync::atomic::AtomicBool,
}

impl Shared {
    fn faulty(&self) -> bool {
        self.armed.load(std::sync::atomic::Ordering::SeqCst) && self.world.phase() == Phase::Safety
    }

    /// The end of the outage `now` is in (safety phase only).
    fn outage_at(&self, now: u64) -> Option<u64> {
        if !self.faulty() {
            return None;
        }
        self.outages.iter().find(|o| o.from.0 <= now && now < o.to.0).map(|o| o.to.0)
    }

    fn next_outage_after(&self, now: u64) -> Option<u64> {
        self.outages.iter().map(|o| o.from.0).filter(|f| *f > now).min()
    }

    fn record(&self, text: String) {
        self.world.record("database", Kind::Fault, text);
    }
}

impl DbProxy {
    /// Listens on an ephemeral port of 127.0.0.1 in front of `upstream` (`host:port`).
    pub async fn start(world: &DriveWorld, upstream: String, spec: &DatabaseSpec) -> Result<DbProxy, Error> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| Error::Infrastructure(format!("the database proxy cannot listen on 127.0.0.1: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Infrastructure(format!("cannot read the database proxy's address: {e}")))?;
        let shared = Arc::new(Shared {
            world: world.clone(),
            upstream,
            latency: spec.latency,
            reset: spec.reset.ppm(),
            lost_commit: spec.lost_commit.ppm(),
            outages: spec.outages.clone(),
            armed: std::sync::atomic::AtomicBool::new(false),
        });
        let task = tokio::spawn(accept_loop(listener, addr, shared.clone()));
        Ok(DbProxy { addr, shared, task })
    }

    /// Starts the faults (settle calls it once the service is healthy: its own start-up is
    /// not what the run tests). A COMMIT hold works armed or not.
    pub fn arm(&self) {
        self.shared.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Accepts connections; during an outage stops listening (refused), then listens again on the
/// same port. Dropping this future (the proxy's task aborted) aborts every connection.
async fn accept_loop(listener: TcpListener, addr: std::net::SocketAddr, shared: Arc<Shared>) {
    let mut conns = tokio::task::JoinSet::new();
    let mut listener = Some(listener);
    let mut id = 0u64;
    loop {
        let now = shared.world.now_ms();
        if let Some(end) = shared.outage_at(now) {
            drop(listener.take());
            shared.record(format!("outage: refusing connections until {}", Millis(end)));
            shared.world.sleep_sim(end.saturating_sub(now)).await;
            while listener.is_none() {
                match TcpListener::bind(addr).await {
                    Ok(l) => listener = Some(l),
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
                }
            }
            shared.record("outage over: accepting connections".into());
            continue;
        }
        let Some(l) = listener.as_ref() else { return };
        let until_outage = shared.next_outage_after(now).map(|s| s - now);
        tokio::select! {
            biased;
            accepted = l.accept() => {
                if let Ok((client, _)) = accepted {
                    id += 1;
                    conns.spawn(serve(client, shared.clone(), id));
                }
            }
            () = async {
                match until_outage {
                    Some(ms) => shared.world.sleep_sim(ms).await,
                    None => std::future::pending().await,
                }
            } => {}
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// One connection's state, shared by its two directions.
#[derive(Default)]
struct Conn {
    /// Round trips sent and not yet answered by ReadyForQuery (the startup counts as one).
    awaiting: u32,
    /// The last ReadyForQuery status (`I` before the first).
    status: u8,
    /// Whether the world counts this connection busy now.
    counted: bool,
    /// The open transaction's SQL and parameters, for finding a held order id (first 64 KiB).
    tx: Vec<u8>,
    tx_inserts: bool,
    /// An extended-protocol `COMMIT` parsed, to be decided at its Sync.
    commit_parsed: bool,
    /// Drop the server's answers until ReadyForQuery, then reset: a lost COMMIT answer.
    swallow: bool,
}

impl Conn {
    fn settle_count(&mut self, world: &DriveWorld) {
        let busy = self.awaiting > 0 || self.status != b'I';
        if busy != self.counted {
            self.counted = busy;
            world.db_busy(busy);
        }
    }
}

/// How a connection ended.
enum End {
    Closed,
    Reset,
}

async fn serve(client: TcpStream, shared: Arc<Shared>, id: u64) {
    let world = shared.world.clone();
    let conn = Arc::new(Mutex::new(Conn { awaiting: 1, status: b'I', ..Conn::default() }));
    lock(&conn).settle_count(&world);
    let now = world.now_ms();
    if shared.outage_at(now).is_some() {
        // Accepted in the instant the outage began: reset, as the database went away.
        rst(&client);
    } else {
        match TcpStream::connect(&shared.upstream).await {
            // A reset end set linger 0 on the client socket before it closed (see `reset`).
            Ok(server) => {
                let _ = relay(client, server, &shared, &conn, id).await;
            }
            Err(e) => {
                shared.record(format!("db#{id}: cannot reach {}: {e}", shared.upstream));
                rst(&client);
            }
        }
    }
    let mut c = lock(&conn);
    c.awaiting = 0;
    c.status = b'I';
    c.settle_count(&world);
}

/// Closes the client's side with RST (linger 0) rather than FIN.
fn reset(w: &OwnedWriteHalf) {
    rst(w.as_ref());
}

/// Makes closing `s` send RST. tokio deprecates `set_linger` because a non-zero linger blocks
/// the thread on drop; a zero linger does not block (the kernel discards and resets at once).
#[allow(deprecated)]
fn rst(s: &TcpStream) {
    let _ = s.set_linger(Some(std::time::Duration::ZERO));
}

async fn relay(client: TcpStream, server: TcpStream, shared: &Shared, conn: &Mutex<Conn>, id: u64) -> End {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    // Startup: refuse encryption with 'N', forward the startup message (or a cancel request).
    loop {
        let Ok(Some(packet)) = pg::read_startup(&mut cr).await else { return End::Closed };
        match pg::startup_kind(&packet) {
            pg::Startup::Encryption => {
                if cw.write_all(b"N").await.is_err() {
                    return End::Closed;
                }
            }
            pg::Startup::Cancel => {
                let _ = sw.write_all(&packet).await;
                return End::Closed;
            }
            pg::Startup::Start => {
                if sw.write_all(&packet).await.is_err() {
                    return End::Closed;
                }
                break;
            }
        }
    }
    let end = tokio::select! {
        biased;
        e = client_to_server(&mut cr, &mut sw, shared, conn, id) => e,
        e = server_to_client(&mut sr, &mut cw, shared, conn, id) => e,
    };
    if matches!(end, End::Reset) {
        reset(&cw);
    }
    end
}

async fn client_to_server(
    cr: &mut OwnedReadHalf,
    sw: &mut OwnedWriteHalf,
    shared: &Shared,
    conn: &Mutex<Conn>,
    id: u64,
) -> End {
    let world = &shared.world;
    loop {
        let Ok(Some(msg)) = pg::read_typed(cr).await else { return End::Closed };
        let tag = msg[0];
        let text = pg::sql(&msg).map(str::to_string);
        let (round_end, commit_point, what) = {
            let mut c = lock(conn);
            if let Some(s) = &text {
                c.tx_inserts |= pg::is_insert(s);
                if tag == b'P' && pg::is_commit(s) {
                    c.commit_parsed = true;
                }
            }
            if matches!(tag, b'Q' | b'P' | b'B') && c.tx.len() < 65_536 {
                c.tx.extend_from_slice(pg::body(&msg));
            }
            let commit_point = match tag {
                b'Q' => text.as_deref().is_some_and(pg::is_commit),
                b'S' => std::mem::take(&mut c.commit_parsed),
                _ => false,
            };
            let what =
                text.as_deref().map_or_else(|| if tag == b'S' { "Sync".into() } else { String::new() }, pg::short);
            (matches!(tag, b'Q' | b'S'), commit_point, what)
        };
        if round_end {
            if let Some(end) = shared.outage_at(world.now_ms()) {
                shared.record(format!("db#{id}: reset by the outage (until {}) before {what}", Millis(end)));
                return End::Reset;
            }
            // A held COMMIT is the race on purpose: no other fault touches it (a customer under a
            // hold pays before the checkout answers, so a lost checkout there is settle's doing).
            let held = if commit_point {
                let c = lock(conn);
                if c.tx_inserts { world.take_commit_hold(&c.tx) } else { None }
            } else {
                None
            };
            let safety = shared.faulty() && held.is_none();
            let (wait, cut, lose) = if safety {
                world.choose(|o| {
                    let wait = shared.latency.map_or(0, |r| r.draw(o));
                    let cut = shared.reset > 0 && o.chance(shared.reset);
                    (wait, cut, commit_point && !cut && shared.lost_commit > 0 && o.chance(shared.lost_commit))
                })
            } else {
                (0, false, false)
            };
            if wait > 0 {
                world.sleep_sim(wait).await;
            }
            if cut {
                shared.record(format!("db#{id}: connection reset before {what}"));
                return End::Reset;
            }
            if let Some(order) = held {
                shared.record(format!(
                    "db#{id}: COMMIT of the INSERT of {order} held until the service answers its final notification"
                ));
                let deadline =
                    tokio::time::Instant::now() + std::time::Duration::from_millis(HOLD_MAX_MS / world.scale());
                while !world.final_answered(&order) && tokio::time::Instant::now() < deadline {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
                shared.record(format!("db#{id}: COMMIT of {order} released"));
            }
            if lose {
                lock(conn).swallow = true;
            }
            let mut c = lock(conn);
            c.awaiting += 1;
            c.settle_count(world);
        }
        if sw.write_all(&msg).await.is_err() {
            return End::Reset;
        }
        if tag == b'X' {
            return End::Closed;
        }
    }
}

async fn server_to_client(
    sr: &mut OwnedReadHalf,
    cw: &mut OwnedWriteHalf,
    shared: &Shared,
    conn: &Mutex<Conn>,
    id: u64,
) -> End {
    let world = &shared.world;
    let mut tag_seen = String::new();
    loop {
        let Ok(Some(msg)) = pg::read_typed(sr).await else { return End::Reset };
        let swallow = {
            let mut c = lock(conn);
            if let Some(s) = pg::ready_status(&msg) {
                c.awaiting = c.awaiting.saturating_sub(1);
                c.status = s;
                if s == b'I' {
                    c.tx.clear();
                    c.tx_inserts = false;
                }
                c.settle_count(world);
            }
            c.swallow
        };
        if swallow {
            if let Some(t) = pg::command_tag(&msg) {
                tag_seen = t.to_string();
            } else if msg[0] == b'E' {
                tag_seen = "an error".into();
            }
            if msg[0] == b'Z' {
                let said = if tag_seen.is_empty() { "nothing".to_string() } else { tag_seen };
                shared.record(format!("db#{id}: answer to COMMIT lost (the server said {said}); connection closed"));
                return End::Reset;
            }
            continue;
        }
        if cw.write_all(&msg).await.is_err() {
            return End::Closed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_pointed_through_the_proxy() {
        let u = "postgres://postgres@127.0.0.1:5432/settle_drive?sslmode=prefer";
        assert_eq!(upstream_of(u).unwrap(), "127.0.0.1:5432");
        assert_eq!(through(u, "127.0.0.1:40000"), "postgres://postgres@127.0.0.1:40000/settle_drive?sslmode=prefer");
        assert_eq!(upstream_of("postgresql://u:p@db/x").unwrap(), "db:5432");
        assert_eq!(through("postgresql://u:p@db/x", "127.0.0.1:1"), "postgresql://u:p@127.0.0.1:1/x");
        assert!(upstream_of("mysql://root@127.0.0.1/x").unwrap_err().contains("PostgreSQL only"));
        assert!(upstream_of("postgres:///x").unwrap_err().contains("no TCP host"));
    }
}
