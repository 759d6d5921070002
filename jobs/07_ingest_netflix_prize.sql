-- Stage 07 ingest_netflix_prize: parse the Netflix Prize rating blocks and
-- the titles file.
--
-- Both are moodflow table formats (not CSV): NETFLIX_RATINGS reads
-- `MovieID:` blocks by byte-range splits on the executors, each split
-- finding the MovieID of its first lines; NETFLIX_TITLES reads the Latin-1
-- titles, split on their first two commas. A malformed line is a row with
-- its file, line number, raw text (line ending included) and reason; `reason IS NULL` and
-- `reason IS NOT NULL` are applied inside the scan.
--
-- Variables (`--conf name=value`): the titles file's name in
-- raw/netflix_prize/ (`moodflow run` sets the one it finds, .csv or .txt),
-- and the byte-range splits of the rating files (0 = the session's target
-- partitions, each at least datafusion.optimizer.repartition_file_min_size
-- bytes).
-- @var netflix_titles_file = movie_titles.csv
-- @var netflix_partitions = 0

-- Ledger: every rating line and title line is written or rejected.
-- @ledger nf_raw_ratings -> netflix_ratings required
-- @ledger nf_raw_titles -> nf_movies_meta required

-- The rating files are read once: the scan of the valid rows sets aside
-- its rejects and each split's line and record counts under
-- ${curated}/_scan/ (never committed), read back below and by the ledger.
CREATE EXTERNAL TABLE nf_raw_ratings STORED AS NETFLIX_RATINGS
LOCATION '${root}/raw/netflix_prize/combined_data_*.txt'
OPTIONS ('partitions' '${netflix_partitions}', 'side_outputs' '${curated}/_scan/netflix_ratings/');

CREATE EXTERNAL TABLE nf_raw_titles STORED AS NETFLIX_TITLES
LOCATION '${root}/raw/netflix_prize/${netflix_titles_file}';

-- A MovieID listed twice is ambiguous: every copy is rejected.
CREATE VIEW titles_checked AS
SELECT movie_id, year, title, file, line, raw_line,
       CASE WHEN count(*) OVER (PARTITION BY movie_id) > 1 THEN 'duplicate MovieID' END AS reject_reason
FROM nf_raw_titles WHERE reason IS NULL;

COPY (
  SELECT movie_id, year, title
  FROM titles_checked WHERE reject_reason IS NULL
) TO '${curated}/nf_movies_meta/' STORED AS PARQUET;

-- (A raw scan's `file` is a view of one URL per chunk; a rejects table
-- stores it as plain text, as the rejects sink does for the other stages.)
COPY (
  SELECT CAST(file AS VARCHAR) AS file, line, raw_line, reason FROM nf_raw_titles WHERE reason IS NOT NULL
  UNION ALL
  SELECT CAST(file AS VARCHAR) AS file, line, raw_line, reject_reason AS reason
  FROM titles_checked WHERE reject_reason IS NOT NULL
) TO '${curated}/_rejects/nf_movies_meta/' STORED AS PARQUET;

-- Ratings of a MovieID without a title are kept (they are valid ratings);
-- they cannot be bridged, and `moodflow verify` counts them.
-- No dictionary for the customer ids, which hardly repeat within a
-- row group, and delta encoding instead (see stage 09 for both).
COPY (
  SELECT movie_id, customer_id, rating, date FROM nf_raw_ratings WHERE reason IS NULL
) TO '${curated}/netflix_ratings/' STORED AS PARQUET
OPTIONS ('dictionary_enabled::customer_id' 'false', 'encoding::customer_id' 'delta_binary_packed');

-- What the scan set aside: a reject's line number within its split plus
-- the lines of the file's earlier splits is its line in the file.
CREATE EXTERNAL TABLE nf_split_rejects (file VARCHAR, start BIGINT, line BIGINT, raw_line VARCHAR, reason VARCHAR)
STORED AS PARQUET LOCATION '${curated}/_scan/netflix_ratings/rejects/';
CREATE EXTERNAL TABLE nf_splits (file VARCHAR, start BIGINT, lines BIGINT, records BIGINT)
STORED AS PARQUET LOCATION '${curated}/_scan/netflix_ratings/splits/';

COPY (
  SELECT r.file, r.line + coalesce(sum(s.lines), 0) AS line, r.raw_line, r.reason
  FROM nf_split_rejects r LEFT JOIN nf_splits s ON s.file = r.file AND s.start < r.start
  GROUP BY r.file, r.start, r.line, r.raw_line, r.reason
) TO '${curated}/_rejects/netflix_ratings/' STORED AS PARQUET;
