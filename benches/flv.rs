//! FLV: reading a file into tags, parsing audio/video tag headers (legacy and enhanced), the
//! server's allocation-free peek, and H.264 demux to Annex B, over the shared sample files.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rtmp_flv::avc::AvcConfig;
use rtmp_flv::nal::{NalCodec, to_annex_b};
use rtmp_flv::{AudioTag, FlvReader, FlvTag, TAG_AUDIO, TAG_VIDEO, VideoTag, peek_video};

const H264_AAC: &[u8] = include_bytes!("../crates/rtmp-flv/tests/media/h264-aac.flv");
const HEVC_AAC: &[u8] = include_bytes!("../crates/rtmp-flv/tests/media/hevc-aac-enhanced.flv");

fn tags(file: &[u8]) -> Vec<FlvTag> {
    let mut reader = FlvReader::new();
    reader.push(file);
    std::iter::from_fn(|| reader.next_tag().ok().flatten()).collect()
}

fn flv(c: &mut Criterion) {
    let mut group = c.benchmark_group("flv");
    group.throughput(Throughput::Bytes(H264_AAC.len() as u64));
    group.bench_function("read_file/h264-aac", |b| {
        b.iter(|| {
            let mut reader = FlvReader::new();
            reader.push(black_box(H264_AAC));
            let mut count = 0;
            while let Ok(Some(tag)) = reader.next_tag() {
                count += black_box(tag).data.len();
            }
            count
        })
    });
    for (name, file) in [("h264-aac", H264_AAC), ("hevc-aac-enhanced", HEVC_AAC)] {
        let tags = tags(file);
        group.throughput(Throughput::Elements(tags.len() as u64));
        group.bench_function(format!("parse_tags/{name}"), |b| {
            b.iter(|| {
                for tag in &tags {
                    match tag.tag_type {
                        TAG_VIDEO => drop(black_box(VideoTag::parse(&tag.data))),
                        TAG_AUDIO => drop(black_box(AudioTag::parse(&tag.data))),
                        _ => {}
                    }
                }
            })
        });
        group.bench_function(format!("peek_video/{name}"), |b| {
            b.iter(|| {
                tags.iter()
                    .filter(|tag| tag.tag_type == TAG_VIDEO)
                    .filter(|tag| peek_video(black_box(&tag.data)).1)
                    .count()
            })
        });
    }
    group.finish();
}

/// Legacy AVC tags of the H.264 sample: the decoder configuration record and the coded frames
/// (length-prefixed NAL units, after the 5-byte AVC video header).
fn h264_frames() -> (AvcConfig, Vec<Bytes>) {
    let mut config = None;
    let mut frames = Vec::new();
    for tag in tags(H264_AAC) {
        if tag.tag_type != TAG_VIDEO || tag.data.len() < 5 {
            continue;
        }
        let body = tag.data.slice(5..);
        match tag.data.get(1).copied().unwrap_or_default() {
            0 => config = AvcConfig::parse(&body).ok(),
            1 => frames.push(body),
            _ => {}
        }
    }
    let Some(config) = config else {
        panic!("the H.264 sample has no AVC sequence header");
    };
    (config, frames)
}

fn annex_b(c: &mut Criterion) {
    let (config, frames) = h264_frames();
    let sets: Vec<Bytes> = config.sps.iter().chain(&config.pps).cloned().collect();
    let bytes: u64 = frames.iter().map(|frame| frame.len() as u64).sum();
    let mut group = c.benchmark_group("flv");
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("h264_to_annex_b", |b| {
        let mut out = BytesMut::with_capacity(bytes as usize * 2);
        b.iter(|| {
            out.clear();
            for frame in &frames {
                let converted =
                    to_annex_b(NalCodec::H264, frame, config.length_size, &sets, &mut out);
                black_box(converted).ok();
            }
            out.len()
        })
    });
    group.finish();
}

criterion_group!(benches, flv, annex_b);
criterion_main!(benches);
