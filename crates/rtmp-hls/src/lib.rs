//! Low-Latency HLS from RTMP, sans IO: CMAF (fragmented MP4) init sections, parts and
//! segments, and the playlists that list them, all in memory as [`bytes::Bytes`].
//!
//! [`Hls`] is one stream's HLS. The serving side feeds it the router's messages
//! ([`Hls::push`], with the arrival time), tells it when the publisher leaves
//! ([`Hls::discontinuity`]) or the stream ends ([`Hls::end`]), and answers each GET with
//! [`Hls::answer`]: a body, or [`Answer::Wait`] until [`Hls::version`] changes (blocking
//! playlist reloads and preload hints), or a 400/404. No runtime, no sockets, no clock: time
//! comes in as an argument.
//!
//! - Every track is a rendition (demuxed): a video track is a variant, an audio track an
//!   alternative in the `"a"` group. H.264, H.265 and AV1 video, AAC and Opus audio, legacy or
//!   Enhanced RTMP, multitrack included; other codecs are left out ([`Hls::skipped`]).
//! - The primary track (the first video track) cuts parts at the part target and segments at
//!   its first keyframe past the segment target (the first segment at its first keyframe past
//!   a part, so that players have a segment to start from a GOP after the stream does); every
//!   rendition shares those boundaries and their numbers. Playlists are listed once every
//!   rendition has a complete segment. Video is timed at 90 kHz, audio at its sample rate.
//! - A window of segments is kept, and at most [`HlsConfig::max_bytes`] per stream.
//!
//! ```
//! use std::time::SystemTime;
//!
//! use bytes::Bytes;
//! use rtmp_chunk::RawMessage;
//! use rtmp_hls::{Answer, Hls, HlsConfig};
//!
//! let mut hls = Hls::new(HlsConfig::default());
//! assert_eq!(hls.answer("index.m3u8", None, None), Answer::Wait);
//! // An AAC sequence header (AAC-LC, 44.1 kHz, stereo), then 300 ms of AAC frames: the
//! // first segment is complete (it ends a part target in), and players can start.
//! let now = SystemTime::now();
//! hls.push(&RawMessage::new(4, 0, 8, 1, Bytes::from_static(&[0xAF, 0x00, 0x12, 0x10])), now);
//! for time in (0..300).step_by(23) {
//!     hls.push(&RawMessage::new(4, time, 8, 1, Bytes::from_static(&[0xAF, 0x01, 0x21])), now);
//! }
//! let Answer::Ready(index) = hls.answer("index.m3u8", None, Some("token=abc")) else {
//!     panic!("a segment is complete");
//! };
//! let text = String::from_utf8(index.body.to_vec()).unwrap();
//! assert!(text.contains("CODECS=\"mp4a.40.2\""));
//! assert!(text.contains("a0.m3u8?token=abc"));
//! assert_eq!(hls.answer("a0/init0.mp4", None, None).is_ready(), true);
//! assert_eq!(hls.answer("../etc/passwd", None, None), Answer::BadRequest);
//! ```

#![forbid(unsafe_code)]

mod answer;
mod cmaf;
mod codecs;
mod config;
mod hls;
mod playlist;
mod rendition;
mod time;
mod timeline;
mod track;

pub use answer::{AUDIO_TYPE, Answer, PLAYLIST_TYPE, Response, VIDEO_TYPE};
pub use config::HlsConfig;
pub use hls::Hls;
pub use track::{SkipReason, Skipped};

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
