//! [`HubConfig`]: the hub's settings.

use std::time::Duration;

use crate::catch_up::CatchUpLimits;
use crate::slow_player::SlowPlayerPolicy;

/// Settings of the [`Hub`](crate::Hub).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HubConfig {
    /// Keep the current GOP for players that join (default on).
    pub gop_cache: bool,
    /// The most bytes a GOP cache holds, every video track's GOP together; past it, the
    /// track whose GOP is oldest is not cached until its next keyframe (default 16 MiB).
    pub max_gop_bytes: usize,
    /// Bytes a stream's ring holds for the players that read it in place (chunked media plus
    /// 64 bytes per message; default 16 MiB, the largest GOP the cache keeps): a player that
    /// falls further behind loses what it had not read, by the slow-player policy. A server
    /// sets it to the size of its players' queues.
    pub player_queue_bytes: usize,
    /// The chunk size players receive with (the session's chunk size).
    pub chunk_size: u32,
    /// What happens to slow players.
    pub slow_player: SlowPlayerPolicy,
    /// Refuse (NetStream.Play.Failed) Enhanced RTMP video to players whose connect announced
    /// no FourCCs. Off by default: ffmpeg 9, which plays Enhanced RTMP, announces nothing when
    /// playing, so refusing would lock it out; turn it on where legacy players must get a clear
    /// failure instead of video they cannot decode.
    pub refuse_unannounced_enhanced: bool,
    /// The most tracks whose configuration (sequence start, multichannel config) a stream
    /// keeps for players that join (default 32; multitrack encoders send a handful). A
    /// publisher that configures more is refused (NetStream.Publish.Rejected).
    pub max_tracks: usize,
    /// The most bytes of configuration messages a stream keeps, all tracks together (default
    /// 1 MiB; a configuration record is tens to a few thousand bytes). A publisher past it is
    /// refused.
    pub max_header_bytes: usize,
    /// The largest metadata (onMetaData) a stream keeps (default 256 KiB; encoders send
    /// about 1 KiB). A publisher that sends larger is refused.
    pub max_metadata_bytes: usize,
    /// How long players stay with a stream whose publisher left, told nothing, in case it
    /// comes back (default 10 s; zero: told at once). A publisher of the key within it
    /// continues the stream: its timestamps are moved on from where the players were (by the
    /// time it was away), so they never step back, and its metadata and sequence headers
    /// reach the players before its first frame. Past it, players are told the stream ended
    /// (NetStream.Play.UnpublishNotify). Timed by [`Router::tick`](crate::Router::tick), which a server calls every
    /// second.
    pub republish_grace: Duration,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            gop_cache: true,
            max_gop_bytes: 16 << 20,
            player_queue_bytes: 16 << 20,
            chunk_size: 1024,
            slow_player: SlowPlayerPolicy::SkipToKeyframe,
            refuse_unannounced_enhanced: false,
            max_tracks: 32,
            max_header_bytes: 1 << 20,
            max_metadata_bytes: 256 << 10,
            republish_grace: Duration::from_secs(10),
        }
    }
}

impl HubConfig {
    /// The budgets of each stream's [`CatchUp`](crate::CatchUp).
    pub fn catch_up_limits(&self) -> CatchUpLimits {
        CatchUpLimits {
            gop_cache: self.gop_cache,
            max_gop_bytes: self.max_gop_bytes,
            max_tracks: self.max_tracks,
            max_header_bytes: self.max_header_bytes,
            max_metadata_bytes: self.max_metadata_bytes,
        }
    }
}
