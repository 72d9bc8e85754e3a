//! HLS sessions: a client's run of requests for a stream, one viewer of the server from its
//! first request until it is quiet for a while.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rtmp_session::StreamKey;

use super::HlsSettings;
use crate::hooks::Hooks;
use crate::sync::lock;
use crate::viewer::Admitted;

/// What tells one client's session from another's: its address, the stream, and the query's
/// parameters other than the protocol's (a token, a track).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct SessionKey {
    ip: IpAddr,
    key: StreamKey,
    query: Option<String>,
}

impl SessionKey {
    pub(super) fn new(peer: SocketAddr, key: &StreamKey, query: Option<&str>) -> Self {
        Self {
            ip: peer.ip(),
            key: key.clone(),
            query: query.map(str::to_owned),
        }
    }

    /// The stream.
    pub(super) fn key(&self) -> &StreamKey {
        &self.key
    }
}

/// A client's session: a viewer of the server.
pub(super) struct Session<H: Hooks> {
    admitted: Admitted<H>,
    /// When it last asked.
    asked: Mutex<tokio::time::Instant>,
}

impl<H: Hooks> Session<H> {
    /// Counts an answer of `bytes`.
    pub(super) fn count(&self, bytes: usize) {
        self.admitted.count(bytes);
    }
}

/// What is known of a client.
pub(super) enum Known<H: Hooks> {
    /// Its session is open.
    Open(Arc<Session<H>>),
    /// The operator closed its session (or drained the server) a short while ago.
    Closed,
    /// Nothing: a new client.
    New,
}

/// The open sessions, by client, and how many each address has.
struct Open<H: Hooks> {
    sessions: HashMap<SessionKey, Arc<Session<H>>>,
    per_ip: HashMap<IpAddr, usize>,
    /// Sessions the operator closed, refused until they are quiet, with when they last
    /// asked.
    closed: HashMap<SessionKey, tokio::time::Instant>,
}

impl<H: Hooks> Default for Open<H> {
    fn default() -> Self {
        Self {
            sessions: HashMap::new(),
            per_ip: HashMap::new(),
            closed: HashMap::new(),
        }
    }
}

/// Every session, by client.
pub(super) struct Sessions<H: Hooks> {
    open: Mutex<Open<H>>,
    quiet: Duration,
    max: usize,
    max_per_ip: usize,
}

impl<H: Hooks> Sessions<H> {
    pub(super) fn new(settings: &HlsSettings) -> Self {
        Self {
            open: Mutex::default(),
            quiet: settings.session_quiet,
            max: settings.max_sessions,
            max_per_ip: settings.max_sessions_per_ip,
        }
    }

    /// What is known of `key`'s client, noted as asking now.
    pub(super) fn find(&self, key: &SessionKey) -> Known<H> {
        let now = tokio::time::Instant::now();
        let mut open = lock(&self.open);
        if let Some(asked) = open.closed.get_mut(key) {
            *asked = now;
            return Known::Closed;
        }
        let Some(session) = open.sessions.get(key).cloned() else {
            return Known::New;
        };
        // Closed by the operator since the last tidy: refused from this request on, not
        // only from the next tidy.
        if session.admitted.is_closed() {
            let state = &mut *open;
            let ended = state.sessions.remove(key);
            if let Some(count) = state.per_ip.get_mut(&key.ip) {
                *count -= 1;
                if *count == 0 {
                    state.per_ip.remove(&key.ip);
                }
            }
            state.closed.insert(key.clone(), now);
            drop(open);
            // Dropped outside the lock: it tells the hooks its play stopped.
            drop((ended, session));
            return Known::Closed;
        }
        *lock(&session.asked) = now;
        Known::Open(session)
    }

    /// Whether a session from `peer` may open.
    pub(super) fn has_room(&self, peer: SocketAddr) -> bool {
        let open = lock(&self.open);
        let from_ip = open.per_ip.get(&peer.ip()).copied().unwrap_or(0);
        open.sessions.len() < self.max && from_ip < self.max_per_ip
    }

    /// Opens the session of `key` (the one opened meanwhile, if another request of the
    /// client was admitted first; `admitted` then ends at once).
    pub(super) fn insert(&self, key: SessionKey, admitted: Admitted<H>) -> Arc<Session<H>> {
        let session = Arc::new(Session {
            admitted,
            asked: Mutex::new(tokio::time::Instant::now()),
        });
        let mut open = lock(&self.open);
        let open = &mut *open;
        let ip = key.ip;
        let entry = open.sessions.entry(key);
        if matches!(entry, std::collections::hash_map::Entry::Vacant(_)) {
            *open.per_ip.entry(ip).or_default() += 1;
        }
        entry.or_insert(session).clone()
    }

    /// Ends the sessions quiet for long enough and those the operator closed (whose
    /// requests are refused until they are quiet).
    pub(super) fn tidy(&self) {
        let quiet = self.quiet;
        let ended: Vec<Arc<Session<H>>> = {
            let mut open = lock(&self.open);
            let open = &mut *open;
            let mut ended = Vec::new();
            open.closed.retain(|_, asked| asked.elapsed() < quiet);
            open.sessions.retain(|key, session| {
                let asked = *lock(&session.asked);
                let closed = session.admitted.is_closed();
                if closed {
                    open.closed.insert(key.clone(), asked);
                }
                let keep = !closed && asked.elapsed() < quiet;
                if !keep {
                    ended.push(session.clone());
                    if let Some(count) = open.per_ip.get_mut(&key.ip) {
                        *count -= 1;
                    }
                }
                keep
            });
            open.per_ip.retain(|_, count| *count > 0);
            ended
        };
        // Dropped outside the lock: each tells the hooks its play stopped.
        drop(ended);
    }
}
