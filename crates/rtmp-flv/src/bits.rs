//! Bit-level reading for parameter sets and sequence headers: fixed-width fields, exp-Golomb
//! codes, and the removal of emulation prevention bytes.

use crate::error::Error;

/// Reads bits most-significant first, naming `what` in errors.
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits.
    position: usize,
    what: &'static str,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8], what: &'static str) -> Self {
        Self {
            data,
            position: 0,
            what,
        }
    }

    fn short(&self) -> Error {
        Error::TooShort {
            what: self.what,
            needed: self.position / 8 + 1,
            available: self.data.len(),
        }
    }

    pub(crate) fn bit(&mut self) -> Result<bool, Error> {
        let byte = *self
            .data
            .get(self.position / 8)
            .ok_or_else(|| self.short())?;
        let bit = (byte >> (7 - self.position % 8)) & 1;
        self.position += 1;
        Ok(bit == 1)
    }

    pub(crate) fn flag(&mut self) -> Result<bool, Error> {
        self.bit()
    }

    /// `count` bits (at most 32) as an unsigned number.
    pub(crate) fn bits(&mut self, count: u32) -> Result<u32, Error> {
        debug_assert!(count <= 32);
        let mut value = 0u64;
        for _ in 0..count {
            value = value << 1 | u64::from(self.bit()?);
        }
        Ok(value as u32)
    }

    pub(crate) fn skip(&mut self, count: usize) -> Result<(), Error> {
        if self.position + count > self.data.len() * 8 {
            return Err(self.short());
        }
        self.position += count;
        Ok(())
    }

    /// An unsigned exp-Golomb code, ue(v).
    pub(crate) fn ue(&mut self) -> Result<u32, Error> {
        let mut zeros = 0;
        while !self.bit()? {
            zeros += 1;
            if zeros > 31 {
                return Err(Error::Invalid {
                    what: self.what,
                    reason: "exp-Golomb code longer than 32 bits",
                });
            }
        }
        let rest = self.bits(zeros)?;
        Ok(((1u64 << zeros) - 1 + u64::from(rest)).min(u64::from(u32::MAX)) as u32)
    }

    /// A signed exp-Golomb code, se(v).
    pub(crate) fn se(&mut self) -> Result<i32, Error> {
        let code = i64::from(self.ue()?);
        let value = if code % 2 == 1 {
            (code + 1) / 2
        } else {
            -(code / 2)
        };
        Ok(value as i32)
    }

    /// An AV1 uvlc() code.
    pub(crate) fn uvlc(&mut self) -> Result<u32, Error> {
        let mut zeros = 0;
        while !self.bit()? {
            zeros += 1;
            if zeros >= 32 {
                return Ok(u32::MAX);
            }
        }
        let rest = self.bits(zeros)?;
        Ok(((1u64 << zeros) - 1 + u64::from(rest)).min(u64::from(u32::MAX)) as u32)
    }
}

/// The RBSP of a NAL unit payload: `00 00 03` becomes `00 00`.
pub(crate) fn unescape(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &byte in nal {
        if zeros >= 2 && byte == 3 {
            zeros = 0;
            continue;
        }
        zeros = if byte == 0 { zeros + 1 } else { 0 };
        out.push(byte);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb() {
        // 1 -> 0, 010 -> 1, 011 -> 2, 00100 -> 3, then se 00101 -> -2.
        let data = [0b1010_0110, 0b0100_0010, 0b1000_0000];
        let mut reader = BitReader::new(&data, "test");
        assert_eq!(reader.ue().unwrap(), 0);
        assert_eq!(reader.ue().unwrap(), 1);
        assert_eq!(reader.ue().unwrap(), 2);
        assert_eq!(reader.ue().unwrap(), 3);
        assert_eq!(reader.se().unwrap(), -2);
        assert!(BitReader::new(&[0, 0, 0, 0, 0], "test").ue().is_err());
    }

    #[test]
    fn emulation_prevention() {
        assert_eq!(unescape(&[0, 0, 3, 1, 0, 0, 3]), [0, 0, 1, 0, 0]);
        assert_eq!(unescape(&[0, 3, 0, 0, 3, 3]), [0, 3, 0, 0, 3]);
    }
}
