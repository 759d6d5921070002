-- Stage 02 prepare_text: one document per movie.
--
-- A movie's segments are its title (year removed), each of its distinct
-- tags, and the catalogue synopsis when exactly one catalogue film has the
-- same title key and release year (ambiguous matches are not guessed). Each
-- segment is normalised: lower case, apostrophes dropped, other punctuation
-- and special characters removed, whitespace collapsed. `text` joins the
-- segments; stage 03 scores each segment on its own (see README).
-- `description` keeps the matched synopsis as written, for the dashboard.
--
-- `movie_evidence` gathers every text that can say how a film feels, one
-- row per text with its source and how much it counts (stage 03 weighs and
-- scores them): the title; each tag with the number of people who used it;
-- the catalogue synopsis; TMDB's overview, tagline and each keyword when
-- raw/catalog/tmdb_5000_movies.csv is present (matched through
-- links.csv's tmdbId, else by title and year when exactly one TMDB film
-- has them); the MovieLens Tag Genome's tags at relevance >=
-- ${genome_min_relevance} when raw/movielens/genome-scores.csv and
-- genome-tags.csv are present; and the genre names (for energy only).
-- Every source is optional and read from its own file name.
-- @var genome_min_relevance = 0.5

CREATE EXTERNAL TABLE movies STORED AS PARQUET LOCATION '${root}/curated/movielens_movies/';
CREATE EXTERNAL TABLE tags STORED AS PARQUET LOCATION '${root}/curated/movielens_tags/';

-- The catalogue is optional: an absent file reads as no rows. It is read
-- from its own file name (another CSV in raw/catalog/ is not read as
-- catalogue rows) by moodflow's MOODFLOW_CSV format, so a malformed line is
-- a reject, not an error that stops the stage; a description may span a
-- few lines inside its quotes. Every CSV scan counts what it read into its
-- `side_outputs` folder, which the ledger adds up instead of reading the
-- files again.
CREATE EXTERNAL TABLE raw_catalog (
  show_id VARCHAR, type VARCHAR, title VARCHAR, director VARCHAR, "cast" VARCHAR, country VARCHAR,
  date_added VARCHAR, release_year VARCHAR, rating VARCHAR, duration VARCHAR, listed_in VARCHAR,
  description VARCHAR)
STORED AS MOODFLOW_CSV LOCATION '${root}/raw/catalog/netflix_titles.csv'
OPTIONS ('optional' 'true', 'side_outputs' '${curated}/_scan/raw_catalog/');

-- Ledger: every catalogue line is a row of netflix_catalog or a reject.
-- @ledger raw_catalog -> netflix_catalog
-- @may_be_empty netflix_catalog

-- Each file is checked in one pass: a row with a reason goes to
-- _rejects/<table> with the columns after `reason`, any other to the table
-- with the columns before it (see stage 01). Values are cast with TRY_CAST
-- because the rejected rows pass through the same SELECT.
COPY (
  SELECT show_id, type, title, director, "cast", country, date_added,
         TRY_CAST(release_year AS INT) AS release_year, rating, duration, listed_in, description,
         reason, file, line, line_end, raw_line
  FROM raw_catalog
) TO '${curated}/netflix_catalog/' STORED AS PARQUET
OPTIONS ('metadata::moodflow_rejects' 'reason');

-- links.csv (MovieLens' own map to TMDB ids), optional.
CREATE EXTERNAL TABLE raw_links ("movieId" VARCHAR, "imdbId" VARCHAR, "tmdbId" VARCHAR)
STORED AS MOODFLOW_CSV LOCATION '${root}/raw/movielens/links.csv'
OPTIONS ('optional' 'true', 'side_outputs' '${curated}/_scan/raw_links/');
-- @ledger raw_links -> movielens_links
-- @may_be_empty movielens_links

CREATE VIEW links_checked AS
SELECT *, CASE
    WHEN reason IS NOT NULL THEN reason
    WHEN TRY_CAST("movieId" AS BIGINT) IS NULL THEN 'movieId is not an integer'
    WHEN "tmdbId" IS NOT NULL AND trim("tmdbId") <> '' AND TRY_CAST("tmdbId" AS BIGINT) IS NULL THEN 'tmdbId is not an integer'
  END AS reject_reason
FROM raw_links;

COPY (
  SELECT TRY_CAST("movieId" AS BIGINT) AS "movieId", "imdbId", TRY_CAST("tmdbId" AS BIGINT) AS "tmdbId",
         reject_reason AS reason, file, line, line_end, raw_line
  FROM links_checked
) TO '${curated}/movielens_links/' STORED AS PARQUET
OPTIONS ('metadata::moodflow_rejects' 'reason');

-- TMDB 5000 movies (Kaggle layout), optional. genres and keywords are JSON
-- lists of {id, name}; a row whose lists do not parse is a reject.
CREATE EXTERNAL TABLE raw_tmdb (
  budget VARCHAR, genres VARCHAR, homepage VARCHAR, id VARCHAR, keywords VARCHAR,
  original_language VARCHAR, original_title VARCHAR, overview VARCHAR, popularity VARCHAR,
  production_companies VARCHAR, production_countries VARCHAR, release_date VARCHAR, revenue VARCHAR,
  runtime VARCHAR, spoken_languages VARCHAR, status VARCHAR, tagline VARCHAR, title VARCHAR,
  vote_average VARCHAR, vote_count VARCHAR)
STORED AS MOODFLOW_CSV LOCATION '${root}/raw/catalog/tmdb_5000_movies.csv'
OPTIONS ('optional' 'true', 'side_outputs' '${curated}/_scan/raw_tmdb/');
-- @ledger raw_tmdb -> tmdb_movies
-- @may_be_empty tmdb_movies

CREATE VIEW tmdb_checked AS
SELECT *, CASE
    WHEN reason IS NOT NULL THEN reason
    WHEN TRY_CAST(id AS BIGINT) IS NULL THEN 'id is not an integer'
    WHEN title IS NULL OR trim(title) = '' THEN 'title is empty'
    WHEN json_names(coalesce(genres, '')) IS NULL THEN 'genres is not a JSON list of {"name": ...}'
    WHEN json_names(coalesce(keywords, '')) IS NULL THEN 'keywords is not a JSON list of {"name": ...}'
  END AS reject_reason
FROM raw_tmdb;

COPY (
  SELECT TRY_CAST(id AS BIGINT) AS id, title, TRY_CAST(substr(release_date, 1, 4) AS INT) AS year,
         overview, tagline, json_names(coalesce(genres, '')) AS genres,
         json_names(coalesce(keywords, '')) AS keywords,
         reject_reason AS reason, file, line, line_end, raw_line
  FROM tmdb_checked
) TO '${curated}/tmdb_movies/' STORED AS PARQUET
OPTIONS ('metadata::moodflow_rejects' 'reason');

-- The Tag Genome (ml-20m, ml-25m, full ml-latest), optional.
CREATE EXTERNAL TABLE raw_genome_tags ("tagId" VARCHAR, tag VARCHAR)
STORED AS MOODFLOW_CSV LOCATION '${root}/raw/movielens/genome-tags.csv'
OPTIONS ('optional' 'true', 'side_outputs' '${curated}/_scan/raw_genome_tags/');
-- @ledger raw_genome_tags -> genome_tags
-- @may_be_empty genome_tags

-- Its scores (one row per film and tag: 1.7M at 10M generated ratings)
-- are read typed, as stage 01's ratings are: parsed once by the scan, NULL
-- where TRY_CAST of the text would be (see README "Typed CSV columns").
CREATE EXTERNAL TABLE raw_genome_scores ("movieId" BIGINT, "tagId" BIGINT, relevance DOUBLE)
STORED AS MOODFLOW_CSV LOCATION '${root}/raw/movielens/genome-scores.csv'
OPTIONS ('optional' 'true', 'side_outputs' '${curated}/_scan/raw_genome_scores/');
-- @ledger raw_genome_scores -> genome_scores
-- @may_be_empty genome_scores

CREATE VIEW genome_tags_checked AS
SELECT *, CASE
    WHEN reason IS NOT NULL THEN reason
    WHEN TRY_CAST("tagId" AS BIGINT) IS NULL THEN 'tagId is not an integer'
    WHEN tag IS NULL OR trim(tag) = '' THEN 'tag is empty'
  END AS reject_reason
FROM raw_genome_tags;

CREATE VIEW genome_scores_checked AS
SELECT *, CASE
    WHEN reason IS NOT NULL THEN reason
    WHEN "movieId" IS NULL THEN 'movieId is not an integer'
    WHEN "tagId" IS NULL THEN 'tagId is not an integer'
    WHEN relevance IS NULL THEN 'relevance is not a number'
    WHEN NOT (relevance BETWEEN 0 AND 1) THEN 'relevance outside 0..1'
  END AS reject_reason
FROM raw_genome_scores;

COPY (
  SELECT TRY_CAST("tagId" AS BIGINT) AS "tagId", tag, reject_reason AS reason, file, line, line_end, raw_line
  FROM genome_tags_checked
) TO '${curated}/genome_tags/' STORED AS PARQUET
OPTIONS ('metadata::moodflow_rejects' 'reason');

COPY (
  SELECT "movieId", "tagId", relevance, reject_reason AS reason, file, line, line_end, raw_line
  FROM genome_scores_checked
) TO '${curated}/genome_scores/' STORED AS PARQUET
OPTIONS ('metadata::moodflow_rejects' 'reason');

CREATE VIEW catalog AS
SELECT title_key(title) AS key, TRY_CAST(release_year AS INT) AS year,
       min(description) AS description, count(*) AS candidates
FROM raw_catalog
WHERE reason IS NULL AND type = 'Movie' AND description IS NOT NULL AND title IS NOT NULL
GROUP BY title_key(title), TRY_CAST(release_year AS INT);

-- Written once to the job's scratch: three statements below read it.
COPY (
  SELECT m."movieId", c.description
  FROM movies m JOIN catalog c ON title_key(m.title) = c.key AND m.year = c.year
  WHERE c.candidates = 1
) TO '${curated}/_scan/described/' STORED AS PARQUET;

CREATE EXTERNAL TABLE described ("movieId" BIGINT, description VARCHAR)
STORED AS PARQUET LOCATION '${curated}/_scan/described/';

-- Each movie's distinct tag segments, sorted. (An `array_agg(... ORDER
-- BY ...)` over title, tag and synopsis rows gives the same list, but it
-- keeps one accumulator of scalar values per movie: 4.4 s of this stage
-- at 10M ratings. Grouping first and sorting each list is the plain
-- grouped `array_agg`.)
CREATE VIEW tag_segments AS
SELECT "movieId", array_sort(array_agg(segment)) AS tags, count(*) AS n_tags
FROM (SELECT DISTINCT "movieId", normalize_text(tag) AS segment FROM tags)
WHERE segment <> ''
GROUP BY "movieId";

-- Title, tags, synopsis, in that order; empty segments dropped.
CREATE VIEW movie_segments AS
SELECT m."movieId", m.title_clean, m.year, t.n_tags, d.description,
       array_remove_all(array_concat(
         make_array(coalesce(normalize_text(m.title_clean), '')),
         coalesce(t.tags, make_array('')),
         make_array(coalesce(normalize_text(d.description), ''))), '') AS segments
FROM movies m
LEFT JOIN tag_segments t ON m."movieId" = t."movieId"
LEFT JOIN described d ON m."movieId" = d."movieId";

COPY (
  SELECT "movieId", title_clean AS title, year,
         coalesce(array_to_string(segments, ' '), '') AS text,
         CASE WHEN cardinality(segments) > 0 THEN segments END AS segments,
         coalesce(n_tags, 0) AS n_tags,
         description IS NOT NULL AS has_description,
         description
  FROM movie_segments
) TO '${curated}/movie_text/' STORED AS PARQUET;

-- Every text that can say how a film feels (see the header). The optional
-- sources are read back from the typed tables just written, not parsed
-- again.
-- (Their schemas are written out: an absent source leaves no file yet.)
CREATE EXTERNAL TABLE links ("movieId" BIGINT, "imdbId" VARCHAR, "tmdbId" BIGINT)
STORED AS PARQUET LOCATION '${curated}/movielens_links/';
CREATE EXTERNAL TABLE tmdb (id BIGINT, title VARCHAR, year INT, overview VARCHAR, tagline VARCHAR,
  genres VARCHAR[], keywords VARCHAR[])
STORED AS PARQUET LOCATION '${curated}/tmdb_movies/';
CREATE EXTERNAL TABLE genome_tags ("tagId" BIGINT, tag VARCHAR)
STORED AS PARQUET LOCATION '${curated}/genome_tags/';
CREATE EXTERNAL TABLE genome_scores ("movieId" BIGINT, "tagId" BIGINT, relevance DOUBLE)
STORED AS PARQUET LOCATION '${curated}/genome_scores/';

CREATE VIEW tmdb_keys AS
SELECT title_key(title) AS key, year, min(id) AS id, count(*) AS candidates
FROM tmdb GROUP BY title_key(title), year;

CREATE VIEW tmdb_linked AS
SELECT DISTINCT l."movieId", t.id
FROM links l JOIN tmdb t ON l."tmdbId" = t.id;

CREATE VIEW tmdb_match AS
SELECT "movieId", id FROM tmdb_linked
UNION ALL
SELECT m."movieId", k.id
FROM movies m JOIN tmdb_keys k ON title_key(m.title) = k.key AND m.year = k.year
WHERE k.candidates = 1 AND m."movieId" NOT IN (SELECT "movieId" FROM tmdb_linked);

-- Written once to the job's scratch: the evidence reads it four times.
COPY (
  SELECT x."movieId", t.overview, t.tagline, t.keywords, t.genres
  FROM tmdb_match x JOIN tmdb t ON t.id = x.id
) TO '${curated}/_scan/tmdb_texts/' STORED AS PARQUET;

CREATE EXTERNAL TABLE tmdb_texts ("movieId" BIGINT, overview VARCHAR, tagline VARCHAR,
  keywords VARCHAR[], genres VARCHAR[])
STORED AS PARQUET LOCATION '${curated}/_scan/tmdb_texts/';

CREATE VIEW genome AS
SELECT s."movieId", g.tag, s.relevance
FROM genome_scores s JOIN genome_tags g ON g."tagId" = s."tagId"
WHERE s.relevance >= ${genome_min_relevance};

CREATE VIEW evidence AS
SELECT "movieId", 'title' AS source, title_clean AS text, 1.0 AS amount FROM movies
UNION ALL
SELECT "movieId", 'tag' AS source, lower(trim(tag)) AS text, CAST(count(DISTINCT "userId") AS DOUBLE) AS amount
FROM tags GROUP BY "movieId", lower(trim(tag))
UNION ALL
SELECT "movieId", 'synopsis' AS source, description AS text, 1.0 AS amount FROM described
UNION ALL
SELECT "movieId", 'overview' AS source, overview AS text, 1.0 AS amount FROM tmdb_texts
UNION ALL
SELECT "movieId", 'tagline' AS source, tagline AS text, 1.0 AS amount FROM tmdb_texts
UNION ALL
SELECT "movieId", 'keyword' AS source, keyword AS text, 1.0 AS amount
FROM (SELECT "movieId", unnest(keywords) AS keyword FROM tmdb_texts)
UNION ALL
SELECT "movieId", 'genome' AS source, tag AS text, relevance AS amount FROM genome
UNION ALL
SELECT "movieId", 'genres' AS source, array_to_string(genres, ' ') AS text, 1.0 AS amount
FROM movies WHERE array_length(genres) > 0;

-- Not sorted: stage 03 aggregates it and every reader that shows it sorts
-- what it shows; an ORDER BY here merged all partitions into one sorted
-- writer (10M generated ratings, 820,416 rows: 0.63-0.76 s -> 0.41-0.43 s
-- for this statement).
COPY (
  SELECT "movieId", source, text, round(max(amount), 6) AS amount
  FROM evidence
  WHERE text IS NOT NULL AND trim(text) <> '' AND text <> '(no genres listed)'
  GROUP BY "movieId", source, text
) TO '${curated}/movie_evidence/' STORED AS PARQUET;
