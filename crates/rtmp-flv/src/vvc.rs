//! H.266/VVC: the VvcDecoderConfigurationRecord (`vvcC`, ISO/IEC 14496-15), the sequence
//! start of `vvc1` in Enhanced RTMP.

use bytes::Bytes;

use crate::bits::BitReader;
use crate::error::{Error, invalid};
use crate::read::Reader;

/// NAL unit types whose arrays carry no count (one unit each).
const DCI_NUT: u8 = 13;
const OPI_NUT: u8 = 12;

/// The most NAL unit arrays and units per array read (real records hold a handful).
const MAX_ARRAYS: usize = 64;

/// The profile, tier and level part of the record, with the picture size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VvcPtl {
    /// ols_idx: the output layer set the record describes.
    pub ols_idx: u16,
    /// num_sublayers (1 to 7).
    pub num_sublayers: u8,
    /// constant_frame_rate (0 unknown, 1 constant, 2 constant per layer).
    pub constant_frame_rate: u8,
    /// chroma_format_idc (0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4).
    pub chroma_format_idc: u8,
    /// Bits per sample.
    pub bit_depth: u8,
    /// general_profile_idc (1 Main 10, 2 Main 10 4:4:4, ...).
    pub profile_idc: u8,
    /// general_tier_flag: the High tier.
    pub high_tier: bool,
    /// general_level_idc: sixteen times the major level plus three times the minor (32 is
    /// level 2, 51 is level 3.1).
    pub level_idc: u8,
    /// general_sub_profile_idc values.
    pub sub_profiles: Vec<u32>,
    /// max_picture_width in luma samples.
    pub max_picture_width: u16,
    /// max_picture_height in luma samples.
    pub max_picture_height: u16,
    /// avg_frame_rate in frames per 256 seconds (0 unknown).
    pub avg_frame_rate: u16,
}

/// The VvcDecoderConfigurationRecord.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VvcConfig {
    /// Bytes of each NAL unit's length prefix (1, 2 or 4).
    pub length_size: u8,
    /// Profile, tier, level and picture size, when present.
    pub ptl: Option<VvcPtl>,
    /// The parameter sets and SEI: (NAL unit type, units).
    pub arrays: Vec<(u8, Vec<Bytes>)>,
}

impl VvcConfig {
    /// Parses a record (a box version and flags before it, all zero, are skipped).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use rtmp_flv::vvc::VvcConfig;
    ///
    /// // 4-byte lengths and a PTL: one sub-layer, 4:2:0, 10 bits; Main 10 at level 2
    /// // (level_idc 32), one byte of constraint info; 320 x 240; then one array with one SPS.
    /// let data = Bytes::from_static(&[
    ///     0xFF, 0x00, 0x15, 0x5F, 0x01, 0x02, 0x20, 0x80, 0x00, 0x01, 0x40, 0x00, 0xF0,
    ///     0x00, 0x00, 0x01, 0x8F, 0x00, 0x01, 0x00, 0x02, 0xAA, 0xBB,
    /// ]);
    /// let config = VvcConfig::parse(&data).unwrap();
    /// let ptl = config.ptl.unwrap();
    /// assert_eq!((ptl.max_picture_width, ptl.max_picture_height), (320, 240));
    /// assert_eq!((ptl.profile_idc, ptl.level_idc, ptl.bit_depth), (1, 32, 10));
    /// assert_eq!(config.arrays, [(15, vec![Bytes::from_static(&[0xAA, 0xBB])])]);
    /// ```
    pub fn parse(data: &Bytes) -> Result<Self, Error> {
        const WHAT: &str = "VvcDecoderConfigurationRecord";
        let mut reader = Reader::new(data, WHAT);
        if data.get(..4) == Some(&[0, 0, 0, 0]) {
            reader.take(4)?;
        }
        let first = reader.u8()?;
        if first >> 3 != 0x1F {
            return Err(invalid(WHAT, "reserved bits are not all ones"));
        }
        let length_size = ((first >> 1) & 0x03) + 1;
        if length_size == 3 {
            return Err(invalid(WHAT, "NAL unit lengths of 3 bytes"));
        }
        let ptl = if first & 1 == 1 {
            Some(read_ptl(&mut reader)?)
        } else {
            None
        };
        let count = usize::from(reader.u8()?);
        if count > MAX_ARRAYS {
            return Err(invalid(WHAT, "too many NAL unit arrays"));
        }
        let mut arrays = Vec::with_capacity(count);
        for _ in 0..count {
            let nal_type = reader.u8()? & 0x1F;
            let units = if nal_type == DCI_NUT || nal_type == OPI_NUT {
                1
            } else {
                usize::from(reader.u16()?)
            };
            // Each unit takes at least its two length bytes.
            if units * 2 > reader.remaining() {
                return Err(invalid(WHAT, "more NAL units than bytes"));
            }
            let mut nals = Vec::with_capacity(units);
            for _ in 0..units {
                let len = usize::from(reader.u16()?);
                nals.push(reader.take(len)?);
            }
            arrays.push((nal_type, nals));
        }
        Ok(Self {
            length_size,
            ptl,
            arrays,
        })
    }
}

/// The PTL fields after the first byte, through avg_frame_rate.
fn read_ptl(reader: &mut Reader<'_>) -> Result<VvcPtl, Error> {
    const WHAT: &str = "VvcPTLRecord";
    let head = reader.take(3)?;
    let mut bits = BitReader::new(&head, WHAT);
    let ols_idx = bits.bits(9)? as u16;
    let num_sublayers = bits.bits(3)? as u8;
    let constant_frame_rate = bits.bits(2)? as u8;
    let chroma_format_idc = bits.bits(2)? as u8;
    let bit_depth = bits.bits(3)? as u8 + 8;
    if num_sublayers == 0 {
        return Err(invalid(WHAT, "no sub-layer"));
    }
    let constraint_bytes = usize::from(reader.u8()? & 0x3F);
    let profile_tier = reader.u8()?;
    let level_idc = reader.u8()?;
    // Two flags and the constraint info fill `constraint_bytes` bytes.
    if constraint_bytes == 0 {
        return Err(invalid(WHAT, "no constraint info byte"));
    }
    reader.take(constraint_bytes)?;
    let mut present = Vec::new();
    if num_sublayers > 1 {
        // num_sublayers - 1 presence flags, padded with zeros to a byte.
        let flags = reader.u8()?;
        for i in 0..(num_sublayers - 1) {
            present.push(flags & (0x80 >> i) != 0);
        }
    }
    for _ in present.iter().filter(|present| **present) {
        reader.u8()?;
    }
    let sub_profile_count = reader.u8()?;
    let sub_profiles = (0..sub_profile_count)
        .map(|_| reader.u32())
        .collect::<Result<_, _>>()?;
    Ok(VvcPtl {
        ols_idx,
        num_sublayers,
        constant_frame_rate,
        chroma_format_idc,
        bit_depth,
        profile_idc: profile_tier >> 1,
        high_tier: profile_tier & 1 == 1,
        level_idc,
        sub_profiles,
        max_picture_width: reader.u16()?,
        max_picture_height: reader.u16()?,
        avg_frame_rate: reader.u16()?,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The record ffmpeg 9 (libvvenc) wrote for 320x240 Main 10, up to the first array.
    #[test]
    fn a_record_from_ffmpeg_with_six_sub_layers() {
        let mut data = vec![
            0xFF, 0x00, 0x65, 0x5F, 0x01, 0x02, 0x20, 0x80, 0x00, 0x00, 0x01, 0x40, 0x00, 0xF0,
            0x00, 0x00, 0x01, 0x8F, 0x00, 0x01, 0x00, 0x03,
        ];
        data.extend_from_slice(&[0x00, 0x79, 0x00]);
        let config = VvcConfig::parse(&Bytes::from(data)).unwrap();
        let ptl = config.ptl.unwrap();
        assert_eq!(
            (ptl.num_sublayers, ptl.chroma_format_idc, ptl.bit_depth),
            (6, 1, 10)
        );
        assert_eq!((ptl.max_picture_width, ptl.max_picture_height), (320, 240));
        assert_eq!(config.length_size, 4);
        assert_eq!(config.arrays[0].0, 15);
    }

    #[test]
    fn bad_records_are_errors() {
        for bad in [
            &[0x00][..],
            &[0xFF, 0x00],
            &[0xFE, 0x05, 0x0F, 0x00],
            &[0xFE, 0x01, 0x0F, 0xFF, 0x00, 0x01],
        ] {
            assert!(
                VvcConfig::parse(&Bytes::copy_from_slice(bad)).is_err(),
                "{bad:02x?}"
            );
        }
    }
}
