//! An RTMP client on tokio: publish to and play from any RTMP server.
//!
//! [`ClientSession`] (from `rtmp-session`) is the protocol logic, with no runtime;
//! [`Connection`], [`Publisher`] and [`Player`] run it on tokio, over TCP, TLS for `rtmps://`
//! (feature `tls`, on by default), or any stream the application supplies
//! ([`Connection::connect_over`]).
//!
//! ```no_run
//! use rtmp_client::{ClientConfig, ClientError, PlayEvent};
//!
//! # async fn run() -> Result<(), ClientError> {
//! let mut player = rtmp_client::play("rtmp://127.0.0.1/live/cam", ClientConfig::default()).await?;
//! while let Some(event) = player.next_event().await? {
//!     if let PlayEvent::Media(message) = event {
//!         println!("type {} at {} ms, {} bytes", message.type_id, message.timestamp, message.payload.len());
//!     }
//! }
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod io;
mod player;
mod publisher;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;

use std::time::Duration;

use rtmp_chunk::DecoderConfig;
use rtmp_message::{Level, Status, StatusCode};
use tokio::sync::mpsc;

pub use io::Transport;
pub use player::{PlayEvent, Player};
pub use publisher::Publisher;
/// AMF0 values: [`rtmp_amf0`], re-exported so that its version always matches.
pub use rtmp_amf0 as amf0;
/// The chunk stream layer: [`rtmp_chunk`], re-exported so that its version always matches.
pub use rtmp_chunk as chunk;
/// FLV tags, frames and codec configuration records: [`rtmp_flv`], re-exported so that its version always matches.
pub use rtmp_flv as flv;
pub use rtmp_flv::Frame;
/// The handshake: [`rtmp_handshake`], re-exported so that its version always matches.
pub use rtmp_handshake as handshake;
/// Typed RTMP messages: [`rtmp_message`], re-exported so that its version always matches.
pub use rtmp_message as message;
/// The sans-IO sessions: [`rtmp_session`], re-exported so that its version always matches.
pub use rtmp_session as session;
pub use rtmp_session::{
    ClientEvent, ClientSession, ClientSessionConfig, ClientSessionError, RtmpUrl, Scheme, UrlError,
};

use io::Io;

/// Settings of a client connection.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Protocol settings (chunk size, FourCCs announced, flashVer).
    pub session: ClientSessionConfig,
    /// The handshake: complex (default) or simple, and S2 verification.
    pub handshake: rtmp_handshake::ClientHandshakeConfig,
    /// Limits on what the server may send.
    pub decoder: DecoderConfig,
    /// The longest from TCP connect to the connect result, TLS and handshake included
    /// (default 10 s).
    pub connect_timeout: Duration,
    /// The longest to wait for the answer to createStream, publish or play (default 10 s).
    pub response_timeout: Duration,
    /// A player gives up when the server sends nothing for this long (default 60 s).
    pub read_timeout: Duration,
    /// A publisher or player gives up when a write to the server makes no progress for this
    /// long (default 30 s): the server stopped reading.
    pub write_timeout: Duration,
    /// Messages buffered between the application and the connection (default 256). A
    /// publisher's `send` waits while it is full; a player stops reading the socket.
    pub queue: usize,
    /// TLS settings for `rtmps://`; `None` trusts the platform's certificate authorities.
    #[cfg(feature = "tls")]
    pub tls: Option<std::sync::Arc<tokio_rustls::rustls::ClientConfig>>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            session: ClientSessionConfig::default(),
            handshake: rtmp_handshake::ClientHandshakeConfig::default(),
            decoder: DecoderConfig::default(),
            connect_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
            queue: 256,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL does not parse.
    #[error("url: {0}")]
    Url(#[from] UrlError),
    /// `rtmps://` without the `tls` feature, or a TLS setup error.
    #[error("tls: {0}")]
    Tls(String),
    /// The socket failed or closed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// The handshake failed.
    #[error("handshake: {0}")]
    Handshake(#[from] rtmp_handshake::HandshakeError),
    /// The server's chunk stream does not decode (or breaks a limit).
    #[error("chunk stream: {0}")]
    Chunk(#[from] rtmp_chunk::DecodeError),
    /// A message could not be chunked.
    #[error("chunk encoding: {0}")]
    ChunkEncode(#[from] rtmp_chunk::EncodeError),
    /// The server sent a message that does not decode.
    #[error("{0}")]
    Session(#[from] ClientSessionError),
    /// A step took longer than its timeout.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// The stream name is refused (NetStream.Publish.BadName: already published, or not
    /// allowed).
    #[error("bad name: {0}")]
    BadName(String),
    /// The stream to play does not exist (NetStream.Play.StreamNotFound).
    #[error("stream not found: {0}")]
    StreamNotFound(String),
    /// The server refused with an `_error` or an error-level status.
    #[error("{command} refused: {code}: {description}")]
    Rejected {
        /// The command refused.
        command: String,
        /// The status code (e.g. NetConnection.Connect.Rejected).
        code: String,
        /// The server's description.
        description: String,
    },
    /// A frame could not be written as an FLV tag.
    #[error("frame: {0}")]
    Frame(String),
    /// The server closed the connection.
    #[error("the server closed the connection")]
    Closed,
}

impl ClientError {
    fn from_status(command: &str, status: Option<Status>) -> Self {
        let Some(status) = status else {
            return Self::Rejected {
                command: command.to_owned(),
                code: "_error".into(),
                description: String::new(),
            };
        };
        match status.code {
            StatusCode::PublishBadName => Self::BadName(status.description),
            StatusCode::PlayStreamNotFound => Self::StreamNotFound(status.description),
            code => Self::Rejected {
                command: command.to_owned(),
                code: code.as_str().to_owned(),
                description: status.description,
            },
        }
    }
}

/// A connected client: the handshake is done and the server accepted connect.
#[derive(Debug)]
pub struct Connection {
    io: Io,
    session: ClientSession,
    config: ClientConfig,
    server_info: Option<Status>,
    /// Where the connection was opened, to follow reconnect requests (`None` over a stream
    /// the application supplied, which cannot be opened again).
    url: Option<RtmpUrl>,
}

impl Connection {
    /// Connects to the server and application of `url` (its stream name is not used here).
    pub async fn connect(url: &RtmpUrl, config: ClientConfig) -> Result<Self, ClientError> {
        let timeout = config.connect_timeout;
        tokio::time::timeout(timeout, Self::connect_inner(url, config))
            .await
            .map_err(|_| ClientError::Timeout("connect"))?
    }

    /// Connects over `stream`, already open to the server (a tunnel, a Unix socket, an
    /// in-memory pipe): the handshake, then connect to the application of `url` (its host
    /// and port are only used in the tcUrl).
    ///
    /// ```no_run
    /// use rtmp_client::{ClientConfig, Connection, RtmpUrl};
    ///
    /// # async fn run() -> Result<(), rtmp_client::ClientError> {
    /// let url = RtmpUrl::parse("rtmp://origin/live/cam")?;
    /// let stream = tokio::net::UnixStream::connect("/run/rtmp.sock").await?;
    /// let connection = Connection::connect_over(stream, &url, ClientConfig::default()).await?;
    /// let player = connection.play(&url.stream).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect_over(
        stream: impl Transport + 'static,
        url: &RtmpUrl,
        config: ClientConfig,
    ) -> Result<Self, ClientError> {
        let timeout = config.connect_timeout;
        let mut config = config;
        // Nothing can be opened again to follow a reconnect request.
        if let Some(announced) = &mut config.session.capabilities {
            announced.caps_ex &= !rtmp_session::caps_ex::RECONNECT;
        }
        let connecting = async {
            let io = Io::handshake(Box::new(stream), &config).await?;
            Self::connect_app(io, url, config).await
        };
        tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| ClientError::Timeout("connect"))?
    }

    async fn connect_inner(url: &RtmpUrl, config: ClientConfig) -> Result<Self, ClientError> {
        let io = Io::connect(url, &config).await?;
        let mut connection = Self::connect_app(io, url, config).await?;
        connection.url = Some(url.clone());
        Ok(connection)
    }

    /// connect, once the handshake is done.
    async fn connect_app(
        mut io: Io,
        url: &RtmpUrl,
        config: ClientConfig,
    ) -> Result<Self, ClientError> {
        let mut session = ClientSession::new(config.session.clone());
        session.connect(&url.app, &url.tc_url())?;
        let event = io
            .until(&mut session, |event| match event {
                ClientEvent::Connected { .. } => Some(Ok(event.clone())),
                ClientEvent::Refused { command, status } if command == "connect" => {
                    Some(Err(ClientError::from_status(command, status.clone())))
                }
                _ => None,
            })
            .await??;
        let ClientEvent::Connected { info, .. } = event else {
            return Err(ClientError::Closed);
        };
        Ok(Self {
            io,
            session,
            config,
            server_info: info,
            url: None,
        })
    }

    /// What the server answered to connect (Enhanced RTMP v2: the codecs and extended
    /// capabilities both sides support); `None` from a server that answered nothing.
    pub fn server_capabilities(&self) -> Option<&rtmp_session::Capabilities> {
        self.session.server_capabilities()
    }

    /// A new connection for a reconnect request: to `tc_url` if given, else where this one
    /// went; `None` when this connection cannot be opened again.
    fn reconnect(
        &self,
        tc_url: Option<&str>,
    ) -> Option<impl Future<Output = Result<Self, ClientError>> + Send + 'static> {
        let target = self.reconnect_target(tc_url)?;
        let config = self.config.clone();
        Some(async move { Self::connect(&target?, config).await })
    }

    /// Where a reconnect request sends this connection.
    fn reconnect_target(&self, tc_url: Option<&str>) -> Option<Result<RtmpUrl, ClientError>> {
        let url = self.url.as_ref()?;
        let Some(tc_url) = tc_url else {
            return Some(Ok(url.clone()));
        };
        Some(
            RtmpUrl::parse(tc_url)
                .map(|mut target| {
                    // The tcUrl names a server and application: all of its path is the app.
                    if !target.stream.is_empty() {
                        target.app = format!("{}/{}", target.app, target.stream);
                    }
                    target.stream = url.stream.clone();
                    target
                })
                .map_err(ClientError::from),
        )
    }

    /// The server's NetConnection.Connect.Success information object.
    pub fn server_info(&self) -> Option<&Status> {
        self.server_info.as_ref()
    }

    async fn create_stream(&mut self) -> Result<u32, ClientError> {
        self.session.create_stream()?;
        self.io
            .until(&mut self.session, |event| match event {
                ClientEvent::StreamCreated { stream_id } => Some(Ok(*stream_id)),
                ClientEvent::Refused { command, status } if command == "createStream" => {
                    Some(Err(ClientError::from_status(command, status.clone())))
                }
                _ => None,
            })
            .await?
    }

    /// Publishes `name` (live): releaseStream, FCPublish, createStream and publish, then
    /// waits for NetStream.Publish.Start.
    ///
    /// If the server asks the client to reconnect (Enhanced RTMP v2, when the connection was
    /// opened with [`connect`](Self::connect)), the publisher connects again where asked,
    /// publishes the same name, sends the stream's metadata and sequence headers again and
    /// goes on; the application sees nothing of it.
    pub async fn publish(mut self, name: &str) -> Result<Publisher, ClientError> {
        let stream_id = self.start_publish(name).await?;
        let (tx, rx) = mpsc::channel(self.config.queue.max(1));
        let name = name.to_owned();
        let server = self.session.server_capabilities().cloned();
        let task = tokio::spawn(io::publish_loop(self, rx, stream_id, name));
        Ok(Publisher::new(tx, task, stream_id, server))
    }

    /// releaseStream, FCPublish, createStream and publish, until NetStream.Publish.Start.
    async fn start_publish(&mut self, name: &str) -> Result<u32, ClientError> {
        let timeout = self.config.response_timeout;
        tokio::time::timeout(timeout, async {
            self.session.prepare_publish(name)?;
            let stream_id = self.create_stream().await?;
            self.session.publish(stream_id, name)?;
            self.io
                .until(&mut self.session, |event| {
                    stream_status(event, stream_id, "publish", StatusCode::PublishStart)
                })
                .await??;
            Ok::<_, ClientError>(stream_id)
        })
        .await
        .map_err(|_| ClientError::Timeout("publish"))?
    }

    /// Plays `name`: createStream and play, then waits for NetStream.Play.Start (or the first
    /// media).
    ///
    /// If the server asks the client to reconnect (Enhanced RTMP v2, when the connection was
    /// opened with [`connect`](Self::connect)), the player connects again where asked and
    /// plays the same name; the application gets the request as a
    /// [`PlayEvent::Status`], then the stream goes on.
    pub async fn play(mut self, name: &str) -> Result<Player, ClientError> {
        let (stream_id, early) = self.start_play(name).await?;
        let (tx, rx) = mpsc::channel(self.config.queue.max(1));
        if let Some(message) = early {
            let _ = tx.try_send(PlayEvent::Media(message));
        }
        let name = name.to_owned();
        let task = tokio::spawn(io::play_loop(self, tx, stream_id, name));
        Ok(Player::new(rx, task))
    }

    /// createStream and play, until NetStream.Play.Start (or the first media, returned).
    async fn start_play(
        &mut self,
        name: &str,
    ) -> Result<(u32, Option<rtmp_chunk::RawMessage>), ClientError> {
        let timeout = self.config.response_timeout;
        tokio::time::timeout(timeout, async {
            let stream_id = self.create_stream().await?;
            self.session.play(stream_id, name)?;
            let early = self
                .io
                .until(&mut self.session, |event| match event {
                    ClientEvent::Media(message) => Some(Ok(Some(message.clone()))),
                    _ => stream_status(event, stream_id, "play", StatusCode::PlayStart)
                        .map(|r| r.map(|()| None)),
                })
                .await??;
            Ok::<_, ClientError>((stream_id, early))
        })
        .await
        .map_err(|_| ClientError::Timeout("play"))?
    }
}

/// `Some(Ok)` for `success` on `stream_id`, `Some(Err)` for an error-level status there.
fn stream_status(
    event: &ClientEvent,
    stream_id: u32,
    command: &str,
    success: StatusCode,
) -> Option<Result<(), ClientError>> {
    let ClientEvent::Status {
        stream_id: id,
        status,
    } = event
    else {
        return None;
    };
    if *id != stream_id && *id != 0 {
        return None;
    }
    if status.code == success {
        return Some(Ok(()));
    }
    (status.level == Level::Error)
        .then(|| Err(ClientError::from_status(command, Some(status.clone()))))
}

/// Connects to `url` and publishes its stream name.
pub async fn publish(url: &str, config: ClientConfig) -> Result<Publisher, ClientError> {
    let url = RtmpUrl::parse(url)?;
    Connection::connect(&url, config)
        .await?
        .publish(&url.stream)
        .await
}

/// Connects to `url` and plays its stream name.
pub async fn play(url: &str, config: ClientConfig) -> Result<Player, ClientError> {
    let url = RtmpUrl::parse(url)?;
    Connection::connect(&url, config)
        .await?
        .play(&url.stream)
        .await
}

/// Sends media in real time: waits until the wall clock reaches each message's timestamp,
/// counted from the first one (for publishing files as a live encoder would).
#[derive(Debug, Default)]
pub struct Pacer {
    start: Option<(tokio::time::Instant, u32)>,
}

impl Pacer {
    /// A pacer that starts with the first timestamp it sees.
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits until `timestamp` (milliseconds) is due. Timestamps before the first are due at
    /// once; a new start can be set with [`restart`](Self::restart) (e.g. when looping a file).
    pub async fn wait(&mut self, timestamp: u32) {
        let (start, first) = *self
            .start
            .get_or_insert((tokio::time::Instant::now(), timestamp));
        let offset = timestamp.saturating_sub(first);
        tokio::time::sleep_until(start + Duration::from_millis(u64::from(offset))).await;
    }

    /// Makes the next timestamp due at once, and later ones relative to it.
    pub fn restart(&mut self) {
        self.start = None;
    }
}

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
