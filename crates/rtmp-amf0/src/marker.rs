//! The AMF0 type markers: the first byte of every encoded value.

/// 0x00: number (f64, big-endian).
pub const NUMBER: u8 = 0x00;
/// 0x01: boolean (one byte, non-zero is true).
pub const BOOLEAN: u8 = 0x01;
/// 0x02: string with a u16 length.
pub const STRING: u8 = 0x02;
/// 0x03: anonymous object.
pub const OBJECT: u8 = 0x03;
/// 0x04: movie clip, reserved, never sent.
pub const MOVIECLIP: u8 = 0x04;
/// 0x05: null.
pub const NULL: u8 = 0x05;
/// 0x06: undefined.
pub const UNDEFINED: u8 = 0x06;
/// 0x07: reference (u16 index).
pub const REFERENCE: u8 = 0x07;
/// 0x08: ECMA array (u32 count hint, then properties).
pub const ECMA_ARRAY: u8 = 0x08;
/// 0x09: object end, after an empty property name.
pub const OBJECT_END: u8 = 0x09;
/// 0x0A: strict array (u32 count, then values).
pub const STRICT_ARRAY: u8 = 0x0A;
/// 0x0B: date (f64 milliseconds, i16 time zone).
pub const DATE: u8 = 0x0B;
/// 0x0C: string with a u32 length.
pub const LONG_STRING: u8 = 0x0C;
/// 0x0D: unsupported.
pub const UNSUPPORTED: u8 = 0x0D;
/// 0x0E: record set, reserved, never sent.
pub const RECORDSET: u8 = 0x0E;
/// 0x0F: XML document (u32 length).
pub const XML_DOCUMENT: u8 = 0x0F;
/// 0x10: typed object (class name, then properties).
pub const TYPED_OBJECT: u8 = 0x10;
/// 0x11: AVM+ switch: the value that follows is AMF3.
pub const AVMPLUS: u8 = 0x11;
