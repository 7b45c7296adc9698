//! Interning of values many instances repeat (cluster names, metadata maps): equal values
//! share one allocation. A pool forgets values nobody else holds any more when it has
//! doubled since its last sweep, so it never grows beyond twice the live distinct values.

use std::collections::{BTreeMap, HashSet};
use std::hash::Hash;
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;

/// Fewest entries before a pool sweeps at all.
const SWEEP_LEN_MIN: usize = 1024;

/// A set of shared values.
pub(crate) struct Pool<T: ?Sized + Eq + Hash> {
    inner: Mutex<PoolInner<T>>,
}

struct PoolInner<T: ?Sized> {
    values: HashSet<Arc<T>>,
    sweep_at: usize,
}

impl<T: ?Sized + Eq + Hash> Pool<T> {
    fn new() -> Self {
        Self {
            inner: Mutex::new(PoolInner {
                values: HashSet::new(),
                sweep_at: SWEEP_LEN_MIN,
            }),
        }
    }

    /// The shared copy of `value`, made with `make` (and kept) when there is none.
    pub(crate) fn intern(&self, value: &T, make: impl FnOnce() -> Arc<T>) -> Arc<T> {
        let mut inner = self.inner.lock();
        if let Some(shared) = inner.values.get(value) {
            return Arc::clone(shared);
        }
        if inner.values.len() >= inner.sweep_at {
            // Only the pool holds these: nobody uses them any more.
            inner.values.retain(|v| Arc::strong_count(v) > 1);
            inner.sweep_at = (inner.values.len() * 2).max(SWEEP_LEN_MIN);
        }
        let shared = make();
        inner.values.insert(Arc::clone(&shared));
        shared
    }

    /// Distinct values held (live or not yet swept).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().values.len()
    }
}

/// Cluster names.
pub(crate) static CLUSTERS: LazyLock<Pool<str>> = LazyLock::new(Pool::new);
/// Instance metadata maps.
pub(crate) static METADATA: LazyLock<Pool<BTreeMap<String, String>>> = LazyLock::new(Pool::new);

/// The shared cluster name equal to `name`.
pub(crate) fn cluster(name: String) -> Arc<str> {
    CLUSTERS.intern(&name, || Arc::from(name.as_str()))
}

/// The shared metadata map equal to `metadata`.
pub(crate) fn metadata(metadata: BTreeMap<String, String>) -> Arc<BTreeMap<String, String>> {
    METADATA.intern(&metadata, || Arc::new(metadata.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_share_and_dead_ones_are_swept() {
        let pool: Pool<str> = Pool::new();
        let a = pool.intern("DEFAULT", || Arc::from("DEFAULT"));
        let b = pool.intern("DEFAULT", || Arc::from("DEFAULT"));
        assert!(Arc::ptr_eq(&a, &b));
        for i in 0..SWEEP_LEN_MIN * 3 {
            let name = format!("c{i}");
            drop(pool.intern(&name, || Arc::from(name.as_str())));
        }
        assert!(
            pool.len() <= SWEEP_LEN_MIN * 2,
            "dead names are swept: {}",
            pool.len()
        );
        let c = pool.intern("DEFAULT", || Arc::from("DEFAULT"));
        assert!(Arc::ptr_eq(&a, &c), "live names survive sweeps");
    }

    #[test]
    fn metadata_maps_are_shared() {
        let m = BTreeMap::from([("version".to_owned(), "1".to_owned())]);
        assert!(Arc::ptr_eq(&metadata(m.clone()), &metadata(m)));
    }
}
