//! What a track carries, read from its codec configuration: picture size for video, sample
//! rate and channels for audio, whatever the codec.

use crate::ac3::Ac3Info;
use crate::audio::AudioCodec;
use crate::av1::Av1Config;
use crate::avc::{AvcConfig, AvcSps};
use crate::flac::FlacStreamInfo;
use crate::frame::{Codec, Frame, FrameKind};
use crate::hevc::{HevcConfig, HevcSps};
use crate::opus::OpusHead;
use crate::video::VideoCodec;
use crate::vp9::VpcConfig;
use crate::vvc::VvcConfig;

/// A track's main properties, as far as its configuration tells.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackInfo {
    /// Picture width in pixels (video).
    pub width: Option<u32>,
    /// Picture height in pixels (video).
    pub height: Option<u32>,
    /// Bits per sample (video, where the configuration says).
    pub bit_depth: Option<u8>,
    /// Samples per second (audio).
    pub sample_rate: Option<u32>,
    /// Channels (audio).
    pub channels: Option<u8>,
}

impl TrackInfo {
    /// What `frame` tells of its track: a sequence start's configuration record (AVC, HEVC,
    /// AV1, VP8/VP9, VVC, AAC, Opus, FLAC, AC-3/E-AC-3 boxes), or an AC-3 or E-AC-3 frame's
    /// header (their sequence start may be empty). `None` for other frames, codecs without a
    /// parser (MP3, G.711) and configurations that do not parse.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use rtmp_flv::{AudioCodec, Codec, Frame, FrameKind, TrackInfo};
    ///
    /// let config = Frame {
    ///     codec: Codec::Audio(AudioCodec::Aac),
    ///     track_id: 0,
    ///     kind: FrameKind::SequenceStart,
    ///     dts: 0,
    ///     composition_time: 0,
    ///     timestamp_offset_nanos: 0,
    ///     data: Bytes::from_static(&[0x12, 0x10]), // AAC LC, 44.1 kHz, stereo
    /// };
    /// let info = TrackInfo::of(&config).unwrap();
    /// assert_eq!((info.sample_rate, info.channels), (Some(44_100), Some(2)));
    /// ```
    pub fn of(frame: &Frame) -> Option<Self> {
        let data = &frame.data;
        if frame.kind != FrameKind::SequenceStart {
            return match (frame.codec, frame.kind) {
                (Codec::Audio(AudioCodec::Ac3 | AudioCodec::Eac3), FrameKind::Inter) => {
                    Ac3Info::from_frame(data).ok().map(ac3)
                }
                _ => None,
            };
        }
        let video = |width: u32, height: u32, bit_depth: Option<u8>| TrackInfo {
            width: Some(width),
            height: Some(height),
            bit_depth,
            ..Self::default()
        };
        let audio = |sample_rate: u32, channels: u8| TrackInfo {
            sample_rate: Some(sample_rate),
            channels: Some(channels),
            ..Self::default()
        };
        match frame.codec {
            Codec::Video(VideoCodec::Avc) => {
                let config = AvcConfig::parse(data).ok()?;
                let sps = AvcSps::parse(config.sps.first()?).ok()?;
                Some(video(sps.width, sps.height, None))
            }
            Codec::Video(VideoCodec::Hevc) => {
                let config = HevcConfig::parse(data).ok()?;
                let sps = HevcSps::parse(config.units(33).next()?).ok()?;
                Some(video(sps.width, sps.height, None))
            }
            Codec::Video(VideoCodec::Av1) => {
                let header = Av1Config::parse(data).ok()?.sequence_header()?.ok()?;
                Some(video(header.width, header.height, None))
            }
            Codec::Video(VideoCodec::Vvc) => {
                let ptl = VvcConfig::parse(data).ok()?.ptl?;
                let (width, height) = (ptl.max_picture_width, ptl.max_picture_height);
                Some(video(width.into(), height.into(), Some(ptl.bit_depth)))
            }
            Codec::Video(VideoCodec::Vp9 | VideoCodec::Vp8) => {
                let config = VpcConfig::parse(data).ok()?;
                Some(TrackInfo {
                    bit_depth: Some(config.bit_depth),
                    ..Self::default()
                })
            }
            Codec::Audio(AudioCodec::Aac) => {
                let config = crate::aac::AudioSpecificConfig::parse(data).ok()?;
                Some(audio(
                    config.sampling_frequency,
                    config.channel_configuration,
                ))
            }
            Codec::Audio(AudioCodec::Opus) => {
                // Opus always decodes at 48 kHz.
                Some(audio(48_000, OpusHead::parse(data).ok()?.channels))
            }
            Codec::Audio(AudioCodec::Flac) => {
                let info = FlacStreamInfo::parse(data).ok()?;
                Some(audio(info.sample_rate, info.channels))
            }
            Codec::Audio(AudioCodec::Ac3) if !data.is_empty() => {
                Ac3Info::from_dac3(data).ok().map(ac3)
            }
            Codec::Audio(AudioCodec::Eac3) if !data.is_empty() => {
                Ac3Info::from_dec3(data).ok().map(ac3)
            }
            _ => None,
        }
    }
}

fn ac3(info: Ac3Info) -> TrackInfo {
    TrackInfo {
        sample_rate: Some(info.sample_rate),
        channels: Some(info.channels()),
        ..TrackInfo::default()
    }
}
