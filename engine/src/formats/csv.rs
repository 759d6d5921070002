//! The record reader behind `STORED AS MOODFLOW_CSV`: CSV as MovieLens
//! writes it (RFC 4180 quoting, LF or CRLF), read so that every physical
//! line ends in exactly one place.
//!
//! DataFusion's CSV reader is built for clean files: one stray `"` makes it
//! read the rest of the file as one field (10,004 lines became one reject),
//! and a bad byte or an extra field aborts the whole query. This reader
//! makes each of those one reject row instead:
//!
//! - A field that starts with `"` is quoted; `""` inside it is a quote. A
//!   quote anywhere else is an ordinary character (as Python's `csv` reads
//!   it). A quoted field may hold line breaks (a real title may), but a
//!   record may span at most `max_record_lines` physical lines and
//!   `max_record_bytes` bytes. Past either bound, or when a multi-line
//!   record is malformed (text after a closing quote, a wrong field count),
//!   only the record's *first line* is rejected and reading resumes at the
//!   next line: a stray quote costs one line, never the lines after it.
//! - A record with the wrong number of fields, invalid UTF-8 or text after
//!   a closing quote is a reject with its reason.
//! - An empty line is a reject ("empty line"): nothing is skipped unseen.
//! - A line longer than `max_record_bytes` is a reject holding its first
//!   `max_record_bytes` bytes; the rest of the line is skipped, not held.
//!
//! Every record carries its first and last line number and its raw bytes,
//! line ending included.

/// Bounds of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Fields a record must have.
    pub fields: usize,
    /// Physical lines a record may span (a quoted field with line breaks).
    pub max_record_lines: u64,
    /// Bytes a record may have.
    pub max_record_bytes: usize,
}

/// Default for [`Limits::max_record_lines`]: a title or tag with a few line
/// breaks parses; a stray quote is found within a few lines.
pub const DEFAULT_MAX_RECORD_LINES: u64 = 8;

/// Default for [`Limits::max_record_bytes`].
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1 << 20;

/// One field of a record: a byte range of the record, and whether it was
/// quoted with `""` inside (and so needs unescaping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpan {
    /// First byte, inside the quotes for a quoted field.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
    /// The field holds `""` pairs to turn into `"`.
    pub escaped: bool,
}

/// What a record is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A well-formed record: its fields (valid UTF-8).
    Fields(Vec<FieldSpan>),
    /// A malformed record, with the reason.
    Bad(String),
}

/// One record as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// 1-based number of its first line.
    pub line: u64,
    /// 1-based number of its last line.
    pub line_end: u64,
    /// Its bytes, line ending included (for a too-long line, the first
    /// `max_record_bytes` only).
    pub raw: Vec<u8>,
    /// Fields or reason.
    pub outcome: Outcome,
}

/// One record as read, borrowed from the reader's buffer: what the scan
/// builds its rows from, without a copy or an allocation per record (the
/// owned [`Record`] cost 10M allocations and three UTF-8 checks of every
/// byte at 10M ratings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// 1-based number of its first line.
    pub line: u64,
    /// 1-based number of its last line.
    pub line_end: u64,
    /// Its bytes, as in [`Record::raw`].
    pub raw: &'a [u8],
    /// `raw` as text, when it is valid UTF-8 (always, for a record with
    /// fields: the check is done once, here).
    pub text: Option<&'a str>,
    /// The field spans of a well-formed record, or the reason it is not.
    pub outcome: Result<&'a [FieldSpan], &'a str>,
}

impl RecordRef<'_> {
    /// The text of a field of a well-formed record (unescaped).
    pub fn field(&self, span: FieldSpan) -> std::borrow::Cow<'_, str> {
        // Spans fall on ASCII bytes (quotes, commas), so on char boundaries.
        let text = self.text.and_then(|t| t.get(span.start..span.end)).unwrap_or_default();
        if span.escaped {
            std::borrow::Cow::Owned(text.replace("\"\"", "\""))
        } else {
            std::borrow::Cow::Borrowed(text)
        }
    }

    /// The owned record.
    pub fn to_record(self) -> Record {
        Record {
            line: self.line,
            line_end: self.line_end,
            raw: self.raw.to_vec(),
            outcome: match self.outcome {
                Ok(spans) => Outcome::Fields(spans.to_vec()),
                Err(why) => Outcome::Bad(why.to_string()),
            },
        }
    }
}

impl Record {
    /// The text of field `i` (unescaped).
    pub fn field(&self, span: FieldSpan) -> std::borrow::Cow<'_, str> {
        // The whole record was checked to be UTF-8 before its spans were
        // handed out, and spans fall on ASCII bytes (quotes, commas).
        let text = std::str::from_utf8(&self.raw[span.start..span.end]).unwrap_or_default();
        if span.escaped {
            std::borrow::Cow::Owned(text.replace("\"\"", "\""))
        } else {
            std::borrow::Cow::Borrowed(text)
        }
    }
}

/// How a scan of the record starting at the buffer's front ended.
enum Scan {
    /// The buffer ends before the record does.
    NeedMore,
    /// The record is `len` bytes over `lines` lines; its fields are in the
    /// spans passed to [`scan`], unless it is malformed for `bad`. Its
    /// bytes are not checked for UTF-8 yet.
    Done {
        len: usize,
        lines: u64,
        bad: Option<String>,
    },
    /// The record broke a bound or is malformed over several lines: only
    /// its first line is taken, as a reject with this reason.
    FirstLineOnly(String),
}

/// A streaming reader: feed it bytes, take records.
#[derive(Debug)]
pub struct CsvReader {
    limits: Limits,
    buf: Vec<u8>,
    /// Consumed bytes at the front of `buf`.
    pos: usize,
    /// Number of the next record's first line.
    next_line: u64,
    /// Inside a too-long line: skip to its end.
    skipping: bool,
    eof: bool,
    /// The field spans of the last record (reused, not allocated per record).
    spans: Vec<FieldSpan>,
    /// The reason of the last record, when malformed.
    reason: String,
}

impl CsvReader {
    /// A reader of records with these limits.
    pub fn new(limits: Limits) -> Self {
        Self::starting_at_line(limits, 1)
    }

    /// A reader whose first record is on line `line` (a reader of a byte
    /// range that starts after `line - 1` lines of the file).
    pub fn starting_at_line(limits: Limits, line: u64) -> Self {
        Self {
            limits,
            buf: Vec::new(),
            pos: 0,
            next_line: line,
            skipping: false,
            eof: false,
            spans: Vec::with_capacity(limits.fields),
            reason: String::new(),
        }
    }

    /// Adds the next bytes of the file.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Says the file has no more bytes.
    pub fn finish(&mut self) {
        self.eof = true;
    }

    /// The next record, or `None` when more bytes (or [`Self::finish`]) are
    /// needed, or the file is done.
    pub fn next_record(&mut self) -> Option<Record> {
        self.next_record_ref().map(|r| r.to_record())
    }

    /// [`Self::next_record`], borrowed from the reader until the next call.
    pub fn next_record_ref(&mut self) -> Option<RecordRef<'_>> {
        loop {
            let rest = &self.buf[self.pos..];
            if self.skipping {
                match memchr::memchr(b'\n', rest) {
                    Some(i) => {
                        self.pos += i + 1;
                        self.skipping = false;
                        continue;
                    }
                    None => {
                        self.pos = self.buf.len();
                        if self.eof {
                            self.skipping = false;
                        }
                        return None;
                    }
                }
            }
            if rest.is_empty() {
                return None;
            }
            let line = self.next_line;
            let max = self.limits.max_record_bytes;
            // Only the unusual outcomes need the first line's length.
            let first_line_len = || memchr::memchr(b'\n', rest).map(|i| i + 1);
            let scanned = match plain_line(rest, max, &mut self.spans) {
                Some(len) => done(rest, len, 1, &self.spans, None, &self.limits),
                None => scan(rest, self.eof, &self.limits, &mut self.spans),
            };
            // (length, lines, reason if malformed, whether its fields are
            // in `spans`: a whole record, not a first line given back)
            let (len, lines, bad, whole) = match scanned {
                Scan::NeedMore if rest.len() <= max || first_line_len().is_some() => return None,
                // Too long over several lines: a stray quote, most likely.
                Scan::Done { len, lines, .. } if len > max && lines > 1 => (
                    first_line_len().unwrap_or(len),
                    1,
                    Some(format!("unbalanced quote: a quoted field runs past {max} bytes")),
                    false,
                ),
                Scan::Done { len, lines, bad } => (len, lines, bad, true),
                Scan::FirstLineOnly(reason) if self.eof || first_line_len().is_some() => {
                    (first_line_len().unwrap_or(rest.len()), 1, Some(reason), false)
                }
                Scan::NeedMore | Scan::FirstLineOnly(_) => {
                    // One line longer than the bound, not yet ended: keep
                    // its head, skip the rest as it streams past.
                    self.skipping = !self.eof;
                    return Some(self.too_long(self.buf.len() - self.pos));
                }
            };
            if len > max {
                // One whole line over the bound: the same reject as when it
                // arrives in pieces.
                return Some(self.too_long(len));
            }
            let start = self.pos;
            self.pos += len;
            self.next_line += lines;
            let raw = &self.buf[start..start + len];
            // The one UTF-8 check of the record's bytes; for a whole record
            // its reason comes before any other.
            let text = std::str::from_utf8(raw);
            let bad = match (&text, whole) {
                (Err(e), true) => Some(format!("invalid UTF-8 at byte {}", e.valid_up_to() + 1)),
                _ => bad,
            };
            let outcome = match bad {
                Some(why) => {
                    self.reason = why;
                    Err(self.reason.as_str())
                }
                None => Ok(&self.spans[..]),
            };
            return Some(RecordRef {
                line,
                line_end: line + lines - 1,
                raw,
                text: text.ok(),
                outcome,
            });
        }
    }
}

impl CsvReader {
    /// The reject of a line over the byte bound: its first bytes are kept,
    /// `consumed` bytes of it are dropped from the buffer.
    fn too_long(&mut self, consumed: usize) -> RecordRef<'_> {
        let max = self.limits.max_record_bytes;
        let start = self.pos;
        let kept = max.min(self.buf.len() - start);
        let line = self.next_line;
        self.pos += consumed;
        self.next_line += 1;
        self.reason = format!("line longer than {max} bytes (its first {max} bytes kept)");
        let raw = &self.buf[start..start + kept];
        RecordRef {
            line,
            line_end: line,
            raw,
            text: std::str::from_utf8(raw).ok(),
            outcome: Err(self.reason.as_str()),
        }
    }
}

/// The fast path of [`scan`], for the common record: one whole line
/// within the byte bound and without a quote anywhere, whose fields are
/// then exactly the text between its commas (the last one without its
/// `\r`), as [`scan`] would find them. Its length (line ending included),
/// with the spans filled in; `None` sends the record to [`scan`].
///
/// Found with `memchr` (vectorised) instead of byte by byte: at 10M
/// generated ratings the scan of `ratings.csv` was half of stage 01's
/// check of the ratings.
fn plain_line(data: &[u8], max: usize, spans: &mut Vec<FieldSpan>) -> Option<usize> {
    let nl = memchr::memchr(b'\n', data)?;
    if nl >= max {
        return None;
    }
    spans.clear();
    let mut start = 0;
    // Commas and quotes in one pass over the line (a quote anywhere sends
    // the record to `scan`, which starts its spans afresh).
    for at in memchr::memchr2_iter(b',', b'"', &data[..nl]) {
        if data[at] == b'"' {
            return None;
        }
        spans.push(FieldSpan {
            start,
            end: at,
            escaped: false,
        });
        start = at + 1;
    }
    let end = if nl > start && data[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    spans.push(FieldSpan {
        start,
        end,
        escaped: false,
    });
    Some(nl + 1)
}

/// The newlines in `bytes`: memchr's counter (AVX2 compares and popcounts,
/// 128 bytes a step). The plain `filter(..).count()` loop it replaces was
/// vectorised two bytes a step into 64-bit lanes; it ran over every byte of
/// every CSV file once, and again over the bytes before each range after a
/// file's first (the line numbers): at 10M generated ratings it was about a
/// tenth of the CPU of reading `ratings.csv` into four columns.
pub fn count_newlines(bytes: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', bytes).count() as u64
}

/// Where a reader that starts at byte `at` of a file may begin: the first
/// line start `p >= at` that the whole-file reader also starts a record
/// at, provably from the bytes near `p` alone (`file_size` when none is
/// left). `window` holds the file's bytes from `window_start` (at or
/// before `at`); `None` asks for a wider window.
///
/// Records begin only at line starts, and a record reaches past its first
/// line only through a quoted field, so it holds a `"` on a line before
/// any line it continues onto; and it spans at most `max_record_lines`
/// lines. So when none of the `max_record_lines - 1` lines before `p`
/// holds a quote, no record that starts before `p` reaches it: the
/// whole-file reader starts a record at `p`. A reader of `[sync(start),
/// sync(end))` then reads exactly the records the whole-file reader reads
/// there, and the byte ranges of a file can be read apart: the basis of
/// splitting a large CSV file across tasks. MovieLens' ratings hold no
/// quote at all; a file full of quoted titles just has fewer such points
/// (a range with none reads nothing, its predecessor reads on).
pub fn sync_point(window: &[u8], window_start: u64, at: u64, file_size: u64, max_record_lines: u64) -> Option<u64> {
    if at == 0 {
        return Some(0);
    }
    if at >= file_size {
        return Some(file_size);
    }
    // Whether `at` is a line start needs the byte before it.
    let at_index = (at.checked_sub(window_start)? as usize).checked_sub(1)?;
    let window_end = window_start + window.len() as u64;
    let look_back = max_record_lines.saturating_sub(1);
    // Candidate line starts, as indices into the window.
    let mut candidate = match window.get(at_index) {
        Some(b'\n') => at_index + 1,
        Some(_) => match memchr::memchr(b'\n', &window[at_index + 1..]) {
            Some(i) => at_index + 1 + i + 1,
            None if window_end >= file_size => return Some(file_size),
            None => return None,
        },
        None => return None,
    };
    loop {
        let p = window_start + candidate as u64;
        if p >= file_size {
            return Some(file_size);
        }
        // The `look_back` lines before the candidate, newest first.
        let mut end = candidate; // one past the line's newline
        let mut clean = true;
        let mut checked = 0;
        while checked < look_back {
            if end == 0 {
                if window_start > 0 {
                    return None;
                }
                break; // the file's first line is behind us
            }
            let line_start = match window[..end - 1].iter().rposition(|&b| b == b'\n') {
                Some(i) => i + 1,
                None if window_start == 0 => 0,
                None => return None,
            };
            if window[line_start..end].contains(&b'"') {
                clean = false;
                break;
            }
            checked += 1;
            end = line_start;
        }
        if clean {
            return Some(p);
        }
        // The next line start.
        match memchr::memchr(b'\n', &window[candidate..]) {
            Some(i) => candidate += i + 1,
            None if window_end >= file_size => return Some(file_size),
            None => return None,
        }
    }
}

/// Scans the record at the front of `data`.
fn scan(data: &[u8], eof: bool, limits: &Limits, spans: &mut Vec<FieldSpan>) -> Scan {
    spans.clear();
    let mut i = 0;
    let mut lines = 1u64;
    let mut bad: Option<String> = None;
    loop {
        // At the start of a field.
        if data.get(i) == Some(&b'"') {
            let start = i + 1;
            let mut j = start;
            let mut escaped = false;
            let end = loop {
                match data.get(j) {
                    None if eof => {
                        return first_line_or(lines, "a quoted field is not closed before the end of the file");
                    }
                    None => return bound_or_more(data, lines, limits),
                    Some(b'"') if data.get(j + 1) == Some(&b'"') => {
                        escaped = true;
                        j += 2;
                    }
                    Some(b'"') => {
                        // `""` cut by the buffer's end: wait for the next byte.
                        if j + 1 == data.len() && !eof {
                            return bound_or_more(data, lines, limits);
                        }
                        break j;
                    }
                    Some(b'\n') => {
                        lines += 1;
                        if lines > limits.max_record_lines {
                            // Past both bounds: the byte bound, crossed
                            // first, names it, as when the record arrives
                            // in pieces and its bytes run out before this
                            // line (`bound_or_more`): the reason must not
                            // depend on how the file was read.
                            if j > limits.max_record_bytes {
                                return Scan::FirstLineOnly(format!(
                                    "unbalanced quote: a quoted field runs past {} bytes",
                                    limits.max_record_bytes
                                ));
                            }
                            return Scan::FirstLineOnly(format!(
                                "unbalanced quote: a quoted field runs past {} lines",
                                limits.max_record_lines
                            ));
                        }
                        j += 1;
                    }
                    Some(_) => j += 1,
                }
                if j > limits.max_record_bytes {
                    return Scan::FirstLineOnly(format!(
                        "unbalanced quote: a quoted field runs past {} bytes",
                        limits.max_record_bytes
                    ));
                }
            };
            spans.push(FieldSpan { start, end, escaped });
            i = end + 1;
            match data.get(i) {
                Some(b',') => {
                    i += 1;
                    continue;
                }
                Some(b'\n') => return done(data, i + 1, lines, spans, bad, limits),
                Some(b'\r') if data.get(i + 1) == Some(&b'\n') => return done(data, i + 2, lines, spans, bad, limits),
                Some(b'\r') if i + 1 == data.len() && !eof => return bound_or_more(data, lines, limits),
                None if eof => return done(data, i, lines, spans, bad, limits),
                None => return bound_or_more(data, lines, limits),
                Some(_) => {
                    // Text after the closing quote: skip to the field's end
                    // and reject the record.
                    bad.get_or_insert_with(|| "text after a closing quote".to_string());
                    match data[i..].iter().position(|&b| b == b',' || b == b'\n') {
                        Some(k) if data[i + k] == b',' => {
                            i += k + 1;
                            continue;
                        }
                        Some(k) => return done(data, i + k + 1, lines, spans, bad, limits),
                        None if eof => return done(data, data.len(), lines, spans, bad, limits),
                        None => return bound_or_more(data, lines, limits),
                    }
                }
            }
        }
        // An unquoted field: up to the next comma or line end.
        let start = i;
        match data[i..].iter().position(|&b| b == b',' || b == b'\n') {
            Some(k) if data[i + k] == b',' => {
                spans.push(FieldSpan {
                    start,
                    end: i + k,
                    escaped: false,
                });
                i += k + 1;
            }
            Some(k) => {
                let end = if k > 0 && data[i + k - 1] == b'\r' {
                    i + k - 1
                } else {
                    i + k
                };
                spans.push(FieldSpan {
                    start,
                    end,
                    escaped: false,
                });
                return done(data, i + k + 1, lines, spans, bad, limits);
            }
            None if eof => {
                let end = if data.last() == Some(&b'\r') {
                    data.len() - 1
                } else {
                    data.len()
                };
                spans.push(FieldSpan {
                    start,
                    end,
                    escaped: false,
                });
                return done(data, data.len(), lines, spans, bad, limits);
            }
            None => return bound_or_more(data, lines, limits),
        }
    }
}

/// The record needs more bytes, unless it already broke the byte bound
/// over more than one line (then its first line is a reject).
fn bound_or_more(data: &[u8], lines: u64, limits: &Limits) -> Scan {
    if data.len() > limits.max_record_bytes && lines > 1 {
        return Scan::FirstLineOnly(format!(
            "unbalanced quote: a quoted field runs past {} bytes",
            limits.max_record_bytes
        ));
    }
    Scan::NeedMore
}

/// At the end of the file with an open quote: one line is the reject if
/// the record spans several, else the whole (one-line) record.
fn first_line_or(lines: u64, reason: &str) -> Scan {
    if lines > 1 {
        Scan::FirstLineOnly(format!("unbalanced quote: {reason}"))
    } else {
        Scan::FirstLineOnly(reason.to_string())
    }
}

/// A record of `len` bytes ended: checks what applies to it whole. The
/// UTF-8 check of a one-line record is left to the reader, which does it
/// once for the text it hands out (its reason still comes first).
fn done(data: &[u8], len: usize, lines: u64, spans: &[FieldSpan], bad: Option<String>, limits: &Limits) -> Scan {
    // The byte bound first, as when the record arrives in pieces (the
    // reason must not depend on how the file was read).
    if lines > 1 && len > limits.max_record_bytes {
        return Scan::FirstLineOnly(format!(
            "unbalanced quote: a quoted field runs past {} bytes",
            limits.max_record_bytes
        ));
    }
    let record = &data[..len];
    let multi_line_utf8 = if lines > 1 {
        crate::raw::invalid_utf8_at(record)
    } else {
        None
    };
    let reason = if let Some(at) = multi_line_utf8 {
        Some(format!("invalid UTF-8 at byte {}", at + 1))
    } else if spans.len() == 1 && spans[0].start == spans[0].end && !record.starts_with(b"\"") {
        Some("empty line".to_string())
    } else if let Some(b) = bad {
        Some(b)
    } else if spans.len() != limits.fields {
        Some(format!("expected {} fields, got {}", limits.fields, spans.len()))
    } else {
        None
    };
    match reason {
        // A malformed record over several lines is most likely a stray
        // quote that swallowed good lines: give them back.
        Some(r) if lines > 1 => Scan::FirstLineOnly(format!("unbalanced quote: {r}")),
        bad => Scan::Done { len, lines, bad },
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn limits(fields: usize) -> Limits {
        Limits {
            fields,
            max_record_lines: DEFAULT_MAX_RECORD_LINES,
            max_record_bytes: 200,
        }
    }

    /// (line, line_end, fields or reason) of every record, reading `data`
    /// in chunks of `chunk` bytes.
    pub(crate) fn read_all(data: &[u8], chunk: usize, l: Limits) -> Vec<(u64, u64, Result<Vec<String>, String>)> {
        let mut r = CsvReader::new(l);
        let mut out = Vec::new();
        let mut take = |r: &mut CsvReader| {
            while let Some(rec) = r.next_record() {
                let v = match &rec.outcome {
                    Outcome::Fields(f) => Ok(f.iter().map(|s| rec.field(*s).into_owned()).collect()),
                    Outcome::Bad(why) => Err(why.clone()),
                };
                out.push((rec.line, rec.line_end, v));
            }
        };
        for c in data.chunks(chunk.max(1)) {
            r.feed(c);
            take(&mut r);
        }
        r.finish();
        take(&mut r);
        out
    }

    fn ok(fields: &[&str]) -> Result<Vec<String>, String> {
        Ok(fields.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn quoting_crlf_and_multiline_titles() {
        let data = b"1,\"Heat, The (1995)\",Action\r\n2,\"Say \"\"Hi\"\" (2001)\",Comedy\r\n3,\"Two\nLines (1990)\",Drama\n4,Plain (2000),Drama";
        for chunk in [1, 2, 3, 7, 1000] {
            assert_eq!(
                read_all(data, chunk, limits(3)),
                vec![
                    (1, 1, ok(&["1", "Heat, The (1995)", "Action"])),
                    (2, 2, ok(&["2", "Say \"Hi\" (2001)", "Comedy"])),
                    (3, 4, ok(&["3", "Two\nLines (1990)", "Drama"])),
                    (5, 5, ok(&["4", "Plain (2000)", "Drama"])),
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn a_stray_quote_costs_one_line() {
        // Line 2 opens a quote that never closes: 12 good lines follow.
        let mut text = String::from("1,a,Drama\n2,\"broken,Drama\n");
        for i in 3..15 {
            text.push_str(&format!("{i},t{i},Drama\n"));
        }
        let got = read_all(text.as_bytes(), 5, limits(3));
        assert_eq!(got.len(), 14, "one record per line: {got:?}");
        assert_eq!(got[1].0, 2);
        assert_eq!(got[1].1, 2);
        assert!(
            got[1].2.as_ref().is_err_and(|r| r.starts_with("unbalanced quote")),
            "{:?}",
            got[1]
        );
        assert!(got.iter().enumerate().all(|(i, r)| i == 1 || r.2.is_ok()));
    }

    #[test]
    fn bad_records_are_rejects_with_reasons() {
        let data = b"1,a\xff,Drama\n1,a,b,c,d\n\n\"x\"y,a,b\n1,a,Drama";
        let got = read_all(data, 3, limits(3));
        let reasons: Vec<_> = got.iter().map(|(l, e, r)| (*l, *e, r.clone().err())).collect();
        assert_eq!(
            reasons,
            vec![
                (1, 1, Some("invalid UTF-8 at byte 4".to_string())),
                (2, 2, Some("expected 3 fields, got 5".to_string())),
                (3, 3, Some("empty line".to_string())),
                (4, 4, Some("text after a closing quote".to_string())),
                (5, 5, None),
            ]
        );
    }

    /// Invalid UTF-8 is a record's first reason, before its field count;
    /// in a record over several lines it costs only the first line, like
    /// any malformed multi-line record.
    #[test]
    fn invalid_utf8_comes_first_and_costs_a_multi_line_record_its_first_line() {
        let data = b"1,a\xff,b,c\n2,\"x\n\xff\",Drama\n3,a,Drama\n";
        for chunk in [1, 4, 1000] {
            let got = read_all(data, chunk, limits(3));
            let reasons: Vec<_> = got.iter().map(|(l, e, r)| (*l, *e, r.clone().err())).collect();
            assert_eq!(
                reasons,
                vec![
                    (1, 1, Some("invalid UTF-8 at byte 4".to_string())),
                    (2, 2, Some("unbalanced quote: invalid UTF-8 at byte 6".to_string())),
                    (3, 3, Some("invalid UTF-8 at byte 1".to_string())),
                    (4, 4, None),
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn a_line_past_the_byte_bound_is_cut_and_skipped() {
        let long = "9".repeat(1000);
        let data = format!("1,a,b\n{long},a,b\n2,a,b\n");
        for chunk in [7, 64, 5000] {
            let mut r = CsvReader::new(limits(3));
            let mut recs = Vec::new();
            for c in data.as_bytes().chunks(chunk) {
                r.feed(c);
                while let Some(x) = r.next_record() {
                    recs.push(x);
                }
            }
            r.finish();
            while let Some(x) = r.next_record() {
                recs.push(x);
            }
            assert_eq!(recs.len(), 3, "chunk {chunk}");
            assert_eq!(recs[1].raw.len(), 200);
            assert!(matches!(&recs[1].outcome, Outcome::Bad(r) if r.starts_with("line longer")));
            assert_eq!((recs[2].line, recs[2].line_end), (3, 3));
        }
    }

    /// Fuzz (see [`crate::fuzz`]): any bytes, any chunking, no panic, and
    /// the records still tile the input line by line.
    #[test]
    fn fuzz_csv_reader() {
        let input = (crate::fuzz::bytes_like(b",\"\r\n\xff\xef\xbb\xbf|:-. "), 1usize..300);
        let strategy = input.prop_map(|(mut data, chunk)| {
            // The chunk size rides along as the last byte.
            data.push(chunk as u8);
            data
        });
        crate::fuzz::run("csv reader", strategy, |data| {
            let (chunk, data) = (usize::from(*data.last().unwrap_or(&1)).max(1), &data[..data.len() - 1]);
            for fields in [1, 3, 4] {
                let l = Limits {
                    fields,
                    max_record_lines: 4,
                    max_record_bytes: 300,
                };
                // The chunking changes nothing, reasons included.
                assert_eq!(read_all(data, chunk, l), read_all(data, data.len().max(1), l));
                let mut r = CsvReader::new(l);
                let mut next = 1;
                let mut check = |r: &mut CsvReader| {
                    while let Some(rec) = r.next_record() {
                        assert_eq!(rec.line, next);
                        next = rec.line_end + 1;
                        if let Outcome::Fields(spans) = &rec.outcome {
                            assert_eq!(spans.len(), fields);
                            spans.iter().for_each(|s| drop(rec.field(*s)));
                        }
                    }
                };
                for c in data.chunks(chunk) {
                    r.feed(c);
                    check(&mut r);
                }
                r.finish();
                check(&mut r);
            }
        });
    }

    /// (line, line_end, fields or reason) of the records of `data[from..to]`
    /// read as a range of a larger file: the reader starts at `from`'s line
    /// and the range ends at `to`.
    fn read_range(data: &[u8], from: usize, to: usize, l: Limits) -> Vec<(u64, u64, Result<Vec<String>, String>)> {
        let mut r = CsvReader::starting_at_line(l, count_newlines(&data[..from]) + 1);
        r.feed(&data[from..to]);
        r.finish();
        let mut out = Vec::new();
        while let Some(rec) = r.next_record() {
            let v = match &rec.outcome {
                Outcome::Fields(f) => Ok(f.iter().map(|s| rec.field(*s).into_owned()).collect()),
                Outcome::Bad(why) => Err(why.clone()),
            };
            out.push((rec.line, rec.line_end, v));
        }
        out
    }

    /// The sync point of `at` found through windows that start small around
    /// it and double, as the scan searches.
    fn sync_by_windows(data: &[u8], at: u64, lines: u64, first: u64) -> u64 {
        let size = data.len() as u64;
        let mut half = first.max(1);
        loop {
            let lo = at.saturating_sub(half);
            let hi = (at + half).min(size);
            if let Some(p) = sync_point(&data[lo as usize..hi as usize], lo, at, size, lines) {
                return p;
            }
            assert!(lo > 0 || hi < size, "the whole file must decide");
            half *= 2;
        }
    }

    #[test]
    fn sync_points_skip_lines_a_quoted_field_may_continue_onto() {
        let data = b"1,\"a\nb\",x\n2,c,y\n3,d,z\n4,e,w\n";
        let l = Limits {
            fields: 3,
            max_record_lines: 3,
            max_record_bytes: 100,
        };
        let size = data.len() as u64;
        // Lines start at bytes 0, 5, 10, 16 and 22; lines 1 and 2 hold
        // quotes. With two lines of look-back only line 5 is provably a
        // record start; with one, line 4 is too.
        for at in [3, 7, 10, 16, 22] {
            assert_eq!(sync_point(data, 0, at, size, 3), Some(22), "at {at}");
        }
        assert_eq!(sync_point(data, 0, 23, size, 3), Some(size));
        assert_eq!(sync_point(data, 0, 3, size, 2), Some(16));
        // Too narrow a window asks for more.
        assert_eq!(sync_point(&data[18..], 18, 20, size, 3), None);
        // The records after a sync point are the whole file's.
        let whole = read_all(data, data.len(), l);
        assert_eq!(read_range(data, 22, data.len(), l), whole[3..].to_vec());
        assert_eq!(read_range(data, 16, data.len(), l), whole[2..].to_vec());
    }

    proptest! {
        /// Splitting a file at sync points changes nothing: for any bytes
        /// and any cut, the ranges `[sync(a), sync(b))` read apart give the
        /// whole file's records, lines and reasons, and the windowed search
        /// agrees with a search over the whole file.
        #[test]
        fn ranges_between_sync_points_read_as_the_whole_file(data in proptest::collection::vec(
            prop_oneof![6 => Just(b'a'), 2 => Just(b','), 2 => Just(b'"'), 3 => Just(b'\n'), 1 => Just(b'\r'), 1 => any::<u8>()],
            0..400,
        ), cuts in proptest::collection::vec(0u64..420, 0..5), lines in 1u64..5, first in 1u64..40) {
            let l = Limits { fields: 3, max_record_lines: lines, max_record_bytes: 50 };
            let size = data.len() as u64;
            let mut cuts: Vec<u64> = cuts.into_iter().map(|c| c.min(size)).collect();
            cuts.extend([0, size]);
            cuts.sort_unstable();
            cuts.dedup();
            let syncs: Vec<u64> = cuts
                .iter()
                .map(|&c| {
                    let p = sync_point(&data, 0, c, size, lines).expect("the whole file decides");
                    assert_eq!(sync_by_windows(&data, c, lines, first), p);
                    assert!(p >= c);
                    assert!(p == 0 || p == size || data[p as usize - 1] == b'\n');
                    p
                })
                .collect();
            let mut joined = Vec::new();
            for pair in syncs.windows(2) {
                joined.extend(read_range(&data, pair[0] as usize, pair[1] as usize, l));
            }
            prop_assert_eq!(joined, read_all(&data, data.len().max(1), l));
        }
    }

    proptest! {
        /// The fast path agrees with the full scan: wherever it takes a
        /// record, [`scan`] (with or without the end of the file) ends the
        /// same record at the same byte, on one line, with the same fields.
        #[test]
        fn a_plain_line_is_what_the_full_scan_finds(data in proptest::collection::vec(
            prop_oneof![6 => any::<u8>(), 3 => Just(b','), 1 => Just(b'"'), 2 => Just(b'\n'), 2 => Just(b'\r')],
            0..80,
        ), max in 1usize..60, eof in any::<bool>()) {
            let l = Limits { fields: 3, max_record_lines: 3, max_record_bytes: max };
            let mut fast = Vec::new();
            let Some(len) = plain_line(&data, max, &mut fast) else { return Ok(()) };
            let mut full = Vec::new();
            match scan(&data, eof, &l, &mut full) {
                Scan::Done { len: full_len, lines, .. } => {
                    prop_assert_eq!((len, 1), (full_len, lines));
                    prop_assert_eq!(&fast, &full);
                }
                Scan::NeedMore => prop_assert!(false, "scan needs more bytes for a whole line"),
                Scan::FirstLineOnly(why) => prop_assert!(false, "scan rejects the line alone: {}", why),
            }
        }
    }

    proptest! {
        /// Any bytes: no panic, records tile the input (every byte in
        /// exactly one record, in order), line numbers count every line,
        /// and the chunk size changes nothing.
        #[test]
        fn any_bytes_tile_into_records(data in proptest::collection::vec(
            prop_oneof![4 => any::<u8>(), 2 => Just(b','), 2 => Just(b'"'), 2 => Just(b'\n'), 1 => Just(b'\r')],
            0..400,
        ), chunk in 1usize..64) {
            let l = Limits { fields: 3, max_record_lines: 3, max_record_bytes: 50 };
            let mut r = CsvReader::new(l);
            let mut recs = Vec::new();
            for c in data.chunks(chunk) {
                r.feed(c);
                while let Some(x) = r.next_record() { recs.push(x); }
            }
            r.finish();
            while let Some(x) = r.next_record() { recs.push(x); }
            let mut expect_line = 1;
            for rec in &recs {
                prop_assert_eq!(rec.line, expect_line);
                prop_assert!(rec.line_end >= rec.line);
                prop_assert!(rec.line_end - rec.line < l.max_record_lines);
                expect_line = rec.line_end + 1;
            }
            // Without over-long lines the records are the input, byte for byte.
            let longest = data.split(|&b| b == b'\n').map(<[u8]>::len).max().unwrap_or(0);
            if longest < l.max_record_bytes {
                let joined: Vec<u8> = recs.iter().flat_map(|r| r.raw.clone()).collect();
                prop_assert_eq!(&joined, &data);
                let newlines = data.iter().filter(|&&b| b == b'\n').count() as u64;
                let physical = newlines + u64::from(!data.is_empty() && data.last() != Some(&b'\n'));
                prop_assert_eq!(recs.last().map_or(0, |r| r.line_end), physical);
            }
            let whole = read_all(&data, data.len().max(1), l);
            prop_assert_eq!(read_all(&data, chunk, l), whole);
        }
    }
}
