//! The few Python `str` methods VADER depends on, with Python 3's semantics.
//!
//! VADER's behaviour is defined by CPython's `str.split()`, `str.strip()`,
//! `str.isupper()` and `str.lower()`; Rust's nearest equivalents differ at the
//! edges (Rust's whitespace set lacks U+001C..U+001F, `isupper` rejects
//! title-case letters), and those edges change scores.

/// `str.isspace()`: Rust's `White_Space` plus the four ASCII information
/// separators that CPython treats as whitespace (bidirectional class B/S).
pub fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `str.split()` with no arguments: runs of whitespace separate tokens and
/// empty tokens are never produced.
pub fn py_split(text: &str) -> impl Iterator<Item = &str> {
    text.split(is_py_space).filter(|t| !t.is_empty())
}

/// `str.strip()` with no arguments.
pub fn py_strip(text: &str) -> &str {
    text.trim_matches(is_py_space)
}

/// Title-case letters (general category Lt). CPython's `isupper` returns
/// `False` as soon as it meets one of these.
fn is_titlecase(c: char) -> bool {
    matches!(
        c,
        '\u{1c5}'
            | '\u{1c8}'
            | '\u{1cb}'
            | '\u{1f2}'
            | '\u{1f88}'..='\u{1f8f}'
            | '\u{1f98}'..='\u{1f9f}'
            | '\u{1fa8}'..='\u{1faf}'
            | '\u{1fbc}'
            | '\u{1fcc}'
            | '\u{1ffc}'
    )
}

/// `str.isupper()`: at least one cased character and no lower- or title-case
/// one. Emoticons such as `:)` have no cased character, so they are not caps.
pub fn py_isupper(word: &str) -> bool {
    let mut cased = false;
    for c in word.chars() {
        if c.is_lowercase() || is_titlecase(c) {
            return false;
        }
        if c.is_uppercase() {
            cased = true;
        }
    }
    cased
}

/// `str.lower()`: full Unicode lower-casing (not case folding), including the
/// final-sigma rule, which Rust's `to_lowercase` implements as CPython does.
/// Borrowing when nothing changes keeps the common all-lower-case path free of
/// allocation.
pub fn py_lower(word: &str) -> std::borrow::Cow<'_, str> {
    if word.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        std::borrow::Cow::Borrowed(word)
    } else {
        std::borrow::Cow::Owned(word.to_lowercase())
    }
}

/// `token.strip(string.punctuation)`: strips ASCII punctuation at both ends.
pub fn strip_ascii_punct(token: &str) -> &str {
    token.trim_matches(|c: char| c.is_ascii_punctuation())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_matches_python_whitespace() {
        let parts: Vec<_> = py_split("a\u{1c}b\u{a0}c  \td\u{200b}e").collect();
        // U+200B (zero width space) is not whitespace in Python.
        assert_eq!(parts, vec!["a", "b", "c", "d\u{200b}e"]);
        assert_eq!(py_split("   ").count(), 0);
    }

    #[test]
    fn isupper_matches_python() {
        assert!(py_isupper("GOOD"));
        assert!(py_isupper("ÉTÉ"));
        assert!(py_isupper("A1!"));
        assert!(!py_isupper(":)"));
        assert!(py_isupper(":D"));
        assert!(!py_isupper("Good"));
        assert!(!py_isupper("\u{1c5}A"));
        assert!(!py_isupper(""));
    }

    #[test]
    fn lower_is_full_lowercasing() {
        assert_eq!(py_lower("abc"), "abc");
        assert_eq!(py_lower("ABC!"), "abc!");
        assert_eq!(py_lower("ΟΔΟΣ"), "\u{3bf}\u{3b4}\u{3bf}\u{3c2}");
        assert_eq!(py_lower("İ"), "i\u{307}");
    }

    #[test]
    fn strip_punct_only_ascii() {
        assert_eq!(strip_ascii_punct("!!wow!!"), "wow");
        assert_eq!(strip_ascii_punct("«wow»"), "«wow»");
        assert_eq!(strip_ascii_punct(":)"), "");
    }
}
