-- match_trials keeps its last plan for the next call of the session
-- (plan.c, tm_plan_cached); DEBUG1 says when a call reused it.  A kept plan
-- must give what a fresh plan gives: each answer below is checked against
-- match_patients (another plan, bound anew) or stated in a comment, and a
-- plan is dropped when what it was bound from changes:
--  * another as_of: the same plan, its windows moved;
--  * another plan bound the trees (match_patients, explain_match);
--  * a change to the catalog (criteria, code sets);
--  * a relcache invalidation of a table it reads: a renamed column must
--    give the error a fresh plan gives, not a read of the old attribute
--    number (another table's changes keep it);
--  * another session time zone;
--  * another role: privileges are checked by every call;
--  * plans with DAYS or event relations are never kept.
SET timezone = 'UTC';
CREATE TABLE c_pat (patient_id int8 PRIMARY KEY, birth_date date, sex text);
INSERT INTO c_pat VALUES (1, '1980-01-01', 'F'), (2, '1950-01-01', 'M');
CREATE TABLE c_lab (patient_id int8, code text, t timestamptz, value numeric);
-- patient 1: HbA1c 8.1 on 01-10 (in 90 days of 02-01, not of 06-01)
INSERT INTO c_lab VALUES (1, 'HBA1C', '2026-01-10', 8.1), (2, 'HBA1C', '2025-06-01', 6.0),
  (2, 'EGFR', '2026-01-20', 40);
SELECT trialmatch.set_patients('c_pat');
SELECT trialmatch.add_source('lab', 'c_lab', time_column => 't', value_column => 'value');
INSERT INTO trialmatch.trials VALUES ('C1', 'recent HbA1c', 'recruiting'),
  ('C2', 'adults', 'recruiting'), ('C3', 'closed', 'closed');
INSERT INTO trialmatch.code_sets VALUES ('renal', 'EGFR');
INSERT INTO trialmatch.criteria VALUES
  ('C1', 1, 'inclusion', 'HbA1c >= 7 in 90 days', $$lab 'HBA1C' within 90 days last >= 7$$),
  ('C1', 2, 'exclusion', 'eGFR < 45', $$lab @renal within 1 year last < 45$$),
  ('C2', 1, 'inclusion', 'adult', 'age >= 18'),
  ('C2', 2, 'exclusion', 'over 70', 'age > 70'),
  ('C3', 1, 'inclusion', 'anything', 'true');
SET client_min_messages = debug1;
-- bound, then reused
SELECT * FROM trialmatch.match_trials(1, '2026-02-01') ORDER BY 1;
SELECT * FROM trialmatch.match_trials(1, '2026-02-01') ORDER BY 1;
SELECT * FROM trialmatch.match_trials(2, '2026-02-01') ORDER BY 1;
-- another as_of: reused with the windows moved (C1: no HbA1c in 90 days of
-- 06-01, so unknown), and back
SELECT * FROM trialmatch.match_trials(1, '2026-06-01') ORDER BY 1;
SELECT * FROM trialmatch.match_trials(1, '2026-02-01') ORDER BY 1;
-- an error in a call (no such patient) leaves the plan usable
SELECT * FROM trialmatch.match_trials(99, '2026-02-01');
SELECT * FROM trialmatch.match_trials(1, '2026-02-01') ORDER BY 1;
RESET client_min_messages;
-- another plan binds the trees: the next call binds them again
SELECT patient_id, status, failed FROM trialmatch.match_patients('C1', '2026-06-01') ORDER BY 1;
SET client_min_messages = debug1;
SELECT * FROM trialmatch.match_trials(1, '2026-06-01') ORDER BY 1;
-- a changed code set is a new catalog: patient 2's eGFR no longer excludes
-- (C1 is indeterminate: no recent HbA1c, no creatinine)
UPDATE trialmatch.code_sets SET code = 'CREAT' WHERE set_name = 'renal';
SELECT * FROM trialmatch.match_trials(2, '2026-02-01') ORDER BY 1;
SELECT * FROM trialmatch.match_trials(2, '2026-02-01') ORDER BY 1;
-- a change to a table the plan does not read keeps it
CREATE TABLE c_other (x int);
ALTER TABLE c_other ADD COLUMN y int;
SELECT * FROM trialmatch.match_trials(2, '2026-02-01') ORDER BY 1;
DROP TABLE c_other;
-- a renamed column: the error a fresh plan gives, then the plan again
ALTER TABLE c_lab RENAME COLUMN value TO v;
SELECT * FROM trialmatch.match_trials(1, '2026-02-01') ORDER BY 1;
ALTER TABLE c_lab RENAME COLUMN v TO value;
SELECT * FROM trialmatch.match_trials(1, '2026-02-01') ORDER BY 1;
-- a column moved (dropped and added again: another attribute number)
ALTER TABLE c_lab DROP COLUMN value, ADD COLUMN value numeric;
UPDATE c_lab SET value = CASE code WHEN 'HBA1C' THEN 6.5 ELSE 40 END;
SELECT * FROM trialmatch.match_trials(1, '2026-02-01') ORDER BY 1;
SELECT * FROM trialmatch.match_trials(1, '2026-02-01') ORDER BY 1;
RESET client_min_messages;
SELECT patient_id, status, failed FROM trialmatch.match_patients('C1', '2026-02-01') ORDER BY 1;
-- another time zone binds again
SET client_min_messages = debug1;
SET timezone = 'Asia/Tokyo';
SELECT * FROM trialmatch.match_trials(1, '2026-02-01') ORDER BY 1;
SET timezone = 'UTC';
SELECT * FROM trialmatch.match_trials(1, '2026-02-01') ORDER BY 1;
-- another role: the kept plan is reused, and is not a way around
-- privileges (the reader may not read c_lab)
CREATE ROLE tm_cache_reader;
GRANT USAGE ON SCHEMA trialmatch TO tm_cache_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA trialmatch TO tm_cache_reader;
GRANT SELECT ON c_pat TO tm_cache_reader;
SELECT * FROM trialmatch.match_trials(1, '2026-02-01') ORDER BY 1;
SET ROLE tm_cache_reader;
SELECT * FROM trialmatch.match_trials(1, '2026-02-01') ORDER BY 1;
RESET ROLE;
GRANT SELECT ON c_lab TO tm_cache_reader;
SET ROLE tm_cache_reader;
SELECT * FROM trialmatch.match_trials(1, '2026-02-01') ORDER BY 1;
RESET ROLE;
-- a trial with DAYS: not kept (its event times are numbered into the
-- tree), and its window follows as_of: a day with an HbA1c in 90 days of
-- 02-01, none in 90 days of 06-01
RESET client_min_messages;
INSERT INTO trialmatch.trials VALUES ('C4', 'HbA1c days', 'recruiting');
INSERT INTO trialmatch.criteria VALUES
  ('C4', 1, 'inclusion', 'HbA1c on a day', $$lab 'HBA1C' within 90 days days >= 1$$);
SELECT * FROM trialmatch.match_trials(1, '2026-02-01') ORDER BY 1;
SELECT * FROM trialmatch.match_trials(1, '2026-06-01') ORDER BY 1;
SELECT * FROM trialmatch.match_trials(1, '2026-02-01') ORDER BY 1;
RESET client_min_messages;

-- The label arrays match_trials keeps per trial (64 combinations of failed
-- and unknown criteria, the first met): with 243 combinations, those kept
-- still serve once the memo is full, the others are formed each time, and
-- every row agrees with match_patients.  Patient k's lab Ld is absent
-- (unknown), 1 (false) or 9 (true) by the base-3 digit d of k.
DELETE FROM trialmatch.trials;
CREATE TABLE pc_pat (patient_id int8 PRIMARY KEY, birth_date date, sex text);
INSERT INTO pc_pat SELECT k, '1980-01-01', 'F' FROM generate_series(0, 242) k;
CREATE TABLE pc_lab (patient_id int8, code text, t timestamptz, value numeric);
INSERT INTO pc_lab SELECT k, 'L' || d, '2026-01-01', CASE (k / 3 ^ d)::int % 3 WHEN 1 THEN 1 ELSE 9 END
  FROM generate_series(0, 242) k, generate_series(0, 4) d WHERE (k / 3 ^ d)::int % 3 <> 0;
SELECT trialmatch.set_patients('pc_pat');
SELECT trialmatch.add_source('pclab', 'pc_lab', time_column => 't', value_column => 'value');
INSERT INTO trialmatch.trials VALUES ('M', 'many combinations', 'recruiting');
INSERT INTO trialmatch.criteria
SELECT 'M', d + 1, CASE WHEN d % 2 = 0 THEN 'inclusion' ELSE 'exclusion' END, 'L' || d,
       format($$pclab 'L%s' last >= 5$$, d)
  FROM generate_series(0, 4) d;
CREATE TEMP TABLE pc_rows AS SELECT * FROM trialmatch.match_patients('M', '2026-02-01');
SELECT count(DISTINCT (failed, unknown)) AS combinations FROM pc_rows;
-- twice: the second pass finds the memo full from the start
SELECT pass, count(*) AS patients,
       count(*) FILTER (WHERE (t.status, t.failed, t.unknown) IS DISTINCT FROM
                              (m.status, m.failed, m.unknown)) AS differ
  FROM generate_series(1, 2) pass, pc_rows m,
       LATERAL trialmatch.match_trials(m.patient_id, '2026-02-01') t
 GROUP BY pass ORDER BY pass;
DROP TABLE pc_rows;
DELETE FROM trialmatch.trials;
SELECT trialmatch.drop_source('pclab');
DROP TABLE pc_lab, pc_pat;

-- A source whose view calls trialmatch: the inner call binds the trees of
-- the trials it screens for its own plan.  An outer call that screens other
-- trials is undisturbed; one that screens the same trial stops with an
-- error instead of evaluating it with another plan's atom numbers.
-- N1 reads the view, which screens N2; N2 is E11 and not I10, and has more
-- atoms than the inner plan numbers.
DELETE FROM trialmatch.trials;
CREATE TABLE n_pat (patient_id int8 PRIMARY KEY, birth_date date, sex text);
INSERT INTO n_pat VALUES (1, '1980-01-01', 'F'), (2, '1980-01-01', 'M'), (3, '2015-01-01', 'F');
CREATE TABLE n_dx (patient_id int8, code text, at date);
INSERT INTO n_dx VALUES (1, 'E11.9', '2025-01-01'), (2, 'E11.9', '2025-01-01'), (2, 'I10', '2025-01-01'),
  (3, 'J45', '2025-01-01');
SELECT trialmatch.set_patients('n_pat');
SELECT trialmatch.add_source('ndx', 'n_dx', time_column => 'at');
CREATE VIEW n_screened AS
  SELECT m.patient_id, 'N2' AS code, date '2026-01-01' AS at
    FROM trialmatch.match_patients('N2', '2026-02-01') m WHERE m.status = 'eligible';
SELECT trialmatch.add_source('screened', 'n_screened', time_column => 'at');
INSERT INTO trialmatch.trials VALUES ('N1', 'after N2', 'recruiting'), ('N2', 'T2D', 'recruiting');
INSERT INTO trialmatch.criteria VALUES
  ('N1', 1, 'inclusion', 'adult', 'age >= 18'),
  ('N1', 2, 'inclusion', 'eligible for N2', $$screened 'N2'$$),
  ('N2', 1, 'inclusion', 'adult', 'age >= 18'),
  ('N2', 2, 'exclusion', 'asthma', $$ndx 'J45'$$),
  ('N2', 3, 'inclusion', 'T2D', $$ndx 'E11%'$$),
  ('N2', 4, 'exclusion', 'hypertension', $$ndx 'I10'$$);
SELECT patient_id, status, failed FROM trialmatch.match_patients('N2', '2026-02-01') ORDER BY 1;
SELECT patient_id, status, failed FROM trialmatch.match_patients('N1', '2026-02-01') ORDER BY 1;
SELECT trial_id, patient_id, status, failed FROM trialmatch.match_all('2026-02-01', '{N1,N2}') ORDER BY 1, 2;
SELECT * FROM trialmatch.match_trials(1, '2026-02-01') ORDER BY 1;
SELECT * FROM trialmatch.explain_match('N1', 1, '2026-02-01');
-- the same through the vocabulary: unit concepts looked up in a concept
-- view that screens N2, while N0 is read (after the sources, serially;
-- N0 sorts first, so N2's atoms are numbered otherwise than alone)
CREATE TABLE n_lab (patient_id int8, code text, at date, value numeric, unit_id int8);
INSERT INTO n_lab VALUES (1, 'GLU', '2026-01-01', 100, 8840), (2, 'GLU', '2026-01-01', 80, 8840);
CREATE TABLE n_concept_t (concept_id int8, concept_code text);
INSERT INTO n_concept_t VALUES (8840, 'mg/dL');
CREATE TABLE n_ancestor (ancestor_concept_id int8, descendant_concept_id int8);
CREATE VIEW n_concept AS
  SELECT c.concept_id, c.concept_code FROM n_concept_t c
   WHERE EXISTS (SELECT FROM trialmatch.match_patients('N2', '2026-02-01'));
INSERT INTO trialmatch.vocabulary (concept, concept_ancestor) VALUES ('n_concept', 'n_ancestor');
SELECT trialmatch.add_source('nlab', 'n_lab', time_column => 'at', value_column => 'value',
                             unit_column => 'unit_id');
INSERT INTO trialmatch.trials VALUES ('N0', 'glucose', 'recruiting');
INSERT INTO trialmatch.criteria VALUES
  ('N0', 1, 'inclusion', 'glucose >= 90', $$nlab 'GLU' within 1 year last >= 90 unit 'mg/dL'$$);
SELECT patient_id, status, failed FROM trialmatch.match_patients('N0', '2026-02-01') ORDER BY 1;
SELECT trial_id, patient_id, status, failed FROM trialmatch.match_all('2026-02-01', '{N0,N2}') ORDER BY 1, 2;
DELETE FROM trialmatch.trials;
DELETE FROM trialmatch.vocabulary;
SELECT trialmatch.drop_source('nlab');
DROP VIEW n_concept;
DROP TABLE n_lab, n_concept_t, n_ancestor;
SELECT trialmatch.drop_source('screened');
SELECT trialmatch.drop_source('ndx');
DROP VIEW n_screened;
DROP TABLE n_dx, n_pat;

-- leave the catalog empty
DO $$
BEGIN
    DELETE FROM trialmatch.trials;
    DELETE FROM trialmatch.code_sets;
    PERFORM trialmatch.drop_source(name) FROM trialmatch.sources;
    DELETE FROM trialmatch.patient_source;
END
$$;
DROP TABLE c_lab, c_pat;
REVOKE ALL ON SCHEMA trialmatch FROM tm_cache_reader;
REVOKE ALL ON ALL TABLES IN SCHEMA trialmatch FROM tm_cache_reader;
DROP ROLE tm_cache_reader;
