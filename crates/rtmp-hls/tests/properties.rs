//! Properties over any sequence of keyframes, inter frames and audio frames with
//! non-decreasing timestamps: every video segment starts with a keyframe, every part lasts at
//! most the part target plus one frame, and decode times run on without holes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use bytes::Bytes;
use common::*;
use proptest::prelude::*;
use rtmp_chunk::RawMessage;
use rtmp_hls::{Answer, Hls, HlsConfig};

#[derive(Debug, Clone, Copy)]
enum Event {
    Key,
    Inter,
    Audio,
}

fn events() -> impl Strategy<Value = Vec<(Event, u32)>> {
    let event = prop_oneof![
        1 => Just(Event::Key),
        6 => Just(Event::Inter),
        4 => Just(Event::Audio),
    ];
    proptest::collection::vec((event, 0u32..120), 1..600)
}

fn all_fragments(hls: &Hls, name: &str) -> Vec<(u64, usize, Fragment)> {
    let mut out = Vec::new();
    let Answer::Ready(playlist) = hls.answer(&format!("{name}.m3u8"), None, None) else {
        return out;
    };
    let playlist = media_playlist(std::str::from_utf8(&playlist.body).unwrap());
    let mut msn = playlist.media_sequence;
    loop {
        let mut index = 0;
        while let Answer::Ready(part) = hls.answer(&format!("{name}/{msn}.{index}.m4s"), None, None)
        {
            out.extend(fragments(&part.body).into_iter().map(|f| (msn, index, f)));
            index += 1;
        }
        if index == 0 {
            return out;
        }
        msn += 1;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn segments_start_with_keyframes_and_parts_stay_short(events in events(), end in any::<bool>()) {
        let headers = messages("h264-aac.flv");
        let mut hls = Hls::new(HlsConfig::default());
        for message in headers.iter().filter(|m| is_sequence_header(m)) {
            hls.push(message, at(0));
        }
        let key = Bytes::from_static(&[0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65]);
        let inter = Bytes::from_static(&[0x27, 1, 0, 0, 0, 0, 0, 0, 1, 0x41]);
        let audio = Bytes::from_static(&[0xAF, 1, 0x21, 0x10]);
        let mut time = 0u32;
        for (event, step) in events {
            time += step;
            let (type_id, payload) = match event {
                Event::Key => (9, key.clone()),
                Event::Inter => (9, inter.clone()),
                Event::Audio => (8, audio.clone()),
            };
            hls.push(&RawMessage::new(4, time, type_id, 1, payload), at(time));
        }
        if end {
            hls.end();
        }
        let video = all_fragments(&hls, "v0");
        let mut previous: Option<&Fragment> = None;
        for (_, index, fragment) in &video {
            if *index == 0 {
                prop_assert_eq!(fragment.samples.first().map(|s| s.2), Some(SYNC));
            }
            // All samples but the last start before the part target (200 ms at 90 kHz).
            let but_last: u64 = fragment.samples.iter().rev().skip(1).map(|s| u64::from(s.0)).sum();
            prop_assert!(but_last < 200 * 90, "{:?}", fragment);
            if let Some(previous) = previous {
                prop_assert_eq!(fragment.decode_time, previous.decode_time + previous.duration());
            }
            previous = Some(fragment);
        }
        let audio = all_fragments(&hls, "a0");
        for pair in audio.windows(2) {
            prop_assert!(pair[1].2.decode_time >= pair[0].2.decode_time + pair[0].2.duration());
        }
    }
}
