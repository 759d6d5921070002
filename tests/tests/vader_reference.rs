//! VADER checked against `tests/fixtures/vader/reference.jsonl`, made by
//! `make_fixture.py` with Python vaderSentiment 3.3.2: every rounded output
//! must be equal.

use std::collections::{HashMap, HashSet};

use moodflow_udfs::vader::{analyzer, Scores};
use serde_json::Value;

fn fixture() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/vader/reference.jsonl");
    let text = std::fs::read_to_string(path).expect("fixture present");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

fn expected(row: &Value) -> Scores {
    let f = |k: &str| row[k].as_f64().expect("number");
    Scores {
        compound: f("compound"),
        pos: f("pos"),
        neu: f("neu"),
        neg: f("neg"),
    }
}

/// FNV-1a 64 of the UTF-8 text, as the fixture script computes it.
fn fnv1a64(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[test]
fn synthetic_lines_match_reference_exactly() {
    let rows = fixture();
    let synthetic: Vec<&Value> = rows.iter().filter(|r| r["kind"] == "synthetic").collect();
    assert!(synthetic.len() >= 3000, "fixture too small: {}", synthetic.len());
    let mut mismatches = Vec::new();
    for row in &synthetic {
        let text = row["text"].as_str().expect("text");
        let got = analyzer().polarity_scores(text);
        if got != expected(row) {
            mismatches.push(format!("{text:?}: got {got:?}, want {:?}", expected(row)));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} differ:\n{}",
        mismatches.len(),
        synthetic.len(),
        mismatches[..mismatches.len().min(20)].join("\n")
    );
}

#[test]
fn real_titles_tags_and_descriptions_match_reference() {
    let Some(data) = moodflow_tests::shared_data() else {
        eprintln!("skipped: ../shared/data is absent");
        return;
    };
    let rows = fixture();
    let by_hash: HashMap<String, Scores> = rows
        .iter()
        .filter(|r| r["kind"] != "synthetic")
        .map(|r| (r["hash"].as_str().expect("hash").to_string(), expected(r)))
        .collect();
    let mut texts: Vec<String> = Vec::new();
    let ml = data.join("ml-latest-small");
    for (file, column) in [("movies.csv", "title"), ("tags.csv", "tag")] {
        let mut reader = csv::Reader::from_path(ml.join(file)).expect("csv");
        let idx = reader
            .headers()
            .expect("header")
            .iter()
            .position(|h| h == column)
            .expect("column");
        texts.extend(reader.records().map(|r| r.expect("record")[idx].to_string()));
    }
    let titles = std::fs::read(data.join("netflix-prize/movie_titles.txt")).expect("titles");
    let latin1: String = titles.iter().map(|&b| char::from(b)).collect();
    texts.extend(
        latin1
            .lines()
            .filter_map(|l| l.splitn(3, ',').nth(2))
            .map(str::to_string),
    );
    let mut reader = csv::Reader::from_path(data.join("netflix-titles/netflix_titles.csv")).expect("csv");
    texts.extend(reader.records().map(|r| r.expect("record")[11].to_string()));

    let mut found = HashSet::new();
    let mut mismatches = Vec::new();
    for text in &texts {
        let hash = fnv1a64(text);
        if let Some(want) = by_hash.get(&hash) {
            found.insert(hash);
            let got = analyzer().polarity_scores(text);
            if &got != want {
                mismatches.push(format!("{text:?}: got {got:?}, want {want:?}"));
            }
        }
    }
    assert_eq!(found.len(), by_hash.len(), "reference lines missing from the data");
    assert!(
        mismatches.is_empty(),
        "{} differ:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(20)].join("\n")
    );
}
