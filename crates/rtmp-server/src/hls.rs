//! HTTP Live Streaming of the server's streams ([`Hls`](crate::Hls)): each stream packaged
//! once by [`rtmp_hls`] (CMAF segments and Low-Latency HLS playlists), fed by a player of the
//! router, and served to any number of HTTP clients, each client a viewer of the server.
//!
//! This module has no HTTP stack: [`Hls::get`] answers a request for a path below a stream
//! with a status, headers and a body, and the application's HTTP server writes them.

mod packager;
mod session;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rtmp_hls::{Answer, HlsConfig};
use rtmp_session::StreamKey;

use crate::hooks::Hooks;
use crate::server::Server;
use crate::sync::lock;
use crate::viewer::{Protocol, ViewerError, ViewerRequest};
use packager::Packager;
use session::{Known, SessionKey, Sessions};

/// Settings of the server's HLS.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HlsSettings {
    /// How each stream is packaged (part and segment targets, window, bytes per stream).
    pub packaging: HlsConfig,
    /// Bytes held by every stream's HLS together (default 512 MiB): past it, a stream not
    /// yet packaged is answered 503 until others go.
    pub max_total_bytes: usize,
    /// A stream's packaging stops when no client asked for it this long (default 30 s).
    pub idle: Duration,
    /// Package every published stream from its start, not from its first request (default
    /// off): the first playlist is then answered at once, and players start with a window of
    /// segments behind them. The packaging of a stream with a publisher is then never idle.
    pub always: bool,
    /// A client's session (one viewer of the server) ends after this long without a
    /// request (default 10 s).
    pub session_quiet: Duration,
    /// Sessions at once, every stream together (default 10 000); past it, new clients get 503.
    pub max_sessions: usize,
    /// Sessions at once from one IP address (default 64).
    pub max_sessions_per_ip: usize,
    /// Requests held at once waiting for a part, every client together (default 20 000);
    /// past it, a blocking request is answered 503 at once.
    pub max_waiting: usize,
}

impl Default for HlsSettings {
    fn default() -> Self {
        Self {
            packaging: HlsConfig::default(),
            max_total_bytes: 512 << 20,
            idle: Duration::from_secs(30),
            always: false,
            session_quiet: Duration::from_secs(10),
            max_sessions: 10_000,
            max_sessions_per_ip: 64,
            max_waiting: 20_000,
        }
    }
}

/// An answer to an HLS request, for an HTTP server to write.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HlsReply {
    /// The HTTP status: 200, 400, 403, 404, 503.
    pub status: u16,
    /// The `Content-Type`, with a body.
    pub content_type: Option<&'static str>,
    /// The `Cache-Control`: long-lived for segments and parts (their bytes never change),
    /// short for playlists, `no-store` for errors.
    pub cache_control: &'static str,
    /// The body (shared with every other client of the same resource).
    pub body: Bytes,
}

impl HlsReply {
    fn status(status: u16) -> Self {
        Self {
            status,
            content_type: None,
            cache_control: "no-store",
            body: Bytes::new(),
        }
    }
}

/// The server's HLS: streams packaged on demand and the clients' sessions. Clones share it.
pub struct Hls<H: Hooks> {
    shared: Arc<Shared<H>>,
}

impl<H: Hooks> Clone for Hls<H> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<H: Hooks> std::fmt::Debug for Hls<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hls")
            .field("settings", &self.shared.settings)
            .finish_non_exhaustive()
    }
}

struct Shared<H: Hooks> {
    server: Server<H>,
    settings: HlsSettings,
    streams: Mutex<HashMap<StreamKey, Arc<Packager>>>,
    sessions: Sessions<H>,
    /// Requests waiting for a part now.
    waiting: AtomicUsize,
}

/// A request's query split: the protocol's own parameters go to the packager, the rest (a
/// signed URL's token, say) to the hooks and into every URI the playlists list.
struct Split {
    protocol: Option<String>,
    carried: Option<String>,
}

/// The longest a request waits for its part (or a stream's first playlist).
const MAX_HOLD: Duration = Duration::from_secs(30);

/// Names of the query parameters of blocking reloads and delta updates.
const PROTOCOL_PARAMETERS: [&str; 3] = ["_HLS_msn", "_HLS_part", "_HLS_skip"];

fn split(query: Option<&str>) -> Split {
    let (mut protocol, mut carried) = (Vec::new(), Vec::new());
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let name = pair.split('=').next().unwrap_or_default();
        if PROTOCOL_PARAMETERS.contains(&name) {
            protocol.push(pair);
        } else {
            carried.push(pair);
        }
    }
    let join = |pairs: Vec<&str>| (!pairs.is_empty()).then(|| pairs.join("&"));
    Split {
        protocol: join(protocol),
        carried: join(carried),
    }
}

impl<H: Hooks> Hls<H> {
    /// HLS of `server`'s streams. It spawns a task that ends quiet sessions and idle
    /// packaging every second, until the last clone is dropped.
    pub fn new(server: Server<H>, settings: HlsSettings) -> Self {
        let shared = Arc::new(Shared {
            sessions: Sessions::new(&settings),
            server,
            settings,
            streams: Mutex::default(),
            waiting: AtomicUsize::new(0),
        });
        let weak = Arc::downgrade(&shared);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_secs(1));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(shared) = weak.upgrade() else {
                    return;
                };
                shared.tidy();
            }
        });
        Self { shared }
    }

    /// The settings.
    pub fn settings(&self) -> &HlsSettings {
        &self.shared.settings
    }

    /// Bytes held by every stream's HLS now.
    pub fn bytes(&self) -> usize {
        lock(&self.shared.streams)
            .values()
            .map(|packager| packager.bytes())
            .sum()
    }

    /// Streams packaged now.
    pub fn streams(&self) -> usize {
        lock(&self.shared.streams).len()
    }

    /// Answers `GET /APP/NAME/path?query` from `peer`. The first request of a client (its
    /// address, the stream and the query's parameters other than the protocol's) is admitted
    /// as any viewer is ([`Server::viewer`](crate::Server::viewer): hooks, signed URLs,
    /// webhook) and opens its session, one of the server's connections
    /// ([`Protocol::Hls`]) until it is quiet for [`HlsSettings::session_quiet`]. A blocking
    /// request waits for its part, up to three target durations (then 503).
    pub async fn get(
        &self,
        key: &StreamKey,
        path: &str,
        query: Option<&str>,
        peer: SocketAddr,
    ) -> HlsReply {
        let shared = &self.shared;
        let query = split(query);
        let session = SessionKey::new(peer, key, query.carried.as_deref());
        let session = match shared.sessions.find(&session) {
            Known::Open(session) => session,
            Known::Closed => return HlsReply::status(403),
            Known::New => match self.open(session, peer, query.carried.clone()).await {
                Ok(opened) => opened,
                Err(reply) => return reply,
            },
        };
        let Some(packager) = shared.packager(key) else {
            return HlsReply::status(503);
        };
        let reply = self
            .answer(
                &packager,
                path,
                query.protocol.as_deref(),
                query.carried.as_deref(),
            )
            .await;
        session.count(reply.body.len());
        reply
    }

    /// Admits a new client, within the session limits.
    async fn open(
        &self,
        session: SessionKey,
        peer: SocketAddr,
        query: Option<String>,
    ) -> Result<Arc<session::Session<H>>, HlsReply> {
        let shared = &self.shared;
        if !shared.sessions.has_room(peer) {
            return Err(HlsReply::status(503));
        }
        let request = ViewerRequest::new(session.key().clone(), query, peer, Protocol::Hls);
        let admitted = shared
            .server
            .admit_viewer(request)
            .await
            .map_err(|refused: ViewerError| HlsReply::status(refused.http_status()))?;
        Ok(shared.sessions.insert(session, admitted))
    }

    /// The packager's answer to `path`, waiting (bounded) while it says to.
    async fn answer(
        &self,
        packager: &Packager,
        path: &str,
        protocol: Option<&str>,
        carried: Option<&str>,
    ) -> HlsReply {
        let shared = &self.shared;
        let mut changes = packager.changes();
        // Three target durations, and never past MAX_HOLD: a publisher whose keyframes are
        // minutes apart does not make requests wait for minutes.
        let hold = (packager.target_duration() * 3).min(MAX_HOLD);
        let deadline = tokio::time::Instant::now() + hold;
        let mut held = None;
        loop {
            match packager.answer(path, protocol, carried) {
                Answer::Ready(response) => {
                    return HlsReply {
                        status: 200,
                        content_type: Some(response.content_type),
                        cache_control: if response.immutable {
                            "public, max-age=86400, immutable"
                        } else {
                            "no-cache"
                        },
                        body: response.body,
                    };
                }
                Answer::BadRequest => return HlsReply::status(400),
                Answer::NotFound => return HlsReply::status(404),
                Answer::Wait => {}
            }
            if held.is_none() {
                match Waiting::enter(&shared.waiting, shared.settings.max_waiting) {
                    Some(waiting) => held = Some(waiting),
                    None => return HlsReply::status(503),
                }
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                return HlsReply::status(503);
            }
            if packager.is_gone() {
                return HlsReply::status(404);
            }
        }
    }
}

impl<H: Hooks> Shared<H> {
    /// Ends quiet sessions, stops idle packaging, and (with [`HlsSettings::always`]) starts
    /// the packaging of streams published since.
    fn tidy(&self) {
        self.sessions.tidy();
        let idle = self.settings.idle;
        let router = self.server.router();
        let always = self.settings.always;
        lock(&self.streams).retain(|key, packager| {
            let keep = !packager.is_idle(idle) || (always && router.is_published(key));
            if !keep {
                packager.stop();
            }
            keep
        });
        if always {
            for key in router.keys() {
                if router.is_published(&key) {
                    // Past the server-wide budget, it starts when a client asks, if ever.
                    let _ = self.packager(&key);
                }
            }
        }
    }

    /// The packaging of `key`, started if it is not yet (None past the server-wide budget).
    fn packager(&self, key: &StreamKey) -> Option<Arc<Packager>> {
        let mut streams = lock(&self.streams);
        if let Some(packager) = streams.get(key) {
            packager.touch();
            return Some(packager.clone());
        }
        let held: usize = streams.values().map(|packager| packager.bytes()).sum();
        if held >= self.settings.max_total_bytes {
            return None;
        }
        let server = &self.server;
        let packager = Packager::start(
            server.router().clone(),
            key.clone(),
            self.settings.packaging.clone(),
            server.config().player_queue_bytes,
            server.queue_budget(),
        )?;
        streams.insert(key.clone(), packager.clone());
        Some(packager)
    }
}

/// One request among those waiting, counted until it is answered.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn enter(count: &'a AtomicUsize, max: usize) -> Option<Self> {
        let before = count.fetch_add(1, Ordering::Relaxed);
        if before >= max {
            count.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        Some(Self(count))
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn the_protocols_parameters_go_to_the_packager_and_the_rest_is_carried() {
        let parts = split(Some("_HLS_msn=4&token=abc&_HLS_part=1&expires=9"));
        assert_eq!(parts.protocol.as_deref(), Some("_HLS_msn=4&_HLS_part=1"));
        assert_eq!(parts.carried.as_deref(), Some("token=abc&expires=9"));
        let none = split(None);
        assert!(none.protocol.is_none() && none.carried.is_none());
    }
}
