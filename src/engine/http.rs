//! Plain HTTP values passed between the core and whatever performs IO.

use crate::prelude::*;

/// HTTP methods S3 needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Head,
    Put,
    Delete,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Post => "POST",
        }
    }
}

/// A request ready to send: signed, with its URL already encoded exactly as
/// it was signed. Headers exclude `host` (the transport sets it from the URL,
/// and browsers forbid setting it) but it was signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Not aborted when the client goes offline: a write's entry PUT, let
    /// finish so that its answer says whether it landed. Aborted, its
    /// outcome would be unknown, and a writer offline for longer than
    /// autoclean's grace could no longer find out (docs/protocol.md).
    pub finish_offline: bool,
    /// The trace id of the write this request carries, for the log.
    pub trace: Option<String>,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Whether a browser asks the bucket's CORS rule first: not a GET, or
    /// signed in its headers (a presigned GET is a simple request).
    pub fn preflighted(&self) -> bool {
        self.method != Method::Get || self.header("authorization").is_some()
    }
}

/// What came back. Header names may be in any case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The response headers the core reads. A browser shows a cross-origin
/// response's headers only when the server's CORS rule exposes them, so the
/// bucket's rule must list exactly these (see the README's CORS section).
pub const EXPOSED_HEADERS: &[&str] = &[
    "etag",
    "date",
    "last-modified",
    "x-amz-version-id",
    "x-amz-delete-marker",
    "content-type",
];
