-- Registration of patients and sources, and the checks made when criteria
-- are written: nothing that cannot be evaluated is ever stored.
\set VERBOSITY default
SET timezone = 'UTC';

CREATE TABLE pat (patient_id bigint PRIMARY KEY, birth_date date, sex text, note numeric);
CREATE TABLE lab (patient_id bigint, code text, taken_at timestamptz, value numeric, unit text, flag boolean);
CREATE TABLE dx (pid int4, icd varchar(10), at date);
CREATE TABLE drug (patient_id int8, concept int4, started timestamp, ended timestamp);
CREATE VIEW lab_view AS SELECT * FROM lab;

-- match before anything is registered
SELECT * FROM trialmatch.match_patients('nope');

-- set_patients: wrong relation, column, type
SELECT trialmatch.set_patients('no_such_table');
-- a view is a relation SELECT can read (1.1); a sequence is not a relation to register
CREATE SEQUENCE lab_seq;
SELECT trialmatch.set_patients('lab_seq');
DROP SEQUENCE lab_seq;
SELECT trialmatch.set_patients('pat', id_column => 'id');
SELECT trialmatch.set_patients('pat', sex_column => 'note');
SELECT trialmatch.set_patients('pat', birth_date_column => 'sex');
SELECT trialmatch.set_patients('pat', id_column => 'sex');
SELECT trialmatch.set_patients('pat');
SELECT relation, id_column, birth_date_column, sex_column FROM trialmatch.patient_source;

-- add_source: names, required time column, wrong columns and types
SELECT trialmatch.add_source('Lab', 'lab', time_column => 'taken_at');
SELECT trialmatch.add_source('1lab', 'lab', time_column => 'taken_at');
SELECT trialmatch.add_source('age', 'lab', time_column => 'taken_at');
SELECT trialmatch.add_source('lab', 'lab');
SELECT trialmatch.add_source('lab', 'lab', time_column => 'nope');
SELECT trialmatch.add_source('lab', 'lab', time_column => 'value');
SELECT trialmatch.add_source('lab', 'lab', time_column => 'taken_at', code_column => 'flag');
SELECT trialmatch.add_source('lab', 'lab', time_column => 'taken_at', patient_column => 'code');
SELECT trialmatch.add_source('lab', 'lab', time_column => 'taken_at', value_column => 'unit');
SELECT trialmatch.add_source('lab', 'lab', time_column => 'taken_at', unit_column => 'value');
SELECT trialmatch.add_source('lab', 'lab', time_column => 'taken_at', end_time_column => 'code');
SELECT trialmatch.add_source('lab', 'lab', time_column => 'taken_at', value_column => 'value', unit_column => 'unit');
SELECT trialmatch.add_source('dx', 'dx', patient_column => 'pid', code_column => 'icd', time_column => 'at');
SELECT trialmatch.add_source('drug', 'drug', code_column => 'concept', time_column => 'started', end_time_column => 'ended');
SELECT name, relation, patient_column, code_column, time_column, end_time_column, value_column, unit_column
  FROM trialmatch.sources ORDER BY name;

-- trials and criteria
INSERT INTO trialmatch.trials (trial_id, title) VALUES ('T1', 'first');
INSERT INTO trialmatch.trials (trial_id, title, status, created_at) VALUES ('T2', 'second', 'stopped', '2026-01-01');
INSERT INTO trialmatch.criteria VALUES ('T1', 1, 'inclusion', 'adult', 'age >= 18');
INSERT INTO trialmatch.criteria VALUES ('T1', 2, 'required', 'x', 'true');
INSERT INTO trialmatch.criteria VALUES ('T1', 2, 'inclusion', 'syntax', 'age >= ');
INSERT INTO trialmatch.criteria VALUES ('T1', 2, 'inclusion', 'unknown source', $$labs '4548-4'$$);
INSERT INTO trialmatch.criteria VALUES ('T1', 2, 'inclusion', 'integer code, text column', $$age > 1 and dx 250$$);
INSERT INTO trialmatch.criteria VALUES ('T1', 2, 'inclusion', 'text code, integer column', $$drug ('1', 2)$$);
INSERT INTO trialmatch.criteria VALUES ('T1', 2, 'inclusion', 'text except, integer column', $$drug 2 except 'x'$$);
INSERT INTO trialmatch.criteria VALUES ('T1', 2, 'inclusion', 'no value column', $$dx 'E11%' last > 1$$);
INSERT INTO trialmatch.criteria VALUES ('T1', 2, 'inclusion', 'no value column', $$dx 'E11%' count where value > 1 > 1$$);
INSERT INTO trialmatch.criteria VALUES ('T1', 2, 'inclusion', 'no unit column', $$drug 1 any > 1 unit 'mg'$$);
INSERT INTO trialmatch.criteria VALUES ('T1', 2, 'inclusion', 'no end column', $$lab 'x' active$$);
INSERT INTO trialmatch.criteria VALUES ('T1', 2, 'inclusion', 'two T2D diagnoses', $$dx 'E11%' count >= 2$$);
INSERT INTO trialmatch.criteria VALUES ('T1', 3, 'exclusion', 'on drug 1 or 2', $$drug (1, 2) within 3 months active$$);
INSERT INTO trialmatch.criteria VALUES ('T1', 4, 'inclusion', 'HbA1c below 7', $$lab '4548-4' within 1 year last < 7 unit '%'$$);
UPDATE trialmatch.criteria SET expr = 'labz 1' WHERE trial_id = 'T1' AND position = 4;
SELECT trial_id, position, kind, label, expr FROM trialmatch.criteria ORDER BY 1, 2;

-- changing a source is refused when a stored criterion would no longer evaluate
SELECT trialmatch.drop_source('lab');
SELECT trialmatch.drop_source('nope');
SELECT trialmatch.add_source('lab', 'lab', time_column => 'taken_at', value_column => 'value');
SELECT trialmatch.add_source('drug', 'drug', code_column => 'concept', time_column => 'started');
SELECT trialmatch.set_patients('pat', birth_date_column => NULL);
UPDATE trialmatch.sources SET code_column = 'unit' WHERE name = 'drug';
-- while a replacement that keeps every criterion valid is accepted
SELECT trialmatch.add_source('lab', 'lab', time_column => 'taken_at', value_column => 'value', unit_column => 'unit', end_time_column => 'taken_at');
SELECT end_time_column FROM trialmatch.sources WHERE name = 'lab';
SELECT trialmatch.add_source('lab', 'lab', time_column => 'taken_at', value_column => 'value', unit_column => 'unit');
DELETE FROM trialmatch.criteria WHERE trial_id = 'T1' AND position = 4;
SELECT trialmatch.drop_source('lab');
SELECT name FROM trialmatch.sources ORDER BY name;

-- unknown trial
SELECT * FROM trialmatch.match_patients('no such trial');
SELECT * FROM trialmatch.attrition('no such trial');
SELECT * FROM trialmatch.explain_match('no such trial', 1);
-- unknown patient
SELECT * FROM trialmatch.explain_match('T1', 42);
SELECT * FROM trialmatch.match_trials(42);
-- infinite as_of
SELECT * FROM trialmatch.match_patients('T1', 'infinity');

-- pg_dump keeps the catalog: every catalog table is an extension config table
SELECT c.relname FROM pg_extension e, unnest(e.extconfig) AS x(oid) JOIN pg_class c ON c.oid = x.oid
 WHERE e.extname = 'trialmatch' ORDER BY 1;
-- no function is SECURITY DEFINER, and every PL/pgSQL one pins search_path;
-- the SQL functions match_patients and match_all cannot (SET would stop their
-- inlining, and their rows from streaming): their bodies are schema-qualified
SELECT p.proname, p.prosecdef, p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c') AS c,
       p.proconfig
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'trialmatch') ORDER BY 1;

-- schema drift: a registered column dropped or retyped after registration
INSERT INTO pat VALUES (1, '1980-01-01', 'F');
INSERT INTO dx VALUES (1, 'E11.9', '2020-01-01'), (1, 'E11.9', '2021-01-01');
SELECT * FROM trialmatch.match_patients('T1', '2026-01-01');
ALTER TABLE dx RENAME COLUMN icd TO icd10;
SELECT * FROM trialmatch.match_patients('T1', '2026-01-01');
SELECT * FROM trialmatch.match_trials(1, '2026-01-01');
ALTER TABLE dx RENAME COLUMN icd10 TO icd;
ALTER TABLE dx ALTER COLUMN icd TYPE int USING 1;
SELECT * FROM trialmatch.match_patients('T1', '2026-01-01');
ALTER TABLE dx ALTER COLUMN icd TYPE text;
UPDATE dx SET icd = 'E11.9';
-- a renamed table is followed (the registration holds its OID)
ALTER TABLE drug RENAME TO drug2;
SELECT * FROM trialmatch.match_patients('T1', '2026-01-01');
ALTER TABLE drug2 RENAME TO drug;
CREATE TABLE dx_new AS SELECT * FROM dx;
DROP TABLE dx;
SELECT * FROM trialmatch.match_patients('T1', '2026-01-01');
-- repaired by registering again
SELECT trialmatch.add_source('dx', 'dx_new', patient_column => 'pid', code_column => 'icd', time_column => 'at');
SELECT * FROM trialmatch.match_patients('T1', '2026-01-01');

-- a restore (pg_dump sets check_function_bodies = false) may load criteria
-- before their sources: only the syntax is checked then, and a call checks
-- the sources again
SET check_function_bodies = false;
INSERT INTO trialmatch.criteria VALUES ('T1', 4, 'inclusion', 'restored early', $$vitals 'x'$$);
INSERT INTO trialmatch.criteria VALUES ('T1', 5, 'inclusion', 'bad syntax', $$vitals 'x$$);
RESET check_function_bodies;
SELECT * FROM trialmatch.match_patients('T1', '2026-01-01');

DELETE FROM trialmatch.trials;
DROP TABLE pat, lab, dx_new, drug CASCADE;
DELETE FROM trialmatch.sources;
DELETE FROM trialmatch.patient_source;
