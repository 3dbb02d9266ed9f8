//! Derived credentials: what the proxy hands a caller whose token it
//! verified. The access key id carries the caller (subject, roles, writer
//! prefix), its expiry and a MAC; the secret is derived from the key id
//! with the proxy's key. So the proxy keeps no session state: it checks a
//! request's signature against the secret it derives again from the key
//! id the request names, on any replica. Keys rotate by id: the first
//! key signs new credentials, every listed key verifies.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::rules::Principal;

/// A key of the proxy's: its id and bytes.
#[derive(Clone)]
pub struct SessionKey {
    pub id: String,
    pub bytes: Vec<u8>,
}

impl core::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SessionKey({}, <redacted>)", self.id)
    }
}

/// The session keys, the first signing: `id=base64,id=base64`.
pub fn parse_keys(text: &str) -> Result<Vec<SessionKey>, String> {
    let mut keys = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (id, b64) = item
            .split_once('=')
            .ok_or("session keys are id=base64 pairs, comma-separated")?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .or_else(|_| B64.decode(b64))
            .map_err(|_| format!("session key {id} is not base64"))?;
        if bytes.len() < 32 {
            return Err(format!("session key {id} is shorter than 32 bytes"));
        }
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(format!(
                "session key id \"{id}\" must be letters and digits"
            ));
        }
        keys.push(SessionKey {
            id: id.into(),
            bytes,
        });
    }
    if keys.is_empty() {
        return Err("no session key".into());
    }
    Ok(keys)
}

/// What a key id says of its caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Claims {
    s: String,
    r: Vec<String>,
    /// Expiry, epoch ms.
    e: i64,
}

/// Credentials issued to a caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issued {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub expiration_ms: i64,
    pub writer_prefix: String,
}

fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let Ok(mut m) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else {
        unreachable!("HMAC takes a key of any length")
    };
    for p in parts {
        m.update(p);
        m.update(b"\n");
    }
    m.finalize().into_bytes().into()
}

/// A caller's writer prefix: eleven characters derived from its subject
/// alone (stable across keys and sessions). All prefixes have one length,
/// so none is a prefix of another's.
pub fn writer_prefix(sub: &str) -> String {
    let digest = mac(b"mps3 writer prefix", &[sub.as_bytes()]);
    B64.encode(&digest[..8])
}

/// Credentials for `sub` with `roles`, valid until `expiration_ms`.
pub fn issue(key: &SessionKey, sub: &str, roles: &[String], expiration_ms: i64) -> Issued {
    let claims = Claims {
        s: sub.into(),
        r: roles.to_vec(),
        e: expiration_ms,
    };
    let body = B64.encode(serde_json::to_vec(&claims).expect("claims serialise"));
    let tag = mac(
        &key.bytes,
        &[b"mps3 key id", key.id.as_bytes(), body.as_bytes()],
    );
    let access_key_id = format!("mps3.{}.{}.{}", key.id, body, B64.encode(&tag[..16]));
    let secret_access_key = secret_of(key, &access_key_id);
    Issued {
        access_key_id,
        secret_access_key,
        expiration_ms,
        writer_prefix: writer_prefix(sub),
    }
}

fn secret_of(key: &SessionKey, access_key_id: &str) -> String {
    B64.encode(mac(&key.bytes, &[b"mps3 secret", access_key_id.as_bytes()]))
}

/// Why a key id is not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Not one of ours, or tampered with: S3's `InvalidAccessKeyId`.
    Invalid,
    /// Ours, expired: S3's `ExpiredToken`, which makes clients refresh.
    Expired,
}

/// The caller a key id names and the secret its requests are signed
/// with, if the key id is ours, intact and not expired at `now_ms`.
pub fn open(
    keys: &[SessionKey],
    access_key_id: &str,
    now_ms: i64,
) -> Result<(Principal, String), Refused> {
    let mut parts = access_key_id.split('.');
    let (Some("mps3"), Some(kid), Some(body), Some(tag), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(Refused::Invalid);
    };
    let key = keys.iter().find(|k| k.id == kid).ok_or(Refused::Invalid)?;
    let expected = mac(
        &key.bytes,
        &[b"mps3 key id", kid.as_bytes(), body.as_bytes()],
    );
    let given = B64.decode(tag).map_err(|_| Refused::Invalid)?;
    if !constant_time_eq(&given, &expected[..16]) {
        return Err(Refused::Invalid);
    }
    let claims: Claims = B64
        .decode(body)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(Refused::Invalid)?;
    if claims.e <= now_ms {
        return Err(Refused::Expired);
    }
    let principal = Principal {
        writer_prefix: writer_prefix(&claims.s),
        sub: claims.s,
        roles: claims.r,
    };
    Ok((principal, secret_of(key, access_key_id)))
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<SessionKey> {
        parse_keys("k2=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=,k1=ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=").unwrap()
    }

    #[test]
    fn a_key_id_opens_to_its_caller_and_secret() {
        let ks = keys();
        let issued = issue(&ks[0], "alice", &["staff".into()], 2_000);
        assert!(issued.access_key_id.starts_with("mps3.k2."));
        assert!(
            !issued.access_key_id.contains('/'),
            "SigV4 splits the credential on /"
        );
        let (p, secret) = open(&ks, &issued.access_key_id, 1_000).unwrap();
        assert_eq!(p.sub, "alice");
        assert_eq!(p.roles, vec!["staff".to_string()]);
        assert_eq!(p.writer_prefix, issued.writer_prefix);
        assert_eq!(secret, issued.secret_access_key);
        assert_eq!(
            open(&ks, &issued.access_key_id, 2_000),
            Err(Refused::Expired)
        );
        // Keys rotate by id: credentials of the older key still open.
        let old = issue(&ks[1], "bob", &[], 2_000);
        assert_eq!(open(&ks, &old.access_key_id, 1_000).unwrap().0.sub, "bob");
        assert_eq!(
            open(&ks[..1], &old.access_key_id, 1_000),
            Err(Refused::Invalid)
        );
    }

    #[test]
    fn a_tampered_key_id_is_refused() {
        let ks = keys();
        let issued = issue(&ks[0], "alice", &[], 2_000);
        let parts: Vec<&str> = issued.access_key_id.split('.').collect();
        // Another subject, another expiry, with alice's MAC.
        for claims in [
            r#"{"s":"bob","r":[],"e":2000}"#,
            r#"{"s":"alice","r":["admin"],"e":2000}"#,
            r#"{"s":"alice","r":[],"e":9999999}"#,
        ] {
            let forged = format!("mps3.k2.{}.{}", B64.encode(claims), parts[3]);
            assert_eq!(open(&ks, &forged, 1_000), Err(Refused::Invalid), "{claims}");
        }
        for bad in [
            "AKIAEXAMPLE",
            "mps3.k9.x.y",
            "mps3.k2",
            &format!("{}.x", issued.access_key_id),
        ] {
            assert_eq!(open(&ks, bad, 1_000), Err(Refused::Invalid), "{bad}");
        }
    }

    #[test]
    fn writer_prefixes_have_one_length() {
        let a = writer_prefix("alice");
        assert_eq!(a.len(), 11);
        assert_eq!(writer_prefix("a-much-longer-subject-id").len(), 11);
        assert_ne!(a, writer_prefix("bob"));
        assert!(parse_keys("k=c2hvcnQ=").is_err(), "a short key");
        assert!(parse_keys("").is_err());
    }
}
