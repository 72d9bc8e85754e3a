//! AV1: the AV1CodecConfigurationRecord, OBUs, and the sequence header.

use bytes::{BufMut, Bytes, BytesMut};

use crate::bits::BitReader;
use crate::error::{Error, invalid};
use crate::read::Reader;

/// OBU types worth naming.
pub mod obu_type {
    /// 1: sequence header.
    pub const SEQUENCE_HEADER: u8 = 1;
    /// 2: temporal delimiter.
    pub const TEMPORAL_DELIMITER: u8 = 2;
    /// 3: frame header.
    pub const FRAME_HEADER: u8 = 3;
    /// 4: tile group.
    pub const TILE_GROUP: u8 = 4;
    /// 5: metadata.
    pub const METADATA: u8 = 5;
    /// 6: frame (header and tile group).
    pub const FRAME: u8 = 6;
    /// 15: padding.
    pub const PADDING: u8 = 15;
}

/// The AV1CodecConfigurationRecord: the sequence start of AV1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Av1Config {
    /// seq_profile (0 Main, 1 High, 2 Professional).
    pub seq_profile: u8,
    /// `seq_level_idx[0]`.
    pub seq_level_idx_0: u8,
    /// `seq_tier[0]`.
    pub seq_tier_0: bool,
    /// high_bitdepth.
    pub high_bitdepth: bool,
    /// twelve_bit.
    pub twelve_bit: bool,
    /// monochrome.
    pub monochrome: bool,
    /// chroma_subsampling_x.
    pub chroma_subsampling_x: bool,
    /// chroma_subsampling_y.
    pub chroma_subsampling_y: bool,
    /// chroma_sample_position (2 bits).
    pub chroma_sample_position: u8,
    /// initial_presentation_delay_minus_one, when present.
    pub initial_presentation_delay_minus_one: Option<u8>,
    /// The configuration OBUs (normally the sequence header), as sent.
    pub config_obus: Bytes,
}

const RECORD: &str = "AV1CodecConfigurationRecord";

impl Av1Config {
    /// Parses a record.
    pub fn parse(data: &Bytes) -> Result<Self, Error> {
        let mut reader = Reader::new(data, RECORD);
        if reader.u8()? != 0x81 {
            return Err(invalid(RECORD, "marker and version are not 1 and 1"));
        }
        let a = reader.u8()?;
        let b = reader.u8()?;
        let c = reader.u8()?;
        Ok(Self {
            seq_profile: a >> 5,
            seq_level_idx_0: a & 0x1F,
            seq_tier_0: b & 0x80 != 0,
            high_bitdepth: b & 0x40 != 0,
            twelve_bit: b & 0x20 != 0,
            monochrome: b & 0x10 != 0,
            chroma_subsampling_x: b & 0x08 != 0,
            chroma_subsampling_y: b & 0x04 != 0,
            chroma_sample_position: b & 0x03,
            initial_presentation_delay_minus_one: (c & 0x10 != 0).then_some(c & 0x0F),
            config_obus: reader.rest(),
        })
    }

    /// Writes the record.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.put_u8(0x81);
        dst.put_u8((self.seq_profile & 0x07) << 5 | (self.seq_level_idx_0 & 0x1F));
        dst.put_u8(
            u8::from(self.seq_tier_0) << 7
                | u8::from(self.high_bitdepth) << 6
                | u8::from(self.twelve_bit) << 5
                | u8::from(self.monochrome) << 4
                | u8::from(self.chroma_subsampling_x) << 3
                | u8::from(self.chroma_subsampling_y) << 2
                | (self.chroma_sample_position & 0x03),
        );
        dst.put_u8(match self.initial_presentation_delay_minus_one {
            Some(delay) => 0x10 | (delay & 0x0F),
            None => 0,
        });
        dst.put_slice(&self.config_obus);
    }

    /// The record as a new buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut dst = BytesMut::new();
        self.encode(&mut dst);
        dst.freeze()
    }

    /// The sequence header among the configuration OBUs.
    pub fn sequence_header(&self) -> Option<Result<Av1SequenceHeader, Error>> {
        obus(&self.config_obus).find_map(|obu| match obu {
            Ok(obu) if obu.obu_type == obu_type::SEQUENCE_HEADER => {
                Some(Av1SequenceHeader::parse(&obu.payload))
            }
            Ok(_) => None,
            Err(error) => Some(Err(error)),
        })
    }
}

/// One OBU of a low-overhead bitstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Obu {
    /// obu_type.
    pub obu_type: u8,
    /// The whole OBU, header included (zero-copy).
    pub data: Bytes,
    /// The payload after the header and size (zero-copy).
    pub payload: Bytes,
}

/// The OBUs of `data`: each with its header, extension and leb128 size checked against the
/// input. An OBU without a size field runs to the end.
pub fn obus(data: &Bytes) -> impl Iterator<Item = Result<Obu, Error>> + '_ {
    let mut position = 0;
    let mut failed = false;
    std::iter::from_fn(move || {
        if position >= data.len() || failed {
            return None;
        }
        let result = next_obu(data, position);
        match &result {
            Ok((_, end)) => position = *end,
            Err(_) => failed = true,
        }
        Some(result.map(|(obu, _)| obu))
    })
}

fn next_obu(data: &Bytes, start: usize) -> Result<(Obu, usize), Error> {
    let header = *data.get(start).ok_or(invalid("OBU", "empty"))?;
    if header & 0x80 != 0 {
        return Err(invalid("OBU", "forbidden bit is set"));
    }
    let obu_type = (header >> 3) & 0x0F;
    let mut position = start + 1 + usize::from(header & 0x04 != 0);
    let end = if header & 0x02 != 0 {
        let mut size = 0u64;
        let mut done = false;
        for index in 0..8 {
            let byte = *data.get(position).ok_or(Error::TooShort {
                what: "OBU size",
                needed: position + 1,
                available: data.len(),
            })?;
            position += 1;
            size |= u64::from(byte & 0x7F) << (7 * index);
            if byte & 0x80 == 0 {
                done = true;
                break;
            }
        }
        if !done || size > u64::from(u32::MAX) {
            return Err(invalid(
                "OBU size",
                "leb128 longer than 8 bytes or above 2^32 - 1",
            ));
        }
        position + size as usize
    } else {
        data.len()
    };
    if end > data.len() || position > end {
        return Err(Error::TooShort {
            what: "OBU",
            needed: end,
            available: data.len(),
        });
    }
    Ok((
        Obu {
            obu_type,
            data: data.slice(start..end),
            payload: data.slice(position..end),
        },
        end,
    ))
}

/// What an AV1 sequence header says about the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Av1SequenceHeader {
    /// seq_profile.
    pub profile: u8,
    /// seq_level_idx of the first operating point.
    pub level: u8,
    /// seq_tier of the first operating point.
    pub tier: bool,
    /// Maximum frame width in pixels.
    pub width: u32,
    /// Maximum frame height in pixels.
    pub height: u32,
    /// 8, 10 or 12.
    pub bit_depth: u8,
    /// mono_chrome.
    pub monochrome: bool,
    /// subsampling_x.
    pub subsampling_x: bool,
    /// subsampling_y.
    pub subsampling_y: bool,
    /// chroma_sample_position (0 when not sent).
    pub chroma_sample_position: u8,
}

impl Av1SequenceHeader {
    /// Parses the payload of a sequence header OBU through its colour configuration.
    pub fn parse(payload: &[u8]) -> Result<Self, Error> {
        let mut bits = BitReader::new(payload, "AV1 sequence header");
        let profile = bits.bits(3)? as u8;
        bits.flag()?; // still_picture
        let reduced = bits.flag()?;
        let level;
        let mut tier = false;
        if reduced {
            level = bits.bits(5)? as u8;
        } else {
            let mut decoder_model = None;
            if bits.flag()? {
                // timing_info
                bits.skip(64)?;
                if bits.flag()? {
                    bits.uvlc()?;
                }
                if bits.flag()? {
                    let buffer_delay_length = bits.bits(5)? + 1;
                    bits.skip(32)?;
                    bits.skip(10)?;
                    decoder_model = Some(buffer_delay_length);
                }
            }
            let initial_display_delay = bits.flag()?;
            let operating_points = bits.bits(5)? + 1;
            let mut first_level = None;
            for _ in 0..operating_points {
                bits.skip(12)?; // operating_point_idc
                let seq_level = bits.bits(5)? as u8;
                let seq_tier = seq_level > 7 && bits.flag()?;
                if first_level.is_none() {
                    first_level = Some(seq_level);
                    tier = seq_tier;
                }
                if let Some(delay_length) = decoder_model
                    && bits.flag()?
                {
                    bits.skip(2 * delay_length as usize + 1)?;
                }
                if initial_display_delay && bits.flag()? {
                    bits.skip(4)?;
                }
            }
            level = first_level.unwrap_or_default();
        }
        let width_bits = bits.bits(4)? + 1;
        let height_bits = bits.bits(4)? + 1;
        let width = u64::from(bits.bits(width_bits)?) + 1;
        let height = u64::from(bits.bits(height_bits)?) + 1;
        skip_coding_tools(&mut bits, reduced)?;
        let color = ColorConfig::parse(&mut bits, profile)?;
        Ok(Self {
            profile,
            level,
            tier,
            width: width.min(u64::from(u32::MAX)) as u32,
            height: height.min(u64::from(u32::MAX)) as u32,
            bit_depth: color.bit_depth,
            monochrome: color.monochrome,
            subsampling_x: color.subsampling_x,
            subsampling_y: color.subsampling_y,
            chroma_sample_position: color.chroma_sample_position,
        })
    }
}

/// The flags between the frame size and the colour configuration.
fn skip_coding_tools(bits: &mut BitReader, reduced: bool) -> Result<(), Error> {
    if !reduced && bits.flag()? {
        bits.skip(7)?; // delta_frame_id_length_minus_2, additional_frame_id_length_minus_1
    }
    bits.skip(3)?; // use_128x128_superblock, enable_filter_intra, enable_intra_edge_filter
    if !reduced {
        bits.skip(4)?; // interintra, masked compound, warped motion, dual filter
        let order_hint = bits.flag()?;
        if order_hint {
            bits.skip(2)?; // enable_jnt_comp, enable_ref_frame_mvs
        }
        // seq_choose_screen_content_tools: 2 (SELECT) when set, else the next bit.
        let force_screen_content_tools = if bits.flag()? { 2 } else { bits.bits(1)? };
        if force_screen_content_tools > 0 && !bits.flag()? {
            bits.skip(1)?; // seq_force_integer_mv
        }
        if order_hint {
            bits.skip(3)?; // order_hint_bits_minus_1
        }
    }
    bits.skip(3) // enable_superres, enable_cdef, enable_restoration
}

struct ColorConfig {
    bit_depth: u8,
    monochrome: bool,
    subsampling_x: bool,
    subsampling_y: bool,
    chroma_sample_position: u8,
}

impl ColorConfig {
    fn parse(bits: &mut BitReader, profile: u8) -> Result<Self, Error> {
        let high_bitdepth = bits.flag()?;
        let bit_depth = match (profile, high_bitdepth) {
            (2, true) if bits.flag()? => 12,
            (_, true) => 10,
            _ => 8,
        };
        let monochrome = profile != 1 && bits.flag()?;
        let (mut primaries, mut transfer, mut matrix) = (2, 2, 2);
        if bits.flag()? {
            primaries = bits.bits(8)?;
            transfer = bits.bits(8)?;
            matrix = bits.bits(8)?;
        }
        let mut config = ColorConfig {
            bit_depth,
            monochrome,
            subsampling_x: true,
            subsampling_y: true,
            chroma_sample_position: 0,
        };
        if monochrome {
            bits.flag()?; // color_range
            return Ok(config);
        }
        if (primaries, transfer, matrix) == (1, 13, 0) {
            // sRGB: 4:4:4, full range, nothing more sent.
            config.subsampling_x = false;
            config.subsampling_y = false;
            return Ok(config);
        }
        bits.flag()?; // color_range
        (config.subsampling_x, config.subsampling_y) = match profile {
            0 => (true, true),
            1 => (false, false),
            _ if bit_depth == 12 => {
                let x = bits.flag()?;
                (x, x && bits.flag()?)
            }
            _ => (true, false),
        };
        if config.subsampling_x && config.subsampling_y {
            config.chroma_sample_position = bits.bits(2)? as u8;
        }
        Ok(config)
    }
}

impl Av1Config {
    /// A record for the sequence header OBU `obu` (the whole OBU, header included), with the
    /// fields the record repeats taken from it.
    pub fn from_sequence_header(obu: Bytes) -> Result<Self, Error> {
        let parsed = obus(&obu).next().ok_or(invalid(RECORD, "no OBU"))??;
        if parsed.obu_type != obu_type::SEQUENCE_HEADER {
            return Err(invalid(RECORD, "the OBU is not a sequence header"));
        }
        let header = Av1SequenceHeader::parse(&parsed.payload)?;
        Ok(Self {
            seq_profile: header.profile,
            seq_level_idx_0: header.level,
            seq_tier_0: header.tier,
            high_bitdepth: header.bit_depth > 8,
            twelve_bit: header.bit_depth == 12,
            monochrome: header.monochrome,
            chroma_subsampling_x: header.subsampling_x,
            chroma_subsampling_y: header.subsampling_y,
            chroma_sample_position: header.chroma_sample_position,
            initial_presentation_delay_minus_one: None,
            config_obus: parsed.data,
        })
    }
}
