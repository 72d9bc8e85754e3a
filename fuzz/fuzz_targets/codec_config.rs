//! Decoder configuration records (AVC, HEVC, AV1, VP9, VVC, AAC, Opus, FLAC, AC-3/E-AC-3),
//! parameter sets and bitstream splitting; records that parse and encode must encode and parse
//! to themselves.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rtmp_flv::aac::AudioSpecificConfig;
use rtmp_flv::ac3::Ac3Info;
use rtmp_flv::av1::{Av1Config, Av1SequenceHeader, obus};
use rtmp_flv::avc::{AvcConfig, AvcSps};
use rtmp_flv::flac::FlacStreamInfo;
use rtmp_flv::hevc::{HevcConfig, HevcSps};
use rtmp_flv::nal::{annex_b_units, nal_units};
use rtmp_flv::opus::OpusHead;
use rtmp_flv::vp9::VpcConfig;
use rtmp_flv::vvc::VvcConfig;

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);
    if let Ok(config) = AvcConfig::parse(&bytes) {
        if let Ok(encoded) = config.to_bytes() {
            assert_eq!(AvcConfig::parse(&encoded).expect("re-parses"), config);
        }
    }
    if let Ok(config) = HevcConfig::parse(&bytes) {
        if let Ok(encoded) = config.to_bytes() {
            assert_eq!(HevcConfig::parse(&encoded).expect("re-parses"), config);
        }
    }
    if let Ok(config) = Av1Config::parse(&bytes) {
        assert_eq!(
            Av1Config::parse(&config.to_bytes()).expect("re-parses"),
            config
        );
        let _ = config.sequence_header();
    }
    let _ = Av1Config::from_sequence_header(bytes.clone());
    let _ = AvcSps::parse(data);
    let _ = HevcSps::parse(data);
    let _ = Av1SequenceHeader::parse(data);
    let _ = AudioSpecificConfig::parse(data);
    let _ = VpcConfig::parse(&bytes);
    let _ = VvcConfig::parse(&bytes);
    let _ = OpusHead::parse(&bytes);
    let _ = FlacStreamInfo::parse(&bytes);
    for info in [
        Ac3Info::from_frame(&bytes),
        Ac3Info::from_dac3(&bytes),
        Ac3Info::from_dec3(&bytes),
    ]
    .into_iter()
    .flatten()
    {
        let _ = info.channels();
    }
    for size in [1, 2, 4] {
        let _ = nal_units(&bytes, size).count();
    }
    let _ = annex_b_units(&bytes).count();
    let _ = obus(&bytes).count();
});
