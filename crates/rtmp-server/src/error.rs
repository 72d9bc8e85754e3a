//! [`ConnectionError`]: every way a connection ends.

use std::time::Duration;

use rtmp_router::Refusal;
use rtmp_session::SessionError;

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// Reading or writing the socket failed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// The handshake failed.
    #[error("handshake: {0}")]
    Handshake(#[from] rtmp_handshake::HandshakeError),
    /// The handshake (RTMP's, or TLS's before it) took longer than allowed.
    #[error("handshake timed out")]
    HandshakeTimeout,
    /// The chunk stream could not be decoded (or broke a limit).
    #[error("chunk stream: {0}")]
    Chunk(#[from] rtmp_chunk::DecodeError),
    /// The session failed.
    #[error("session: {0}")]
    Session(#[from] SessionError),
    /// Nothing arrived for longer than allowed.
    #[error("idle for too long")]
    Idle,
    /// The application refused the connect (or the connection, for
    /// [`Server::serve_connection`](crate::Server::serve_connection)).
    #[error("connect refused: {0}")]
    Refused(Refusal),
    /// The peer accepted no bytes for the write timeout while bytes waited for it.
    #[error("the peer stopped reading: nothing written for {0:?}")]
    WriteTimeout(Duration),
    /// A player fell further behind its stream than the stream's ring holds, under
    /// [`SlowPlayerPolicy::Disconnect`](crate::SlowPlayerPolicy::Disconnect).
    #[error("a player fell behind its stream by more than its queue holds")]
    FellBehind,
    /// The peer left this many bytes of the server's own messages unread: more than twice
    /// [`ServerConfig::max_answer_bytes`](crate::ServerConfig::max_answer_bytes), found when
    /// the server queued a status of its own (about a stream the peer plays), which it does
    /// even while the peer is not read.
    #[error("the peer left {0} bytes of the server's messages unread")]
    Unread(usize),
    /// The application closed it ([`Server::close_connection`](crate::Server::close_connection)
    /// or [`Server::stop_publisher`](crate::Server::stop_publisher)).
    #[error("closed by the server")]
    Closed,
}
