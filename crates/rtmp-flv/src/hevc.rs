//! H.265: the HEVCDecoderConfigurationRecord and the sequence parameter set.

use bytes::{BufMut, Bytes, BytesMut};

use crate::avc::put_sets;
use crate::bits::{BitReader, unescape};
use crate::error::{Error, invalid};
use crate::read::Reader;

/// NAL unit types of H.265 worth naming.
pub mod nal_type {
    /// 16..=21 are IRAP pictures (BLA, IDR, CRA): keyframes.
    pub const IRAP: std::ops::RangeInclusive<u8> = 16..=21;
    /// 32: video parameter set.
    pub const VPS: u8 = 32;
    /// 33: sequence parameter set.
    pub const SPS: u8 = 33;
    /// 34: picture parameter set.
    pub const PPS: u8 = 34;
    /// 35: access unit delimiter.
    pub const AUD: u8 = 35;
    /// 38: filler data.
    pub const FILLER: u8 = 38;
    /// 39: prefix SEI.
    pub const PREFIX_SEI: u8 = 39;
    /// 40: suffix SEI.
    pub const SUFFIX_SEI: u8 = 40;
}

/// The NAL unit type of an H.265 NAL unit (bits 1..7 of its first byte).
pub fn nal_unit_type(nal: &[u8]) -> Option<u8> {
    nal.first().map(|byte| (byte >> 1) & 0x3F)
}

/// One array of NAL units of one type in the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HevcNalArray {
    /// Whether all NAL units of this type are in the array.
    pub complete: bool,
    /// The NAL unit type (32 VPS, 33 SPS, 34 PPS, 39/40 SEI).
    pub nal_type: u8,
    /// The NAL units.
    pub units: Vec<Bytes>,
}

/// The HEVCDecoderConfigurationRecord: the sequence start of H.265.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HevcConfig {
    /// general_profile_space (2 bits).
    pub profile_space: u8,
    /// general_tier_flag.
    pub tier: bool,
    /// general_profile_idc (1 Main, 2 Main 10, ...).
    pub profile: u8,
    /// general_profile_compatibility_flags.
    pub compatibility: u32,
    /// general_constraint_indicator_flags (48 bits).
    pub constraints: u64,
    /// general_level_idc (30 x level, e.g. 93 for 3.1).
    pub level: u8,
    /// min_spatial_segmentation_idc (12 bits).
    pub min_spatial_segmentation: u16,
    /// parallelismType (2 bits).
    pub parallelism: u8,
    /// chroma_format_idc.
    pub chroma_format: u8,
    /// Luma bit depth minus 8.
    pub bit_depth_luma_minus8: u8,
    /// Chroma bit depth minus 8.
    pub bit_depth_chroma_minus8: u8,
    /// avgFrameRate in frames per 256 seconds (0 unknown).
    pub avg_frame_rate: u16,
    /// constantFrameRate (2 bits).
    pub constant_frame_rate: u8,
    /// numTemporalLayers (3 bits).
    pub temporal_layers: u8,
    /// temporalIdNested.
    pub temporal_id_nested: bool,
    /// Bytes in each NAL unit length prefix (1, 2 or 4).
    pub length_size: u8,
    /// The parameter set (and SEI) arrays.
    pub arrays: Vec<HevcNalArray>,
}

const RECORD: &str = "HEVCDecoderConfigurationRecord";

impl HevcConfig {
    /// Parses a record; NAL units share memory with `data`.
    pub fn parse(data: &Bytes) -> Result<Self, Error> {
        let mut reader = Reader::new(data, RECORD);
        if reader.u8()? != 1 {
            return Err(invalid(RECORD, "version is not 1"));
        }
        let byte = reader.u8()?;
        let compatibility = reader.u32()?;
        let constraints = u64::from(reader.u32()?) << 16 | u64::from(reader.u16()?);
        let level = reader.u8()?;
        let min_spatial_segmentation = reader.u16()? & 0x0FFF;
        let parallelism = reader.u8()? & 0x03;
        let chroma_format = reader.u8()? & 0x03;
        let bit_depth_luma_minus8 = reader.u8()? & 0x07;
        let bit_depth_chroma_minus8 = reader.u8()? & 0x07;
        let avg_frame_rate = reader.u16()?;
        let packed = reader.u8()?;
        let length_size = (packed & 0x03) + 1;
        if length_size == 3 {
            return Err(invalid(RECORD, "NAL length size 3"));
        }
        let array_count = reader.u8()?;
        let mut arrays = Vec::with_capacity(usize::from(array_count).min(reader.remaining() / 3));
        for _ in 0..array_count {
            let head = reader.u8()?;
            let count = reader.u16()?;
            let units = (0..count)
                .map(|_| {
                    let len = usize::from(reader.u16()?);
                    reader.take(len)
                })
                .collect::<Result<Vec<_>, _>>()?;
            arrays.push(HevcNalArray {
                complete: head & 0x80 != 0,
                nal_type: head & 0x3F,
                units,
            });
        }
        Ok(Self {
            profile_space: byte >> 6,
            tier: byte & 0x20 != 0,
            profile: byte & 0x1F,
            compatibility,
            constraints,
            level,
            min_spatial_segmentation,
            parallelism,
            chroma_format,
            bit_depth_luma_minus8,
            bit_depth_chroma_minus8,
            avg_frame_rate,
            constant_frame_rate: packed >> 6,
            temporal_layers: (packed >> 3) & 0x07,
            temporal_id_nested: packed & 0x04 != 0,
            length_size,
            arrays,
        })
    }

    /// A record for 4-byte NAL lengths from VPS, SPS and PPS found in a stream; the profile,
    /// tier, level and format come from the first SPS.
    pub fn from_parameter_sets(
        vps: Vec<Bytes>,
        sps: Vec<Bytes>,
        pps: Vec<Bytes>,
    ) -> Result<Self, Error> {
        let first = sps.first().ok_or(invalid(RECORD, "no SPS"))?;
        let parsed = HevcSps::parse(first)?;
        let array = |nal_type, units| HevcNalArray {
            complete: true,
            nal_type,
            units,
        };
        Ok(Self {
            profile_space: parsed.profile_space,
            tier: parsed.tier,
            profile: parsed.profile,
            compatibility: parsed.compatibility,
            constraints: parsed.constraints,
            level: parsed.level,
            min_spatial_segmentation: 0,
            parallelism: 0,
            chroma_format: parsed.chroma_format,
            bit_depth_luma_minus8: parsed.bit_depth_luma.saturating_sub(8),
            bit_depth_chroma_minus8: parsed.bit_depth_chroma.saturating_sub(8),
            avg_frame_rate: 0,
            constant_frame_rate: 0,
            temporal_layers: parsed.max_sub_layers,
            temporal_id_nested: parsed.temporal_id_nesting,
            length_size: 4,
            arrays: vec![
                array(nal_type::VPS, vps),
                array(nal_type::SPS, sps),
                array(nal_type::PPS, pps),
            ],
        })
    }

    /// Writes the record.
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), Error> {
        if !matches!(self.length_size, 1 | 2 | 4) || self.arrays.len() > 255 {
            return Err(invalid(RECORD, "length size or array count out of range"));
        }
        dst.put_u8(1);
        dst.put_u8(self.profile_space << 6 | u8::from(self.tier) << 5 | (self.profile & 0x1F));
        dst.put_u32(self.compatibility);
        dst.put_uint(self.constraints & 0xFFFF_FFFF_FFFF, 6);
        dst.put_u8(self.level);
        dst.put_u16(0xF000 | (self.min_spatial_segmentation & 0x0FFF));
        dst.put_u8(0xFC | (self.parallelism & 0x03));
        dst.put_u8(0xFC | (self.chroma_format & 0x03));
        dst.put_u8(0xF8 | (self.bit_depth_luma_minus8 & 0x07));
        dst.put_u8(0xF8 | (self.bit_depth_chroma_minus8 & 0x07));
        dst.put_u16(self.avg_frame_rate);
        dst.put_u8(
            (self.constant_frame_rate & 0x03) << 6
                | (self.temporal_layers & 0x07) << 3
                | u8::from(self.temporal_id_nested) << 2
                | (self.length_size - 1),
        );
        dst.put_u8(self.arrays.len() as u8);
        for array in &self.arrays {
            dst.put_u8(u8::from(array.complete) << 7 | (array.nal_type & 0x3F));
            let count = u16::try_from(array.units.len()).map_err(|_| Error::TooLarge {
                what: "HEVC NAL array",
                value: array.units.len(),
            })?;
            dst.put_u16(count);
            put_sets(dst, &array.units)?;
        }
        Ok(())
    }

    /// The record as a new buffer.
    pub fn to_bytes(&self) -> Result<Bytes, Error> {
        let mut dst = BytesMut::new();
        self.encode(&mut dst)?;
        Ok(dst.freeze())
    }

    /// The NAL units of `nal_type` in the record.
    pub fn units(&self, nal_type: u8) -> impl Iterator<Item = &Bytes> {
        self.arrays
            .iter()
            .filter(move |array| array.nal_type == nal_type)
            .flat_map(|array| array.units.iter())
    }
}

/// What an H.265 sequence parameter set says about the picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HevcSps {
    /// sps_max_sub_layers_minus1 + 1.
    pub max_sub_layers: u8,
    /// sps_temporal_id_nesting_flag.
    pub temporal_id_nesting: bool,
    /// general_profile_space.
    pub profile_space: u8,
    /// general_tier_flag.
    pub tier: bool,
    /// general_profile_idc.
    pub profile: u8,
    /// general_profile_compatibility_flags.
    pub compatibility: u32,
    /// general constraint flags (48 bits).
    pub constraints: u64,
    /// general_level_idc.
    pub level: u8,
    /// chroma_format_idc.
    pub chroma_format: u8,
    /// Width in pixels, after the conformance window.
    pub width: u32,
    /// Height in pixels, after the conformance window.
    pub height: u32,
    /// Luma bit depth.
    pub bit_depth_luma: u8,
    /// Chroma bit depth.
    pub bit_depth_chroma: u8,
}

impl HevcSps {
    /// Parses an SPS NAL unit (with its two-byte header). The frame rate, which sits deep in
    /// the VUI after the reference picture sets, is not read.
    pub fn parse(nal: &[u8]) -> Result<Self, Error> {
        if nal_unit_type(nal) != Some(nal_type::SPS) {
            return Err(invalid("H.265 SPS", "NAL unit is not an SPS"));
        }
        let rbsp = unescape(nal.get(2..).unwrap_or_default());
        let mut bits = BitReader::new(&rbsp, "H.265 SPS");
        bits.skip(4)?; // sps_video_parameter_set_id
        let max_sub_layers_minus1 = bits.bits(3)?;
        let temporal_id_nesting = bits.flag()?;
        let profile_space = bits.bits(2)? as u8;
        let tier = bits.flag()?;
        let profile = bits.bits(5)? as u8;
        let compatibility = bits.bits(32)?;
        let constraints = u64::from(bits.bits(32)?) << 16 | u64::from(bits.bits(16)?);
        let level = bits.bits(8)? as u8;
        let mut sub_layers = Vec::new();
        for _ in 0..max_sub_layers_minus1 {
            sub_layers.push((bits.flag()?, bits.flag()?));
        }
        if max_sub_layers_minus1 > 0 {
            bits.skip(2 * (8 - max_sub_layers_minus1 as usize))?;
        }
        for (profile_present, level_present) in sub_layers {
            if profile_present {
                bits.skip(88)?;
            }
            if level_present {
                bits.skip(8)?;
            }
        }
        bits.ue()?; // sps_seq_parameter_set_id
        let chroma_format = bits.ue()?;
        if chroma_format > 3 {
            return Err(invalid("H.265 SPS", "chroma_format_idc above 3"));
        }
        if chroma_format == 3 {
            bits.flag()?; // separate_colour_plane_flag
        }
        let width = u64::from(bits.ue()?);
        let height = u64::from(bits.ue()?);
        let mut window = [0u64; 4];
        if bits.flag()? {
            for side in &mut window {
                *side = u64::from(bits.ue()?);
            }
        }
        let (sub_width, sub_height) = match chroma_format {
            1 => (2, 2),
            2 => (2, 1),
            _ => (1, 1),
        };
        let [left, right, top, bottom] = window;
        let bit_depth_luma = bits.ue()?.saturating_add(8).min(255) as u8;
        let bit_depth_chroma = bits.ue()?.saturating_add(8).min(255) as u8;
        Ok(Self {
            max_sub_layers: max_sub_layers_minus1 as u8 + 1,
            temporal_id_nesting,
            profile_space,
            tier,
            profile,
            compatibility,
            constraints,
            level,
            chroma_format: chroma_format as u8,
            width: width
                .saturating_sub(sub_width * (left + right))
                .min(u64::from(u32::MAX)) as u32,
            height: height
                .saturating_sub(sub_height * (top + bottom))
                .min(u64::from(u32::MAX)) as u32,
            bit_depth_luma,
            bit_depth_chroma,
        })
    }
}
