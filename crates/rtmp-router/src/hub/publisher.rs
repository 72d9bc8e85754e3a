//! [`HubPublisher`]: the right to publish one key of the hub, and the fan-out of each message.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rtmp_chunk::RawMessage;
use rtmp_flv::{Codec, TrackInfo, VideoKind};
use rtmp_session::StreamKey;

use super::probe::{Meter, TrackMeters, codec_of, video_size};
use super::{AUDIO_INFO_TRIES, Hub, Stream};
use crate::codecs::Conversions;
use crate::media::{MediaKind, SharedMedia};
use crate::player::Notice;
use crate::router::{PublishError, Publishing};
use crate::slot::Offered;
use crate::sync::lock;

/// [`HubPublisher::resume_at`] when the publisher starts a stream afresh.
pub(super) const NO_RESUME: u64 = u64::MAX;

/// The right to publish one key. Dropping it ends the publishing: players are told and wait.
pub struct HubPublisher {
    /// Where the first message goes in time when the publisher continues a stream whose
    /// players waited ([`NO_RESUME`] otherwise, and once the first message took it).
    pub(super) resume_at: AtomicU64,
    /// Added to every timestamp: a returning publisher's time moved on from the players'.
    pub(super) offset: AtomicU32,
    pub(super) hub: Arc<Hub>,
    pub(super) key: StreamKey,
    pub(super) stream: Arc<Mutex<Stream>>,
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
    /// A message that takes the stream past one of its budgets ([`HubConfig::max_tracks`](crate::HubConfig::max_tracks),
    /// [`HubConfig::max_header_bytes`](crate::HubConfig::max_header_bytes), [`HubConfig::max_metadata_bytes`](crate::HubConfig::max_metadata_bytes)) is not shared, and
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
        let Ok(media) = SharedMedia::new(message.clone(), self.hub.config.chunk_size) else {
            return Ok(());
        };
        let kind = media.kind();
        let config = &self.hub.config;
        let now = Instant::now();
        let mut guard = lock(&self.stream);
        let stream = &mut *guard;
        stream.last_timestamp = message.timestamp;
        let tracks_kept = config.max_tracks.saturating_mul(2);
        stream.tracks.count(&media, message, now, tracks_kept);
        let configures = matches!(
            kind,
            MediaKind::Audio {
                sequence_start: true
            } | MediaKind::Video {
                kind: VideoKind::SequenceStart,
                ..
            }
        );
        if configures {
            stream.tracks.configure(message, tracks_kept);
        }
        // The stream's own figures are those of track 0.
        let track_0 = media.single_track() == Some(0);
        let stats = &mut stream.stats;
        let codec_unknown = track_0
            && match kind {
                MediaKind::Audio { sequence_start } => {
                    sequence_start
                        || stats.audio_codec.is_none()
                        || (stats.audio_sample_rate.is_none()
                            && stats.audio_frames < AUDIO_INFO_TRIES)
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
            MediaKind::Audio { .. } => stream.stats.audio_frames += 1,
            MediaKind::Video { kind, enhanced } => {
                stream.stats.video_frames += 1;
                if kind == VideoKind::SequenceStart && track_0 {
                    stream.stats.enhanced_video = enhanced;
                }
            }
            MediaKind::Data => {}
        }
        stream
            .catch_up
            .record(&media, message)
            .map_err(|over| PublishError::OverLimit {
                key: self.key.clone(),
                what: over.what,
                limit: over.limit,
            })?;
        match kind {
            MediaKind::Video {
                kind: VideoKind::SequenceStart,
                enhanced: true,
            } if config.refuse_unannounced_enhanced => self.fail_legacy_players(stream),
            MediaKind::Data
                if rtmp_message::data_name_is(&message.payload, rtmp_message::ON_METADATA) =>
            {
                stream.tracks.metadata(&message.payload, tracks_kept);
                let (width, height, frame_rate) = video_size(&message.payload);
                let stats = &mut stream.stats;
                stats.frame_rate = frame_rate;
                // A configuration record read already knows better.
                if stats.width.is_none() {
                    (stats.width, stats.height) = (width, height);
                }
            }
            _ => {}
        }
        let policy = config.slow_player;
        let mut tally = Tally::default();
        let mut conversions = Conversions::new(&media, config.chunk_size);
        for (rendition, ring) in &stream.rings {
            if let Some(media) = conversions.for_rendition(*rendition) {
                ring.push(media);
            }
        }
        let before = stream.players.len();
        stream.players.retain_mut(|player| {
            match player.slot.offer(&mut conversions, &self.key, policy) {
                Offered::Delivered => {
                    tally.delivered += 1;
                    true
                }
                Offered::Dropped { remove } => {
                    tally.dropped += 1;
                    !remove
                }
                Offered::Passed => true,
                Offered::Gone => false,
            }
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
        if let Some((rate_in, rate_out)) = stream.meter.add(bytes_in, bytes_out, now) {
            (stream.stats.bitrate, stream.stats.bitrate_out) = (rate_in, rate_out);
        }
        stream.stats.dropped += tally.dropped;
        if tally.dropped > 0 {
            self.hub.dropped.fetch_add(tally.dropped, Ordering::Relaxed);
        }
        Ok(())
    }

    fn fail_legacy_players(&self, stream: &mut Stream) {
        stream.remove_players(|player| {
            if player.slot.handle().enhanced() {
                return true;
            }
            let reason = format!(
                "{} carries Enhanced RTMP video; connect with a fourCcList to play it",
                self.key
            );
            player
                .slot
                .handle()
                .notify(Notice::Failed(self.key.clone(), reason));
            false
        });
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
            stream.catch_up.clear();
            stream.meter = Meter::default();
            stream.tracks = TrackMeters::default();
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
                player.slot.restart();
                if !waited {
                    player
                        .slot
                        .handle()
                        .notify(Notice::Unpublished(self.key.clone()));
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

/// Messages queued and dropped in one fan-out.
#[derive(Default)]
struct Tally {
    delivered: u64,
    dropped: u64,
}
