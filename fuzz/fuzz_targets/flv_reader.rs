//! The FLV reader fed arbitrary bytes after a valid header, in two pieces.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtmp_flv::FlvReader;

fuzz_target!(|data: &[u8]| {
    let mut reader = FlvReader::new().with_max_tag_size(1 << 20);
    reader.push(b"FLV\x01\x05\x00\x00\x00\x09");
    let (first, second) = data.split_at(data.len() / 2);
    for piece in [first, second] {
        reader.push(piece);
        while let Ok(Some(_)) = reader.next_tag() {}
    }
});
