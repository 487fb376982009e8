//! PostgreSQL's wire protocol (version 3), framed just enough for the drive proxy to know
//! statements, transactions and COMMITs while it forwards every byte unchanged.
//!
//! - Startup phase: untyped packets (`int32 length` including itself, then the payload). An
//!   `SSLRequest` or `GSSENCRequest` is answered `N` by the proxy (no encryption: a client with
//!   `sslmode=prefer`, libpq's default, goes on in plain text); a `CancelRequest` is forwarded.
//! - Then typed messages: one tag byte, `int32 length` including itself, the body. The proxy
//!   reads the client's `Q` (simple query), `P` (Parse: the statement text), `B` (Bind: the
//!   parameters, where an order id usually is), `S` (Sync: the end of an extended-protocol
//!   round) and `X` (Terminate); and the server's `C` (CommandComplete), `E` (ErrorResponse) and
//!   `Z` (ReadyForQuery, whose status byte is `I` idle, `T` in a transaction, `E` in a failed one).
//!
//! What it does not do: decode row data, COPY sub-protocol details (forwarded as whole
//! messages), TLS (refused with `N`), or MySQL's protocol (see [`super::mysql`]).

use tokio::io::{AsyncRead, AsyncReadExt};

/// The request codes of the startup phase's special packets.
pub const SSL_REQUEST: u32 = 80_877_103;
pub const GSSENC_REQUEST: u32 = 80_877_104;
pub const CANCEL_REQUEST: u32 = 80_877_102;

/// The largest message the proxy accepts (PostgreSQL's own limit for most messages is 1 GiB).
const MESSAGE_MAX: usize = 1 << 30;

/// What a startup-phase packet asks.
#[derive(Debug, PartialEq, Eq)]
pub enum Startup {
    /// `SSLRequest` or `GSSENCRequest`: answered `N`, the client sends its startup next.
    Encryption,
    /// `CancelRequest`: forwarded, then the connection ends.
    Cancel,
    /// The StartupMessage proper (protocol version, user, database, …).
    Start,
}

/// The kind of a whole startup packet (length prefix included).
pub fn startup_kind(packet: &[u8]) -> Startup {
    let code = packet.get(4..8).map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    match code {
        SSL_REQUEST | GSSENC_REQUEST => Startup::Encryption,
        CANCEL_REQUEST => Startup::Cancel,
        _ => Startup::Start,
    }
}

fn invalid(m: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, m)
}

fn length(b: [u8; 4]) -> std::io::Result<usize> {
    let n = usize::try_from(u32::from_be_bytes(b)).unwrap_or(usize::MAX);
    if !(4..=MESSAGE_MAX).contains(&n) {
        return Err(invalid(format!("a PostgreSQL message of length {n}")));
    }
    Ok(n)
}

/// Reads one whole startup packet; `None` when the peer closed before sending one.
pub async fn read_startup<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    if let Err(e) = r.read_exact(&mut len).await {
        return if e.kind() == std::io::ErrorKind::UnexpectedEof { Ok(None) } else { Err(e) };
    }
    let n = length(len)?;
    let mut packet = len.to_vec();
    packet.resize(n, 0);
    r.read_exact(&mut packet[4..]).await?;
    Ok(Some(packet))
}

/// Reads one whole typed message (tag, length, body); `None` when the peer closed between messages.
pub async fn read_typed<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = [0u8; 5];
    if let Err(e) = r.read_exact(&mut head).await {
        return if e.kind() == std::io::ErrorKind::UnexpectedEof { Ok(None) } else { Err(e) };
    }
    let n = length([head[1], head[2], head[3], head[4]])?;
    let mut msg = head.to_vec();
    msg.resize(n + 1, 0);
    r.read_exact(&mut msg[5..]).await?;
    Ok(Some(msg))
}

/// Splits whole typed messages off `buf` (for recorded bytes): each message's bytes in order,
/// and the incomplete rest.
pub fn split_typed(mut buf: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let mut out = Vec::new();
    while buf.len() >= 5 {
        let Ok(n) = length([buf[1], buf[2], buf[3], buf[4]]) else { break };
        if buf.len() < n + 1 {
            break;
        }
        out.push(&buf[..=n]);
        buf = &buf[n + 1..];
    }
    (out, buf)
}

/// The body of a typed message (after tag and length).
pub fn body(msg: &[u8]) -> &[u8] {
    msg.get(5..).unwrap_or_default()
}

fn cstr(b: &[u8]) -> &str {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    std::str::from_utf8(&b[..end]).unwrap_or("")
}

/// The SQL text a client message carries: a `Q`'s query or a `P`'s statement.
pub fn sql(msg: &[u8]) -> Option<&str> {
    let b = body(msg);
    match msg.first()? {
        b'Q' => Some(cstr(b)),
        b'P' => {
            let name_end = b.iter().position(|&c| c == 0)?;
            Some(cstr(&b[name_end + 1..]))
        }
        _ => None,
    }
}

/// Whether `sql` ends the transaction with a commit (`COMMIT`, `END`, `COMMIT WORK`, …).
pub fn is_commit(sql: &str) -> bool {
    let s = sql.trim().trim_end_matches(';').trim().to_ascii_uppercase();
    let first = s.split_whitespace().next().unwrap_or("");
    matches!(first, "COMMIT" | "END") && !s.contains("PREPARED")
}

/// Whether `sql` inserts rows.
pub fn is_insert(sql: &str) -> bool {
    let s = sql.trim_start().to_ascii_uppercase();
    s.starts_with("INSERT") || (s.starts_with("WITH") && s.contains("INSERT"))
}

/// The transaction status of a `Z` (ReadyForQuery): `I`, `T` or `E`.
pub fn ready_status(msg: &[u8]) -> Option<u8> {
    (msg.first() == Some(&b'Z')).then(|| body(msg).first().copied()).flatten()
}

/// The command tag of a `C` (CommandComplete), e.g. `INSERT 0 1`, `COMMIT`.
pub fn command_tag(msg: &[u8]) -> Option<&str> {
    (msg.first() == Some(&b'C')).then(|| cstr(body(msg)))
}

/// The first words of `sql`, for the trace.
pub fn short(sql: &str) -> String {
    let one: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 48 { format!("{}…", one.chars().take(48).collect::<String>()) } else { one }
}

/// The statement name of a `P` (Parse) or a `B` (Bind: after the portal's name).
fn statement_name(msg: &[u8]) -> Option<&str> {
    let b = body(msg);
    match msg.first()? {
        b'P' => Some(cstr(b)),
        b'B' => {
            let portal_end = b.iter().position(|&c| c == 0)?;
            Some(cstr(&b[portal_end + 1..]))
        }
        _ => None,
    }
}

/// One connection's framing state: an extended-protocol `COMMIT` parsed, decided at its Sync,
/// and the SQL of each named prepared statement (a client such as psycopg prepares a query it
/// runs often and then only binds it, so its INSERT is known by name).
#[derive(Debug, Default)]
pub struct Frames {
    commit_parsed: bool,
    prepared: std::collections::BTreeMap<String, String>,
}

impl Frames {
    /// What a client's typed message is to the proxy.
    pub fn sent(&mut self, msg: &[u8]) -> super::Sent {
        let tag = msg[0];
        let mut text = sql(msg).map(str::to_string);
        match (tag, statement_name(msg)) {
            (b'P', Some(name)) if !name.is_empty() => {
                self.prepared.insert(name.to_string(), text.clone().unwrap_or_default());
            }
            (b'B', Some(name)) if !name.is_empty() => text = self.prepared.get(name).cloned(),
            _ => {}
        }
        let text = text.as_deref();
        if matches!(tag, b'P' | b'B') && text.is_some_and(is_commit) {
            self.commit_parsed = true;
        }
        let commit = match tag {
            b'Q' => text.is_some_and(is_commit),
            b'S' => std::mem::take(&mut self.commit_parsed),
            _ => false,
        };
        super::Sent {
            round_trip: matches!(tag, b'Q' | b'S'),
            commit,
            inserts: text.is_some_and(is_insert),
            keep_from: matches!(tag, b'Q' | b'P' | b'B').then_some(5),
            what: text
                .filter(|_| tag != b'B')
                .map_or_else(|| if tag == b'S' { "Sync".into() } else { String::new() }, short),
            last: tag == b'X',
            refuse: None,
        }
    }

    /// What a server's typed message is to the proxy: ReadyForQuery ends a round trip.
    pub fn answered(&mut self, msg: &[u8]) -> super::Answered {
        let status = ready_status(msg);
        let said = command_tag(msg).map(str::to_string).or_else(|| (msg[0] == b'E').then(|| "an error".into()));
        super::Answered { ends: status.is_some(), idle: status.map(|s| s == b'I'), said }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes recorded between psycopg 3.3.9 (`sslmode=disable`) and PostgreSQL 15: a startup,
    /// `BEGIN`, `CREATE TEMP TABLE`, a parameterised INSERT of `ORD-1-1-1` through
    /// Parse/Bind/Describe/Execute/Sync in one write, `COMMIT`, Terminate.
    const CLIENT: &[u8] = include_bytes!("testdata/psycopg_insert_commit.client.bin");
    const SERVER: &[u8] = include_bytes!("testdata/psycopg_insert_commit.server.bin");

    fn startup_len(b: &[u8]) -> usize {
        usize::try_from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])).unwrap()
    }

    #[test]
    fn the_recorded_client_frames_into_statements_and_a_commit() {
        let n = startup_len(CLIENT);
        assert_eq!(startup_kind(&CLIENT[..n]), Startup::Start);
        let (msgs, rest) = split_typed(&CLIENT[n..]);
        assert!(rest.is_empty(), "{} bytes left over", rest.len());
        let tags: String = msgs.iter().map(|m| m[0] as char).collect();
        assert_eq!(tags, "QQPBDESQX");
        let sqls: Vec<&str> = msgs.iter().filter_map(|m| sql(m)).collect();
        assert_eq!(
            sqls,
            ["BEGIN", "CREATE TEMP TABLE t (code TEXT, n BIGINT)", "INSERT INTO t VALUES ($1, $2)", "COMMIT"]
        );
        assert!(is_insert(sqls[2]) && !is_insert(sqls[1]));
        assert_eq!(sqls.iter().filter(|s| is_commit(s)).count(), 1);
        // The order id travels in the Bind's parameters, not in the SQL text.
        let bind = msgs.iter().find(|m| m[0] == b'B').unwrap();
        assert!(bind.windows(9).any(|w| w == b"ORD-1-1-1"));
    }

    #[test]
    fn the_recorded_server_answers_give_transaction_status_and_tags() {
        // The server's first bytes are typed already (authentication 'R').
        let (msgs, rest) = split_typed(SERVER);
        assert!(rest.is_empty());
        let status: String = msgs.iter().filter_map(|m| ready_status(m)).map(char::from).collect();
        // After authentication: idle; after BEGIN, CREATE and INSERT: in a transaction; after COMMIT: idle.
        assert_eq!(status, "ITTTI");
        let tags: Vec<&str> = msgs.iter().filter_map(|m| command_tag(m)).collect();
        assert_eq!(tags, ["BEGIN", "CREATE TABLE", "INSERT 0 1", "COMMIT"]);
    }

    #[test]
    fn startup_packets_and_commit_words() {
        let ssl = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
        assert_eq!(startup_kind(&ssl), Startup::Encryption);
        assert_eq!(startup_kind(&[0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 1, 0, 0, 0, 2]), Startup::Cancel);
        for yes in ["COMMIT", "commit;", " END ", "COMMIT WORK", "commit transaction"] {
            assert!(is_commit(yes), "{yes}");
        }
        for no in ["COMMIT PREPARED 'x'", "ROLLBACK", "SELECT 'COMMIT'", "ENDS"] {
            assert!(!is_commit(no), "{no}");
        }
    }

    #[test]
    fn a_message_with_an_impossible_length_is_refused() {
        let (msgs, rest) = split_typed(&[b'Q', 0, 0, 0, 2, b'x']);
        assert!(msgs.is_empty() && rest.len() == 6);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let e = rt.block_on(read_typed(&mut &[b'Q', 0, 0, 0, 2][..])).unwrap_err();
        assert!(e.to_string().contains("length 2"), "{e}");
        let closed = rt.block_on(read_typed(&mut &[][..])).unwrap();
        assert!(closed.is_none());
    }

    fn typed(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend_from_slice(&u32::try_from(body.len() + 4).unwrap().to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    /// psycopg prepares a query it has run five times and then only binds it by name: the Bind
    /// of a prepared INSERT still counts as inserting (so a held COMMIT still finds it).
    #[test]
    fn a_bind_of_a_named_prepared_insert_is_an_insert() {
        let mut f = Frames::default();
        let parse = typed(b'P', b"_pg3_0\0INSERT INTO orders (order_code) VALUES ($1)\0\0\0");
        assert!(f.sent(&parse).inserts);
        let bind = typed(b'B', b"\0_pg3_0\0\0\0\0\x01\0\0\0\x09ORD-1-1-6\0\0");
        let sent = f.sent(&bind);
        assert!(sent.inserts, "the Bind names the prepared INSERT");
        assert!(!sent.round_trip && sent.what.is_empty());
        let unnamed = typed(b'B', b"\0\0\0\0\0\0\0\0");
        assert!(!f.sent(&unnamed).inserts, "an unnamed statement is the last Parse, not a prepared one");
        let commit = typed(b'P', b"_pg3_1\0COMMIT\0\0\0");
        f.sent(&commit);
        assert!(f.sent(&typed(b'S', b"")).commit);
        f.sent(&typed(b'B', b"\0_pg3_1\0\0\0\0\0\0\0"));
        assert!(f.sent(&typed(b'S', b"")).commit, "a Bind of a prepared COMMIT commits at its Sync");
    }
}
