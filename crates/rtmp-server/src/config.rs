//! [`ServerConfig`]: a server's settings, and [`Takeover`].

use std::time::Duration;

use rtmp_chunk::DecoderConfig;
use rtmp_router::HubConfig;
use rtmp_session::SessionConfig;

use crate::limits::default_max_connections;
use crate::relay::RelayConfig;

/// What a publish of a key that someone publishes already does.
///
/// Whatever the policy, only a publisher entitled to the key may close the one publishing
/// it: one that the hooks authenticated for the key
/// ([`Hooks::authenticates_publish`](crate::Hooks::authenticates_publish): a signed name, a
/// webhook that decided), or one from the same IP address as the publisher it replaces (its
/// encoder reconnecting). Any other publish is refused as under [`Never`](Self::Never), so
/// that a stranger cannot take a stream over while its encoder is silent.
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

/// Settings of a [`Server`](crate::Server).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Session settings (chunk size, window, keep-alive, Enhanced RTMP FourCCs).
    pub session: SessionConfig,
    /// Bytes a player's queue holds: chunked media plus 64 bytes per message (default 16 MiB,
    /// the largest GOP the hub's cache keeps, so that a joining player gets a cached GOP
    /// whole). Media that does not fit is dropped for that player by the router's slow-player
    /// policy. The bytes are shared with every other player of the stream, so this bounds how
    /// far a player may fall behind more than the memory it costs.
    pub player_queue_bytes: usize,
    /// Send players whose connect announced no codecs legacy codecs only: Enhanced RTMP
    /// tracks with a legacy form (H.264, AAC) converted to it, others (HEVC, AV1, Opus, ...)
    /// skipped with an onStatus. Off by default: ffmpeg 6.1 and later play Enhanced RTMP yet
    /// announce nothing, and get the stream as published. Turn it on for sites whose viewers
    /// run older players. Players that announced codecs always get only those (see
    /// [`CodecPolicy`](crate::CodecPolicy)).
    pub legacy_for_unannounced: bool,
    /// Limits of the chunk decoder (message size, partial messages, chunk streams).
    pub decoder: DecoderConfig,
    /// The longest a handshake may take (default 10 s).
    pub handshake_timeout: Duration,
    /// Close a connection that sends nothing for this long (default 60 s; keep-alive pings
    /// make live clients answer well within it).
    pub idle_timeout: Duration,
    /// The most connections at once; more are closed on arrival. The default is the process's
    /// open-file limit less 64, at most 100 000 (see
    /// [`raise_open_file_limit`](crate::system::raise_open_file_limit)).
    pub max_connections: usize,
    /// The most connections at once from one IP address (default: no limit of its own).
    pub max_connections_per_ip: Option<usize>,
    /// The listen backlog of listeners bound by [`ServerBuilder`](crate::ServerBuilder) and
    /// [`bind_listener`](crate::system::bind_listener) (default: the kernel's cap,
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
    /// reconnects; only for a publisher the hooks authenticated or one from the same
    /// address, see [`Takeover`]).
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
    /// players' queues ([`player_queue_bytes`](Self::player_queue_bytes)). Media shared by several players
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
    /// Small writes wait for more (default 8 KiB). At a tick, a connection with fewer bytes
    /// than this to write, all of them media, waits for the last tick within
    /// [`max_write_delay`](Self::max_write_delay) of its oldest media; after writing fewer
    /// bytes than this, it rests until the last tick within that delay from then. A
    /// low-bitrate stream then goes out in fewer, larger system calls and wakes each
    /// connection once per write: at SRS's test (11 520 players of a 232 kbit/s stream) this
    /// takes the server from a whole core to half of one (docs/performance.md). A stream of
    /// more than 8 KiB per tick (650 kbit/s at the default tick) is written every tick as
    /// before. The connection's own messages and its first media are never held. Zero writes
    /// at every tick.
    pub merge_below_bytes: usize,
    /// The most a small write waits, from when the router received its oldest media (default
    /// 350 ms, SRS's merged-write delay). No longer than
    /// [`write_interval`](Self::write_interval) disables merging.
    pub max_write_delay: Duration,
}

impl ServerConfig {
    /// The settings of the hub a server builds when given no router: the defaults, with the
    /// session's chunk size and rings of [`player_queue_bytes`](Self::player_queue_bytes). A
    /// start for a hub of other settings
    /// ([`ServerBuilder::hub`](crate::ServerBuilder::hub)).
    ///
    /// ```
    /// let mut config = rtmp_server::ServerConfig::default();
    /// config.session.chunk_size = 4096;
    /// assert_eq!(config.hub_settings().chunk_size, 4096);
    /// ```
    pub fn hub_settings(&self) -> HubConfig {
        let mut hub = HubConfig::default();
        hub.chunk_size = self.session.chunk_size;
        hub.player_queue_bytes = self.player_queue_bytes;
        hub
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            session: SessionConfig::default(),
            player_queue_bytes: 16 << 20,
            legacy_for_unannounced: false,
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
            merge_below_bytes: 8 << 10,
            max_write_delay: Duration::from_millis(350),
        }
    }
}
