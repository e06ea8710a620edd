//! `GET /healthz` and the body of `GET /readyz`, and the `healthcheck` subcommand of every
//! service binary: one `GET /readyz` to the service's own listener, for container
//! healthchecks in images that carry no curl.
//!
//! A plain HTTP/1.0 exchange over a `TcpStream`: the probe only ever talks to its own
//! process over loopback, without TLS, redirects or bodies, so an HTTP client library
//! (and the TLS stack it brings) would add nothing but size to every service binary.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use actix_web::HttpResponse;
use serde::Serialize;
use thiserror::Error;

use crate::revocation::RevocationReport;

/// `GET /healthz`'s body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Alive {
    #[schema(pattern = "^ok$")]
    status: &'static str,
}

/// The process answers (nothing else is checked).
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses((status = 200, description = "the process answers", body = Alive))
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Alive { status: "ok" })
}

/// `GET /readyz`'s body when the service is ready.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Ready {
    #[schema(pattern = "^ready$")]
    status: &'static str,
    /// Present where the service keeps a revocation view.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    revocation: Option<RevocationReport>,
}

impl Ready {
    pub fn new(revocation: Option<RevocationReport>) -> Ready {
        Ready {
            status: "ready",
            revocation,
        }
    }
}

/// How long the probe waits to connect, and then for the answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the service is not healthy.
#[derive(Debug, Error)]
pub enum ProbeError {
    #[error("cannot resolve the listen address {0:?}")]
    Address(String),
    #[error("no answer from {address} within {}s", PROBE_TIMEOUT.as_secs())]
    Timeout { address: SocketAddr },
    #[error("no answer from {address}: {source}")]
    Io {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("{address} answered {status:?}")]
    Status { address: SocketAddr, status: String },
}

/// The `healthcheck` subcommand of `service`: exit 0 when its `/readyz` answers 200,
/// else one line on stderr and exit 1.
pub fn healthcheck(service: &str, listen: &str) -> ExitCode {
    match probe(listen, "/readyz") {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{service}: unhealthy: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Asks the service listening on `listen` (its `…__LISTEN` setting; a wildcard address
/// is probed on loopback) for `path`; `Ok` on a 200.
pub fn probe(listen: &str, path: &str) -> Result<(), ProbeError> {
    let address = local_address(listen)?;
    let io = |source: std::io::Error| match source.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            ProbeError::Timeout { address }
        }
        _ => ProbeError::Io { address, source },
    };
    let mut stream = TcpStream::connect_timeout(&address, PROBE_TIMEOUT).map_err(io)?;
    stream.set_read_timeout(Some(PROBE_TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(PROBE_TIMEOUT)).map_err(io)?;
    // One write: `write!` would send the pieces of the format separately.
    let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(io)?;
    // The status line is all we need; HTTP/1.0 makes the server close after answering.
    let mut head = Vec::new();
    stream.take(512).read_to_end(&mut head).map_err(io)?;
    let status = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    match status.split_whitespace().nth(1) {
        Some("200") => Ok(()),
        _ => Err(ProbeError::Status { address, status }),
    }
}

/// Where to reach a listener from inside its own host: `0.0.0.0` and `[::]` become
/// loopback of the same family.
fn local_address(listen: &str) -> Result<SocketAddr, ProbeError> {
    let unresolvable = || ProbeError::Address(listen.to_owned());
    let mut address = listen
        .to_socket_addrs()
        .map_err(|_| unresolvable())?
        .next()
        .ok_or_else(unresolvable)?;
    if address.ip().is_unspecified() {
        address.set_ip(match address.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    Ok(address)
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::thread;

    use super::*;

    /// A one-shot server answering `reply` and returning the request it saw.
    fn serve_once(reply: &'static str) -> (String, thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            // The whole request head before answering: closing with unread bytes would
            // reset the connection under the client.
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap() == 1 {
                request.push(byte[0]);
            }
            stream.write_all(reply.as_bytes()).unwrap();
            String::from_utf8_lossy(&request).into_owned()
        });
        (format!("0.0.0.0:{port}"), handle)
    }

    #[test]
    fn a_200_is_healthy_and_the_wildcard_listener_is_probed_on_loopback() {
        let (listen, server) = serve_once("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        probe(&listen, "/readyz").unwrap();
        assert!(server
            .join()
            .unwrap()
            .starts_with("GET /readyz HTTP/1.0\r\n"));
    }

    #[test]
    fn a_503_is_unhealthy_and_says_what_answered() {
        let (listen, server) = serve_once("HTTP/1.1 503 Service Unavailable\r\n\r\n{}");
        let err = probe(&listen, "/readyz").unwrap_err();
        server.join().unwrap();
        assert!(matches!(err, ProbeError::Status { .. }), "{err:?}");
        assert!(err.to_string().contains("503 Service Unavailable"), "{err}");
    }

    #[test]
    fn nobody_listening_is_unhealthy() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = probe(&format!("127.0.0.1:{port}"), "/readyz").unwrap_err();
        assert!(matches!(err, ProbeError::Io { .. }), "{err:?}");
    }
}
