-- trialmatch benchmark: covering indexes, for both sides (the hand-written
-- SQL and trialmatch read the same database).  Each holds every column a
-- criterion on its table reads, so either side may answer from the index
-- alone where the visibility map allows.  Idempotent.
--
--   psql -d tm_<scale>[_time] -f bench/indexes.sql

\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET maintenance_work_mem = '1GB';
CREATE INDEX IF NOT EXISTS labs_code_taken_at_cover_idx
    ON public.labs (code, taken_at) INCLUDE (patient_id, value, unit);
CREATE INDEX IF NOT EXISTS diagnoses_code_diagnosed_at_cover_idx
    ON public.diagnoses (code, diagnosed_at) INCLUDE (patient_id);
CREATE INDEX IF NOT EXISTS medications_drug_cover_idx
    ON public.medications (drug) INCLUDE (patient_id, started_at, ended_at);
-- one patient's rows (match_trials, and the hand-written SQL for one patient)
CREATE INDEX IF NOT EXISTS labs_patient_id_cover_idx
    ON public.labs (patient_id) INCLUDE (code, taken_at, value, unit);
CREATE INDEX IF NOT EXISTS diagnoses_patient_id_cover_idx
    ON public.diagnoses (patient_id) INCLUDE (code, diagnosed_at);
CREATE INDEX IF NOT EXISTS medications_patient_id_cover_idx
    ON public.medications (patient_id) INCLUDE (drug, started_at, ended_at);
