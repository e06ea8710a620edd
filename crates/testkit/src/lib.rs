//! Test-only helpers shared by the service test suites (a dev-dependency, never shipped).
//!
//! # Layout
//! - [`RedisServer`]: a private `redis-server` on a free loopback port, stoppable and
//!   restartable mid-test, killed on drop.
//! - [`http`]: assertions on the services' JSON responses.
//! - [`capture`]: log lines captured in memory.
//! - [`raw`]: raw HTTP/1.1 on one connection (upgrade requests, stalled heads and bodies).
//! - [`nginx`]: a private nginx with the test's server blocks (gateways in front of services).
//! - [`topology`]: a private Redis Cluster and Sentinel set.
//! - [`support`]: the store backends, cheap argon2 parameters, `eventually`, and (feature
//!   `tasks-service`) an in-process tasks-service.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test support: failing loudly is the point

pub mod capture;
pub mod http;
pub mod nginx;
pub mod raw;
pub mod support;
pub mod topology;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long a fresh redis-server may take to answer `PING`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// A private `redis-server` on a free port of 127.0.0.1: no persistence, unless started
/// [`RedisServer::start_durable`].
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    password: Option<String>,
    /// Append-only file, fsynced on every write: a restart keeps everything.
    durable: bool,
    /// TLS only (`rediss://`), with a certificate for 127.0.0.1 signed by [`RedisServer::ca_file`].
    tls: bool,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server and waits until it answers. Panics with the remedy if
    /// `redis-server` is not installed.
    pub fn start() -> RedisServer {
        RedisServer::launch(None, false, false)
    }

    /// Like [`RedisServer::start`], speaking TLS only: its [`RedisServer::url`] is
    /// `rediss://`, its certificate (for 127.0.0.1) signed by a CA made for it, whose PEM
    /// is [`RedisServer::ca_file`]. Needs `openssl`.
    pub fn start_tls() -> RedisServer {
        RedisServer::launch(None, false, true)
    }

    /// The CA that signed a TLS server's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// Like [`RedisServer::start`], for a server that requires `password` (`requirepass`).
    pub fn start_with_password(password: &str) -> RedisServer {
        RedisServer::launch(Some(password.to_owned()), false, false)
    }

    /// Like [`RedisServer::start`], keeping its data across [`RedisServer::stop`] and
    /// [`RedisServer::resume`] (as a production Redis with AOF does).
    pub fn start_durable() -> RedisServer {
        RedisServer::launch(None, true, false)
    }

    fn launch(password: Option<String>, durable: bool, tls: bool) -> RedisServer {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("tessera-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create redis dir");
        if tls {
            make_certificates(&dir);
        }
        let mut server = RedisServer {
            port,
            dir,
            password,
            durable,
            tls,
            child: None,
        };
        server.resume();
        server
    }

    /// `redis://127.0.0.1:<port>` (`rediss://` for a TLS server).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Kills the server (as a crash would) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (`SIGSTOP`): connections stay open, nothing answers.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Lets a frozen server run again (`SIGCONT`).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("redis-server is running").id();
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// Starts the server again on the same port and waits until it answers.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "redis-server is already running");
        let mut command = Command::new("redis-server");
        if let Some(password) = &self.password {
            command.args(["--requirepass", password]);
        }
        if self.tls {
            let file = |name: &str| self.dir.join(name).display().to_string();
            command.args(["--port", "0", "--tls-port", &self.port.to_string()]);
            command.args([
                "--tls-cert-file",
                &file("cert.pem"),
                "--tls-key-file",
                &file("key.pem"),
            ]);
            command.args([
                "--tls-ca-cert-file",
                &file("ca.pem"),
                "--tls-auth-clients",
                "no",
            ]);
        } else {
            command.args(["--port", &self.port.to_string()]);
        }
        let child = command
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--protected-mode", "yes"])
            .args(match self.durable {
                true => ["--appendonly", "yes", "--appendfsync", "always"],
                false => ["--appendonly", "no", "--appendfsync", "everysec"],
            })
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start redis-server: install it (apt-get install -y redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while !self.answers_ping() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on port {}",
                self.port
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Up means answering `PING` (or refusing it for want of the password).
    fn answers_ping(&self) -> bool {
        if self.tls {
            let ca = self.ca_file().display().to_string();
            return Command::new("redis-cli")
                .args([
                    "--tls",
                    "--cacert",
                    &ca,
                    "-p",
                    &self.port.to_string(),
                    "PING",
                ])
                .output()
                .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "PONG");
        }
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let mut reply = [0u8; 7];
        stream
            .set_read_timeout(Some(Duration::from_secs(1)))
            .is_ok()
            && stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && (&reply == b"+PONG\r\n" || &reply == b"-NOAUTH")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A CA (`ca.pem`) and a certificate for 127.0.0.1 it signed (`cert.pem`, `key.pem`) in
/// `dir`, made with `openssl`, valid for a day.
fn make_certificates(dir: &std::path::Path) {
    let openssl = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("cannot run openssl: install it (apt-get install -y openssl)");
        assert!(status.success(), "openssl {args:?}");
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &["-keyout", "ca.key", "-out", "ca.pem", "-days", "1"],
            &["-subj", "/CN=tessera test CA"],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "key.pem",
                "-out",
                "cert.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").expect("write san.ext");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "cert.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "cert.pem",
        "-days",
        "1",
        "-extfile",
        "san.ext",
    ]);
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("bind an ephemeral port")
}
