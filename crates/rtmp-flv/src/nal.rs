//! H.264 and H.265 NAL units: length-prefixed (as FLV and RTMP carry them) and Annex B (as
//! encoders and raw files produce them), with conversion both ways.

use bytes::{BufMut, Bytes, BytesMut};

use crate::avc::{self, AvcConfig};
use crate::error::{Error, invalid};
use crate::hevc::{self, HevcConfig};

/// Which NAL unit syntax: the types and header sizes differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NalCodec {
    /// H.264 (one-byte NAL header).
    H264,
    /// H.265 (two-byte NAL header).
    H265,
}

impl NalCodec {
    fn nal_type(self, nal: &[u8]) -> Option<u8> {
        match self {
            NalCodec::H264 => avc::nal_unit_type(nal),
            NalCodec::H265 => hevc::nal_unit_type(nal),
        }
    }

    /// Whether `nal` is a slice of a keyframe (IDR for H.264, IRAP for H.265).
    pub fn is_keyframe_slice(self, nal: &[u8]) -> bool {
        match (self, self.nal_type(nal)) {
            (NalCodec::H264, Some(kind)) => kind == avc::nal_type::IDR,
            (NalCodec::H265, Some(kind)) => hevc::nal_type::IRAP.contains(&kind),
            (_, None) => false,
        }
    }

    /// Whether `nal` is a parameter set (SPS/PPS, and VPS for H.265).
    pub fn is_parameter_set(self, nal: &[u8]) -> bool {
        match (self, self.nal_type(nal)) {
            (NalCodec::H264, Some(kind)) => matches!(kind, avc::nal_type::SPS | avc::nal_type::PPS),
            (NalCodec::H265, Some(kind)) => {
                matches!(kind, hevc::nal_type::VPS..=hevc::nal_type::PPS)
            }
            (_, None) => false,
        }
    }
}

/// The NAL units a muxer drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NalFilter {
    /// Access unit delimiters (default: dropped; players do not need them).
    pub aud: bool,
    /// Filler data (default: dropped).
    pub filler: bool,
    /// SEI (default: kept; drop it for players that choke on it).
    pub sei: bool,
}

impl Default for NalFilter {
    fn default() -> Self {
        Self {
            aud: true,
            filler: true,
            sei: false,
        }
    }
}

impl NalFilter {
    fn drops(&self, codec: NalCodec, nal: &[u8]) -> bool {
        let Some(kind) = codec.nal_type(nal) else {
            return true;
        };
        match codec {
            NalCodec::H264 => {
                (self.aud && kind == avc::nal_type::AUD)
                    || (self.filler && kind == avc::nal_type::FILLER)
                    || (self.sei && kind == avc::nal_type::SEI)
            }
            NalCodec::H265 => {
                (self.aud && kind == hevc::nal_type::AUD)
                    || (self.filler && kind == hevc::nal_type::FILLER)
                    || (self.sei
                        && matches!(
                            kind,
                            hevc::nal_type::PREFIX_SEI | hevc::nal_type::SUFFIX_SEI
                        ))
            }
        }
    }
}

/// The NAL units of length-prefixed data, as zero-copy slices. A length that runs past the
/// data is an error, after which the iterator stops.
pub fn nal_units(data: &Bytes, length_size: u8) -> impl Iterator<Item = Result<Bytes, Error>> + '_ {
    let size = usize::from(length_size);
    let mut position = 0;
    let mut failed = !matches!(length_size, 1 | 2 | 4);
    let mut first_error = failed.then(|| invalid("NAL length prefix", "size is not 1, 2 or 4"));
    std::iter::from_fn(move || {
        if let Some(error) = first_error.take() {
            return Some(Err(error));
        }
        if position >= data.len() || failed {
            return None;
        }
        let prefix = data.get(position..position + size);
        let len = prefix.map(|bytes| {
            bytes
                .iter()
                .fold(0usize, |len, &b| len << 8 | usize::from(b))
        });
        let start = position + size;
        match len {
            Some(len) if start + len <= data.len() => {
                position = start + len;
                Some(Ok(data.slice(start..start + len)))
            }
            _ => {
                failed = true;
                Some(Err(Error::TooShort {
                    what: "length-prefixed NAL unit",
                    needed: start + len.unwrap_or(0),
                    available: data.len(),
                }))
            }
        }
    })
}

/// The NAL units of Annex B data (split on 00 00 01 and 00 00 00 01 start codes), as zero-copy
/// slices. Bytes before the first start code are skipped; trailing zero bytes of a unit are
/// not part of it.
pub fn annex_b_units(data: &Bytes) -> impl Iterator<Item = Bytes> + '_ {
    let mut position = find_start_code(data, 0).map(|(_, after)| after);
    std::iter::from_fn(move || {
        let start = position?;
        let (end, next) = match find_start_code(data, start) {
            Some((code, after)) => (code, Some(after)),
            None => (data.len(), None),
        };
        position = next;
        let mut unit_end = end;
        while unit_end > start && data.get(unit_end - 1) == Some(&0) {
            unit_end -= 1;
        }
        Some(data.slice(start..unit_end))
    })
}

/// The next 00 00 01 at or after `from`: (its offset, the offset after it).
fn find_start_code(data: &[u8], from: usize) -> Option<(usize, usize)> {
    let rest = data.get(from..)?;
    rest.windows(3)
        .position(|window| window == [0, 0, 1])
        .map(|offset| (from + offset, from + offset + 3))
}

/// Converts length-prefixed data to Annex B (4-byte start codes), putting `parameter_sets`
/// first when the data holds a keyframe slice and no parameter set of its own, so that a
/// decoder can start there.
pub fn to_annex_b(
    codec: NalCodec,
    data: &Bytes,
    length_size: u8,
    parameter_sets: &[Bytes],
    dst: &mut BytesMut,
) -> Result<(), Error> {
    let units = nal_units(data, length_size).collect::<Result<Vec<_>, _>>()?;
    let keyframe = units.iter().any(|unit| codec.is_keyframe_slice(unit));
    let has_sets = units.iter().any(|unit| codec.is_parameter_set(unit));
    if keyframe && !has_sets {
        for set in parameter_sets {
            dst.put_slice(&[0, 0, 0, 1]);
            dst.put_slice(set);
        }
    }
    for unit in units {
        dst.put_slice(&[0, 0, 0, 1]);
        dst.put_slice(&unit);
    }
    Ok(())
}

/// One access unit as a muxer turns it into FLV video data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MuxedAccessUnit {
    /// Whether it holds a keyframe slice.
    pub keyframe: bool,
    /// A new decoder configuration record, when the parameter sets changed (or first appeared).
    pub sequence_start: Option<Bytes>,
    /// The NAL units with 4-byte length prefixes, parameter sets and filtered units removed.
    /// Empty when the access unit held nothing else.
    pub data: Bytes,
}

/// Turns NAL units (from Annex B or a list) into FLV video data: 4-byte length prefixes,
/// filtering, and sequence starts built from the parameter sets found in the stream.
#[derive(Debug)]
pub struct NalMuxer {
    codec: NalCodec,
    filter: NalFilter,
    vps: Vec<Bytes>,
    sps: Vec<Bytes>,
    pps: Vec<Bytes>,
    config: Option<Bytes>,
}

impl NalMuxer {
    /// A muxer for `codec` with `filter`.
    pub fn new(codec: NalCodec, filter: NalFilter) -> Self {
        Self {
            codec,
            filter,
            vps: Vec::new(),
            sps: Vec::new(),
            pps: Vec::new(),
            config: None,
        }
    }

    /// Muxes one access unit given as Annex B bytes.
    pub fn push_annex_b(&mut self, access_unit: &Bytes) -> Result<MuxedAccessUnit, Error> {
        self.push(annex_b_units(access_unit))
    }

    /// Muxes one access unit given as NAL units.
    pub fn push(
        &mut self,
        units: impl IntoIterator<Item = Bytes>,
    ) -> Result<MuxedAccessUnit, Error> {
        let (mut vps, mut sps, mut pps) = (Vec::new(), Vec::new(), Vec::new());
        let mut data = BytesMut::new();
        let mut keyframe = false;
        for unit in units {
            if unit.is_empty() || self.filter.drops(self.codec, &unit) {
                continue;
            }
            let kind = self.codec.nal_type(&unit).unwrap_or_default();
            match (self.codec, kind) {
                (NalCodec::H264, avc::nal_type::SPS) | (NalCodec::H265, hevc::nal_type::SPS) => {
                    sps.push(unit)
                }
                (NalCodec::H264, avc::nal_type::PPS) | (NalCodec::H265, hevc::nal_type::PPS) => {
                    pps.push(unit)
                }
                (NalCodec::H265, hevc::nal_type::VPS) => vps.push(unit),
                _ => {
                    keyframe |= self.codec.is_keyframe_slice(&unit);
                    let len = u32::try_from(unit.len()).map_err(|_| Error::TooLarge {
                        what: "NAL unit",
                        value: unit.len(),
                    })?;
                    data.put_u32(len);
                    data.put_slice(&unit);
                }
            }
        }
        let mut sequence_start = None;
        if !sps.is_empty() || !pps.is_empty() || !vps.is_empty() {
            let replace = |old: &mut Vec<Bytes>, new: Vec<Bytes>| {
                if !new.is_empty() {
                    *old = new;
                }
            };
            replace(&mut self.vps, vps);
            replace(&mut self.sps, sps);
            replace(&mut self.pps, pps);
            let config = match self.codec {
                NalCodec::H264 => {
                    AvcConfig::from_parameter_sets(self.sps.clone(), self.pps.clone())?
                        .to_bytes()?
                }
                NalCodec::H265 => HevcConfig::from_parameter_sets(
                    self.vps.clone(),
                    self.sps.clone(),
                    self.pps.clone(),
                )?
                .to_bytes()?,
            };
            if self.config.as_ref() != Some(&config) {
                self.config = Some(config.clone());
                sequence_start = Some(config);
            }
        }
        Ok(MuxedAccessUnit {
            keyframe,
            sequence_start,
            data: data.freeze(),
        })
    }
}
