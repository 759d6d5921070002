//! moodflow's mood lexicon: valence and energy of the words that carry mood
//! (see `lexicon.tsv` beside this file for the list, its scale and why it
//! exists), and the SQL UDFs over it in [`udf`].
//!
//! VADER stays the sentiment scorer, unchanged; this is a second, separate
//! signal. Its scorer is deliberately simple (whole terms, longest phrase
//! first, negation flips valence) because its inputs are mostly tags and
//! keywords, where VADER's grammar rules have nothing to work on.

use std::collections::HashMap;
use std::sync::OnceLock;

pub mod udf;

/// The lexicon file, embedded so every executor scores with the same list.
pub const LEXICON_TSV: &str = include_str!("lexicon.tsv");

/// Longest phrase, in words, that the lexicon may hold.
pub const MAX_PHRASE_WORDS: usize = 4;

/// Words that negate a term up to three words later.
const NEGATIONS: &[&str] = &[
    "not", "no", "never", "nothing", "without", "isnt", "dont", "doesnt", "didnt", "wasnt", "cant", "cannot", "wont",
    "nor", "neither",
];

/// One term's numbers; `None` where the term says nothing on that axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Entry {
    /// -1 dark .. +1 light.
    pub valence: Option<f64>,
    /// -1 calm .. +1 intense.
    pub energy: Option<f64>,
}

/// What a text says on both axes: the mean of its matched terms.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MoodScore {
    /// Mean valence of the terms that carry one (0 when none).
    pub valence: f64,
    /// How many terms carried a valence.
    pub valence_hits: u32,
    /// Mean energy of the terms that carry one (0 when none).
    pub energy: f64,
    /// How many terms carried an energy.
    pub energy_hits: u32,
}

/// The parsed lexicon.
#[derive(Debug, Clone)]
pub struct MoodLexicon {
    terms: HashMap<String, Entry>,
}

/// Lower-cases, drops apostrophes and splits on everything that is not a
/// letter or digit: "Feel-good" and "feel good" give the same words.
pub fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .replace(['\'', '\u{2019}'], "")
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

impl MoodLexicon {
    /// Parses a lexicon in `lexicon.tsv`'s format; errors name the line.
    pub fn parse(tsv: &str) -> Result<Self, String> {
        let mut terms = HashMap::new();
        for (i, line) in tsv.lines().enumerate() {
            let line = line.trim_end();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split('\t').collect();
            let [term, valence, energy] = fields[..] else {
                return Err(format!("mood lexicon line {}: expected 3 tab-separated fields", i + 1));
            };
            let axis = |s: &str| -> Result<Option<f64>, String> {
                if s == "-" {
                    return Ok(None);
                }
                let v: f64 = s
                    .parse()
                    .map_err(|_| format!("mood lexicon line {}: {s:?} is not a number", i + 1))?;
                if !(-1.0..=1.0).contains(&v) {
                    return Err(format!("mood lexicon line {}: {v} is outside -1..1", i + 1));
                }
                Ok(Some(v))
            };
            let key = words(term);
            if key.is_empty() || key.len() > MAX_PHRASE_WORDS {
                return Err(format!(
                    "mood lexicon line {}: a term has 1 to {MAX_PHRASE_WORDS} words",
                    i + 1
                ));
            }
            let entry = Entry {
                valence: axis(valence)?,
                energy: axis(energy)?,
            };
            if terms.insert(key.join(" "), entry).is_some() {
                return Err(format!("mood lexicon line {}: {term:?} is listed twice", i + 1));
            }
        }
        Ok(Self { terms })
    }

    /// The entry of a term, written in any spelling `words` accepts.
    pub fn get(&self, term: &str) -> Option<Entry> {
        self.terms.get(&words(term).join(" ")).copied()
    }

    /// Number of terms.
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    /// Whether the lexicon is empty.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Scores a text: at each word the longest listed phrase starting
    /// there counts once; a negation in the three words before a term
    /// flips its valence and halves it.
    pub fn score(&self, text: &str) -> MoodScore {
        let w = words(text);
        let (mut vs, mut vn, mut es, mut en) = (0.0, 0u32, 0.0, 0u32);
        let mut i = 0;
        while i < w.len() {
            let mut matched = None;
            for len in (1..=MAX_PHRASE_WORDS.min(w.len() - i)).rev() {
                if let Some(e) = self.terms.get(&w[i..i + len].join(" ")) {
                    matched = Some((len, *e));
                    break;
                }
            }
            let Some((len, e)) = matched else {
                i += 1;
                continue;
            };
            let negated = w[i.saturating_sub(3)..i]
                .iter()
                .any(|p| NEGATIONS.contains(&p.as_str()));
            if let Some(v) = e.valence {
                vs += if negated { -0.5 * v } else { v };
                vn += 1;
            }
            if let Some(x) = e.energy {
                es += x;
                en += 1;
            }
            i += len;
        }
        MoodScore {
            valence: if vn > 0 { vs / f64::from(vn) } else { 0.0 },
            valence_hits: vn,
            energy: if en > 0 { es / f64::from(en) } else { 0.0 },
            energy_hits: en,
        }
    }
}

/// The embedded lexicon, parsed once per process.
pub fn lexicon() -> &'static MoodLexicon {
    static LEXICON: OnceLock<MoodLexicon> = OnceLock::new();
    // The file is part of the source and its parse is tested, so a failure
    // here is a build defect, not bad input.
    LEXICON.get_or_init(|| MoodLexicon::parse(LEXICON_TSV).expect("udfs/src/mood/lexicon.tsv parses"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vader::analyzer;

    #[test]
    fn the_embedded_lexicon_parses() {
        assert!(lexicon().len() > 250, "{}", lexicon().len());
    }

    #[test]
    fn covers_mood_words_vader_does_not_know() {
        // The list: each scores 0 in VADER 3.3.2 and carries a
        // valence here, on the side a reader expects.
        for (word, dark) in [
            ("dark", true),
            ("bleak", true),
            ("harrowing", true),
            ("gritty", true),
            ("holocaust", true),
            ("uplifting", false),
            ("touching", false),
            ("quirky", false),
            ("feel-good", false),
        ] {
            assert_eq!(analyzer().polarity_scores(word).compound, 0.0, "{word} in VADER");
            let v = lexicon().score(word).valence;
            assert!(if dark { v < 0.0 } else { v > 0.0 }, "{word}: {v}");
        }
        assert!(lexicon().get("atmospheric").is_some());
        assert!(lexicon().get("tearjerker").is_some());
    }

    #[test]
    fn spellings_phrases_and_negation() {
        let l = lexicon();
        assert_eq!(l.score("Feel-Good"), l.score("feel good"));
        assert_eq!(l.score("feelgood").valence_hits, 1);
        // The phrase wins over its words: one hit, not "edge" + nothing.
        let s = l.score("edge of your seat");
        assert_eq!((s.valence_hits, s.energy_hits), (1, 1));
        assert!(s.energy > 0.8);
        // "not depressing" is mildly positive, not dark.
        let s = l.score("not depressing at all");
        assert!(s.valence > 0.0 && s.valence < 0.5, "{s:?}");
        // Genre names carry energy alone.
        let s = l.score("Action|Documentary");
        assert_eq!((s.valence_hits, s.energy_hits), (0, 2));
        assert!((s.energy - 0.15).abs() < 1e-12);
        assert_eq!(l.score("a table and a chair"), MoodScore::default());
    }

    #[test]
    fn bad_lexicon_lines_are_named() {
        assert!(MoodLexicon::parse("dark\t-0.5\n")
            .expect_err("rejected")
            .contains("line 1"));
        assert!(MoodLexicon::parse("# c\ndark\t-2\t0\n")
            .expect_err("rejected")
            .contains("line 2"));
        assert!(MoodLexicon::parse("dark\t-0.5\t0\nDark\t0\t0\n")
            .expect_err("rejected")
            .contains("twice"));
    }
}
