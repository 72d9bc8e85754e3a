//! What an operator sees: the server's connections, streams and totals
//! ([`Server::stats`](crate::Server::stats)), and the two actions on them (closing a
//! connection, stopping a publisher).
//!
//! Each connection has an entry in the server's registry from accept to close. The reader
//! counts bytes in and notes what the connection publishes and plays; the writer counts bytes
//! out. A snapshot reads it all without stopping anyone.

use crate::sync::lock;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rtmp_session::StreamKey;

use rtmp_router::StreamStats;

use crate::viewer::Protocol;

/// What a connection does on one of its message streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Role {
    /// It publishes the stream.
    Publisher,
    /// It plays the stream.
    Player,
}

/// One connection, as [`Server::stats`](crate::Server::stats) shows it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionStats {
    /// The connection's id (as in the log spans and [`StreamEvent`](crate::StreamEvent)).
    pub id: u64,
    /// The client's address.
    pub peer: SocketAddr,
    /// How the client reaches the server (RTMP, RTMPS, or a viewer of another protocol).
    pub protocol: Protocol,
    /// The application the client connected to, once connect was accepted.
    pub app: Option<String>,
    /// How long the connection has been open.
    pub uptime: Duration,
    /// Bytes read from the client.
    pub bytes_in: u64,
    /// Bytes written to the client.
    pub bytes_out: u64,
    /// The streams it publishes and plays.
    pub streams: Vec<(StreamKey, Role)>,
}

/// One stream, as [`Server::stats`](crate::Server::stats) shows it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StreamInfo {
    /// The stream's key.
    pub key: StreamKey,
    /// The publisher's connection and address, if someone publishes it here.
    pub publisher: Option<(u64, SocketAddr)>,
    /// Connections playing it.
    pub players: usize,
    /// When the publisher started (wall clock).
    pub published_at: Option<SystemTime>,
    /// The router's figures (codecs, resolution, bitrates), when it keeps them
    /// ([`Router::stats`](crate::Router::stats); the hub does).
    pub media: Option<StreamStats>,
}

/// Counts since the server started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Totals {
    /// Bytes read from clients, all connections together.
    pub bytes_in: u64,
    /// Bytes written to clients.
    pub bytes_out: u64,
    /// Connections accepted.
    pub connections: u64,
    /// Connections refused: over a connection limit, by `on_connection`, or at connect.
    pub connections_refused: u64,
    /// Publishes refused (by the hooks or the router).
    pub publishes_refused: u64,
    /// Plays refused.
    pub plays_refused: u64,
    /// Media messages dropped for players that did not keep up (the hub's slow-player
    /// policy).
    pub dropped_frames: u64,
    /// Media messages chunked again for a player because the router chunked them at another
    /// size than the session's chunk size (zero with the hub the server builds; see
    /// [`PlayerHandle::chunk_size`](crate::PlayerHandle::chunk_size)).
    pub rechunked_messages: u64,
}

/// A snapshot of the server.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerStats {
    /// Connections open now, by id.
    pub connections: Vec<ConnectionStats>,
    /// Streams published or played now, by key.
    pub streams: Vec<StreamInfo>,
    /// Counts since the server started.
    pub totals: Totals,
}

/// A connection's entry in the registry.
#[derive(Debug)]
pub(crate) struct Entry {
    peer: SocketAddr,
    protocol: Protocol,
    since: Instant,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: Arc<AtomicU64>,
    /// When media last came from the connection's publisher, in milliseconds from `since`.
    last_media: AtomicU64,
    /// The connection's id, under which it is noted in `publishers`.
    id: u64,
    /// The registry's map of keys to the connections that publish them.
    publishers: Publishers,
    app: Mutex<Option<String>>,
    streams: Mutex<Vec<(u32, StreamKey, Role, SystemTime)>>,
    /// What the application asked of the connection, for its reader.
    requests: Mutex<Vec<Request>>,
    /// Wakes the connection's reader to read `requests`.
    pub(crate) wake: tokio::sync::Notify,
}

/// What the application asks of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request {
    /// Close it.
    Close,
    /// Ask the client to reconnect, to `tc_url` if given.
    Reconnect {
        tc_url: Option<String>,
        description: String,
    },
}

impl Entry {
    /// Notes the application connected to.
    pub(crate) fn connected(&self, app: &str) {
        *lock(&self.app) = Some(app.to_owned());
    }

    /// Notes that media came from the connection's publisher now.
    pub(crate) fn media_arrived(&self) {
        let millis = u64::try_from(self.since.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_media.store(millis, Ordering::Relaxed);
    }

    /// How long since media last came from the connection's publisher (or it started).
    fn media_idle(&self) -> Duration {
        let last = Duration::from_millis(self.last_media.load(Ordering::Relaxed));
        self.since.elapsed().saturating_sub(last)
    }

    /// Notes that message stream `stream_id` publishes or plays `key`.
    pub(crate) fn started(&self, stream_id: u32, key: &StreamKey, role: Role) {
        if role == Role::Publisher {
            self.media_arrived();
            lock(&self.publishers).insert(key.clone(), self.id);
        }
        lock(&self.streams).push((stream_id, key.clone(), role, SystemTime::now()));
    }

    /// The requests made since the last call.
    pub(crate) fn take_requests(&self) -> Vec<Request> {
        std::mem::take(&mut *lock(&self.requests))
    }

    /// Whether the connection publishes or plays anything.
    fn is_streaming(&self) -> bool {
        !lock(&self.streams).is_empty()
    }

    /// Notes that message stream `stream_id` stopped publishing or playing in `role`; how
    /// long it did.
    pub(crate) fn stopped(&self, stream_id: u32, role: Role) -> Duration {
        let mut lasted = Duration::ZERO;
        let mut ended = None;
        lock(&self.streams).retain(|(id, key, was, since)| {
            let this = (*id, *was) == (stream_id, role);
            if this {
                lasted = since.elapsed().unwrap_or_default();
                ended = (role == Role::Publisher).then(|| key.clone());
            }
            !this
        });
        if let Some(key) = ended {
            self.forget_publisher(&key);
        }
        lasted
    }

    /// Takes the connection out of `publishers` for `key`, if it is the one noted there.
    fn forget_publisher(&self, key: &StreamKey) {
        let mut publishers = lock(&self.publishers);
        if publishers.get(key) == Some(&self.id) {
            publishers.remove(key);
        }
    }
}

/// Which connection publishes each key (a takeover looks it up for every refused publish, so
/// it is a map rather than a walk over every connection).
type Publishers = Arc<Mutex<HashMap<StreamKey, u64>>>;

/// Every open connection, and the counts of those gone.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    entries: Mutex<HashMap<u64, Arc<Entry>>>,
    publishers: Publishers,
    /// Bytes of connections that closed.
    closed_in: AtomicU64,
    closed_out: AtomicU64,
    pub(crate) connections: AtomicU64,
    pub(crate) connections_refused: AtomicU64,
    pub(crate) publishes_refused: AtomicU64,
    pub(crate) plays_refused: AtomicU64,
    /// Media messages chunked again by the connections' writers.
    pub(crate) rechunked: Arc<AtomicU64>,
}

/// Removes a connection's entry when it ends.
pub(crate) struct Registered<'a> {
    registry: &'a Registry,
    id: u64,
    pub(crate) entry: Arc<Entry>,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.registry.unregister(self.id, &self.entry);
    }
}

impl Registry {
    /// Takes connection `id` out, counting its bytes among those of connections closed.
    pub(crate) fn unregister(&self, id: u64, entry: &Entry) {
        lock(&self.entries).remove(&id);
        let published: Vec<StreamKey> = lock(&entry.streams)
            .iter()
            .filter(|(_, _, role, _)| *role == Role::Publisher)
            .map(|(_, key, _, _)| key.clone())
            .collect();
        for key in &published {
            entry.forget_publisher(key);
        }
        let registry = self;
        registry
            .closed_in
            .fetch_add(entry.bytes_in.load(Ordering::Relaxed), Ordering::Relaxed);
        registry
            .closed_out
            .fetch_add(entry.bytes_out.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

impl Registry {
    /// Enters connection `id` until the returned guard drops.
    pub(crate) fn register(&self, id: u64, peer: SocketAddr, protocol: Protocol) -> Registered<'_> {
        let entry = self.enter(id, peer, protocol);
        Registered {
            registry: self,
            id,
            entry,
        }
    }

    /// Enters connection `id`, to be taken out with [`unregister`](Self::unregister).
    pub(crate) fn enter(&self, id: u64, peer: SocketAddr, protocol: Protocol) -> Arc<Entry> {
        let entry = Arc::new(Entry {
            peer,
            protocol,
            since: Instant::now(),
            bytes_in: AtomicU64::new(0),
            last_media: AtomicU64::new(0),
            id,
            publishers: self.publishers.clone(),
            bytes_out: Arc::default(),
            app: Mutex::new(None),
            streams: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
            wake: tokio::sync::Notify::new(),
        });
        self.connections.fetch_add(1, Ordering::Relaxed);
        lock(&self.entries).insert(id, entry.clone());
        entry
    }

    /// Counts one more refusal in `counter`.
    pub(crate) fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Makes `request` of connection `id`; false if there is none.
    pub(crate) fn request(&self, id: u64, request: Request) -> bool {
        let Some(entry) = lock(&self.entries).get(&id).cloned() else {
            return false;
        };
        lock(&entry.requests).push(request);
        entry.wake.notify_one();
        true
    }

    /// Makes `request` of every connection that publishes or plays; how many there were.
    pub(crate) fn request_streaming(&self, request: &Request) -> usize {
        let entries: Vec<Arc<Entry>> = lock(&self.entries).values().cloned().collect();
        let asked: Vec<&Arc<Entry>> = entries.iter().filter(|e| e.is_streaming()).collect();
        // Every request is made before any connection acts on one: a publisher that moves
        // at once ends its stream here only after its players were asked to move too.
        for entry in &asked {
            lock(&entry.requests).push(request.clone());
        }
        for entry in &asked {
            entry.wake.notify_one();
        }
        asked.len()
    }

    /// How long connection `id`'s publisher has sent no media; `None` if it is gone.
    pub(crate) fn media_idle(&self, id: u64) -> Option<Duration> {
        lock(&self.entries).get(&id).map(|entry| entry.media_idle())
    }

    /// The address of connection `id`, if it is open.
    pub(crate) fn peer_of(&self, id: u64) -> Option<std::net::SocketAddr> {
        lock(&self.entries).get(&id).map(|entry| entry.peer)
    }

    /// The connection publishing `key`, if any.
    pub(crate) fn publisher_of(&self, key: &StreamKey) -> Option<u64> {
        lock(&self.publishers).get(key).copied()
    }

    /// Connections and streams now, with totals (`dropped_frames` left to the caller).
    pub(crate) fn snapshot(
        &self,
        media: impl Fn(&StreamKey) -> Option<StreamStats>,
    ) -> ServerStats {
        let entries: Vec<(u64, Arc<Entry>)> = lock(&self.entries)
            .iter()
            .map(|(id, entry)| (*id, entry.clone()))
            .collect();
        let mut totals = Totals {
            bytes_in: self.closed_in.load(Ordering::Relaxed),
            bytes_out: self.closed_out.load(Ordering::Relaxed),
            connections: self.connections.load(Ordering::Relaxed),
            connections_refused: self.connections_refused.load(Ordering::Relaxed),
            publishes_refused: self.publishes_refused.load(Ordering::Relaxed),
            plays_refused: self.plays_refused.load(Ordering::Relaxed),
            dropped_frames: 0,
            rechunked_messages: self.rechunked.load(Ordering::Relaxed),
        };
        let mut connections = Vec::with_capacity(entries.len());
        let mut streams: HashMap<StreamKey, StreamInfo> = HashMap::new();
        for (id, entry) in entries {
            let (bytes_in, bytes_out) = (
                entry.bytes_in.load(Ordering::Relaxed),
                entry.bytes_out.load(Ordering::Relaxed),
            );
            totals.bytes_in += bytes_in;
            totals.bytes_out += bytes_out;
            let roles = lock(&entry.streams).clone();
            for (_, key, role, since) in &roles {
                let info = streams.entry(key.clone()).or_insert_with(|| StreamInfo {
                    key: key.clone(),
                    publisher: None,
                    players: 0,
                    published_at: None,
                    media: None,
                });
                match role {
                    Role::Publisher => {
                        info.publisher = Some((id, entry.peer));
                        info.published_at = Some(*since);
                    }
                    Role::Player => info.players += 1,
                }
            }
            connections.push(ConnectionStats {
                id,
                peer: entry.peer,
                protocol: entry.protocol,
                app: lock(&entry.app).clone(),
                uptime: entry.since.elapsed(),
                bytes_in,
                bytes_out,
                streams: roles
                    .into_iter()
                    .map(|(_, key, role, _)| (key, role))
                    .collect(),
            });
        }
        connections.sort_by_key(|connection| connection.id);
        let mut streams: Vec<StreamInfo> = streams.into_values().collect();
        for stream in &mut streams {
            stream.media = media(&stream.key);
        }
        streams.sort_by(|a, b| a.key.cmp(&b.key));
        ServerStats {
            connections,
            streams,
            totals,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn key(name: &str) -> StreamKey {
        StreamKey {
            app: "live".into(),
            name: name.into(),
        }
    }

    #[test]
    fn a_snapshot_joins_connections_into_streams_and_keeps_the_bytes_of_those_gone() {
        let registry = Registry::default();
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let publisher = registry.register(1, peer, Protocol::Rtmp);
        publisher.entry.started(1, &key("a"), Role::Publisher);
        publisher.entry.bytes_in.fetch_add(1000, Ordering::Relaxed);
        {
            let player = registry.register(2, peer, Protocol::Rtmp);
            player.entry.started(1, &key("a"), Role::Player);
            player.entry.bytes_out.fetch_add(700, Ordering::Relaxed);
            let stats = registry.snapshot(|_| None);
            assert_eq!(stats.connections.len(), 2);
            assert_eq!(stats.streams.len(), 1);
            let stream = &stats.streams[0];
            assert_eq!((stream.publisher, stream.players), (Some((1, peer)), 1));
            assert_eq!(registry.publisher_of(&key("a")), Some(1));
        }
        let stats = registry.snapshot(|_| None);
        assert_eq!(stats.connections.len(), 1);
        assert_eq!(stats.streams[0].players, 0);
        assert_eq!((stats.totals.bytes_in, stats.totals.bytes_out), (1000, 700));
        assert_eq!(stats.totals.connections, 2);
        publisher.entry.stopped(1, Role::Publisher);
        assert!(registry.snapshot(|_| None).streams.is_empty());
        assert_eq!(registry.publisher_of(&key("a")), None);
        // A connection that ends while publishing is forgotten as the publisher too.
        {
            let gone = registry.register(3, peer, Protocol::Rtmp);
            gone.entry.started(1, &key("b"), Role::Publisher);
            assert_eq!(registry.publisher_of(&key("b")), Some(3));
        }
        assert_eq!(registry.publisher_of(&key("b")), None);
        assert!(registry.request(1, Request::Close) && !registry.request(2, Request::Close));
        assert_eq!(publisher.entry.take_requests(), [Request::Close]);
        assert!(publisher.entry.take_requests().is_empty());
    }
}
