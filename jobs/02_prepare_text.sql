-- Stage 02 prepare_text: one document per movie.
--
-- A movie's segments are its title (year removed), each of its distinct
-- tags, and the catalogue synopsis when exactly one catalogue film has the
-- same title key and release year (ambiguous matches are not guessed). Each
-- segment is normalised: lower case, apostrophes dropped, other punctuation
-- and special characters removed, whitespace collapsed. `text` joins the
-- segments; stage 03 scores each segment on its own (see README).
-- `description` keeps the matched synopsis as written, for the dashboard.

CREATE EXTERNAL TABLE movies STORED AS PARQUET LOCATION '${root}/curated/movielens_movies/';
CREATE EXTERNAL TABLE tags STORED AS PARQUET LOCATION '${root}/curated/movielens_tags/';

-- The catalogue is optional: an absent file reads as no rows. It is read
-- from its own file name (another CSV in raw/catalog/ is not read as
-- catalogue rows) by moodflow's MOODFLOW_CSV format, so a malformed line is
-- a reject, not an error that stops the stage; a description may span a
-- few lines inside its quotes.
CREATE EXTERNAL TABLE raw_catalog (
  show_id VARCHAR, type VARCHAR, title VARCHAR, director VARCHAR, "cast" VARCHAR, country VARCHAR,
  date_added VARCHAR, release_year VARCHAR, rating VARCHAR, duration VARCHAR, listed_in VARCHAR,
  description VARCHAR)
STORED AS MOODFLOW_CSV LOCATION '${root}/raw/catalog/netflix_titles.csv'
OPTIONS ('optional' 'true');

-- Ledger: every catalogue line is a row of netflix_catalog or a reject.
-- @ledger raw_catalog -> netflix_catalog
-- @may_be_empty netflix_catalog

COPY (
  SELECT show_id, type, title, director, "cast", country, date_added,
         TRY_CAST(release_year AS INT) AS release_year, rating, duration, listed_in, description
  FROM raw_catalog WHERE reason IS NULL
) TO '${curated}/netflix_catalog/' STORED AS PARQUET;

COPY (
  SELECT file, line, line_end, raw_line, reason FROM raw_catalog WHERE reason IS NOT NULL
) TO '${curated}/_rejects/netflix_catalog/' STORED AS PARQUET;

CREATE VIEW catalog AS
SELECT title_key(title) AS key, TRY_CAST(release_year AS INT) AS year,
       min(description) AS description, count(*) AS candidates
FROM raw_catalog
WHERE reason IS NULL AND type = 'Movie' AND description IS NOT NULL AND title IS NOT NULL
GROUP BY title_key(title), TRY_CAST(release_year AS INT);

CREATE VIEW described AS
SELECT m."movieId", c.description
FROM movies m JOIN catalog c ON title_key(m.title) = c.key AND m.year = c.year
WHERE c.candidates = 1;

CREATE VIEW segment_rows AS
SELECT "movieId", 0 AS kind, normalize_text(title_clean) AS segment FROM movies
UNION ALL
SELECT DISTINCT "movieId", 1 AS kind, normalize_text(tag) AS segment FROM tags
UNION ALL
SELECT "movieId", 2 AS kind, normalize_text(description) AS segment FROM described;

CREATE VIEW segments AS
SELECT "movieId", array_agg(segment ORDER BY kind, segment) AS segments,
       sum(CASE WHEN kind = 1 THEN 1 ELSE 0 END) AS n_tags
FROM segment_rows WHERE segment <> ''
GROUP BY "movieId";

COPY (
  SELECT m."movieId", m.title_clean AS title, m.year,
         coalesce(array_to_string(s.segments, ' '), '') AS text,
         s.segments,
         coalesce(s.n_tags, 0) AS n_tags,
         d.description IS NOT NULL AS has_description,
         d.description
  FROM movies m
  LEFT JOIN segments s ON m."movieId" = s."movieId"
  LEFT JOIN described d ON m."movieId" = d."movieId"
) TO '${curated}/movie_text/' STORED AS PARQUET;
