//! The byte streams RTMP runs over: plain TCP, and TLS on either side (feature `tls`).

use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use rtmp_handshake::{Handshake, HandshakeError, Status};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// Why a handshake over a stream failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HandshakeIoError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
}

/// Runs either side of the handshake over `stream`: writes its output (C0+C1 first for a
/// client), feeds it what arrives, and returns the bytes that came after the handshake.
pub(crate) async fn handshake(
    stream: &mut Transport,
    handshake: &mut impl Handshake,
) -> Result<Bytes, HandshakeIoError> {
    stream.write_all(&handshake.take_output()).await?;
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
        let status = handshake.read(buf.get(..n).unwrap_or_default())?;
        stream.write_all(&handshake.take_output()).await?;
        if let Status::Done(done) = status {
            return Ok(done.leftover);
        }
    }
}

/// A connection's stream: TCP, or TLS over TCP.
#[derive(Debug)]
pub enum Transport {
    /// Plain RTMP.
    Tcp(TcpStream),
    /// RTMPS, client side.
    #[cfg(feature = "tls")]
    TlsClient(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// RTMPS, server side.
    #[cfg(feature = "tls")]
    TlsServer(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Transport {
    /// The TCP stream underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Self::Tcp(stream) => stream,
            #[cfg(feature = "tls")]
            Self::TlsClient(stream) => stream.get_ref().0,
            #[cfg(feature = "tls")]
            Self::TlsServer(stream) => stream.get_ref().0,
        }
    }
}

macro_rules! each {
    ($self:ident, $stream:ident => $body:expr) => {
        match $self.get_mut() {
            Transport::Tcp($stream) => $body,
            #[cfg(feature = "tls")]
            Transport::TlsClient($stream) => $body,
            #[cfg(feature = "tls")]
            Transport::TlsServer($stream) => $body,
        }
    };
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        each!(self, stream => Pin::new(stream).poll_read(cx, buf))
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        each!(self, stream => Pin::new(stream).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        each!(self, stream => Pin::new(stream).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Tcp(stream) => stream.is_write_vectored(),
            #[cfg(feature = "tls")]
            Self::TlsClient(stream) => stream.is_write_vectored(),
            #[cfg(feature = "tls")]
            Self::TlsServer(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        each!(self, stream => Pin::new(stream).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        each!(self, stream => Pin::new(stream).poll_shutdown(cx))
    }
}
