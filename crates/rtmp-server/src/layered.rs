//! [`Layered`]: two [`Hooks`] consulted one after the other, so that a layer (a cluster's
//! decisions, an authentication service) adds to an application's hooks without forwarding
//! each method by hand.

use rtmp_amf0::Value;
use rtmp_router::Refusal;
use rtmp_session::{ConnectRequest, RtmpUrl, StreamKey, StreamRequest};

use crate::error::ConnectionError;
use crate::hooks::{Client, Hooks, StreamEvent};

/// The hooks `A`, then `B`: a request is accepted when both accept it (asked in that order;
/// the first refusal is the client's), push targets are both lists, a pull source is `A`'s
/// or else `B`'s, and both are told every event, `A` first.
///
/// Every method of [`Hooks`] is written out here (the crate's lints refuse an impl that
/// leaves one to its default), so a method added to the trait later reaches both layers.
///
/// ```
/// use rtmp_server::{Client, Hooks, Layered, Refusal, Server, StreamRequest};
///
/// /// The application's: only the `live` app.
/// struct LiveOnly;
///
/// impl Hooks for LiveOnly {
///     async fn on_publish(&self, _: &Client, request: &StreamRequest) -> Result<(), Refusal> {
///         if request.key.app == "live" { Ok(()) } else { Err("live/ only".into()) }
///     }
/// }
///
/// /// A layer: no name longer than 64 bytes.
/// struct ShortNames;
///
/// impl Hooks for ShortNames {
///     async fn on_publish(&self, _: &Client, request: &StreamRequest) -> Result<(), Refusal> {
///         if request.key.name.len() <= 64 { Ok(()) } else { Err("name too long".into()) }
///     }
/// }
///
/// let server = Server::builder().hooks(Layered::new(LiveOnly, ShortNames)).build();
/// ```
#[derive(Debug, Clone, Default)]
pub struct Layered<A, B> {
    first: A,
    second: B,
}

impl<A, B> Layered<A, B> {
    /// `first`, then `second`.
    pub fn new(first: A, second: B) -> Self {
        Self { first, second }
    }

    /// The hooks consulted first.
    pub fn first(&self) -> &A {
        &self.first
    }

    /// The hooks consulted second.
    pub fn second(&self) -> &B {
        &self.second
    }
}

#[deny(clippy::missing_trait_methods)]
impl<A: Hooks, B: Hooks> Hooks for Layered<A, B> {
    async fn on_connection(&self, client: &Client) -> bool {
        self.first.on_connection(client).await && self.second.on_connection(client).await
    }

    async fn on_connect(&self, client: &Client, request: &ConnectRequest) -> Result<(), Refusal> {
        self.first.on_connect(client, request).await?;
        self.second.on_connect(client, request).await
    }

    async fn on_publish(&self, client: &Client, request: &StreamRequest) -> Result<(), Refusal> {
        self.first.on_publish(client, request).await?;
        self.second.on_publish(client, request).await
    }

    async fn on_play(&self, client: &Client, request: &StreamRequest) -> Result<(), Refusal> {
        self.first.on_play(client, request).await?;
        self.second.on_play(client, request).await
    }

    fn authenticates_publish(&self, client: &Client, request: &StreamRequest) -> bool {
        // Both layers accepted the publish: either one's authentication holds.
        self.first.authenticates_publish(client, request)
            || self.second.authenticates_publish(client, request)
    }

    async fn push_targets(&self, key: &StreamKey) -> Vec<RtmpUrl> {
        let mut targets = self.first.push_targets(key).await;
        targets.extend(self.second.push_targets(key).await);
        targets
    }

    async fn pull_source(&self, key: &StreamKey) -> Option<RtmpUrl> {
        match self.first.pull_source(key).await {
            Some(url) => Some(url),
            None => self.second.pull_source(key).await,
        }
    }

    fn on_publish_started(&self, event: &StreamEvent) {
        self.first.on_publish_started(event);
        self.second.on_publish_started(event);
    }

    fn on_metadata(&self, key: &StreamKey, metadata: &Value) {
        self.first.on_metadata(key, metadata);
        self.second.on_metadata(key, metadata);
    }

    fn on_media(&self, key: &StreamKey, message: &rtmp_chunk::RawMessage) {
        self.first.on_media(key, message);
        self.second.on_media(key, message);
    }

    fn on_publish_stopped(&self, event: &StreamEvent) {
        self.first.on_publish_stopped(event);
        self.second.on_publish_stopped(event);
    }

    fn on_publish_taken_over(&self, replaced: u64, event: &StreamEvent) {
        self.first.on_publish_taken_over(replaced, event);
        self.second.on_publish_taken_over(replaced, event);
    }

    fn on_play_started(&self, event: &StreamEvent) {
        self.first.on_play_started(event);
        self.second.on_play_started(event);
    }

    fn on_play_stopped(&self, event: &StreamEvent) {
        self.first.on_play_stopped(event);
        self.second.on_play_stopped(event);
    }

    fn on_disconnect(&self, client: &Client, error: Option<&ConnectionError>) {
        self.first.on_disconnect(client, error);
        self.second.on_disconnect(client, error);
    }
}
