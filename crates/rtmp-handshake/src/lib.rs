//! The RTMP handshake, sans-IO: C0/C1/C2 and S0/S1/S2, simple and complex.
//!
//! [`ServerHandshake`] and [`ClientHandshake`] are state machines over bytes. The caller reads
//! from its transport, passes what arrived to `read`, writes whatever `take_output` returns, and
//! stops when `read` returns [`Progress::Done`]. No sockets, clocks or tasks live here, so the same
//! code runs under tokio, another runtime, or a fuzzer.
//!
//! - Simple handshake: C1/S1 carry zero in their version field, C2/S2 echo the peer's packet.
//! - Complex handshake (Flash Player 9 and later, ffmpeg): a HMAC-SHA256 digest hidden in C1/S1 in
//!   either [`Schema`], and signed C2/S2. The server detects which the client used, answers in
//!   kind, and falls back to the simple handshake when C1's digest does not validate.
//! - Checking that the peer's C2 (or S2) answers our S1 (or C1) is optional and off by default:
//!   real clients differ (ffmpeg echoes S1 when publishing and signs C2 when playing).
//!
//! ```
//! use rtmp_handshake::{ClientHandshakeConfig, ClientHandshake, ServerHandshakeConfig, ServerHandshake, Progress};
//!
//! let mut client = ClientHandshake::new(ClientHandshakeConfig::default());
//! let mut server = ServerHandshake::new(ServerHandshakeConfig::default());
//!
//! // C0+C1 ->, <- S0+S1+S2, C2 -> (the client pipelines its first chunk after C2).
//! assert_eq!(server.read(&client.take_output())?, Progress::InProgress);
//! let Progress::Done(at_client) = client.read(&server.take_output())? else { panic!() };
//! let mut c2_and_more = client.take_output().to_vec();
//! c2_and_more.extend_from_slice(b"first chunk");
//! let Progress::Done(at_server) = server.read(&c2_and_more)? else { panic!() };
//!
//! assert_eq!(&at_server.leftover[..], b"first chunk");
//! assert_eq!(at_server.kind, at_client.kind);
//! # Ok::<(), rtmp_handshake::HandshakeError>(())
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod client;
mod digest;
#[cfg(feature = "tokio")]
mod drive;
mod server;

use bytes::{Bytes, BytesMut};

pub use client::{ClientHandshake, ClientHandshakeConfig, ClientStyle};
pub use digest::{FLASH_MEDIA_SERVER_KEY, FLASH_PLAYER_KEY, Schema};
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use drive::{DriveError, drive};
pub use server::{ServerHandshake, ServerHandshakeConfig};

/// What both sides of the handshake offer, for code that drives either one over a transport.
pub trait Handshake {
    /// Consumes bytes received from the peer.
    fn read(&mut self, input: &[u8]) -> Result<Progress, HandshakeError>;
    /// Bytes to send to the peer now (empty when there are none).
    fn take_output(&mut self) -> Bytes;
}

impl Handshake for ServerHandshake {
    fn read(&mut self, input: &[u8]) -> Result<Progress, HandshakeError> {
        ServerHandshake::read(self, input)
    }

    fn take_output(&mut self) -> Bytes {
        ServerHandshake::take_output(self)
    }
}

impl Handshake for ClientHandshake {
    fn read(&mut self, input: &[u8]) -> Result<Progress, HandshakeError> {
        ClientHandshake::read(self, input)
    }

    fn take_output(&mut self) -> Bytes {
        ClientHandshake::take_output(self)
    }
}

/// The RTMP version byte of C0/S0. 6 and 8 announce RTMPE, which is not supported.
pub const RTMP_VERSION: u8 = 3;

/// The size of C1, C2, S1 and S2.
pub const PACKET_SIZE: usize = 1536;

/// Which handshake took place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandshakeKind {
    /// Zero version field, echoed packets, no digest.
    Simple,
    /// HMAC-SHA256 digest in the given schema.
    Complex(Schema),
}

/// What a finished handshake leaves behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed {
    /// Simple or complex.
    pub kind: HandshakeKind,
    /// The time field of the peer's C1/S1.
    pub peer_epoch: u32,
    /// The version field of the peer's C1/S1 (e.g. 0x09007c02 for a Flash Player 9 style
    /// client, 0 for the simple handshake).
    pub peer_version: u32,
    /// Bytes that arrived after the handshake: the start of the chunk stream.
    pub leftover: Bytes,
}

/// The result of feeding bytes to a handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// More input is needed. Write any pending output first.
    InProgress,
    /// The handshake is complete. Write any pending output (the client's C2) before moving on.
    Done(Completed),
}

/// Why a handshake failed. The connection should be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The peer asked for RTMPE (encrypted RTMP, versions 6 and 8).
    #[error("peer asked for encrypted RTMP (version byte {0}), which is not supported")]
    EncryptionNotSupported(u8),
    /// The peer's version byte is not 3 (e.g. an HTTP request sent to an RTMP port).
    #[error("peer sent version byte {0}, expected 3")]
    UnsupportedVersion(u8),
    /// Verification was on and the peer's C2 neither echoed our S1 nor carried its signature.
    #[error("C2 does not answer S1")]
    C2Mismatch,
    /// Verification was on and the server's S2 neither echoed our C1 nor carried its signature.
    #[error("S2 does not answer C1")]
    S2Mismatch,
    /// `read` was called after the handshake had finished or failed.
    #[error("the handshake has already finished or failed")]
    Finished,
}

/// Checks a C0/S0 version byte.
fn check_version(version: u8) -> Result<(), HandshakeError> {
    match version {
        RTMP_VERSION => Ok(()),
        6 | 8 => Err(HandshakeError::EncryptionNotSupported(version)),
        other => Err(HandshakeError::UnsupportedVersion(other)),
    }
}

/// Bytes received but not consumed yet.
#[derive(Debug, Default)]
struct Inbox {
    buf: BytesMut,
}

impl Inbox {
    fn push(&mut self, input: &[u8]) {
        self.buf.extend_from_slice(input);
    }

    fn first(&self) -> Option<u8> {
        self.buf.first().copied()
    }

    fn skip_byte(&mut self) {
        if !self.buf.is_empty() {
            let _ = self.buf.split_to(1);
        }
    }

    /// Takes one 1536-byte packet once that many bytes have arrived.
    fn packet(&mut self) -> Option<Box<[u8; PACKET_SIZE]>> {
        if self.buf.len() < PACKET_SIZE {
            return None;
        }
        let mut packet = Box::new([0; PACKET_SIZE]);
        packet.copy_from_slice(&self.buf.split_to(PACKET_SIZE));
        Some(packet)
    }

    fn take_rest(&mut self) -> Bytes {
        self.buf.split().freeze()
    }
}

/// The (time, version) fields at the start of a C1/S1.
fn header_fields(packet: &[u8; PACKET_SIZE]) -> (u32, u32) {
    let [t0, t1, t2, t3, v0, v1, v2, v3, ..] = *packet;
    (
        u32::from_be_bytes([t0, t1, t2, t3]),
        u32::from_be_bytes([v0, v1, v2, v3]),
    )
}

/// A C1/S1 with the given time and version fields and random bytes after them.
fn new_packet(epoch: u32, version: u32, random: &[u8; PACKET_SIZE]) -> Box<[u8; PACKET_SIZE]> {
    let mut packet = Box::new(*random);
    let (time_field, rest) = packet.split_at_mut(4);
    time_field.copy_from_slice(&epoch.to_be_bytes());
    rest.split_at_mut(4)
        .0
        .copy_from_slice(&version.to_be_bytes());
    packet
}

/// Whether `reply` echoes `ours` past the two time fields (which some peers rewrite).
fn echoes(reply: &[u8; PACKET_SIZE], ours: &[u8; PACKET_SIZE]) -> bool {
    reply.split_at(8).1 == ours.split_at(8).1
}

/// Random bytes for one packet.
fn random_packet<R: rand::Rng + ?Sized>(rng: &mut R) -> Box<[u8; PACKET_SIZE]> {
    let mut packet = Box::new([0; PACKET_SIZE]);
    rng.fill_bytes(&mut packet[..]);
    packet
}

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
