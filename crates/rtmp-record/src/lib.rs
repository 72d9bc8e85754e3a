//! Recording streams to FLV files, as a player of the router: a recorder never runs on the
//! publisher's reader, so a slow disk costs the recording (the router's slow-player policy
//! drops what its queue cannot hold) and never the publisher or other players.
//!
//! Each recording writes `DIR/APP/NAME-UNIXMILLIS.flv`, starting a new file (a segment) at the
//! first keyframe past the configured duration or size. Every segment starts with the
//! stream's metadata and every track's sequence header, and its timestamps start at zero, so
//! each file plays on its own. A segment's onMetaData starts with `duration` (seconds) and
//! `filesize` (bytes), filled in when the segment is finished, so that players show its
//! length and can seek in it. A full disk pauses a recording without losing what it wrote;
//! it starts a new file when there is room again, and leaves no file without media.
//!
//! It works with any [`Router`] (`rtmp-router`); `rtmp-server` re-exports it under its
//! `record` feature, for a server's router and queue budget.

#![forbid(unsafe_code)]

mod segments;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rtmp_chunk::MemoryBudget;
use rtmp_session::StreamKey;
use tokio::sync::Notify;

use rtmp_router::{Feed, Notice, PlayError, PlayerHandle, Rendition, Router};
use segments::Segments;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Where and how streams are recorded.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecordConfig {
    /// The directory the files go in (a directory per application beneath it).
    pub dir: PathBuf,
    /// Start a new file at the first keyframe after this much media time (none: one file
    /// per publish).
    pub segment_duration: Option<Duration>,
    /// Start a new file at the first keyframe after this many bytes (none: no size limit).
    pub segment_bytes: Option<u64>,
    /// Bytes the recording's queue holds (default 16 MiB); past it, media is dropped as for
    /// a slow player.
    pub queue_bytes: usize,
    /// Which tracks of a multitrack stream are recorded (default: every track, as
    /// published; [`Rendition::One`] records one video and one audio track as a
    /// single-track file).
    pub rendition: Rendition,
}

impl RecordConfig {
    /// One file per publish in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            segment_duration: None,
            segment_bytes: None,
            queue_bytes: 16 << 20,
            rendition: Rendition::All,
        }
    }
}

/// Why a recording did not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The stream is being recorded already.
    #[error("{0} is already being recorded")]
    AlreadyRecording(StreamKey),
    /// The router refused the recorder as a player.
    #[error("the router refused the recorder: {0}")]
    Refused(#[from] PlayError),
}

/// Records streams on request: [`start`](Self::start) when a publish starts (from
/// a server's `Hooks::on_publish_started`, or an operator's call),
/// [`stop`](Self::stop) at any time; a recording also ends when its publisher stops.
///
/// ```no_run
/// use std::sync::Arc;
/// use rtmp_chunk::MemoryBudget;
/// use rtmp_record::{RecordConfig, Recorder};
/// use rtmp_router::{Hub, HubConfig, Router};
/// use rtmp_session::StreamKey;
///
/// # async fn run() {
/// let router: Arc<dyn Router> = Arc::new(Hub::new(HubConfig::default()));
/// let budget = MemoryBudget::new(1 << 30);
/// let recorder = Recorder::new(router, budget, RecordConfig::new("recordings"));
/// let key = StreamKey { app: "live".into(), name: "show".into() };
/// recorder.start(&key).expect("the hub takes every player");
/// # }
/// ```
pub struct Recorder {
    inner: Arc<Inner>,
}

struct Inner {
    router: Arc<dyn Router>,
    budget: MemoryBudget,
    config: RecordConfig,
    /// The recordings running, with what stops each.
    active: Mutex<HashMap<StreamKey, Arc<Notify>>>,
    /// Told of each file finished.
    finished: Option<Finished>,
}

/// What is told of each recorded file finished: the stream and the file.
type Finished = Arc<dyn Fn(&StreamKey, &std::path::Path) + Send + Sync>;

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("config", &self.inner.config)
            .field("recording", &self.recording())
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// A recorder of `router`'s streams (a server's `Server::router`), whose queues count in
    /// `budget` (a server's `Server::queue_budget`).
    pub fn new(router: Arc<dyn Router>, budget: MemoryBudget, config: RecordConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                router,
                budget,
                config,
                active: Mutex::default(),
                finished: None,
            }),
        }
    }

    /// The recorder with `finished` told of each file it finishes (a segment cut, the end
    /// of a publish, a file cut short by a full disk), e.g. to upload it or tell a webhook.
    /// Set it before the first recording starts.
    #[must_use]
    pub fn on_finished(
        mut self,
        finished: impl Fn(&StreamKey, &std::path::Path) + Send + Sync + 'static,
    ) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.finished = Some(Arc::new(finished));
        }
        self
    }

    /// Starts recording `key` (on the current tokio runtime): from the router's catch-up (the
    /// current GOP) if it is published now, or from when it is. A write that fails (a full
    /// disk) pauses the recording: its file is cut back to its last whole tag and finished
    /// (or removed if it holds no media), and a new file starts at a keyframe once writing
    /// works again (tried after 1 s, then at doubling waits up to 30 s); it is logged.
    pub fn start(&self, key: &StreamKey) -> Result<(), RecordError> {
        let inner = &self.inner;
        let stop = Arc::new(Notify::new());
        {
            let mut active = lock(&inner.active);
            if active.contains_key(key) {
                return Err(RecordError::AlreadyRecording(key.clone()));
            }
            active.insert(key.clone(), stop.clone());
        }
        let (handle, mut feed) =
            PlayerHandle::pair(inner.config.queue_bytes, inner.budget.clone(), true);
        let handle = handle.with_rendition(inner.config.rendition);
        let playing = match inner.router.play(key, handle) {
            Ok(playing) => playing,
            Err(error) => {
                lock(&inner.active).remove(key);
                return Err(error.into());
            }
        };
        let inner = inner.clone();
        let key = key.clone();
        tokio::spawn(async move {
            let dir = inner.config.dir.join(file_name(&key.app));
            let told = inner.finished.clone().map(|finished| {
                let key = key.clone();
                Box::new(move |path: &std::path::Path| finished(&key, path)) as segments::Told
            });
            let mut file = Segments::new(&inner.config, dir, file_name(&key.name), told);
            loop {
                let item = tokio::select! {
                    item = feed.recv() => item,
                    () = stop.notified() => break,
                };
                match item {
                    Some(Feed::Media(media)) => file.write(&media).await,
                    Some(Feed::Notice(Notice::Unpublished(_) | Notice::Failed(..))) | None => {
                        break;
                    }
                    Some(_) => {}
                }
            }
            drop(playing);
            if let Err(error) = file.close().await {
                tracing::warn!(%key, %error, "the recording's last file could not be finished");
            }
            let mut active = lock(&inner.active);
            if active
                .get(&key)
                .is_some_and(|running| Arc::ptr_eq(running, &stop))
            {
                active.remove(&key);
            }
        });
        Ok(())
    }

    /// Stops recording `key` (the file is finished); false if it was not being recorded.
    pub fn stop(&self, key: &StreamKey) -> bool {
        match lock(&self.inner.active).remove(key) {
            Some(stop) => {
                stop.notify_one();
                true
            }
            None => false,
        }
    }

    /// The streams being recorded now.
    pub fn recording(&self) -> Vec<StreamKey> {
        lock(&self.inner.active).keys().cloned().collect()
    }
}

/// A path component from a name a client chose: no separators, no `..`, nothing hidden.
fn file_name(name: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(128)
        .collect();
    if name.is_empty() { "_".into() } else { name }
}

#[cfg(test)]
mod tests {
    use super::file_name;

    #[test]
    fn names_from_clients_cannot_leave_the_directory() {
        assert_eq!(file_name("../../etc/passwd"), "______etc_passwd");
        assert_eq!(file_name(""), "_");
        assert_eq!(file_name("show-1_a"), "show-1_a");
        assert_eq!(file_name(&"x".repeat(500)).len(), 128);
    }
}

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
