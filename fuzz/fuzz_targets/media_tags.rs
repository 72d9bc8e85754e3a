//! Audio and video tag parsing (legacy and enhanced); whatever parses must encode and parse to
//! itself.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rtmp_flv::{AudioTag, Frame, VideoTag};

fuzz_target!(|data: &[u8]| {
    let data = Bytes::copy_from_slice(data);
    if let Ok(tag) = VideoTag::parse(&data) {
        let _ = Frame::from_video(&tag, 0);
        if let Ok(bytes) = tag.to_bytes() {
            assert_eq!(VideoTag::parse(&bytes).expect("re-parses"), tag);
        }
    }
    if let Ok(tag) = AudioTag::parse(&data) {
        let _ = Frame::from_audio(&tag, 0);
        if let Ok(bytes) = tag.to_bytes() {
            assert_eq!(AudioTag::parse(&bytes).expect("re-parses"), tag);
        }
    }
});
