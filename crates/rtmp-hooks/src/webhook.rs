//! Webhooks (feature `webhooks`, on by default): an HTTP endpoint of the application decides on each
//! publish and play, and hears when they end.
//!
//! Every call is a POST of a JSON object to one URL, with `action` saying what it is about:
//!
//! | action | when | fields besides `action` | the answer |
//! | --- | --- | --- | --- |
//! | `publish`, `play` | a client asks, after the other hooks agreed | `app`, `name`, `query`, `addr`, `client_id`, `tc_url` | 2xx within the timeout accepts; any other status refuses, a redirect (3xx) too; no answer (unreachable, timed out, no free slot in time) follows [`WebhookConfig::accept_when_unreachable`] |
//! | `publish_done`, `play_done` | the publish or play ended | `app`, `name`, `addr`, `client_id`, `duration_secs`, `bytes` | ignored; tried again with backoff until a 2xx; a redirect (3xx) fails it at once |
//! | `record_done` | a recorded file was finished ([`Webhooks::recorded`]) | `app`, `name`, `path` | the same |
//!
//! Redirects are never followed: the endpoint is the one URL configured, and a call never goes
//! anywhere else. A decision's answer body is not read today; it is where a later version may
//! take a redirect target.
//!
//! [`Webhooks`] says how many calls go at once, and how many connections they hold.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rtmp_message::StatusCode;
use rtmp_session::{StreamKey, StreamRequest};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use rtmp_server::system::LogLimit;
use rtmp_server::{Client, Hooks, Refusal, StreamEvent};

/// The counter of notifications the endpoint accepted.
const DELIVERED: &str = "rtmp_webhook_notifications_delivered_total";
/// The counter of notifications given up.
const FAILED: &str = "rtmp_webhook_notifications_failed_total";
/// The counter of notifications dropped unsent.
const DROPPED: &str = "rtmp_webhook_notifications_dropped_total";
/// The counter of decisions with no answer.
const UNANSWERED: &str = "rtmp_webhook_decisions_unanswered_total";

/// Where webhooks go and how they are sent.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WebhookConfig {
    /// The endpoint (`http://` or `https://`) every call is POSTed to.
    pub url: String,
    /// How long a decision waits for its answer, its wait for a slot included, and how long
    /// each try of a notification may take (default 3 s).
    pub timeout: Duration,
    /// Whether a publish or play goes ahead when the endpoint gives no answer in time
    /// (default: refused).
    pub accept_when_unreachable: bool,
    /// How many times a notification is sent before it is given up (default 5), waiting 1 s,
    /// then twice as long each time.
    pub notification_tries: u32,
    /// Notifications waiting to be sent, being sent or waiting to be sent again, at most
    /// (default 1024); past it they are dropped, counted, with a log line.
    pub max_pending: usize,
    /// Notifications being sent at once, at most (default 32; at least 1).
    pub max_concurrent: usize,
    /// Decisions being asked at once, at most (default 64; at least 1). A decision that gets
    /// no slot within [`timeout`](Self::timeout) counts as no answer.
    pub max_concurrent_decisions: usize,
    /// Idle connections kept open to the endpoint for the next calls, at most (default 16;
    /// 0: a connection per call).
    pub max_idle_connections: usize,
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
            max_concurrent: 32,
            max_concurrent_decisions: 64,
            max_idle_connections: 16,
        }
    }

    /// The most connections (file descriptors) the webhooks hold at once:
    /// `max_concurrent_decisions + max_concurrent + max_idle_connections` (112 with the
    /// defaults), for a server to keep out of its connection budget. [`Webhooks`] says what
    /// may briefly come on top while connections are made.
    pub fn max_sockets(&self) -> usize {
        self.decision_slots()
            .saturating_add(self.notification_slots())
            .saturating_add(self.max_idle_connections)
    }

    fn decision_slots(&self) -> usize {
        self.max_concurrent_decisions
            .clamp(1, Semaphore::MAX_PERMITS)
    }

    fn notification_slots(&self) -> usize {
        self.max_concurrent.clamp(1, Semaphore::MAX_PERMITS)
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

/// What became of the webhooks' calls so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookStats {
    /// Notifications the endpoint accepted (2xx).
    pub delivered: u64,
    /// Notifications given up: every try failed, or the endpoint answered a redirect.
    pub failed: u64,
    /// Notifications dropped unsent, [`WebhookConfig::max_pending`] being reached (or no
    /// tokio runtime to send them on).
    pub dropped: u64,
    /// Notifications waiting to be sent, being sent, or waiting to be sent again, now.
    pub pending: usize,
    /// Decisions that got no answer: the endpoint unreachable or too slow, or no free slot in
    /// time.
    pub unanswered: u64,
}

/// Describes the webhooks' metrics to the `metrics` recorder installed (call it once, after
/// installing one). The counters are emitted whether described or not:
///
/// - `rtmp_webhook_notifications_delivered_total`: notifications the endpoint accepted;
/// - `rtmp_webhook_notifications_failed_total`: notifications given up;
/// - `rtmp_webhook_notifications_dropped_total`: notifications dropped unsent, too many
///   waiting;
/// - `rtmp_webhook_decisions_unanswered_total`: publishes and plays the endpoint gave no
///   answer about in time.
pub fn describe_metrics() {
    metrics::describe_counter!(DELIVERED, "Webhook notifications the endpoint accepted");
    metrics::describe_counter!(
        FAILED,
        "Webhook notifications given up (every try failed, or a redirect)"
    );
    metrics::describe_counter!(
        DROPPED,
        "Webhook notifications dropped unsent: too many waiting"
    );
    metrics::describe_counter!(
        UNANSWERED,
        "Publishes and plays the webhook gave no answer about in time"
    );
}

/// Hooks that ask the webhook endpoint whether a publish or play goes ahead, and tell it of
/// their ends. Put them after the application's own with [`Layered`](rtmp_server::Layered),
/// so that the endpoint is asked only about what those accepted.
///
/// # Concurrency and descriptors
///
/// Notifications never hold up a connection or its media: each waits its turn among at most
/// [`WebhookConfig::max_pending`], and up to [`WebhookConfig::max_concurrent`] are sent at
/// once, so that an endpoint answering in 100 ms takes 320 a second with the defaults. A
/// notification waiting to be sent again (its backoff) holds no slot. Past `max_pending` a
/// notification is dropped and counted ([`Webhooks::stats`], and the metrics of
/// [`describe_metrics`]).
///
/// Decisions are asked at most [`WebhookConfig::max_concurrent_decisions`] at once; one that
/// gets no slot within its timeout counts as no answer.
///
/// So the webhooks hold at most [`WebhookConfig::max_sockets`] connections to the endpoint:
/// decisions, plus notifications, plus the idle connections kept for reuse
/// ([`WebhookConfig::max_idle_connections`]). While a connection is being made, a host name
/// with both IPv6 and IPv4 addresses may briefly hold a second socket for the other family,
/// and a connection begun when an idle one came free finishes into the idle pool (or is
/// closed if it is full); both last at most the timeout.
///
/// ```no_run
/// use rtmp_hooks::{SignedUrls, WebhookConfig, Webhooks};
/// use rtmp_server::{Layered, Server};
///
/// # fn run() -> Result<(), rtmp_hooks::WebhookError> {
/// let signed = SignedUrls::new().publish_secret("s3cret");
/// let config = WebhookConfig::new("http://127.0.0.1:8000/rtmp");
/// // Descriptors to keep out of the server's connection budget.
/// let sockets = config.max_sockets();
/// let webhooks = Webhooks::new(config)?;
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
    /// Slots of decisions being asked.
    decisions: Semaphore,
    /// Slots of notifications being sent.
    notifications: Semaphore,
    /// Notifications admitted and not yet delivered or given up.
    pending: AtomicUsize,
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    unanswered: AtomicU64,
    /// Lines about notifications dropped or given up, and decisions unanswered, limited.
    lines: LogLimit,
}

/// How one try of a call ended.
enum Answer {
    /// The endpoint answered with this status.
    Status(reqwest::StatusCode),
    /// No answer: why.
    None(String),
}

impl Webhooks {
    /// Webhooks to `config.url`.
    pub fn new(config: WebhookConfig) -> Result<Self, WebhookError> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(config.max_idle_connections)
            .build()?;
        Ok(Self {
            shared: Arc::new(Shared {
                decisions: Semaphore::new(config.decision_slots()),
                notifications: Semaphore::new(config.notification_slots()),
                config,
                client,
                pending: AtomicUsize::new(0),
                delivered: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                unanswered: AtomicU64::new(0),
                lines: LogLimit::new(Duration::from_secs(10)),
            }),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &WebhookConfig {
        &self.shared.config
    }

    /// What became of the calls so far.
    pub fn stats(&self) -> WebhookStats {
        let shared = &self.shared;
        WebhookStats {
            delivered: shared.delivered.load(Ordering::Relaxed),
            failed: shared.failed.load(Ordering::Relaxed),
            dropped: shared.dropped.load(Ordering::Relaxed),
            pending: shared.pending.load(Ordering::Relaxed),
            unanswered: shared.unanswered.load(Ordering::Relaxed),
        }
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
        let deadline = tokio::time::Instant::now() + shared.config.timeout;
        let answer = match tokio::time::timeout_at(deadline, shared.decisions.acquire()).await {
            Ok(Ok(_slot)) => {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                // The answer is dropped before the slot, so that its connection is idle
                // again for the next decision.
                shared.post(&body, Some(left)).await
            }
            Ok(Err(_)) => Answer::None("the decision slots are closed".into()),
            Err(_) => Answer::None("no free slot within the timeout".into()),
        };
        match answer {
            Answer::Status(status) if status.is_success() => Ok(()),
            Answer::Status(status) if status.is_redirection() => Err(Refusal::with_code(
                code,
                format!(
                    "refused by the webhook (HTTP {}, a redirect, which is not followed)",
                    status.as_u16()
                ),
            )),
            Answer::Status(status) => Err(Refusal::with_code(
                code,
                format!("refused by the webhook (HTTP {})", status.as_u16()),
            )),
            Answer::None(error) => {
                shared.unanswered.fetch_add(1, Ordering::Relaxed);
                metrics::counter!(UNANSWERED).increment(1);
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
    /// POSTs `body` once (within `timeout`, else the client's), and the status it got.
    async fn post(&self, body: &Value, timeout: Option<Duration>) -> Answer {
        let mut request = self.client.post(&self.config.url).json(body);
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        match request.send().await {
            Ok(answer) => Answer::Status(answer.status()),
            Err(error) => Answer::None(error.to_string()),
        }
    }

    /// Starts sending `body` (on the current tokio runtime), unless `max_pending`
    /// notifications are pending already: then it is dropped and counted.
    fn notify(self: &Arc<Self>, body: Value) {
        let most = self.config.max_pending.max(1);
        let admitted = self
            .pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |pending| {
                (pending < most).then_some(pending + 1)
            })
            .is_ok();
        if !admitted {
            self.drop_one("too many waiting");
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(deliver(self.clone(), body));
            }
            Err(_) => {
                self.pending.fetch_sub(1, Ordering::AcqRel);
                self.drop_one("no tokio runtime to send it on");
            }
        }
    }

    /// Counts a notification dropped unsent, with a log line (limited).
    fn drop_one(&self, why: &str) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(DROPPED).increment(1);
        if let Some(held) = self.lines.allow([0, 0, 0, 0].into(), Instant::now()) {
            tracing::warn!(why, held_back = held, "a webhook notification was dropped");
        }
    }

    /// Sends `body` until it gets a 2xx or runs out of tries, each try in a notification slot
    /// and the waits between them in none. A redirect fails it at once.
    async fn send_notification(&self, body: &Value) -> Result<(), String> {
        let tries = self.config.notification_tries.max(1);
        let mut wait = Duration::from_secs(1);
        for attempt in 1..=tries {
            let answer = match self.notifications.acquire().await {
                Ok(_slot) => self.post(body, None).await,
                Err(_) => return Err("the notification slots are closed".into()),
            };
            let why = match answer {
                Answer::Status(status) if status.is_success() => return Ok(()),
                Answer::Status(status) if status.is_redirection() => {
                    return Err(format!(
                        "HTTP {}, a redirect, which is not followed",
                        status.as_u16()
                    ));
                }
                Answer::Status(status) => format!("HTTP {}", status.as_u16()),
                Answer::None(error) => error,
            };
            if attempt == tries {
                return Err(why);
            }
            tokio::time::sleep(wait).await;
            wait = wait.saturating_mul(2);
        }
        Err("no try was made".into())
    }
}

/// Sends one notification to its end and counts how it ended.
async fn deliver(shared: Arc<Shared>, body: Value) {
    let outcome = shared.send_notification(&body).await;
    shared.pending.fetch_sub(1, Ordering::AcqRel);
    match outcome {
        Ok(()) => {
            shared.delivered.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(DELIVERED).increment(1);
        }
        Err(why) => {
            shared.failed.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(FAILED).increment(1);
            if let Some(held) = shared.lines.allow([0, 0, 0, 0].into(), Instant::now()) {
                tracing::warn!(why, held_back = held, "a webhook notification was given up");
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
    /// A publish the endpoint accepted was decided by it for this client and key: its
    /// publisher may take the key over from a silent one.
    fn authenticates_publish(&self, _client: &Client, _request: &StreamRequest) -> bool {
        true
    }

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
