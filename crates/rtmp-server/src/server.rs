//! [`Server`]: the listener, connection limits, timeouts and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::FutureExt;
use rtmp_chunk::MemoryBudget;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::config::ServerConfig;
use crate::connection::{self, Context};
use crate::error::ConnectionError;
use crate::hooks::{AcceptAll, Client, Hooks};
use crate::limits::{LogLimit, PerAddress};
use crate::memory;
use crate::relay::{self, Relays};
use crate::stats::{Registry, Request, ServerStats};
use crate::viewer::{Protocol, Viewer, ViewerError, ViewerRequest};
use rtmp_router::{Hub, Router};
use rtmp_session::{RtmpUrl, StreamKey};

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
        bound_unsent(
            &tcp,
            context.config.max_unsent_bytes,
            context.config.write_timeout,
        );
        match self {
            Self::Plain => {
                let (id, peer) = peer;
                let peer = (id, peer, Protocol::Rtmp);
                connection::serve(tcp, connection::split_tcp, peer, context, stop).await
            }
            #[cfg(feature = "tls")]
            Self::Tls(acceptor) => {
                let timeout = context.config.handshake_timeout;
                let tls = tokio::time::timeout(timeout, acceptor.accept(tcp))
                    .await
                    .map_err(|_| ConnectionError::HandshakeTimeout)??;
                // Boxed: a TLS connection's state is twice a plain one's, and inline it would
                // size every connection's task.
                let (id, peer) = peer;
                Box::pin(connection::serve(
                    tls,
                    connection::split_any,
                    (id, peer, Protocol::Rtmps),
                    context,
                    stop,
                ))
                .await
            }
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
}

/// Another handle to the same server (connections, streams, settings), e.g. for an HTTP
/// API beside it.
impl<H> Clone for Server<H> {
    fn clone(&self) -> Self {
        Self {
            context: self.context.clone(),
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
    /// A server whose decisions are made by `hooks`, with a [`Hub`] fitted to `config` as its
    /// router ([`ServerConfig::hub_settings`]).
    pub fn with_hooks(config: ServerConfig, hooks: H) -> Self {
        let hub = Hub::new(config.hub_settings());
        Self::with_router(config, hooks, hub)
    }

    /// A server whose decisions are made by `hooks` and whose media goes through `router`
    /// (a [`Hub`] of other settings, or a router of the application's own). Its players'
    /// handles carry the session's chunk size
    /// ([`PlayerHandle::chunk_size`](crate::PlayerHandle::chunk_size)): media chunked at
    /// another size is chunked again for each player, counted in
    /// [`Totals::rechunked_messages`](crate::Totals::rechunked_messages) and logged once.
    pub fn with_router(config: ServerConfig, hooks: H, router: impl Router) -> Self {
        Self::with_shared_router(config, hooks, Arc::new(router))
    }

    pub(crate) fn with_shared_router(
        config: ServerConfig,
        hooks: H,
        router: Arc<dyn Router>,
    ) -> Self {
        let queued = MemoryBudget::new(config.max_queued_bytes);
        Self {
            context: Arc::new(Context {
                hooks: Arc::new(hooks),
                relays: Relays::new(
                    router.clone(),
                    config.relay.clone(),
                    config.player_queue_bytes,
                    queued.clone(),
                ),
                router,
                epoch: tokio::time::Instant::now(),
                queued,
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
        self.context.relays.running()
    }

    /// Connections open now (from accept to close, handshakes included).
    pub fn connections(&self) -> usize {
        self.context.open.load(Ordering::Relaxed)
    }

    /// The server-wide budget of bytes queued for writing ([`ServerConfig::max_queued_bytes`]),
    /// for players of the application's own ([`PlayerHandle::pair`](crate::PlayerHandle::pair)).
    pub fn queue_budget(&self) -> MemoryBudget {
        self.context.queued.clone()
    }

    /// The server's settings.
    pub fn config(&self) -> &ServerConfig {
        &self.context.config
    }

    /// The server's hooks, e.g. to ask `on_play` about a viewer of another protocol (an
    /// HTTP-FLV viewer is a player too).
    pub fn hooks(&self) -> &H {
        &self.context.hooks
    }

    /// The media router (the hub by default).
    pub fn router(&self) -> &Arc<dyn Router> {
        &self.context.router
    }

    /// A snapshot of the server: its connections (address, application, bytes, what each
    /// publishes and plays), its streams (publisher, players, and the router's figures:
    /// codecs, resolution and bitrates, [`Router::stats`]) and its totals. It takes a short lock per connection
    /// and per stream, never one that media waits on for long.
    ///
    /// ```
    /// let server = rtmp_server::Server::builder().build();
    /// let stats = server.stats();
    /// assert!(stats.connections.is_empty() && stats.streams.is_empty());
    /// assert_eq!(stats.totals.bytes_in, 0);
    /// ```
    pub fn stats(&self) -> ServerStats {
        let router = &self.context.router;
        let mut stats = self.context.registry.snapshot(|key| router.stats(key));
        stats.totals.dropped_frames = router.dropped();
        stats
    }

    /// Admits a viewer of another protocol than RTMP (HTTP-FLV, WebSocket-FLV, HLS), as an
    /// RTMP play is: the hooks decide with a [`Client`](crate::Client) of the server's
    /// numbering, then the router, with the rendition the query asks for (`track=`,
    /// `audio_track=`) and the server's queue budget. The viewer is one of the server's
    /// connections until dropped: listed by [`stats`](Self::stats) with its
    /// [`Protocol`](crate::Protocol), ended by [`close_connection`](Self::close_connection)
    /// and [`drain`](Self::drain), and heard by the hooks' `on_play_started` and
    /// `on_play_stopped`.
    ///
    /// ```no_run
    /// use rtmp_server::{Protocol, Server, StreamKey, ViewerRequest};
    ///
    /// # async fn run(server: Server, peer: std::net::SocketAddr) {
    /// let key = StreamKey { app: "live".into(), name: "show".into() };
    /// let request = ViewerRequest::new(key, None, peer, Protocol::HttpFlv);
    /// match server.viewer(request).await {
    ///     Ok(mut viewer) => {
    ///         while let Some(bytes) = viewer.next().await {
    ///             // Write `bytes`, and what `viewer.ready()` gives, to the response.
    ///             # drop(bytes);
    ///         }
    ///     }
    ///     Err(refused) => println!("HTTP {}: {refused}", refused.http_status()),
    /// }
    /// # }
    /// ```
    pub async fn viewer(&self, request: ViewerRequest) -> Result<Viewer<H>, ViewerError> {
        Viewer::admit(self.context.clone(), request).await
    }

    /// Admits a viewer with no player of its own (an HLS session: the packaging plays the
    /// stream once for all).
    #[cfg(feature = "hls")]
    pub(crate) async fn admit_viewer(
        &self,
        request: ViewerRequest,
    ) -> Result<crate::viewer::Admitted<H>, ViewerError> {
        let (admitted, ()) =
            crate::viewer::Admitted::admit(self.context.clone(), request, |_, _| Ok(())).await?;
        Ok(admitted)
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
        let resolve = relay::resolver(self.context.hooks.clone());
        self.context.relays.pull(key.clone(), url, resolve)
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
        let id = self.context.next_id.fetch_add(1, Ordering::Relaxed);
        let client = Client::new(id, peer, None);
        if !self.context.hooks.on_connection(&client).await {
            Registry::count(&self.context.registry.connections_refused);
            return Err(ConnectionError::Refused("refused by on_connection".into()));
        }
        // Nothing stops this connection but its own end (or dropping the future).
        let (_stop, stopped) = watch::channel(false);
        let context = self.context.clone();
        let result = connection::serve(
            stream,
            connection::split_any,
            (id, peer, Protocol::Rtmp),
            context.clone(),
            stopped,
        )
        .await;
        context.hooks.on_disconnect(&client, result.as_ref().err());
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
                let client = Client::new(id, peer, None);
                if !context.hooks.on_connection(&client).await {
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
                context.hooks.on_disconnect(&client, result.as_ref().err());
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

/// Bounds what the kernel holds for an accepted socket, as the server does for its own (see
/// [`ServerConfig::max_unsent_bytes`] and [`ServerConfig::write_timeout`]): at most
/// `max_unsent_bytes` unsent in its send buffer (Linux `TCP_NOTSENT_LOWAT`), so that a peer
/// that stops reading leaves writes waiting soon, and sent bytes unacknowledged for at most
/// `write_timeout` (`TCP_USER_TIMEOUT`). For sockets of the application's own next to the
/// server (an HTTP-FLV listener, say); elsewhere than Linux it does nothing.
pub fn bound_unsent(tcp: &TcpStream, max_unsent_bytes: Option<u32>, write_timeout: Duration) {
    #[cfg(target_os = "linux")]
    {
        let socket = socket2::SockRef::from(tcp);
        if let Some(bytes) = max_unsent_bytes {
            let _ = socket.set_tcp_notsent_lowat(bytes);
        }
        let _ = socket.set_tcp_user_timeout(Some(write_timeout));
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (tcp, max_unsent_bytes, write_timeout);
}

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
