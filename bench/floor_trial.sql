-- trialmatch benchmark: the fixed cost of a population call, both sides: a
-- trial whose only criterion is sex = 'F' (no event table read), against
-- the same SQL shape over the patient table (every column formed, as in run.sh); two timed runs
-- each after a warm-up, interleaved.  In a database prepared by bench/run.sh:
--
--   psql -d tm_200000_time -v w=1 -f bench/floor_trial.sql      # w: workers
\set ON_ERROR_STOP on
\pset pager off
SET client_min_messages = warning;
SET trialmatch.max_parallel_workers = :w;
SET max_parallel_workers_per_gather = :w;
INSERT INTO trialmatch.trials (trial_id, title, status) VALUES ('FLOOR', 'one patient-table criterion', 'paused')
  ON CONFLICT DO NOTHING;
INSERT INTO trialmatch.criteria VALUES ('FLOOR', 1, 'inclusion', 'Female', $$sex = 'F'$$) ON CONFLICT DO NOTHING;
CREATE TEMP TABLE t (what text, s numeric);
\set tmq 'SELECT count(*) FROM (SELECT * FROM trialmatch.match_patients(''FLOOR'', ''2026-11-01'')) s WHERE s.status IS NOT NULL AND s.failed IS NOT NULL AND s.unknown IS NOT NULL'
\set sqlq 'SELECT count(*) FROM (WITH r AS (SELECT patient_id, CASE WHEN sex = ''F'' THEN ''{}''::text[] WHEN sex IS NULL THEN ''{}'' ELSE ''{Female}'' END AS failed, CASE WHEN sex IS NULL THEN ''{Female}''::text[] ELSE ''{}'' END AS unknown FROM public.patients WHERE patient_id IS NOT NULL) SELECT patient_id, (CASE WHEN failed <> ''{}'' THEN ''ineligible'' WHEN unknown <> ''{}'' THEN ''indeterminate'' ELSE ''eligible'' END)::trialmatch.eligibility AS status, failed, unknown FROM r) s WHERE s.status IS NOT NULL AND s.failed IS NOT NULL AND s.unknown IS NOT NULL'
:tmq;
:sqlq;
SELECT clock_timestamp() AS t0 \gset
:tmq;
INSERT INTO t SELECT 'trialmatch 1', extract(epoch FROM clock_timestamp() - :'t0');
SELECT clock_timestamp() AS t0 \gset
:sqlq;
INSERT INTO t SELECT 'SQL 1', extract(epoch FROM clock_timestamp() - :'t0');
SELECT clock_timestamp() AS t0 \gset
:tmq;
INSERT INTO t SELECT 'trialmatch 2', extract(epoch FROM clock_timestamp() - :'t0');
SELECT clock_timestamp() AS t0 \gset
:sqlq;
INSERT INTO t SELECT 'SQL 2', extract(epoch FROM clock_timestamp() - :'t0');
SELECT what, round(s, 3) FROM t;
DELETE FROM trialmatch.trials WHERE trial_id = 'FLOOR';
