//! H.264: the AVCDecoderConfigurationRecord and the sequence parameter set.

use bytes::{BufMut, Bytes, BytesMut};

use crate::bits::{BitReader, unescape};
use crate::error::{Error, invalid};
use crate::read::Reader;

/// NAL unit types of H.264 worth naming.
pub mod nal_type {
    /// 1: a slice of a non-IDR picture.
    pub const NON_IDR: u8 = 1;
    /// 5: a slice of an IDR picture.
    pub const IDR: u8 = 5;
    /// 6: supplemental enhancement information.
    pub const SEI: u8 = 6;
    /// 7: sequence parameter set.
    pub const SPS: u8 = 7;
    /// 8: picture parameter set.
    pub const PPS: u8 = 8;
    /// 9: access unit delimiter.
    pub const AUD: u8 = 9;
    /// 12: filler data.
    pub const FILLER: u8 = 12;
}

/// The NAL unit type of an H.264 NAL unit (its first byte's low 5 bits).
pub fn nal_unit_type(nal: &[u8]) -> Option<u8> {
    nal.first().map(|byte| byte & 0x1F)
}

/// The AVCDecoderConfigurationRecord: the sequence start of H.264.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcConfig {
    /// AVCProfileIndication (e.g. 66 Baseline, 77 Main, 100 High).
    pub profile: u8,
    /// profile_compatibility (the constraint flags).
    pub compatibility: u8,
    /// AVCLevelIndication (e.g. 31 for level 3.1).
    pub level: u8,
    /// Bytes in each NAL unit length prefix (1, 2 or 4).
    pub length_size: u8,
    /// Sequence parameter sets.
    pub sps: Vec<Bytes>,
    /// Picture parameter sets.
    pub pps: Vec<Bytes>,
    /// Bytes after the parameter sets (the High profile extension), kept as sent.
    pub extension: Bytes,
}

impl AvcConfig {
    /// Parses a record; parameter sets share memory with `data`.
    pub fn parse(data: &Bytes) -> Result<Self, Error> {
        let mut reader = Reader::new(data, "AVCDecoderConfigurationRecord");
        if reader.u8()? != 1 {
            return Err(invalid("AVCDecoderConfigurationRecord", "version is not 1"));
        }
        let profile = reader.u8()?;
        let compatibility = reader.u8()?;
        let level = reader.u8()?;
        let length_size = (reader.u8()? & 0x03) + 1;
        if length_size == 3 {
            return Err(invalid(
                "AVCDecoderConfigurationRecord",
                "NAL length size 3",
            ));
        }
        let sps_count = reader.u8()? & 0x1F;
        let sps = (0..sps_count)
            .map(|_| {
                let len = usize::from(reader.u16()?);
                reader.take(len)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let pps_count = reader.u8()?;
        let pps = (0..pps_count)
            .map(|_| {
                let len = usize::from(reader.u16()?);
                reader.take(len)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            profile,
            compatibility,
            level,
            length_size,
            sps,
            pps,
            extension: reader.rest(),
        })
    }

    /// A record for 4-byte NAL lengths from parameter sets found in a stream; profile,
    /// compatibility and level come from the first SPS.
    pub fn from_parameter_sets(sps: Vec<Bytes>, pps: Vec<Bytes>) -> Result<Self, Error> {
        let first = sps
            .first()
            .ok_or(invalid("AVCDecoderConfigurationRecord", "no SPS"))?;
        let [_, profile, compatibility, level, ..] = first[..] else {
            return Err(invalid("H.264 SPS", "shorter than 4 bytes"));
        };
        Ok(Self {
            profile,
            compatibility,
            level,
            length_size: 4,
            sps,
            pps,
            extension: Bytes::new(),
        })
    }

    /// Writes the record.
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), Error> {
        if !matches!(self.length_size, 1 | 2 | 4) || self.sps.len() > 31 || self.pps.len() > 255 {
            return Err(invalid(
                "AVCDecoderConfigurationRecord",
                "length size or parameter set count out of range",
            ));
        }
        dst.put_slice(&[1, self.profile, self.compatibility, self.level]);
        dst.put_u8(0xFC | (self.length_size - 1));
        dst.put_u8(0xE0 | self.sps.len() as u8);
        put_sets(dst, &self.sps)?;
        dst.put_u8(self.pps.len() as u8);
        put_sets(dst, &self.pps)?;
        dst.put_slice(&self.extension);
        Ok(())
    }

    /// The record as a new buffer.
    pub fn to_bytes(&self) -> Result<Bytes, Error> {
        let mut dst = BytesMut::new();
        self.encode(&mut dst)?;
        Ok(dst.freeze())
    }
}

pub(crate) fn put_sets(dst: &mut BytesMut, sets: &[Bytes]) -> Result<(), Error> {
    for set in sets {
        let len = u16::try_from(set.len()).map_err(|_| Error::TooLarge {
            what: "parameter set",
            value: set.len(),
        })?;
        dst.put_u16(len);
        dst.put_slice(set);
    }
    Ok(())
}

/// What an H.264 sequence parameter set says about the picture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AvcSps {
    /// profile_idc.
    pub profile: u8,
    /// level_idc.
    pub level: u8,
    /// 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4.
    pub chroma_format: u8,
    /// Luma bit depth.
    pub bit_depth: u8,
    /// Width in pixels, after cropping.
    pub width: u32,
    /// Height in pixels, after cropping.
    pub height: u32,
    /// Frames per second, from the VUI timing information when present.
    pub frame_rate: Option<f64>,
}

const HIGH_PROFILES: [u8; 13] = [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135];

impl AvcSps {
    /// Parses an SPS NAL unit (with its one-byte header).
    pub fn parse(nal: &[u8]) -> Result<Self, Error> {
        if nal_unit_type(nal) != Some(nal_type::SPS) {
            return Err(invalid("H.264 SPS", "NAL unit is not an SPS"));
        }
        let rbsp = unescape(nal.get(1..).unwrap_or_default());
        let mut bits = BitReader::new(&rbsp, "H.264 SPS");
        let profile = bits.bits(8)? as u8;
        bits.skip(8)?;
        let level = bits.bits(8)? as u8;
        bits.ue()?; // seq_parameter_set_id
        let (mut chroma_format, mut separate_planes, mut bit_depth) = (1, false, 8);
        if HIGH_PROFILES.contains(&profile) {
            chroma_format = bits.ue()?;
            if chroma_format > 3 {
                return Err(invalid("H.264 SPS", "chroma_format_idc above 3"));
            }
            if chroma_format == 3 {
                separate_planes = bits.flag()?;
            }
            bit_depth = bits.ue()?.saturating_add(8);
            bits.ue()?; // bit_depth_chroma_minus8
            bits.flag()?; // qpprime_y_zero_transform_bypass_flag
            if bits.flag()? {
                let lists = if chroma_format == 3 { 12 } else { 8 };
                for list in 0..lists {
                    if bits.flag()? {
                        skip_scaling_list(&mut bits, if list < 6 { 16 } else { 64 })?;
                    }
                }
            }
        }
        bits.ue()?; // log2_max_frame_num_minus4
        match bits.ue()? {
            0 => {
                bits.ue()?;
            }
            1 => {
                bits.flag()?;
                bits.se()?;
                bits.se()?;
                let cycle = bits.ue()?;
                if cycle > 255 {
                    return Err(invalid(
                        "H.264 SPS",
                        "num_ref_frames_in_pic_order_cnt_cycle above 255",
                    ));
                }
                for _ in 0..cycle {
                    bits.se()?;
                }
            }
            _ => {}
        }
        bits.ue()?; // max_num_ref_frames
        bits.flag()?; // gaps_in_frame_num_value_allowed_flag
        let width_mbs = u64::from(bits.ue()?) + 1;
        let height_units = u64::from(bits.ue()?) + 1;
        let frame_mbs_only = bits.flag()?;
        if !frame_mbs_only {
            bits.flag()?;
        }
        bits.flag()?; // direct_8x8_inference_flag
        let mut crop = [0u64; 4];
        if bits.flag()? {
            for side in &mut crop {
                *side = u64::from(bits.ue()?);
            }
        }
        let field_factor = if frame_mbs_only { 1 } else { 2 };
        let chroma_array_type = if separate_planes { 0 } else { chroma_format };
        let (crop_x, crop_y) = match chroma_array_type {
            0 => (1, field_factor),
            1 => (2, 2 * field_factor),
            2 => (2, field_factor),
            _ => (1, field_factor),
        };
        let [left, right, top, bottom] = crop;
        let width = (width_mbs * 16).saturating_sub(crop_x * (left + right));
        let height = (field_factor * height_units * 16).saturating_sub(crop_y * (top + bottom));
        let frame_rate = if bits.flag()? {
            vui_frame_rate(&mut bits)?
        } else {
            None
        };
        Ok(Self {
            profile,
            level,
            chroma_format: chroma_format as u8,
            bit_depth: bit_depth.min(255) as u8,
            width: width.min(u64::from(u32::MAX)) as u32,
            height: height.min(u64::from(u32::MAX)) as u32,
            frame_rate,
        })
    }
}

fn skip_scaling_list(bits: &mut BitReader, size: usize) -> Result<(), Error> {
    let (mut last, mut next) = (8i32, 8i32);
    for _ in 0..size {
        if next != 0 {
            let delta = bits.se()?;
            if !(-128..=127).contains(&delta) {
                return Err(invalid("H.264 SPS", "delta_scale outside -128..=127"));
            }
            next = (last + delta + 256).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

/// The frame rate of the VUI's timing information, reading the fields before it.
fn vui_frame_rate(bits: &mut BitReader) -> Result<Option<f64>, Error> {
    if bits.flag()? && bits.bits(8)? == 255 {
        bits.skip(32)?; // sar_width, sar_height
    }
    if bits.flag()? {
        bits.flag()?; // overscan_appropriate_flag
    }
    if bits.flag()? {
        bits.skip(4)?; // video_format, video_full_range_flag
        if bits.flag()? {
            bits.skip(24)?; // colour description
        }
    }
    if bits.flag()? {
        bits.ue()?;
        bits.ue()?;
    }
    if !bits.flag()? {
        return Ok(None);
    }
    let units_in_tick = bits.bits(32)?;
    let time_scale = bits.bits(32)?;
    Ok((units_in_tick > 0).then(|| f64::from(time_scale) / (2.0 * f64::from(units_in_tick))))
}
