//! Playing: what the connection's task receives, as async calls or as a [`Stream`].

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures::{Future, Stream, StreamExt};
use rtmp_flv::Frame;
use rtmp_message::Status;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::ClientError;

/// What a player receives.
#[derive(Debug, Clone, PartialEq)]
pub enum PlayEvent {
    /// Audio, video or data (onMetaData), payload untouched.
    Media(rtmp_chunk::RawMessage),
    /// A status on the stream (e.g. NetStream.Play.UnpublishNotify when the publisher left).
    Status(Status),
}

impl PlayEvent {
    /// The media frames of an audio or video message (empty for data, statuses and payloads
    /// that do not parse).
    pub fn frames(&self) -> Vec<Frame> {
        let Self::Media(message) = self else {
            return Vec::new();
        };
        Frame::of_tag(message.type_id, &message.payload, message.timestamp)
    }
}

/// A stream being played; also a [`Stream`] of events that ends with the stream (or with
/// the error that ended the connection).
///
/// ```no_run
/// use futures::{StreamExt, TryStreamExt};
/// use rtmp_client::{self as client, ClientConfig, PlayEvent};
///
/// # async fn run() -> Result<(), client::ClientError> {
/// let player = client::play("rtmp://127.0.0.1/live/cam", ClientConfig::default()).await?;
/// // The first 100 events, or the error that ended the connection before them.
/// let events: Vec<PlayEvent> = player.take(100).try_collect().await?;
/// let frames: Vec<_> = events.iter().flat_map(PlayEvent::frames).collect();
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Player {
    rx: mpsc::Receiver<PlayEvent>,
    task: Option<JoinHandle<Result<(), ClientError>>>,
}

impl Player {
    pub(super) fn new(
        rx: mpsc::Receiver<PlayEvent>,
        task: JoinHandle<Result<(), ClientError>>,
    ) -> Self {
        Self {
            rx,
            task: Some(task),
        }
    }

    /// The next media message or status; `None` when the server ended the stream (StreamEOF
    /// or the connection closed after it). The [`Stream`]'s next item, with the error taken
    /// out of the option (call `StreamExt::next(&mut player)` for the stream's own form).
    pub async fn next_event(&mut self) -> Result<Option<PlayEvent>, ClientError> {
        StreamExt::next(self).await.transpose()
    }
}

impl Stream for Player {
    type Item = Result<PlayEvent, ClientError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(event) = ready!(this.rx.poll_recv(cx)) {
            return Poll::Ready(Some(Ok(event)));
        }
        // The queue ended with the connection's task: its result says whether in error.
        let Some(task) = this.task.as_mut() else {
            return Poll::Ready(None);
        };
        let result = ready!(Pin::new(task).poll(cx));
        this.task = None;
        Poll::Ready(result.unwrap_or(Err(ClientError::Closed)).err().map(Err))
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
