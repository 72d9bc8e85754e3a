//! The cluster's decisions, added to an application's hooks.

use std::net::SocketAddr;

use rtmp_server::amf0::Value;
use rtmp_server::{
    Client, ConnectRequest, ConnectionError, Hooks, Refusal, RtmpUrl, StaticRelay, StreamEvent,
    StreamKey, StreamRequest,
};

use crate::Cluster;

/// Hooks `H` with the cluster's decisions added: a publish must also win its key's lease
/// (else NetStream.Publish.BadName, naming the node that holds it), the lease is kept while
/// the publisher lives and released when it stops, and a key nobody publishes here is pulled
/// from the node that does (when `H` names no source itself). Everything else is `H`'s.
/// Without a cluster (see [`ClusterHooks::new`]) they are `H`'s alone.
#[derive(Debug)]
pub struct ClusterHooks<H> {
    inner: H,
    cluster: Option<Cluster>,
}

impl<H: Hooks> ClusterHooks<H> {
    /// `inner`, with the decisions of `cluster` when there is one.
    pub fn new(inner: H, cluster: Option<Cluster>) -> Self {
        Self { inner, cluster }
    }

    /// The application's own hooks.
    pub fn inner(&self) -> &H {
        &self.inner
    }
}

impl<H: Hooks> Hooks for ClusterHooks<H> {
    async fn on_connection(&self, peer: SocketAddr) -> bool {
        self.inner.on_connection(peer).await
    }

    async fn on_connect(&self, client: &Client, request: &ConnectRequest) -> Result<(), Refusal> {
        self.inner.on_connect(client, request).await
    }

    async fn on_publish(&self, client: &Client, request: &StreamRequest) -> Result<(), Refusal> {
        self.inner.on_publish(client, request).await?;
        let Some(cluster) = &self.cluster else {
            return Ok(());
        };
        match cluster.claim(&request.key).await {
            Ok(()) => Ok(()),
            Err(Some(owner)) => Err(format!("{} is published on {owner}", request.key).into()),
            Err(None) => Err("the cluster cannot be reached: publish later".into()),
        }
    }

    async fn on_play(&self, client: &Client, request: &StreamRequest) -> Result<(), Refusal> {
        self.inner.on_play(client, request).await
    }

    async fn push_targets(&self, key: &StreamKey) -> Vec<RtmpUrl> {
        self.inner.push_targets(key).await
    }

    async fn pull_source(&self, key: &StreamKey) -> Option<RtmpUrl> {
        if let Some(url) = self.inner.pull_source(key).await {
            return Some(url);
        }
        let cluster = self.cluster.as_ref()?;
        let owner = cluster.owner(key).await?;
        if owner == cluster.node_url() {
            return None;
        }
        StaticRelay::url(&owner, key).ok()
    }

    fn on_publish_started(&self, event: &StreamEvent) {
        if let Some(cluster) = &self.cluster {
            cluster.keep(&event.key, event.connection);
        }
        self.inner.on_publish_started(event);
    }

    fn on_metadata(&self, key: &StreamKey, metadata: &Value) {
        self.inner.on_metadata(key, metadata);
    }

    fn on_media(&self, key: &StreamKey, message: &rtmp_server::RawMessage) {
        self.inner.on_media(key, message);
    }

    fn on_publish_stopped(&self, event: &StreamEvent) {
        if let Some(cluster) = &self.cluster {
            cluster.release(&event.key, event.connection);
        }
        self.inner.on_publish_stopped(event);
    }

    fn on_publish_taken_over(&self, replaced: u64, event: &StreamEvent) {
        self.inner.on_publish_taken_over(replaced, event);
    }

    fn on_play_started(&self, event: &StreamEvent) {
        self.inner.on_play_started(event);
    }

    fn on_play_stopped(&self, event: &StreamEvent) {
        self.inner.on_play_stopped(event);
    }

    fn on_disconnect(&self, connection: u64, peer: SocketAddr, error: Option<&ConnectionError>) {
        self.inner.on_disconnect(connection, peer, error);
    }
}
