//! The mood space: valence (-1 dark .. +1 light) and energy (-1 calm .. +1
//! intense), as stage 03 places every film in it.
//!
//! - [`tone`]: the words for a position ("Dark & Tense", "Warm & Gentle"),
//!   used for mood labels and for what a person asked for;
//! - [`choose_k`]: the rule that picks the number of moods;
//! - [`Request`] and [`nearest_films`]: "How do you feel?", a sentence
//!   mapped into the same space and the films nearest to it.

use moodflow_udfs::mood::{lexicon, words, MoodLexicon};
use moodflow_udfs::vader::analyzer;
use serde::Serialize;
use std::sync::OnceLock;

use crate::kmeans::model::{Mood, Scaling};

/// A position is on the dark (light) side when its valence is below (above)
/// 0 *and* at least this many standard deviations from the catalogue's mean;
/// calm (intense) when its energy is this far below (above) the mean.
pub const SIDE_Z: f64 = 0.3;

/// The nine feelings of the mood space: rows dark, middle, light; columns
/// calm, middle, intense.
const TONES: [[&str; 3]; 3] = [
    ["Bleak & Slow", "Dark & Gritty", "Dark & Tense"],
    ["Quiet & Reflective", "Bittersweet", "Gripping & Intense"],
    ["Warm & Gentle", "Light & Playful", "Fun & Exciting"],
];

/// -1, 0 or 1: which side of the catalogue a valence is on (see [`SIDE_Z`]).
pub fn valence_side(valence: f64, scale: &Scaling) -> i8 {
    let z = if scale.std > 0.0 {
        (valence - scale.mean) / scale.std
    } else {
        0.0
    };
    if valence < 0.0 && z <= -SIDE_Z {
        -1
    } else if valence > 0.0 && z >= SIDE_Z {
        1
    } else {
        0
    }
}

/// -1, 0 or 1: calm, middle or intense against the catalogue's energy.
pub fn energy_side(energy: f64, scale: &Scaling) -> i8 {
    let z = if scale.std > 0.0 {
        (energy - scale.mean) / scale.std
    } else {
        0.0
    };
    if z <= -SIDE_Z {
        -1
    } else if z >= SIDE_Z {
        1
    } else {
        0
    }
}

/// The feeling of a position, given how the catalogue's valence and energy
/// are spread.
pub fn tone(valence: f64, v_scale: &Scaling, energy: f64, e_scale: &Scaling) -> &'static str {
    let v = valence_side(valence, v_scale);
    let e = energy_side(energy, e_scale);
    TONES[(v + 1) as usize][(e + 1) as usize]
}

/// The fewest different feelings a set of moods must show for a person to
/// have a real choice.
pub const MIN_TONES: usize = 4;

/// One k of the range as [`choose_k`] sees it: k, its silhouette, its moods.
pub type LabelledFit = (usize, f64, Vec<Mood>);

/// Picks the number of moods: the best silhouette among the ks whose moods
/// show at least [`MIN_TONES`] different feelings; when none does, the best
/// silhouette (and the reason says so). `fits` are `(k, silhouette, moods)`.
/// Silhouette alone favours the fewest clusters on a continuous space, which
/// leaves a person two or three moods to choose from.
pub fn choose_k(fits: &[LabelledFit]) -> (usize, String) {
    let tones = |moods: &[Mood]| {
        let mut t: Vec<&str> = moods.iter().map(|m| m.tone.as_str()).collect();
        t.sort_unstable();
        t.dedup();
        t.len()
    };
    let best = |eligible: &dyn Fn(&LabelledFit) -> bool| {
        fits.iter()
            .enumerate()
            .filter(|(_, f)| eligible(f))
            .fold(None, |best: Option<usize>, (i, f)| match best {
                Some(b) if fits[b].1 >= f.1 => Some(b),
                _ => Some(i),
            })
    };
    if let Some(i) = best(&|f| tones(&f.2) >= MIN_TONES) {
        let (k, s, moods) = &fits[i];
        return (
            i,
            format!(
                "best silhouette ({s:.4}) among the ks whose moods show at least {MIN_TONES} feelings: k = {k}, {} feelings",
                tones(moods)
            ),
        );
    }
    let i = best(&|_| true).unwrap_or(0);
    (
        i,
        format!(
            "no k showed {MIN_TONES} different feelings; best silhouette: k = {}",
            fits.get(i).map_or(0, |f| f.0)
        ),
    )
}

/// The intents of `intents.tsv`, parsed once.
fn intents() -> &'static MoodLexicon {
    static INTENTS: OnceLock<MoodLexicon> = OnceLock::new();
    // The file is part of the source and its parse is tested.
    INTENTS.get_or_init(|| MoodLexicon::parse(include_str!("intents.tsv")).expect("ml/src/moods/intents.tsv parses"))
}

/// A sentence placed in the mood space; an axis it says nothing about is
/// `None`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    /// The text as given.
    pub text: String,
    /// VADER compound of the sentence.
    pub compound: f64,
    /// Target valence.
    pub valence: Option<f64>,
    /// Target energy.
    pub energy: Option<f64>,
    /// The intent phrases found ("cheer me up").
    pub intents: Vec<String>,
}

impl Request {
    /// Places a sentence: its intents where it has any ("cheer me up" asks
    /// for light films whatever the rest says), else its own feeling: VADER's
    /// compound and the mood lexicon for valence, the lexicon for energy.
    pub fn parse(text: &str) -> Self {
        let compound = analyzer().polarity_scores(text).compound;
        let state = lexicon().score(text);
        let wanted = intents().score(text);
        let w = words(text);
        let mut found = Vec::new();
        // Name the phrases that matched, for the page.
        let mut i = 0;
        while i < w.len() {
            let hit = (1..=moodflow_udfs::mood::MAX_PHRASE_WORDS.min(w.len() - i))
                .rev()
                .find(|len| intents().get(&w[i..i + len].join(" ")).is_some());
            match hit {
                Some(len) => {
                    found.push(w[i..i + len].join(" "));
                    i += len;
                }
                None => i += 1,
            }
        }
        let own_valence = match (compound != 0.0, state.valence_hits > 0) {
            (true, true) => Some((compound + state.valence) / 2.0),
            (true, false) => Some(compound),
            (false, true) => Some(state.valence),
            (false, false) => None,
        };
        let own_energy = (state.energy_hits > 0).then_some(state.energy);
        Self {
            text: text.to_string(),
            compound,
            valence: if wanted.valence_hits > 0 {
                Some(wanted.valence)
            } else {
                own_valence
            },
            energy: if wanted.energy_hits > 0 {
                Some(wanted.energy)
            } else {
                own_energy
            },
            intents: found,
        }
    }

    /// Where the request points in feature space (the model's weighted,
    /// standardised units), each axis clamped to two of the catalogue's
    /// standard deviations so that it lands where films are.
    pub fn target(&self, valence: &Scaling, energy: &Scaling) -> (Option<f64>, Option<f64>) {
        let clamp = |v: f64, s: &Scaling| s.scale(v).clamp(-2.0 * s.weight, 2.0 * s.weight);
        (
            self.valence.map(|v| clamp(v, valence)),
            self.energy.map(|e| clamp(e, energy)),
        )
    }

    /// "dark and tense": the feeling asked for, in words.
    pub fn feeling(&self, valence: &Scaling, energy: &Scaling) -> String {
        let v = self.valence.map(|v| valence_side(v, valence));
        let e = self.energy.map(|e| energy_side(e, energy));
        let tone = TONES[(v.unwrap_or(0) + 1) as usize][(e.unwrap_or(0) + 1) as usize];
        match (v, e) {
            (None, None) => "anything".to_string(),
            (Some(_), None) => ["dark", "neither dark nor light", "light"][(v.unwrap_or(0) + 1) as usize].to_string(),
            (None, Some(_)) => {
                ["calm", "neither calm nor intense", "intense"][(e.unwrap_or(0) + 1) as usize].to_string()
            }
            (Some(_), Some(_)) => tone.to_lowercase().replace(" & ", " and "),
        }
    }
}

/// A film's place in feature space, as [`nearest_films`] needs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FilmPoint {
    /// Valence, feature units.
    pub valence: f64,
    /// Energy, feature units.
    pub energy: f64,
    /// Whether the film may be suggested (enough ratings).
    pub eligible: bool,
    /// Its damped mean rating, to break near-ties towards good films.
    pub quality: f64,
}

/// The `n` eligible films nearest to a target on the axes it has; among
/// films at about the same distance (within 0.1 feature units) the better
/// rated first. Indices into `films`.
pub fn nearest_films(films: &[FilmPoint], target: (Option<f64>, Option<f64>), n: usize) -> Vec<usize> {
    let distance = |f: &FilmPoint| {
        let dv = target.0.map_or(0.0, |v| (f.valence - v).powi(2));
        let de = target.1.map_or(0.0, |e| (f.energy - e).powi(2));
        (dv + de).sqrt()
    };
    let mut order: Vec<(f64, usize)> = films
        .iter()
        .enumerate()
        .filter(|(_, f)| f.eligible)
        .map(|(i, f)| (distance(f), i))
        .collect();
    // Distance in steps of 0.1, then quality: "about as near" is a tie.
    order.sort_by(|a, b| {
        let (ba, bb) = ((a.0 / 0.1).floor(), (b.0 / 0.1).floor());
        ba.total_cmp(&bb)
            .then(films[b.1].quality.total_cmp(&films[a.1].quality))
            .then(a.1.cmp(&b.1))
    });
    order.into_iter().take(n).map(|(_, i)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scale(name: &str, mean: f64, std: f64) -> Scaling {
        Scaling {
            name: name.into(),
            mean,
            std,
            weight: 1.0,
        }
    }

    #[test]
    fn the_intents_parse() {
        assert!(intents().len() > 30);
    }

    #[test]
    fn tones_need_the_sign_and_the_distance() {
        let v = scale("valence", 0.1, 0.2);
        let e = scale("energy", 0.0, 0.3);
        assert_eq!(tone(-0.3, &v, 0.5, &e), "Dark & Tense");
        assert_eq!(tone(0.5, &v, -0.5, &e), "Warm & Gentle");
        // Below the mean but not below 0: not dark.
        assert_eq!(tone(0.0, &v, 0.0, &e), "Bittersweet");
        assert_eq!(tone(0.3, &v, 0.0, &e), "Light & Playful");
    }

    #[test]
    fn intents_win_over_the_state() {
        let r = Request::parse("I am so sad, please cheer me up");
        assert_eq!(r.intents, vec!["cheer me up"]);
        assert!(r.valence.expect("valence") > 0.5);
        let r = Request::parse("I am grieving, my dog died");
        assert!(r.intents.is_empty());
        assert!(
            r.valence.expect("valence") < 0.0 && r.energy.expect("energy") < 0.0,
            "{r:?}"
        );
        let r = Request::parse("give me something scary");
        assert!(r.valence.expect("valence") < 0.0 && r.energy.expect("energy") > 0.5);
        assert_eq!(Request::parse("a table").valence, None);
    }

    #[test]
    fn nearest_films_follow_the_target_and_skip_ineligible() {
        let f = |v: f64, e: f64, eligible: bool, q: f64| FilmPoint {
            valence: v,
            energy: e,
            eligible,
            quality: q,
        };
        let films = [
            f(-2.0, 2.0, true, 3.0),
            f(2.0, -2.0, true, 3.0),
            f(-2.0, 1.99, false, 4.0),
            f(-1.98, 2.0, true, 4.5),
        ];
        assert_eq!(nearest_films(&films, (Some(-2.0), Some(2.0)), 2), vec![3, 0]);
        assert_eq!(nearest_films(&films, (Some(2.0), None), 1), vec![1]);
    }

    #[test]
    fn choose_k_prefers_distinct_feelings() {
        let mood = |tone: &str| Mood {
            cluster: 0,
            label: tone.into(),
            tone: tone.into(),
            valence: 0.0,
            energy: 0.0,
            genres: vec![],
            size: 1,
        };
        let three = vec![mood("A"), mood("B"), mood("C")];
        let four = vec![mood("A"), mood("B"), mood("C"), mood("D"), mood("D")];
        let (i, why) = choose_k(&[(3, 0.5, three.clone()), (5, 0.3, four)]);
        assert_eq!(i, 1, "{why}");
        let (i, why) = choose_k(&[(3, 0.5, three.clone()), (4, 0.3, three)]);
        assert_eq!(i, 0);
        assert!(why.starts_with("no k"), "{why}");
    }
}
