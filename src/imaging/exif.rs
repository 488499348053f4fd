//! Just enough of EXIF to read and reset the orientation tag in place.
//!
//! We rotate the pixels on load, so the output must say "orientation 1" or viewers would rotate
//! it a second time. Everything else in the block is carried byte for byte, which is why the
//! tag is patched in the raw TIFF structure instead of re-serialising the EXIF.
//!
//! The bytes come from arbitrary files: every read is bounds-checked and a malformed block is
//! simply left alone.

/// The optional APP1 prefix; some PNG and WebP writers keep it in their EXIF chunk too.
const EXIF_PREFIX: &[u8] = b"Exif\0\0";
const TAG_ORIENTATION: u16 = 0x0112;
const TYPE_SHORT: u16 = 3;

#[derive(Clone, Copy)]
enum Endian {
    Little,
    Big,
}

impl Endian {
    fn u16(self, b: &[u8], at: usize) -> Option<u16> {
        let s: [u8; 2] = b.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(match self {
            Endian::Little => u16::from_le_bytes(s),
            Endian::Big => u16::from_be_bytes(s),
        })
    }

    fn u32(self, b: &[u8], at: usize) -> Option<u32> {
        let s: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(match self {
            Endian::Little => u32::from_le_bytes(s),
            Endian::Big => u32::from_be_bytes(s),
        })
    }

    fn put_u16(self, v: u16) -> [u8; 2] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }
}

/// `exif` without the `Exif\0\0` prefix, i.e. starting at the TIFF header.
pub fn strip_prefix(exif: &[u8]) -> &[u8] {
    exif.strip_prefix(EXIF_PREFIX).unwrap_or(exif)
}

/// Absolute offset of the orientation value (a single SHORT in IFD0) and the byte order.
fn locate_orientation(exif: &[u8]) -> Option<(usize, Endian)> {
    let base = if exif.starts_with(EXIF_PREFIX) {
        EXIF_PREFIX.len()
    } else {
        0
    };
    let tiff = exif.get(base..)?;
    let endian = match tiff.get(..4)? {
        b"II*\0" => Endian::Little,
        b"MM\0*" => Endian::Big,
        _ => return None,
    };
    let ifd0 = usize::try_from(endian.u32(tiff, 4)?).ok()?;
    let entries = endian.u16(tiff, ifd0)?;
    // Not relying on sorted tags: some writers do not sort, and at most 65535 entries are cheap.
    for i in 0..usize::from(entries) {
        let entry = ifd0.checked_add(2)?.checked_add(i.checked_mul(12)?)?;
        if endian.u16(tiff, entry)? != TAG_ORIENTATION {
            continue;
        }
        let kind = endian.u16(tiff, entry + 2)?;
        let count = endian.u32(tiff, entry + 4)?;
        if kind != TYPE_SHORT || count != 1 {
            return None;
        }
        // A single SHORT sits left-justified in the 4-byte value field, whatever the byte order.
        let value_at = entry + 8;
        endian.u16(tiff, value_at)?;
        return Some((base + value_at, endian));
    }
    None
}

/// The raw orientation value (1-8 when valid) from IFD0, if the block is readable and has one.
pub fn orientation(exif: &[u8]) -> Option<u16> {
    let (at, endian) = locate_orientation(exif)?;
    endian.u16(exif, at)
}

/// Sets the orientation tag to 1 ("as stored") in place. Returns true when bytes changed;
/// false when there is no readable orientation tag or it already is 1. Never panics: a
/// truncated or garbage block is left untouched.
pub fn reset_orientation(exif: &mut [u8]) -> bool {
    let Some((at, endian)) = locate_orientation(exif) else {
        return false;
    };
    let one = endian.put_u16(1);
    match exif.get_mut(at..at + 2) {
        Some(slot) if slot != one => {
            slot.copy_from_slice(&one);
            true
        }
        _ => false,
    }
}

/// Test helper: a minimal EXIF block (TIFF header + IFD0) with an orientation entry between
/// two other entries, so that tests can check that only the orientation bytes change.
#[cfg(test)]
pub(crate) fn sample_exif(big_endian: bool, orientation: u16) -> Vec<u8> {
    let e = if big_endian {
        Endian::Big
    } else {
        Endian::Little
    };
    let u16b = |v: u16| e.put_u16(v);
    let u32b = |v: u32| match e {
        Endian::Little => v.to_le_bytes(),
        Endian::Big => v.to_be_bytes(),
    };
    let mut b = Vec::new();
    b.extend_from_slice(if big_endian { b"MM\0*" } else { b"II*\0" });
    b.extend_from_slice(&u32b(8));
    b.extend_from_slice(&u16b(3));
    // Make (0x010F), ASCII, 4 bytes inline: "Cam\0".
    b.extend_from_slice(&u16b(0x010F));
    b.extend_from_slice(&u16b(2));
    b.extend_from_slice(&u32b(4));
    b.extend_from_slice(b"Cam\0");
    b.extend_from_slice(&u16b(TAG_ORIENTATION));
    b.extend_from_slice(&u16b(TYPE_SHORT));
    b.extend_from_slice(&u32b(1));
    b.extend_from_slice(&u16b(orientation));
    b.extend_from_slice(&[0, 0]);
    // ResolutionUnit (0x0128), SHORT, 2 = inches.
    b.extend_from_slice(&u16b(0x0128));
    b.extend_from_slice(&u16b(TYPE_SHORT));
    b.extend_from_slice(&u32b(1));
    b.extend_from_slice(&u16b(2));
    b.extend_from_slice(&[0, 0]);
    // No next IFD.
    b.extend_from_slice(&u32b(0));
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_reset(big_endian: bool) {
        let original = sample_exif(big_endian, 6);
        assert_eq!(orientation(&original), Some(6));
        let mut patched = original.clone();
        assert!(reset_orientation(&mut patched));
        assert_eq!(orientation(&patched), Some(1));
        let changed: Vec<usize> = (0..original.len())
            .filter(|&i| original[i] != patched[i])
            .collect();
        // Only the orientation value's low-order byte differs (6 -> 1).
        assert_eq!(changed.len(), 1, "{changed:?}");
        // Agrees with the image crate's own reader.
        assert_eq!(
            image::metadata::Orientation::from_exif_chunk(&patched),
            Some(image::metadata::Orientation::NoTransforms)
        );
        // Resetting again changes nothing.
        assert!(!reset_orientation(&mut patched));
    }

    #[test]
    fn resets_little_endian() {
        check_reset(false);
    }

    #[test]
    fn resets_big_endian() {
        check_reset(true);
    }

    #[test]
    fn handles_the_app1_prefix() {
        let mut b = b"Exif\0\0".to_vec();
        b.extend(sample_exif(true, 8));
        assert_eq!(orientation(&b), Some(8));
        assert!(reset_orientation(&mut b));
        assert_eq!(orientation(&b), Some(1));
        assert!(b.starts_with(b"Exif\0\0"));
        assert_eq!(strip_prefix(&b), &sample_exif(true, 1)[..]);
    }

    #[test]
    fn no_orientation_tag_is_left_alone() {
        let mut b = sample_exif(false, 6);
        // Rename the tag to something else (0x0131 Software).
        b[22] = 0x31;
        b[23] = 0x01;
        let before = b.clone();
        assert_eq!(orientation(&b), None);
        assert!(!reset_orientation(&mut b));
        assert_eq!(b, before);
    }

    #[test]
    fn wrong_type_is_left_alone() {
        let mut b = sample_exif(false, 6);
        b[24] = 4; // LONG instead of SHORT
        let before = b.clone();
        assert!(!reset_orientation(&mut b));
        assert_eq!(b, before);
    }

    #[test]
    fn garbage_and_truncation_never_panic() {
        let full = sample_exif(false, 6);
        for len in 0..full.len() {
            let mut cut = full[..len].to_vec();
            let before = cut.clone();
            // Cut before the value's two bytes: nothing to patch.
            if len < 32 {
                assert!(!reset_orientation(&mut cut), "len {len}");
                assert_eq!(cut, before);
            } else {
                reset_orientation(&mut cut);
            }
        }
        let mut cases: Vec<Vec<u8>> = vec![
            vec![],
            b"Exif\0\0".to_vec(),
            b"II*\0".to_vec(),
            b"MM\0*\xff\xff\xff\xff".to_vec(),
            b"II*\0\x08\0\0\0\xff\xff".to_vec(), // 65535 entries, none present
            b"hello, not exif at all".to_vec(),
            vec![0xff; 64],
        ];
        // Deterministic pseudo-random noise behind a valid header.
        let mut x: u32 = 12345;
        for _ in 0..200 {
            let mut v = b"MM\0*".to_vec();
            for _ in 0..40 {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                v.push((x >> 16) as u8 & 0x1f);
            }
            cases.push(v);
        }
        for mut c in cases {
            let _ = orientation(&c);
            let _ = reset_orientation(&mut c);
        }
    }
}
