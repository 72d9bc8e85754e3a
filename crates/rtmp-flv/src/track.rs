//! What Enhanced RTMP audio and video share: FourCCs, ModEx prefixes and multitrack bodies.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{Error, invalid};
use crate::read::Reader;

/// A four-character code such as `*b"hvc1"`.
pub type FourCc = [u8; 4];

/// The packet type that announces a ModEx prefix (audio and video alike).
pub(crate) const MOD_EX: u8 = 7;

/// ModEx type 0: a nanosecond offset added to the millisecond timestamp.
const TIMESTAMP_OFFSET_NANO: u8 = 0;

/// How the tracks of a multitrack message are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MultitrackType {
    /// One track, no size field.
    OneTrack,
    /// Several tracks of one codec (one FourCC for all).
    ManyTracks,
    /// Several tracks, each with its own FourCC.
    ManyTracksManyCodecs,
}

impl MultitrackType {
    pub(crate) fn from_bits(bits: u8) -> Result<Self, Error> {
        match bits {
            0 => Ok(MultitrackType::OneTrack),
            1 => Ok(MultitrackType::ManyTracks),
            2 => Ok(MultitrackType::ManyTracksManyCodecs),
            _ => Err(invalid("multitrack header", "reserved multitrack type")),
        }
    }

    pub(crate) fn bits(self) -> u8 {
        match self {
            MultitrackType::OneTrack => 0,
            MultitrackType::ManyTracks => 1,
            MultitrackType::ManyTracksManyCodecs => 2,
        }
    }
}

/// One track's FourCC, id and body, before the body is interpreted.
pub(crate) struct RawTrack {
    pub(crate) fourcc: FourCc,
    pub(crate) track_id: u8,
    pub(crate) body: Bytes,
}

/// Reads ModEx prefixes while the packet type says one follows. Returns the real packet type
/// and the timestamp offset in nanoseconds (0 when none was given).
pub(crate) fn read_mod_ex(reader: &mut Reader, mut packet_type: u8) -> Result<(u8, u32), Error> {
    let mut nanos = 0;
    while packet_type == MOD_EX {
        let mut size = usize::from(reader.u8()?) + 1;
        if size == 256 {
            size = usize::from(reader.u16()?) + 1;
        }
        let data = reader.take(size)?;
        let byte = reader.u8()?;
        if byte >> 4 == TIMESTAMP_OFFSET_NANO {
            let [a, b, c] = data
                .get(..3)
                .and_then(|d| <[u8; 3]>::try_from(d).ok())
                .ok_or(invalid("ModEx", "timestamp offset shorter than 3 bytes"))?;
            nanos = u32::from_be_bytes([0, a, b, c]);
        }
        packet_type = byte & 0x0F;
    }
    Ok((packet_type, nanos))
}

/// Writes a TimestampOffsetNano ModEx prefix (after a header whose packet type was ModEx),
/// followed by the real packet type.
pub(crate) fn write_mod_ex(dst: &mut BytesMut, nanos: u32, packet_type: u8) {
    dst.put_u8(2); // three bytes of data
    dst.put_uint(u64::from(nanos.min(0xFF_FFFF)), 3);
    dst.put_u8(TIMESTAMP_OFFSET_NANO << 4 | packet_type);
}

/// Reads the tracks of a multitrack body.
pub(crate) fn read_tracks(
    reader: &mut Reader,
    layout: MultitrackType,
    shared: Option<FourCc>,
) -> Result<Vec<RawTrack>, Error> {
    let mut tracks = Vec::new();
    while !reader.is_empty() {
        let fourcc = match shared {
            Some(fourcc) => fourcc,
            None => reader.fourcc()?,
        };
        let track_id = reader.u8()?;
        let body = match layout {
            MultitrackType::OneTrack => reader.rest(),
            _ => {
                let size = reader.u24()? as usize;
                reader.take(size)?
            }
        };
        tracks.push(RawTrack {
            fourcc,
            track_id,
            body,
        });
        if layout == MultitrackType::OneTrack {
            break;
        }
    }
    if tracks.is_empty() {
        return Err(invalid("multitrack body", "no track"));
    }
    Ok(tracks)
}

/// Writes the byte after a Multitrack packet type, the shared FourCC, and the tracks.
pub(crate) fn write_tracks(
    dst: &mut BytesMut,
    layout: MultitrackType,
    packet_type: u8,
    tracks: &[RawTrack],
) -> Result<(), Error> {
    dst.put_u8(layout.bits() << 4 | packet_type);
    if layout != MultitrackType::ManyTracksManyCodecs {
        let first = tracks
            .first()
            .ok_or(invalid("multitrack body", "no track"))?;
        if tracks.iter().any(|track| track.fourcc != first.fourcc) {
            return Err(invalid(
                "multitrack body",
                "tracks of several codecs need ManyTracksManyCodecs",
            ));
        }
        dst.put_slice(&first.fourcc);
    }
    if layout == MultitrackType::OneTrack && tracks.len() != 1 {
        return Err(invalid(
            "multitrack body",
            "OneTrack carries exactly one track",
        ));
    }
    for track in tracks {
        if layout == MultitrackType::ManyTracksManyCodecs {
            dst.put_slice(&track.fourcc);
        }
        dst.put_u8(track.track_id);
        if layout != MultitrackType::OneTrack {
            if track.body.len() > 0xFF_FFFF {
                return Err(Error::TooLarge {
                    what: "multitrack track size",
                    value: track.body.len(),
                });
            }
            dst.put_uint(track.body.len() as u64, 3);
        }
        dst.put_slice(&track.body);
    }
    Ok(())
}

/// Writes an enhanced audio or video body: `first` writes the header byte (and any ModEx
/// prefix) for a packet type; then either one track (FourCC and body) or, with a multitrack
/// layout, the `multitrack_type` packet type and the tracks. Every track must have the same
/// packet type.
pub(crate) fn write_enhanced_body(
    dst: &mut BytesMut,
    what: &'static str,
    multitrack: Option<MultitrackType>,
    multitrack_type: u8,
    encoded: Vec<(u8, RawTrack)>,
    first: impl Fn(&mut BytesMut, u8),
) -> Result<(), Error> {
    let packet_type = encoded
        .first()
        .map(|(packet_type, _)| *packet_type)
        .ok_or(invalid(what, "no track"))?;
    if encoded.iter().any(|(other, _)| *other != packet_type) {
        return Err(invalid(what, "tracks of one message need one packet type"));
    }
    let raw: Vec<RawTrack> = encoded.into_iter().map(|(_, raw)| raw).collect();
    match (multitrack, raw.as_slice()) {
        (Some(layout), _) => {
            first(dst, multitrack_type);
            write_tracks(dst, layout, packet_type, &raw)
        }
        (None, [single]) => {
            first(dst, packet_type);
            dst.put_slice(&single.fourcc);
            dst.put_slice(&single.body);
            Ok(())
        }
        (None, _) => Err(invalid(what, "several tracks need a multitrack layout")),
    }
}
