//! Raw input files as SQL tables: engine extensions that read the files
//! the way they are really written and run on the executors.
//!
//! - [`netflix`]: the Netflix Prize rating files' blocks (`MovieID:` then
//!   `CustomerID,Rating,YYYY-MM-DD` lines) and the split rule: a byte-range
//!   split owns the lines that start in it, the way Hadoop's line reader
//!   does, and finds the header in force by scanning back to it;
//! - [`titles`]: `movie_titles.csv` (Latin-1, commas inside titles);
//! - [`csv`]: MovieLens CSV records, with a bound on multi-line quoted
//!   fields so that one stray quote costs one line, and the sync points
//!   where a byte range of a CSV file can start;
//! - [`numbers`]: the typed CSV columns' number parsers (Arrow's, with a
//!   fast path for plain numbers);
//! - [`exec`]: [`exec::RawScanExec`], the streaming scan of byte ranges;
//! - [`table`]: `STORED AS NETFLIX_RATINGS` / `NETFLIX_TITLES` /
//!   `MOODFLOW_CSV`, which lists the files and plans the splits.
//!
//! Every table has the parsed columns and then `file`, `line`, (`line_end`
//! for CSV,) `raw_line`, `reason`: a malformed record is a row with its
//! file, 1-based line number(s), raw text exactly as read and reason, so a
//! job can write rows and rejects apart (for Netflix files,
//! `WHERE reason IS NULL` / `IS NOT NULL` is applied inside the scan).

pub mod csv;
pub mod exec;
pub mod netflix;
pub mod numbers;
pub mod table;
pub mod titles;

pub use exec::{FileKind, RawScanExec};

/// `STORED AS` names of the raw tables.
pub const NETFLIX_RATINGS_FORMAT: &str = "NETFLIX_RATINGS";
/// See [`NETFLIX_RATINGS_FORMAT`].
pub const NETFLIX_TITLES_FORMAT: &str = "NETFLIX_TITLES";
/// See [`NETFLIX_RATINGS_FORMAT`].
pub const CSV_FORMAT: &str = "MOODFLOW_CSV";
pub use table::{RawTable, RawTableFactory};

#[cfg(test)]
mod tests;
