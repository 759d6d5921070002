-- Stage 01 etl_movielens: parse and validate the MovieLens CSV files.
--
-- Every raw record ends in exactly one place: its table, or
-- _rejects/<table> with the file, its first and last line, the record
-- exactly as read (quoting and line ending included) and the reason.
--
-- The files are read by moodflow's MOODFLOW_CSV format, not DataFusion's
-- CSV reader: a record with a bad byte, a wrong field count or a stray
-- quote is a row with a `reason` instead of an error that stops the
-- pipeline, a quoted field may span at most 8 lines (a stray quote costs
-- one line, never the rest of the file), and the header is detected (a
-- file without one loses no row). A number column (BIGINT, DOUBLE) holds
-- what TRY_CAST of its text gives, NULL when it does not parse, so the
-- checks here make a bad value a reject too; text columns are cast here.
-- CRLF and LF are both accepted. A large file is read in byte ranges by
-- several tasks, each starting at a line that provably starts a record.

-- Ledger: every record of each file is written or rejected (checked after
-- the job, before its tables are committed; see README "Bad input"). Each
-- scan counts the lines and records of the byte ranges it read into its
-- `side_outputs` folder, so the ledger does not read the files again.
-- @ledger raw_movies -> movielens_movies required
-- @ledger raw_ratings -> movielens_ratings required
-- @ledger raw_tags -> movielens_tags
-- A root without tags is valid: movielens_tags is then empty.
-- @may_be_empty movielens_tags

CREATE EXTERNAL TABLE raw_movies ("movieId" VARCHAR, title VARCHAR, genres VARCHAR)
STORED AS MOODFLOW_CSV LOCATION '${root}/raw/movielens/movies.csv'
OPTIONS ('side_outputs' '${curated}/_scan/raw_movies/');

CREATE EXTERNAL TABLE raw_ratings ("userId" BIGINT, "movieId" BIGINT, rating DOUBLE, "timestamp" BIGINT)
STORED AS MOODFLOW_CSV LOCATION '${root}/raw/movielens/ratings.csv'
OPTIONS ('side_outputs' '${curated}/_scan/raw_ratings/');

CREATE EXTERNAL TABLE raw_tags ("userId" BIGINT, "movieId" BIGINT, tag VARCHAR, "timestamp" BIGINT)
STORED AS MOODFLOW_CSV LOCATION '${root}/raw/movielens/tags.csv'
OPTIONS ('side_outputs' '${curated}/_scan/raw_tags/');

CREATE VIEW movies_checked AS
SELECT "movieId" AS raw_id, title, genres, file, line, line_end, raw_line,
       TRY_CAST("movieId" AS BIGINT) AS id,
       CASE
         WHEN reason IS NOT NULL THEN reason
         WHEN TRY_CAST("movieId" AS BIGINT) IS NULL THEN 'movieId is not an integer'
         WHEN TRY_CAST("movieId" AS BIGINT) <= 0 THEN 'movieId is not positive'
         WHEN title IS NULL OR trim(title) = '' THEN 'title is empty'
         WHEN genres IS NULL OR trim(genres) = '' THEN 'genres are missing'
         WHEN count(*) OVER (PARTITION BY TRY_CAST("movieId" AS BIGINT)) > 1 THEN 'duplicate movieId'
       END AS reject_reason
FROM raw_movies;

-- Each check is one pass: a row with a reason goes to
-- _rejects/<table> (its file, lines, raw record and reason, the columns
-- after `reason`), any other to the table (the columns before it). See
-- README "Bad input".
COPY (
  SELECT id AS "movieId",
         trim(title) AS title,
         title_without_year(title) AS title_clean,
         release_year(title) AS year,
         -- "(no genres listed)" is MovieLens' spelling of an empty list.
         string_to_array(CASE WHEN genres = '(no genres listed)' THEN '' ELSE genres END, '|') AS genres,
         reject_reason AS reason, file, line, line_end, raw_line
  FROM movies_checked
) TO '${curated}/movielens_movies/' STORED AS PARQUET
OPTIONS ('metadata::moodflow_rejects' 'reason');

-- The valid movies, read back from the table just written: a small
-- Parquet table with statistics, so the ratings' join against it is a
-- broadcast (each task holds the ids) instead of a shuffle of every rating.
CREATE EXTERNAL TABLE valid_movies ("movieId" BIGINT)
STORED AS PARQUET LOCATION '${curated}/movielens_movies/';

-- The ratings' numbers are parsed by the scan (typed columns; NULL where
-- TRY_CAST of the text would be NULL), not copied into text columns and
-- cast here: 10M generated ratings, see README "Benchmarks".
CREATE VIEW ratings_checked AS
SELECT r."userId" AS user_id, r."movieId" AS movie_id, r.rating AS stars, r."timestamp" AS ts,
       r.file, r.line, r.line_end, r.raw_line,
       CASE
         WHEN r.reason IS NOT NULL THEN r.reason
         WHEN r."userId" IS NULL OR r."userId" <= 0 THEN 'userId is not a positive integer'
         WHEN r."movieId" IS NULL OR r."movieId" <= 0 THEN 'movieId is not a positive integer'
         WHEN r.rating IS NULL THEN 'rating is not a number'
         WHEN NOT (r.rating BETWEEN 0.5 AND 5.0) THEN 'rating outside 0.5..5'
         WHEN r.rating * 2 <> round(r.rating * 2) THEN 'rating is not a multiple of 0.5'
         WHEN r."timestamp" IS NULL THEN 'timestamp is not an integer'
         WHEN r."timestamp" < 0 OR r."timestamp" > 4102444800 THEN 'timestamp outside 1970..2100'
         WHEN m."movieId" IS NULL THEN 'unknown movieId'
       END AS reject_reason
FROM raw_ratings r LEFT JOIN valid_movies m ON r."movieId" = m."movieId";

CREATE VIEW tags_checked AS
SELECT t."userId", t."movieId", t.tag, t."timestamp", t.file, t.line, t.line_end, t.raw_line,
       CASE
         WHEN t.reason IS NOT NULL THEN t.reason
         WHEN t."userId" IS NULL OR t."userId" <= 0 THEN 'userId is not a positive integer'
         WHEN t."movieId" IS NULL OR t."movieId" <= 0 THEN 'movieId is not a positive integer'
         WHEN t.tag IS NULL OR trim(t.tag) = '' THEN 'tag is empty'
         WHEN t."timestamp" IS NULL THEN 'timestamp is not an integer'
         WHEN t."timestamp" < 0 OR t."timestamp" > 4102444800 THEN 'timestamp outside 1970..2100'
         WHEN m."movieId" IS NULL THEN 'unknown movieId'
       END AS reject_reason
FROM raw_tags t LEFT JOIN valid_movies m ON t."movieId" = m."movieId";

-- The ratings are read, checked and written in one pass (10M generated
-- ratings: before, into an uncompressed scratch table read back twice, once
-- for the table and once for its rejects; see README "Benchmarks").
-- Dictionaries only where a column has few values; the integer columns
-- delta-encoded (see stage 09 for both).
COPY (
  SELECT user_id AS "userId", movie_id AS "movieId", stars AS rating, ts AS "timestamp",
         reject_reason AS reason, file, line, line_end, raw_line
  FROM ratings_checked
) TO '${curated}/movielens_ratings/' STORED AS PARQUET
OPTIONS ('metadata::moodflow_rejects' 'reason', 'dictionary_enabled' 'false', 'dictionary_enabled::rating' 'true',
         'encoding::userId' 'delta_binary_packed', 'encoding::movieId' 'delta_binary_packed',
         'encoding::timestamp' 'delta_binary_packed');

COPY (
  SELECT "userId", "movieId", tag, "timestamp", reject_reason AS reason, file, line, line_end, raw_line
  FROM tags_checked
) TO '${curated}/movielens_tags/' STORED AS PARQUET
OPTIONS ('metadata::moodflow_rejects' 'reason');
