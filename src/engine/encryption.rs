//! End-to-end encryption's formats (docs/encryption.md): a manifest's key
//! ring, and a value sealed by one of its keys.
//!
//! Values are sealed with AES-256-GCM by data keys the ring keeps wrapped
//! (sealed too) by a key-encryption key: the one an application's
//! passphrase stretches to (PBKDF2-SHA-256 over the ring's salt), or a
//! `CryptoKey` it manages. So anyone with the passphrase reads every value
//! of every key the ring ever had, `rotate` is a new data key appended, and
//! no key is ever stored in clear. The cipher itself is the edge's
//! (`Io::seal`, WebCrypto in the browser): no cipher code in the .wasm.
//!
//! A sealed value is a JSON string, `"mps3e1:<key id>:<base64 of nonce,
//! ciphertext and tag>"`, so it travels wherever JSON does: inline in a
//! log entry, in a content object, a checkpoint, the durable store. Its
//! associated data names the manifest, the value's key and the key id: a
//! ciphertext moved to another key or manifest does not open.

use crate::prelude::*;

use crate::engine::error::{Error, ErrorKind, Result};
use crate::engine::json::{self, JsonValue};
use crate::engine::object::Ref;
use crate::engine::s3::base64;

/// PBKDF2-SHA-256 iterations for a new ring: OWASP's figure for it (2023).
pub const ITERATIONS: u32 = 600_000;

/// Bytes of a ring's salt.
pub const SALT_BYTES: usize = 16;

const SEALED: &str = "mps3e1:";
const RING: &str = "mps3-keyring";

/// What ends a key ring's object key, after its manifest's key.
const RING_SUFFIX: &str = ".v2/keys";

/// The key ring's object, beside the manifest's log (never collected).
pub fn ring_key(manifest: &str) -> String {
    cat!(manifest, RING_SUFFIX)
}

/// The manifest whose key ring `key` is, if it is one (`ring_key`'s
/// inverse).
pub fn ring_manifest(key: &str) -> Option<&str> {
    key.strip_suffix(RING_SUFFIX)
}

/// A manifest's key ring as stored: its data keys, each wrapped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ring {
    pub salt: Vec<u8>,
    pub iterations: u32,
    /// (key id, data key sealed by the key-encryption key), oldest first.
    pub keys: Vec<(String, Vec<u8>)>,
    /// The key id new values are sealed with.
    pub current: String,
}

impl Ring {
    pub fn to_text(&self) -> String {
        let mut keys = String::new();
        for (id, wrapped) in &self.keys {
            if !keys.is_empty() {
                keys.push(',');
            }
            keys.push_str(&cat!(json::quote(id), ":\"", base64(wrapped), "\""));
        }
        cat!(
            "{\"format\":\"",
            RING,
            "\",\"kdf\":\"PBKDF2-SHA-256\",\"iterations\":",
            self.iterations as u64,
            ",\"salt\":\"",
            base64(&self.salt),
            "\",\"current\":",
            json::quote(&self.current),
            ",\"keys\":{",
            keys,
            "}}"
        )
    }

    pub fn parse(bytes: &[u8]) -> Result<Ring> {
        let bad = || Error::bad_response("the manifest's key ring is damaged");
        let v = json::parse(bytes).map_err(|_| bad())?;
        if v.get("format").and_then(JsonValue::as_str) != Some(RING) {
            return Err(bad());
        }
        let text = |name| v.get(name).and_then(JsonValue::as_str).ok_or_else(bad);
        let iterations = match v.get("iterations") {
            Some(JsonValue::Number(n)) => crate::engine::lean::scan::number(n, 10),
            _ => None,
        }
        .filter(|&n| n > 0 && n <= u32::MAX as u64)
        .ok_or_else(bad)? as u32;
        let mut keys = Vec::new();
        for (id, wrapped) in v
            .get("keys")
            .and_then(JsonValue::as_object)
            .ok_or_else(bad)?
        {
            let wrapped = wrapped.as_str().and_then(unbase64).ok_or_else(bad)?;
            keys.push((id.clone(), wrapped));
        }
        let current = text("current")?.to_string();
        if !keys.iter().any(|(id, _)| *id == current) {
            return Err(bad());
        }
        Ok(Ring {
            salt: unbase64(text("salt")?).ok_or_else(bad)?,
            iterations,
            keys,
            current,
        })
    }

    /// An id for one more key: `k` and one more than the most keys so far.
    pub fn next_id(&self) -> String {
        cat!("k", (self.keys.len() + 1) as u64)
    }
}

/// Associated data of a data key wrapped in `m`'s ring.
pub fn key_aad(m: &Ref, id: &str) -> Vec<u8> {
    cat!("mps3 key\n", m.url(), "\n", id).into_bytes()
}

/// Associated data of the value of `url` in `m`, sealed by key `id`.
pub fn value_aad(m: &Ref, url: &str, id: &str) -> Vec<u8> {
    cat!("mps3 value\n", m.url(), "\n", url, "\n", id).into_bytes()
}

/// A sealed value's text: a JSON string naming its key.
pub fn sealed_text(id: &str, sealed: &[u8]) -> String {
    cat!("\"", SEALED, id, ":", base64(sealed), "\"")
}

/// The key id and sealed bytes of a value's text; an error for a value
/// that is not sealed (an encrypted manifest holds no other).
pub fn parse_sealed(text: &str) -> Result<(&str, Vec<u8>)> {
    let not = || {
        Error::new(
            ErrorKind::Decrypt,
            "a value in an encrypted manifest is not encrypted",
        )
    };
    let inner = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|t| t.strip_prefix(SEALED))
        .ok_or_else(not)?;
    let (id, body) = inner.split_once(':').ok_or_else(not)?;
    Ok((id, unbase64(body).ok_or_else(not)?))
}

/// What names one sealing of a value: its text up to the end of the
/// nonce (the key id and the nonce's 16 base64 digits). A nonce is drawn
/// afresh for each value, so it names one ciphertext: what opened once
/// under it is that ciphertext's plaintext. (A text too short for a nonce
/// is named by all of it.)
pub fn sealing(text: &str) -> &str {
    // After the opening quote and the prefix: the key id, ':', the nonce.
    let id_at = 1 + SEALED.len();
    let end = text
        .get(id_at..)
        .and_then(|t| t.find(':'))
        .map(|colon| id_at + colon + 1 + 16);
    end.and_then(|end| text.get(..end)).unwrap_or(text)
}

/// Standard base64 (with padding) back to bytes; `None` if it is not.
pub fn unbase64(text: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (i, chunk) in bytes.chunks(4).enumerate() {
        let last = i + 1 == bytes.len() / 4;
        let pad = if last {
            chunk.iter().rev().take_while(|&&c| c == b'=').count()
        } else {
            0
        };
        if pad > 2 {
            return None;
        }
        let mut n = 0u32;
        for (j, &c) in chunk.iter().enumerate() {
            n = n << 6 | if j >= 4 - pad { 0 } else { digit(c)? };
        }
        for j in 0..3 - pad {
            out.push((n >> (16 - 8 * j)) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rings_round_trip_and_damage_is_refused() {
        let ring = Ring {
            salt: (0..16).collect(),
            iterations: ITERATIONS,
            keys: vec![("k1".into(), vec![1, 2, 3]), ("k2".into(), vec![250; 60])],
            current: "k2".into(),
        };
        let text = ring.to_text();
        assert!(text.contains("\"iterations\":600000"), "{text}");
        assert_eq!(Ring::parse(text.as_bytes()).unwrap(), ring);
        assert_eq!(ring.next_id(), "k3");
        for bad in [
            text.replace("mps3-keyring", "other"),
            text.replace("\"current\":\"k2\"", "\"current\":\"k9\""),
            text.replace("600000", "0"),
            text.replace("\"salt\":\"", "\"salt\":\"!"),
            "[]".into(),
        ] {
            let e = Ring::parse(bad.as_bytes()).unwrap_err();
            assert_eq!(e.kind, ErrorKind::BadResponse, "{bad}");
        }
    }

    #[test]
    fn sealed_values_are_json_strings_naming_their_key() {
        let bytes: Vec<u8> = (0..=255).collect();
        let text = sealed_text("k1", &bytes);
        assert!(json::parse(text.as_bytes()).is_ok());
        let (id, back) = parse_sealed(&text).unwrap();
        assert_eq!((id, back), ("k1", bytes));
        // One sealing is named by its key id and nonce.
        assert_eq!(sealing(&text), &text[..1 + "mps3e1:k1:".len() + 16]);
        assert_eq!(sealing("\"mps3e1:k1:AB"), "\"mps3e1:k1:AB");
        for clear in [
            "{\"a\":1}",
            "\"mps3e1:k1\"",
            "\"hello\"",
            "\"mps3e1:k1:!!!!\"",
        ] {
            assert_eq!(parse_sealed(clear).unwrap_err().kind, ErrorKind::Decrypt);
        }
    }

    #[test]
    fn base64_decodes_what_it_encodes() {
        for n in 0..40u8 {
            let bytes: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(unbase64(&base64(&bytes)), Some(bytes));
        }
        assert_eq!(unbase64("Zm9vYg=="), Some(b"foob".to_vec()));
        for bad in ["Zm9", "Zm9v!===", "Z===", "Zg==Zg=="] {
            assert_eq!(unbase64(bad), None, "{bad}");
        }
    }

    #[test]
    fn associated_data_names_manifest_key_and_key_id() {
        let m = Ref::new("b", "m.json");
        assert_ne!(value_aad(&m, "b/a", "k1"), value_aad(&m, "b/c", "k1"));
        assert_ne!(value_aad(&m, "b/a", "k1"), value_aad(&m, "b/a", "k2"));
        assert_ne!(
            value_aad(&m, "b/a", "k1"),
            value_aad(&Ref::new("b", "n.json"), "b/a", "k1")
        );
        assert_ne!(key_aad(&m, "k1"), value_aad(&m, "", "k1"));
    }
}
