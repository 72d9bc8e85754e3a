//! The client's socket side: connecting (TCP, TLS, handshake), and the tasks that run a
//! publishing or playing connection.

use std::io::ErrorKind;
use std::time::Duration;

use bytes::BytesMut;
use rtmp_chunk::{ChunkDecoder, ChunkEncoder};
use rtmp_handshake::{ClientHandshake, DriveError};
use rtmp_message::Level;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use rtmp_chunk::type_id;
use rtmp_flv::{TrackConfigs, configured_tracks};
use rtmp_message::{ON_METADATA, Status, data_name_is};

use crate::{
    ClientConfig, ClientError, ClientEvent, ClientSession, Connection, PlayEvent, RtmpUrl, Scheme,
};

/// A byte stream a client can run over: TCP, TLS, or anything the application supplies (a
/// proxy tunnel, an in-memory pipe).
pub trait Transport: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Transport for T {}

const READ_RESERVE: usize = 64 << 10;
/// Bytes of queued media encoded for one write.
const WRITE_BATCH: usize = 256 << 10;

/// The socket, the chunk codec and the buffers of one client connection.
pub(crate) struct Io {
    stream: Box<dyn Transport>,
    read_buf: BytesMut,
    write_buf: BytesMut,
    decoder: ChunkDecoder,
    encoder: ChunkEncoder,
    /// The longest a write may make no progress (a server that stopped reading).
    write_timeout: Duration,
}

impl std::fmt::Debug for Io {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Io")
            .field("read_buf", &self.read_buf.len())
            .field("write_buf", &self.write_buf.len())
            .finish_non_exhaustive()
    }
}

impl Io {
    /// TCP (and TLS for rtmps), then the handshake.
    pub(crate) async fn connect(url: &RtmpUrl, config: &ClientConfig) -> Result<Self, ClientError> {
        let tcp = TcpStream::connect(url.address()).await?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn Transport> = match url.scheme {
            Scheme::Rtmp => Box::new(tcp),
            Scheme::Rtmps => tls(tcp, url, config).await?,
        };
        Self::handshake(stream, config).await
    }

    /// The handshake over `stream`, which is already connected to the server.
    pub(crate) async fn handshake(
        mut stream: Box<dyn Transport>,
        config: &ClientConfig,
    ) -> Result<Self, ClientError> {
        let mut handshake = ClientHandshake::new(config.handshake.clone());
        let leftover = match rtmp_handshake::drive(&mut stream, &mut handshake).await {
            Ok(leftover) => leftover,
            Err(DriveError::Io(error)) if error.kind() == ErrorKind::UnexpectedEof => {
                return Err(ClientError::Closed);
            }
            Err(DriveError::Io(error)) => return Err(error.into()),
            Err(DriveError::Handshake(error)) => return Err(error.into()),
            Err(error) => return Err(std::io::Error::other(error).into()),
        };
        Ok(Self {
            stream,
            read_buf: BytesMut::from(&leftover[..]),
            write_buf: BytesMut::new(),
            decoder: ChunkDecoder::new(config.decoder.clone()),
            encoder: ChunkEncoder::new(),
            write_timeout: config.write_timeout,
        })
    }

    /// Encodes everything the session has to send, and writes it.
    async fn flush(&mut self, session: &mut ClientSession) -> Result<(), ClientError> {
        while let Some(message) = session.poll_send() {
            self.encoder.encode(&message, &mut self.write_buf)?;
        }
        if let Some(sequence) = self.decoder.take_acknowledgement() {
            self.encoder.encode(
                &rtmp_chunk::RawMessage::acknowledgement(sequence),
                &mut self.write_buf,
            )?;
        }
        self.write_out().await
    }

    /// Writes what is buffered, within the write timeout.
    async fn write_out(&mut self) -> Result<(), ClientError> {
        if !self.write_buf.is_empty() {
            tokio::time::timeout(self.write_timeout, self.stream.write_all(&self.write_buf))
                .await
                .map_err(|_| ClientError::Timeout("the server to take our data"))??;
            self.write_buf.clear();
        }
        Ok(())
    }

    /// Reads until the next message arrives and hands it to the session.
    async fn read_message(&mut self, session: &mut ClientSession) -> Result<(), ClientError> {
        loop {
            if let Some(message) = self.decoder.decode(&mut self.read_buf)? {
                session.handle_message(message)?;
                return Ok(());
            }
            self.read_buf.reserve(READ_RESERVE);
            if self.stream.read_buf(&mut self.read_buf).await? == 0 {
                return Err(ClientError::Closed);
            }
        }
    }

    /// Sends what the session has, then reads until `pick` chooses an event. Events it passes
    /// over are dropped (they are answers nobody waits for).
    pub(crate) async fn until<T>(
        &mut self,
        session: &mut ClientSession,
        mut pick: impl FnMut(&ClientEvent) -> Option<T>,
    ) -> Result<T, ClientError> {
        loop {
            self.flush(session).await?;
            while let Some(event) = session.poll_event() {
                if let Some(picked) = pick(&event) {
                    return Ok(picked);
                }
            }
            self.read_message(session).await?;
        }
    }
}

#[cfg(feature = "tls")]
async fn tls(
    tcp: TcpStream,
    url: &RtmpUrl,
    config: &ClientConfig,
) -> Result<Box<dyn Transport>, ClientError> {
    let tls_config = match &config.tls {
        Some(tls) => tls.clone(),
        None => crate::tls::platform_client_config().map_err(ClientError::Tls)?,
    };
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(url.host.clone())
        .map_err(|error| ClientError::Tls(error.to_string()))?;
    let stream = tokio_rustls::TlsConnector::from(tls_config)
        .connect(name, tcp)
        .await?;
    Ok(Box::new(stream))
}

#[cfg(not(feature = "tls"))]
async fn tls(
    _: TcpStream,
    _: &RtmpUrl,
    _: &ClientConfig,
) -> Result<Box<dyn Transport>, ClientError> {
    Err(ClientError::Tls(
        "rtmps:// needs the `tls` feature of rtmp-client".into(),
    ))
}

/// What a publisher sends again after reconnecting: the metadata and every track's
/// configuration, as last sent.
#[derive(Default)]
struct Replay {
    metadata: Option<rtmp_chunk::RawMessage>,
    configs: TrackConfigs<rtmp_chunk::RawMessage>,
}

impl Replay {
    fn note(&mut self, message: &rtmp_chunk::RawMessage) {
        match message.type_id {
            type_id::DATA_AMF0 if data_name_is(&message.payload, ON_METADATA) => {
                self.metadata = Some(message.clone());
            }
            type_id::AUDIO | type_id::VIDEO => {
                let tracks = configured_tracks(message.type_id, &message.payload);
                if !tracks.is_empty() {
                    self.configs.set(tracks, message.clone());
                }
            }
            _ => {}
        }
    }

    fn messages(&self) -> impl Iterator<Item = &rtmp_chunk::RawMessage> {
        self.metadata.iter().chain(self.configs.iter())
    }
}

/// Sends queued media until the queue closes; answers the server meanwhile. Ends the stream
/// politely when the application is done. A server may stay silent for minutes while a
/// publisher sends (acknowledgement windows are megabytes), so there is no read timeout here: a
/// dead server shows as a failed write.
pub(crate) async fn publish_loop(
    mut connection: Connection,
    mut rx: mpsc::Receiver<rtmp_chunk::RawMessage>,
    mut stream_id: u32,
    name: String,
) -> Result<(), ClientError> {
    let mut replay = Replay::default();
    loop {
        let Connection { io, session, .. } = &mut connection;
        io.read_buf.reserve(READ_RESERVE);
        tokio::select! {
            message = rx.recv() => {
                let Some(message) = message else { break };
                io.flush(session).await?;
                replay.note(&message);
                queue_media(io, session, stream_id, &message)?;
                while io.write_buf.len() < WRITE_BATCH {
                    let Ok(message) = rx.try_recv() else { break };
                    replay.note(&message);
                    queue_media(io, session, stream_id, &message)?;
                }
                io.write_out().await?;
            }
            read = io.stream.read_buf(&mut io.read_buf) => {
                if read? == 0 {
                    return Err(ClientError::Closed);
                }
                while let Some(message) = io.decoder.decode(&mut io.read_buf)? {
                    session.handle_message(message)?;
                }
                let mut reconnect = None;
                while let Some(event) = session.poll_event() {
                    match event {
                        ClientEvent::Status { status, .. } if status.level == Level::Error => {
                            return Err(ClientError::from_status("publish", Some(status)));
                        }
                        ClientEvent::ReconnectRequest { tc_url, .. } => reconnect = Some(tc_url),
                        _ => {}
                    }
                }
                io.flush(session).await?;
                if let Some(tc_url) = reconnect
                    && let Some(next) = connection.reconnect(tc_url.as_deref()) {
                        let mut next = next.await?;
                        let next_id = next.start_publish(&name).await?;
                        // The old connection ends politely; the new one starts decodable.
                        let _ = connection.session.close_stream(stream_id, Some(&name));
                        let _ = connection.io.flush(&mut connection.session).await;
                        connection = next;
                        stream_id = next_id;
                        let Connection { io, session, .. } = &mut connection;
                        for message in replay.messages() {
                            queue_media(io, session, stream_id, message)?;
                        }
                        io.write_out().await?;
                    }
            }
        }
    }
    let Connection { io, session, .. } = &mut connection;
    session.close_stream(stream_id, Some(&name))?;
    io.flush(session).await?;
    io.stream.shutdown().await?;
    Ok(())
}

fn queue_media(
    io: &mut Io,
    session: &ClientSession,
    stream_id: u32,
    message: &rtmp_chunk::RawMessage,
) -> Result<(), ClientError> {
    let message = session.media(
        stream_id,
        message.type_id,
        message.timestamp,
        message.payload.clone(),
    );
    io.encoder.encode(&message, &mut io.write_buf)?;
    Ok(())
}

/// Reads the played stream into `tx` until the server ends it or the application drops the
/// player; follows reconnect requests.
pub(crate) async fn play_loop(
    mut connection: Connection,
    tx: mpsc::Sender<PlayEvent>,
    mut stream_id: u32,
    name: String,
) -> Result<(), ClientError> {
    let read_timeout = connection.config.read_timeout;
    loop {
        let mut reconnect = None;
        while let Some(event) = connection.session.poll_event() {
            let event = match event {
                ClientEvent::Media(message) if message.stream_id == stream_id => {
                    PlayEvent::Media(message)
                }
                ClientEvent::Status { status, .. } if status.level == Level::Error => {
                    return Err(ClientError::from_status("play", Some(status)));
                }
                ClientEvent::Status { status, .. } => PlayEvent::Status(status),
                // The stream ends here, unless the server asked us to move: a drained server
                // ends the stream on this connection (its publisher moved too), and it goes
                // on from the next one.
                ClientEvent::StreamEof { stream_id: id } if id == stream_id => {
                    let moving = reconnect.as_ref().is_some_and(|tc_url: &Option<String>| {
                        connection.reconnect_target(tc_url.as_deref()).is_some()
                    });
                    if moving {
                        continue;
                    }
                    return Ok(());
                }
                ClientEvent::ReconnectRequest {
                    tc_url,
                    description,
                } => {
                    let status = Status::reconnect_request(tc_url.as_deref(), description);
                    reconnect = Some(tc_url);
                    PlayEvent::Status(status)
                }
                _ => continue,
            };
            if tx.send(event).await.is_err() {
                // The application dropped the player.
                let _ = connection.session.close_stream(stream_id, None);
                let _ = connection.io.flush(&mut connection.session).await;
                return Ok(());
            }
        }
        if let Some(tc_url) = reconnect
            && let Some(next) = connection.reconnect(tc_url.as_deref())
        {
            let mut next = next.await?;
            let (next_id, early) = next.start_play(&name).await?;
            let _ = connection.session.close_stream(stream_id, None);
            let _ = connection.io.flush(&mut connection.session).await;
            connection = next;
            stream_id = next_id;
            if let Some(message) = early
                && tx.send(PlayEvent::Media(message)).await.is_err()
            {
                return Ok(());
            }
            continue;
        }
        let Connection { io, session, .. } = &mut connection;
        io.flush(session).await?;
        match tokio::time::timeout(read_timeout, io.read_message(session)).await {
            Ok(result) => result?,
            Err(_) => return Err(ClientError::Timeout("media from the server")),
        }
    }
}
