//! Relays between servers: pushing local streams to remote servers (origin to edges or a CDN)
//! and pulling remote streams for local players (edge), both reconnecting with backoff.
//!
//! Which streams go where is decided by [`Hooks::push_targets`] and
//! [`Hooks::pull_source`]; [`StaticRelay`] is a ready-made answer.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::hooks::Hooks;
use crate::rtmp_client::{ClientConfig, ClientError, Connection, PlayEvent, RtmpUrl, UrlError};
use crate::sync::lock;
use rtmp_chunk::MemoryBudget;
use rtmp_router::{Feed, Notice, PlayerHandle, Router};
use rtmp_session::StreamKey;

/// Waits between reconnection attempts: `initial`, doubling up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first wait (default 500 ms).
    pub initial: Duration,
    /// The longest wait (default 10 s).
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    /// The wait before attempt `attempt` (0 for the first retry).
    pub fn delay(&self, attempt: u32) -> Duration {
        self.initial
            .saturating_mul(1 << attempt.min(16))
            .min(self.max)
    }
}

/// Settings of the relays a server runs.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RelayConfig {
    /// How relays connect (timeouts, handshake, TLS for rtmps:// targets).
    pub client: ClientConfig,
    /// Waits between reconnections.
    pub backoff: Backoff,
}

/// Hooks that push every published stream to fixed servers and pull unknown streams from one
/// origin. Base URLs name a server (`rtmp://host[:port]`); the stream's `app/name` is added.
///
/// ```
/// use rtmp_server::{Server, ServerConfig, StaticRelay};
///
/// let relay = StaticRelay {
///     push: vec!["rtmp://cdn.example:1935".into()],
///     pull: Some("rtmp://origin.example".into()),
/// };
/// let server = Server::with_hooks(ServerConfig::default(), relay);
/// ```
#[derive(Debug, Clone, Default)]
pub struct StaticRelay {
    /// Servers every published stream is pushed to.
    pub push: Vec<String>,
    /// The origin that streams nobody publishes here are pulled from.
    pub pull: Option<String>,
}

impl StaticRelay {
    /// `base/app/name`, split at the key's app whatever it holds.
    pub fn url(base: &str, key: &StreamKey) -> Result<RtmpUrl, UrlError> {
        let base = base.trim_end_matches('/');
        Ok(RtmpUrl::parse(&format!("{base}/{}/{}", key.app, key.name))?.with_app(&key.app))
    }
}

impl Hooks for StaticRelay {
    fn push_targets(&self, key: &StreamKey) -> impl Future<Output = Vec<RtmpUrl>> + Send {
        let urls = self
            .push
            .iter()
            .filter_map(|base| Self::url(base, key).ok())
            .collect();
        async move { urls }
    }

    fn pull_source(&self, key: &StreamKey) -> impl Future<Output = Option<RtmpUrl>> + Send {
        let url = self
            .pull
            .as_deref()
            .and_then(|base| Self::url(base, key).ok());
        async move { url }
    }
}

/// Pushes `key` to `url` while it is published here, reconnecting with backoff. Each
/// (re)connection subscribes anew, so the remote starts with metadata, sequence headers and
/// the cached GOP.
async fn push(
    router: Arc<dyn Router>,
    key: StreamKey,
    url: RtmpUrl,
    config: RelayConfig,
    (queue, budget): (usize, MemoryBudget),
) {
    let mut attempt = 0;
    loop {
        let (player, mut feed) = PlayerHandle::pair(queue, budget.clone(), true);
        let Ok(subscription) = router.play(&key, player) else {
            return;
        };
        if !router.is_published(&key) {
            return;
        }
        // Media waits in the player's queue meanwhile (within its budget), and an end of the
        // stream comes after it: a push whose stream ended while it connected ends at once.
        let connected = async {
            Connection::connect(&url, config.client.clone())
                .await?
                .publish(&url.stream)
                .await
        };
        let mut publisher = match connected.await {
            Ok(publisher) => {
                tracing::info!(%key, %url, "push started");
                attempt = 0;
                publisher
            }
            Err(error) => {
                tracing::warn!(%key, %url, %error, "push failed");
                drop(subscription);
                tokio::time::sleep(config.backoff.delay(attempt)).await;
                attempt = attempt.saturating_add(1);
                continue;
            }
        };
        let ended = loop {
            match feed.recv().await {
                Some(Feed::Media(media)) => {
                    let message = media.message();
                    let sent =
                        publisher.send_message(message.type_id, message.timestamp, message.payload);
                    if let Err(error) = sent.await {
                        break Err(error);
                    }
                }
                Some(Feed::Notice(Notice::Unpublished(_))) | None => break Ok(()),
                Some(_) => {}
            }
        };
        drop(subscription);
        match ended {
            Ok(()) => {
                tracing::info!(%key, %url, "push ended");
                let _ = publisher.finish().await;
                return;
            }
            Err(error) => {
                tracing::warn!(%key, %url, %error, "push lost; reconnecting");
                tokio::time::sleep(config.backoff.delay(attempt)).await;
                attempt = attempt.saturating_add(1);
            }
        }
    }
}

/// Where a pull finds its key now (the hooks' [`pull_source`](crate::Hooks::pull_source)).
pub(crate) type Resolve =
    Arc<dyn Fn(StreamKey) -> futures::future::BoxFuture<'static, Option<RtmpUrl>> + Send + Sync>;

/// Asks `hooks` where a key is now.
pub(crate) fn resolver<H: Hooks>(hooks: Arc<H>) -> Resolve {
    Arc::new(move |key: StreamKey| {
        let hooks = hooks.clone();
        Box::pin(async move { hooks.pull_source(&key).await })
    })
}

/// A server's push and pull tasks: at most one pull per key, and a count of those running.
pub(crate) struct Relays {
    router: Arc<dyn Router>,
    config: RelayConfig,
    /// Each push's player queue: its bytes, and the server's budget it counts in.
    queue: (usize, MemoryBudget),
    /// Keys being pulled.
    pulls: Arc<Mutex<HashSet<StreamKey>>>,
    running: Arc<AtomicUsize>,
}

impl Relays {
    /// The relays of a server routing through `router`, connecting as `config` says; each
    /// pull's players have queues of `queue_bytes`, counted in `budget`.
    pub(crate) fn new(
        router: Arc<dyn Router>,
        config: RelayConfig,
        queue_bytes: usize,
        budget: MemoryBudget,
    ) -> Self {
        Self {
            router,
            config,
            queue: (queue_bytes, budget),
            pulls: Arc::default(),
            running: Arc::default(),
        }
    }

    /// Push and pull tasks running now.
    pub(crate) fn running(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }

    /// Starts pushing `key` to `url` (see [`push`]).
    pub(crate) fn push(&self, key: StreamKey, url: RtmpUrl) {
        tracing::info!(%key, %url, "push");
        let (router, config, queue) =
            (self.router.clone(), self.config.clone(), self.queue.clone());
        let guard = Running::new(&self.running);
        tokio::spawn(async move {
            push(router, key, url, config, queue).await;
            drop(guard);
        });
    }

    /// Whether `key` is being pulled.
    pub(crate) fn is_pulling(&self, key: &StreamKey) -> bool {
        lock(&self.pulls).contains(key)
    }

    /// Starts pulling `key` from `url` unless a pull of it runs already; false if one does.
    /// When the source fails, each retry asks `resolve` where the key is, so that a pull
    /// follows a stream that moved.
    pub(crate) fn pull(&self, key: StreamKey, url: RtmpUrl, resolve: Resolve) -> bool {
        let pulls = self.pulls.clone();
        if !lock(&pulls).insert(key.clone()) {
            return false;
        }
        tracing::info!(%key, %url, "pull");
        let (router, config) = (self.router.clone(), self.config.clone());
        let guard = Running::new(&self.running);
        tokio::spawn(async move {
            pull(router, key.clone(), url, config, resolve).await;
            lock(&pulls).remove(&key);
            drop(guard);
        });
        true
    }
}

/// Counts a relay task while it lives.
struct Running(Arc<AtomicUsize>);

impl Running {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Pulls `key` from `url` and publishes it here while anyone plays it, reconnecting with
/// backoff and asking `resolve` where the key is before each retry (it may have moved).
/// Ends when no player is left (checked every `check` interval) or someone else publishes the
/// key here.
async fn pull(
    router: Arc<dyn Router>,
    key: StreamKey,
    mut url: RtmpUrl,
    config: RelayConfig,
    resolve: Resolve,
) {
    let check = Duration::from_millis(500);
    let mut attempt = 0;
    while router.is_played(&key) {
        if attempt > 0 {
            match resolve(key.clone()).await {
                // Somewhere else now: go there at once.
                Some(now) if now != url => {
                    url = now;
                    attempt = 0;
                }
                Some(_) => {}
                // Nowhere for now: look again soon, while players wait.
                None => {
                    tokio::time::sleep(config.backoff.initial).await;
                    continue;
                }
            }
        }
        let connected = async {
            Connection::connect(&url, config.client.clone())
                .await?
                .play(&url.stream)
                .await
        };
        let mut player = match connected.await {
            Ok(player) => player,
            Err(error) => {
                tracing::warn!(%key, %url, %error, "pull failed");
                tokio::time::sleep(config.backoff.delay(attempt)).await;
                attempt = attempt.saturating_add(1);
                continue;
            }
        };
        let Ok(mut publisher) = router.publish(&key) else {
            // Someone publishes it here now.
            return;
        };
        tracing::info!(%key, %url, "pull started");
        attempt = 0;
        let mut tick = tokio::time::interval(check);
        let ended: Result<(), ClientError> = loop {
            tokio::select! {
                event = player.next_event() => match event {
                    Ok(Some(PlayEvent::Media(message))) => {
                        if let Err(error) = publisher.send(&message) {
                            tracing::warn!(%key, %url, %error, "pull refused");
                            break Ok(());
                        }
                    }
                    Ok(Some(PlayEvent::Status(_))) => {}
                    Ok(None) => break Ok(()),
                    Err(error) => break Err(error),
                },
                _ = tick.tick() => if !router.is_played(&key) { break Ok(()) },
            }
        };
        drop(publisher);
        match ended {
            Ok(()) => tracing::info!(%key, %url, "pull ended"),
            Err(error) => tracing::warn!(%key, %url, %error, "pull lost"),
        }
        tokio::time::sleep(config.backoff.delay(attempt)).await;
        attempt = attempt.saturating_add(1);
    }
}
