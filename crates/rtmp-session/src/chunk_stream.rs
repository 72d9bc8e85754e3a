//! The chunk streams a server sends on. A server that shares chunked media between its
//! players (rtmp-server's hub) chunks it on these, so that it lines up with what the session
//! sends.

/// Protocol control and user control.
pub const CONTROL: u32 = 2;
/// Commands on the connection (message stream 0).
pub const COMMAND: u32 = 3;
/// Status and data on a media stream.
pub const STREAM: u32 = 5;
/// Audio.
pub const AUDIO: u32 = 6;
/// Video.
pub const VIDEO: u32 = 7;
