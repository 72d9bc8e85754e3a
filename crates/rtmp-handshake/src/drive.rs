//! [`drive`]: either side of the handshake over a tokio stream (feature `tokio`).

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::{Handshake, HandshakeError, Progress};

/// Why a handshake over a stream failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriveError {
    /// Reading or writing the stream failed, or the peer closed it.
    #[error("handshake transport: {0}")]
    Io(#[from] std::io::Error),
    /// The peer's bytes are not a handshake.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
}

/// Runs `handshake` (either side) over `stream`: writes its output (C0+C1 first for a
/// client), feeds it what arrives, and returns the bytes that came after the handshake (hand
/// them to the chunk decoder first; see `rtmp_chunk::ChunkCodec::framed`). The peer closing
/// the stream is an [`std::io::ErrorKind::UnexpectedEof`] error. It sets no timeout: wrap it
/// in one.
pub async fn drive<S>(stream: &mut S, handshake: &mut impl Handshake) -> Result<Bytes, DriveError>
where
    S: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    stream.write_all(&handshake.take_output()).await?;
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
        let status = handshake.read(buf.get(..n).unwrap_or_default())?;
        stream.write_all(&handshake.take_output()).await?;
        if let Progress::Done(done) = status {
            return Ok(done.leftover);
        }
    }
}
