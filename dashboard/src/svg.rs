//! Charts drawn on the server as inline SVG (maud templates, escaped by
//! construction): no script and no asset from anywhere else. Every mark carries a `<title>` (the browser shows it on
//! hover; screen readers read it) and every chart a text alternative.

use maud::{html, Markup};

use crate::views::{Bin, Point};

/// Colours of the moods (Okabe-Ito, distinguishable with colour blindness),
/// repeated past eight.
pub const PALETTE: &[&str] = &[
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
];

/// A mood's colour.
pub fn colour(cluster: usize) -> &'static str {
    PALETTE[cluster % PALETTE.len()]
}

/// At most this many points are drawn; beyond it every n-th movie is.
pub const MAX_POINTS: usize = 4000;

fn nice_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (-1.0, 1.0);
    }
    if hi - lo < 1e-9 {
        return (lo - 1.0, hi + 1.0);
    }
    let pad = (hi - lo) * 0.04;
    (lo - pad, hi + pad)
}

/// The clusters in the plane of the first two principal components; each
/// point links to its movie. `labels[c]` names cluster `c` in the legend.
pub fn scatter(points: &[Point], labels: &[String]) -> Markup {
    let (w, h, m) = (760.0, 500.0, 40.0);
    let (x0, x1) = nice_range(points.iter().map(|p| p.x));
    let (y0, y1) = nice_range(points.iter().map(|p| p.y));
    let sx = |x: f64| m + (x - x0) / (x1 - x0) * (w - 2.0 * m);
    let sy = |y: f64| h - m - (y - y0) / (y1 - y0) * (h - 2.0 * m);
    let step = points.len().div_ceil(MAX_POINTS).max(1);
    let drawn = points.len().div_ceil(step);
    let cy = h / 2.0;
    // SVG elements are always closed (`{}`): inside HTML, foreign content
    // has no implied end tags.
    html! {
        svg viewBox={ "0 0 " (w) " " (h) } width="100%" role="img" aria-labelledby="scatter-title"
            xmlns="http://www.w3.org/2000/svg" {
            title #scatter-title {
                "Scatter of " (points.len()) " movies (" (drawn) " drawn) on the first two principal components, coloured by mood"
            }
            rect x=(m) y=(m) width=(w - 2.0 * m) height=(h - 2.0 * m) fill="#fbfcfe" stroke="#d8dde6" {}
            text x=(w / 2.0) y=(h - 10.0) text-anchor="middle" { "principal component 1" }
            text x="12" y=(cy) text-anchor="middle" transform={ "rotate(-90 12 " (cy) ")" } { "principal component 2" }
            @for p in points.iter().step_by(step) {
                a href={ "/movies/" (p.id) } {
                    circle cx=(format!("{:.1}", sx(p.x))) cy=(format!("{:.1}", sy(p.y))) r="3"
                        fill=(colour(p.cluster)) fill-opacity="0.75" {
                        title { (p.title) " (" (labels.get(p.cluster).map_or("", String::as_str)) ")" }
                    }
                }
            }
        }
    }
}

/// The legend of the mood colours, as an HTML list.
pub fn legend(labels: &[(String, String)]) -> Markup {
    html! {
        ul.tags aria-label="Legend" {
            @for (i, (label, slug)) in labels.iter().enumerate() {
                li {
                    span.swatch style={ "background:" (colour(i)) } aria-hidden="true" {}
                    a href={ "/moods/" (slug) } { (label) }
                }
            }
        }
    }
}

/// A bar chart of a histogram; `label` formats a bin's range.
pub fn bars(id: &str, title: &str, bins: &[Bin], label: impl Fn(&Bin) -> String, x_axis: &str) -> Markup {
    let (w, h, m) = (560.0, 300.0, 40.0);
    let max = bins.iter().map(|b| b.count).max().unwrap_or(0).max(1) as f64;
    let bw = (w - 2.0 * m) / bins.len().max(1) as f64;
    let title_id = format!("{id}-title");
    html! {
        svg viewBox={ "0 0 " (w) " " (h) } width="100%" role="img" aria-labelledby=(title_id)
            xmlns="http://www.w3.org/2000/svg" {
            title id=(title_id) { (title) }
            line x1=(m) y1=(h - m) x2=(w - m) y2=(h - m) stroke="#888" {}
            text x=(m) y=(m - 8.0) { (max as u64) }
            text x=(w / 2.0) y=(h - 6.0) text-anchor="middle" { (x_axis) }
            @for (i, b) in bins.iter().enumerate() {
                @let bh = b.count as f64 / max * (h - 2.0 * m);
                rect x=(format!("{:.1}", m + bw * i as f64)) y=(format!("{:.1}", h - m - bh))
                    width=(format!("{:.1}", (bw - 1.0).max(1.0))) height=(format!("{bh:.1}")) fill="#1f5fbf" {
                    title { (label(b)) ": " (b.count) " movies" }
                }
            }
            @if let (Some(first), Some(last)) = (bins.first(), bins.last()) {
                text x=(m) y=(h - m + 16.0) { (first.lo) }
                text x=(w - m) y=(h - m + 16.0) text-anchor="end" { (last.hi) }
            }
        }
    }
}

/// A small horizontal bar per star rating (5 stars at the top).
pub fn stars(id: &str, source: &str, stars: &[u64]) -> Markup {
    let (w, row) = (320.0, 18.0);
    let h = row * stars.len() as f64 + 4.0;
    let max = stars.iter().copied().max().unwrap_or(0).max(1) as f64;
    let title_id = format!("{id}-title");
    html! {
        svg viewBox={ "0 0 " (w) " " (h) } width=(w) role="img" aria-labelledby=(title_id)
            xmlns="http://www.w3.org/2000/svg" {
            title id=(title_id) { (source) " ratings per star" }
            @for (row_i, (i, n)) in stars.iter().enumerate().rev().enumerate() {
                @let y = row * row_i as f64 + 2.0;
                @let len = *n as f64 / max * (w - 110.0);
                @let star = format!("{:.1}", (i + 1) as f64 / 2.0);
                text x="0" y=(format!("{:.1}", y + 12.0)) { (star) "★" }
                rect x="44" y=(format!("{y:.1}")) width=(format!("{len:.1}")) height=(row - 4.0) fill="#E69F00" {
                    title { (star) " stars: " (n) }
                }
                text x=(format!("{:.1}", 48.0 + len)) y=(format!("{:.1}", y + 12.0)) { (n) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scatter_escapes_and_thins() {
        let points: Vec<Point> = (0..10_000)
            .map(|i| Point {
                id: i,
                title: format!("<b>{i}</b>"),
                cluster: (i % 3) as usize,
                x: i as f64,
                y: -(i as f64),
            })
            .collect();
        let svg = scatter(&points, &["a".into(), "b".into(), "c".into()]).into_string();
        assert!(!svg.contains("<b>"));
        let drawn = svg.matches("<circle").count();
        assert!((MAX_POINTS / 2..=MAX_POINTS).contains(&drawn), "{drawn}");
    }

    #[test]
    fn bars_have_one_rect_per_bin() {
        let bins = vec![
            Bin {
                lo: 0.0,
                hi: 1.0,
                count: 3,
            },
            Bin {
                lo: 1.0,
                hi: 2.0,
                count: 0,
            },
        ];
        let svg = bars("t", "T", &bins, |b| format!("{}", b.lo), "x").into_string();
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains("0: 3 movies"));
    }
}
