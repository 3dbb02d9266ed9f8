//! Request building and response parsing, natively.

use super::request::base64;
use super::*;
use crate::engine::credentials::Credentials;
use crate::engine::encode::percent_decode;
use crate::engine::error::ErrorKind;
use crate::engine::http::{HttpRequest, HttpResponse, Method};
use crate::engine::sigv4::sha256_hex;
use in_memory::InMemoryS3;

const NOW: i64 = 1_795_692_057_132; // 2026-11-26T11:20:57.132Z

/// The keys every S3 path must carry intact (issue: foundation).
pub(crate) fn awkward_keys() -> Vec<String> {
    vec![
        "&$@=;  :+,?".into(),
        "\\{^}%\\]\">[~#|".into(),
        "<![CDATA[...]]>".into(),
        "foo<Contents>".into(),
        "&lt".into(),
        "dir/sub/key".into(),
        "a b+c".into(),
        "unicode-ключ-鍵".into(),
        "k".repeat(1024),
    ]
}

fn s3(endpoint: Option<&str>) -> S3 {
    S3::new(S3Config::new(endpoint, "us-east-1", Credentials::new("AKID", "secret")).unwrap())
}

fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.as_bytes().to_vec(),
    }
}

#[test]
fn endpoints_parse_and_default_ports_drop() {
    let e = Endpoint::parse("http://127.0.0.1:9000").unwrap();
    assert_eq!(
        (
            e.scheme.as_str(),
            e.authority.as_str(),
            e.base_path.as_str()
        ),
        ("http", "127.0.0.1:9000", "")
    );
    let e = Endpoint::parse("HTTPS://Minio.Example:443/s3/").unwrap();
    assert_eq!(
        (
            e.scheme.as_str(),
            e.authority.as_str(),
            e.base_path.as_str()
        ),
        ("https", "minio.example", "/s3")
    );
    for bad in [
        "127.0.0.1:9000",
        "ftp://x",
        "http://",
        "http://u:p@h",
        "http://h/?q",
    ] {
        assert_eq!(
            Endpoint::parse(bad).unwrap_err().kind,
            ErrorKind::BadInput,
            "{bad}"
        );
    }
}

#[test]
fn path_style_for_custom_endpoints_virtual_hosted_for_aws() {
    let req = s3(Some("http://127.0.0.1:9000"))
        .get_object("bkt", "dir/a b", &GetOptions::default(), NOW)
        .unwrap();
    assert_eq!(req.url, "http://127.0.0.1:9000/bkt/dir/a%20b");
    let aws = s3(None)
        .get_object("bkt", "dir/a b", &GetOptions::default(), NOW)
        .unwrap();
    assert_eq!(aws.url, "https://bkt.s3.us-east-1.amazonaws.com/dir/a%20b");
    let list = s3(None)
        .list_objects_v2("bkt", &ListParams::default(), NOW)
        .unwrap();
    assert_eq!(
        list.url,
        "https://bkt.s3.us-east-1.amazonaws.com/?list-type=2&encoding-type=url"
    );
}

/// Compressed content says so, and the header is signed with the rest:
/// the hash covers the gzipped bytes as sent.
#[test]
fn a_gzipped_body_is_sent_and_signed_with_its_content_encoding() {
    let s3 = s3(Some("http://127.0.0.1:9000"));
    let body = vec![0x1f, 0x8b, 8, 0];
    let opts = PutOptions {
        content_type: Some("application/json".into()),
        content_encoding: Some("gzip"),
        mode: PutMode::Overwrite,
    };
    let req = s3
        .put_object("bkt", "k@u", body.clone(), &opts, NOW)
        .unwrap();
    assert_eq!(req.header("content-encoding"), Some("gzip"));
    assert_eq!(
        req.header("x-amz-content-sha256"),
        Some(sha256_hex(&body).as_str())
    );
    let auth = req.header("authorization").unwrap();
    assert!(
        auth.contains(
            "SignedHeaders=content-encoding;content-type;host;x-amz-content-sha256;x-amz-date,"
        ),
        "{auth}"
    );
    let plain = PutOptions {
        content_encoding: None,
        ..opts
    };
    let req = s3.put_object("bkt", "k@u", body, &plain, NOW).unwrap();
    assert_eq!(req.header("content-encoding"), None);
}

#[test]
fn every_request_is_signed_with_date_and_payload_hash() {
    let s3 = s3(Some("http://127.0.0.1:9000"));
    let body = b"{\"a\":1}".to_vec();
    let req = s3
        .put_object(
            "bkt",
            "k",
            body.clone(),
            &PutOptions {
                content_type: Some("application/json".into()),
                content_encoding: None,
                mode: PutMode::Create,
            },
            NOW,
        )
        .unwrap();
    assert_eq!(req.method, Method::Put);
    assert_eq!(req.header("x-amz-date"), Some("20261126T112057Z"));
    assert_eq!(
        req.header("x-amz-content-sha256"),
        Some(sha256_hex(&body).as_str())
    );
    assert_eq!(req.header("if-none-match"), Some("*"));
    assert!(req.header("host").is_none(), "the transport sets Host");
    let auth = req.header("authorization").unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKID/20261126/us-east-1/s3/aws4_request, "),
        "{auth}"
    );
    assert!(
        auth.contains(
            "SignedHeaders=content-type;host;if-none-match;x-amz-content-sha256;x-amz-date,"
        ),
        "{auth}"
    );
    assert!(!format!("{req:?}").contains("secret"));

    let upd = s3
        .put_object(
            "bkt",
            "k",
            vec![],
            &PutOptions {
                content_type: None,
                content_encoding: None,
                mode: PutMode::Update("\"e1\"".into()),
            },
            NOW,
        )
        .unwrap();
    assert_eq!(upd.header("if-match"), Some("\"e1\""));
    assert!(upd.header("if-none-match").is_none());
}

#[test]
fn session_token_is_sent_and_signed() {
    let creds = Credentials::new("AKID", "secret").with_session_token("TOKEN");
    let s3 = S3::new(S3Config::new(Some("http://h:1"), "eu-west-1", creds).unwrap());
    let req = s3
        .get_object("bkt", "k", &GetOptions::default(), NOW)
        .unwrap();
    assert_eq!(req.header("x-amz-security-token"), Some("TOKEN"));
    assert!(req
        .header("authorization")
        .unwrap()
        .contains(";x-amz-security-token,"));
    assert!(req
        .header("authorization")
        .unwrap()
        .contains("/eu-west-1/s3/"));
}

#[test]
fn awkward_keys_are_encoded_once_and_decode_back() {
    let s3 = s3(Some("http://127.0.0.1:9000"));
    for key in awkward_keys() {
        let req = s3
            .get_object("bkt", &key, &GetOptions::default(), NOW)
            .unwrap();
        let path = req.url.strip_prefix("http://127.0.0.1:9000/bkt/").unwrap();
        assert!(!path.contains(['?', '#', ' ', '<', '"']), "{path}");
        assert_eq!(percent_decode(path).unwrap(), key);
    }
}

/// Keys with `.` or `..` segments go out with their `/` as `%2F`, so
/// that no URL parser resolves them; a bucket that (as S3 does) decodes
/// `%2F` stores each under the key as given, and a URL parser's resolution
/// (the in-memory S3 applies one, as `fetch` would) leaves it alone.
#[test]
fn keys_with_dot_segments_reach_the_object_they_name() {
    let keys = ["a/../b", "./x", "x/.", "../up", "a/./b/..", "..@v", "./.."];
    for addressing in [Addressing::Path, Addressing::VirtualHost] {
        let mut config = S3Config::new(
            Some("http://127.0.0.1:9000"),
            "us-east-1",
            Credentials::new("AKID", "secret"),
        )
        .unwrap();
        config.addressing = addressing;
        let s3 = S3::new(config);
        let mut model = InMemoryS3::new(1);
        model.create_bucket("bkt", false);
        for key in keys {
            let put = s3
                .put_object(
                    "bkt",
                    key,
                    key.as_bytes().to_vec(),
                    &PutOptions::default(),
                    NOW,
                )
                .unwrap();
            assert!(
                !put.url.contains("/../") && !put.url.contains("/./"),
                "{}",
                put.url
            );
            if addressing == Addressing::Path {
                // As `fetch` sends them: dot segments resolved.
                let sent = |mut req: HttpRequest| {
                    req.url = in_memory::as_fetch_sends(&req.url);
                    req
                };
                assert_eq!(model.apply(&sent(put), NOW).status, 200, "{key}");
                let get = s3
                    .get_object("bkt", key, &GetOptions::default(), NOW)
                    .unwrap();
                assert_eq!(model.apply(&sent(get), NOW).body, key.as_bytes(), "{key}");
            }
        }
        if addressing == Addressing::Path {
            let mut stored: Vec<&str> = model.buckets[0]
                .1
                .objects
                .iter()
                .map(|(k, _)| k.as_str())
                .collect();
            stored.sort();
            let mut expected = keys.to_vec();
            expected.sort();
            assert_eq!(stored, expected, "each under its own key");
        }
    }
}

#[test]
fn bad_keys_and_buckets_are_refused_before_any_request() {
    let s3 = s3(Some("http://127.0.0.1:9000"));
    let long = "k".repeat(1025);
    for key in ["", long.as_str(), ".", ".."] {
        let e = s3
            .put_object("bkt", key, vec![], &PutOptions::default(), NOW)
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadInput, "{key:?}");
    }
    assert!(
        s3.get_object("bkt", &"ключ".repeat(128), &GetOptions::default(), NOW)
            .is_ok(),
        "1024 bytes"
    );
    for bucket in ["", "ab", "UPPER", "-x-", "a_b"] {
        assert_eq!(
            s3.create_bucket(bucket, NOW).unwrap_err().kind,
            ErrorKind::BadInput,
            "{bucket}"
        );
    }
}

#[test]
fn get_versions_conditions_and_deletes() {
    let s3 = s3(Some("http://h:1"));
    let req = s3
        .get_object(
            "bkt",
            "k",
            &GetOptions {
                version_id: Some("v 1".into()),
                if_none_match: Some("\"e\"".into()),
            },
            NOW,
        )
        .unwrap();
    assert_eq!(req.url, "http://h:1/bkt/k?versionId=v%201");
    assert_eq!(req.header("if-none-match"), Some("\"e\""));
    let head = s3
        .head_object("bkt", "k", &GetOptions::default(), NOW)
        .unwrap();
    assert_eq!(head.method, Method::Head);
    let del = s3.delete_object("bkt", "k", Some("v2"), NOW).unwrap();
    assert_eq!(
        (del.method, del.url.as_str()),
        (Method::Delete, "http://h:1/bkt/k?versionId=v2")
    );
}

#[test]
fn list_parameters_are_encoded() {
    let req = s3(Some("http://h:1"))
        .list_objects_v2(
            "bkt",
            &ListParams {
                prefix: Some("app/manifest.json@".into()),
                start_after: Some("app/manifest.json@2bnk6jbej".into()),
                max_keys: Some(2),
                continuation_token: Some("a+b/c=".into()),
            },
            NOW,
        )
        .unwrap();
    assert_eq!(
        req.url,
        "http://h:1/bkt?list-type=2&encoding-type=url&prefix=app%2Fmanifest.json%40\
         &start-after=app%2Fmanifest.json%402bnk6jbej&max-keys=2&continuation-token=a%2Bb%2Fc%3D"
    );
}

#[test]
fn bucket_operations() {
    let east = s3(Some("http://h:1")).create_bucket("bkt", NOW).unwrap();
    assert!(east.body.is_empty());
    let west = S3::new(
        S3Config::new(Some("http://h:1"), "eu-west-1", Credentials::new("a", "b")).unwrap(),
    )
    .create_bucket("bkt", NOW)
    .unwrap();
    assert!(String::from_utf8(west.body)
        .unwrap()
        .contains("<LocationConstraint>eu-west-1</LocationConstraint>"));
    let v = s3(Some("http://h:1"))
        .put_bucket_versioning("bkt", true, NOW)
        .unwrap();
    assert_eq!(v.url, "http://h:1/bkt?versioning=");
    assert!(String::from_utf8(v.body.clone())
        .unwrap()
        .contains("<Status>Enabled</Status>"));
    use sha2::{Digest, Sha256};
    assert_eq!(
        v.header("x-amz-checksum-sha256").unwrap(),
        base64(&Sha256::digest(&v.body))
    );
    let cors = s3(Some("http://h:1"))
        .put_bucket_cors(
            "bkt",
            &[CorsRule {
                allowed_origins: vec!["*".into()],
                allowed_methods: vec!["GET".into(), "PUT".into()],
                allowed_headers: vec!["*".into()],
                expose_headers: vec!["ETag".into()],
                max_age_seconds: Some(600),
            }],
            NOW,
        )
        .unwrap();
    let body = String::from_utf8(cors.body).unwrap();
    assert!(body.contains("<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>600</MaxAgeSeconds></CORSRule>"), "{body}");
}

#[test]
fn base64_matches_rfc4648_vectors() {
    for (i, o) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64(i.as_bytes()), o);
    }
}

#[test]
fn object_metadata_is_read_from_headers() {
    let r = resp(
        200,
        &[
            ("ETag", "\"abc\""),
            ("x-amz-version-id", "3/L4kqtJl"),
            ("Last-Modified", "Thu, 26 Nov 2026 11:20:57 GMT"),
            ("Date", "Thu, 26 Nov 2026 11:20:58 GMT"),
            ("Content-Type", "application/json"),
        ],
        "{}",
    );
    let GetResult::Found(obj) = parse_get(&r).unwrap() else {
        panic!()
    };
    assert_eq!(obj.body, b"{}");
    assert_eq!(obj.meta.etag.as_deref(), Some("\"abc\""));
    assert_eq!(obj.meta.version_id.as_deref(), Some("3/L4kqtJl"));
    assert_eq!(obj.meta.last_modified, Some(NOW - 132));
    assert_eq!(obj.meta.date, Some(NOW - 132 + 1000));
    // Unversioned buckets may say "null".
    let put = parse_put(&resp(
        200,
        &[("etag", "\"e\""), ("x-amz-version-id", "null")],
        "",
    ))
    .unwrap();
    assert_eq!(put.version_id, None);
    // An ETag hidden by CORS is a configuration problem, said plainly.
    let e = parse_put(&resp(200, &[], "")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadResponse);
    assert!(e.message.contains("CORS"));
}

#[test]
fn not_modified_is_a_result_not_an_error() {
    let r = resp(
        304,
        &[
            ("ETag", "\"abc\""),
            ("Date", "Thu, 26 Nov 2026 11:20:58 GMT"),
        ],
        "",
    );
    match parse_get(&r).unwrap() {
        GetResult::NotModified(meta) => assert_eq!(meta.etag.as_deref(), Some("\"abc\"")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn errors_map_to_semantic_kinds_and_keep_s3_code() {
    let xml = |code: &str| {
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>m &amp; m</Message><RequestId>r</RequestId></Error>")
    };
    let cases = [
        (404, "NoSuchKey", ErrorKind::NotFound),
        (412, "PreconditionFailed", ErrorKind::PreconditionFailed),
        (
            409,
            "ConditionalRequestConflict",
            ErrorKind::PreconditionFailed,
        ),
        (403, "SignatureDoesNotMatch", ErrorKind::AccessDenied),
        (403, "InvalidAccessKeyId", ErrorKind::AccessDenied),
        (400, "ExpiredToken", ErrorKind::AccessDenied),
        (403, "RequestTimeTooSkewed", ErrorKind::ClockSkew),
        (503, "SlowDown", ErrorKind::SlowDown),
        (503, "ServiceUnavailable", ErrorKind::SlowDown),
        (500, "InternalError", ErrorKind::ServerError),
        (400, "RequestTimeout", ErrorKind::ServerError),
        (400, "InvalidArgument", ErrorKind::BadInput),
        (400, "KeyTooLongError", ErrorKind::BadInput),
    ];
    for (status, code, kind) in cases {
        let e = error_from_response(&resp(status, &[], &xml(code)));
        assert_eq!(e.kind, kind, "{status} {code}");
        assert_eq!(e.s3_code.as_deref(), Some(code));
        assert_eq!(e.message, "m & m");
        assert_eq!(e.status, Some(status));
    }
    // An auth proxy's rules refusing one request say so: not a
    // misconfiguration for the status to report.
    let plain = error_from_response(&resp(403, &[], &xml("AccessDenied")));
    assert!(!plain.by_rule);
    let ruled = error_from_response(&resp(
        403,
        &[("x-mps3-refused", "rule")],
        &xml("AccessDenied"),
    ));
    assert_eq!(ruled.kind, ErrorKind::AccessDenied);
    assert!(ruled.by_rule);
    // A bucket that does not exist is a mistake in the config, not an
    // absent key: its own kind, and a message with the fix.
    let e = error_from_response(&resp(404, &[], &xml("NoSuchBucket")));
    assert_eq!(e.kind, ErrorKind::NoSuchBucket);
    assert_eq!(e.s3_code.as_deref(), Some("NoSuchBucket"));
    assert!(e.message.contains("defaultBucket"), "{}", e.message);
    assert!(e.message.contains("m & m"), "{}", e.message);
    // HEAD errors and proxies' answers have no XML body.
    assert_eq!(
        error_from_response(&resp(404, &[], "")).kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        error_from_response(&resp(403, &[], "")).kind,
        ErrorKind::AccessDenied
    );
    assert_eq!(
        error_from_response(&resp(502, &[], "<html>bad gateway</html>")).kind,
        ErrorKind::ServerError
    );
    assert_eq!(
        error_from_response(&resp(302, &[], "")).kind,
        ErrorKind::BadResponse
    );
    assert!(parse_delete(&resp(500, &[], "")).is_err());
    assert!(
        parse_delete(&resp(204, &[("x-amz-delete-marker", "true")], ""))
            .unwrap()
            .meta
            .delete_marker
    );
}

const LIST_PAGE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bkt</Name><Prefix>manifest.json%40</Prefix><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>
<Contents><Key>%26%24%40%3D%3B++%3A%2B%2C%3F%40c63a</Key><LastModified>2026-11-26T11:20:57.000Z</LastModified><ETag>&quot;9d45&quot;</ETag><Size>2</Size><StorageClass>STANDARD</StorageClass></Contents>
<Contents><Key>%3C%21%5BCDATA%5B...%5D%5D%3E</Key><LastModified>2026-11-26T11:20:58.123Z</LastModified><ETag>"e2"</ETag><Size>10</Size></Contents>
<Contents><Key>unicode-%D0%BA%D0%BB%D1%8E%D1%87-%E9%8D%B5</Key><LastModified>2026-11-26T11:20:59Z</LastModified><Size>0</Size></Contents>
<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken></ListBucketResult>"#;

#[test]
fn listings_decode_url_encoded_keys_and_paginate() {
    let page = parse_list(&resp(
        200,
        &[("Date", "Thu, 26 Nov 2026 11:21:00 GMT")],
        LIST_PAGE,
    ))
    .unwrap();
    let keys: Vec<&str> = page.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        ["&$@=;  :+,?@c63a", "<![CDATA[...]]>", "unicode-ключ-鍵"]
    );
    assert_eq!(page.entries[0].last_modified, NOW - 132);
    assert_eq!(page.entries[1].last_modified, NOW - 132 + 1123);
    assert_eq!(page.entries[0].etag.as_deref(), Some("\"9d45\""));
    assert_eq!(page.entries[1].size, 10);
    assert!(page.is_truncated);
    assert_eq!(page.date, Some(NOW - 132 + 3000));

    let mut all = ListAll::new(
        "bkt",
        ListParams {
            prefix: Some("p".into()),
            ..Default::default()
        },
    );
    let s3 = s3(Some("http://h:1"));
    assert!(!all
        .request(&s3, NOW)
        .unwrap()
        .url
        .contains("continuation-token"));
    assert!(all.on_page(page));
    assert!(all
        .request(&s3, NOW)
        .unwrap()
        .url
        .contains("continuation-token=1ueGcxLPRx1Tr%2FXYExHnhbYLgveDs2J%2Fwm36Hy4vbOwM%3D"));
    let last = parse_list(&resp(200, &[], "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>z</Key><LastModified>2026-11-26T11:20:57.000Z</LastModified></Contents></ListBucketResult>")).unwrap();
    assert!(!all.on_page(last));
    assert_eq!(all.entries.len(), 4);
    assert_eq!(all.pages, 2);
}

#[test]
fn listings_without_url_encoding_are_taken_verbatim_and_garbage_is_refused() {
    let page = parse_list(&resp(200, &[], "<ListBucketResult><Contents><Key>a+b%20</Key><LastModified>2026-11-26T11:20:57Z</LastModified></Contents></ListBucketResult>")).unwrap();
    assert_eq!(page.entries[0].key, "a+b%20");
    for body in [
        "",
        "<Other/>",
        "<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>",
        "not xml",
    ] {
        assert_eq!(
            parse_list(&resp(200, &[], body)).unwrap_err().kind,
            ErrorKind::BadResponse,
            "{body}"
        );
    }
    assert_eq!(
        parse_list(&resp(403, &[], "")).unwrap_err().kind,
        ErrorKind::AccessDenied
    );
}

#[test]
fn presigned_reads_carry_no_headers_and_sign_the_query() {
    let mut config = S3Config::new(
        Some("http://127.0.0.1:9000"),
        "us-east-1",
        Credentials::new("AKID", "secret").with_session_token("TOK"),
    )
    .unwrap();
    config.presign_reads = true;
    let s3 = S3::new(config);
    let get = s3
        .get_object("bkt", "a b", &GetOptions::default(), NOW)
        .unwrap();
    assert!(
        get.headers.is_empty(),
        "a CORS simple request: {:?}",
        get.headers
    );
    assert!(
        get.url
            .starts_with("http://127.0.0.1:9000/bkt/a%20b?X-Amz-Algorithm=AWS4-HMAC-SHA256&"),
        "{}",
        get.url
    );
    for part in [
        "X-Amz-Credential=AKID%2F20261126%2Fus-east-1%2Fs3%2Faws4_request",
        "X-Amz-Date=20261126T112057Z",
        "X-Amz-Expires=300",
        "X-Amz-SignedHeaders=host",
        "X-Amz-Security-Token=TOK",
        "X-Amz-Signature=",
    ] {
        assert!(get.url.contains(part), "{part} in {}", get.url);
    }
    let list = s3
        .list_objects_v2(
            "bkt",
            &ListParams {
                prefix: Some("m@".into()),
                ..Default::default()
            },
            NOW,
        )
        .unwrap();
    assert!(list.headers.is_empty());
    assert!(
        list.url.contains("list-type=2")
            && list.url.contains("prefix=m%40")
            && list.url.contains("X-Amz-Signature=")
    );
    // A conditional GET keeps its header, so it is signed in headers.
    let cond = s3
        .get_object(
            "bkt",
            "k",
            &GetOptions {
                version_id: None,
                if_none_match: Some("\"e\"".into()),
            },
            NOW,
        )
        .unwrap();
    assert!(cond.header("authorization").is_some() && !cond.url.contains("X-Amz-Signature"));
    // Writes are never presigned.
    let put = s3
        .put_object("bkt", "k", vec![], &PutOptions::default(), NOW)
        .unwrap();
    assert!(put.header("authorization").is_some());
}
