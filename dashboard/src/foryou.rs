//! Personal recommendations in the Mood Explorer, from stage 12's model:
//! "For you" for a user of the ratings, the new-user path (rate a dozen
//! films, get a list at once by folding the ratings into the trained film
//! factors: no retraining, no account), and the films watched together
//! with a film on its page. The film factors are held in the snapshot; a
//! user's factors and ratings are read per request.

use std::collections::HashMap;

use serde::Serialize;

use crate::api::find_mood;
use crate::error::Problem;
use crate::snapshot::{MoodEntry, Snapshot};
use moodflow_engine::{local_context, session_config};
use moodflow_ml::recommender::model::{user_id, Factors, Vectors};
use moodflow_pipeline::recommender::{load_users, ratings_of, reason, recommend_for, Users};

/// Films offered to a newcomer.
pub const ONBOARDING_FILMS: usize = 12;
/// Most ratings a newcomer's request may carry.
pub const MAX_RATINGS: usize = 200;
/// Most films in one list.
pub const MAX_LIMIT: i64 = 100;
/// Fewest training ratings a film needs to be shown as "watched together".
const TOGETHER_MIN_RATINGS: u64 = 5;

/// One recommended film.
#[derive(Debug, Clone, Serialize)]
pub struct PersonalItem {
    /// 1-based.
    pub rank: usize,
    /// MovieLens id.
    #[serde(rename = "movieId")]
    pub id: i64,
    /// Title.
    pub title: String,
    /// Its mood's label.
    pub mood: String,
    /// Its mood's URL name.
    pub mood_slug: String,
    /// Its cluster.
    pub cluster: usize,
    /// Ranking score (higher first).
    pub score: f64,
    /// Predicted rating, 0.5..5.
    pub predicted: f64,
    /// "because you liked …", empty when nothing they liked is close.
    pub reason: String,
}

/// A personal list.
#[derive(Debug, Clone, Serialize)]
pub struct PersonalList {
    /// The namespaced user id; `None` for a newcomer.
    pub user: Option<String>,
    /// The mood the list is limited to.
    pub mood: Option<String>,
    /// Ratings the list is based on.
    pub rated: usize,
    /// Best first.
    pub items: Vec<PersonalItem>,
}

fn factors(s: &Snapshot) -> Result<&Factors, Problem> {
    s.recommender.as_deref().ok_or_else(|| {
        Problem::NoData(format!(
            "no recommender at {}: stage 12 has not run on this root (`moodflow run` or `moodflow train-recommender`)",
            s.root.join(moodflow_pipeline::recommender::MODEL_DIR)
        ))
    })
}

/// The mood a `mood` parameter names (its URL name), if any.
pub fn mood_param<'a>(s: &'a Snapshot, mood: Option<&str>) -> Result<Option<&'a MoodEntry>, Problem> {
    mood.map(|m| find_mood(s, m)).transpose()
}

fn list(
    s: &Snapshot,
    f: &Factors,
    user: Option<String>,
    vectors: &Vectors,
    rated: &[(i64, f64)],
    mood: Option<&MoodEntry>,
    limit: usize,
) -> PersonalList {
    let films: HashMap<i64, (String, String)> = s
        .movies
        .iter()
        .map(|m| (m.id, (m.title.clone(), s.mood_of(m.cluster).mood.label.clone())))
        .collect();
    let label = mood.map(|m| m.mood.label.clone());
    let items = recommend_for(f, &films, vectors, rated, label.as_deref(), limit)
        .into_iter()
        .filter_map(|r| {
            let m = s.movie(r.movie_id)?;
            let entry = s.mood_of(m.cluster);
            Some(PersonalItem {
                rank: r.rank,
                id: r.movie_id,
                title: r.title.clone(),
                mood: entry.mood.label.clone(),
                mood_slug: entry.slug.clone(),
                cluster: m.cluster,
                score: (r.score * 1e4).round() / 1e4,
                predicted: (r.predicted * 100.0).round() / 100.0,
                reason: reason(&r.because),
            })
        })
        .collect();
    PersonalList {
        user,
        mood: label,
        rated: rated.len(),
        items,
    }
}

/// "For you": the list of a user of the trained ratings (`12` means
/// `ml:12`), never a film they rated.
pub async fn for_user(
    s: &Snapshot,
    raw: &str,
    mood: Option<&MoodEntry>,
    limit: usize,
) -> Result<PersonalList, Problem> {
    let f = factors(s)?;
    let id = user_id(raw);
    if id.chars().count() > 64 || id.chars().any(char::is_control) {
        return Err(Problem::param(
            "user",
            "is not a user id (like 12, ml:12 or nf:1488844)",
        ));
    }
    let read = async {
        let ctx = local_context(session_config(&[])?)?;
        let ids = std::slice::from_ref(&id);
        let users = load_users(&ctx, &s.root, f.info.params.rank, Users::Some(ids)).await?;
        let rated = ratings_of(&ctx, &s.root, &f.info, ids).await?;
        Ok::<_, datafusion::error::DataFusionError>((users, rated))
    };
    let (users, mut rated) = read
        .await
        .map_err(|e| Problem::NoData(format!("cannot read the recommender's tables: {e}")))?;
    let Some((_, vectors)) = users.into_iter().next() else {
        return Err(Problem::NotFound(format!(
            "no user {id} in the trained ratings (try the new-user page, /new)"
        )));
    };
    let rated = rated.remove(&id).unwrap_or_default();
    Ok(list(s, f, Some(id), &vectors, &rated, mood, limit))
}

/// A newcomer's list from their ratings (movie id, stars 0.5..5).
pub fn for_new_user(
    s: &Snapshot,
    ratings: &[(i64, f64)],
    mood: Option<&MoodEntry>,
    limit: usize,
) -> Result<PersonalList, Problem> {
    let f = factors(s)?;
    if ratings.is_empty() {
        return Err(Problem::param("ratings", "rate at least one film"));
    }
    if ratings.len() > MAX_RATINGS {
        return Err(Problem::param("ratings", format!("more than {MAX_RATINGS} ratings")));
    }
    for (id, r) in ratings {
        if s.movie(*id).is_none() {
            return Err(Problem::param("ratings", format!("no film with movieId {id}")));
        }
        if !(0.5..=5.0).contains(r) || (r * 2.0).fract() != 0.0 {
            return Err(Problem::param(
                "ratings",
                format!("movieId {id}: {r} is not a rating of 0.5 to 5 stars in half stars"),
            ));
        }
    }
    let vectors = f.fold_in(ratings).ok_or_else(|| {
        Problem::param(
            "ratings",
            "none of the rated films is known to the recommender; rate films from the list offered",
        )
    })?;
    Ok(list(s, f, None, &vectors, ratings, mood, limit))
}

/// A film offered to a newcomer.
#[derive(Debug, Clone, Serialize)]
pub struct OnboardingFilm {
    /// MovieLens id.
    #[serde(rename = "movieId")]
    pub id: i64,
    /// Title.
    pub title: String,
    /// Mood label.
    pub mood: String,
    /// Cluster.
    pub cluster: usize,
}

/// Twelve well-known films spread over the moods: each mood's most-rated
/// films with factors, taken in turn.
pub fn onboarding(s: &Snapshot) -> Vec<OnboardingFilm> {
    let Some(f) = s.recommender.as_deref() else {
        return Vec::new();
    };
    let mut per_mood: Vec<Vec<usize>> = s
        .moods
        .iter()
        .map(|e| {
            let mut v: Vec<usize> = e
                .ranked
                .iter()
                .copied()
                .filter(|i| f.item(s.movies[*i].id).is_some())
                .collect();
            v.sort_by(|a, b| {
                let (a, b) = (&s.movies[*a], &s.movies[*b]);
                b.rating_count.cmp(&a.rating_count).then(a.id.cmp(&b.id))
            });
            v.reverse();
            v
        })
        .collect();
    let mut out = Vec::new();
    while out.len() < ONBOARDING_FILMS && per_mood.iter().any(|v| !v.is_empty()) {
        for v in &mut per_mood {
            if out.len() == ONBOARDING_FILMS {
                break;
            }
            if let Some(i) = v.pop() {
                let m = &s.movies[i];
                out.push(OnboardingFilm {
                    id: m.id,
                    title: m.title.clone(),
                    mood: s.mood_of(m.cluster).mood.label.clone(),
                    cluster: m.cluster,
                });
            }
        }
    }
    out
}

/// A film watched with another.
#[derive(Debug, Clone, Serialize)]
pub struct Together {
    /// MovieLens id.
    #[serde(rename = "movieId")]
    pub id: i64,
    /// Title.
    pub title: String,
    /// Mood label.
    pub mood: String,
    /// Mood URL name.
    pub mood_slug: String,
    /// Cosine similarity of the two films' implicit factors.
    pub similarity: f64,
}

/// The films people who watched `id` watched too (from the factors), most
/// similar first; empty without a recommender.
pub fn watched_together(s: &Snapshot, id: i64, n: usize) -> Vec<Together> {
    let Some(f) = s.recommender.as_deref() else {
        return Vec::new();
    };
    f.similar(id, TOGETHER_MIN_RATINGS, n * 2)
        .into_iter()
        .filter_map(|(other, sim)| {
            let m = s.movie(other)?;
            let e = s.mood_of(m.cluster);
            Some(Together {
                id: other,
                title: m.title.clone(),
                mood: e.mood.label.clone(),
                mood_slug: e.slug.clone(),
                similarity: (sim * 1e4).round() / 1e4,
            })
        })
        .take(n)
        .collect()
}
