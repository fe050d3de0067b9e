//! Compressed bodies. The checker asks for gzip, deflate and br and decodes
//! what the target sends (`Content-Encoding`, in the order applied), so a
//! keyword or an assertion sees the text a browser would. Decoding is
//! bounded: it stops at the body cap, so a decompression bomb costs at most
//! the cap, and the check says the body was cut.

use std::io::Read;

/// What the worker asks for when the monitor decodes (the default).
pub const ACCEPT_ENCODING: &str = "gzip, deflate, br";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// At most the cap.
    pub body: Vec<u8>,
    /// More would have followed the cap.
    pub cut: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the body says Content-Encoding {0:?}, which the checker does not decode")]
    Unknown(String),
    #[error("the {encoding} body does not decode: {why}")]
    Corrupt { encoding: String, why: String },
}

/// Decodes `raw` as `content_encoding` says (`None`: nothing to do, the
/// encoding is identity or absent), keeping at most `cap` bytes.
pub fn decode(
    content_encoding: &str,
    raw: &[u8],
    cap: usize,
) -> Result<Option<Decoded>, DecodeError> {
    let layers: Vec<String> = content_encoding
        .split(',')
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty() && e != "identity")
        .collect();
    if layers.is_empty() {
        return Ok(None);
    }
    // More layers than anyone uses is a trick, not a body.
    if layers.len() > 3 {
        return Err(DecodeError::Unknown(content_encoding.to_string()));
    }
    let mut body = raw.to_vec();
    let mut cut = false;
    for encoding in layers.iter().rev() {
        let step = one(encoding, &body, cap)?;
        body = step.body;
        cut |= step.cut;
    }
    Ok(Some(Decoded { body, cut }))
}

fn one(encoding: &str, raw: &[u8], cap: usize) -> Result<Decoded, DecodeError> {
    let corrupt = |why: std::io::Error| DecodeError::Corrupt {
        encoding: encoding.to_string(),
        why: why.to_string(),
    };
    match encoding {
        "gzip" | "x-gzip" => bounded(flate2::read::MultiGzDecoder::new(raw), cap).map_err(corrupt),
        // "deflate" is zlib-wrapped by the standard; some servers send it raw.
        "deflate" => bounded(flate2::read::ZlibDecoder::new(raw), cap)
            .or_else(|_| bounded(flate2::read::DeflateDecoder::new(raw), cap))
            .map_err(corrupt),
        "br" => bounded(brotli_decompressor::Decompressor::new(raw, 4096), cap).map_err(corrupt),
        other => Err(DecodeError::Unknown(other.to_string())),
    }
}

/// Reads at most `cap` bytes, and one more to learn whether there was more.
fn bounded(reader: impl Read, cap: usize) -> std::io::Result<Decoded> {
    let mut body = Vec::new();
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    reader.take(limit).read_to_end(&mut body)?;
    let cut = body.len() > cap;
    body.truncate(cap);
    Ok(Decoded { body, cut })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn identity_and_absent_are_left_alone() {
        assert_eq!(decode("", b"x", 10), Ok(None));
        assert_eq!(decode("identity", b"x", 10), Ok(None));
    }

    #[test]
    fn layers_decode_in_reverse_order_of_application() {
        let twice = gzip(&gzip(b"hello"));
        let d = decode("gzip, gzip", &twice, 100).unwrap().unwrap();
        assert_eq!(d.body, b"hello");
    }

    #[test]
    fn a_bomb_stops_at_the_cap_and_says_so() {
        let bomb = gzip(&vec![0u8; 50_000_000]);
        assert!(bomb.len() < 100_000);
        let d = decode("gzip", &bomb, 1_000).unwrap().unwrap();
        assert_eq!((d.body.len(), d.cut), (1_000, true));
    }

    #[test]
    fn garbage_and_unknown_encodings_are_errors() {
        assert!(matches!(
            decode("gzip", b"not gzip at all", 100),
            Err(DecodeError::Corrupt { .. })
        ));
        assert!(matches!(
            decode("zstd", b"x", 100),
            Err(DecodeError::Unknown(_))
        ));
        assert!(matches!(
            decode("gzip,gzip,gzip,gzip", b"x", 100),
            Err(DecodeError::Unknown(_))
        ));
    }
}
