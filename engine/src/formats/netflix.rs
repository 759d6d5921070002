//! The parsing core of the Netflix Prize rating files: pure functions over
//! bytes, shared by the streaming reader ([`super::exec`]) and the tests.
//!
//! A split `[start, end)` owns every line that *starts* inside its range
//! (the last one may run past the range's end), and a split that starts
//! inside a block finds its MovieID by scanning back to the block's header.
//! So every line is read exactly once whatever the split points.

/// One rating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rating {
    /// Netflix movie id, from the block's header.
    pub movie_id: i64,
    /// Netflix customer id.
    pub customer_id: i64,
    /// 1 to 5 stars.
    pub rating: u8,
    /// Days since 1970-01-01.
    pub date: i32,
}

/// A line that is not a header or a valid rating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// Byte offset of the line's first byte in the file (the line number
    /// is computed from it only for the rare bad line; see [`line_number`]).
    pub offset: usize,
    /// The line exactly as read, line ending included ([`crate::raw::raw_text`]).
    pub raw: String,
    /// What is wrong with it.
    pub reason: String,
}

/// The 1-based line number of the line starting at `offset`.
pub fn line_number(data: &[u8], offset: usize) -> u64 {
    data[..offset.min(data.len())].iter().filter(|&&b| b == b'\n').count() as u64 + 1
}

/// The first line start at or after `start` that belongs to a split
/// beginning at `start`: `start` itself when a line begins there.
pub fn first_owned_line(data: &[u8], start: usize) -> usize {
    if start == 0 || start > data.len() {
        return start.min(data.len());
    }
    if data[start - 1] == b'\n' {
        return start;
    }
    match data[start..].iter().position(|&b| b == b'\n') {
        Some(i) => start + i + 1,
        None => data.len(),
    }
}

/// Strips `\r\n` or `\n` (and a lone trailing `\r`).
pub fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The MovieID in force at a line: which header the line is under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// No header line yet (the start of a file).
    Before,
    /// Under a valid `MovieID:` header.
    Movie(i64),
    /// Under a header line that is malformed (`abc:`, `12x:`, `123` without
    /// its colon, a MovieID out of range): the lines below it cannot be
    /// filed under any movie until the next valid header.
    Malformed,
}

/// What a header-like line says: `Some(Movie(id))` for `123:`,
/// `Some(Malformed)` for a line that is meant as a header but is not a
/// valid one, `None` for any other line.
///
/// A line is meant as a header when it ends with `:` and has no comma, or
/// when it is digits alone (a header that lost its colon: a rating line
/// always has commas). Treating such lines as broken headers rather than
/// as bad ratings is what keeps the ratings after them from being filed
/// under the previous movie.
fn header(line: &[u8]) -> Option<Header> {
    if line.contains(&b',') {
        return None;
    }
    let Some(digits) = line.strip_suffix(b":") else {
        let bare_digits = !line.is_empty() && line.iter().all(u8::is_ascii_digit);
        return bare_digits.then_some(Header::Malformed);
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Some(Header::Malformed);
    }
    Some(
        std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse::<i64>().ok())
            .filter(|&id| id > 0)
            .map_or(Header::Malformed, Header::Movie),
    )
}

/// The header in force at line start `pos`: the nearest header-like line
/// before it ([`Header::Before`] when there is none).
pub fn header_before(data: &[u8], pos: usize) -> Header {
    let mut end = pos;
    while end > 0 {
        // The line that ends at `end` (exclusive of its '\n' at end-1).
        let line_end = end - 1;
        let line_start = data[..line_end].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if let Some(h) = header(trim_eol(&data[line_start..line_end])) {
            return h;
        }
        end = line_start;
    }
    Header::Before
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date, if it is a real date
/// (exactly that layout: four, two and two ASCII digits).
fn days(date: &[u8]) -> Option<i32> {
    let layout = date.len() == 10
        && date[4] == b'-'
        && date[7] == b'-'
        && date
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !layout {
        return None;
    }
    let num = |s: &[u8]| s.iter().fold(0u32, |n, b| n * 10 + u32::from(b - b'0'));
    days_from_civil(num(&date[..4]) as i32, num(&date[5..7]), num(&date[8..]))
}

/// Days since 1970-01-01 of a proleptic Gregorian date, if it is one (the
/// month 1..=12, the day within it): what chrono's `from_ymd_opt` and
/// `signed_duration_since` give, in a few integer operations (chrono's two
/// calls were a sixteenth of stage 07's ratings statement). Howard
/// Hinnant's `days_from_civil`: years counted from March, in 400-year eras.
/// A test holds it to chrono.
fn days_from_civil(year: i32, month: u32, day: u32) -> Option<i32> {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > month_days {
        return None;
    }
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400);
    let m = i64::from(month);
    let day_of_year = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    i32::try_from(era * 146_097 + day_of_era - 719_468).ok()
}

fn rating_line(line: &[u8]) -> Result<(i64, u8, i32), String> {
    let mut fields = line.split(|&b| b == b',');
    let (Some(c), Some(r), Some(d), None) = (fields.next(), fields.next(), fields.next(), fields.next()) else {
        return Err("expected CustomerID,Rating,YYYY-MM-DD".into());
    };
    // Digits only, no overflow, above zero (as `parse::<i64>` of a string
    // checked to be all digits, without the text round trip).
    let customer = Some(c)
        .filter(|c| !c.is_empty())
        .and_then(|c| {
            c.iter().try_fold(0i64, |n, &b| match b {
                b'0'..=b'9' => n.checked_mul(10)?.checked_add(i64::from(b - b'0')),
                _ => None,
            })
        })
        .filter(|&c| c > 0)
        .ok_or("CustomerID is not a positive integer")?;
    let rating = match r {
        [b @ b'1'..=b'5'] => b - b'0',
        _ => return Err("rating is not 1..5".into()),
    };
    let date = days(d).ok_or("date is not a valid YYYY-MM-DD")?;
    Ok((customer, rating, date))
}

/// What one line of a rating file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKind {
    /// A `MovieID:` header, a blank line: nothing to emit.
    Skip,
    /// A valid rating under the current header.
    Rating(Rating),
    /// A malformed line, with the reason.
    Bad(String),
}

/// Why a line under a malformed header is rejected.
pub const NO_VALID_HEADER: &str = "no valid MovieID header";

/// Classifies one line (without its line ending), updating the header in
/// force when it is a header line.
pub fn parse_line(line: &[u8], movie: &mut Header) -> LineKind {
    if let Some(h) = header(line) {
        *movie = h;
        return match h {
            Header::Movie(_) => LineKind::Skip,
            _ => LineKind::Bad("malformed MovieID: header".into()),
        };
    }
    if line.is_empty() {
        return LineKind::Skip;
    }
    match (*movie, rating_line(line)) {
        (Header::Movie(movie_id), Ok((customer_id, rating, date))) => LineKind::Rating(Rating {
            movie_id,
            customer_id,
            rating,
            date,
        }),
        (Header::Before, _) => LineKind::Bad("rating line before any MovieID: header".into()),
        (Header::Malformed, _) => LineKind::Bad(NO_VALID_HEADER.into()),
        (Header::Movie(_), Err(reason)) => LineKind::Bad(reason),
    }
}

/// Parses the lines a split `[start, end)` owns, giving ratings to `ok` and
/// malformed lines to `bad`.
pub fn parse_split(data: &[u8], start: usize, end: usize, ok: &mut impl FnMut(Rating), bad: &mut impl FnMut(BadLine)) {
    let end = end.min(data.len());
    let mut pos = first_owned_line(data, start);
    let mut movie = if pos < end {
        header_before(data, pos)
    } else {
        Header::Before
    };
    while pos < end {
        let next = data[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(data.len(), |i| pos + i + 1);
        let line = trim_eol(&data[pos..next]);
        match parse_line(line, &mut movie) {
            LineKind::Skip => {}
            LineKind::Rating(r) => ok(r),
            LineKind::Bad(reason) => bad(BadLine {
                offset: pos,
                raw: crate::raw::raw_text(&data[pos..next]),
                reason,
            }),
        }
        pos = next;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_all(data: &[u8], cuts: &[usize]) -> (Vec<Rating>, Vec<BadLine>) {
        let mut points = vec![0];
        points.extend(cuts.iter().map(|&c| c.min(data.len())));
        points.push(data.len());
        points.sort_unstable();
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        for w in points.windows(2) {
            parse_split(data, w[0], w[1], &mut |r| ok.push(r), &mut |b| bad.push(b));
        }
        (ok, bad)
    }

    #[test]
    fn days_are_chronos() {
        let epoch = chrono::NaiveDate::default();
        let chrono_days = |y: i32, m: u32, d: u32| {
            chrono::NaiveDate::from_ymd_opt(y, m, d)
                .map(|day| i32::try_from(day.signed_duration_since(epoch).num_days()).expect("in range"))
        };
        // Every day (and the invalid ones around each month) of years
        // either side of the epoch, leap rules included (1900, 2000, 2100),
        // and the ends of the four-digit range.
        for y in (0..=2)
            .chain(1896..=1905)
            .chain(1968..=1972)
            .chain(1996..=2008)
            .chain(2098..=2101)
            .chain(9997..=9999)
        {
            for m in 0..=13 {
                for d in 0..=32 {
                    assert_eq!(days_from_civil(y, m, d), chrono_days(y, m, d), "{y}-{m}-{d}");
                }
            }
        }
        assert_eq!(days(b"1970-01-01"), Some(0));
        assert_eq!(days(b"2005-09-06"), Some(13032));
        assert_eq!(days(b"2005-02-29"), None);
        assert_eq!(days(b"2004-02-29"), Some(12477));
    }

    proptest! {
        #[test]
        fn any_date_is_chronos(y in 0i32..10_000, m in 0u32..14, d in 0u32..33) {
            let chrono_days = chrono::NaiveDate::from_ymd_opt(y, m, d)
                .map(|day| day.signed_duration_since(chrono::NaiveDate::default()).num_days() as i32);
            prop_assert_eq!(days_from_civil(y, m, d), chrono_days);
        }

        #[test]
        fn customer_ids_parse_as_integers(c in "[0-9]{0,20}|[0-9a+ -]{0,6}") {
            let line = format!("{c},3,2005-09-06");
            let expected = std::str::from_utf8(c.as_bytes())
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<i64>().ok())
                .filter(|&c| c > 0);
            prop_assert_eq!(rating_line(line.as_bytes()).ok().map(|r| r.0), expected);
        }
    }

    const FILE: &str =
        "1:\n1488844,3,2005-09-06\n822109,5,2005-05-13\n2:\n2059652,4,2005-09-05\nbad,line\n1209119,6,2004-01-01\n3:\n";

    #[test]
    fn whole_file() {
        let (ok, bad) = parse_all(FILE.as_bytes(), &[]);
        assert_eq!(ok.len(), 3);
        assert_eq!(ok[2].movie_id, 2);
        assert_eq!(ok[0].date, 13032, "2005-09-06");
        let reasons: Vec<(u64, &str)> = bad
            .iter()
            .map(|b| (line_number(FILE.as_bytes(), b.offset), b.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            vec![(6, "expected CustomerID,Rating,YYYY-MM-DD"), (7, "rating is not 1..5")]
        );
    }

    #[test]
    fn dates() {
        assert_eq!(days(b"1970-01-01"), Some(0));
        assert_eq!(days(b"2000-02-29"), Some(11_016));
        assert_eq!(days(b"1999-02-29"), None);
        assert_eq!(days(b"2005-13-01"), None);
        assert_eq!(days(b"2005-1-01"), None);
    }

    #[test]
    fn a_rating_before_any_header_is_rejected() {
        let (ok, bad) = parse_all(b"12,3,2005-01-01\n7:\n12,3,2005-01-01", &[]);
        assert_eq!(ok.len(), 1);
        assert_eq!(bad[0].reason, "rating line before any MovieID: header");
    }

    #[test]
    fn ratings_under_a_malformed_header_are_rejected_not_misfiled() {
        // `abc:` breaks movie 7's successor: its ratings belong to no movie.
        let data = b"7:\n1,3,2005-01-01\nabc:\n2,4,2005-01-02\n3,4,2005-01-03\n8:\n4,5,2005-01-04\n";
        for cut in 0..=data.len() {
            let (ok, bad) = parse_all(data, &[cut]);
            let ids: Vec<(i64, i64)> = ok.iter().map(|r| (r.movie_id, r.customer_id)).collect();
            assert_eq!(ids, vec![(7, 1), (8, 4)], "cut at {cut}");
            let reasons: Vec<(u64, &str)> = bad
                .iter()
                .map(|b| (line_number(data, b.offset), b.reason.as_str()))
                .collect();
            assert_eq!(
                reasons,
                vec![
                    (3, "malformed MovieID: header"),
                    (4, NO_VALID_HEADER),
                    (5, NO_VALID_HEADER)
                ],
                "cut at {cut}"
            );
        }
        // A header that lost its colon, or a zero id, is malformed too.
        for broken in ["12", "0:", "12x:", ":", "99999999999999999999:"] {
            let text = format!("7:\n1,3,2005-01-01\n{broken}\n2,4,2005-01-02\n");
            let (ok, bad) = parse_all(text.as_bytes(), &[]);
            assert_eq!(ok.len(), 1, "{broken}");
            assert_eq!(bad.last().map(|b| b.reason.as_str()), Some(NO_VALID_HEADER), "{broken}");
        }
    }

    /// A rating file: a header, then ratings, headers and garbage in any
    /// order, LF or CRLF, with or without a final newline (shared with the
    /// scan's property test).
    pub(crate) fn file() -> impl Strategy<Value = String> {
        let line = prop_oneof![
            5 => (1u32..2_000_000, 1u8..6, 1999u32..2006, 1u32..13, 1u32..29)
                .prop_map(|(c, r, y, m, d)| format!("{c},{r},{y}-{m:02}-{d:02}")),
            1 => (1u32..20_000).prop_map(|m| format!("{m}:")),
            1 => "[a-z0-9,:-]{0,12}",
        ];
        (
            (1u32..20_000).prop_map(|m| format!("{m}:")),
            proptest::collection::vec(line, 0..80),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(first, lines, crlf, trailing)| {
                let eol = if crlf { "\r\n" } else { "\n" };
                let mut s = std::iter::once(first).chain(lines).collect::<Vec<_>>().join(eol);
                if trailing {
                    s.push_str(eol);
                }
                s
            })
    }

    /// Fuzz (see [`crate::fuzz`]): any bytes, cut anywhere, give the same
    /// rows and rejects as one split, and never a panic.
    #[test]
    fn fuzz_netflix_rating_files() {
        let strategy = crate::fuzz::bytes_like(b"0123456789:,-\r\n\xff");
        crate::fuzz::run("netflix ratings", strategy, |data| {
            let whole = parse_all(data, &[]);
            let n = data.len();
            for cuts in [vec![n / 2], vec![n / 3, 2 * n / 3], (1..n).step_by(7).collect()] {
                assert_eq!(parse_all(data, &cuts), whole);
            }
            for pos in [0, n / 2, n] {
                let _ = header_before(data, first_owned_line(data, pos));
            }
        });
    }

    proptest! {
        #[test]
        fn any_split_points_give_the_same_rows(
            text in file(),
            cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..16),
        ) {
            let data = text.as_bytes();
            let whole = parse_all(data, &[]);
            let points: Vec<usize> = cuts.iter().map(|i| i.index(data.len() + 1)).collect();
            prop_assert_eq!(parse_all(data, &points), whole);
        }

        #[test]
        fn crlf_and_lf_give_the_same_rows(text in file()) {
            let lf = text.replace("\r\n", "\n");
            let crlf = lf.replace('\n', "\r\n");
            let rows = |t: &str| parse_all(t.as_bytes(), &[]).0;
            prop_assert_eq!(rows(&lf), rows(&crlf));
        }
    }
}
