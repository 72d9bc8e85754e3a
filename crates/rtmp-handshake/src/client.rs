//! The client side: sends C0+C1, reads S0+S1, sends C2, reads S2.

use bytes::{BufMut, Bytes, BytesMut};

use crate::digest::{self, DIGEST_SIZE, FLASH_MEDIA_SERVER_KEY, FLASH_PLAYER_KEY, Schema};
use crate::{
    Completed, HandshakeError, HandshakeKind, Inbox, PACKET_SIZE, Progress, RTMP_VERSION,
    check_version, echoes, header_fields, new_packet, random_packet,
};

/// Which handshake a client offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientStyle {
    /// Zero version field and no digest.
    Simple,
    /// A C1 digest in the given schema, as Flash Player 9 and later send.
    Complex(Schema),
}

/// Settings of a [`ClientHandshake`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHandshakeConfig {
    /// Simple or complex; complex (schema 1, like ffmpeg) by default, which every server accepts.
    pub style: ClientStyle,
    /// The time field written into C1.
    pub epoch: u32,
    /// The version field of a complex C1 (default 0x09007c02, Flash Player 9.0.124.2).
    pub version: u32,
    /// Reject an S2 that neither echoes C1 nor carries C1's signature. Off by default.
    pub verify_s2: bool,
}

impl Default for ClientHandshakeConfig {
    fn default() -> Self {
        Self {
            style: ClientStyle::Complex(Schema::DigestFirst),
            epoch: 0,
            version: 0x0900_7C02,
            verify_s2: false,
        }
    }
}

#[derive(Debug)]
enum State {
    AwaitS0,
    AwaitS1,
    AwaitS2 {
        kind: HandshakeKind,
        peer_epoch: u32,
        peer_version: u32,
    },
    Finished,
}

/// The client side of the handshake.
///
/// C0 and C1 are ready in [`take_output`](Self::take_output) as soon as it is made. C2 is
/// queued as soon as S1 arrives, so write the output after every [`read`](Self::read),
/// including the one that returns [`Progress::Done`].
#[derive(Debug)]
pub struct ClientHandshake {
    config: ClientHandshakeConfig,
    state: State,
    inbox: Inbox,
    outbox: BytesMut,
    c1: Box<[u8; PACKET_SIZE]>,
    c1_digest: Option<[u8; DIGEST_SIZE]>,
    c2_random: Box<[u8; PACKET_SIZE]>,
}

impl ClientHandshake {
    /// A client handshake with random bytes from the thread-local generator.
    pub fn new(config: ClientHandshakeConfig) -> Self {
        Self::with_rng(config, &mut rand::rng())
    }

    /// A client handshake that draws its random bytes from `rng` (for reproducible tests).
    pub fn with_rng<R: rand::Rng + ?Sized>(config: ClientHandshakeConfig, rng: &mut R) -> Self {
        let random = random_packet(rng);
        let (c1, c1_digest) = match config.style {
            ClientStyle::Simple => (new_packet(config.epoch, 0, &random), None),
            ClientStyle::Complex(schema) => {
                let mut c1 = new_packet(config.epoch, config.version, &random);
                let c1_digest = digest::write_digest(&mut c1, schema, digest::CLIENT_DIGEST_KEY);
                (c1, Some(c1_digest))
            }
        };
        let mut outbox = BytesMut::with_capacity(1 + PACKET_SIZE);
        outbox.put_u8(RTMP_VERSION);
        outbox.put_slice(&c1[..]);
        Self {
            config,
            state: State::AwaitS0,
            inbox: Inbox::default(),
            outbox,
            c1,
            c1_digest,
            c2_random: random_packet(rng),
        }
    }

    /// Bytes to send to the server now (empty when there are none).
    pub fn take_output(&mut self) -> Bytes {
        self.outbox.split().freeze()
    }

    /// Whether [`take_output`](Self::take_output) has bytes.
    pub fn wants_write(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// Consumes bytes received from the server.
    ///
    /// Any number of bytes may be passed at once; bytes past S2 are returned in
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
                State::AwaitS0 => {
                    let Some(version) = self.inbox.first() else {
                        return Ok(Progress::InProgress);
                    };
                    check_version(version)?;
                    self.inbox.skip_byte();
                    self.state = State::AwaitS1;
                }
                State::AwaitS1 => {
                    let Some(s1) = self.inbox.packet() else {
                        return Ok(Progress::InProgress);
                    };
                    self.answer_s1(&s1);
                }
                State::AwaitS2 {
                    kind,
                    peer_epoch,
                    peer_version,
                } => {
                    let Some(s2) = self.inbox.packet() else {
                        return Ok(Progress::InProgress);
                    };
                    if self.config.verify_s2 && !self.s2_answers(&s2) {
                        return Err(HandshakeError::S2Mismatch);
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

    /// Queues C2: signed when the server answered with a valid complex S1, an echo otherwise.
    fn answer_s1(&mut self, s1: &[u8; PACKET_SIZE]) {
        let (peer_epoch, peer_version) = header_fields(s1);
        let found = match self.config.style {
            ClientStyle::Complex(_) => digest::find_digest(s1, digest::SERVER_DIGEST_KEY),
            ClientStyle::Simple => None,
        };
        let (kind, c2) = match found {
            Some((schema, s1_digest)) => {
                let mut c2 = self.c2_random.clone();
                digest::sign(&mut c2, &FLASH_PLAYER_KEY, &s1_digest);
                (HandshakeKind::Complex(schema), c2)
            }
            None => (HandshakeKind::Simple, Box::new(*s1)),
        };
        self.outbox.put_slice(&c2[..]);
        self.state = State::AwaitS2 {
            kind,
            peer_epoch,
            peer_version,
        };
    }

    /// Whether S2 proves the server read C1: an echo of it, or (complex) C1's signature.
    fn s2_answers(&self, s2: &[u8; PACKET_SIZE]) -> bool {
        echoes(s2, &self.c1)
            || self
                .c1_digest
                .is_some_and(|c1_digest| digest::is_signed(s2, &FLASH_MEDIA_SERVER_KEY, &c1_digest))
    }
}
