//! Audio and video tag parsing (legacy and enhanced); whatever parses must encode and parse to
//! itself, hold at most 64 bytes per input byte (payloads are slices of the input), and list
//! each configured track once.
#![no_main]

use std::mem::size_of;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rtmp_flv::{AudioTag, AudioTrack, Frame, VideoBody, VideoTag, VideoTrack, configured_tracks};

/// Bytes a parsed tag may hold per input byte, beyond its fixed size.
const MAX_EXPANSION: usize = 64;

fuzz_target!(|data: &[u8]| {
    let data = Bytes::copy_from_slice(data);
    for tag_type in [8, 9] {
        let tracks = configured_tracks(tag_type, &data);
        assert!(tracks.len() <= 256, "{} configured tracks", tracks.len());
    }
    if let Ok(tag) = VideoTag::parse(&data) {
        if let VideoBody::Tracks(tracks) = &tag.body {
            assert!(tracks.len() * size_of::<VideoTrack>() <= MAX_EXPANSION * data.len());
        }
        let _ = Frame::from_video(&tag, 0);
        if let Ok(bytes) = tag.to_bytes() {
            assert_eq!(VideoTag::parse(&bytes).expect("re-parses"), tag);
        }
    }
    if let Ok(tag) = AudioTag::parse(&data) {
        assert!(tag.tracks.len() * size_of::<AudioTrack>() <= MAX_EXPANSION * data.len());
        let _ = Frame::from_audio(&tag, 0);
        if let Ok(bytes) = tag.to_bytes() {
            assert_eq!(AudioTag::parse(&bytes).expect("re-parses"), tag);
        }
    }
});
