//! FLV files and the audio/video tags that RTMP carries.
//!
//! The payload of an RTMP audio or video message is exactly the data of an FLV tag of the same
//! type, so one parser serves both:
//! - [`VideoTag`] and [`AudioTag`] parse and write the legacy headers (FrameType + CodecID with
//!   AVC and HEVC-under-CodecID-12 packets; SoundFormat with AAC packets, G.711 and others) and
//!   the Enhanced RTMP headers (FourCC, multitrack in all three layouts, ModEx timestamp
//!   offsets). Media data stays a zero-copy slice of the input.
//! - [`FlvReader`] reads FLV files incrementally; [`FlvWriter`] writes them ([`FlvHeader`] and
//!   [`FlvTag`] encode the parts);
//!   [`parse_script_data`] and [`script_data`] handle `onMetaData` through `rtmp-amf0`.
//! - [`Frame`] is one track's media unit whatever the tag form: parse either form into frames
//!   and mux frames into either, to feed legacy and Enhanced RTMP players from one source.
//! - Codec configuration: [`avc::AvcConfig`], [`hevc::HevcConfig`], [`av1::Av1Config`],
//!   [`vp9::VpcConfig`], [`vvc::VvcConfig`], [`aac::AudioSpecificConfig`],
//!   [`opus::OpusHead`], [`flac::FlacStreamInfo`] and [`ac3::Ac3Info`]; [`TrackInfo`] reads
//!   any of them for picture size, sample rate and channels; parameter sets:
//!   [`avc::AvcSps`], [`hevc::HevcSps`], [`av1::Av1SequenceHeader`] (width, height, profile,
//!   level, and the H.264 frame rate).
//! - Bitstreams: [`nal`] iterates length-prefixed and Annex B NAL units without copying,
//!   converts to Annex B with parameter sets before keyframes, and muxes NAL units back into
//!   FLV video data ([`nal::NalMuxer`], with AUD/filler/SEI filtering); [`av1::obus`] splits
//!   AV1 temporal units into OBUs.
//!
//! Every length read from the input is checked before it is used; bad input is an [`Error`].
//!
//! ```
//! use bytes::Bytes;
//! use rtmp_flv::{FrameType, VideoCodec, VideoPacket, VideoTag};
//!
//! // An H.264 keyframe as a legacy RTMP video message carries it.
//! let data = Bytes::from_static(&[0x17, 0x01, 0x00, 0x00, 0x28, 0, 0, 0, 2, 0x65, 0x88]);
//! let tag = VideoTag::parse(&data).unwrap();
//! assert!(tag.is_keyframe());
//! let track = &tag.tracks()[0];
//! assert_eq!(track.codec, VideoCodec::Avc);
//! assert!(matches!(track.packet, VideoPacket::CodedFrames { composition_time: 40, .. }));
//! assert_eq!(tag.to_bytes().unwrap(), data);
//! ```

#![forbid(unsafe_code)]

pub mod aac;
pub mod ac3;
mod audio;
pub mod av1;
pub mod avc;
mod bits;
mod error;
mod file;
pub mod flac;
mod frame;
pub mod hevc;
mod info;
pub mod nal;
pub mod opus;
mod peek;
mod read;
mod script;
mod track;
mod video;
pub mod vp9;
pub mod vvc;
mod writer;

pub use audio::{
    AudioCodec, AudioPacket, AudioTag, AudioTrack, ChannelOrder, LegacyAudioFormat,
    MultichannelConfig,
};
pub use error::Error;
pub use file::{FlvHeader, FlvReader, FlvTag, TAG_AUDIO, TAG_SCRIPT, TAG_VIDEO};
pub use frame::{Codec, Frame, FrameKind};
pub use info::TrackInfo;
pub use peek::{
    TrackConfig, TrackConfigs, TrackLayout, VideoKind, configured_tracks,
    peek_audio_sequence_start, peek_track_layout, peek_video,
};
/// AMF0 values: [`rtmp_amf0`], re-exported so that its version always matches.
pub use rtmp_amf0 as amf0;
pub use script::{parse_script_data, script_data};
pub use track::{FourCc, MultitrackType};
pub use video::{FrameType, VideoBody, VideoCodec, VideoPacket, VideoTag, VideoTrack};
pub use writer::FlvWriter;

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
