//! A stream's figures, counted as each message is published: per track, the stream's own
//! (track 0's codecs, size and rates), and its bytes in and out.

use std::time::Instant;

use rtmp_chunk::RawMessage;
use rtmp_flv::{Codec, TrackInfo, VideoKind};

use super::probe::{codec_of, video_size};
use super::{AUDIO_INFO_TRIES, Stream};
use crate::media::{Media, MediaKind};

impl Stream {
    /// Counts `media` (published as `message` at `now`) in the stream's figures, keeping at
    /// most `tracks_kept` tracks' figures.
    pub(super) fn count(
        &mut self,
        media: &Media,
        message: &RawMessage,
        now: Instant,
        tracks_kept: usize,
    ) {
        let kind = media.kind();
        self.last_timestamp = message.timestamp;
        self.tracks.count(media, message, now, tracks_kept);
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
            self.tracks.configure(message, tracks_kept);
        }
        // The stream's own figures are those of track 0.
        let track_0 = media.single_track() == Some(0);
        if track_0 {
            self.probe_codec(kind, message);
        }
        match kind {
            MediaKind::Audio { .. } => self.stats.audio_frames += 1,
            MediaKind::Video { kind, enhanced } => {
                self.stats.video_frames += 1;
                if kind == VideoKind::SequenceStart && track_0 {
                    self.stats.enhanced_video = enhanced;
                }
            }
            MediaKind::Data
                if rtmp_message::data_name_is(&message.payload, rtmp_message::ON_METADATA) =>
            {
                self.tracks.metadata(&message.payload, tracks_kept);
                let (width, height, frame_rate) = video_size(&message.payload);
                let stats = &mut self.stats;
                stats.frame_rate = frame_rate;
                // A configuration record read already knows better.
                if stats.width.is_none() {
                    (stats.width, stats.height) = (width, height);
                }
            }
            MediaKind::Data => {}
        }
    }

    /// Reads track 0's codec (and its size or sample rate) from `message`, while the figures
    /// do not know them yet or a configuration may change them.
    fn probe_codec(&mut self, kind: MediaKind, message: &RawMessage) {
        let stats = &mut self.stats;
        let unknown = match kind {
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
        if !unknown {
            return;
        }
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

    /// Counts `bytes_in` from the publisher and `bytes_out` to players at `now`, and the
    /// bitrates once a second.
    pub(super) fn count_bytes(&mut self, bytes_in: u64, bytes_out: u64, now: Instant) {
        self.stats.bytes += bytes_in;
        self.stats.bytes_out += bytes_out;
        if let Some((rate_in, rate_out)) = self.meter.add(bytes_in, bytes_out, now) {
            (self.stats.bitrate, self.stats.bitrate_out) = (rate_in, rate_out);
        }
    }
}
