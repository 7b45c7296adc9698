//! Which node is responsible for an `ip:port` client: Nacos's `DistroMapper`, bit for bit,
//! so a mixed view of "who owns 10.0.0.1:8080" never depends on the implementation.

use std::sync::Arc;

use parking_lot::RwLock;

/// Java's `String.hashCode`: `h = 31 * h + c` over UTF-16 code units, wrapping at 32 bits.
pub fn java_hash_code(text: &str) -> i32 {
    text.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// Nacos's `distroHash`: `abs(hashCode % Integer.MAX_VALUE)` with Java's truncated remainder.
pub fn distro_hash(tag: &str) -> u32 {
    (java_hash_code(tag) % i32::MAX).unsigned_abs()
}

/// The sorted list of healthy member addresses, and this node's own.
#[derive(Debug)]
pub struct DistroMapper {
    me: String,
    standalone: bool,
    healthy: RwLock<Arc<Vec<String>>>,
}

impl DistroMapper {
    /// A mapper for node `me`; a standalone mapper is responsible for everything.
    pub fn new(me: impl Into<String>, standalone: bool) -> Self {
        let me = me.into();
        let healthy = RwLock::new(Arc::new(vec![me.clone()]));
        Self {
            me,
            standalone,
            healthy,
        }
    }

    /// This node's address.
    pub fn me(&self) -> &str {
        &self.me
    }

    /// Replaces the healthy members (UP or SUSPICIOUS, self included); sorted here.
    pub fn update(&self, mut healthy: Vec<String>) {
        healthy.sort();
        healthy.dedup();
        *self.healthy.write() = Arc::new(healthy);
    }

    /// The node responsible for `tag` (`ip:port`), or `None` with no healthy member.
    pub fn target(&self, tag: &str) -> Option<String> {
        if self.standalone {
            return Some(self.me.clone());
        }
        let healthy = self.healthy.read();
        if healthy.is_empty() {
            return None;
        }
        let index = distro_hash(tag) as usize % healthy.len();
        healthy.get(index).cloned()
    }

    /// Whether this node is responsible for `tag`. A node missing from the healthy list
    /// (it has not seen itself yet) takes everything, as Nacos does.
    pub fn responsible(&self, tag: &str) -> bool {
        if self.standalone {
            return true;
        }
        let healthy = self.healthy.read();
        if healthy.is_empty() {
            return false;
        }
        if !healthy.contains(&self.me) {
            return true;
        }
        let index = distro_hash(tag) as usize % healthy.len();
        healthy.get(index).is_some_and(|m| *m == self.me)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_java() {
        assert_eq!(java_hash_code("hello"), 99_162_322);
        assert_eq!(java_hash_code("127.0.0.1:8080"), -35_736_627);
        assert_eq!(distro_hash("127.0.0.1:8080"), 35_736_627);
        assert_eq!(distro_hash("127.0.0.1:8081"), 35_736_626);
        assert_eq!(distro_hash("11.11.11.11:80"), 2_114_444_932);
    }

    #[test]
    fn responsibility_follows_the_sorted_healthy_list() {
        let members = vec![
            "c:8848".to_owned(),
            "a:8848".to_owned(),
            "b:8848".to_owned(),
        ];
        let mappers: Vec<DistroMapper> = ["a:8848", "b:8848", "c:8848"]
            .iter()
            .map(|me| {
                let mapper = DistroMapper::new(*me, false);
                mapper.update(members.clone());
                mapper
            })
            .collect();
        // 35736626 % 3 = 2 -> the third of [a, b, c]; 2114444932 % 3 = 1 -> the second.
        let owners: Vec<bool> = mappers
            .iter()
            .map(|m| m.responsible("127.0.0.1:8081"))
            .collect();
        assert_eq!(owners, vec![false, false, true]);
        assert_eq!(
            mappers[0].target("11.11.11.11:80").as_deref(),
            Some("b:8848")
        );
        assert!(mappers[1].responsible("11.11.11.11:80"));
    }

    #[test]
    fn edge_cases_follow_nacos() {
        assert!(
            DistroMapper::new("a", true).responsible("x"),
            "standalone owns everything"
        );
        let empty = DistroMapper::new("a", false);
        empty.update(Vec::new());
        assert!(!empty.responsible("x"), "no healthy member: nobody here");
        let absent = DistroMapper::new("a", false);
        absent.update(vec!["b".into(), "c".into()]);
        assert!(absent.responsible("x"), "not in the list yet: responsible");
    }
}
