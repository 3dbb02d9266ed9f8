//! Where requests go and what keys are acceptable.

use crate::prelude::*;

use crate::engine::credentials::Credentials;
use crate::engine::error::{Error, Result};

/// S3 refuses keys longer than this many UTF-8 bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// A parsed endpoint: `scheme://host[:port][/base]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub scheme: String,
    /// Host and, when not the scheme's default, `:port`: the `Host` header.
    pub authority: String,
    /// A path prefix the service lives under (rare; e.g. behind a proxy).
    pub base_path: String,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Endpoint> {
        let (scheme, rest) =
            crate::engine::lean::scan::split_once(url, "://").ok_or_else(|| {
                Error::bad_input(cat!("endpoint \"", url, "\" needs http:// or https://"))
            })?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(Error::bad_input(cat!(
                "endpoint scheme must be http or https, not \"",
                scheme,
                "\""
            )));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() || authority.contains('@') || rest.contains(['?', '#']) {
            return Err(Error::bad_input(cat!(
                "endpoint \"",
                url,
                "\" is not a base URL"
            )));
        }
        let default_port = if scheme == "http" { ":80" } else { ":443" };
        let authority = authority
            .strip_suffix(default_port)
            .unwrap_or(authority)
            .to_ascii_lowercase();
        Ok(Endpoint {
            scheme,
            authority,
            base_path: path.to_string(),
        })
    }

    /// AWS's regional endpoint.
    pub fn aws(region: &str) -> Endpoint {
        Endpoint {
            scheme: "https".into(),
            authority: cat!("s3.", region, ".amazonaws.com"),
            base_path: String::new(),
        }
    }
}

/// Where a request's URL names the bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addressing {
    /// `https://host/bucket/key` (`forcePathStyle: true`).
    Path,
    /// `https://bucket.host/key`.
    VirtualHost,
}

/// Everything needed to address and sign requests to one service.
#[derive(Clone, Debug)]
pub struct S3Config {
    pub endpoint: Endpoint,
    pub region: String,
    pub credentials: Credentials,
    /// Where the bucket goes in a URL. Custom endpoints (MinIO, moto, R2
    /// account endpoints) default to the path; AWS to the host.
    pub addressing: Addressing,
    /// Sign plain GETs (no conditional headers) in the query string. A
    /// presigned GET carries no custom header, so a browser sends it as a
    /// CORS *simple* request: no preflight. Chromium does not reuse
    /// preflights for requests that bypass its cache, which ours must, so
    /// without this every read costs two round trips.
    pub presign_reads: bool,
}

impl S3Config {
    /// A config for `endpoint` (`None`: AWS in `region`).
    pub fn new(endpoint: Option<&str>, region: &str, credentials: Credentials) -> Result<Self> {
        if region.is_empty() {
            return Err(Error::bad_input("region must not be empty"));
        }
        let (endpoint, addressing) = match endpoint {
            Some(url) => (Endpoint::parse(url)?, Addressing::Path),
            None => (Endpoint::aws(region), Addressing::VirtualHost),
        };
        Ok(S3Config {
            endpoint,
            region: region.to_string(),
            credentials,
            addressing,
            presign_reads: false,
        })
    }
}

/// A bucket name we can address in either style: 3-63 characters of
/// lower-case letters, digits, `.` and `-`.
pub fn validate_bucket(bucket: &str) -> Result<()> {
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && !bucket.starts_with(['.', '-'])
        && !bucket.ends_with(['.', '-']);
    if ok {
        Ok(())
    } else {
        Err(Error::bad_input(cat!(
            "invalid bucket name \"",
            bucket,
            "\""
        )))
    }
}

/// An object key S3 accepts and a browser can address: 1 to 1024 UTF-8
/// bytes, and no `.` or `..` path segment (a URL parser, the browser's
/// included, removes those before the request leaves, so the object could
/// never be reached).
pub fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::bad_input("key must not be empty"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(Error::bad_input(cat!(
            "key is ",
            key.len(),
            " bytes; S3 allows at most ",
            MAX_KEY_BYTES
        )));
    }
    Ok(())
}

/// An object key a URL can name: any key S3 stores (`validate_key`) but
/// `.` and `..` themselves, which every URL parser resolves away (to the
/// bucket, or the service). (Other keys with such segments are sent with
/// their `/` encoded: `S3::locate`.)
pub fn validate_object_key(key: &str) -> Result<()> {
    validate_key(key)?;
    if key == "." || key == ".." {
        return Err(Error::bad_input(cat!(
            "no URL can name an object \"",
            key,
            "\""
        )));
    }
    Ok(())
}
