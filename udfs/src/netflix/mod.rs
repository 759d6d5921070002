//! The Netflix Prize files as SQL tables: an engine extension that runs on
//! the executors.
//!
//! - [`parse`]: the rating files' blocks (`MovieID:` then
//!   `CustomerID,Rating,YYYY-MM-DD` lines) and the split rule: a byte-range
//!   split owns the lines that start in it, the way Hadoop's line reader
//!   does, and finds its first MovieID by scanning back to the header;
//! - [`titles`]: `movie_titles.csv` (Latin-1, commas inside titles);
//! - [`exec`]: [`exec::NetflixScanExec`], the streaming scan of byte ranges;
//! - [`table`]: `STORED AS NETFLIX_RATINGS` / `NETFLIX_TITLES`, which lists
//!   the files and plans the splits.
//!
//! Every table has the parsed columns and then `file`, `line`, `raw_line`,
//! `reason`: a malformed line is a row with its file, 1-based line number,
//! text and reason, so a job can write rows and rejects apart
//! (`WHERE reason IS NULL` / `IS NOT NULL`, applied inside the scan).

pub mod exec;
pub mod parse;
pub mod table;
pub mod titles;

pub use exec::{FileKind, NetflixScanExec};
pub use table::{NetflixTable, NetflixTableFactory};

#[cfg(test)]
mod tests;
