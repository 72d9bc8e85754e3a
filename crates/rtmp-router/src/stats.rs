//! [`StreamStats`]: the figures a router keeps of a stream.

use std::time::Duration;

use rtmp_flv::{AudioCodec, VideoCodec};

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
