//! What a track's sequence start makes: its init section, `CODECS` string, timescale and
//! picture size; or why the track is left out ([`Skipped`]).

use bytes::Bytes;
use rtmp_flv::aac::AudioSpecificConfig;
use rtmp_flv::av1::Av1Config;
use rtmp_flv::avc::AvcConfig;
use rtmp_flv::hevc::HevcConfig;
use rtmp_flv::opus::OpusHead;
use rtmp_flv::{AudioCodec, Codec, Frame, TrackInfo, VideoCodec};

use crate::cmaf::{self, Entry};
use crate::codecs;

/// The timescale of every video track: 90 kHz, so millisecond timestamps convert exactly.
pub(crate) const VIDEO_TIMESCALE: u32 = 90_000;

/// A track of the stream left out of the playlists.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Skipped {
    /// The track id (0 without multitrack).
    pub track_id: u8,
    /// The codec the track carries.
    pub codec: Codec,
    /// Why it is left out.
    pub reason: SkipReason,
}

/// Why a track is left out of the playlists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SkipReason {
    /// The codec has no fMP4 sample entry here (G.711, MP3, Speex, Nellymoser, VP8/VP9, ...).
    UnsupportedCodec,
    /// The sequence start does not parse as the codec's configuration record.
    BadConfiguration,
    /// The stream already has as many renditions as one stream may have.
    TooManyTracks,
}

/// "codec not carried in fMP4", "bad configuration record", "too many tracks".
impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SkipReason::UnsupportedCodec => "codec not carried in fMP4 HLS",
            SkipReason::BadConfiguration => "bad configuration record",
            SkipReason::TooManyTracks => "too many tracks",
        })
    }
}

/// "track 0 (G.711 A-law audio): codec not carried in fMP4 HLS".
impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "track {} ({}): {}",
            self.track_id, self.codec, self.reason
        )
    }
}

/// Whether a codec can become a rendition.
pub(crate) fn supported(codec: Codec) -> bool {
    matches!(
        codec,
        Codec::Video(VideoCodec::Avc | VideoCodec::Hevc | VideoCodec::Av1)
            | Codec::Audio(AudioCodec::Aac | AudioCodec::Opus)
    )
}

/// A track's configuration, ready for the playlists and the fragments.
#[derive(Debug, Clone)]
pub(crate) struct Setup {
    /// The sequence start as received (to tell a repeat from a change).
    pub config: Bytes,
    /// The init section.
    pub init: Bytes,
    /// The `CODECS` value.
    pub codec_string: String,
    /// Ticks per second of the track's decode times.
    pub timescale: u32,
    /// Picture width and height, where the configuration tells.
    pub size: Option<(u32, u32)>,
}

impl Setup {
    /// The setup of a sequence start frame of a supported codec.
    pub(crate) fn of(frame: &Frame) -> Result<Self, SkipReason> {
        let bad = |_| SkipReason::BadConfiguration;
        let data = &frame.data;
        let info = TrackInfo::of(frame).unwrap_or_default();
        let size = info.width.zip(info.height);
        let (entry, codec_string, timescale) = match frame.codec {
            Codec::Video(VideoCodec::Avc) => {
                let config = AvcConfig::parse(data).map_err(bad)?;
                (
                    Entry::Avc(data.clone()),
                    codecs::avc(&config),
                    VIDEO_TIMESCALE,
                )
            }
            Codec::Video(VideoCodec::Hevc) => {
                let config = HevcConfig::parse(data).map_err(bad)?;
                (
                    Entry::Hevc(data.clone()),
                    codecs::hevc(&config),
                    VIDEO_TIMESCALE,
                )
            }
            Codec::Video(VideoCodec::Av1) => {
                let config = Av1Config::parse(data).map_err(bad)?;
                (
                    Entry::Av1(data.clone()),
                    codecs::av1(&config),
                    VIDEO_TIMESCALE,
                )
            }
            Codec::Audio(AudioCodec::Aac) => {
                let config = AudioSpecificConfig::parse(data).map_err(bad)?;
                if config.sampling_frequency == 0 {
                    return Err(SkipReason::BadConfiguration);
                }
                let entry = Entry::Aac {
                    config: data.clone(),
                    sample_rate: config.sampling_frequency,
                    channels: config.channel_configuration,
                };
                (entry, codecs::aac(&config), config.sampling_frequency)
            }
            Codec::Audio(AudioCodec::Opus) => {
                let head = OpusHead::parse(data).map_err(bad)?;
                (Entry::Opus(head), codecs::OPUS.to_owned(), 48_000)
            }
            _ => return Err(SkipReason::UnsupportedCodec),
        };
        let init = cmaf::init_section(&entry, timescale, size)
            .map_err(|_| SkipReason::BadConfiguration)?;
        Ok(Self {
            config: data.clone(),
            init,
            codec_string,
            timescale,
            size,
        })
    }
}
