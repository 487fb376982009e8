//! The MySQL framing on a recorded MariaDB session and on packets built by hand.

use super::*;

/// Bytes recorded between mysql-connector-python 9.1.0 (pure Python, `ssl_disabled`, a
/// prepared cursor) and MariaDB 10.11 through a TCP tee: authentication, `SET NAMES`,
/// autocommit on, a ping, `START TRANSACTION`, `CREATE TEMPORARY TABLE`, a ping, an INSERT of
/// `ORD-1-1-1` prepared and executed (`COM_STMT_RESET` before it, `COM_STMT_CLOSE` after), a
/// prepared SELECT executed (binary rows), a text SELECT, `COMMIT`, `COM_QUIT`. The client does
/// not ask for `CLIENT_DEPRECATE_EOF`: result sets end with EOF packets.
const CLIENT: &[u8] = include_bytes!("testdata/connector_insert_commit.client.bin");
const SERVER: &[u8] = include_bytes!("testdata/connector_insert_commit.server.bin");

fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let n = payload.len().to_le_bytes();
    let mut p = vec![n[0], n[1], n[2], seq];
    p.extend_from_slice(payload);
    p
}

/// One round trip as the proxy sees it: what was sent, whether it commits or inserts, and the
/// transaction state the answer's last packet says (`idle`, `open`, or `?` when it says none).
fn round(sent: &Sent, answer: &Answered) -> String {
    let state = match answer.idle {
        Some(true) => "idle",
        Some(false) => "open",
        None => "?",
    };
    let flags = format!("{}{}", if sent.commit { " commit" } else { "" }, if sent.inserts { " inserts" } else { "" });
    format!("{}{flags} -> {state}", sent.what)
}

#[test]
fn the_recorded_session_frames_into_round_trips_with_their_transaction_state() {
    let (client, rest) = split_packets(CLIENT);
    assert!(rest.is_empty(), "{} client bytes left over", rest.len());
    let (server, rest) = split_packets(SERVER);
    assert!(rest.is_empty(), "{} server bytes left over", rest.len());
    let mut server = server.into_iter().map(<[u8]>::to_vec);
    let mut f = Frames::default();
    let mut greeting = server.next().unwrap();
    assert!(!f.answered(&mut greeting).ends, "the greeting is not the end of the connection phase");
    let mut rounds = Vec::new();
    let mut kept = Vec::new();
    let mut last = false;
    for c in &client {
        let connecting = !f.commands;
        let sent = f.sent(c);
        if let Some(from) = sent.keep_from {
            kept.extend_from_slice(&c[from..]);
        }
        last |= sent.last;
        if !(sent.round_trip || connecting) {
            continue;
        }
        loop {
            let mut p = server.next().expect("the server's answer ended early");
            let a = f.answered(&mut p);
            if a.ends {
                rounds.push(round(&sent, &a));
                break;
            }
        }
    }
    assert!(server.next().is_none(), "server packets left after the last round trip");
    assert_eq!(
        rounds,
        [
            " -> idle",
            "SET NAMES 'utf8mb4' COLLATE 'utf8mb4_general_ci' -> idle",
            "SET @@session.autocommit = ON -> idle",
            "COM_PING -> idle",
            "START TRANSACTION -> open",
            "CREATE TEMPORARY TABLE t (code VARCHAR(32), n BI… -> open",
            "COM_PING -> open",
            "PREPARE INSERT INTO t VALUES (?, ?) inserts -> ?",
            "COM_STMT_RESET -> open",
            "EXECUTE INSERT INTO t VALUES (?, ?) inserts -> open",
            "PREPARE SELECT code, n FROM t WHERE n > ? -> ?",
            "COM_STMT_RESET -> open",
            "EXECUTE SELECT code, n FROM t WHERE n > ? -> open",
            "SELECT code FROM t -> open",
            "COMMIT commit -> idle",
        ]
    );
    assert!(last, "COM_QUIT ends the connection");
    // The order id travels in COM_STMT_EXECUTE's parameters; the proxy keeps them.
    assert!(kept.windows(9).any(|w| w == b"ORD-1-1-1"));
    // COM_STMT_CLOSE forgot statement 1; statement 2 is still prepared.
    assert_eq!(f.statements.keys().collect::<Vec<_>>(), [&2]);
}

#[test]
fn tls_is_hidden_in_the_greeting_and_a_tls_request_is_refused() {
    let (server, _) = split_packets(SERVER);
    let mut greeting = server[0].to_vec();
    // "5.5.5-10.11.19-MariaDB-0+deb12u1" is 32 bytes: capabilities at 4 + 1 + 32 + 1 + 4 + 8 + 1.
    let at = 51;
    greeting[at + 1] |= 0x08; // CLIENT_SSL, as a server with TLS says it
    let before = greeting.clone();
    let mut f = Frames::default();
    f.answered(&mut greeting);
    assert_eq!(greeting[at + 1] & 0x08, 0, "CLIENT_SSL is cleared");
    let changed: Vec<usize> = (0..greeting.len()).filter(|&i| greeting[i] != before[i]).collect();
    assert_eq!(changed, [at + 1], "only that bit changes");
    assert_ne!(f.server_caps & CLIENT_DEPRECATE_EOF, 0, "MariaDB 10.11 offers CLIENT_DEPRECATE_EOF");
    // An SSLRequest: capabilities with CLIENT_SSL, max packet size, character set, 23 zeros.
    let mut ssl_request = (0x0000_a20d_u32 | CLIENT_SSL).to_le_bytes().to_vec();
    ssl_request.resize(32, 0);
    let refused = f.sent(&packet(1, &ssl_request)).refuse.unwrap();
    assert!(refused.contains("TLS") && refused.contains("ssl-mode=DISABLED"), "{refused}");
}

/// A connection past authentication whose client asked for `CLIENT_DEPRECATE_EOF`.
fn deprecating_eof() -> Frames {
    let (server, _) = split_packets(SERVER);
    let mut f = Frames::default();
    f.answered(&mut server[0].to_vec());
    let mut response = (0x0000_a20d_u32 | CLIENT_DEPRECATE_EOF).to_le_bytes().to_vec();
    response.resize(32, 0);
    response.extend_from_slice(b"root\0");
    assert!(f.sent(&packet(1, &response)).refuse.is_none());
    assert!(f.answered(&mut packet(2, &[0, 0, 0, 2, 0, 0, 0])).ends);
    assert!(f.commands);
    f
}

/// Feeds `answers` after `command`; the index of the packet that ended the round trip, and it.
fn answer(f: &mut Frames, command: &[u8], answers: &[&[u8]]) -> (usize, Answered) {
    assert!(f.sent(&packet(0, command)).round_trip);
    for (i, a) in answers.iter().enumerate() {
        let r = f.answered(&mut packet(u8::try_from(i + 1).unwrap(), a));
        if r.ends {
            return (i, r);
        }
    }
    panic!("the round trip did not end");
}

#[test]
fn rows_end_at_the_ok_that_replaces_eof_and_more_results_continue_the_round_trip() {
    let mut f = deprecating_eof();
    let def = b"\x03def\0\0\0\x011\0\x0c\x3f\0\x01\0\0\0\x08\x81\0\0\0\0";
    // One column, its definition, no EOF, a text row, then OK with the 0xFE header: in a transaction.
    let (i, a) = answer(&mut f, b"\x03SELECT 1", &[b"\x01", def, b"\x011", b"\xfe\0\0\x03\0\0\0"]);
    assert_eq!((i, a.idle), (3, Some(false)));
    // BEGIN; INSERT as one query: an OK saying more results exist, then the INSERT's OK.
    let (i, a) = answer(&mut f, b"\x03BEGIN; INSERT INTO t VALUES (1)", &[b"\0\0\0\x0b\0\0\0", b"\0\x01\0\x03\0\0\0"]);
    assert_eq!((i, a.idle, a.said.as_deref()), (1, Some(false), Some("OK, status 0x0003")));
    // An ERR ends the round trip and says no transaction state.
    let err = b"\xff\xbd\x04#40001Deadlock found when trying to get lock";
    let (i, a) = answer(&mut f, b"\x03COMMIT", &[err]);
    assert_eq!((i, a.idle), (0, None));
    assert_eq!(a.said.as_deref(), Some("ERR 1213 (40001): Deadlock found when trying to get lock"));
    // A prepared COMMIT, executed, is a COMMIT too.
    let (i, _) = answer(&mut f, b"\x16COMMIT", &[b"\0\x07\0\0\0\0\0\0\0\0\0\0"]);
    assert_eq!(i, 0, "no columns, no parameters: the prepare answer is one packet");
    let execute = f.sent(&packet(0, b"\x17\x07\0\0\0\0\x01\0\0\0"));
    assert!(execute.commit && execute.round_trip && execute.what == "EXECUTE COMMIT");
    assert!(f.answered(&mut packet(1, &[0, 0, 0, 2, 0, 0, 0])).idle == Some(true));
    // No answer to COM_STMT_CLOSE; COM_QUIT ends the connection.
    assert!(!f.sent(&packet(0, b"\x19\x07\0\0\0")).round_trip);
    let quit = f.sent(&packet(0, b"\x01"));
    assert!(quit.last && !quit.round_trip);
}

#[test]
fn lengths_and_packets_that_are_cut_short() {
    assert_eq!(lenenc(&[0xfc, 0x01, 0x02], 0), Some((0x0201, 3)));
    assert_eq!(lenenc(&[0xfd, 0x01, 0x02, 0x03], 0), Some((0x03_0201, 4)));
    assert_eq!(lenenc(&[0xfe, 1, 0, 0, 0, 0, 0, 0], 0), None, "8 bytes promised, 7 there");
    assert_eq!(ok_status(&[0x00, 0x00]), None);
    let (packets, rest) = split_packets(&[5, 0, 0, 0, b'a']);
    assert!(packets.is_empty() && rest.len() == 5);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert!(rt.block_on(read_packet(&mut &[][..])).unwrap().is_none());
    assert!(rt.block_on(read_packet(&mut &[5, 0, 0, 0, b'a'][..])).is_err());
    // A command with no payload at all frames as nothing.
    let mut f = deprecating_eof();
    assert!(!f.sent(&packet(0, b"")).round_trip);
}
