//! The simulation's cipher for encrypted manifests: AES-256-GCM and
//! PBKDF2-HMAC-SHA-256 natively, where the browser edge calls WebCrypto.
//! Keys live here, named by handles, as the browser's `CryptoKey`s live in
//! JavaScript. Nonces come from the simulation's seeded generator, so a
//! seed replays exactly.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

use super::*;
use crate::engine::io::KeyHandle;

#[derive(Default)]
pub(super) struct SimCipher {
    keys: RefCell<Vec<[u8; 32]>>,
    /// Passphrases stretched: what a browser pays most for.
    pub(super) derived: Cell<u32>,
}

impl SimCipher {
    fn add(&self, key: [u8; 32]) -> KeyHandle {
        let mut keys = self.keys.borrow_mut();
        keys.push(key);
        (keys.len() - 1) as KeyHandle
    }

    pub(super) fn derive(&self, passphrase: &str, salt: &[u8], iterations: u32) -> KeyHandle {
        self.derived.set(self.derived.get() + 1);
        self.add(pbkdf2(passphrase.as_bytes(), salt, iterations))
    }

    pub(super) fn import(&self, raw: &[u8]) -> Result<KeyHandle> {
        let key: [u8; 32] = raw
            .try_into()
            .map_err(|_| Error::bad_input("an AES-256 key is 32 bytes"))?;
        Ok(self.add(key))
    }

    fn cipher(&self, key: KeyHandle) -> Aes256Gcm {
        Aes256Gcm::new_from_slice(&self.keys.borrow()[key as usize]).expect("32-byte key")
    }

    pub(super) fn seal(
        &self,
        key: KeyHandle,
        aad: &[u8],
        plain: &[u8],
        nonce: [u8; 12],
    ) -> Vec<u8> {
        let mut out = nonce.to_vec();
        let sealed = self
            .cipher(key)
            .encrypt(&Nonce::from(nonce), Payload { msg: plain, aad })
            .expect("AES-GCM seals any message");
        out.extend(sealed);
        out
    }

    pub(super) fn open(&self, key: KeyHandle, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < 12 {
            return None;
        }
        let (nonce, body) = sealed.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().ok()?;
        self.cipher(key)
            .decrypt(&Nonce::from(nonce), Payload { msg: body, aad })
            .ok()
    }
}

/// PBKDF2-HMAC-SHA-256 (RFC 8018), one block: a 32-byte key, over
/// SigV4's HMAC.
pub(super) fn pbkdf2(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    use crate::engine::sigv4::hmac;
    let mut block = salt.to_vec();
    block.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac(password, &block);
    let mut out = u;
    for _ in 1..iterations {
        u = hmac(password, &u);
        for (o, x) in out.iter_mut().zip(u) {
            *o ^= x;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pbkdf2_matches_the_rfc_7914_vector() {
        // RFC 7914 section 11: PBKDF2-HMAC-SHA256("passwd", "salt", 1, 64),
        // its first 32 bytes.
        let out = pbkdf2(b"passwd", b"salt", 1);
        assert_eq!(
            crate::engine::encode::hex(&out),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
    }

    #[test]
    fn sealed_opens_only_with_its_key_and_associated_data() {
        let c = SimCipher::default();
        let k = c.import(&[7; 32]).unwrap();
        let other = c.derive("other", b"salt", 2);
        let sealed = c.seal(k, b"aad", b"secret", [1; 12]);
        assert_eq!(c.open(k, b"aad", &sealed).as_deref(), Some(&b"secret"[..]));
        assert_eq!(c.open(k, b"dab", &sealed), None);
        assert_eq!(c.open(other, b"aad", &sealed), None);
        let mut tampered = sealed;
        tampered[14] ^= 1;
        assert_eq!(c.open(k, b"aad", &tampered), None);
    }
}
