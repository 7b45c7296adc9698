//! The seed inputs of every target (`fuzz/corpus/<target>/*`, committed) and the byte-level
//! mutations the proptest targets apply to them.
//!
//! The corpus is generated from the code (`DISTRO_FUZZ_WRITE_CORPUS=1 cargo test -p
//! distro-fuzz --test corpus`); inputs that once found a bug are kept as `regress-*` files.

use std::path::PathBuf;

use proptest::prelude::*;

/// The corpus directory of `target`.
pub fn dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

/// Every input of `target`, by file name order, with its name.
pub fn load(target: &str) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir(target)) else {
        return Vec::new();
    };
    let mut files: Vec<(String, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            std::fs::read(e.path()).ok().map(|bytes| (name, bytes))
        })
        .collect();
    files.sort();
    files
}

/// One byte-level edit.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Flip one bit at a position (modulo the length).
    FlipBit(usize, u8),
    /// Overwrite a byte.
    Set(usize, u8),
    /// Insert bytes.
    Insert(usize, Vec<u8>),
    /// Remove up to n bytes.
    Remove(usize, usize),
    /// Cut the input at a position.
    Truncate(usize),
    /// Copy a slice of the input elsewhere (duplicated fields, nested repeats).
    Duplicate(usize, usize, usize),
    /// Replace a byte with an "interesting" one.
    Interesting(usize, usize),
}

const INTERESTING: &[u8] = &[
    0, 1, 0x7f, 0x80, 0xff, b'%', b'&', b'=', b'@', b'#', b',', b'"', b'{', b'}', b'[', b']', b':',
    b'\\', b'\n', b' ', b'+', b'-', b'.', b'9',
];

/// A random edit.
pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit(at, bit)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::Set(at, b)),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, b)| Mutation::Insert(at, b)),
        (any::<usize>(), 1usize..16).prop_map(|(at, n)| Mutation::Remove(at, n)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<usize>(), 1usize..32)
            .prop_map(|(from, to, n)| Mutation::Duplicate(from, to, n)),
        (any::<usize>(), any::<usize>()).prop_map(|(at, i)| Mutation::Interesting(at, i)),
    ]
}

/// Applies `edits` to `input`.
pub fn mutate(input: &[u8], edits: &[Mutation]) -> Vec<u8> {
    let mut bytes = input.to_vec();
    for edit in edits {
        let len = bytes.len();
        let at = |i: usize| if len == 0 { 0 } else { i % len };
        match edit {
            Mutation::FlipBit(i, bit) if len > 0 => bytes[at(*i)] ^= 1 << bit,
            Mutation::Set(i, b) if len > 0 => bytes[at(*i)] = *b,
            Mutation::Insert(i, new) => {
                let i = if len == 0 { 0 } else { i % (len + 1) };
                bytes.splice(i..i, new.iter().copied());
            }
            Mutation::Remove(i, n) if len > 0 => {
                let i = at(*i);
                let end = (i + n).min(len);
                bytes.drain(i..end);
            }
            Mutation::Truncate(i) => bytes.truncate(if len == 0 { 0 } else { i % (len + 1) }),
            Mutation::Duplicate(from, to, n) if len > 0 => {
                let from = at(*from);
                let end = (from + n).min(len);
                let slice: Vec<u8> = bytes[from..end].to_vec();
                let to = to % (len + 1);
                bytes.splice(to..to, slice);
            }
            Mutation::Interesting(i, which) if len > 0 => {
                bytes[at(*i)] = INTERESTING[which % INTERESTING.len()];
            }
            _ => {}
        }
    }
    bytes
}

/// A corpus input of `target` with 0 to 8 edits (the input itself a quarter of the time).
pub fn mutated(target: &str) -> BoxedStrategy<Vec<u8>> {
    let inputs: Vec<Vec<u8>> = load(target).into_iter().map(|(_, b)| b).collect();
    assert!(
        !inputs.is_empty(),
        "the corpus of {target} is empty: see fuzz/README.md"
    );
    let count = inputs.len();
    (
        0..count,
        prop_oneof![
            1 => Just(Vec::new()),
            3 => proptest::collection::vec(mutation(), 1..8),
        ],
    )
        .prop_map(move |(index, edits)| mutate(&inputs[index], &edits))
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_stay_in_bounds() {
        assert_eq!(
            mutate(b"", &[Mutation::Set(5, 1), Mutation::Remove(0, 3)]),
            b""
        );
        assert_eq!(mutate(b"abc", &[Mutation::Truncate(1)]), b"a");
        assert_eq!(
            mutate(b"abc", &[Mutation::Insert(3, b"d".to_vec())]),
            b"abcd"
        );
        assert_eq!(mutate(b"abc", &[Mutation::Duplicate(0, 3, 2)]), b"abcab");
    }
}
