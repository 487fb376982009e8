//! The database proxy of `settle drive`: a TCP proxy on 127.0.0.1 between the service and its
//! PostgreSQL, MySQL or MariaDB database. With a `[database]` table in the scenario, settle passes
//! the service a `SETTLE_DATABASE_URL` that points here (the checks keep the direct
//! `[check] database_url`, whose scheme — `postgres://`, `postgresql://`, `mysql://`,
//! `mariadb://` — chooses the wire protocol).
//!
//! It frames the wire protocol ([`pg`], [`mysql`]) so it knows each connection's round trips,
//! whether a transaction is open (PostgreSQL's ReadyForQuery status `I`/`T`/`E`; MySQL's
//! `SERVER_STATUS_IN_TRANS` in OK and EOF packets) and its COMMITs, forwards every byte unchanged
//! (but the `CLIENT_SSL` bit of a MySQL server's greeting), and applies the seeded faults of
//! [`DatabaseSpec`], the same for both protocols — each recorded in the drive trace as a
//! `database` line:
//! - `latency`: simulated time added before each round trip (a `Q`, or a `Sync`; a MySQL
//!   command) leaves;
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
//! What it does not do: TLS (it answers `N` to PostgreSQL's `SSLRequest` and hides a MySQL
//! server's TLS, so a client with `sslmode=require` / `ssl-mode=REQUIRED` cannot connect
//! through it); Unix-socket database URLs; faults inside a round trip (a statement of an
//! extended-protocol batch alone); holding anything but an explicit COMMIT (a MySQL INSERT that
//! autocommits is not held); what [`mysql`] does not frame.

mod frames;
pub mod mysql;
pub mod pg;

pub use frames::{Answered, Sent};
use frames::{Frames, read_message};

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

/// The wire protocol the proxy frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    Postgres,
    Mysql,
}

/// The database the proxy stands in front of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub wire: Wire,
    /// `host:port`.
    pub addr: String,
}

/// The protocol and `host:port` of a PostgreSQL or MySQL URL, or why the proxy cannot stand in
/// front of it.
pub fn upstream_of(url: &str) -> Result<Upstream, String> {
    let schemes = [
        ("postgres://", Wire::Postgres, 5432),
        ("postgresql://", Wire::Postgres, 5432),
        ("mysql://", Wire::Mysql, 3306),
        ("mariadb://", Wire::Mysql, 3306),
    ];
    let (rest, wire, port) = schemes
        .iter()
        .find_map(|(scheme, wire, port)| Some((url.strip_prefix(scheme)?, *wire, *port)))
        .ok_or_else(|| {
            format!(
                "the database proxy speaks PostgreSQL and MySQL only, and {url:?} is not a postgres://, \
                 postgresql://, mysql:// or mariadb:// URL"
            )
        })?;
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let hostport = authority.rsplit('@').next().unwrap_or("");
    if hostport.is_empty() || hostport.starts_with('%') {
        return Err(format!("{url:?} names no TCP host (the proxy does not serve Unix sockets)"));
    }
    let addr = if hostport.contains(':') { hostport.to_string() } else { format!("{hostport}:{port}") };
    Ok(Upstream { wire, addr })
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
    upstream: Upstream,
    /// Connections counted busy now (as [`DriveWorld::db_busy`] counts them).
    busy: std::sync::atomic::AtomicU64,
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
    /// Listens on an ephemeral port of 127.0.0.1 in front of `upstream`.
    pub async fn start(world: &DriveWorld, upstream: Upstream, spec: &DatabaseSpec) -> Result<DbProxy, Error> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| Error::Infrastructure(format!("the database proxy cannot listen on 127.0.0.1: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Infrastructure(format!("cannot read the database proxy's address: {e}")))?;
        let shared = Arc::new(Shared {
            world: world.clone(),
            upstream,
            busy: std::sync::atomic::AtomicU64::new(0),
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

    /// The end (simulated) of the database outage `now_ms` falls in, if the proxy is refusing
    /// connections then (an outage of the scenario's, in the safety phase, once armed).
    pub fn outage_end(&self, now_ms: u64) -> Option<u64> {
        self.shared.outage_at(now_ms)
    }

    /// Connections through the proxy with a round trip in flight or a transaction open now.
    pub fn busy_connections(&self) -> u64 {
        self.shared.busy.load(std::sync::atomic::Ordering::SeqCst)
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
struct Conn {
    frames: Frames,
    /// Round trips sent and not yet answered (the startup or connection phase counts as one).
    awaiting: u32,
    /// No transaction open, as the server last said (PostgreSQL's ReadyForQuery `I`; MySQL's
    /// status without `SERVER_STATUS_IN_TRANS`).
    idle: bool,
    /// Whether the world counts this connection busy now.
    counted: bool,
    /// The open transaction's SQL and parameters, for finding a held order id (first 64 KiB).
    tx: Vec<u8>,
    tx_inserts: bool,
    /// Drop the server's answers until the round trip ends, then reset: a lost COMMIT answer.
    swallow: bool,
}

impl Conn {
    fn settle_count(&mut self, shared: &Shared) {
        let busy = self.awaiting > 0 || !self.idle;
        if busy != self.counted {
            self.counted = busy;
            shared.world.db_busy(busy);
            if busy {
                shared.busy.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            } else {
                shared.busy.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            }
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
    let frames = match shared.upstream.wire {
        Wire::Postgres => Frames::Pg(pg::Frames::default()),
        Wire::Mysql => Frames::My(mysql::Frames::default()),
    };
    let conn =
        Conn { frames, awaiting: 1, idle: true, counted: false, tx: Vec::new(), tx_inserts: false, swallow: false };
    let conn = Arc::new(Mutex::new(conn));
    lock(&conn).settle_count(&shared);
    let now = world.now_ms();
    if shared.outage_at(now).is_some() {
        // Accepted in the instant the outage began: reset, as the database went away.
        rst(&client);
    } else {
        match TcpStream::connect(&shared.upstream.addr).await {
            // A reset end set linger 0 on the client socket before it closed (see `reset`).
            Ok(server) => {
                let _ = relay(client, server, &shared, &conn, id).await;
            }
            Err(e) => {
                shared.record(format!("db#{id}: cannot reach {}: {e}", shared.upstream.addr));
                rst(&client);
            }
        }
    }
    let mut c = lock(&conn);
    c.awaiting = 0;
    c.idle = true;
    c.settle_count(&shared);
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

/// PostgreSQL's startup: refuses encryption with 'N', forwards the startup message (then true)
/// or a cancel request (then false, the connection is over).
async fn pg_startup(cr: &mut OwnedReadHalf, cw: &mut OwnedWriteHalf, sw: &mut OwnedWriteHalf) -> bool {
    loop {
        let Ok(Some(packet)) = pg::read_startup(cr).await else { return false };
        match pg::startup_kind(&packet) {
            pg::Startup::Encryption => {
                if cw.write_all(b"N").await.is_err() {
                    return false;
                }
            }
            pg::Startup::Cancel => {
                let _ = sw.write_all(&packet).await;
                return false;
            }
            pg::Startup::Start => return sw.write_all(&packet).await.is_ok(),
        }
    }
}

async fn relay(client: TcpStream, server: TcpStream, shared: &Shared, conn: &Mutex<Conn>, id: u64) -> End {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    // MySQL's server speaks first: its greeting is framed as any answer.
    if shared.upstream.wire == Wire::Postgres && !pg_startup(&mut cr, &mut cw, &mut sw).await {
        return End::Closed;
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
    let wire = shared.upstream.wire;
    loop {
        let Ok(Some(msg)) = read_message(wire, cr).await else { return End::Closed };
        let sent = {
            let mut c = lock(conn);
            let sent = c.frames.sent(&msg);
            c.tx_inserts |= sent.inserts;
            if let Some(from) = sent.keep_from
                && c.tx.len() < 65_536
            {
                c.tx.extend_from_slice(msg.get(from..).unwrap_or_default());
            }
            sent
        };
        if let Some(why) = &sent.refuse {
            shared.record(format!("db#{id}: refused: {why}"));
            return End::Closed;
        }
        let (commit_point, what) = (sent.commit, &sent.what);
        if sent.round_trip {
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
            c.settle_count(shared);
        }
        if sw.write_all(&msg).await.is_err() {
            return End::Reset;
        }
        if sent.last {
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
    let wire = shared.upstream.wire;
    let mut said = String::new();
    loop {
        let Ok(Some(mut msg)) = read_message(wire, sr).await else { return End::Reset };
        let (answer, swallow) = {
            let mut c = lock(conn);
            let answer = c.frames.answered(&mut msg);
            if answer.ends {
                c.awaiting = c.awaiting.saturating_sub(1);
            }
            if let Some(idle) = answer.idle {
                c.idle = idle;
                if idle {
                    c.tx.clear();
                    c.tx_inserts = false;
                }
            }
            c.settle_count(shared);
            (answer, c.swallow)
        };
        if swallow {
            if let Some(s) = answer.said {
                said = s;
            }
            if answer.ends {
                let said = if said.is_empty() { "nothing".to_string() } else { said };
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
        let up = |url: &str| upstream_of(url).map(|u| (u.wire, u.addr));
        let u = "postgres://postgres@127.0.0.1:5432/settle_drive?sslmode=prefer";
        assert_eq!(up(u).unwrap(), (Wire::Postgres, "127.0.0.1:5432".into()));
        assert_eq!(through(u, "127.0.0.1:40000"), "postgres://postgres@127.0.0.1:40000/settle_drive?sslmode=prefer");
        assert_eq!(up("postgresql://u:p@db/x").unwrap(), (Wire::Postgres, "db:5432".into()));
        assert_eq!(through("postgresql://u:p@db/x", "127.0.0.1:1"), "postgresql://u:p@127.0.0.1:1/x");
        let m = "mysql://root:p%40ss@127.0.0.1/settle_drive?ssl-mode=DISABLED";
        assert_eq!(up(m).unwrap(), (Wire::Mysql, "127.0.0.1:3306".into()));
        assert_eq!(through(m, "127.0.0.1:7"), "mysql://root:p%40ss@127.0.0.1:7/settle_drive?ssl-mode=DISABLED");
        assert_eq!(up("mariadb://u@db:3307/x").unwrap(), (Wire::Mysql, "db:3307".into()));
        let sqlite = upstream_of("sqlite://x.db").unwrap_err();
        assert!(sqlite.contains("PostgreSQL and MySQL only") && sqlite.contains("\"sqlite://x.db\""), "{sqlite}");
        assert!(upstream_of("postgres:///x").unwrap_err().contains("no TCP host"));
        assert!(upstream_of("mysql://root@/x").unwrap_err().contains("no TCP host"));
    }
}
