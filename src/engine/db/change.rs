//! Keys and the content already in the bucket: `import` makes an object
//! another tool wrote a key's value, `forget` takes a key out of the
//! manifest and leaves its objects, `move` gives a value another key in
//! one entry. They are the original mps3's issue "import / forget and move
//! keys", and each is a write of protocol v1 as it is: readers, the JS
//! client's included, see an ordinary entry.

use crate::prelude::*;

use super::{Batch, Db, JsonText, Pending};
use crate::engine::error::{Error, ErrorKind, Result};
use crate::engine::io::Io;
use crate::engine::object::Ref;
use crate::engine::s3::{parse_get, GetOptions, GetResult};

/// What a write asks for.
#[derive(Clone, Debug)]
pub enum Change {
    /// New values, `None` deleting (put, putAll, delete).
    Values(Batch),
    /// The object stored under the key itself becomes the key's value.
    Import(Ref),
    /// The key leaves the manifest; no object is touched.
    Forget(Ref),
    /// The first key's value moves to the second, in one entry.
    Move(Ref, Ref),
    /// New values, written only if every key checked is at the version
    /// named (`None`: absent) where the entry lands (`Db::atomic`).
    Atomic(Batch, Vec<(Ref, Option<String>)>),
}

/// Where a write's values are (see [`Db::enqueue`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Values {
    /// New: the write gives them their version, and uploads them (or
    /// carries them in its entry).
    New,
    /// Already in the bucket at these versions, one per key (`None`: a key
    /// forgotten): nothing is uploaded, and no delete marker put.
    InBucket(Vec<Option<String>>),
}

/// A batch to enqueue, and where its values are.
struct Prepared {
    batch: Batch,
    values: Values,
}

impl<I: Io> Db<I> {
    /// Accepts a write of any kind (see [`Db::enqueue`]). An import reads
    /// its object first and a move its key's value, so an import needs the
    /// bucket at the call, and a move the manifest's state.
    pub(super) async fn accept(
        &self,
        change: Change,
        manifests: &[Ref],
        trace: Option<String>,
    ) -> Result<Pending<I::Lock>> {
        let mut checks = Vec::new();
        let new = |batch| Prepared {
            batch,
            values: Values::New,
        };
        let Prepared { batch, values } = match change {
            Change::Values(batch) => new(batch),
            Change::Atomic(batch, conditions) => {
                for (key, version) in conditions {
                    Self::check_ref(&key)?;
                    checks.push((key.url(), version));
                }
                new(batch)
            }
            Change::Import(key) => self.import(key).await?,
            // A delete that places no delete marker (which only versioned
            // buckets get), so the objects are as they were.
            Change::Forget(key) => Prepared {
                batch: vec![(key, None)],
                values: Values::InBucket(vec![None]),
            },
            Change::Move(from, to) => {
                if from == to {
                    return Err(Error::bad_input("move needs two different keys"));
                }
                let value = self.get(&from, manifests.first()).await?.ok_or_else(|| {
                    Error::new(
                        ErrorKind::NotFound,
                        cat!(from.url(), " has no value to move"),
                    )
                })?;
                new(vec![(to, Some(value)), (from, None)])
            }
        };
        // Sealed before anything is queued, masked or told: a client
        // whose key does not open the ring writes nothing.
        let batch = match values {
            Values::New => self.seal_batch(batch, manifests).await?,
            Values::InBucket(_) => {
                let imported = batch.iter().any(|(_, v)| v.is_some());
                let first = manifests.first().unwrap_or(&self.cfg.default_manifest);
                if imported && self.secret(first).is_some() {
                    return Err(Error::new(
                        ErrorKind::Unsupported,
                        "an encrypted manifest cannot name an object stored in clear: import needs an unversioned bucket, where the value is copied sealed",
                    ));
                }
                batch
            }
        };
        self.enqueue(batch, manifests, values, checks, trace).await
    }

    /// The object under `key` itself, which must hold JSON, as `key`'s
    /// value. In a versioned bucket the entry names the object's current
    /// version and nothing is uploaded: the import is the manifest update
    /// alone. Otherwise content lives under `<key>@<uuid>`, so a copy of
    /// the bytes goes up there; the object stays as it is either way.
    async fn import(&self, key: Ref) -> Result<Prepared> {
        self.ready().await;
        self.check_live()?;
        Self::check_ref(&key)?;
        let got = self
            .call(
                |s3, now| s3.get_object(&key.bucket, &key.key, &GetOptions::default(), now),
                parse_get,
            )
            .await?;
        let GetResult::Found(obj) = got else {
            return Err(Error::bad_response("unconditional GET answered 304"));
        };
        let url = key.url();
        let value: JsonText = match String::from_utf8(obj.body) {
            Ok(text) if crate::engine::json::parse(text.as_bytes()).is_ok() => text.into(),
            _ => {
                return Err(Error::bad_input(cat!(
                    url,
                    " does not hold JSON: only JSON values can be imported"
                )))
            }
        };
        if !self.cfg.use_versioning {
            return Ok(Prepared {
                batch: vec![(key, Some(value))],
                values: Values::New,
            });
        }
        let version = obj
            .meta
            .version_id
            .ok_or_else(|| super::request::no_version_id(&key.bucket))?;
        self.keep_content(&url, &version, value.clone()).await;
        Ok(Prepared {
            batch: vec![(key, Some(value))],
            values: Values::InBucket(vec![Some(version)]),
        })
    }
}
