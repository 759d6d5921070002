-- Stage 03 sentiment: VADER scores and each film's emotional position.
--
-- 1. VADER per segment, as before: each segment (title, tag, synopsis) is
--    scored on its own and `compound` is their mean (vaderSentiment's own
--    advice for paragraphs; a whole document saturates near +-1).
--    `doc_compound` keeps the whole document's score for comparison.
--
-- 2. Valence (-1 dark .. +1 light) and energy (-1 calm .. +1 intense) from
--    every text of `movie_evidence` (stage 02), each weighted by how much
--    evidence it carries, never a plain mean:
--    - a text's weight is its source's (`w_<source>` below: a bare title
--      counts little, a synopsis or an overview a lot), times ln(1 + n) for
--      a tag used by n people, times the relevance for a genome tag;
--    - a text whose VADER compound is 0 says nothing about valence and
--      adds no weight, so an empty title cannot cancel a synopsis; the
--      mood lexicon (`mood_scores`, words VADER does not know: dark, bleak,
--      uplifting, tearjerker...) is a second reading of the same text,
--      weighted `lexicon_weight` times its source's weight;
--    - each reading counts by its distance from its source's mean reading
--      (plot synopses read darker than their films: they describe the
--      conflict; taglines read lighter), learned from the data and shrunk
--      toward 0 by `bias_prior_count` readings for sources with few texts;
--    - energy comes from the lexicon alone (VADER has no arousal): tags,
--      keywords, genome tags, synopses, and the genre names, which carry
--      energy but no valence.
--
-- 3. Shrinkage toward a prior learned from the data, where evidence is
--    thin: valence = (W * text + k * prior) / (W + k), W the film's total
--    weight, k = `valence_prior_strength`; confidence = W / (W + k). (k is
--    about what the data says: on ml-latest-small with TMDB, the squared
--    gap between a film's text valence and its prior falls like
--    0.05 + 0.32 / W, the noise of one unit of text evidence against the
--    spread of real tones, which puts k near 7; 10 is the rounder choice
--    and the figures are flat between 8 and 12, see README "Moods".) The
--    prior is (a) the mean text valence of the film's genres (each genre's
--    mean over the films with text, weighted by their confidence and
--    itself shrunk toward the catalogue mean by `genre_prior_strength`
--    films), plus (b) the film's rating neighbours: the people who liked it
--    (rating >= `like_rating`) and how much darker or lighter than their
--    genres the other films they liked are (leave-one-out), scaled by a
--    slope fitted on the films with text and damped by
--    likers / (likers + `neighbour_likers`).
--    Energy shrinks toward the catalogue's mean energy the same way
--    (`energy_prior_strength`).
--
-- Kept for anyone asking why a film came out dark: `movie_evidence_scores`
-- (every text's readings), `movie_tone_evidence` (each film's text weight
-- and valence), `movie_tone_genre` (its genre prior) and `movie_tone_prior`
-- (its prior and the parts of it).
-- `tone_source` names where the valence came from: the source with the
-- largest weight, or `prior` when the prior outweighs all text.
-- Means are rounded to 6 decimals so that the order in which partitions
-- are summed can never show in the output.
-- @var w_title = 0.25
-- @var w_tag = 1.0
-- @var w_synopsis = 2.0
-- @var w_overview = 2.0
-- @var w_tagline = 1.0
-- @var w_keyword = 0.5
-- @var w_genome = 1.0
-- @var w_genres = 1.0
-- @var lexicon_weight = 2.0
-- @var bias_prior_count = 20
-- @var valence_prior_strength = 10
-- @var energy_prior_strength = 1.0
-- @var genre_prior_strength = 10
-- @var like_rating = 4.0
-- @var neighbour_likers = 10

CREATE EXTERNAL TABLE movies STORED AS PARQUET LOCATION '${root}/curated/movielens_movies/';
CREATE EXTERNAL TABLE movie_text STORED AS PARQUET LOCATION '${root}/curated/movie_text/';
CREATE EXTERNAL TABLE evidence STORED AS PARQUET LOCATION '${root}/curated/movie_evidence/';
CREATE EXTERNAL TABLE ratings STORED AS PARQUET LOCATION '${root}/curated/movielens_ratings/';

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

-- Each text's weight and readings, scored once and kept as a table
-- (`movie_evidence_scores`: what each text said, for anyone asking why a
-- film came out dark).
COPY (
  SELECT "movieId", source, text, round(w, 6) AS w, vader,
         round(m['valence'], 6) AS lex_v, m['valence_hits'] AS lex_vn,
         round(m['energy'], 6) AS lex_e, m['energy_hits'] AS lex_en
  FROM (
    SELECT "movieId", source, text,
           CASE source
             WHEN 'title' THEN ${w_title}
             WHEN 'tag' THEN ${w_tag} * ln(1.0 + amount)
             WHEN 'synopsis' THEN ${w_synopsis}
             WHEN 'overview' THEN ${w_overview}
             WHEN 'tagline' THEN ${w_tagline}
             WHEN 'keyword' THEN ${w_keyword}
             WHEN 'genome' THEN ${w_genome} * amount
             WHEN 'genres' THEN ${w_genres}
             ELSE 0.0
           END AS w,
           CASE WHEN source = 'genres' THEN 0.0 ELSE vader_compound(text) END AS vader,
           mood_scores(text) AS m
    FROM evidence
  )
) TO '${curated}/movie_evidence_scores/' STORED AS PARQUET;

CREATE EXTERNAL TABLE readings STORED AS PARQUET LOCATION '${curated}/movie_evidence_scores/';

-- Each source's bias: plot summaries read darker than their films (a
-- synopsis is about the conflict), tags and taglines lighter. A reading
-- counts by how far it is from its source's mean reading.
-- A source with few texts has a bias near 0: its mean is shrunk toward 0
-- by `bias_prior_count` imaginary neutral readings.
CREATE VIEW source_bias AS
SELECT source,
       sum(CASE WHEN vader <> 0 THEN vader ELSE 0.0 END)
         / (sum(CASE WHEN vader <> 0 THEN 1 ELSE 0 END) + ${bias_prior_count}) AS vader_bias,
       sum(CASE WHEN lex_vn > 0 THEN lex_v ELSE 0.0 END)
         / (sum(CASE WHEN lex_vn > 0 THEN 1 ELSE 0 END) + ${bias_prior_count}) AS lex_bias
FROM readings GROUP BY source;

CREATE VIEW weighted AS
SELECT r."movieId", r.source,
       CASE WHEN r.source <> 'genres' AND r.vader <> 0 THEN r.w ELSE 0.0 END AS vw,
       r.vader - b.vader_bias AS vader,
       CASE WHEN r.source <> 'genres' AND r.lex_vn > 0 THEN r.w * ${lexicon_weight} ELSE 0.0 END AS lw,
       r.lex_v - b.lex_bias AS lex_v,
       CASE WHEN r.lex_en > 0 THEN r.w ELSE 0.0 END AS ew, r.lex_e
FROM readings r JOIN source_bias b ON r.source = b.source;

-- Each film's sums per source: its weight (`wv`, which also names the
-- film's main source) and the weighted readings.
CREATE VIEW per_source AS
SELECT "movieId", source, sum(vw + lw) AS wv, sum(vw * vader + lw * lex_v) AS sv,
       sum(ew) AS we, sum(ew * lex_e) AS se
FROM weighted GROUP BY "movieId", source;

-- Per film: the weight of its text evidence and what it says, and the
-- source that weighs most (ties to the first source name). Written as a
-- table (the plans below would otherwise nest too deep for Ballista's plan
-- encoding) and kept: it shows where each film's tone comes from.
-- (Summed from the per-source sums: the main source was a window over
-- them joined back to every reading, which read and shuffled the readings
-- three more times. 10M generated ratings, 820,416 readings: the
-- statement's CPU 1.3 s -> 0.85 s, the same rows.)
COPY (
  SELECT "movieId",
         round(sum(wv), 6) AS wv,
         round(CASE WHEN sum(wv) > 0 THEN sum(sv) / sum(wv) END, 6) AS v_text,
         round(sum(we), 6) AS we,
         round(CASE WHEN sum(we) > 0 THEN sum(se) / sum(we) END, 6) AS e_text,
         first_value(source ORDER BY wv DESC, source) FILTER (WHERE wv > 0) AS main_source,
         round(max(wv) FILTER (WHERE wv > 0), 6) AS main_weight
  FROM per_source
  GROUP BY "movieId"
) TO '${curated}/movie_tone_evidence/' STORED AS PARQUET;

CREATE EXTERNAL TABLE film_text STORED AS PARQUET LOCATION '${curated}/movie_tone_evidence/';

-- Films with text valence and their confidence.
CREATE VIEW texted AS
SELECT "movieId", v_text, wv / (wv + ${valence_prior_strength}) AS conf
FROM film_text WHERE wv > 0;

CREATE VIEW catalogue_valence AS
SELECT sum(conf * v_text) / sum(conf) AS gv FROM texted;

CREATE VIEW film_genres AS
SELECT "movieId", unnest(genres) AS genre FROM movies;

CREATE VIEW genre_prior AS
SELECT g.genre,
       (sum(t.conf * t.v_text) + ${genre_prior_strength} * max(c.gv)) / (sum(t.conf) + ${genre_prior_strength}) AS prior
FROM film_genres g JOIN texted t ON g."movieId" = t."movieId" CROSS JOIN catalogue_valence c
GROUP BY g.genre;

-- Each film's genre prior and, for films with text, how much lighter or
-- darker than its genres the text is (a table, for the plan depth). A
-- catalogue without any text at all has a neutral prior, 0.
COPY (
  SELECT m."movieId", round(coalesce(avg(p.prior), max(c.gv), 0.0), 6) AS genre_prior,
         round(max(t.v_text) - coalesce(avg(p.prior), max(c.gv), 0.0), 6) AS resid,
         round(max(t.conf), 6) AS conf
  FROM movies m
  LEFT JOIN film_genres g ON g."movieId" = m."movieId"
  LEFT JOIN genre_prior p ON p.genre = g.genre
  LEFT JOIN texted t ON t."movieId" = m."movieId"
  CROSS JOIN catalogue_valence c
  GROUP BY m."movieId"
) TO '${curated}/movie_tone_genre/' STORED AS PARQUET;

CREATE EXTERNAL TABLE film_genre_prior STORED AS PARQUET LOCATION '${curated}/movie_tone_genre/';

-- Rating neighbours: how much lighter or darker than its genres a film's
-- text is, averaged per user over the films they liked, then per film
-- over its likers, each liker without the film itself.
CREATE VIEW residual AS
SELECT "movieId", conf, resid FROM film_genre_prior WHERE resid IS NOT NULL;

-- Each (user, film) like once, written to the job's scratch: the users'
-- sums and the films' averages below both read it. (As a view it was
-- computed twice, each time a scan of every rating, a shuffle and a
-- distinct aggregation of 5.6M pairs at 10M generated ratings; written
-- once, the two statements take 0.94 s against 1.27 s for the one, 1.7 s
-- against 2.1 s of CPU, four alternating rounds; the same rows.)
COPY (SELECT DISTINCT "userId", "movieId" FROM ratings WHERE rating >= ${like_rating})
TO '${curated}/_scan/likes/' STORED AS PARQUET OPTIONS ('dictionary_enabled' 'false');

CREATE EXTERNAL TABLE likes ("userId" BIGINT, "movieId" BIGINT)
STORED AS PARQUET LOCATION '${curated}/_scan/likes/';

CREATE VIEW user_tone AS
SELECT l."userId", sum(r.conf * r.resid) AS s, sum(r.conf) AS c
FROM likes l JOIN residual r ON l."movieId" = r."movieId"
GROUP BY l."userId";

-- Computed once into the job's scratch: the slope and the priors below
-- both read it, and it reads every rating.
COPY (
  SELECT l."movieId", avg(
           (u.s - coalesce(r.conf * r.resid, 0.0)) / (u.c - coalesce(r.conf, 0.0))
         ) AS nb, count(*) AS likers
  FROM likes l
  JOIN user_tone u ON u."userId" = l."userId"
  LEFT JOIN residual r ON r."movieId" = l."movieId"
  WHERE u.c - coalesce(r.conf, 0.0) > 0.5
  GROUP BY l."movieId"
) TO '${curated}/_scan/neighbour/' STORED AS PARQUET;

CREATE EXTERNAL TABLE neighbour ("movieId" BIGINT, nb DOUBLE, likers BIGINT)
STORED AS PARQUET LOCATION '${curated}/_scan/neighbour/';

CREATE VIEW damped_neighbour AS
SELECT "movieId", nb * likers / (likers + ${neighbour_likers}) AS nb FROM neighbour;

-- The slope that turns the neighbours' residual into this film's,
-- fitted on the films with text (least squares through the origin).
CREATE VIEW slope AS
SELECT CASE WHEN sum(r.conf * n.nb * n.nb) > 0
            THEN greatest(0.0, sum(r.conf * r.resid * n.nb) / sum(r.conf * n.nb * n.nb))
            ELSE 0.0 END AS beta
FROM residual r JOIN damped_neighbour n ON r."movieId" = n."movieId";

COPY (
  SELECT p."movieId", p.genre_prior, round(coalesce(n.nb, 0.0), 6) AS neighbour,
         round(s.beta, 6) AS slope, round(p.genre_prior + coalesce(n.nb, 0.0) * s.beta, 6) AS prior
  FROM film_genre_prior p
  LEFT JOIN damped_neighbour n ON n."movieId" = p."movieId"
  CROSS JOIN slope s
) TO '${curated}/movie_tone_prior/' STORED AS PARQUET;

CREATE EXTERNAL TABLE prior STORED AS PARQUET LOCATION '${curated}/movie_tone_prior/';

-- (A catalogue without any energy word has a neutral mean energy.)
CREATE VIEW catalogue_energy AS
SELECT coalesce(sum(we * e_text) / sum(we), 0.0) AS ge FROM film_text WHERE we > 0;

CREATE VIEW position AS
SELECT m."movieId",
       (coalesce(f.wv, 0.0) * coalesce(f.v_text, 0.0) + ${valence_prior_strength} * p.prior)
         / (coalesce(f.wv, 0.0) + ${valence_prior_strength}) AS valence,
       coalesce(f.wv, 0.0) / (coalesce(f.wv, 0.0) + ${valence_prior_strength}) AS confidence,
       (coalesce(f.we, 0.0) * coalesce(f.e_text, 0.0) + ${energy_prior_strength} * e.ge)
         / (coalesce(f.we, 0.0) + ${energy_prior_strength}) AS energy,
       coalesce(f.we, 0.0) / (coalesce(f.we, 0.0) + ${energy_prior_strength}) AS energy_confidence,
       f.v_text AS text_valence, p.prior AS prior_valence,
       CASE WHEN f.main_weight > ${valence_prior_strength} THEN f.main_source ELSE 'prior' END AS tone_source
FROM movies m
JOIN prior p ON p."movieId" = m."movieId"
LEFT JOIN film_text f ON f."movieId" = m."movieId"
CROSS JOIN catalogue_energy e;

COPY (
  SELECT m."movieId", m.title, m.title_clean, m.year, m.genres,
         coalesce(p.compound, 0.0) AS compound,
         coalesce(p.pos, 0.0) AS pos,
         coalesce(p.neu, 0.0) AS neu,
         coalesce(p.neg, 0.0) AS neg,
         coalesce(p.n_segments, 0) AS n_segments,
         vader_compound(t.text) AS doc_compound,
         round(x.valence, 6) AS valence,
         round(x.energy, 6) AS energy,
         round(x.confidence, 6) AS confidence,
         round(x.energy_confidence, 6) AS energy_confidence,
         round(x.text_valence, 6) AS text_valence,
         round(x.prior_valence, 6) AS prior_valence,
         x.tone_source
  FROM movies m
  JOIN movie_text t ON m."movieId" = t."movieId"
  JOIN position x ON x."movieId" = m."movieId"
  LEFT JOIN per_movie p ON m."movieId" = p."movieId"
) TO '${curated}/movielens_movies_with_sentiment/' STORED AS PARQUET;
