//! AMF0 decoding of arbitrary bytes; whatever decodes must encode and decode to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtmp_amf0::{Decoder, Value};

fuzz_target!(|data: &[u8]| {
    let mut decoder = Decoder::new(data);
    while let Ok(value) = decoder.decode() {
        let bytes = value.to_bytes().expect("a decoded value encodes");
        let again = rtmp_amf0::decode(&bytes).expect("an encoded value decodes");
        // NaN numbers are the one value that is not equal to itself.
        if !contains_nan(&value) {
            assert_eq!(again, value);
        }
    }
});

fn contains_nan(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.is_nan(),
        Value::Date { millis, .. } => millis.is_nan(),
        Value::StrictArray(values) => values.iter().any(contains_nan),
        other => other
            .as_object()
            .is_some_and(|object| object.iter().any(|(_, v)| contains_nan(v))),
    }
}
