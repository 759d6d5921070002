-- Stage 06 mood_playlists: the best-rated movies of each mood.
--
-- Movies are ranked by a damped (Bayesian) mean rating: each movie's
-- ratings plus ${playlist_damping} imaginary ratings at the catalogue-wide
-- mean, so a film with three 5-star ratings does not outrank one with three
-- hundred 4.5s. A movie needs at least ${playlist_min_ratings} ratings; each
-- mood keeps its top ${playlist_size} (ties by more ratings, then movieId).
-- The score is rounded to 6 decimals before ranking: the prior is a float
-- sum whose last bits depend on how the rows were partitioned, and a
-- ranking on unrounded scores would let that noise order two films whose
-- written scores are equal (the dashboard ranks the same rounded score).
--
-- Variables (`--conf name=value`): movies per playlist, the fewest ratings
-- a movie needs, and the damping of the Bayesian mean.
-- @var playlist_size = 20
-- @var playlist_min_ratings = 10
-- @var playlist_damping = 10

CREATE EXTERNAL TABLE clustered STORED AS PARQUET LOCATION '${root}/curated/clustered_movies/';
CREATE EXTERNAL TABLE features STORED AS PARQUET LOCATION '${root}/curated/nf_features/';
CREATE EXTERNAL TABLE movies STORED AS PARQUET LOCATION '${root}/curated/movielens_movies/';

CREATE VIEW prior AS
SELECT sum(rating_mean * rating_count) / sum(rating_count) AS global_mean
FROM features WHERE rating_count > 0;

CREATE VIEW scored AS
SELECT c.mood, c."cluster", c."movieId", c.title, m.year, m.genres,
       f.rating_mean, f.rating_count,
       round((${playlist_damping} * p.global_mean + f.rating_mean * f.rating_count)
         / (${playlist_damping} + f.rating_count), 6) AS score
FROM clustered c
JOIN features f ON f."movieId" = c."movieId"
JOIN movies m ON m."movieId" = c."movieId"
CROSS JOIN prior p
WHERE f.rating_count >= ${playlist_min_ratings};

CREATE VIEW ranked AS
SELECT *, row_number() OVER (
         PARTITION BY "cluster" ORDER BY score DESC, rating_count DESC, "movieId") AS rank
FROM scored;

COPY (
  SELECT mood, "cluster", CAST(rank AS INT) AS rank, "movieId", title, year, genres,
         rating_mean, rating_count, score
  FROM ranked
  WHERE rank <= ${playlist_size}
  ORDER BY "cluster", rank
) TO '${curated}/mood_playlists/' STORED AS PARQUET;
