-- Stage 01 etl_movielens: parse and validate the MovieLens CSV files.
--
-- Every raw row ends in exactly one place: its table, or
-- _rejects/<table> with the file, the row re-joined from its fields and the
-- reason. Columns are read as text and cast here, so a bad value becomes a
-- reject instead of failing the stage. CRLF and LF are both accepted.

CREATE EXTERNAL TABLE raw_movies ("movieId" VARCHAR, title VARCHAR, genres VARCHAR)
STORED AS CSV LOCATION '${root}/raw/movielens/movies.csv'
OPTIONS ('format.has_header' 'true', 'format.truncated_rows' 'true');

CREATE EXTERNAL TABLE raw_ratings ("userId" VARCHAR, "movieId" VARCHAR, rating VARCHAR, "timestamp" VARCHAR)
STORED AS CSV LOCATION '${root}/raw/movielens/ratings.csv'
OPTIONS ('format.has_header' 'true', 'format.truncated_rows' 'true');

CREATE EXTERNAL TABLE raw_tags ("userId" VARCHAR, "movieId" VARCHAR, tag VARCHAR, "timestamp" VARCHAR)
STORED AS CSV LOCATION '${root}/raw/movielens/tags.csv'
OPTIONS ('format.has_header' 'true', 'format.truncated_rows' 'true');

CREATE VIEW movies_checked AS
SELECT "movieId" AS raw_id, title, genres,
       TRY_CAST("movieId" AS BIGINT) AS id,
       CASE
         WHEN TRY_CAST("movieId" AS BIGINT) IS NULL THEN 'movieId is not an integer'
         WHEN TRY_CAST("movieId" AS BIGINT) <= 0 THEN 'movieId is not positive'
         WHEN title IS NULL OR trim(title) = '' THEN 'title is empty'
         WHEN genres IS NULL OR trim(genres) = '' THEN 'genres are missing'
         WHEN count(*) OVER (PARTITION BY TRY_CAST("movieId" AS BIGINT)) > 1 THEN 'duplicate movieId'
       END AS reject_reason
FROM raw_movies;

CREATE VIEW valid_movie_ids AS
SELECT id FROM movies_checked WHERE reject_reason IS NULL;

CREATE VIEW ratings_checked AS
SELECT r."userId", r."movieId", r.rating, r."timestamp",
       CASE
         WHEN TRY_CAST(r."userId" AS BIGINT) IS NULL OR TRY_CAST(r."userId" AS BIGINT) <= 0 THEN 'userId is not a positive integer'
         WHEN TRY_CAST(r."movieId" AS BIGINT) IS NULL OR TRY_CAST(r."movieId" AS BIGINT) <= 0 THEN 'movieId is not a positive integer'
         WHEN TRY_CAST(r.rating AS DOUBLE) IS NULL THEN 'rating is not a number'
         WHEN NOT (TRY_CAST(r.rating AS DOUBLE) BETWEEN 0.5 AND 5.0) THEN 'rating outside 0.5..5'
         WHEN TRY_CAST(r.rating AS DOUBLE) * 2 <> round(TRY_CAST(r.rating AS DOUBLE) * 2) THEN 'rating is not a multiple of 0.5'
         WHEN TRY_CAST(r."timestamp" AS BIGINT) IS NULL THEN 'timestamp is not an integer'
         WHEN TRY_CAST(r."timestamp" AS BIGINT) < 0 OR TRY_CAST(r."timestamp" AS BIGINT) > 4102444800 THEN 'timestamp outside 1970..2100'
         WHEN m.id IS NULL THEN 'unknown movieId'
       END AS reject_reason
FROM raw_ratings r LEFT JOIN valid_movie_ids m ON TRY_CAST(r."movieId" AS BIGINT) = m.id;

CREATE VIEW tags_checked AS
SELECT t."userId", t."movieId", t.tag, t."timestamp",
       CASE
         WHEN TRY_CAST(t."userId" AS BIGINT) IS NULL OR TRY_CAST(t."userId" AS BIGINT) <= 0 THEN 'userId is not a positive integer'
         WHEN TRY_CAST(t."movieId" AS BIGINT) IS NULL OR TRY_CAST(t."movieId" AS BIGINT) <= 0 THEN 'movieId is not a positive integer'
         WHEN t.tag IS NULL OR trim(t.tag) = '' THEN 'tag is empty'
         WHEN TRY_CAST(t."timestamp" AS BIGINT) IS NULL THEN 'timestamp is not an integer'
         WHEN TRY_CAST(t."timestamp" AS BIGINT) < 0 OR TRY_CAST(t."timestamp" AS BIGINT) > 4102444800 THEN 'timestamp outside 1970..2100'
         WHEN m.id IS NULL THEN 'unknown movieId'
       END AS reject_reason
FROM raw_tags t LEFT JOIN valid_movie_ids m ON TRY_CAST(t."movieId" AS BIGINT) = m.id;

COPY (
  SELECT id AS "movieId",
         trim(title) AS title,
         title_without_year(title) AS title_clean,
         release_year(title) AS year,
         -- "(no genres listed)" is MovieLens' spelling of an empty list.
         string_to_array(CASE WHEN genres = '(no genres listed)' THEN '' ELSE genres END, '|') AS genres
  FROM movies_checked WHERE reject_reason IS NULL
) TO '${curated}/movielens_movies/' STORED AS PARQUET;

COPY (
  SELECT 'raw/movielens/movies.csv' AS file,
         concat(coalesce(raw_id, ''), ',', coalesce(title, ''), ',', coalesce(genres, '')) AS raw_line,
         reject_reason AS reason
  FROM movies_checked WHERE reject_reason IS NOT NULL
) TO '${curated}/_rejects/movielens_movies/' STORED AS PARQUET;

COPY (
  SELECT CAST("userId" AS BIGINT) AS "userId",
         CAST("movieId" AS BIGINT) AS "movieId",
         CAST(rating AS DOUBLE) AS rating,
         CAST("timestamp" AS BIGINT) AS "timestamp"
  FROM ratings_checked WHERE reject_reason IS NULL
) TO '${curated}/movielens_ratings/' STORED AS PARQUET;

COPY (
  SELECT 'raw/movielens/ratings.csv' AS file,
         concat(coalesce("userId", ''), ',', coalesce("movieId", ''), ',', coalesce(rating, ''), ',', coalesce("timestamp", '')) AS raw_line,
         reject_reason AS reason
  FROM ratings_checked WHERE reject_reason IS NOT NULL
) TO '${curated}/_rejects/movielens_ratings/' STORED AS PARQUET;

COPY (
  SELECT CAST("userId" AS BIGINT) AS "userId",
         CAST("movieId" AS BIGINT) AS "movieId",
         tag,
         CAST("timestamp" AS BIGINT) AS "timestamp"
  FROM tags_checked WHERE reject_reason IS NULL
) TO '${curated}/movielens_tags/' STORED AS PARQUET;

COPY (
  SELECT 'raw/movielens/tags.csv' AS file,
         concat(coalesce("userId", ''), ',', coalesce("movieId", ''), ',', coalesce(tag, ''), ',', coalesce("timestamp", '')) AS raw_line,
         reject_reason AS reason
  FROM tags_checked WHERE reject_reason IS NOT NULL
) TO '${curated}/_rejects/movielens_tags/' STORED AS PARQUET;
