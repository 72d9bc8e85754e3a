//! A cluster of [`rtmp_server`] nodes coordinated through Redis.
//!
//! - **One publisher per key, cluster-wide.** Accepting a publish claims the key in Redis with
//!   a lease (set if absent, with a time to live), renewed while the publisher lives and
//!   released when it stops. A publisher of the same key on another node is refused with
//!   NetStream.Publish.BadName. If a node dies, its leases expire and the key can be published
//!   elsewhere.
//! - **A directory.** A node asked to play a key nobody publishes locally looks the owner up
//!   and pulls from it, one pull shared by all its local players (the server's relay). Players
//!   waiting for a key that is not published anywhere start when it appears on any node (the
//!   node polls Redis for the keys its players wait for). A pull that loses its source asks
//!   again where the key is, so edges follow an origin that moved.
//! - **Draining.** [`Cluster::drain`] stops new publishes here and asks this node's clients to
//!   reconnect to another live node (Enhanced RTMP Reconnect Request; `rtmp-client` follows it).
//! - **When Redis fails**, nodes keep serving what they serve; new publishes follow
//!   [`RedisDown`]; a log line says the cluster is degraded, another when it recovers.
//!
//! ```no_run
//! use rtmp_cluster::{Cluster, ClusterConfig};
//! use rtmp_server::{AcceptAll, Server};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let cluster = Cluster::connect(ClusterConfig::new(
//!     "redis://10.0.0.5:6379",
//!     "rtmp://10.0.0.11:1935",
//! ))
//! .await?;
//! let listening = Server::builder()
//!     .listen("0.0.0.0:1935".parse()?)
//!     .hooks(cluster.hooks(AcceptAll))
//!     .bind()
//!     .await?;
//! cluster.attach(listening.server());
//! listening.run(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod hooks;
mod node;
mod redis_store;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rtmp_server::{Hooks, Layered, RtmpUrl, Server, StaticRelay, StreamKey};

pub use hooks::{ClusterDecisions, ClusterHooks};
use node::Node;
use redis_store::Store;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What a node does with a new publish while Redis cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RedisDown {
    /// Accept it locally; the lease is claimed once Redis is back, and if another node took
    /// the key meanwhile, the publisher that lost the lease is stopped (default: streams go
    /// on through an outage).
    #[default]
    AcceptLocally,
    /// Refuse it (NetStream.Publish.BadName): never two publishers of a key, at the cost of
    /// refusing everyone while Redis is down.
    Refuse,
}

/// Settings of a node in the cluster.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClusterConfig {
    /// Where Redis is (`redis://host:port[/db]`).
    pub redis_url: String,
    /// How other nodes reach this one: `rtmp://host[:port]` (no application).
    pub node_url: String,
    /// How long a publisher's claim on its key lives without renewal (default 10 s); renewed
    /// every third of it. After a node dies, its keys can be published elsewhere after this.
    pub lease: Duration,
    /// How often the node looks for keys its players wait for (default 1 s).
    pub poll: Duration,
    /// What happens to new publishes while Redis is unreachable.
    pub when_redis_fails: RedisDown,
    /// The prefix of every Redis key the cluster uses (default `rtmp`).
    pub prefix: String,
}

impl ClusterConfig {
    /// A node reached at `node_url`, coordinated through the Redis at `redis_url`.
    pub fn new(redis_url: impl Into<String>, node_url: impl Into<String>) -> Self {
        Self {
            redis_url: redis_url.into(),
            node_url: node_url.into().trim_end_matches('/').to_owned(),
            lease: Duration::from_secs(10),
            poll: Duration::from_secs(1),
            when_redis_fails: RedisDown::AcceptLocally,
            prefix: "rtmp".into(),
        }
    }
}

/// Why the cluster could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// Redis could not be reached or refused a command.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The node URL does not parse as `rtmp://host[:port]`.
    #[error("node url {0:?} is not rtmp://host[:port]")]
    NodeUrl(String),
}

/// One node's view of the cluster. Cloning gives another handle to it.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node_url", &self.inner.config.node_url)
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: ClusterConfig,
    store: Store,
    /// Keys published here, with the publisher's connection and what stops the lease's
    /// renewal.
    leases: Mutex<HashMap<StreamKey, (u64, tokio::task::AbortHandle)>>,
    /// Releases of keys under way: a claim of the same key waits for its release, which
    /// would otherwise delete the claim it overtook.
    releasing: Mutex<HashMap<StreamKey, tokio::task::JoinHandle<()>>>,
    /// The server, once attached.
    node: OnceLock<Box<dyn Node>>,
    /// Whether the last Redis call failed.
    degraded: AtomicBool,
    /// Whether the node drains: it claims no more keys.
    draining: AtomicBool,
}

impl Cluster {
    /// Connects to Redis (failing if it cannot be reached now) and starts this node's
    /// heartbeat, by which other nodes find it as a drain target.
    pub async fn connect(config: ClusterConfig) -> Result<Self, ClusterError> {
        if RtmpUrl::parse(&format!("{}/app", config.node_url)).is_err() {
            return Err(ClusterError::NodeUrl(config.node_url));
        }
        let store = Store::connect(&config).await?;
        let cluster = Self {
            inner: Arc::new(Inner {
                config,
                store,
                leases: Mutex::default(),
                releasing: Mutex::default(),
                node: OnceLock::new(),
                degraded: AtomicBool::new(false),
                draining: AtomicBool::new(false),
            }),
        };
        let heartbeat = cluster.clone();
        tokio::spawn(async move { heartbeat.heartbeat().await });
        Ok(cluster)
    }

    /// `inner` with the cluster's decisions added (see [`ClusterHooks`]).
    pub fn hooks<H: Hooks>(&self, inner: H) -> ClusterHooks<H> {
        Layered::new(inner, ClusterDecisions::new(Some(self.clone())))
    }

    /// Connects the cluster to the server its hooks serve: it starts pulls for keys local
    /// players wait for, stops a publisher whose lease another node took, and drains.
    pub fn attach<H: Hooks>(&self, server: &Server<H>) {
        if self.inner.node.set(Box::new(server.clone())).is_ok() {
            let watcher = self.clone();
            tokio::spawn(async move { watcher.watch().await });
        }
    }

    /// This node's URL.
    pub fn node_url(&self) -> &str {
        &self.inner.config.node_url
    }

    /// Whether the last Redis call failed.
    pub fn is_degraded(&self) -> bool {
        self.inner.degraded.load(Ordering::Relaxed)
    }

    /// The node that publishes `key`, if any (this one included).
    pub async fn owner(&self, key: &StreamKey) -> Option<String> {
        let owner = self.inner.store.owner(key).await;
        self.note(owner.as_ref().map(|_| ()));
        owner.ok().flatten()
    }

    /// Another live node (for draining), if any.
    pub async fn other_node(&self) -> Option<String> {
        let nodes = self.inner.store.nodes().await;
        self.note(nodes.as_ref().map(|_| ()));
        nodes
            .ok()?
            .into_iter()
            .find(|node| *node != self.inner.config.node_url)
    }

    /// Drains this node: new publishes are refused, and every client that publishes or plays
    /// is asked to reconnect to another live node. Returns that node and how many clients
    /// were asked (none when the cluster is not attached or no other node is live).
    pub async fn drain(&self) -> Option<(String, usize)> {
        let target = self.other_node().await?;
        let node = self.inner.node.get()?;
        // The publishers asked to move must find their keys free on the other node.
        self.inner.draining.store(true, Ordering::Relaxed);
        let held: Vec<(StreamKey, (u64, tokio::task::AbortHandle))> =
            lock(&self.inner.leases).drain().collect();
        for (key, (_, renewal)) in held {
            renewal.abort();
            let released = self.inner.store.release(&key).await;
            self.note(released.map(|_| ()));
        }
        let asked = node.drain(&target);
        tracing::info!(%target, asked, "draining");
        Some((target, asked))
    }

    /// Records whether a Redis call worked, logging the transitions.
    fn note<E: std::fmt::Display>(&self, result: Result<(), E>) {
        match result {
            Ok(()) => {
                if self.inner.degraded.swap(false, Ordering::Relaxed) {
                    tracing::info!("cluster recovered: Redis is reachable again");
                }
            }
            Err(error) => {
                if !self.inner.degraded.swap(true, Ordering::Relaxed) {
                    tracing::warn!(%error, "cluster degraded: Redis is unreachable; serving what is served");
                }
            }
        }
    }

    /// Claims `key` for this node, once its release (if one is under way) is done;
    /// `Err(owner)` when another node holds it.
    async fn claim(&self, key: &StreamKey) -> Result<(), Option<String>> {
        let releasing = lock(&self.inner.releasing).remove(key);
        if let Some(release) = releasing {
            // The release logs its own failure.
            let _ = release.await;
        }
        let claimed = self.inner.store.claim(key).await;
        self.note(claimed.as_ref().map(|_| ()));
        match claimed {
            Ok(owner) if owner == self.inner.config.node_url => Ok(()),
            Ok(owner) => Err(Some(owner)),
            Err(_) => match self.inner.config.when_redis_fails {
                RedisDown::AcceptLocally => Ok(()),
                _ => Err(None),
            },
        }
    }

    /// Keeps the lease of `key` while connection `publisher` publishes it here (not while
    /// draining).
    fn keep(&self, key: &StreamKey, publisher: u64) {
        if self.inner.draining.load(Ordering::Relaxed) {
            return;
        }
        let cluster = self.clone();
        let renewed = key.clone();
        let task = tokio::spawn(async move { cluster.renew(renewed).await });
        let lease = (publisher, task.abort_handle());
        if let Some((_, previous)) = lock(&self.inner.leases).insert(key.clone(), lease) {
            previous.abort();
        }
    }

    /// Lets go of `key`'s lease, unless a publisher other than connection `publisher` holds
    /// it here now (one that took the key over).
    fn release(&self, key: &StreamKey, publisher: u64) {
        {
            let mut leases = lock(&self.inner.leases);
            match leases.get(key) {
                Some((holder, _)) if *holder != publisher => return,
                Some(_) => {
                    if let Some((_, task)) = leases.remove(key) {
                        task.abort();
                    }
                }
                None => {}
            }
        }
        let cluster = self.clone();
        let released = key.clone();
        let release = tokio::spawn(async move {
            let result = cluster.inner.store.release(&released).await;
            cluster.note(result.map(|_| ()));
        });
        let mut releasing = lock(&self.inner.releasing);
        releasing.retain(|_, release| !release.is_finished());
        releasing.insert(key.clone(), release);
    }

    /// Renews `key`'s lease every third of its life. Claims it again after an outage; if
    /// another node holds it, stops the publisher here.
    async fn renew(&self, key: StreamKey) {
        let every = self.inner.config.lease / 3;
        // A publisher that took the key over from another here may start while the other's
        // release is under way: the claim is made again once that is done.
        let releasing = lock(&self.inner.releasing).remove(&key);
        let mut wait = Duration::ZERO;
        if let Some(release) = releasing {
            let _ = release.await;
        } else {
            wait = every;
        }
        loop {
            tokio::time::sleep(wait).await;
            wait = every;
            let claimed = self.inner.store.claim(&key).await;
            self.note(claimed.as_ref().map(|_| ()));
            match claimed {
                Ok(owner) if owner != self.inner.config.node_url => {
                    tracing::warn!(%key, %owner, "another node holds the key: stopping the publisher here");
                    if let Some(node) = self.inner.node.get() {
                        node.stop_publisher(&key);
                    }
                    return;
                }
                _ => {}
            }
        }
    }

    /// Announces this node every third of a lease.
    async fn heartbeat(&self) {
        let every = self.inner.config.lease / 3;
        loop {
            let beat = self.inner.store.heartbeat().await;
            self.note(beat);
            tokio::time::sleep(every).await;
        }
    }

    /// Starts pulls for keys local players wait for, as they appear on other nodes.
    async fn watch(&self) {
        let Some(node) = self.inner.node.get() else {
            return;
        };
        loop {
            tokio::time::sleep(self.inner.config.poll).await;
            for key in node.waiting() {
                let Some(owner) = self.owner(&key).await else {
                    continue;
                };
                if owner == self.inner.config.node_url {
                    continue;
                }
                if let Ok(url) = StaticRelay::url(&owner, &key) {
                    node.pull(&key, url);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // test code

    use std::time::{Duration, Instant};

    use rtmp_server::StreamKey;

    use super::{Cluster, ClusterConfig};

    /// A `redis-server` on a free loopback port, killed when dropped.
    struct Redis(std::process::Child, u16);

    impl Redis {
        fn start() -> Self {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .unwrap()
                .port();
            let child = std::process::Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("cannot run redis-server: run .ci/install-peers");
            let start = Instant::now();
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(start.elapsed() < Duration::from_secs(10), "no redis-server");
                std::thread::sleep(Duration::from_millis(20));
            }
            Self(child, port)
        }
    }

    impl Drop for Redis {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    const NODE: &str = "rtmp://127.0.0.1:1935";

    /// A Redis of its own, and a cluster node (`NODE`) on it.
    async fn connected() -> (Redis, Cluster) {
        let redis = Redis::start();
        let config = ClusterConfig::new(format!("redis://127.0.0.1:{}", redis.1), NODE);
        let cluster = Cluster::connect(config).await.unwrap();
        (redis, cluster)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_key_published_again_at_once_keeps_its_lease() {
        let (_redis, cluster) = connected().await;
        let key = StreamKey {
            app: "live".into(),
            name: "again".into(),
        };
        // A publisher stops and another starts on the same node at once: the claim must not
        // be overtaken by the release before it.
        for _ in 0..50 {
            cluster.claim(&key).await.unwrap();
            cluster.release(&key, 1);
            cluster.claim(&key).await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
            assert_eq!(cluster.owner(&key).await.as_deref(), Some(NODE));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_publisher_that_took_a_key_over_keeps_its_lease() {
        let (_redis, cluster) = connected().await;
        let key = StreamKey {
            app: "live".into(),
            name: "taken".into(),
        };
        cluster.claim(&key).await.unwrap();
        cluster.keep(&key, 1);
        // Connection 2 took the key over; connection 1's stop is told after 2 started.
        cluster.keep(&key, 2);
        cluster.release(&key, 1);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(cluster.owner(&key).await.as_deref(), Some(NODE));
        assert_eq!(
            crate::lock(&cluster.inner.leases)
                .get(&key)
                .map(|lease| lease.0),
            Some(2)
        );
        // Told in the other order: the release is under way when connection 3 starts, whose
        // renewal claims the key again as soon as the release is done.
        cluster.release(&key, 2);
        cluster.keep(&key, 3);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(cluster.owner(&key).await.as_deref(), Some(NODE));
    }
}

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
