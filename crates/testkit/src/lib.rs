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
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server and waits until it answers. Panics with the remedy if
    /// `redis-server` is not installed.
    pub fn start() -> RedisServer {
        RedisServer::launch(None, false)
    }

    /// Like [`RedisServer::start`], for a server that requires `password` (`requirepass`).
    pub fn start_with_password(password: &str) -> RedisServer {
        RedisServer::launch(Some(password.to_owned()), false)
    }

    /// Like [`RedisServer::start`], keeping its data across [`RedisServer::stop`] and
    /// [`RedisServer::resume`] (as a production Redis with AOF does).
    pub fn start_durable() -> RedisServer {
        RedisServer::launch(None, true)
    }

    fn launch(password: Option<String>, durable: bool) -> RedisServer {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("tessera-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create redis dir");
        let mut server = RedisServer {
            port,
            dir,
            password,
            durable,
            child: None,
        };
        server.resume();
        server
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
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
        let child = command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
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

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("bind an ephemeral port")
}
