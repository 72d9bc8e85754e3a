//! AC-3 and E-AC-3 (`ac-3`, `ec-3` in Enhanced RTMP): what a stream is, from the
//! AC3SpecificBox (`dac3`) or EC3SpecificBox (`dec3`) when a sender puts one in the sequence
//! start, or from a sync frame's header (ffmpeg sends an empty sequence start: the frames
//! describe themselves).

use bytes::Bytes;

use crate::bits::BitReader;
use crate::error::{Error, invalid};

/// The two codecs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ac3Kind {
    /// AC-3 (Dolby Digital).
    Ac3,
    /// E-AC-3 (Dolby Digital Plus).
    Eac3,
}

/// What an AC-3 or E-AC-3 stream carries (its first independent substream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ac3Info {
    /// AC-3 or E-AC-3.
    pub kind: Ac3Kind,
    /// Samples per second.
    pub sample_rate: u32,
    /// acmod: the main channels' layout (0 1+1, 1 mono, 2 stereo, ... 7 3/2).
    pub acmod: u8,
    /// A low-frequency effects channel.
    pub lfe: bool,
    /// bsid: the bit stream's version (up to 8 for AC-3, 16 for E-AC-3).
    pub bsid: u8,
    /// bsmod: the service (main, effects, commentary, ...).
    pub bsmod: u8,
    /// The bit rate in kbit/s, when the source gives it.
    pub bitrate_kbps: Option<u32>,
}

/// Sample rates by fscod.
const RATES: [u32; 3] = [48_000, 44_100, 32_000];
/// AC-3 bit rates (kbit/s) by frmsizecod / 2 (and bit_rate_code in `dac3`).
const AC3_KBPS: [u32; 19] = [
    32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 576, 640,
];
/// Main channels by acmod.
const ACMOD_CHANNELS: [u8; 8] = [2, 1, 2, 3, 3, 4, 4, 5];

impl Ac3Info {
    /// Channels, the LFE channel included.
    pub fn channels(&self) -> u8 {
        let main = ACMOD_CHANNELS.get(usize::from(self.acmod)).copied();
        main.unwrap_or(0) + u8::from(self.lfe)
    }

    /// Reads a sync frame's header (sync word 0x0B77): an AC-3 or E-AC-3 frame, told apart
    /// by its bsid.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use rtmp_flv::ac3::{Ac3Info, Ac3Kind};
    ///
    /// // AC-3: sync word, CRC, 44.1 kHz (fscod 1) at 96 kbit/s (frmsizecod 12), bsid 8,
    /// // bsmod 0, mono (acmod 1) without LFE.
    /// let frame = Bytes::from_static(&[0x0B, 0x77, 0x12, 0x34, 0x4C, 0x40, 0x20, 0x00]);
    /// let info = Ac3Info::from_frame(&frame).unwrap();
    /// assert_eq!((info.kind, info.sample_rate, info.channels()), (Ac3Kind::Ac3, 44_100, 1));
    /// assert_eq!(info.bitrate_kbps, Some(96));
    /// ```
    pub fn from_frame(frame: &Bytes) -> Result<Self, Error> {
        const WHAT: &str = "AC-3 sync frame";
        if frame.get(..2) != Some(&[0x0B, 0x77]) {
            return Err(invalid(WHAT, "no sync word"));
        }
        let header = frame.get(2..10).or(frame.get(2..)).unwrap_or_default();
        // bsid sits at the same place in both: bits 40..45 of the frame.
        let bsid = header.get(3).map(|byte| byte >> 3).ok_or(Error::TooShort {
            what: WHAT,
            needed: 6,
            available: frame.len(),
        })?;
        let mut bits = BitReader::new(header, WHAT);
        if bsid <= 10 {
            bits.skip(16)?; // crc1
            let fscod = bits.bits(2)? as usize;
            let frmsizecod = bits.bits(6)? as usize;
            let bsid = bits.bits(5)? as u8;
            let bsmod = bits.bits(3)? as u8;
            let acmod = bits.bits(3)? as u8;
            // cmixlev, surmixlev and dsurmod come before lfeon when their channels exist.
            if acmod & 1 == 1 && acmod != 1 {
                bits.skip(2)?;
            }
            if acmod & 4 == 4 {
                bits.skip(2)?;
            }
            if acmod == 2 {
                bits.skip(2)?;
            }
            let lfe = bits.flag()?;
            let sample_rate = *RATES
                .get(fscod)
                .ok_or_else(|| invalid(WHAT, "reserved fscod"))?;
            Ok(Self {
                kind: Ac3Kind::Ac3,
                sample_rate,
                acmod,
                lfe,
                bsid,
                bsmod,
                bitrate_kbps: AC3_KBPS.get(frmsizecod / 2).copied(),
            })
        } else if bsid <= 16 {
            bits.skip(2 + 3 + 11)?; // strmtyp, substreamid, frmsiz
            let fscod = bits.bits(2)? as usize;
            let sample_rate = if fscod == 3 {
                let fscod2 = bits.bits(2)? as usize;
                RATES
                    .get(fscod2)
                    .map(|rate| rate / 2)
                    .ok_or_else(|| invalid(WHAT, "reserved fscod2"))?
            } else {
                bits.skip(2)?; // numblkscod
                *RATES
                    .get(fscod)
                    .ok_or_else(|| invalid(WHAT, "reserved fscod"))?
            };
            let acmod = bits.bits(3)? as u8;
            let lfe = bits.flag()?;
            let bsid = bits.bits(5)? as u8;
            Ok(Self {
                kind: Ac3Kind::Eac3,
                sample_rate,
                acmod,
                lfe,
                bsid,
                bsmod: 0,
                bitrate_kbps: None,
            })
        } else {
            Err(invalid(WHAT, "an unknown bsid"))
        }
    }

    /// Reads an AC3SpecificBox's payload (3 bytes: fscod, bsid, bsmod, acmod, lfeon,
    /// bit_rate_code).
    pub fn from_dac3(data: &Bytes) -> Result<Self, Error> {
        const WHAT: &str = "AC3SpecificBox";
        let mut bits = BitReader::new(data, WHAT);
        let fscod = bits.bits(2)? as usize;
        let bsid = bits.bits(5)? as u8;
        let bsmod = bits.bits(3)? as u8;
        let acmod = bits.bits(3)? as u8;
        let lfe = bits.flag()?;
        let bit_rate_code = bits.bits(5)? as usize;
        Ok(Self {
            kind: Ac3Kind::Ac3,
            sample_rate: *RATES
                .get(fscod)
                .ok_or_else(|| invalid(WHAT, "reserved fscod"))?,
            acmod,
            lfe,
            bsid,
            bsmod,
            bitrate_kbps: AC3_KBPS.get(bit_rate_code).copied(),
        })
    }

    /// Reads an EC3SpecificBox's payload: the data rate, then the first independent
    /// substream (fscod, bsid, asvc, bsmod, acmod, lfeon).
    pub fn from_dec3(data: &Bytes) -> Result<Self, Error> {
        const WHAT: &str = "EC3SpecificBox";
        let mut bits = BitReader::new(data, WHAT);
        let data_rate = bits.bits(13)?;
        let substreams = bits.bits(3)? + 1;
        let fscod = bits.bits(2)? as usize;
        let bsid = bits.bits(5)? as u8;
        bits.skip(2)?; // reserved, asvc
        let bsmod = bits.bits(3)? as u8;
        let acmod = bits.bits(3)? as u8;
        let lfe = bits.flag()?;
        if substreams > 8 {
            return Err(invalid(WHAT, "too many substreams"));
        }
        Ok(Self {
            kind: Ac3Kind::Eac3,
            sample_rate: *RATES
                .get(fscod)
                .ok_or_else(|| invalid(WHAT, "reserved fscod"))?,
            acmod,
            lfe,
            bsid,
            bsmod,
            bitrate_kbps: Some(data_rate),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn e_ac3_frames_and_both_boxes_read() {
        // E-AC-3: strmtyp 0, substream 0, frmsiz 383; 48 kHz (fscod 0), 6 blocks
        // (numblkscod 3); 3/2 (acmod 7) with LFE; bsid 16.
        let frame = Bytes::from_static(&[0x0B, 0x77, 0x01, 0x7F, 0x3F, 0x80, 0x00]);
        let info = Ac3Info::from_frame(&frame).unwrap();
        assert_eq!(
            (info.kind, info.sample_rate, info.channels()),
            (Ac3Kind::Eac3, 48_000, 6)
        );
        assert_eq!(info.bsid, 16);
        // dac3: 48 kHz, bsid 8, bsmod 0, stereo, no LFE, 192 kbit/s (code 10).
        let dac3 = Ac3Info::from_dac3(&Bytes::from_static(&[0x10, 0x11, 0x40])).unwrap();
        assert_eq!(
            (dac3.sample_rate, dac3.channels(), dac3.bitrate_kbps),
            (48_000, 2, Some(192))
        );
        // dec3: 640 kbit/s, one substream: 48 kHz, bsid 16, 3/2 with LFE.
        let dec3 =
            Ac3Info::from_dec3(&Bytes::from_static(&[0x14, 0x00, 0x20, 0x0F, 0x00])).unwrap();
        assert_eq!(
            (dec3.kind, dec3.channels(), dec3.bitrate_kbps),
            (Ac3Kind::Eac3, 6, Some(640))
        );
        assert!(Ac3Info::from_frame(&Bytes::from_static(&[0x0B, 0x78, 0, 0, 0, 0])).is_err());
        assert!(Ac3Info::from_frame(&Bytes::from_static(&[0x0B, 0x77, 0, 0])).is_err());
        assert!(Ac3Info::from_frame(&Bytes::from_static(&[0x0B, 0x77, 0, 0, 0xC0, 0x40])).is_err());
    }
}
