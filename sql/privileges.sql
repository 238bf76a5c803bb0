-- A caller never sees rows it could not SELECT itself.
SET timezone = 'UTC';
CREATE ROLE tm_nobody;
CREATE ROLE tm_reader;
CREATE TABLE p_pat (patient_id int8 PRIMARY KEY, birth_date date, sex text, ssn text);
CREATE TABLE p_lab (patient_id int8, code text, taken_at timestamptz, value float8, unit text, comment text);
INSERT INTO p_pat VALUES (1, '1980-01-01', 'F', '123-45-6789'), (2, '1990-01-01', 'M', '987-65-4321');
INSERT INTO p_lab VALUES (1, 'A', '2026-01-01', 5, 'mg', 'secret'), (2, 'A', '2026-01-01', 1, 'mg', 'secret');
SELECT trialmatch.set_patients('p_pat');
SELECT trialmatch.add_source('lab', 'p_lab', time_column => 'taken_at', value_column => 'value', unit_column => 'unit');
INSERT INTO trialmatch.trials (trial_id) VALUES ('P');
INSERT INTO trialmatch.criteria VALUES ('P', 1, 'inclusion', 'A above 2', $$lab 'A' last > 2$$);

-- no SELECT on anything
SET ROLE tm_nobody;
SELECT * FROM trialmatch.match_patients('P', '2026-06-01');
SELECT * FROM trialmatch.match_trials(1, '2026-06-01');
SELECT * FROM trialmatch.explain_match('P', 1, '2026-06-01');
SELECT * FROM trialmatch.attrition('P', '2026-06-01');
-- nor may it change the catalog
INSERT INTO trialmatch.criteria VALUES ('P', 2, 'inclusion', 'x', 'true');
SELECT trialmatch.add_source('lab2', 'p_lab', time_column => 'taken_at');
RESET ROLE;

-- SELECT on the patient table only: the source is still refused
GRANT SELECT ON p_pat TO tm_reader;
SET ROLE tm_reader;
SELECT * FROM trialmatch.match_patients('P', '2026-06-01');
RESET ROLE;
-- column privileges on exactly the columns trialmatch reads are enough
GRANT SELECT (patient_id, code, taken_at, value) ON p_lab TO tm_reader;
SET ROLE tm_reader;
SELECT * FROM trialmatch.match_patients('P', '2026-06-01');
RESET ROLE;
GRANT SELECT (unit) ON p_lab TO tm_reader;
SET ROLE tm_reader;
SELECT * FROM trialmatch.match_patients('P', '2026-06-01') ORDER BY 1;
SELECT * FROM trialmatch.explain_match('P', 1, '2026-06-01');
RESET ROLE;

-- row-level security applying to the caller: refused, never bypassed
ALTER TABLE p_lab ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_one ON p_lab FOR SELECT USING (patient_id = 1);
SET ROLE tm_reader;
SELECT * FROM trialmatch.match_patients('P', '2026-06-01');
SELECT * FROM trialmatch.match_trials(2, '2026-06-01');
RESET ROLE;
-- a superuser (BYPASSRLS) is not subject to policies, even FORCEd ones
SELECT * FROM trialmatch.match_patients('P', '2026-06-01') ORDER BY 1;
ALTER TABLE p_lab FORCE ROW LEVEL SECURITY;
SELECT * FROM trialmatch.match_patients('P', '2026-06-01') ORDER BY 1;
ALTER TABLE p_lab NO FORCE ROW LEVEL SECURITY;
ALTER TABLE p_lab DISABLE ROW LEVEL SECURITY;
-- RLS on the patient table is refused too
ALTER TABLE p_pat ENABLE ROW LEVEL SECURITY;
SET ROLE tm_reader;
SELECT * FROM trialmatch.match_trials(1, '2026-06-01');
RESET ROLE;
ALTER TABLE p_pat DISABLE ROW LEVEL SECURITY;

DELETE FROM trialmatch.trials WHERE trial_id = 'P';
DROP TABLE p_pat, p_lab CASCADE;
DROP OWNED BY tm_reader, tm_nobody;
DROP ROLE tm_reader;
DROP ROLE tm_nobody;

-- leave the catalog empty for the next test
DELETE FROM trialmatch.trials;
DELETE FROM trialmatch.sources;
DELETE FROM trialmatch.patient_source;
DELETE FROM trialmatch.unit_conversions;
