//! Turning S3's answers into typed results and semantic errors.

use crate::prelude::*;

use crate::engine::encode::url_decode_form;
use crate::engine::error::{Error, ErrorKind, Result};
use crate::engine::http::HttpResponse;
use crate::engine::lean::scan::number;
use crate::engine::time::{parse_http_date, parse_iso8601, EpochMillis};
use crate::engine::xml;

/// What the headers of an object response say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectMeta {
    pub etag: Option<String>,
    pub version_id: Option<String>,
    pub last_modified: Option<EpochMillis>,
    /// The server's clock at the answer (the `Date` header), for skew
    /// correction.
    pub date: Option<EpochMillis>,
    pub content_type: Option<String>,
    pub delete_marker: bool,
}

impl ObjectMeta {
    fn from_response(resp: &HttpResponse) -> ObjectMeta {
        let version_id = resp
            .header("x-amz-version-id")
            .filter(|v| !v.is_empty() && *v != "null")
            .map(str::to_string);
        ObjectMeta {
            etag: resp.header("etag").map(str::to_string),
            version_id,
            last_modified: resp
                .header("last-modified")
                .and_then(|d| parse_http_date(d).ok()),
            date: resp.header("date").and_then(|d| parse_http_date(d).ok()),
            content_type: resp.header("content-type").map(str::to_string),
            delete_marker: resp.header("x-amz-delete-marker") == Some("true"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    pub meta: ObjectMeta,
    pub body: Vec<u8>,
}

/// A GET or HEAD: the object, or "your copy is current" (304).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GetResult {
    Found(Object),
    NotModified(ObjectMeta),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteResult {
    pub meta: ObjectMeta,
}

/// One object of a listing. `key` is decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListEntry {
    pub key: String,
    pub last_modified: EpochMillis,
    pub etag: Option<String>,
    pub size: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListPage {
    pub entries: Vec<ListEntry>,
    pub is_truncated: bool,
    pub next_continuation_token: Option<String>,
    pub date: Option<EpochMillis>,
}

/// The semantic error for a non-2xx answer, keeping S3's Code and Message.
pub fn error_from_response(resp: &HttpResponse) -> Error {
    let (code, message) = match core::str::from_utf8(&resp.body).ok().map(xml::parse) {
        Some(Ok(root)) if root.name == "Error" => (
            root.child_text("Code").map(str::to_string),
            root.child_text("Message").map(str::to_string),
        ),
        _ => (None, None),
    };
    let kind = match (resp.status, code.as_deref()) {
        (304, _) => ErrorKind::NotModified,
        (_, Some("RequestTimeTooSkewed")) => ErrorKind::ClockSkew,
        (_, Some("SlowDown" | "ThrottlingException" | "RequestLimitExceeded")) => {
            ErrorKind::SlowDown
        }
        (
            _,
            Some(
                "ExpiredToken"
                | "InvalidToken"
                | "InvalidAccessKeyId"
                | "SignatureDoesNotMatch"
                | "AccessDenied"
                | "AuthorizationHeaderMalformed"
                | "TokenRefreshRequired",
            ),
        ) => ErrorKind::AccessDenied,
        (_, Some("NoSuchBucket")) => ErrorKind::NoSuchBucket,
        (400, Some("RequestTimeout")) => ErrorKind::ServerError,
        (401 | 403, _) => ErrorKind::AccessDenied,
        (404, _) => ErrorKind::NotFound,
        (409 | 412, _) => ErrorKind::PreconditionFailed,
        (429, _) => ErrorKind::SlowDown,
        (503, _) => ErrorKind::SlowDown,
        (500..=599, _) => ErrorKind::ServerError,
        (400 | 405 | 411 | 413 | 414 | 416, _) => ErrorKind::BadInput,
        _ => ErrorKind::BadResponse,
    };
    // The likely fix, not only S3's words: a bucket's name is typed by
    // hand in a config.
    let message = if kind == ErrorKind::NoSuchBucket {
        Some(cat!(
            "no such bucket: check defaultBucket, the endpoint and the region (",
            message.as_deref().unwrap_or("NoSuchBucket"),
            ")"
        ))
    } else {
        message
    };
    let message = message.unwrap_or_else(|| match kind {
        ErrorKind::NotFound => "no such object or bucket".to_string(),
        ErrorKind::NotModified => "not modified".to_string(),
        _ => cat!("HTTP ", resp.status),
    });
    let mut e = Error::new(kind, message);
    e.status = Some(resp.status);
    e.s3_code = code;
    e.by_rule = resp.header("x-mps3-refused") == Some("rule");
    e
}

fn check(resp: &HttpResponse) -> Result<()> {
    if resp.is_success() {
        Ok(())
    } else {
        Err(error_from_response(resp))
    }
}

/// Any 2xx, e.g. the bucket operations.
pub fn parse_ok(resp: &HttpResponse) -> Result<ObjectMeta> {
    check(resp)?;
    Ok(ObjectMeta::from_response(resp))
}

pub fn parse_put(resp: &HttpResponse) -> Result<ObjectMeta> {
    let meta = parse_ok(resp)?;
    if meta.etag.is_none() {
        return Err(Error::bad_response(
            "PUT answer has no readable ETag (is it in the bucket's CORS ExposeHeaders?)",
        ));
    }
    Ok(meta)
}

pub fn parse_get(resp: &HttpResponse) -> Result<GetResult> {
    if resp.status == 304 {
        return Ok(GetResult::NotModified(ObjectMeta::from_response(resp)));
    }
    check(resp)?;
    Ok(GetResult::Found(Object {
        meta: ObjectMeta::from_response(resp),
        body: resp.body.clone(),
    }))
}

/// HEAD has no error body: the status alone says what went wrong.
pub fn parse_head(resp: &HttpResponse) -> Result<GetResult> {
    parse_get(resp)
}

pub fn parse_delete(resp: &HttpResponse) -> Result<DeleteResult> {
    Ok(DeleteResult {
        meta: parse_ok(resp)?,
    })
}

/// Parses a ListObjectsV2 page asked for with `encoding-type=url`: keys are
/// decoded here (and taken as they are if the server did not encode).
pub fn parse_list(resp: &HttpResponse) -> Result<ListPage> {
    check(resp)?;
    let text = core::str::from_utf8(&resp.body)
        .map_err(|_| Error::bad_response("listing is not UTF-8"))?;
    let root = xml::parse(text)?;
    if root.name != "ListBucketResult" {
        return Err(Error::bad_response(cat!(
            "expected ListBucketResult, got ",
            root.name
        )));
    }
    let url_encoded = root.child_text("EncodingType") == Some("url");
    let decode = |s: &str| -> Result<String> {
        if url_encoded {
            url_decode_form(s)
                .ok_or_else(|| Error::bad_response(cat!("bad encoded key \"", s, "\"")))
        } else {
            Ok(s.to_string())
        }
    };
    let mut entries = Vec::new();
    for c in root.children_named("Contents") {
        let key = c
            .child_text("Key")
            .ok_or_else(|| Error::bad_response("listed object without Key"))?;
        let last_modified = parse_iso8601(
            c.child_text("LastModified")
                .ok_or_else(|| Error::bad_response("listed object without LastModified"))?,
        )?;
        entries.push(ListEntry {
            key: decode(key)?,
            last_modified,
            etag: c.child_text("ETag").map(str::to_string),
            size: c
                .child_text("Size")
                .and_then(|s| number(s, 10))
                .unwrap_or(0),
        });
    }
    Ok(ListPage {
        entries,
        is_truncated: root.child_text("IsTruncated") == Some("true"),
        next_continuation_token: root
            .child_text("NextContinuationToken")
            .filter(|t| !t.is_empty())
            .map(str::to_string),
        date: resp.header("date").and_then(|d| parse_http_date(d).ok()),
    })
}
