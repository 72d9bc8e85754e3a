//! What a player asked of its stream (pause, receiveAudio, receiveVideo, seek).

use std::sync::atomic::{AtomicBool, Ordering};

use rtmp_flv::VideoKind;

use crate::media::MediaKind;

/// What a player asked of its stream (pause, receiveAudio, receiveVideo, seek), shared by its
/// connection, which sets it, and the router, which reads it.
#[derive(Debug, Default)]
pub(crate) struct PlayControls {
    paused: AtomicBool,
    no_audio: AtomicBool,
    no_video: AtomicBool,
    /// Go on from the next keyframe (after an unpause or a seek).
    resync: AtomicBool,
}

impl PlayControls {
    /// Whether media of `kind` is wanted now: not while paused, nor audio or video switched
    /// off (receiveAudio/receiveVideo). Sequence starts and data always pass, so that a
    /// player that goes on can decode.
    pub(crate) fn wants(&self, kind: MediaKind) -> bool {
        match kind {
            MediaKind::Audio {
                sequence_start: true,
            }
            | MediaKind::Video {
                kind: VideoKind::SequenceStart,
                ..
            }
            | MediaKind::Data => true,
            MediaKind::Audio { .. } => {
                !self.paused.load(Ordering::Relaxed) && !self.no_audio.load(Ordering::Relaxed)
            }
            MediaKind::Video { .. } => {
                !self.paused.load(Ordering::Relaxed) && !self.no_video.load(Ordering::Relaxed)
            }
        }
    }

    /// Whether the player asked to go on from the next keyframe: true once per request.
    pub(crate) fn take_resync(&self) -> bool {
        // Read before written: the fan-out asks for every message, the answer is nearly always
        // no, and a read leaves the flag's cache line shared with the player's connection.
        self.resync.load(Ordering::Relaxed) && self.resync.swap(false, Ordering::Relaxed)
    }

    /// Applies a player's request.
    pub(crate) fn apply(&self, control: rtmp_session::PlayControl) {
        use rtmp_session::PlayControl;
        match control {
            PlayControl::Pause(paused) => {
                self.paused.store(paused, Ordering::Relaxed);
                if !paused {
                    self.resync.store(true, Ordering::Relaxed);
                }
            }
            PlayControl::Seek(_) => self.resync.store(true, Ordering::Relaxed),
            PlayControl::ReceiveAudio(on) => self.no_audio.store(!on, Ordering::Relaxed),
            PlayControl::ReceiveVideo(on) => {
                self.no_video.store(!on, Ordering::Relaxed);
                if on {
                    self.resync.store(true, Ordering::Relaxed);
                }
            }
            _ => {}
        }
    }
}
