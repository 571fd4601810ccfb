//! A minimal MP4 (ISO-BMFF) muxer for tests: one video track, one chunk, written from scratch
//! so tests can build real H.264 (or fake HEVC) files without any fixture or external tool.
//!
//! Layout: `ftyp`, then `mdat` + `moov` (or `moov` + `mdat` with `faststart`). The sample table
//! has `stts` (durations), optional `ctts` (composition offsets), `stss` (sync samples),
//! `stsc` (all samples in one chunk), `stsz` and `stco`.

#![allow(dead_code)]

/// The sample entry (codec) of the track.
pub enum SampleEntry {
    /// H.264 with out-of-band SPS/PPS in an `avcC` box; samples use 4-byte NAL lengths.
    Avc { sps: Vec<u8>, pps: Vec<u8> },
    /// HEVC `hvc1` with an empty (but well-formed) `hvcC`; enough to be recognised, not decoded.
    Hevc,
}

pub struct MuxSample {
    /// The access unit, NAL units prefixed with 4-byte big-endian lengths.
    pub data: Vec<u8>,
    pub duration: u32,
    pub composition_offset: u32,
    pub sync: bool,
}

pub struct TrackSpec {
    pub width: u16,
    pub height: u16,
    pub timescale: u32,
    pub entry: SampleEntry,
}

fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(&((payload.len() + 8) as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(payload);
    out
}

fn full_box(kind: &[u8; 4], version: u8, flags: u32, payload: &[u8]) -> Vec<u8> {
    let mut body = vec![version];
    body.extend_from_slice(&flags.to_be_bytes()[1..]);
    body.extend_from_slice(payload);
    boxed(kind, &body)
}

struct Bytes(Vec<u8>);
impl Bytes {
    fn new() -> Self {
        Bytes(Vec::new())
    }
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn zeros(&mut self, n: usize) -> &mut Self {
        self.0.extend(std::iter::repeat_n(0, n));
        self
    }
    fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    fn matrix(&mut self) -> &mut Self {
        for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
            self.u32(v);
        }
        self
    }
    fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

fn sample_entry(spec: &TrackSpec) -> Vec<u8> {
    let mut visual = Bytes::new();
    visual
        .zeros(6)
        .u16(1) // data_reference_index
        .zeros(16)
        .u16(spec.width)
        .u16(spec.height)
        .u32(0x0048_0000)
        .u32(0x0048_0000)
        .u32(0)
        .u16(1) // frame_count
        .zeros(32) // compressor name
        .u16(0x0018)
        .u16(0xFFFF);
    match &spec.entry {
        SampleEntry::Avc { sps, pps } => {
            let mut avcc = Bytes::new();
            avcc.u8(1)
                .u8(sps[1])
                .u8(sps[2])
                .u8(sps[3])
                .u8(0xFF) // 4-byte NAL lengths
                .u8(0xE1) // one SPS
                .u16(sps.len() as u16)
                .raw(sps)
                .u8(1)
                .u16(pps.len() as u16)
                .raw(pps);
            visual.raw(&boxed(b"avcC", &avcc.take()));
            boxed(b"avc1", &visual.take())
        }
        SampleEntry::Hevc => {
            let mut hvcc = Bytes::new();
            hvcc.u8(1)
                .u8(0x01) // profile space 0, tier 0, Main profile
                .u32(0x6000_0000)
                .zeros(6)
                .u8(93) // level 3.1
                .u16(0xF000)
                .u8(0xFC)
                .u8(0xFD) // 4:2:0
                .u8(0xF8)
                .u8(0xF8)
                .u16(0)
                .u8(0x0F) // 4-byte NAL lengths
                .u8(0); // no parameter-set arrays
            visual.raw(&boxed(b"hvcC", &hvcc.take()));
            boxed(b"hvc1", &visual.take())
        }
    }
}

fn moov(spec: &TrackSpec, samples: &[MuxSample], chunk_offset: u32) -> Vec<u8> {
    let duration: u32 = samples.iter().map(|s| s.duration).sum();
    let mut b = Bytes::new();

    let mvhd = full_box(
        b"mvhd",
        0,
        0,
        &b.zeros(8)
            .u32(spec.timescale)
            .u32(duration)
            .u32(0x0001_0000)
            .u16(0x0100)
            .zeros(10)
            .matrix()
            .zeros(24)
            .u32(2)
            .take(),
    );
    let tkhd = full_box(
        b"tkhd",
        0,
        3,
        &b.zeros(8)
            .u32(1) // track id
            .zeros(4)
            .u32(duration)
            .zeros(16)
            .matrix()
            .u32((spec.width as u32) << 16)
            .u32((spec.height as u32) << 16)
            .take(),
    );
    let mdhd = full_box(
        b"mdhd",
        0,
        0,
        &b.zeros(8)
            .u32(spec.timescale)
            .u32(duration)
            .u16(0x55C4)
            .u16(0)
            .take(),
    );
    let hdlr = full_box(
        b"hdlr",
        0,
        0,
        &b.zeros(4).raw(b"vide").zeros(12).raw(b"Video\0").take(),
    );
    let vmhd = full_box(b"vmhd", 0, 1, &[0; 8]);
    let dref = full_box(
        b"dref",
        0,
        0,
        &b.u32(1).raw(&full_box(b"url ", 0, 1, &[])).take(),
    );
    let dinf = boxed(b"dinf", &dref);

    let stsd = full_box(b"stsd", 0, 0, &b.u32(1).raw(&sample_entry(spec)).take());
    let stts = full_box(b"stts", 0, 0, &{
        b.u32(samples.len() as u32);
        for s in samples {
            b.u32(1).u32(s.duration);
        }
        b.take()
    });
    let ctts = samples.iter().any(|s| s.composition_offset != 0).then(|| {
        full_box(b"ctts", 0, 0, &{
            b.u32(samples.len() as u32);
            for s in samples {
                b.u32(1).u32(s.composition_offset);
            }
            b.take()
        })
    });
    let sync: Vec<u32> = (1..=samples.len() as u32)
        .filter(|&i| samples[i as usize - 1].sync)
        .collect();
    let stss = full_box(b"stss", 0, 0, &{
        b.u32(sync.len() as u32);
        for i in &sync {
            b.u32(*i);
        }
        b.take()
    });
    let stsc = full_box(
        b"stsc",
        0,
        0,
        &b.u32(1).u32(1).u32(samples.len() as u32).u32(1).take(),
    );
    let stsz = full_box(b"stsz", 0, 0, &{
        b.u32(0).u32(samples.len() as u32);
        for s in samples {
            b.u32(s.data.len() as u32);
        }
        b.take()
    });
    let stco = full_box(b"stco", 0, 0, &b.u32(1).u32(chunk_offset).take());

    let mut stbl = Vec::new();
    for part in [
        Some(stsd),
        Some(stts),
        ctts,
        Some(stss),
        Some(stsc),
        Some(stsz),
        Some(stco),
    ]
    .into_iter()
    .flatten()
    {
        stbl.extend(part);
    }
    let minf = boxed(b"minf", &[vmhd, dinf, boxed(b"stbl", &stbl)].concat());
    let mdia = boxed(b"mdia", &[mdhd, hdlr, minf].concat());
    let trak = boxed(b"trak", &[tkhd, mdia].concat());
    boxed(b"moov", &[mvhd, trak].concat())
}

/// Builds the whole file.
pub fn mux_mp4(spec: &TrackSpec, samples: &[MuxSample], faststart: bool) -> Vec<u8> {
    let ftyp = boxed(
        b"ftyp",
        &Bytes::new()
            .raw(b"isom")
            .u32(512)
            .raw(b"isomiso2avc1mp41")
            .take(),
    );
    let payload: Vec<u8> = samples
        .iter()
        .flat_map(|s| s.data.iter().copied())
        .collect();
    let mdat = boxed(b"mdat", &payload);
    if faststart {
        // The moov's size does not depend on the offset value, so measure it first.
        let moov_len = moov(spec, samples, 0).len();
        let offset = (ftyp.len() + moov_len + 8) as u32;
        [ftyp, moov(spec, samples, offset), mdat].concat()
    } else {
        let offset = (ftyp.len() + 8) as u32;
        [ftyp, mdat, moov(spec, samples, offset)].concat()
    }
}
