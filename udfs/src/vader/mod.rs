//! A faithful port of VADER as implemented by Python `vaderSentiment` 3.3.2.
//!
//! Every rule of the reference is kept, quirks included (the `_but_check`
//! that rescales the *first* equal value, the "at least" check, `!`/`?`
//! emphasis only on a non-zero sum), because moodflow promises the same
//! scores as the Python pipeline it replaces. Where the reference is
//! quadratic (`_but_check`) the port computes the same result with less work.
//!
//! The analyzer is immutable after construction and shared by every thread
//! of every executor through [`analyzer`]; no iteration over hash maps
//! decides a result, so every process gives the same answer.

mod lexicon;
mod pystr;
pub mod udf;

use std::borrow::Cow;
use std::sync::OnceLock;

use lexicon::{FxMap, BOOSTERS, C_INCR, NEGATE, N_SCALAR, SPECIAL_CASES};
use pystr::{py_isupper, py_lower, py_split, py_strip, strip_ascii_punct};

/// VADER's four scores, rounded as the reference rounds them (compound to 4
/// decimals, the proportions to 3).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    /// Normalised sum of valences in [-1, 1].
    pub compound: f64,
    /// Proportion of positive sentiment.
    pub pos: f64,
    /// Proportion of neutral words.
    pub neu: f64,
    /// Proportion of negative sentiment.
    pub neg: f64,
}

/// The VADER analyzer: the lexicons and word lists, parsed once.
pub struct Analyzer {
    lexicon: FxMap<&'static str, f64>,
    emojis: FxMap<char, &'static str>,
    boosters: FxMap<&'static str, f64>,
    special_cases: FxMap<&'static str, f64>,
    negate: FxMap<&'static str, ()>,
}

/// The process-wide analyzer, built on first use.
pub fn analyzer() -> &'static Analyzer {
    static ANALYZER: OnceLock<Analyzer> = OnceLock::new();
    ANALYZER.get_or_init(Analyzer::new)
}

/// Python's `round(x, ndigits)`: the double nearest to the correctly rounded
/// (half-to-even on the exact binary value) decimal.
pub fn py_round(x: f64, ndigits: i32) -> f64 {
    let scale = 10f64.powi(ndigits);
    let y = x * scale;
    let frac = y - y.floor();
    // Far from a tie the product's rounding error cannot change the result,
    // and an integer divided by 10^n is the nearest double to that decimal.
    if (frac - 0.5).abs() > 1e-7 {
        return y.round() / scale;
    }
    // Near a tie, let the exact decimal expansion of the formatter decide
    // (it rounds half to even on the exact binary value, as CPython does).
    let digits = usize::try_from(ndigits).unwrap_or(0);
    format!("{x:.digits$}").parse().unwrap_or(x)
}

impl Default for Analyzer {
    fn default() -> Self {
        Self::new()
    }
}

impl Analyzer {
    /// Parses the embedded lexicons. Prefer [`analyzer`], which does it once.
    pub fn new() -> Self {
        Self {
            lexicon: lexicon::parse_lexicon(),
            emojis: lexicon::parse_emojis(),
            boosters: BOOSTERS.iter().copied().collect(),
            special_cases: SPECIAL_CASES.iter().copied().collect(),
            negate: NEGATE.iter().map(|w| (*w, ())).collect(),
        }
    }

    /// The reference's `polarity_scores(text)`.
    pub fn polarity_scores(&self, text: &str) -> Scores {
        let text = self.replace_emojis(text);
        let text = py_strip(&text);
        let words: Vec<&str> = py_split(text).map(strip_punc_if_word).collect();
        let lower: Vec<Cow<'_, str>> = words.iter().map(|w| py_lower(w)).collect();
        let lower: Vec<&str> = lower.iter().map(|w| w.as_ref()).collect();
        let is_cap_diff = allcap_differential(&words);

        let mut sentiments = Vec::with_capacity(words.len());
        for i in 0..words.len() {
            let booster_or_kind_of = self.boosters.contains_key(lower[i])
                || (i + 1 < words.len() && lower[i] == "kind" && lower[i + 1] == "of");
            sentiments.push(if booster_or_kind_of {
                0.0
            } else {
                self.sentiment_valence(&words, &lower, i, is_cap_diff)
            });
        }
        but_check(&lower, &mut sentiments);
        score_valence(&sentiments, text)
    }

    /// Replaces each code point found in the emoji lexicon by its
    /// description, separated from preceding text by one space.
    fn replace_emojis<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if text.is_ascii() {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len() + 16);
        let mut prev_space = true;
        for c in text.chars() {
            if let Some(description) = self.emojis.get(&c) {
                if !prev_space {
                    out.push(' ');
                }
                out.push_str(description);
                prev_space = false;
            } else {
                out.push(c);
                prev_space = c == ' ';
            }
        }
        Cow::Owned(out)
    }

    fn in_lexicon(&self, word: &str) -> bool {
        self.lexicon.contains_key(word)
    }

    fn sentiment_valence(&self, words: &[&str], lower: &[&str], i: usize, cap_diff: bool) -> f64 {
        let Some(&lex) = self.lexicon.get(lower[i]) else {
            return 0.0;
        };
        let n = words.len();
        let mut valence = lex;
        // "no" before another lexicon word negates that word instead of
        // counting as negative itself.
        if lower[i] == "no" && i != n - 1 && self.in_lexicon(lower[i + 1]) {
            valence = 0.0;
        }
        if (i > 0 && lower[i - 1] == "no")
            || (i > 1 && lower[i - 2] == "no")
            || (i > 2 && lower[i - 3] == "no" && matches!(lower[i - 1], "or" | "nor"))
        {
            valence = lex * N_SCALAR;
        }
        if py_isupper(words[i]) && cap_diff {
            if valence > 0.0 {
                valence += C_INCR;
            } else {
                valence -= C_INCR;
            }
        }
        for start_i in 0..3 {
            if i > start_i && !self.in_lexicon(lower[i - (start_i + 1)]) {
                let mut s = self.scalar_inc_dec(words[i - (start_i + 1)], lower[i - (start_i + 1)], valence, cap_diff);
                if start_i == 1 && s != 0.0 {
                    s *= 0.95;
                }
                if start_i == 2 && s != 0.0 {
                    s *= 0.9;
                }
                valence += s;
                valence = self.negation_check(valence, lower, start_i, i);
                if start_i == 2 {
                    valence = self.special_idioms_check(valence, lower, i);
                }
            }
        }
        self.least_check(valence, lower, i)
    }

    fn scalar_inc_dec(&self, word: &str, word_lower: &str, valence: f64, cap_diff: bool) -> f64 {
        let Some(&b) = self.boosters.get(word_lower) else {
            return 0.0;
        };
        let mut scalar = if valence < 0.0 { -b } else { b };
        if py_isupper(word) && cap_diff {
            if valence > 0.0 {
                scalar += C_INCR;
            } else {
                scalar -= C_INCR;
            }
        }
        scalar
    }

    fn negated(&self, word_lower: &str) -> bool {
        self.negate.contains_key(word_lower) || word_lower.contains("n't")
    }

    fn negation_check(&self, valence: f64, lower: &[&str], start_i: usize, i: usize) -> f64 {
        let so_or_this = |w: &str| w == "so" || w == "this";
        match start_i {
            0 if self.negated(lower[i - 1]) => valence * N_SCALAR,
            1 => {
                if lower[i - 2] == "never" && so_or_this(lower[i - 1]) {
                    valence * 1.25
                } else if lower[i - 2] == "without" && lower[i - 1] == "doubt" {
                    valence
                } else if self.negated(lower[i - 2]) {
                    valence * N_SCALAR
                } else {
                    valence
                }
            }
            2 => {
                // The reference's `A and B or C`: "so"/"this" right before
                // the word boosts even without a "never".
                if (lower[i - 3] == "never" && so_or_this(lower[i - 2])) || so_or_this(lower[i - 1]) {
                    valence * 1.25
                } else if lower[i - 3] == "without" && (lower[i - 2] == "doubt" || lower[i - 1] == "doubt") {
                    valence
                } else if self.negated(lower[i - 3]) {
                    valence * N_SCALAR
                } else {
                    valence
                }
            }
            _ => valence,
        }
    }

    /// Only called with `i >= 3`.
    fn special_idioms_check(&self, mut valence: f64, lower: &[&str], i: usize) -> f64 {
        let onezero = format!("{} {}", lower[i - 1], lower[i]);
        let twoonezero = format!("{} {} {}", lower[i - 2], lower[i - 1], lower[i]);
        let twoone = format!("{} {}", lower[i - 2], lower[i - 1]);
        let threetwoone = format!("{} {} {}", lower[i - 3], lower[i - 2], lower[i - 1]);
        let threetwo = format!("{} {}", lower[i - 3], lower[i - 2]);
        for seq in [&onezero, &twoonezero, &twoone, &threetwoone, &threetwo] {
            if let Some(&v) = self.special_cases.get(seq.as_str()) {
                valence = v;
                break;
            }
        }
        let n = lower.len();
        if n - 1 > i {
            let zeroone = format!("{} {}", lower[i], lower[i + 1]);
            if let Some(&v) = self.special_cases.get(zeroone.as_str()) {
                valence = v;
            }
        }
        if n - 1 > i + 1 {
            let zeroonetwo = format!("{} {} {}", lower[i], lower[i + 1], lower[i + 2]);
            if let Some(&v) = self.special_cases.get(zeroonetwo.as_str()) {
                valence = v;
            }
        }
        for n_gram in [&threetwoone, &threetwo, &twoone] {
            if let Some(&b) = self.boosters.get(n_gram.as_str()) {
                valence += b;
            }
        }
        valence
    }

    fn least_check(&self, valence: f64, lower: &[&str], i: usize) -> f64 {
        if i > 1 && !self.in_lexicon(lower[i - 1]) && lower[i - 1] == "least" {
            if lower[i - 2] != "at" && lower[i - 2] != "very" {
                return valence * N_SCALAR;
            }
        } else if i > 0 && !self.in_lexicon(lower[i - 1]) && lower[i - 1] == "least" {
            return valence * N_SCALAR;
        }
        valence
    }
}

/// Strips leading and trailing ASCII punctuation unless two or fewer
/// characters would remain (then it was probably an emoticon such as `:)`).
fn strip_punc_if_word(token: &str) -> &str {
    let stripped = strip_ascii_punct(token);
    if stripped.chars().nth(2).is_none() {
        token
    } else {
        stripped
    }
}

/// True when some, but not all, words are in capitals.
fn allcap_differential(words: &[&str]) -> bool {
    let allcap = words.iter().filter(|w| py_isupper(w)).count();
    let differential = words.len() - allcap;
    0 < differential && differential < words.len()
}

/// The reference's `_but_check`: values before the first "but" are halved and
/// values after it grow by half, but each step rewrites the *first* element
/// equal to the current one (`list.index`), which the port must reproduce.
/// Zeros stay zero whatever is rewritten, so only non-zero values are
/// visited and searched.
fn but_check(lower: &[&str], sentiments: &mut [f64]) {
    let Some(bi) = lower.iter().position(|w| *w == "but") else {
        return;
    };
    let nonzero: Vec<usize> = (0..sentiments.len()).filter(|&k| sentiments[k] != 0.0).collect();
    for (pos, &k) in nonzero.iter().enumerate() {
        let v = sentiments[k];
        if v == 0.0 {
            continue;
        }
        // The first equal element sits at or before k.
        let si = nonzero[..=pos]
            .iter()
            .copied()
            .find(|&j| sentiments[j] == v)
            .unwrap_or(k);
        if si < bi {
            sentiments[si] = v * 0.5;
        } else if si > bi {
            sentiments[si] = v * 1.5;
        }
    }
}

/// Emphasis from `!` (at most four) and `?` (only two or more).
fn punctuation_emphasis(text: &str) -> f64 {
    let ep = text.bytes().filter(|&b| b == b'!').count().min(4);
    let qm = text.bytes().filter(|&b| b == b'?').count();
    let qm_amplifier = match qm {
        0 | 1 => 0.0,
        2 | 3 => qm as f64 * 0.18,
        _ => 0.96,
    };
    ep as f64 * 0.292 + qm_amplifier
}

fn normalize(score: f64) -> f64 {
    const ALPHA: f64 = 15.0;
    (score / (score * score + ALPHA).sqrt()).clamp(-1.0, 1.0)
}

fn score_valence(sentiments: &[f64], text: &str) -> Scores {
    if sentiments.is_empty() {
        return Scores {
            compound: 0.0,
            pos: 0.0,
            neu: 0.0,
            neg: 0.0,
        };
    }
    let mut sum_s = sentiments.iter().fold(0.0, |acc, s| acc + s);
    let amplifier = punctuation_emphasis(text);
    if sum_s > 0.0 {
        sum_s += amplifier;
    } else if sum_s < 0.0 {
        sum_s -= amplifier;
    }
    let compound = normalize(sum_s);

    let (mut pos_sum, mut neg_sum, mut neu_count) = (0.0, 0.0, 0u32);
    for &s in sentiments {
        if s > 0.0 {
            pos_sum += s + 1.0;
        }
        if s < 0.0 {
            neg_sum += s - 1.0;
        }
        if s == 0.0 {
            neu_count += 1;
        }
    }
    if pos_sum > f64::abs(neg_sum) {
        pos_sum += amplifier;
    } else if pos_sum < f64::abs(neg_sum) {
        neg_sum -= amplifier;
    }
    let total = pos_sum + neg_sum.abs() + f64::from(neu_count);
    Scores {
        compound: py_round(compound, 4),
        pos: py_round((pos_sum / total).abs(), 3),
        neu: py_round((f64::from(neu_count) / total).abs(), 3),
        neg: py_round((neg_sum / total).abs(), 3),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compound(text: &str) -> f64 {
        analyzer().polarity_scores(text).compound
    }

    #[test]
    fn reference_readme_examples() {
        // Values printed by vaderSentiment 3.3.2's own demo.
        assert_eq!(compound("VADER is smart, handsome, and funny."), 0.8316);
        assert_eq!(compound("VADER is smart, handsome, and funny!"), 0.8439);
        assert_eq!(compound("VADER is very smart, handsome, and funny."), 0.8545);
        assert_eq!(compound("VADER is VERY SMART, handsome, and FUNNY."), 0.9227);
        assert_eq!(compound("VADER is VERY SMART, handsome, and FUNNY!!!"), 0.9342);
        assert_eq!(compound("VADER is not smart, handsome, nor funny."), -0.7424);
        assert_eq!(compound("At least it isn't a horrible book."), 0.431);
        assert_eq!(compound("Today only kinda sux! But I'll get by, lol"), 0.5249);
        assert_eq!(compound("Make sure you :) or :D today!"), 0.8633);
        assert_eq!(compound("Not bad at all"), 0.431);
    }

    #[test]
    fn neutral_exclamation_stays_neutral() {
        let s = analyzer().polarity_scores("Airplane! (1980)");
        assert_eq!(s.compound, 0.0);
        assert_eq!(s.neu, 1.0);
    }

    #[test]
    fn empty_and_blank() {
        let zero = Scores {
            compound: 0.0,
            pos: 0.0,
            neu: 0.0,
            neg: 0.0,
        };
        assert_eq!(analyzer().polarity_scores(""), zero);
        assert_eq!(analyzer().polarity_scores(" \t\u{1c} "), zero);
    }

    #[test]
    fn python_rounding_is_half_even_on_the_binary_value() {
        assert_eq!(py_round(0.0625, 3), 0.062);
        assert_eq!(py_round(0.4375, 3), 0.438);
        // 2.675 is 2.67499999... in binary.
        assert_eq!(py_round(2.675, 2), 2.67);
        assert_eq!(py_round(0.12345, 4), 0.1235);
        assert_eq!(py_round(-0.43105, 4), -0.431);
    }

    #[test]
    fn but_check_rescales_first_equal_value() {
        let lower = ["good", "x", "but", "good"];
        let mut s = [1.9, 0.0, 0.0, 1.9];
        but_check(&lower, &mut s);
        // k=0: first 1.9 is index 0 -> 0.95; k=3: first 1.9 is index 3 -> 2.85.
        assert_eq!(s, [0.95, 0.0, 0.0, 1.9 * 1.5]);
        let lower = ["a", "but", "b", "c"];
        let mut s = [0.0, 0.0, 1.0, 1.5];
        but_check(&lower, &mut s);
        // k=2: 1.0 -> 1.5 at index 2; k=3: first 1.5 is now index 2 -> 2.25.
        assert_eq!(s, [0.0, 0.0, 2.25, 1.5]);
    }
}
