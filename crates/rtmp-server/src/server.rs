//! [`Server`]: the listener, connection limits, timeouts and graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rtmp_chunk::DecoderConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::connection::{self, Context};
use crate::hooks::{AcceptAll, Hooks};
use crate::hub::{Hub, HubConfig};
use crate::relay::RelayConfig;
use crate::session::SessionConfig;
use crate::transport::Transport;

/// How accepted connections become RTMP streams.
#[derive(Clone)]
enum Accept {
    Plain,
    #[cfg(feature = "tls")]
    Tls(tokio_rustls::TlsAcceptor),
}

impl Accept {
    /// The stream, after the TLS handshake for RTMPS (`None` if it fails or times out).
    async fn transport(&self, tcp: TcpStream, timeout: Duration) -> Option<Transport> {
        let _ = timeout;
        match self {
            Self::Plain => Some(Transport::Tcp(tcp)),
            #[cfg(feature = "tls")]
            Self::Tls(acceptor) => {
                let tls = tokio::time::timeout(timeout, acceptor.accept(tcp)).await;
                match tls {
                    Ok(Ok(stream)) => Some(Transport::TlsServer(Box::new(stream))),
                    _ => None,
                }
            }
        }
    }
}

/// Settings of a [`Server`].
#[derive(Debug, Clone)]
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
    /// The most connections at once (default 20 000); more are closed on arrival.
    pub max_connections: usize,
    /// Check that C2 answers S1 (default off, as real clients differ).
    pub verify_c2: bool,
    /// How pushes and pulls connect to other servers.
    pub relay: RelayConfig,
    /// The write tick (default 50 ms): after a write, a connection that keeps up rests until
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
            max_connections: 20_000,
            verify_c2: false,
            relay: RelayConfig::default(),
            write_interval: Duration::from_millis(50),
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
    /// A server whose decisions are made by `hooks`.
    pub fn with_hooks(mut config: ServerConfig, hooks: H) -> Self {
        config.hub.chunk_size = config.session.chunk_size;
        let hub = Hub::new(config.hub.clone());
        Self {
            context: Arc::new(Context {
                config,
                hooks: Arc::new(hooks),
                hub,
                pulls: Arc::default(),
                relays: Arc::default(),
                epoch: tokio::time::Instant::now(),
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

    /// The hub, for stream figures.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.context.hub
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

    async fn serve_with(
        &self,
        listener: TcpListener,
        accept: Accept,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let limit = Arc::new(Semaphore::new(self.context.config.max_connections));
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(accepted) => accepted,
                        Err(error) => {
                            // Out of file descriptors and the like: wait a little, keep serving.
                            tracing::warn!(%error, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let Ok(permit) = limit.clone().try_acquire_owned() else {
                        tracing::warn!(%peer, "connection limit reached");
                        continue;
                    };
                    let context = self.context.clone();
                    let stop = stop_rx.clone();
                    let accept = accept.clone();
                    connections.spawn(async move {
                        let _permit = permit;
                        if !context.hooks.on_connection(peer).await {
                            return;
                        }
                        let Some(stream) = accept.transport(stream, context.config.handshake_timeout).await else {
                            tracing::info!(%peer, "TLS handshake failed");
                            return;
                        };
                        let result = connection::serve(stream, peer, context.clone(), stop).await;
                        let error = result.as_ref().err().map(ToString::to_string);
                        if let Some(error) = &error {
                            tracing::info!(%peer, %error, "connection closed");
                        }
                        context.hooks.on_disconnect(peer, error.as_deref());
                    });
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
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
