//! The HTML views. Each renders the same data its API endpoint serves;
//! forms use GET, so every view works without JavaScript and every state
//! has a URL that can be bookmarked or shared.

use std::fmt::Write;

use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

use crate::api::{check_text, find_mood, find_movie};
use crate::error::{PageError, Problem};
use crate::feel::feel;
use crate::html::{esc, group, page, url_part, utc};
use crate::params::{Params, PlaylistFilter};
use crate::snapshot::Snapshot;
use crate::state::AppState;
use crate::svg;
use crate::views::{self, MoodSummary, Playlist};

type PageResult = Result<Html<String>, PageError>;

fn fmt_opt_f(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v:.digits$}"))
}

fn fmt_year(y: Option<i32>) -> String {
    y.map_or_else(|| "–".to_string(), |y| y.to_string())
}

fn mood_link(label: &str, slug: &str) -> String {
    format!("<a href=\"/moods/{}\">{}</a>", url_part(slug), esc(label))
}

fn movie_link(id: i64, title: &str) -> String {
    format!("<a href=\"/movies/{id}\">{}</a>", esc(title))
}

fn mood_card(m: &MoodSummary) -> String {
    let examples: Vec<String> = m.examples.iter().map(|e| movie_link(e.id, &e.title)).collect();
    format!(
        "<li class=\"card\"><h2><span class=\"swatch\" style=\"background:{c}\" aria-hidden=\"true\"></span>{link}</h2>\
         <p><span class=\"tone\">{tone}</span> <span class=\"muted\">sentiment {s:+.2} · {n} movies</span></p>\
         <p>Characteristic genres: {g}</p><p class=\"muted\">For example: {ex}</p></li>",
        c = svg::colour(m.cluster),
        link = mood_link(&m.label, &m.slug),
        tone = esc(&m.tone),
        s = m.sentiment,
        n = group(m.size),
        g = if m.genres.is_empty() {
            "none stands out".to_string()
        } else {
            esc(&m.genres.join(", "))
        },
        ex = if examples.is_empty() {
            "–".to_string()
        } else {
            examples.join(", ")
        },
    )
}

fn feel_form(text: &str) -> String {
    format!(
        "<form class=\"feel filters\" action=\"/feel\" method=\"get\" role=\"search\">\
         <label for=\"feel-text\">How do you feel? Tell us in a sentence\
         <textarea id=\"feel-text\" name=\"text\" rows=\"2\" cols=\"60\" maxlength=\"2000\" required>{}</textarea></label>\
         <button type=\"submit\">Suggest a mood</button></form>",
        esc(text)
    )
}

/// What the pages show when the pipeline has not run yet.
fn empty_state(state: &AppState, why: &str) -> String {
    let root = state.settings().root.to_string();
    format!(
        "<h1>Nothing to show yet</h1><div class=\"empty\"><p>{}</p>\
         <p>Run the pipeline on this root, then reload this page (the dashboard picks up a new run by itself):</p>\
         <pre><code>moodflow run --root {}</code></pre>\
         <p>On an empty root <code>moodflow run</code> first generates a sample data set, so this works anywhere.</p></div>",
        esc(why),
        esc(&root)
    )
}

/// `GET /`: the moods overview.
pub async fn home(State(state): State<AppState>, RawQuery(q): RawQuery) -> PageResult {
    Params::parse(q.as_deref(), &[])?;
    let s = match state.snapshot() {
        Ok(s) => s,
        Err(Problem::NoData(why)) => return Ok(Html(page("Moods", "/", &empty_state(&state, &why)))),
        Err(p) => return Err(p.into()),
    };
    let mut body = format!(
        "<h1>Moods</h1><p class=\"muted\">{} movies in {} moods, found by k-means (k = {}) over sentiment, \
         release year, genres and ratings.</p>{}<ul class=\"cards\">",
        group(s.movies.len() as u64),
        s.moods.len(),
        s.model.k,
        feel_form("")
    );
    for m in views::moods(&s) {
        body.push_str(&mood_card(&m));
    }
    body.push_str("</ul>");
    Ok(Html(page("Moods", "/", &body)))
}

fn playlist_form(s: &Snapshot, p: &Playlist, slug: &str) -> String {
    let f = &p.filters;
    let mut genres = String::from("<option value=\"\">any genre</option>");
    for g in &p.genre_counts {
        let sel = if f.genre.as_ref() == Some(&g.genre) {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            genres,
            "<option value=\"{v}\"{sel}>{v} ({n})</option>",
            v = esc(&g.genre),
            n = g.count
        );
    }
    // A selected genre with no movie under the other filters stays selectable.
    if let Some(g) = &f.genre {
        if !p.genre_counts.iter().any(|c| &c.genre == g) && s.genres.contains(g) {
            let _ = write!(genres, "<option value=\"{v}\" selected>{v} (0)</option>", v = esc(g));
        }
    }
    let num = |v: Option<i32>| v.map(|v| v.to_string()).unwrap_or_default();
    format!(
        "<form class=\"filters\" action=\"/moods/{slug}\" method=\"get\" aria-label=\"Filter the playlist\">\
         <label for=\"f-genre\">Genre<select id=\"f-genre\" name=\"genre\">{genres}</select></label>\
         <label for=\"f-ymin\">From year<input id=\"f-ymin\" name=\"year_min\" type=\"number\" min=\"1800\" max=\"2200\" value=\"{ymin}\"></label>\
         <label for=\"f-ymax\">To year<input id=\"f-ymax\" name=\"year_max\" type=\"number\" min=\"1800\" max=\"2200\" value=\"{ymax}\"></label>\
         <label for=\"f-min\">At least ratings<input id=\"f-min\" name=\"min_ratings\" type=\"number\" min=\"0\" value=\"{minr}\"></label>\
         <label for=\"f-q\">Title contains<input id=\"f-q\" name=\"q\" type=\"search\" maxlength=\"200\" value=\"{q}\"></label>\
         <label for=\"f-limit\">Top<input id=\"f-limit\" name=\"limit\" type=\"number\" min=\"1\" max=\"1000\" value=\"{limit}\"></label>\
         <button type=\"submit\">Apply</button> <a href=\"/moods/{slug}\">Reset</a></form>",
        slug = url_part(slug),
        ymin = num(f.year_min),
        ymax = num(f.year_max),
        minr = f.min_ratings,
        q = esc(f.q.as_deref().unwrap_or("")),
        limit = f.limit,
    )
}

/// `GET /moods/{mood}`: a mood's playlist with its filters.
pub async fn mood(State(state): State<AppState>, Path(name): Path<String>, RawQuery(q): RawQuery) -> PageResult {
    let s = state.snapshot()?;
    let entry = find_mood(&s, &name)?;
    let filter = PlaylistFilter::parse(&Params::parse(q.as_deref(), PlaylistFilter::NAMES)?, &s.genres)?;
    let p = views::playlist(&s, entry, &filter);
    let mut body = format!(
        "<h1><span class=\"swatch\" style=\"background:{c}\" aria-hidden=\"true\"></span>{label}</h1>\
         <p><span class=\"tone\">{tone}</span> <span class=\"muted\">sentiment {sent:+.2} · {n} movies · \
         characteristic genres: {g}</span></p>{form}",
        c = svg::colour(entry.mood.cluster),
        label = esc(&entry.mood.label),
        tone = esc(&entry.mood.tone),
        sent = entry.mood.sentiment,
        n = group(entry.mood.size),
        g = esc(&entry.mood.genres.join(", ")),
        form = playlist_form(&s, &p, &entry.slug),
    );
    let qs = filter.query_string();
    let csv_href = if qs.is_empty() {
        format!("/moods/{}/playlist.csv", url_part(&entry.slug))
    } else {
        format!("/moods/{}/playlist.csv?{}", url_part(&entry.slug), esc(&qs))
    };
    if p.items.is_empty() {
        body.push_str(
            "<p class=\"empty\">No movie of this mood matches these filters. Try fewer ratings or a wider year range.</p>",
        );
    } else {
        let _ = write!(
            body,
            "<table><caption>Top {shown} of {matching} matching movies, by damped mean rating \
             · <a href=\"{csv_href}\" download>Download CSV</a></caption>\
             <thead><tr><th scope=\"col\" class=\"num\">#</th><th scope=\"col\">Title</th><th scope=\"col\">Genres</th>\
             <th scope=\"col\" class=\"num\">Mean rating</th><th scope=\"col\" class=\"num\">Ratings</th>\
             <th scope=\"col\" class=\"num\">Score</th><th scope=\"col\" class=\"num\">Sentiment</th></tr></thead><tbody>",
            shown = p.items.len(),
            matching = group(p.matching as u64),
        );
        for it in &p.items {
            let _ = write!(
                body,
                "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{:.3}</td><td class=\"num\">{:+.3}</td></tr>",
                it.rank,
                movie_link(it.id, &it.title),
                esc(&it.genres.join(", ")),
                fmt_opt_f(it.rating_mean, 2),
                group(it.rating_count),
                it.score,
                it.compound
            );
        }
        body.push_str("</tbody></table>");
    }
    Ok(Html(page(&entry.mood.label, "/", &body)))
}

/// `GET /moods/{mood}/playlist.csv`: the filtered playlist as a download.
pub async fn playlist_csv(
    State(state): State<AppState>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, PageError> {
    let s = state.snapshot()?;
    let entry = find_mood(&s, &name)?;
    let filter = PlaylistFilter::parse(&Params::parse(q.as_deref(), PlaylistFilter::NAMES)?, &s.genres)?;
    let p = views::playlist(&s, entry, &filter);
    let csv = views::playlist_csv(&p).map_err(|e| Problem::BadBody(e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}-playlist.csv\"", entry.slug),
            ),
        ],
        csv,
    )
        .into_response())
}

/// `GET /movies/{movieId}`
pub async fn movie(State(state): State<AppState>, Path(raw): Path<String>, RawQuery(q): RawQuery) -> PageResult {
    Params::parse(q.as_deref(), &[])?;
    let s = state.snapshot()?;
    let m = find_movie(&s, &raw)?;
    let d = views::movie_detail(&s, m);
    let mut body = format!(
        "<h1>{title}</h1><dl class=\"facts\"><dt>Year</dt><dd>{year}</dd><dt>Genres</dt><dd>{genres}</dd>\
         <dt>Mood</dt><dd><span class=\"swatch\" style=\"background:{c}\" aria-hidden=\"true\"></span>{mood} \
         <span class=\"muted\">(distance to its centre {dist:.2})</span></dd>\
         <dt>Sentiment (VADER)</dt><dd>compound {comp:+.4} · positive {pos:.3} · neutral {neu:.3} · negative {neg:.3}\
         <span class=\"muted\"> (mean over title, tags and synopsis; whole text at once: {doc})</span></dd>\
         <dt>Playlist score</dt><dd>{score:.3}</dd></dl>",
        title = esc(&d.title),
        year = fmt_year(d.year),
        genres = if d.genres.is_empty() {
            "none listed".to_string()
        } else {
            esc(&d.genres.join(", "))
        },
        c = svg::colour(d.mood.cluster),
        mood = mood_link(&d.mood.label, &d.mood.slug),
        dist = d.distance,
        comp = d.sentiment.compound,
        pos = d.sentiment.pos,
        neu = d.sentiment.neu,
        neg = d.sentiment.neg,
        doc = fmt_opt_f(d.sentiment.doc_compound, 4),
        score = d.score,
    );
    if let Some(desc) = &d.description {
        let _ = write!(body, "<h2>Synopsis</h2><p>{}</p>", esc(desc));
    }
    body.push_str("<h2>Tags</h2>");
    if d.tags.is_empty() {
        body.push_str("<p class=\"muted\">No tags.</p>");
    } else {
        body.push_str("<ul class=\"tags\">");
        for t in &d.tags {
            let _ = write!(body, "<li>{}</li>", esc(t));
        }
        body.push_str("</ul>");
    }
    body.push_str("<h2>Ratings</h2>");
    if d.ratings.is_empty() {
        body.push_str("<p class=\"muted\">No ratings.</p>");
    }
    for (i, r) in d.ratings.iter().enumerate() {
        let _ = write!(
            body,
            "<figure><figcaption>{src}: {n} ratings, mean {mean:.2}</figcaption>{chart}</figure>",
            src = esc(&r.source),
            n = group(r.count),
            mean = r.mean,
            chart = svg::stars(&format!("stars{i}"), &r.source, &r.stars),
        );
    }
    body.push_str(
        "<h2>Nearest movies</h2><table><caption>The 10 movies closest in feature space</caption>\
         <thead><tr><th scope=\"col\">Title</th><th scope=\"col\">Mood</th><th scope=\"col\" class=\"num\">Distance</th></tr></thead><tbody>",
    );
    for n in views::similar(&s, m, 10) {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{:.3}</td></tr>",
            movie_link(n.id, &n.title),
            mood_link(&n.mood.label, &n.mood.slug),
            n.distance
        );
    }
    body.push_str("</tbody></table>");
    Ok(Html(page(&d.title, "", &body)))
}

/// `GET /charts`: the scatter of the clusters and the histograms.
pub async fn charts(State(state): State<AppState>, RawQuery(q): RawQuery) -> PageResult {
    Params::parse(q.as_deref(), &[])?;
    let s = state.snapshot()?;
    let labels: Vec<String> = s.moods.iter().map(|m| m.mood.label.clone()).collect();
    let legend: Vec<(String, String)> = s.moods.iter().map(|m| (m.mood.label.clone(), m.slug.clone())).collect();
    let h = views::histograms(&s);
    let body = format!(
        "<h1>Charts</h1><figure><figcaption>The movies on the first two principal components of their features, \
         coloured by mood; hover a point for its title, select it to open the movie.</figcaption>{scatter}{legend}</figure>\
         <div class=\"grid2\"><figure><figcaption>Movies by sentiment (VADER compound)</figcaption>{sent}</figure>\
         <figure><figcaption>Movies by release decade ({ny} without a year)</figcaption>{years}</figure></div>",
        scatter = svg::scatter(&views::points(&s), &labels),
        legend = svg::legend(&legend),
        sent = svg::bars(
            "sentiment",
            "Histogram of movies by VADER compound",
            &h.sentiment,
            |b| format!("{:+.1} to {:+.1}", b.lo, b.hi),
            "VADER compound"
        ),
        ny = h.no_year,
        years = svg::bars(
            "years",
            "Histogram of movies by release decade",
            &h.release_year,
            |b| format!("{}s", b.lo),
            "release decade"
        ),
    );
    Ok(Html(page("Charts", "/charts", &body)))
}

/// `GET /feel?text=`: free text scored and a mood suggested.
pub async fn feel_page(State(state): State<AppState>, RawQuery(q): RawQuery) -> PageResult {
    let params = Params::parse(q.as_deref(), &["text"])?;
    let text = params.text("text", crate::api::MAX_TEXT_CHARS)?;
    let Some(text) = text else {
        let body = format!(
            "<h1>How do you feel?</h1><p>Say it in your own words (\"a rainy Sunday, I want something cosy and funny\"); \
             VADER scores it and the nearest mood is suggested.</p>{}",
            feel_form("")
        );
        return Ok(Html(page("How do you feel?", "/feel", &body)));
    };
    check_text(&text)?;
    let s = state.snapshot()?;
    let f = feel(&s, &text);
    let mut body = format!(
        "<h1>How do you feel?</h1>{form}<h2>You sound {tone}</h2>\
         <p>VADER compound {c:+.4} (positive {p:.3}, neutral {n:.3}, negative {g:.3}){genres}.</p>\
         <p>Try the mood <strong>{mood}</strong>:</p><ul>",
        form = feel_form(&text),
        tone = esc(&moodflow_ml::kmeans::model::tone(f.compound).to_lowercase()),
        c = f.compound,
        p = f.pos,
        n = f.neu,
        g = f.neg,
        genres = if f.genres.is_empty() {
            String::new()
        } else {
            format!("; you mention {}", esc(&f.genres.join(", ")))
        },
        mood = mood_link(&f.mood.label, &f.mood.slug),
    );
    for e in &f.mood.examples {
        let _ = write!(body, "<li>{}</li>", movie_link(e.id, &e.title));
    }
    body.push_str("</ul><h2>Every mood, nearest first</h2><ol>");
    for c in &f.ranking {
        let _ = write!(
            body,
            "<li>{} <span class=\"muted\">(distance {:.2})</span></li>",
            mood_link(&c.label, &c.slug),
            c.distance
        );
    }
    body.push_str("</ol>");
    Ok(Html(page("How do you feel?", "/feel", &body)))
}

/// `GET /search?q=`: movies by title.
pub async fn search(State(state): State<AppState>, RawQuery(q): RawQuery) -> PageResult {
    let params = Params::parse(q.as_deref(), &["q"])?;
    let words = params.words("q", 200)?;
    let s = state.snapshot()?;
    let mut body = format!(
        "<h1>Search</h1><form class=\"filters\" action=\"/search\" method=\"get\" role=\"search\">\
         <label for=\"s-q\">Title contains<input id=\"s-q\" name=\"q\" type=\"search\" maxlength=\"200\" value=\"{}\" required></label>\
         <button type=\"submit\">Search</button></form>",
        esc(words.as_deref().unwrap_or(""))
    );
    if let Some(words) = words {
        let (total, hits) = views::search(&s, &words, 100);
        let _ = write!(
            body,
            "<table><caption>{} movies match (most rated first)</caption><thead><tr><th scope=\"col\">Title</th>\
             <th scope=\"col\">Mood</th><th scope=\"col\" class=\"num\">Ratings</th></tr></thead><tbody>",
            group(total as u64)
        );
        for h in hits {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
                movie_link(h.id, &h.title),
                mood_link(&h.mood.label, &h.mood.slug),
                group(h.rating_count)
            );
        }
        body.push_str("</tbody></table>");
    }
    Ok(Html(page("Search", "/search", &body)))
}

/// `GET /status`: the pipeline's tables and the model search.
pub async fn status(State(state): State<AppState>, RawQuery(q): RawQuery) -> PageResult {
    Params::parse(q.as_deref(), &[])?;
    let s = state.snapshot()?;
    let st = views::status(&s, state.reload_error());
    let mut body = format!(
        "<h1>Pipeline status</h1><p>Root <code>{root}</code> · model trained {trained} · {movies} movies clustered \
         · {jobs} Ballista jobs in training</p>",
        root = esc(&st.root),
        trained = utc(st.trained_at),
        movies = group(st.movies as u64),
        jobs = st.kmeans_jobs,
    );
    if let Some(e) = &st.reload_error {
        let _ = write!(body, "<p class=\"problem\" role=\"alert\">{}</p>", esc(e));
    }
    body.push_str(
        "<table><caption>Tables</caption><thead><tr><th scope=\"col\">Table</th><th scope=\"col\">Stage</th>\
         <th scope=\"col\" class=\"num\">Rows</th><th scope=\"col\" class=\"num\">Rejected</th>\
         <th scope=\"col\">Last written</th></tr></thead><tbody>",
    );
    for t in &st.tables {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            esc(&t.table),
            esc(&t.stage),
            t.rows.map_or_else(|| "not written".to_string(), group),
            t.rejects.map_or_else(|| "–".to_string(), group),
            t.written_at.map_or_else(|| "–".to_string(), utc)
        );
    }
    body.push_str("</tbody></table>");
    match &st.bridge {
        Some(b) => {
            let _ = write!(
                body,
                "<p>Title bridge: {} of {} Netflix titles matched to MovieLens ({:.1}%).</p>",
                group(b.bridged),
                group(b.titles),
                b.match_rate * 100.0
            );
        }
        None => body.push_str("<p class=\"muted\">Title bridge: stages 07-08 have not run on this root.</p>"),
    }
    body.push_str(
        "<table><caption>k-means: every k tried (best silhouette chosen)</caption><thead><tr>\
         <th scope=\"col\" class=\"num\">k</th><th scope=\"col\" class=\"num\">Silhouette</th>\
         <th scope=\"col\" class=\"num\">Cost</th><th scope=\"col\" class=\"num\">Iterations</th>\
         <th scope=\"col\">Converged</th><th scope=\"col\">Cluster sizes</th></tr></thead><tbody>",
    );
    for r in &st.per_k {
        let _ = write!(
            body,
            "<tr{sel}><td class=\"num\">{k}{mark}</td><td class=\"num\">{s:.4}</td><td class=\"num\">{c:.1}</td>\
             <td class=\"num\">{i}</td><td>{conv}</td><td>{sizes}</td></tr>",
            sel = if r.chosen { " aria-current=\"true\"" } else { "" },
            k = r.k,
            mark = if r.chosen { " (chosen)" } else { "" },
            s = r.silhouette,
            c = r.cost,
            i = r.iterations,
            conv = if r.converged { "yes" } else { "no" },
            sizes = r.sizes.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
        );
    }
    body.push_str("</tbody></table>");
    Ok(Html(page("Pipeline status", "/status", &body)))
}

/// Any other path.
pub async fn not_found() -> PageError {
    PageError(Problem::NotFound("There is no page at this address.".to_string()))
}
