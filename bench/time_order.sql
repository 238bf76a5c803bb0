-- trialmatch benchmark: rewrite the event tables of a generated population
-- (scripts/gen_data.sql) in event-time order, the way a hospital's tables
-- grow: rows appended as they happen, so a recent window is a few recent
-- pages.  The rows are exactly the generated ones (CREATE TABLE AS SELECT *),
-- ties broken by every column so the physical order is deterministic.  The
-- patient table keeps its order (patient_id, the order of registration).
-- The same indexes are created again from their definitions, whatever they
-- are (scripts/gen_data.sql's, bench/indexes.sql's).
--
--   psql -d tm_<scale>_time -f bench/time_order.sql

\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET work_mem = '1GB';
SET maintenance_work_mem = '1GB';
SET synchronous_commit = off;
SET jit = off;

BEGIN;
CREATE TEMP TABLE bench_indexdefs ON COMMIT DROP AS
SELECT indexdef FROM pg_catalog.pg_indexes
 WHERE schemaname = 'public' AND tablename IN ('labs', 'diagnoses', 'medications');

CREATE TABLE public.labs_by_time AS
SELECT * FROM public.labs ORDER BY taken_at, patient_id, code, value, unit;
DROP TABLE public.labs;
ALTER TABLE public.labs_by_time RENAME TO labs;

CREATE TABLE public.diagnoses_by_time AS
SELECT * FROM public.diagnoses ORDER BY diagnosed_at, patient_id, code;
DROP TABLE public.diagnoses;
ALTER TABLE public.diagnoses_by_time RENAME TO diagnoses;

CREATE TABLE public.medications_by_time AS
SELECT * FROM public.medications ORDER BY started_at, patient_id, drug, ended_at;
DROP TABLE public.medications;
ALTER TABLE public.medications_by_time RENAME TO medications;

SELECT indexdef FROM bench_indexdefs \gexec
COMMIT;
