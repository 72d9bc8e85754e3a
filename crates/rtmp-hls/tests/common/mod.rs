//! Helpers of the tests: the shared sample media as router messages, and readers of what
//! `Hls` answers (playlists through m3u8-rs, fragments through mp4-atom).
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use mp4_atom::{Any, Decode, Moof, TrunSamples};
use rtmp_chunk::RawMessage;
use rtmp_flv::FlvReader;
use rtmp_hls::{Answer, Hls};

/// A sample file of the crate's tests (`tests/media`, shipped in its package).
pub fn media_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/media")
        .join(name)
}

/// The tags of a sample file as router messages.
pub fn messages(name: &str) -> Vec<RawMessage> {
    let data = std::fs::read(media_path(name)).expect("sample media");
    let mut reader = FlvReader::new();
    reader.push(&data);
    let mut out = Vec::new();
    while let Some(tag) = reader.next_tag().expect("the sample parses") {
        out.push(RawMessage::new(4, tag.timestamp, tag.tag_type, 1, tag.data));
    }
    out
}

/// A sample file played `times` times in a row, timestamps going on (one 25 fps frame after
/// the last video frame). Sequence headers are sent once.
pub fn looped(name: &str, times: u32) -> Vec<RawMessage> {
    let once = messages(name);
    let video = once.iter().filter(|m| m.type_id == 9);
    let length = video.map(|m| m.timestamp).max().unwrap_or(0) + 40;
    let mut out = Vec::new();
    for round in 0..times {
        for message in &once {
            let header = is_sequence_header(message);
            if round > 0 && header {
                continue;
            }
            let mut message = message.clone();
            message.timestamp += round * length;
            out.push(message);
        }
    }
    out
}

/// Whether a message is a sequence header (legacy or enhanced).
pub fn is_sequence_header(message: &RawMessage) -> bool {
    rtmp_flv::Frame::of_tag(message.type_id, &message.payload, message.timestamp)
        .iter()
        .any(|frame| frame.kind == rtmp_flv::FrameKind::SequenceStart)
}

/// The wall-clock time of a timestamp.
pub fn at(timestamp: u32) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_millis(timestamp.into())
}

/// Feeds messages, each arriving at its timestamp.
pub fn feed(hls: &mut Hls, messages: &[RawMessage]) {
    for message in messages {
        hls.push(message, at(message.timestamp));
    }
}

/// The body of a ready answer.
pub fn body(hls: &Hls, path: &str, query: Option<&str>) -> Bytes {
    match hls.answer(path, query, None) {
        Answer::Ready(response) => response.body,
        other => panic!("{path}?{query:?}: {other:?}"),
    }
}

/// A playlist's text.
pub fn text(hls: &Hls, path: &str, query: Option<&str>) -> String {
    String::from_utf8(body(hls, path, query).to_vec()).expect("UTF-8")
}

/// A media playlist, parsed by m3u8-rs.
pub fn media_playlist(text: &str) -> m3u8_rs::MediaPlaylist {
    m3u8_rs::parse_media_playlist_res(text.as_bytes()).expect("a media playlist")
}

/// One fragment's decode time and (duration, size, flags) of each sample.
#[derive(Debug, Clone)]
pub struct Fragment {
    pub decode_time: u64,
    pub samples: Vec<(u32, u32, u32)>,
}

impl Fragment {
    pub fn duration(&self) -> u64 {
        self.samples.iter().map(|s| u64::from(s.0)).sum()
    }
}

/// The fragments of a part or segment.
pub fn fragments(body: &[u8]) -> Vec<Fragment> {
    let mut input = body;
    let mut out = Vec::new();
    while !input.is_empty() {
        match Any::decode(&mut input).expect("a box") {
            Any::Moof(moof) => out.push(fragment(&moof)),
            Any::Mdat(_) => {}
            other => panic!("unexpected box {other:?}"),
        }
    }
    out
}

fn fragment(moof: &Moof) -> Fragment {
    let traf = moof.traf.first().expect("a traf");
    let mut samples = Vec::new();
    for trun in &traf.trun {
        if let TrunSamples::Explicit(entries) = &trun.samples {
            for entry in entries {
                samples.push((
                    entry.duration.unwrap_or(0),
                    entry.size.unwrap_or(0),
                    entry.flags.unwrap_or(0),
                ));
            }
        }
    }
    Fragment {
        decode_time: traf.tfdt.as_ref().expect("tfdt").base_media_decode_time,
        samples,
    }
}

/// The `EXT-X-PART` lines of a playlist: (duration, uri, independent).
pub fn parts(text: &str) -> Vec<(f64, String, bool)> {
    text.lines()
        .filter_map(|line| line.strip_prefix("#EXT-X-PART:"))
        .map(|attributes| {
            let duration = attribute(attributes, "DURATION")
                .parse()
                .expect("a duration");
            let uri = attribute(attributes, "URI").trim_matches('"').to_owned();
            (duration, uri, attributes.contains("INDEPENDENT=YES"))
        })
        .collect()
}

/// An attribute's value in an attribute list.
pub fn attribute<'a>(attributes: &'a str, name: &str) -> &'a str {
    let start = attributes.find(&format!("{name}=")).expect(name) + name.len() + 1;
    let rest = &attributes[start..];
    if let Some(quoted) = rest.strip_prefix('"') {
        &rest[..quoted.find('"').expect("closing quote") + 2]
    } else {
        rest.split(',').next().unwrap_or_default()
    }
}

/// `SYNC` sample flags as written.
pub const SYNC: u32 = 0x0200_0000;
