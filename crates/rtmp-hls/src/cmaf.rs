//! CMAF boxes through `mp4-atom`: the init section (`ftyp` + `moov`) of one track, and the
//! `moof` + `mdat` fragment of one part.

use bytes::Bytes;
use mp4_atom::FixedPoint;
use mp4_atom::esds::{DecoderConfig, DecoderSpecific, EsDescriptor};
use mp4_atom::{
    Atom, Audio, Av01, Av1c, Avc1, Avcc, Codec, Dinf, Dops, Dref, DrefEntry, Encode, Esds, Ftyp,
    Hdlr, Hvc1, Hvcc, Mdhd, Mdia, Mfhd, Minf, Moof, Moov, Mp4a, Mvex, Mvhd, Opus,
    OpusChannelMapping, Smhd, Stbl, Stsd, Tfdt, Tfhd, Tkhd, Traf, Trak, Trex, Trun, TrunEntry,
    TrunSamples, Url, Visual, Vmhd,
};
use rtmp_flv::opus::OpusHead;

/// The one track of every init section and fragment.
const TRACK_ID: u32 = 1;
/// `sample_depends_on` = 2 (depends on no other sample): a sync sample.
pub(crate) const SYNC_FLAGS: u32 = 0x0200_0000;
/// `sample_depends_on` = 1 and `sample_is_non_sync_sample`.
pub(crate) const NON_SYNC_FLAGS: u32 = 0x0101_0000;

/// The sample entry of a track, from its RTMP sequence start.
pub(crate) enum Entry {
    /// An AVCDecoderConfigurationRecord, as `avcC` carries it.
    Avc(Bytes),
    /// An HEVCDecoderConfigurationRecord, as `hvcC` carries it.
    Hevc(Bytes),
    /// An AV1CodecConfigurationRecord, as `av1C` carries it.
    Av1(Bytes),
    /// An AudioSpecificConfig.
    Aac {
        /// The AudioSpecificConfig.
        config: Bytes,
        /// The sampling frequency.
        sample_rate: u32,
        /// The channel configuration.
        channels: u8,
    },
    /// An Opus identification header.
    Opus(OpusHead),
}

/// The init section of one track: `ftyp` + `moov` with an empty sample table and `mvex`.
pub(crate) fn init_section(
    entry: &Entry,
    timescale: u32,
    size: Option<(u32, u32)>,
) -> Result<Bytes, mp4_atom::Error> {
    let (width, height) = size.unwrap_or((0, 0));
    let width = u16::try_from(width).unwrap_or(u16::MAX);
    let height = u16::try_from(height).unwrap_or(u16::MAX);
    let visual = Visual {
        data_reference_index: 1,
        width,
        height,
        ..Visual::default()
    };
    let audio = |channels: u8, rate: u32| Audio {
        data_reference_index: 1,
        channel_count: channels.into(),
        sample_size: 16,
        sample_rate: FixedPoint::new(u16::try_from(rate).unwrap_or(0), 0),
    };
    let codec = match entry {
        Entry::Avc(record) => Codec::Avc1(Avc1 {
            visual,
            avcc: Avcc::decode_body(&mut record.as_ref())?,
            ..Avc1::default()
        }),
        Entry::Hevc(record) => Codec::Hvc1(Hvc1 {
            visual,
            hvcc: Hvcc::decode_body(&mut record.as_ref())?,
            ..Hvc1::default()
        }),
        Entry::Av1(record) => Codec::Av01(Av01 {
            visual,
            av1c: Av1c::decode_body(&mut record.as_ref())?,
            ..Av01::default()
        }),
        Entry::Aac {
            config,
            sample_rate,
            channels,
        } => Codec::Mp4a(Mp4a {
            audio: audio(*channels, *sample_rate),
            esds: esds(config),
            btrt: None,
            taic: None,
        }),
        Entry::Opus(head) => Codec::Opus(Opus {
            audio: audio(head.channels, 48_000),
            dops: dops(head),
            btrt: None,
        }),
    };
    let video = !matches!(entry, Entry::Aac { .. } | Entry::Opus(_));
    let one = FixedPoint::new(1, 0);
    let moov = Moov {
        mvhd: Mvhd {
            timescale: 1000,
            rate: one,
            volume: FixedPoint::new(1, 0),
            next_track_id: TRACK_ID + 1,
            ..Mvhd::default()
        },
        mvex: Some(Mvex {
            mehd: None,
            trex: vec![Trex {
                track_id: TRACK_ID,
                default_sample_description_index: 1,
                ..Trex::default()
            }],
        }),
        trak: vec![Trak {
            tkhd: Tkhd {
                track_id: TRACK_ID,
                enabled: true,
                in_movie: true,
                volume: if video {
                    0.into()
                } else {
                    FixedPoint::new(1, 0)
                },
                width: FixedPoint::new(width, 0),
                height: FixedPoint::new(height, 0),
                ..Tkhd::default()
            },
            mdia: Mdia {
                mdhd: Mdhd {
                    timescale,
                    language: "und".into(),
                    ..Mdhd::default()
                },
                hdlr: Hdlr {
                    handler: if video { b"vide" } else { b"soun" }.into(),
                    name: if video { "Video" } else { "Audio" }.into(),
                },
                minf: Minf {
                    vmhd: video.then(Vmhd::default),
                    smhd: (!video).then(Smhd::default),
                    dinf: Dinf {
                        dref: Dref {
                            entries: vec![DrefEntry::Url(Url::default())],
                        },
                    },
                    stbl: Stbl {
                        stsd: Stsd {
                            codecs: vec![codec],
                        },
                        stco: Some(Default::default()),
                        ..Stbl::default()
                    },
                    ..Minf::default()
                },
            },
            ..Trak::default()
        }],
        ..Moov::default()
    };
    let ftyp = Ftyp {
        major_brand: b"iso6".into(),
        minor_version: 0,
        compatible_brands: vec![b"iso6".into(), b"cmfc".into(), b"mp41".into()],
    };
    let mut out = Vec::new();
    ftyp.encode(&mut out)?;
    moov.encode(&mut out)?;
    Ok(out.into())
}

fn esds(config: &Bytes) -> Esds {
    Esds {
        es_desc: EsDescriptor {
            es_id: 1,
            dec_config: DecoderConfig {
                object_type_indication: 0x40,
                stream_type: 5,
                up_stream: 0,
                buffer_size_db: Default::default(),
                max_bitrate: 0,
                avg_bitrate: 0,
                dec_specific: Some(DecoderSpecific {
                    profile: 0,
                    freq_index: 0,
                    chan_conf: 0,
                    raw: config.to_vec(),
                }),
            },
            ..EsDescriptor::default()
        },
    }
}

fn dops(head: &OpusHead) -> Dops {
    Dops {
        output_channel_count: head.channels,
        pre_skip: head.pre_skip,
        input_sample_rate: head.input_sample_rate,
        output_gain: head.output_gain,
        channel_mapping: head
            .mapping
            .as_ref()
            .filter(|_| head.mapping_family != 0)
            .map(|(streams, coupled, mapping)| OpusChannelMapping {
                family: head.mapping_family,
                stream_count: *streams,
                coupled_count: *coupled,
                channel_mapping: mapping.clone(),
            }),
    }
}

/// One sample of a fragment.
#[derive(Debug, Clone)]
pub(crate) struct FragmentSample {
    /// Duration in the track's timescale.
    pub duration: u32,
    /// `SYNC_FLAGS` or `NON_SYNC_FLAGS`.
    pub flags: u32,
    /// Composition offset in the track's timescale.
    pub composition_offset: i64,
    /// The sample's data.
    pub data: Bytes,
}

/// One `moof` + `mdat`: the samples of a part, starting at `base_decode_time`.
pub(crate) fn fragment(
    sequence: u32,
    base_decode_time: u64,
    samples: &[FragmentSample],
) -> Result<Bytes, mp4_atom::Error> {
    let entries = samples
        .iter()
        .map(|sample| TrunEntry {
            duration: Some(sample.duration),
            size: Some(u32::try_from(sample.data.len()).unwrap_or(u32::MAX)),
            flags: Some(sample.flags),
            cts: Some(sample.composition_offset),
        })
        .collect();
    let mut moof = Moof {
        mfhd: Mfhd {
            sequence_number: sequence,
        },
        traf: vec![Traf {
            tfhd: Tfhd {
                track_id: TRACK_ID,
                default_base_is_moof: true,
                ..Tfhd::default()
            },
            tfdt: Some(Tfdt {
                base_media_decode_time: base_decode_time,
            }),
            trun: vec![Trun {
                data_offset: Some(0),
                samples: TrunSamples::Explicit(entries),
            }],
            ..Traf::default()
        }],
    };
    let mut head = Vec::new();
    moof.encode(&mut head)?;
    // The data starts after the moof and the mdat's 8-byte header; the moof's size does not
    // depend on the offset's value.
    let offset =
        i32::try_from(head.len() + 8).map_err(|_| mp4_atom::Error::TooLarge(Moof::KIND))?;
    if let Some(run) = moof.traf.first_mut().and_then(|traf| traf.trun.first_mut()) {
        run.data_offset = Some(offset);
    }
    head.clear();
    moof.encode(&mut head)?;
    let data_len: usize = samples.iter().map(|sample| sample.data.len()).sum();
    let mdat_size =
        u32::try_from(data_len + 8).map_err(|_| mp4_atom::Error::TooLarge(b"mdat".into()))?;
    let mut out = Vec::with_capacity(head.len() + 8 + data_len);
    out.extend_from_slice(&head);
    out.extend_from_slice(&mdat_size.to_be_bytes());
    out.extend_from_slice(b"mdat");
    for sample in samples {
        out.extend_from_slice(&sample.data);
    }
    Ok(out.into())
}
