//! `CODECS` attribute values (RFC 6381 forms) from the codec configuration records, as
//! `rtmp-flv` parses them.

use rtmp_flv::aac::AudioSpecificConfig;
use rtmp_flv::av1::Av1Config;
use rtmp_flv::avc::AvcConfig;
use rtmp_flv::hevc::HevcConfig;

/// `avc1.PPCCLL`: profile, constraint flags and level in hex.
pub(crate) fn avc(config: &AvcConfig) -> String {
    format!(
        "avc1.{:02x}{:02x}{:02x}",
        config.profile, config.compatibility, config.level
    )
}

/// `hvc1.<space><profile>.<compatibility, bit-reversed>.<tier><level>[.<constraint bytes>]`.
pub(crate) fn hevc(config: &HevcConfig) -> String {
    let space = match config.profile_space {
        1 => "A",
        2 => "B",
        3 => "C",
        _ => "",
    };
    let tier = if config.tier { 'H' } else { 'L' };
    let mut out = format!(
        "hvc1.{space}{}.{:X}.{tier}{}",
        config.profile,
        config.compatibility.reverse_bits(),
        config.level
    );
    let constraints = config.constraints.to_be_bytes();
    // The 48 bits sit in the low six bytes; trailing zero bytes are left out.
    let bytes = constraints.get(2..).unwrap_or_default();
    let used = bytes
        .iter()
        .rposition(|&byte| byte != 0)
        .map_or(0, |last| last + 1);
    for byte in bytes.iter().take(used) {
        out.push_str(&format!(".{byte:02X}"));
    }
    out
}

/// `av01.<profile>.<level><tier>.<bit depth>`.
pub(crate) fn av1(config: &Av1Config) -> String {
    let tier = if config.seq_tier_0 { 'H' } else { 'M' };
    let depth = match (config.high_bitdepth, config.twelve_bit) {
        (true, true) => 12,
        (true, false) => 10,
        _ => 8,
    };
    format!(
        "av01.{}.{:02}{tier}.{depth:02}",
        config.seq_profile, config.seq_level_idx_0
    )
}

/// `mp4a.40.<audio object type>`: `.2` for AAC-LC, `.5` HE-AAC, `.29` HE-AACv2.
pub(crate) fn aac(config: &AudioSpecificConfig) -> String {
    format!("mp4a.40.{}", config.object_type)
}

/// Opus in MP4 (`Opus` sample entry).
pub(crate) const OPUS: &str = "opus";

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn avc_string() {
        let record = Bytes::from_static(&[1, 0x64, 0x00, 0x1f, 0xff, 0xe0, 0x00]);
        let config = AvcConfig::parse(&record).unwrap();
        assert_eq!(avc(&config), "avc1.64001f");
    }

    #[test]
    fn aac_string() {
        let config = AudioSpecificConfig::parse(&[0x12, 0x10]).unwrap();
        assert_eq!(aac(&config), "mp4a.40.2");
    }
}
