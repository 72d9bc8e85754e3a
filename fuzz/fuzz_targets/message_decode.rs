//! Typed message decoding of arbitrary bodies (the first byte is the type id); whatever
//! decodes must encode and decode to itself.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rtmp_message::Message;

fuzz_target!(|data: &[u8]| {
    let Some((&type_id, body)) = data.split_first() else {
        return;
    };
    let Ok(message) = Message::decode_body(type_id, &Bytes::copy_from_slice(body)) else {
        return;
    };
    let Ok(encoded) = message.encode() else {
        return;
    };
    let again = Message::decode_body(type_id, &encoded).expect("an encoded message decodes");
    // NaN numbers never equal themselves; compare the encodings instead.
    assert_eq!(again.encode().expect("encodes again"), encoded);
});
