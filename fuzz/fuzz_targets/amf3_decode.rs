//! AMF3 decoding of arbitrary bytes (references, traits, vectors, dictionaries); whatever
//! decodes holds at most a fixed multiple of its input, encodes, and that encoding decodes and
//! encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtmp_amf0::amf3;

fuzz_target!(|data: &[u8]| {
    let Ok((value, used)) = amf3::decode(data) else {
        return;
    };
    assert!(used <= data.len());
    // The decoded value is bounded by the bytes it came from, references followed.
    assert!(value.footprint() <= used * amf3::MAX_EXPANSION + amf3::EXPANSION_SLACK);
    let mut bytes = Vec::new();
    amf3::encode(&value, &mut bytes).expect("a decoded value encodes");
    let (again, again_used) = amf3::decode(&bytes).expect("an encoded value decodes");
    assert_eq!(again_used, bytes.len());
    // Bytes, not values: NaN doubles are not equal to themselves.
    let mut bytes_again = Vec::new();
    amf3::encode(&again, &mut bytes_again).expect("it encodes again");
    assert_eq!(bytes_again, bytes);
});
