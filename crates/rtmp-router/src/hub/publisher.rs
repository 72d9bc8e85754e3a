//! [`HubPublisher`]: the right to publish one key of the hub, and the fan-out of each message.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rtmp_chunk::RawMessage;
use rtmp_flv::VideoKind;
use rtmp_session::StreamKey;

use super::probe::{Meter, TrackMeters};
use super::{Shared, Stream};
use crate::codecs::Conversions;
use crate::media::{MediaKind, SharedMedia};
use crate::player::Notice;
use crate::router::{PublishError, Publishing};
use crate::slot::Offered;
use crate::sync::lock;

/// [`HubPublisher::resume_at`] when the publisher starts a stream afresh.
pub(super) const NO_RESUME: u64 = u64::MAX;

/// The right to publish one key. Dropping it ends the publishing: players are told and wait.
pub(crate) struct HubPublisher {
    /// Where the first message goes in time when the publisher continues a stream whose
    /// players waited ([`NO_RESUME`] otherwise, and once the first message took it).
    pub(super) resume_at: AtomicU64,
    /// Added to every timestamp: a returning publisher's time moved on from the players'.
    pub(super) offset: AtomicU32,
    pub(super) hub: Arc<Shared>,
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
    /// Shares an audio, video or data message with every player. Timestamps pass through.
    ///
    /// A message that takes the stream past one of its budgets ([`HubConfig::max_tracks`](crate::HubConfig::max_tracks),
    /// [`HubConfig::max_header_bytes`](crate::HubConfig::max_header_bytes), [`HubConfig::max_metadata_bytes`](crate::HubConfig::max_metadata_bytes)) is not shared, and
    /// the error says which; the publisher should then be stopped.
    pub fn send(&self, message: &RawMessage) -> Result<(), PublishError> {
        let rebased;
        let message = match self.offset_of(message) {
            0 => message,
            offset => {
                let mut moved = message.clone();
                moved.timestamp = moved.timestamp.wrapping_add(offset);
                rebased = moved;
                &rebased
            }
        };
        let config = &self.hub.config;
        let Ok(media) = SharedMedia::new(message.clone(), config.chunk_size) else {
            return Ok(());
        };
        let now = Instant::now();
        let mut guard = lock(&self.stream);
        let stream = &mut *guard;
        stream.count(&media, message, now, config.max_tracks.saturating_mul(2));
        stream
            .catch_up
            .record(&media, message)
            .map_err(|over| PublishError::OverLimit {
                key: self.key.clone(),
                what: over.what,
                limit: over.limit,
            })?;
        let enhanced_config = MediaKind::Video {
            kind: VideoKind::SequenceStart,
            enhanced: true,
        };
        if media.kind() == enhanced_config && config.refuse_unannounced_enhanced {
            self.fail_legacy_players(stream);
        }
        let tally = self.fan_out(stream, &media);
        let (bytes_in, bytes_out) = (
            message.payload.len() as u64,
            message.payload.len() as u64 * tally.delivered + stream.taken_from_ring(),
        );
        stream.count_bytes(bytes_in, bytes_out, now);
        stream.stats.dropped += tally.dropped;
        if tally.dropped > 0 {
            self.hub.dropped.fetch_add(tally.dropped, Ordering::Relaxed);
        }
        Ok(())
    }

    /// What to add to `message`'s timestamp: a returning publisher's first message sets it,
    /// so that its players' time goes on from where they were.
    fn offset_of(&self, message: &RawMessage) -> u32 {
        let resume_at = self.resume_at.load(Ordering::Relaxed);
        if resume_at != NO_RESUME {
            self.resume_at.store(NO_RESUME, Ordering::Relaxed);
            let offset = (resume_at as u32).wrapping_sub(message.timestamp);
            self.offset.store(offset, Ordering::Relaxed);
        }
        self.offset.load(Ordering::Relaxed)
    }

    /// Shares `media` with `stream`'s players: once into each rendition's ring, and into the
    /// queue of each player that has its own.
    fn fan_out(&self, stream: &mut Stream, media: &crate::Media) -> Tally {
        let config = &self.hub.config;
        let mut tally = Tally::default();
        let mut conversions = Conversions::new(media, config.chunk_size);
        for (rendition, ring) in &stream.rings {
            if let Some(media) = conversions.for_rendition(*rendition) {
                ring.push(media);
            }
        }
        let before = stream.players.len();
        stream.players.retain_mut(|player| {
            match player
                .slot
                .offer(&mut conversions, &self.key, config.slow_player)
            {
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
        tally
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
