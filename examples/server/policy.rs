//! The example server's hooks: per-application address lists, signed stream names, a
//! webhook, push and pull targets, and recording when a publish starts.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use rtmp_hooks::{SignedUrls, Webhooks};
use rtmp_server::message::StatusCode;
use rtmp_server::{
    Client, Hooks, Recorder, Refusal, RtmpUrl, StaticRelay, StreamEvent, StreamKey, StreamRequest,
};

use rtmp_server::system::LogLimit;

use crate::config::AppSection;

/// What the server decides per application.
#[derive(Debug)]
pub struct Policy {
    /// Relays for every application.
    pub relay: StaticRelay,
    /// Settings per application (none: everything allowed, the global relays).
    pub apps: BTreeMap<String, AppSection>,
    /// The recorder, once the server exists (recording is on when it is set).
    pub recorder: Arc<OnceLock<Recorder>>,
    /// Signed stream names, for publishing and (with a play secret) playing.
    pub signed: SignedUrls,
    /// The webhook, asked after the checks above and told of ends.
    pub webhooks: Option<Arc<Webhooks>>,
    /// Publish and unpublish lines, limited per address: a client publishing in a loop writes
    /// a few lines, then one per 10 s.
    started_lines: LogLimit,
    stopped_lines: LogLimit,
}

/// Lines about publishing an address writes at once before the limit applies.
const PUBLISH_LINES: u32 = 8;

impl Policy {
    /// The policy for `apps`, with `relay` for every application and `signed` names.
    pub fn new(
        relay: StaticRelay,
        apps: BTreeMap<String, AppSection>,
        recorder: Arc<OnceLock<Recorder>>,
        signed: SignedUrls,
        webhooks: Option<Arc<Webhooks>>,
    ) -> Self {
        let lines = || LogLimit::new(Duration::from_secs(10)).with_burst(PUBLISH_LINES);
        Self {
            relay,
            apps,
            recorder,
            signed,
            webhooks,
            started_lines: lines(),
            stopped_lines: lines(),
        }
    }

    fn app(&self, app: &str) -> Option<&AppSection> {
        self.apps.get(app)
    }
}

impl Hooks for Policy {
    async fn on_publish(&self, client: &Client, request: &StreamRequest) -> Result<(), Refusal> {
        let peer = client.peer;
        match self.app(&request.key.app) {
            Some(app) if !app.may_publish(peer.ip()) => {
                Err(format!("{} may not publish to {}", peer.ip(), request.key.app).into())
            }
            _ => {
                self.signed
                    .check_publish(&request.key, request.query.as_deref(), SystemTime::now())
                    .map_err(|error| {
                        Refusal::with_code(StatusCode::PublishBadName, error.to_string())
                    })?;
                match &self.webhooks {
                    Some(webhooks) => webhooks.on_publish(client, request).await,
                    None => Ok(()),
                }
            }
        }
    }

    async fn on_play(&self, client: &Client, request: &StreamRequest) -> Result<(), Refusal> {
        let peer = client.peer;
        match self.app(&request.key.app) {
            Some(app) if !app.may_play(peer.ip()) => {
                Err(format!("{} may not play from {}", peer.ip(), request.key.app).into())
            }
            _ => {
                self.signed
                    .check_play(&request.key, request.query.as_deref(), SystemTime::now())
                    .map_err(|error| {
                        Refusal::with_code(StatusCode::PlayFailed, error.to_string())
                    })?;
                match &self.webhooks {
                    Some(webhooks) => webhooks.on_play(client, request).await,
                    None => Ok(()),
                }
            }
        }
    }

    fn authenticates_publish(&self, client: &Client, request: &StreamRequest) -> bool {
        self.signed.authenticates_publish(client, request)
            || self
                .webhooks
                .as_ref()
                .is_some_and(|webhooks| webhooks.authenticates_publish(client, request))
    }

    async fn push_targets(&self, key: &StreamKey) -> Vec<RtmpUrl> {
        let own = self
            .app(&key.app)
            .map(|app| &app.push[..])
            .unwrap_or_default();
        self.relay
            .push
            .iter()
            .chain(own)
            .filter_map(|base| StaticRelay::url(base, key).ok())
            .collect()
    }

    async fn pull_source(&self, key: &StreamKey) -> Option<RtmpUrl> {
        let own = self.app(&key.app).and_then(|app| app.pull.as_deref());
        own.or(self.relay.pull.as_deref())
            .and_then(|base| StaticRelay::url(base, key).ok())
    }

    fn on_publish_started(&self, event: &StreamEvent) {
        if let Some(held) = self.started_lines.allow(event.peer.ip(), Instant::now()) {
            tracing::info!(key = %event.key, peer = %event.peer, held_back = held, "publishing");
        }
        let wanted = self
            .app(&event.key.app)
            .and_then(|app| app.record)
            .unwrap_or(true);
        if let (Some(recorder), true) = (self.recorder.get(), wanted)
            && let Err(error) = recorder.start(&event.key)
        {
            tracing::warn!(key = %event.key, %error, "not recorded");
        }
    }

    fn on_publish_stopped(&self, event: &StreamEvent) {
        if let Some(held) = self.stopped_lines.allow(event.peer.ip(), Instant::now()) {
            tracing::info!(key = %event.key, peer = %event.peer, held_back = held, "publishing stopped");
        }
        if let Some(webhooks) = &self.webhooks {
            webhooks.on_publish_stopped(event);
        }
    }

    fn on_play_stopped(&self, event: &StreamEvent) {
        if let Some(webhooks) = &self.webhooks {
            webhooks.on_play_stopped(event);
        }
    }
}
