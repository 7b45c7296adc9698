//! Digests of `(key, revision)` sets: per bucket a wrapping sum of a keyed 64-bit hash, so a
//! change updates its bucket in O(1) (subtract the old term, add the new one) and equal sets
//! give equal digests whatever the order they were built in.

use std::hash::Hasher;

use siphasher::sip::SipHasher13;

/// Hashes keys to buckets and `(key, revision)` pairs to digest terms, with a cluster-wide key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestHasher {
    seed: u64,
    bucket_count: u32,
}

impl DigestHasher {
    /// A hasher for `bucket_count` buckets (at least 1).
    pub fn new(seed: u64, bucket_count: u32) -> Self {
        Self {
            seed,
            bucket_count: bucket_count.max(1),
        }
    }

    /// Number of buckets.
    pub fn bucket_count(&self) -> u32 {
        self.bucket_count
    }

    /// The bucket of a key.
    pub fn bucket(&self, key: &str) -> u32 {
        let mut hasher = SipHasher13::new_with_keys(self.seed, 0x6275_636b);
        hasher.write(key.as_bytes());
        (hasher.finish() % u64::from(self.bucket_count)) as u32
    }

    /// The digest term of one `(key, revision)`.
    pub fn term(&self, key: &str, revision: u64) -> u64 {
        let mut hasher = SipHasher13::new_with_keys(self.seed, 0x7465_726d);
        hasher.write(key.as_bytes());
        hasher.write_u8(0xff);
        hasher.write_u64(revision);
        hasher.finish()
    }
}

/// Bucket digests of one owner's keys, as held by one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    sums: Vec<u64>,
    count: u64,
}

impl Digest {
    /// An empty digest with `bucket_count` buckets.
    pub fn new(bucket_count: u32) -> Self {
        Self {
            sums: vec![0; bucket_count.max(1) as usize],
            count: 0,
        }
    }

    /// Adds a `(key, revision)` to the set.
    pub fn add(&mut self, hasher: &DigestHasher, key: &str, revision: u64) {
        let bucket = hasher.bucket(key) as usize;
        self.sums[bucket] = self.sums[bucket].wrapping_add(hasher.term(key, revision));
        self.count += 1;
    }

    /// Removes a `(key, revision)` previously added.
    pub fn remove(&mut self, hasher: &DigestHasher, key: &str, revision: u64) {
        let bucket = hasher.bucket(key) as usize;
        self.sums[bucket] = self.sums[bucket].wrapping_sub(hasher.term(key, revision));
        self.count = self.count.saturating_sub(1);
    }

    /// Wrapping sum of all buckets.
    pub fn root(&self) -> u64 {
        self.sums.iter().fold(0u64, |acc, s| acc.wrapping_add(*s))
    }

    /// Number of keys.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The bucket digests.
    pub fn sums(&self) -> &[u64] {
        &self.sums
    }

    /// Buckets whose digest differs from `other` (a vector of another length differs in
    /// every bucket).
    pub fn differing(&self, other: &[u64]) -> Vec<u32> {
        if other.len() != self.sums.len() {
            return (0..self.sums.len() as u32).collect();
        }
        (0..self.sums.len())
            .filter(|&i| self.sums[i] != other[i])
            .map(|i| i as u32)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    fn rebuild(hasher: &DigestHasher, set: &HashMap<String, u64>) -> Digest {
        let mut digest = Digest::new(hasher.bucket_count());
        for (key, revision) in set {
            digest.add(hasher, key, *revision);
        }
        digest
    }

    proptest! {
        /// The digest kept up to date change by change equals one rebuilt from scratch.
        #[test]
        fn incremental_equals_recomputed(ops in proptest::collection::vec((0u8..40, 0u64..5, any::<bool>()), 0..300)) {
            let hasher = DigestHasher::new(7, 64);
            let mut digest = Digest::new(64);
            let mut set: HashMap<String, u64> = HashMap::new();
            for (key, revision, upsert) in ops {
                let key = format!("client-{key}");
                if let Some(old) = set.remove(&key) {
                    digest.remove(&hasher, &key, old);
                }
                if upsert {
                    digest.add(&hasher, &key, revision);
                    set.insert(key, revision);
                }
            }
            let fresh = rebuild(&hasher, &set);
            prop_assert_eq!(digest.sums(), fresh.sums());
            prop_assert_eq!(digest.count(), set.len() as u64);
        }
    }

    #[test]
    fn a_different_revision_changes_exactly_one_bucket() {
        let hasher = DigestHasher::new(1, 256);
        let mut a = Digest::new(256);
        let mut b = Digest::new(256);
        for i in 0..1000 {
            let key = format!("k{i}");
            a.add(&hasher, &key, 1);
            b.add(&hasher, &key, if i == 500 { 2 } else { 1 });
        }
        assert_ne!(a.root(), b.root());
        assert_eq!(a.differing(b.sums()), vec![hasher.bucket("k500")]);
    }
}
