//! Binary values (an image, a file) beside JSON ones. The engine carries
//! every value as text: JSON as it is, and a binary value tagged, as
//! `\u{1}<content type>\u{1}<its bytes as Latin-1 characters>`, which no
//! JSON text can be (JSON starts with a value, never a control
//! character). So masks, the queue, the caches and subscribers carry
//! both alike, and only where a value meets the bucket or the
//! application is it told apart: uploaded as its bytes with its
//! `Content-Type` (never re-encoded as JSON, never inline in a v2 entry),
//! read back from an object whose `Content-Type` is not JSON, and handed
//! to JavaScript as a `Uint8Array`.

use crate::prelude::*;

const TAG: char = '\u{1}';

/// `bytes` of `content_type` as a value's text.
pub fn wrap(content_type: &str, bytes: &[u8]) -> String {
    let mut out = String::with_capacity(content_type.len() + bytes.len() + 2);
    out.push(TAG);
    out.push_str(content_type);
    out.push(TAG);
    out.push_str(&latin1(bytes));
    out
}

/// The content type and bytes of a binary value's text; `None` for JSON.
pub fn unwrap(text: &str) -> Option<(&str, Vec<u8>)> {
    let rest = text.strip_prefix(TAG)?;
    let (content_type, bytes) = rest.split_once(TAG)?;
    Some((content_type, from_latin1(bytes)))
}

/// Whether a value's text is binary.
pub fn is_binary(text: &str) -> bool {
    text.starts_with(TAG)
}

/// Bytes as the characters U+0000 to U+00FF.
pub fn latin1(bytes: &[u8]) -> String {
    let mut text = String::new();
    for b in bytes {
        text.push(char::from(*b));
    }
    text
}

/// What [`latin1`] made, back to bytes.
pub fn from_latin1(text: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    for c in text.chars() {
        bytes.push(c as u8);
    }
    bytes
}

/// A content type that holds JSON (absent: JSON, what mps3 and v1 write).
pub fn is_json_type(content_type: Option<&str>) -> bool {
    content_type.is_none_or(|t| t.starts_with("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_values_round_trip_and_are_never_json() {
        let bytes: Vec<u8> = (0..=255).collect();
        let text = wrap("image/png", &bytes);
        assert!(is_binary(&text));
        assert!(crate::engine::json::parse(text.as_bytes()).is_err());
        assert_eq!(unwrap(&text), Some(("image/png", bytes)));
        assert_eq!(unwrap("{\"a\":1}"), None);
        assert!(!is_binary("\"\\u0001\""));
        assert!(is_json_type(None) && is_json_type(Some("application/json; charset=utf-8")));
        assert!(!is_json_type(Some("image/png")));
    }
}
