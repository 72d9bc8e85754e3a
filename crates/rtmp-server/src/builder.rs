//! [`ServerBuilder`]: a [`Server`] from its listen addresses and settings, one call each.

use std::net::SocketAddr;
use std::time::Duration;

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::config::{ServerConfig, Takeover};
use crate::hooks::{AcceptAll, Hooks};
use crate::relay::RelayConfig;
use crate::server::{Server, bind_listener};
use rtmp_router::{Hub, HubConfig, Router};

/// What routes the media: a hub (of these settings, or fitted to the server's), or a router of
/// the application's. The last given wins.
enum Routing {
    Hub(Option<HubConfig>),
    Router(Arc<dyn Router>),
}

/// Builds a [`Server`] and the addresses it listens on; [`ListeningServer::run`] serves them.
///
/// It has a method for each common setting; [`config`](Self::config) replaces them all, for
/// the rest (budgets, decoder limits, session details: see [`ServerConfig`]).
///
/// ```no_run
/// use std::time::Duration;
/// use rtmp_server::Server;
///
/// # async fn run() -> std::io::Result<()> {
/// let server = Server::builder()
///     .listen("0.0.0.0:1935".parse().unwrap())
///     .chunk_size(4096)
///     .keep_alive(Some(Duration::from_secs(10)))
///     .idle_timeout(Duration::from_secs(30))
///     .max_connections(10_000)
///     .bind()
///     .await?;
/// println!("listening on {:?}", server.local_addrs());
/// server.run(async { let _ = tokio::signal::ctrl_c().await; }).await
/// # }
/// ```
pub struct ServerBuilder<H = AcceptAll> {
    config: ServerConfig,
    hooks: H,
    routing: Routing,
    listen: Vec<SocketAddr>,
    #[cfg(feature = "tls")]
    listen_tls: Vec<(
        SocketAddr,
        std::sync::Arc<tokio_rustls::rustls::ServerConfig>,
    )>,
}

impl<H: std::fmt::Debug> std::fmt::Debug for ServerBuilder<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("config", &self.config)
            .field("hooks", &self.hooks)
            .field(
                "router",
                &match &self.routing {
                    Routing::Hub(_) => "hub",
                    Routing::Router(_) => "custom",
                },
            )
            .field("listen", &self.listen)
            .finish_non_exhaustive()
    }
}

impl Default for ServerBuilder<AcceptAll> {
    fn default() -> Self {
        Self {
            config: ServerConfig::default(),
            hooks: AcceptAll,
            routing: Routing::Hub(None),
            listen: Vec::new(),
            #[cfg(feature = "tls")]
            listen_tls: Vec::new(),
        }
    }
}

impl Server<AcceptAll> {
    /// A builder with the default settings, accepting every client.
    pub fn builder() -> ServerBuilder<AcceptAll> {
        ServerBuilder::default()
    }
}

impl<H: Hooks> ServerBuilder<H> {
    /// Listens for RTMP on `address` (repeatable; 0.0.0.0:1935 when none is given).
    pub fn listen(mut self, address: SocketAddr) -> Self {
        self.listen.push(address);
        self
    }

    /// Listens for RTMPS on `address` with `tls` (see [`crate::tls::server_config`]).
    #[cfg(feature = "tls")]
    pub fn listen_tls(
        mut self,
        address: SocketAddr,
        tls: std::sync::Arc<tokio_rustls::rustls::ServerConfig>,
    ) -> Self {
        self.listen_tls.push((address, tls));
        self
    }

    /// Decides with `hooks` (authentication, routing, recording, relays).
    pub fn hooks<H2: Hooks>(self, hooks: H2) -> ServerBuilder<H2> {
        ServerBuilder {
            config: self.config,
            hooks,
            routing: self.routing,
            listen: self.listen,
            #[cfg(feature = "tls")]
            listen_tls: self.listen_tls,
        }
    }

    /// Routes published media and play requests through `router` (replacing a
    /// [`hub`](Self::hub) given before). Its players' handles carry the session's chunk size
    /// ([`PlayerHandle::chunk_size`](crate::PlayerHandle::chunk_size)).
    pub fn router(mut self, router: impl Router) -> Self {
        self.routing = Routing::Router(Arc::new(router));
        self
    }

    /// Routes through a [`Hub`](crate::Hub) of `settings` (replacing a
    /// [`router`](Self::router) given before). Without this nor a router, the server builds a
    /// hub of [`ServerConfig::hub_settings`], fitted to its chunk size and queues; start from
    /// those to change a few:
    ///
    /// ```
    /// use std::time::Duration;
    /// use rtmp_server::{Server, ServerConfig};
    ///
    /// let config = ServerConfig::default();
    /// let mut hub = config.hub_settings();
    /// hub.gop_cache = false;
    /// hub.republish_grace = Duration::from_secs(3);
    /// let server = Server::builder().config(config).hub(hub).build();
    /// # let _ = server;
    /// ```
    ///
    /// A chunk size other than the session's costs a copy of every message per player
    /// (counted and logged once; see [`Server::with_router`]).
    pub fn hub(mut self, settings: HubConfig) -> Self {
        self.routing = Routing::Hub(Some(settings));
        self
    }

    /// Replaces every setting at once.
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// The chunk size sent to clients (default 1024).
    pub fn chunk_size(mut self, chunk_size: u32) -> Self {
        self.config.session.chunk_size = chunk_size;
        self
    }

    /// Keep-alive pings at this interval (default 30 s, half the default idle timeout), or
    /// none.
    pub fn keep_alive(mut self, interval: Option<Duration>) -> Self {
        self.config.session.ping_interval = interval;
        self
    }

    /// Whether C2 must answer S1 (default off).
    pub fn verify_c2(mut self, verify: bool) -> Self {
        self.config.verify_c2 = verify;
        self
    }

    /// The longest a handshake may take (default 10 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.config.handshake_timeout = timeout;
        self
    }

    /// Close connections silent for this long (default 60 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.config.idle_timeout = timeout;
        self
    }

    /// The most connections at once (default: the open-file limit less 64; see
    /// [`ServerConfig::max_connections`]).
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.config.max_connections = connections;
        self
    }

    /// The most connections at once from one IP address (default: no limit of its own).
    pub fn max_connections_per_ip(mut self, connections: usize) -> Self {
        self.config.max_connections_per_ip = Some(connections);
        self
    }

    /// The listen backlog of the listeners [`bind`](Self::bind) opens (default: the kernel's
    /// cap; see [`ServerConfig::listen_backlog`]).
    pub fn listen_backlog(mut self, backlog: u32) -> Self {
        self.config.listen_backlog = backlog;
        self
    }

    /// What a publish of a key published already does (default: takes it over from a
    /// publisher silent for 3 s; see [`ServerConfig::takeover`]).
    pub fn takeover(mut self, takeover: Takeover) -> Self {
        self.config.takeover = takeover;
        self
    }

    /// Close connections whose socket accepts nothing for this long while bytes wait for it
    /// (default 20 s; see [`ServerConfig::write_timeout`]).
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.config.write_timeout = timeout;
        self
    }

    /// Bytes each player's queue may hold before the slow-player policy applies (default
    /// 16 MiB; see [`ServerConfig::player_queue_bytes`]).
    pub fn player_queue_bytes(mut self, bytes: usize) -> Self {
        self.config.player_queue_bytes = bytes;
        self
    }

    /// The largest message a client may send (default 8 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.config.decoder.max_message_size = bytes;
        self
    }

    /// The write tick that batches each connection's media (default 100 ms; see
    /// [`ServerConfig::write_interval`]).
    pub fn write_interval(mut self, interval: Duration) -> Self {
        self.config.write_interval = interval;
        self
    }

    /// How small writes wait for more: a batch of fewer than `below_bytes` bytes of media
    /// waits for the next tick while its oldest media stays within `max_delay` (default
    /// 8 KiB and 350 ms; see [`ServerConfig::merge_below_bytes`]). `(0, Duration::ZERO)`
    /// writes at every tick.
    pub fn write_merge(mut self, below_bytes: usize, max_delay: Duration) -> Self {
        self.config.merge_below_bytes = below_bytes;
        self.config.max_write_delay = max_delay;
        self
    }

    /// How relays connect to other servers.
    pub fn relay(mut self, relay: RelayConfig) -> Self {
        self.config.relay = relay;
        self
    }

    /// The server, without listeners (serve your own with [`Server::serve`]).
    pub fn build(self) -> Server<H> {
        let Self {
            config,
            hooks,
            routing,
            ..
        } = self;
        match routing {
            Routing::Router(router) => Server::with_shared_router(config, hooks, router),
            Routing::Hub(Some(settings)) => Server::with_router(config, hooks, Hub::new(settings)),
            Routing::Hub(None) => Server::with_hooks(config, hooks),
        }
    }

    /// Binds every address (RTMP and RTMPS).
    pub async fn bind(self) -> std::io::Result<ListeningServer<H>> {
        let mut addresses = self.listen.clone();
        if addresses.is_empty() && self.has_no_tls() {
            addresses.push(SocketAddr::from(([0, 0, 0, 0], 1935)));
        }
        let mut plain = Vec::new();
        let backlog = self.config.listen_backlog;
        for address in addresses {
            plain.push(bind_listener(address, backlog)?);
        }
        #[cfg(feature = "tls")]
        let mut secure = Vec::new();
        #[cfg(feature = "tls")]
        for (address, tls) in &self.listen_tls {
            secure.push((bind_listener(*address, backlog)?, tls.clone()));
        }
        let server = self.build();
        Ok(ListeningServer {
            server,
            plain,
            #[cfg(feature = "tls")]
            secure,
        })
    }

    fn has_no_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.listen_tls.is_empty();
        #[cfg(not(feature = "tls"))]
        return true;
    }
}

/// A server with its listeners bound.
#[derive(Debug)]
pub struct ListeningServer<H = AcceptAll> {
    server: Server<H>,
    plain: Vec<TcpListener>,
    #[cfg(feature = "tls")]
    secure: Vec<(
        TcpListener,
        std::sync::Arc<tokio_rustls::rustls::ServerConfig>,
    )>,
}

impl<H: Hooks> ListeningServer<H> {
    /// The server (hub, relay count).
    pub fn server(&self) -> &Server<H> {
        &self.server
    }

    /// The bound addresses (RTMP first, then RTMPS), e.g. to learn a port chosen by the
    /// system.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        let plain = self.plain.iter();
        #[cfg(feature = "tls")]
        let plain = plain.chain(self.secure.iter().map(|(listener, _)| listener));
        plain
            .filter_map(|listener| listener.local_addr().ok())
            .collect()
    }

    /// Serves every listener until `shutdown` completes, then shuts down gracefully (see
    /// [`Server::serve`]).
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> std::io::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let until = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        let server = &self.server;
        let mut serving: Vec<futures::future::BoxFuture<'_, std::io::Result<()>>> = Vec::new();
        for listener in self.plain {
            serving.push(Box::pin(server.serve(listener, until(stopped.clone()))));
        }
        #[cfg(feature = "tls")]
        for (listener, tls) in self.secure {
            serving.push(Box::pin(server.serve_tls(
                listener,
                tls,
                until(stopped.clone()),
            )));
        }
        let signal = async {
            shutdown.await;
            let _ = stop.send(true);
        };
        let (results, ()) = tokio::join!(futures::future::join_all(serving), signal);
        results.into_iter().collect()
    }
}
