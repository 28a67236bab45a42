//! A small, fixed hash (64-bit FNV-1a) for the fingerprints ranks compare: the same value on
//! every machine, from the same data, whatever the process.

/// FNV-1a over 64 bits.
pub(crate) struct Fnv(u64);

impl Fnv {
    pub(crate) fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub(crate) fn word(&mut self, word: u64) {
        self.bytes(&word.to_le_bytes());
    }

    /// A shape, with its length first (so that `[2, 3]` then `[4]` differs from `[2]` then
    /// `[3, 4]`).
    pub(crate) fn shape(&mut self, shape: &[usize]) {
        self.word(shape.len() as u64);
        for &d in shape {
            self.word(d as u64);
        }
    }

    /// An optional string, told apart from the absent one.
    pub(crate) fn name(&mut self, name: Option<&str>) {
        match name {
            None => self.word(0),
            Some(name) => {
                self.word(1 + name.len() as u64);
                self.bytes(name.as_bytes());
            }
        }
    }

    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_and_separation() {
        // FNV-1a's published value for "a".
        let mut h = Fnv::new();
        h.bytes(b"a");
        assert_eq!(h.finish(), 0xaf63_dc4c_8601_ec8c);
        let of = |shapes: &[&[usize]]| {
            let mut h = Fnv::new();
            shapes.iter().for_each(|s| h.shape(s));
            h.finish()
        };
        assert_ne!(of(&[&[2, 3], &[4]]), of(&[&[2], &[3, 4]]));
        let names = |a: Option<&str>| {
            let mut h = Fnv::new();
            h.name(a);
            h.finish()
        };
        assert_ne!(names(None), names(Some("")));
    }
}
