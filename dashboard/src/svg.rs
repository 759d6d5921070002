//! Charts drawn on the server as inline SVG: no script and no asset from
//! anywhere else. Every mark carries a `<title>` (the browser shows it on
//! hover; screen readers read it) and every chart a text alternative.

use std::fmt::Write;

use crate::html::esc;
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
pub fn scatter(points: &[Point], labels: &[String]) -> String {
    let (w, h, m) = (760.0, 500.0, 40.0);
    let (x0, x1) = nice_range(points.iter().map(|p| p.x));
    let (y0, y1) = nice_range(points.iter().map(|p| p.y));
    let sx = |x: f64| m + (x - x0) / (x1 - x0) * (w - 2.0 * m);
    let sy = |y: f64| h - m - (y - y0) / (y1 - y0) * (h - 2.0 * m);
    let step = points.len().div_ceil(MAX_POINTS).max(1);
    let drawn = points.len().div_ceil(step);
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-labelledby=\"scatter-title\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title id=\"scatter-title\">Scatter of {n} movies \
         ({drawn} drawn) on the first two principal components, coloured by mood</title>\
         <rect x=\"{m}\" y=\"{m}\" width=\"{iw}\" height=\"{ih}\" fill=\"#fbfcfe\" stroke=\"#d8dde6\"/>\
         <text x=\"{cx}\" y=\"{by}\" text-anchor=\"middle\">principal component 1</text>\
         <text x=\"12\" y=\"{cy}\" text-anchor=\"middle\" transform=\"rotate(-90 12 {cy})\">principal component 2</text>",
        n = points.len(),
        iw = w - 2.0 * m,
        ih = h - 2.0 * m,
        cx = w / 2.0,
        by = h - 10.0,
        cy = h / 2.0,
    );
    for p in points.iter().step_by(step) {
        let _ = write!(
            out,
            "<a href=\"/movies/{id}\"><circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"{c}\" fill-opacity=\"0.75\">\
             <title>{t} ({l})</title></circle></a>",
            id = p.id,
            x = sx(p.x),
            y = sy(p.y),
            c = colour(p.cluster),
            t = esc(&p.title),
            l = esc(labels.get(p.cluster).map_or("", String::as_str)),
        );
    }
    out.push_str("</svg>");
    out
}

/// The legend of the mood colours, as an HTML list.
pub fn legend(labels: &[(String, String)]) -> String {
    let mut out = String::from("<ul class=\"tags\" aria-label=\"Legend\">");
    for (i, (label, slug)) in labels.iter().enumerate() {
        let _ = write!(
            out,
            "<li><span class=\"swatch\" style=\"background:{}\" aria-hidden=\"true\"></span>\
             <a href=\"/moods/{}\">{}</a></li>",
            colour(i),
            esc(slug),
            esc(label)
        );
    }
    out.push_str("</ul>");
    out
}

/// A bar chart of a histogram; `label` formats a bin's range.
pub fn bars(id: &str, title: &str, bins: &[Bin], label: impl Fn(&Bin) -> String, x_axis: &str) -> String {
    let (w, h, m) = (560.0, 300.0, 40.0);
    let max = bins.iter().map(|b| b.count).max().unwrap_or(0).max(1) as f64;
    let bw = (w - 2.0 * m) / bins.len().max(1) as f64;
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-labelledby=\"{id}-title\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title id=\"{id}-title\">{t}</title>\
         <line x1=\"{m}\" y1=\"{base}\" x2=\"{r}\" y2=\"{base}\" stroke=\"#888\"/>\
         <text x=\"{m}\" y=\"{top}\">{mx}</text><text x=\"{cx}\" y=\"{by}\" text-anchor=\"middle\">{xa}</text>",
        t = esc(title),
        base = h - m,
        r = w - m,
        top = m - 8.0,
        mx = max as u64,
        cx = w / 2.0,
        by = h - 6.0,
        xa = esc(x_axis),
    );
    for (i, b) in bins.iter().enumerate() {
        let bh = b.count as f64 / max * (h - 2.0 * m);
        let x = m + bw * i as f64;
        let _ = write!(
            out,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bw2:.1}\" height=\"{bh:.1}\" fill=\"#1f5fbf\">\
             <title>{l}: {c} movies</title></rect>",
            y = h - m - bh,
            bw2 = (bw - 1.0).max(1.0),
            l = esc(&label(b)),
            c = b.count,
        );
    }
    if let (Some(first), Some(last)) = (bins.first(), bins.last()) {
        let _ = write!(
            out,
            "<text x=\"{m}\" y=\"{ly}\">{a}</text><text x=\"{r}\" y=\"{ly}\" text-anchor=\"end\">{b}</text>",
            ly = h - m + 16.0,
            r = w - m,
            a = first.lo,
            b = last.hi,
        );
    }
    out.push_str("</svg>");
    out
}

/// A small horizontal bar per star rating (5 stars at the top).
pub fn stars(id: &str, source: &str, stars: &[u64]) -> String {
    let (w, row) = (320.0, 18.0);
    let h = row * stars.len() as f64 + 4.0;
    let max = stars.iter().copied().max().unwrap_or(0).max(1) as f64;
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg viewBox=\"0 0 {w} {h}\" width=\"{w}\" role=\"img\" aria-labelledby=\"{id}-title\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title id=\"{id}-title\">{s} ratings per star</title>",
        s = esc(source)
    );
    for (row_i, (i, n)) in stars.iter().enumerate().rev().enumerate() {
        let y = row * row_i as f64 + 2.0;
        let len = *n as f64 / max * (w - 110.0);
        let star = (i + 1) as f64 / 2.0;
        let _ = write!(
            out,
            "<text x=\"0\" y=\"{ty:.1}\">{star:.1}★</text><rect x=\"44\" y=\"{y:.1}\" width=\"{len:.1}\" height=\"{bh}\" \
             fill=\"#E69F00\"><title>{star:.1} stars: {n}</title></rect><text x=\"{nx:.1}\" y=\"{ty:.1}\">{n}</text>",
            ty = y + 12.0,
            bh = row - 4.0,
            nx = 48.0 + len,
        );
    }
    out.push_str("</svg>");
    out
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
        let svg = scatter(&points, &["a".into(), "b".into(), "c".into()]);
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
        let svg = bars("t", "T", &bins, |b| format!("{}", b.lo), "x");
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains("0: 3 movies"));
    }
}
