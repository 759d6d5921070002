//! `moodflow generate`: deterministic synthetic raw data in the real formats.
//!
//! Writes `raw/movielens/` (MovieLens CSV: CRLF, quoted titles with commas,
//! titles without a year, a year range, `(no genres listed)`, non-ASCII),
//! `raw/netflix_prize/` (Latin-1 `movie_titles.csv` with unquoted commas and
//! `NULL` years; `combined_data_*.txt` blocks) and `raw/catalog/` (the
//! `netflix_titles.csv` layout with synopses, and `tmdb_5000_movies.csv` in
//! the Kaggle TMDB 5000 layout with overviews, taglines and keyword lists,
//! joined through `links.csv`'s tmdbId), and a Tag Genome
//! (`genome-tags.csv`, `genome-scores.csv`) for part of the films. A few
//! corrupt rows of each kind are added on purpose so the rejects path is
//! always exercised.
//!
//! Films belong to mood archetypes ([`vocab::ARCHETYPES`]) whose genres,
//! tags, title words and synopses share a tone; the pipeline should find
//! those moods again. MovieLens ratings come from latent tastes (a user's
//! taste vector against the film's, near its archetype's: see `Taste`),
//! plus quality, a user bias and noise, and a user watches more films of
//! their favourite archetype, so the recommender has something to learn.
//! The same seed gives the same bytes.

pub mod vocab;

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use moodflow_engine::rng::Rng;
use vocab::{catalog_genre, Archetype, ARCHETYPES, NEUTRAL_TAGS, NEUTRAL_TITLE_WORDS};

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct GenerateOptions {
    /// Valid MovieLens ratings to write (corrupt lines come on top).
    pub ratings: u64,
    /// Seed of the pseudo-random generator.
    pub seed: u64,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            ratings: 100_000,
            seed: 42,
        }
    }
}

/// Counts of what was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenerateSummary {
    /// Valid MovieLens movies.
    pub movies: u64,
    /// Valid MovieLens ratings.
    pub ratings: u64,
    /// Valid MovieLens tags.
    pub tags: u64,
    /// Netflix Prize titles.
    pub netflix_titles: u64,
    /// Valid Netflix Prize ratings.
    pub netflix_ratings: u64,
    /// Catalogue rows.
    pub catalog_rows: u64,
    /// Valid TMDB rows.
    pub tmdb_rows: u64,
    /// Valid genome-scores rows.
    pub genome_scores: u64,
    /// Corrupt lines written on purpose, all files together.
    pub corrupt_lines: u64,
}

/// A failure to write the generated files.
#[derive(Debug, thiserror::Error)]
#[error("generate: cannot write {path}: {source}")]
pub struct GenerateError {
    path: PathBuf,
    source: std::io::Error,
}

struct Movie {
    id: u64,
    /// Display title in natural order, without year ("The Dead Harbor").
    name: String,
    year: Option<i32>,
    genres: Vec<&'static str>,
    archetype: usize,
    quality: f64,
}

/// Writes the raw data set under `root`.
pub fn generate(root: &Path, opts: GenerateOptions) -> Result<GenerateSummary, GenerateError> {
    let mut rng = Rng::new(opts.seed);
    let mut summary = GenerateSummary::default();
    let n_movies = (opts.ratings / 50).clamp(120, 60_000);
    let movies = make_movies(&mut rng, n_movies);
    summary.movies = movies.len() as u64;

    let ml = root.join("raw/movielens");
    let nf = root.join("raw/netflix_prize");
    let cat = root.join("raw/catalog");
    for dir in [&ml, &nf, &cat] {
        fs::create_dir_all(dir).map_err(|source| GenerateError {
            path: dir.clone(),
            source,
        })?;
    }
    summary.corrupt_lines += write_movies(&ml.join("movies.csv"), &movies)?;
    let tmdb_ids = write_links(&ml.join("links.csv"), &movies, &mut rng)?;
    let (ratings, corrupt) = write_ratings(&ml.join("ratings.csv"), &movies, opts.ratings, &mut rng)?;
    summary.ratings = ratings;
    summary.corrupt_lines += corrupt;
    let (tags, corrupt) = write_tags(&ml.join("tags.csv"), &movies, (opts.ratings / 30).max(60), &mut rng)?;
    summary.tags = tags;
    summary.corrupt_lines += corrupt;
    let nf_movies = write_netflix_titles(&nf.join("movie_titles.csv"), &movies, &mut rng)?;
    summary.netflix_titles = nf_movies.len() as u64;
    let (nf_ratings, corrupt) = write_netflix_ratings(&nf, &nf_movies, opts.ratings / 2, &mut rng)?;
    summary.netflix_ratings = nf_ratings;
    summary.corrupt_lines += corrupt;
    summary.catalog_rows = write_catalog(&cat.join("netflix_titles.csv"), &movies, &mut rng)?;
    let (tmdb, corrupt) = write_tmdb(&cat.join("tmdb_5000_movies.csv"), &movies, &tmdb_ids, &mut rng)?;
    summary.tmdb_rows = tmdb;
    summary.corrupt_lines += corrupt;
    let (genome, corrupt) = write_genome(&ml, &movies, &mut rng)?;
    summary.genome_scores = genome;
    summary.corrupt_lines += corrupt;
    Ok(summary)
}

fn make_movies(rng: &mut Rng, n: u64) -> Vec<Movie> {
    let mut seen = HashSet::new();
    let mut movies = Vec::with_capacity(n as usize);
    let mut id = 0;
    for k in 0..n {
        id += 1 + u64::from(rng.chance(0.3));
        let archetype = rng.below(ARCHETYPES.len() as u64) as usize;
        let a = &ARCHETYPES[archetype];
        let year = Some(1930 + (rng.next_f64().sqrt() * 88.0) as i32);
        let mut name = make_title(rng, a);
        while !seen.insert((name.clone(), year)) {
            name = format!("{name} {}", ["II", "Returns", "Again", "Reborn"][rng.below(4) as usize]);
        }
        let mut genres = vec![a.genres[0]];
        for g in a.genres.iter().skip(1) {
            if rng.chance(0.35) {
                genres.push(g);
            }
        }
        if rng.chance(0.1) {
            genres.push(["Western", "IMAX", "Documentary", "Sci-Fi", "Comedy"][rng.below(5) as usize]);
        }
        genres.sort_unstable();
        genres.dedup();
        // A few of the quirks real MovieLens has, at fixed ranks so that even
        // the smallest sample has each of them.
        let year = if k % 97 == 5 { None } else { year };
        if k % 89 == 7 {
            genres.clear();
        }
        movies.push(Movie {
            id,
            name,
            year,
            genres,
            archetype,
            quality: a.quality + rng.normal() * 0.4,
        });
    }
    movies
}

fn make_title(rng: &mut Rng, a: &Archetype) -> String {
    let w = |rng: &mut Rng| *rng.pick(a.title_words);
    let n = |rng: &mut Rng| *rng.pick(NEUTRAL_TITLE_WORDS);
    match rng.below(6) {
        0 => format!("The {} {}", w(rng), n(rng)),
        1 => format!("{} of the {}", n(rng), w(rng)),
        2 => format!("{} {}", w(rng), n(rng)),
        3 => format!("A {} in the {}", n(rng), w(rng)),
        4 => format!("{}, {} and {}", w(rng), w(rng), n(rng)),
        _ => format!("{} & the {}", w(rng), n(rng)),
    }
}

/// MovieLens spelling: a leading article moves behind (`Dead Harbor, The`).
fn movielens_name(name: &str) -> String {
    for article in ["The ", "A "] {
        if let Some(rest) = name.strip_prefix(article) {
            return format!("{rest}, {}", article.trim_end());
        }
    }
    name.to_string()
}

/// One CSV record, without its line ending, as the csv crate writes it: a
/// field is quoted when it has a comma, a quote or a line break.
fn csv_line<S: AsRef<str>>(fields: &[S]) -> String {
    let mut w = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Necessary)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing to memory cannot fail, and the bytes are the fields' UTF-8.
    let _ = w.write_record(fields.iter().map(|f| f.as_ref()));
    let bytes = w.into_inner().unwrap_or_default();
    let text = String::from_utf8(bytes).unwrap_or_default();
    text.strip_suffix('\n').unwrap_or(&text).to_string()
}

struct Out {
    path: PathBuf,
    w: BufWriter<File>,
}

impl Out {
    fn create(path: &Path) -> Result<Self, GenerateError> {
        let f = File::create(path).map_err(|source| GenerateError {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            w: BufWriter::with_capacity(1 << 20, f),
        })
    }
    fn bytes(&mut self, b: &[u8]) -> Result<(), GenerateError> {
        self.w.write_all(b).map_err(|source| GenerateError {
            path: self.path.clone(),
            source,
        })
    }
    fn line(&mut self, s: &str, crlf: bool) -> Result<(), GenerateError> {
        self.bytes(s.as_bytes())?;
        self.bytes(if crlf { b"\r\n" } else { b"\n" })
    }
    fn finish(mut self) -> Result<(), GenerateError> {
        self.w.flush().map_err(|source| GenerateError {
            path: self.path.clone(),
            source,
        })
    }
}

fn write_movies(path: &Path, movies: &[Movie]) -> Result<u64, GenerateError> {
    let mut out = Out::create(path)?;
    out.line("movieId,title,genres", true)?;
    for (k, m) in movies.iter().enumerate() {
        let mut title = movielens_name(&m.name);
        if k % 53 == 11 {
            title = format!("{title} (a.k.a. {})", m.name.to_uppercase());
        }
        if let Some(y) = m.year {
            title = if k == 3 {
                format!("{title} ({y}–{})", y + 1)
            } else if k % 71 == 9 {
                format!("{title} ({y}) ")
            } else {
                format!("{title} ({y})")
            };
        }
        let genres = if m.genres.is_empty() {
            "(no genres listed)".to_string()
        } else {
            m.genres.join("|")
        };
        out.line(&csv_line(&[m.id.to_string(), title, genres]), true)?;
    }
    // Corrupt rows: a non-numeric id and a row without a title.
    out.line("12x,Broken Row (1999),Drama", true)?;
    let last = movies.last().map_or(0, |m| m.id);
    out.line(&format!("{},,Comedy", last + 1), true)?;
    out.finish()?;
    Ok(2)
}

/// Writes links.csv and returns each movie's TMDB id (unique; `None` for
/// the few without one, as in the real file).
fn write_links(path: &Path, movies: &[Movie], rng: &mut Rng) -> Result<Vec<Option<u64>>, GenerateError> {
    let mut out = Out::create(path)?;
    out.line("movieId,imdbId,tmdbId", true)?;
    let mut ids = Vec::with_capacity(movies.len());
    for (k, m) in movies.iter().enumerate() {
        let imdb = 100_000 + rng.below(9_000_000);
        // Unique ids: the rank spreads them, the draw makes them irregular.
        let tmdb = (!rng.chance(0.01)).then(|| 1 + k as u64 * 8 + rng.below(8));
        out.line(
            &format!("{},{imdb:07},{}", m.id, tmdb.map_or(String::new(), |t| t.to_string())),
            true,
        )?;
        ids.push(tmdb);
    }
    out.finish()?;
    Ok(ids)
}

/// A JSON list of `{"id", "name"}` objects, as TMDB writes genres and keywords.
fn json_names(names: &[&str], first_id: u64) -> String {
    let items: Vec<serde_json::Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| serde_json::json!({"id": first_id + i as u64, "name": n}))
        .collect();
    serde_json::Value::Array(items).to_string()
}

/// `tmdb_5000_movies.csv` for about half of the films (the Kaggle layout),
/// with an overview, a tagline and keywords in the film's tone, plus one row
/// whose keywords are not JSON. Returns (valid rows, corrupt rows).
fn write_tmdb(
    path: &Path,
    movies: &[Movie],
    tmdb_ids: &[Option<u64>],
    rng: &mut Rng,
) -> Result<(u64, u64), GenerateError> {
    let mut out = Out::create(path)?;
    out.line(
        "budget,genres,homepage,id,keywords,original_language,original_title,overview,popularity,\
         production_companies,production_countries,release_date,revenue,runtime,spoken_languages,status,\
         tagline,title,vote_average,vote_count",
        false,
    )?;
    let mut rows = 0u64;
    for (m, id) in movies.iter().zip(tmdb_ids) {
        let Some(id) = id else { continue };
        if !rng.chance(0.5) {
            continue;
        }
        let a = &ARCHETYPES[m.archetype];
        let mut keywords: Vec<&str> = (0..3).map(|_| *rng.pick(a.tags)).collect();
        keywords.push(*rng.pick(NEUTRAL_TAGS));
        keywords.sort_unstable();
        keywords.dedup();
        let genres: Vec<&str> = m
            .genres
            .iter()
            .map(|g| if *g == "Sci-Fi" { "Science Fiction" } else { g })
            .collect();
        let overview = format!("{} {}.", rng.pick(a.subjects), rng.pick(a.predicates));
        let tagline = format!(
            "{} {}.",
            rng.pick(a.title_words),
            rng.pick(a.predicates).split(' ').next().unwrap_or("")
        );
        let date = m.year.map_or(String::new(), |y| {
            format!("{y}-0{}-1{}", 1 + rng.below(9), rng.below(10))
        });
        let fields = [
            (1_000_000 * rng.below(100)).to_string(),
            json_names(&genres, 10),
            String::new(),
            id.to_string(),
            json_names(&keywords, 1000),
            "en".to_string(),
            m.name.clone(),
            overview,
            format!("{:.6}", rng.next_f64() * 100.0),
            "[]".to_string(),
            "[]".to_string(),
            date,
            "0".to_string(),
            (80 + rng.below(70)).to_string(),
            "[]".to_string(),
            "Released".to_string(),
            tagline,
            m.name.clone(),
            format!("{:.1}", 4.0 + rng.next_f64() * 5.0),
            rng.below(5000).to_string(),
        ];
        out.line(&csv_line(&fields), false)?;
        rows += 1;
    }
    out.line("0,[],,999999999,\"[{\"\"id\"\": 1, \"\"name\"\": \",en,Broken,,0,[],[],2000-01-01,0,90,[],Released,,Broken,5.0,1", false)?;
    out.finish()?;
    Ok((rows, 1))
}

/// A Tag Genome for about 40% of the films: every tag of every archetype
/// and the tone-free tags, with a high relevance for the film's own tone's
/// tags and a low one otherwise, plus one score that is not a number.
/// Returns (valid score rows, corrupt rows).
fn write_genome(dir: &Path, movies: &[Movie], rng: &mut Rng) -> Result<(u64, u64), GenerateError> {
    let mut tags: Vec<&str> = ARCHETYPES.iter().flat_map(|a| a.tags.iter().copied()).collect();
    tags.extend(NEUTRAL_TAGS);
    tags.sort_unstable();
    tags.dedup();
    let mut out = Out::create(&dir.join("genome-tags.csv"))?;
    out.line("tagId,tag", false)?;
    for (i, t) in tags.iter().enumerate() {
        out.line(&csv_line(&[(i + 1).to_string(), (*t).to_string()]), false)?;
    }
    out.finish()?;
    let mut out = Out::create(&dir.join("genome-scores.csv"))?;
    out.line("movieId,tagId,relevance", false)?;
    let mut rows = 0u64;
    for m in movies {
        if !rng.chance(0.4) {
            continue;
        }
        let own = ARCHETYPES[m.archetype].tags;
        for (i, t) in tags.iter().enumerate() {
            let relevance = if own.contains(t) {
                0.55 + 0.45 * rng.next_f64()
            } else {
                0.35 * rng.next_f64()
            };
            out.line(&format!("{},{},{relevance:.5}", m.id, i + 1), false)?;
            rows += 1;
        }
    }
    out.line("1,1,high", false)?;
    out.finish()?;
    Ok((rows, 1))
}

/// Dimensions of the latent taste space.
const TASTE_DIM: usize = 4;

/// Latent factors behind the MovieLens ratings, so a recommender has
/// something to learn: every archetype has a direction in a small taste
/// space, every film sits near its archetype's direction, every user has a
/// taste vector, and a rating is quality + user bias + taste · film + noise.
struct Taste {
    archetypes: Vec<[f64; TASTE_DIM]>,
    films: Vec<[f64; TASTE_DIM]>,
}

impl Taste {
    fn new(movies: &[Movie], seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let mut vector = |scale: f64| {
            let mut v = [0.0; TASTE_DIM];
            for x in &mut v {
                *x = rng.normal() * scale;
            }
            v
        };
        let archetypes: Vec<[f64; TASTE_DIM]> = (0..ARCHETYPES.len()).map(|_| vector(1.0)).collect();
        let films = movies
            .iter()
            .map(|m| {
                let noise = vector(0.35);
                let a = archetypes[m.archetype];
                std::array::from_fn(|d| a[d] + noise[d])
            })
            .collect();
        Self { archetypes, films }
    }

    fn user(&self, rng: &mut Rng) -> [f64; TASTE_DIM] {
        std::array::from_fn(|_| rng.normal() * 0.45)
    }

    /// The archetype a user's taste points at most.
    fn favourite(&self, user: &[f64; TASTE_DIM]) -> usize {
        let dot = |a: &[f64; TASTE_DIM]| a.iter().zip(user).map(|(x, y)| x * y).sum::<f64>();
        (0..self.archetypes.len())
            .max_by(|a, b| dot(&self.archetypes[*a]).total_cmp(&dot(&self.archetypes[*b])))
            .unwrap_or(0)
    }

    /// How much more (or less) than average this user likes film `i`.
    fn affinity(&self, user: &[f64; TASTE_DIM], i: usize) -> f64 {
        self.films[i].iter().zip(user).map(|(x, y)| x * y).sum()
    }
}

/// Picks a film with a popularity skew (low indices are popular).
fn popular(rng: &mut Rng, n: usize) -> usize {
    ((rng.next_f64().powf(1.8) * n as f64) as usize).min(n - 1)
}

fn half_star(x: f64) -> f64 {
    ((x * 2.0).round() / 2.0).clamp(0.5, 5.0)
}

fn write_ratings(path: &Path, movies: &[Movie], n: u64, rng: &mut Rng) -> Result<(u64, u64), GenerateError> {
    let mut out = Out::create(path)?;
    out.line("userId,movieId,rating,timestamp", true)?;
    let n_users = (n / 120).max(10);
    let mut written = 0u64;
    let mut corrupt = 0u64;
    let corrupt_every = (n / 8).clamp(1, 10_000);
    let mut picks: Vec<usize> = Vec::new();
    let taste = Taste::new(movies, rng.next_u64());
    let mut by_archetype: Vec<Vec<usize>> = vec![Vec::new(); ARCHETYPES.len()];
    for (i, m) in movies.iter().enumerate() {
        by_archetype[m.archetype].push(i);
    }
    // Users past `n_users` only appear when quotas capped at the number of
    // films leave ratings to write: the count asked for is always reached.
    let mut user = 0u64;
    while written < n {
        user += 1;
        let remaining_users = n_users.saturating_sub(user) + 1;
        let target = if remaining_users == 1 {
            n - written
        } else {
            let mean = (n - written) / remaining_users;
            (mean as f64 * (0.3 + 1.4 * rng.next_f64())) as u64
        }
        .min(movies.len() as u64);
        picks.clear();
        let user_taste = taste.user(rng);
        let favourite = taste.favourite(&user_taste);
        while (picks.len() as u64) < target {
            // People watch more of what they like: a third of a user's films
            // come from their favourite archetype (popular ones first).
            let pick = match by_archetype[favourite].as_slice() {
                own if !own.is_empty() && rng.chance(0.33) => own[popular(rng, own.len())],
                _ => popular(rng, movies.len()),
            };
            picks.push(pick);
            if picks.len() as u64 == target {
                picks.sort_unstable();
                picks.dedup();
            }
        }
        let bias = rng.normal() * 0.4;
        let start = 946_684_800 + rng.below(590_000_000);
        for &i in &picks {
            let m = &movies[i];
            let rating = half_star(m.quality + bias + taste.affinity(&user_taste, i) + rng.normal() * 0.6);
            let ts = start + rng.below(20_000_000);
            out.line(&format!("{user},{},{rating:.1},{ts}", m.id), true)?;
            written += 1;
            if written.is_multiple_of(corrupt_every) {
                let bad = match corrupt % 5 {
                    0 => format!("{user},{},7.5,{ts}", m.id),
                    1 => format!("{user},{},3.0,yesterday", m.id),
                    2 => format!("u{user},{},3.0,{ts}", m.id),
                    3 => format!("{user},999999999,4.0,{ts}"),
                    _ => format!("{user},{},4.0,-86400", m.id),
                };
                out.line(&bad, true)?;
                corrupt += 1;
            }
        }
    }
    out.finish()?;
    Ok((written, corrupt))
}

fn write_tags(path: &Path, movies: &[Movie], n: u64, rng: &mut Rng) -> Result<(u64, u64), GenerateError> {
    let mut out = Out::create(path)?;
    out.line("userId,movieId,tag,timestamp", true)?;
    let taggers = (n / 40).clamp(5, 5_000);
    let mut rows: Vec<(u64, u64, String, u64)> = Vec::with_capacity(n as usize);
    for k in 0..n {
        let m = &movies[popular(rng, movies.len())];
        let a = &ARCHETYPES[m.archetype];
        let mut tag = if rng.chance(0.75) {
            (*rng.pick(a.tags)).to_string()
        } else {
            (*rng.pick(NEUTRAL_TAGS)).to_string()
        };
        if rng.chance(0.1) {
            let mut c = tag.chars();
            tag = c.next().map_or(String::new(), |f| f.to_uppercase().chain(c).collect());
        }
        match k {
            1 => tag = "\"artsy\"".into(),
            2 => tag = "funny, but sad".into(),
            _ => {}
        }
        rows.push((
            1 + rng.below(taggers),
            m.id,
            tag,
            1_137_000_000 + rng.below(400_000_000),
        ));
    }
    rows.sort();
    for (u, m, tag, ts) in &rows {
        out.line(
            &csv_line(&[u.to_string(), m.to_string(), tag.to_string(), ts.to_string()]),
            true,
        )?;
    }
    out.line(&format!("1,{},dark,not-a-time", movies[0].id), true)?;
    out.line(&format!("1,{},,1137000000", movies[0].id), true)?;
    out.finish()?;
    Ok((rows.len() as u64, 2))
}

/// A Netflix title: its id, the film it shows (if any), its year.
struct NfMovie {
    id: u64,
    quality: f64,
}

fn latin1(s: &str) -> Vec<u8> {
    s.chars().map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')).collect()
}

fn write_netflix_titles(path: &Path, movies: &[Movie], rng: &mut Rng) -> Result<Vec<NfMovie>, GenerateError> {
    let mut out = Out::create(path)?;
    let mut nf = Vec::new();
    let mut next_id = 1;
    for m in movies {
        if rng.chance(0.55) {
            let year = match (m.year, rng.below(100)) {
                (None, _) | (_, 0..=1) => "NULL".to_string(),
                (Some(y), 2..=9) => (y + if rng.chance(0.5) { 1 } else { -1 }).to_string(),
                (Some(y), _) => y.to_string(),
            };
            out.bytes(&latin1(&format!("{next_id},{year},{}", m.name)))?;
            out.bytes(b"\n")?;
            nf.push(NfMovie {
                id: next_id,
                quality: m.quality,
            });
            next_id += 1;
        }
        if rng.chance(0.15) {
            // A title only Netflix has; some with commas and bare quotes.
            let a = &ARCHETYPES[rng.below(ARCHETYPES.len() as u64) as usize];
            let title = if next_id % 7 == 0 {
                format!("{}: The \"{}\" Cut", make_title(rng, a), rng.pick(a.title_words))
            } else {
                format!("{}, Part {}", make_title(rng, a), 1 + rng.below(3))
            };
            let line = format!("{next_id},{},{title}", 1950 + rng.below(56));
            out.bytes(&latin1(&line))?;
            out.bytes(b"\n")?;
            nf.push(NfMovie {
                id: next_id,
                quality: a.quality,
            });
            next_id += 1;
        }
    }
    out.finish()?;
    Ok(nf)
}

fn write_netflix_ratings(dir: &Path, nf: &[NfMovie], n: u64, rng: &mut Rng) -> Result<(u64, u64), GenerateError> {
    const FILES: u64 = 2;
    let per_movie = (n / nf.len().max(1) as u64).max(1);
    let mut written = 0u64;
    let mut corrupt = 0u64;
    let chunk = nf.len().div_ceil(FILES as usize).max(1);
    // A pool of customers who rate about 60 films each (the real data has
    // 480k customers for 100M ratings, ~200 each), spread over the real
    // id range.
    let customers = (n / 60).max(20);
    let stride = (2_649_424 / customers).max(1);
    for (f, block) in nf.chunks(chunk).enumerate() {
        let mut out = Out::create(&dir.join(format!("combined_data_{}.txt", f + 1)))?;
        for (k, m) in block.iter().enumerate() {
            out.line(&format!("{}:", m.id), false)?;
            let count = if written >= n {
                0
            } else {
                (per_movie as f64 * (0.2 + 1.6 * rng.next_f64())) as u64
            };
            let count = count.min(n.saturating_sub(written));
            for _ in 0..count {
                let customer = 6 + rng.below(customers) * stride;
                let rating = ((m.quality + rng.normal() * 0.9).round() as i64).clamp(1, 5);
                let day = rng.below(2_245);
                out.line(&format!("{customer},{rating},{}", date_from_day(day)), false)?;
                written += 1;
            }
            if k == 1 {
                out.line("abc,3,2005-01-01", false)?;
                out.line("1234,6,2005-02-03", false)?;
                corrupt += 2;
            }
        }
        out.finish()?;
    }
    Ok((written, corrupt))
}

/// `YYYY-MM-DD` for a day counted from 1999-11-11, the start of the
/// Netflix Prize data.
fn date_from_day(day: u64) -> String {
    const DAYS: [u64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let (mut y, mut m, mut d) = (1999u64, 11usize, 11 + day);
    loop {
        let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
        let len = DAYS[m - 1] + u64::from(m == 2 && leap);
        if d <= len {
            return format!("{y}-{m:02}-{d:02}");
        }
        d -= len;
        m += 1;
        if m == 13 {
            m = 1;
            y += 1;
        }
    }
}

fn write_catalog(path: &Path, movies: &[Movie], rng: &mut Rng) -> Result<u64, GenerateError> {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let mut out = Out::create(path)?;
    out.line(
        "show_id,type,title,director,cast,country,date_added,release_year,rating,duration,listed_in,description",
        true,
    )?;
    let mut rows = 0u64;
    for m in movies {
        if !rng.chance(0.45) {
            continue;
        }
        let Some(year) = m.year else { continue };
        let a = &ARCHETYPES[m.archetype];
        let mut listed: Vec<&str> = m.genres.iter().map(|g| catalog_genre(g)).collect();
        listed.dedup();
        if listed.is_empty() {
            listed.push("Dramas");
        }
        let mut description = format!("{} {}.", rng.pick(a.subjects), rng.pick(a.predicates));
        if rows == 4 {
            // One synopsis with a line break inside its quoted field.
            description = description.replacen(' ', "\r\n", 1);
        }
        let added = format!(
            "{}{} {}, {}",
            if rows % 9 == 3 { " " } else { "" },
            MONTHS[rng.below(12) as usize],
            1 + rng.below(28),
            2015 + rng.below(7)
        );
        rows += 1;
        let fields = [
            format!("s{rows}"),
            "Movie".to_string(),
            m.name.clone(),
            String::new(),
            String::new(),
            "United States".to_string(),
            added,
            year.to_string(),
            "PG-13".to_string(),
            format!("{} min", 80 + rng.below(70)),
            listed.join(", "),
            description,
        ];
        out.line(&csv_line(&fields), true)?;
    }
    // A TV show, which the pipeline must not match to a film.
    rows += 1;
    out.line(
        &format!(
            "s{rows},TV Show,The Happy Harbor,,,,\"March 1, 2020\",2019,TV-PG,2 Seasons,\"Kids' TV\",A happy show."
        ),
        true,
    )?;
    out.finish()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(date_from_day(0), "1999-11-11");
        assert_eq!(date_from_day(20), "1999-12-01");
        assert_eq!(date_from_day(110), "2000-02-29");
    }

    #[test]
    fn same_seed_same_bytes_and_counts() {
        let a = tempfile::tempdir().expect("tmp");
        let b = tempfile::tempdir().expect("tmp");
        let opts = GenerateOptions {
            ratings: 3_000,
            seed: 7,
        };
        let sa = generate(a.path(), opts).expect("gen");
        let sb = generate(b.path(), opts).expect("gen");
        assert_eq!(sa, sb);
        assert_eq!(sa.ratings, 3_000);
        for f in [
            "raw/movielens/ratings.csv",
            "raw/netflix_prize/movie_titles.csv",
            "raw/catalog/netflix_titles.csv",
        ] {
            assert_eq!(
                fs::read(a.path().join(f)).expect("read"),
                fs::read(b.path().join(f)).expect("read"),
                "{f}"
            );
        }
        let ratings = fs::read_to_string(a.path().join("raw/movielens/ratings.csv")).expect("read");
        // Header + valid + corrupt lines, all CRLF.
        assert_eq!(ratings.lines().count() as u64, 1 + sa.ratings + 8);
        assert!(ratings.split('\n').filter(|l| !l.is_empty()).all(|l| l.ends_with('\r')));
        let movies = fs::read_to_string(a.path().join("raw/movielens/movies.csv")).expect("read");
        assert!(movies.contains("(no genres listed)"));
        assert!(movies.contains(", The ("), "article moved behind, quoted");
    }
}
