//! A compact sRGB ICC profile for `cs=tinysrgb`: the standard sRGB primaries and white point
//! with a single gamma-2.2 tone curve in place of sRGB's piecewise one (the "slight shift in
//! colour values" imgix warns of, at most a few levels in the darkest tones), in ICC v2 — 448
//! bytes where a full sRGB profile is several times that.

/// `s15Fixed16Number`.
fn fixed(v: f64) -> [u8; 4] {
    ((v * 65536.0).round() as i32).to_be_bytes()
}

fn xyz(x: f64, y: f64, z: f64) -> Vec<u8> {
    let mut t = b"XYZ \0\0\0\0".to_vec();
    for v in [x, y, z] {
        t.extend(fixed(v));
    }
    t
}

/// The profile's bytes.
pub fn tiny_srgb() -> Vec<u8> {
    let name = b"tiny sRGB\0";
    let mut desc = b"desc\0\0\0\0".to_vec();
    desc.extend((name.len() as u32).to_be_bytes());
    desc.extend(name);
    // No Unicode or ScriptCode description: empty counts, and the fixed 67-byte Mac field.
    desc.extend([0u8; 4 + 4 + 2 + 1 + 67]);
    let cprt = b"text\0\0\0\0CC0\0".to_vec();
    // One entry: gamma 2.2 as u8Fixed8 (0x0233 = 2.1992).
    let curv = b"curv\0\0\0\0\0\0\0\x01\x02\x33".to_vec();
    // Colorants adapted to D50 (Bradford), as in the IEC 61966-2.1 profile; white point D65.
    let tags: Vec<(&[u8; 4], Vec<u8>)> = vec![
        (b"desc", desc),
        (b"cprt", cprt),
        (b"wtpt", xyz(0.9505, 1.0, 1.0891)),
        (b"rXYZ", xyz(0.436_074_7, 0.222_504_5, 0.013_932_2)),
        (b"gXYZ", xyz(0.385_064_9, 0.716_878_6, 0.097_104_5)),
        (b"bXYZ", xyz(0.143_080_4, 0.060_616_9, 0.714_173_3)),
        (b"rTRC", curv),
    ];
    // The three curves share one data block.
    let entries = tags.len() + 2;
    let mut offset = 128 + 4 + 12 * entries;
    let mut table = (entries as u32).to_be_bytes().to_vec();
    let mut data = Vec::new();
    let mut trc = (0, 0);
    for (sig, bytes) in &tags {
        table.extend(*sig);
        table.extend((offset as u32).to_be_bytes());
        table.extend((bytes.len() as u32).to_be_bytes());
        if *sig == b"rTRC" {
            trc = (offset, bytes.len());
        }
        data.extend(bytes);
        let padded = bytes.len().div_ceil(4) * 4;
        data.resize(data.len() + padded - bytes.len(), 0);
        offset += padded;
    }
    for sig in [b"gTRC", b"bTRC"] {
        table.extend(sig);
        table.extend((trc.0 as u32).to_be_bytes());
        table.extend((trc.1 as u32).to_be_bytes());
    }
    let size = 128 + table.len() + data.len();
    let mut header = vec![0u8; 128];
    header[0..4].copy_from_slice(&(size as u32).to_be_bytes());
    header[8..12].copy_from_slice(&[2, 0x10, 0, 0]);
    header[12..16].copy_from_slice(b"mntr");
    header[16..20].copy_from_slice(b"RGB ");
    header[20..24].copy_from_slice(b"XYZ ");
    header[36..40].copy_from_slice(b"acsp");
    // Illuminant of the connection space: D50.
    header[68..72].copy_from_slice(&fixed(0.9642));
    header[72..76].copy_from_slice(&fixed(1.0));
    header[76..80].copy_from_slice(&fixed(0.8249));
    let mut out = header;
    out.extend(table);
    out.extend(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_is_small_and_its_table_points_inside_it() {
        let p = tiny_srgb();
        assert_eq!(p.len(), 448);
        assert_eq!(
            u32::from_be_bytes(p[0..4].try_into().unwrap()) as usize,
            p.len()
        );
        assert_eq!(&p[36..40], b"acsp");
        let n = u32::from_be_bytes(p[128..132].try_into().unwrap()) as usize;
        assert_eq!(n, 9);
        for i in 0..n {
            let e = 132 + 12 * i;
            let off = u32::from_be_bytes(p[e + 4..e + 8].try_into().unwrap()) as usize;
            let len = u32::from_be_bytes(p[e + 8..e + 12].try_into().unwrap()) as usize;
            assert!(off.is_multiple_of(4) && off + len <= p.len());
        }
    }
}
