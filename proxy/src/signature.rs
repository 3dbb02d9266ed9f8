//! Checking a request's SigV4 signature (header-signed, or a presigned
//! URL) against the secret the proxy derives from the key id it names:
//! with the engine's own canonical request, string to sign and key
//! derivation, so that what the clients sign and what the proxy checks
//! can never drift apart.

use mps3::engine::sigv4::{
    canonical_request, sha256_hex, signature, signing_key, string_to_sign, Scope, ALGORITHM,
    UNSIGNED_PAYLOAD,
};

use crate::rules::Principal;
use crate::s3error::S3Error;
use crate::session::{self, constant_time_eq, Refused, SessionKey};

/// How far a signed request's time may be from the proxy's clock.
const MAX_SKEW_MS: i64 = 15 * 60 * 1000;

/// A request as received, for its signature.
pub struct Signed<'a> {
    pub method: &'a str,
    /// The path as sent (percent-encoded).
    pub path: &'a str,
    /// The query string as sent, without `?`.
    pub query: &'a str,
    /// Header names lower-cased.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl Signed<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `a=b&c=d`, percent-decoded.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for item in query.split('&').filter(|s| !s.is_empty()) {
        let (k, v) = item.split_once('=').unwrap_or((item, ""));
        out.push((percent_decode(k), percent_decode(v)));
    }
    out
}

pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).and_then(|&b| hex(b)),
            bytes.get(i + 2).and_then(|&b| hex(b)),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `20260101T120000Z` as epoch ms.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let n = |r: core::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (n(0..4)?, n(4..6)?, n(6..8)?);
    let (h, mi, se) = (n(9..11)?, n(11..13)?, n(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + mi) * 60_000 + se * 1000)
}

/// The parts of `Credential=AKID/20260101/region/s3/aws4_request`.
struct Credential<'a> {
    key_id: &'a str,
    day: &'a str,
    region: &'a str,
    service: &'a str,
}

fn credential(text: &str) -> Option<Credential<'_>> {
    let mut parts = text.split('/');
    let c = Credential {
        key_id: parts.next()?,
        day: parts.next()?,
        region: parts.next()?,
        service: parts.next()?,
    };
    (parts.next() == Some("aws4_request") && parts.next().is_none()).then_some(c)
}

/// The caller of a request signed with derived credentials, or the S3
/// error that refuses it.
pub fn verify(keys: &[SessionKey], req: &Signed<'_>, now_ms: i64) -> Result<Principal, S3Error> {
    let query = query_pairs(req.query);
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let presigned = get("X-Amz-Signature").is_some();
    let (cred, signed_headers, given, date, payload_hash, expires) = if presigned {
        if get("X-Amz-Algorithm") != Some(ALGORITHM) {
            return Err(S3Error::denied("a presigned URL must use AWS4-HMAC-SHA256"));
        }
        (
            get("X-Amz-Credential").unwrap_or_default().to_string(),
            get("X-Amz-SignedHeaders").unwrap_or_default().to_string(),
            get("X-Amz-Signature").unwrap_or_default().to_string(),
            get("X-Amz-Date").unwrap_or_default().to_string(),
            UNSIGNED_PAYLOAD.to_string(),
            get("X-Amz-Expires").and_then(|e| e.parse::<i64>().ok()),
        )
    } else {
        let auth = req
            .header("authorization")
            .ok_or_else(|| S3Error::denied("the request is not signed"))?;
        let rest = auth
            .strip_prefix(ALGORITHM)
            .ok_or_else(|| S3Error::denied("requests must be signed with AWS4-HMAC-SHA256"))?;
        let mut cred = None;
        let mut signed = None;
        let mut sig = None;
        for field in rest.split(',') {
            let field = field.trim();
            if let Some(v) = field.strip_prefix("Credential=") {
                cred = Some(v);
            } else if let Some(v) = field.strip_prefix("SignedHeaders=") {
                signed = Some(v);
            } else if let Some(v) = field.strip_prefix("Signature=") {
                sig = Some(v);
            }
        }
        let (Some(cred), Some(signed), Some(sig)) = (cred, signed, sig) else {
            return Err(S3Error::denied("a malformed Authorization header"));
        };
        let payload = req
            .header("x-amz-content-sha256")
            .ok_or_else(|| S3Error::denied("x-amz-content-sha256 is required"))?;
        if payload != UNSIGNED_PAYLOAD && payload != sha256_hex(req.body) {
            return Err(S3Error::new(
                400,
                "XAmzContentSHA256Mismatch",
                "the body does not match x-amz-content-sha256",
            ));
        }
        (
            cred.to_string(),
            signed.to_string(),
            sig.to_string(),
            req.header("x-amz-date").unwrap_or_default().to_string(),
            payload.to_string(),
            None,
        )
    };
    let cred = credential(&cred).ok_or_else(|| S3Error::denied("a malformed credential"))?;
    let (principal, secret) = session::open(keys, cred.key_id, now_ms).map_err(|r| match r {
        Refused::Invalid => S3Error::new(
            403,
            "InvalidAccessKeyId",
            "these credentials were not issued by this proxy",
        ),
        Refused::Expired => S3Error::new(400, "ExpiredToken", "the credentials expired"),
    })?;
    let signed_at =
        parse_amz_date(&date).ok_or_else(|| S3Error::denied("a malformed x-amz-date"))?;
    if !date.starts_with(cred.day) {
        return Err(S3Error::denied("the credential's day is not the request's"));
    }
    match expires {
        Some(secs) if !(1..=604_800).contains(&secs) => {
            return Err(S3Error::denied("X-Amz-Expires out of range"))
        }
        Some(secs) if now_ms > signed_at + secs * 1000 || signed_at - now_ms > MAX_SKEW_MS => {
            return Err(S3Error::denied("the presigned URL expired"))
        }
        None if (now_ms - signed_at).abs() > MAX_SKEW_MS => {
            return Err(S3Error::new(
                403,
                "RequestTimeTooSkewed",
                "the request's time is too far from the proxy's",
            ))
        }
        _ => {}
    }
    // The signed headers, as sent (`host` among them).
    let mut headers = Vec::new();
    for name in signed_headers.split(';') {
        let value = req
            .header(name)
            .ok_or_else(|| S3Error::denied(format!("signed header {name} is missing")))?;
        headers.push((name.to_string(), value.to_string()));
    }
    if !headers.iter().any(|(n, _)| n == "host") {
        return Err(S3Error::denied("host must be signed"));
    }
    let mut signed_query = query.clone();
    signed_query.retain(|(k, _)| k != "X-Amz-Signature");
    let creq = canonical_request(req.method, req.path, &signed_query, &headers, &payload_hash);
    let scope = Scope {
        region: cred.region,
        service: cred.service,
        now: signed_at,
    };
    let expected = signature(
        &signing_key(&secret, &scope),
        &string_to_sign(&scope, &creq.text),
    );
    if !constant_time_eq(expected.as_bytes(), given.as_bytes()) {
        return Err(S3Error::new(
            403,
            "SignatureDoesNotMatch",
            "the request's signature does not match",
        ));
    }
    Ok(principal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mps3::engine::credentials::Credentials;
    use mps3::engine::s3::{GetOptions, PutMode, PutOptions, S3Config, S3};

    const NOW: i64 = 1_795_000_000_000;

    fn keys() -> Vec<SessionKey> {
        session::parse_keys("k1=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap()
    }

    /// A request as the engine signs it, as the proxy receives it.
    fn received(req: &mps3::engine::http::HttpRequest) -> (String, String, Vec<(String, String)>) {
        let rest = req.url.strip_prefix("http://127.0.0.1:9000").unwrap();
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut headers = vec![("host".to_string(), "127.0.0.1:9000".to_string())];
        for (n, v) in &req.headers {
            headers.push((n.to_ascii_lowercase(), v.clone()));
        }
        (path.to_string(), query.to_string(), headers)
    }

    fn client(creds: Credentials, presign: bool) -> S3 {
        let mut cfg = S3Config::new(Some("http://127.0.0.1:9000"), "us-east-1", creds).unwrap();
        cfg.presign_reads = presign;
        S3::new(cfg)
    }

    #[test]
    fn the_engines_signatures_verify_and_nothing_else_does() {
        let issued = session::issue(&keys()[0], "alice", &[], NOW + 900_000);
        let creds = Credentials::new(&issued.access_key_id, &issued.secret_access_key);
        let opts = PutOptions {
            content_type: Some("application/json".into()),
            content_encoding: None,
            mode: PutMode::Create,
        };
        let put = client(creds.clone(), false)
            .put_object(
                "bkt",
                "m.v2/log/00000000000000000001",
                b"{}".to_vec(),
                &opts,
                NOW,
            )
            .unwrap();
        let (path, query, headers) = received(&put);
        let ok =
            |method: &str, body: &[u8], headers: &[(String, String)], path: &str, query: &str| {
                verify(
                    &keys(),
                    &Signed {
                        method,
                        path,
                        query,
                        headers,
                        body,
                    },
                    NOW + 1_000,
                )
            };
        assert_eq!(
            ok("PUT", b"{}", &headers, &path, &query).unwrap().sub,
            "alice"
        );
        // Another body, method, path or header: refused.
        assert_eq!(
            ok("PUT", b"{ }", &headers, &path, &query).unwrap_err().code,
            "XAmzContentSHA256Mismatch"
        );
        assert_eq!(
            ok("POST", b"{}", &headers, &path, &query).unwrap_err().code,
            "SignatureDoesNotMatch"
        );
        assert_eq!(
            ok("PUT", b"{}", &headers, "/bkt/other", &query)
                .unwrap_err()
                .code,
            "SignatureDoesNotMatch"
        );
        let mut dropped = headers.clone();
        dropped.retain(|(n, _)| n != "if-none-match");
        assert!(
            ok("PUT", b"{}", &dropped, &path, &query).is_err(),
            "a signed header removed"
        );
        // A presigned GET.
        let get = client(creds.clone(), true)
            .get_object("bkt", "k", &GetOptions::default(), NOW)
            .unwrap();
        let (path, query, headers) = received(&get);
        assert!(query.contains("X-Amz-Signature"));
        assert_eq!(
            ok("GET", b"", &headers, &path, &query).unwrap().sub,
            "alice"
        );
        let tampered = query.replace("X-Amz-Expires=300", "X-Amz-Expires=900");
        assert!(ok("GET", b"", &headers, &path, &tampered).is_err());
        // Expired presigned URL.
        let late = verify(
            &keys(),
            &Signed {
                method: "GET",
                path: &path,
                query: &query,
                headers: &headers,
                body: b"",
            },
            NOW + 301_000,
        );
        assert!(late.is_err());
        // Signed with a made-up secret for our key id.
        let forged = Credentials::new(&issued.access_key_id, "guessed");
        let get = client(forged, true)
            .get_object("bkt", "k", &GetOptions::default(), NOW)
            .unwrap();
        let (path, query, headers) = received(&get);
        assert_eq!(
            ok("GET", b"", &headers, &path, &query).unwrap_err().code,
            "SignatureDoesNotMatch"
        );
        // Expired credentials: ExpiredToken (clients refresh on it).
        let old = session::issue(&keys()[0], "alice", &[], NOW - 1);
        let get = client(
            Credentials::new(&old.access_key_id, &old.secret_access_key),
            true,
        )
        .get_object("bkt", "k", &GetOptions::default(), NOW)
        .unwrap();
        let (path, query, headers) = received(&get);
        assert_eq!(
            ok("GET", b"", &headers, &path, &query).unwrap_err().code,
            "ExpiredToken"
        );
    }

    #[test]
    fn amz_dates_parse() {
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date("20000301T000001Z"), Some(951_868_801_000));
        assert_eq!(parse_amz_date("2000-03-01T00:00Z"), None);
    }
}
