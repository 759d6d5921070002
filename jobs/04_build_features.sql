-- Stage 04 build_features: one feature vector per movie for the moods.
--
-- The k-means space puts feeling first: the film's valence and energy
-- (stage 03), then one 0/1 column per MovieLens genre (multi-hot). Each is
-- standardised to mean 0 and standard deviation 1 over all movies
-- (population std; a constant column becomes 0) and multiplied by its
-- weight, so the emotional axes carry most of the distance: with the
-- defaults, valence and energy hold about 6.3 of the space's total variance
-- and the 19 genres together about 2.3; clusters then differ in feeling
-- first and genre second. Release year, mean rating and rating count stay
-- as named raw columns (playlists and the dashboard use them) but are not
-- in the vector: they are not moods. `features` holds the weighted
-- standardised values in the order model.json records.
-- (The genre lines were generated once from a list of the genres; edit
-- them as SQL.)
-- @var mood_weight_valence = 2.0
-- @var mood_weight_energy = 1.5
-- @var mood_weight_genre = 0.35

CREATE EXTERNAL TABLE movies STORED AS PARQUET LOCATION '${root}/curated/movielens_movies_with_sentiment/';
CREATE EXTERNAL TABLE ratings STORED AS PARQUET LOCATION '${root}/curated/movielens_ratings/';

CREATE VIEW rating_stats AS
SELECT "movieId", avg(rating) AS rating_mean, count(*) AS rating_count
FROM ratings GROUP BY "movieId";

CREATE VIEW raw_features AS
SELECT m."movieId", m.title,
       m.compound AS sentiment,
       m.valence, m.energy, m.confidence,
       CAST(m.year AS DOUBLE) AS release_year,
       round(r.rating_mean, 6) AS rating_mean,
       coalesce(r.rating_count, 0) AS rating_count,
       ln(1.0 + CAST(coalesce(r.rating_count, 0) AS DOUBLE)) AS rating_log_count,
       CASE WHEN array_has(m.genres, 'Action') THEN 1.0 ELSE 0.0 END AS genre_action,
       CASE WHEN array_has(m.genres, 'Adventure') THEN 1.0 ELSE 0.0 END AS genre_adventure,
       CASE WHEN array_has(m.genres, 'Animation') THEN 1.0 ELSE 0.0 END AS genre_animation,
       CASE WHEN array_has(m.genres, 'Children') THEN 1.0 ELSE 0.0 END AS genre_children,
       CASE WHEN array_has(m.genres, 'Comedy') THEN 1.0 ELSE 0.0 END AS genre_comedy,
       CASE WHEN array_has(m.genres, 'Crime') THEN 1.0 ELSE 0.0 END AS genre_crime,
       CASE WHEN array_has(m.genres, 'Documentary') THEN 1.0 ELSE 0.0 END AS genre_documentary,
       CASE WHEN array_has(m.genres, 'Drama') THEN 1.0 ELSE 0.0 END AS genre_drama,
       CASE WHEN array_has(m.genres, 'Fantasy') THEN 1.0 ELSE 0.0 END AS genre_fantasy,
       CASE WHEN array_has(m.genres, 'Film-Noir') THEN 1.0 ELSE 0.0 END AS genre_film_noir,
       CASE WHEN array_has(m.genres, 'Horror') THEN 1.0 ELSE 0.0 END AS genre_horror,
       CASE WHEN array_has(m.genres, 'IMAX') THEN 1.0 ELSE 0.0 END AS genre_imax,
       CASE WHEN array_has(m.genres, 'Musical') THEN 1.0 ELSE 0.0 END AS genre_musical,
       CASE WHEN array_has(m.genres, 'Mystery') THEN 1.0 ELSE 0.0 END AS genre_mystery,
       CASE WHEN array_has(m.genres, 'Romance') THEN 1.0 ELSE 0.0 END AS genre_romance,
       CASE WHEN array_has(m.genres, 'Sci-Fi') THEN 1.0 ELSE 0.0 END AS genre_sci_fi,
       CASE WHEN array_has(m.genres, 'Thriller') THEN 1.0 ELSE 0.0 END AS genre_thriller,
       CASE WHEN array_has(m.genres, 'War') THEN 1.0 ELSE 0.0 END AS genre_war,
       CASE WHEN array_has(m.genres, 'Western') THEN 1.0 ELSE 0.0 END AS genre_western
FROM movies m LEFT JOIN rating_stats r ON m."movieId" = r."movieId";

CREATE VIEW feature_stats AS
SELECT
       avg(valence) AS mean_valence, stddev_pop(valence) AS std_valence,
       avg(energy) AS mean_energy, stddev_pop(energy) AS std_energy,
       avg(genre_action) AS mean_genre_action, stddev_pop(genre_action) AS std_genre_action,
       avg(genre_adventure) AS mean_genre_adventure, stddev_pop(genre_adventure) AS std_genre_adventure,
       avg(genre_animation) AS mean_genre_animation, stddev_pop(genre_animation) AS std_genre_animation,
       avg(genre_children) AS mean_genre_children, stddev_pop(genre_children) AS std_genre_children,
       avg(genre_comedy) AS mean_genre_comedy, stddev_pop(genre_comedy) AS std_genre_comedy,
       avg(genre_crime) AS mean_genre_crime, stddev_pop(genre_crime) AS std_genre_crime,
       avg(genre_documentary) AS mean_genre_documentary, stddev_pop(genre_documentary) AS std_genre_documentary,
       avg(genre_drama) AS mean_genre_drama, stddev_pop(genre_drama) AS std_genre_drama,
       avg(genre_fantasy) AS mean_genre_fantasy, stddev_pop(genre_fantasy) AS std_genre_fantasy,
       avg(genre_film_noir) AS mean_genre_film_noir, stddev_pop(genre_film_noir) AS std_genre_film_noir,
       avg(genre_horror) AS mean_genre_horror, stddev_pop(genre_horror) AS std_genre_horror,
       avg(genre_imax) AS mean_genre_imax, stddev_pop(genre_imax) AS std_genre_imax,
       avg(genre_musical) AS mean_genre_musical, stddev_pop(genre_musical) AS std_genre_musical,
       avg(genre_mystery) AS mean_genre_mystery, stddev_pop(genre_mystery) AS std_genre_mystery,
       avg(genre_romance) AS mean_genre_romance, stddev_pop(genre_romance) AS std_genre_romance,
       avg(genre_sci_fi) AS mean_genre_sci_fi, stddev_pop(genre_sci_fi) AS std_genre_sci_fi,
       avg(genre_thriller) AS mean_genre_thriller, stddev_pop(genre_thriller) AS std_genre_thriller,
       avg(genre_war) AS mean_genre_war, stddev_pop(genre_war) AS std_genre_war,
       avg(genre_western) AS mean_genre_western, stddev_pop(genre_western) AS std_genre_western
FROM raw_features;

COPY (
  SELECT f."movieId", f.title,
         f.sentiment, f.valence, f.energy, f.confidence,
         f.release_year, f.rating_mean, f.rating_count, f.rating_log_count,
         f.genre_action,
         f.genre_adventure,
         f.genre_animation,
         f.genre_children,
         f.genre_comedy,
         f.genre_crime,
         f.genre_documentary,
         f.genre_drama,
         f.genre_fantasy,
         f.genre_film_noir,
         f.genre_horror,
         f.genre_imax,
         f.genre_musical,
         f.genre_mystery,
         f.genre_romance,
         f.genre_sci_fi,
         f.genre_thriller,
         f.genre_war,
         f.genre_western,
         make_array(
           CASE WHEN s.std_valence > 0 THEN round(${mood_weight_valence} * (coalesce(f.valence, s.mean_valence) - s.mean_valence) / s.std_valence, 9) ELSE 0.0 END,
           CASE WHEN s.std_energy > 0 THEN round(${mood_weight_energy} * (coalesce(f.energy, s.mean_energy) - s.mean_energy) / s.std_energy, 9) ELSE 0.0 END,
           CASE WHEN s.std_genre_action > 0 THEN round(${mood_weight_genre} * (f.genre_action - s.mean_genre_action) / s.std_genre_action, 9) ELSE 0.0 END,
           CASE WHEN s.std_genre_adventure > 0 THEN round(${mood_weight_genre} * (f.genre_adventure - s.mean_genre_adventure) / s.std_genre_adventure, 9) ELSE 0.0 END,
           CASE WHEN s.std_genre_animation > 0 THEN round(${mood_weight_genre} * (f.genre_animation - s.mean_genre_animation) / s.std_genre_animation, 9) ELSE 0.0 END,
           CASE WHEN s.std_genre_children > 0 THEN round(${mood_weight_genre} * (f.genre_children - s.mean_genre_children) / s.std_genre_children, 9) ELSE 0.0 END,
           CASE WHEN s.std_genre_comedy > 0 THEN round(${mood_weight_genre} * (f.genre_comedy - s.mean_genre_comedy) / s.std_genre_comedy, 9) ELSE 0.0 END,
           CASE WHEN s.std_genre_crime > 0 THEN round(${mood_weight_genre} * (f.genre_crime - s.mean_genre_crime) / s.std_genre_crime, 9) ELSE 0.0 END,
           CASE WHEN s.std_genre_documentary > 0 THEN round(${mood_weight_genre} * (f.genre_documentary - s.mean_genre_documentary) / s.std_genre_documentary, 9) ELSE 0.0 END,
           CASE WHEN s.std_genre_drama > 0 THEN round(${mood_weight_genre} * (f.genre_drama - s.mean_genre_drama) / s.std_genre_drama, 9) ELSE 0.0 END,
           CASE WHEN s.std_genre_fantasy > 0 THEN round(${mood_weight_genre} * (f.genre_fantasy - s.mean_genre_fantasy) / s.std_genre_fantasy, 9) ELSE 0.0 END,
           CASE WHEN s.std_genre_film_noir > 0 THEN round(${mood_weight_genre} * (f.genre_film_noir - s.mean_genre_film_noir) / s.std_genre_film_noir, 9) ELSE 0.0 END,
           CASE WHEN s.std_genre_horror > 0 THEN round(${mood_weight_genre} * (f.genre_horror - s.mean_genre_horror) / s.std_genre_horror, 9) ELSE 0.0 END,
           CASE WHEN s.std_genre_imax > 0 THEN round(${mood_weight_genre} * (f.genre_imax - s.mean_genre_imax) / s.std_genre_imax, 9) ELSE 0.0 END,
           CASE WHEN s.std_genre_musical > 0 THEN round(${mood_weight_genre} * (f.genre_musical - s.mean_genre_musical) / s.std_genre_musical, 9) ELSE 0.0 END,
           CASE WHEN s.std_genre_mystery > 0 THEN round(${mood_weight_genre} * (f.genre_mystery - s.mean_genre_mystery) / s.std_genre_mystery, 9) ELSE 0.0 END,
           CASE WHEN s.std_genre_romance > 0 THEN round(${mood_weight_genre} * (f.genre_romance - s.mean_genre_romance) / s.std_genre_romance, 9) ELSE 0.0 END,
           CASE WHEN s.std_genre_sci_fi > 0 THEN round(${mood_weight_genre} * (f.genre_sci_fi - s.mean_genre_sci_fi) / s.std_genre_sci_fi, 9) ELSE 0.0 END,
           CASE WHEN s.std_genre_thriller > 0 THEN round(${mood_weight_genre} * (f.genre_thriller - s.mean_genre_thriller) / s.std_genre_thriller, 9) ELSE 0.0 END,
           CASE WHEN s.std_genre_war > 0 THEN round(${mood_weight_genre} * (f.genre_war - s.mean_genre_war) / s.std_genre_war, 9) ELSE 0.0 END,
           CASE WHEN s.std_genre_western > 0 THEN round(${mood_weight_genre} * (f.genre_western - s.mean_genre_western) / s.std_genre_western, 9) ELSE 0.0 END
         ) AS features
  FROM raw_features f CROSS JOIN feature_stats s
) TO '${curated}/nf_features/' STORED AS PARQUET;
