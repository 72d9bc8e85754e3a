//! [`Server`]: the listener, connection limits, timeouts and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::FutureExt;
use rtmp_chunk::{DecoderConfig, MemoryBudget};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::connection::{self, ConnectionError, Context};
use crate::hooks::{AcceptAll, Hooks};
use crate::hub::{Hub, HubConfig};
use crate::limits::{LogLimit, PerAddress, default_max_connections};
use crate::memory;
use crate::relay::RelayConfig;
use crate::router::Router;
use crate::stats::{Registry, Request, ServerStats};
use rtmp_session::{RtmpUrl, SessionConfig, StreamKey};

/// How accepted connections become RTMP streams.
#[derive(Clone)]
enum Accept {
    Plain,
    #[cfg(feature = "tls")]
    Tls(tokio_rustls::TlsAcceptor),
}

impl Accept {
    /// Serves `tcp`: directly, or after the TLS handshake for RTMPS (which must end within
    /// the handshake timeout).
    async fn serve<H: Hooks>(
        &self,
        tcp: TcpStream,
        peer: (u64, SocketAddr),
        context: Arc<Context<H>>,
        stop: watch::Receiver<bool>,
    ) -> Result<(), ConnectionError> {
        let _ = tcp.set_nodelay(true);
        bound_kernel_buffers(&tcp, &context.config);
        match self {
            Self::Plain => connection::serve(tcp, connection::split_tcp, peer, context, stop).await,
            #[cfg(feature = "tls")]
            Self::Tls(acceptor) => {
                let timeout = context.config.handshake_timeout;
                let tls = tokio::time::timeout(timeout, acceptor.accept(tcp))
                    .await
                    .map_err(|_| ConnectionError::HandshakeTimeout)??;
                // Boxed: a TLS connection's state is twice a plain one's, and inline it would
                // size every connection's task.
                Box::pin(connection::serve(
                    tls,
                    connection::split_any,
                    peer,
                    context,
                    stop,
                ))
                .await
            }
        }
    }
}

/// What a publish of a key that someone publishes already does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Takeover {
    /// Refused (NetStream.Publish.BadName) while the other publisher lives.
    Never,
    /// Takes the key over when the other publisher has sent no media for this long: that
    /// connection is closed (with a log line and
    /// [`Hooks::on_publish_taken_over`](crate::Hooks::on_publish_taken_over)) and the new
    /// publisher goes on where it was, for its players as after any return within the hub's
    /// republish grace. Refused otherwise.
    WhenIdle(Duration),
    /// Always takes the key over: the newest publisher wins, as some ingest services do.
    Always,
}

/// Settings of a [`Server`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Session settings (chunk size, window, keep-alive, Enhanced RTMP FourCCs).
    pub session: SessionConfig,
    /// Hub settings (GOP cache, player queues, slow player policy). Its chunk size is set to
    /// the session's.
    pub hub: HubConfig,
    /// Limits of the chunk decoder (message size, partial messages, chunk streams).
    pub decoder: DecoderConfig,
    /// The longest a handshake may take (default 10 s).
    pub handshake_timeout: Duration,
    /// Close a connection that sends nothing for this long (default 60 s; keep-alive pings
    /// make live clients answer well within it).
    pub idle_timeout: Duration,
    /// The most connections at once; more are closed on arrival. The default is the process's
    /// open-file limit less 64, at most 100 000 (see
    /// [`raise_open_file_limit`](crate::raise_open_file_limit)).
    pub max_connections: usize,
    /// The most connections at once from one IP address (default: no limit of its own).
    pub max_connections_per_ip: Option<usize>,
    /// The listen backlog of listeners bound by [`ServerBuilder`](crate::ServerBuilder) and
    /// [`bind_listener`](crate::bind_listener) (default: the kernel's cap,
    /// `net.core.somaxconn`, which is 4096 on Linux 5.4 and later; 1024 where it cannot be
    /// read), so that a burst of connects waits in the kernel rather than retrying its SYNs.
    pub listen_backlog: u32,
    /// Close a connection whose socket accepts no bytes for this long while bytes wait for it
    /// (default 20 s): a peer that stopped reading, whatever it still sends. On Linux the
    /// kernel applies it too (`TCP_USER_TIMEOUT`), so that a peer whose window stays shut is
    /// closed even when nothing more is queued for it.
    pub write_timeout: Duration,
    /// The most bytes an accepted connection may leave unsent in its socket's send buffer
    /// (default 128 KiB; Linux `TCP_NOTSENT_LOWAT`, elsewhere nothing). Past it, media waits
    /// in the server's queues and rings, shared between players and counted in
    /// [`max_queued_bytes`](Self::max_queued_bytes), rather than copied into kernel memory
    /// for each socket (up to `net.ipv4.tcp_wmem`'s 4 MiB each without it); and a peer that
    /// stops reading has writes waiting, so the write timeout closes it. `None` leaves the
    /// kernel's default.
    pub max_unsent_bytes: Option<u32>,
    /// What a publish of a key that is published already does (default: take it over from a
    /// publisher that sent no media for 3 s, as an encoder whose old connection went silent
    /// reconnects).
    pub takeover: Takeover,
    /// Bytes of its own messages (answers, statuses, pings, acknowledgements) a connection may
    /// have waiting to be written (default 64 KiB). When they are reached, the server stops
    /// reading that peer until it reads what it was sent, so a peer that never reads costs at
    /// most this much plus its socket buffers. What the server sends on its own (statuses
    /// about the streams a player plays, which another connection's publishes and unpublishes
    /// cause) is queued past it; at twice this much unread the connection is closed
    /// ([`ConnectionError::Unread`](crate::ConnectionError::Unread)).
    pub max_answer_bytes: usize,
    /// Bytes waiting to be written, all connections together (default 1 GiB): answers and
    /// players' queues ([`HubConfig::player_queue_bytes`]). Media shared by several players
    /// counts once per player, so this is an upper bound on the memory queues hold. When it is
    /// reached, players whose queues cannot take more media skip to the next keyframe, and
    /// connections with answers waiting stop being read.
    pub max_queued_bytes: usize,
    /// Give freed memory back to the system once 1000 connections or more have ended since the
    /// last time, or once glibc holds 16 MiB more free memory than it did (a large message
    /// decoded and dropped); checked every 5 s, default on. glibc's allocator otherwise keeps
    /// the memory of connections that ended (after 20 000 connections, measured: 252 MiB kept
    /// for good, against 10-21 MiB with this for a baseline of 8.3 MiB); with other allocators
    /// it does nothing.
    pub release_memory: bool,
    /// Bytes held in unfinished incoming messages, all connections together (default 256 MiB),
    /// beyond the first 1 MiB each connection holds: ordinary frames never draw on it, so
    /// publishers keep publishing while others hold large messages. A message is counted at
    /// its announced length when its first chunk arrives; one that would pass the limit
    /// closes the connection that sent it, and no other.
    pub max_partial_bytes: usize,
    /// Check that C2 answers S1 (default off, as real clients differ).
    pub verify_c2: bool,
    /// How pushes and pulls connect to other servers.
    pub relay: RelayConfig,
    /// The write tick (default 100 ms): after a write, a connection that keeps up rests until
    /// the next multiple of this period since the server started. Media arriving meanwhile
    /// shares one system call, and all connections write on the same wake-up of the runtime:
    /// at 1000 players of a 4 Mbit/s stream this halves the server's CPU per GB
    /// (docs/performance.md), for at most this much added latency on a protocol whose
    /// players buffer seconds. The connection's own messages (command answers, statuses,
    /// pings), joining players' first write and any backlog go out at once.
    /// `Duration::ZERO` writes as soon as anything is queued.
    pub write_interval: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            session: SessionConfig::default(),
            hub: HubConfig::default(),
            decoder: DecoderConfig::default(),
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: default_max_connections(100_000),
            max_connections_per_ip: None,
            listen_backlog: crate::limits::default_listen_backlog(),
            write_timeout: Duration::from_secs(20),
            max_unsent_bytes: Some(128 << 10),
            takeover: Takeover::WhenIdle(Duration::from_secs(3)),
            max_answer_bytes: 64 << 10,
            max_queued_bytes: 1 << 30,
            max_partial_bytes: 256 << 20,
            release_memory: true,
            verify_c2: false,
            relay: RelayConfig::default(),
            write_interval: Duration::from_millis(100),
        }
    }
}

/// A live RTMP server.
///
/// ```no_run
/// use rtmp_server::{Server, ServerConfig};
///
/// # async fn run() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:1935").await?;
/// let server = Server::new(ServerConfig::default());
/// server.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await
/// # }
/// ```
pub struct Server<H = AcceptAll> {
    context: Arc<Context<H>>,
    hub: Option<Arc<Hub>>,
}

/// Another handle to the same server (connections, streams, settings), e.g. for an HTTP
/// API beside it.
impl<H> Clone for Server<H> {
    fn clone(&self) -> Self {
        Self {
            context: self.context.clone(),
            hub: self.hub.clone(),
        }
    }
}

impl<H> std::fmt::Debug for Server<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.context.config)
            .finish_non_exhaustive()
    }
}

impl Server<AcceptAll> {
    /// A server that accepts every client.
    pub fn new(config: ServerConfig) -> Self {
        Self::with_hooks(config, AcceptAll)
    }
}

impl<H: Hooks> Server<H> {
    /// A server whose decisions are made by `hooks`, with the [`Hub`] as its router.
    pub fn with_hooks(mut config: ServerConfig, hooks: H) -> Self {
        config.hub.chunk_size = config.session.chunk_size;
        let hub = Hub::new(config.hub.clone());
        Self::with_parts(config, hooks, Arc::new(hub.clone()), Some(hub))
    }

    /// A server whose decisions are made by `hooks` and whose media goes through `router`
    /// instead of the hub.
    pub fn with_router(config: ServerConfig, hooks: H, router: impl Router) -> Self {
        Self::with_parts(config, hooks, Arc::new(router), None)
    }

    pub(crate) fn with_shared_router(
        config: ServerConfig,
        hooks: H,
        router: Arc<dyn Router>,
    ) -> Self {
        Self::with_parts(config, hooks, router, None)
    }

    fn with_parts(
        config: ServerConfig,
        hooks: H,
        router: Arc<dyn Router>,
        hub: Option<Arc<Hub>>,
    ) -> Self {
        Self {
            hub,
            context: Arc::new(Context {
                hooks: Arc::new(hooks),
                router,
                pulls: Arc::default(),
                relays: Arc::default(),
                epoch: tokio::time::Instant::now(),
                queued: MemoryBudget::new(config.max_queued_bytes),
                partial: MemoryBudget::new(config.max_partial_bytes),
                next_id: AtomicU64::new(1),
                per_address: PerAddress::default(),
                refusals: LogLimit::new(Duration::from_secs(10)),
                open: AtomicUsize::new(0),
                freed_since_trim: AtomicUsize::new(0),
                ticking: AtomicBool::new(false),
                registry: Registry::default(),
                draining: AtomicBool::new(false),
                config,
            }),
        }
    }

    /// Push and pull tasks running now (see [`Hooks::push_targets`] and
    /// [`Hooks::pull_source`]).
    pub fn relays(&self) -> usize {
        self.context
            .relays
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Connections open now (from accept to close, handshakes included).
    pub fn connections(&self) -> usize {
        self.context.open.load(Ordering::Relaxed)
    }

    /// The hub, for stream figures, unless the server was given another router.
    pub fn hub(&self) -> Option<&Arc<Hub>> {
        self.hub.as_ref()
    }

    /// The server-wide budget of bytes queued for writing ([`ServerConfig::max_queued_bytes`]),
    /// for players of the application's own ([`PlayerHandle::pair`](crate::PlayerHandle::pair)).
    pub fn queue_budget(&self) -> MemoryBudget {
        self.context.queued.clone()
    }

    /// The media router (the hub by default).
    pub fn router(&self) -> &Arc<dyn Router> {
        &self.context.router
    }

    /// A snapshot of the server: its connections (address, application, bytes, what each
    /// publishes and plays), its streams (publisher, players, and with the hub as router its
    /// codecs, resolution and bitrates) and its totals. It takes a short lock per connection
    /// and per stream, never one that media waits on for long.
    ///
    /// ```
    /// let server = rtmp_server::Server::builder().build();
    /// let stats = server.stats();
    /// assert!(stats.connections.is_empty() && stats.streams.is_empty());
    /// assert_eq!(stats.totals.bytes_in, 0);
    /// ```
    pub fn stats(&self) -> ServerStats {
        let hub = self.hub.as_ref();
        let mut stats = self
            .context
            .registry
            .snapshot(|key| hub.and_then(|hub| hub.stats(key)));
        stats.totals.dropped_frames = hub.map_or(0, |hub| hub.dropped());
        stats
    }

    /// Closes connection `id` (as [`ConnectionStats::id`](crate::ConnectionStats::id) and
    /// the hooks' events name it); false if no such connection is open. It ends with
    /// [`ConnectionError::Closed`].
    pub fn close_connection(&self, id: u64) -> bool {
        self.context.registry.request(id, Request::Close)
    }

    /// Asks the client of connection `id` to reconnect (Enhanced RTMP v2
    /// NetConnection.Connect.ReconnectRequest), to `tc_url` (`rtmp://host[:port]/app`, another
    /// server; naming only the server, it gets the client's own application) or, without one,
    /// to this server; false if no such connection is open. Only a
    /// client that announced it follows reconnect requests is asked (ffmpeg does not; this
    /// workspace's client does, and resumes publishing or playing on its own). The connection
    /// stays open until the client leaves.
    pub fn request_reconnect(&self, id: u64, tc_url: Option<&str>) -> bool {
        let request = Request::Reconnect {
            tc_url: tc_url.map(str::to_owned),
            description: "The server asks you to reconnect.".into(),
        };
        self.context.registry.request(id, request)
    }

    /// Drains the server: from now on publishes are refused
    /// (NetStream.Publish.BadName, "the server is draining"), and every client that publishes
    /// or plays is asked to reconnect to `tc_url` (see
    /// [`request_reconnect`](Self::request_reconnect)). Returns how many were asked. Clients
    /// that do not follow reconnect requests stay until they leave or the server stops.
    pub fn drain(&self, tc_url: Option<&str>) -> usize {
        self.context.draining.store(true, Ordering::Relaxed);
        let request = Request::Reconnect {
            tc_url: tc_url.map(str::to_owned),
            description: "The server is draining.".into(),
        };
        self.context.registry.request_streaming(&request)
    }

    /// Pulls `key` from `url` (another server's `rtmp://host[:port]/app/name`) and publishes
    /// it here while anyone plays it, as [`Hooks::pull_source`] does for a play, but at the
    /// application's moment: e.g. when the key appears on another machine while players
    /// wait here. False when a pull of `key` runs already, or someone publishes it here.
    pub fn pull(&self, key: &StreamKey, url: RtmpUrl) -> bool {
        if self.context.router.is_published(key) {
            return false;
        }
        connection::spawn_pull(&self.context, key.clone(), url)
    }

    /// Whether [`drain`](Self::drain) was called.
    pub fn is_draining(&self) -> bool {
        self.context.draining.load(Ordering::Relaxed)
    }

    /// Stops the publisher of `key` here by closing its connection; false if nobody
    /// publishes it here.
    pub fn stop_publisher(&self, key: &StreamKey) -> bool {
        self.context
            .registry
            .publisher_of(key)
            .is_some_and(|id| self.close_connection(id))
    }

    /// Serves `listener` until `shutdown` completes; then stops accepting, tells every client
    /// the connection is closing, and waits up to 5 s for connections to end.
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        self.serve_with(listener, Accept::Plain, shutdown).await
    }

    /// Serves RTMPS on `listener` with `tls` (see [`crate::tls::server_config`]), like
    /// [`serve`](Self::serve). Run it beside `serve` on another port to offer both; the
    /// streams are the same.
    #[cfg(feature = "tls")]
    pub async fn serve_tls(
        &self,
        listener: TcpListener,
        tls: Arc<tokio_rustls::rustls::ServerConfig>,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        self.serve_with(listener, Accept::Tls(acceptor), shutdown)
            .await
    }

    /// Serves one connection over `stream`, any byte stream already open to a client (a Unix
    /// socket, a tunnel, an in-memory pipe): the handshake, then the session until the
    /// client leaves or breaks a limit. `peer` names the client to the hooks and the logs.
    /// The server's listeners are built on this; the connection limits of
    /// [`serve`](Self::serve) do not apply here (the caller chose to serve the stream), all
    /// the others do.
    ///
    /// ```no_run
    /// use rtmp_server::Server;
    ///
    /// # async fn run() -> std::io::Result<()> {
    /// let server = std::sync::Arc::new(Server::builder().build());
    /// let listener = tokio::net::UnixListener::bind("/run/rtmp.sock")?;
    /// loop {
    ///     let (stream, _) = listener.accept().await?;
    ///     let server = server.clone();
    ///     let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    ///     tokio::spawn(async move { server.serve_connection(stream, peer).await });
    /// }
    /// # }
    /// ```
    pub async fn serve_connection<S>(
        &self,
        stream: S,
        peer: SocketAddr,
    ) -> Result<(), ConnectionError>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        self.tick_router();
        let _open = Open::new(self.context.clone());
        if !self.context.hooks.on_connection(peer).await {
            Registry::count(&self.context.registry.connections_refused);
            return Err(ConnectionError::Refused("refused by on_connection".into()));
        }
        let id = self.context.next_id.fetch_add(1, Ordering::Relaxed);
        // Nothing stops this connection but its own end (or dropping the future).
        let (_stop, stopped) = watch::channel(false);
        let context = self.context.clone();
        let result = connection::serve(
            stream,
            connection::split_any,
            (id, peer),
            context.clone(),
            stopped,
        )
        .await;
        context.hooks.on_disconnect(id, peer, result.as_ref().err());
        result
    }

    /// Starts ticking the router every second ([`Router::tick`]), once, on the current
    /// runtime, for as long as the server lives.
    fn tick_router(&self) {
        if self.context.ticking.swap(true, Ordering::Relaxed) {
            return;
        }
        let context = Arc::downgrade(&self.context);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let Some(context) = context.upgrade() else {
                    return;
                };
                context.router.tick(Instant::now());
            }
        });
    }

    /// Logs a refused connection, at most once per 10 s per address.
    fn refused(&self, peer: SocketAddr, why: &str) {
        if let Some(held) = self.context.refusals.allow(peer.ip(), Instant::now()) {
            tracing::warn!(%peer, held_back = held, "{why}");
        }
    }

    async fn serve_with(
        &self,
        listener: TcpListener,
        accept: Accept,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let limit = Arc::new(Semaphore::new(self.context.config.max_connections));
        let mut connections = JoinSet::new();
        let mut release = tokio::time::interval(Duration::from_secs(5));
        release.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut release_state = memory::Release::default();
        self.tick_router();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let mut admission = Admission {
                        limit: &limit,
                        connections: &mut connections,
                        stop: &stop_rx,
                        accept: &accept,
                    };
                    if !self.admit(accepted, &mut admission) {
                        // Out of file descriptors and the like: wait a little, keep serving.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    // Connects come in bursts: those already waiting are taken at once.
                    for _ in 1..ACCEPT_BATCH {
                        match listener.accept().now_or_never() {
                            Some(accepted) => {
                                if !self.admit(accepted, &mut admission) {
                                    break;
                                }
                            }
                            None => break,
                        }
                    }
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                _ = release.tick(), if self.context.config.release_memory => {
                    // One listener's loop takes the count, so a burst's trim runs once.
                    let burst = release_state.due(&self.context.freed_since_trim);
                    tokio::task::spawn_blocking(move || memory::release(burst));
                }
                () = &mut shutdown => break,
            }
        }
        let _ = stop_tx.send(true);
        let drain = async { while connections.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(5), drain)
            .await
            .is_err()
        {
            connections.abort_all();
        }
        Ok(())
    }
}

/// Connections taken from the listener at one wake-up, at most.
const ACCEPT_BATCH: usize = 64;

/// What admitting a connection needs from a listener's loop.
struct Admission<'a> {
    limit: &'a Arc<Semaphore>,
    connections: &'a mut JoinSet<()>,
    stop: &'a watch::Receiver<bool>,
    accept: &'a Accept,
}

impl<H: Hooks> Server<H> {
    /// Starts serving an accepted connection, or closes it when a limit refuses it; false
    /// when accepting failed.
    fn admit(
        &self,
        accepted: std::io::Result<(TcpStream, SocketAddr)>,
        admission: &mut Admission<'_>,
    ) -> bool {
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                let unspecified = std::net::IpAddr::from([0, 0, 0, 0]);
                if let Some(held) = self.context.refusals.allow(unspecified, Instant::now()) {
                    tracing::warn!(%error, held_back = held, "accept failed");
                }
                return false;
            }
        };
        let Ok(permit) = admission.limit.clone().try_acquire_owned() else {
            Registry::count(&self.context.registry.connections_refused);
            self.refused(peer, "connection limit reached");
            return true;
        };
        let slot = match self.context.config.max_connections_per_ip {
            Some(most) => match self.context.per_address.try_add(peer.ip(), most) {
                Some(slot) => Some(slot),
                None => {
                    Registry::count(&self.context.registry.connections_refused);
                    self.refused(peer, "connection limit per address reached");
                    return true;
                }
            },
            None => None,
        };
        let context = self.context.clone();
        let stop = admission.stop.clone();
        let accept = admission.accept.clone();
        let id = self.context.next_id.fetch_add(1, Ordering::Relaxed);
        let span = tracing::info_span!("connection", id, %peer);
        let open = Open::new(self.context.clone());
        admission.connections.spawn(
            async move {
                let _held = (permit, slot, open);
                if !context.hooks.on_connection(peer).await {
                    Registry::count(&context.registry.connections_refused);
                    tracing::debug!("refused by on_connection");
                    return;
                }
                let result = accept
                    .serve(stream, (id, peer), context.clone(), stop)
                    .await;
                if let Err(error) = &result {
                    log_end(&context, peer, error);
                } else {
                    tracing::debug!("connection closed");
                }
                context.hooks.on_disconnect(id, peer, result.as_ref().err());
            }
            .instrument(span),
        );
        true
    }
}

/// Logs why a connection ended: a peer going away at DEBUG, anything else at INFO, at most
/// once per 10 s per address (the lines held back are counted in the next one).
fn log_end<H>(context: &Context<H>, peer: SocketAddr, error: &ConnectionError) {
    let routine = match error {
        ConnectionError::Io(io) => matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::ConnectionAborted
        ),
        _ => false,
    };
    if routine {
        tracing::debug!(%error, "connection closed by the peer");
    } else if let Some(held) = context.refusals.allow(peer.ip(), Instant::now()) {
        tracing::info!(%error, held_back = held, "connection closed");
    }
}

/// Bounds what the kernel holds for an accepted socket: its unsent bytes, and how long sent
/// bytes may stay unacknowledged (both settings of `config`).
#[cfg(target_os = "linux")]
fn bound_kernel_buffers(tcp: &TcpStream, config: &ServerConfig) {
    let socket = socket2::SockRef::from(tcp);
    if let Some(bytes) = config.max_unsent_bytes {
        let _ = socket.set_tcp_notsent_lowat(bytes);
    }
    let _ = socket.set_tcp_user_timeout(Some(config.write_timeout));
}

/// Nothing to bound where the kernel offers neither setting.
#[cfg(not(target_os = "linux"))]
fn bound_kernel_buffers(_tcp: &TcpStream, _config: &ServerConfig) {}

/// A TCP listener on `address` with a listen backlog of `backlog` (the kernel caps it at
/// `net.core.somaxconn`), and `SO_REUSEADDR` so that a restarted server binds at once.
pub fn bind_listener(address: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = match address {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(backlog)
}

/// Counts a connection as open while it lives, and as ended after.
struct Open<H>(Arc<Context<H>>);

impl<H> Open<H> {
    fn new(context: Arc<Context<H>>) -> Self {
        context.open.fetch_add(1, Ordering::Relaxed);
        Self(context)
    }
}

impl<H> Drop for Open<H> {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
        self.0.freed_since_trim.fetch_add(1, Ordering::Relaxed);
    }
}
