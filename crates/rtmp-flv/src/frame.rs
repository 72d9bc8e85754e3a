//! [`Frame`]: one track's media unit, independent of the tag form it came in, so that a source
//! in one form (legacy or Enhanced RTMP) can feed players of either.

use bytes::Bytes;

use crate::audio::{AudioCodec, AudioPacket, AudioTag, LegacyAudioFormat};
use crate::error::{Error, invalid};
use crate::video::{FrameType, VideoBody, VideoCodec, VideoPacket, VideoTag};

/// The codec of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// A video codec.
    Video(VideoCodec),
    /// An audio codec.
    Audio(AudioCodec),
}

/// The codec's name, with its kind: "H.265 video", "Opus audio".
impl std::fmt::Display for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Codec::Video(codec) => write!(f, "{codec} video"),
            Codec::Audio(codec) => write!(f, "{codec} audio"),
        }
    }
}

/// What a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// Decoder configuration (a sequence header).
    SequenceStart,
    /// A video keyframe.
    Key,
    /// A video inter frame, or an audio frame.
    Inter,
    /// The end of a sequence.
    SequenceEnd,
}

/// One media unit of one track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The codec.
    pub codec: Codec,
    /// The track id (0 without multitrack).
    pub track_id: u8,
    /// Sequence start, key, inter or sequence end.
    pub kind: FrameKind,
    /// Decoding timestamp in milliseconds (the message or tag timestamp).
    pub dts: u32,
    /// pts - dts in milliseconds.
    pub composition_time: i32,
    /// Nanoseconds to add to `dts` (Enhanced RTMP ModEx), 0 otherwise.
    pub timestamp_offset_nanos: u32,
    /// The codec data: a configuration record, length-prefixed NAL units, OBUs, audio frames.
    pub data: Bytes,
}

impl Frame {
    /// The presentation timestamp in milliseconds (may be negative for a bad stream).
    pub fn pts(&self) -> i64 {
        i64::from(self.dts) + i64::from(self.composition_time)
    }

    /// The decoding timestamp in nanoseconds: the millisecond timestamp with the Enhanced RTMP
    /// ModEx TimestampOffsetNano applied.
    pub fn dts_nanos(&self) -> i64 {
        i64::from(self.dts) * 1_000_000 + i64::from(self.timestamp_offset_nanos)
    }

    /// The presentation timestamp in nanoseconds, with the ModEx offset applied.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use rtmp_flv::{Frame, VideoTag};
    ///
    /// // Written from the Enhanced RTMP v2 text: an enhanced keyframe whose packet type is
    /// // ModEx (7); 3 bytes of data (size - 1 = 2) holding 250 000 ns; then ModExType 0
    /// // (TimestampOffsetNano) with the real packet type, CodedFrames (1); FourCC avc1;
    /// // a composition time of 20 ms; one NAL unit.
    /// let tag = Bytes::from_static(&[
    ///     0x97, 0x02, 0x03, 0xD0, 0x90, 0x01, b'a', b'v', b'c', b'1',
    ///     0x00, 0x00, 0x14, 0, 0, 0, 2, 0x65, 0x88,
    /// ]);
    /// let frame = Frame::from_video(&VideoTag::parse(&tag).unwrap(), 1000).remove(0);
    /// assert_eq!(frame.timestamp_offset_nanos, 250_000);
    /// assert_eq!(frame.dts_nanos(), 1_000_250_000);
    /// assert_eq!(frame.pts_nanos(), 1_020_250_000);
    /// ```
    pub fn pts_nanos(&self) -> i64 {
        self.pts() * 1_000_000 + i64::from(self.timestamp_offset_nanos)
    }

    /// The frames of an audio or video tag's data (or an RTMP audio or video message's
    /// payload) of type `tag_type` received at `timestamp`: none for other types, and for data
    /// that does not parse.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use rtmp_flv::{Frame, FrameKind, TAG_AUDIO, TAG_SCRIPT};
    ///
    /// // An AAC AudioSpecificConfig in the legacy form.
    /// let config = Bytes::from_static(&[0xAF, 0x00, 0x12, 0x10]);
    /// let frames = Frame::of_tag(TAG_AUDIO, &config, 40);
    /// assert_eq!((frames[0].kind, frames[0].dts), (FrameKind::SequenceStart, 40));
    /// assert!(Frame::of_tag(TAG_SCRIPT, &config, 40).is_empty());
    /// ```
    pub fn of_tag(tag_type: u8, data: &Bytes, timestamp: u32) -> Vec<Frame> {
        match tag_type {
            crate::TAG_VIDEO => VideoTag::parse(data)
                .map(|tag| Frame::from_video(&tag, timestamp))
                .unwrap_or_default(),
            crate::TAG_AUDIO => AudioTag::parse(data)
                .map(|tag| Frame::from_audio(&tag, timestamp))
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// The frames of a video tag received at `timestamp` (none for command frames, metadata and
    /// raw legacy codecs).
    pub fn from_video(tag: &VideoTag, timestamp: u32) -> Vec<Frame> {
        let VideoBody::Tracks(tracks) = &tag.body else {
            return Vec::new();
        };
        tracks
            .iter()
            .filter_map(|track| {
                let (kind, composition_time, data) = match &track.packet {
                    VideoPacket::SequenceStart(data) => (FrameKind::SequenceStart, 0, data.clone()),
                    VideoPacket::CodedFrames {
                        composition_time,
                        data,
                    } => {
                        let kind = match tag.frame_type {
                            FrameType::Key | FrameType::GeneratedKey => FrameKind::Key,
                            _ => FrameKind::Inter,
                        };
                        (kind, *composition_time, data.clone())
                    }
                    VideoPacket::SequenceEnd => (FrameKind::SequenceEnd, 0, Bytes::new()),
                    _ => return None,
                };
                Some(Frame {
                    codec: Codec::Video(track.codec),
                    track_id: track.track_id,
                    kind,
                    dts: timestamp,
                    composition_time,
                    timestamp_offset_nanos: tag.timestamp_offset_nanos,
                    data,
                })
            })
            .collect()
    }

    /// The frames of an audio tag received at `timestamp` (none for multichannel configs).
    pub fn from_audio(tag: &AudioTag, timestamp: u32) -> Vec<Frame> {
        tag.tracks
            .iter()
            .filter_map(|track| {
                let (kind, data) = match &track.packet {
                    AudioPacket::SequenceStart(data) => (FrameKind::SequenceStart, data.clone()),
                    AudioPacket::CodedFrames(data) => (FrameKind::Inter, data.clone()),
                    AudioPacket::SequenceEnd => (FrameKind::SequenceEnd, Bytes::new()),
                    AudioPacket::MultichannelConfig(_) => return None,
                };
                Some(Frame {
                    codec: Codec::Audio(track.codec),
                    track_id: track.track_id,
                    kind,
                    dts: timestamp,
                    composition_time: 0,
                    timestamp_offset_nanos: tag.timestamp_offset_nanos,
                    data,
                })
            })
            .collect()
    }

    /// A single-track video tag: legacy (H.264 as CodecID 7, H.265 as CodecID 12) unless
    /// `enhanced` is asked or the codec has no legacy id; track ids other than 0 and
    /// nanosecond offsets need the enhanced form and get it.
    pub fn to_video_tag(&self, enhanced: bool) -> Result<VideoTag, Error> {
        let Codec::Video(codec) = self.codec else {
            return Err(invalid("frame", "an audio frame is not a video tag"));
        };
        let (frame_type, packet) = match self.kind {
            FrameKind::SequenceStart => (
                FrameType::Key,
                VideoPacket::SequenceStart(self.data.clone()),
            ),
            FrameKind::Key | FrameKind::Inter => (
                if self.kind == FrameKind::Key {
                    FrameType::Key
                } else {
                    FrameType::Inter
                },
                VideoPacket::CodedFrames {
                    composition_time: self.composition_time,
                    data: self.data.clone(),
                },
            ),
            FrameKind::SequenceEnd => (FrameType::Key, VideoPacket::SequenceEnd),
        };
        let needs_enhanced = self.track_id != 0 || self.timestamp_offset_nanos != 0;
        let mut tag = VideoTag::single(frame_type, codec, packet, enhanced || needs_enhanced);
        tag.timestamp_offset_nanos = self.timestamp_offset_nanos;
        if self.track_id != 0 {
            tag.multitrack = Some(crate::MultitrackType::OneTrack);
            if let VideoBody::Tracks(tracks) = &mut tag.body {
                tracks
                    .iter_mut()
                    .for_each(|track| track.track_id = self.track_id);
            }
        }
        Ok(tag)
    }

    /// A single-track audio tag: legacy with `legacy` bits when given and the codec has a
    /// SoundFormat (AAC, G.711, MP3), enhanced otherwise.
    pub fn to_audio_tag(&self, legacy: Option<LegacyAudioFormat>) -> Result<AudioTag, Error> {
        let Codec::Audio(codec) = self.codec else {
            return Err(invalid("frame", "a video frame is not an audio tag"));
        };
        let packet = match self.kind {
            FrameKind::SequenceStart => AudioPacket::SequenceStart(self.data.clone()),
            FrameKind::SequenceEnd => AudioPacket::SequenceEnd,
            FrameKind::Key | FrameKind::Inter => AudioPacket::CodedFrames(self.data.clone()),
        };
        let plain = self.track_id == 0 && self.timestamp_offset_nanos == 0;
        let mut tag = AudioTag::single(codec, packet, legacy.filter(|_| plain));
        tag.timestamp_offset_nanos = self.timestamp_offset_nanos;
        if self.track_id != 0 {
            tag.multitrack = Some(crate::MultitrackType::OneTrack);
            tag.tracks
                .iter_mut()
                .for_each(|track| track.track_id = self.track_id);
        }
        Ok(tag)
    }
}
