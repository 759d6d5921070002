-- Stage 03 sentiment: VADER scores per movie.
--
-- VADER's compound saturates on long texts (a movie with forty tags scores
-- near +-1 whatever they say), so each segment (title, tag, synopsis) is
-- scored on its own and the movie gets the mean of its segments' scores,
-- as vaderSentiment's own documentation does for paragraphs.
-- `doc_compound` keeps the whole document's score for comparison with
-- the old pipeline. Means are rounded to 6 decimals so that the order in
-- which partitions are summed can never show in the output.

CREATE EXTERNAL TABLE movies STORED AS PARQUET LOCATION '${root}/curated/movielens_movies/';
CREATE EXTERNAL TABLE movie_text STORED AS PARQUET LOCATION '${root}/curated/movie_text/';

CREATE VIEW segment_scores AS
SELECT "movieId", vader_scores(segment) AS s
FROM (SELECT "movieId", unnest(segments) AS segment FROM movie_text WHERE segments IS NOT NULL);

CREATE VIEW per_movie AS
SELECT "movieId",
       round(avg(s['compound']), 6) AS compound,
       round(avg(s['pos']), 6) AS pos,
       round(avg(s['neu']), 6) AS neu,
       round(avg(s['neg']), 6) AS neg,
       count(*) AS n_segments
FROM segment_scores
GROUP BY "movieId";

COPY (
  SELECT m."movieId", m.title, m.title_clean, m.year, m.genres,
         coalesce(p.compound, 0.0) AS compound,
         coalesce(p.pos, 0.0) AS pos,
         coalesce(p.neu, 0.0) AS neu,
         coalesce(p.neg, 0.0) AS neg,
         coalesce(p.n_segments, 0) AS n_segments,
         vader_compound(t.text) AS doc_compound
  FROM movies m
  JOIN movie_text t ON m."movieId" = t."movieId"
  LEFT JOIN per_movie p ON m."movieId" = p."movieId"
) TO '${curated}/movielens_movies_with_sentiment/' STORED AS PARQUET;
