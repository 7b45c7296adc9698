//! `ServiceMap`: a small map from service to value, kept as a sorted vector.
//!
//! A client publishes to (and subscribes to) a handful of services, usually one. A `HashMap`
//! spends at least four buckets on that one entry (~660 bytes for a published instance);
//! an exactly-sized sorted vector spends one, and finds an entry by binary search. The vector
//! is a `ThinVec` (one pointer, length and capacity on the heap): a client carries two maps,
//! and an HTTP client's subscription map is always empty, so an empty map costs 8 bytes in
//! every client slot instead of 24.

use thin_vec::ThinVec;

use crate::names::ServiceKey;

/// Services to values, sorted by service, with the `HashMap` methods the registry uses.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceMap<V>(ThinVec<(ServiceKey, V)>);

impl<V> Default for ServiceMap<V> {
    fn default() -> Self {
        Self(ThinVec::new())
    }
}

/// Iterator over `(service, value)` pairs.
pub type Iter<'a, V> = std::iter::Map<
    std::slice::Iter<'a, (ServiceKey, V)>,
    fn(&'a (ServiceKey, V)) -> (&'a ServiceKey, &'a V),
>;

/// Iterator over `(service, mutable value)` pairs.
pub type IterMut<'a, V> = std::iter::Map<
    std::slice::IterMut<'a, (ServiceKey, V)>,
    fn(&'a mut (ServiceKey, V)) -> (&'a ServiceKey, &'a mut V),
>;

impl<V> ServiceMap<V> {
    /// An empty map (allocates nothing).
    pub fn new() -> Self {
        Self::default()
    }

    fn find(&self, key: &ServiceKey) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.cmp(key))
    }

    /// Number of services.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of a service.
    pub fn get(&self, key: &ServiceKey) -> Option<&V> {
        self.find(key).ok().map(|i| &self.0[i].1)
    }

    /// The value of a service, mutable.
    pub fn get_mut(&mut self, key: &ServiceKey) -> Option<&mut V> {
        self.find(key).ok().map(|i| &mut self.0[i].1)
    }

    /// True when the service is there.
    pub fn contains_key(&self, key: &ServiceKey) -> bool {
        self.find(key).is_ok()
    }

    /// Sets the value of a service; the previous value, if any (its key is kept).
    pub fn insert(&mut self, key: ServiceKey, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                if self.0.len() == self.0.capacity() {
                    // Grow by half (one at first) instead of doubling from four.
                    self.0.reserve_exact((self.0.len() / 2).max(1));
                }
                self.0.insert(i, (key, value));
                None
            }
        }
    }

    /// Removes a service; its value, if it was there.
    pub fn remove(&mut self, key: &ServiceKey) -> Option<V> {
        let i = self.find(key).ok()?;
        let (_, value) = self.0.remove(i);
        if self.0.is_empty() {
            self.0 = ThinVec::new();
        }
        Some(value)
    }

    /// Services in order.
    pub fn keys(&self) -> impl Iterator<Item = &ServiceKey> {
        self.0.iter().map(|(k, _)| k)
    }

    /// Values in service order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }

    /// Values in service order, mutable.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.0.iter_mut().map(|(_, v)| v)
    }

    /// `(service, value)` pairs in order.
    pub fn iter(&self) -> Iter<'_, V> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// `(service, mutable value)` pairs in order.
    pub fn iter_mut(&mut self) -> IterMut<'_, V> {
        self.0.iter_mut().map(|(k, v)| (&*k, v))
    }
}

impl<'a, V> IntoIterator for &'a ServiceMap<V> {
    type Item = (&'a ServiceKey, &'a V);
    type IntoIter = Iter<'a, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a, V> IntoIterator for &'a mut ServiceMap<V> {
    type Item = (&'a ServiceKey, &'a mut V);
    type IntoIter = IterMut<'a, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

impl<V> FromIterator<(ServiceKey, V)> for ServiceMap<V> {
    fn from_iter<I: IntoIterator<Item = (ServiceKey, V)>>(iter: I) -> Self {
        let mut map = Self::new();
        for (k, v) in iter {
            map.insert(k, v);
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ServiceKey {
        ServiceKey::new("", "", name)
    }

    #[test]
    fn behaves_like_a_map() {
        let mut map = ServiceMap::new();
        assert!(map.is_empty());
        assert_eq!(map.insert(key("b"), 2), None);
        assert_eq!(map.insert(key("a"), 1), None);
        assert_eq!(map.insert(key("c"), 3), None);
        assert_eq!(map.insert(key("b"), 20), Some(2));
        assert_eq!(map.len(), 3);
        assert_eq!(map.get(&key("b")), Some(&20));
        assert!(map.contains_key(&key("a")) && !map.contains_key(&key("z")));
        let names: Vec<_> = map.keys().map(|k| k.name.to_string()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        for (_, v) in &mut map {
            *v += 1;
        }
        assert_eq!(map.values().copied().collect::<Vec<_>>(), [2, 21, 4]);
        assert_eq!(map.remove(&key("a")), Some(2));
        assert_eq!(map.remove(&key("a")), None);
        *map.get_mut(&key("c")).unwrap() = 9;
        assert_eq!(map.iter().map(|(_, v)| *v).sum::<i32>(), 30);
        map.remove(&key("b"));
        map.remove(&key("c"));
        assert!(map.is_empty());
    }

    #[test]
    fn one_entry_takes_one_slot() {
        let mut map = ServiceMap::new();
        map.insert(key("a"), [0u8; 100]);
        assert_eq!(map.0.capacity(), 1);
    }
}
