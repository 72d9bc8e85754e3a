//! Property test: any value encodes and decodes to itself, and decoding never panics.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

use proptest::prelude::*;
use rtmp_amf0::{Decoder, Object, Value, decode};

fn name() -> impl Strategy<Value = String> {
    // Non-empty: an empty property name followed by 0x09 is the end marker.
    "[a-zA-Z0-9_@é]{1,12}"
}

fn object() -> impl Strategy<Value = Object> {
    prop::collection::vec((name(), leaf()), 0..6).prop_map(|pairs| pairs.into_iter().collect())
}

fn leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        any::<f64>()
            .prop_filter("NaN never equals itself", |n| !n.is_nan())
            .prop_map(Value::Number),
        any::<bool>().prop_map(Value::Boolean),
        ".{0,40}".prop_map(Value::String),
        Just(Value::Null),
        Just(Value::Undefined),
        Just(Value::Unsupported),
        any::<u16>().prop_map(Value::Reference),
        (-1e13f64..1e13, any::<i16>())
            .prop_map(|(millis, time_zone)| Value::Date { millis, time_zone }),
        ".{0,40}".prop_map(Value::XmlDocument),
    ]
    .boxed()
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 64, 6, |inner| {
        let pairs = prop::collection::vec((name(), inner.clone()), 0..6)
            .prop_map(|pairs| pairs.into_iter().collect::<Object>())
            .boxed();
        prop_oneof![
            pairs.clone().prop_map(Value::Object),
            pairs.clone().prop_map(Value::EcmaArray),
            prop::collection::vec(inner, 0..6).prop_map(Value::StrictArray),
            (name(), pairs).prop_map(|(class_name, properties)| Value::TypedObject {
                class_name,
                properties
            }),
        ]
    })
}

proptest! {
    #[test]
    fn value_round_trips(value in value()) {
        let bytes = value.to_bytes().unwrap();
        prop_assert_eq!(bytes.len(), value.encoded_len());
        let mut decoder = Decoder::new(&bytes);
        prop_assert_eq!(decoder.decode().unwrap(), value);
        prop_assert!(decoder.is_empty());
    }

    #[test]
    fn objects_round_trip(object in object()) {
        let value = Value::Object(object);
        prop_assert_eq!(decode(&value.to_bytes().unwrap()).unwrap(), value);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        // Decoding either fails with a position inside the input or consumes a prefix.
        let mut decoder = Decoder::new(&bytes);
        match decoder.decode() {
            Ok(_) => prop_assert!(decoder.position() <= bytes.len()),
            Err(error) => prop_assert!(error.position <= bytes.len()),
        }
    }
}

mod amf3 {
    use proptest::prelude::*;
    use rtmp_amf0::amf3::{Object, Value, decode, encode};

    fn name() -> impl Strategy<Value = String> {
        // Non-empty: the empty name ends associative and dynamic members.
        "[a-zA-Z0-9_é]{1,10}"
    }

    fn number() -> impl Strategy<Value = f64> {
        any::<f64>().prop_filter("NaN never equals itself", |n| !n.is_nan())
    }

    fn leaf() -> BoxedStrategy<Value> {
        prop_oneof![
            Just(Value::Undefined),
            Just(Value::Null),
            any::<bool>().prop_map(Value::Boolean),
            (-(1 << 28)..(1 << 28)).prop_map(Value::Integer),
            number().prop_map(Value::Double),
            ".{0,30}".prop_map(Value::String),
            ".{0,30}".prop_map(Value::XmlDocument),
            ".{0,30}".prop_map(Value::Xml),
            number().prop_map(Value::Date),
            prop::collection::vec(any::<u8>(), 0..40).prop_map(Value::ByteArray),
            (any::<bool>(), prop::collection::vec(any::<i32>(), 0..8))
                .prop_map(|(fixed, items)| Value::VectorInt { fixed, items }),
            (any::<bool>(), prop::collection::vec(any::<u32>(), 0..8))
                .prop_map(|(fixed, items)| Value::VectorUint { fixed, items }),
            (any::<bool>(), prop::collection::vec(number(), 0..8))
                .prop_map(|(fixed, items)| Value::VectorDouble { fixed, items }),
        ]
        .boxed()
    }

    fn value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(4, 64, 5, |inner| {
            let members = prop::collection::vec((name(), inner.clone()), 0..4).boxed();
            prop_oneof![
                (members.clone(), prop::collection::vec(inner.clone(), 0..4))
                    .prop_map(|(associative, dense)| Value::Array { associative, dense }),
                ("[a-zA-Z.]{0,12}", any::<bool>(), members.clone(), members).prop_map(
                    |(class_name, dynamic, sealed, dynamic_members)| {
                        Value::Object(Object {
                            class_name,
                            dynamic,
                            sealed,
                            dynamic_members: if dynamic { dynamic_members } else { Vec::new() },
                        })
                    }
                ),
                (
                    any::<bool>(),
                    "[a-zA-Z*]{0,8}",
                    prop::collection::vec(inner.clone(), 0..4)
                )
                    .prop_map(|(fixed, type_name, items)| Value::VectorObject {
                        fixed,
                        type_name,
                        items
                    }),
                (
                    any::<bool>(),
                    prop::collection::vec((inner.clone(), inner), 0..3)
                )
                    .prop_map(|(weak_keys, entries)| Value::Dictionary { weak_keys, entries }),
            ]
        })
    }

    proptest! {
        #[test]
        fn value_round_trips(value in value()) {
            let mut bytes = Vec::new();
            encode(&value, &mut bytes).unwrap();
            prop_assert_eq!(decode(&bytes).unwrap(), (value, bytes.len()));
        }

        #[test]
        fn any_bytes_decode_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
        }
    }
}
