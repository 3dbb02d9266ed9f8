//! What the engine's parts all name: an object's address (`Ref`) and a
//! value as JSON text (`JsonText`). Below the protocols and the client,
//! so that neither names the other for them.

use crate::prelude::*;

use alloc::rc::Rc;

use crate::engine::error::{Error, Result};

/// A value as JSON text (the edges convert; the engine never parses values).
pub type JsonText = Rc<str>;

/// An object's address: bucket and key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ref {
    pub bucket: String,
    pub key: String,
}

impl Ref {
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> Ref {
        Ref {
            bucket: bucket.into(),
            key: key.into(),
        }
    }

    /// `<bucket>/<key>`: how the manifest names a logical key.
    pub fn url(&self) -> String {
        cat!(self.bucket, "/", self.key)
    }

    /// Splits a url at its first `/` (bucket names have none).
    pub fn from_url(url: &str) -> Result<Ref> {
        let (bucket, key) = url
            .split_once('/')
            .ok_or_else(|| Error::bad_response(cat!("manifest url \"", url, "\" has no '/'")))?;
        Ok(Ref::new(bucket, key))
    }
}
