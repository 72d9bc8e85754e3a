//! A connection's writer task: what the connection's [`Outlet`] gives (its own messages and
//! the shared media, in order), several buffers per vectored system call, written on a tick
//! shared by all connections. A socket that accepts nothing for the write timeout while bytes
//! wait ends the task with [`WriteError::Stalled`].

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use rtmp_router::driver::{Batch, MAX_BATCH_BUFFERS, Outlet};
#[cfg(target_os = "linux")]
use tokio::io::Interest;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;

/// Writes some of `slices` to `half` with `sendmsg` (Linux): the socket call skips the file
/// layer `writev` goes through. Elsewhere a TCP half is written as any stream is.
#[cfg(target_os = "linux")]
fn poll_sendmsg(
    half: &OwnedWriteHalf,
    cx: &mut Context<'_>,
    slices: &[IoSlice<'_>],
) -> Poll<std::io::Result<usize>> {
    let tcp: &tokio::net::TcpStream = half.as_ref();
    loop {
        std::task::ready!(tcp.poll_write_ready(cx))?;
        let sent = tcp.try_io(Interest::WRITABLE, || {
            socket2::SockRef::from(tcp).send_vectored(slices)
        });
        match sent {
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            sent => return Poll::Ready(sent),
        }
    }
}

/// The writing half of a connection's stream.
pub(crate) enum WriteHalf {
    /// A TCP socket, written with `sendmsg` on Linux: the socket call skips the file layer
    /// `writev` goes through (its position lock, its checks and its change notification),
    /// which is a measured part of each write's cost when every player gets a write per
    /// tick. Elsewhere with the stream's own vectored write.
    Tcp(OwnedWriteHalf),
    /// Any other stream (TLS, a test's pipe).
    Other(Box<dyn AsyncWrite + Send + Unpin>),
}

impl WriteHalf {
    /// Writes some of `slices`, as [`AsyncWrite::poll_write_vectored`].
    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        slices: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self {
            #[cfg(target_os = "linux")]
            Self::Tcp(half) => poll_sendmsg(half, cx, slices),
            #[cfg(not(target_os = "linux"))]
            Self::Tcp(half) => Pin::new(half).poll_write_vectored(cx, slices),
            Self::Other(stream) => Pin::new(stream).poll_write_vectored(cx, slices),
        }
    }

    /// Ends the writing side (for TCP, a FIN after what was written).
    async fn shutdown(&mut self) -> std::io::Result<()> {
        match self {
            Self::Tcp(half) => half.shutdown().await,
            Self::Other(stream) => stream.shutdown().await,
        }
    }
}

/// Why a writer ended before its connection.
#[derive(Debug)]
pub(crate) enum WriteError {
    /// Writing failed.
    Io(std::io::Error),
    /// The peer accepted no bytes for the write timeout while bytes waited for it.
    Stalled,
    /// A player fell out of its stream's ring under the disconnect policy.
    FellBehind,
}

impl From<std::io::Error> for WriteError {
    fn from(error: std::io::Error) -> Self {
        Self::Io(error)
    }
}

/// The first tick (`epoch` plus a multiple of `period`) after `instant`'s tick: the tick
/// boundary that ends the period holding `instant`.
pub(crate) fn next_tick(
    epoch: tokio::time::Instant,
    period: Duration,
    instant: tokio::time::Instant,
) -> tokio::time::Instant {
    let period_nanos = period.as_nanos().max(1);
    let elapsed = instant.saturating_duration_since(epoch).as_nanos();
    let next = (elapsed / period_nanos + 1).saturating_mul(period_nanos);
    let offset = Duration::from_nanos(u64::try_from(next).unwrap_or(u64::MAX));
    // Past what the clock can hold: no wait rather than a panic.
    epoch.checked_add(offset).unwrap_or(instant)
}

/// The writer's clock: writes wait for the next multiple of `period` after `epoch`, and a
/// write that makes no progress for `timeout` ends the connection.
pub(crate) struct Ticks {
    /// The server's start: ticks are counted from here.
    pub(crate) epoch: tokio::time::Instant,
    /// The write interval; zero writes as soon as anything is queued.
    pub(crate) period: Duration,
    /// The longest the socket may accept nothing while bytes wait.
    pub(crate) timeout: Duration,
    /// A batch of fewer bytes than this, all media, waits for the next tick ...
    pub(crate) merge_below: usize,
    /// ... if its oldest media will still be within this delay then.
    pub(crate) max_delay: Duration,
}

impl Ticks {
    /// Until when `batch` waits rather than being written `now`, if it does: it is small,
    /// holds media only, and its oldest media is within the delay at a later tick. It then
    /// waits for the last such tick (unless an own message comes first), so that a
    /// low-bitrate stream costs a wake-up per write rather than one per tick.
    fn hold_until(&self, batch: &Batch, now: tokio::time::Instant) -> Option<tokio::time::Instant> {
        if self.period.is_zero() || batch.size() >= self.merge_below || batch.has_own_message() {
            return None;
        }
        let due = self.last_tick_within(tokio::time::Instant::from_std(batch.oldest_media()?));
        (due > now).then_some(due)
    }

    /// The last tick within the delay of media made at `made` (at least the tick after it).
    fn last_tick_within(&self, made: tokio::time::Instant) -> tokio::time::Instant {
        let first = next_tick(self.epoch, self.period, made);
        // The tick before the one that follows the latest moment allowed.
        let after = next_tick(self.epoch, self.period, made + self.max_delay);
        after
            .checked_sub(self.period)
            .map_or(first, |last| last.max(first))
    }
}

/// Writes what the connection's outlet gives (own messages never ahead of media queued
/// before them), several buffers per system call, resting between writes until the next tick.
pub(crate) async fn write_loop(
    mut writer: WriteHalf,
    mut outlet: Outlet,
    ticks: Ticks,
    written: Arc<AtomicU64>,
    rechunked: Arc<AtomicU64>,
) -> Result<(), WriteError> {
    let mut batch = Batch::new();
    // Whether media went out yet: a player's first write is never held back.
    let mut started = false;
    loop {
        // Wait for something to write, unless something came while resting.
        if !outlet.ready(&mut batch).await {
            break;
        }
        // Whether the write stops at a batch limit with more to write.
        let backlog = outlet
            .fill(&mut batch)
            .map_err(|_| WriteError::FellBehind)?;
        // A small batch of fresh media waits for more to share its system call.
        let held = started && !backlog;
        if let Some(due) = held
            .then(|| ticks.hold_until(&batch, tokio::time::Instant::now()))
            .flatten()
        {
            if !rest_until(&mut outlet, &mut batch, due).await {
                break;
            }
            continue;
        }
        write_all(&mut writer, &batch, ticks.timeout).await?;
        let size = batch.size();
        written.fetch_add(size as u64, Ordering::Relaxed);
        report_rechunked(&mut batch, &rechunked);
        started |= batch.oldest_media().is_some();
        outlet.written(&mut batch);
        if backlog || ticks.period.is_zero() {
            continue;
        }
        // After a small write, what comes next can wait as long as the delay allows.
        let now = tokio::time::Instant::now();
        let due = if started && size < ticks.merge_below {
            ticks.last_tick_within(now)
        } else {
            next_tick(ticks.epoch, ticks.period, now)
        };
        if !rest_until(&mut outlet, &mut batch, due).await {
            break;
        }
    }
    tokio::time::timeout(ticks.timeout, writer.shutdown())
        .await
        .map_err(|_| WriteError::Stalled)??;
    Ok(())
}

/// Adds the media of `batch` chunked again (the router's chunk size is not the session's) to
/// the server's count, and says so in the log the first time, once per server.
fn report_rechunked(batch: &mut Batch, rechunked: &AtomicU64) {
    let count = batch.take_rechunked();
    if count > 0 && rechunked.fetch_add(count, Ordering::Relaxed) == 0 {
        tracing::warn!(
            "the router chunks media at another size than the session's chunk size: \
             every message is chunked again for each player (a copy per player); give the \
             router the session's chunk size (PlayerHandle::chunk_size)"
        );
    }
}

/// Coalesces: rests until `due` (a tick), so that media arriving meanwhile shares one system
/// call and every connection writes on the same wake-up of the runtime. The connection's own
/// messages (command answers, pings) end the rest at once. False once the connection's
/// reader is gone.
async fn rest_until(outlet: &mut Outlet, batch: &mut Batch, due: tokio::time::Instant) -> bool {
    tokio::select! {
        biased;
        open = outlet.own_message(batch) => open,
        () = tokio::time::sleep_until(due) => true,
    }
}

/// Writes every buffer of `batch` with vectored writes. Each write must make progress within
/// `timeout`.
async fn write_all(
    writer: &mut WriteHalf,
    batch: &Batch,
    timeout: Duration,
) -> Result<(), WriteError> {
    // The first buffer not written whole, and how much of it was.
    let (mut first, mut offset) = (0, 0);
    while first < batch.len() {
        let write = std::future::poll_fn(|cx| {
            // Built on the stack of each poll: no allocation per write, and nothing added to
            // the task's state that every connection holds.
            let mut slices = [IoSlice::new(&[]); MAX_BATCH_BUFFERS];
            let mut count = 0;
            for (index, slice) in (first..batch.len()).zip(slices.iter_mut()) {
                let bytes = batch.buffer(index).unwrap_or_default();
                // The first buffer may be partly written already.
                let skip = if count == 0 { offset } else { 0 };
                *slice = IoSlice::new(bytes.get(skip..).unwrap_or_default());
                count += 1;
            }
            let slices = slices.get(..count).unwrap_or_default();
            writer.poll_write_vectored(cx, slices)
        });
        let mut written = tokio::time::timeout(timeout, write)
            .await
            .map_err(|_| WriteError::Stalled)??;
        if written == 0 {
            return Err(WriteError::Io(std::io::ErrorKind::WriteZero.into()));
        }
        while let Some(buffer) = batch.buffer(first) {
            let left = buffer.len() - offset;
            if written < left {
                offset += written;
                break;
            }
            written -= left;
            (first, offset) = (first + 1, 0);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Ticks, WriteError, next_tick, write_loop};
    use bytes::BytesMut;
    use rtmp_chunk::{ChunkDecoder, DecoderConfig, MemoryBudget, RawMessage, type_id};
    use rtmp_router::driver::{Inlet, outlet};
    use rtmp_router::{CodecPolicy, Media, PlayerHandle, SharedMedia};
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, DuplexStream};
    use tokio::time::Instant;

    const TICK: Duration = Duration::from_millis(50);

    fn audio(timestamp: u32) -> Media {
        audio_of(timestamp, 4)
    }

    fn audio_of(timestamp: u32, len: usize) -> Media {
        let mut payload = vec![0xAF, 1];
        payload.resize(len.max(2), 7);
        let message = RawMessage::new(4, timestamp, type_id::AUDIO, 1, payload);
        SharedMedia::new(message, 128).unwrap()
    }

    /// The writer's peer: decodes what it wrote.
    struct Peer {
        socket: DuplexStream,
        decoder: ChunkDecoder,
        buf: BytesMut,
    }

    impl Peer {
        /// The next message, if one arrives within `wait` (of the paused test clock).
        async fn next(&mut self, wait: Duration) -> Option<RawMessage> {
            loop {
                if let Some(message) = self.decoder.decode(&mut self.buf).unwrap() {
                    return Some(message);
                }
                let read = tokio::time::timeout(wait, self.socket.read_buf(&mut self.buf));
                assert!(read.await.ok()?.unwrap() > 0, "the writer closed");
            }
        }
    }

    type Writer = tokio::task::JoinHandle<Result<(), WriteError>>;

    /// A writer on a paused clock whose ticks start now, over a pipe of `pipe` bytes, and its
    /// peer.
    fn writer(pipe: usize) -> (Inlet, PlayerHandle, Peer, Writer) {
        merging_writer(pipe, 0)
    }

    /// [`writer`] whose batches of fewer than `merge_below` bytes wait up to three ticks.
    fn merging_writer(pipe: usize, merge_below: usize) -> (Inlet, PlayerHandle, Peer, Writer) {
        let (ours, theirs) = tokio::io::duplex(pipe);
        let budget = MemoryBudget::new(64 << 20);
        let (control, _notices, outlet) = outlet(1 << 20, 64 << 10, budget);
        let (media, _controls) = control.player(1, true, CodecPolicy::AsPublished);
        let ticks = Ticks {
            epoch: Instant::now(),
            period: TICK,
            timeout: WRITE_TIMEOUT,
            merge_below,
            max_delay: TICK * 3,
        };
        let task = tokio::spawn(write_loop(
            super::WriteHalf::Other(Box::new(ours)),
            outlet,
            ticks,
            Arc::default(),
            Arc::default(),
        ));
        let peer = Peer {
            socket: theirs,
            decoder: ChunkDecoder::new(DecoderConfig::default()),
            buf: BytesMut::new(),
        };
        (control, media, peer, task)
    }

    const WRITE_TIMEOUT: Duration = Duration::from_secs(20);

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_accepts_nothing_is_dropped_after_the_write_timeout() {
        let start = Instant::now();
        let (control, media, mut peer, task) = writer(4096);
        // More than the pipe holds; the peer reads a little, then nothing.
        for timestamp in 0..8 {
            media.deliver(audio_of(timestamp, 2000)).unwrap();
        }
        let mut some = [0u8; 1000];
        peer.socket.read_exact(&mut some).await.unwrap();
        let error = tokio::time::timeout(WRITE_TIMEOUT * 2, task)
            .await
            .expect("the writer kept waiting")
            .unwrap()
            .unwrap_err();
        assert!(matches!(error, WriteError::Stalled), "{error:?}");
        // Counted from the last progress, not from the start.
        assert!(start.elapsed() >= WRITE_TIMEOUT);
        drop(control);
    }

    #[tokio::test(start_paused = true)]
    async fn media_waits_for_the_tick_and_own_messages_do_not() {
        let start = Instant::now();
        let (control, media, mut peer, _task) = writer(1 << 20);
        let short = Duration::from_millis(5);

        // Nothing written yet: the first message goes at once.
        media.deliver(audio(0)).unwrap();
        assert_eq!(peer.next(short).await.unwrap().timestamp, 0);

        // The writer now rests until the tick at 50 ms: media waits ...
        media.deliver(audio(20)).unwrap();
        media.deliver(audio(40)).unwrap();
        assert!(peer.next(short).await.is_none());
        // ... until an own message queued after it ends the rest: the media first, in order.
        control.send(RawMessage::acknowledgement(7));
        assert_eq!(peer.next(short).await.unwrap().timestamp, 20);
        assert_eq!(peer.next(short).await.unwrap().timestamp, 40);
        let ack = peer.next(short).await.unwrap();
        assert_eq!(ack.type_id, type_id::ACKNOWLEDGEMENT);
        assert!(start.elapsed() < TICK);

        // Media queued while resting again goes out on a tick boundary, not before.
        media.deliver(audio(60)).unwrap();
        assert_eq!(peer.next(TICK * 2).await.unwrap().timestamp, 60);
        let elapsed = start.elapsed();
        assert!(elapsed >= TICK);
        assert_eq!(elapsed.as_millis() % TICK.as_millis(), 0, "{elapsed:?}");

        // Closing the control channel ends the writer, which shuts its side down.
        drop(control);
        let mut rest = Vec::new();
        peer.socket.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn small_writes_wait_for_more_within_the_delay_and_own_messages_do_not() {
        let start = Instant::now();
        let at = |ticks: u32| (TICK * ticks..TICK * ticks + TICK, start.elapsed());
        let (control, media, mut peer, _task) = merging_writer(1 << 20, 1000);
        // The first media goes at once.
        media.deliver(audio(0)).unwrap();
        assert_eq!(peer.next(TICK / 10).await.unwrap().timestamp, 0);
        // After a small write, what comes waits for as long as the delay allows (3 ticks).
        media.deliver(audio(20)).unwrap();
        assert_eq!(peer.next(TICK * 10).await.unwrap().timestamp, 20);
        let (within, elapsed) = at(3);
        assert!(within.contains(&elapsed), "{elapsed:?}");
        media.deliver(audio_of(40, 1200)).unwrap();
        assert_eq!(peer.next(TICK * 10).await.unwrap().timestamp, 40);
        let (within, elapsed) = at(6);
        assert!(within.contains(&elapsed), "{elapsed:?}");
        // A small write again: an own message takes small media waiting before it along at
        // once.
        media.deliver(audio(60)).unwrap();
        assert_eq!(peer.next(TICK * 10).await.unwrap().timestamp, 60);
        media.deliver(audio(80)).unwrap();
        tokio::time::sleep(TICK + TICK / 2).await;
        control.send(RawMessage::acknowledgement(7));
        assert_eq!(peer.next(TICK / 10).await.unwrap().timestamp, 80);
        let ack = peer.next(TICK / 10).await.unwrap();
        assert_eq!(ack.type_id, type_id::ACKNOWLEDGEMENT);
        let (within, elapsed) = at(8);
        assert!(within.contains(&elapsed), "{elapsed:?}");
    }

    #[test]
    fn small_media_waits_for_the_last_tick_within_the_delay_from_when_it_came() {
        let epoch = Instant::now();
        let ticks = Ticks {
            epoch,
            period: TICK,
            timeout: WRITE_TIMEOUT,
            merge_below: 1000,
            max_delay: TICK * 3 + TICK / 2,
        };
        let ms = |millis| epoch + Duration::from_millis(millis);
        // Made at 10 ms: 185 ms of delay allowed, so the tick at 150 ms.
        assert_eq!(ticks.last_tick_within(ms(10)), ms(150));
        assert_eq!(ticks.last_tick_within(ms(100)), ms(250));
        // A delay shorter than a tick still allows the next one.
        let short = Ticks {
            max_delay: TICK / 2,
            ..ticks
        };
        assert_eq!(short.last_tick_within(ms(10)), ms(50));
    }

    #[tokio::test(start_paused = true)]
    async fn writes_cut_anywhere_by_a_small_pipe_deliver_every_message_whole_and_in_order() {
        // A pipe of 777 bytes takes each write in pieces that end inside messages.
        let (control, media, mut peer, _task) = writer(777);
        for timestamp in 0..40 {
            media
                .deliver(audio_of(timestamp, 300 + 37 * timestamp as usize))
                .unwrap();
        }
        control.send(RawMessage::acknowledgement(9));
        for timestamp in 0..40 {
            let message = peer.next(TICK * 4).await.expect("a message");
            assert_eq!(message.timestamp, timestamp);
            assert_eq!(message.payload.len(), 300 + 37 * timestamp as usize);
        }
        let ack = peer.next(TICK * 4).await.unwrap();
        assert_eq!(ack.type_id, type_id::ACKNOWLEDGEMENT);
    }

    #[test]
    fn ticks_fall_on_multiples_of_the_period() {
        let epoch = Instant::now();
        let period = Duration::from_millis(50);
        let ms = |n| epoch + Duration::from_millis(n);
        assert_eq!(next_tick(epoch, period, epoch), ms(50));
        assert_eq!(next_tick(epoch, period, ms(1)), ms(50));
        assert_eq!(next_tick(epoch, period, ms(49)), ms(50));
        assert_eq!(next_tick(epoch, period, ms(50)), ms(100));
        assert_eq!(next_tick(epoch, period, ms(1234)), ms(1250));
        // Two connections that wrote at different moments of one tick wake together.
        assert_eq!(
            next_tick(epoch, period, ms(1201)),
            next_tick(epoch, period, ms(1249))
        );
    }

    #[test]
    fn degenerate_periods_do_not_panic() {
        let epoch = Instant::now();
        let later = epoch + Duration::from_secs(3);
        // A zero period (never used for waiting) and a period past the clock's range.
        assert!(next_tick(epoch, Duration::ZERO, later) > later);
        assert!(next_tick(epoch, Duration::MAX, later) > later);
        assert!(next_tick(epoch, Duration::from_secs(1), epoch) > epoch);
        // An instant before the epoch counts as the epoch.
        let before = epoch.checked_sub(Duration::from_millis(5)).unwrap_or(epoch);
        assert_eq!(
            next_tick(epoch, Duration::from_millis(10), before),
            epoch + Duration::from_millis(10)
        );
    }

    /// Both ways a TCP half is written (the sendmsg of Linux, the vectored write of other
    /// systems) deliver every byte of every slice, in order.
    #[tokio::test]
    async fn a_tcp_half_is_written_whole_by_either_path() {
        use std::io::IoSlice;
        use tokio::io::{AsyncWrite, AsyncWriteExt};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (client, accepted) =
            tokio::join!(tokio::net::TcpStream::connect(address), listener.accept());
        let (_, half) = client.unwrap().into_split();
        let (mut peer, _) = accepted.unwrap();
        let parts: [&[u8]; 3] = [b"chunk ", b"header ", b"payload"];
        let slices = parts.map(IoSlice::new);
        let mut half = super::WriteHalf::Tcp(half);
        let sent = std::future::poll_fn(|cx| half.poll_write_vectored(cx, &slices))
            .await
            .unwrap();
        assert_eq!(sent, 20);
        // The path of systems without sendmsg: the stream's own vectored write.
        let super::WriteHalf::Tcp(mut half) = half else {
            unreachable!()
        };
        let sent = std::future::poll_fn(|cx| {
            std::pin::Pin::new(&mut half).poll_write_vectored(cx, &slices)
        })
        .await
        .unwrap();
        assert_eq!(sent, 20);
        half.shutdown().await.unwrap();
        let mut received = Vec::new();
        peer.read_to_end(&mut received).await.unwrap();
        assert_eq!(received, b"chunk header payloadchunk header payload");
    }
}
