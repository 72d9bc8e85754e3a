//! The media router seam: what a server does with published media and play requests.
//!
//! A server's connections call a [`Router`] to start publishing and playing; the
//! [`Hub`](crate::Hub) is the default one. Another router can record, forward, transcode,
//! play files or share streams between machines: it receives each publisher's messages
//! through a [`Publishing`], and reaches players through [`PlayerHandle`]s, which hold a
//! player's media queue (bounded in bytes) and its notices. Nothing in this seam exposes a
//! runtime's channel types.

use std::time::Instant;

use rtmp_chunk::RawMessage;
use rtmp_session::StreamKey;

use crate::player::PlayerHandle;
use crate::refusal::Refusal;
use crate::stats::StreamStats;

/// Why a publish is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// Someone already publishes this key.
    #[error("{0} is already being published")]
    AlreadyPublished(StreamKey),
    /// The router refused it: the client gets the refusal's code (NetStream.Publish.BadName
    /// or NetStream.Play.Failed when it has none) and description.
    #[error("{0}")]
    Refused(Refusal),
    /// The publisher took the stream past one of its budgets (see
    /// [`HubConfig`](crate::HubConfig)).
    #[error("{key}: more {what} than the limit of {limit}")]
    OverLimit {
        /// The stream.
        key: StreamKey,
        /// What went over: "configured tracks", "configuration bytes", "metadata bytes".
        what: &'static str,
        /// The limit.
        limit: usize,
    },
}

/// Why a play is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlayError {
    /// The stream's video is in Enhanced RTMP form and the player did not announce it.
    #[error("{0} carries Enhanced RTMP video, which this player did not announce")]
    NeedsEnhanced(StreamKey),
    /// The router refused it: the client gets the refusal's code (NetStream.Publish.BadName
    /// or NetStream.Play.Failed when it has none) and description.
    #[error("{0}")]
    Refused(Refusal),
}

/// One publisher's stream, as the router took it. Dropping it ends the publishing.
pub trait Publishing: Send + Sync {
    /// The key published.
    fn key(&self) -> &StreamKey;
    /// An audio, video or data message from the publisher (timestamps as received). Called on
    /// the publisher's reader: it must not wait (queue what takes time, as a recorder would).
    /// An error stops the publishing: the client is told why (NetStream.Publish.Rejected).
    fn send(&mut self, message: &RawMessage) -> Result<(), PublishError>;
}

/// One player's place in a stream. Dropping it removes the player.
pub trait Playing: Send + Sync {
    /// The key played.
    fn key(&self) -> &StreamKey;
}

/// What the server does with published media and play requests (the default is the [`Hub`](crate::Hub)).
///
/// ```
/// use rtmp_chunk::RawMessage;
/// use rtmp_router::{PlayError, PlayerHandle, Playing, PublishError, Publishing, Router};
/// use rtmp_session::StreamKey;
///
/// /// Takes every publish, counts its bytes, and has nothing to play.
/// struct Counting;
///
/// struct Counted(StreamKey, u64);
///
/// impl Publishing for Counted {
///     fn key(&self) -> &StreamKey {
///         &self.0
///     }
///     fn send(&mut self, message: &RawMessage) -> Result<(), PublishError> {
///         self.1 += message.payload.len() as u64;
///         Ok(())
///     }
/// }
///
/// impl Router for Counting {
///     fn publish(&self, key: &StreamKey) -> Result<Box<dyn Publishing>, PublishError> {
///         Ok(Box::new(Counted(key.clone(), 0)))
///     }
///     fn play(&self, key: &StreamKey, _: PlayerHandle) -> Result<Box<dyn Playing>, PlayError> {
///         Err(PlayError::Refused(format!("{key} is not played here").into()))
///     }
///     fn is_published(&self, _: &StreamKey) -> bool {
///         false
///     }
///     fn is_played(&self, _: &StreamKey) -> bool {
///         false
///     }
/// }
///
/// let key = StreamKey { app: "live".into(), name: "a".into() };
/// let mut publishing = Counting.publish(&key)?;
/// publishing.send(&RawMessage::new(6, 0, 9, 1, vec![0x17, 1, 0, 0, 0]))?;
/// # Ok::<(), rtmp_router::PublishError>(())
/// ```
pub trait Router: Send + Sync + 'static {
    /// Starts publishing `key`, or refuses (the client gets NetStream.Publish.BadName).
    fn publish(&self, key: &StreamKey) -> Result<Box<dyn Publishing>, PublishError>;

    /// Adds a player of `key`, or refuses (the client gets NetStream.Play.Failed). Called
    /// after the client was told Play.Start, so that what the router queues at once (a
    /// catch-up) follows it.
    fn play(&self, key: &StreamKey, player: PlayerHandle) -> Result<Box<dyn Playing>, PlayError>;

    /// Whether a player that did (or did not) announce Enhanced RTMP would be refused `key`
    /// now; asked before the client is told Play.Start. Accepts by default.
    fn check_play(&self, key: &StreamKey, enhanced: bool) -> Result<(), PlayError> {
        let _ = (key, enhanced);
        Ok(())
    }

    /// Whether someone publishes `key` here now (a pull relay starts only when nobody does).
    fn is_published(&self, key: &StreamKey) -> bool;

    /// Whether anyone plays `key` here now (a pull relay stops when nobody does).
    fn is_played(&self, key: &StreamKey) -> bool;

    /// Called by the server about once a second once it serves connections, for what a
    /// router times (the hub: players whose publisher left are told the stream ended once the
    /// republish grace is over). Does nothing by default.
    fn tick(&self, now: Instant) {
        let _ = now;
    }

    /// The keys of the streams the router has now, for a server's stats. None by default.
    fn keys(&self) -> Vec<StreamKey> {
        Vec::new()
    }

    /// The figures of `key`, if the router keeps any (the hub does). None by default.
    fn stats(&self, key: &StreamKey) -> Option<StreamStats> {
        let _ = key;
        None
    }

    /// Media messages dropped for players that did not keep up, all streams together, since
    /// the router started. Zero by default.
    fn dropped(&self) -> u64 {
        0
    }
}
