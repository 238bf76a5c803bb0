-- The 1.1 time benchmark (issue 10): two more tables derived from the
-- synthetic hospital, their sources, and one trial written with the time
-- constructs of SPEC 7.  Run by bench/run.sh after scripts/demo_trials.sql;
-- re-runnable.  The trial is 'paused', so match_trials (and its hand-written
-- check, bench/sql/match_trials.sql) does not see it; match_patients does.
--
--   public.visits (patient_id, visit_type, started_at, ended_at): an
--     inpatient stay (9201) around about a third of the heart-failure and
--     stroke diagnoses, a few still open (NULL end); an outpatient visit
--     (9202) on about a fifth of the hypertension diagnoses.
--   public.outcomes (patient_id, code, recorded_at): a delivery (Z37.0) or
--     an abortion (O03.9) 180-280 days after most pregnancies' first code.
\set ON_ERROR_STOP on

SELECT to_regclass('public.visits') IS NULL AS make_tables \gset
\if :make_tables
BEGIN;
CREATE TABLE public.visits (patient_id bigint, visit_type int, started_at date, ended_at date);
INSERT INTO public.visits
SELECT patient_id, 9201, diagnosed_at - (h % 3),
       CASE WHEN h % 50 = 0 AND diagnosed_at > date '2026-10-01' THEN NULL
            ELSE diagnosed_at + (h / 3 % 8) END
  FROM (SELECT patient_id, diagnosed_at, abs(hashtext(patient_id::text || code || diagnosed_at::text)) AS h
          FROM public.diagnoses
         WHERE code LIKE 'I50%' OR code LIKE 'I63%') d
 WHERE h % 3 = 0
UNION ALL
SELECT patient_id, 9202, diagnosed_at, diagnosed_at
  FROM public.diagnoses
 WHERE code = 'I10' AND abs(hashtext(patient_id::text || diagnosed_at::text)) % 5 = 0;
CREATE TABLE public.outcomes (patient_id bigint, code text, recorded_at date);
INSERT INTO public.outcomes
SELECT patient_id, CASE WHEN h % 10 = 0 THEN 'O03.9' ELSE 'Z37.0' END, first + 180 + (h % 101)
  FROM (SELECT patient_id, min(diagnosed_at) AS first, abs(hashint8(patient_id)) AS h
          FROM public.diagnoses WHERE code = 'Z33.1' GROUP BY patient_id) p
 WHERE h % 4 <> 0 AND first + 180 + (h % 101) <= date '2026-11-01';
CREATE INDEX visits_patient_id_idx ON public.visits (patient_id);
CREATE INDEX outcomes_patient_id_idx ON public.outcomes (patient_id);
COMMIT;
VACUUM (ANALYZE) public.visits, public.outcomes;
\endif

BEGIN;
SELECT trialmatch.add_source('visit', 'public.visits', code_column => 'visit_type',
         time_column => 'started_at', end_time_column => 'ended_at');
SELECT trialmatch.add_source('outcome', 'public.outcomes', time_column => 'recorded_at');
DELETE FROM trialmatch.criteria WHERE trial_id = 'NCT05567890';
DELETE FROM trialmatch.trials WHERE trial_id = 'NCT05567890';
INSERT INTO trialmatch.trials (trial_id, title, status) VALUES
 ('NCT05567890', 'Heart failure after a recent admission (1.1 time constructs)', 'paused');
INSERT INTO trialmatch.criteria (trial_id, position, kind, label, expr) VALUES
 ('NCT05567890', 1, 'inclusion', 'HF diagnosed during an admission in the last year',
  $$diagnosis 'I50%' within 1 year during visit 9201$$),
 ('NCT05567890', 2, 'inclusion', 'Loop diuretic for at least 3 months',
  $$medication ('furosemide', 'bumetanide', 'torsemide') active for 3 months gap 30 days$$),
 ('NCT05567890', 3, 'inclusion', 'HF recorded on 2 different days in 2 years',
  $$diagnosis 'I50%' within 2 years days >= 2$$),
 ('NCT05567890', 4, 'exclusion', 'Pregnant',
  $$diagnosis ('Z33.1', 'Z34%') within 9 months not followed by outcome ('Z37%', 'O0%')$$);
COMMIT;
