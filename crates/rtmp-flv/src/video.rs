//! Video tag data (the payload of RTMP video messages): the legacy header (FrameType + CodecID,
//! AVC and HEVC-under-12 packets) and the Enhanced RTMP ExVideoTagHeader (FourCC, multitrack,
//! ModEx).

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{Error, invalid};
use crate::read::Reader;
use crate::track::{self, FourCc, MOD_EX, MultitrackType, RawTrack};

const LEGACY_AVC: u8 = 7;
const LEGACY_HEVC: u8 = 12;
const MULTITRACK: u8 = 6;

/// A video codec, by legacy CodecID or Enhanced RTMP FourCC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    /// H.264: legacy CodecID 7, FourCC `avc1`.
    Avc,
    /// H.265: CodecID 12 (a widespread extension), FourCC `hvc1`.
    Hevc,
    /// AV1: FourCC `av01`.
    Av1,
    /// VP9: FourCC `vp09`.
    Vp9,
    /// VP8: FourCC `vp08`.
    Vp8,
    /// H.266: FourCC `vvc1`.
    Vvc,
    /// Another legacy CodecID (2 Sorenson H.263, 3 screen video, 4 VP6, ...).
    Legacy(u8),
    /// Another FourCC, kept as sent.
    Other(FourCc),
}

/// The codec's common name ("H.264", "H.265", "AV1", ...); an unknown FourCC shows as its
/// four characters, an unknown legacy CodecID as its number.
impl std::fmt::Display for VideoCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VideoCodec::Avc => f.write_str("H.264"),
            VideoCodec::Hevc => f.write_str("H.265"),
            VideoCodec::Av1 => f.write_str("AV1"),
            VideoCodec::Vp9 => f.write_str("VP9"),
            VideoCodec::Vp8 => f.write_str("VP8"),
            VideoCodec::Vvc => f.write_str("H.266"),
            VideoCodec::Legacy(id) => write!(f, "CodecID {id}"),
            VideoCodec::Other(fourcc) => f.write_str(&String::from_utf8_lossy(fourcc)),
        }
    }
}

impl VideoCodec {
    /// The codec of a FourCC.
    pub fn from_fourcc(fourcc: FourCc) -> Self {
        match &fourcc {
            b"avc1" => VideoCodec::Avc,
            b"hvc1" => VideoCodec::Hevc,
            b"av01" => VideoCodec::Av1,
            b"vp09" => VideoCodec::Vp9,
            b"vp08" => VideoCodec::Vp8,
            b"vvc1" => VideoCodec::Vvc,
            _ => VideoCodec::Other(fourcc),
        }
    }

    /// The FourCC, for codecs Enhanced RTMP can carry.
    pub fn fourcc(self) -> Option<FourCc> {
        Some(match self {
            VideoCodec::Avc => *b"avc1",
            VideoCodec::Hevc => *b"hvc1",
            VideoCodec::Av1 => *b"av01",
            VideoCodec::Vp9 => *b"vp09",
            VideoCodec::Vp8 => *b"vp08",
            VideoCodec::Vvc => *b"vvc1",
            VideoCodec::Other(fourcc) => fourcc,
            VideoCodec::Legacy(_) => return None,
        })
    }

    /// The legacy CodecID, for codecs the legacy header can carry.
    pub fn legacy_id(self) -> Option<u8> {
        match self {
            VideoCodec::Avc => Some(LEGACY_AVC),
            VideoCodec::Hevc => Some(LEGACY_HEVC),
            VideoCodec::Legacy(id) => Some(id),
            _ => None,
        }
    }

    /// Whether coded frames carry a composition time offset (H.264, H.265, H.266).
    fn has_composition_time(self) -> bool {
        matches!(self, VideoCodec::Avc | VideoCodec::Hevc | VideoCodec::Vvc)
    }
}

/// The FrameType field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameType {
    /// 1: a keyframe (seekable).
    Key,
    /// 2: an inter frame.
    Inter,
    /// 3: a disposable inter frame (H.263).
    DisposableInter,
    /// 4: a generated keyframe (server use).
    GeneratedKey,
    /// 5: a video info / command frame.
    Command,
    /// 0, 6 or 7 (reserved), kept.
    Reserved(u8),
}

impl FrameType {
    fn from_bits(bits: u8) -> Self {
        match bits {
            1 => FrameType::Key,
            2 => FrameType::Inter,
            3 => FrameType::DisposableInter,
            4 => FrameType::GeneratedKey,
            5 => FrameType::Command,
            other => FrameType::Reserved(other),
        }
    }

    fn bits(self) -> u8 {
        match self {
            FrameType::Key => 1,
            FrameType::Inter => 2,
            FrameType::DisposableInter => 3,
            FrameType::GeneratedKey => 4,
            FrameType::Command => 5,
            FrameType::Reserved(bits) => bits & 0x07,
        }
    }
}

/// What a video track carries in one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoPacket {
    /// The decoder configuration record (AVC, HEVC, AV1, VP codec configuration).
    SequenceStart(Bytes),
    /// Coded data: length-prefixed NAL units (H.264/H.265) or OBUs (AV1) or a VP frame.
    CodedFrames {
        /// pts - dts in milliseconds (0 for codecs without B-frames).
        composition_time: i32,
        /// The coded data.
        data: Bytes,
    },
    /// The end of the sequence.
    SequenceEnd,
    /// AMF-encoded metadata (e.g. colorInfo).
    Metadata(Bytes),
    /// An AV1 video descriptor, for streams from MPEG-2 TS.
    Mpeg2TsSequenceStart(Bytes),
    /// The data of a legacy codec other than AVC and HEVC, after the header byte.
    Raw(Bytes),
}

/// One track of a video message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoTrack {
    /// The track id (0 is the default track; always 0 without multitrack).
    pub track_id: u8,
    /// The codec.
    pub codec: VideoCodec,
    /// What the track carries.
    pub packet: VideoPacket,
}

/// What a video message carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoBody {
    /// A command frame: 0 start of client-side seek, 1 end. `codec` is the legacy CodecID's
    /// codec (`None` in the enhanced form, which has no codec here).
    Command {
        /// The legacy header's codec.
        codec: Option<VideoCodec>,
        /// The command.
        command: u8,
    },
    /// Media for one or more tracks.
    Tracks(Vec<VideoTrack>),
}

/// The parsed data of a video tag or RTMP video message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoTag {
    /// Key, inter, command...
    pub frame_type: FrameType,
    /// Whether the Enhanced RTMP header is used.
    pub enhanced: bool,
    /// ModEx TimestampOffsetNano: nanoseconds (0..=999999) added to the message timestamp.
    pub timestamp_offset_nanos: u32,
    /// The multitrack layout, `None` for a single track without a multitrack header.
    pub multitrack: Option<MultitrackType>,
    /// The command or the tracks.
    pub body: VideoBody,
}

impl VideoTag {
    /// Parses video tag data. Media slices share memory with `data`.
    pub fn parse(data: &Bytes) -> Result<Self, Error> {
        let mut reader = Reader::new(data, "video tag");
        let first = reader.u8()?;
        let frame_type_bits = (first >> 4) & 0x07;
        if first & 0x80 == 0 {
            return parse_legacy(&mut reader, FrameType::from_bits(first >> 4), first & 0x0F);
        }
        let frame_type = FrameType::from_bits(frame_type_bits);
        let (mut packet_type, timestamp_offset_nanos) =
            track::read_mod_ex(&mut reader, first & 0x0F)?;
        let mut tag = VideoTag {
            frame_type,
            enhanced: true,
            timestamp_offset_nanos,
            multitrack: None,
            body: VideoBody::Tracks(Vec::new()),
        };
        if frame_type == FrameType::Command && packet_type != PacketType::METADATA {
            tag.body = VideoBody::Command {
                codec: None,
                command: reader.u8()?,
            };
            return Ok(tag);
        }
        let raw_tracks = if packet_type == MULTITRACK {
            let byte = reader.u8()?;
            let layout = MultitrackType::from_bits(byte >> 4)?;
            packet_type = byte & 0x0F;
            if packet_type == MULTITRACK || packet_type == MOD_EX {
                return Err(invalid(
                    "video multitrack",
                    "nested multitrack or ModEx packet type",
                ));
            }
            tag.multitrack = Some(layout);
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
                let codec = VideoCodec::from_fourcc(raw.fourcc);
                Ok(VideoTrack {
                    track_id: raw.track_id,
                    codec,
                    packet: parse_enhanced_packet(packet_type, codec, &raw.body)?,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        tag.body = VideoBody::Tracks(tracks);
        Ok(tag)
    }

    /// A single-track tag in the legacy form when the codec allows it (H.264, H.265 as
    /// CodecID 12), else in the enhanced form.
    pub fn single(
        frame_type: FrameType,
        codec: VideoCodec,
        packet: VideoPacket,
        enhanced: bool,
    ) -> Self {
        VideoTag {
            frame_type,
            enhanced: enhanced || codec.legacy_id().is_none(),
            timestamp_offset_nanos: 0,
            multitrack: None,
            body: VideoBody::Tracks(vec![VideoTrack {
                track_id: 0,
                codec,
                packet,
            }]),
        }
    }

    /// The tracks (empty for a command frame).
    pub fn tracks(&self) -> &[VideoTrack] {
        match &self.body {
            VideoBody::Tracks(tracks) => tracks,
            VideoBody::Command { .. } => &[],
        }
    }

    /// Whether this is a keyframe with coded data (what a player can start from).
    pub fn is_keyframe(&self) -> bool {
        self.frame_type == FrameType::Key
            && self
                .tracks()
                .iter()
                .any(|track| matches!(track.packet, VideoPacket::CodedFrames { .. }))
    }

    /// Whether any track carries a sequence start (decoder configuration).
    pub fn is_sequence_start(&self) -> bool {
        self.tracks()
            .iter()
            .any(|track| matches!(track.packet, VideoPacket::SequenceStart(_)))
    }

    /// Writes the tag data.
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), Error> {
        if self.enhanced {
            self.encode_enhanced(dst)
        } else {
            self.encode_legacy(dst)
        }
    }

    /// The tag data as a new buffer.
    pub fn to_bytes(&self) -> Result<Bytes, Error> {
        let mut dst = BytesMut::new();
        self.encode(&mut dst)?;
        Ok(dst.freeze())
    }

    fn encode_legacy(&self, dst: &mut BytesMut) -> Result<(), Error> {
        let not_legacy = invalid("legacy video tag", "needs a single track of a legacy codec");
        if self.multitrack.is_some() || self.timestamp_offset_nanos != 0 {
            return Err(not_legacy);
        }
        let frame_bits = self.frame_type.bits() << 4;
        match &self.body {
            VideoBody::Command { codec, command } => {
                let id = codec.and_then(VideoCodec::legacy_id).unwrap_or(LEGACY_AVC);
                dst.put_u8(frame_bits | id);
                dst.put_u8(*command);
            }
            VideoBody::Tracks(tracks) => {
                let [track] = tracks.as_slice() else {
                    return Err(not_legacy);
                };
                let id = track.codec.legacy_id().ok_or(not_legacy)?;
                dst.put_u8(frame_bits | id);
                let (packet_type, cts, data) = match (&track.packet, id) {
                    (VideoPacket::Raw(data), _) if id != LEGACY_AVC && id != LEGACY_HEVC => {
                        dst.put_slice(data);
                        return Ok(());
                    }
                    (VideoPacket::SequenceStart(data), _) => (0, 0, &data[..]),
                    (
                        VideoPacket::CodedFrames {
                            composition_time,
                            data,
                        },
                        _,
                    ) => (1, *composition_time, &data[..]),
                    (VideoPacket::SequenceEnd, _) => (2, 0, &[][..]),
                    _ => return Err(invalid("legacy video tag", "packet has no legacy form")),
                };
                dst.put_u8(packet_type);
                dst.put_uint(u64::from(cts as u32 & 0xFF_FFFF), 3);
                dst.put_slice(data);
            }
        }
        Ok(())
    }

    fn encode_enhanced(&self, dst: &mut BytesMut) -> Result<(), Error> {
        let tracks = match &self.body {
            VideoBody::Command { command, .. } => {
                self.put_first(dst, PacketType::SEQUENCE_START);
                dst.put_u8(*command);
                return Ok(());
            }
            VideoBody::Tracks(tracks) => tracks,
        };
        let encoded: Vec<(u8, RawTrack)> = tracks
            .iter()
            .map(|track| {
                let fourcc = track
                    .codec
                    .fourcc()
                    .ok_or(invalid("enhanced video tag", "legacy codec has no FourCC"))?;
                let (packet_type, body) = encode_enhanced_packet(track)?;
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
        track::write_enhanced_body(
            dst,
            "enhanced video tag",
            self.multitrack,
            MULTITRACK,
            encoded,
            |dst, packet_type| self.put_first(dst, packet_type),
        )
    }

    /// The first byte, with a ModEx prefix when there is a timestamp offset.
    fn put_first(&self, dst: &mut BytesMut, packet_type: u8) {
        let frame_bits = 0x80 | (self.frame_type.bits() << 4);
        if self.timestamp_offset_nanos == 0 {
            dst.put_u8(frame_bits | packet_type);
        } else {
            dst.put_u8(frame_bits | MOD_EX);
            track::write_mod_ex(dst, self.timestamp_offset_nanos, packet_type);
        }
    }
}

/// Enhanced VideoPacketType values.
struct PacketType;

impl PacketType {
    const SEQUENCE_START: u8 = 0;
    const CODED_FRAMES: u8 = 1;
    const SEQUENCE_END: u8 = 2;
    const CODED_FRAMES_X: u8 = 3;
    const METADATA: u8 = 4;
    const MPEG2TS_SEQUENCE_START: u8 = 5;
}

fn parse_legacy(
    reader: &mut Reader,
    frame_type: FrameType,
    codec_id: u8,
) -> Result<VideoTag, Error> {
    let codec = match codec_id {
        LEGACY_AVC => VideoCodec::Avc,
        LEGACY_HEVC => VideoCodec::Hevc,
        other => VideoCodec::Legacy(other),
    };
    let body = if frame_type == FrameType::Command {
        VideoBody::Command {
            codec: Some(codec),
            command: reader.u8()?,
        }
    } else {
        let packet = match codec {
            VideoCodec::Avc | VideoCodec::Hevc => {
                let packet_type = reader.u8()?;
                let composition_time = reader.i24()?;
                match packet_type {
                    0 => VideoPacket::SequenceStart(reader.rest()),
                    1 => VideoPacket::CodedFrames {
                        composition_time,
                        data: reader.rest(),
                    },
                    2 => VideoPacket::SequenceEnd,
                    _ => return Err(invalid("AVC video packet", "packet type is not 0, 1 or 2")),
                }
            }
            _ => VideoPacket::Raw(reader.rest()),
        };
        VideoBody::Tracks(vec![VideoTrack {
            track_id: 0,
            codec,
            packet,
        }])
    };
    Ok(VideoTag {
        frame_type,
        enhanced: false,
        timestamp_offset_nanos: 0,
        multitrack: None,
        body,
    })
}

fn parse_enhanced_packet(
    packet_type: u8,
    codec: VideoCodec,
    body: &Bytes,
) -> Result<VideoPacket, Error> {
    let mut reader = Reader::new(body, "enhanced video packet");
    Ok(match packet_type {
        PacketType::SEQUENCE_START => VideoPacket::SequenceStart(reader.rest()),
        PacketType::CODED_FRAMES => VideoPacket::CodedFrames {
            composition_time: if codec.has_composition_time() {
                reader.i24()?
            } else {
                0
            },
            data: reader.rest(),
        },
        PacketType::SEQUENCE_END => VideoPacket::SequenceEnd,
        PacketType::CODED_FRAMES_X => VideoPacket::CodedFrames {
            composition_time: 0,
            data: reader.rest(),
        },
        PacketType::METADATA => VideoPacket::Metadata(reader.rest()),
        PacketType::MPEG2TS_SEQUENCE_START => VideoPacket::Mpeg2TsSequenceStart(reader.rest()),
        _ => return Err(invalid("enhanced video tag", "unknown video packet type")),
    })
}

/// The packet type and body of one track in the enhanced form. Coded frames with a zero
/// composition time use CodedFramesX, which omits it.
fn encode_enhanced_packet(track: &VideoTrack) -> Result<(u8, Bytes), Error> {
    Ok(match &track.packet {
        VideoPacket::SequenceStart(data) => (PacketType::SEQUENCE_START, data.clone()),
        VideoPacket::CodedFrames {
            composition_time,
            data,
        } => {
            if *composition_time == 0 || !track.codec.has_composition_time() {
                let packet_type = if track.codec.has_composition_time() {
                    PacketType::CODED_FRAMES_X
                } else {
                    PacketType::CODED_FRAMES
                };
                (packet_type, data.clone())
            } else {
                let mut body = BytesMut::with_capacity(3 + data.len());
                body.put_uint(u64::from(*composition_time as u32 & 0xFF_FFFF), 3);
                body.put_slice(data);
                (PacketType::CODED_FRAMES, body.freeze())
            }
        }
        VideoPacket::SequenceEnd => (PacketType::SEQUENCE_END, Bytes::new()),
        VideoPacket::Metadata(data) => (PacketType::METADATA, data.clone()),
        VideoPacket::Mpeg2TsSequenceStart(data) => {
            (PacketType::MPEG2TS_SEQUENCE_START, data.clone())
        }
        VideoPacket::Raw(_) => {
            return Err(invalid(
                "enhanced video tag",
                "raw legacy data has no enhanced form",
            ));
        }
    })
}
