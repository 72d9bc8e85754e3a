//! Webhooks (feature `webhooks`, on by default): an HTTP endpoint of the application decides on each
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
use rtmp_session::{StreamKey, StreamRequest};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use rtmp_server::{Client, Hooks, LogLimit, Refusal, StreamEvent};

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

/// Hooks that ask the webhook endpoint whether a publish or play goes ahead, and tell it of
/// their ends. Put them after the application's own with [`Layered`](rtmp_server::Layered),
/// so that the endpoint is asked only about what those accepted.
///
/// ```no_run
/// use rtmp_hooks::{SignedUrls, WebhookConfig, Webhooks};
/// use rtmp_server::{Layered, Server};
///
/// # fn run() -> Result<(), rtmp_hooks::WebhookError> {
/// let signed = SignedUrls::new().publish_secret("s3cret");
/// let webhooks = Webhooks::new(WebhookConfig::new("http://127.0.0.1:8000/rtmp"))?;
/// let server = Server::builder().hooks(Layered::new(signed, webhooks)).build();
/// # Ok(())
/// # }
/// ```
pub struct Webhooks {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Webhooks {
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

impl Webhooks {
    /// Webhooks to `config.url`.
    pub fn new(config: WebhookConfig) -> Result<Self, WebhookError> {
        let client = reqwest::Client::builder().timeout(config.timeout).build()?;
        Ok(Self {
            shared: Arc::new(Shared {
                config,
                client,
                queue: OnceLock::new(),
                lines: LogLimit::new(Duration::from_secs(10)),
            }),
        })
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

impl Hooks for Webhooks {
    async fn on_publish(&self, client: &Client, request: &StreamRequest) -> Result<(), Refusal> {
        self.decide("publish", client, request, StatusCode::PublishBadName)
            .await
    }

    async fn on_play(&self, client: &Client, request: &StreamRequest) -> Result<(), Refusal> {
        self.decide("play", client, request, StatusCode::PlayFailed)
            .await
    }

    fn on_publish_stopped(&self, event: &StreamEvent) {
        self.shared.notify(ended("publish_done", event));
    }

    fn on_play_stopped(&self, event: &StreamEvent) {
        self.shared.notify(ended("play_done", event));
    }
}
