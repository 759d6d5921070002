//! "How do you feel?": a sentence placed in the mood space (see
//! [`moodflow_ml::moods::Request`]: its intents, else its own feeling), the
//! films nearest to that point, and the moods ranked by distance on the
//! axes the sentence speaks about.

use moodflow_ml::moods::{nearest_films, FilmPoint, Request};
use serde::Serialize;

use crate::params::PlaylistFilter;
use crate::snapshot::Snapshot;
use crate::views::{mood_summary, MoodSummary};

/// A mood's distance from the request.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    /// Label.
    pub label: String,
    /// URL name.
    pub slug: String,
    /// Distance on the request's axes (feature units).
    pub distance: f64,
}

/// A suggested film.
#[derive(Debug, Clone, Serialize)]
pub struct Suggestion {
    /// MovieLens id.
    #[serde(rename = "movieId")]
    pub id: i64,
    /// Title with year.
    pub title: String,
    /// Its mood's label.
    pub mood: String,
    /// Its valence.
    pub valence: f64,
    /// Its energy.
    pub energy: f64,
}

/// The answer to "how do you feel?".
#[derive(Debug, Clone, Serialize)]
pub struct Feeling {
    /// The text as given.
    pub text: String,
    /// VADER compound of the text.
    pub compound: f64,
    /// Target valence (`None`: the text says nothing about it).
    pub valence: Option<f64>,
    /// Target energy.
    pub energy: Option<f64>,
    /// The intent phrases found ("cheer me up").
    pub intents: Vec<String>,
    /// The feeling asked for, in words ("dark and tense").
    pub feeling: String,
    /// One line saying why these films.
    pub why: String,
    /// The films nearest to the request.
    pub films: Vec<Suggestion>,
    /// The nearest mood, with the top of its playlist.
    pub mood: MoodSummary,
    /// Every mood, nearest first.
    pub ranking: Vec<Candidate>,
}

/// How many films the answer suggests.
pub const SUGGESTIONS: usize = 10;

/// Places `text` in the mood space and suggests films and a mood.
pub fn feel(s: &Snapshot, text: &str) -> Feeling {
    let request = Request::parse(text);
    let (vi, v) = s.model.axis("valence");
    let (ei, e) = s.model.axis("energy");
    let target = request.target(&v, &e);
    let films: Vec<FilmPoint> = s
        .movies
        .iter()
        .map(|m| FilmPoint {
            valence: v.scale(m.position.valence),
            energy: e.scale(m.position.energy),
            eligible: m.rating_count >= PlaylistFilter::DEFAULT_MIN_RATINGS,
            quality: m.score,
        })
        .collect();
    let suggestions: Vec<Suggestion> = nearest_films(&films, target, SUGGESTIONS)
        .into_iter()
        .map(|i| {
            let m = &s.movies[i];
            Suggestion {
                id: m.id,
                title: m.title.clone(),
                mood: s.mood_of(m.cluster).mood.label.clone(),
                valence: m.position.valence,
                energy: m.position.energy,
            }
        })
        .collect();
    let at = |c: &[f64], i: Option<usize>| i.and_then(|i| c.get(i)).copied().unwrap_or(0.0);
    let mut ranking: Vec<(f64, usize)> = s
        .model
        .centroids
        .iter()
        .enumerate()
        .map(|(c, centroid)| {
            let dv = target.0.map_or(0.0, |t| (at(centroid, vi) - t).powi(2));
            let de = target.1.map_or(0.0, |t| (at(centroid, ei) - t).powi(2));
            ((dv + de).sqrt(), c)
        })
        .collect();
    ranking.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let best = ranking.first().map_or(0, |r| r.1);
    let feeling = request.feeling(&v, &e);
    let why = if request.valence.is_none() && request.energy.is_none() {
        "Your words carry no feeling we can read, so these are simply well-loved films.".to_string()
    } else {
        format!("{}, like your request.", capitalise(&feeling))
    };
    Feeling {
        text: text.to_string(),
        compound: request.compound,
        valence: request.valence,
        energy: request.energy,
        intents: request.intents,
        feeling,
        why,
        films: suggestions,
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

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map_or_else(String::new, |f| f.to_uppercase().collect::<String>() + c.as_str())
}
