//! The hub, the default [`Router`]: streams by key, one publisher each, any number of
//! players, and the fan-out.
//!
//! A publisher's message is chunked once ([`rtmp_chunk::ChunkedMessage`]) and appended once to
//! the stream's ring (of a multitrack stream, to the ring of each [`Rendition`] its players
//! read, in that rendition's form), which a server's players read at cursors of their own; players that
//! convert codecs, and the application's own, get the same `Bytes` in a queue of their own,
//! bounded in bytes. New players get metadata, sequence headers and the current GOP first
//! ([`CatchUp`]). A player that falls further behind than its queue (or the ring) holds loses
//! video until the next keyframe (audio keeps flowing) or is disconnected, by policy; nobody
//! waits for it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtmp_session::StreamKey;

use crate::catch_up::CatchUp;
use crate::player::{Notice, PlayerHandle};
use crate::rendition::Rendition;
use crate::ring::{Cursor, Ring};
use crate::router::{PlayError, Playing, PublishError, Publishing, Router};
use crate::slot::PlayerSlot;
use crate::stats::StreamStats;
use crate::sync::lock;

mod config;
mod figures;
mod probe;
mod publisher;
#[cfg(test)]
mod rendition_tests;
#[cfg(test)]
mod tests;

pub use config::HubConfig;
use probe::{Meter, TrackMeters};
use publisher::HubPublisher;
use publisher::NO_RESUME;

/// Audio messages parsed for their track's properties before giving up (codecs whose
/// configuration says nothing, as MP3 and G.711).
pub(super) const AUDIO_INFO_TRIES: u64 = 100;

/// A player of a stream: its place in the fan-out, and its cursor in the stream's ring if it
/// reads it (the fan-out then queues nothing for it, and the cursor ends when it goes).
struct Player {
    id: u64,
    slot: PlayerSlot,
    /// The ring it reads, and its cursor there.
    cursor: Option<(Arc<Ring>, Arc<Cursor>)>,
}

/// The most rings a stream keeps, one per rendition its players read; players of other
/// renditions get a queue of their own.
const MAX_RINGS: usize = 8;

#[derive(Default)]
pub(super) struct Stream {
    publisher: Option<u64>,
    /// Metadata, track configurations and the GOP, for players that join.
    catch_up: CatchUp,
    /// Players with a queue of their own, which the fan-out fills.
    players: Vec<Player>,
    /// Players that read the ring: the fan-out passes them by.
    followers: HashMap<u64, Player>,
    /// Published media for the players that read it in place, a ring per rendition (each
    /// made when its first player comes).
    rings: Vec<(Rendition, Arc<Ring>)>,
    /// What the rings' followers had taken when the stats last counted it.
    ring_taken: u64,
    /// Messages dropped by the followers of rings no longer kept.
    retired_dropped: u64,
    stats: StreamStats,
    meter: Meter,
    /// Each track's figures.
    tracks: TrackMeters,
    /// When the publisher started.
    since: Option<Instant>,
    /// When the publisher left, while its players wait for another (the republish grace).
    left: Option<Instant>,
    /// The latest timestamp players were sent, from which a returning publisher continues.
    last_timestamp: u32,
}

impl Stream {
    fn is_unused(&self) -> bool {
        self.publisher.is_none() && self.players.is_empty() && self.followers.is_empty()
    }

    /// Every player, those with a queue and those that read the ring.
    fn everyone(&mut self) -> impl Iterator<Item = &mut Player> {
        self.players.iter_mut().chain(self.followers.values_mut())
    }

    /// Removes the players `keep` refuses, ending their reading of the ring.
    fn remove_players(&mut self, mut keep: impl FnMut(&mut Player) -> bool) {
        self.players.retain_mut(&mut keep);
        self.followers.retain(|_, player| {
            let kept = keep(player);
            if let (false, Some((ring, cursor))) = (kept, &player.cursor) {
                ring.end(cursor);
            }
            kept
        });
        self.count_players();
    }

    /// Removes the player `id`, ending its reading of the ring: without looking at the
    /// others when it reads one (every player of a stream leaving at once costs linear time).
    fn remove_player(&mut self, id: u64) {
        match self.followers.remove(&id) {
            Some(player) => {
                if let Some((ring, cursor)) = &player.cursor {
                    ring.end(cursor);
                }
            }
            None => {
                if let Some(index) = self.players.iter().position(|player| player.id == id) {
                    self.players.swap_remove(index);
                }
            }
        }
        self.count_players();
    }

    fn count_players(&mut self) {
        self.stats.players = self.players.len() + self.followers.len();
    }

    /// Payload bytes the rings' followers took since the last call.
    fn taken_from_ring(&mut self) -> u64 {
        if self.rings.is_empty() {
            return 0;
        }
        let taken: u64 = self.rings.iter().map(|(_, ring)| ring.taken()).sum();
        let new = taken.saturating_sub(self.ring_taken);
        self.ring_taken = taken;
        new
    }

    /// The ring of `rendition`, made if there is room for another.
    fn ring(
        &mut self,
        rendition: Rendition,
        make: impl FnOnce() -> Arc<Ring>,
    ) -> Option<Arc<Ring>> {
        if let Some((_, ring)) = self.rings.iter().find(|(kept, _)| *kept == rendition) {
            return Some(ring.clone());
        }
        if self.rings.len() >= MAX_RINGS {
            // Rings nobody reads any more make room (their counts stay in the stats).
            let (unused, used): (Vec<_>, Vec<_>) =
                self.rings.drain(..).partition(|(_, ring)| ring.is_unused());
            self.rings = used;
            self.retired_dropped += unused.iter().map(|(_, ring)| ring.dropped()).sum::<u64>();
            let taken: u64 = unused.iter().map(|(_, ring)| ring.taken()).sum();
            self.ring_taken = self.ring_taken.saturating_sub(taken);
        }
        if self.rings.len() >= MAX_RINGS {
            return None;
        }
        let ring = make();
        self.rings.push((rendition, ring.clone()));
        Some(ring)
    }
}

/// The default [`Router`]: streams by key, one publisher each, any number of players.
///
/// A cheap handle (clones share the streams); every use goes through [`Router`].
#[derive(Clone)]
pub struct Hub(Arc<Shared>);

/// What the handles of a hub share: its streams.
pub(super) struct Shared {
    config: HubConfig,
    streams: Mutex<HashMap<StreamKey, Arc<Mutex<Stream>>>>,
    next_id: AtomicU64,
    /// Messages dropped for slow players, all streams together (shared with the streams'
    /// rings, whose followers count what they lose).
    dropped: Arc<AtomicU64>,
    /// Streams whose publisher left while players wait, with when it left.
    waiting: Mutex<Vec<(StreamKey, Instant)>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("config", &self.0.config)
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// An empty hub.
    pub fn new(config: HubConfig) -> Self {
        Self(Arc::new(Shared {
            config,
            streams: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            dropped: Arc::default(),
            waiting: Mutex::default(),
        }))
    }

    /// The hub's settings.
    pub fn config(&self) -> &HubConfig {
        &self.0.config
    }
}

impl Shared {
    fn stream(&self, key: &StreamKey) -> Arc<Mutex<Stream>> {
        lock(&self.streams)
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(Mutex::new(Stream {
                    catch_up: CatchUp::new(self.config.catch_up_limits()),
                    ..Stream::default()
                }))
            })
            .clone()
    }

    fn forget_if_unused(&self, key: &StreamKey) {
        let mut streams = lock(&self.streams);
        if streams
            .get(key)
            .is_some_and(|stream| lock(stream).is_unused())
        {
            streams.remove(key);
        }
    }

    /// Starts publishing `key`; waiting players are told. Dropping the [`HubPublisher`] ends it.
    fn publish(self: &Arc<Self>, key: StreamKey) -> Result<HubPublisher, PublishError> {
        let stream = self.stream(&key);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut inner = lock(&stream);
            if inner.publisher.is_some() {
                return Err(PublishError::AlreadyPublished(key));
            }
            let now = Instant::now();
            // Back within the grace: the players go on, from where they were.
            let resume_at = match inner.left.take() {
                Some(left) if now.duration_since(left) <= self.config.republish_grace => {
                    let away = u32::try_from(now.duration_since(left).as_millis()).unwrap_or(0);
                    Some(inner.last_timestamp.wrapping_add(away))
                }
                Some(_) => {
                    for player in inner.everyone() {
                        player
                            .slot
                            .handle()
                            .notify(Notice::Unpublished(key.clone()));
                    }
                    None
                }
                None => None,
            };
            inner.publisher = Some(id);
            inner.stats.publishing = true;
            inner.since = Some(now);
            if resume_at.is_none() {
                for player in inner.everyone() {
                    player.slot.handle().notify(Notice::Published(key.clone()));
                }
            }
            drop(inner);
            if resume_at.is_some() {
                lock(&self.waiting).retain(|(waiting, _)| *waiting != key);
            }
            Ok(HubPublisher {
                hub: self.clone(),
                key,
                stream,
                resume_at: AtomicU64::new(resume_at.map_or(NO_RESUME, u64::from)),
                offset: AtomicU32::new(0),
            })
        }
    }

    /// Tells the players of streams whose publisher left more than
    /// [`HubConfig::republish_grace`] before `now` that the stream ended. A server calls it
    /// every second ([`Router::tick`](crate::Router::tick)).
    fn expire(&self, now: Instant) {
        let grace = self.config.republish_grace;
        let expired: Vec<StreamKey> = {
            let mut waiting = lock(&self.waiting);
            let mut expired = Vec::new();
            waiting.retain(|(key, left)| {
                let over = now.saturating_duration_since(*left) > grace;
                if over {
                    expired.push(key.clone());
                }
                !over
            });
            expired
        };
        for key in expired {
            let Some(stream) = lock(&self.streams).get(&key).cloned() else {
                continue;
            };
            let mut inner = lock(&stream);
            if inner
                .left
                .is_some_and(|left| now.saturating_duration_since(left) > grace)
            {
                inner.left = None;
                for player in inner.everyone() {
                    player
                        .slot
                        .handle()
                        .notify(Notice::Unpublished(key.clone()));
                }
            }
        }
    }

    /// Adds a player of `key`. It gets metadata, sequence headers and the current GOP at once
    /// if a publisher is on, and everything published from then on.
    fn play(
        self: &Arc<Self>,
        key: StreamKey,
        player: PlayerHandle,
    ) -> Result<Subscription, PlayError> {
        let enhanced = player.enhanced();
        let stream = self.stream(&key);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut inner = lock(&stream);
            let refuse = self.config.refuse_unannounced_enhanced;
            if refuse && inner.publisher.is_some() && inner.stats.enhanced_video && !enhanced {
                drop(inner);
                self.forget_if_unused(&key);
                return Err(PlayError::NeedsEnhanced(key));
            }
            let mut player = Player {
                id,
                slot: PlayerSlot::new(player),
                cursor: None,
            };
            let chunk_size = self.config.chunk_size;
            let rendition = player.slot.handle().rendition();
            let stream = &mut *inner;
            player
                .slot
                .catch_up(stream.catch_up.iter_for(rendition), &key, chunk_size);
            // From here on the player reads its rendition's ring, if its writer can and it
            // takes the media as published. The ring counts in the budget of the players that
            // read it (the server's).
            let handle = player.slot.handle();
            if handle.can_follow() {
                let config = &self.config;
                let ring = stream.ring(rendition, || {
                    Ring::new(
                        config.player_queue_bytes,
                        config.slow_player,
                        handle.budget().clone(),
                        self.dropped.clone(),
                    )
                });
                player.cursor = ring.and_then(|ring| {
                    let cursor = handle.follow(&ring, player.slot.is_lagging())?;
                    Some((ring, cursor))
                });
            }
            if player.cursor.is_some() {
                inner.followers.insert(player.id, player);
            } else {
                inner.players.push(player);
            }
            inner.count_players();
        }
        Ok(Subscription {
            hub: self.clone(),
            key,
            id,
            stream,
        })
    }

    /// Whether a player would be refused `key` now: its video is in Enhanced RTMP form and the
    /// player did not announce Enhanced RTMP.
    fn refuses_player(&self, key: &StreamKey, enhanced: bool) -> bool {
        self.config.refuse_unannounced_enhanced
            && !enhanced
            && self.with_stream(key, |stream| {
                stream.publisher.is_some() && stream.stats.enhanced_video
            })
    }

    /// What `read` says of the stream of `key`; false when nobody publishes or plays it.
    /// Cheaper than [`stats`](Self::stats), which looks at every player: a server asks on
    /// every play.
    fn with_stream(&self, key: &StreamKey, read: impl FnOnce(&Stream) -> bool) -> bool {
        let Some(stream) = lock(&self.streams).get(key).cloned() else {
            return false;
        };
        let stream = lock(&stream);
        read(&stream)
    }

    /// The figures of `key`, if anyone publishes or plays it.
    fn stats(&self, key: &StreamKey) -> Option<StreamStats> {
        let stream = lock(&self.streams).get(key).cloned()?;
        let stream = lock(&stream);
        let mut stats = stream.stats.clone();
        stats.tracks = stream.tracks.snapshot();
        for player in stream.players.iter().chain(stream.followers.values()) {
            let handle = player.slot.handle();
            let rendition = crate::codecs::effective_rendition(handle.codecs(), handle.rendition());
            for track in &mut stats.tracks {
                let taken = match rendition {
                    Rendition::All => true,
                    Rendition::One { video, audio } => {
                        track.id == if track.video { video } else { audio }
                    }
                };
                track.players += usize::from(taken);
            }
        }
        stats.uptime = stream.since.map_or(Duration::ZERO, |since| since.elapsed());
        stats.dropped += stream.retired_dropped;
        stats.dropped += stream
            .rings
            .iter()
            .map(|(_, ring)| ring.dropped())
            .sum::<u64>();
        Some(stats)
    }

    /// The keys with a publisher or players.
    fn keys(&self) -> Vec<StreamKey> {
        lock(&self.streams).keys().cloned().collect()
    }

    /// Messages dropped for slow players since the hub started, all streams together.
    fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// A player's place in a stream. Dropping it removes the player.
pub(crate) struct Subscription {
    hub: Arc<Shared>,
    key: StreamKey,
    id: u64,
    stream: Arc<Mutex<Stream>>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Playing for Subscription {
    fn key(&self) -> &StreamKey {
        &self.key
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        {
            let mut stream = lock(&self.stream);
            stream.remove_player(self.id);
        }
        self.hub.forget_if_unused(&self.key);
    }
}

impl Router for Hub {
    fn publish(&self, key: &StreamKey) -> Result<Box<dyn Publishing>, PublishError> {
        Ok(Box::new(self.0.publish(key.clone())?))
    }

    fn play(&self, key: &StreamKey, player: PlayerHandle) -> Result<Box<dyn Playing>, PlayError> {
        Ok(Box::new(self.0.play(key.clone(), player)?))
    }

    fn check_play(&self, key: &StreamKey, enhanced: bool) -> Result<(), PlayError> {
        if self.0.refuses_player(key, enhanced) {
            return Err(PlayError::NeedsEnhanced(key.clone()));
        }
        Ok(())
    }

    fn is_published(&self, key: &StreamKey) -> bool {
        self.0.with_stream(key, |stream| stream.stats.publishing)
    }

    fn is_played(&self, key: &StreamKey) -> bool {
        self.0.with_stream(key, |stream| stream.stats.players > 0)
    }

    fn tick(&self, now: Instant) {
        self.0.expire(now);
    }

    fn keys(&self) -> Vec<StreamKey> {
        self.0.keys()
    }

    fn stats(&self, key: &StreamKey) -> Option<StreamStats> {
        self.0.stats(key)
    }

    fn dropped(&self) -> u64 {
        self.0.dropped()
    }
}
