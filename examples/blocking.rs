//! `blocking`: a live RTMP server with no async runtime. A thread per connection over
//! `std::net`, the handshake and chunk stream from the sans-IO crates, and `rtmp-session`'s
//! `ServerSession` deciding what to answer; publishers write each message to their players'
//! sockets themselves. It shows the layers below `rtmp-server` in use on their own; the tokio
//! server adds queues bounded in bytes, shared chunking and everything else a real deployment
//! needs.
//!
//! ```text
//! cargo run --example blocking -- [127.0.0.1:1935]
//! ffmpeg -re -f lavfi -i testsrc2 -c:v libx264 -f flv rtmp://127.0.0.1/live/test
//! rtmpdump --live -r rtmp://127.0.0.1/live/test -o out.flv
//! ```

use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rtmp_chunk::{ChunkDecoder, ChunkEncoder, DecoderConfig, RawMessage, type_id};
use rtmp_flv::{VideoKind, peek_audio_sequence_start, peek_video};
use rtmp_handshake::{Progress as HandshakeStatus, ServerHandshake, ServerHandshakeConfig};
use rtmp_message::Status;
use rtmp_session::{ServerSession, SessionConfig, SessionEvent, StreamKey, chunk_stream};

/// How long a handshake may take, and a player's socket may refuse our writes.
const TIMEOUT: Duration = Duration::from_secs(10);

#[allow(dead_code)] // the test runs `serve` itself
fn main() -> io::Result<()> {
    let address = std::env::args().nth(1).unwrap_or("127.0.0.1:1935".into());
    let listener = TcpListener::bind(&address)?;
    println!("listening on rtmp://{address}");
    serve(listener)
}

/// A connection's sending side, shared with the publishers whose media it plays.
struct Output {
    socket: TcpStream,
    encoder: ChunkEncoder,
    scratch: BytesMut,
}

impl Output {
    fn send(&mut self, message: &RawMessage) -> io::Result<()> {
        self.encoder
            .encode(message, &mut self.scratch)
            .map_err(io::Error::other)?;
        let bytes = self.scratch.split();
        self.socket.write_all(&bytes)
    }
}

type SharedOutput = Arc<Mutex<Output>>;

/// One stream: whether someone publishes it, what a player joining needs first (metadata,
/// sequence headers, the current GOP) and its players (their stream id and output).
#[derive(Default)]
struct Stream {
    publishing: bool,
    headers: HashMap<u8, RawMessage>,
    gop: Vec<RawMessage>,
    players: Vec<(u64, u32, SharedOutput)>,
}

type Streams = Arc<Mutex<HashMap<StreamKey, Stream>>>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Serves `listener`, a thread per connection, until accepting fails.
pub fn serve(listener: TcpListener) -> io::Result<()> {
    let streams = Streams::default();
    for (id, socket) in (0u64..).zip(listener.incoming()) {
        let socket = socket?;
        let streams = streams.clone();
        std::thread::spawn(move || {
            if let Err(error) = connection(socket, id, &streams) {
                eprintln!("connection {id}: {error}");
            }
        });
    }
    Ok(())
}

/// Reads what is there: `Ok(None)` when the read timeout passed with nothing.
fn read_some(socket: &mut TcpStream, buf: &mut [u8]) -> io::Result<Option<usize>> {
    match socket.read(buf) {
        Ok(n) => Ok(Some(n)),
        Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// The handshake; returns the bytes that came after it.
fn handshake(socket: &mut TcpStream, buf: &mut [u8]) -> io::Result<BytesMut> {
    let mut handshake = ServerHandshake::new(ServerHandshakeConfig::default());
    socket.write_all(&handshake.take_output())?;
    let start = Instant::now();
    while start.elapsed() < TIMEOUT {
        let Some(n) = read_some(socket, buf)? else {
            continue;
        };
        if n == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        let status = handshake
            .read(buf.get(..n).unwrap_or_default())
            .map_err(io::Error::other)?;
        socket.write_all(&handshake.take_output())?;
        if let HandshakeStatus::Done(done) = status {
            return Ok(BytesMut::from(&done.leftover[..]));
        }
    }
    Err(ErrorKind::TimedOut.into())
}

/// What one connection publishes and plays.
struct Connection {
    id: u64,
    session: ServerSession,
    output: SharedOutput,
    streams: Streams,
    publishing: Option<(u32, StreamKey)>,
}

fn connection(socket: TcpStream, id: u64, streams: &Streams) -> io::Result<()> {
    socket.set_nodelay(true)?;
    // A short read timeout gives the loop a chance to keep the session's time.
    socket.set_read_timeout(Some(Duration::from_millis(500)))?;
    socket.set_write_timeout(Some(TIMEOUT))?;
    let mut reader = socket.try_clone()?;
    let mut buf = vec![0u8; 64 << 10];
    let mut input = handshake(&mut reader, &mut buf)?;
    let mut connection = Connection {
        id,
        session: ServerSession::new(SessionConfig::default(), Instant::now()),
        output: Arc::new(Mutex::new(Output {
            socket,
            encoder: ChunkEncoder::new(),
            scratch: BytesMut::new(),
        })),
        streams: streams.clone(),
        publishing: None,
    };
    let mut decoder = ChunkDecoder::new(DecoderConfig::default());
    let result = loop {
        let step = (|| {
            while let Some(message) = decoder.decode(&mut input).map_err(io::Error::other)? {
                connection
                    .session
                    .handle_message(message)
                    .map_err(io::Error::other)?;
                connection.handle_events()?;
            }
            if let Some(sequence) = decoder.take_acknowledgement() {
                lock(&connection.output).send(&RawMessage::acknowledgement(sequence))?;
            }
            // Time is an argument: keep-alive pings when the session says they are due.
            let now = Instant::now();
            if connection
                .session
                .poll_timeout()
                .is_some_and(|due| due <= now)
            {
                connection
                    .session
                    .handle_timeout(now)
                    .map_err(io::Error::other)?;
            }
            connection.flush()?;
            match read_some(&mut reader, &mut buf)? {
                Some(0) => Ok(false),
                Some(n) => {
                    input.extend_from_slice(buf.get(..n).unwrap_or_default());
                    Ok(true)
                }
                None => Ok(true),
            }
        })();
        match step {
            Ok(true) => {}
            Ok(false) => break Ok(()),
            Err(error) => break Err(error),
        }
    };
    connection.leave();
    result
}

impl Connection {
    /// Writes what the session has to send.
    fn flush(&mut self) -> io::Result<()> {
        let mut output = lock(&self.output);
        while let Some(message) = self.session.poll_send() {
            output.send(&message)?;
        }
        Ok(())
    }

    fn handle_events(&mut self) -> io::Result<()> {
        while let Some(event) = self.session.poll_event() {
            let result = match event {
                SessionEvent::Connect(_) => self.session.accept_connect(),
                SessionEvent::Publish(request) => {
                    let mut streams = lock(&self.streams);
                    let stream = streams.entry(request.key.clone()).or_default();
                    if stream.publishing {
                        let refusal = Status::publish_bad_name(&request.key.name);
                        self.session.reject_publish(&request, refusal)
                    } else {
                        stream.publishing = true;
                        self.publishing = Some((request.stream_id, request.key.clone()));
                        self.session.accept_publish(&request)
                    }
                }
                SessionEvent::Play(request) => {
                    // Play.Start goes out before the first media.
                    self.session
                        .accept_play(&request)
                        .map_err(io::Error::other)?;
                    self.flush()?;
                    let mut streams = lock(&self.streams);
                    let stream = streams.entry(request.key.clone()).or_default();
                    let mut output = lock(&self.output);
                    for message in stream.headers.values().chain(&stream.gop) {
                        output.send(&on_stream(message, request.stream_id))?;
                    }
                    drop(output);
                    let player = (self.id, request.stream_id, self.output.clone());
                    stream.players.push(player);
                    Ok(())
                }
                SessionEvent::Media { stream_id, message } => {
                    if self
                        .publishing
                        .as_ref()
                        .is_some_and(|(id, _)| *id == stream_id)
                    {
                        self.share(message);
                    }
                    Ok(())
                }
                SessionEvent::StreamClosed { stream_id } => {
                    if self
                        .publishing
                        .as_ref()
                        .is_some_and(|(id, _)| *id == stream_id)
                    {
                        self.stop_publishing();
                    }
                    Ok(())
                }
                _ => Ok(()),
            };
            result.map_err(io::Error::other)?;
        }
        Ok(())
    }

    /// Keeps what joining players need, and writes the message to every player.
    fn share(&mut self, message: RawMessage) {
        let Some((_, key)) = &self.publishing else {
            return;
        };
        let mut streams = lock(&self.streams);
        let Some(stream) = streams.get_mut(key) else {
            return;
        };
        match message.type_id {
            type_id::VIDEO => match peek_video(&message.payload).0 {
                VideoKind::SequenceStart => {
                    stream.headers.insert(type_id::VIDEO, message.clone());
                }
                VideoKind::Keyframe => stream.gop = vec![message.clone()],
                _ => stream.gop.push(message.clone()),
            },
            type_id::AUDIO if peek_audio_sequence_start(&message.payload) => {
                stream.headers.insert(type_id::AUDIO, message.clone());
            }
            type_id::AUDIO => stream.gop.push(message.clone()),
            _ => {
                stream.headers.insert(message.type_id, message.clone());
            }
        }
        // A player whose socket refuses our writes for the write timeout is dropped.
        stream.players.retain(|(_, stream_id, output)| {
            lock(output).send(&on_stream(&message, *stream_id)).is_ok()
        });
    }

    fn stop_publishing(&mut self) {
        let Some((_, key)) = self.publishing.take() else {
            return;
        };
        let mut streams = lock(&self.streams);
        if let Some(stream) = streams.remove(&key) {
            // Players end with the stream (this server keeps no waiting players).
            for (_, _, output) in stream.players {
                let _ = lock(&output).socket.shutdown(Shutdown::Both);
            }
        }
    }

    /// Stops publishing and playing when the connection ends.
    fn leave(&mut self) {
        self.stop_publishing();
        for stream in lock(&self.streams).values_mut() {
            stream.players.retain(|(id, _, _)| *id != self.id);
        }
    }
}

/// `message` as a player on message stream `stream_id` receives it.
fn on_stream(message: &RawMessage, stream_id: u32) -> RawMessage {
    let chunk_stream_id = match message.type_id {
        type_id::AUDIO => chunk_stream::AUDIO,
        type_id::VIDEO => chunk_stream::VIDEO,
        _ => chunk_stream::STREAM,
    };
    RawMessage {
        chunk_stream_id,
        stream_id,
        ..message.clone()
    }
}
