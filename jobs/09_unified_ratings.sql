-- Stage 09 unified_ratings: MovieLens ratings and the bridged Netflix
-- ratings in one table keyed by MovieLens movieId.
--
-- One scale: stars, 0.5..5 (MovieLens half stars, Netflix whole stars 1..5,
-- both already on the 5-star scale, so values are kept as they are). Users
-- are namespaced by source ("ml:12", "nf:1488844"): the two sources number
-- their users independently. Timestamps are Unix seconds (a Netflix date
-- is its midnight UTC). The last statement gives the per-source statistics
-- that `moodflow run` prints.

CREATE EXTERNAL TABLE ml_ratings STORED AS PARQUET LOCATION '${root}/curated/movielens_ratings/';
CREATE EXTERNAL TABLE nf_ratings STORED AS PARQUET LOCATION '${root}/curated/netflix_ratings/';
CREATE EXTERNAL TABLE bridge STORED AS PARQUET LOCATION '${root}/curated/title_bridge/';

-- Two statements into the one folder, not a UNION ALL: Ballista ran the
-- union's Netflix side as a stage of its own and shuffled its rows to the
-- writing stage (10M generated ratings: 4.5-4.9 s as one statement,
-- 4.3-4.5 s as two). The folder's files are the table either way.
--
-- The user ids are written by `namespaced_id` (the same text as
-- concat('ml:', CAST("userId" AS VARCHAR)), formatted once instead of
-- cast and then copied behind the prefix: 10M generated ratings, the
-- first statement alone, five alternating rounds, the first left out: 1.12 s -> 0.87 s,
-- 2.05 s -> 1.59 s of CPU; the same rows).
--
-- Parquet dictionaries only for the columns with a handful of values
-- (source, rating): for users, films and timestamps the writer hashed
-- every value into a dictionary (a third of this statement's time in
-- `perf`) that zstd makes no smaller. 10M generated ratings, the first
-- statement, three alternating runs each: 2.19 s -> 1.60 s on average,
-- the same 87 MB written.
--
-- The integer columns are delta-encoded (DELTA_BINARY_PACKED, a standard
-- Parquet encoding every reader knows): each page holds the differences
-- bit-packed, so lz4 is handed a third of the bytes. 10M generated
-- ratings, the first statement alone, three alternating rounds: 0.89 s
-- -> 0.63 s, 1.6 s -> 1.1 s of CPU, its files 139 MB -> 81 MB. (The users
-- as DELTA_BYTE_ARRAY: no better; lz4 already packs a user's repeated
-- string.)
COPY (
  SELECT "movieId", 'movielens' AS source, namespaced_id('ml:', "userId") AS "userId",
         rating, "timestamp", "movieId" AS source_movie_id
  FROM ml_ratings
) TO '${curated}/unified_ratings/' STORED AS PARQUET
OPTIONS ('dictionary_enabled' 'false', 'dictionary_enabled::source' 'true', 'dictionary_enabled::rating' 'true',
         'encoding::movieId' 'delta_binary_packed', 'encoding::timestamp' 'delta_binary_packed',
         'encoding::source_movie_id' 'delta_binary_packed');

COPY (
  SELECT b."movieId", 'netflix' AS source, namespaced_id('nf:', r.customer_id) AS "userId",
         CAST(r.rating AS DOUBLE) AS rating,
         CAST(CAST(r.date AS INT) AS BIGINT) * 86400 AS "timestamp", r.movie_id AS source_movie_id
  FROM nf_ratings r JOIN bridge b ON r.movie_id = b.nf_movie_id
) TO '${curated}/unified_ratings/' STORED AS PARQUET
OPTIONS ('dictionary_enabled' 'false', 'dictionary_enabled::source' 'true', 'dictionary_enabled::rating' 'true',
         'encoding::movieId' 'delta_binary_packed', 'encoding::timestamp' 'delta_binary_packed',
         'encoding::source_movie_id' 'delta_binary_packed');

-- The statistics are counted from the two sources, where users and films
-- are integers, not from the table just written: the same figures (the
-- two COPYs above write the table from these same rows, and a namespaced
-- user is one source's integer id; the stage 11 checks compare the table's
-- count with these), without hashing 14M user strings. 10M generated
-- ratings: 1.14-1.58 s -> 0.50-0.62 s for this statement. A source without
-- ratings has no row, as under a GROUP BY.
SELECT * FROM (
  SELECT 'movielens' AS source,
         count(*) AS ratings,
         count(DISTINCT "userId") AS users,
         count(DISTINCT "movieId") AS movies,
         round(avg(rating), 3) AS mean_rating,
         CAST(to_timestamp(min("timestamp")) AS DATE) AS first,
         CAST(to_timestamp(max("timestamp")) AS DATE) AS last
  FROM ml_ratings HAVING count(*) > 0
  UNION ALL
  SELECT 'netflix' AS source,
         count(*) AS ratings,
         count(DISTINCT r.customer_id) AS users,
         count(DISTINCT b."movieId") AS movies,
         round(avg(CAST(r.rating AS DOUBLE)), 3) AS mean_rating,
         min(r.date) AS first,
         max(r.date) AS last
  FROM nf_ratings r JOIN bridge b ON r.movie_id = b.nf_movie_id HAVING count(*) > 0
) ORDER BY source;
