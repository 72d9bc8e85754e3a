//! The cluster's decisions, as a layer over an application's hooks.

use rtmp_server::{
    Client, Hooks, Layered, Refusal, RtmpUrl, StaticRelay, StreamEvent, StreamKey, StreamRequest,
};

use crate::Cluster;

/// The cluster's decisions: a publish must win its key's lease (else
/// NetStream.Publish.BadName, naming the node that holds it), the lease is kept while the
/// publisher lives and released when it stops, and a key nobody publishes here is pulled from
/// the node that does. Without a cluster (`None`) it decides nothing.
#[derive(Debug, Clone)]
pub struct ClusterDecisions {
    cluster: Option<Cluster>,
}

impl ClusterDecisions {
    /// The decisions of `cluster`, if there is one.
    pub fn new(cluster: Option<Cluster>) -> Self {
        Self { cluster }
    }
}

/// Hooks `H` with the cluster's decisions after them (see [`Layered`]): a publish `H` accepts
/// must also win its lease, and a key `H` names no source for is pulled from its owner.
pub type ClusterHooks<H> = Layered<H, ClusterDecisions>;

impl Hooks for ClusterDecisions {
    async fn on_publish(&self, _: &Client, request: &StreamRequest) -> Result<(), Refusal> {
        let Some(cluster) = &self.cluster else {
            return Ok(());
        };
        match cluster.claim(&request.key).await {
            Ok(()) => Ok(()),
            Err(Some(owner)) => Err(format!("{} is published on {owner}", request.key).into()),
            Err(None) => Err("the cluster cannot be reached: publish later".into()),
        }
    }

    async fn pull_source(&self, key: &StreamKey) -> Option<RtmpUrl> {
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
    }

    fn on_publish_stopped(&self, event: &StreamEvent) {
        if let Some(cluster) = &self.cluster {
            cluster.release(&event.key, event.connection);
        }
    }
}
