//! Property tests: tags and configuration records encode and parse to themselves, and no
//! parser panics on arbitrary bytes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use rtmp_flv::aac::AudioSpecificConfig;
use rtmp_flv::av1::{Av1Config, Av1SequenceHeader, obus};
use rtmp_flv::avc::{AvcConfig, AvcSps};
use rtmp_flv::hevc::{HevcConfig, HevcNalArray, HevcSps};
use rtmp_flv::nal::{annex_b_units, nal_units};
use rtmp_flv::{
    AudioCodec, AudioPacket, AudioTag, AudioTrack, FlvReader, FrameType, LegacyAudioFormat,
    MultitrackType, VideoBody, VideoCodec, VideoPacket, VideoTag, VideoTrack,
};

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn video_codec() -> impl Strategy<Value = VideoCodec> {
    prop_oneof![
        Just(VideoCodec::Avc),
        Just(VideoCodec::Hevc),
        Just(VideoCodec::Av1),
        Just(VideoCodec::Vp9),
        Just(VideoCodec::Vvc),
        Just(VideoCodec::Other(*b"abcd")),
    ]
}

fn video_packet(codec: VideoCodec) -> BoxedStrategy<VideoPacket> {
    let cts = if matches!(codec, VideoCodec::Avc | VideoCodec::Hevc | VideoCodec::Vvc) {
        (-0x80_0000i32..0x80_0000).boxed()
    } else {
        Just(0).boxed()
    };
    prop_oneof![
        bytes(40).prop_map(VideoPacket::SequenceStart),
        (cts, bytes(40)).prop_map(|(composition_time, data)| VideoPacket::CodedFrames {
            composition_time,
            data
        }),
        Just(VideoPacket::SequenceEnd),
        bytes(40).prop_map(VideoPacket::Metadata),
    ]
    .boxed()
}

fn frame_type() -> impl Strategy<Value = FrameType> {
    prop_oneof![
        Just(FrameType::Key),
        Just(FrameType::Inter),
        Just(FrameType::DisposableInter)
    ]
}

fn enhanced_video_tag() -> impl Strategy<Value = VideoTag> {
    (
        frame_type(),
        0u32..1_000_000,
        prop_oneof![
            Just(None),
            Just(Some(MultitrackType::OneTrack)),
            Just(Some(MultitrackType::ManyTracks)),
            Just(Some(MultitrackType::ManyTracksManyCodecs)),
        ],
        video_codec(),
        1usize..4,
        0usize..4,
    )
        .prop_flat_map(|(frame_type, nanos, multitrack, codec, count, kind)| {
            let count = if matches!(multitrack, None | Some(MultitrackType::OneTrack)) {
                1
            } else {
                count
            };
            let codecs: Vec<VideoCodec> = (0..count)
                .map(|i| match multitrack {
                    Some(MultitrackType::ManyTracksManyCodecs) if i % 2 == 1 => VideoCodec::Av1,
                    _ => codec,
                })
                .collect();
            // One packet type for every track of a message.
            let tracks: Vec<BoxedStrategy<VideoTrack>> = codecs
                .into_iter()
                .enumerate()
                .map(|(i, codec)| {
                    video_packet(codec)
                        .prop_filter("same packet kind", move |p| packet_kind(p) == kind)
                        .prop_map(move |packet| VideoTrack {
                            track_id: i as u8,
                            codec,
                            packet,
                        })
                        .boxed()
                })
                .collect();
            (Just(frame_type), Just(nanos), Just(multitrack), tracks)
        })
        .prop_map(|(frame_type, nanos, multitrack, tracks)| VideoTag {
            frame_type,
            enhanced: true,
            timestamp_offset_nanos: nanos,
            multitrack,
            body: VideoBody::Tracks(tracks),
        })
}

fn packet_kind(packet: &VideoPacket) -> usize {
    match packet {
        VideoPacket::SequenceStart(_) => 0,
        VideoPacket::CodedFrames { .. } => 1,
        VideoPacket::SequenceEnd => 2,
        _ => 3,
    }
}

fn legacy_video_tag() -> impl Strategy<Value = VideoTag> {
    (
        frame_type(),
        prop_oneof![Just(VideoCodec::Avc), Just(VideoCodec::Hevc)],
        0usize..3,
        -1000i32..1000,
        bytes(40),
    )
        .prop_map(|(frame_type, codec, kind, composition_time, data)| {
            let packet = match kind {
                0 => VideoPacket::SequenceStart(data),
                1 => VideoPacket::CodedFrames {
                    composition_time,
                    data,
                },
                _ => VideoPacket::SequenceEnd,
            };
            VideoTag::single(frame_type, codec, packet, false)
        })
}

fn audio_tag() -> impl Strategy<Value = AudioTag> {
    let legacy = (
        prop_oneof![
            Just(AudioCodec::Aac),
            Just(AudioCodec::G711ALaw),
            Just(AudioCodec::G711MuLaw),
            Just(AudioCodec::Mp3)
        ],
        0u8..4,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        bytes(40),
    )
        .prop_map(|(codec, rate, sixteen_bit, stereo, header, data)| {
            let packet = if codec == AudioCodec::Aac && header {
                AudioPacket::SequenceStart(data)
            } else {
                AudioPacket::CodedFrames(data)
            };
            AudioTag::single(
                codec,
                packet,
                Some(LegacyAudioFormat {
                    rate,
                    sixteen_bit,
                    stereo,
                }),
            )
        });
    let enhanced = (
        prop_oneof![
            Just(AudioCodec::Opus),
            Just(AudioCodec::Aac),
            Just(AudioCodec::Flac),
            Just(AudioCodec::Eac3)
        ],
        prop_oneof![
            Just(None),
            Just(Some(MultitrackType::ManyTracks)),
            Just(Some(MultitrackType::ManyTracksManyCodecs))
        ],
        0u32..1_000_000,
        prop::collection::vec(bytes(30), 1..4),
    )
        .prop_map(|(codec, multitrack, nanos, bodies)| {
            let bodies = if multitrack.is_none() {
                bodies[..1].to_vec()
            } else {
                bodies
            };
            AudioTag {
                legacy: None,
                timestamp_offset_nanos: nanos,
                multitrack,
                tracks: bodies
                    .into_iter()
                    .enumerate()
                    .map(|(i, data)| AudioTrack {
                        track_id: i as u8,
                        codec: if multitrack == Some(MultitrackType::ManyTracksManyCodecs) && i == 1
                        {
                            AudioCodec::Ac3
                        } else {
                            codec
                        },
                        packet: AudioPacket::CodedFrames(data),
                    })
                    .collect(),
            }
        });
    prop_oneof![legacy, enhanced]
}

proptest! {
    #[test]
    fn video_tags_round_trip(tag in prop_oneof![enhanced_video_tag(), legacy_video_tag()]) {
        let data = tag.to_bytes().unwrap();
        prop_assert_eq!(VideoTag::parse(&data).unwrap(), tag);
    }

    #[test]
    fn audio_tags_round_trip(tag in audio_tag()) {
        let data = tag.to_bytes().unwrap();
        prop_assert_eq!(AudioTag::parse(&data).unwrap(), tag);
    }

    #[test]
    fn avc_config_round_trips(profile in any::<u8>(), level in any::<u8>(), length_size in prop_oneof![Just(1u8), Just(2), Just(4)],
                              sps in prop::collection::vec(bytes(30), 0..3), pps in prop::collection::vec(bytes(30), 0..3), extension in bytes(8)) {
        let config = AvcConfig { profile, compatibility: 0x40, level, length_size, sps, pps, extension };
        prop_assert_eq!(AvcConfig::parse(&config.to_bytes().unwrap()).unwrap(), config);
    }

    #[test]
    fn hevc_config_round_trips(profile in 0u8..32, level in any::<u8>(), constraints in 0u64..(1 << 48), avg_frame_rate in any::<u16>(),
                               units in prop::collection::vec(bytes(20), 0..3)) {
        let config = HevcConfig {
            profile_space: 0, tier: true, profile, compatibility: 0x6000_0000, constraints, level,
            min_spatial_segmentation: 0, parallelism: 0, chroma_format: 1, bit_depth_luma_minus8: 2,
            bit_depth_chroma_minus8: 2, avg_frame_rate, constant_frame_rate: 1, temporal_layers: 1,
            temporal_id_nested: true, length_size: 4,
            arrays: vec![HevcNalArray { complete: true, nal_type: 33, units }],
        };
        prop_assert_eq!(HevcConfig::parse(&config.to_bytes().unwrap()).unwrap(), config);
    }

    #[test]
    fn av1_config_round_trips(profile in 0u8..8, level in 0u8..32, flags in any::<u8>(), delay in prop::option::of(0u8..16), obus in bytes(20)) {
        let config = Av1Config {
            seq_profile: profile, seq_level_idx_0: level, seq_tier_0: flags & 1 != 0, high_bitdepth: flags & 2 != 0,
            twelve_bit: flags & 4 != 0, monochrome: flags & 8 != 0, chroma_subsampling_x: flags & 16 != 0,
            chroma_subsampling_y: flags & 32 != 0, chroma_sample_position: flags >> 6,
            initial_presentation_delay_minus_one: delay, config_obus: obus,
        };
        prop_assert_eq!(Av1Config::parse(&config.to_bytes()).unwrap(), config);
    }

    #[test]
    fn audio_specific_config_round_trips(object_type in 1u8..70, frequency in prop_oneof![Just(44100u32), Just(48000), 1u32..0xFF_FFFF], channels in 0u8..16) {
        let config = AudioSpecificConfig { object_type: if object_type == 31 { 30 } else { object_type }, sampling_frequency: frequency, channel_configuration: channels };
        prop_assert_eq!(AudioSpecificConfig::parse(&config.to_bytes()).unwrap(), config);
    }

    #[test]
    fn parsers_never_panic(data in bytes(300)) {
        let _ = VideoTag::parse(&data);
        let _ = AudioTag::parse(&data);
        let _ = AvcConfig::parse(&data);
        let _ = HevcConfig::parse(&data);
        let _ = Av1Config::parse(&data);
        let _ = AvcSps::parse(&data);
        let _ = HevcSps::parse(&data);
        let _ = Av1SequenceHeader::parse(&data);
        let _ = AudioSpecificConfig::parse(&data);
        let _ = rtmp_flv::parse_script_data(&data);
        for size in [1, 2, 4] {
            let _ = nal_units(&data, size).count();
        }
        let _ = annex_b_units(&data).count();
        let _ = obus(&data).count();
        let mut reader = FlvReader::new();
        let mut file = BytesMut::from(&b"FLV\x01\x05\0\0\0\x09\0\0\0\0"[..]);
        file.extend_from_slice(&data);
        reader.push(&file);
        while let Ok(Some(_)) = reader.next_tag() {}
    }
}
