//! The engine's requests: one S3 call with its retries, clock
//! correction and credential refresh (`call`), and the few helpers most
//! requests of both protocols go through, each boxed: one copy of each in
//! the .wasm, not one inlined into every caller.

use crate::prelude::*;

use super::Db;
use crate::engine::deadline::until;
use crate::engine::error::{Error, ErrorKind, Result};
use crate::engine::http::{HttpRequest, HttpResponse};
use crate::engine::io::Io;
use crate::engine::object::Ref;
use crate::engine::protocol::{Client, Put};
use crate::engine::s3::{
    error_from_response, parse_delete, parse_list, parse_put, GetOptions, GetResult, ListAll,
    ListParams, ObjectMeta, PutMode, PutOptions, S3,
};
use crate::engine::time::{parse_http_date, EpochMillis};

pub(crate) use crate::engine::protocol::{Boxed, Done, Fetch, Listing};

/// A PUT of JSON (content, entries, the marker) in `mode`.
pub(crate) fn json_put(mode: PutMode) -> PutOptions {
    PutOptions {
        content_type: Some("application/json".into()),
        content_encoding: None,
        mode,
    }
}

/// A versioned write's answer without the version S3 gave the object.
pub(super) fn no_version_id(bucket: &str) -> Error {
    Error::bad_response(cat!(
        "bucket ",
        bucket,
        " answered without a version id: is versioning enabled?"
    ))
}

impl<I: Io> Db<I> {
    /// One S3 call: build (signed at the corrected time), send, correct
    /// the clock from the answer's `Date`, parse; retry transient failures
    /// with backoff.
    pub(crate) async fn call<T>(
        &self,
        build: impl Fn(&S3, EpochMillis) -> Result<HttpRequest>,
        parse: impl Fn(&HttpResponse) -> Result<T>,
    ) -> Result<T> {
        // The retry loop is not generic (one copy in the .wasm, not one
        // per call site): it judges answers by status, then we parse. Its
        // state (the request, the fetch in flight) lives on the heap, so
        // each of its dozen callers' state machines holds a pointer to it
        // instead of moving and dropping it in place (0.2 KB gzipped; one
        // allocation per call, beside a network request).
        let resp = Box::pin(self.send_retrying(&build)).await?;
        parse(&resp)
    }

    /// Every object of `bucket` under `prefix` after `start_after`, page
    /// by page: both protocols' listings (boxed: one copy in the .wasm).
    pub(super) fn list_all<'a>(
        &'a self,
        bucket: &'a str,
        prefix: String,
        start_after: Option<String>,
    ) -> Listing<'a> {
        Box::pin(async move {
            let mut list = ListAll::new(
                bucket,
                ListParams {
                    prefix: Some(prefix),
                    start_after,
                    max_keys: None,
                    continuation_token: None,
                },
            );
            loop {
                let page = self
                    .call(|s3, now| list.request(s3, now), parse_list)
                    .await?;
                if !list.on_page(page) {
                    return Ok(list.entries);
                }
            }
        })
    }

    /// Sends until an answer is final: 2xx and 304 are returned; other
    /// statuses and network failures become errors, retried with backoff
    /// when transient. Each answer's `Date` corrects the clock; an expired
    /// token gets one refresh from the provider.
    async fn send_retrying(
        &self,
        build: &dyn Fn(&S3, EpochMillis) -> Result<HttpRequest>,
    ) -> Result<HttpResponse> {
        let mut attempt = 1;
        let mut refreshed = false;
        loop {
            self.check_live()?;
            self.check_reachable()?;
            let sent = self.io.now();
            let now = self.inner.borrow().clock.now(sent);
            let due = self.needs_credentials.get()
                || self.s3.borrow().config.credentials.near_expiry(now);
            if due && !refreshed {
                self.refresh_credentials().await?;
                refreshed = true;
            }
            let req = build(&self.s3.borrow(), now)?;
            let preflighted = req.preflighted();
            // A write whose answer settles whether it landed (an entry,
            // a log slot's create) is never sent again blindly after no
            // answer: by the time it went out again its slot could have
            // been filled, checkpointed and collected. Its caller reads
            // the log first.
            let settles = req.finish_offline;
            // One send, raced against the attempt's time limit (one await:
            // one copy of the send in the state machine).
            let limit = self.cfg.retry.timeout_ms;
            let deadline = async move {
                if limit == 0 {
                    core::future::pending::<()>().await;
                }
                self.io.sleep(limit).await;
            };
            let outcome = until(self.io.send(req), deadline)
                .await
                .unwrap_or_else(|| Err(Error::network(cat!("no answer within ", limit, " ms"))));
            let received = self.io.now();
            let error = match outcome {
                Ok(resp) => {
                    self.answered(preflighted, resp.status);
                    if let Some(date) = resp.header("date").and_then(|d| parse_http_date(d).ok()) {
                        self.inner.borrow_mut().clock.observe(date, sent, received);
                    }
                    if resp.is_success() || resp.status == 304 {
                        return Ok(resp);
                    }
                    let error = error_from_response(&resp);
                    self.note_problem(&error, preflighted);
                    error
                }
                Err(e) => e,
            };
            // Expired temporary credentials: ask the provider once, retry.
            let expired = matches!(
                error.s3_code.as_deref(),
                Some("ExpiredToken" | "TokenRefreshRequired" | "InvalidToken")
            );
            if expired && !refreshed && self.refresh_credentials().await? {
                refreshed = true;
                continue;
            }
            // Gone offline meanwhile (the edge aborted the request), or no
            // answer: disconnected, and no retry series.
            if !self.online.get() {
                return Err(Error::new(ErrorKind::Offline, "the client went offline"));
            }
            let error = self.judge_failure(error, sent, preflighted, attempt > 1);
            if error.kind == ErrorKind::Offline || (settles && error.kind == ErrorKind::Network) {
                return Err(error);
            }
            let random = self.inner.borrow_mut().rng.next_f64();
            match self.cfg.retry.next_delay(attempt, &error, random) {
                Some(delay) => {
                    // No answer: tried again within half the disconnection
                    // window, so that a bucket gone is found out within
                    // about the window, not after a pause grown past it.
                    let delay = match error.kind {
                        ErrorKind::Network => delay.min(self.cfg.retry.disconnect_after_ms / 2),
                        _ => delay,
                    };
                    self.io.sleep(delay).await;
                    attempt += 1;
                }
                // Every attempt failed without an answer: whatever the
                // pauses between them, the bucket cannot be reached.
                None if error.kind == ErrorKind::Network => {
                    self.unreachable(&error.message);
                    return Err(Error::new(ErrorKind::Offline, error.message.clone()));
                }
                None => return Err(error),
            }
        }
    }

    /// Replaces the credentials with the provider's; `false` if there is
    /// no provider.
    async fn refresh_credentials(&self) -> Result<bool> {
        match self.io.refresh_credentials().await? {
            Some(c) => {
                self.s3.borrow_mut().config.credentials = c;
                self.needs_credentials.set(false);
                Ok(true)
            }
            None if self.needs_credentials.get() => Err(Error::new(
                ErrorKind::AccessDenied,
                "the credentials provider gave no credentials",
            )),
            None => Ok(false),
        }
    }

    /// The body of `key` in `m`'s bucket; `None` if there is none. (Most
    /// of the engine's requests, both protocols', go through these few
    /// helpers, each boxed: one copy of each in the .wasm, not one inlined
    /// into every caller.)
    pub(super) fn get_body<'a>(&'a self, m: &'a Ref, key: String) -> Fetch<'a> {
        let get = Client::get(self, &m.bucket, key, GetOptions::default());
        Box::pin(async move {
            match get.await {
                Ok(GetResult::Found(obj)) => Ok(Some(obj.body)),
                Ok(GetResult::NotModified(_)) => {
                    Err(Error::bad_response("unconditional GET answered 304"))
                }
                Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    /// A PUT of JSON `body` (gzipped when large) to `key` in `bucket`,
    /// sent `how` the protocol asks.
    pub(super) fn put_json<'a>(
        &'a self,
        bucket: &'a str,
        key: String,
        body: Vec<u8>,
        how: Put<'a>,
    ) -> Boxed<'a, ObjectMeta> {
        Box::pin(async move {
            let mut opts = json_put(how.mode.clone());
            let body = self.upload_body(body, &mut opts).await;
            let first_sent = self.io.now();
            // The last retry leaves a request's time-out before its
            // answer is due.
            let retry_until = how
                .answered_within
                .map(|within| within - self.cfg.retry.timeout_ms as i64);
            let tries = core::cell::Cell::new(0u32);
            self.call(
                |s3, now| {
                    let retry = tries.replace(tries.get() + 1) > 0;
                    if retry && retry_until.is_some_and(|until| self.io.now() - first_sent >= until)
                    {
                        return Err(Error::network(
                            "an entry PUT went unanswered too long to try again; settling it",
                        ));
                    }
                    let mut req = s3.put_object(bucket, &key, body.clone(), &opts, now)?;
                    req.finish_offline = how.finish_offline;
                    req.trace = how.trace.map(String::from);
                    Ok(req)
                },
                parse_put,
            )
            .await
        })
    }

    /// A DELETE of `key` (at `version`) in `bucket`.
    pub(super) fn delete_object<'a>(
        &'a self,
        bucket: &'a str,
        key: String,
        version: Option<String>,
    ) -> Done<'a> {
        Box::pin(async move {
            self.call(
                |s3, now| s3.delete_object(bucket, &key, version.as_deref(), now),
                parse_delete,
            )
            .await
            .map(|_| ())
        })
    }
}
