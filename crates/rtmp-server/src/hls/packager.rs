//! One stream's packaging: a player of the router whose media [`rtmp_hls::Hls`] turns into
//! segments and playlists, while clients ask for them.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rtmp_chunk::MemoryBudget;
use rtmp_hls::{Answer, Hls, HlsConfig};
use rtmp_router::{Feed, Notice, PlayerFeed, PlayerHandle, Playing, Rendition, Router};
use rtmp_session::StreamKey;
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::sync::lock;

/// A stream's HLS and the task that feeds it.
pub(super) struct Packager {
    key: StreamKey,
    config: HlsConfig,
    hls: Mutex<Hls>,
    /// The packaging's version ([`Hls::version`]), for requests waiting for a change.
    changes: watch::Sender<u64>,
    /// Bytes the packaging holds, as of its last change.
    bytes: AtomicUsize,
    /// When a client last asked.
    asked: Mutex<tokio::time::Instant>,
    /// The feeding task, stopped when the packaging goes.
    task: Mutex<Option<AbortHandle>>,
    /// Stopped: its waiting requests are answered.
    gone: AtomicBool,
}

impl Packager {
    /// Starts packaging `key`: a player of `router` of every track, with a queue of
    /// `queue_bytes` in `budget`. None when the router refuses the play.
    pub(super) fn start(
        router: Arc<dyn Router>,
        key: StreamKey,
        config: HlsConfig,
        queue_bytes: usize,
        budget: MemoryBudget,
    ) -> Option<Arc<Self>> {
        let (handle, feed) = PlayerHandle::pair(queue_bytes, budget, true);
        let playing = router
            .play(&key, handle.with_rendition(Rendition::All))
            .map_err(|error| tracing::debug!(%key, %error, "HLS packaging refused"))
            .ok()?;
        let packager = Arc::new(Self {
            hls: Mutex::new(Hls::new(config.clone())),
            key,
            config,
            changes: watch::Sender::new(0),
            bytes: AtomicUsize::new(0),
            asked: Mutex::new(tokio::time::Instant::now()),
            task: Mutex::new(None),
            gone: AtomicBool::new(false),
        });
        let task = tokio::spawn(feed_from(packager.clone(), feed, playing));
        *lock(&packager.task) = Some(task.abort_handle());
        Some(packager)
    }

    /// Notes a client's request.
    pub(super) fn touch(&self) {
        *lock(&self.asked) = tokio::time::Instant::now();
    }

    /// Whether no client asked for `idle`.
    pub(super) fn is_idle(&self, idle: Duration) -> bool {
        lock(&self.asked).elapsed() >= idle
    }

    /// Stops the feeding task; waiting requests are answered.
    pub(super) fn stop(&self) {
        self.gone.store(true, Ordering::Relaxed);
        if let Some(task) = lock(&self.task).take() {
            task.abort();
        }
        self.changes.send_modify(|version| *version += 1);
    }

    /// Whether it was stopped.
    pub(super) fn is_gone(&self) -> bool {
        self.gone.load(Ordering::Relaxed)
    }

    /// Bytes held.
    pub(super) fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The longest segment duration so far.
    pub(super) fn target_duration(&self) -> Duration {
        lock(&self.hls).target_duration()
    }

    /// Wakes on every change of the packaging.
    pub(super) fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The packaging's answer to `path` now.
    pub(super) fn answer(&self, path: &str, query: Option<&str>, carry: Option<&str>) -> Answer {
        lock(&self.hls).answer(path, query, carry)
    }

    /// Applies `change` to the packaging and wakes the requests waiting if it moved on. The
    /// tracks left out beyond the `logged` first are logged, under the same lock.
    fn change(&self, logged: &mut usize, change: impl FnOnce(&mut Hls)) {
        let (version, bytes) = {
            let mut hls = lock(&self.hls);
            change(&mut hls);
            let skipped = hls.skipped();
            for reason in skipped.get(*logged..).unwrap_or_default() {
                tracing::info!(key = %self.key, %reason, "a track is left out of HLS");
            }
            *logged = skipped.len();
            (hls.version(), hls.bytes())
        };
        self.bytes.store(bytes, Ordering::Relaxed);
        self.changes.send_if_modified(|known| {
            let moved = *known != version;
            *known = version;
            moved
        });
    }
}

/// Feeds the packaging with what the router gives its player until the router ends it.
async fn feed_from(packager: Arc<Packager>, mut feed: PlayerFeed, playing: Box<dyn Playing>) {
    // Tracks left out and logged so far.
    let mut logged = 0;
    while let Some(item) = feed.recv().await {
        match item {
            Feed::Media(media) => {
                let message = media.message();
                packager.change(&mut logged, |hls| hls.push(&message, SystemTime::now()));
            }
            // The publisher left for good: the playlists end. A publisher that comes back
            // starts them anew.
            Feed::Notice(Notice::Unpublished(_) | Notice::Failed(..)) => {
                packager.change(&mut logged, Hls::end);
            }
            Feed::Notice(Notice::Published(_)) => {
                let config = packager.config.clone();
                logged = 0;
                packager.change(&mut logged, |hls| *hls = Hls::new(config));
            }
            // Every codec is taken as published: nothing else concerns the packaging.
            _ => {}
        }
    }
    drop(playing);
    packager.change(&mut logged, Hls::end);
}
