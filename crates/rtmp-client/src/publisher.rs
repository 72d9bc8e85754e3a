//! Publishing: media from the application to the connection's task, as async calls or as a
//! [`Sink`] of raw messages or frames.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures::{Future, Sink};
use rtmp_amf0::Value;
use rtmp_chunk::type_id;
use rtmp_flv::{Codec, Frame, LegacyAudioFormat};
use rtmp_message::{Data, Message};
use rtmp_session::{Capabilities, caps_ex};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::PollSender;

use super::{ClientError, ClientSessionError};

/// A stream being published. Dropping it closes the connection; [`finish`](Self::finish) (or
/// closing it as a [`Sink`]) ends the stream politely first.
///
/// As a [`Sink`] it takes raw messages ([`rtmp_chunk::RawMessage`]: the type id, timestamp and
/// payload are used; the stream is this one) or [`Frame`]s, written in the form set by
/// [`set_enhanced`](Self::set_enhanced).
///
/// ```no_run
/// use futures::SinkExt;
/// use rtmp_client::{self as client, ClientConfig};
///
/// # async fn run(frames: Vec<rtmp_flv::Frame>) -> Result<(), client::ClientError> {
/// let mut publisher = client::publish("rtmp://127.0.0.1/live/cam", ClientConfig::default()).await?;
/// for frame in frames {
///     publisher.send(frame).await?;
/// }
/// SinkExt::<rtmp_flv::Frame>::close(&mut publisher).await
/// # }
/// ```
#[derive(Debug)]
pub struct Publisher {
    tx: PollSender<rtmp_chunk::RawMessage>,
    task: Option<JoinHandle<Result<(), ClientError>>>,
    stream_id: u32,
    enhanced: bool,
    /// What the server answered to connect (Enhanced RTMP), if anything.
    server: Option<Capabilities>,
}

impl Publisher {
    pub(super) fn new(
        tx: mpsc::Sender<rtmp_chunk::RawMessage>,
        task: JoinHandle<Result<(), ClientError>>,
        stream_id: u32,
        server: Option<Capabilities>,
    ) -> Self {
        Self {
            tx: PollSender::new(tx),
            task: Some(task),
            stream_id,
            enhanced: false,
            server,
        }
    }

    /// The body of `frame`, if the server takes it: a frame in Enhanced RTMP form needs its
    /// codec in the server's connect answer, and multitrack or ModEx offsets need those
    /// capabilities (a server that answered nothing is not second-guessed).
    fn frame_body(&self, frame: &Frame, enhanced: bool) -> Result<(u8, Bytes), ClientError> {
        let (type_id, body) = frame_body(frame, enhanced)?;
        let Some(server) = &self.server else {
            return Ok((type_id, body));
        };
        let first = body.first().copied().unwrap_or_default();
        let enhanced_form = match frame.codec {
            Codec::Video(_) => first & 0x80 != 0,
            Codec::Audio(_) => first >> 4 == 9,
        };
        if !enhanced_form {
            return Ok((type_id, body));
        }
        let refused = |what: String| {
            Err(ClientError::Frame(format!(
                "the server did not announce {what}"
            )))
        };
        let fourcc = match frame.codec {
            Codec::Video(codec) => codec.fourcc(),
            Codec::Audio(codec) => codec.fourcc(),
        };
        let fourcc = fourcc.map(|fourcc| String::from_utf8_lossy(&fourcc).into_owned());
        let listed = match (&fourcc, frame.codec) {
            (Some(fourcc), Codec::Video(_)) => server.has_video(fourcc),
            (Some(fourcc), Codec::Audio(_)) => server.has_audio(fourcc),
            (None, _) => false,
        };
        if !listed {
            return refused(fourcc.unwrap_or_else(|| frame.codec.to_string()));
        }
        if frame.track_id != 0 && server.caps_ex & caps_ex::MULTITRACK == 0 {
            return refused("multitrack".into());
        }
        if frame.timestamp_offset_nanos != 0 && server.caps_ex & caps_ex::MODEX == 0 {
            return refused("ModEx".into());
        }
        Ok((type_id, body))
    }

    /// The message stream published on.
    pub fn stream_id(&self) -> u32 {
        self.stream_id
    }

    /// Whether frames given to the [`Sink`] go out in Enhanced RTMP form (default: legacy
    /// where the codec has a legacy form; see [`send_frame`](Self::send_frame)).
    pub fn set_enhanced(&mut self, enhanced: bool) {
        self.enhanced = enhanced;
    }

    /// Sends an audio (8), video (9) or data (18) message body, e.g. an FLV tag's data. Waits
    /// while the connection's queue is full.
    pub async fn send_message(
        &mut self,
        type_id: u8,
        timestamp: u32,
        payload: Bytes,
    ) -> Result<(), ClientError> {
        std::future::poll_fn(|cx| self.poll_ready_to_send(cx)).await?;
        self.queue(rtmp_chunk::RawMessage::new(
            0, timestamp, type_id, 0, payload,
        ))
    }

    /// Sends video data (an FLV video tag's body).
    pub async fn send_video(&mut self, timestamp: u32, payload: Bytes) -> Result<(), ClientError> {
        self.send_message(type_id::VIDEO, timestamp, payload).await
    }

    /// Sends audio data (an FLV audio tag's body).
    pub async fn send_audio(&mut self, timestamp: u32, payload: Bytes) -> Result<(), ClientError> {
        self.send_message(type_id::AUDIO, timestamp, payload).await
    }

    /// Sends a media frame: video as a legacy tag (or Enhanced RTMP when `enhanced` is true or
    /// the codec needs it), audio as a legacy tag where the codec has a SoundFormat (with the
    /// AAC bits of [`LegacyAudioFormat::AAC`]) and Enhanced RTMP otherwise. A frame in
    /// Enhanced RTMP form whose codec (or multitrack, or ModEx offset) the server's connect
    /// answer did not list is refused with [`ClientError::Frame`].
    pub async fn send_frame(&mut self, frame: &Frame, enhanced: bool) -> Result<(), ClientError> {
        let (type_id, body) = self.frame_body(frame, enhanced)?;
        self.send_message(type_id, frame.dts, body).await
    }

    /// Sends metadata as `@setDataFrame("onMetaData", metadata)`.
    pub async fn send_metadata(&mut self, metadata: Value) -> Result<(), ClientError> {
        let body = Message::Data(Data::set_data_frame(metadata))
            .encode()
            .map_err(ClientSessionError::from)?;
        self.send_message(type_id::DATA_AMF0, 0, body).await
    }

    /// Ends the stream (FCUnpublish, deleteStream), flushes and closes the connection.
    pub async fn finish(mut self) -> Result<(), ClientError> {
        std::future::poll_fn(|cx| self.poll_finish(cx)).await
    }

    /// Ready when the connection's queue has room; the connection's error when it ended.
    fn poll_ready_to_send(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        if ready!(self.tx.poll_reserve(cx)).is_ok() {
            return Poll::Ready(Ok(()));
        }
        // The connection's task ended: its result says why.
        let result = ready!(self.poll_task(cx));
        Poll::Ready(Err(result.err().unwrap_or(ClientError::Closed)))
    }

    /// Queues `message` on this stream; a slot must have been reserved.
    fn queue(&mut self, mut message: rtmp_chunk::RawMessage) -> Result<(), ClientError> {
        message.stream_id = self.stream_id;
        self.tx.send_item(message).map_err(|_| ClientError::Closed)
    }

    /// Closes the queue, so that the task ends the stream, and waits for the task.
    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        self.tx.close();
        // A slot reserved but not used would keep the queue open.
        self.tx.abort_send();
        self.poll_task(cx)
    }

    fn poll_task(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        let Some(task) = self.task.as_mut() else {
            return Poll::Ready(Err(ClientError::Closed));
        };
        let result = ready!(Pin::new(task).poll(cx));
        self.task = None;
        Poll::Ready(result.unwrap_or(Err(ClientError::Closed)))
    }
}

/// The type id and tag body of `frame` (see [`Publisher::send_frame`]).
fn frame_body(frame: &Frame, enhanced: bool) -> Result<(u8, Bytes), ClientError> {
    let invalid = |error: rtmp_flv::Error| ClientError::Frame(error.to_string());
    match frame.codec {
        Codec::Video(_) => {
            let tag = frame.to_video_tag(enhanced).map_err(invalid)?;
            Ok((type_id::VIDEO, tag.to_bytes().map_err(invalid)?))
        }
        Codec::Audio(_) => {
            let legacy = (!enhanced).then_some(LegacyAudioFormat::AAC);
            let tag = frame.to_audio_tag(legacy).map_err(invalid)?;
            Ok((type_id::AUDIO, tag.to_bytes().map_err(invalid)?))
        }
    }
}

impl Sink<rtmp_chunk::RawMessage> for Publisher {
    type Error = ClientError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        self.get_mut().poll_ready_to_send(cx)
    }

    fn start_send(
        self: Pin<&mut Self>,
        message: rtmp_chunk::RawMessage,
    ) -> Result<(), ClientError> {
        self.get_mut().queue(message)
    }

    /// Ready at once: queued messages belong to the connection's task, which writes them in
    /// order; closing waits until they are written.
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        self.get_mut().poll_finish(cx)
    }
}

impl Sink<Frame> for Publisher {
    type Error = ClientError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        self.get_mut().poll_ready_to_send(cx)
    }

    fn start_send(self: Pin<&mut Self>, frame: Frame) -> Result<(), ClientError> {
        let this = self.get_mut();
        let (type_id, body) = this.frame_body(&frame, this.enhanced)?;
        this.queue(rtmp_chunk::RawMessage::new(0, frame.dts, type_id, 0, body))
    }

    /// See the raw-message sink: queued frames are written in order by the connection's task.
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        self.get_mut().poll_finish(cx)
    }
}
