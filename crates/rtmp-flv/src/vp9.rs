//! VP8 and VP9: the VPCodecConfigurationRecord (`vpcC`), the sequence start of `vp09` and
//! `vp08` in Enhanced RTMP.

use bytes::Bytes;

use crate::bits::BitReader;
use crate::error::{Error, invalid};
use crate::read::Reader;

/// The VPCodecConfigurationRecord (version 1 of the VP codec ISOBMFF binding). Encoders send
/// it with the box's version and flags first (ffmpeg does); the bare record is read too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcConfig {
    /// The profile (0 to 3).
    pub profile: u8,
    /// The level, as ten times the level number (e.g. 31 for level 3.1).
    pub level: u8,
    /// Bits per sample (8, 10 or 12).
    pub bit_depth: u8,
    /// 0 4:2:0 vertical, 1 4:2:0 colocated, 2 4:2:2, 3 4:4:4.
    pub chroma_subsampling: u8,
    /// Full-range (rather than limited-range) samples.
    pub full_range: bool,
    /// ISO/IEC 23091-2 colour primaries.
    pub colour_primaries: u8,
    /// ISO/IEC 23091-2 transfer characteristics.
    pub transfer_characteristics: u8,
    /// ISO/IEC 23091-2 matrix coefficients.
    pub matrix_coefficients: u8,
    /// Codec initialization data (none for VP8 and VP9).
    pub codec_initialization_data: Bytes,
}

impl VpcConfig {
    /// Parses a record, with or without the box's version (1) and flags (0) before it.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use rtmp_flv::vp9::VpcConfig;
    ///
    /// // As ffmpeg sends it for 8-bit 4:2:0 VP9 at level 2: version 1, flags 0, then the record.
    /// let data = Bytes::from_static(&[1, 0, 0, 0, 0, 20, 0x82, 2, 2, 2, 0, 0]);
    /// let config = VpcConfig::parse(&data).unwrap();
    /// assert_eq!((config.profile, config.level, config.bit_depth), (0, 20, 8));
    /// assert_eq!(config.chroma_subsampling, 1);
    /// ```
    pub fn parse(data: &Bytes) -> Result<Self, Error> {
        let mut reader = Reader::new(data, "VPCodecConfigurationRecord");
        // The box header: version 1 and zero flags. A bare record's second byte is a level,
        // never 0 (level 0 is not defined).
        if data.len() >= 12 && data.get(..4) == Some(&[1, 0, 0, 0]) {
            reader.take(4)?;
        }
        let profile = reader.u8()?;
        let level = reader.u8()?;
        let packed = reader.u8()?;
        let mut bits = BitReader::new(std::slice::from_ref(&packed), "VPCodecConfigurationRecord");
        let bit_depth = bits.bits(4)? as u8;
        let chroma_subsampling = bits.bits(3)? as u8;
        let full_range = bits.flag()?;
        if !matches!(bit_depth, 8 | 10 | 12) {
            return Err(invalid(
                "VPCodecConfigurationRecord",
                "bit depth is not 8, 10 or 12",
            ));
        }
        let colour_primaries = reader.u8()?;
        let transfer_characteristics = reader.u8()?;
        let matrix_coefficients = reader.u8()?;
        let size = usize::from(reader.u16()?);
        let codec_initialization_data = reader.take(size)?;
        Ok(Self {
            profile,
            level,
            bit_depth,
            chroma_subsampling,
            full_range,
            colour_primaries,
            transfer_characteristics,
            matrix_coefficients,
            codec_initialization_data,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_bare_record_reads_too_and_bad_ones_are_errors() {
        let bare = Bytes::from_static(&[2, 31, 0xA4, 1, 1, 1, 0, 1, 9]);
        let config = VpcConfig::parse(&bare).unwrap();
        assert_eq!(
            (config.profile, config.level, config.bit_depth),
            (2, 31, 10)
        );
        assert_eq!((config.chroma_subsampling, config.full_range), (2, false));
        assert_eq!(&config.codec_initialization_data[..], &[9]);
        assert!(VpcConfig::parse(&Bytes::from_static(&[0, 20, 0x72, 2, 2, 2, 0, 0])).is_err());
        assert!(VpcConfig::parse(&Bytes::from_static(&[0, 20, 0x82, 2, 2, 2, 0, 5])).is_err());
        assert!(VpcConfig::parse(&Bytes::new()).is_err());
    }
}
