//! What each view shows, computed from a snapshot: plain data with serde,
//! served as JSON by [`crate::api`] and rendered as HTML by
//! [`crate::pages`], so the two can never disagree.

use moodflow_engine::kmeans::math::squared_distance;
use serde::Serialize;

use crate::params::PlaylistFilter;
use crate::snapshot::{BridgeStatus, MoodEntry, Movie, Snapshot, SourceStats, TableStatus};

/// A mood as the overview lists it.
#[derive(Debug, Clone, Serialize)]
pub struct MoodSummary {
    /// Cluster number.
    pub cluster: usize,
    /// Label.
    pub label: String,
    /// URL name.
    pub slug: String,
    /// The feeling of its centre ("Dark & Tense").
    pub tone: String,
    /// The centre's valence (-1 dark .. +1 light).
    pub valence: f64,
    /// The centre's energy (-1 calm .. +1 intense).
    pub energy: f64,
    /// Characteristic genres.
    pub genres: Vec<String>,
    /// Movies in the mood.
    pub size: u64,
    /// The top of its default playlist.
    pub examples: Vec<MovieRef>,
}

/// A movie in a list.
#[derive(Debug, Clone, Serialize)]
pub struct MovieRef {
    /// MovieLens id.
    #[serde(rename = "movieId")]
    pub id: i64,
    /// Title with year.
    pub title: String,
    /// Release year.
    pub year: Option<i32>,
}

impl MovieRef {
    fn of(m: &Movie) -> Self {
        Self {
            id: m.id,
            title: m.title.clone(),
            year: m.year,
        }
    }
}

/// Every mood, in cluster order.
pub fn moods(s: &Snapshot) -> Vec<MoodSummary> {
    s.moods.iter().map(|e| mood_summary(s, e)).collect()
}

/// One mood.
pub fn mood_summary(s: &Snapshot, e: &MoodEntry) -> MoodSummary {
    let default = PlaylistFilter {
        genre: None,
        year_min: None,
        year_max: None,
        min_ratings: PlaylistFilter::DEFAULT_MIN_RATINGS,
        q: None,
        limit: 3,
    };
    let mut examples: Vec<MovieRef> = filtered(s, e, &default).take(3).map(MovieRef::of).collect();
    if examples.is_empty() {
        // A small catalogue may have no movie with enough ratings.
        examples = e.ranked.iter().take(3).map(|&i| MovieRef::of(&s.movies[i])).collect();
    }
    MoodSummary {
        cluster: e.mood.cluster,
        label: e.mood.label.clone(),
        slug: e.slug.clone(),
        tone: e.mood.tone.clone(),
        valence: e.mood.valence,
        energy: e.mood.energy,
        genres: e.mood.genres.clone(),
        size: e.mood.size,
        examples,
    }
}

/// Whether every word of `q` (normalised as the pipeline normalises text)
/// occurs in the movie's normalised title.
pub fn title_matches(m: &Movie, q: &str) -> bool {
    let q = moodflow_udfs::text::normalize_text(q);
    q.split(' ').filter(|w| !w.is_empty()).all(|w| m.search_key.contains(w))
}

fn passes(m: &Movie, f: &PlaylistFilter, check_genre: bool) -> bool {
    (!check_genre || f.genre.as_ref().is_none_or(|g| m.genres.contains(g)))
        && f.year_min.is_none_or(|y| m.year.is_some_and(|my| my >= y))
        && f.year_max.is_none_or(|y| m.year.is_some_and(|my| my <= y))
        && m.rating_count >= f.min_ratings
        && f.q.as_ref().is_none_or(|q| title_matches(m, q))
}

fn filtered<'a>(s: &'a Snapshot, e: &'a MoodEntry, f: &'a PlaylistFilter) -> impl Iterator<Item = &'a Movie> + 'a {
    e.ranked
        .iter()
        .map(|&i| &s.movies[i])
        .filter(move |m| passes(m, f, true))
}

/// One playlist row.
#[derive(Debug, Clone, Serialize)]
pub struct PlaylistItem {
    /// 1-based position in the filtered playlist.
    pub rank: usize,
    /// MovieLens id.
    #[serde(rename = "movieId")]
    pub id: i64,
    /// Title with year.
    pub title: String,
    /// Release year.
    pub year: Option<i32>,
    /// Genres.
    pub genres: Vec<String>,
    /// Mean rating.
    pub rating_mean: Option<f64>,
    /// Number of ratings.
    pub rating_count: u64,
    /// Damped mean rating (the ranking score).
    pub score: f64,
    /// VADER compound.
    pub compound: f64,
}

/// How many of the mood's movies (passing the other filters) have a genre.
#[derive(Debug, Clone, Serialize)]
pub struct GenreCount {
    /// Genre.
    pub genre: String,
    /// Movies.
    pub count: usize,
}

/// A mood's playlist.
#[derive(Debug, Clone, Serialize)]
pub struct Playlist {
    /// The mood.
    pub mood: MoodSummary,
    /// The filters as applied.
    pub filters: PlaylistFilter,
    /// Movies matching the filters (before Top-N).
    pub matching: usize,
    /// Genre counts under the other filters, most common first.
    pub genre_counts: Vec<GenreCount>,
    /// The Top-N.
    pub items: Vec<PlaylistItem>,
}

/// The playlist of a mood under a filter.
pub fn playlist(s: &Snapshot, e: &MoodEntry, f: &PlaylistFilter) -> Playlist {
    let mut counts: Vec<GenreCount> = s
        .genres
        .iter()
        .map(|g| GenreCount {
            genre: g.clone(),
            count: 0,
        })
        .collect();
    for &i in &e.ranked {
        let m = &s.movies[i];
        if passes(m, f, false) {
            for g in &m.genres {
                if let Some(c) = counts.iter_mut().find(|c| &c.genre == g) {
                    c.count += 1;
                }
            }
        }
    }
    counts.retain(|c| c.count > 0);
    counts.sort_by(|a, b| b.count.cmp(&a.count).then(a.genre.cmp(&b.genre)));
    let all: Vec<&Movie> = filtered(s, e, f).collect();
    let items = all
        .iter()
        .take(f.limit)
        .enumerate()
        .map(|(i, m)| PlaylistItem {
            rank: i + 1,
            id: m.id,
            title: m.title.clone(),
            year: m.year,
            genres: m.genres.clone(),
            rating_mean: m.rating_mean,
            rating_count: m.rating_count,
            score: m.score,
            compound: m.compound,
        })
        .collect();
    Playlist {
        mood: mood_summary(s, e),
        filters: f.clone(),
        matching: all.len(),
        genre_counts: counts,
        items,
    }
}

/// A playlist as CSV.
pub fn playlist_csv(p: &Playlist) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "rank",
        "movieId",
        "title",
        "year",
        "genres",
        "rating_mean",
        "rating_count",
        "score",
        "compound",
        "mood",
    ])?;
    for it in &p.items {
        w.write_record([
            it.rank.to_string(),
            it.id.to_string(),
            it.title.clone(),
            it.year.map(|y| y.to_string()).unwrap_or_default(),
            it.genres.join("|"),
            it.rating_mean.map(|r| format!("{r:.4}")).unwrap_or_default(),
            it.rating_count.to_string(),
            format!("{:.6}", it.score),
            format!("{:.4}", it.compound),
            p.mood.label.clone(),
        ])?;
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// A movie's mood, briefly.
#[derive(Debug, Clone, Serialize)]
pub struct MoodRef {
    /// Cluster number.
    pub cluster: usize,
    /// Label.
    pub label: String,
    /// URL name.
    pub slug: String,
    /// Tone.
    pub tone: String,
}

impl MoodRef {
    fn of(e: &MoodEntry) -> Self {
        Self {
            cluster: e.mood.cluster,
            label: e.mood.label.clone(),
            slug: e.slug.clone(),
            tone: e.mood.tone.clone(),
        }
    }
}

/// VADER's scores of a movie.
#[derive(Debug, Clone, Serialize)]
pub struct Sentiment {
    /// Mean compound over the text segments (the feature).
    pub compound: f64,
    /// Mean positive proportion.
    pub pos: f64,
    /// Mean neutral proportion.
    pub neu: f64,
    /// Mean negative proportion.
    pub neg: f64,
    /// Compound of the whole document at once.
    pub doc_compound: Option<f64>,
}

/// A film's place in the mood space, in numbers and in words.
#[derive(Debug, Clone, Serialize)]
pub struct PositionView {
    /// -1 dark .. +1 light.
    pub valence: f64,
    /// -1 calm .. +1 intense.
    pub energy: f64,
    /// Share of the valence from the film's own texts (0..1).
    pub confidence: f64,
    /// "dark, calm", as the mood labels say it.
    pub words: String,
    /// "sure", "fairly sure", "a guess".
    pub confidence_words: String,
    /// Where the tone came from: genome, tag, synopsis, overview...
    pub source: String,
}

/// How sure a confidence is, in words.
pub fn confidence_words(c: f64) -> &'static str {
    if c >= 0.75 {
        "sure: its own texts say so"
    } else if c >= 0.5 {
        "fairly sure"
    } else if c >= 0.25 {
        "unsure: little text, mostly its genres and neighbours"
    } else {
        "a guess from its genres and rating neighbours"
    }
}

/// A film's position in words, against the catalogue's spread.
pub fn position_view(s: &Snapshot, m: &Movie) -> PositionView {
    let (v, e) = (s.model.axis("valence").1, s.model.axis("energy").1);
    let p = &m.position;
    let valence =
        ["dark", "neither dark nor light", "light"][(moodflow_ml::moods::valence_side(p.valence, &v) + 1) as usize];
    let energy =
        ["calm", "neither calm nor intense", "intense"][(moodflow_ml::moods::energy_side(p.energy, &e) + 1) as usize];
    PositionView {
        valence: p.valence,
        energy: p.energy,
        confidence: p.confidence,
        words: format!("{valence}, {energy}"),
        confidence_words: confidence_words(p.confidence).to_string(),
        source: source_words(&p.source).to_string(),
    }
}

/// A stage 03 `tone_source` as a reader says it.
pub fn source_words(source: &str) -> &str {
    match source {
        "genome" => "the Tag Genome's mood tags",
        "tag" => "what people tagged it",
        "synopsis" => "the catalogue synopsis",
        "overview" => "its TMDB overview",
        "tagline" => "its tagline",
        "keyword" => "its TMDB keywords",
        "title" => "its title",
        "prior" => "the prior: its genres and the films its fans like",
        other => other,
    }
}

/// Ratings of one source.
#[derive(Debug, Clone, Serialize)]
pub struct SourceView {
    /// Source.
    pub source: String,
    /// Ratings.
    pub count: u64,
    /// Mean rating.
    pub mean: f64,
    /// Ratings per half star, 0.5 to 5.
    pub stars: Vec<u64>,
}

impl SourceView {
    fn of(s: &SourceStats) -> Self {
        Self {
            source: s.source.clone(),
            count: s.count,
            mean: s.mean,
            stars: s.stars.to_vec(),
        }
    }
}

/// Everything about one movie.
#[derive(Debug, Clone, Serialize)]
pub struct MovieDetail {
    /// MovieLens id.
    #[serde(rename = "movieId")]
    pub id: i64,
    /// Title with year.
    pub title: String,
    /// Title without year.
    pub title_clean: String,
    /// Release year.
    pub year: Option<i32>,
    /// Genres.
    pub genres: Vec<String>,
    /// Its mood.
    pub mood: MoodRef,
    /// Distance to the mood's centroid (standardised units).
    pub distance: f64,
    /// VADER scores.
    pub sentiment: Sentiment,
    /// Its place in the mood space, in numbers and words.
    pub position: PositionView,
    /// Tags, most used first.
    pub tags: Vec<String>,
    /// Catalogue synopsis.
    pub description: Option<String>,
    /// Ratings per source.
    pub ratings: Vec<SourceView>,
    /// Damped mean rating.
    pub score: f64,
    /// Plot coordinates.
    pub x: f64,
    /// Plot coordinates.
    pub y: f64,
}

/// A movie's page data.
pub fn movie_detail(s: &Snapshot, m: &Movie) -> MovieDetail {
    MovieDetail {
        id: m.id,
        title: m.title.clone(),
        title_clean: m.title_clean.clone(),
        year: m.year,
        genres: m.genres.clone(),
        mood: MoodRef::of(s.mood_of(m.cluster)),
        distance: m.distance,
        sentiment: Sentiment {
            compound: m.compound,
            pos: m.pos,
            neu: m.neu,
            neg: m.neg,
            doc_compound: m.doc_compound,
        },
        position: position_view(s, m),
        tags: m.tags.clone(),
        description: m.description.clone(),
        ratings: m.sources.iter().map(SourceView::of).collect(),
        score: m.score,
        x: m.x,
        y: m.y,
    }
}

/// A neighbour in feature space.
#[derive(Debug, Clone, Serialize)]
pub struct Neighbour {
    /// MovieLens id.
    #[serde(rename = "movieId")]
    pub id: i64,
    /// Title with year.
    pub title: String,
    /// Its mood.
    pub mood: MoodRef,
    /// Euclidean distance between the standardised feature vectors.
    pub distance: f64,
}

/// The `n` movies nearest to `m` in the standardised feature space (ties:
/// lower id first), `m` itself excluded.
pub fn similar(s: &Snapshot, m: &Movie, n: usize) -> Vec<Neighbour> {
    let mut all: Vec<(f64, usize)> = s
        .movies
        .iter()
        .enumerate()
        .filter(|(_, o)| o.id != m.id)
        .map(|(i, o)| (squared_distance(&m.features, &o.features), i))
        .collect();
    let n = n.min(all.len());
    if n == 0 {
        return Vec::new();
    }
    let by = |a: &(f64, usize), b: &(f64, usize)| a.0.total_cmp(&b.0).then(s.movies[a.1].id.cmp(&s.movies[b.1].id));
    all.select_nth_unstable_by(n - 1, by);
    all.truncate(n);
    all.sort_by(by);
    all.into_iter()
        .map(|(d, i)| {
            let o = &s.movies[i];
            Neighbour {
                id: o.id,
                title: o.title.clone(),
                mood: MoodRef::of(s.mood_of(o.cluster)),
                distance: d.sqrt(),
            }
        })
        .collect()
}

/// A title search result.
#[derive(Debug, Clone, Serialize)]
pub struct SearchHit {
    /// MovieLens id.
    #[serde(rename = "movieId")]
    pub id: i64,
    /// Title with year.
    pub title: String,
    /// Its mood.
    pub mood: MoodRef,
    /// Ratings.
    pub rating_count: u64,
}

/// Movies whose title has every word of `q`, most rated first.
pub fn search(s: &Snapshot, q: &str, limit: usize) -> (usize, Vec<SearchHit>) {
    let mut hits: Vec<&Movie> = s.movies.iter().filter(|m| title_matches(m, q)).collect();
    hits.sort_by(|a, b| b.rating_count.cmp(&a.rating_count).then(a.id.cmp(&b.id)));
    let total = hits.len();
    let hits = hits
        .into_iter()
        .take(limit)
        .map(|m| SearchHit {
            id: m.id,
            title: m.title.clone(),
            mood: MoodRef::of(s.mood_of(m.cluster)),
            rating_count: m.rating_count,
        })
        .collect();
    (total, hits)
}

/// One point of the scatter.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// MovieLens id.
    #[serde(rename = "movieId")]
    pub id: i64,
    /// Title with year.
    pub title: String,
    /// Cluster.
    pub cluster: usize,
    /// First principal component.
    pub x: f64,
    /// Second principal component.
    pub y: f64,
}

/// Every movie's plot point.
pub fn points(s: &Snapshot) -> Vec<Point> {
    s.movies
        .iter()
        .map(|m| Point {
            id: m.id,
            title: m.title.clone(),
            cluster: m.cluster,
            x: m.x,
            y: m.y,
        })
        .collect()
}

/// One bar of a histogram: `[lo, hi)` (the last bar includes `hi`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Bin {
    /// Lower edge.
    pub lo: f64,
    /// Upper edge.
    pub hi: f64,
    /// Movies.
    pub count: u64,
}

/// `values` in `bins` equal bins over `lo..=hi`.
pub fn histogram(values: impl Iterator<Item = f64>, lo: f64, hi: f64, bins: usize) -> Vec<Bin> {
    let width = (hi - lo) / bins as f64;
    let mut out: Vec<Bin> = (0..bins)
        .map(|i| Bin {
            lo: lo + width * i as f64,
            hi: lo + width * (i + 1) as f64,
            count: 0,
        })
        .collect();
    for v in values {
        if (lo..=hi).contains(&v) {
            let i = (((v - lo) / width) as usize).min(bins - 1);
            out[i].count += 1;
        }
    }
    out
}

/// The histograms of the charts page.
#[derive(Debug, Clone, Serialize)]
pub struct Histograms {
    /// Movies by VADER compound, 20 bins over -1..1.
    pub valence: Vec<Bin>,
    /// Movies by release year, by decade.
    pub release_year: Vec<Bin>,
    /// Movies without a release year.
    pub no_year: u64,
}

/// Sentiment and release-year histograms.
pub fn histograms(s: &Snapshot) -> Histograms {
    let years: Vec<i32> = s.movies.iter().filter_map(|m| m.year).collect();
    let first = years.iter().min().map_or(1900, |y| y.div_euclid(10) * 10);
    let last = years.iter().max().map_or(2020, |y| y.div_euclid(10) * 10 + 10);
    let decades = usize::try_from((last - first) / 10).unwrap_or(1).max(1);
    Histograms {
        valence: histogram(s.movies.iter().map(|m| m.position.valence), -1.0, 1.0, 20),
        release_year: histogram(
            years.iter().map(|&y| f64::from(y)),
            f64::from(first),
            f64::from(last) - 1e-9,
            decades,
        )
        .into_iter()
        .map(|b| Bin {
            lo: b.lo.round(),
            hi: b.hi.round(),
            count: b.count,
        })
        .collect(),
        no_year: s.movies.iter().filter(|m| m.year.is_none()).count() as u64,
    }
}

/// One k of the model search.
#[derive(Debug, Clone, Serialize)]
pub struct KRow {
    /// Clusters.
    pub k: usize,
    /// Silhouette.
    pub silhouette: f64,
    /// Cost.
    pub cost: f64,
    /// Lloyd's steps.
    pub iterations: usize,
    /// Converged within the tolerance.
    pub converged: bool,
    /// Cluster sizes.
    pub sizes: Vec<u64>,
    /// The chosen k.
    pub chosen: bool,
}

/// A table's row in the status.
#[derive(Debug, Clone, Serialize)]
pub struct TableRow {
    /// Table.
    pub table: String,
    /// Stage that writes it.
    pub stage: String,
    /// Rows; null when absent.
    pub rows: Option<u64>,
    /// Rejected rows; null when the stage keeps no rejects.
    pub rejects: Option<u64>,
    /// When the stage last wrote it (seconds since the epoch).
    pub written_at: Option<u64>,
}

impl TableRow {
    fn of(t: &TableStatus) -> Self {
        Self {
            table: t.name.clone(),
            stage: t.stage.clone(),
            rows: t.rows,
            rejects: t.rejects,
            written_at: t.written_at,
        }
    }
}

/// The title bridge's coverage.
#[derive(Debug, Clone, Serialize)]
pub struct BridgeView {
    /// Netflix titles bridged.
    pub bridged: u64,
    /// Netflix titles.
    pub titles: u64,
    /// bridged / titles.
    pub match_rate: f64,
}

impl BridgeView {
    fn of(b: &BridgeStatus) -> Self {
        Self {
            bridged: b.bridged,
            titles: b.titles,
            match_rate: if b.titles > 0 {
                b.bridged as f64 / b.titles as f64
            } else {
                0.0
            },
        }
    }
}

/// The pipeline status.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Storage root.
    pub root: String,
    /// Chosen k.
    pub k: usize,
    /// Movies clustered.
    pub movies: usize,
    /// When the model was trained.
    pub trained_at: u64,
    /// Ballista jobs of the training.
    pub kmeans_jobs: usize,
    /// Every k tried.
    pub per_k: Vec<KRow>,
    /// Every table.
    pub tables: Vec<TableRow>,
    /// The bridge, when stages 07-08 ran.
    pub bridge: Option<BridgeView>,
    /// Why the last reload failed, if it did.
    pub reload_error: Option<String>,
}

/// The status of a snapshot.
pub fn status(s: &Snapshot, reload_error: Option<String>) -> Status {
    Status {
        root: s.root.to_string(),
        k: s.model.k,
        movies: s.movies.len(),
        trained_at: s.model.trained_at,
        kmeans_jobs: s.model.jobs,
        per_k: s
            .model
            .per_k
            .iter()
            .map(|r| KRow {
                k: r.k,
                silhouette: r.silhouette,
                cost: r.cost,
                iterations: r.iterations,
                converged: r.converged,
                sizes: r.sizes.clone(),
                chosen: r.k == s.model.k,
            })
            .collect(),
        tables: s.tables.iter().map(TableRow::of).collect(),
        bridge: s.bridge.as_ref().map(BridgeView::of),
        reload_error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_edges() {
        let h = histogram([-1.0, -0.95, 0.0, 0.999, 1.0, 1.5].into_iter(), -1.0, 1.0, 4);
        let counts: Vec<u64> = h.iter().map(|b| b.count).collect();
        assert_eq!(counts, vec![2, 0, 1, 2]);
        assert_eq!(h[3].hi, 1.0);
    }
}
