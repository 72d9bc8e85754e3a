//! Fixed vectors: C1s whose digests Python's `hmac` computed (fixtures/make_vectors.py), C1s
//! captured from ffmpeg 5.1 and rtmpdump 2.4 (fixtures/capture_c1.py), and the S1/S2 our server
//! answers with, checked by an HMAC computation written out here step by step.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

use hmac::{Hmac, KeyInit, Mac};
use rtmp_handshake::{
    FLASH_MEDIA_SERVER_KEY, HandshakeKind, PACKET_SIZE, Progress, Schema, ServerHandshake,
    ServerHandshakeConfig,
};
use sha2::Sha256;

const PYTHON_SCHEMA0: &[u8] = include_bytes!("fixtures/c1-schema0.bin");
const PYTHON_SCHEMA1: &[u8] = include_bytes!("fixtures/c1-schema1.bin");
const FFMPEG_C0C1: &[u8] = include_bytes!("fixtures/ffmpeg-c0c1.bin");
const RTMPDUMP_C0C1: &[u8] = include_bytes!("fixtures/rtmpdump-c0c1.bin");

/// Digests printed by make_vectors.py, with their offsets.
const PYTHON_DIGEST0: (usize, &str) = (
    1014,
    "0a9aba5e0f4c3d6ca04f3ded03811222b631eb0f9169e2311493f257c12b68ce",
);
const PYTHON_DIGEST1: (usize, &str) = (
    70,
    "83167aa84c008f644d06d5fad56d2170f01f3a9b450643ab2b3d7538cfd024f0",
);

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Runs a server on C0+`c1` and returns (kind, S1, S2).
fn answer(c1: &[u8]) -> (HandshakeKind, Vec<u8>, Vec<u8>) {
    let mut server = ServerHandshake::new(ServerHandshakeConfig::default());
    let mut input = vec![3];
    input.extend_from_slice(c1);
    assert_eq!(server.read(&input).unwrap(), Progress::InProgress);
    let output = server.take_output();
    assert_eq!(output.len(), 1 + 2 * PACKET_SIZE);
    assert_eq!(output[0], 3);
    let s1 = output[1..1 + PACKET_SIZE].to_vec();
    let s2 = output[1 + PACKET_SIZE..].to_vec();
    let Progress::Done(done) = server.read(&s1).unwrap() else {
        panic!("C2 (here an echo of S1) should finish the handshake")
    };
    (done.kind, s1, s2)
}

/// Checks the server's complex S1 digest and S2 signature against `c1_digest`.
fn check_complex_answer(schema: Schema, s1: &[u8], s2: &[u8], c1_digest: &[u8]) {
    let block = match schema {
        Schema::KeyFirst => 772,
        Schema::DigestFirst => 8,
    };
    let offset = s1[block..block + 4]
        .iter()
        .map(|&b| usize::from(b))
        .sum::<usize>()
        % 728
        + block
        + 4;
    let message = [&s1[..offset], &s1[offset + 32..]].concat();
    assert_eq!(
        hmac(&FLASH_MEDIA_SERVER_KEY[..36], &message),
        &s1[offset..offset + 32],
        "S1 digest"
    );
    assert_ne!(&s1[4..8], &[0, 0, 0, 0], "a complex S1 has a version");
    let key = hmac(&FLASH_MEDIA_SERVER_KEY, c1_digest);
    assert_eq!(hmac(&key, &s2[..1504]), &s2[1504..], "S2 signature");
}

#[test]
fn python_made_c1_in_each_schema_is_answered_in_that_schema() {
    for (c1, schema, (offset, digest)) in [
        (PYTHON_SCHEMA0, Schema::KeyFirst, PYTHON_DIGEST0),
        (PYTHON_SCHEMA1, Schema::DigestFirst, PYTHON_DIGEST1),
    ] {
        assert_eq!(&c1[offset..offset + 32], hex(digest));
        let (kind, s1, s2) = answer(c1);
        assert_eq!(kind, HandshakeKind::Complex(schema));
        check_complex_answer(schema, &s1, &s2, &hex(digest));
    }
}

#[test]
fn c1_with_a_broken_digest_falls_back_to_simple() {
    let mut c1 = PYTHON_SCHEMA1.to_vec();
    c1[PYTHON_DIGEST1.0] ^= 1;
    let (kind, s1, s2) = answer(&c1);
    assert_eq!(kind, HandshakeKind::Simple);
    assert_eq!(&s1[4..8], &[0, 0, 0, 0], "a simple S1 has a zero version");
    assert_eq!(s2, c1, "a simple S2 echoes C1");
}

#[test]
fn ffmpeg_c1_is_complex_schema1() {
    assert_eq!(FFMPEG_C0C1[0], 3);
    let c1 = &FFMPEG_C0C1[1..];
    let (kind, s1, s2) = answer(c1);
    assert_eq!(kind, HandshakeKind::Complex(Schema::DigestFirst));
    let offset = c1[8..12].iter().map(|&b| usize::from(b)).sum::<usize>() % 728 + 12;
    check_complex_answer(Schema::DigestFirst, &s1, &s2, &c1[offset..offset + 32]);
}

#[test]
fn rtmpdump_c1_is_simple_and_echoed() {
    assert_eq!(RTMPDUMP_C0C1[0], 3);
    let c1 = &RTMPDUMP_C0C1[1..];
    let (kind, _, s2) = answer(c1);
    assert_eq!(kind, HandshakeKind::Simple);
    assert_eq!(s2, c1);
}
