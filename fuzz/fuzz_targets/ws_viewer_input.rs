//! A WebSocket-FLV viewer's side of its connection, arbitrary bytes, read by a server-side
//! WebSocket of the viewer listener's configuration (tungstenite 0.29, as axum has it) and
//! judged by its rule: the numbers and the rule are the listener's own
//! (`examples/server/ws_viewer.rs`), the harness the one of `examples/tests/ws_input.rs`
//! (`examples/tests/ws_harness`). The first 8 bytes seed the sizes of reads and how the
//! server writes FLV meanwhile. Nothing may panic, no data message get through, pings pass at
//! the rule's rate at most, and the heap the connection holds stays within its bound.
#![no_main]

#[path = "../../examples/server/ws_viewer.rs"]
mod ws_viewer;

#[path = "../../examples/tests/ws_harness/mod.rs"]
mod ws_harness;

use libfuzzer_sys::fuzz_target;
use tungstenite as ws_layer;

fuzz_target!(|data: &[u8]| ws_harness::fuzz_one(data));
