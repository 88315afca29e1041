//! Longest-prefix match over digit strings: the interconnect table, where
//! `82` is Korea's PSTN, `8270` a partner's VoIP range and `82262006200`
//! one number held by a member, and the longest that matches decides.
//!
//! One open-addressing hash table holds every prefix keyed by (digits,
//! length); a lookup probes the lengths that occur in the table, longest
//! first. With a million prefixes the table is far larger than the CPU's
//! caches, so each probe costs a memory access; the probes do not depend
//! on each other, so the CPU overlaps them.

use crate::number::NumberError;

/// Prefixes of 1 to 15 digits (E.164's limit), each with a value.
#[derive(Debug, Clone)]
pub struct PrefixTable<T> {
    /// `(key, index into values)`; key 0 is an empty slot (a real key
    /// always has a length of at least 1 in its low bits).
    slots: Vec<(u64, u32)>,
    values: Vec<T>,
    /// Which lengths occur, as a bit mask.
    lengths: u16,
}

const MAX_PREFIX: usize = 15;

impl<T> Default for PrefixTable<T> {
    fn default() -> Self {
        PrefixTable {
            slots: vec![(0, 0); 16],
            values: Vec::new(),
            lengths: 0,
        }
    }
}

fn key(value: u64, length: usize) -> u64 {
    value << 4 | length as u64
}

impl<T> PrefixTable<T> {
    pub fn new() -> PrefixTable<T> {
        PrefixTable::default()
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    fn slot_of(&self, key: u64) -> usize {
        // Fibonacci hashing: the top bits of the product spread keys that
        // differ only in their last digits.
        let bits = self.slots.len().trailing_zeros();
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize
    }

    /// Adds `prefix` (digits only, 1 to 15 of them) with `value`, giving
    /// back the value it had.
    pub fn insert(&mut self, prefix: &str, value: T) -> Result<Option<T>, NumberError> {
        let digits = prefix.as_bytes();
        if digits.is_empty() {
            return Err(NumberError::Empty);
        }
        if digits.len() > MAX_PREFIX {
            return Err(NumberError::TooManyDigits {
                what: "a prefix",
                digits: digits.len(),
                max: MAX_PREFIX,
            });
        }
        if let Some(position) = digits.iter().position(|d| !d.is_ascii_digit()) {
            return Err(NumberError::BadCharacter {
                character: prefix[position..].chars().next().unwrap_or('?'),
                position: position + 1,
            });
        }
        let key = key(decimal(digits), digits.len());
        if let Some(index) = self.find(key) {
            return Ok(Some(std::mem::replace(&mut self.values[index], value)));
        }
        if (self.values.len() + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let index = u32::try_from(self.values.len()).expect("fewer than 4 billion prefixes");
        self.values.push(value);
        self.place(key, index);
        self.lengths |= 1 << digits.len();
        Ok(None)
    }

    fn place(&mut self, key: u64, index: u32) {
        let mask = self.slots.len() - 1;
        let mut slot = self.slot_of(key);
        while self.slots[slot].0 != 0 {
            slot = (slot + 1) & mask;
        }
        self.slots[slot] = (key, index);
    }

    fn grow(&mut self) {
        let doubled = vec![(0, 0); self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, doubled);
        for (key, index) in old.into_iter().filter(|(key, _)| *key != 0) {
            self.place(key, index);
        }
    }

    fn find(&self, key: u64) -> Option<usize> {
        let mask = self.slots.len() - 1;
        let mut slot = self.slot_of(key);
        loop {
            match self.slots[slot] {
                (0, _) => return None,
                (k, index) if k == key => return Some(index as usize),
                _ => slot = (slot + 1) & mask,
            }
        }
    }

    /// The longest prefix of `digits` in the table: its length and value.
    pub fn longest_match(&self, digits: &[u8]) -> Option<(usize, &T)> {
        let mut prefixes = [0u64; MAX_PREFIX + 1];
        let longest = digits.len().min(MAX_PREFIX);
        let mut value = 0u64;
        for (length, d) in digits[..longest].iter().enumerate() {
            if !d.is_ascii_digit() {
                return None;
            }
            value = value * 10 + u64::from(d - b'0');
            prefixes[length + 1] = value;
        }
        let lengths = self.lengths & ((2u32 << longest) - 1) as u16;
        // First touch every slot a probe will start at, with loads that do
        // not depend on each other, so that their cache misses overlap;
        // then probe, longest first, from the cache.
        let mut starts = [0usize; MAX_PREFIX + 1];
        let mut touched = 0u64;
        let mut pending = lengths;
        while pending != 0 {
            let length = pending.trailing_zeros() as usize;
            pending &= pending - 1;
            starts[length] = self.slot_of(key(prefixes[length], length));
            touched ^= self.slots[starts[length]].0;
        }
        std::hint::black_box(touched);
        let mask = self.slots.len() - 1;
        let mut pending = lengths;
        while pending != 0 {
            let length = 15 - pending.leading_zeros() as usize;
            pending &= !(1 << length);
            let wanted = key(prefixes[length], length);
            let mut slot = starts[length];
            loop {
                match self.slots[slot] {
                    (0, _) => break,
                    (k, index) if k == wanted => {
                        return Some((length, &self.values[index as usize]))
                    }
                    _ => slot = (slot + 1) & mask,
                }
            }
        }
        None
    }
}

fn decimal(digits: &[u8]) -> u64 {
    digits
        .iter()
        .fold(0, |value, d| value * 10 + u64::from(d - b'0'))
}

impl<T> PrefixTable<T> {
    /// A table of `entries`; the first bad prefix refuses them all.
    pub fn from_entries<'a>(
        entries: impl IntoIterator<Item = (&'a str, T)>,
    ) -> Result<PrefixTable<T>, NumberError> {
        let mut table = PrefixTable::new();
        for (prefix, value) in entries {
            table.insert(prefix, value)?;
        }
        Ok(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins() {
        let mut table = PrefixTable::new();
        table.insert("82", "KR PSTN").unwrap();
        table.insert("8270", "partner").unwrap();
        table.insert("82262006200", "member").unwrap();
        table.insert("1", "NANP").unwrap();
        assert_eq!(table.longest_match(b"82262006200"), Some((11, &"member")));
        assert_eq!(table.longest_match(b"827012345678"), Some((4, &"partner")));
        assert_eq!(table.longest_match(b"82212345678"), Some((2, &"KR PSTN")));
        assert_eq!(table.longest_match(b"12125550100"), Some((1, &"NANP")));
        assert_eq!(table.longest_match(b"44"), None);
        assert_eq!(table.longest_match(b"8"), None);
        assert_eq!(table.longest_match(b""), None);
    }

    #[test]
    fn leading_zeros_are_their_own_prefixes() {
        let mut table = PrefixTable::new();
        table.insert("0", 1).unwrap();
        table.insert("00", 2).unwrap();
        assert_eq!(table.longest_match(b"001"), Some((2, &2)));
        assert_eq!(table.longest_match(b"01"), Some((1, &1)));
    }

    #[test]
    fn inserting_again_replaces() {
        let mut table = PrefixTable::new();
        assert_eq!(table.insert("82", 1).unwrap(), None);
        assert_eq!(table.insert("82", 2).unwrap(), Some(1));
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn bad_prefixes_are_refused() {
        let mut table = PrefixTable::new();
        assert!(table.insert("", 0).is_err());
        assert!(table.insert("82a", 0).is_err());
        assert!(table.insert("+82", 0).is_err());
        assert!(table.insert(&"1".repeat(16), 0).is_err());
        assert!(table.insert(&"9".repeat(15), 0).is_ok());
        assert!(table.is_empty() || table.len() == 1);
    }

    #[test]
    fn grows_past_many_entries() {
        let mut table = PrefixTable::new();
        for n in 0..10_000u32 {
            table.insert(&format!("1{n:06}"), n).unwrap();
        }
        for n in (0..10_000u32).step_by(97) {
            let number = format!("1{n:06}55");
            assert_eq!(table.longest_match(number.as_bytes()), Some((7, &n)));
        }
    }
}
