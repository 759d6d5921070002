-- Stage 08 bridge_titles: map Netflix movie ids to MovieLens ids by
-- normalised title and year.
--
-- Keys: title_key() folds case, diacritics and punctuation, reads "&" as
-- "and", drops the trailing (YYYY) and moves a trailing article to the
-- front ("Matrix, The" = "The Matrix", also "Les", "La", "Die"...). A
-- MovieLens movie also answers to its alternate titles in parentheses
-- ("(a.k.a. ...)", original-language titles): title_alt_keys().
--
-- Matching, per Netflix id, the first tier that has any candidate decides:
--   1 exact       same key, same year;
--   2 year_pm1    same key, year one off;
--   3 title_only  same key, and the key names exactly one MovieLens movie,
--                 whose year is at most ${bridge_max_year_gap} off (or
--                 either year is unknown).
-- A tier with several candidate movies is ambiguous and is not guessed:
-- the title goes to title_bridge_unmatched with the candidates' ids, as
-- does a unique title whose year is further off. The year limit comes from
-- checking real pairs by eye (ml-latest-small against the Netflix Prize
-- titles): a unique title 2 years off is right about 9 times in 10, 3 years
-- off about 6 in 10, further off mostly a remake or another film of the
-- same name ("Under the Skin" 1997 vs 2013, "Thunderbirds" 1965 vs 2004).
--
-- Variable (`--conf name=value`): how far a unique title's years may be
-- apart for a title-only match.
-- @var bridge_max_year_gap = 2
-- Every title may bridge: title_bridge_unmatched may be empty.
-- @may_be_empty title_bridge_unmatched

CREATE EXTERNAL TABLE ml_movies STORED AS PARQUET LOCATION '${root}/curated/movielens_movies/';
CREATE EXTERNAL TABLE nf_meta STORED AS PARQUET LOCATION '${root}/curated/nf_movies_meta/';

CREATE VIEW ml_key_rows AS
SELECT "movieId" AS ml_id, year AS ml_year, title AS ml_title, title_key(title) AS key, 0 AS alternate
FROM ml_movies
UNION ALL
SELECT ml_id, ml_year, ml_title, key, 1 AS alternate
FROM (SELECT "movieId" AS ml_id, year AS ml_year, title AS ml_title, unnest(title_alt_keys(title)) AS key
      FROM ml_movies);

-- One row per (movie, key); a key that is both a movie's title and one of
-- its alternates counts as its title.
CREATE VIEW ml_keys AS
SELECT ml_id, ml_year, ml_title, key, min(alternate) AS alternate
FROM ml_key_rows WHERE key <> ''
GROUP BY ml_id, ml_year, ml_title, key;

CREATE VIEW nf_keys AS
SELECT movie_id AS nf_id, year AS nf_year, title AS nf_title, title_key(title) AS key
FROM nf_meta WHERE title_key(title) <> '';

-- The candidates and the decision per Netflix title are each computed
-- once into the job's scratch: both tables below read them, several times.
COPY (
  SELECT n.nf_id, n.nf_year, n.nf_title, m.ml_id, m.ml_year, m.ml_title, m.alternate,
         CASE WHEN n.nf_year = m.ml_year THEN 1
              WHEN abs(n.nf_year - m.ml_year) = 1 THEN 2
              ELSE 3 END AS tier
  FROM nf_keys n JOIN ml_keys m ON n.key = m.key
) TO '${curated}/_scan/candidates/' STORED AS PARQUET;

CREATE EXTERNAL TABLE candidates (nf_id BIGINT, nf_year INT, nf_title VARCHAR, ml_id BIGINT, ml_year INT,
  ml_title VARCHAR, alternate BIGINT, tier BIGINT)
STORED AS PARQUET LOCATION '${curated}/_scan/candidates/';

-- The deciding tier of each Netflix id, and how many movies it offers.
COPY (
  SELECT c.nf_id, c.tier, count(DISTINCT c.ml_id) AS movies, min(c.ml_id) AS ml_id,
         coalesce(max(abs(c.nf_year - c.ml_year)), 0) AS gap,
         array_to_string(array_sort(array_distinct(array_agg(c.ml_id))), ' ') AS ml_ids
  FROM candidates c
  JOIN (SELECT nf_id, min(tier) AS tier FROM candidates GROUP BY nf_id) b
    ON c.nf_id = b.nf_id AND c.tier = b.tier
  GROUP BY c.nf_id, c.tier
) TO '${curated}/_scan/decided/' STORED AS PARQUET;

CREATE EXTERNAL TABLE decided (nf_id BIGINT, tier BIGINT, movies BIGINT, ml_id BIGINT, gap BIGINT, ml_ids VARCHAR)
STORED AS PARQUET LOCATION '${curated}/_scan/decided/';

COPY (
  SELECT c.nf_id AS nf_movie_id,
         c.ml_id AS "movieId",
         CASE c.tier WHEN 1 THEN 'exact' WHEN 2 THEN 'year_pm1' ELSE 'title_only' END AS kind,
         CASE c.alternate WHEN 0 THEN 'title' ELSE 'alternate title' END AS matched_on,
         c.nf_title, c.nf_year, c.ml_title, c.ml_year
  FROM candidates c JOIN decided d ON c.nf_id = d.nf_id AND c.tier = d.tier AND c.ml_id = d.ml_id
  WHERE d.movies = 1 AND (d.tier < 3 OR d.gap <= ${bridge_max_year_gap})
) TO '${curated}/title_bridge/' STORED AS PARQUET;

COPY (
  SELECT n.movie_id AS nf_movie_id, n.title AS nf_title, n.year AS nf_year,
         CASE
           WHEN d.nf_id IS NULL THEN 'no MovieLens title with the same key'
           WHEN d.tier = 1 THEN concat('ambiguous: ', CAST(d.movies AS VARCHAR), ' MovieLens movies with the same title and year')
           WHEN d.tier = 2 THEN concat('ambiguous: ', CAST(d.movies AS VARCHAR), ' MovieLens movies with the same title, year one off')
           WHEN d.movies = 1 THEN concat('the one MovieLens movie with the same title is ', CAST(d.gap AS VARCHAR),
                                         ' years off (more than ${bridge_max_year_gap})')
           ELSE concat('ambiguous: ', CAST(d.movies AS VARCHAR), ' MovieLens movies with the same title, other years')
         END AS reason,
         d.ml_ids AS candidates
  FROM nf_meta n LEFT JOIN decided d ON n.movie_id = d.nf_id
  WHERE d.nf_id IS NULL OR d.movies > 1 OR (d.tier = 3 AND d.gap > ${bridge_max_year_gap})
) TO '${curated}/title_bridge_unmatched/' STORED AS PARQUET;
