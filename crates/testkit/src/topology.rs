//! Private multi-node Redis setups on loopback ports: a [`RedisCluster`] (3 masters, 3
//! replicas) and [`RedisSentinels`] (a master, a replica, three sentinels). Every node is a
//! real `redis-server`, started through a small shell watchdog that kills it when the test
//! process is gone (so the shared setups of [`RedisCluster::shared`] and
//! [`RedisSentinels::shared`], which live as long as the process, never outlive it); a node
//! is stopped by its PID ([`RedisCluster::kill`], [`RedisSentinels::kill_master`]).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use crate::free_port;

/// How long a cluster or a sentinel set may take to form.
const FORM_TIMEOUT: Duration = Duration::from_secs(30);
/// The master name the sentinels watch.
pub const SENTINEL_MASTER: &str = "tessera";

/// One `redis-server` process (a data node or a sentinel).
#[derive(Debug)]
struct Node {
    port: u16,
    dir: PathBuf,
    watchdog: Option<Child>,
}

impl Node {
    /// Starts `redis-server` with `args` on `port` in a directory of its own (with `config`
    /// written to `node.conf` there and passed first, if given); returns at once.
    fn start(port: u16, config: Option<&str>, args: &[String]) -> Node {
        let dir = std::env::temp_dir().join(format!("tessera-node-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create node dir");
        let config = config.map(|text| {
            let file = dir.join("node.conf");
            std::fs::write(&file, text).expect("write node.conf");
            file.display().to_string()
        });
        // The watchdog: runs the node, kills it once the test process (or the node) is gone.
        let script = r#"redis-server "$@" & node=$!
while kill -0 "$TESSERA_TEST_PID" 2>/dev/null && kill -0 "$node" 2>/dev/null; do sleep 0.3; done
kill -9 "$node" 2>/dev/null"#;
        let watchdog = Command::new("sh")
            .args(["-c", script, "node"])
            .args(config)
            .args(args)
            .env("TESSERA_TEST_PID", std::process::id().to_string())
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start redis-server: install it (apt-get install -y redis-server)");
        Node {
            port,
            dir,
            watchdog: Some(watchdog),
        }
    }

    /// The usual arguments of a data node: loopback only, no persistence, a PID file.
    fn data_args(port: u16) -> Vec<String> {
        [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--pidfile",
            "redis.pid",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `redis-cli -p <port> args…`: its output, or `None` if the node did not answer.
    fn cli(&self, args: &[&str]) -> Option<String> {
        let output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .stderr(Stdio::null())
            .output()
            .expect("run redis-cli (package redis-tools)");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        (output.status.success() && !text.starts_with("Could not connect")).then_some(text)
    }

    fn wait_until_up(&self) {
        wait_for(&format!("node {} answers", self.port), || {
            self.cli(&["PING"])
                .is_some_and(|reply| reply.trim() == "PONG")
        });
    }

    /// `SIGKILL` to the node's PID (a crash); waits until it is gone.
    fn kill(&mut self) {
        assert!(
            self.watchdog.is_some(),
            "node {} is already down",
            self.port
        );
        assert!(self.signal_kill(), "kill -9 node {}", self.port);
    }

    fn signal_kill(&mut self) -> bool {
        let killed = std::fs::read_to_string(self.dir.join("redis.pid")).is_ok_and(|pid| {
            Command::new("kill")
                .args(["-9", pid.trim()])
                .status()
                .is_ok_and(|status| status.success())
        });
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.wait();
        }
        killed
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.watchdog.is_some() {
            self.signal_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `field:value` of an `INFO` reply.
fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|line| line.trim_end().strip_prefix(field)?.strip_prefix(':'))
}

/// Waits until every replica among `nodes` has applied everything its master had written
/// when this was called (replication offsets), whatever is written meanwhile.
fn wait_until_replicated<'a>(nodes: impl Iterator<Item = &'a Node> + Clone) {
    let written: Vec<(String, u64)> = nodes
        .clone()
        .filter_map(|node| {
            let info = node.cli(&["INFO", "replication"])?;
            (info_field(&info, "role") == Some("master")).then(|| {
                let offset = info_field(&info, "master_repl_offset").and_then(|o| o.parse().ok());
                (node.port.to_string(), offset.unwrap_or(0))
            })
        })
        .collect();
    wait_for("the replicas caught up", || {
        nodes.clone().all(|node| {
            let Some(info) = node.cli(&["INFO", "replication"]) else {
                return true;
            };
            if info_field(&info, "role") != Some("slave") {
                return true;
            }
            let master = info_field(&info, "master_port").unwrap_or_default();
            let applied: u64 = info_field(&info, "slave_repl_offset")
                .and_then(|o| o.parse().ok())
                .unwrap_or(0);
            written
                .iter()
                .filter(|(port, _)| port == master)
                .all(|(_, offset)| applied >= *offset)
        })
    });
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + FORM_TIMEOUT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// A free port below 55536 whose cluster-bus port (+10000) is free too.
fn cluster_port() -> u16 {
    loop {
        let port = free_port();
        if port < 55536 && std::net::TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
}

/// A private Redis Cluster: 3 masters and a replica of each, on loopback ports.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<Node>,
}

impl RedisCluster {
    /// Starts six nodes with `cluster-node-timeout` = `node_timeout_ms`, joins them
    /// (`redis-cli --cluster create … --cluster-replicas 1`) and waits until every slot is
    /// served and every replica is in sync.
    pub fn start(node_timeout_ms: u64) -> RedisCluster {
        let nodes: Vec<Node> = (0..6)
            .map(|_| {
                let port = cluster_port();
                let mut args = Node::data_args(port);
                args.extend(
                    [
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        &node_timeout_ms.to_string(),
                    ]
                    .map(str::to_owned),
                );
                Node::start(port, None, &args)
            })
            .collect();
        nodes.iter().for_each(Node::wait_until_up);
        let addresses: Vec<String> = nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run redis-cli --cluster create");
        assert!(created.success(), "redis-cli --cluster create failed");
        let cluster = RedisCluster { nodes };
        cluster.wait_until_healthy();
        cluster
    }

    /// One cluster for the whole test process (`cluster-node-timeout` 3 s: nothing here
    /// kills its nodes, and a busy machine must not trigger a failover). Tests share it
    /// under key prefixes of their own.
    pub fn shared() -> &'static RedisCluster {
        static SHARED: OnceLock<RedisCluster> = OnceLock::new();
        SHARED.get_or_init(|| RedisCluster::start(3_000))
    }

    /// Every slot served, every node agreeing, every master with its replica in sync.
    pub fn wait_until_healthy(&self) {
        wait_for("the cluster is ok on every live node", || {
            self.live().all(|node| {
                node.cli(&["CLUSTER", "INFO"]).is_some_and(|info| {
                    info.contains("cluster_state:ok") && info.contains("cluster_slots_ok:16384")
                })
            })
        });
        wait_for("every master's replica is in sync", || {
            self.live().all(|node| {
                node.cli(&["INFO", "replication"]).is_some_and(|info| {
                    info.contains("role:slave") && info.contains("master_link_status:up")
                        || info.contains("role:master") && info.contains("connected_slaves:1")
                })
            })
        });
    }

    fn live(&self) -> impl Iterator<Item = &Node> + Clone {
        self.nodes.iter().filter(|node| node.watchdog.is_some())
    }

    /// `redis://` URLs of every node (the services' `CLUSTER_NODES`).
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Node::url).collect()
    }

    /// The index (into [`RedisCluster::urls`]) of the master serving `key`'s slot.
    pub fn master_of(&self, key: &str) -> usize {
        let node = self.live().next().expect("a live node");
        let slot: u16 = node
            .cli(&["CLUSTER", "KEYSLOT", key])
            .and_then(|reply| reply.trim().parse().ok())
            .expect("CLUSTER KEYSLOT");
        let nodes = node.cli(&["CLUSTER", "NODES"]).expect("CLUSTER NODES");
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let serves = fields[8..].iter().any(|range| match range.split_once('-') {
                Some((from, to)) => {
                    (from.parse().unwrap_or(u16::MAX)..=to.parse().unwrap_or(0)).contains(&slot)
                }
                None => range.parse() == Ok(slot),
            });
            if serves {
                let port: u16 = fields[1]
                    .split(['@', ':'])
                    .nth(1)
                    .and_then(|port| port.parse().ok())
                    .expect("node address");
                return self
                    .nodes
                    .iter()
                    .position(|node| node.port == port)
                    .expect("a node of this cluster");
            }
        }
        panic!("no master serves slot {slot}");
    }

    /// `CLUSTER KEYSLOT key`, asked of a live node.
    pub fn keyslot(&self, key: &str) -> u16 {
        self.live()
            .next()
            .and_then(|node| node.cli(&["CLUSTER", "KEYSLOT", key]))
            .and_then(|reply| reply.trim().parse().ok())
            .expect("CLUSTER KEYSLOT")
    }

    /// Waits until every replica has what its master had written when this was called.
    pub fn wait_until_replicated(&self) {
        wait_until_replicated(self.live());
    }

    /// `SIGKILL`s node `index` (see [`RedisCluster::master_of`]).
    pub fn kill(&mut self, index: usize) {
        self.nodes[index].kill();
    }

    /// Waits until every slot is served by a live master again (a replica has taken over
    /// the slots of the killed master) and every live node says the cluster is ok.
    pub fn wait_for_failover(&self) {
        let live: Vec<String> = self.live().map(|node| node.port.to_string()).collect();
        wait_for("a replica took over", || {
            let served_by_live = self
                .live()
                .next()
                .and_then(|node| node.cli(&["CLUSTER", "NODES"]))
                .is_some_and(|nodes| {
                    nodes.lines().all(|line| {
                        let fields: Vec<&str> = line.split_whitespace().collect();
                        let port = fields
                            .get(1)
                            .and_then(|address| address.split(['@', ':']).nth(1));
                        fields.len() < 9 || port.is_some_and(|port| live.iter().any(|p| p == port))
                    })
                });
            served_by_live
                && self.live().all(|node| {
                    node.cli(&["CLUSTER", "INFO"])
                        .is_some_and(|info| info.contains("cluster_state:ok"))
                })
        });
    }
}

/// A private Sentinel setup: a master, its replica and three sentinels watching it under
/// [`SENTINEL_MASTER`] (quorum 2, `down-after-milliseconds` as given).
#[derive(Debug)]
pub struct RedisSentinels {
    master: Node,
    replica: Node,
    sentinels: Vec<Node>,
}

impl RedisSentinels {
    pub fn start(down_after_ms: u64) -> RedisSentinels {
        let master_port = free_port();
        let master = Node::start(master_port, None, &Node::data_args(master_port));
        master.wait_until_up();
        let replica_port = free_port();
        let mut args = Node::data_args(replica_port);
        args.extend(["--replicaof", "127.0.0.1", &master_port.to_string()].map(str::to_owned));
        let replica = Node::start(replica_port, None, &args);
        replica.wait_until_up();
        let sentinels: Vec<Node> = (0..3)
            .map(|_| {
                let port = free_port();
                // A sentinel rewrites its config file: it gets a writable one of its own.
                let config = format!(
                    "port {port}\nbind 127.0.0.1\npidfile redis.pid\n\
                     sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {master_port} 2\n\
                     sentinel down-after-milliseconds {SENTINEL_MASTER} {down_after_ms}\n\
                     sentinel failover-timeout {SENTINEL_MASTER} 10000\n\
                     sentinel parallel-syncs {SENTINEL_MASTER} 1\n"
                );
                let node = Node::start(port, Some(&config), &["--sentinel".to_owned()]);
                node.wait_until_up();
                node
            })
            .collect();
        let set = RedisSentinels {
            master,
            replica,
            sentinels,
        };
        wait_for("the replica is in sync", || {
            set.replica
                .cli(&["INFO", "replication"])
                .is_some_and(|info| info.contains("master_link_status:up"))
        });
        wait_for("every sentinel knows the replica and the other two", || {
            set.sentinels.iter().all(|sentinel| {
                let replicas = sentinel.cli(&["SENTINEL", "REPLICAS", SENTINEL_MASTER]);
                let peers = sentinel.cli(&["SENTINEL", "SENTINELS", SENTINEL_MASTER]);
                replicas.is_some_and(|r| r.contains(&set.replica.port.to_string()))
                    && peers.is_some_and(|p| p.matches("127.0.0.1").count() >= 2)
            })
        });
        set
    }

    /// One set for the whole test process (`down-after-milliseconds` 5 s: nothing here
    /// kills its master).
    pub fn shared() -> &'static RedisSentinels {
        static SHARED: OnceLock<RedisSentinels> = OnceLock::new();
        SHARED.get_or_init(|| RedisSentinels::start(5_000))
    }

    /// `redis://` URLs of the sentinels (the services' `SENTINELS`).
    pub fn urls(&self) -> Vec<String> {
        self.sentinels.iter().map(Node::url).collect()
    }

    /// Waits until the replica has what the master had written when this was called.
    pub fn wait_until_replicated(&self) {
        wait_until_replicated([&self.master, &self.replica].into_iter());
    }

    /// `SIGKILL`s the master.
    pub fn kill_master(&mut self) {
        self.master.kill();
    }

    /// Waits until the sentinels name the replica as the master.
    pub fn wait_for_failover(&self) {
        let replica = self.replica.port.to_string();
        wait_for("the sentinels promoted the replica", || {
            self.sentinels.iter().any(|sentinel| {
                sentinel
                    .cli(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", SENTINEL_MASTER])
                    .is_some_and(|reply| reply.lines().nth(1) == Some(replica.as_str()))
            }) && self
                .replica
                .cli(&["ROLE"])
                .is_some_and(|role| role.starts_with("master"))
        });
    }
}
