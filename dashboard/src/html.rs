//! The page frame and small HTML helpers. Every page is complete without
//! JavaScript; the style sheet is inline, so nothing is fetched from
//! anywhere but this server.

use maud::{html, Markup, PreEscaped, DOCTYPE};

/// Text as the templates write it: maud's escaping (`&`, `<`, `>`, `"`),
/// for code and tests that need to find a value in a page.
pub fn esc(text: &str) -> String {
    html! { (text) }.into_string()
}

/// Percent-encodes a query value or a path segment.
pub fn url_part(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The sections of the navigation bar: (path, label).
const NAV: &[(&str, &str)] = &[
    ("/", "Moods"),
    ("/feel", "How do you feel?"),
    ("/for-you", "For you"),
    ("/new", "New here?"),
    ("/charts", "Charts"),
    ("/search", "Search"),
    ("/status", "Pipeline status"),
];

const STYLE: &str = r#"
:root { --ink:#1d2430; --muted:#5b6472; --line:#d8dde6; --accent:#1f5fbf; --bg:#f6f7fb; }
* { box-sizing: border-box; }
body { margin:0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--ink); background:var(--bg); }
a { color: var(--accent); }
a:focus, button:focus, input:focus, select:focus, textarea:focus { outline: 3px solid #f0a202; outline-offset: 2px; }
.skip { position:absolute; left:-999px; }
.skip:focus { left: 8px; top: 8px; background:#fff; padding:4px 8px; z-index:10; }
header { background:#17202e; color:#fff; padding: 10px 24px; display:flex; gap:24px; align-items:center; flex-wrap:wrap; }
header .brand { font-weight:700; font-size:20px; color:#fff; text-decoration:none; }
header nav ul { list-style:none; display:flex; gap:16px; margin:0; padding:0; flex-wrap:wrap; }
header nav a { color:#dfe7f5; text-decoration:none; padding:4px 2px; }
header nav a[aria-current="page"] { color:#fff; border-bottom:2px solid #f0a202; }
main { max-width: 1180px; margin: 0 auto; padding: 20px 24px 48px; }
h1 { margin-top: 8px; }
.cards { display:grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap:16px; padding:0; list-style:none; }
.card { background:#fff; border:1px solid var(--line); border-radius:10px; padding:14px 16px; }
.card h2 { font-size:18px; margin:0 0 6px; }
.swatch { display:inline-block; width:12px; height:12px; border-radius:3px; margin-right:6px; vertical-align:baseline; }
.muted { color: var(--muted); }
.tone { display:inline-block; font-size:13px; padding:1px 8px; border-radius:10px; background:#eef2f8; }
table { border-collapse: collapse; width:100%; background:#fff; }
caption { text-align:left; font-weight:600; padding:6px 0; }
th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
td.num, th.num { text-align:right; font-variant-numeric: tabular-nums; }
form.filters { display:flex; flex-wrap:wrap; gap:12px; align-items:flex-end; background:#fff; border:1px solid var(--line); border-radius:10px; padding:12px; margin-bottom:16px; }
form.filters label, form.feel label { display:flex; flex-direction:column; font-size:14px; color:var(--muted); gap:2px; }
input, select, textarea, button { font: inherit; padding:4px 6px; }
button { background: var(--accent); color:#fff; border:0; border-radius:6px; padding:6px 14px; cursor:pointer; }
.problem { background:#fff3f0; border:1px solid #f1b4a6; padding:10px 14px; border-radius:8px; }
.empty { background:#fff; border:1px dashed var(--line); padding:20px; border-radius:10px; }
code, pre { background:#eef1f6; padding:1px 4px; border-radius:4px; }
.grid2 { display:grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap:20px; }
figure { margin:0; background:#fff; border:1px solid var(--line); border-radius:10px; padding:10px; }
figcaption { font-size:14px; color:var(--muted); }
svg text { font: 12px system-ui, sans-serif; fill: #333; }
dl.facts { display:grid; grid-template-columns: max-content 1fr; gap:4px 16px; }
dl.facts dt { color: var(--muted); }
.tags li { display:inline-block; background:#eef2f8; border-radius:10px; padding:1px 8px; margin:2px; font-size:14px; }
.tags { padding:0; }
"#;

/// A complete page: `<head>`, the navigation bar with `current` marked, and
/// `body` inside `<main>`.
pub fn page(title: &str, current: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Mood Explorer" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    a.brand href="/" { "moodflow · Mood Explorer" }
                    nav aria-label="Main" { ul { @for (path, label) in NAV {
                        li { a href=(path) aria-current=[(*path == current).then_some("page")] { (label) } }
                    } } }
                }
                main #main tabindex="-1" { (body) }
            }
        }
    }
    .into_string()
}

pub use moodflow_pipeline::output::group;

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map_or_else(
            || format!("{secs} s after 1970"),
            |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc(r#"<a href="x">'Tom & Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;'Tom &amp; Jerry'&lt;/a&gt;"
        );
    }

    #[test]
    fn civil_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_795_567_815), "2026-11-25 00:50:15 UTC");
    }

    #[test]
    fn groups_thousands() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(100_836), "100,836");
        assert_eq!(group(1_000_000), "1,000,000");
    }
}
