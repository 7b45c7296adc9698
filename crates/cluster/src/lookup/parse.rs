//! Parsing of member-list text: `cluster.conf`, address-server bodies and static lists.
//!
//! Format (Nacos's): UTF-8 lines; everything from `#` to the end of a line is a comment
//! (so whole-line and trailing comments); blank lines are ignored; a line may hold several
//! addresses separated by commas; each address is `ip[:port]` with a default port.
//! The result is sorted and free of duplicates. Any bad address fails the whole text, so a
//! half-written file never shrinks the cluster.

use std::collections::BTreeSet;

use crate::address::{AddressError, MemberAddress};

/// A bad address in member-list text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {source} in {text:?}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// The offending address text.
    pub text: String,
    /// What is wrong with it.
    #[source]
    pub source: AddressError,
}

/// Parses member-list text into sorted, de-duplicated canonical addresses.
pub fn parse_member_list(text: &str, default_port: u16) -> Result<Vec<String>, ParseError> {
    let mut addresses = BTreeSet::new();
    for (index, line) in text.lines().enumerate() {
        for item in line_items(line) {
            let address =
                MemberAddress::parse(item, default_port).map_err(|source| ParseError {
                    line: index + 1,
                    text: item.to_owned(),
                    source,
                })?;
            addresses.insert(address.to_string());
        }
    }
    Ok(addresses.into_iter().collect())
}

/// The non-empty, trimmed, comma-separated items of one line, comments removed.
fn line_items(line: &str) -> impl Iterator<Item = &str> {
    let content = line.split_once('#').map_or(line, |(before, _)| before);
    content
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_commas_ports_and_whitespace() {
        let text = "# cluster.conf\n\
                    \n\
                    10.0.0.3:8848   # third node\n\
                    \t10.0.0.1 , 10.0.0.2:9000,\r\n\
                    #10.0.0.9:8848\n\
                    10.0.0.1:8848\n\
                    [::1]:7000\n";
        let list = parse_member_list(text, 8848).unwrap();
        assert_eq!(
            list,
            vec![
                "10.0.0.1:8848",
                "10.0.0.2:9000",
                "10.0.0.3:8848",
                "[::1]:7000"
            ]
        );
    }

    #[test]
    fn default_port_is_configurable() {
        assert_eq!(parse_member_list("a,b:1", 80).unwrap(), vec!["a:80", "b:1"]);
    }

    #[test]
    fn empty_and_comment_only_text_gives_empty_list() {
        assert!(parse_member_list("", 8848).unwrap().is_empty());
        assert!(
            parse_member_list("# nothing\n \n,,\n", 8848)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn bad_line_is_an_error_with_its_line_number() {
        let error = parse_member_list("10.0.0.1\n10.0.0.2:99999\n", 8848).unwrap_err();
        assert_eq!(error.line, 2);
        assert_eq!(error.text, "10.0.0.2:99999");
        assert!(matches!(error.source, AddressError::InvalidPort(_)));
        assert!(error.to_string().contains("line 2"));

        let error = parse_member_list("10.0.0.1, not a host", 8848).unwrap_err();
        assert_eq!(error.line, 1);
        assert!(matches!(error.source, AddressError::InvalidHost(_)));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let samples = [
            "\u{0}",
            ":::::",
            "[",
            "]",
            "[]:",
            "a:b:c",
            "\u{202e}x",
            "💥:1",
            "%%%",
        ];
        for sample in samples {
            let _ = parse_member_list(sample, 8848);
        }
    }
}
