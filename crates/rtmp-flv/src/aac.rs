//! AAC: the AudioSpecificConfig of the sequence start.

use bytes::Bytes;

use crate::bits::BitReader;
use crate::error::{Error, invalid};

/// The sampling frequencies of indexes 0..=12.
pub const SAMPLING_FREQUENCIES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// The fields of an AudioSpecificConfig that say what the stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioSpecificConfig {
    /// audioObjectType (2 AAC LC, 5 SBR, 29 PS, ...).
    pub object_type: u8,
    /// The sampling frequency in Hz (from the index table, or the explicit 24-bit value).
    pub sampling_frequency: u32,
    /// channelConfiguration (1 mono, 2 stereo, ... 0 defined in the program config element).
    pub channel_configuration: u8,
}

impl AudioSpecificConfig {
    /// Parses the start of an AudioSpecificConfig (what follows the channel configuration is
    /// not read).
    pub fn parse(data: &[u8]) -> Result<Self, Error> {
        let mut bits = BitReader::new(data, "AudioSpecificConfig");
        let mut object_type = bits.bits(5)?;
        if object_type == 31 {
            object_type = 32 + bits.bits(6)?;
        }
        let index = bits.bits(4)? as usize;
        let sampling_frequency = match index {
            15 => bits.bits(24)?,
            _ => *SAMPLING_FREQUENCIES.get(index).ok_or(invalid(
                "AudioSpecificConfig",
                "reserved sampling frequency index",
            ))?,
        };
        let channel_configuration = bits.bits(4)? as u8;
        Ok(Self {
            object_type: object_type as u8,
            sampling_frequency,
            channel_configuration,
        })
    }

    /// Writes the core config with a GASpecificConfig of zero flags (1024-sample frames, no
    /// core coder, no extension), as encoders write it for AAC LC. Extension signalling that
    /// some encoders append (ffmpeg's SBR sync extension) is not written; to forward a config
    /// unchanged, keep its original bytes. A frequency in the table is
    /// written by its index, any other as the explicit 24-bit value.
    pub fn to_bytes(&self) -> Bytes {
        let mut bits: Vec<(u32, u32)> = Vec::new();
        if self.object_type >= 31 {
            bits.push((31, 5));
            bits.push((u32::from(self.object_type - 32) & 0x3F, 6));
        } else {
            bits.push((u32::from(self.object_type), 5));
        }
        match SAMPLING_FREQUENCIES
            .iter()
            .position(|&f| f == self.sampling_frequency)
        {
            Some(index) => bits.push((index as u32, 4)),
            None => {
                bits.push((15, 4));
                bits.push((self.sampling_frequency & 0xFF_FFFF, 24));
            }
        }
        bits.push((u32::from(self.channel_configuration & 0x0F), 4));
        bits.push((0, 3));
        let mut out = Vec::new();
        let (mut accumulator, mut filled) = (0u64, 0u32);
        for (value, width) in bits {
            accumulator = accumulator << width | u64::from(value);
            filled += width;
            while filled >= 8 {
                filled -= 8;
                out.push((accumulator >> filled) as u8);
            }
        }
        if filled > 0 {
            out.push((accumulator << (8 - filled)) as u8);
        }
        Bytes::from(out)
    }
}
