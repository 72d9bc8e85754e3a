//! Audio tag data (the payload of RTMP audio messages): the legacy header (SoundFormat, rate,
//! size, channels; AAC packets) and the Enhanced RTMP ExAudioTagHeader (FourCC, multitrack,
//! ModEx).

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{Error, invalid};
use crate::read::Reader;
use crate::track::{self, FourCc, MOD_EX, MultitrackType, RawTrack};

const FORMAT_MP3: u8 = 2;
const FORMAT_ALAW: u8 = 7;
const FORMAT_MULAW: u8 = 8;
const FORMAT_EX_HEADER: u8 = 9;
const FORMAT_AAC: u8 = 10;

/// An audio codec, by legacy SoundFormat or Enhanced RTMP FourCC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioCodec {
    /// AAC: SoundFormat 10, FourCC `mp4a`.
    Aac,
    /// G.711 A-law: SoundFormat 7 (no FourCC).
    G711ALaw,
    /// G.711 mu-law: SoundFormat 8 (no FourCC).
    G711MuLaw,
    /// MP3: SoundFormat 2, FourCC `.mp3`.
    Mp3,
    /// Opus: FourCC `Opus`.
    Opus,
    /// FLAC: FourCC `fLaC`.
    Flac,
    /// AC-3: FourCC `ac-3`.
    Ac3,
    /// E-AC-3: FourCC `ec-3`.
    Eac3,
    /// Another legacy SoundFormat (0 PCM, 1 ADPCM, 4-6 Nellymoser, 11 Speex, 14 MP3 8 kHz, ...).
    Legacy(u8),
    /// Another FourCC, kept as sent.
    Other(FourCc),
}

/// The codec's common name ("AAC", "Opus", "G.711 A-law", ...); an unknown FourCC shows as
/// its four characters, an unknown legacy SoundFormat as its number.
impl std::fmt::Display for AudioCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AudioCodec::Aac => f.write_str("AAC"),
            AudioCodec::G711ALaw => f.write_str("G.711 A-law"),
            AudioCodec::G711MuLaw => f.write_str("G.711 mu-law"),
            AudioCodec::Mp3 => f.write_str("MP3"),
            AudioCodec::Opus => f.write_str("Opus"),
            AudioCodec::Flac => f.write_str("FLAC"),
            AudioCodec::Ac3 => f.write_str("AC-3"),
            AudioCodec::Eac3 => f.write_str("E-AC-3"),
            AudioCodec::Legacy(format) => write!(f, "SoundFormat {format}"),
            AudioCodec::Other(fourcc) => f.write_str(&String::from_utf8_lossy(fourcc)),
        }
    }
}

impl AudioCodec {
    /// The codec of a FourCC.
    pub fn from_fourcc(fourcc: FourCc) -> Self {
        match &fourcc {
            b"mp4a" => AudioCodec::Aac,
            b".mp3" => AudioCodec::Mp3,
            b"Opus" => AudioCodec::Opus,
            b"fLaC" => AudioCodec::Flac,
            b"ac-3" => AudioCodec::Ac3,
            b"ec-3" => AudioCodec::Eac3,
            _ => AudioCodec::Other(fourcc),
        }
    }

    /// The FourCC, for codecs Enhanced RTMP can carry.
    pub fn fourcc(self) -> Option<FourCc> {
        Some(match self {
            AudioCodec::Aac => *b"mp4a",
            AudioCodec::Mp3 => *b".mp3",
            AudioCodec::Opus => *b"Opus",
            AudioCodec::Flac => *b"fLaC",
            AudioCodec::Ac3 => *b"ac-3",
            AudioCodec::Eac3 => *b"ec-3",
            AudioCodec::Other(fourcc) => fourcc,
            AudioCodec::G711ALaw | AudioCodec::G711MuLaw | AudioCodec::Legacy(_) => return None,
        })
    }

    /// The legacy SoundFormat, for codecs the legacy header can carry.
    pub fn sound_format(self) -> Option<u8> {
        match self {
            AudioCodec::Aac => Some(FORMAT_AAC),
            AudioCodec::G711ALaw => Some(FORMAT_ALAW),
            AudioCodec::G711MuLaw => Some(FORMAT_MULAW),
            AudioCodec::Mp3 => Some(FORMAT_MP3),
            AudioCodec::Legacy(format) => Some(format),
            _ => None,
        }
    }

    fn from_sound_format(format: u8) -> Self {
        match format {
            FORMAT_AAC => AudioCodec::Aac,
            FORMAT_ALAW => AudioCodec::G711ALaw,
            FORMAT_MULAW => AudioCodec::G711MuLaw,
            FORMAT_MP3 => AudioCodec::Mp3,
            other => AudioCodec::Legacy(other),
        }
    }
}

/// The rate, size and channel bits of the legacy header. For AAC they are fixed (44 kHz,
/// 16-bit, stereo) and the real values are in the AudioSpecificConfig; for G.711 ffmpeg writes
/// rate index 0 whatever the real rate (8 kHz).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LegacyAudioFormat {
    /// SoundRate: 0 = 5.5 kHz, 1 = 11 kHz, 2 = 22 kHz, 3 = 44 kHz.
    pub rate: u8,
    /// SoundSize: true for 16-bit samples.
    pub sixteen_bit: bool,
    /// SoundType: true for stereo.
    pub stereo: bool,
}

impl LegacyAudioFormat {
    /// The bits AAC always carries: 44 kHz, 16-bit, stereo.
    pub const AAC: Self = Self {
        rate: 3,
        sixteen_bit: true,
        stereo: true,
    };

    fn from_bits(byte: u8) -> Self {
        Self {
            rate: (byte >> 2) & 0x03,
            sixteen_bit: byte & 0x02 != 0,
            stereo: byte & 0x01 != 0,
        }
    }

    fn bits(self) -> u8 {
        (self.rate & 0x03) << 2 | u8::from(self.sixteen_bit) << 1 | u8::from(self.stereo)
    }
}

/// What an audio track carries in one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioPacket {
    /// The codec configuration (AAC AudioSpecificConfig, Opus ID header, FLAC stream info).
    SequenceStart(Bytes),
    /// Coded audio (for legacy codecs without packet types: everything after the header byte).
    CodedFrames(Bytes),
    /// The end of the sequence.
    SequenceEnd,
    /// Enhanced RTMP channel configuration (order, count, mapping or flags), as sent.
    MultichannelConfig(Bytes),
}

/// One track of an audio message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioTrack {
    /// The track id (0 without multitrack).
    pub track_id: u8,
    /// The codec.
    pub codec: AudioCodec,
    /// What the track carries.
    pub packet: AudioPacket,
}

/// The parsed data of an audio tag or RTMP audio message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioTag {
    /// The legacy header's rate/size/channel bits; `None` for the enhanced form.
    pub legacy: Option<LegacyAudioFormat>,
    /// ModEx TimestampOffsetNano: nanoseconds added to the message timestamp.
    pub timestamp_offset_nanos: u32,
    /// The multitrack layout, `None` for a single track without a multitrack header.
    pub multitrack: Option<MultitrackType>,
    /// The tracks (one without multitrack).
    pub tracks: Vec<AudioTrack>,
}

/// Enhanced AudioPacketType values.
struct PacketType;

impl PacketType {
    const SEQUENCE_START: u8 = 0;
    const CODED_FRAMES: u8 = 1;
    const SEQUENCE_END: u8 = 2;
    const MULTICHANNEL_CONFIG: u8 = 4;
    const MULTITRACK: u8 = 5;
}

impl AudioTag {
    /// Parses audio tag data. Audio slices share memory with `data`.
    pub fn parse(data: &Bytes) -> Result<Self, Error> {
        let mut reader = Reader::new(data, "audio tag");
        let first = reader.u8()?;
        let format = first >> 4;
        if format != FORMAT_EX_HEADER {
            let codec = AudioCodec::from_sound_format(format);
            let packet = if codec == AudioCodec::Aac {
                match reader.u8()? {
                    0 => AudioPacket::SequenceStart(reader.rest()),
                    1 => AudioPacket::CodedFrames(reader.rest()),
                    _ => return Err(invalid("AAC audio packet", "packet type is not 0 or 1")),
                }
            } else {
                AudioPacket::CodedFrames(reader.rest())
            };
            return Ok(AudioTag {
                legacy: Some(LegacyAudioFormat::from_bits(first)),
                timestamp_offset_nanos: 0,
                multitrack: None,
                tracks: vec![AudioTrack {
                    track_id: 0,
                    codec,
                    packet,
                }],
            });
        }
        let (mut packet_type, timestamp_offset_nanos) =
            track::read_mod_ex(&mut reader, first & 0x0F)?;
        let mut multitrack = None;
        let raw_tracks = if packet_type == PacketType::MULTITRACK {
            let byte = reader.u8()?;
            let layout = MultitrackType::from_bits(byte >> 4)?;
            packet_type = byte & 0x0F;
            if packet_type == PacketType::MULTITRACK || packet_type == MOD_EX {
                return Err(invalid(
                    "audio multitrack",
                    "nested multitrack or ModEx packet type",
                ));
            }
            multitrack = Some(layout);
            let shared = match layout {
                MultitrackType::ManyTracksManyCodecs => None,
                _ => Some(reader.fourcc()?),
            };
            track::read_tracks(&mut reader, layout, shared)?
        } else {
            vec![RawTrack {
                fourcc: reader.fourcc()?,
                track_id: 0,
                body: reader.rest(),
            }]
        };
        let tracks = raw_tracks
            .into_iter()
            .map(|raw| {
                let packet = match packet_type {
                    PacketType::SEQUENCE_START => AudioPacket::SequenceStart(raw.body),
                    PacketType::CODED_FRAMES => AudioPacket::CodedFrames(raw.body),
                    PacketType::SEQUENCE_END => AudioPacket::SequenceEnd,
                    PacketType::MULTICHANNEL_CONFIG => AudioPacket::MultichannelConfig(raw.body),
                    _ => return Err(invalid("enhanced audio tag", "unknown audio packet type")),
                };
                Ok(AudioTrack {
                    track_id: raw.track_id,
                    codec: AudioCodec::from_fourcc(raw.fourcc),
                    packet,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(AudioTag {
            legacy: None,
            timestamp_offset_nanos,
            multitrack,
            tracks,
        })
    }

    /// A single-track tag: legacy when `legacy` is given and the codec has a SoundFormat,
    /// enhanced otherwise.
    pub fn single(
        codec: AudioCodec,
        packet: AudioPacket,
        legacy: Option<LegacyAudioFormat>,
    ) -> Self {
        AudioTag {
            legacy: legacy.filter(|_| codec.sound_format().is_some()),
            timestamp_offset_nanos: 0,
            multitrack: None,
            tracks: vec![AudioTrack {
                track_id: 0,
                codec,
                packet,
            }],
        }
    }

    /// Whether any track carries a sequence start (codec configuration).
    pub fn is_sequence_start(&self) -> bool {
        self.tracks
            .iter()
            .any(|track| matches!(track.packet, AudioPacket::SequenceStart(_)))
    }

    /// Writes the tag data.
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), Error> {
        match self.legacy {
            Some(format) => self.encode_legacy(format, dst),
            None => self.encode_enhanced(dst),
        }
    }

    /// The tag data as a new buffer.
    pub fn to_bytes(&self) -> Result<Bytes, Error> {
        let mut dst = BytesMut::new();
        self.encode(&mut dst)?;
        Ok(dst.freeze())
    }

    fn encode_legacy(&self, format: LegacyAudioFormat, dst: &mut BytesMut) -> Result<(), Error> {
        let not_legacy = invalid("legacy audio tag", "needs a single track of a legacy codec");
        let ([track], None, 0) = (
            self.tracks.as_slice(),
            self.multitrack,
            self.timestamp_offset_nanos,
        ) else {
            return Err(not_legacy);
        };
        let sound_format = track.codec.sound_format().ok_or(not_legacy)?;
        dst.put_u8(sound_format << 4 | format.bits());
        match (&track.packet, track.codec) {
            (AudioPacket::SequenceStart(data), AudioCodec::Aac) => {
                dst.put_u8(0);
                dst.put_slice(data);
            }
            (AudioPacket::CodedFrames(data), AudioCodec::Aac) => {
                dst.put_u8(1);
                dst.put_slice(data);
            }
            (AudioPacket::CodedFrames(data), _) => dst.put_slice(data),
            _ => return Err(invalid("legacy audio tag", "packet has no legacy form")),
        }
        Ok(())
    }

    fn encode_enhanced(&self, dst: &mut BytesMut) -> Result<(), Error> {
        let encoded: Vec<(u8, RawTrack)> = self
            .tracks
            .iter()
            .map(|track| {
                let fourcc = track
                    .codec
                    .fourcc()
                    .ok_or(invalid("enhanced audio tag", "codec has no FourCC"))?;
                let (packet_type, body) = match &track.packet {
                    AudioPacket::SequenceStart(data) => (PacketType::SEQUENCE_START, data.clone()),
                    AudioPacket::CodedFrames(data) => (PacketType::CODED_FRAMES, data.clone()),
                    AudioPacket::SequenceEnd => (PacketType::SEQUENCE_END, Bytes::new()),
                    AudioPacket::MultichannelConfig(data) => {
                        (PacketType::MULTICHANNEL_CONFIG, data.clone())
                    }
                };
                Ok((
                    packet_type,
                    RawTrack {
                        fourcc,
                        track_id: track.track_id,
                        body,
                    },
                ))
            })
            .collect::<Result<_, Error>>()?;
        let nanos = self.timestamp_offset_nanos;
        track::write_enhanced_body(
            dst,
            "enhanced audio tag",
            self.multitrack,
            PacketType::MULTITRACK,
            encoded,
            |dst, packet_type| {
                if nanos == 0 {
                    dst.put_u8(FORMAT_EX_HEADER << 4 | packet_type);
                } else {
                    dst.put_u8(FORMAT_EX_HEADER << 4 | MOD_EX);
                    track::write_mod_ex(dst, nanos, packet_type);
                }
            },
        )
    }
}

/// How the channels of a MultichannelConfig are ordered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelOrder {
    /// 0: only the count is known.
    Unspecified,
    /// 1: the native order, with a bit per channel present (bit 0 front left, 1 front right,
    /// ...).
    Native {
        /// The AudioChannelMask flags.
        flags: u32,
    },
    /// 2: one AudioChannel value per channel, in order.
    Custom {
        /// The channel of each position.
        mapping: Vec<u8>,
    },
}

/// The body of an Enhanced RTMP MultichannelConfig audio packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultichannelConfig {
    /// The number of channels.
    pub channel_count: u8,
    /// Their order.
    pub order: ChannelOrder,
}

impl MultichannelConfig {
    /// Parses the body of [`AudioPacket::MultichannelConfig`].
    pub fn parse(data: &Bytes) -> Result<Self, Error> {
        let mut reader = Reader::new(data, "MultichannelConfig");
        let order = reader.u8()?;
        let channel_count = reader.u8()?;
        let order = match order {
            0 => ChannelOrder::Unspecified,
            1 => ChannelOrder::Native {
                flags: reader.u32()?,
            },
            2 => ChannelOrder::Custom {
                mapping: reader.take(usize::from(channel_count))?.to_vec(),
            },
            _ => return Err(invalid("MultichannelConfig", "reserved channel order")),
        };
        Ok(Self {
            channel_count,
            order,
        })
    }

    /// The packet body.
    pub fn to_bytes(&self) -> Bytes {
        let mut dst = BytesMut::new();
        match &self.order {
            ChannelOrder::Unspecified => dst.put_slice(&[0, self.channel_count]),
            ChannelOrder::Native { flags } => {
                dst.put_slice(&[1, self.channel_count]);
                dst.put_u32(*flags);
            }
            ChannelOrder::Custom { mapping } => {
                dst.put_slice(&[2, mapping.len().min(255) as u8]);
                dst.put_slice(mapping.get(..255.min(mapping.len())).unwrap_or_default());
            }
        }
        dst.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multichannel_config_forms() {
        for config in [
            MultichannelConfig {
                channel_count: 2,
                order: ChannelOrder::Unspecified,
            },
            MultichannelConfig {
                channel_count: 6,
                order: ChannelOrder::Native { flags: 0x3F },
            },
            MultichannelConfig {
                channel_count: 3,
                order: ChannelOrder::Custom {
                    mapping: vec![0, 1, 3],
                },
            },
        ] {
            assert_eq!(
                MultichannelConfig::parse(&config.to_bytes()).unwrap(),
                config
            );
        }
        assert!(MultichannelConfig::parse(&Bytes::from_static(&[2, 4, 0, 1])).is_err());
        assert!(MultichannelConfig::parse(&Bytes::from_static(&[3, 1])).is_err());
    }
}
