//! [`StreamStats`]: the figures a router keeps of a stream.

use std::time::Duration;

use rtmp_flv::{AudioCodec, Codec, VideoCodec};

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
    /// Each track's figures, video tracks first, by id. A stream without multitrack has video
    /// track 0 and audio track 0; the stream's own figures above are those of track 0.
    pub tracks: Vec<TrackStats>,
}

/// Figures of one track of a stream: one rendition of a multitrack stream's video, or one of
/// its audio tracks.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TrackStats {
    /// Video or audio.
    pub video: bool,
    /// The track id (0 without multitrack).
    pub id: u8,
    /// The codec, from the track's sequence start.
    pub codec: Option<Codec>,
    /// Picture width in pixels: from the configuration record, else from the metadata's track
    /// map (`videoTrackIdInfoMap`, or `width` for track 0).
    pub width: Option<u32>,
    /// Picture height in pixels, from the same sources.
    pub height: Option<u32>,
    /// Frames per second received, over the last full second.
    pub frame_rate: Option<f64>,
    /// Samples per second (audio), from the configuration.
    pub sample_rate: Option<u32>,
    /// Channels (audio), from the configuration.
    pub channels: Option<u8>,
    /// Bits per second of the track's media received, over the last full second.
    pub bitrate: u64,
    /// Frames received.
    pub frames: u64,
    /// Players that take this track: those of its rendition, and those of every track.
    pub players: usize,
}

impl TrackStats {
    /// Nothing known yet of a track.
    pub fn new(video: bool, id: u8) -> Self {
        Self {
            video,
            id,
            codec: None,
            width: None,
            height: None,
            frame_rate: None,
            sample_rate: None,
            channels: None,
            bitrate: 0,
            frames: 0,
            players: 0,
        }
    }
}

impl Eq for TrackStats {}

// Frame rates are finite numbers from metadata; equality compares them bit for bit.
impl Eq for StreamStats {}
