//! Encoding AMF3, every string and traits inline.

use super::{Value, marker};

/// The largest U29.
const U29_MAX: usize = (1 << 29) - 1;
/// The largest length or count a U29 with its low flag bit carries.
const INLINE_MAX: usize = U29_MAX >> 1;

/// Why a value cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A length or count does not fit AMF3's 28 bits.
    #[error("a length or count of {0} does not fit AMF3's 28 bits")]
    TooLong(usize),
    /// An object with more sealed members than its traits header holds (2^25 - 1).
    #[error("{0} sealed members do not fit an object's traits header")]
    TooManySealed(usize),
}

/// Appends `value` in AMF3 to `out`.
pub fn encode(value: &Value, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    match value {
        Value::Undefined => out.push(marker::UNDEFINED),
        Value::Null => out.push(marker::NULL),
        Value::Boolean(false) => out.push(marker::FALSE),
        Value::Boolean(true) => out.push(marker::TRUE),
        Value::Integer(integer) if (-(1 << 28)..(1 << 28)).contains(integer) => {
            out.push(marker::INTEGER);
            u29(*integer as u32 & U29_MAX as u32, out);
        }
        // Outside 29 bits an integer travels as a double.
        Value::Integer(integer) => double(f64::from(*integer), out),
        Value::Double(number) => double(*number, out),
        Value::String(text) => {
            out.push(marker::STRING);
            string(text, out)?;
        }
        Value::XmlDocument(text) | Value::Xml(text) => {
            let marker = if matches!(value, Value::Xml(_)) {
                marker::XML
            } else {
                marker::XML_DOCUMENT
            };
            out.push(marker);
            inline(text.len(), out)?;
            out.extend_from_slice(text.as_bytes());
        }
        Value::Date(millis) => {
            out.push(marker::DATE);
            inline(0, out)?;
            out.extend_from_slice(&millis.to_be_bytes());
        }
        Value::Array { associative, dense } => {
            out.push(marker::ARRAY);
            inline(dense.len(), out)?;
            for (name, value) in associative {
                string(name, out)?;
                encode(value, out)?;
            }
            string("", out)?;
            for value in dense {
                encode(value, out)?;
            }
        }
        Value::Object(object) => {
            out.push(marker::OBJECT);
            let sealed = object.sealed.len();
            if sealed > INLINE_MAX >> 3 {
                return Err(EncodeError::TooManySealed(sealed));
            }
            // Inline traits, not externalizable: the low bits 011, then dynamic.
            u29(
                (sealed << 4 | usize::from(object.dynamic) << 3 | 0b011) as u32,
                out,
            );
            string(&object.class_name, out)?;
            for (name, _) in &object.sealed {
                string(name, out)?;
            }
            for (_, value) in &object.sealed {
                encode(value, out)?;
            }
            if object.dynamic {
                for (name, value) in &object.dynamic_members {
                    string(name, out)?;
                    encode(value, out)?;
                }
                string("", out)?;
            }
        }
        Value::ByteArray(bytes) => {
            out.push(marker::BYTE_ARRAY);
            inline(bytes.len(), out)?;
            out.extend_from_slice(bytes);
        }
        Value::VectorInt { fixed, items } => {
            vector_head(marker::VECTOR_INT, items.len(), *fixed, out)?;
            items
                .iter()
                .for_each(|item| out.extend_from_slice(&item.to_be_bytes()));
        }
        Value::VectorUint { fixed, items } => {
            vector_head(marker::VECTOR_UINT, items.len(), *fixed, out)?;
            items
                .iter()
                .for_each(|item| out.extend_from_slice(&item.to_be_bytes()));
        }
        Value::VectorDouble { fixed, items } => {
            vector_head(marker::VECTOR_DOUBLE, items.len(), *fixed, out)?;
            items
                .iter()
                .for_each(|item| out.extend_from_slice(&item.to_be_bytes()));
        }
        Value::VectorObject {
            fixed,
            type_name,
            items,
        } => {
            vector_head(marker::VECTOR_OBJECT, items.len(), *fixed, out)?;
            string(type_name, out)?;
            for item in items {
                encode(item, out)?;
            }
        }
        Value::Dictionary { weak_keys, entries } => {
            vector_head(marker::DICTIONARY, entries.len(), *weak_keys, out)?;
            for (key, value) in entries {
                encode(key, out)?;
                encode(value, out)?;
            }
        }
    }
    Ok(())
}

fn double(number: f64, out: &mut Vec<u8>) {
    out.push(marker::DOUBLE);
    out.extend_from_slice(&number.to_be_bytes());
}

fn vector_head(marker: u8, count: usize, flag: bool, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    out.push(marker);
    inline(count, out)?;
    out.push(u8::from(flag));
    Ok(())
}

/// An inline length or count: the value shifted left, with the low bit set.
fn inline(len: usize, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    if len > INLINE_MAX {
        return Err(EncodeError::TooLong(len));
    }
    u29((len << 1 | 1) as u32, out);
    Ok(())
}

/// A UTF-8-vr, inline (the empty string is the single byte 0x01).
fn string(text: &str, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    inline(text.len(), out)?;
    out.extend_from_slice(text.as_bytes());
    Ok(())
}

/// A U29 (at most 29 bits): 1 to 4 bytes.
fn u29(value: u32, out: &mut Vec<u8>) {
    let value = value & U29_MAX as u32;
    match value {
        0..0x80 => out.push(value as u8),
        0x80..0x4000 => out.extend_from_slice(&[(value >> 7) as u8 | 0x80, value as u8 & 0x7F]),
        0x4000..0x20_0000 => out.extend_from_slice(&[
            (value >> 14) as u8 | 0x80,
            (value >> 7) as u8 | 0x80,
            value as u8 & 0x7F,
        ]),
        _ => out.extend_from_slice(&[
            (value >> 22) as u8 | 0x80,
            (value >> 15) as u8 | 0x80,
            (value >> 8) as u8 | 0x80,
            value as u8,
        ]),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::amf3::{DecodeErrorKind, Object, decode};

    fn round_trip(value: &Value) -> Vec<u8> {
        let mut bytes = Vec::new();
        encode(value, &mut bytes).unwrap();
        assert_eq!(decode(&bytes).unwrap(), (value.clone(), bytes.len()));
        bytes
    }

    #[test]
    fn u29_takes_one_to_four_bytes_as_the_specification_lists() {
        for (value, len) in [
            (0x7F, 1),
            (0x80, 2),
            (0x3FFF, 2),
            (0x4000, 3),
            (0x1F_FFFF, 3),
            (0x20_0000, 4),
            (0x1FFF_FFFF, 4),
        ] {
            let mut out = Vec::new();
            u29(value, &mut out);
            assert_eq!(out.len(), len, "{value:#x}");
        }
        assert_eq!(round_trip(&Value::Integer(-(1 << 28))).len(), 5);
        let mut big = Vec::new();
        encode(&Value::Integer(1 << 28), &mut big).unwrap();
        assert_eq!(decode(&big).unwrap().0, Value::Double(268_435_456.0));
        assert_eq!(
            round_trip(&Value::Integer(-1)),
            [0x04, 0xFF, 0xFF, 0xFF, 0xFF]
        );
    }

    #[test]
    fn every_marker_round_trips() {
        let object = Value::Object(Object {
            class_name: "flex.messaging.io.ArrayCollection".into(),
            dynamic: true,
            sealed: vec![("source".into(), Value::Null)],
            dynamic_members: vec![("extra".into(), Value::Boolean(true))],
        });
        round_trip(&Value::Array {
            associative: vec![("name".into(), Value::String("é".into()))],
            dense: vec![
                Value::Undefined,
                Value::Double(0.5),
                Value::Date(1.7e12),
                Value::XmlDocument("<a/>".into()),
                Value::Xml("<b/>".into()),
                Value::ByteArray(vec![0, 1, 255]),
                Value::VectorInt {
                    fixed: true,
                    items: vec![-5, 7],
                },
                Value::VectorUint {
                    fixed: false,
                    items: vec![u32::MAX],
                },
                Value::VectorDouble {
                    fixed: false,
                    items: vec![1.5],
                },
                Value::VectorObject {
                    fixed: false,
                    type_name: "*".into(),
                    items: vec![object.clone()],
                },
                Value::Dictionary {
                    weak_keys: true,
                    entries: vec![(object, Value::String(String::new()))],
                },
            ],
        });
    }

    /// Bytes written by hand from the specification: references to an earlier string and
    /// object, and a traits reference.
    #[test]
    fn references_resolve_within_one_value() {
        let bytes = [
            0x09, 0x07, 0x01, // an array of 3 dense values, no associative members
            0x0A, 0x0B, 0x01, // an object: inline traits, dynamic, 0 sealed, anonymous
            0x07, b'k', b'e', b'y', 0x06, 0x05, b'h', b'i', // key = "hi"
            0x01, // end of dynamic members
            0x0A, 0x02, // object reference 1 (the object; 0 is the array)
            0x06, 0x02, // string reference 1 ("hi"; 0 is "key")
        ];
        let (value, used) = decode(&bytes).unwrap();
        assert_eq!(used, bytes.len());
        let Value::Array { dense, .. } = value else {
            panic!()
        };
        assert_eq!(dense[0], dense[1]);
        assert_eq!(dense[2], Value::String("hi".into()));
        // A reference to the array itself, from inside it: a cycle.
        let cycle = [0x09, 0x03, 0x01, 0x09, 0x00];
        assert_eq!(decode(&cycle).unwrap_err().kind, DecodeErrorKind::Cycle);
        // Traits by reference: the second object reuses the first's traits (index 0).
        let traits = [
            0x09, 0x05, 0x01, 0x0A, 0x13, 0x01, 0x03, b'a', 0x04, 0x01, 0x0A, 0x01, 0x04, 0x02,
        ];
        let (Value::Array { dense, .. }, _) = decode(&traits).unwrap() else {
            panic!()
        };
        let Value::Object(second) = &dense[1] else {
            panic!()
        };
        assert_eq!(second.sealed, [("a".to_owned(), Value::Integer(2))]);
    }

    #[test]
    fn hostile_input_is_refused_without_allocating_what_it_claims() {
        let cases: [(&[u8], DecodeErrorKind); 6] = [
            (
                &[0x09, 0xFF, 0xFF, 0xFF, 0x7F, 0x01],
                DecodeErrorKind::UnexpectedEof {
                    needed: 268_435_391,
                },
            ),
            (&[0x06, 0x04], DecodeErrorKind::BadReference(2)),
            (&[0x0A, 0x07, 0x01], DecodeErrorKind::Externalizable),
            (&[0x12], DecodeErrorKind::UnknownMarker(0x12)),
            (&[0x06, 0x05, 0xFF, 0xFE], DecodeErrorKind::InvalidUtf8),
            (&[0x0A, 0x05], DecodeErrorKind::BadReference(1)),
        ];
        for (bytes, kind) in cases {
            assert_eq!(decode(bytes).unwrap_err().kind, kind, "{bytes:02x?}");
        }
        let deep: Vec<u8> = std::iter::repeat_n([0x09, 0x03, 0x01], 100)
            .flatten()
            .collect();
        assert!(matches!(
            decode(&deep).unwrap_err().kind,
            DecodeErrorKind::TooDeep(_)
        ));
        // References multiply: each array holds two copies of the one before it, so 20 of
        // them in a few bytes would hold tens of millions of values.
        let mut bomb = vec![0x09, 0x29, 0x01]; // the outer array (entry 0): 20 dense values
        bomb.extend_from_slice(&[0x09, 0x81, 0x01, 0x01]); // entry 1: 64 dense values ...
        bomb.extend(std::iter::repeat_n(0x01, 64)); // ... all null
        for entry in 2..=20u8 {
            // Two dense values, each a reference to the entry before.
            let previous = (entry - 1) << 1;
            bomb.extend_from_slice(&[0x09, 0x05, 0x01, 0x09, previous, 0x09, previous]);
        }
        assert_eq!(decode(&bomb).unwrap_err().kind, DecodeErrorKind::TooLarge);
    }
}
