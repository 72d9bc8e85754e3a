//! Webhooks (feature `webhooks`): an HTTP endpoint of the application decides on each
//! publish and play, and hears when they end.
//!
//! Every call is a POST of a JSON object to one URL, with `action` saying what it is about:
//!
//! | action | when | fields besides `action` | the answer |
//! | --- | --- | --- | --- |
//! | `publish`, `play` | a client asks, after the other hooks agreed | `app`, `name`, `query`, `addr`, `client_id`, `tc_url` | 2xx within the timeout accepts; any other status refuses; no answer (unreachable, timed out) follows [`WebhookConfig::accept_when_unreachable`] |
//! | `publish_done`, `play_done` | the publish or play ended | `app`, `name`, `addr`, `client_id`, `duration_secs`, `bytes` | ignored; tried again with backoff until a 2xx |
//! | `record_done` | a recorded file was finished ([`Webhooks::recorded`]) | `app`, `name`, `path` | the same |
//!
//! A decision's answer body is not read today; it is where a later version may take a redirect
//! target. Notifications wait in a bounded queue sent by a task of their own, so that a slow
//! endpoint never holds up a connection or its media.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rtmp_message::StatusCode;
use rtmp_session::{ConnectRequest, RtmpUrl, StreamKey, StreamRequest};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::error::ConnectionError;
use crate::hooks::{AcceptAll, Client, Hooks, StreamEvent};
use crate::limits::LogLimit;
use rtmp_router::Refusal;

/// Where webhooks go and how they are sent.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WebhookConfig {
    /// The endpoint (`http://` or `https://`) every call is POSTed to.
    pub url: String,
    /// How long a decision waits for its answer (default 3 s).
    pub timeout: Duration,
    /// Whether a publish or play goes ahead when the endpoint gives no answer in time
    /// (default: refused).
    pub accept_when_unreachable: bool,
    /// How many times a notification is sent before it is given up (default 5), waiting 1 s,
    /// then twice as long each time.
    pub notification_tries: u32,
    /// Notifications waiting to be sent, at most (default 1024); past it they are dropped,
    /// with a log line.
    pub max_pending: usize,
}

impl WebhookConfig {
    /// Calls to `url`, with the defaults above.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            timeout: Duration::from_secs(3),
            accept_when_unreachable: false,
            notification_tries: 5,
            max_pending: 1024,
        }
    }
}

/// Why webhooks could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The HTTP client could not be built (its TLS settings).
    #[error("the webhook client: {0}")]
    Client(#[from] reqwest::Error),
}

/// Hooks that ask the webhook endpoint after `H` (the application's own hooks, or
/// [`AcceptAll`]) agreed, and tell it of ends; everything else is `H`'s.
///
/// ```no_run
/// use rtmp_server::{AcceptAll, Server, WebhookConfig, Webhooks};
///
/// # fn run() -> Result<(), rtmp_server::WebhookError> {
/// let hooks = Webhooks::new(WebhookConfig::new("http://127.0.0.1:8000/rtmp"), AcceptAll)?;
/// let server = Server::builder().hooks(hooks).build();
/// # Ok(())
/// # }
/// ```
pub struct Webhooks<H = AcceptAll> {
    inner: H,
    shared: Arc<Shared>,
}

impl<H> std::fmt::Debug for Webhooks<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

struct Shared {
    config: WebhookConfig,
    client: reqwest::Client,
    /// The notification queue, made with its sending task on first use.
    queue: OnceLock<mpsc::Sender<Value>>,
    /// Lines about notifications dropped or given up, limited.
    lines: LogLimit,
}

impl<H: Hooks> Webhooks<H> {
    /// Webhooks to `config.url` around `inner`.
    pub fn new(config: WebhookConfig, inner: H) -> Result<Self, WebhookError> {
        let client = reqwest::Client::builder().timeout(config.timeout).build()?;
        Ok(Self {
            inner,
            shared: Arc::new(Shared {
                config,
                client,
                queue: OnceLock::new(),
                lines: LogLimit::new(Duration::from_secs(10)),
            }),
        })
    }

    /// The hooks inside.
    pub fn inner(&self) -> &H {
        &self.inner
    }

    /// Tells the endpoint that a recorded file of `key` was finished at `path` (`record_done`).
    pub fn recorded(&self, key: &StreamKey, path: &std::path::Path) {
        self.shared.notify(json!({
            "action": "record_done",
            "app": key.app,
            "name": key.name,
            "path": path.display().to_string(),
        }));
    }

    /// Asks the endpoint about a publish or play.
    async fn decide(
        &self,
        action: &str,
        client: &Client,
        request: &StreamRequest,
        code: StatusCode,
    ) -> Result<(), Refusal> {
        let connect = client.connect.as_deref();
        let body = json!({
            "action": action,
            "app": request.key.app,
            "name": request.key.name,
            "query": request.query,
            "addr": client.peer.to_string(),
            "client_id": client.connection,
            "tc_url": connect.and_then(|connect| connect.tc_url.clone()),
        });
        let shared = &self.shared;
        match shared
            .client
            .post(&shared.config.url)
            .json(&body)
            .send()
            .await
        {
            Ok(answer) if answer.status().is_success() => Ok(()),
            Ok(answer) => Err(Refusal::with_code(
                code,
                format!("refused by the webhook (HTTP {})", answer.status().as_u16()),
            )),
            Err(error) => {
                if let Some(held) = shared.lines.allow(client.peer.ip(), Instant::now()) {
                    tracing::warn!(%error, held_back = held, "the webhook gave no answer");
                }
                if shared.config.accept_when_unreachable {
                    Ok(())
                } else {
                    Err(Refusal::with_code(code, "the webhook gave no answer"))
                }
            }
        }
    }
}

impl Shared {
    /// Queues `body` for the sending task (started on first use), dropping it if the queue is
    /// full.
    fn notify(self: &Arc<Self>, body: Value) {
        let queue = self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(self.config.max_pending.max(1));
            tokio::spawn(send_notifications(self.clone(), receiver));
            sender
        });
        if queue.try_send(body).is_err() {
            if let Some(held) = self.lines.allow([0, 0, 0, 0].into(), Instant::now()) {
                tracing::warn!(
                    held_back = held,
                    "webhook notifications dropped: too many waiting"
                );
            }
        }
    }
}

/// Sends queued notifications in order, each tried until it gets a 2xx or runs out of tries.
async fn send_notifications(shared: Arc<Shared>, mut queue: mpsc::Receiver<Value>) {
    while let Some(body) = queue.recv().await {
        let mut wait = Duration::from_secs(1);
        for attempt in 1..=shared.config.notification_tries.max(1) {
            let sent = shared
                .client
                .post(&shared.config.url)
                .json(&body)
                .send()
                .await;
            match sent {
                Ok(answer) if answer.status().is_success() => break,
                outcome if attempt == shared.config.notification_tries.max(1) => {
                    let why = match outcome {
                        Ok(answer) => format!("HTTP {}", answer.status().as_u16()),
                        Err(error) => error.to_string(),
                    };
                    if let Some(held) = shared.lines.allow([0, 0, 0, 0].into(), Instant::now()) {
                        tracing::warn!(
                            why,
                            held_back = held,
                            "a webhook notification was given up"
                        );
                    }
                }
                _ => {
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
            }
        }
    }
}

/// The JSON of a publish or play that ended.
fn ended(action: &str, event: &StreamEvent) -> Value {
    json!({
        "action": action,
        "app": event.key.app,
        "name": event.key.name,
        "addr": event.peer.to_string(),
        "client_id": event.connection,
        "duration_secs": event.duration.as_secs_f64(),
        "bytes": event.bytes,
    })
}

impl<H: Hooks> Hooks for Webhooks<H> {
    async fn on_connection(&self, peer: std::net::SocketAddr) -> bool {
        self.inner.on_connection(peer).await
    }

    async fn on_connect(&self, client: &Client, request: &ConnectRequest) -> Result<(), Refusal> {
        self.inner.on_connect(client, request).await
    }

    async fn on_publish(&self, client: &Client, request: &StreamRequest) -> Result<(), Refusal> {
        self.inner.on_publish(client, request).await?;
        self.decide("publish", client, request, StatusCode::PublishBadName)
            .await
    }

    async fn on_play(&self, client: &Client, request: &StreamRequest) -> Result<(), Refusal> {
        self.inner.on_play(client, request).await?;
        self.decide("play", client, request, StatusCode::PlayFailed)
            .await
    }

    async fn push_targets(&self, key: &StreamKey) -> Vec<RtmpUrl> {
        self.inner.push_targets(key).await
    }

    async fn pull_source(&self, key: &StreamKey) -> Option<RtmpUrl> {
        self.inner.pull_source(key).await
    }

    fn on_publish_started(&self, event: &StreamEvent) {
        self.inner.on_publish_started(event);
    }

    fn on_metadata(&self, key: &StreamKey, metadata: &rtmp_amf0::Value) {
        self.inner.on_metadata(key, metadata);
    }

    fn on_media(&self, key: &StreamKey, message: &rtmp_chunk::RawMessage) {
        self.inner.on_media(key, message);
    }

    fn on_publish_stopped(&self, event: &StreamEvent) {
        self.inner.on_publish_stopped(event);
        self.shared.notify(ended("publish_done", event));
    }

    fn on_publish_taken_over(&self, replaced: u64, event: &StreamEvent) {
        self.inner.on_publish_taken_over(replaced, event);
    }

    fn on_play_started(&self, event: &StreamEvent) {
        self.inner.on_play_started(event);
    }

    fn on_play_stopped(&self, event: &StreamEvent) {
        self.inner.on_play_stopped(event);
        self.shared.notify(ended("play_done", event));
    }

    fn on_disconnect(
        &self,
        connection: u64,
        peer: std::net::SocketAddr,
        error: Option<&ConnectionError>,
    ) {
        self.inner.on_disconnect(connection, peer, error);
    }
}
