//! Text helpers of the pipeline as plain functions and as SQL scalar UDFs:
//! `normalize_text`, `release_year`, `title_without_year`, `title_key` and
//! `title_alt_keys`.
//!
//! The functions are pure and total: any input string gives an answer (null
//! for "no year"), so a malformed title can never fail a stage; it is the
//! SQL jobs that decide what counts as a reject.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{ArrayRef, Int32Array, ListBuilder, StringArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, DocSection, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature,
};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use crate::string_udf::{map_strings, map_to_strings, one_string_signature};

/// Splits a MovieLens title into its name and the release year of a trailing
/// `(YYYY)`; a year range such as `(2006–2007)` gives its first year.
/// Trailing whitespace after the parenthesis is tolerated (11 real titles
/// have it); a title without a year keeps its whole text.
pub fn split_title_year(title: &str) -> (&str, Option<i32>) {
    let t = title.trim_end();
    if let Some(body) = t.strip_suffix(')') {
        if let Some(open) = body.rfind('(') {
            if let Some(year) = parse_year_group(&body[open + 1..]) {
                return (body[..open].trim_end(), Some(year));
            }
        }
    }
    (t, None)
}

/// `YYYY`, `YYYY-YYYY`, `YYYY–YYYY` (en dash) or an open range `YYYY–`.
fn parse_year_group(inner: &str) -> Option<i32> {
    let inner = inner.trim();
    let first: String = inner.chars().take(4).collect();
    if first.len() != 4 || !first.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let rest = &inner[4..];
    let rest_ok = rest.is_empty()
        || rest
            .strip_prefix(['-', '–'])
            .is_some_and(|r| r.is_empty() || (r.len() == 4 && r.bytes().all(|b| b.is_ascii_digit())));
    if rest_ok {
        first.parse().ok()
    } else {
        None
    }
}

/// Lower-case, apostrophes dropped ("don't" -> "dont", which VADER still
/// reads as a negation), every other character that is not a letter or a
/// digit turned into a space, whitespace collapsed.
pub fn normalize_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars().flat_map(char::to_lowercase) {
        if c == '\'' || c == '’' {
            continue;
        }
        if c.is_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(c);
        } else {
            pending_space = true;
        }
    }
    out
}

/// Articles that MovieLens and the Netflix data move behind the title
/// ("Matrix, The", "Misérables, Les").
const ARTICLES: &[&str] = &[
    "the", "a", "an", "les", "la", "le", "l'", "die", "der", "das", "el", "il", "lo", "los", "las", "det", "den", "de",
    "het", "un", "une", "una", "ein", "eine", "gli", "i", "o", "os", "as",
];

/// Removes trailing parenthesised groups such as `(a.k.a. The Professional)`
/// or an original-language title, keeping the primary title.
fn primary_title(title: &str) -> &str {
    let mut t = title.trim_end();
    while let Some(body) = t.strip_suffix(')') {
        match body.rfind('(') {
            Some(open) if !body[..open].trim().is_empty() => t = body[..open].trim_end(),
            _ => break,
        }
    }
    t
}

/// Moves a trailing ", The" (or another article) to the front.
fn move_article_front(title: &str) -> String {
    if let Some(comma) = title.rfind(", ") {
        let article = title[comma + 2..].trim();
        if ARTICLES.contains(&article.to_lowercase().as_str()) {
            let sep = if article.ends_with('\'') { "" } else { " " };
            return format!("{article}{sep}{}", &title[..comma]);
        }
    }
    title.to_string()
}

/// A key for matching the same film across sources: year and alternate
/// titles removed, a trailing article moved to the front, diacritics and
/// case folded, "&" read as "and", punctuation dropped, whitespace collapsed.
/// "Matrix, The (1999)" and "The Matrix" give the same key, "the matrix".
pub fn title_key(title: &str) -> String {
    let (name, _) = split_title_year(title);
    let name = move_article_front(primary_title(name));
    let folded: String = name.nfd().filter(|c| !is_combining_mark(*c)).collect();
    normalize_text(&folded.replace('&', " and "))
}

/// The alternate titles MovieLens writes in parentheses after the primary
/// one, outermost last: `Léon: The Professional (a.k.a. The Professional)
/// (Léon) (1994)` gives `["The Professional", "Léon"]`; an `a.k.a.` prefix
/// is dropped. The year group is not a title.
pub fn alternate_titles(title: &str) -> Vec<&str> {
    let (mut t, _) = split_title_year(title);
    let mut alternates = Vec::new();
    while let Some(body) = t.strip_suffix(')') {
        match body.rfind('(') {
            Some(open) if !body[..open].trim().is_empty() => {
                let inner = body[open + 1..].trim();
                let inner = inner
                    .strip_prefix("a.k.a.")
                    .or_else(|| inner.strip_prefix("aka "))
                    .map_or(inner, str::trim);
                if !inner.is_empty() {
                    alternates.push(inner);
                }
                t = body[..open].trim_end();
            }
            _ => break,
        }
    }
    alternates.reverse();
    alternates
}

/// [`title_key`] of every [`alternate_titles`] entry (empty keys left out).
pub fn title_alt_keys(title: &str) -> Vec<String> {
    alternate_titles(title)
        .into_iter()
        .map(title_key)
        .filter(|k| !k.is_empty())
        .collect()
}

const DOC_SECTION: DocSection = DocSection {
    include: true,
    label: "moodflow text",
    description: Some("Text helpers of the moodflow pipeline"),
};

/// Declares a `string -> string` or `string -> int` UDF around a plain
/// function, with its documentation.
macro_rules! text_udf {
    ($ty:ident, $name:literal, $ret:expr, $kernel:expr, $desc:literal, $example:literal) => {
        #[doc = $desc]
        #[derive(Debug, PartialEq, Eq, Hash)]
        pub struct $ty {
            signature: Signature,
        }

        impl Default for $ty {
            fn default() -> Self {
                Self {
                    signature: one_string_signature(),
                }
            }
        }

        impl ScalarUDFImpl for $ty {
            fn name(&self) -> &str {
                $name
            }
            fn signature(&self) -> &Signature {
                &self.signature
            }
            fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
                Ok($ret)
            }
            fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
                map_strings(self.name(), &args, $kernel)
            }
            fn documentation(&self) -> Option<&Documentation> {
                static DOC: OnceLock<Documentation> = OnceLock::new();
                Some(DOC.get_or_init(|| {
                    Documentation::builder(DOC_SECTION, $desc, $example)
                        .with_argument("text", "Input text.")
                        .build()
                }))
            }
        }
    };
}

text_udf!(
    NormalizeText,
    "normalize_text",
    DataType::Utf8,
    |a: &StringArray| Ok(map_to_strings(a, |s| Some(normalize_text(s)))),
    "Lower-cases text, drops apostrophes, turns other punctuation into spaces and collapses whitespace.",
    "normalize_text('Don''t Look Up!')"
);

text_udf!(
    ReleaseYear,
    "release_year",
    DataType::Int32,
    |a: &StringArray| Ok(Arc::new(
        a.iter()
            .map(|s| s.and_then(|s| split_title_year(s).1))
            .collect::<Int32Array>()
    ) as ArrayRef),
    "The year of a trailing (YYYY) or (YYYY-YYYY) in a title, or null.",
    "release_year('Heat (1995)')"
);

text_udf!(
    TitleWithoutYear,
    "title_without_year",
    DataType::Utf8,
    |a: &StringArray| Ok(map_to_strings(a, |s| Some(split_title_year(s).0.to_string()))),
    "A title without its trailing (YYYY).",
    "title_without_year('Heat (1995)')"
);

text_udf!(
    TitleKey,
    "title_key",
    DataType::Utf8,
    |a: &StringArray| Ok(map_to_strings(a, |s| Some(title_key(s)))),
    "A key to match titles across sources: article moved, diacritics, case and punctuation folded.",
    "title_key('Matrix, The (1999)')"
);

text_udf!(
    TitleAltKeys,
    "title_alt_keys",
    DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
    |a: &StringArray| {
        let mut out = ListBuilder::new(StringBuilder::new());
        for title in a.iter() {
            match title {
                Some(t) => {
                    for key in title_alt_keys(t) {
                        out.values().append_value(key);
                    }
                    out.append(true);
                }
                None => out.append(false),
            }
        }
        Ok(Arc::new(out.finish()) as ArrayRef)
    },
    "The title_key of each alternate title in parentheses ((a.k.a. ...), original-language titles).",
    "title_alt_keys('Léon: The Professional (a.k.a. The Professional) (Léon) (1994)')"
);

/// The `name` of each object of a JSON list, as TMDB writes its genres and
/// keywords (`[{"id": 1463, "name": "culture clash"}, ...]`); `None` when
/// the text is not such a list (an empty text is an empty list).
pub fn json_names(text: &str) -> Option<Vec<String>> {
    if text.trim().is_empty() {
        return Some(Vec::new());
    }
    let items: Vec<serde_json::Value> = serde_json::from_str(text).ok()?;
    items
        .iter()
        .map(|item| item.get("name")?.as_str().map(str::to_string))
        .collect()
}

text_udf!(
    JsonNames,
    "json_names",
    DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
    |a: &StringArray| {
        let mut out = ListBuilder::new(StringBuilder::new());
        for text in a.iter() {
            match text.and_then(json_names) {
                Some(names) => {
                    for name in names {
                        out.values().append_value(name);
                    }
                    out.append(true);
                }
                None => out.append(false),
            }
        }
        Ok(Arc::new(out.finish()) as ArrayRef)
    },
    "The names of a JSON list of objects (TMDB's genres and keywords); null when the text is not one.",
    "json_names('[{\"id\": 1, \"name\": \"dark\"}]')"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years() {
        assert_eq!(split_title_year("Toy Story (1995)"), ("Toy Story", Some(1995)));
        assert_eq!(
            split_title_year("From Dusk Till Dawn 2: Texas Blood Money (1999) "),
            ("From Dusk Till Dawn 2: Texas Blood Money", Some(1999))
        );
        assert_eq!(
            split_title_year("Death Note: Desu nôto (2006–2007)"),
            ("Death Note: Desu nôto", Some(2006))
        );
        assert_eq!(split_title_year("Babylon 5"), ("Babylon 5", None));
        assert_eq!(
            split_title_year("Blade Runner 2049 (2017)"),
            ("Blade Runner 2049", Some(2017))
        );
        assert_eq!(split_title_year("Nineteen (19)"), ("Nineteen (19)", None));
        assert_eq!(split_title_year(""), ("", None));
        assert_eq!(split_title_year("(1999)"), ("", Some(1999)));
    }

    #[test]
    fn json_name_lists() {
        let tmdb = r#"[{"id": 1463, "name": "culture clash"}, {"id": 2964, "name": "future"}]"#;
        assert_eq!(
            json_names(tmdb),
            Some(vec!["culture clash".to_string(), "future".to_string()])
        );
        assert_eq!(json_names("[]"), Some(vec![]));
        assert_eq!(json_names(""), Some(vec![]));
        assert_eq!(json_names("[{\"id\": 1}]"), None);
        assert_eq!(json_names("[{\"name\": \"x\"}"), None);
        assert_eq!(json_names("not json"), None);
    }

    #[test]
    fn normalization() {
        assert_eq!(
            normalize_text("  Don't   LOOK up!!  Sci-Fi/Drama "),
            "dont look up sci fi drama"
        );
        assert_eq!(normalize_text("Amélie"), "amélie");
        assert_eq!(normalize_text("!!!"), "");
    }

    #[test]
    fn keys() {
        assert_eq!(title_key("Matrix, The (1999)"), "the matrix");
        assert_eq!(title_key("The Matrix"), "the matrix");
        assert_eq!(title_key("Misérables, Les (1995)"), "les miserables");
        assert_eq!(
            title_key("Léon: The Professional (a.k.a. The Professional) (Léon) (1994)"),
            "leon the professional"
        );
        assert_eq!(
            title_key("Lock, Stock & Two Smoking Barrels (1998)"),
            "lock stock and two smoking barrels"
        );
        assert_eq!(title_key("Avventura, L' (1960)"), "lavventura");
        assert_eq!(
            title_key("Good, the Bad and the Ugly, The (1966)"),
            "the good the bad and the ugly"
        );
        assert_eq!(title_key("Dinosaur Planet"), "dinosaur planet");
    }

    #[test]
    fn alternates() {
        assert_eq!(
            alternate_titles("Léon: The Professional (a.k.a. The Professional) (Léon) (1994)"),
            vec!["The Professional", "Léon"]
        );
        assert_eq!(
            title_alt_keys("City of Lost Children, The (Cité des enfants perdus, La) (1995)"),
            vec!["la cite des enfants perdus"]
        );
        assert_eq!(
            title_alt_keys("Seven Samurai (Shichinin no samurai) (1954)"),
            vec!["shichinin no samurai"]
        );
        assert!(alternate_titles("Heat (1995)").is_empty());
        assert!(alternate_titles("Babylon 5").is_empty());
        assert!(alternate_titles("(1999)").is_empty());
    }
}
