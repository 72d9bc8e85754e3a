//! Opus: the identification header (`OpusHead`, RFC 7845), the sequence start of `Opus` in
//! Enhanced RTMP.

use bytes::Bytes;

use crate::error::{Error, invalid};

/// The Opus identification header. Its multi-byte fields are little-endian.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusHead {
    /// The header version (1).
    pub version: u8,
    /// Output channels.
    pub channels: u8,
    /// Samples (at 48 kHz) to drop from the start of the decoded output.
    pub pre_skip: u16,
    /// The input's sample rate (informational: Opus always decodes at 48 kHz).
    pub input_sample_rate: u32,
    /// Gain to apply, in Q7.8 dB.
    pub output_gain: i16,
    /// 0 mono/stereo, 1 Vorbis order (up to 8 channels), 255 unspecified.
    pub mapping_family: u8,
    /// Streams and coupled streams, and the channel mapping, for families other than 0.
    pub mapping: Option<(u8, u8, Vec<u8>)>,
}

impl OpusHead {
    /// Parses the header.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use rtmp_flv::opus::OpusHead;
    ///
    /// // As ffmpeg sends it: mono, 312 samples of pre-skip, 48 kHz input, family 0.
    /// let data = Bytes::from_static(b"OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00");
    /// let head = OpusHead::parse(&data).unwrap();
    /// assert_eq!((head.channels, head.pre_skip, head.input_sample_rate), (1, 312, 48_000));
    /// ```
    pub fn parse(data: &Bytes) -> Result<Self, Error> {
        const WHAT: &str = "OpusHead";
        let short = |needed| Error::TooShort {
            what: WHAT,
            needed,
            available: data.len(),
        };
        let fixed: &[u8; 19] = data
            .get(..19)
            .and_then(|fixed| fixed.try_into().ok())
            .ok_or_else(|| short(19))?;
        if fixed.get(..8) != Some(b"OpusHead") {
            return Err(invalid(WHAT, "no OpusHead magic"));
        }
        let version = fixed[8];
        if version >> 4 != 0 {
            return Err(invalid(WHAT, "an incompatible major version"));
        }
        let channels = fixed[9];
        if channels == 0 {
            return Err(invalid(WHAT, "no channels"));
        }
        let mapping_family = fixed[18];
        let mapping = if mapping_family == 0 {
            if channels > 2 {
                return Err(invalid(WHAT, "family 0 with more than 2 channels"));
            }
            None
        } else {
            let table = data.get(19..21 + usize::from(channels));
            let table = table.ok_or_else(|| short(21 + usize::from(channels)))?;
            match table {
                [streams, coupled, mapping @ ..] => Some((*streams, *coupled, mapping.to_vec())),
                _ => return Err(short(21)),
            }
        };
        Ok(Self {
            version,
            channels,
            pre_skip: u16::from_le_bytes([fixed[10], fixed[11]]),
            input_sample_rate: u32::from_le_bytes([fixed[12], fixed[13], fixed[14], fixed[15]]),
            output_gain: i16::from_le_bytes([fixed[16], fixed[17]]),
            mapping_family,
            mapping,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn surround_mapping_is_read_and_bad_headers_are_errors() {
        let mut six = b"OpusHead\x01\x06\x00\x00\x44\xac\x00\x00\x00\x00\x01".to_vec();
        six.extend_from_slice(&[4, 2, 0, 4, 1, 2, 3, 5]);
        let head = OpusHead::parse(&Bytes::from(six)).unwrap();
        assert_eq!(head.input_sample_rate, 44_100);
        assert_eq!(head.mapping, Some((4, 2, vec![0, 4, 1, 2, 3, 5])));
        for bad in [
            &b"OpusHead\x01\x06\x00\x00\x44\xac\x00\x00\x00\x00\x01\x04"[..],
            b"OpusHeae\x01\x01\x00\x00\x44\xac\x00\x00\x00\x00\x00",
            b"OpusHead\x01\x00\x00\x00\x44\xac\x00\x00\x00\x00\x00",
            b"OpusHead\x01\x03\x00\x00\x44\xac\x00\x00\x00\x00\x00",
            b"OpusHead\x21\x01\x00\x00\x44\xac\x00\x00\x00\x00\x00",
            b"OpusHead",
        ] {
            assert!(
                OpusHead::parse(&Bytes::from_static(bad)).is_err(),
                "{bad:?}"
            );
        }
    }
}
