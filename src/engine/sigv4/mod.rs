//! AWS Signature Version 4, S3 flavour, in separately testable stages.
//!
//! S3 differs from the generic algorithm in two ways that matter here: the
//! object key is URI-encoded exactly once (never the already-encoded wire
//! form again), and the path is used as given (no `.`/`..` or `//`
//! normalisation). Callers therefore pass the *decoded* path, and this
//! module encodes it once; the request builder sends that same encoding on
//! the wire, so what is signed is what is sent.
//!
//! The clock is an argument: nothing here reads the time.

use crate::prelude::*;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::credentials::Credentials;
use super::encode::{hex, uri_encode};
use super::time::{EpochMillis, Utc};

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The payload hash of a request whose body is not signed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// SHA-256 of `bytes`, lower-case hex: the `x-amz-content-sha256` form.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub(crate) fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // (A match, not `expect`: the error's Debug would ship for a panic
    // that cannot happen.)
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else {
        unreachable!("HMAC takes a key of any length")
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Where and when a request is signed.
#[derive(Clone, Copy, Debug)]
pub struct Scope<'a> {
    pub region: &'a str,
    pub service: &'a str,
    pub now: EpochMillis,
}

impl Scope<'_> {
    /// `20150830/us-east-1/service/aws4_request`.
    pub fn credential_scope(&self) -> String {
        cat!(
            Utc::from_millis(self.now).amz_day(),
            "/",
            self.region,
            "/",
            self.service,
            "/aws4_request"
        )
    }

    pub fn amz_date(&self) -> String {
        Utc::from_millis(self.now).amz_date()
    }
}

/// The canonical query string: each name and value encoded on its own,
/// pairs sorted by encoded name then encoded value, `name=` for a bare name.
pub fn canonical_query(params: &[(String, String)]) -> String {
    let mut encoded = Vec::new();
    for (k, v) in params {
        encoded.push((uri_encode(k, false), uri_encode(v, false)));
    }
    crate::engine::lean::sort::sort_by(&mut encoded, Ord::cmp);
    let mut out = String::new();
    for (i, (k, v)) in encoded.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// `value` trimmed, each inner run of white space one space. (ASCII white
/// space: header values are ASCII; `split_whitespace` would bring
/// Unicode's tables for nothing.)
fn fold_spaces(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for word in value.split(|c: char| c.is_ascii_whitespace()) {
        if !word.is_empty() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
    out
}

/// Canonical header lines and the `SignedHeaders` list. Names are
/// lower-cased and sorted; values trimmed with inner runs of white space
/// folded to one space; a repeated name becomes one line whose values are
/// joined by `,` in the order given (not sorted).
pub fn canonical_headers(headers: &[(String, String)]) -> (String, String) {
    let mut merged: Vec<(String, String)> = Vec::new();
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        let value = fold_spaces(value);
        match merged.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => {
                v.push(',');
                v.push_str(&value);
            }
            None => merged.push((name, value)),
        }
    }
    // Names are unique once merged: sorting the pairs sorts the names.
    crate::engine::lean::sort::sort_by(&mut merged, Ord::cmp);
    // Loops rather than `join`: each slice type joined is a copy of
    // alloc's join code in the .wasm (lean/).
    let mut lines = String::new();
    let mut signed = String::new();
    for (n, v) in &merged {
        lines.push_str(n);
        lines.push(':');
        lines.push_str(v);
        lines.push('\n');
        if !signed.is_empty() {
            signed.push(';');
        }
        signed.push_str(n);
    }
    (lines, signed)
}

/// The request as SigV4 sees it. `path` is decoded (`/bucket/a b`); it is
/// encoded once here, keeping `/`.
#[derive(Clone, Debug)]
pub struct CanonicalRequest {
    pub text: String,
    pub signed_headers: String,
}

/// `path` is the path as sent, percent-encoded once (S3 signs it as given:
/// no normalisation, no second encoding).
pub fn canonical_request(
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    payload_hash: &str,
) -> CanonicalRequest {
    let (lines, signed_headers) = canonical_headers(headers);
    let text = cat!(
        method,
        "\n",
        path,
        "\n",
        canonical_query(query),
        "\n",
        lines,
        "\n",
        signed_headers,
        "\n",
        payload_hash
    );
    CanonicalRequest {
        text,
        signed_headers,
    }
}

pub fn string_to_sign(scope: &Scope<'_>, canonical_request: &str) -> String {
    cat!(
        ALGORITHM,
        "\n",
        scope.amz_date(),
        "\n",
        scope.credential_scope(),
        "\n",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// The day-, region- and service-bound key: HMAC chain over `AWS4<secret>`.
pub fn signing_key(secret: &str, scope: &Scope<'_>) -> [u8; 32] {
    let day = Utc::from_millis(scope.now).amz_day();
    let k = hmac(cat!("AWS4", secret).as_bytes(), day.as_bytes());
    let k = hmac(&k, scope.region.as_bytes());
    let k = hmac(&k, scope.service.as_bytes());
    hmac(&k, b"aws4_request")
}

pub fn signature(key: &[u8; 32], string_to_sign: &str) -> String {
    hex(&hmac(key, string_to_sign.as_bytes()))
}

/// The `Authorization` header value.
pub fn authorization(
    credentials: &Credentials,
    scope: &Scope<'_>,
    signed_headers: &str,
    signature: &str,
) -> String {
    cat!(
        ALGORITHM,
        " Credential=",
        credentials.access_key_id,
        "/",
        scope.credential_scope(),
        ", SignedHeaders=",
        signed_headers,
        ", Signature=",
        signature
    )
}

/// Signs a header-authenticated request. `headers` must already hold every
/// header to sign, `host` and `x-amz-date` included (and
/// `x-amz-security-token` when the credentials carry one). Returns the
/// `Authorization` value.
pub fn sign_headers(
    credentials: &Credentials,
    scope: &Scope<'_>,
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    payload_hash: &str,
) -> String {
    let creq = canonical_request(method, path, query, headers, payload_hash);
    let sts = string_to_sign(scope, &creq.text);
    let key = signing_key(credentials.secret_access_key.expose(), scope);
    authorization(
        credentials,
        scope,
        &creq.signed_headers,
        &signature(&key, &sts),
    )
}

/// Query parameters of a presigned URL, `X-Amz-Signature` last. `query`
/// holds the request's own parameters; the result holds them too, so it is
/// the whole query to send. Only `host` is signed; the payload is unsigned.
pub fn presign_query(
    credentials: &Credentials,
    scope: &Scope<'_>,
    method: &str,
    host: &str,
    path: &str,
    query: &[(String, String)],
    expires_secs: u32,
) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = query.to_vec();
    let auth = [
        ("X-Amz-Algorithm", ALGORITHM.to_string()),
        (
            "X-Amz-Credential",
            cat!(credentials.access_key_id, "/", scope.credential_scope()),
        ),
        ("X-Amz-Date", scope.amz_date()),
        ("X-Amz-Expires", num(expires_secs.into())),
        ("X-Amz-SignedHeaders", "host".to_string()),
    ];
    for (k, v) in auth {
        params.push((k.to_string(), v));
    }
    if let Some(token) = &credentials.session_token {
        params.push((
            "X-Amz-Security-Token".to_string(),
            token.expose().to_string(),
        ));
    }
    let headers = [("host".to_string(), host.to_string())];
    let creq = canonical_request(method, path, &params, &headers, UNSIGNED_PAYLOAD);
    let sts = string_to_sign(scope, &creq.text);
    let key = signing_key(credentials.secret_access_key.expose(), scope);
    params.push(("X-Amz-Signature".to_string(), signature(&key, &sts)));
    params
}

#[cfg(test)]
mod tests;
