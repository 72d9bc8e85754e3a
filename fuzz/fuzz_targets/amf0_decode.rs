//! AMF0 decoding of arbitrary bytes (AMF3 switches included); whatever decodes encodes, and
//! that encoding decodes and encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtmp_amf0::Decoder;

fuzz_target!(|data: &[u8]| {
    let mut decoder = Decoder::new(data);
    let mut footprint = 0;
    while let Ok(value) = decoder.decode() {
        footprint += value.footprint();
        // What decoded so far holds at most a fixed multiple of the bytes it came from.
        assert!(
            footprint
                <= decoder.position() * rtmp_amf0::MAX_EXPANSION + rtmp_amf0::amf3::EXPANSION_SLACK
        );
        let bytes = value.to_bytes().expect("a decoded value encodes");
        let again = rtmp_amf0::decode(&bytes).expect("an encoded value decodes");
        // Bytes, not values: NaN numbers are not equal to themselves.
        assert_eq!(again.to_bytes().expect("it encodes again"), bytes);
    }
});
