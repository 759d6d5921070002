//! The HTML views, as maud templates (every value is escaped by
//! construction; the SVG charts come from [`crate::svg`], maud too).
//! Each renders the same data its API endpoint serves; forms use GET, so
//! every view works without JavaScript and every state has a URL that can
//! be bookmarked or shared.

use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup};

use crate::api::{check_text, find_mood, find_movie};
use crate::error::{PageError, Problem};
use crate::feel::feel;
use crate::foryou::PersonalList;
use crate::html::{group, page, url_part, utc};
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

fn mood_link(label: &str, slug: &str) -> Markup {
    html! { a href={ "/moods/" (url_part(slug)) } { (label) } }
}

fn movie_link(id: i64, title: &str) -> Markup {
    html! { a href={ "/movies/" (id) } { (title) } }
}

fn swatch(cluster: usize) -> Markup {
    html! { span.swatch style={ "background:" (svg::colour(cluster)) } aria-hidden="true" {} }
}

/// A signed number, or "any" when the request says nothing on that axis.
fn fmt_opt_signed(v: Option<f64>) -> String {
    v.map_or_else(|| "any".to_string(), |v| format!("{v:+.2}"))
}

/// Links separated by commas, or a dash when there is none.
fn link_list(links: Vec<Markup>) -> Markup {
    html! {
        @if links.is_empty() { "–" }
        @for (i, l) in links.into_iter().enumerate() { @if i > 0 { ", " } (l) }
    }
}

fn mood_card(m: &MoodSummary) -> Markup {
    html! {
        li.card {
            h2 { (swatch(m.cluster)) (mood_link(&m.label, &m.slug)) }
            p { span.tone { (m.tone) } " " span.muted { "valence " (format!("{:+.2}", m.valence)) " · energy " (format!("{:+.2}", m.energy)) " · " (group(m.size)) " movies" } }
            p { "Characteristic genres: " @if m.genres.is_empty() { "none stands out" } @else { (m.genres.join(", ")) } }
            p.muted { "For example: " (link_list(m.examples.iter().map(|e| movie_link(e.id, &e.title)).collect())) }
        }
    }
}

fn feel_form(text: &str) -> Markup {
    html! {
        form.feel.filters action="/feel" method="get" role="search" {
            label for="feel-text" {
                "How do you feel? Tell us in a sentence"
                textarea #feel-text name="text" rows="2" cols="60" maxlength="2000" required { (text) }
            }
            button type="submit" { "Suggest a mood" }
        }
    }
}

/// What the pages show when the pipeline has not run yet.
fn empty_state(state: &AppState, why: &str) -> Markup {
    let root = state.settings().root.to_string();
    html! {
        h1 { "Nothing to show yet" }
        div.empty {
            p { (why) }
            p { "Run the pipeline on this root, then reload this page (the dashboard picks up a new run by itself):" }
            pre { code { "moodflow run --root " (root) } }
            p { "On an empty root " code { "moodflow run" } " first generates a sample data set, so this works anywhere." }
        }
    }
}

/// `GET /`: the moods overview.
pub async fn home(State(state): State<AppState>, RawQuery(q): RawQuery) -> PageResult {
    Params::parse(q.as_deref(), &[])?;
    let s = match state.snapshot() {
        Ok(s) => s,
        Err(Problem::NoData(why)) => return Ok(Html(page("Moods", "/", empty_state(&state, &why)))),
        Err(p) => return Err(p.into()),
    };
    let body = html! {
        h1 { "Moods" }
        p.muted {
            (group(s.movies.len() as u64)) " movies in " (s.moods.len()) " moods, found by k-means (k = "
            (s.model.k) ") over how they feel (valence: dark to light; energy: calm to intense) first and their genres second."
        }
        (feel_form(""))
        ul.cards { @for m in views::moods(&s) { (mood_card(&m)) } }
    };
    Ok(Html(page("Moods", "/", body)))
}

fn playlist_form(s: &Snapshot, p: &Playlist, slug: &str) -> Markup {
    let f = &p.filters;
    let num = |v: Option<i32>| v.map(|v| v.to_string()).unwrap_or_default();
    // A selected genre with no movie under the other filters stays selectable.
    let orphan = f
        .genre
        .as_ref()
        .filter(|g| !p.genre_counts.iter().any(|c| &c.genre == *g) && s.genres.contains(g));
    let action = format!("/moods/{}", url_part(slug));
    html! {
        form.filters action=(action) method="get" aria-label="Filter the playlist" {
            label for="f-genre" { "Genre"
                select #f-genre name="genre" {
                    option value="" { "any genre" }
                    @for g in &p.genre_counts {
                        option value=(g.genre) selected[f.genre.as_ref() == Some(&g.genre)] { (g.genre) " (" (g.count) ")" }
                    }
                    @if let Some(g) = orphan { option value=(g) selected { (g) " (0)" } }
                }
            }
            label for="f-ymin" { "From year" input #f-ymin name="year_min" type="number" min="1800" max="2200" value=(num(f.year_min)); }
            label for="f-ymax" { "To year" input #f-ymax name="year_max" type="number" min="1800" max="2200" value=(num(f.year_max)); }
            label for="f-min" { "At least ratings" input #f-min name="min_ratings" type="number" min="0" value=(f.min_ratings); }
            label for="f-q" { "Title contains" input #f-q name="q" type="search" maxlength="200" value=(f.q.as_deref().unwrap_or("")); }
            label for="f-limit" { "Top" input #f-limit name="limit" type="number" min="1" max="1000" value=(f.limit); }
            button type="submit" { "Apply" } " " a href=(action) { "Reset" }
        }
    }
}

/// `GET /moods/{mood}`: a mood's playlist with its filters.
pub async fn mood(State(state): State<AppState>, Path(name): Path<String>, RawQuery(q): RawQuery) -> PageResult {
    let s = state.snapshot()?;
    let entry = find_mood(&s, &name)?;
    let filter = PlaylistFilter::parse(&Params::parse(q.as_deref(), PlaylistFilter::NAMES)?, &s.genres)?;
    let p = views::playlist(&s, entry, &filter);
    let qs = filter.query_string();
    let csv_href = if qs.is_empty() {
        format!("/moods/{}/playlist.csv", url_part(&entry.slug))
    } else {
        format!("/moods/{}/playlist.csv?{qs}", url_part(&entry.slug))
    };
    let m = &entry.mood;
    let body = html! {
        h1 { (swatch(m.cluster)) (m.label) }
        p { span.tone { (m.tone) } " " span.muted {
            "valence " (format!("{:+.2}", m.valence)) " · energy " (format!("{:+.2}", m.energy)) " · " (group(m.size)) " movies · characteristic genres: " (m.genres.join(", "))
        } }
        (playlist_form(&s, &p, &entry.slug))
        @if p.items.is_empty() {
            p.empty { "No movie of this mood matches these filters. Try fewer ratings or a wider year range." }
        } @else {
            table {
                caption {
                    "Top " (p.items.len()) " of " (group(p.matching as u64)) " matching movies, by damped mean rating · "
                    a href=(csv_href) download { "Download CSV" }
                }
                thead { tr {
                    th.num scope="col" { "#" } th scope="col" { "Title" } th scope="col" { "Genres" }
                    th.num scope="col" { "Mean rating" } th.num scope="col" { "Ratings" }
                    th.num scope="col" { "Score" } th.num scope="col" { "Sentiment" }
                } }
                tbody { @for it in &p.items { tr {
                    td.num { (it.rank) } td { (movie_link(it.id, &it.title)) } td { (it.genres.join(", ")) }
                    td.num { (fmt_opt_f(it.rating_mean, 2)) } td.num { (group(it.rating_count)) }
                    td.num { (format!("{:.3}", it.score)) } td.num { (format!("{:+.3}", it.compound)) }
                } } }
            }
        }
    };
    Ok(Html(page(&m.label, "/", body)))
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
    let sent = &d.sentiment;
    let body = html! {
        h1 { (d.title) }
        dl.facts {
            dt { "Year" } dd { (fmt_year(d.year)) }
            dt { "Genres" } dd { @if d.genres.is_empty() { "none listed" } @else { (d.genres.join(", ")) } }
            dt { "Mood" } dd {
                (swatch(d.mood.cluster)) (mood_link(&d.mood.label, &d.mood.slug)) " "
                span.muted { "(distance to its centre " (format!("{:.2}", d.distance)) ")" }
            }
            dt { "Feels" } dd.position {
                strong { (d.position.words) } " · valence " (format!("{:+.2}", d.position.valence))
                " · energy " (format!("{:+.2}", d.position.energy))
            }
            dt { "How sure" } dd { (format!("{:.0}%", 100.0 * d.position.confidence)) ", " (d.position.confidence_words) }
            dt { "Tone from" } dd { (d.position.source) }
            dt { "Sentiment (VADER)" } dd {
                "compound " (format!("{:+.4}", sent.compound)) " · positive " (format!("{:.3}", sent.pos))
                " · neutral " (format!("{:.3}", sent.neu)) " · negative " (format!("{:.3}", sent.neg))
                span.muted { " (mean over title, tags and synopsis; whole text at once: " (fmt_opt_f(sent.doc_compound, 4)) ")" }
            }
            dt { "Playlist score" } dd { (format!("{:.3}", d.score)) }
        }
        @if let Some(desc) = &d.description { h2 { "Synopsis" } p { (desc) } }
        h2 { "Tags" }
        @if d.tags.is_empty() { p.muted { "No tags." } } @else { ul.tags { @for t in &d.tags { li { (t) } } } }
        h2 { "Ratings" }
        @if d.ratings.is_empty() { p.muted { "No ratings." } }
        @for (i, r) in d.ratings.iter().enumerate() {
            figure {
                figcaption { (r.source) ": " (group(r.count)) " ratings, mean " (format!("{:.2}", r.mean)) }
                (svg::stars(&format!("stars{i}"), &r.source, &r.stars))
            }
        }
        @let together = crate::foryou::watched_together(&s, m.id, 8);
        @if !together.is_empty() {
            h2 { "People who watched this also watched" }
            ol.together { @for t in &together {
                li { (movie_link(t.id, &t.title)) " " span.muted { "(" (mood_link(&t.mood, &t.mood_slug)) ")" } }
            } }
        }
        h2 { "Nearest movies" }
        table {
            caption { "The 10 movies closest in feature space" }
            thead { tr { th scope="col" { "Title" } th scope="col" { "Mood" } th.num scope="col" { "Distance" } } }
            tbody { @for n in views::similar(&s, m, 10) { tr {
                td { (movie_link(n.id, &n.title)) } td { (mood_link(&n.mood.label, &n.mood.slug)) }
                td.num { (format!("{:.3}", n.distance)) }
            } } }
        }
    };
    Ok(Html(page(&d.title, "", body)))
}

/// `GET /charts`: the scatter of the clusters and the histograms.
pub async fn charts(State(state): State<AppState>, RawQuery(q): RawQuery) -> PageResult {
    Params::parse(q.as_deref(), &[])?;
    let s = state.snapshot()?;
    let labels: Vec<String> = s.moods.iter().map(|m| m.mood.label.clone()).collect();
    let legend: Vec<(String, String)> = s.moods.iter().map(|m| (m.mood.label.clone(), m.slug.clone())).collect();
    let h = views::histograms(&s);
    let sentiment = svg::bars(
        "valence",
        "Histogram of movies by valence",
        &h.valence,
        |b| format!("{:+.1} to {:+.1}", b.lo, b.hi),
        "valence (dark to light)",
    );
    let years = svg::bars(
        "years",
        "Histogram of movies by release decade",
        &h.release_year,
        |b| format!("{}s", b.lo),
        "release decade",
    );
    let body = html! {
        h1 { "Charts" }
        figure {
            figcaption { "The movies on the first two principal components of their features, coloured by mood; \
                hover a point for its title, select it to open the movie." }
            (svg::scatter(&views::points(&s), &labels))
            (svg::legend(&legend))
        }
        div.grid2 {
            figure { figcaption { "Movies by valence (-1 dark … +1 light)" } (sentiment) }
            figure { figcaption { "Movies by release decade (" (h.no_year) " without a year)" } (years) }
        }
    };
    Ok(Html(page("Charts", "/charts", body)))
}

/// `GET /feel?text=`: free text scored and a mood suggested.
pub async fn feel_page(State(state): State<AppState>, RawQuery(q): RawQuery) -> PageResult {
    let params = Params::parse(q.as_deref(), &["text"])?;
    let text = params.text("text", crate::api::MAX_TEXT_CHARS)?;
    let Some(text) = text else {
        let body = html! {
            h1 { "How do you feel?" }
            p { "Say it in your own words (\"a rainy Sunday, I want something cosy and funny\"); \
                it is placed by its feeling (dark or light, calm or intense) and what you ask for \
                (\"cheer me up\", \"something scary\"), and the films nearest to it are suggested." }
            (feel_form(""))
        };
        return Ok(Html(page("How do you feel?", "/feel", body)));
    };
    check_text(&text)?;
    let s = state.snapshot()?;
    let f = feel(&s, &text);
    let body = html! {
        h1 { "How do you feel?" }
        (feel_form(&text))
        h2.why { (f.why) }
        p.muted {
            @if f.intents.is_empty() { "Read from how you feel" } @else { "You asked for: " (f.intents.join(", ")) }
            " · valence " (fmt_opt_signed(f.valence)) " · energy " (fmt_opt_signed(f.energy))
            " · VADER compound " (format!("{:+.4}", f.compound)) "."
        }
        ol.suggestions { @for e in &f.films { li { (movie_link(e.id, &e.title)) " " span.muted { "(" (e.mood) ")" } } } }
        p { "The nearest mood: " strong { (mood_link(&f.mood.label, &f.mood.slug)) } }
        h2 { "Every mood, nearest first" }
        ol { @for c in &f.ranking { li { (mood_link(&c.label, &c.slug)) " " span.muted { "(distance " (format!("{:.2}", c.distance)) ")" } } } }
    };
    Ok(Html(page("How do you feel?", "/feel", body)))
}

/// `GET /search?q=`: movies by title.
pub async fn search(State(state): State<AppState>, RawQuery(q): RawQuery) -> PageResult {
    let params = Params::parse(q.as_deref(), &["q"])?;
    let words = params.words("q", 200)?;
    let s = state.snapshot()?;
    let found = words.as_deref().map(|w| views::search(&s, w, 100));
    let body = html! {
        h1 { "Search" }
        form.filters action="/search" method="get" role="search" {
            label for="s-q" { "Title contains" input #s-q name="q" type="search" maxlength="200" value=(words.as_deref().unwrap_or("")) required; }
            button type="submit" { "Search" }
        }
        @if let Some((total, hits)) = found {
            table {
                caption { (group(total as u64)) " movies match (most rated first)" }
                thead { tr { th scope="col" { "Title" } th scope="col" { "Mood" } th.num scope="col" { "Ratings" } } }
                tbody { @for h in hits { tr {
                    td { (movie_link(h.id, &h.title)) } td { (mood_link(&h.mood.label, &h.mood.slug)) }
                    td.num { (group(h.rating_count)) }
                } } }
            }
        }
    };
    Ok(Html(page("Search", "/search", body)))
}

/// `GET /status`: the pipeline's tables and the model search.
pub async fn status(State(state): State<AppState>, RawQuery(q): RawQuery) -> PageResult {
    Params::parse(q.as_deref(), &[])?;
    let s = state.snapshot()?;
    let st = views::status(&s, state.reload_error());
    let body = html! {
        h1 { "Pipeline status" }
        p {
            "Root " code { (st.root) } " · model trained " (utc(st.trained_at)) " · " (group(st.movies as u64))
            " movies clustered · " (st.kmeans_jobs) " Ballista jobs in training"
        }
        @if let Some(e) = &st.reload_error { p.problem role="alert" { (e) } }
        table {
            caption { "Tables" }
            thead { tr {
                th scope="col" { "Table" } th scope="col" { "Stage" } th.num scope="col" { "Rows" }
                th.num scope="col" { "Rejected" } th scope="col" { "Last written" }
            } }
            tbody { @for t in &st.tables { tr {
                td { (t.table) } td { (t.stage) }
                td.num { (t.rows.map_or_else(|| "not written".to_string(), group)) }
                td.num { (t.rejects.map_or_else(|| "–".to_string(), group)) }
                td { (t.written_at.map_or_else(|| "–".to_string(), utc)) }
            } } }
        }
        @match &st.bridge {
            Some(b) => p { "Title bridge: " (group(b.bridged)) " of " (group(b.titles))
                " Netflix titles matched to MovieLens (" (format!("{:.1}", b.match_rate * 100.0)) "%)." },
            None => p.muted { "Title bridge: stages 07-08 have not run on this root." },
        }
        table {
            caption { "k-means: every k tried (best silhouette chosen)" }
            thead { tr {
                th.num scope="col" { "k" } th.num scope="col" { "Silhouette" } th.num scope="col" { "Cost" }
                th.num scope="col" { "Iterations" } th scope="col" { "Converged" } th scope="col" { "Cluster sizes" }
            } }
            tbody { @for r in &st.per_k {
                tr aria-current=[r.chosen.then_some("true")] {
                    td.num { (r.k) @if r.chosen { " (chosen)" } }
                    td.num { (format!("{:.4}", r.silhouette)) } td.num { (format!("{:.1}", r.cost)) }
                    td.num { (r.iterations) } td { @if r.converged { "yes" } @else { "no" } }
                    td { (r.sizes.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")) }
                }
            } }
        }
    };
    Ok(Html(page("Pipeline status", "/status", body)))
}

/// Any other path.
pub async fn not_found() -> PageError {
    PageError(Problem::NotFound("There is no page at this address.".to_string()))
}

fn mood_select(s: &Snapshot, selected: Option<&str>) -> Markup {
    html! {
        label for="mood" {
            "Mood "
            select #mood name="mood" {
                option value="" selected[selected.is_none()] { "any mood" }
                @for e in &s.moods {
                    option value=(e.slug) selected[selected == Some(e.slug.as_str())] { (e.mood.label) }
                }
            }
        }
    }
}

fn personal_table(list: &PersonalList, caption: &str) -> Markup {
    html! {
        @if list.items.is_empty() {
            p.muted { "No film left to recommend here: every film of this mood is rated already." }
        } @else {
            table.personal {
                caption { (caption) }
                thead { tr {
                    th.num scope="col" { "#" } th scope="col" { "Title" } th scope="col" { "Mood" }
                    th.num scope="col" { "Predicted" } th scope="col" { "Why" }
                } }
                tbody { @for r in &list.items { tr {
                    td.num { (r.rank) } td { (movie_link(r.id, &r.title)) }
                    td { (swatch(r.cluster)) (mood_link(&r.mood, &r.mood_slug)) }
                    td.num { (format!("{:.1}★", r.predicted)) }
                    td { @if r.reason.is_empty() { span.muted { "popular with people like you" } } @else { (r.reason) } }
                } } }
            }
        }
    }
}

/// `GET /for-you?user=&mood=`: a user's personal list.
pub async fn for_you(State(state): State<AppState>, RawQuery(q): RawQuery) -> PageResult {
    let params = Params::parse(q.as_deref(), &["user", "mood"])?;
    let user = params.text("user", 64)?;
    let mood_name = params.text("mood", 200)?;
    let s = state.snapshot()?;
    let mood = crate::foryou::mood_param(&s, mood_name.as_deref())?;
    let form = html! {
        form.filters action="/for-you" method="get" {
            label for="user" { "Your user id " input #user name="user" value=[user.as_deref()] placeholder="12, ml:12 or nf:1488844" required; }
            (mood_select(&s, mood.map(|m| m.slug.as_str())))
            button type="submit" { "Recommend" }
        }
    };
    let Some(user) = user else {
        let body = html! {
            h1 { "For you" }
            p { "Films picked for one person from everything they rated: what people with their taste \
                watched and liked, never a film they rated. MovieLens users are plain numbers (" code { "12" }
                "), Netflix Prize customers " code { "nf:…" } ". New here? " a href="/new" { "Rate a dozen films" } " instead." }
            (form)
        };
        return Ok(Html(page("For you", "/for-you", body)));
    };
    let list = crate::foryou::for_user(&s, &user, mood, 10).await?;
    let who = list.user.clone().unwrap_or_default();
    let body = html! {
        h1 { "For you" }
        (form)
        p.muted { "Based on " (group(list.rated as u64)) " ratings of " strong { (who) } "."
            @if let Some(m) = &list.mood { " Only " (m) " films." } }
        (personal_table(&list, &format!("Recommended for {who}")))
    };
    Ok(Html(page("For you", "/for-you", body)))
}

/// `GET /new?r<movieId>=<stars>…&mood=`: a newcomer rates the films
/// offered and gets a list at once.
pub async fn new_user(State(state): State<AppState>, RawQuery(q): RawQuery) -> PageResult {
    let s = state.snapshot()?;
    let offered = crate::foryou::onboarding(&s);
    let names: Vec<String> = offered.iter().map(|f| format!("r{}", f.id)).collect();
    let mut allowed: Vec<&str> = names.iter().map(String::as_str).collect();
    allowed.push("mood");
    let params = Params::parse(q.as_deref(), &allowed)?;
    let mood = crate::foryou::mood_param(&s, params.text("mood", 200)?.as_deref())?;
    let mut ratings = Vec::new();
    for (film, name) in offered.iter().zip(&names) {
        if let Some(v) = params.text(name, 8)? {
            let stars: f64 = v
                .parse()
                .map_err(|_| Problem::param(name, format!("'{v}' is not a number of stars")))?;
            ratings.push((film.id, stars));
        }
    }
    let chosen: std::collections::HashMap<i64, f64> = ratings.iter().copied().collect();
    let list = if ratings.is_empty() {
        None
    } else {
        Some(crate::foryou::for_new_user(&s, &ratings, mood, 10)?)
    };
    let body = html! {
        h1 { "New here? Rate a few films" }
        @if offered.is_empty() {
            p.muted { "The recommender has not been trained on this root yet (stage 12)." }
        } @else {
            p { "Rate the ones you have seen (skip the others) and get a list made for you at once. \
                Nothing is stored: the ratings live in this page's address." }
            form.onboarding action="/new" method="get" {
                table {
                    caption { "Well-known films from every mood" }
                    thead { tr { th scope="col" { "Title" } th scope="col" { "Mood" } th scope="col" { "Your rating" } } }
                    tbody { @for (f, name) in offered.iter().zip(&names) { tr {
                        td { (movie_link(f.id, &f.title)) }
                        td { (swatch(f.cluster)) (f.mood) }
                        td { select name=(name) aria-label={ "Your rating of " (f.title) } {
                            option value="" selected[!chosen.contains_key(&f.id)] { "not seen" }
                            @for stars in 1..=5 {
                                option value=(stars) selected[chosen.get(&f.id) == Some(&(stars as f64))] { (stars) "★" }
                            }
                        } }
                    } } }
                }
                (mood_select(&s, mood.map(|m| m.slug.as_str())))
                button type="submit" { "Recommend" }
            }
        }
        @if let Some(list) = &list {
            h2 { "Your films" }
            p.muted { "From your " (list.rated) " ratings." @if let Some(m) = &list.mood { " Only " (m) " films." } }
            (personal_table(list, "Recommended for you"))
        }
    };
    Ok(Html(page("New here?", "/new", body)))
}
