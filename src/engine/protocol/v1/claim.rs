//! Claims: the change marker is written *before* each entry, naming it.
//!
//! Old clients (mps3 0.0.81) write `""` to the marker after their entry and
//! read any JSON string there; we write a JSON string
//! `"<session>_<counter> <nonce> <prev>"` before the entry:
//!
//! - `<session>_<counter>` is the entry's writer tag (its key without the
//!   time, which is chosen later): pollers look for it in their listing.
//! - `<nonce>` makes each body, so each ETag, unique.
//! - `<prev>` is the ETag the claim replaced under `If-Match`, or empty
//!   when it was written unconditionally: a poller that had settled the
//!   log at `<prev>` needs only to find the named entry to settle again.
//!
//! Why a claim precedes its entry, and the bound it gives, is in
//! docs/protocol.md ("Claims").

use crate::prelude::*;

use crate::engine::json::{parse, quote, JsonValue};

/// A marker body written by a claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The claimed entry's `<session>_<counter>`.
    pub tag: String,
    /// The ETag replaced under `If-Match`, if any.
    pub prev: Option<String>,
}

/// The marker body claiming the entry `tag`.
pub fn claim_body(tag: &str, nonce: &str, prev: Option<&str>) -> Vec<u8> {
    quote(&cat!(tag, " ", nonce, " ", prev.unwrap_or(""))).into_bytes()
}

impl Claim {
    /// Reads a marker body; `None` for any other body (an old client's
    /// `""`, an old version string).
    pub fn parse(body: &[u8]) -> Option<Claim> {
        let Ok(JsonValue::String(text)) = parse(body) else {
            return None;
        };
        let mut parts = text.splitn(3, ' ');
        let (tag, nonce, prev) = (parts.next()?, parts.next()?, parts.next()?);
        let (session, counter) = tag.split_once('_')?;
        let alnum = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        };
        if !alnum(session) || !alnum(counter) || counter.len() != 2 || nonce.is_empty() {
            return None;
        }
        Some(Claim {
            tag: tag.to_string(),
            prev: (!prev.is_empty()).then(|| prev.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_round_trips_with_and_without_prev() {
        let etag = "\"9b2cf535f27731c974343645a3985328\"";
        let body = claim_body("51e_vv", "1a2b3c", Some(etag));
        assert_eq!(
            String::from_utf8(body.clone()).unwrap(),
            r#""51e_vv 1a2b3c \"9b2cf535f27731c974343645a3985328\"""#
        );
        assert_eq!(
            Claim::parse(&body),
            Some(Claim {
                tag: "51e_vv".into(),
                prev: Some(etag.into())
            })
        );
        let body = claim_body("51e_vu", "ffff", None);
        assert_eq!(
            Claim::parse(&body),
            Some(Claim {
                tag: "51e_vu".into(),
                prev: None
            })
        );
    }

    #[test]
    fn other_marker_bodies_are_not_claims() {
        for body in [
            &b"\"\""[..],
            b"\"2bnk6jbej_51e_vv\"",
            b"\"51e_vvv n \"",
            b"\"51E_vv n \"",
            b"\"51e_vv  \"",
            b"{}",
            b"not json",
        ] {
            assert_eq!(
                Claim::parse(body),
                None,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
