//! One connection on tokio: the handshake, then a reader task that owns the session and
//! hands the connection's own messages (each with the count of media queued before it) to the
//! writer task of [`crate::writer`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

// The runtime's clock (so that a paused clock in tests moves timeouts too); the session
// gets it as a std instant.
use tokio::time::Instant;

use bytes::BytesMut;
use rtmp_chunk::{ChunkDecoder, DecoderConfig, MemoryBudget, RawMessage, type_id};
use rtmp_handshake::{DriveError, ServerHandshake, ServerHandshakeConfig as HandshakeConfig};
use rtmp_message::{Status, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::watch;

use crate::config::{ServerConfig, Takeover};
use crate::error::ConnectionError;
use crate::hooks::{Client, Hooks, StreamEvent};
use crate::relay::{self, Relays};
use crate::stats::{Entry, Registry, Request, Role};
use crate::viewer::Protocol;
use crate::writer::{Ticks, WriteError, WriteHalf, next_tick, write_loop};
use rtmp_router::driver::{Inlet, Notices, PlayerControls, outlet};
use rtmp_router::{
    CodecPolicy, Notice, PlayError, Playing, PublishError, Publishing, Refusal, Rendition, Router,
};
use rtmp_session::{RtmpUrl, ServerSession, SessionError, SessionEvent, StreamKey, StreamRequest};

/// The reading half of a connection's stream.
pub(crate) type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;

/// The halves of a TCP stream, without a lock between them.
pub(crate) fn split_tcp(tcp: tokio::net::TcpStream) -> (ReadHalf, WriteHalf) {
    let (reader, writer) = tcp.into_split();
    (Box::new(reader), WriteHalf::Tcp(writer))
}

/// The halves of any stream (behind a lock shared by the two).
pub(crate) fn split_any<S>(stream: S) -> (ReadHalf, WriteHalf)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (reader, writer) = tokio::io::split(stream);
    (Box::new(reader), WriteHalf::Other(Box::new(writer)))
}

/// The longest a publisher taking a key over waits for the replaced one to let go.
const TAKEOVER_WAIT: Duration = Duration::from_secs(5);

/// What every connection shares.
pub(crate) struct Context<H> {
    pub(crate) config: ServerConfig,
    pub(crate) hooks: Arc<H>,
    pub(crate) router: Arc<dyn Router>,
    /// Push and pull tasks.
    pub(crate) relays: Relays,
    /// The origin of the server's clock ticks: connections time their writes and keep-alive
    /// checks on multiples of their period from here, so that one wake-up of the runtime
    /// serves them all rather than one each.
    pub(crate) epoch: tokio::time::Instant,
    /// Bytes queued for writing, all connections together.
    pub(crate) queued: MemoryBudget,
    /// Bytes held in unfinished incoming messages, all connections together.
    pub(crate) partial: MemoryBudget,
    /// The next connection's id (for log spans).
    pub(crate) next_id: std::sync::atomic::AtomicU64,
    /// Connections per peer address.
    pub(crate) per_address: crate::limits::PerAddress,
    /// Log lines about refusals and failures, limited per peer address.
    pub(crate) refusals: crate::limits::LogLimit,
    /// Connections open now.
    pub(crate) open: std::sync::atomic::AtomicUsize,
    /// Connections ended and handshakes done since memory was last given back to the system:
    /// each leaves a few KiB free in the allocator's arenas (a handshake's buffers are about
    /// 4.6 KiB), which a burst of thousands makes worth returning.
    pub(crate) freed_since_trim: std::sync::atomic::AtomicUsize,
    /// Whether the task that ticks the router every second runs.
    pub(crate) ticking: std::sync::atomic::AtomicBool,
    /// Every open connection, for [`Server::stats`](crate::Server::stats).
    pub(crate) registry: Registry,
    /// Publishes are refused: the server is draining.
    pub(crate) draining: std::sync::atomic::AtomicBool,
}

/// `url` with the application `app` appended when it names only a server
/// (`rtmp://host[:port]`).
fn with_app(url: String, app: &str) -> String {
    match RtmpUrl::parse(&url) {
        Err(rtmp_session::UrlError::NoApp(_)) => format!("{}/{app}", url.trim_end_matches('/')),
        _ => url,
    }
}

/// Before connect is accepted a peer may send messages of at most this many bytes (a connect
/// command is a few hundred), so that an unauthenticated peer holds little.
const MAX_MESSAGE_BEFORE_CONNECT: usize = 64 << 10;

/// Bytes of unfinished messages each connection holds without drawing on the server-wide
/// budget: ordinary frames, so that honest publishers are not refused while others hold large
/// messages.
pub(crate) const PARTIAL_BYTES_FREE: usize = 1 << 20;

/// The decoder's limits until connect is accepted.
fn before_connect(config: &DecoderConfig) -> DecoderConfig {
    DecoderConfig {
        max_message_size: config.max_message_size.min(MAX_MESSAGE_BEFORE_CONNECT),
        max_partial_bytes: config.max_partial_bytes.min(MAX_MESSAGE_BEFORE_CONNECT),
        ..config.clone()
    }
}

/// The read buffer starts with room for this much (players send little: acknowledgements
/// and pings) ...
const READ_RESERVE_MIN: usize = 256;
/// ... and doubles up to this when reads fill it (publishers).
const READ_RESERVE: usize = 64 << 10;

impl From<DriveError> for ConnectionError {
    fn from(error: DriveError) -> Self {
        match error {
            DriveError::Io(error) => Self::Io(error),
            DriveError::Handshake(error) => Self::Handshake(error),
            other => Self::Io(std::io::Error::other(other)),
        }
    }
}

/// Runs one connection to its end: the handshake over `stream`, then a reader and a writer
/// on the halves `split` makes of it.
pub(crate) async fn serve<S, H: Hooks>(
    mut stream: S,
    split: fn(S) -> (ReadHalf, WriteHalf),
    (id, peer, protocol): (u64, SocketAddr, Protocol),
    context: Arc<Context<H>>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), ConnectionError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin,
{
    let config = &context.config;
    let registered = context.registry.register(id, peer, protocol);
    let entry = registered.entry.clone();
    // Boxed: the handshake's state and buffers are freed once it is done, rather than held
    // in the connection's task for its whole life.
    let handshake = Box::pin(async {
        let mut handshake = ServerHandshake::new(HandshakeConfig {
            verify_c2: config.verify_c2,
            ..HandshakeConfig::default()
        });
        rtmp_handshake::drive(&mut stream, &mut handshake).await
    });
    let leftover = tokio::time::timeout(config.handshake_timeout, handshake)
        .await
        .map_err(|_| ConnectionError::HandshakeTimeout)??;
    context.freed_since_trim.fetch_add(1, Ordering::Relaxed);
    let (reader, writer) = split(stream);
    let (inlet, notices, outlet) = outlet(
        config.player_queue_bytes,
        config.max_answer_bytes,
        context.queued.clone(),
    );
    let mut writer = tokio::spawn(write_loop(
        writer,
        outlet,
        Ticks {
            epoch: context.epoch,
            period: config.write_interval,
            timeout: config.write_timeout,
            merge_below: config.merge_below_bytes,
            max_delay: config.max_write_delay,
        },
        entry.bytes_out.clone(),
        context.registry.rechunked.clone(),
    ));
    let mut connection = Connection {
        id,
        peer,
        entry,
        context: context.clone(),
        session: ServerSession::new(config.session.clone(), Instant::now().into_std()),
        control: inlet,
        connected: false,
        connect: None,
        notices,
        publishers: HashMap::new(),
        players: HashMap::new(),
        controls: HashMap::new(),
    };
    let mut buf = BytesMut::from(&leftover[..]);
    // The reader runs until the peer leaves or breaks a rule, or the writer fails (a peer
    // that stopped reading): either ends the connection.
    let result = tokio::select! {
        result = connection.run(reader, &mut buf, shutdown) => result,
        written = &mut writer => Err(writer_failed(written, config.write_timeout)),
    };
    connection.close();
    drop(connection);
    // The writer ends once the control channel is closed and flushed.
    if !writer.is_finished() {
        let _ = tokio::time::timeout(config.write_timeout, &mut writer).await;
        writer.abort();
    }
    drop(registered);
    result
}

/// Why the connection ends when its writer ended first.
fn writer_failed(
    written: Result<Result<(), WriteError>, tokio::task::JoinError>,
    timeout: Duration,
) -> ConnectionError {
    match written {
        Ok(Err(WriteError::Stalled)) => ConnectionError::WriteTimeout(timeout),
        // The kernel gave up on the peer (TCP_USER_TIMEOUT, set to the write timeout).
        Ok(Err(WriteError::Io(error))) if error.kind() == std::io::ErrorKind::TimedOut => {
            ConnectionError::WriteTimeout(timeout)
        }
        Ok(Err(WriteError::FellBehind)) => ConnectionError::FellBehind,
        Ok(Err(WriteError::Io(error))) => ConnectionError::Io(error),
        Ok(Ok(())) | Err(_) => ConnectionError::Io(std::io::ErrorKind::BrokenPipe.into()),
    }
}

struct Connection<H> {
    id: u64,
    peer: SocketAddr,
    /// The connection's entry in the server's registry.
    entry: Arc<Entry>,
    context: Arc<Context<H>>,
    session: ServerSession,
    /// Messages for the writer (each after the media queued before it), and players' queues.
    control: Inlet,
    /// Whether connect was accepted (larger messages are allowed from then on).
    connected: bool,
    /// The connect request accepted, which the hooks see with later requests.
    connect: Option<Arc<rtmp_session::ConnectRequest>>,
    /// Notices from the router to the connection's players.
    notices: Notices,
    publishers: HashMap<u32, Box<dyn Publishing>>,
    players: HashMap<u32, Box<dyn Playing>>,
    /// What each play asked of its stream (pause, receiveAudio/Video, seek).
    controls: HashMap<u32, PlayerControls>,
}

impl<H: Hooks> Connection<H> {
    async fn run(
        &mut self,
        mut reader: ReadHalf,
        buf: &mut BytesMut,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), ConnectionError> {
        let context = self.context.clone();
        let config = &context.config;
        let mut decoder = ChunkDecoder::with_budget(
            before_connect(&config.decoder),
            context.partial.clone(),
            PARTIAL_BYTES_FREE,
        );
        let idle_timeout = config.idle_timeout;
        let mut last_read = Instant::now();
        // One timer for what is timed (the idle timeout, keep-alive pings), armed for the
        // earliest: a connection wakes for it rarely, not every second.
        let mut armed = self.next_timeout(last_read + idle_timeout);
        let timer = tokio::time::sleep_until(armed);
        tokio::pin!(timer);
        let mut reserve = READ_RESERVE_MIN;
        loop {
            // Decode only while the writer has room for the answers: a peer that does not
            // read what it is sent is not read either.
            while self.control.has_room() {
                let Some(message) = decoder.decode(buf)? else {
                    break;
                };
                self.session.handle_message(message)?;
                self.handle_events().await?;
                if self.connected && decoder.limits() != &config.decoder {
                    decoder.set_limits(config.decoder.clone());
                }
            }
            if let Some(sequence) = decoder.take_acknowledgement() {
                self.control.send(RawMessage::acknowledgement(sequence));
            }
            self.flush();
            let reading = self.control.has_room();
            if reading && buf.capacity() - buf.len() < reserve / 4 {
                buf.reserve(reserve);
            }
            let room = buf.capacity() - buf.len();
            // Reads only move the idle deadline later; a connect starts the pings sooner.
            let due = self.next_timeout(last_read + idle_timeout);
            if due < armed {
                armed = due;
                timer.as_mut().reset(armed);
            }
            tokio::select! {
                read = reader.read_buf(buf), if reading => {
                    let read = read?;
                    if read == 0 {
                        return Ok(());
                    }
                    self.entry.bytes_in.fetch_add(read as u64, Ordering::Relaxed);
                    if read == room {
                        reserve = (reserve * 2).min(READ_RESERVE);
                    }
                    last_read = Instant::now();
                }
                () = self.control.room(), if !reading => {}
                Some(notice) = self.notices.recv() => {
                    // A request made before the notice goes out before it: a drained
                    // server asks its players to move before their publisher, having moved
                    // first, ends the stream here.
                    self.handle_requests()?;
                    self.handle_notice(notice)?;
                    // What the server says on its own is queued even while the peer is not
                    // read; a peer that leaves too much of it unread goes.
                    self.flush();
                    if let Some(queued) = self.control.overflowing() {
                        return Err(ConnectionError::Unread(queued));
                    }
                }
                () = &mut timer => {
                    let now = Instant::now();
                    self.session.handle_timeout(now.into_std())?;
                    if now.duration_since(last_read) > idle_timeout {
                        return Err(ConnectionError::Idle);
                    }
                    armed = self.next_timeout(last_read + idle_timeout);
                    timer.as_mut().reset(armed);
                }
                () = self.entry.wake.notified() => self.handle_requests()?,
                _ = shutdown.changed() => {
                    // A client that follows reconnect requests comes back (to a restarted
                    // server, or another behind the same address) on its own.
                    self.session
                        .request_reconnect(None, "The server is shutting down.")?;
                    self.session.connection_closed()?;
                    return Ok(());
                }
            }
        }
    }

    /// When the reader next looks at its timeouts: the session's next keep-alive ping (at
    /// most one a second, whatever the interval set), or the first whole second (counted
    /// from the server's start) past the idle deadline `idle`, whichever comes first.
    fn next_timeout(&self, idle: Instant) -> Instant {
        let idle = next_tick(self.context.epoch, Duration::from_secs(1), idle);
        let soonest = Instant::now() + Duration::from_secs(1);
        self.session
            .poll_timeout()
            .map_or(idle, |ping| idle.min(Instant::from_std(ping).max(soonest)))
    }

    /// Acts on what the application asked of the connection since the last call.
    fn handle_requests(&mut self) -> Result<(), ConnectionError> {
        for request in self.entry.take_requests() {
            match request {
                Request::Close => return Err(ConnectionError::Closed),
                Request::Reconnect {
                    tc_url,
                    description,
                } => {
                    let tc_url = tc_url.map(|url| with_app(url, self.session.app()));
                    self.session
                        .request_reconnect(tc_url.as_deref(), &description)?;
                }
            }
        }
        Ok(())
    }

    /// Hands the session's outgoing messages to the writer.
    fn flush(&mut self) {
        while let Some(message) = self.session.poll_send() {
            self.control.send(message);
        }
    }

    /// Acts on the session's events: media and stream changes at once, requests (connect,
    /// publish, play) through [`handle_request`](Self::handle_request), boxed: they run a few
    /// times in a connection's life, and their futures (the hooks') held inline would make
    /// every connection's task larger.
    async fn handle_events(&mut self) -> Result<(), ConnectionError> {
        while let Some(event) = self.session.poll_event() {
            match event {
                event @ (SessionEvent::Connect(_)
                | SessionEvent::Publish(_)
                | SessionEvent::Play(_)) => Box::pin(self.handle_request(event)).await?,
                SessionEvent::Media { stream_id, message } => {
                    if let Some(publisher) = self.publishers.get_mut(&stream_id) {
                        self.entry.media_arrived();
                        self.context.hooks.on_media(publisher.key(), &message);
                        if message.type_id == type_id::DATA_AMF0
                            && let Ok((name, values)) =
                                rtmp_flv::parse_script_data(&message.payload)
                            && let (rtmp_message::ON_METADATA, Some(metadata)) =
                                (name.as_str(), values.first())
                        {
                            self.context.hooks.on_metadata(publisher.key(), metadata);
                        }
                        if let Err(error) = publisher.send(&message) {
                            let key = publisher.key().clone();
                            let reason = error.to_string();
                            self.log_refusal("publish stopped", &key, &reason);
                            self.stop_publishing(stream_id);
                            self.session
                                .send_status(stream_id, Status::publish_rejected(reason))?;
                            self.flush();
                        }
                    }
                }
                SessionEvent::ConnectRefused(reason) => {
                    Registry::count(&self.context.registry.connections_refused);
                    self.flush();
                    return Err(ConnectionError::Refused(Refusal::from(reason)));
                }
                SessionEvent::StreamClosed { stream_id } => {
                    self.stop_publishing(stream_id);
                    self.stop_playing(stream_id);
                }
                SessionEvent::PlayControl { stream_id, control } => {
                    if let Some(controls) = self.controls.get(&stream_id) {
                        controls.apply(control);
                    }
                }
                // Events a newer session raises that this server does not act on.
                _ => {}
            }
        }
        Ok(())
    }

    /// Answers a connect, publish or play request, asking the hooks.
    async fn handle_request(&mut self, event: SessionEvent) -> Result<(), ConnectionError> {
        match event {
            SessionEvent::Connect(request) => {
                match self
                    .context
                    .hooks
                    .on_connect(&self.client(), &request)
                    .await
                {
                    Ok(()) => {
                        self.session.accept_connect()?;
                        self.connected = true;
                        self.connect = Some(Arc::new(request.clone()));
                        self.entry.connected(&request.app);
                    }
                    Err(refusal) => {
                        Registry::count(&self.context.registry.connections_refused);
                        // Logged by the server with the connection's end.
                        let status = refusal.status(Status::connect_rejected(""));
                        self.session.reject_connect(status)?;
                        self.flush();
                        return Err(ConnectionError::Refused(refusal));
                    }
                }
            }
            SessionEvent::Publish(request) => {
                if self.context.draining.load(Ordering::Relaxed) {
                    let reason = "the server is draining: publish elsewhere";
                    self.log_refusal("publish refused", &request.key, reason);
                    let status = Status {
                        description: reason.into(),
                        ..Status::publish_bad_name(&request.key.name)
                    };
                    self.session.reject_publish(&request, status)?;
                    return Ok(());
                }
                if let Err(refusal) = self
                    .context
                    .hooks
                    .on_publish(&self.client(), &request)
                    .await
                {
                    self.log_refusal("publish refused", &request.key, &refusal.description);
                    let status = refusal.status(Status::publish_bad_name(&request.key.name));
                    self.session.reject_publish(&request, status)?;
                    return Ok(());
                }
                let published = match self.context.router.publish(&request.key) {
                    Err(PublishError::AlreadyPublished(key)) => self.take_over(key, &request).await,
                    published => published,
                };
                match published {
                    Ok(publisher) => {
                        tracing::debug!(key = %request.key, "publish");
                        self.publishers.insert(request.stream_id, publisher);
                        self.entry
                            .started(request.stream_id, &request.key, Role::Publisher);
                        self.session.accept_publish(&request)?;
                        self.flush();
                        let event = self.event(request.stream_id, &request.key);
                        self.context.hooks.on_publish_started(&event);
                        self.start_pushes(&request.key).await;
                    }
                    Err(error) => {
                        let reason = error.to_string();
                        self.log_refusal("publish refused", &request.key, &reason);
                        let usual = Status::publish_bad_name(&request.key.name);
                        let status = match error {
                            PublishError::Refused(refusal) => refusal.status(usual),
                            _ => Status {
                                description: reason,
                                ..usual
                            },
                        };
                        self.session.reject_publish(&request, status)?;
                    }
                }
            }
            SessionEvent::Play(request) => {
                // What the server refuses itself is refused before the hooks are asked, so
                // that a play they accepted is one that starts (and ends, for their events).
                let Some(rendition) = self.check_play(&request)? else {
                    return Ok(());
                };
                if let Err(refusal) = self.context.hooks.on_play(&self.client(), &request).await {
                    self.log_refusal("play refused", &request.key, &refusal.description);
                    let status = refusal.status(Status::play_failed(""));
                    self.session.reject_play(request.stream_id, status)?;
                    return Ok(());
                }
                let key = request.key.clone();
                self.play(request, rendition)?;
                self.start_pull(key).await;
            }
            _ => {}
        }
        Ok(())
    }

    /// Who the hooks are asked about.
    fn client(&self) -> Client {
        Client {
            connection: self.id,
            peer: self.peer,
            connect: self.connect.clone(),
        }
    }

    /// Takes `key` over from the connection that publishes it, if the takeover policy lets
    /// this publish: that connection is closed, and the key published here once its
    /// publisher has let go (waited for up to 5 s). Refused as before otherwise.
    async fn take_over(
        &mut self,
        key: StreamKey,
        request: &StreamRequest,
    ) -> Result<Box<dyn Publishing>, PublishError> {
        let registry = &self.context.registry;
        let old = registry.publisher_of(&key).filter(|old| *old != self.id);
        let idle = old.and_then(|old| registry.media_idle(old));
        let (Some(old), Some(idle)) = (old, idle) else {
            return Err(PublishError::AlreadyPublished(key));
        };
        let allowed = match self.context.config.takeover {
            Takeover::Never => false,
            Takeover::WhenIdle(after) => idle >= after,
            Takeover::Always => true,
        };
        // Only a publisher the hooks authenticated for the key, or one from the old one's
        // address (its encoder reconnecting), may close it.
        let entitled = registry.peer_of(old).map(|peer| peer.ip()) == Some(self.peer.ip())
            || self
                .context
                .hooks
                .authenticates_publish(&self.client(), request);
        if !allowed || !entitled {
            return Err(PublishError::AlreadyPublished(key));
        }
        tracing::info!(%key, replaced = old, idle = ?idle, "publisher taken over");
        registry.request(old, Request::Close);
        let until = Instant::now() + TAKEOVER_WAIT;
        loop {
            match self.context.router.publish(&key) {
                Err(PublishError::AlreadyPublished(key)) if Instant::now() < until => {
                    drop(key);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(publisher) => {
                    let event = self.event(request.stream_id, &key);
                    self.context.hooks.on_publish_taken_over(old, &event);
                    return Ok(publisher);
                }
                refused => return refused,
            }
        }
    }

    async fn start_pushes(&self, key: &StreamKey) {
        for url in self.context.hooks.push_targets(key).await {
            self.context.relays.push(key.clone(), url);
        }
    }

    /// Starts pulling `key` from upstream if nobody publishes it here and the hooks name a
    /// source (once per key).
    async fn start_pull(&self, key: StreamKey) {
        let relays = &self.context.relays;
        if self.context.router.is_published(&key) || relays.is_pulling(&key) {
            return;
        }
        let Some(url) = self.context.hooks.pull_source(&key).await else {
            return;
        };
        relays.pull(key, url, relay::resolver(self.context.hooks.clone()));
    }

    /// The rendition `request` gets, unless the router or its query refuses it (then the
    /// client was told, and `None`).
    fn check_play(
        &mut self,
        request: &StreamRequest,
    ) -> Result<Option<Rendition>, ConnectionError> {
        let enhanced = self.session.is_enhanced();
        if let Err(error) = self.context.router.check_play(&request.key, enhanced) {
            self.refuse_play(request, error)?;
            return Ok(None);
        }
        // A player that cannot take multitrack gets one rendition: the one its query names.
        let multitrack = self
            .session
            .client_capabilities()
            .is_some_and(|announced| announced.caps_ex & rtmp_session::caps_ex::MULTITRACK != 0);
        match Rendition::from_query(request.query.as_deref(), multitrack) {
            Ok(rendition) => Ok(Some(rendition)),
            Err(bad) => {
                let reason = bad.to_string();
                self.log_refusal("play refused", &request.key, &reason);
                let status = Status::play_failed(reason);
                self.session.reject_play(request.stream_id, status)?;
                Ok(None)
            }
        }
    }

    fn play(
        &mut self,
        request: StreamRequest,
        rendition: Rendition,
    ) -> Result<(), ConnectionError> {
        let router = self.context.router.clone();
        let enhanced = self.session.is_enhanced();
        let capabilities = self.session.client_capabilities().cloned();
        // Play.Start must reach the writer before the first media.
        self.session.accept_play(&request)?;
        self.flush();
        let codecs = match capabilities {
            Some(announced) => CodecPolicy::Announced(Arc::new(announced)),
            None if self.context.config.legacy_for_unannounced => CodecPolicy::legacy_only(),
            None => CodecPolicy::AsPublished,
        };
        let (player, controls) = self.control.player(request.stream_id, enhanced, codecs);
        let player = player
            .with_rendition(rendition)
            .with_chunk_size(self.context.config.session.chunk_size);
        self.controls.insert(request.stream_id, controls);
        match router.play(&request.key, player) {
            Ok(subscription) => {
                tracing::debug!(key = %request.key, "play");
                self.players.insert(request.stream_id, subscription);
                self.entry
                    .started(request.stream_id, &request.key, Role::Player);
                let event = self.event(request.stream_id, &request.key);
                self.context.hooks.on_play_started(&event);
            }
            Err(error) => self.refuse_play(&request, error)?,
        }
        Ok(())
    }

    /// Tells the client why the router refused its play: the refusal's status, or
    /// NetStream.Play.Failed.
    fn refuse_play(
        &mut self,
        request: &StreamRequest,
        error: PlayError,
    ) -> Result<(), SessionError> {
        let reason = error.to_string();
        self.log_refusal("play refused", &request.key, &reason);
        let status = match error {
            PlayError::Refused(refusal) => refusal.status(Status::play_failed("")),
            _ => Status::play_failed(reason),
        };
        self.session.reject_play(request.stream_id, status)
    }

    fn handle_notice(&mut self, notice: Notice) -> Result<(), SessionError> {
        let stream_of = |players: &HashMap<u32, Box<dyn Playing>>, key: &StreamKey| {
            players
                .iter()
                .find(|(_, player)| player.key() == key)
                .map(|(id, _)| *id)
        };
        match notice {
            Notice::Unpublished(key) => {
                if let Some(id) = stream_of(&self.players, &key) {
                    self.session.unpublish_notify(id, &key.name)?;
                }
            }
            Notice::Published(key) => {
                if let Some(id) = stream_of(&self.players, &key) {
                    self.session.publish_notify(id, &key.name)?;
                }
            }
            Notice::Failed(key, reason) => {
                if let Some(id) = stream_of(&self.players, &key) {
                    self.stop_playing(id);
                    self.session.reject_play(id, Status::play_failed(reason))?;
                }
            }
            Notice::CodecSkipped(key, codec) => {
                if let Some(id) = stream_of(&self.players, &key) {
                    let status = Status {
                        level: rtmp_message::Level::Warning,
                        ..Status::new(
                            StatusCode::Other("NetStream.Play.CodecSkipped".into()),
                            format!(
                                "{codec} of {key} is not sent: this player did not announce it"
                            ),
                        )
                    };
                    self.session.send_status(id, status)?;
                }
            }
            // A notice added later: nothing for this connection to say yet.
            _ => {}
        }
        self.flush();
        Ok(())
    }

    /// Ends publishing and playing, telling the hooks.
    fn close(&mut self) {
        self.flush();
        let publishing: Vec<u32> = self.publishers.keys().copied().collect();
        for stream_id in publishing {
            self.stop_publishing(stream_id);
        }
        let playing: Vec<u32> = self.players.keys().copied().collect();
        for stream_id in playing {
            self.stop_playing(stream_id);
        }
    }

    /// What the hooks are told about a publish or play on `stream_id`.
    fn event(&self, stream_id: u32, key: &StreamKey) -> StreamEvent {
        StreamEvent {
            connection: self.id,
            peer: self.peer,
            stream_id,
            key: key.clone(),
            duration: Duration::ZERO,
            bytes: 0,
        }
    }

    /// Ends the publish on `stream_id`, if any (dropping it tells the router), and tells the
    /// hooks.
    fn stop_publishing(&mut self, stream_id: u32) {
        if let Some(publisher) = self.publishers.remove(&stream_id) {
            tracing::debug!(key = %publisher.key(), "unpublish");
            let mut event = self.event(stream_id, publisher.key());
            drop(publisher);
            event.duration = self.entry.stopped(stream_id, Role::Publisher);
            event.bytes = self.entry.bytes_in.load(Ordering::Relaxed);
            self.context.hooks.on_publish_stopped(&event);
        }
    }

    /// Ends the play on `stream_id`, if any, and tells the hooks.
    fn stop_playing(&mut self, stream_id: u32) {
        self.controls.remove(&stream_id);
        if let Some(player) = self.players.remove(&stream_id) {
            tracing::debug!(key = %player.key(), "play stop");
            let mut event = self.event(stream_id, player.key());
            drop(player);
            event.duration = self.entry.stopped(stream_id, Role::Player);
            event.bytes = self.entry.bytes_out.load(Ordering::Relaxed);
            self.context.hooks.on_play_stopped(&event);
        }
    }

    /// Logs a refused request at INFO, at most once per 10 s per peer address (the lines
    /// held back are counted in the next one), so that a client cannot flood the log.
    fn log_refusal(&self, what: &str, key: &StreamKey, reason: &str) {
        let registry = &self.context.registry;
        Registry::count(if what.starts_with("publish") {
            &registry.publishes_refused
        } else {
            &registry.plays_refused
        });
        if let Some(held) = self
            .context
            .refusals
            .allow(self.peer.ip(), Instant::now().into_std())
        {
            tracing::info!(%key, reason, held_back = held, "{what}");
        }
    }
}
