//! Encrypted manifests (docs/encryption.md): each one's key ring, values
//! sealed when a write is accepted and opened on their way out to the
//! application. Everything between (masks, the queue, the durable store,
//! log entries, content objects, checkpoints) carries the sealed text, so
//! no value is stored in clear anywhere; what was opened is kept in memory
//! only (`Inner::opened`).

use crate::prelude::*;

use core::fmt;

use alloc::rc::Rc;

use super::{Batch, Db, JsonText};
use crate::engine::encryption::{
    key_aad, parse_sealed, ring_key, sealed_text, sealing, value_aad, Ring, SALT_BYTES,
};
use crate::engine::error::{Error, ErrorKind, Result};
use crate::engine::io::{Io, KeyHandle, Table};
use crate::engine::object::Ref;
use crate::engine::protocol::{Boxed, Client, Put};
use crate::engine::s3::{GetOptions, GetResult, PutMode};

/// What a manifest's values are encrypted with: the key-encryption key,
/// or what it is stretched from.
#[derive(Clone)]
pub enum Secret {
    /// Stretched by PBKDF2-SHA-256 over the ring's salt.
    Passphrase(String),
    /// A key the application manages (a `CryptoKey` in the browser), held
    /// by the edge.
    Key(KeyHandle),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Secret::Passphrase(_) => "Passphrase(redacted)",
            Secret::Key(_) => "Key(redacted)",
        })
    }
}

/// The client's encryption settings (`encryption` in the config).
#[derive(Clone, Debug)]
pub struct Encryption {
    /// For every manifest `manifests` does not name.
    pub default: Option<Secret>,
    /// Per manifest; `None` keeps that one in clear.
    pub manifests: Vec<(Ref, Option<Secret>)>,
    /// PBKDF2 iterations of a ring this client creates.
    pub iterations: u32,
}

impl Default for Encryption {
    fn default() -> Self {
        Encryption {
            default: None,
            manifests: Vec::new(),
            iterations: crate::engine::encryption::ITERATIONS,
        }
    }
}

/// A manifest's keys as this client holds them: the ring as stored, and
/// each of its data keys opened (the edge's handles).
#[derive(Clone)]
pub(crate) struct Keys {
    ring: Ring,
    /// The ring object's ETag: a rotation replaces exactly that one.
    etag: Option<String>,
    kek: KeyHandle,
    opened: Vec<(String, KeyHandle)>,
}

impl Keys {
    fn handle(&self, id: &str) -> Option<KeyHandle> {
        self.opened.iter().find(|(i, _)| i == id).map(|(_, h)| *h)
    }
}

/// What ends the key of an encrypted manifest's key ring in the state
/// table, beside the manifest's own row (no key is in clear in it).
pub(super) const RING_ROW: &str = "\u{0}keyring";

fn decrypt(message: String) -> Error {
    Error::new(ErrorKind::Decrypt, message)
}

impl<I: Io> Db<I> {
    /// The secret `m` is encrypted with, if it is.
    pub(crate) fn secret(&self, m: &Ref) -> Option<&Secret> {
        let e = &self.cfg.encryption;
        match e.manifests.iter().find(|(r, _)| r == m) {
            Some((_, s)) => s.as_ref(),
            None => e.default.as_ref(),
        }
    }

    /// `m`'s keys: from memory (unless `fresh`), the durable store or the
    /// bucket, made the first time (a new ring and its first data key).
    /// Boxed: one copy, awaited from each place that seals or opens.
    fn keys<'a>(&'a self, m: &'a Ref, fresh: bool) -> Boxed<'a, Rc<Keys>> {
        Box::pin(async move {
            let Some(secret) = self.secret(m).cloned() else {
                return Err(Error::bad_input("this manifest is not encrypted"));
            };
            let held = || self.state(m).keys.clone().filter(|_| !fresh);
            if let Some(k) = held() {
                return Ok(k);
            }
            let loading = self.state(m).keys_loading.clone();
            let _loading = loading.lock().await;
            if let Some(k) = held() {
                return Ok(k);
            }
            let mut stored = self.state(m).ring.clone().filter(|_| !fresh);
            loop {
                let ring_at = ring_key(&m.key);
                // Asked first by a listing: a ring not made yet is no 404,
                // which the browser's console would show as an error.
                let listed = match stored {
                    Some(_) => true,
                    None => Client::listed_first(self, &m.bucket, &ring_at)
                        .await?
                        .is_some(),
                };
                let (ring, etag) = match stored.take() {
                    Some(text) => (Some(Ring::parse(text.as_bytes())?), None),
                    None if !listed => (None, None),
                    None => {
                        match Client::get(self, &m.bucket, ring_at, GetOptions::default()).await {
                            Ok(GetResult::Found(obj)) => {
                                (Some(Ring::parse(&obj.body)?), obj.meta.etag)
                            }
                            Err(e) if e.kind == ErrorKind::NotFound => (None, None),
                            Err(e) => return Err(e),
                            Ok(GetResult::NotModified(_)) => {
                                return Err(Error::bad_response("unconditional GET answered 304"))
                            }
                        }
                    }
                };
                let new = ring.is_none();
                if new {
                    // Only a v2 manifest gets one.
                    self.check_encryptable(m).await?;
                }
                let ring = match ring {
                    Some(ring) => ring,
                    None => Ring {
                        salt: self.io.random_bytes(SALT_BYTES)?,
                        iterations: self.cfg.encryption.iterations,
                        keys: Vec::new(),
                        current: String::new(),
                    },
                };
                let kek = match &secret {
                    Secret::Passphrase(p) => {
                        self.io.derive_key(p, &ring.salt, ring.iterations).await?
                    }
                    Secret::Key(k) => *k,
                };
                let mut keys = Keys {
                    ring,
                    etag,
                    kek,
                    opened: Vec::new(),
                };
                for (id, wrapped) in &keys.ring.keys {
                    let Some(key) = self.io.open_key(kek, &key_aad(m, id), wrapped).await else {
                        return Err(decrypt(cat!(
                            "this client's key does not open the keys of manifest ",
                            m.url(),
                            " (another passphrase or key?); nothing was written"
                        )));
                    };
                    keys.opened.push((id.clone(), key));
                }
                if new {
                    match self.add_key(m, &mut keys, PutMode::Create).await {
                        Ok(()) => {}
                        // Another client made it first: on theirs.
                        Err(e) if e.kind == ErrorKind::PreconditionFailed => continue,
                        Err(e) => return Err(e),
                    }
                }
                let keys = Rc::new(keys);
                self.hold(m, &keys).await;
                return Ok(keys);
            }
        })
    }

    /// Reads the key rings of the manifests set to be encrypted (made, for
    /// a new manifest), in the background after the restore: a page opened
    /// online can then seal writes once offline, before it read or wrote
    /// anything (sealing needs the ring).
    pub(super) async fn warm_keys(&self) {
        let e = &self.cfg.encryption;
        let mut all = vec![&self.cfg.default_manifest];
        for (m, _) in &e.manifests {
            all.push(m);
        }
        for m in all {
            let cold = self.secret(m).is_some() && self.state(m).keys.is_none();
            if cold && self.reachable() {
                let _ = self.keys(m, false).await;
            }
        }
    }

    /// A new random data key in `keys`, made current, and the ring PUT
    /// (`mode`: made, or replacing the one read).
    async fn add_key(&self, m: &Ref, keys: &mut Keys, mode: PutMode) -> Result<()> {
        let id = keys.ring.next_id();
        let (wrapped, handle) = self.io.new_key(keys.kek, &key_aad(m, &id)).await?;
        let mut ring = keys.ring.clone();
        ring.keys.push((id.clone(), wrapped));
        ring.current = id.clone();
        let put = Client::put(
            self,
            &m.bucket,
            ring_key(&m.key),
            ring.to_text().into_bytes(),
            Put::plain(mode),
        )
        .await?;
        keys.ring = ring;
        keys.etag = put.etag;
        keys.opened.push((id, handle));
        Ok(())
    }

    /// Keeps `keys` for `m`: in memory, and the ring (no key in it) in the
    /// durable store, so that a reload offline opens and seals values.
    async fn hold(&self, m: &Ref, keys: &Rc<Keys>) {
        let text = keys.ring.to_text();
        let changed = {
            let mut s = self.state(m);
            s.keys = Some(keys.clone());
            let changed = s.ring.as_deref() != Some(text.as_str());
            if changed {
                s.ring = Some(text.clone());
            }
            changed
        };
        if changed {
            let key = cat!(self.cfg.namespace, m.url(), RING_ROW);
            self.store_put(Table::State, &key, &text).await;
        }
    }

    /// Adds a new data key to `m`'s ring for new values (`db.rotate`); old
    /// values keep their keys and stay readable. Returns the new key's id.
    /// (Boxed: the binding's call holds a pointer, not its state.)
    pub fn rotate<'a>(&'a self, manifest: Option<&'a Ref>) -> Boxed<'a, String> {
        Box::pin(async move {
            self.ready().await;
            self.check_live()?;
            let m = manifest.unwrap_or(&self.cfg.default_manifest).clone();
            for _ in 0..5 {
                let mut keys = Keys::clone(&*self.keys(&m, true).await?);
                let mode = match keys.etag.clone() {
                    Some(etag) => PutMode::Update(etag),
                    None => PutMode::Overwrite,
                };
                match self.add_key(&m, &mut keys, mode).await {
                    Ok(()) => {
                        let id = keys.ring.current.clone();
                        self.hold(&m, &Rc::new(keys)).await;
                        return Ok(id);
                    }
                    // Rotated meanwhile by another client: on its ring.
                    Err(e) if e.kind == ErrorKind::PreconditionFailed => continue,
                    Err(e) => return Err(e),
                }
            }
            Err(Error::new(
                ErrorKind::Conflict,
                "the key ring kept changing during the rotation",
            ))
        })
    }

    /// The key id new values of `m` are sealed with (the inspector's).
    pub(crate) fn key_id(&self, m: &Ref) -> Option<String> {
        self.state(m).keys.as_ref().map(|k| k.ring.current.clone())
    }

    /// A write's values sealed for `manifests`, when one is encrypted.
    /// (Boxed: the write's state machine holds a pointer, not its state.)
    pub(super) fn seal_batch<'a>(&'a self, batch: Batch, manifests: &'a [Ref]) -> Boxed<'a, Batch> {
        Box::pin(async move {
            let m = manifests.first().unwrap_or(&self.cfg.default_manifest);
            if self.secret(m).is_none() && manifests.iter().all(|m| self.secret(m).is_none()) {
                return Ok(batch);
            }
            if manifests.len() > 1 {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    "a write to an encrypted manifest goes to that manifest alone",
                ));
            }
            // Deletes alone seal nothing: no keys needed (offline too).
            if batch.iter().all(|(_, v)| v.is_none()) {
                return Ok(batch);
            }
            let keys = self.keys(m, false).await?;
            let id = &keys.ring.current;
            let Some(key) = keys.handle(id) else {
                return Err(decrypt(cat!("the key ring has no key ", id)));
            };
            let mut out = Vec::with_capacity(batch.len());
            for (r, value) in batch {
                let value = match value {
                    Some(plain) => {
                        let url = r.url();
                        let aad = value_aad(m, &url, id);
                        let sealed = self.io.seal(key, &aad, plain.as_bytes()).await?;
                        let text: JsonText = sealed_text(id, &sealed).into();
                        self.remember_opened(&url, &text, plain);
                        Some(text)
                    }
                    None => None,
                };
                out.push((r, value));
            }
            Ok(out)
        })
    }

    /// The application's view of `url`'s value in `m`: opened when `m` is
    /// encrypted, else as it is. `Decrypt` when it does not open.
    pub(crate) async fn reveal(
        &self,
        m: &Ref,
        url: &str,
        value: Option<JsonText>,
    ) -> Result<Option<JsonText>> {
        let Some(text) = value else { return Ok(None) };
        if self.secret(m).is_none() {
            return Ok(Some(text));
        }
        if let Some(plain) = self.opened(url, &text) {
            return Ok(Some(plain));
        }
        self.refuse_if_unencryptable(m)?;
        let (id, sealed) = parse_sealed(&text)?;
        // A key added since this client read the ring: read it again.
        let mut fresh = false;
        let key = loop {
            if let Some(key) = self.keys(m, fresh).await?.handle(id) {
                break key;
            }
            if fresh {
                return Err(decrypt(cat!(
                    "the value of ",
                    url,
                    " names key ",
                    id,
                    ", which the ring lacks"
                )));
            }
            fresh = true;
        };
        let Some(plain) = self.io.open(key, &value_aad(m, url, id), &sealed).await else {
            return Err(decrypt(cat!(
                "the value of ",
                url,
                " does not open: it was changed in the bucket, or sealed for another key"
            )));
        };
        let plain: JsonText = String::from_utf8(plain)
            .map_err(|_| {
                decrypt(cat!(
                    "the value of ",
                    url,
                    " opened to bytes that are not text"
                ))
            })?
            .into();
        self.remember_opened(url, &text, plain.clone());
        Ok(Some(plain))
    }

    /// `text` opened before (in memory only), for the subscribers' news.
    pub(crate) fn opened(&self, url: &str, text: &str) -> Option<JsonText> {
        self.inner.borrow_mut().opened.get(&opened_key(url, text))
    }

    fn remember_opened(&self, url: &str, text: &str, plain: JsonText) {
        self.inner
            .borrow_mut()
            .opened
            .insert(opened_key(url, text), plain);
    }
}

/// What an opened value is remembered by: its key and its sealing (key
/// id and nonce), not a hash of all of it: a large value read again is
/// not hashed again on each read.
pub(super) fn opened_key(url: &str, text: &str) -> (String, String) {
    (url.to_string(), sealing(text).to_string())
}
