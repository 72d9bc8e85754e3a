//! FLAC: the STREAMINFO metadata block, the sequence start of `fLaC` in Enhanced RTMP.

use bytes::Bytes;

use crate::bits::BitReader;
use crate::error::{Error, invalid};

/// The length of a STREAMINFO block.
const STREAMINFO_LEN: usize = 34;

/// FLAC's STREAMINFO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlacStreamInfo {
    /// The smallest block, in samples.
    pub min_block_size: u16,
    /// The largest block, in samples.
    pub max_block_size: u16,
    /// The smallest frame in bytes (0 unknown).
    pub min_frame_size: u32,
    /// The largest frame in bytes (0 unknown).
    pub max_frame_size: u32,
    /// Samples per second.
    pub sample_rate: u32,
    /// Channels (1 to 8).
    pub channels: u8,
    /// Bits per sample (4 to 32).
    pub bits_per_sample: u8,
    /// Samples per channel in the stream (0 unknown, as for live streams).
    pub total_samples: u64,
    /// The MD5 of the decoded audio (zeros when not computed).
    pub md5: [u8; 16],
}

impl FlacStreamInfo {
    /// Parses the sequence start of FLAC in any of the forms senders use: the 34-byte
    /// STREAMINFO alone (ffmpeg), or FLAC metadata blocks with or without the `fLaC` marker
    /// before them (STREAMINFO first, as FLAC requires).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use rtmp_flv::flac::FlacStreamInfo;
    ///
    /// // As ffmpeg sends it: 44.1 kHz mono 16-bit.
    /// let mut data = vec![0x04, 0x00, 0x04, 0x00, 0, 0, 0, 0, 0x08, 0x15, 0x0A, 0xC4, 0x40, 0xF0];
    /// data.resize(34, 0);
    /// let info = FlacStreamInfo::parse(&Bytes::from(data)).unwrap();
    /// assert_eq!((info.sample_rate, info.channels, info.bits_per_sample), (44_100, 1, 16));
    /// ```
    pub fn parse(data: &Bytes) -> Result<Self, Error> {
        const WHAT: &str = "FLAC STREAMINFO";
        let blocks = data.strip_prefix(b"fLaC").unwrap_or(data);
        let block = if blocks.len() == STREAMINFO_LEN {
            blocks
        } else {
            // A metadata block header: last-block flag and type 0, then a 24-bit length.
            let header: [u8; 4] = blocks
                .get(..4)
                .and_then(|header| header.try_into().ok())
                .ok_or(Error::TooShort {
                    what: WHAT,
                    needed: 4,
                    available: blocks.len(),
                })?;
            let [kind, high, middle, low] = header;
            let length = u32::from_be_bytes([0, high, middle, low]) as usize;
            if kind & 0x7F != 0 || length != STREAMINFO_LEN {
                return Err(invalid(
                    WHAT,
                    "the first metadata block is not a STREAMINFO",
                ));
            }
            blocks.get(4..4 + STREAMINFO_LEN).ok_or(Error::TooShort {
                what: WHAT,
                needed: 4 + STREAMINFO_LEN,
                available: blocks.len(),
            })?
        };
        let mut bits = BitReader::new(block, WHAT);
        let min_block_size = bits.bits(16)? as u16;
        let max_block_size = bits.bits(16)? as u16;
        let min_frame_size = bits.bits(24)?;
        let max_frame_size = bits.bits(24)?;
        let sample_rate = bits.bits(20)?;
        let channels = bits.bits(3)? as u8 + 1;
        let bits_per_sample = bits.bits(5)? as u8 + 1;
        let total_samples = u64::from(bits.bits(4)?) << 32 | u64::from(bits.bits(32)?);
        if sample_rate == 0 || bits_per_sample < 4 {
            return Err(invalid(
                WHAT,
                "no sample rate, or fewer than 4 bits per sample",
            ));
        }
        let mut md5 = [0; 16];
        md5.copy_from_slice(block.get(18..34).unwrap_or(&[0; 16]));
        Ok(Self {
            min_block_size,
            max_block_size,
            min_frame_size,
            max_frame_size,
            sample_rate,
            channels,
            bits_per_sample,
            total_samples,
            md5,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn streaminfo() -> Vec<u8> {
        // 4608-sample blocks, 48 kHz, stereo, 24 bits, 1000 samples.
        let mut block = vec![
            0x12, 0x00, 0x12, 0x00, 0, 0, 0, 0, 0, 0, 0x0B, 0xB8, 0x03, 0x70,
        ];
        block.extend_from_slice(&[0, 0, 0x03, 0xE8]);
        block.resize(34, 0xAB);
        block
    }

    #[test]
    fn every_form_reads_and_bad_blocks_are_errors() {
        let bare = FlacStreamInfo::parse(&Bytes::from(streaminfo())).unwrap();
        assert_eq!(
            (bare.sample_rate, bare.channels, bare.bits_per_sample),
            (48_000, 2, 24)
        );
        assert_eq!((bare.max_block_size, bare.total_samples), (4608, 1000));
        assert_eq!(bare.md5, [0xAB; 16]);
        let mut framed = b"fLaC\x80\x00\x00\x22".to_vec();
        framed.extend(streaminfo());
        assert_eq!(
            FlacStreamInfo::parse(&Bytes::from(framed.clone())).unwrap(),
            bare
        );
        assert_eq!(
            FlacStreamInfo::parse(&Bytes::from(framed[4..].to_vec())).unwrap(),
            bare
        );
        let mut other_block_first = framed.clone();
        other_block_first[4] = 0x84;
        assert!(FlacStreamInfo::parse(&Bytes::from(other_block_first)).is_err());
        assert!(FlacStreamInfo::parse(&Bytes::from(framed[..20].to_vec())).is_err());
        assert!(
            FlacStreamInfo::parse(&Bytes::from(vec![0; 34])).is_err(),
            "no sample rate"
        );
    }
}
