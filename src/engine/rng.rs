//! Randomness for ids, seeded from outside (the browser's crypto, or a
//! test's seed), so that simulations replay exactly.

use crate::prelude::*;

/// SplitMix64: small, fast, and fine for ids whose seed is random. Nothing
/// here is a secret: uuids and session ids only need to be unique.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo).max(1)
    }

    /// A random (version 4) UUID, lower case.
    pub fn uuid_v4(&mut self) -> String {
        let (a, b) = (self.next_u64(), self.next_u64());
        let a = (a & !0xf000) | 0x4000; // version 4
        let b = (b & !(0b11 << 62)) | (0b10 << 62); // RFC 4122 variant
        cat!(
            hex(a >> 32, 8),
            "-",
            hex((a >> 16) & 0xffff, 4),
            "-",
            hex(a & 0xffff, 4),
            "-",
            hex(b >> 48, 4),
            "-",
            hex(b & 0xffff_ffff_ffff, 12)
        )
    }

    /// Three lower-case hex digits: a client's session id in entry keys.
    pub fn session_id(&mut self) -> String {
        cat!(hex(self.next_u64() & 0xfff, 3))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4_and_distinct() {
        let mut r = Rng::new(42);
        let a = r.uuid_v4();
        let b = r.uuid_v4();
        assert_ne!(a, b);
        for u in [&a, &b] {
            assert_eq!(u.len(), 36);
            let parts: Vec<&str> = u.split('-').collect();
            assert_eq!(
                parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12]
            );
            assert!(parts[2].starts_with('4'), "{u}");
            assert!("89ab".contains(&parts[3][..1]), "{u}");
        }
        assert_eq!(Rng::new(42).uuid_v4(), a, "seeded: replays");
        let s = r.session_id();
        assert_eq!(s.len(), 3);
        assert!(s
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert!((0.0..1.0).contains(&r.next_f64()));
    }
}
