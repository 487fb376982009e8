//! What the proxy's two framings ([`super::pg`], [`super::mysql`]) tell the shared fault logic
//! about each message: whether it starts or ends a round trip, commits, inserts, carries SQL or
//! parameters worth keeping, and whether a transaction is open after the server's answer.
//!
//! It does not decide faults (that is [`super`]'s) nor parse any protocol itself.

use tokio::net::tcp::OwnedReadHalf;

use super::{Wire, mysql, pg};

/// What a client message is to the proxy, as its protocol's framing says.
#[derive(Debug, Default)]
pub struct Sent {
    /// It starts a round trip the server answers (a PostgreSQL `Q` or `Sync`; a MySQL command
    /// but `COM_QUIT`, `COM_STMT_CLOSE` and `COM_STMT_SEND_LONG_DATA`).
    pub round_trip: bool,
    /// That round trip commits the open transaction.
    pub commit: bool,
    /// The message's SQL inserts rows.
    pub inserts: bool,
    /// Where the message's SQL or parameters start, kept to find a held order id in.
    pub keep_from: Option<usize>,
    /// The message for the trace (the first words of its SQL).
    pub what: String,
    /// The client ends the connection with it.
    pub last: bool,
    /// Why the proxy cannot relay this connection (a MySQL client insisting on TLS).
    pub refuse: Option<String>,
}

/// What a server message is to the proxy, as its protocol's framing says.
#[derive(Debug, Default)]
pub struct Answered {
    /// It ends a round trip (PostgreSQL's ReadyForQuery; a MySQL command's last answer packet).
    pub ends: bool,
    /// No transaction is open after it — when the message says (a MySQL ERR does not).
    pub idle: Option<bool>,
    /// What the server said (a command tag, OK, an error), for a lost COMMIT's trace line.
    pub said: Option<String>,
}

/// One connection's framing state.
pub(super) enum Frames {
    Pg(pg::Frames),
    My(mysql::Frames),
}

impl Frames {
    pub(super) fn sent(&mut self, msg: &[u8]) -> Sent {
        match self {
            Frames::Pg(f) => f.sent(msg),
            Frames::My(f) => f.sent(msg),
        }
    }

    pub(super) fn answered(&mut self, msg: &mut [u8]) -> Answered {
        match self {
            Frames::Pg(f) => f.answered(msg),
            Frames::My(f) => f.answered(msg),
        }
    }
}

/// Reads one whole message of `wire` after the startup; `None` when the peer closed between them.
pub(super) async fn read_message(wire: Wire, r: &mut OwnedReadHalf) -> std::io::Result<Option<Vec<u8>>> {
    match wire {
        Wire::Postgres => pg::read_typed(r).await,
        Wire::Mysql => mysql::read_packet(r).await,
    }
}
