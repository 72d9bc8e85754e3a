//! The tokio-util codec: [`ChunkCodec`] joins a decoder and an encoder for `Framed`.

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use crate::decoder::{ChunkDecoder, DecodeError, DecoderConfig};
use crate::encoder::{ChunkEncoder, ChunkedMessage, EncodeError};
use crate::message::Message;

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
}

impl Decoder for ChunkDecoder {
    type Item = Message;
    type Error = DecodeError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, DecodeError> {
        ChunkDecoder::decode(self, src)
    }
}

impl Encoder<Message> for ChunkEncoder {
    type Error = EncodeError;

    fn encode(&mut self, message: Message, dst: &mut BytesMut) -> Result<(), EncodeError> {
        ChunkEncoder::encode(self, &message, dst)
    }
}

impl Encoder<&ChunkedMessage> for ChunkEncoder {
    type Error = EncodeError;

    fn encode(&mut self, chunked: &ChunkedMessage, dst: &mut BytesMut) -> Result<(), EncodeError> {
        self.encode_chunked(chunked, dst)
    }
}

impl Decoder for ChunkCodec {
    type Item = Message;
    type Error = DecodeError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, DecodeError> {
        self.decoder.decode(src)
    }
}

impl Encoder<Message> for ChunkCodec {
    type Error = EncodeError;

    fn encode(&mut self, message: Message, dst: &mut BytesMut) -> Result<(), EncodeError> {
        self.encoder.encode(&message, dst)
    }
}

impl Encoder<&ChunkedMessage> for ChunkCodec {
    type Error = EncodeError;

    fn encode(&mut self, chunked: &ChunkedMessage, dst: &mut BytesMut) -> Result<(), EncodeError> {
        self.encoder.encode_chunked(chunked, dst)
    }
}
