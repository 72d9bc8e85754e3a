//! Codec configuration and bitstreams of the sample files: records round-trip byte for byte,
//! parameter sets give the picture size ffmpeg reports, and H.264/H.265 converted to Annex B
//! decode in ffmpeg (Debian's, `apt-get install -y ffmpeg`) with every frame and no error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

#[path = "common/peers.rs"]
mod peers;

use std::path::Path;

use bytes::{Bytes, BytesMut};
use rtmp_flv::aac::AudioSpecificConfig;
use rtmp_flv::av1::{Av1Config, obu_type, obus};
use rtmp_flv::avc::{AvcConfig, AvcSps};
use rtmp_flv::hevc::{HevcConfig, HevcSps, nal_type};
use rtmp_flv::nal::{NalCodec, NalFilter, NalMuxer, annex_b_units, nal_units, to_annex_b};
use rtmp_flv::{AudioPacket, AudioTag, FlvReader, TAG_AUDIO, TAG_VIDEO, VideoPacket, VideoTag};

struct Stream {
    video_config: Bytes,
    audio_config: Option<Bytes>,
    /// (keyframe, coded data) of each video frame.
    frames: Vec<(bool, Bytes)>,
}

fn read(name: &str) -> Stream {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/media")
        .join(name);
    let mut reader = FlvReader::new();
    reader.push(&std::fs::read(path).unwrap());
    let mut stream = Stream {
        video_config: Bytes::new(),
        audio_config: None,
        frames: Vec::new(),
    };
    while let Some(tag) = reader.next_tag().unwrap() {
        match tag.tag_type {
            TAG_VIDEO => {
                let video = VideoTag::parse(&tag.data).unwrap();
                match &video.tracks()[0].packet {
                    VideoPacket::SequenceStart(config) => stream.video_config = config.clone(),
                    VideoPacket::CodedFrames { data, .. } => {
                        stream.frames.push((video.is_keyframe(), data.clone()))
                    }
                    _ => {}
                }
            }
            TAG_AUDIO => {
                if let AudioPacket::SequenceStart(config) =
                    &AudioTag::parse(&tag.data).unwrap().tracks[0].packet
                {
                    stream.audio_config = Some(config.clone());
                }
            }
            _ => {}
        }
    }
    stream
}
/// Decodes an Annex B stream with Debian's ffmpeg; returns the number of decoded frames.
fn decode_with_ffmpeg(format: &str, annex_b: &[u8]) -> usize {
    let path = std::env::temp_dir().join(format!("rtmp-flv-{}-{format}", std::process::id()));
    std::fs::write(&path, annex_b).unwrap();
    let counts = peers::decode(Path::new("ffmpeg"), &["-f", format], &path);
    let _ = std::fs::remove_file(&path);
    counts.first().copied().unwrap_or(0)
}

/// The coded frames of `stream` as one Annex B stream, parameter sets before keyframes.
fn annex_b(codec: NalCodec, stream: &Stream, length_size: u8, sets: &[Bytes]) -> BytesMut {
    let mut annex_b = BytesMut::new();
    for (_, data) in &stream.frames {
        to_annex_b(codec, data, length_size, sets, &mut annex_b).unwrap();
    }
    annex_b
}

#[test]
fn h264_config_sps_and_annex_b() {
    let stream = read("h264-aac.flv");
    let config = AvcConfig::parse(&stream.video_config).unwrap();
    assert_eq!(config.to_bytes().unwrap(), stream.video_config);
    assert_eq!(
        (config.length_size, config.sps.len(), config.pps.len()),
        (4, 1, 1)
    );
    let sps = AvcSps::parse(&config.sps[0]).unwrap();
    assert_eq!((sps.width, sps.height), (320, 240));
    assert_eq!(
        (sps.profile, sps.chroma_format, sps.bit_depth),
        (100, 1, 8),
        "High, 4:2:0, 8-bit"
    );
    assert_eq!(sps.frame_rate, Some(25.0));

    let sets: Vec<Bytes> = config.sps.iter().chain(&config.pps).cloned().collect();
    let annex_b = annex_b(NalCodec::H264, &stream, config.length_size, &sets);
    assert_eq!(stream.frames.len(), 50);
    assert_eq!(decode_with_ffmpeg("h264", &annex_b), 50);

    // Muxing the Annex B stream back gives the same coded data and the same parameter sets.
    let annex_b = annex_b.freeze();
    let mut muxer = NalMuxer::new(NalCodec::H264, NalFilter::default());
    let units: Vec<Bytes> = annex_b_units(&annex_b).collect();
    let mut frames = Vec::new();
    let mut pending = Vec::new();
    for unit in units {
        let slice = matches!(unit[0] & 0x1F, 1 | 5);
        pending.push(unit);
        if slice {
            let muxed = muxer.push(std::mem::take(&mut pending)).unwrap();
            if let Some(start) = muxed.sequence_start {
                let rebuilt = AvcConfig::parse(&start).unwrap();
                assert_eq!(
                    (rebuilt.sps, rebuilt.pps),
                    (config.sps.clone(), config.pps.clone())
                );
            }
            frames.push((muxed.keyframe, muxed.data));
        }
    }
    assert_eq!(frames, stream.frames);
}

#[test]
fn hevc_config_sps_and_annex_b() {
    let stream = read("hevc-aac-enhanced.flv");
    let config = HevcConfig::parse(&stream.video_config).unwrap();
    assert_eq!(config.to_bytes().unwrap(), stream.video_config);
    let sps = HevcSps::parse(config.units(nal_type::SPS).next().unwrap()).unwrap();
    assert_eq!(
        (sps.width, sps.height, sps.profile, sps.chroma_format),
        (320, 240, 1, 1),
        "Main 4:2:0"
    );
    assert_eq!((config.profile, config.level), (sps.profile, sps.level));

    let sets: Vec<Bytes> = [nal_type::VPS, nal_type::SPS, nal_type::PPS]
        .into_iter()
        .flat_map(|kind| config.units(kind).cloned().collect::<Vec<_>>())
        .collect();
    // A record rebuilt from the parameter sets agrees on everything the SPS determines.
    let rebuilt = HevcConfig::from_parameter_sets(
        config.units(nal_type::VPS).cloned().collect(),
        config.units(nal_type::SPS).cloned().collect(),
        config.units(nal_type::PPS).cloned().collect(),
    )
    .unwrap();
    assert_eq!(
        (
            rebuilt.profile,
            rebuilt.compatibility,
            rebuilt.constraints,
            rebuilt.level,
            rebuilt.chroma_format
        ),
        (
            config.profile,
            config.compatibility,
            config.constraints,
            config.level,
            config.chroma_format
        )
    );
    let annex_b = annex_b(NalCodec::H265, &stream, config.length_size, &sets);
    assert_eq!(stream.frames.len(), 50);
    assert_eq!(decode_with_ffmpeg("hevc", &annex_b), 50);
}

#[test]
fn av1_config_and_sequence_header() {
    let stream = read("av1-opus-enhanced.flv");
    let config = Av1Config::parse(&stream.video_config).unwrap();
    assert_eq!(config.to_bytes(), stream.video_config);
    let header = config.sequence_header().unwrap().unwrap();
    assert_eq!((header.profile, header.width, header.height), (0, 320, 240));
    assert_eq!(
        (config.seq_profile, config.seq_level_idx_0),
        (header.profile, header.level)
    );
    // Every temporal unit splits into OBUs that cover it exactly; keyframes carry a sequence
    // header, as SVT-AV1 writes them.
    for (keyframe, data) in &stream.frames {
        let obus: Vec<_> = obus(data).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            obus.iter().map(|obu| obu.data.len()).sum::<usize>(),
            data.len()
        );
        let has_header = obus
            .iter()
            .any(|obu| obu.obu_type == obu_type::SEQUENCE_HEADER);
        assert!(!keyframe || has_header);
    }
}

#[test]
fn aac_audio_specific_config() {
    for name in [
        "h264-aac.flv",
        "hevc-aac-enhanced.flv",
        "vp9-aac-enhanced.flv",
    ] {
        let config = read(name).audio_config.unwrap();
        let asc = AudioSpecificConfig::parse(&config).unwrap();
        assert_eq!(
            (
                asc.object_type,
                asc.sampling_frequency,
                asc.channel_configuration
            ),
            (2, 44100, 1),
            "{name}"
        );
        // ffmpeg appends a backward-compatible SBR sync extension (0x2B7...) after the core
        // config; we write the core fields only, which must equal the first two bytes.
        assert_eq!(asc.to_bytes(), config[..2], "{name}");
        assert_eq!(AudioSpecificConfig::parse(&asc.to_bytes()).unwrap(), asc);
    }
    // The explicit 24-bit frequency and the escaped object type.
    let odd = AudioSpecificConfig {
        object_type: 42,
        sampling_frequency: 12345,
        channel_configuration: 2,
    };
    assert_eq!(AudioSpecificConfig::parse(&odd.to_bytes()).unwrap(), odd);
}

#[test]
fn hostile_bitstreams_give_errors() {
    let data = Bytes::from_static(&[0, 0, 0, 9, 0x65, 1]);
    let units: Vec<_> = nal_units(&data, 4).collect();
    assert_eq!(units.len(), 1);
    assert!(units[0].is_err());
    assert!(nal_units(&data, 3).next().unwrap().is_err());
    assert!(
        AvcConfig::parse(&Bytes::from_static(&[
            1, 100, 0, 31, 0xFF, 0xE1, 0x00, 0x40, 0x67
        ]))
        .is_err()
    );
    assert!(HevcConfig::parse(&Bytes::from_static(&[1, 1, 2, 3])).is_err());
    assert!(AvcSps::parse(&[0x67, 100]).is_err());
    assert!(HevcSps::parse(&[0x42, 0x01, 0x01]).is_err());
    let obu = Bytes::from_static(&[0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
    assert!(obus(&obu).next().unwrap().is_err());
    assert!(AudioSpecificConfig::parse(&[0x17, 0x80]).is_err());
}

#[test]
fn fuzzer_findings_stay_fixed() {
    // A High profile SPS whose scaling list delta overflowed an i32 sum (cargo fuzz,
    // codec_config, 2026-11-25).
    let sps = [
        0x07, 0x2C, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xB5,
        0xFF, 0xFF, 0x00, 0x00, 0x00, 0x01, 0xFF, 0xFF, 0xFF, 0x10, 0xFF, 0xFF,
    ];
    assert!(AvcSps::parse(&sps).is_err());
}

/// What every track of a sample file tells of itself, per (is video, codec name).
fn track_infos(name: &str) -> Vec<(String, rtmp_flv::TrackInfo)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/media")
        .join(name);
    let mut reader = FlvReader::new();
    reader.push(&std::fs::read(path).unwrap());
    let mut infos: Vec<(String, rtmp_flv::TrackInfo)> = Vec::new();
    while let Some(tag) = reader.next_tag().unwrap() {
        let frames = match tag.tag_type {
            TAG_VIDEO => rtmp_flv::Frame::from_video(&VideoTag::parse(&tag.data).unwrap(), 0),
            TAG_AUDIO => rtmp_flv::Frame::from_audio(&AudioTag::parse(&tag.data).unwrap(), 0),
            _ => continue,
        };
        for frame in frames {
            let codec = frame.codec.to_string();
            if let Some(info) = rtmp_flv::TrackInfo::of(&frame)
                && !infos.iter().any(|(known, _)| *known == codec)
            {
                infos.push((codec, info));
            }
        }
    }
    infos.sort_by(|a, b| a.0.cmp(&b.0));
    infos
}

/// The configuration of every codec ffmpeg 9 writes in Enhanced RTMP form gives what ffmpeg
/// reports of the sample (`ffmpeg -i FILE`): picture size, bit depth, sample rate, channels.
#[test]
fn every_enhanced_codecs_configuration_reads() {
    use rtmp_flv::TrackInfo;
    let video = |width, height, bit_depth| TrackInfo {
        width: Some(width),
        height: Some(height),
        bit_depth,
        ..TrackInfo::default()
    };
    let audio = |rate, channels| TrackInfo {
        sample_rate: Some(rate),
        channels: Some(channels),
        ..TrackInfo::default()
    };
    let h264 = ("H.264 video".to_owned(), video(320, 240, None));
    let cases = [
        (
            "vvc-aac-enhanced.flv",
            vec![
                ("AAC audio".to_owned(), audio(48_000, 1)),
                ("H.266 video".to_owned(), video(320, 240, Some(10))),
            ],
        ),
        (
            "av1-opus-enhanced.flv",
            vec![
                ("AV1 video".to_owned(), video(320, 240, None)),
                ("Opus audio".to_owned(), audio(48_000, 1)),
            ],
        ),
        (
            "h264-flac-enhanced.flv",
            vec![("FLAC audio".to_owned(), audio(48_000, 1)), h264.clone()],
        ),
        (
            "h264-ac3-enhanced.flv",
            vec![("AC-3 audio".to_owned(), audio(48_000, 1)), h264.clone()],
        ),
        (
            "h264-eac3-enhanced.flv",
            vec![("E-AC-3 audio".to_owned(), audio(48_000, 1)), h264.clone()],
        ),
    ];
    for (file, expected) in cases {
        assert_eq!(track_infos(file), expected, "{file}");
    }
    let vp9 = track_infos("vp9-aac-enhanced.flv");
    assert_eq!(
        vp9[1],
        (
            "VP9 video".to_owned(),
            TrackInfo {
                bit_depth: Some(8),
                ..TrackInfo::default()
            }
        )
    );
}
