//! Deterministic pseudo-random numbers: SplitMix64 seeded from FNV-1a hashes.
//!
//! The emulator never uses an OS random source. Every request derives its own
//! generator from the emulator's seed, the conversation key, the turn index and
//! the attempt number, so output does not depend on how concurrent requests
//! interleave.

/// A SplitMix64 generator.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

impl Rng {
    /// A generator from a seed.
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: usize, hi: usize) -> usize {
        let span = (hi.saturating_sub(lo) as u64).saturating_add(1);
        lo + (self.next_u64() % span) as usize
    }

    /// A number in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `len` random ASCII letters and digits.
    pub(crate) fn token(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(ALNUM[(self.next_u64() % ALNUM.len() as u64) as usize]))
            .collect()
    }
}

/// FNV-1a over bytes.
pub(crate) fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// Mixes two values into one seed.
pub(crate) fn mix(a: u64, b: u64) -> u64 {
    Rng::new(a ^ b.rotate_left(29)).next_u64()
}
