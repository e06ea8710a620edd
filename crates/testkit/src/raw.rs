//! Raw HTTP/1.1 over one TCP connection, for what an HTTP client library will not send:
//! upgrade requests, bodies shorter than declared, heads that never end.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// What the server sent on one connection.
#[derive(Debug)]
pub struct Exchange {
    /// Everything received, lossily decoded.
    pub received: String,
    /// Whether the server closed the connection within the bound.
    pub closed: bool,
    /// From the last byte sent to the close (or to the bound).
    pub elapsed: Duration,
}

impl Exchange {
    /// The status code of the first response, if one arrived.
    pub fn status(&self) -> Option<u16> {
        let line = self.received.lines().next()?;
        line.split(' ').nth(1)?.parse().ok()
    }

    /// The first response's body, parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        let (_, body) = self
            .received
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no complete response in {:?}", self.received));
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"))
    }
}

/// `host:port` of a `http://host:port` base URL.
pub fn authority(base_url: &str) -> &str {
    base_url.trim_start_matches("http://").trim_end_matches('/')
}

/// Opens a connection to `authority` and sends `bytes` (a partial request is fine).
pub fn open(authority: &str, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(authority).expect("connect");
    stream.write_all(bytes).expect("send");
    stream
}

/// Sends `bytes` on a new connection, then reads until the server closes it or `bound`
/// passes (a bound on a hang, not a timing under test).
pub fn exchange(authority: &str, bytes: &[u8], bound: Duration) -> Exchange {
    let mut stream = open(authority, bytes);
    let start = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let closed = loop {
        let left = bound.saturating_sub(start.elapsed());
        if left.is_zero() {
            break false;
        }
        stream.set_read_timeout(Some(left)).expect("read timeout");
        match stream.read(&mut buffer) {
            Ok(0) => break true,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break false
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break true,
            Err(e) => panic!("reading the answer: {e}"),
        }
    };
    Exchange {
        received: String::from_utf8_lossy(&received).into_owned(),
        closed,
        elapsed: start.elapsed(),
    }
}
