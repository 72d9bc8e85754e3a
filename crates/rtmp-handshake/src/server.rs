//! The server side: reads C0+C1, answers S0+S1+S2, reads C2.

use bytes::{BufMut, Bytes, BytesMut};

use crate::digest::{self, DIGEST_SIZE, FLASH_MEDIA_SERVER_KEY, FLASH_PLAYER_KEY};
use crate::{
    Completed, HandshakeError, HandshakeKind, Inbox, PACKET_SIZE, Progress, RTMP_VERSION,
    check_version, echoes, header_fields, new_packet, random_packet,
};

/// Settings of a [`ServerHandshake`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHandshakeConfig {
    /// Reject a C2 that neither echoes S1 nor carries S1's signature. Off by default, as many
    /// servers do, because clients differ in what they send.
    pub verify_c2: bool,
    /// The time field written into S1 (milliseconds on the server's epoch; 0 is common).
    pub epoch: u32,
    /// The version field of a complex S1. Zero is used for the simple handshake regardless.
    pub version: u32,
}

impl Default for ServerHandshakeConfig {
    fn default() -> Self {
        Self {
            verify_c2: false,
            epoch: 0,
            version: 0x0405_0001,
        }
    }
}

#[derive(Debug)]
enum State {
    AwaitC0,
    AwaitC1,
    AwaitC2 {
        s1: Box<[u8; PACKET_SIZE]>,
        s1_digest: Option<[u8; DIGEST_SIZE]>,
        kind: HandshakeKind,
        peer_epoch: u32,
        peer_version: u32,
    },
    Finished,
}

/// The server side of the handshake.
///
/// Feed it what the client sends with [`read`](Self::read) and write what
/// [`take_output`](Self::take_output) returns after each call. S0, S1 and S2 are sent together
/// as soon as C1 has arrived.
#[derive(Debug)]
pub struct ServerHandshake {
    config: ServerHandshakeConfig,
    state: State,
    inbox: Inbox,
    outbox: BytesMut,
    s1_random: Box<[u8; PACKET_SIZE]>,
    s2_random: Box<[u8; PACKET_SIZE]>,
}

impl ServerHandshake {
    /// A server handshake with random bytes from the thread-local generator.
    pub fn new(config: ServerHandshakeConfig) -> Self {
        Self::with_rng(config, &mut rand::rng())
    }

    /// A server handshake that draws its random bytes from `rng` (for reproducible tests).
    pub fn with_rng<R: rand::Rng + ?Sized>(config: ServerHandshakeConfig, rng: &mut R) -> Self {
        Self {
            config,
            state: State::AwaitC0,
            inbox: Inbox::default(),
            outbox: BytesMut::new(),
            s1_random: random_packet(rng),
            s2_random: random_packet(rng),
        }
    }

    /// Bytes to send to the client now (empty when there are none).
    pub fn take_output(&mut self) -> Bytes {
        self.outbox.split().freeze()
    }

    /// Whether [`take_output`](Self::take_output) has bytes.
    pub fn wants_write(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// Consumes bytes received from the client.
    ///
    /// Any number of bytes may be passed at once, down to one; bytes past C2 are returned in
    /// [`Completed::leftover`]. After an error or `Done`, further calls fail with
    /// [`HandshakeError::Finished`].
    pub fn read(&mut self, input: &[u8]) -> Result<Progress, HandshakeError> {
        if matches!(self.state, State::Finished) {
            return Err(HandshakeError::Finished);
        }
        self.inbox.push(input);
        let result = self.advance();
        if !matches!(result, Ok(Progress::InProgress)) {
            self.state = State::Finished;
        }
        result
    }

    fn advance(&mut self) -> Result<Progress, HandshakeError> {
        loop {
            match &self.state {
                State::AwaitC0 => {
                    let Some(version) = self.inbox.first() else {
                        return Ok(Progress::InProgress);
                    };
                    check_version(version)?;
                    self.inbox.skip_byte();
                    self.state = State::AwaitC1;
                }
                State::AwaitC1 => {
                    let Some(c1) = self.inbox.packet() else {
                        return Ok(Progress::InProgress);
                    };
                    self.answer_c1(&c1);
                }
                State::AwaitC2 {
                    s1,
                    s1_digest,
                    kind,
                    peer_epoch,
                    peer_version,
                } => {
                    let Some(c2) = self.inbox.packet() else {
                        return Ok(Progress::InProgress);
                    };
                    if self.config.verify_c2 && !c2_answers(&c2, s1, s1_digest.as_ref()) {
                        return Err(HandshakeError::C2Mismatch);
                    }
                    return Ok(Progress::Done(Completed {
                        kind: *kind,
                        peer_epoch: *peer_epoch,
                        peer_version: *peer_version,
                        leftover: self.inbox.take_rest(),
                    }));
                }
                State::Finished => return Err(HandshakeError::Finished),
            }
        }
    }

    /// Queues S0+S1+S2 in the style of `c1` and moves on to waiting for C2.
    fn answer_c1(&mut self, c1: &[u8; PACKET_SIZE]) {
        let (peer_epoch, peer_version) = header_fields(c1);
        // A zero version field means the simple handshake; otherwise look for a client digest,
        // and fall back to the simple handshake when there is none.
        let found = match peer_version {
            0 => None,
            _ => digest::find_digest(c1, digest::CLIENT_DIGEST_KEY),
        };
        let (kind, s1, s1_digest, s2) = match found {
            Some((schema, c1_digest)) => {
                let mut s1 = new_packet(self.config.epoch, self.config.version, &self.s1_random);
                let s1_digest = digest::write_digest(&mut s1, schema, digest::SERVER_DIGEST_KEY);
                let mut s2 = self.s2_random.clone();
                digest::sign(&mut s2, &FLASH_MEDIA_SERVER_KEY, &c1_digest);
                (HandshakeKind::Complex(schema), s1, Some(s1_digest), s2)
            }
            None => {
                let s1 = new_packet(self.config.epoch, 0, &self.s1_random);
                (HandshakeKind::Simple, s1, None, Box::new(*c1))
            }
        };
        self.outbox.reserve(1 + 2 * PACKET_SIZE);
        self.outbox.put_u8(RTMP_VERSION);
        self.outbox.put_slice(&s1[..]);
        self.outbox.put_slice(&s2[..]);
        self.state = State::AwaitC2 {
            s1,
            s1_digest,
            kind,
            peer_epoch,
            peer_version,
        };
    }
}

/// Whether C2 proves the client read S1: an echo of it, or (complex) S1's signature.
fn c2_answers(
    c2: &[u8; PACKET_SIZE],
    s1: &[u8; PACKET_SIZE],
    s1_digest: Option<&[u8; DIGEST_SIZE]>,
) -> bool {
    echoes(c2, s1)
        || s1_digest.is_some_and(|s1_digest| digest::is_signed(c2, &FLASH_PLAYER_KEY, s1_digest))
}
