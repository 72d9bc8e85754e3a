//! What `Hls::answer` says: blocking reloads, preload hints, delta updates, the carried query,
//! the end of the stream, and the memory held over an hour.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use bytes::Bytes;
use common::*;
use rtmp_chunk::RawMessage;
use rtmp_hls::{Answer, Hls, HlsConfig};

fn hint(text: &str) -> (u64, usize) {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-PRELOAD-HINT:"))
        .expect("a hint");
    let uri = attribute(line, "URI").trim_matches('"');
    let (msn, part) = uri
        .trim_start_matches("v0/")
        .trim_end_matches(".m4s")
        .split_once('.')
        .unwrap();
    (msn.parse().unwrap(), part.parse().unwrap())
}

#[test]
fn blocking_reloads_and_preload_hints() {
    let messages = looped("h264-aac.flv", 3);
    let mut hls = Hls::new(HlsConfig::default());
    let (first, rest) = messages.split_at(messages.len() / 2);
    assert_eq!(hls.answer("index.m3u8", None, None), Answer::Wait);
    feed(&mut hls, first);
    let playlist = text(&hls, "v0.m3u8", None);
    let (msn, part) = hint(&playlist);
    let last = parts(&playlist).last().unwrap().1.clone();
    let hinted = format!("v0/{msn}.{part}.m4s");
    let blocking = format!("_HLS_msn={msn}&_HLS_part={part}");
    assert_eq!(hls.answer("v0.m3u8", Some(&blocking), None), Answer::Wait);
    assert_eq!(hls.answer(&hinted, None, None), Answer::Wait);
    assert!(hls.answer(&last, None, None).is_ready());
    // A part already made answers at once; so does a whole older segment.
    let (last_msn, last_part) = last
        .trim_start_matches("v0/")
        .trim_end_matches(".m4s")
        .split_once('.')
        .unwrap();
    let made = format!("_HLS_msn={last_msn}&_HLS_part={last_part}");
    assert!(hls.answer("v0.m3u8", Some(&made), None).is_ready());
    assert!(hls.answer("v0.m3u8", Some("_HLS_msn=0"), None).is_ready());
    // Too far ahead, a part without its segment, bad values and names.
    let far = format!("_HLS_msn={}", msn + 2);
    assert_eq!(hls.answer("v0.m3u8", Some(&far), None), Answer::BadRequest);
    assert_eq!(
        hls.answer("v0.m3u8", Some("_HLS_part=1"), None),
        Answer::BadRequest
    );
    assert_eq!(
        hls.answer("v0.m3u8", Some("_HLS_msn=-1"), None),
        Answer::BadRequest
    );
    assert_eq!(
        hls.answer(&format!("v0/{}.0.m4s", msn + 5), None, None),
        Answer::BadRequest
    );
    assert_eq!(hls.answer("v0/init7.mp4", None, None), Answer::NotFound);
    assert_eq!(hls.answer("v5.m3u8", None, None), Answer::NotFound);
    assert_eq!(hls.answer("video.mp4", None, None), Answer::BadRequest);
    // The hinted part comes with the next media, and the version says so.
    let version = hls.version();
    let mut fed = 0;
    while hls.answer(&hinted, None, None) == Answer::Wait {
        hls.push(&rest[fed], at(rest[fed].timestamp));
        fed += 1;
    }
    assert!(hls.version() > version);
    assert!(hls.answer(&hinted, None, None).is_ready());
    assert!(hls.answer("v0.m3u8", Some(&blocking), None).is_ready());
    // After the end nothing waits, and the playlists end.
    feed(&mut hls, &rest[fed..]);
    hls.end();
    let playlist = text(&hls, "v0.m3u8", None);
    assert!(playlist.ends_with("#EXT-X-ENDLIST\n"), "{playlist}");
    assert!(!playlist.contains("PRELOAD-HINT"));
    assert!(media_playlist(&playlist).end_list);
    assert!(text(&hls, "a0.m3u8", None).ends_with("#EXT-X-ENDLIST\n"));
    let next = format!("_HLS_msn={}", media_playlist(&playlist).segments.len() + 1);
    assert!(hls.answer("v0.m3u8", Some(&next), None).is_ready());
    let (msn, part) = (media_playlist(&playlist).segments.len(), 0);
    assert_eq!(
        hls.answer(&format!("v0/{msn}.{part}.m4s"), None, None),
        Answer::NotFound
    );
}

#[test]
fn old_segments_leave_the_window() {
    let mut config = HlsConfig::default();
    config.window = 2;
    let mut hls = Hls::new(config);
    feed(&mut hls, &looped("h264-aac.flv", 6));
    let playlist = media_playlist(&text(&hls, "v0.m3u8", None));
    assert_eq!(playlist.segments.len(), 2);
    assert!(playlist.media_sequence >= 3);
    assert_eq!(hls.answer("v0/0.m4s", None, None), Answer::NotFound);
    assert_eq!(hls.answer("v0/0.0.m4s", None, None), Answer::NotFound);
    assert_eq!(hls.answer("a0/0.m4s", None, None), Answer::NotFound);
    let audio = media_playlist(&text(&hls, "a0.m3u8", None));
    assert_eq!(audio.media_sequence, playlist.media_sequence);
    for segment in playlist.segments.iter().chain(&audio.segments) {
        assert!(hls.answer(&segment.uri, None, None).is_ready());
    }
}

#[test]
fn delta_updates_skip_old_segments() {
    let mut config = HlsConfig::default();
    config.window = 20;
    let mut hls = Hls::new(config);
    feed(&mut hls, &looped("h264-aac.flv", 15));
    let full = text(&hls, "v0.m3u8", None);
    assert!(full.contains("CAN-SKIP-UNTIL=12.0"), "{full}");
    let delta = text(&hls, "v0.m3u8", Some("_HLS_skip=YES"));
    let line = delta
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-SKIP:SKIPPED-SEGMENTS="))
        .expect("a skip");
    let skipped: usize = line.parse().unwrap();
    assert!(skipped >= 5, "{delta}");
    let count = |text: &str| text.lines().filter(|l| l.starts_with("#EXTINF")).count();
    assert_eq!(count(&delta) + skipped, count(&full));
    assert_eq!(text(&hls, "v0.m3u8", Some("_HLS_skip=v2")), delta);
    assert!(delta.contains("#EXT-X-MAP:"));
}

/// Every URI of a playlist: the lines that are not tags and the URI attributes.
fn uris(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        if !line.starts_with('#') && !line.is_empty() {
            out.push(line.to_owned());
        } else if line.contains("URI=\"") {
            out.push(attribute(line, "URI").trim_matches('"').to_owned());
        }
    }
    out
}

#[test]
fn the_carried_query_reaches_every_uri_and_every_uri_answers() {
    let mut hls = Hls::new(HlsConfig::default());
    feed(&mut hls, &looped("h264-aac.flv", 4));
    let carry = "token=abc&expires=123";
    for playlist in ["index.m3u8", "v0.m3u8", "a0.m3u8"] {
        let Answer::Ready(response) = hls.answer(playlist, None, Some(carry)) else {
            panic!("{playlist}");
        };
        assert!(!response.immutable);
        assert_eq!(response.content_type, "application/vnd.apple.mpegurl");
        let text = String::from_utf8(response.body.to_vec()).unwrap();
        let listed = uris(&text);
        assert!(listed.len() >= 2, "{text}");
        for uri in listed {
            let (path, query) = uri.split_once('?').expect("a query");
            assert_eq!(query, carry, "{uri}");
            match hls.answer(path, None, None) {
                Answer::Ready(response) => {
                    if path.ends_with(".m4s") || path.ends_with(".mp4") {
                        assert!(response.immutable);
                        let audio = path.starts_with("a0");
                        let expected = if audio { "audio/mp4" } else { "video/mp4" };
                        assert_eq!(response.content_type, expected);
                    }
                }
                // Only the preload hint is not made yet.
                Answer::Wait => {
                    assert!(text.contains(&format!("PRELOAD-HINT:TYPE=PART,URI=\"{uri}\"")))
                }
                other => panic!("{uri}: {other:?}"),
            }
        }
    }
    // Without carry, no query at all.
    assert!(!text(&hls, "v0.m3u8", None).contains('?'));
    // Bodies are shared, not copied.
    let a = body(&hls, "v0/0.m4s", None);
    let b = body(&hls, "v0/0.m4s", None);
    assert_eq!(a.as_ptr(), b.as_ptr());
}

/// An hour of synthetic 2.5 Mbit/s H.264 (25 fps, a keyframe every 2 s) and AAC.
fn hour(hls: &mut Hls, check: impl Fn(&Hls)) {
    let headers = messages("h264-aac.flv");
    let header = |type_id| {
        headers
            .iter()
            .find(|m| m.type_id == type_id && is_sequence_header(m))
            .unwrap()
            .clone()
    };
    hls.push(&header(9), at(0));
    hls.push(&header(8), at(0));
    let key = Bytes::from([&[0x17u8, 1, 0, 0, 0][..], &vec![0u8; 40_000]].concat());
    let inter = Bytes::from([&[0x27u8, 1, 0, 0, 0][..], &vec![0u8; 11_000]].concat());
    let audio = Bytes::from([&[0xAFu8, 1][..], &[0u8; 300][..]].concat());
    let mut audio_time = 0;
    for frame in 0..25 * 3600u32 {
        let time = frame * 40;
        let payload = if frame % 50 == 0 {
            key.clone()
        } else {
            inter.clone()
        };
        hls.push(&RawMessage::new(6, time, 9, 1, payload), at(time));
        while audio_time <= time {
            hls.push(
                &RawMessage::new(4, audio_time, 8, 1, audio.clone()),
                at(audio_time),
            );
            audio_time += 23;
        }
        if frame % 500 == 0 {
            check(hls);
        }
    }
}

#[test]
fn an_hour_of_media_holds_the_window_only() {
    let mut hls = Hls::new(HlsConfig::default());
    hour(&mut hls, |hls| {
        // 7 segments of 2 s at ~2.4 Mbit/s, the open one and the init sections.
        assert!(hls.bytes() < 5 << 20, "{}", hls.bytes());
    });
    let playlist = media_playlist(&text(&hls, "v0.m3u8", None));
    assert_eq!(playlist.segments.len(), 7);
    assert_eq!(playlist.target_duration, 2);
}

#[test]
fn max_bytes_bounds_a_stream() {
    let mut config = HlsConfig::default();
    config.max_bytes = 1 << 20;
    let mut hls = Hls::new(config);
    hour(&mut hls, |hls| {
        assert!(hls.bytes() <= 1 << 20, "{}", hls.bytes())
    });
    assert!(hls.answer("v0.m3u8", None, None).is_ready());
}

#[test]
fn a_segment_larger_than_the_budget_is_cut() {
    let mut config = HlsConfig::default();
    config.max_bytes = 256 << 10;
    let mut hls = Hls::new(config);
    let headers = messages("h264-aac.flv");
    let header = headers
        .iter()
        .find(|m| m.type_id == 9 && is_sequence_header(m))
        .unwrap();
    hls.push(header, at(0));
    let key = Bytes::from([&[0x17u8, 1, 0, 0, 0][..], &vec![0u8; 10_000]].concat());
    let inter = Bytes::from([&[0x27u8, 1, 0, 0, 0][..], &vec![0u8; 10_000]].concat());
    // One keyframe, then a minute of inter frames: the segment never reaches a keyframe.
    for frame in 0..1500u32 {
        let payload = if frame == 0 {
            key.clone()
        } else {
            inter.clone()
        };
        hls.push(
            &RawMessage::new(6, frame * 40, 9, 1, payload),
            at(frame * 40),
        );
        assert!(hls.bytes() <= 256 << 10, "{}", hls.bytes());
    }
    assert!(hls.dropped() > 1000);
}

#[test]
fn a_media_playlist_reads_as_expected() {
    let mut hls = Hls::new(HlsConfig::default());
    feed(&mut hls, &looped("h264-aac.flv", 4));
    let text = text(&hls, "v0.m3u8", Some("_HLS_msn=1"));
    let head = "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n\
        #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.0,HOLD-BACK=6.0,PART-HOLD-BACK=0.600\n\
        #EXT-X-PART-INF:PART-TARGET=0.200\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-DISCONTINUITY-SEQUENCE:0\n\
        #EXT-X-MAP:URI=\"v0/init0.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.000Z\n";
    assert!(text.starts_with(head), "{text}");
    assert!(
        text.contains("#EXT-X-PART:DURATION=0.200,URI=\"v0/1.0.m4s\",INDEPENDENT=YES\n"),
        "{text}"
    );
    // The first segment ends at the first keyframe a part in (a GOP of 1 s here), the
    // others at the first keyframe 2 s in.
    assert!(text.contains("#EXTINF:1.000,\nv0/0.m4s\n"), "{text}");
    assert!(text.contains("#EXTINF:2.000,\nv0/1.m4s\n"), "{text}");
    assert!(
        text.contains("#EXT-X-RENDITION-REPORT:URI=\"a0.m3u8\",LAST-MSN="),
        "{text}"
    );
    assert_eq!(hls.target_duration(), std::time::Duration::from_secs(2));
    assert_eq!(hls.part_target(), std::time::Duration::from_millis(200));
}

#[test]
fn a_playlist_is_written_once_per_change_and_shared() {
    let mut hls = Hls::new(HlsConfig::default());
    feed(&mut hls, &looped("h264-aac.flv", 4));
    let body = |hls: &Hls, carry: Option<&str>| match hls.answer("v0.m3u8", None, carry) {
        Answer::Ready(response) => response.body,
        other => panic!("{other:?}"),
    };
    let (first, again) = (body(&hls, None), body(&hls, None));
    assert_eq!(first.as_ptr(), again.as_ptr(), "one body for every request");
    let carried = body(&hls, Some("token=abc"));
    assert_ne!(first, carried, "each carried query has its own");
    assert!(String::from_utf8_lossy(&carried).contains("?token=abc"));
    // A change writes it anew.
    hls.end();
    let ended = body(&hls, None);
    assert!(String::from_utf8_lossy(&ended).contains("#EXT-X-ENDLIST"));
    assert!(!String::from_utf8_lossy(&first).contains("#EXT-X-ENDLIST"));
}

#[test]
fn a_stream_of_one_keyframe_that_ends_keeps_it() {
    let mut hls = Hls::new(HlsConfig::default());
    for message in messages("h264-aac.flv")
        .iter()
        .filter(|m| is_sequence_header(m))
    {
        hls.push(message, at(0));
    }
    let key = Bytes::from_static(&[0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65]);
    hls.push(&RawMessage::new(4, 0, 9, 1, key), at(0));
    hls.end();
    let Answer::Ready(part) = hls.answer("v0/0.0.m4s", None, None) else {
        panic!("the part exists");
    };
    let fragments = fragments(&part.body);
    let samples: usize = fragments.iter().map(|f| f.samples.len()).sum();
    assert_eq!(samples, 1, "{fragments:?}");
}
