//! The shared sample media through `Hls`: init sections, segment and part boundaries, decode
//! times, playlists, codecs and left-out tracks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::*;
use mp4_atom::{Any, Codec, Decode, Moov};
use rtmp_flv::{AudioCodec, Codec as FlvCodec, Frame};
use rtmp_hls::{Hls, HlsConfig, SkipReason};

fn stream(name: &str, times: u32) -> Hls {
    let mut hls = Hls::new(HlsConfig::default());
    feed(&mut hls, &looped(name, times));
    hls
}

fn moov(init: &[u8]) -> Moov {
    let mut input = init;
    assert!(matches!(
        Any::decode(&mut input).expect("ftyp"),
        Any::Ftyp(_)
    ));
    match Any::decode(&mut input).expect("moov") {
        Any::Moov(moov) => moov,
        other => panic!("{other:?}"),
    }
}

fn sample_entry(moov: &Moov) -> (&Codec, u32) {
    let trak = moov.trak.first().expect("one trak");
    let codec = trak
        .mdia
        .minf
        .stbl
        .stsd
        .codecs
        .first()
        .expect("a sample entry");
    (codec, trak.mdia.mdhd.timescale)
}

#[test]
fn h264_aac_init_sections_parse_back() {
    let hls = stream("h264-aac.flv", 3);
    let video = moov(&body(&hls, "v0/init0.mp4", None));
    let (codec, timescale) = sample_entry(&video);
    assert_eq!(timescale, 90_000);
    let Codec::Avc1(avc1) = codec else {
        panic!("{codec:?}")
    };
    assert_eq!((avc1.visual.width, avc1.visual.height), (320, 240));
    assert!(video.mvex.is_some());
    let audio = moov(&body(&hls, "a0/init0.mp4", None));
    let (codec, timescale) = sample_entry(&audio);
    assert_eq!(timescale, 44_100);
    assert!(matches!(codec, Codec::Mp4a(_)), "{codec:?}");

    let index = text(&hls, "index.m3u8", None);
    let master = m3u8_rs::parse_master_playlist_res(index.as_bytes()).expect("multivariant");
    assert_eq!(master.variants.len(), 1);
    let variant = &master.variants[0];
    assert_eq!(variant.uri, "v0.m3u8");
    let codecs = variant.codecs.as_deref().unwrap();
    assert!(
        codecs.starts_with("avc1.64") && codecs.ends_with(",mp4a.40.2"),
        "{codecs}"
    );
    assert_eq!(variant.resolution.unwrap().width, 320);
    assert!(variant.bandwidth > 0);
    assert_eq!(variant.audio.as_deref(), Some("a"));
    assert_eq!(master.alternatives.len(), 1);
    assert!(master.alternatives[0].default);
    assert_eq!(master.alternatives[0].uri.as_deref(), Some("a0.m3u8"));
}

#[test]
fn hevc_and_av1_codecs() {
    let hls = stream("hevc-aac-enhanced.flv", 2);
    let index = text(&hls, "index.m3u8", None);
    assert!(index.contains("CODECS=\"hvc1.1.6.L"), "{index}");
    assert!(index.contains("RESOLUTION=320x240"), "{index}");
    let init = moov(&body(&hls, "v0/init0.mp4", None));
    let (codec, _) = sample_entry(&init);
    assert!(matches!(codec, Codec::Hvc1(_)), "{codec:?}");

    let hls = stream("av1-opus-enhanced.flv", 2);
    let index = text(&hls, "index.m3u8", None);
    assert!(index.contains("CODECS=\"av01.0."), "{index}");
    assert!(index.contains("M.08,opus\""), "{index}");
    assert!(index.contains("RESOLUTION=320x240"), "{index}");
    let init = moov(&body(&hls, "v0/init0.mp4", None));
    assert!(matches!(sample_entry(&init).0, Codec::Av01(_)));
    let init = moov(&body(&hls, "a0/init0.mp4", None));
    let (codec, timescale) = sample_entry(&init);
    assert!(matches!(codec, Codec::Opus(_)), "{codec:?}");
    assert_eq!(timescale, 48_000);
}

/// Every part of a rendition, in order, as held: (msn, index, body).
fn all_parts(hls: &Hls, name: &str) -> Vec<(u64, usize, bytes::Bytes)> {
    let playlist = media_playlist(&text(hls, &format!("{name}.m3u8"), None));
    let mut out = Vec::new();
    let mut msn = playlist.media_sequence;
    loop {
        let mut index = 0;
        while let rtmp_hls::Answer::Ready(part) =
            hls.answer(&format!("{name}/{msn}.{index}.m4s"), None, None)
        {
            out.push((msn, index, part.body));
            index += 1;
        }
        if index == 0 {
            return out;
        }
        msn += 1;
    }
}

#[test]
fn segments_start_with_keyframes_parts_are_short_decode_times_continue() {
    for name in [
        "h264-aac.flv",
        "hevc-aac-enhanced.flv",
        "av1-opus-enhanced.flv",
    ] {
        let mut hls = stream(name, 5);
        hls.end();
        let playlist = media_playlist(&text(&hls, "v0.m3u8", None));
        assert!(playlist.end_list);
        assert!(
            playlist.segments.len() >= 4,
            "{name}: {}",
            playlist.segments.len()
        );
        for segment in &playlist.segments {
            let fragments = fragments(&body(&hls, &segment.uri, None));
            let first = fragments.iter().find(|f| !f.samples.is_empty()).unwrap();
            assert_eq!(first.samples[0].2, SYNC, "{name} {}", segment.uri);
            assert!(segment.duration as u64 <= playlist.target_duration);
            // The segment is its parts, in order.
            let msn: u64 = segment
                .uri
                .trim_start_matches("v0/")
                .trim_end_matches(".m4s")
                .parse()
                .unwrap();
            let joined: Vec<u8> = all_parts(&hls, "v0")
                .into_iter()
                .filter(|(m, _, _)| *m == msn)
                .flat_map(|(_, _, body)| body.to_vec())
                .collect();
            assert_eq!(joined, body(&hls, &segment.uri, None).to_vec());
        }
        for rendition in ["v0", "a0"] {
            let parts = all_parts(&hls, rendition);
            assert!(parts.len() > 20, "{name} {rendition}");
            let mut previous: Option<Fragment> = None;
            for (msn, index, body) in &parts {
                let fragment = fragments(body).remove(0);
                if rendition == "v0" {
                    // At most the part target plus one frame (40 ms at 25 fps), in 90 kHz.
                    assert!(fragment.duration() <= 240 * 90, "{name} {msn}.{index}");
                }
                if let Some(previous) = previous {
                    assert_eq!(
                        fragment.decode_time,
                        previous.decode_time + previous.duration(),
                        "{name} {rendition} {msn}.{index}"
                    );
                }
                previous = Some(fragment);
            }
        }
    }
}

#[test]
fn codec_change_makes_a_new_init_section_and_a_discontinuity() {
    let mut hls = Hls::new(HlsConfig::default());
    let first = looped("h264-aac.flv", 2);
    let end = first.iter().map(|m| m.timestamp).max().unwrap() + 40;
    feed(&mut hls, &first);
    let mut second = looped("hevc-aac-enhanced.flv", 3);
    for message in &mut second {
        message.timestamp += end;
    }
    feed(&mut hls, &second);
    let text = text(&hls, "v0.m3u8", None);
    assert!(text.contains("#EXT-X-MAP:URI=\"v0/init1.mp4\""), "{text}");
    let playlist = media_playlist(&text);
    let changed = playlist
        .segments
        .iter()
        .position(|s| s.discontinuity)
        .expect("a discontinuity");
    assert!(playlist.segments[changed].map.is_some());
    let init = moov(&body(&hls, "v0/init1.mp4", None));
    let (codec, _) = sample_entry(&init);
    assert!(matches!(codec, Codec::Hvc1(_)));
    let index = text_of(&hls, "index.m3u8");
    assert!(index.contains("hvc1."), "{index}");
    for segment in &playlist.segments {
        let fragments = fragments(&body(&hls, &segment.uri, None));
        assert_eq!(fragments[0].samples[0].2, SYNC);
    }
}

fn text_of(hls: &Hls, path: &str) -> String {
    text(hls, path, None)
}

#[test]
fn publisher_restart_is_a_discontinuity_with_monotonic_decode_times() {
    let mut hls = Hls::new(HlsConfig::default());
    feed(&mut hls, &looped("h264-aac.flv", 2));
    hls.discontinuity();
    // The publisher comes back, its timestamps from 0 again.
    feed(&mut hls, &looped("h264-aac.flv", 3));
    let playlist = media_playlist(&text(&hls, "v0.m3u8", None));
    assert_eq!(
        playlist.segments.iter().filter(|s| s.discontinuity).count(),
        1
    );
    for rendition in ["v0", "a0"] {
        let mut previous: Option<Fragment> = None;
        for (_, _, body) in all_parts(&hls, rendition) {
            let fragment = fragments(&body).remove(0);
            if let Some(previous) = previous {
                assert!(fragment.decode_time >= previous.decode_time + previous.duration());
            }
            previous = Some(fragment);
        }
    }
}

#[test]
fn pcma_is_left_out_with_a_reason() {
    let hls = stream("h264-pcma.flv", 2);
    let skipped = hls.skipped();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0].codec, FlvCodec::Audio(AudioCodec::G711ALaw));
    assert_eq!(skipped[0].reason, SkipReason::UnsupportedCodec);
    assert_eq!(skipped[0].track_id, 0);
    assert!(skipped[0].to_string().contains("G.711 A-law"));
    let index = text(&hls, "index.m3u8", None);
    assert!(
        !index.contains("EXT-X-MEDIA") && !index.contains("AUDIO="),
        "{index}"
    );
    assert!(hls.answer("a0.m3u8", None, None) == rtmp_hls::Answer::NotFound);
}

#[test]
fn multitrack_video_is_one_variant_per_track() {
    let mut messages = Vec::new();
    for message in looped("h264-aac.flv", 3) {
        messages.push(message.clone());
        if message.type_id == 9 {
            for mut frame in Frame::of_tag(9, &message.payload, message.timestamp) {
                frame.track_id = 1;
                let tag = frame.to_video_tag(true).unwrap().to_bytes().unwrap();
                let mut copy = message.clone();
                copy.payload = tag;
                messages.push(copy);
            }
        }
    }
    let mut hls = Hls::new(HlsConfig::default());
    feed(&mut hls, &messages);
    let index = text(&hls, "index.m3u8", None);
    let master = m3u8_rs::parse_master_playlist_res(index.as_bytes()).unwrap();
    let uris: Vec<_> = master.variants.iter().map(|v| v.uri.as_str()).collect();
    assert_eq!(uris, ["v0.m3u8", "v1.m3u8"]);
    let v0 = media_playlist(&text(&hls, "v0.m3u8", None));
    let v1 = media_playlist(&text(&hls, "v1.m3u8", None));
    assert_eq!(v0.media_sequence, v1.media_sequence);
    assert_eq!(v0.segments.len(), v1.segments.len());
    for segment in &v1.segments {
        assert_eq!(
            fragments(&body(&hls, &segment.uri, None))[0].samples[0].2,
            SYNC
        );
    }
    let text = text(&hls, "v1.m3u8", None);
    assert!(text.contains("#EXT-X-RENDITION-REPORT:URI=\"v0.m3u8\""));
    assert!(text.contains("#EXT-X-RENDITION-REPORT:URI=\"a0.m3u8\""));
}
