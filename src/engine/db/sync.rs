//! Reads: a manifest brought up to date by its protocol's read, content
//! fetched and cached, subscribers refreshed.

use crate::prelude::*;

use super::state::JsonText;
use super::Db;
use crate::engine::error::{Error, ErrorKind, Result};
use crate::engine::io::Io;
use crate::engine::object::Ref;
use crate::engine::protocol::Freshness;
use crate::engine::s3::{parse_get, GetOptions, GetResult};
use crate::engine::time::EpochMillis;

impl<I: Io> Db<I> {
    /// A time the server's clock has certainly reached, once any answer
    /// bounded it.
    pub(crate) fn server_lower_bound(&self) -> Option<EpochMillis> {
        let inner = self.inner.borrow();
        inner
            .clock
            .lower
            .is_some()
            .then(|| inner.clock.lower_bound(self.io.now()))
    }

    /// [`Self::sync`] under the manifest's lock, as readers and pollers
    /// do it.
    pub(crate) async fn locked_sync(&self, m: &Ref, freshness: Freshness) -> Result<()> {
        let lock = self.state(m).lock.clone();
        let _guard = lock.lock().await;
        self.sync(m, freshness).await
    }

    /// The content of `url` at `version`, cached (content is immutable).
    /// `binary`: whether the manifest says the value is binary; unknown
    /// (v1), an object whose type is not JSON and whose body is not JSON
    /// text is (other tools leave objects of any type, JSON among them).
    pub(crate) async fn content(
        &self,
        url: &str,
        version: &str,
        binary: Option<bool>,
    ) -> Result<JsonText> {
        let cache_key = (url.to_string(), version.to_string());
        if let Some(v) = self.inner.borrow_mut().content.get(&cache_key) {
            return Ok(v);
        }
        if let Some(v) = self.inline_value(url, version) {
            return Ok(v);
        }
        if let Some(v) = self.stored_content(url, version).await {
            self.inner.borrow_mut().content.insert(cache_key, v.clone());
            return Ok(v);
        }
        let r = Ref::from_url(url)?;
        let (key, opts) = if self.cfg.use_versioning {
            (
                r.key.clone(),
                GetOptions {
                    version_id: Some(version.to_string()),
                    if_none_match: None,
                },
            )
        } else {
            (cat!(r.key, "@", version), GetOptions::default())
        };
        let got = self
            .call(
                |s3, now| s3.get_object(&r.bucket, &key, &opts, now),
                parse_get,
            )
            .await?;
        let GetResult::Found(obj) = got else {
            return Err(Error::bad_response("unconditional GET answered 304"));
        };
        let content_type = obj.meta.content_type.as_deref();
        let binary = binary.unwrap_or_else(|| {
            !crate::engine::binary::is_json_type(content_type)
                && crate::engine::json::parse(&obj.body).is_err()
        });
        let text: JsonText = if !binary {
            String::from_utf8(obj.body)
                .map_err(|_| Error::bad_response(cat!("content of ", url, " is not UTF-8")))?
                .into()
        } else {
            crate::engine::binary::wrap(content_type.unwrap_or_default(), &obj.body).into()
        };
        self.keep_content(url, version, text.clone()).await;
        Ok(text)
    }

    /// Remembers content read or written: in memory, and in the durable
    /// store for the next page load (content never changes).
    pub(crate) async fn keep_content(&self, url: &str, version: &str, value: JsonText) {
        self.inner
            .borrow_mut()
            .content
            .insert((url.to_string(), version.to_string()), value.clone());
        self.store_content(url, version, &value).await;
    }

    /// Resolves `m` and notifies its subscribers (a subscriber's first
    /// value comes from here).
    pub async fn refresh(&self, m: Option<&Ref>) -> Result<()> {
        self.ready().await;
        // After the writes made before it have masked their keys: a
        // subscriber's first call shows this client's own pending write.
        drop(self.accepting.lock().await);
        let m = m.unwrap_or(&self.cfg.default_manifest).clone();
        // What is stored first (after a reload, before any answer), then
        // what is new.
        let stored_only = self.state(&m).stored_only();
        if stored_only || !self.reachable() {
            self.notify(&m).await;
        }
        let synced = if self.reachable() {
            self.locked_sync(&m, Freshness::Read).await
        } else {
            Err(Error::new(ErrorKind::Offline, "offline"))
        };
        match synced {
            // Offline: what is stored was delivered above; with nothing
            // stored the subscriber hears why it hears nothing.
            Err(e) if e.kind == ErrorKind::Offline => {
                if self.state(&m).files.is_none() {
                    self.notify(&m).await;
                    return Err(Error::new(
                        ErrorKind::Offline,
                        "offline, and this manifest is not stored locally",
                    ));
                }
                return Ok(());
            }
            other => other?,
        }
        self.notify(&m).await;
        Ok(())
    }
}
