//! A cursor over `Bytes` that hands out zero-copy slices and checks every length.

use bytes::Bytes;

use crate::error::Error;

/// Reads big-endian fields from a `Bytes`, naming `what` in errors.
pub(crate) struct Reader<'a> {
    data: &'a Bytes,
    position: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a Bytes, what: &'static str) -> Self {
        Self {
            data,
            position: 0,
            what,
        }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.position)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    fn short(&self, len: usize) -> Error {
        Error::TooShort {
            what: self.what,
            needed: self.position + len,
            available: self.data.len(),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let bytes: [u8; N] = self
            .data
            .get(self.position..self.position + N)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| self.short(N))?;
        self.position += N;
        Ok(bytes)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Error> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    pub(crate) fn u16(&mut self) -> Result<u16, Error> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u24(&mut self) -> Result<u32, Error> {
        let [a, b, c] = self.array()?;
        Ok(u32::from_be_bytes([0, a, b, c]))
    }

    pub(crate) fn i24(&mut self) -> Result<i32, Error> {
        let value = self.u24()?;
        // Sign-extend from 24 bits.
        Ok(((value << 8) as i32) >> 8)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn fourcc(&mut self) -> Result<[u8; 4], Error> {
        self.array()
    }

    /// The next `len` bytes, without copying.
    pub(crate) fn take(&mut self, len: usize) -> Result<Bytes, Error> {
        if self.remaining() < len {
            return Err(self.short(len));
        }
        let slice = self.data.slice(self.position..self.position + len);
        self.position += len;
        Ok(slice)
    }

    /// Everything not read yet, without copying.
    pub(crate) fn rest(&mut self) -> Bytes {
        let len = self.remaining();
        let slice = self.data.slice(self.data.len() - len..);
        self.position = self.data.len();
        slice
    }
}
