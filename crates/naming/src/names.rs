//! Service identity: namespace, group and name, with Nacos's defaults and grouped-name form.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use distro_nacos_api::constants::{DEFAULT_GROUP, DEFAULT_NAMESPACE, GROUP_SEPARATOR};

/// Identity of a service: `(namespace, group, name)`, read through [`ServiceName`].
///
/// One pointer: every published instance and subscription stores its service's key, so the
/// three names sit behind one shared allocation (a clone is one reference count, and the
/// key costs 8 bytes where it is stored instead of 48).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceKey(Arc<ServiceName>);

/// The three parts of a [`ServiceKey`].
#[derive(Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceName {
    /// Namespace id; blank input is normalised to `public`.
    pub namespace: Arc<str>,
    /// Group; blank input is normalised to `DEFAULT_GROUP`.
    pub group: Arc<str>,
    /// Service name without group.
    pub name: Arc<str>,
}

impl ServiceKey {
    /// A key from its three parts, applying the defaults to blank namespace and group.
    pub fn new(namespace: &str, group: &str, name: &str) -> Self {
        Self(Arc::new(ServiceName {
            namespace: Arc::from(normalize_namespace(namespace)),
            group: Arc::from(normalize_group(group)),
            name: Arc::from(name),
        }))
    }

    /// `group@@name`, the form HTTP answers and instance ids use.
    pub fn grouped_name(&self) -> String {
        format!("{}{GROUP_SEPARATOR}{}", self.group, self.name)
    }
}

impl Deref for ServiceKey {
    type Target = ServiceName;

    fn deref(&self) -> &ServiceName {
        &self.0
    }
}

impl fmt::Debug for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceKey")
            .field("namespace", &self.namespace)
            .field("group", &self.group)
            .field("name", &self.name)
            .finish()
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}##{}{GROUP_SEPARATOR}{}",
            self.namespace, self.group, self.name
        )
    }
}

/// Blank namespace ids mean `public` (the 2.x Java handlers keep `""` apart; we do not).
pub fn normalize_namespace(namespace: &str) -> &str {
    let trimmed = namespace.trim();
    if trimmed.is_empty() {
        DEFAULT_NAMESPACE
    } else {
        trimmed
    }
}

/// Blank groups mean `DEFAULT_GROUP`.
pub fn normalize_group(group: &str) -> &str {
    let trimmed = group.trim();
    if trimmed.is_empty() {
        DEFAULT_GROUP
    } else {
        trimmed
    }
}

/// Splits `group@@name` into its parts; a name without `@@` takes `default_group`.
///
/// Returns `None` for names Nacos rejects: an empty group or name part, or more than one `@@`.
pub fn split_grouped_name<'a>(
    grouped: &'a str,
    default_group: &'a str,
) -> Option<(&'a str, &'a str)> {
    match grouped.split_once(GROUP_SEPARATOR) {
        None => Some((normalize_group(default_group), grouped)),
        Some((group, name)) => {
            let legal = !group.trim().is_empty()
                && !name.trim().is_empty()
                && !name.contains(GROUP_SEPARATOR);
            legal.then_some((group, name))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_namespace_and_group_take_defaults() {
        let key = ServiceKey::new(" ", "", "svc");
        assert_eq!(&*key.namespace, "public");
        assert_eq!(&*key.group, "DEFAULT_GROUP");
        assert_eq!(key.grouped_name(), "DEFAULT_GROUP@@svc");
    }

    #[test]
    fn grouped_names_split_like_nacos() {
        assert_eq!(split_grouped_name("g@@s", "x"), Some(("g", "s")));
        assert_eq!(split_grouped_name("s", "x"), Some(("x", "s")));
        assert_eq!(split_grouped_name("s", ""), Some(("DEFAULT_GROUP", "s")));
        assert_eq!(split_grouped_name("@@s", "x"), None);
        assert_eq!(split_grouped_name("g@@", "x"), None);
        assert_eq!(split_grouped_name("g@@s@@t", "x"), None);
    }
}
