//! Byte encodings shared by signing and request building.

use crate::prelude::*;

/// Lower-case hex, as SigV4 prints hashes and signatures.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 percent-encoding as SigV4 defines it: every byte but
/// `A-Z a-z 0-9 - . _ ~` becomes `%XX` (upper case); `/` is kept when
/// `keep_slash` (object-key paths) and encoded otherwise (query parts).
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(DIGITS[(b >> 4) as usize] as char);
            out.push(DIGITS[(b & 15) as usize] as char);
        }
    }
    out
}

/// Decodes `%XX` sequences (and nothing else: `+` stays `+`, as S3's
/// `encoding-type=url` listing encodes a space as `%20`... or `+`; see
/// [`url_decode_form`]). Returns `None` on malformed escapes or bad UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    decode(s, false)
}

/// Decodes a listing value returned with `encoding-type=url`. S3 encodes
/// those like an HTML form (a space as `+`, a plus as `%2B`), so `+` is a space.
pub fn url_decode_form(s: &str) -> Option<String> {
    decode(s, true)
}

fn decode(s: &str, plus_is_space: bool) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = (*bytes.get(i + 1)? as char).to_digit(16)?;
                let lo = (*bytes.get(i + 2)? as char).to_digit(16)?;
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lower_case() {
        assert_eq!(hex(&[0x00, 0x9f, 0xff]), "009fff");
    }

    #[test]
    fn encodes_everything_but_unreserved() {
        assert_eq!(uri_encode("a b+c/d~._-", false), "a%20b%2Bc%2Fd~._-");
        assert_eq!(uri_encode("a b+c/d", true), "a%20b%2Bc/d");
        assert_eq!(uri_encode("ключ", true), "%D0%BA%D0%BB%D1%8E%D1%87");
        assert_eq!(uri_encode("test$file.text", true), "test%24file.text");
    }

    #[test]
    fn decodes_round_trip_and_rejects_malformed() {
        let key = "&$@=;  :+,?\\{^}%\\]\">[~#|unicode-ключ-鍵";
        assert_eq!(percent_decode(&uri_encode(key, false)).unwrap(), key);
        assert_eq!(url_decode_form("a+b%2Bc").unwrap(), "a b+c");
        assert_eq!(percent_decode("a+b").unwrap(), "a+b");
        assert!(percent_decode("%G0").is_none());
        assert!(percent_decode("%4").is_none());
        assert!(percent_decode("%FF").is_none());
    }
}
