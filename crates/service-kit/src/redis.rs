//! One Redis connection per process, to whichever Redis the settings name: a standalone
//! server (`…__REDIS__URL`), a Redis Cluster (`…__REDIS__CLUSTER_NODES`) or the master a
//! set of Sentinels names (`…__REDIS__SENTINELS` + `…__REDIS__SENTINEL_MASTER`). Created on
//! first use (so a service can start while Redis is still coming up) and reconnecting by
//! itself: after a restart (standalone), as the cluster moves slots or promotes a replica
//! (the cluster client follows `MOVED` and refreshes its slot map), or — Sentinel — by
//! asking the sentinels for the master again after a connection error or a `READONLY`
//! reply (redis-rs's Sentinel client resolves the master once and does not follow a
//! failover by itself). The store code sees one [`Connection`] type whatever the kind.
//! `rediss://` URLs (one Redis, a cluster) speak TLS through rustls, trusting the CA in
//! `…__REDIS__CA_FILE` or else the system's roots.
//! Commands fail fast while Redis is away, so callers answer 503 instead of hanging.
//!
//! A Redis that is there but does not answer (frozen, overloaded, a network black hole)
//! costs each command the full [`RESPONSE_TIMEOUT`]. So after a command gets no answer, a
//! circuit breaker refuses every command at once for `…__REDIS__BREAKER_MS`; then one command
//! is let through as a probe (the others still refused) and its outcome closes the breaker
//! or opens it again. Refused commands fail with an error [`failed_fast`] recognises; readiness
//! pings go through the same breaker, so `/readyz` reports the outage too.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, ResponsePolicy, RoutingInfo};
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{
    Client, Cmd, ConnectionAddr, ConnectionInfo, ErrorKind, IntoConnectionInfo, Pipeline,
    RedisConnectionInfo, RedisError, RedisFuture, RedisResult, ServerErrorKind, TlsCertificates,
    Value,
};
use secrecy::{ExposeSecret, SecretString};
use thiserror::Error;
use tokio::sync::OnceCell;

use crate::settings::RedisSettings;

/// How long to wait for a TCP connection to Redis.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long to wait for any one command's reply.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Reconnection attempts per outage-triggered reconnect, before failing the command.
const RECONNECT_RETRIES: usize = 2;
/// How long asking the sentinels for the master (and checking its role) may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);
/// After the sentinels named no reachable master, how long before they are asked again.
const RESOLVE_BACKOFF: Duration = Duration::from_millis(200);

/// How long the breaker refuses commands after one got no answer, unless configured.
pub const DEFAULT_BREAKER: Duration = Duration::from_millis(500);
/// The text of the error a refused command fails with.
const FAILED_FAST: &str = "Redis did not answer recently; failing fast until a probe succeeds";

/// A lazily connected, self-healing Redis connection. Cheap to share (`Arc` it or put it in
/// app data); cloning the inner connection is how concurrent requests use it.
pub struct RedisConn {
    target: Target,
    breaker: Arc<Breaker>,
}

/// What the settings point at, and its shared connection once made.
enum Target {
    Standalone {
        client: Client,
        manager: OnceCell<ConnectionManager>,
    },
    Cluster {
        client: Box<ClusterClient>,
        /// The seed nodes (password applied): subscriptions connect to one of them.
        nodes: Vec<ConnectionInfo>,
        /// The CA for `rediss://` nodes (`…__REDIS__CA_FILE`), if not the system's roots.
        ca: Option<Vec<u8>>,
        connection: OnceCell<ClusterConnection>,
    },
    Sentinel(Arc<Sentinels>),
}

/// The sentinels and the master they last named.
struct Sentinels {
    /// The sentinels, and when asking them last failed: callers queued behind a failed
    /// attempt fail at once for [`RESOLVE_BACKOFF`] instead of each waiting out its own.
    client: tokio::sync::Mutex<(SentinelClient, Option<Instant>)>,
    master: RwLock<Option<Master>>,
    resolutions: AtomicU64,
}

#[derive(Clone)]
struct Master {
    /// Which resolution this is: an error forgets the master only if it is still this one.
    generation: u64,
    client: Client,
    manager: ConnectionManager,
}

/// A connection whose commands pass the breaker: what [`RedisConn::connection`] hands out.
/// Scripts and commands run on it as on any `redis` async connection.
#[derive(Clone)]
pub struct Connection {
    inner: Inner,
    breaker: Arc<Breaker>,
}

#[derive(Clone)]
enum Inner {
    Standalone(ConnectionManager),
    Cluster(ClusterConnection),
    Sentinel {
        manager: ConnectionManager,
        generation: u64,
        sentinels: Arc<Sentinels>,
    },
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection").finish_non_exhaustive()
    }
}

impl Inner {
    async fn send(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        match self {
            Inner::Standalone(manager) => manager.req_packed_command(cmd).await,
            Inner::Cluster(cluster) => cluster.req_packed_command(cmd).await,
            Inner::Sentinel {
                manager,
                generation,
                sentinels,
            } => {
                let result = manager.req_packed_command(cmd).await;
                sentinels.learn(*generation, &result);
                result
            }
        }
    }

    async fn send_all(
        &mut self,
        pipeline: &Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        match self {
            Inner::Standalone(manager) => {
                manager.req_packed_commands(pipeline, offset, count).await
            }
            Inner::Cluster(cluster) => cluster.req_packed_commands(pipeline, offset, count).await,
            Inner::Sentinel {
                manager,
                generation,
                sentinels,
            } => {
                let result = manager.req_packed_commands(pipeline, offset, count).await;
                sentinels.learn(*generation, &result);
                result
            }
        }
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let pass = self.breaker.admit()?;
            let _probe = ProbeSlot(&self.breaker, pass);
            let result = self.inner.send(cmd).await;
            self.breaker.record(pass, &result);
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let pass = self.breaker.admit()?;
            let _probe = ProbeSlot(&self.breaker, pass);
            let result = self.inner.send_all(pipeline, offset, count).await;
            self.breaker.record(pass, &result);
            result
        })
    }

    fn get_db(&self) -> i64 {
        match &self.inner {
            Inner::Standalone(manager) | Inner::Sentinel { manager, .. } => manager.get_db(),
            Inner::Cluster(cluster) => cluster.get_db(),
        }
    }
}

/// No answer, or an answer saying the node is no longer the master.
fn lost_master<T>(result: &RedisResult<T>) -> bool {
    result.as_ref().err().is_some_and(|err| {
        unanswered(err) || err.kind() == ErrorKind::Server(ServerErrorKind::ReadOnly)
    })
}

fn unanswered(err: &RedisError) -> bool {
    err.is_timeout()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_io_error()
}

impl Sentinels {
    /// Forgets the master a command of `generation` failed on, so the next command asks the
    /// sentinels again (a failover promoted another node, or the master restarted as a
    /// replica).
    fn learn<T>(&self, generation: u64, result: &RedisResult<T>) {
        if !lost_master(result) {
            return;
        }
        if let Ok(mut master) = self.master.write() {
            if master.as_ref().is_some_and(|m| m.generation == generation) {
                tracing::warn!("Redis master lost: asking the sentinels again");
                *master = None;
            }
        }
    }

    fn current(&self) -> Option<Master> {
        self.master.read().ok().and_then(|master| master.clone())
    }

    /// The master, asking the sentinels (one caller at a time) when none is known.
    async fn master(&self, config: ConnectionManagerConfig) -> RedisResult<Master> {
        if let Some(master) = self.current() {
            return Ok(master);
        }
        let mut guard = self.client.lock().await;
        if let Some(master) = self.current() {
            return Ok(master);
        }
        let (sentinels, failed_at) = &mut *guard;
        if failed_at.is_some_and(|at| at.elapsed() < RESOLVE_BACKOFF) {
            return Err(RedisError::from((
                ErrorKind::Io,
                "the sentinels named no reachable master a moment ago",
            )));
        }
        let resolve = async {
            let client = sentinels.async_get_client().await?;
            let manager = ConnectionManager::new_with_config(client.clone(), config).await?;
            Ok::<_, RedisError>((client, manager))
        };
        let resolved = tokio::time::timeout(RESOLVE_TIMEOUT, resolve)
            .await
            .map_err(|_| {
                RedisError::from((
                    ErrorKind::Io,
                    "the sentinels did not name a reachable master in time",
                ))
            })
            .and_then(|result| result);
        *failed_at = resolved.is_err().then(Instant::now);
        let (client, manager) = resolved?;
        let master = Master {
            generation: self.resolutions.fetch_add(1, Ordering::Relaxed) + 1,
            client,
            manager,
        };
        if let Ok(mut slot) = self.master.write() {
            *slot = Some(master.clone());
        }
        tracing::info!("Redis master found through the sentinels");
        Ok(master)
    }
}

/// The circuit breaker: closed (every command goes), open (every command refused until
/// `open_until`), half-open (one probe goes, the rest refused).
struct Breaker {
    /// How long it stays open; zero disables it.
    open_for: Duration,
    /// Time origin for `open_until`.
    epoch: Instant,
    /// Milliseconds since `epoch` until which commands are refused; 0: closed.
    open_until: AtomicU64,
    /// A probe is out (half-open).
    probing: AtomicBool,
}

/// Frees the probe slot however a probe ends — also when its request is dropped before
/// Redis answers (a client that went away), which would otherwise leave the breaker
/// refusing everything with no probe out.
struct ProbeSlot<'a>(&'a Breaker, Pass);

impl Drop for ProbeSlot<'_> {
    fn drop(&mut self) {
        if self.1 == Pass::Probe {
            self.0.probing.store(false, Ordering::Release);
        }
    }
}

/// How a command got past the breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pass {
    Closed,
    Probe,
}

impl Breaker {
    fn new(open_for: Duration) -> Breaker {
        Breaker {
            open_for,
            epoch: Instant::now(),
            open_until: AtomicU64::new(0),
            probing: AtomicBool::new(false),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// Whether a command may go now.
    fn admit(&self) -> RedisResult<Pass> {
        self.admit_at(self.now_ms())
    }

    fn admit_at(&self, now_ms: u64) -> RedisResult<Pass> {
        let until = self.open_until.load(Ordering::Acquire);
        if until == 0 {
            return Ok(Pass::Closed);
        }
        let due = now_ms >= until;
        if due
            && self
                .probing
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            return Ok(Pass::Probe);
        }
        Err(fast_failure())
    }

    /// Open and not yet due for a probe.
    fn refusing(&self) -> bool {
        let until = self.open_until.load(Ordering::Acquire);
        until != 0 && self.now_ms() < until
    }

    /// Learns from a command's outcome: no answer opens the breaker (again), any answer
    /// from Redis (an error reply included) closes it.
    fn record<T>(&self, pass: Pass, result: &RedisResult<T>) {
        self.record_at(self.now_ms(), pass, result);
    }

    fn record_at<T>(&self, now_ms: u64, pass: Pass, result: &RedisResult<T>) {
        let unanswered = result.as_ref().err().is_some_and(unanswered);
        if unanswered && !self.open_for.is_zero() {
            let until = now_ms.saturating_add(self.open_for.as_millis() as u64);
            let was = self.open_until.swap(until, Ordering::AcqRel);
            if was == 0 {
                tracing::warn!(
                    open_ms = self.open_for.as_millis() as u64,
                    "Redis did not answer: store requests fail fast (503) while one probe at a \
                     time checks whether it answers again"
                );
            }
        } else if !unanswered && self.open_until.swap(0, Ordering::AcqRel) != 0 {
            tracing::info!("Redis answers again: store requests go through");
        }
        if pass == Pass::Probe {
            self.probing.store(false, Ordering::Release);
        }
    }
}

fn fast_failure() -> RedisError {
    RedisError::from((ErrorKind::Io, FAILED_FAST))
}

/// Whether `err` (or what caused it) is a command the breaker refused without asking
/// Redis: the services log those at debug level (the breaker warned once when it opened).
pub fn failed_fast(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(redis) = err.downcast_ref::<RedisError>() {
            return redis.to_string().contains(FAILED_FAST);
        }
        next = err.source();
    }
    false
}

impl fmt::Debug for RedisConn {
    /// URLs may hold a password: never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, connected) = match &self.target {
            Target::Standalone { manager, .. } => ("standalone", manager.initialized()),
            Target::Cluster { connection, .. } => ("cluster", connection.initialized()),
            Target::Sentinel(sentinels) => ("sentinel", sentinels.current().is_some()),
        };
        f.debug_struct("RedisConn")
            .field("kind", &kind)
            .field("connected", &connected)
            .finish_non_exhaustive()
    }
}

/// Why the configured Redis connection cannot be set up. Never contains a password.
#[derive(Debug, Error)]
pub enum RedisSetupError {
    #[error("invalid {setting}: {source}")]
    Url {
        setting: String,
        #[source]
        source: RedisError,
    },
    #[error("cannot read {prefix}__REDIS__CA_FILE ({path}): {source}")]
    CaUnreadable {
        prefix: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {prefix}__REDIS__PASSWORD_FILE ({path}): {source}")]
    PasswordUnreadable {
        prefix: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{prefix}__REDIS__PASSWORD_FILE is set but no Redis is: set {prefix}__REDIS__URL, \
         {prefix}__REDIS__CLUSTER_NODES or {prefix}__REDIS__SENTINELS"
    )]
    PasswordWithoutUrl { prefix: String },
    #[error(
        "a {prefix}__REDIS__ URL carries a password and {prefix}__REDIS__PASSWORD_FILE is set; \
         set exactly one"
    )]
    PasswordTwice { prefix: String },
    #[error(
        "{prefix}__REDIS__URL, {prefix}__REDIS__CLUSTER_NODES and {prefix}__REDIS__SENTINELS \
         exclude each other: set one ({set} are set)"
    )]
    Exclusive { prefix: String, set: String },
    #[error(
        "{prefix}__REDIS__SENTINELS and {prefix}__REDIS__SENTINEL_MASTER go together: set both \
         (the sentinels' addresses and the name of the master they watch)"
    )]
    SentinelHalf { prefix: String },
}

/// Which of the three ways to reach Redis the settings use.
enum Kind<'a> {
    Url(&'a SecretString),
    Cluster(Vec<&'a SecretString>),
    Sentinel(Vec<&'a SecretString>, &'a str),
}

/// The URLs given: empty values count as unset (so a compose overlay can blank a setting).
fn given(urls: &[SecretString]) -> Vec<&SecretString> {
    urls.iter()
        .filter(|url| !url.expose_secret().trim().is_empty())
        .collect()
}

/// A client for one node: with `ca` as the only trusted root for a `rediss://` address when
/// given, else as the URL says (`rediss://` then trusts the system's roots).
fn client(info: ConnectionInfo, ca: Option<&[u8]>) -> RedisResult<Client> {
    match (info.addr(), ca) {
        (ConnectionAddr::TcpTls { .. }, Some(ca)) => Client::build_with_tls(info, certificates(ca)),
        _ => Client::open(info),
    }
}

fn certificates(ca: &[u8]) -> TlsCertificates {
    TlsCertificates {
        client_tls: None,
        root_cert: Some(ca.to_vec()),
    }
}

/// Parses `url`, a `redis://` or `rediss://` URL the setting `setting` holds.
fn parse(url: &SecretString, setting: &str) -> Result<ConnectionInfo, RedisSetupError> {
    url.expose_secret()
        .trim()
        .into_connection_info()
        .map_err(|source| RedisSetupError::Url {
            setting: setting.to_owned(),
            source,
        })
}

fn parse_all(
    urls: &[&SecretString],
    setting: &str,
) -> Result<Vec<ConnectionInfo>, RedisSetupError> {
    urls.iter().map(|url| parse(url, setting)).collect()
}

impl RedisConn {
    /// The connection the `redis` settings describe, or `None` when they name no Redis (the
    /// service then uses its in-memory store). `prefix` (`AUTH`, `TASKS`) names settings in
    /// errors. The password of the Redis nodes (not of the sentinels, whose URLs carry
    /// their own) comes from the URLs or from `password_file` (trailing whitespace
    /// ignored), never both.
    pub fn from_settings(
        settings: &RedisSettings,
        prefix: &str,
    ) -> Result<Option<RedisConn>, RedisSetupError> {
        let Some(kind) = RedisConn::kind(settings, prefix)? else {
            return match settings.password_file {
                Some(_) => Err(RedisSetupError::PasswordWithoutUrl {
                    prefix: prefix.to_owned(),
                }),
                None => Ok(None),
            };
        };
        let password = settings
            .password_file
            .as_ref()
            .map(|path| {
                std::fs::read_to_string(path)
                    .map(|password| password.trim_end().to_owned())
                    .map_err(|source| RedisSetupError::PasswordUnreadable {
                        prefix: prefix.to_owned(),
                        path: path.clone(),
                        source,
                    })
            })
            .transpose()?;
        let with_password = |info: ConnectionInfo| match &password {
            Some(_) if info.redis_settings().password().is_some() => {
                Err(RedisSetupError::PasswordTwice {
                    prefix: prefix.to_owned(),
                })
            }
            Some(password) => {
                let redis = info.redis_settings().clone().set_password(password);
                Ok(info.set_redis_settings(redis))
            }
            None => Ok(info),
        };
        let ca = settings
            .ca_file
            .as_ref()
            .map(|path| {
                std::fs::read(path).map_err(|source| RedisSetupError::CaUnreadable {
                    prefix: prefix.to_owned(),
                    path: path.clone(),
                    source,
                })
            })
            .transpose()?;
        // `rediss://`: rustls with ring, the provider the rest of the workspace uses.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let setting = |name: &str| format!("{prefix}__REDIS__{name}");
        let target = match kind {
            Kind::Url(url) => {
                let info = with_password(parse(url, &setting("URL"))?)?;
                let client =
                    client(info, ca.as_deref()).map_err(|source| RedisSetupError::Url {
                        setting: setting("URL"),
                        source,
                    })?;
                Target::Standalone {
                    client,
                    manager: OnceCell::new(),
                }
            }
            Kind::Cluster(urls) => {
                let nodes = parse_all(&urls, &setting("CLUSTER_NODES"))?
                    .into_iter()
                    .map(with_password)
                    .collect::<Result<Vec<_>, _>>()?;
                RedisConn::cluster_target(nodes, ca).map_err(|source| RedisSetupError::Url {
                    setting: setting("CLUSTER_NODES"),
                    source,
                })?
            }
            Kind::Sentinel(urls, master) => {
                let sentinels = parse_all(&urls, &setting("SENTINELS"))?;
                if sentinels
                    .iter()
                    .any(|info| matches!(info.addr(), ConnectionAddr::TcpTls { .. }))
                {
                    return Err(RedisSetupError::Url {
                        setting: setting("SENTINELS"),
                        source: RedisError::from((
                            ErrorKind::InvalidClientConfig,
                            "TLS to Sentinel (rediss://) is not supported yet; use redis://",
                        )),
                    });
                }
                let node = match &password {
                    Some(password) => RedisConnectionInfo::default().set_password(password),
                    None => RedisConnectionInfo::default(),
                };
                RedisConn::sentinel_target(sentinels, master, node).map_err(|source| {
                    RedisSetupError::Url {
                        setting: setting("SENTINELS"),
                        source,
                    }
                })?
            }
        };
        Ok(Some(RedisConn {
            target,
            breaker: Arc::new(Breaker::new(Duration::from_millis(settings.breaker_ms))),
        }))
    }

    /// Which Redis the settings name, if any; refuses two at once or half a Sentinel setup.
    fn kind<'a>(
        settings: &'a RedisSettings,
        prefix: &str,
    ) -> Result<Option<Kind<'a>>, RedisSetupError> {
        let url = settings
            .url
            .as_ref()
            .filter(|url| !given(std::slice::from_ref(url)).is_empty());
        let (nodes, sentinels) = (given(&settings.cluster_nodes), given(&settings.sentinels));
        let set: Vec<&str> = [
            (url.is_some(), "URL"),
            (!nodes.is_empty(), "CLUSTER_NODES"),
            (!sentinels.is_empty(), "SENTINELS"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect();
        if set.len() > 1 {
            return Err(RedisSetupError::Exclusive {
                prefix: prefix.to_owned(),
                set: set.join(", "),
            });
        }
        let master = settings
            .sentinel_master
            .as_deref()
            .filter(|m| !m.trim().is_empty());
        if sentinels.is_empty() != master.is_none() {
            return Err(RedisSetupError::SentinelHalf {
                prefix: prefix.to_owned(),
            });
        }
        Ok(match (url, master) {
            (Some(url), _) => Some(Kind::Url(url)),
            (None, Some(master)) => Some(Kind::Sentinel(sentinels, master.trim())),
            (None, None) if !nodes.is_empty() => Some(Kind::Cluster(nodes)),
            (None, None) => None,
        })
    }

    fn cluster_target(nodes: Vec<ConnectionInfo>, ca: Option<Vec<u8>>) -> RedisResult<Target> {
        let mut builder = ClusterClientBuilder::new(nodes.clone())
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            .retries(5)
            .min_retry_wait(50)
            .max_retry_wait(500);
        let tls = nodes
            .first()
            .is_some_and(|node| matches!(node.addr(), ConnectionAddr::TcpTls { .. }));
        if let (true, Some(ca)) = (tls, &ca) {
            builder = builder.certs(certificates(ca));
        }
        Ok(Target::Cluster {
            client: Box::new(builder.build()?),
            nodes,
            ca,
            connection: OnceCell::new(),
        })
    }

    fn sentinel_target(
        sentinels: Vec<ConnectionInfo>,
        master: &str,
        node: RedisConnectionInfo,
    ) -> RedisResult<Target> {
        let client = SentinelClient::build(
            sentinels,
            master,
            Some(SentinelNodeConnectionInfo::default().set_redis_connection_info(node)),
            SentinelServerType::Master,
        )?;
        Ok(Target::Sentinel(Arc::new(Sentinels {
            client: tokio::sync::Mutex::new((client, None)),
            master: RwLock::new(None),
            resolutions: AtomicU64::new(0),
        })))
    }

    /// Parses `url` (`redis://[:password@]host:port[/db]`); connects on first use; the
    /// breaker opens for [`DEFAULT_BREAKER`].
    pub fn open(url: &str) -> RedisResult<RedisConn> {
        Ok(RedisConn {
            target: Target::Standalone {
                client: Client::open(url)?,
                manager: OnceCell::new(),
            },
            breaker: Arc::new(Breaker::new(DEFAULT_BREAKER)),
        })
    }

    /// A handle on the shared connection, its commands passing the breaker.
    pub async fn connection(&self) -> RedisResult<Connection> {
        if self.breaker.refusing() {
            return Err(fast_failure());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_max_delay(Duration::from_millis(200));
        let inner = match &self.target {
            Target::Standalone { client, manager } => Inner::Standalone(
                manager
                    .get_or_try_init(|| ConnectionManager::new_with_config(client.clone(), config))
                    .await?
                    .clone(),
            ),
            Target::Cluster {
                client, connection, ..
            } => Inner::Cluster(
                connection
                    .get_or_try_init(|| client.get_async_connection())
                    .await?
                    .clone(),
            ),
            Target::Sentinel(sentinels) => {
                let master = sentinels.master(config).await?;
                Inner::Sentinel {
                    manager: master.manager,
                    generation: master.generation,
                    sentinels: sentinels.clone(),
                }
            }
        };
        Ok(Connection {
            inner,
            breaker: self.breaker.clone(),
        })
    }

    /// A connection of its own in subscriber mode (the revocation feed's). On a cluster it
    /// subscribes through the first seed node that answers: a classic `PUBLISH` reaches
    /// subscribers on every node, so any one will do, and when it goes away the feed
    /// subscribes through the next.
    pub async fn pubsub(&self) -> RedisResult<redis::aio::PubSub> {
        match &self.target {
            Target::Standalone { client, .. } => client.get_async_pubsub().await,
            Target::Cluster { nodes, ca, .. } => {
                let mut last = RedisError::from((ErrorKind::Io, "no cluster node configured"));
                for node in nodes {
                    let attempt = async {
                        client(node.clone(), ca.as_deref())?
                            .get_async_pubsub()
                            .await
                    };
                    match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
                        Ok(Ok(pubsub)) => return Ok(pubsub),
                        Ok(Err(err)) => last = err,
                        Err(_) => {
                            last = RedisError::from((ErrorKind::Io, "cluster node did not answer"))
                        }
                    }
                }
                Err(last)
            }
            Target::Sentinel(sentinels) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT));
                let master = sentinels.master(config).await?;
                let pubsub = master.client.get_async_pubsub().await;
                sentinels.learn(master.generation, &pubsub);
                pubsub
            }
        }
    }

    /// `PING`, for readiness checks. On a cluster every master must answer (every slot can
    /// be served); a replica that is down does not make the service unready.
    pub async fn ping(&self) -> RedisResult<()> {
        let mut connection = self.connection().await?;
        let ping = redis::cmd("PING");
        if let Inner::Cluster(cluster) = &mut connection.inner {
            let pass = self.breaker.admit()?;
            let _probe = ProbeSlot(&self.breaker, pass);
            let routing = RoutingInfo::MultiNode((
                MultipleNodeRoutingInfo::AllMasters,
                Some(ResponsePolicy::AllSucceeded),
            ));
            let result = cluster.route_command(ping, routing).await.map(drop);
            self.breaker.record(pass, &result);
            return result;
        }
        ping.query_async(&mut connection).await
    }
}

/// The store a service runs on: `redis` over the connection when the settings name a
/// Redis, else the embedded in-memory `memory` — with a loud warning that it is for one
/// instance only. `what` names it in the log ("store", "task store").
pub fn store_or_memory<T>(
    settings: &RedisSettings,
    prefix: &str,
    what: &str,
    redis: impl FnOnce(RedisConn) -> T,
    memory: impl FnOnce() -> T,
) -> Result<T, RedisSetupError> {
    match RedisConn::from_settings(settings, prefix)? {
        Some(conn) => {
            tracing::info!("{what}: Redis ({conn:?})");
            Ok(redis(conn))
        }
        None => {
            tracing::warn!(
                "{what}: IN-MEMORY (no {prefix}__REDIS__URL, __CLUSTER_NODES or __SENTINELS \
                 is set). Its data vanishes at restart and is not shared: run a single \
                 instance only"
            );
            Ok(memory())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeout() -> RedisResult<()> {
        Err(std::io::Error::from(std::io::ErrorKind::TimedOut).into())
    }

    fn answered_with_an_error() -> RedisResult<()> {
        Err(RedisError::from((ErrorKind::Client, "WRONGTYPE, say")))
    }

    #[test]
    fn no_answer_opens_it_one_probe_then_closes_or_reopens_it() {
        let breaker = Breaker::new(Duration::from_millis(500));
        assert_eq!(breaker.admit_at(10).unwrap(), Pass::Closed);
        breaker.record_at(10, Pass::Closed, &answered_with_an_error());
        assert_eq!(
            breaker.admit_at(11).unwrap(),
            Pass::Closed,
            "an error reply is an answer"
        );

        breaker.record_at(2_000, Pass::Closed, &timeout());
        let refused = breaker.admit_at(2_001).unwrap_err();
        assert!(failed_fast(&refused), "{refused}");
        assert!(
            breaker.admit_at(2_499).is_err(),
            "open for the whole window"
        );

        assert_eq!(breaker.admit_at(2_500).unwrap(), Pass::Probe);
        assert!(breaker.admit_at(2_501).is_err(), "one probe at a time");
        breaker.record_at(4_500, Pass::Probe, &timeout());
        assert!(
            breaker.admit_at(4_999).is_err(),
            "the failed probe reopened it"
        );

        assert_eq!(breaker.admit_at(5_000).unwrap(), Pass::Probe);
        breaker.record_at(5_001, Pass::Probe, &Ok(()));
        assert_eq!(breaker.admit_at(5_002).unwrap(), Pass::Closed);
        assert_eq!(
            breaker.admit_at(5_003).unwrap(),
            Pass::Closed,
            "closed for everyone"
        );
    }

    #[test]
    fn a_probe_dropped_before_its_answer_frees_the_slot() {
        let breaker = Breaker::new(Duration::from_millis(500));
        breaker.record_at(1_000, Pass::Closed, &timeout());
        let pass = breaker.admit_at(1_500).unwrap();
        assert_eq!(pass, Pass::Probe);
        assert!(breaker.admit_at(1_501).is_err(), "one probe at a time");
        drop(ProbeSlot(&breaker, pass)); // the request went away mid-command
        assert_eq!(
            breaker.admit_at(1_502).unwrap(),
            Pass::Probe,
            "another may probe"
        );
    }

    fn settings(edit: impl FnOnce(&mut RedisSettings)) -> RedisSettings {
        let mut settings = RedisSettings::default();
        edit(&mut settings);
        settings
    }

    fn refusal(settings: &RedisSettings) -> String {
        RedisConn::from_settings(settings, "AUTH")
            .map(|_| ())
            .unwrap_err()
            .to_string()
    }

    fn urls(urls: &[&str]) -> Vec<SecretString> {
        urls.iter().map(|url| SecretString::from(*url)).collect()
    }

    #[test]
    fn one_kind_of_redis_at_a_time_and_sentinels_need_their_master() {
        let none = RedisConn::from_settings(&RedisSettings::default(), "AUTH").unwrap();
        assert!(none.is_none(), "no setting: the in-memory store");
        let blank = settings(|s| {
            s.url = Some(SecretString::from(""));
            s.cluster_nodes = urls(&["redis://127.0.0.1:7000"]);
        });
        let conn = RedisConn::from_settings(&blank, "AUTH").unwrap().unwrap();
        assert!(
            format!("{conn:?}").contains("cluster"),
            "an empty URL is unset"
        );

        let cluster = settings(|s| s.cluster_nodes = urls(&["redis://127.0.0.1:7000"]));
        let conn = RedisConn::from_settings(&cluster, "AUTH").unwrap().unwrap();
        assert!(format!("{conn:?}").contains("cluster"), "{conn:?}");
        let sentinel = settings(|s| {
            s.sentinels = urls(&["redis://127.0.0.1:26379", "redis://127.0.0.1:26380"]);
            s.sentinel_master = Some("tessera".to_owned());
        });
        let conn = RedisConn::from_settings(&sentinel, "AUTH")
            .unwrap()
            .unwrap();
        assert!(format!("{conn:?}").contains("sentinel"), "{conn:?}");

        let both = settings(|s| {
            s.url = Some(SecretString::from("redis://:hunter2@127.0.0.1:6379"));
            s.cluster_nodes = urls(&["redis://127.0.0.1:7000"]);
        });
        let err = refusal(&both);
        assert!(err.contains("exclude each other"), "{err}");
        assert!(err.contains("URL, CLUSTER_NODES are set"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");

        let half = settings(|s| s.sentinels = urls(&["redis://127.0.0.1:26379"]));
        assert!(refusal(&half).contains("AUTH__REDIS__SENTINEL_MASTER"));
        let other_half = settings(|s| s.sentinel_master = Some("tessera".to_owned()));
        assert!(refusal(&other_half).contains("go together"));

        let bad = settings(|s| s.cluster_nodes = urls(&["redis://127.0.0.1:7000", "nonsense"]));
        let err = refusal(&bad);
        assert!(err.contains("invalid AUTH__REDIS__CLUSTER_NODES"), "{err}");
    }

    #[test]
    fn zero_disables_it_and_other_errors_are_not_fast_failures() {
        let breaker = Breaker::new(Duration::ZERO);
        breaker.record_at(10, Pass::Closed, &timeout());
        assert_eq!(breaker.admit_at(11).unwrap(), Pass::Closed);
        let timed_out = timeout().unwrap_err();
        assert!(!failed_fast(&timed_out));
        assert!(!failed_fast(&answered_with_an_error().unwrap_err()));
    }
}
