//! Query-string parsing with errors that name the parameter. Empty values
//! count as absent (an HTML form sends every field); unknown or repeated
//! parameters are refused rather than ignored, so a typo is never silently
//! a different query.

use std::collections::HashMap;

use crate::error::Problem;

/// The parameters of one request.
#[derive(Debug, Default)]
pub struct Params {
    values: HashMap<String, String>,
}

impl Params {
    /// Parses `raw` and checks every name against `allowed`.
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Self, Problem> {
        let mut values = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            if !allowed.contains(&k.as_ref()) {
                let expected = if allowed.is_empty() {
                    "this endpoint takes no parameters".to_string()
                } else {
                    format!("expected one of {}", allowed.join(", "))
                };
                return Err(Problem::param(&k, format!("unknown parameter ({expected})")));
            }
            if values.insert(k.to_string(), v.trim().to_string()).is_some() {
                return Err(Problem::param(&k, "given more than once"));
            }
        }
        values.retain(|_, v| !v.is_empty());
        Ok(Self { values })
    }

    /// A text value.
    pub fn text(&self, name: &str, max_chars: usize) -> Result<Option<String>, Problem> {
        match self.values.get(name) {
            None => Ok(None),
            Some(v) if v.chars().count() > max_chars => {
                Err(Problem::param(name, format!("longer than {max_chars} characters")))
            }
            Some(v) => Ok(Some(v.clone())),
        }
    }

    /// Title words to search for: a text whose normalised form (the
    /// pipeline's `normalize_text`) keeps at least one letter or digit.
    /// Text that normalises to nothing (`!!!`, bytes that are not UTF-8)
    /// would match every movie, so it is refused like an empty query.
    pub fn words(&self, name: &str, max_chars: usize) -> Result<Option<String>, Problem> {
        let Some(v) = self.text(name, max_chars)? else {
            return Ok(None);
        };
        if v.contains('\u{FFFD}') {
            return Err(Problem::param(name, "is not valid UTF-8"));
        }
        if moodflow_udfs::text::normalize_text(&v).trim().is_empty() {
            return Err(Problem::param(name, "has no letter or digit to search for"));
        }
        Ok(Some(v))
    }

    /// An integer in `min..=max`.
    pub fn int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, Problem> {
        let Some(v) = self.values.get(name) else {
            return Ok(None);
        };
        let n: i64 = v
            .parse()
            .map_err(|_| Problem::param(name, format!("'{v}' is not an integer")))?;
        if !(min..=max).contains(&n) {
            return Err(Problem::param(name, format!("{n} is outside {min}..={max}")));
        }
        Ok(Some(n))
    }
}

/// The filters of a mood's playlist.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PlaylistFilter {
    /// Only movies with this genre.
    pub genre: Option<String>,
    /// Released in or after.
    pub year_min: Option<i32>,
    /// Released in or before.
    pub year_max: Option<i32>,
    /// At least this many ratings (stage 06's `playlist_min_ratings`).
    pub min_ratings: u64,
    /// Title contains these words (case, accents and punctuation ignored).
    pub q: Option<String>,
    /// Top-N.
    pub limit: usize,
}

impl PlaylistFilter {
    /// The parameters the playlist endpoints take.
    pub const NAMES: &'static [&'static str] = &["genre", "year_min", "year_max", "min_ratings", "q", "limit"];
    /// Stage 06's default minimum number of ratings.
    pub const DEFAULT_MIN_RATINGS: u64 = 10;
    /// Stage 06's default playlist size.
    pub const DEFAULT_LIMIT: usize = 20;
    /// The largest Top-N.
    pub const MAX_LIMIT: usize = 1000;

    /// Reads and checks the filters; `genres` are the catalogue's genres.
    pub fn parse(params: &Params, genres: &[String]) -> Result<Self, Problem> {
        let genre = params.text("genre", 40)?;
        if let Some(g) = &genre {
            if !genres.contains(g) {
                return Err(Problem::param(
                    "genre",
                    format!("'{g}' is not a genre of this catalogue ({})", genres.join(", ")),
                ));
            }
        }
        let year = |name| params.int(name, 1800, 2200).map(|y| y.map(|y| y as i32));
        let year_min = year("year_min")?;
        let year_max = year("year_max")?;
        if let (Some(a), Some(b)) = (year_min, year_max) {
            if a > b {
                return Err(Problem::param("year_min", format!("{a} is after year_max {b}")));
            }
        }
        let min_ratings = params
            .int("min_ratings", 0, 1_000_000_000)?
            .map_or(Self::DEFAULT_MIN_RATINGS, |n| n as u64);
        let limit = params
            .int("limit", 1, Self::MAX_LIMIT as i64)?
            .map_or(Self::DEFAULT_LIMIT, |n| n as usize);
        let q = params.words("q", 200)?;
        Ok(Self {
            genre,
            year_min,
            year_max,
            min_ratings,
            q,
            limit,
        })
    }

    /// The filters as a query string (for links and the CSV export).
    pub fn query_string(&self) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        if let Some(g) = &self.genre {
            out.append_pair("genre", g);
        }
        if let Some(y) = self.year_min {
            out.append_pair("year_min", &y.to_string());
        }
        if let Some(y) = self.year_max {
            out.append_pair("year_max", &y.to_string());
        }
        if self.min_ratings != Self::DEFAULT_MIN_RATINGS {
            out.append_pair("min_ratings", &self.min_ratings.to_string());
        }
        if let Some(q) = &self.q {
            out.append_pair("q", q);
        }
        if self.limit != Self::DEFAULT_LIMIT {
            out.append_pair("limit", &self.limit.to_string());
        }
        out.finish()
    }
}

/// Parses a movie id path segment.
pub fn movie_id(raw: &str) -> Result<i64, Problem> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| Problem::param("movieId", format!("'{raw}' is not a positive integer")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn genres() -> Vec<String> {
        vec!["Comedy".into(), "Drama".into()]
    }

    #[test]
    fn defaults_and_empty_fields() {
        let p = Params::parse(Some("genre=&year_min=&q="), PlaylistFilter::NAMES).expect("valid");
        let f = PlaylistFilter::parse(&p, &genres()).expect("valid");
        assert_eq!(f.min_ratings, 10);
        assert_eq!(f.limit, 20);
        assert_eq!(f.genre, None);
        assert_eq!(f.query_string(), "");
    }

    #[test]
    fn errors_name_the_parameter() {
        let bad = |q: &str| {
            let p = Params::parse(Some(q), PlaylistFilter::NAMES);
            match p.and_then(|p| PlaylistFilter::parse(&p, &genres())) {
                Err(Problem::BadParam { param, .. }) => param,
                other => panic!("{q}: {other:?}"),
            }
        };
        assert_eq!(bad("year_min=abc"), "year_min");
        assert_eq!(bad("limit=0"), "limit");
        assert_eq!(bad("limit=100000"), "limit");
        assert_eq!(bad("genre=Western"), "genre");
        assert_eq!(bad("colour=red"), "colour");
        assert_eq!(bad("q=a&q=b"), "q");
        assert_eq!(bad("q=%21%21%21"), "q", "punctuation alone matches everything");
        assert_eq!(bad("q=%ff%fe"), "q", "not UTF-8");
        assert_eq!(bad("year_min=2001&year_max=1999"), "year_min");
        assert_eq!(bad("min_ratings=-1"), "min_ratings");
    }

    #[test]
    fn round_trips_through_the_query_string() {
        let q = "genre=Drama&year_min=1990&year_max=2000&min_ratings=3&q=love+story&limit=5";
        let f = PlaylistFilter::parse(
            &Params::parse(Some(q), PlaylistFilter::NAMES).expect("valid"),
            &genres(),
        )
        .expect("valid");
        assert_eq!(f.query_string(), q);
    }

    #[test]
    fn movie_ids() {
        assert_eq!(movie_id("42"), Ok(42));
        assert!(movie_id("abc").is_err());
        assert!(movie_id("0").is_err());
    }
}
