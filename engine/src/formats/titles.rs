//! `movie_titles.csv` (also shipped as `movie_titles.txt`): `MovieID,Year,Title`
//! lines, no header, Latin-1.
//!
//! It is not CSV: hundreds of titles hold unquoted commas
//! (`394,1916,20,000 Leagues Under the Sea`) and a few hold bare double
//! quotes, so a line is split on its first two commas only and the rest is
//! the title, verbatim. A year of `NULL` is a null year.

use serde::{Deserialize, Serialize};

/// How the titles' bytes are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encoding {
    /// UTF-8 when the whole file is valid UTF-8, Latin-1 otherwise (the
    /// official file is Latin-1 and is not valid UTF-8: `Café` is one 0xE9
    /// byte; a re-encoded copy is UTF-8).
    Auto,
    /// ISO-8859-1: every byte is the code point of the same value.
    Latin1,
    /// UTF-8; an invalid line is a reject.
    Utf8,
}

impl Encoding {
    /// `auto`, `latin1` (or `iso-8859-1`), `utf8` (or `utf-8`).
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "auto" => Some(Self::Auto),
            "latin1" | "latin-1" | "iso-8859-1" | "iso8859-1" => Some(Self::Latin1),
            "utf8" | "utf-8" => Some(Self::Utf8),
            _ => None,
        }
    }

    /// The encoding of this file's bytes.
    pub fn resolve(self, file: &[u8]) -> Self {
        match self {
            Self::Auto if std::str::from_utf8(file).is_ok() => Self::Utf8,
            Self::Auto => Self::Latin1,
            other => other,
        }
    }
}

/// One title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title {
    /// Netflix movie id.
    pub movie_id: i64,
    /// Year of release; `None` for `NULL`.
    pub year: Option<i32>,
    /// The title, decoded.
    pub title: String,
}

/// What one line of a titles file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TitleLine {
    /// A blank line.
    Skip,
    /// A valid title.
    Title(Title),
    /// A malformed line, with the reason.
    Bad(String),
}

/// Decodes `bytes` with a resolved encoding (`Auto` is read as Latin-1).
pub fn decode(bytes: &[u8], encoding: Encoding) -> Result<String, String> {
    match encoding {
        Encoding::Utf8 => std::str::from_utf8(bytes)
            .map(str::to_string)
            .map_err(|e| format!("not valid UTF-8 at byte {}", e.valid_up_to())),
        Encoding::Latin1 | Encoding::Auto => Ok(bytes.iter().map(|&b| char::from(b)).collect()),
    }
}

/// Parses one line (without its line ending).
pub fn parse_title_line(line: &[u8], encoding: Encoding) -> TitleLine {
    if line.iter().all(u8::is_ascii_whitespace) {
        return TitleLine::Skip;
    }
    let mut parts = line.splitn(3, |&b| b == b',');
    let (Some(id), Some(year), Some(title)) = (parts.next(), parts.next(), parts.next()) else {
        return TitleLine::Bad("expected MovieID,Year,Title".into());
    };
    let ascii_int = |s: &[u8]| -> Option<i64> {
        let s = std::str::from_utf8(s).ok()?.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let Some(movie_id) = ascii_int(id).filter(|&i| i > 0) else {
        return TitleLine::Bad("MovieID is not a positive integer".into());
    };
    let year = if year.trim_ascii() == b"NULL" {
        None
    } else {
        match ascii_int(year).filter(|y| (1850..=2100).contains(y)) {
            Some(y) => Some(y as i32),
            None => return TitleLine::Bad("year is not NULL or a year 1850..2100".into()),
        }
    };
    let title = match decode(title, encoding) {
        Ok(t) => t.trim().to_string(),
        Err(e) => return TitleLine::Bad(format!("title is {e}")),
    };
    if title.is_empty() {
        return TitleLine::Bad("title is empty".into());
    }
    TitleLine::Title(Title { movie_id, year, title })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn title(line: &str) -> Title {
        match parse_title_line(line.as_bytes(), Encoding::Utf8) {
            TitleLine::Title(t) => t,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn commas_and_quotes_stay_in_the_title() {
        assert_eq!(
            title("394,1916,20,000 Leagues Under the Sea").title,
            "20,000 Leagues Under the Sea"
        );
        let t = title("4825,1985,Brazil: The \"Love Conquers All\" Version");
        assert_eq!((t.movie_id, t.year), (4825, Some(1985)));
        assert_eq!(t.title, "Brazil: The \"Love Conquers All\" Version");
    }

    #[test]
    fn null_year_is_none() {
        let t = title("4388,NULL,Ancient Civilizations: Rome and Pompeii");
        assert_eq!(t.year, None);
    }

    #[test]
    fn latin1_is_decoded() {
        let line = b"6483,2001,Smokey Joe's Caf\xe9";
        assert_eq!(Encoding::Auto.resolve(line), Encoding::Latin1);
        match parse_title_line(line, Encoding::Latin1) {
            TitleLine::Title(t) => assert_eq!(t.title, "Smokey Joe's Café"),
            other => panic!("{other:?}"),
        }
        assert_eq!(Encoding::Auto.resolve("Café".as_bytes()), Encoding::Utf8);
        assert!(matches!(parse_title_line(line, Encoding::Utf8), TitleLine::Bad(r) if r.contains("UTF-8")));
    }

    #[test]
    fn bad_lines_say_why() {
        let bad = |l: &str| match parse_title_line(l.as_bytes(), Encoding::Utf8) {
            TitleLine::Bad(r) => r,
            other => panic!("{l}: {other:?}"),
        };
        assert_eq!(bad("12,1999"), "expected MovieID,Year,Title");
        assert_eq!(bad("x,1999,Title"), "MovieID is not a positive integer");
        assert_eq!(bad("0,1999,Title"), "MovieID is not a positive integer");
        assert_eq!(bad("3,19x9,Title"), "year is not NULL or a year 1850..2100");
        assert_eq!(bad("3,1999,  "), "title is empty");
        assert_eq!(parse_title_line(b"  ", Encoding::Utf8), TitleLine::Skip);
    }
}
