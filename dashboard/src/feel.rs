//! "How do you feel?": free text scored with the pipeline's VADER, and the
//! mood whose centroid is nearest on the dimensions the text speaks about.
//!
//! A sentence gives a sentiment and, sometimes, genres ("something scary",
//! "a funny film"); it says nothing about release years or rating counts.
//! So the text becomes a point in the model's standardised space on those
//! dimensions only (its compound scaled like the sentiment feature, a
//! named genre at 1 scaled like its feature) and the nearest centroid is
//! measured on them alone.

use moodflow_ml::kmeans::model::Model;
use moodflow_udfs::text::normalize_text;
use moodflow_udfs::vader::analyzer;
use serde::Serialize;

use crate::snapshot::Snapshot;
use crate::views::{mood_summary, MoodSummary};

/// Words that name or suggest a genre, matched as whole normalised words.
const GENRE_WORDS: &[(&str, &[&str])] = &[
    (
        "Action",
        &["action", "adrenaline", "explosions", "explosive", "fights", "fight"],
    ),
    (
        "Adventure",
        &["adventure", "adventurous", "explore", "exploring", "journey", "quest"],
    ),
    ("Animation", &["animated", "animation", "cartoon", "cartoons", "anime"]),
    ("Children", &["kids", "children", "child", "family"]),
    (
        "Comedy",
        &[
            "funny",
            "laugh",
            "laughing",
            "comedy",
            "hilarious",
            "silly",
            "lighthearted",
        ],
    ),
    (
        "Crime",
        &["crime", "heist", "gangster", "gangsters", "mafia", "detective"],
    ),
    ("Documentary", &["documentary", "documentaries", "factual"]),
    ("Drama", &["drama", "dramatic", "cry", "emotional", "moving"]),
    ("Fantasy", &["fantasy", "magic", "magical", "dragons", "fairy"]),
    ("Film-Noir", &["noir"]),
    (
        "Horror",
        &[
            "scary",
            "scared",
            "horror",
            "creepy",
            "frightening",
            "terrifying",
            "spooky",
        ],
    ),
    (
        "Musical",
        &["musical", "musicals", "singing", "sing", "dance", "dancing"],
    ),
    ("Mystery", &["mystery", "mysterious", "puzzle", "whodunit"]),
    ("Romance", &["romantic", "romance", "love", "date", "lovers"]),
    (
        "Sci-Fi",
        &[
            "scifi",
            "sci",
            "space",
            "future",
            "futuristic",
            "robots",
            "aliens",
            "science",
        ],
    ),
    ("Thriller", &["thriller", "suspense", "suspenseful", "tense", "edge"]),
    ("War", &["war", "battle", "soldiers", "wartime"]),
    ("Western", &["western", "cowboy", "cowboys"]),
];

/// The genres a text names.
pub fn genres_in(text: &str) -> Vec<&'static str> {
    let norm = normalize_text(text);
    let words: Vec<&str> = norm.split(' ').collect();
    GENRE_WORDS
        .iter()
        .filter(|(_, cues)| cues.iter().any(|c| words.contains(c)))
        .map(|(g, _)| *g)
        .collect()
}

/// A mood's distance from the text.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    /// Label.
    pub label: String,
    /// URL name.
    pub slug: String,
    /// Distance on the text's dimensions (standardised units).
    pub distance: f64,
}

/// The answer to "how do you feel?".
#[derive(Debug, Clone, Serialize)]
pub struct Feeling {
    /// The text as given.
    pub text: String,
    /// VADER compound.
    pub compound: f64,
    /// Positive proportion.
    pub pos: f64,
    /// Neutral proportion.
    pub neu: f64,
    /// Negative proportion.
    pub neg: f64,
    /// Genres the text names.
    pub genres: Vec<String>,
    /// The suggested mood, with the top of its playlist.
    pub mood: MoodSummary,
    /// Every mood, nearest first.
    pub ranking: Vec<Candidate>,
}

/// The standardised coordinates the text gives: (feature index, value).
fn text_point(model: &Model, compound: f64, genres: &[&str]) -> Vec<(usize, f64)> {
    let mut out = Vec::new();
    for (i, f) in model.features.iter().enumerate() {
        let raw = if f.name == "sentiment" {
            Some(compound)
        } else {
            moodflow_ml::kmeans::model::genre_display(&f.name)
                .filter(|g| genres.contains(g))
                .map(|_| 1.0)
        };
        if let Some(raw) = raw {
            let z = if f.std > 0.0 { (raw - f.mean) / f.std } else { 0.0 };
            out.push((i, z));
        }
    }
    out
}

/// Scores `text` and suggests a mood.
pub fn feel(s: &Snapshot, text: &str) -> Feeling {
    let scores = analyzer().polarity_scores(text);
    let genres = genres_in(text);
    let point = text_point(&s.model, scores.compound, &genres);
    let mut ranking: Vec<(f64, usize)> = s
        .model
        .centroids
        .iter()
        .enumerate()
        .map(|(c, centroid)| {
            let d: f64 = point.iter().map(|&(i, z)| (centroid[i] - z).powi(2)).sum();
            (d.sqrt(), c)
        })
        .collect();
    ranking.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let best = ranking.first().map_or(0, |r| r.1);
    Feeling {
        text: text.to_string(),
        compound: scores.compound,
        pos: scores.pos,
        neu: scores.neu,
        neg: scores.neg,
        genres: genres.iter().map(|g| (*g).to_string()).collect(),
        mood: mood_summary(s, s.mood_of(best)),
        ranking: ranking
            .into_iter()
            .map(|(d, c)| Candidate {
                label: s.moods[c].mood.label.clone(),
                slug: s.moods[c].slug.clone(),
                distance: d,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_named_genres_as_whole_words() {
        assert_eq!(genres_in("Something scary, please!"), vec!["Horror"]);
        assert_eq!(genres_in("a FUNNY romantic film"), vec!["Comedy", "Romance"]);
        // "warm" is not "war"; "spacey" is not "space".
        assert!(genres_in("warm and spacey").is_empty());
    }
}
