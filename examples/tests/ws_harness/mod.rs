//! What the WebSocket tests share with the fuzz target `ws_viewer_input`: a server-side
//! WebSocket of the viewer listener's configuration (the numbers and the rule of
//! `examples/server/ws_viewer.rs`, which the including crate declares as `ws_viewer`) fed a
//! viewer's bytes, as the listener's `send_frames` is, with a counting global allocator that
//! measures the heap the connection holds. The including crate names its tungstenite
//! `ws_layer` (0.28 through tokio-tungstenite in the tests, 0.29 as axum has it in the fuzz
//! target: their frame and message code is the same).

#![allow(unsafe_code)] // the counting allocator
#![allow(dead_code)] // each including crate uses a part

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{ErrorKind, Read, Write};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::ws_layer::protocol::frame::coding::CloseCode;
use crate::ws_layer::protocol::{CloseFrame, Role, WebSocket, WebSocketConfig};
use crate::ws_layer::{Error, Message};
use crate::ws_viewer::{self, Rule, Sent, Verdict};

/// The system allocator, counting the bytes each thread holds.
struct Counting;

thread_local! {
    /// Bytes this thread allocated and did not free (what another thread frees of them is
    /// not seen: measurements take differences on one thread).
    static HELD: Cell<isize> = const { Cell::new(0) };
    /// The most `HELD` was since [`start_peak`].
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn count(change: isize) {
    let _ = HELD.try_with(|held| {
        let now = held.get().wrapping_add(change);
        held.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn signed(size: usize) -> isize {
    isize::try_from(size).unwrap_or(isize::MAX)
}

// SAFETY: every call goes to the system allocator unchanged; the counting touches only
// thread-local cells that allocate nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout, as given.
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            count(signed(layout.size()));
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout, as given.
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            count(signed(layout.size()));
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: the caller's pointer and layout, as given.
        unsafe { System.dealloc(pointer, layout) };
        count(-signed(layout.size()));
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's pointer, layout and size, as given.
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            count(signed(new_size) - signed(layout.size()));
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Starts measuring this thread's peak: what it holds now.
pub fn start_peak() -> isize {
    let held = HELD.with(Cell::get);
    PEAK.with(|peak| peak.set(held));
    held
}

/// The most this thread held since [`start_peak`] returned `base`, above `base`.
pub fn peak_above(base: isize) -> usize {
    usize::try_from(PEAK.with(Cell::get) - base).unwrap_or(0)
}

/// The viewer listener's WebSocket configuration, from the same numbers.
pub fn listener_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(ws_viewer::READ_BUFFER)
        .write_buffer_size(ws_viewer::WRITE_BUFFER)
        .max_write_buffer_size(ws_viewer::MAX_WRITE_BUFFER)
        .max_frame_size(Some(ws_viewer::MAX_FRAME))
        .max_message_size(Some(ws_viewer::MAX_MESSAGE))
}

/// A small, seedable generator (SplitMix64).
pub struct Random(pub u64);

impl Random {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    pub fn size(&mut self, bound: usize) -> usize {
        self.below(bound as u64) as usize
    }

    /// True once in `times`.
    pub fn one_in(&mut self, times: u64) -> bool {
        self.below(times) == 0
    }

    pub fn bytes(&mut self, len: usize, out: &mut Vec<u8>) {
        out.extend((0..len).map(|_| self.next() as u8));
    }
}

/// A client frame: the header as given (any opcode, flags, length form and mask), then
/// `payload` bytes (which need not be the length announced).
pub fn frame(first: u8, masked: bool, announced: u64, form: u8, payload: &[u8]) -> Vec<u8> {
    let mask_bit = if masked { 0x80 } else { 0 };
    let mut out = vec![first];
    match form {
        0 if announced <= 125 => out.push(mask_bit | announced as u8),
        1 if announced <= 0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(announced as u16).to_be_bytes());
        }
        _ => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&announced.to_be_bytes());
        }
    }
    if masked {
        out.extend_from_slice(&[0xA5, 0x0F, 0x3C, 0x96]);
    }
    out.extend_from_slice(payload);
    out
}

/// A well-formed masked frame with the shortest length form.
pub fn plain(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let form = match payload.len() {
        0..=125 => 0,
        126..=0xFFFF => 1,
        _ => 2,
    };
    frame(
        (u8::from(fin) << 7) | opcode,
        true,
        payload.len() as u64,
        form,
        payload,
    )
}

/// Random bytes a viewer might send, up to about `budget` bytes.
pub fn hostile_input(random: &mut Random, budget: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut scratch = Vec::new();
    while out.len() < budget {
        scratch.clear();
        match random.below(12) {
            // Garbage.
            0 => {
                let len = random.size(512) + 1;
                random.bytes(len, &mut out);
            }
            // A ping or pong flood.
            1 => {
                let opcode = if random.one_in(2) { 0x9 } else { 0xA };
                let one = plain(opcode, true, b"flood");
                for _ in 0..random.size(2000) + 1 {
                    out.extend_from_slice(&one);
                }
            }
            // A message of empty fragments that goes on and on.
            2 => {
                out.extend(plain(0x2, false, b""));
                let one = plain(0x0, false, b"");
                for _ in 0..random.size(20_000) + 1 {
                    out.extend_from_slice(&one);
                }
            }
            // A fragmented message of many frames that carry bytes.
            3 => {
                let len = random.size(126);
                random.bytes(len, &mut scratch);
                out.extend(plain(0x1 + random.below(2) as u8, false, &scratch));
                for _ in 0..random.size(2000) + 1 {
                    out.extend(plain(0x0, random.one_in(500), &scratch));
                }
            }
            // A header announcing much, then as much of it as the budget allows.
            4 => {
                let announced = match random.below(3) {
                    0 => 126 + random.below(0xFFFF),
                    1 => random.below(1 << 40),
                    _ => random.next(),
                };
                let first = (random.below(2) as u8) << 7 | random.below(16) as u8;
                let len = random.size(budget.saturating_sub(out.len()) + 1);
                random.bytes(len, &mut scratch);
                out.extend(frame(
                    first,
                    true,
                    announced,
                    1 + random.below(2) as u8,
                    &scratch,
                ));
            }
            // A close, with any code and reason.
            5 => {
                let code = match random.below(3) {
                    0 => 1000u16,
                    1 => random.below(5000) as u16,
                    _ => random.next() as u16,
                };
                scratch.extend_from_slice(&code.to_be_bytes());
                let len = random.size(124);
                random.bytes(len, &mut scratch);
                let len = if random.one_in(4) { 1 } else { scratch.len() };
                out.extend(plain(0x8, true, &scratch[..len]));
            }
            // Any frame at all: every opcode and flag, masked or not, any length form.
            _ => {
                let first = random.next() as u8;
                let masked = !random.one_in(8);
                let len = match random.below(4) {
                    0 => 0,
                    1 | 2 => random.size(126),
                    _ => random.size(70_000),
                };
                random.bytes(len, &mut scratch);
                let announced = if random.one_in(10) {
                    random.next() >> random.below(64)
                } else {
                    len as u64
                };
                out.extend(frame(
                    first,
                    masked,
                    announced,
                    random.below(3) as u8,
                    &scratch,
                ));
            }
        }
    }
    out
}

/// What a viewer may send for as long as it likes, about `budget` bytes of it: pings and
/// pongs of any payload (at the rule's pace, which the caller keeps), and empty fragments of a
/// message that never ends.
pub fn tolerated_input(random: &mut Random, budget: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut scratch = Vec::new();
    let mut in_message = false;
    while out.len() < budget {
        scratch.clear();
        if random.one_in(3) {
            if !in_message {
                out.extend(plain(0x1 + random.below(2) as u8, false, b""));
                in_message = true;
            }
            for _ in 0..random.size(100) + 1 {
                out.extend(plain(0x0, false, b""));
            }
        } else {
            let len = random.size(126);
            random.bytes(len, &mut scratch);
            let opcode = if random.one_in(2) { 0x9 } else { 0xA };
            // Any length form: the longer ones are allowed for short payloads too.
            out.extend(frame(
                0x80 | opcode,
                true,
                len as u64,
                random.below(3) as u8,
                &scratch,
            ));
        }
    }
    out
}

/// The viewer's socket: it gives `input` in reads of any size, then would block; it takes
/// what the server writes (counting it), slowly when `slow`.
struct Viewer<'a> {
    input: &'a [u8],
    random: Random,
    slow: bool,
    written: u64,
}

impl Read for Viewer<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.input.is_empty() {
            return Err(ErrorKind::WouldBlock.into());
        }
        let len = (self.random.size(9000) + 1)
            .min(buf.len())
            .min(self.input.len());
        let (now, rest) = self.input.split_at(len);
        buf[..len].copy_from_slice(now);
        self.input = rest;
        Ok(len)
    }
}

impl Write for Viewer<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.slow && self.random.one_in(3) {
            return Err(ErrorKind::WouldBlock.into());
        }
        let len = if self.slow {
            (self.random.size(16 << 10) + 1).min(buf.len())
        } else {
            buf.len()
        };
        self.written += len as u64;
        Ok(len)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What one connection came to.
#[derive(Debug, Default)]
pub struct Run {
    /// The most the connection held on the heap, above what was held before it began.
    pub peak: usize,
    /// Pings and pongs the rule let pass.
    pub controls: u32,
    /// How long the viewer was connected, in the rule's time.
    pub elapsed: Duration,
    /// Bytes of the input the connection read.
    pub consumed: usize,
    /// How it ended: refused (and why), closed, or the input ran out.
    pub ending: String,
}

/// An FLV tag the server writes: a slice of one buffer, as the listener's tags are shared by
/// every viewer (so that the tags themselves are not counted in a connection's heap).
fn tag(random: &mut Random) -> Bytes {
    static TAGS: OnceLock<Bytes> = OnceLock::new();
    let tags = TAGS.get_or_init(|| Bytes::from(vec![0x09; 600 << 10]));
    let len = match random.below(4) {
        0 => random.size(600 << 10) + 1,
        _ => random.size(2000) + 1,
    };
    tags.slice(..len)
}

/// The server's side of the connection, as the listener's `send_frames`: ticks of FLV tags in
/// pieces (when `writing`), and every message of the viewer judged by the rule.
pub fn serve(
    input: &[u8],
    config: WebSocketConfig,
    writing: bool,
    pace: Duration,
    random: &mut Random,
) -> Run {
    let _ = tag(random);
    let base = start_peak();
    let viewer = Viewer {
        input,
        random: Random(random.next()),
        slow: random.one_in(2),
        written: 0,
    };
    let mut socket = WebSocket::from_raw_socket(viewer, Role::Server, Some(config));
    let start = Instant::now();
    let mut now = start;
    let mut rule = Rule::new(now);
    let mut run = Run::default();
    // Whether the sink may queue (after a write that would block, it flushes first).
    let mut ready = true;
    let verdict = 'connection: loop {
        if writing && random.one_in(3) {
            for _ in 0..random.size(4) + 1 {
                let mut tag = tag(random);
                while !tag.is_empty() {
                    let piece = tag.split_to(tag.len().min(ws_viewer::PIECE));
                    while !ready {
                        match socket.flush() {
                            Ok(()) => ready = true,
                            Err(Error::Io(error)) if error.kind() == ErrorKind::WouldBlock => {}
                            Err(_) => break 'connection None,
                        }
                    }
                    match socket.write(Message::Binary(piece)) {
                        Ok(()) => {}
                        Err(Error::Io(error)) if error.kind() == ErrorKind::WouldBlock => {
                            ready = false;
                        }
                        Err(Error::WriteBufferFull(_)) => {
                            panic!("the server's own message does not fit its write buffer")
                        }
                        Err(_) => break 'connection None,
                    }
                }
            }
            match socket.flush() {
                Ok(()) => ready = true,
                Err(Error::Io(error)) if error.kind() == ErrorKind::WouldBlock => ready = false,
                Err(_) => break 'connection None,
            }
        }
        now += pace + Duration::from_micros(random.below(20_000));
        let sent = match socket.read() {
            Ok(Message::Ping(_)) => Sent::Ping,
            Ok(Message::Pong(_)) => Sent::Pong,
            Ok(Message::Close(_)) => Sent::Close,
            Ok(Message::Text(text)) => {
                assert!(text.is_empty(), "a text message of {} bytes", text.len());
                Sent::Data
            }
            Ok(Message::Binary(data)) => {
                assert!(data.is_empty(), "a binary message of {} bytes", data.len());
                Sent::Data
            }
            Ok(Message::Frame(_)) => unreachable!("raw frames are not read"),
            Err(Error::Io(error)) if error.kind() == ErrorKind::WouldBlock => {
                run.ending = "the input ran out".into();
                break None;
            }
            Err(Error::ConnectionClosed | Error::AlreadyClosed) => Sent::Close,
            Err(_) => Sent::Data,
        };
        match rule.judge(sent, now) {
            Verdict::Watching => run.controls += 1,
            Verdict::Closed => break Some(Verdict::Closed),
            refused @ Verdict::Refused(_) => break Some(refused),
        }
    };
    if let Some(Verdict::Refused(reason)) = verdict {
        let close = CloseFrame {
            code: CloseCode::Policy,
            reason: reason.into(),
        };
        // A viewer that does not read it loses it, as on the listener.
        let _ = socket.close(Some(close));
        run.ending = format!("refused: {reason}");
    } else if let Some(verdict) = verdict {
        run.ending = format!("{verdict:?}");
    }
    run.elapsed = now - start;
    run.consumed = input.len() - socket.get_ref().input.len();
    run.peak = peak_above(base);
    drop(socket);
    run
}

/// The heap a connection may hold, whatever the viewer sends: the read buffer (grown at most
/// once, for a frame header after a partial one), the write buffer (a vector that may double
/// past its cap once), and the WebSocket itself.
pub const HELD_BOUND: usize =
    4 * ws_viewer::READ_BUFFER + 2 * ws_viewer::MAX_WRITE_BUFFER + (8 << 10);

/// The same, when the server writes nothing.
pub const HELD_BOUND_READING: usize = 4 * ws_viewer::READ_BUFFER + (8 << 10);

/// Checks what one connection came to: its heap within the bound, its pings and pongs within
/// the rule's rate. `what` names the case in a failure.
pub fn check(run: &Run, writing: bool, what: &str) {
    let bound = if writing {
        HELD_BOUND
    } else {
        HELD_BOUND_READING
    };
    assert!(
        run.peak <= bound,
        "{what}: {} bytes read held {} bytes at most (bound {bound}): {run:?}",
        run.consumed,
        run.peak
    );
    // The rule's rate: the burst, then one an interval.
    let interval = Duration::from_secs(1) / ws_viewer::CONTROL_RATE;
    let allowed =
        u128::from(ws_viewer::CONTROL_BURST) + run.elapsed.as_nanos() / interval.as_nanos();
    assert!(
        u128::from(run.controls) <= allowed,
        "{what}: {} pings and pongs in {:?}",
        run.controls,
        run.elapsed
    );
}

/// One input of the fuzz target: its first 8 bytes seed the choices (reads' sizes, whether
/// the server writes and how slowly the viewer takes it, the viewer's pace), the rest is
/// what the viewer sends.
pub fn fuzz_one(data: &[u8]) {
    let (seed, input) = data.split_at(data.len().min(8));
    let mut seed_bytes = [0u8; 8];
    seed_bytes[..seed.len()].copy_from_slice(seed);
    let mut random = Random(u64::from_le_bytes(seed_bytes));
    let writing = !random.one_in(4);
    let pace = if random.one_in(2) {
        Duration::from_secs(1) / ws_viewer::CONTROL_RATE
    } else {
        Duration::ZERO
    };
    let run = serve(input, listener_config(), writing, pace, &mut random);
    check(&run, writing, "fuzz input");
}
