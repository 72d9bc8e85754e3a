//! What the cluster needs of the server it is attached to, whatever the server's hooks.

use rtmp_server::{Hooks, RtmpUrl, Server, StreamKey};

/// The server of this node.
pub(crate) trait Node: Send + Sync + 'static {
    /// Keys that local players wait for and nobody publishes here.
    fn waiting(&self) -> Vec<StreamKey>;
    /// Starts pulling `key` from `url` (once per key).
    fn pull(&self, key: &StreamKey, url: RtmpUrl) -> bool;
    /// Stops the local publisher of `key`.
    fn stop_publisher(&self, key: &StreamKey) -> bool;
    /// Refuses publishes from now on and asks clients to reconnect to `target`.
    fn drain(&self, target: &str) -> usize;
}

impl<H: Hooks> Node for Server<H> {
    fn waiting(&self) -> Vec<StreamKey> {
        self.stats()
            .streams
            .into_iter()
            .filter(|stream| stream.players > 0 && !self.router().is_published(&stream.key))
            .map(|stream| stream.key)
            .collect()
    }

    fn pull(&self, key: &StreamKey, url: RtmpUrl) -> bool {
        Server::pull(self, key, url)
    }

    fn stop_publisher(&self, key: &StreamKey) -> bool {
        Server::stop_publisher(self, key)
    }

    fn drain(&self, target: &str) -> usize {
        // A server URL alone: each client gets its own application appended.
        Server::drain(self, Some(target))
    }
}
