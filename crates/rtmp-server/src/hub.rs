//! The hub: streams by key, one publisher each, any number of players, and the fan-out.
//!
//! A publisher's message is chunked once ([`rtmp_chunk::ChunkedMessage`]) and appended once to
//! the stream's ring, which the server's players read at cursors of their own; players that
//! convert codecs, and the application's own, get the same `Bytes` in a queue of their own,
//! bounded in bytes. New players get metadata, sequence headers and the current GOP first. A
//! player that falls further behind than its queue (or the ring) holds loses video until the
//! next keyframe (audio keeps flowing) or is disconnected, by policy; nobody waits for it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtmp_chunk::{ChunkedMessage, RawMessage, type_id};
use rtmp_flv::{
    AudioCodec, AudioTag, Codec, Frame, TrackConfigs, TrackInfo, VideoCodec, VideoKind, VideoTag,
    configured_tracks,
};

use crate::codecs::{Conversions, Delivery, shared};
use crate::ring::{Cursor, Ring};
use crate::router::{
    DeliverError, Notice, PlayError, PlayerHandle, Playing, PublishError, Publishing,
};
use rtmp_session::StreamKey;

/// What happens to a player that cannot keep up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlowPlayerPolicy {
    /// Drop its video until the next keyframe that fits in its queue; audio keeps flowing.
    SkipToKeyframe,
    /// Close its connection.
    Disconnect,
}

/// Settings of the [`Hub`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HubConfig {
    /// Keep the current GOP for players that join (default on).
    pub gop_cache: bool,
    /// The most bytes a GOP cache holds; a longer GOP is not cached (default 16 MiB).
    pub max_gop_bytes: usize,
    /// Bytes a player's queue holds: chunked media plus 64 bytes per message (default 16 MiB,
    /// the largest GOP the cache keeps, so that a joining player gets a cached GOP whole).
    /// Media that does not fit is dropped for that player by the slow-player policy. The bytes
    /// are shared with every other player of the stream, so this bounds how far a player may
    /// fall behind more than the memory it costs. A stream's ring holds at most as much for
    /// the players that read it.
    pub player_queue_bytes: usize,
    /// The chunk size players receive with (the session's chunk size).
    pub chunk_size: u32,
    /// What happens to slow players.
    pub slow_player: SlowPlayerPolicy,
    /// Send players whose connect announced no codecs legacy codecs only: Enhanced RTMP
    /// tracks with a legacy form (H.264, AAC) converted to it, others (HEVC, AV1, Opus, ...)
    /// skipped with an onStatus. Off by default: ffmpeg 6.1 and later play Enhanced RTMP yet
    /// announce nothing, and get the stream as published. Turn it on for sites whose viewers
    /// run older players. Players that announced codecs always get only those (see
    /// [`CodecPolicy`](crate::CodecPolicy)).
    pub legacy_for_unannounced: bool,
    /// Refuse (NetStream.Play.Failed) Enhanced RTMP video to players whose connect announced
    /// no FourCCs. Off by default: ffmpeg 9, which plays Enhanced RTMP, announces nothing when
    /// playing, so refusing would lock it out; turn it on where legacy players must get a clear
    /// failure instead of video they cannot decode.
    pub refuse_unannounced_enhanced: bool,
    /// The most tracks whose configuration (sequence start, multichannel config) a stream
    /// keeps for players that join (default 32; multitrack encoders send a handful). A
    /// publisher that configures more is refused (NetStream.Publish.Rejected).
    pub max_tracks: usize,
    /// The most bytes of configuration messages a stream keeps, all tracks together (default
    /// 1 MiB; a configuration record is tens to a few thousand bytes). A publisher past it is
    /// refused.
    pub max_header_bytes: usize,
    /// The largest metadata (onMetaData) a stream keeps (default 256 KiB; encoders send
    /// about 1 KiB). A publisher that sends larger is refused.
    pub max_metadata_bytes: usize,
    /// How long players stay with a stream whose publisher left, told nothing, in case it
    /// comes back (default 10 s; zero: told at once). A publisher of the key within it
    /// continues the stream: its timestamps are moved on from where the players were (by the
    /// time it was away), so they never step back, and its metadata and sequence headers
    /// reach the players before its first frame. Past it, players are told the stream ended
    /// (NetStream.Play.UnpublishNotify). Timed by [`Hub::expire`], which a server calls every
    /// second.
    pub republish_grace: Duration,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            gop_cache: true,
            max_gop_bytes: 16 << 20,
            player_queue_bytes: 16 << 20,
            chunk_size: 1024,
            slow_player: SlowPlayerPolicy::SkipToKeyframe,
            refuse_unannounced_enhanced: false,
            legacy_for_unannounced: false,
            max_tracks: 32,
            max_header_bytes: 1 << 20,
            max_metadata_bytes: 256 << 10,
            republish_grace: Duration::from_secs(10),
        }
    }
}

/// What a shared media message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// Audio; `sequence_start` for a codec configuration.
    Audio {
        /// Whether this is the audio sequence start.
        sequence_start: bool,
    },
    /// Video of the given kind; `enhanced` when in Enhanced RTMP form.
    Video {
        /// Sequence start, keyframe, inter frame or other.
        kind: VideoKind,
        /// Whether the Enhanced RTMP header is used.
        enhanced: bool,
    },
    /// A data message (metadata or other).
    Data,
}

/// A publisher's message as every player receives it: chunked once, on message stream 1.
#[derive(Debug)]
pub struct SharedMedia {
    /// What it is.
    pub kind: MediaKind,
    /// The chunked bytes for players with the hub's chunk size and play stream 1.
    pub chunked: ChunkedMessage,
}

impl SharedMedia {
    /// The message (on message stream 1), taken back out of the chunks: the chunks are the
    /// only copy of the payload the hub holds.
    pub fn message(&self) -> RawMessage {
        self.chunked.message()
    }
}

/// A shared media message.
pub type Media = Arc<SharedMedia>;

/// Figures of one stream.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct StreamStats {
    /// Whether a publisher is on.
    pub publishing: bool,
    /// Players attached.
    pub players: usize,
    /// Bytes of audio, video and data received from the publisher.
    pub bytes: u64,
    /// Video messages received.
    pub video_frames: u64,
    /// Audio messages received.
    pub audio_frames: u64,
    /// Whether the video is in Enhanced RTMP form.
    pub enhanced_video: bool,
    /// Messages dropped for slow players.
    pub dropped: u64,
    /// The video codec, from the first sequence start or frame.
    pub video_codec: Option<VideoCodec>,
    /// The audio codec, from the first sequence start or frame.
    pub audio_codec: Option<AudioCodec>,
    /// Bits per second received from the publisher, over the last full second.
    pub bitrate: u64,
    /// Bytes of audio, video and data given to players: queued for those with a queue of
    /// their own, and taken by the writers of those that read the stream's ring (counted as
    /// they take it).
    pub bytes_out: u64,
    /// Bits per second given to players (as `bytes_out` counts them), all together, over the
    /// last full second.
    pub bitrate_out: u64,
    /// The video's width in pixels: from its configuration record (H.264 and H.265 SPS, AV1
    /// sequence header, VVC record), else from the publisher's metadata (`width`).
    pub width: Option<u32>,
    /// The video's height in pixels, from the same sources.
    pub height: Option<u32>,
    /// Frames per second, from the publisher's metadata (`framerate`).
    pub frame_rate: Option<f64>,
    /// The audio's sample rate, from its configuration (AAC, Opus, FLAC, AC-3, E-AC-3).
    pub audio_sample_rate: Option<u32>,
    /// The audio's channels, from its configuration.
    pub audio_channels: Option<u8>,
    /// How long the publisher has been on (zero while nobody publishes).
    pub uptime: Duration,
}

// Frame rates are finite numbers from metadata; equality compares them bit for bit.
impl Eq for StreamStats {}

/// Bits per second in and out over windows of one second.
#[derive(Debug, Default)]
struct Meter {
    start: Option<Instant>,
    bytes_in: u64,
    bytes_out: u64,
}

impl Meter {
    /// Counts bytes received and queued; returns both rates when a window closes.
    fn add(&mut self, bytes_in: u64, bytes_out: u64) -> Option<(u64, u64)> {
        let now = Instant::now();
        let start = *self.start.get_or_insert(now);
        self.bytes_in += bytes_in;
        self.bytes_out += bytes_out;
        let elapsed = now.duration_since(start);
        if elapsed < Duration::from_secs(1) {
            return None;
        }
        let millis = (elapsed.as_millis() as u64).max(1);
        let rates = (
            self.bytes_in * 8000 / millis,
            self.bytes_out * 8000 / millis,
        );
        *self = Self {
            start: Some(now),
            ..Self::default()
        };
        Some(rates)
    }
}

/// The video's width, height and frame rate in an onMetaData payload.
fn video_size(payload: &Bytes) -> (Option<u32>, Option<u32>, Option<f64>) {
    let Ok((_, values)) = rtmp_flv::parse_script_data(payload) else {
        return (None, None, None);
    };
    // `@setDataFrame` messages carry the name first, then the object.
    let Some(object) = values.iter().find_map(|value| match value {
        rtmp_amf0::Value::Object(object) | rtmp_amf0::Value::EcmaArray(object) => Some(object),
        _ => None,
    }) else {
        return (None, None, None);
    };
    let number = |name: &str| match object.get(name) {
        Some(rtmp_amf0::Value::Number(number)) if number.is_finite() => Some(*number),
        _ => None,
    };
    let pixels = |name: &str| {
        number(name)
            .filter(|number| (1.0..=65536.0).contains(number))
            .map(|number| number as u32)
    };
    (
        pixels("width"),
        pixels("height"),
        number("framerate").filter(|rate| *rate > 0.0),
    )
}

/// The codec of an audio or video payload, and what its configuration (or, for AC-3, its
/// frame header) tells; parsed only when not known yet or when a new sequence starts (rare,
/// so the full parser is affordable).
fn codec_of(type_id: u8, payload: &Bytes) -> Option<(Codec, Option<TrackInfo>)> {
    let frames = match type_id {
        type_id::VIDEO => VideoTag::parse(payload).map(|tag| Frame::from_video(&tag, 0)),
        _ => AudioTag::parse(payload).map(|tag| Frame::from_audio(&tag, 0)),
    };
    frames
        .ok()?
        .first()
        .map(|frame| (frame.codec, TrackInfo::of(frame)))
}

/// Audio messages parsed for their track's properties before giving up (codecs whose
/// configuration says nothing, as MP3 and G.711).
const AUDIO_INFO_TRIES: u64 = 100;

struct Player {
    id: u64,
    handle: PlayerHandle,
    /// Where the player reads the stream's ring, if it does: the hub then queues nothing
    /// for it, and ends the cursor when the player goes.
    cursor: Option<Arc<Cursor>>,
    lagging: bool,
    /// Codecs the player was told it does not get.
    told: Vec<Codec>,
}

impl Player {
    /// What the player gets of `media` under its codec policy; `None` when it gets nothing
    /// (it is told once per codec).
    fn form(&mut self, conversions: &mut Conversions<'_>, key: &StreamKey) -> Option<Media> {
        match conversions.for_player(self.handle.codecs()) {
            Delivery::Media(media) => Some(media),
            Delivery::Skip(codec) => {
                if !self.told.contains(&codec) {
                    self.told.push(codec);
                    self.handle.notify(Notice::CodecSkipped(key.clone(), codec));
                }
                None
            }
        }
    }
}

#[derive(Default)]
struct Stream {
    publisher: Option<u64>,
    metadata: Option<Media>,
    headers: Headers,
    gop: Vec<Media>,
    gop_bytes: usize,
    /// Whether the GOP being cached started with a keyframe and still fits.
    gop_open: bool,
    /// Players with a queue of their own, which the fan-out fills.
    players: Vec<Player>,
    /// Players that read the ring: the fan-out passes them by.
    followers: Vec<Player>,
    /// Published media for the players that read it in place (made when the first comes).
    ring: Option<Arc<Ring>>,
    /// What the ring's followers had taken when the stats last counted it.
    ring_taken: u64,
    stats: StreamStats,
    meter: Meter,
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
        self.players.iter_mut().chain(&mut self.followers)
    }

    /// Removes the players `keep` refuses, ending their reading of the ring.
    fn remove_players(&mut self, mut keep: impl FnMut(&mut Player) -> bool) {
        self.players.retain_mut(&mut keep);
        let ring = self.ring.clone();
        self.followers.retain_mut(|player| {
            let kept = keep(player);
            if let (false, Some(cursor), Some(ring)) = (kept, &player.cursor, &ring) {
                ring.end(cursor);
            }
            kept
        });
        self.count_players();
    }

    fn count_players(&mut self) {
        self.stats.players = self.players.len() + self.followers.len();
    }

    /// Payload bytes the ring's followers took since the last call.
    fn taken_from_ring(&mut self) -> u64 {
        let Some(ring) = &self.ring else {
            return 0;
        };
        let taken = ring.taken();
        let new = taken - self.ring_taken;
        self.ring_taken = taken;
        new
    }

    /// The messages a joining player gets first.
    fn catch_up(&self) -> impl Iterator<Item = &Media> {
        self.metadata
            .iter()
            .chain(self.headers.iter())
            .chain(&self.gop)
    }
}

/// Sequence starts and multichannel configs, each with the tracks it configures: a joining
/// player (or a new recording segment) needs every track's before media.
pub(crate) type Headers = TrackConfigs<Media>;

/// Streams by key.
pub struct Hub {
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
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a stream half-updated in a way that matters
    // more than losing the whole server, so a poisoned lock is used as it is.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Hub {
    /// An empty hub.
    pub fn new(config: HubConfig) -> Arc<Self> {
        Arc::new(Self {
            config,
            streams: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            dropped: Arc::default(),
            waiting: Mutex::default(),
        })
    }

    /// The hub's settings.
    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    fn stream(&self, key: &StreamKey) -> Arc<Mutex<Stream>> {
        lock(&self.streams).entry(key.clone()).or_default().clone()
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
    pub fn publish(self: &Arc<Self>, key: StreamKey) -> Result<HubPublisher, PublishError> {
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
                        player.handle.notify(Notice::Unpublished(key.clone()));
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
                    player.handle.notify(Notice::Published(key.clone()));
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
    pub fn expire(&self, now: Instant) {
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
                    player.handle.notify(Notice::Unpublished(key.clone()));
                }
            }
        }
    }

    /// Adds a player of `key`. It gets metadata, sequence headers and the current GOP at once
    /// if a publisher is on, and everything published from then on.
    pub fn play(
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
                handle: player,
                cursor: None,
                lagging: false,
                told: Vec::new(),
            };
            let catch_up: Vec<Media> = inner.catch_up().cloned().collect();
            for item in &catch_up {
                let mut conversions = Conversions::new(item, self.config.chunk_size);
                let Some(item) = player.form(&mut conversions, &key) else {
                    continue;
                };
                if player.handle.deliver(item).is_err() {
                    player.lagging = true;
                }
            }
            // From here on the player reads the stream's ring, if its writer can and it takes
            // the media as published. The ring counts in the budget of the players that read
            // it (the server's).
            if player.handle.can_follow() {
                let config = &self.config;
                let ring = inner.ring.get_or_insert_with(|| {
                    Ring::new(
                        config.player_queue_bytes,
                        config.slow_player,
                        player.handle.budget().clone(),
                        self.dropped.clone(),
                    )
                });
                player.cursor = player.handle.follow(ring, player.lagging);
            }
            if player.cursor.is_some() {
                inner.followers.push(player);
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
    pub fn refuses_player(&self, key: &StreamKey, enhanced: bool) -> bool {
        let Some(stream) = lock(&self.streams).get(key).cloned() else {
            return false;
        };
        let stream = lock(&stream);
        self.config.refuse_unannounced_enhanced
            && !enhanced
            && stream.publisher.is_some()
            && stream.stats.enhanced_video
    }

    /// The figures of `key`, if anyone publishes or plays it.
    pub fn stats(&self, key: &StreamKey) -> Option<StreamStats> {
        let stream = lock(&self.streams).get(key).cloned()?;
        let stream = lock(&stream);
        let mut stats = stream.stats.clone();
        stats.uptime = stream.since.map_or(Duration::ZERO, |since| since.elapsed());
        stats.dropped += stream.ring.as_ref().map_or(0, |ring| ring.dropped());
        Some(stats)
    }

    /// The keys with a publisher or players.
    pub fn keys(&self) -> Vec<StreamKey> {
        lock(&self.streams).keys().cloned().collect()
    }

    /// Messages dropped for slow players since the hub started, all streams together.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// [`HubPublisher::resume_at`] when the publisher starts a stream afresh.
const NO_RESUME: u64 = u64::MAX;

/// The right to publish one key. Dropping it ends the publishing: players are told and wait.
pub struct HubPublisher {
    /// Where the first message goes in time when the publisher continues a stream whose
    /// players waited ([`NO_RESUME`] otherwise, and once the first message took it).
    resume_at: AtomicU64,
    /// Added to every timestamp: a returning publisher's time moved on from the players'.
    offset: AtomicU32,
    hub: Arc<Hub>,
    key: StreamKey,
    stream: Arc<Mutex<Stream>>,
}

impl std::fmt::Debug for HubPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubPublisher")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl HubPublisher {
    /// The key published.
    pub fn key(&self) -> &StreamKey {
        &self.key
    }

    /// Shares an audio, video or data message with every player. Timestamps pass through.
    ///
    /// A message that takes the stream past one of its budgets ([`HubConfig::max_tracks`],
    /// [`HubConfig::max_header_bytes`], [`HubConfig::max_metadata_bytes`]) is not shared, and
    /// the error says which; the publisher should then be stopped.
    pub fn send(&self, message: &RawMessage) -> Result<(), PublishError> {
        let resume_at = self.resume_at.load(Ordering::Relaxed);
        if resume_at != NO_RESUME {
            self.resume_at.store(NO_RESUME, Ordering::Relaxed);
            let offset = (resume_at as u32).wrapping_sub(message.timestamp);
            self.offset.store(offset, Ordering::Relaxed);
        }
        let offset = self.offset.load(Ordering::Relaxed);
        let rebased;
        let message = if offset == 0 {
            message
        } else {
            let mut moved = message.clone();
            moved.timestamp = moved.timestamp.wrapping_add(offset);
            rebased = moved;
            &rebased
        };
        let Some(media) = shared(message.clone(), self.hub.config.chunk_size) else {
            return Ok(());
        };
        let kind = media.kind;
        let config = &self.hub.config;
        let mut guard = lock(&self.stream);
        let stream = &mut *guard;
        stream.last_timestamp = message.timestamp;
        let stats = &mut stream.stats;
        let codec_unknown = match kind {
            MediaKind::Audio { sequence_start } => {
                sequence_start
                    || stats.audio_codec.is_none()
                    || (stats.audio_sample_rate.is_none() && stats.audio_frames < AUDIO_INFO_TRIES)
            }
            MediaKind::Video { kind, .. } => {
                kind == VideoKind::SequenceStart || stats.video_codec.is_none()
            }
            MediaKind::Data => false,
        };
        if codec_unknown {
            match codec_of(message.type_id, &message.payload) {
                Some((Codec::Video(codec), info)) => {
                    stats.video_codec = Some(codec);
                    // The configuration record is the truth; metadata fills in without one.
                    if let Some(TrackInfo {
                        width: Some(width),
                        height: Some(height),
                        ..
                    }) = info
                    {
                        (stats.width, stats.height) = (Some(width), Some(height));
                    }
                }
                Some((Codec::Audio(codec), info)) => {
                    stats.audio_codec = Some(codec);
                    if let Some(info) = info {
                        stats.audio_sample_rate = info.sample_rate.or(stats.audio_sample_rate);
                        stats.audio_channels = info.channels.or(stats.audio_channels);
                    }
                }
                None => {}
            }
        }
        match kind {
            MediaKind::Audio { .. } => {
                stream.stats.audio_frames += 1;
                let keys = configured_tracks(message.type_id, &message.payload);
                if keys.is_empty() {
                    cache(stream, config, &media, false);
                } else {
                    stream.headers.set(keys, media.clone());
                    self.check_headers(stream)?;
                }
            }
            MediaKind::Video { kind, enhanced } => {
                stream.stats.video_frames += 1;
                match kind {
                    VideoKind::SequenceStart => {
                        let keys = configured_tracks(message.type_id, &message.payload);
                        stream.headers.set(keys, media.clone());
                        self.check_headers(stream)?;
                        stream.stats.enhanced_video = enhanced;
                        if enhanced && config.refuse_unannounced_enhanced {
                            self.fail_legacy_players(stream);
                        }
                    }
                    VideoKind::Keyframe => cache(stream, config, &media, true),
                    VideoKind::Inter => cache(stream, config, &media, false),
                    VideoKind::Other => {}
                }
            }
            MediaKind::Data => {
                if rtmp_message::data_name_is(&message.payload, rtmp_message::ON_METADATA) {
                    if message.payload.len() > config.max_metadata_bytes {
                        return Err(self.over_limit("metadata bytes", config.max_metadata_bytes));
                    }
                    stream.metadata = Some(media.clone());
                    let (width, height, frame_rate) = video_size(&message.payload);
                    let stats = &mut stream.stats;
                    stats.frame_rate = frame_rate;
                    // A configuration record read already knows better.
                    if stats.width.is_none() {
                        (stats.width, stats.height) = (width, height);
                    }
                }
            }
        }
        let policy = config.slow_player;
        let mut tally = Tally::default();
        if let Some(ring) = &stream.ring {
            ring.push(media.clone());
        }
        let mut conversions = Conversions::new(&media, config.chunk_size);
        let before = stream.players.len();
        stream.players.retain_mut(|player| {
            deliver(player, &mut conversions, (policy, &self.key), &mut tally)
        });
        if stream.players.len() != before {
            stream.count_players();
        }
        let (bytes_in, bytes_out) = (
            message.payload.len() as u64,
            message.payload.len() as u64 * tally.delivered + stream.taken_from_ring(),
        );
        stream.stats.bytes += bytes_in;
        stream.stats.bytes_out += bytes_out;
        if let Some((rate_in, rate_out)) = stream.meter.add(bytes_in, bytes_out) {
            (stream.stats.bitrate, stream.stats.bitrate_out) = (rate_in, rate_out);
        }
        stream.stats.dropped += tally.dropped;
        if tally.dropped > 0 {
            self.hub.dropped.fetch_add(tally.dropped, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Checks the configuration messages kept against the stream's budgets.
    fn check_headers(&self, stream: &Stream) -> Result<(), PublishError> {
        let config = &self.hub.config;
        if stream.headers.track_count() > config.max_tracks {
            return Err(self.over_limit("configured tracks", config.max_tracks));
        }
        let bytes: usize = stream
            .headers
            .iter()
            .map(|media| media.chunked.payload_len())
            .sum();
        if bytes > config.max_header_bytes {
            return Err(self.over_limit("configuration bytes", config.max_header_bytes));
        }
        Ok(())
    }

    fn over_limit(&self, what: &'static str, limit: usize) -> PublishError {
        PublishError::OverLimit {
            key: self.key.clone(),
            what,
            limit,
        }
    }

    fn fail_legacy_players(&self, stream: &mut Stream) {
        stream.remove_players(|player| {
            if player.handle.enhanced() {
                return true;
            }
            let reason = format!(
                "{} carries Enhanced RTMP video; connect with a fourCcList to play it",
                self.key
            );
            player
                .handle
                .notify(Notice::Failed(self.key.clone(), reason));
            false
        });
    }
}

/// Adds coded media to the GOP cache; a keyframe starts a new GOP.
fn cache(stream: &mut Stream, config: &HubConfig, media: &Media, keyframe: bool) {
    if !config.gop_cache {
        return;
    }
    if keyframe {
        stream.gop.clear();
        stream.gop_bytes = 0;
        stream.gop_open = true;
    }
    if !stream.gop_open {
        return;
    }
    let len = media.chunked.payload_len();
    if stream.gop_bytes + len > config.max_gop_bytes {
        stream.gop.clear();
        stream.gop_bytes = 0;
        stream.gop_open = false;
        return;
    }
    stream.gop_bytes += len;
    stream.gop.push(media.clone());
}

/// Messages queued and dropped in one fan-out.
#[derive(Default)]
struct Tally {
    delivered: u64,
    dropped: u64,
}

/// Offers `media` to `player`; false when the player is to be removed.
fn deliver(
    player: &mut Player,
    conversions: &mut Conversions<'_>,
    (policy, key): (SlowPlayerPolicy, &StreamKey),
    tally: &mut Tally,
) -> bool {
    let media = conversions.media();
    let video_kind = match media.kind {
        MediaKind::Video { kind, .. } => Some(kind),
        _ => None,
    };
    // A player that paused or switched this kind of media off gets none; one that goes on
    // (or seeked) starts again from a keyframe.
    if player.handle.take_resync() {
        player.lagging = true;
    }
    if !player.handle.wants(media.kind) {
        return true;
    }
    // A lagging player gets no video until a keyframe (sequence headers always pass).
    if player.lagging && matches!(video_kind, Some(VideoKind::Inter | VideoKind::Other)) {
        tally.dropped += 1;
        return true;
    }
    let Some(media) = player.form(conversions, key) else {
        return true;
    };
    match player.handle.deliver(media) {
        Ok(()) => {
            tally.delivered += 1;
            if video_kind == Some(VideoKind::Keyframe) {
                player.lagging = false;
            }
            true
        }
        Err(DeliverError::Full) => {
            tally.dropped += 1;
            player.lagging = true;
            policy == SlowPlayerPolicy::SkipToKeyframe
        }
        Err(_) => false,
    }
}

impl Publishing for HubPublisher {
    fn key(&self) -> &StreamKey {
        &self.key
    }

    fn send(&mut self, message: &RawMessage) -> Result<(), PublishError> {
        HubPublisher::send(self, message)
    }
}

impl Drop for HubPublisher {
    fn drop(&mut self) {
        {
            let mut stream = lock(&self.stream);
            stream.publisher = None;
            stream.stats.publishing = false;
            stream.metadata = None;
            stream.headers.clear();
            stream.gop.clear();
            stream.gop_bytes = 0;
            stream.gop_open = false;
            stream.meter = Meter::default();
            stream.since = None;
            stream.stats.bitrate = 0;
            stream.stats.bitrate_out = 0;
            (
                stream.stats.width,
                stream.stats.height,
                stream.stats.frame_rate,
            ) = (None, None, None);
            (stream.stats.audio_sample_rate, stream.stats.audio_channels) = (None, None);
            stream.stats.video_codec = None;
            stream.stats.audio_codec = None;
            let grace = !self.hub.config.republish_grace.is_zero();
            let waited = grace && (!stream.players.is_empty() || !stream.followers.is_empty());
            for player in stream.everyone() {
                // The next publisher starts with a keyframe; nothing stale stays queued.
                player.lagging = false;
                if !waited {
                    player.handle.notify(Notice::Unpublished(self.key.clone()));
                }
            }
            if waited {
                // The players wait, told nothing, for the publisher to come back.
                let now = Instant::now();
                stream.left = Some(now);
                lock(&self.hub.waiting).push((self.key.clone(), now));
            }
        }
        self.hub.forget_if_unused(&self.key);
    }
}

/// A player's place in a stream. Dropping it removes the player.
pub struct Subscription {
    hub: Arc<Hub>,
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

impl Subscription {
    /// The key played.
    pub fn key(&self) -> &StreamKey {
        &self.key
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
            stream.remove_players(|player| player.id != self.id);
        }
        self.hub.forget_if_unused(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::{Hub, HubConfig, SlowPlayerPolicy};
    use crate::channel;
    use crate::queue::{MediaReceiver, MediaSender};
    use crate::router::{Notice, PlayerHandle, Stamped};
    use rtmp_chunk::{MemoryBudget, RawMessage, type_id};
    use rtmp_session::StreamKey;

    fn key() -> StreamKey {
        StreamKey {
            app: "live".into(),
            name: "unit".into(),
        }
    }

    /// A player with a queue of `bytes`: its handle, its media and its notices.
    fn player(bytes: usize) -> (PlayerHandle, MediaReceiver, channel::Receiver<Stamped>) {
        let (media, received) = MediaSender::channel(bytes, MemoryBudget::new(1 << 30));
        let (notices, heard) = channel::unbounded();
        (
            PlayerHandle::new(media, notices, false, 1, Default::default()),
            received,
            heard,
        )
    }

    fn video(timestamp: u32, keyframe: bool, len: usize) -> RawMessage {
        let mut payload = vec![if keyframe { 0x17 } else { 0x27 }, 1, 0, 0, 0];
        payload.resize(len, 0x55);
        RawMessage::new(6, timestamp, type_id::VIDEO, 1, payload)
    }

    fn sequence_start() -> RawMessage {
        RawMessage::new(
            6,
            0,
            type_id::VIDEO,
            1,
            vec![0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1F],
        )
    }

    /// The timestamps (and whether each is a sequence start) a player received.
    fn received(media: &mut MediaReceiver) -> Vec<(u32, bool)> {
        std::iter::from_fn(|| media.try_recv())
            .map(|item| {
                let message = item.message();
                (message.timestamp, message.payload.get(1) == Some(&0))
            })
            .collect()
    }

    #[test]
    fn a_player_whose_writer_reads_rings_gets_the_catch_up_then_follows_the_ring() {
        use crate::queue::Item;
        let hub = Hub::new(HubConfig::default());
        let publisher = hub.publish(key()).unwrap();
        publisher.send(&sequence_start()).unwrap();
        publisher.send(&video(0, true, 100)).unwrap();
        let (handle, mut media, _) = player(1 << 20);
        let playing = hub.play(key(), handle.reading_rings()).unwrap();
        // The catch-up in its queue, then the start of reading the ring.
        let mut items = std::iter::from_fn(|| media.try_recv_on());
        assert!(matches!(items.next(), Some(Item::Media(..))));
        assert!(matches!(items.next(), Some(Item::Media(..))));
        let Some(Item::Follow(mut follower)) = items.next() else {
            panic!("no ring to follow");
        };
        // From then on the hub queues nothing for it: the ring has the stream.
        publisher.send(&video(40, false, 100)).unwrap();
        assert!(media.try_recv_on().is_none());
        let mut timestamps = Vec::new();
        let mut read = |follower: &mut crate::ring::Follower| {
            follower
                .read(|media, _| {
                    timestamps.push(media.message().timestamp);
                    true
                })
                .unwrap()
        };
        assert_eq!(read(&mut follower), crate::ring::Read::Open);
        // Leaving ends the reading where the stream was then.
        drop(playing);
        publisher.send(&video(80, false, 100)).unwrap();
        assert_eq!(read(&mut follower), crate::ring::Read::Ended);
        assert_eq!(timestamps, [40]);
        assert_eq!(hub.stats(&key()).unwrap().players, 0);
    }

    #[test]
    fn a_ring_reader_counts_as_sent_to_for_what_its_writer_takes() {
        use crate::queue::Item;
        let hub = Hub::new(HubConfig::default());
        let publisher = hub.publish(key()).unwrap();
        let controls = std::sync::Arc::<crate::router::PlayControls>::default();
        let (media, mut queue) = MediaSender::channel(1 << 20, MemoryBudget::new(1 << 30));
        let (notices, _heard) = channel::unbounded();
        let handle = PlayerHandle::new(media, notices, false, 1, controls.clone());
        let _playing = hub.play(key(), handle.reading_rings()).unwrap();
        let Some(Item::Follow(mut follower)) = queue.try_recv_on() else {
            panic!("no ring to follow");
        };
        let mut read = || follower.read(|_, _| true).unwrap();
        let bytes_out = || hub.stats(&key()).unwrap().bytes_out;
        publisher.send(&video(0, true, 1000)).unwrap();
        assert_eq!(bytes_out(), 0, "not taken yet");
        read();
        publisher.send(&video(40, false, 1000)).unwrap();
        assert_eq!(bytes_out(), 1000, "counted at the next message");
        // A paused player's writer takes nothing.
        controls.apply(rtmp_session::PlayControl::Pause(true));
        read();
        publisher.send(&video(80, false, 1000)).unwrap();
        assert_eq!(bytes_out(), 1000);
    }

    #[test]
    fn a_late_player_gets_the_sequence_start_and_the_gop_from_its_keyframe() {
        let hub = Hub::new(HubConfig::default());
        let publisher = hub.publish(key()).unwrap();
        publisher.send(&sequence_start()).unwrap();
        for (timestamp, keyframe) in [(0, true), (40, false), (80, true), (120, false)] {
            publisher.send(&video(timestamp, keyframe, 100)).unwrap();
        }
        let (handle, mut media, _) = player(1 << 20);
        let _playing = hub.play(key(), handle).unwrap();
        assert_eq!(
            received(&mut media),
            [(0, true), (80, false), (120, false)],
            "the sequence start, then the GOP that starts at the last keyframe"
        );
        publisher.send(&video(160, false, 100)).unwrap();
        assert_eq!(received(&mut media), [(160, false)]);
    }

    #[test]
    fn a_player_behind_skips_to_the_next_keyframe_or_is_dropped_by_policy() {
        for policy in [
            SlowPlayerPolicy::SkipToKeyframe,
            SlowPlayerPolicy::Disconnect,
        ] {
            let config = HubConfig {
                slow_player: policy,
                ..HubConfig::default()
            };
            let hub = Hub::new(config);
            let publisher = hub.publish(key()).unwrap();
            // Room for about two 1000-byte frames.
            let (handle, mut media, _) = player(2500);
            let _playing = hub.play(key(), handle).unwrap();
            publisher.send(&video(0, true, 1000)).unwrap();
            publisher.send(&video(40, false, 1000)).unwrap();
            publisher.send(&video(80, false, 1000)).unwrap(); // does not fit: the player is behind
            assert_eq!(received(&mut media), [(0, false), (40, false)]);
            publisher.send(&video(120, false, 1000)).unwrap(); // fits, but is not a keyframe
            publisher.send(&video(160, true, 1000)).unwrap();
            let stats = hub.stats(&key()).unwrap();
            match policy {
                SlowPlayerPolicy::SkipToKeyframe => {
                    assert_eq!(received(&mut media), [(160, false)]);
                    assert_eq!((stats.players, stats.dropped), (1, 2));
                }
                SlowPlayerPolicy::Disconnect => {
                    assert!(received(&mut media).is_empty());
                    assert_eq!(stats.players, 0, "the slow player was dropped");
                }
            }
        }
    }

    /// An Enhanced RTMP multitrack audio message of one track (from the spec text): ExHeader
    /// with packet type Multitrack, then OneTrack with the real packet type, the FourCC, the
    /// track id and the body.
    fn audio_track(packet_type: u8, track_id: u8, body: &[u8]) -> RawMessage {
        let mut payload = vec![0x90 | 5, packet_type, b'm', b'p', b'4', b'a', track_id];
        payload.extend_from_slice(body);
        RawMessage::new(4, 0, type_id::AUDIO, 1, payload)
    }

    #[test]
    fn a_late_player_gets_every_tracks_configuration() {
        let hub = Hub::new(HubConfig::default());
        let publisher = hub.publish(key()).unwrap();
        publisher.send(&sequence_start()).unwrap();
        // AAC AudioSpecificConfigs for tracks 0 and 1, a multichannel config for track 1
        // (native order, 2 channels, front left and right), then coded frames.
        publisher.send(&audio_track(0, 0, &[0x12, 0x10])).unwrap();
        publisher.send(&audio_track(0, 1, &[0x11, 0x90])).unwrap();
        publisher
            .send(&audio_track(4, 1, &[1, 2, 0, 0, 0, 3]))
            .unwrap();
        publisher.send(&video(0, true, 100)).unwrap();
        publisher.send(&audio_track(1, 0, &[0x21, 0x10])).unwrap();
        publisher.send(&audio_track(1, 1, &[0x21, 0x10])).unwrap();
        // A new configuration for track 1 replaces the old one only.
        publisher.send(&audio_track(0, 1, &[0x11, 0x88])).unwrap();
        let (handle, mut media, _) = player(1 << 20);
        let _playing = hub.play(key(), handle).unwrap();
        let payloads: Vec<Vec<u8>> = std::iter::from_fn(|| media.try_recv())
            .map(|item| item.message().payload.to_vec())
            .collect();
        let headers: Vec<&[u8]> = payloads.iter().take(4).map(|p| &p[..]).collect();
        assert_eq!(
            headers,
            [
                &sequence_start().payload[..],
                &audio_track(0, 0, &[0x12, 0x10]).payload[..],
                &audio_track(4, 1, &[1, 2, 0, 0, 0, 3]).payload[..],
                &audio_track(0, 1, &[0x11, 0x88]).payload[..],
            ],
            "every track's configuration, the latest of each, before the GOP"
        );
        assert_eq!(
            payloads.len(),
            4 + 3,
            "then the keyframe and two audio frames"
        );
    }

    #[test]
    fn players_wait_through_a_republish_and_start_from_the_new_stream() {
        let hub = Hub::new(HubConfig {
            republish_grace: std::time::Duration::ZERO,
            ..HubConfig::default()
        });
        let (handle, mut media, mut notices) = player(1 << 20);
        let _playing = hub.play(key(), handle).unwrap();
        let first = hub.publish(key()).unwrap();
        assert_eq!(
            notices.try_recv().map(|(notice, _)| *notice),
            Some(Notice::Published(key()))
        );
        first.send(&sequence_start()).unwrap();
        first.send(&video(0, true, 100)).unwrap();
        assert!(hub.publish(key()).is_err(), "one publisher at a time");
        drop(first);
        assert_eq!(
            notices.try_recv().map(|(notice, _)| *notice),
            Some(Notice::Unpublished(key()))
        );
        assert_eq!(received(&mut media), [(0, true), (0, false)]);

        // The next publisher's stream starts clean: nothing of the old one is cached.
        let second = hub.publish(key()).unwrap();
        assert_eq!(
            notices.try_recv().map(|(notice, _)| *notice),
            Some(Notice::Published(key()))
        );
        second.send(&video(5000, true, 100)).unwrap();
        assert_eq!(received(&mut media), [(5000, false)]);
        let (late, mut late_media, _) = player(1 << 20);
        let _late = hub.play(key(), late).unwrap();
        assert_eq!(received(&mut late_media), [(5000, false)]);
        drop(second);
        drop(_playing);
        drop(_late);
        assert!(hub.keys().is_empty(), "an unused stream is forgotten");
    }

    #[test]
    fn a_publisher_back_within_the_grace_continues_the_stream_for_its_players() {
        let hub = Hub::new(HubConfig::default());
        let (handle, mut media, mut notices) = player(1 << 20);
        let _playing = hub.play(key(), handle).unwrap();
        let first = hub.publish(key()).unwrap();
        assert!(notices.try_recv().is_some(), "told of the first publisher");
        first.send(&sequence_start()).unwrap();
        first.send(&video(4000, true, 100)).unwrap();
        first.send(&video(4800, false, 100)).unwrap();
        drop(first);
        assert_eq!(
            received(&mut media),
            [(0, true), (4000, false), (4800, false)]
        );
        // Within the grace: the player is told nothing, and the stream goes on from where it
        // was, the new publisher's sequence start first.
        hub.expire(std::time::Instant::now());
        assert!(notices.try_recv().is_none(), "told within the grace");
        let second = hub.publish(key()).unwrap();
        second.send(&sequence_start()).unwrap();
        second.send(&video(0, true, 100)).unwrap();
        second.send(&video(40, false, 100)).unwrap();
        assert!(notices.try_recv().is_none(), "told of the return");
        let got = received(&mut media);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[0].1, "the sequence start first: {got:?}");
        assert!(got[1].0 >= 4800 && got[2].0 == got[1].0 + 40, "{got:?}");
        // Gone past the grace: told, once.
        drop(second);
        let later = std::time::Instant::now() + HubConfig::default().republish_grace * 2;
        hub.expire(later);
        assert_eq!(
            notices.try_recv().map(|(notice, _)| *notice),
            Some(Notice::Unpublished(key()))
        );
        hub.expire(later);
        assert!(notices.try_recv().is_none());
        // A publisher after that starts afresh, and players are told.
        let third = hub.publish(key()).unwrap();
        assert_eq!(
            notices.try_recv().map(|(notice, _)| *notice),
            Some(Notice::Published(key()))
        );
        third.send(&video(0, true, 100)).unwrap();
        assert_eq!(received(&mut media), [(0, false)]);
    }

    #[test]
    fn a_publisher_past_the_streams_budgets_is_refused() {
        let config = HubConfig {
            max_tracks: 4,
            max_header_bytes: 4096,
            max_metadata_bytes: 1024,
            ..HubConfig::default()
        };
        let hub = Hub::new(config);
        let publisher = hub.publish(key()).unwrap();
        for track in 0..4 {
            publisher
                .send(&audio_track(0, track, &[0x12, 0x10]))
                .unwrap();
        }
        // The same tracks again replace what they configured.
        publisher.send(&audio_track(0, 3, &[0x11, 0x90])).unwrap();
        let fifth = publisher.send(&audio_track(0, 4, &[0x12, 0x10]));
        assert!(matches!(
            fifth,
            Err(crate::PublishError::OverLimit {
                what: "configured tracks",
                limit: 4,
                ..
            })
        ));
        drop(publisher);
        let publisher = hub.publish(key()).unwrap();
        let large = audio_track(0, 0, &[0x12; 5000]);
        assert!(matches!(
            publisher.send(&large),
            Err(crate::PublishError::OverLimit {
                what: "configuration bytes",
                ..
            })
        ));
        let mut metadata = vec![0x02, 0x00, 0x0A];
        metadata.extend_from_slice(b"onMetaData");
        metadata.resize(2000, 0x05);
        let metadata = RawMessage::new(4, 0, type_id::DATA_AMF0, 1, metadata);
        assert!(matches!(
            publisher.send(&metadata),
            Err(crate::PublishError::OverLimit {
                what: "metadata bytes",
                limit: 1024,
                ..
            })
        ));
    }
}
