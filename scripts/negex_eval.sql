-- Accuracy of trialmatch's negation on the NegEx test kit's annotations
-- (SPEC 8, issue 11), scored as NegEx's own evaluation scores: each
-- sentence is one note of its own patient, read by `note mentions
-- '<phrase>'`; a result that is not TRUE on a Negated pair is a hit (a
-- negation found), on an Affirmed pair a false alarm.
--
--   psql -v tsv=/path/annotations-1-60.tsv [-v negation_only=1] -f scripts/negex_eval.sql
--
-- The kit annotates negation only: a hypothetical ("return if she has
-- nausea"), someone else's ("family history of colon cancer") or a
-- possible mention counts as Affirmed, so every such trigger of the
-- default set is a false alarm here.  With negation_only=1 the triggers
-- are NegEx's kind (negated, pseudo, termination, and NegEx's own
-- "rule out" possible triggers): the figure comparable to NegEx's.  The
-- trigger table is changed in this database only, inside a transaction
-- that is rolled back.
--
-- Run in a scratch database with trialmatch installed and nothing
-- registered: it registers its own patient table and notes source, and
-- leaves everything in schema negex_eval.  Prints one row: pairs, hits,
-- misses, false alarms, precision, recall.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS negex_eval CASCADE;
CREATE SCHEMA negex_eval;
-- the file is read by the server (pg_read_file: a superuser, or pg_read_server_files)
CREATE TABLE negex_eval.raw AS
  SELECT split_part(l, E'\t', 1) AS report, split_part(l, E'\t', 2) AS concept,
         split_part(l, E'\t', 3) AS sentence, split_part(l, E'\t', 4) AS judgement, i
    FROM regexp_split_to_table(pg_read_file(:'tsv'), E'\r?\n') WITH ORDINALITY AS t(l, i)
   WHERE i > 1 AND l <> '';
CREATE TABLE negex_eval.pairs AS
  SELECT row_number() OVER (ORDER BY i) AS patient_id, report::int AS report, concept, sentence, judgement
    FROM negex_eval.raw;
CREATE TABLE negex_eval.notes AS
  SELECT patient_id, timestamptz '2020-01-01' AS written_at, sentence AS body FROM negex_eval.pairs;
CREATE TABLE negex_eval.concepts AS
  SELECT row_number() OVER (ORDER BY concept) AS n, concept
    FROM (SELECT DISTINCT concept FROM negex_eval.pairs) c;
BEGIN;
\if :{?negation_only}
DELETE FROM trialmatch.note_triggers
 WHERE category IN ('hypothetical', 'other')
    OR (category = 'possible' AND phrase NOT LIKE '%rule%' AND phrase NOT IN ('r/o', 'ro'));
\endif
SELECT trialmatch.set_patients('negex_eval.pairs', birth_date_column => NULL, sex_column => NULL);
SELECT trialmatch.add_source('note', 'negex_eval.notes', time_column => 'written_at', text_column => 'body');
DELETE FROM trialmatch.trials WHERE trial_id LIKE 'negex-%';
INSERT INTO trialmatch.trials (trial_id, title) SELECT 'negex-' || n, concept FROM negex_eval.concepts;
INSERT INTO trialmatch.criteria (trial_id, position, kind, label, expr)
  SELECT 'negex-' || n, 1, 'inclusion', concept, format('note mentions %L', concept)
    FROM negex_eval.concepts;
CREATE TABLE negex_eval.results AS
  SELECT p.patient_id, p.report, p.concept, p.judgement, m.status
    FROM trialmatch.match_all('2021-01-01', (SELECT array_agg('negex-' || n) FROM negex_eval.concepts)) m
    JOIN negex_eval.concepts c ON m.trial_id = 'negex-' || c.n
    JOIN negex_eval.pairs p ON p.patient_id = m.patient_id AND p.concept = c.concept;
SELECT count(*) AS pairs,
       count(*) FILTER (WHERE judgement = 'Negated' AND status <> 'eligible') AS hits,
       count(*) FILTER (WHERE judgement = 'Negated' AND status = 'eligible') AS misses,
       count(*) FILTER (WHERE judgement = 'Affirmed' AND status <> 'eligible') AS false_alarms,
       round(count(*) FILTER (WHERE judgement = 'Negated' AND status <> 'eligible')::numeric
             / nullif(count(*) FILTER (WHERE status <> 'eligible'), 0), 3) AS precision,
       round(count(*) FILTER (WHERE judgement = 'Negated' AND status <> 'eligible')::numeric
             / nullif(count(*) FILTER (WHERE judgement = 'Negated'), 0), 3) AS recall
  FROM negex_eval.results;
\if :{?keep}
COMMIT;
\else
ROLLBACK;
\endif
