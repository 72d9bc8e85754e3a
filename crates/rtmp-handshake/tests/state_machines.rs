//! Both sides against each other in every mode, at every split of the input, and fed garbage.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rtmp_handshake::{
    ClientHandshake, ClientHandshakeConfig, ClientStyle, Completed, HandshakeError, HandshakeKind,
    PACKET_SIZE, Progress, Schema, ServerHandshake, ServerHandshakeConfig,
};

const STYLES: [ClientStyle; 3] = [
    ClientStyle::Simple,
    ClientStyle::Complex(Schema::KeyFirst),
    ClientStyle::Complex(Schema::DigestFirst),
];

fn expected_kind(style: ClientStyle) -> HandshakeKind {
    match style {
        ClientStyle::Simple => HandshakeKind::Simple,
        ClientStyle::Complex(schema) => HandshakeKind::Complex(schema),
    }
}

/// Feeds `input` to `read` in pieces of `step` bytes; returns the first non-InProgress status.
fn feed(
    mut read: impl FnMut(&[u8]) -> Result<Progress, HandshakeError>,
    input: &[u8],
    step: usize,
) -> Result<Progress, HandshakeError> {
    for piece in input.chunks(step.max(1)) {
        match read(piece)? {
            Progress::InProgress => {}
            done => return Ok(done),
        }
    }
    Ok(Progress::InProgress)
}

fn done(status: Progress) -> Completed {
    match status {
        Progress::Done(completed) => completed,
        Progress::InProgress => panic!("handshake did not finish"),
    }
}

/// Runs a whole handshake, each side reading in pieces of `step` bytes. The client appends
/// `pipelined` after C2, as real clients append their connect command.
fn run(
    client_config: ClientHandshakeConfig,
    server_config: ServerHandshakeConfig,
    step: usize,
    pipelined: &[u8],
) -> Result<(Completed, Completed), HandshakeError> {
    let mut client = ClientHandshake::new(client_config);
    let mut server = ServerHandshake::new(server_config);
    let c0c1 = client.take_output();
    assert_eq!(c0c1.len(), 1 + PACKET_SIZE);
    assert_eq!(feed(|b| server.read(b), &c0c1, step)?, Progress::InProgress);
    let s0s1s2 = server.take_output();
    assert_eq!(s0s1s2.len(), 1 + 2 * PACKET_SIZE);
    let at_client = done(feed(|b| client.read(b), &s0s1s2, step)?);
    let mut c2 = client.take_output().to_vec();
    assert_eq!(c2.len(), PACKET_SIZE);
    c2.extend_from_slice(pipelined);
    let at_server = done(feed(|b| server.read(b), &c2, step)?);
    assert!(!server.wants_write() && !client.wants_write());
    Ok((at_client, at_server))
}

#[test]
fn every_style_completes_with_and_without_verification() {
    for style in STYLES {
        for verify in [false, true] {
            let client = ClientHandshakeConfig {
                style,
                verify_s2: verify,
                epoch: 77,
                ..ClientHandshakeConfig::default()
            };
            let server = ServerHandshakeConfig {
                verify_c2: verify,
                ..ServerHandshakeConfig::default()
            };
            let (at_client, at_server) = run(client, server, usize::MAX, b"connect").unwrap();
            assert_eq!(at_server.kind, expected_kind(style), "{style:?}");
            assert_eq!(at_client.kind, expected_kind(style), "{style:?}");
            assert_eq!(&at_server.leftover[..], b"connect");
            assert!(at_client.leftover.is_empty());
            assert_eq!(at_server.peer_epoch, 77);
        }
    }
}

#[test]
fn one_byte_at_a_time() {
    for style in STYLES {
        let client = ClientHandshakeConfig {
            style,
            verify_s2: true,
            ..ClientHandshakeConfig::default()
        };
        let server = ServerHandshakeConfig {
            verify_c2: true,
            ..ServerHandshakeConfig::default()
        };
        let (_, at_server) = run(client, server, 1, b"xyz").unwrap();
        // Fed one byte at a time, the handshake finishes on C2's last byte: the rest is
        // returned by later reads, which are refused, so nothing is left over here.
        assert!(at_server.leftover.is_empty());
        assert_eq!(at_server.kind, expected_kind(style));
    }
}

#[test]
fn reproducible_with_a_seeded_rng() {
    let make = || {
        ServerHandshake::with_rng(
            ServerHandshakeConfig::default(),
            &mut StdRng::seed_from_u64(9),
        )
    };
    let c0c1 = ClientHandshake::with_rng(
        ClientHandshakeConfig::default(),
        &mut StdRng::seed_from_u64(1),
    )
    .take_output();
    let (mut a, mut b) = (make(), make());
    a.read(&c0c1).unwrap();
    b.read(&c0c1).unwrap();
    assert_eq!(a.take_output(), b.take_output());
}

#[test]
fn c2_verification_rejects_garbage_and_accepts_an_echo() {
    let strict = ServerHandshakeConfig {
        verify_c2: true,
        ..ServerHandshakeConfig::default()
    };
    for style in STYLES {
        let c0c1 = ClientHandshake::new(ClientHandshakeConfig {
            style,
            ..ClientHandshakeConfig::default()
        })
        .take_output();
        let mut server = ServerHandshake::new(strict.clone());
        server.read(&c0c1).unwrap();
        assert_eq!(
            server.read(&[0xAB; PACKET_SIZE]),
            Err(HandshakeError::C2Mismatch)
        );
        // An echo of S1 (what ffmpeg sends when publishing) proves the client read S1.
        let mut server = ServerHandshake::new(strict.clone());
        server.read(&c0c1).unwrap();
        let s1 = server.take_output().slice(1..1 + PACKET_SIZE);
        assert!(matches!(server.read(&s1), Ok(Progress::Done(_))));
    }
}

#[test]
fn s2_verification_rejects_garbage() {
    let mut client = ClientHandshake::new(ClientHandshakeConfig {
        verify_s2: true,
        ..ClientHandshakeConfig::default()
    });
    let mut server = ServerHandshake::new(ServerHandshakeConfig::default());
    server.read(&client.take_output()).unwrap();
    let mut s0s1s2 = server.take_output().to_vec();
    s0s1s2[1 + PACKET_SIZE + 100] ^= 0xFF;
    assert_eq!(client.read(&s0s1s2), Err(HandshakeError::S2Mismatch));
}

#[test]
fn complex_client_accepts_a_simple_server() {
    // A server that answers with a zero-version S1 and echoes C1, as many do.
    let mut client = ClientHandshake::new(ClientHandshakeConfig {
        verify_s2: true,
        ..ClientHandshakeConfig::default()
    });
    let c1 = client.take_output().slice(1..);
    let mut reply = vec![3];
    reply.extend_from_slice(&[0x11; PACKET_SIZE]);
    reply[5..9].copy_from_slice(&[0, 0, 0, 0]);
    reply.extend_from_slice(&c1);
    let completed = done(client.read(&reply).unwrap());
    assert_eq!(completed.kind, HandshakeKind::Simple);
    assert_eq!(&client.take_output()[..], &reply[1..1 + PACKET_SIZE]);
}

#[test]
fn version_bytes_are_checked_first() {
    let mut server = ServerHandshake::new(ServerHandshakeConfig::default());
    assert_eq!(
        server.read(b"GET / HTTP/1.1\r\n"),
        Err(HandshakeError::UnsupportedVersion(b'G'))
    );
    assert_eq!(server.read(&[3]), Err(HandshakeError::Finished));
    for rtmpe in [6, 8] {
        let mut server = ServerHandshake::new(ServerHandshakeConfig::default());
        assert_eq!(
            server.read(&[rtmpe]),
            Err(HandshakeError::EncryptionNotSupported(rtmpe))
        );
    }
    let mut client = ClientHandshake::new(ClientHandshakeConfig::default());
    assert_eq!(
        client.read(&[4]),
        Err(HandshakeError::UnsupportedVersion(4))
    );
}

#[test]
fn reading_after_done_is_refused() {
    let mut client = ClientHandshake::new(ClientHandshakeConfig::default());
    let mut server = ServerHandshake::new(ServerHandshakeConfig::default());
    server.read(&client.take_output()).unwrap();
    client.read(&server.take_output()).unwrap();
    done(server.read(&client.take_output()).unwrap());
    assert_eq!(server.read(b"more"), Err(HandshakeError::Finished));
}

proptest! {
    #[test]
    fn any_split_gives_the_same_result(step in 1usize..4000, style in 0usize..3) {
        let client = ClientHandshakeConfig { style: STYLES[style], verify_s2: true, ..ClientHandshakeConfig::default() };
        let server = ServerHandshakeConfig { verify_c2: true, ..ServerHandshakeConfig::default() };
        let (_, at_server) = run(client, server, step, &[9; 50]).unwrap();
        prop_assert_eq!(at_server.kind, expected_kind(STYLES[style]));
        // Whatever followed C2 in the piece that completed it is handed back.
        prop_assert!(at_server.leftover.iter().all(|&b| b == 9));
    }

    #[test]
    fn garbage_never_panics(version in any::<u8>(), body in prop::collection::vec(any::<u8>(), 0..5000), step in 1usize..2000) {
        let mut input = vec![version];
        input.extend_from_slice(&body);
        let mut server = ServerHandshake::new(ServerHandshakeConfig { verify_c2: true, ..ServerHandshakeConfig::default() });
        let server_result = feed(|b| server.read(b), &input, step);
        let mut client = ClientHandshake::new(ClientHandshakeConfig { verify_s2: true, ..ClientHandshakeConfig::default() });
        let client_result = feed(|b| client.read(b), &input, step);
        if version != 3 {
            prop_assert!(server_result.is_err() && client_result.is_err());
        }
    }
}
