//! Byte-exact vectors for every marker, and the errors hostile input must produce.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

use rtmp_amf0::{DecodeErrorKind, Decoder, Object, Value, decode, decode_all};

/// Encodes `value`, compares with `bytes`, and decodes `bytes` back to `value`.
fn check(value: Value, bytes: &[u8]) {
    let encoded = value.to_bytes().unwrap();
    assert_eq!(&encoded[..], bytes, "encoding of {value:?}");
    assert_eq!(value.encoded_len(), bytes.len());
    assert_eq!(decode(bytes).unwrap(), value, "decoding of {bytes:02x?}");
}

fn kind(bytes: &[u8]) -> DecodeErrorKind {
    decode(bytes).unwrap_err().kind
}

#[test]
fn number() {
    check(Value::Number(1.0), &[0x00, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0]);
    check(Value::Number(-0.5), &[0x00, 0xBF, 0xE0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn boolean() {
    check(Value::Boolean(true), &[0x01, 0x01]);
    check(Value::Boolean(false), &[0x01, 0x00]);
    // Any non-zero byte is true.
    assert_eq!(decode(&[0x01, 0x7F]).unwrap(), Value::Boolean(true));
}

#[test]
fn string_and_long_string() {
    check(
        Value::from("live"),
        &[0x02, 0x00, 0x04, b'l', b'i', b'v', b'e'],
    );
    check(Value::from(""), &[0x02, 0x00, 0x00]);
    // A long string marker with a short text decodes to the same String value.
    assert_eq!(
        decode(&[0x0C, 0, 0, 0, 2, b'o', b'k']).unwrap(),
        Value::from("ok")
    );
    // Text longer than 65535 bytes is written with the long string marker.
    let long = "x".repeat(70_000);
    let encoded = Value::from(long.as_str()).to_bytes().unwrap();
    assert_eq!(&encoded[..5], &[0x0C, 0x00, 0x01, 0x11, 0x70]);
    assert_eq!(decode(&encoded).unwrap(), Value::from(long));
}

#[test]
fn object_keeps_order() {
    let value = Value::object([("b", Value::from(1.0)), ("a", Value::Null)]);
    let mut bytes = vec![0x03, 0x00, 0x01, b'b', 0x00, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0];
    bytes.extend_from_slice(&[0x00, 0x01, b'a', 0x05, 0x00, 0x00, 0x09]);
    check(value, &bytes);
}

#[test]
fn null_undefined_unsupported_reference() {
    check(Value::Null, &[0x05]);
    check(Value::Undefined, &[0x06]);
    check(Value::Unsupported, &[0x0D]);
    check(Value::Reference(0x0102), &[0x07, 0x01, 0x02]);
}

#[test]
fn ecma_array() {
    let value = Value::ecma_array([("duration", 0.0)]);
    let mut bytes = vec![0x08, 0, 0, 0, 1, 0x00, 0x08];
    bytes.extend_from_slice(b"duration");
    bytes.extend_from_slice(&[0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0x09]);
    check(value.clone(), &bytes);
    // The count is a hint: a wrong count still decodes by the end marker.
    bytes[4] = 7;
    assert_eq!(decode(&bytes).unwrap(), value);
    // Some encoders end an ECMA array with the input instead of an end marker.
    let mut truncated = bytes[..bytes.len() - 3].to_vec();
    truncated[4] = 1;
    assert_eq!(decode(&truncated).unwrap(), value);
}

#[test]
fn strict_array() {
    check(
        Value::StrictArray(vec![Value::from(true), Value::Null]),
        &[0x0A, 0, 0, 0, 2, 0x01, 0x01, 0x05],
    );
}

#[test]
fn date_with_time_zone() {
    check(
        Value::Date {
            millis: 1.0,
            time_zone: -60,
        },
        &[0x0B, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0, 0xFF, 0xC4],
    );
}

#[test]
fn xml_document() {
    check(
        Value::XmlDocument("<a/>".into()),
        &[0x0F, 0, 0, 0, 4, b'<', b'a', b'/', b'>'],
    );
}

#[test]
fn typed_object() {
    let value = Value::TypedObject {
        class_name: "P".into(),
        properties: [("x", 2.0)].into_iter().collect::<Object>(),
    };
    check(
        value,
        &[
            0x10, 0x00, 0x01, b'P', 0x00, 0x01, b'x', 0x00, 0x40, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x00,
            0x09,
        ],
    );
}

#[test]
fn reserved_unknown_and_amf3_markers_are_errors() {
    assert_eq!(kind(&[0x04]), DecodeErrorKind::ReservedMarker(0x04));
    assert_eq!(kind(&[0x0E]), DecodeErrorKind::ReservedMarker(0x0E));
    assert_eq!(
        kind(&[0x11, 0x12]),
        DecodeErrorKind::Amf3(rtmp_amf0::amf3::DecodeErrorKind::UnknownMarker(0x12))
    );
    assert_eq!(kind(&[0x12]), DecodeErrorKind::UnknownMarker(0x12));
    assert_eq!(kind(&[0x09]), DecodeErrorKind::UnexpectedObjectEnd);
}

#[test]
fn truncation_reports_position_and_shortfall() {
    let error = decode(&[0x02, 0x00, 0x05, b'a']).unwrap_err();
    assert_eq!(error.position, 3);
    assert_eq!(error.kind, DecodeErrorKind::UnexpectedEof { needed: 4 });
    assert_eq!(kind(&[]), DecodeErrorKind::UnexpectedEof { needed: 1 });
    // Inside an object the position points at the failing property's bytes.
    let error = decode(&[0x03, 0x00, 0x01, b'k', 0x00, 0x3F]).unwrap_err();
    assert_eq!(error.position, 5);
}

#[test]
fn lengths_are_checked_before_allocation() {
    // A strict array claiming four billion elements in five bytes fails without allocating.
    assert_eq!(
        kind(&[0x0A, 0xFF, 0xFF, 0xFF, 0xFF]),
        DecodeErrorKind::UnexpectedEof {
            needed: 0xFFFF_FFFF
        }
    );
    // Likewise a long string claiming 4 GiB.
    assert!(matches!(
        kind(&[0x0C, 0xFF, 0xFF, 0xFF, 0xFF, b'x']),
        DecodeErrorKind::UnexpectedEof { .. }
    ));
}

#[test]
fn nesting_is_limited() {
    // 100 000 nested strict arrays: far beyond the limit, and no stack overflow.
    let mut bytes = Vec::new();
    for _ in 0..100_000 {
        bytes.extend_from_slice(&[0x0A, 0, 0, 0, 1]);
    }
    bytes.push(0x05);
    assert_eq!(kind(&bytes), DecodeErrorKind::TooDeep(64));
    // The limit is configurable, and a value within it decodes.
    let nested = &bytes[bytes.len() - 5 * 3 - 1..];
    assert!(Decoder::new(nested).with_max_depth(3).decode().is_ok());
    assert_eq!(
        Decoder::new(nested)
            .with_max_depth(2)
            .decode()
            .unwrap_err()
            .kind,
        DecodeErrorKind::TooDeep(2)
    );
}

#[test]
fn invalid_utf8_is_an_error() {
    assert_eq!(
        kind(&[0x02, 0x00, 0x01, 0xFF]),
        DecodeErrorKind::InvalidUtf8
    );
    assert_eq!(
        kind(&[0x03, 0x00, 0x01, 0xC0, 0x05, 0x00, 0x00, 0x09]),
        DecodeErrorKind::InvalidUtf8
    );
}

#[test]
fn decoder_walks_a_sequence_and_stays_put_on_error() {
    let bytes = [0x05, 0x01, 0x01, 0x02, 0x00];
    let mut decoder = Decoder::new(&bytes);
    assert_eq!(decoder.decode().unwrap(), Value::Null);
    assert_eq!(decoder.decode().unwrap(), Value::Boolean(true));
    assert_eq!(decoder.position(), 3);
    assert!(decoder.decode().is_err());
    assert_eq!(decoder.position(), 3);
    assert!(decode_all(&bytes).is_err());
    assert_eq!(decode_all(&bytes[..3]).unwrap().len(), 2);
}
