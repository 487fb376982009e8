//! MySQL's and MariaDB's client/server protocol (protocol 41), framed just enough for the drive
//! proxy to know commands, transactions and COMMITs while it forwards every packet — all but one
//! bit of the server's greeting — unchanged.
//!
//! - Packets: a 3-byte little-endian payload length, a 1-byte sequence id, the payload. A payload
//!   of 0xFFFFFF bytes is continued by the next packet (read as a packet of its own, not framed).
//! - Connection phase: the server speaks first (the initial handshake, protocol 10). The proxy
//!   clears `CLIENT_SSL` in the server's capabilities it forwards, so a client with TLS optional
//!   goes on in plain text; a client that sends an `SSLRequest` anyway is refused with a reason.
//!   Then it relays the HandshakeResponse41 and any AuthSwitch / AuthMoreData exchange until the
//!   server's OK or ERR ends the phase (the client's capabilities say whether EOF is deprecated).
//! - Command phase: a client packet with sequence id 0 is a command. `COM_QUERY` (its SQL),
//!   `COM_STMT_PREPARE` (its SQL, kept by statement id from the server's answer),
//!   `COM_STMT_EXECUTE` (the prepared statement's SQL; its parameters are kept raw, where an
//!   order id usually is), `COM_STMT_SEND_LONG_DATA` and `COM_STMT_CLOSE` (no answer),
//!   `COM_QUIT`, and any other command answered by one packet (`COM_PING`, `COM_INIT_DB`, …).
//! - Answers: OK (`0x00`, or `0xFE` ending rows under `CLIENT_DEPRECATE_EOF`), ERR (`0xFF`), EOF
//!   (`0xFE`, shorter than 9 bytes), result sets (column count, column definitions, an EOF unless
//!   deprecated, rows, then an EOF or OK, or an ERR), `LOCAL INFILE` requests, the prepare
//!   answer and its definitions. A round trip is one command and its whole answer, following
//!   `SERVER_MORE_RESULTS_EXISTS`. The OK's and EOF's status flags say whether a transaction is
//!   open (`SERVER_STATUS_IN_TRANS`); this replaces PostgreSQL's ReadyForQuery status.
//! - A COMMIT is a `COM_QUERY` (or an executed prepared statement) whose SQL is `COMMIT`. An
//!   INSERT that autocommits on its own (no `BEGIN`) is not one: it is neither held nor has its
//!   answer lost, as a PostgreSQL INSERT outside a transaction is not.
//!
//! What it does not do: TLS or compression (`CLIENT_COMPRESS` is relayed but then the packets are
//! not framed); server-side cursors (`COM_STMT_FETCH` rows are framed, a cursor's open is not);
//! the status after an ERR (ERR carries none: the last known status stands until the next OK,
//! so a deadlock's rollback is seen at the next statement); query attributes with parameters
//! (the SQL of such a `COM_QUERY` is not read); replication commands.

use std::collections::{HashMap, VecDeque};

use tokio::io::{AsyncRead, AsyncReadExt};

use super::pg::{is_commit, is_insert, short};
use super::{Answered, Sent};

pub const CLIENT_SSL: u32 = 0x0800;
pub const CLIENT_DEPRECATE_EOF: u32 = 1 << 24;
pub const CLIENT_QUERY_ATTRIBUTES: u32 = 1 << 27;
pub const SERVER_STATUS_IN_TRANS: u16 = 0x0001;
pub const SERVER_STATUS_AUTOCOMMIT: u16 = 0x0002;
pub const SERVER_MORE_RESULTS_EXISTS: u16 = 0x0008;
pub const SERVER_STATUS_CURSOR_EXISTS: u16 = 0x0040;

/// The largest payload of one packet; a payload this long continues in the next packet.
const PAYLOAD_MAX: usize = 0xFF_FFFF;

/// Reads one whole packet (header and payload); `None` when the peer closed between packets.
pub async fn read_packet<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = [0u8; 4];
    if let Err(e) = r.read_exact(&mut head).await {
        return if e.kind() == std::io::ErrorKind::UnexpectedEof { Ok(None) } else { Err(e) };
    }
    let mut packet = head.to_vec();
    packet.resize(4 + payload_len(&head), 0);
    r.read_exact(&mut packet[4..]).await?;
    Ok(Some(packet))
}

/// Splits whole packets off `buf` (for recorded bytes): each packet in order, and the rest.
pub fn split_packets(mut buf: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let mut out = Vec::new();
    while buf.len() >= 4 && buf.len() >= 4 + payload_len(buf) {
        let n = 4 + payload_len(buf);
        out.push(&buf[..n]);
        buf = &buf[n..];
    }
    (out, buf)
}

fn payload_len(packet: &[u8]) -> usize {
    usize::from(packet[0]) | usize::from(packet[1]) << 8 | usize::from(packet[2]) << 16
}

/// A packet's payload (after length and sequence id).
pub fn payload(packet: &[u8]) -> &[u8] {
    packet.get(4..).unwrap_or_default()
}

/// A packet's sequence id.
pub fn seq(packet: &[u8]) -> u8 {
    packet.get(3).copied().unwrap_or(0)
}

fn u16_at(p: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*p.get(at)?, *p.get(at + 1)?]))
}

fn u32_at(p: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes([*p.get(at)?, *p.get(at + 1)?, *p.get(at + 2)?, *p.get(at + 3)?]))
}

/// A length-encoded integer at `at`: its value and the offset after it.
fn lenenc(p: &[u8], at: usize) -> Option<(u64, usize)> {
    let n = match *p.get(at)? {
        b @ 0..=0xFA => return Some((u64::from(b), at + 1)),
        0xFC => 2,
        0xFD => 3,
        0xFE => 8,
        _ => return None,
    };
    let bytes = p.get(at + 1..at + 1 + n)?;
    let v = bytes.iter().rev().fold(0u64, |v, b| v << 8 | u64::from(*b));
    Some((v, at + 1 + n))
}

/// The status flags of an OK packet's payload (header `0x00`, or `0xFE` ending rows).
pub fn ok_status(p: &[u8]) -> Option<u16> {
    if !matches!(p.first(), Some(0x00 | 0xFE)) {
        return None;
    }
    let (_, at) = lenenc(p, 1)?;
    let (_, at) = lenenc(p, at)?;
    u16_at(p, at)
}

/// The status flags of an EOF packet's payload (`0xFE`, warnings, status).
pub fn eof_status(p: &[u8]) -> Option<u16> {
    (p.first() == Some(&0xFE) && p.len() < 9).then(|| u16_at(p, 3)).flatten()
}

/// An ERR packet's payload as the trace says it: `ERR 1213 (40001): Deadlock found…`.
pub fn err_text(p: &[u8]) -> Option<String> {
    if p.first() != Some(&0xFF) {
        return None;
    }
    let code = u16_at(p, 1).unwrap_or(0);
    let rest = p.get(3..).unwrap_or_default();
    let (state, msg) = match rest.split_first() {
        Some((b'#', r)) if r.len() >= 5 => (format!(" ({})", String::from_utf8_lossy(&r[..5])), &r[5..]),
        _ => (String::new(), rest),
    };
    Some(format!("ERR {code}{state}: {}", short(&String::from_utf8_lossy(msg))))
}

/// What the server's next packets answer (one per command sent, oldest first).
#[derive(Debug)]
enum Expect {
    /// The initial handshake, then the authentication exchange.
    Greeting,
    /// Authentication packets until OK or ERR (also `COM_CHANGE_USER`).
    Auth,
    /// OK, ERR, a `LOCAL INFILE` request or a result set (`COM_QUERY`, `COM_STMT_EXECUTE`).
    Result,
    /// The answer to `COM_STMT_PREPARE` of this SQL.
    Prepare(String),
    /// Rows until EOF/OK or ERR (`COM_STMT_FETCH`).
    Rows,
    /// Column definitions until EOF or ERR (`COM_FIELD_LIST`).
    Defs,
    /// One packet (`COM_PING`, `COM_INIT_DB`, `COM_STATISTICS`, …).
    One,
}

/// Where in an answer the server is.
#[derive(Debug, Clone, Copy)]
enum At {
    /// Between answers: the next packet starts the oldest expected one.
    Idle,
    Auth,
    /// The start of a result (after `SERVER_MORE_RESULTS_EXISTS` or a `LOCAL INFILE` upload).
    Result,
    Columns(u64),
    ColumnsEof,
    Rows,
    Defs,
    /// Packets left of a prepare answer's definitions.
    Skip(u64),
}

/// One connection's framing, both directions.
#[derive(Debug)]
pub struct Frames {
    server_caps: u32,
    client_caps: u32,
    /// The connection phase is over (the server's OK after authentication).
    commands: bool,
    expect: VecDeque<Expect>,
    at: At,
    /// The SQL of each prepared statement, by the id the server gave it.
    statements: HashMap<u32, String>,
    /// The last client (server) packet was full: the next one continues its payload.
    client_more: bool,
    server_more: bool,
}

impl Default for Frames {
    fn default() -> Frames {
        Frames {
            server_caps: 0,
            client_caps: 0,
            commands: false,
            expect: VecDeque::from([Expect::Greeting]),
            at: At::Idle,
            statements: HashMap::new(),
            client_more: false,
            server_more: false,
        }
    }
}

/// The name of a command byte, for the trace.
fn command_name(c: u8) -> String {
    let name = match c {
        0x01 => "COM_QUIT",
        0x02 => "COM_INIT_DB",
        0x04 => "COM_FIELD_LIST",
        0x09 => "COM_STATISTICS",
        0x0e => "COM_PING",
        0x11 => "COM_CHANGE_USER",
        0x18 => "COM_STMT_SEND_LONG_DATA",
        0x19 => "COM_STMT_CLOSE",
        0x1a => "COM_STMT_RESET",
        0x1b => "COM_SET_OPTION",
        0x1c => "COM_STMT_FETCH",
        0x1f => "COM_RESET_CONNECTION",
        _ => return format!("command 0x{c:02x}"),
    };
    name.to_string()
}

impl Frames {
    fn caps(&self) -> u32 {
        self.server_caps & self.client_caps
    }

    /// The SQL of a `COM_QUERY` payload (after query attributes, when there are none).
    fn query_sql(&self, p: &[u8]) -> String {
        let mut at = 1;
        if self.caps() & CLIENT_QUERY_ATTRIBUTES != 0 {
            match lenenc(p, 1).and_then(|(n, a)| Some((n, lenenc(p, a)?.1))) {
                Some((0, a)) => at = a,
                _ => return String::new(),
            }
        }
        String::from_utf8_lossy(p.get(at..).unwrap_or_default()).into_owned()
    }

    /// What a client packet is to the proxy.
    pub fn sent(&mut self, packet: &[u8]) -> Sent {
        let continued = std::mem::replace(&mut self.client_more, payload_len(packet) == PAYLOAD_MAX);
        let p = payload(packet);
        if continued || seq(packet) != 0 || !self.commands {
            if !self.commands && seq(packet) == 1 && p.len() >= 4 {
                self.client_caps = u32_at(p, 0).unwrap_or(0);
                if self.client_caps & CLIENT_SSL != 0 {
                    return Sent {
                        refuse: Some(
                            "the client asks for TLS (an SSLRequest); the database proxy relays plain \
                             connections only: let the service connect without TLS (e.g. ssl-mode=DISABLED)"
                                .into(),
                        ),
                        ..Sent::default()
                    };
                }
            }
            // The connection phase (counted from the start as one round trip), a `LOCAL INFILE`
            // upload, or a long payload's rest: part of the round trip under way.
            return Sent { keep_from: self.commands.then_some(4), ..Sent::default() };
        }
        let Some(&command) = p.first() else { return Sent::default() };
        let stmt = || u32_at(p, 1).unwrap_or(u32::MAX);
        let mut s = Sent { round_trip: true, what: command_name(command), ..Sent::default() };
        let expect = match command {
            0x01 => {
                s.round_trip = false;
                s.last = true;
                None
            }
            0x03 => {
                let sql = self.query_sql(p);
                s.commit = is_commit(&sql);
                s.inserts = is_insert(&sql);
                s.keep_from = Some(5);
                s.what = short(&sql);
                Some(Expect::Result)
            }
            0x16 => {
                let sql = String::from_utf8_lossy(&p[1..]).into_owned();
                s.inserts = is_insert(&sql);
                s.keep_from = Some(5);
                s.what = format!("PREPARE {}", short(&sql));
                Some(Expect::Prepare(sql))
            }
            0x17 => {
                let sql = self.statements.get(&stmt()).map_or("", String::as_str);
                s.commit = is_commit(sql);
                s.inserts = is_insert(sql);
                s.keep_from = Some(5);
                s.what = format!("EXECUTE {}", short(sql));
                Some(Expect::Result)
            }
            0x18 => {
                s.round_trip = false;
                s.keep_from = Some(5);
                None
            }
            0x19 => {
                s.round_trip = false;
                self.statements.remove(&stmt());
                None
            }
            0x04 => Some(Expect::Defs),
            0x11 => Some(Expect::Auth),
            0x1c => Some(Expect::Rows),
            _ => Some(Expect::One),
        };
        self.expect.extend(expect);
        s
    }

    /// What a server packet is to the proxy. The greeting's `CLIENT_SSL` is cleared in place.
    pub fn answered(&mut self, packet: &mut [u8]) -> Answered {
        if std::mem::replace(&mut self.server_more, payload_len(packet) == PAYLOAD_MAX) {
            return Answered::default();
        }
        let deprecate_eof = self.caps() & CLIENT_DEPRECATE_EOF != 0;
        let at = match std::mem::replace(&mut self.at, At::Idle) {
            At::Idle => match self.expect.pop_front() {
                // A packet nothing asked for (an ERR before the server closes, say).
                None => return Answered { said: err_text(payload(packet)), ..Answered::default() },
                Some(Expect::Greeting) => {
                    if payload(packet).first() == Some(&0xFF) {
                        return ended(payload(packet));
                    }
                    self.greeting(packet);
                    self.at = At::Auth;
                    return Answered::default();
                }
                Some(Expect::Prepare(sql)) => return self.prepared(payload(packet), sql, deprecate_eof),
                Some(Expect::Auth) => At::Auth,
                Some(Expect::Result) => At::Result,
                Some(Expect::Rows) => At::Rows,
                Some(Expect::Defs) => At::Defs,
                Some(Expect::One) => return ended(payload(packet)),
            },
            at => at,
        };
        let p = payload(packet);
        let first = p.first().copied().unwrap_or(0);
        match at {
            At::Auth => match first {
                0x00 => {
                    self.commands = true;
                    ended(p)
                }
                0xFF => ended(p),
                _ => {
                    self.at = At::Auth;
                    Answered::default()
                }
            },
            At::Result => match first {
                0x00 | 0xFF => self.result_end(p, ok_status(p)),
                0xFB => {
                    // `LOCAL INFILE`: the client uploads, then the server answers OK or ERR.
                    self.at = At::Result;
                    Answered::default()
                }
                _ => {
                    let columns = lenenc(p, 0).map_or(0, |(n, _)| n);
                    self.at = At::Columns(columns);
                    Answered::default()
                }
            },
            At::Columns(n) => {
                self.at = match n.saturating_sub(1) {
                    0 if deprecate_eof => At::Rows,
                    0 => At::ColumnsEof,
                    n => At::Columns(n),
                };
                Answered::default()
            }
            At::ColumnsEof => {
                let status = eof_status(p);
                if first == 0xFF || status.is_some_and(|s| s & SERVER_STATUS_CURSOR_EXISTS != 0) {
                    return self.result_end(p, status);
                }
                self.at = At::Rows;
                Answered::default()
            }
            At::Rows => {
                let last = first == 0xFE && if deprecate_eof { p.len() < PAYLOAD_MAX } else { p.len() < 9 };
                if last || first == 0xFF {
                    let status = if deprecate_eof { ok_status(p) } else { eof_status(p) };
                    return self.result_end(p, status);
                }
                self.at = At::Rows;
                Answered::default()
            }
            At::Defs => {
                if first == 0xFE && p.len() < 9 || first == 0xFF {
                    return ended(p);
                }
                self.at = At::Defs;
                Answered::default()
            }
            At::Skip(n) => {
                if n > 1 {
                    self.at = At::Skip(n - 1);
                    return Answered::default();
                }
                Answered { ends: true, ..Answered::default() }
            }
            At::Idle => Answered::default(),
        }
    }

    /// Reads the server's capabilities from the greeting and clears `CLIENT_SSL` in it.
    fn greeting(&mut self, packet: &mut [u8]) {
        let p = &mut packet[4..];
        if p.first() != Some(&10) {
            return;
        }
        let Some(nul) = p[1..].iter().position(|&b| b == 0) else { return };
        // Version, its NUL, connection id (4), scramble part 1 (8), filler (1).
        let at = 1 + nul + 1 + 4 + 8 + 1;
        let Some(low) = u16_at(p, at) else { return };
        let low = low & !(CLIENT_SSL as u16);
        p[at..at + 2].copy_from_slice(&low.to_le_bytes());
        // Then character set (1), status (2), capabilities' upper half (2).
        let high = u16_at(p, at + 5).unwrap_or(0);
        self.server_caps = u32::from(low) | u32::from(high) << 16;
    }

    /// The prepare answer: `0x00`, statement id, columns, parameters; then their definitions.
    fn prepared(&mut self, p: &[u8], sql: String, deprecate_eof: bool) -> Answered {
        let (Some(0x00), Some(id), Some(columns), Some(params)) = (p.first(), u32_at(p, 1), u16_at(p, 5), u16_at(p, 7))
        else {
            return ended(p);
        };
        self.statements.insert(id, sql);
        let eofs = |n: u16| u64::from(n > 0 && !deprecate_eof);
        let left = u64::from(columns) + u64::from(params) + eofs(columns) + eofs(params);
        if left == 0 {
            return Answered { ends: true, ..Answered::default() };
        }
        self.at = At::Skip(left);
        Answered::default()
    }

    /// The end of one result: of the round trip, unless more results follow.
    fn result_end(&mut self, p: &[u8], status: Option<u16>) -> Answered {
        if p.first() != Some(&0xFF) && status.is_some_and(|s| s & SERVER_MORE_RESULTS_EXISTS != 0) {
            self.at = At::Result;
            return Answered::default();
        }
        Answered { ends: true, idle: status.map(|s| s & SERVER_STATUS_IN_TRANS == 0), said: said(p, status) }
    }
}

/// What the server said in a round trip's last packet, for a lost COMMIT's trace line.
fn said(p: &[u8], status: Option<u16>) -> Option<String> {
    err_text(p).or_else(|| status.map(|s| format!("OK, status 0x{s:04x}")))
}

/// A one-packet end: OK (with its status) or ERR or anything else.
fn ended(p: &[u8]) -> Answered {
    let status = if p.first() == Some(&0x00) { ok_status(p) } else { None };
    Answered { ends: true, idle: status.map(|s| s & SERVER_STATUS_IN_TRANS == 0), said: said(p, status) }
}

#[cfg(test)]
#[path = "mysql_tests.rs"]
mod tests;
