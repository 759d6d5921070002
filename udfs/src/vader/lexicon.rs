//! VADER's word lists and the two lexicon files of `vaderSentiment` 3.3.2.
//!
//! The lexicon files are vendored unchanged (MIT, see
//! `data/LICENSE-vaderSentiment.txt`) and parsed the way the reference parses
//! them: one `word<TAB>measure<TAB>…` per line, surrounding whitespace (the
//! CRLF's `\r`) stripped, a later duplicate key replacing an earlier one.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::pystr::py_strip;

const VADER_LEXICON: &str = include_str!("data/vader_lexicon.txt");
const EMOJI_LEXICON: &str = include_str!("data/emoji_utf8_lexicon.txt");

/// Empirical boost of a booster word ("very") and dampening of a dampener.
pub const B_INCR: f64 = 0.293;
/// Negative counterpart of [`B_INCR`].
pub const B_DECR: f64 = -0.293;
/// Boost of a word written in capitals among words that are not.
pub const C_INCR: f64 = 0.733;
/// Factor applied to a negated valence.
pub const N_SCALAR: f64 = -0.74;

/// Negation words, exactly as `NEGATE` in the reference.
pub const NEGATE: &[&str] = &[
    "aint",
    "arent",
    "cannot",
    "cant",
    "couldnt",
    "darent",
    "didnt",
    "doesnt",
    "ain't",
    "aren't",
    "can't",
    "couldn't",
    "daren't",
    "didn't",
    "doesn't",
    "dont",
    "hadnt",
    "hasnt",
    "havent",
    "isnt",
    "mightnt",
    "mustnt",
    "neither",
    "don't",
    "hadn't",
    "hasn't",
    "haven't",
    "isn't",
    "mightn't",
    "mustn't",
    "neednt",
    "needn't",
    "never",
    "none",
    "nope",
    "nor",
    "not",
    "nothing",
    "nowhere",
    "oughtnt",
    "shant",
    "shouldnt",
    "uhuh",
    "wasnt",
    "werent",
    "oughtn't",
    "shan't",
    "shouldn't",
    "uh-uh",
    "wasn't",
    "weren't",
    "without",
    "wont",
    "wouldnt",
    "won't",
    "wouldn't",
    "rarely",
    "seldom",
    "despite",
];

/// Booster and dampener words (`BOOSTER_DICT`), including the multi-word
/// entries that only the n-gram check of the idiom rule can match.
pub const BOOSTERS: &[(&str, f64)] = &[
    ("absolutely", B_INCR),
    ("amazingly", B_INCR),
    ("awfully", B_INCR),
    ("completely", B_INCR),
    ("considerable", B_INCR),
    ("considerably", B_INCR),
    ("decidedly", B_INCR),
    ("deeply", B_INCR),
    ("effing", B_INCR),
    ("enormous", B_INCR),
    ("enormously", B_INCR),
    ("entirely", B_INCR),
    ("especially", B_INCR),
    ("exceptional", B_INCR),
    ("exceptionally", B_INCR),
    ("extreme", B_INCR),
    ("extremely", B_INCR),
    ("fabulously", B_INCR),
    ("flipping", B_INCR),
    ("flippin", B_INCR),
    ("frackin", B_INCR),
    ("fracking", B_INCR),
    ("fricking", B_INCR),
    ("frickin", B_INCR),
    ("frigging", B_INCR),
    ("friggin", B_INCR),
    ("fully", B_INCR),
    ("fuckin", B_INCR),
    ("fucking", B_INCR),
    ("fuggin", B_INCR),
    ("fugging", B_INCR),
    ("greatly", B_INCR),
    ("hella", B_INCR),
    ("highly", B_INCR),
    ("hugely", B_INCR),
    ("incredible", B_INCR),
    ("incredibly", B_INCR),
    ("intensely", B_INCR),
    ("major", B_INCR),
    ("majorly", B_INCR),
    ("more", B_INCR),
    ("most", B_INCR),
    ("particularly", B_INCR),
    ("purely", B_INCR),
    ("quite", B_INCR),
    ("really", B_INCR),
    ("remarkably", B_INCR),
    ("so", B_INCR),
    ("substantially", B_INCR),
    ("thoroughly", B_INCR),
    ("total", B_INCR),
    ("totally", B_INCR),
    ("tremendous", B_INCR),
    ("tremendously", B_INCR),
    ("uber", B_INCR),
    ("unbelievably", B_INCR),
    ("unusually", B_INCR),
    ("utter", B_INCR),
    ("utterly", B_INCR),
    ("very", B_INCR),
    ("almost", B_DECR),
    ("barely", B_DECR),
    ("hardly", B_DECR),
    ("just enough", B_DECR),
    ("kind of", B_DECR),
    ("kinda", B_DECR),
    ("kindof", B_DECR),
    ("kind-of", B_DECR),
    ("less", B_DECR),
    ("little", B_DECR),
    ("marginal", B_DECR),
    ("marginally", B_DECR),
    ("occasional", B_DECR),
    ("occasionally", B_DECR),
    ("partly", B_DECR),
    ("scarce", B_DECR),
    ("scarcely", B_DECR),
    ("slight", B_DECR),
    ("slightly", B_DECR),
    ("somewhat", B_DECR),
    ("sort of", B_DECR),
    ("sorta", B_DECR),
    ("sortof", B_DECR),
    ("sort-of", B_DECR),
];

/// Idioms and phrases that replace the valence of a lexicon word
/// (`SPECIAL_CASES`).
pub const SPECIAL_CASES: &[(&str, f64)] = &[
    ("the shit", 3.0),
    ("the bomb", 3.0),
    ("bad ass", 1.5),
    ("badass", 1.5),
    ("bus stop", 0.0),
    ("yeah right", -2.0),
    ("kiss of death", -1.5),
    ("to die for", 3.0),
    ("beating heart", 3.5),
];

/// FxHash: the lexicon is looked up several times per word, and SipHash's
/// DoS resistance buys nothing for a fixed, embedded key set.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }
}

/// A map keyed by string with the fast hasher.
pub type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// The parsed word lexicon: lower-case lookups against the file's keys.
pub fn parse_lexicon() -> FxMap<&'static str, f64> {
    let mut map = FxMap::default();
    for line in VADER_LEXICON.trim_end_matches('\n').split('\n') {
        if line.is_empty() {
            continue;
        }
        let mut fields = py_strip(line).split('\t');
        let (Some(word), Some(measure)) = (fields.next(), fields.next()) else {
            continue;
        };
        // The embedded file is fixed; a parse failure is a packaging bug that
        // the unit tests catch, so skipping keeps the UDF total.
        if let Ok(v) = measure.parse::<f64>() {
            map.insert(word, v);
        }
    }
    map
}

/// The emoji lexicon, single code points only: the reference compares each
/// code point of the text against the keys, so multi-code-point keys (flags,
/// skin tones, ZWJ sequences) can never match and are left out.
pub fn parse_emojis() -> FxMap<char, &'static str> {
    let mut map = FxMap::default();
    for line in EMOJI_LEXICON.trim_end_matches('\n').split('\n') {
        let mut fields = py_strip(line).split('\t');
        let (Some(emoji), Some(description)) = (fields.next(), fields.next()) else {
            continue;
        };
        let mut chars = emoji.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            map.insert(c, description);
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexicon_has_the_3_3_2_entries() {
        let lex = parse_lexicon();
        // 7,520 lines, a few duplicate keys; 3.3.2 added heart/hearts.
        assert!(lex.len() > 7400, "{}", lex.len());
        assert_eq!(lex.get("heart"), Some(&3.2));
        assert_eq!(lex.get("good"), Some(&1.9));
        assert_eq!(lex.get("no"), Some(&-1.2));
    }

    #[test]
    fn emoji_lexicon_single_code_points() {
        let emojis = parse_emojis();
        assert!(emojis.len() > 1000);
        assert_eq!(emojis.get(&'\u{1f601}'), Some(&"beaming face with smiling eyes"));
    }
}
