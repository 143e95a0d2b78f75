//! Hex and base64 helpers for signature headers.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Decodes hex (either case) of exactly `len` bytes.
pub(crate) fn hex_exact(text: &str, len: usize) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if bytes.len() != len * 2 {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Decodes standard (padded) base64 of exactly `len` bytes.
pub(crate) fn base64_exact(text: &str, len: usize) -> Option<Vec<u8>> {
    // A 32-byte digest is 44 characters; refuse to decode anything much longer.
    if text.len() > len.saturating_mul(2).saturating_add(8) {
        return None;
    }
    STANDARD.decode(text).ok().filter(|v| v.len() == len)
}

/// Decodes standard base64 of any length.
pub(crate) fn base64_any(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

/// Standard padded base64.
pub(crate) fn base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_bad_input() {
        assert_eq!(hex_exact("00ffA0", 3), Some(vec![0, 255, 160]));
        assert_eq!(hex(&[0, 255, 160]), "00ffa0");
        assert_eq!(hex_exact("00ff", 3), None);
        assert_eq!(hex_exact("zz", 1), None);
        assert_eq!(hex_exact("é0", 1), None);
    }

    #[test]
    fn base64_checks_length() {
        assert_eq!(base64_exact("AAEC", 3), Some(vec![0, 1, 2]));
        assert_eq!(base64_exact("AAEC", 4), None);
        assert_eq!(base64_exact("!!", 1), None);
    }
}
