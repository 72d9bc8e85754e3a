//! Decoded size and time are bounded by the input: hand-made reference bombs from the AMF3
//! specification's reference tables are refused early, and for any input, whatever decodes
//! holds at most a fixed multiple of the bytes it came from.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

use proptest::prelude::*;
use rtmp_amf0::amf3::{self, DecodeErrorKind, EXPANSION_SLACK, MAX_EXPANSION};

/// A U29 in its variable-length form.
fn u29(value: u32) -> Vec<u8> {
    match value {
        0..0x80 => vec![value as u8],
        0x80..0x4000 => vec![(value >> 7) as u8 | 0x80, value as u8 & 0x7F],
        0x4000..0x20_0000 => vec![
            (value >> 14) as u8 | 0x80,
            (value >> 7) as u8 | 0x80,
            value as u8 & 0x7F,
        ],
        _ => vec![
            (value >> 22) as u8 | 0x80,
            (value >> 15) as u8 | 0x80,
            (value >> 8) as u8 | 0x80,
            value as u8,
        ],
    }
}

/// An inline string: its length shifted, with the inline bit.
fn inline_string(text: &[u8]) -> Vec<u8> {
    let mut out = u29((text.len() as u32) << 1 | 1);
    out.extend_from_slice(text);
    out
}

/// Decodes, and checks the value holds no more than the budget allows.
fn decode_bounded(input: &[u8]) -> Result<(), DecodeErrorKind> {
    let (value, used) = amf3::decode(input).map_err(|error| error.kind)?;
    assert!(value.footprint() <= used * MAX_EXPANSION + EXPANSION_SLACK);
    Ok(())
}

#[test]
fn string_references_are_charged_by_their_length() {
    // An array of 30 000 dense strings: the first 60 000 bytes inline, every other one a
    // reference to it (marker 0x06, index 0). Copied out, that would be 1.8 GB.
    let count = 30_000;
    let mut bomb = vec![0x09];
    bomb.extend(u29(count << 1 | 1));
    bomb.push(0x01); // no associative members
    bomb.push(0x06);
    bomb.extend(inline_string(&[b'x'; 60_000]));
    for _ in 1..count {
        bomb.extend_from_slice(&[0x06, 0x00]);
    }
    assert_eq!(decode_bounded(&bomb), Err(DecodeErrorKind::TooLarge));
}

#[test]
fn member_names_and_traits_references_are_charged() {
    // Traits with a long class name and 4000 sealed names, each a reference to one long
    // string, then objects that reuse those traits by reference (header 0x01: traits 0).
    let sealed = 4000u32;
    let mut bomb = vec![0x09];
    let objects = 2000u32;
    bomb.extend(u29(objects << 1 | 1));
    bomb.push(0x01);
    bomb.push(0x0A);
    bomb.extend(u29(sealed << 4 | 0b0011)); // inline object, inline traits, sealed count
    bomb.extend(inline_string(&[b'c'; 20_000])); // class name: string 0
    // Each sealed name: a reference to string 0.
    bomb.extend(std::iter::repeat_n(0x00, sealed as usize));
    bomb.extend(std::iter::repeat_n(0x01, sealed as usize)); // the values: null
    for _ in 1..objects {
        bomb.push(0x0A);
        bomb.push(0x01); // traits reference 0
        bomb.extend(std::iter::repeat_n(0x01, sealed as usize));
    }
    assert_eq!(decode_bounded(&bomb), Err(DecodeErrorKind::TooLarge));
}

#[test]
fn nested_references_to_a_large_array_are_charged() {
    // A large array (entry 0), then 64 arrays each holding 64 references to the one before:
    // each level multiplies the tree by 64.
    let mut bomb = vec![0x09, 0x05, 0x01, 0x09];
    bomb.extend(u29(10_000 << 1 | 1));
    bomb.push(0x01);
    bomb.extend(std::iter::repeat_n(0x04_u8, 10_000).flat_map(|marker| [marker, 0x01]));
    bomb.extend_from_slice(&[0x09]);
    bomb.extend(u29(64 << 1 | 1));
    bomb.push(0x01);
    for _ in 0..64 {
        bomb.extend_from_slice(&[0x09, 0x02]); // a reference to entry 1
    }
    assert_eq!(decode_bounded(&bomb), Err(DecodeErrorKind::TooLarge));
}

#[test]
fn chains_of_references_are_refused() {
    // Each array holds one reference to the array before it: a few bytes per level, and the
    // tree they stand for nests one level more each time.
    let levels = 200u32;
    let mut bomb = vec![0x09];
    bomb.extend(u29(levels << 1 | 1));
    bomb.push(0x01);
    bomb.extend_from_slice(&[0x09, 0x01, 0x01]); // entry 1: an empty array
    for entry in 1..levels {
        bomb.extend_from_slice(&[0x09, 0x03, 0x01, 0x09]);
        bomb.extend(u29(entry << 1));
    }
    // Every level is also an item of the outer array, so the levels' sizes add up too: the
    // size or the nesting, whichever is reached first, refuses it.
    let error = decode_bounded(&bomb).unwrap_err();
    assert!(
        matches!(
            error,
            DecodeErrorKind::TooDeep(_) | DecodeErrorKind::TooLarge
        ),
        "{error:?}"
    );
}

#[test]
fn honest_values_with_references_decode() {
    // 1000 objects of one class, traits and names by reference: what a Flash client's
    // typed collections look like.
    let mut input = vec![0x09];
    input.extend(u29(1000 << 1 | 1));
    input.push(0x01);
    input.extend_from_slice(&[0x0A, 0x23]); // inline traits, 2 sealed names
    input.extend(inline_string(b"Point"));
    input.extend(inline_string(b"x"));
    input.extend(inline_string(b"y"));
    input.extend_from_slice(&[0x04, 0x01, 0x04, 0x02]);
    for index in 1..1000u32 {
        input.extend_from_slice(&[0x0A, 0x01, 0x04]);
        input.extend(u29(index));
        input.extend_from_slice(&[0x06, 0x02]); // y: a reference to string 1 ("x")
    }
    decode_bounded(&input).unwrap();
}

/// Inputs shaped like AMF3, rich in references: markers, small U29s and short strings.
fn amf3_like() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        (0u8..0x12).prop_map(|marker| vec![marker]),
        (0u32..64).prop_map(|index| u29(index << 1)),
        (0u32..200).prop_map(|count| u29(count << 1 | 1)),
        (0u32..64).prop_map(|count| u29(count << 4 | 0b0011)),
        "[a-z]{1,40}".prop_map(|text| inline_string(text.as_bytes())),
        Just(vec![0x01]),
    ];
    prop::collection::vec(token, 1..400).prop_map(|tokens| tokens.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn amf3_output_is_bounded_by_input(input in amf3_like()) {
        if let Ok((value, used)) = amf3::decode(&input) {
            prop_assert!(value.footprint() <= used * MAX_EXPANSION + EXPANSION_SLACK);
        }
    }

    #[test]
    fn amf0_output_is_bounded_by_input(tail in amf3_like(), prefix in prop::collection::vec(any::<u8>(), 0..64)) {
        // AMF0 values, then the AVM+ switch into AMF3 values.
        let mut input = prefix;
        input.push(0x11);
        input.extend(tail);
        let mut decoder = rtmp_amf0::Decoder::new(&input);
        let mut footprint = 0;
        while let Ok(value) = decoder.decode() {
            footprint += value.footprint();
        }
        prop_assert!(
            footprint <= decoder.position() * rtmp_amf0::MAX_EXPANSION + EXPANSION_SLACK
        );
    }
}

#[test]
fn amf0_values_in_one_message_share_the_amf3_slack() {
    // 2000 AVM+ values, each an array of 300 nulls: alone each fits the slack, together they
    // would not.
    let mut one = vec![0x11, 0x09];
    one.extend(u29(300 << 1 | 1));
    one.push(0x01);
    one.extend(std::iter::repeat_n(0x01, 300));
    let input = one.repeat(2000);
    let error = rtmp_amf0::decode_all(&input).unwrap_err();
    assert_eq!(
        error.kind,
        rtmp_amf0::DecodeErrorKind::Amf3(DecodeErrorKind::TooLarge)
    );
}
