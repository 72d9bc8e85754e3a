//! AMF0 decoding of arbitrary bytes (AMF3 switches included); whatever decodes encodes, and
//! that encoding decodes and encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtmp_amf0::Decoder;

fuzz_target!(|data: &[u8]| {
    let mut decoder = Decoder::new(data);
    while let Ok(value) = decoder.decode() {
        let bytes = value.to_bytes().expect("a decoded value encodes");
        let again = rtmp_amf0::decode(&bytes).expect("an encoded value decodes");
        // Bytes, not values: NaN numbers are not equal to themselves.
        assert_eq!(again.to_bytes().expect("it encodes again"), bytes);
    }
});
