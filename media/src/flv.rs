//! Writing FLV, the container RTMP's messages come from: an RTMP audio or video
//! message body is exactly an FLV tag body, so a publish becomes an FLV byte stream
//! that [`crate::remux`] turns into fragmented MP4.

/// FLV tag types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagKind {
    Audio = 8,
    Video = 9,
    Script = 18,
}

/// The FLV file header (audio and video flags set) and the first PreviousTagSize.
pub fn header() -> [u8; 13] {
    [b'F', b'L', b'V', 1, 0x05, 0, 0, 0, 9, 0, 0, 0, 0]
}

/// Appends one tag (header, body, PreviousTagSize) to `out`. `timestamp_ms` is the
/// full 32-bit RTMP timestamp: FLV stores its low 24 bits and then the high 8.
pub fn write_tag(out: &mut Vec<u8>, kind: TagKind, timestamp_ms: u32, body: &[u8]) -> Result<(), TagTooLarge> {
    let size = u32::try_from(body.len()).ok().filter(|s| *s < 1 << 24).ok_or(TagTooLarge(body.len()))?;
    out.reserve(11 + body.len() + 4);
    out.push(kind as u8);
    out.extend_from_slice(&size.to_be_bytes()[1..]);
    out.extend_from_slice(&timestamp_ms.to_be_bytes()[1..]);
    out.push((timestamp_ms >> 24) as u8);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(body);
    out.extend_from_slice(&(11 + size).to_be_bytes());
    Ok(())
}

/// A tag body of 16 MiB or more cannot be framed in FLV.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("an FLV tag body is limited to 16 MiB; got {0} bytes")]
pub struct TagTooLarge(pub usize);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_layout() {
        let mut out = header().to_vec();
        write_tag(&mut out, TagKind::Video, 0x0102_0304, b"abc").unwrap();
        assert_eq!(&out[13..24], &[9, 0, 0, 3, 0x02, 0x03, 0x04, 0x01, 0, 0, 0]);
        assert_eq!(&out[24..27], b"abc");
        assert_eq!(&out[27..31], &14u32.to_be_bytes());
        assert_eq!(write_tag(&mut out, TagKind::Audio, 0, &vec![0; 1 << 24]), Err(TagTooLarge(1 << 24)));
    }
}
