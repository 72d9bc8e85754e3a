//! The tokio-util codec (feature `tokio-util`): [`ChunkCodec`] joins a decoder and an encoder
//! for `Framed`, and [`ChunkCodec::framed`] frames a stream after the handshake.

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder, Framed, FramedParts};

use crate::decoder::{ChunkDecoder, DecodeError, DecoderConfig};
use crate::encoder::{ChunkEncoder, ChunkedMessage, EncodeError};
use crate::message::RawMessage;

/// Why a framed chunk stream failed: the chunks, or the transport under them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The incoming chunks broke the protocol or a limit.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A message could not be chunked.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// Reading or writing the transport failed.
    #[error("chunk stream transport: {0}")]
    Io(#[from] std::io::Error),
}

/// Both directions of a chunk stream, for `tokio_util::codec::Framed`.
///
/// Reach the halves with [`Framed::codec_mut`](tokio_util::codec::Framed::codec_mut), e.g. to
/// send the Acknowledgement that [`ChunkDecoder::take_acknowledgement`] asks for.
#[derive(Debug, Default)]
pub struct ChunkCodec {
    /// The receiving direction.
    pub decoder: ChunkDecoder,
    /// The sending direction.
    pub encoder: ChunkEncoder,
}

impl ChunkCodec {
    /// A codec with default limits and chunk size 128 in both directions.
    pub fn new() -> Self {
        Self::default()
    }

    /// A codec whose decoder has the given limits.
    pub fn with_config(config: DecoderConfig) -> Self {
        Self {
            decoder: ChunkDecoder::new(config),
            encoder: ChunkEncoder::new(),
        }
    }

    /// Frames `io` once the handshake is done. `leftover` holds the bytes that came after C2
    /// in the handshake's last read (often the client's `connect`): they are decoded before
    /// anything more is read.
    ///
    /// This is the way to hand them over. Appending them to
    /// [`Framed::read_buffer_mut`] of a new `Framed` is not: `Framed` decodes what its buffer
    /// holds only after the transport yields more, so a peer that sent C2 and `connect`
    /// together and then waits for the answer would wait for ever.
    ///
    /// ```no_run
    /// use futures::{SinkExt, StreamExt};
    /// use rtmp_chunk::{ChunkCodec, RawMessage};
    ///
    /// # async fn run(stream: tokio::net::TcpStream, leftover: &[u8]) -> Result<(), rtmp_chunk::CodecError> {
    /// let mut framed = ChunkCodec::new().framed(stream, leftover);
    /// framed.send(RawMessage::window_ack_size(2_500_000)).await?;
    /// while let Some(message) = framed.next().await {
    ///     let message = message?;
    ///     println!("type {} on stream {}", message.type_id, message.stream_id);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn framed<T>(self, io: T, leftover: &[u8]) -> Framed<T, Self> {
        let mut parts = FramedParts::new::<RawMessage>(io, self);
        parts.read_buf = BytesMut::from(leftover);
        Framed::from_parts(parts)
    }
}

impl Decoder for ChunkDecoder {
    type Item = RawMessage;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<RawMessage>, CodecError> {
        Ok(ChunkDecoder::decode(self, src)?)
    }
}

impl Encoder<RawMessage> for ChunkEncoder {
    type Error = CodecError;

    fn encode(&mut self, message: RawMessage, dst: &mut BytesMut) -> Result<(), CodecError> {
        Ok(ChunkEncoder::encode(self, &message, dst)?)
    }
}

impl Encoder<&ChunkedMessage> for ChunkEncoder {
    type Error = CodecError;

    fn encode(&mut self, chunked: &ChunkedMessage, dst: &mut BytesMut) -> Result<(), CodecError> {
        Ok(self.encode_chunked(chunked, dst)?)
    }
}

impl Decoder for ChunkCodec {
    type Item = RawMessage;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<RawMessage>, CodecError> {
        Ok(self.decoder.decode(src)?)
    }
}

impl Encoder<RawMessage> for ChunkCodec {
    type Error = CodecError;

    fn encode(&mut self, message: RawMessage, dst: &mut BytesMut) -> Result<(), CodecError> {
        Ok(self.encoder.encode(&message, dst)?)
    }
}

impl Encoder<&ChunkedMessage> for ChunkCodec {
    type Error = CodecError;

    fn encode(&mut self, chunked: &ChunkedMessage, dst: &mut BytesMut) -> Result<(), CodecError> {
        Ok(self.encoder.encode_chunked(chunked, dst)?)
    }
}
