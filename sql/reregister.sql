-- A nightly ETL drops and recreates the event tables; registering them
-- again, in any order, one by one or in one transaction, repairs the
-- catalog.  SPEC 2: "Drift elsewhere (another source's table dropped) never
-- blocks a registration: after a nightly ETL that drops and recreates every
-- table, registering them again, in any order, repairs the catalog."
-- README (1.0) promised a dropped table is "repaired by registering again";
-- 1.0 refused every re-registration while another source was still dropped.
SET timezone = 'UTC';
CREATE TABLE r_pat (patient_id int8 PRIMARY KEY, birth_date date, sex text);
INSERT INTO r_pat VALUES (1, '1980-01-01', 'F'), (2, '1990-01-01', 'M'), (3, '2000-01-01', 'F');
CREATE FUNCTION r_load() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  CREATE TABLE r_lab (patient_id int8, code text, taken_at timestamptz, value numeric, unit text);
  INSERT INTO r_lab VALUES (1, 'A1C', '2026-05-01', 7.5, '%'), (2, 'A1C', '2026-05-01', 11, '%'),
                           (3, 'A1C', '2026-05-01', 8, '%');
  CREATE TABLE r_dx (patient_id int8, code text, at date);
  INSERT INTO r_dx VALUES (1, 'E11.9', '2020-01-01'), (2, 'E11.9', '2020-01-01'), (3, 'E11.9', '2020-01-01');
  CREATE TABLE r_med (patient_id int8, drug text, started timestamp, ended timestamp);
  INSERT INTO r_med VALUES (3, 'insulin glargine', '2026-05-01', NULL);
END $$;
SELECT r_load();
SELECT trialmatch.set_patients('r_pat');
SELECT trialmatch.add_source('lab', 'r_lab', time_column => 'taken_at', value_column => 'value', unit_column => 'unit');
SELECT trialmatch.add_source('diagnosis', 'r_dx', time_column => 'at');
SELECT trialmatch.add_source('medication', 'r_med', code_column => 'drug', time_column => 'started', end_time_column => 'ended');
INSERT INTO trialmatch.trials (trial_id) VALUES ('ETL');
INSERT INTO trialmatch.criteria VALUES
  ('ETL', 1, 'inclusion', 'T2D', $$diagnosis 'E11%'$$),
  ('ETL', 2, 'inclusion', 'HbA1c 7-10.5', $$lab 'A1C' within 180 days last between 7 and 10.5 unit '%'$$),
  ('ETL', 3, 'exclusion', 'insulin', $$medication 'insulin%' within 90 days active$$);
CREATE TABLE r_before AS
  SELECT * FROM trialmatch.match_patients('ETL', '2026-06-01');
SELECT patient_id, status, failed FROM r_before ORDER BY 1;

-- the nightly reload: every event table dropped and created again
DROP TABLE r_lab, r_dx, r_med;
SELECT r_load();
SELECT count(*) FROM trialmatch.match_patients('ETL', '2026-06-01');
-- one by one, in another order than registered: each is accepted although
-- the others still point at dropped tables
SELECT trialmatch.add_source('medication', 'r_med', code_column => 'drug', time_column => 'started', end_time_column => 'ended');
SELECT count(*) FROM trialmatch.match_patients('ETL', '2026-06-01');
SELECT trialmatch.add_source('lab', 'r_lab', time_column => 'taken_at', value_column => 'value', unit_column => 'unit');
SELECT trialmatch.add_source('diagnosis', 'r_dx', time_column => 'at');
SELECT count(*) AS differences FROM (
  (SELECT * FROM trialmatch.match_patients('ETL', '2026-06-01') EXCEPT ALL SELECT * FROM r_before)
  UNION ALL
  (SELECT * FROM r_before EXCEPT ALL SELECT * FROM trialmatch.match_patients('ETL', '2026-06-01'))) d;

-- again, in one transaction, the patient table too
BEGIN;
DROP TABLE r_lab, r_dx, r_med;
SELECT r_load();
SELECT trialmatch.add_source('diagnosis', 'r_dx', time_column => 'at');
SELECT trialmatch.set_patients('r_pat');
SELECT trialmatch.add_source('lab', 'r_lab', time_column => 'taken_at', value_column => 'value', unit_column => 'unit');
SELECT trialmatch.add_source('medication', 'r_med', code_column => 'drug', time_column => 'started', end_time_column => 'ended');
COMMIT;
SELECT count(*) AS differences FROM (
  (SELECT * FROM trialmatch.match_patients('ETL', '2026-06-01') EXCEPT ALL SELECT * FROM r_before)
  UNION ALL
  (SELECT * FROM r_before EXCEPT ALL SELECT * FROM trialmatch.match_patients('ETL', '2026-06-01'))) d;

-- what a registration changes is still checked: the HbA1c criterion needs
-- the unit column, so lab without it is refused (even while diagnosis is
-- dropped: that drift is not this registration's)
DROP TABLE r_dx;
\set SHOW_CONTEXT never
SELECT trialmatch.add_source('lab', 'r_lab', time_column => 'taken_at', value_column => 'value');
-- a rename of a source is a drop of the old name: refused while used
UPDATE trialmatch.sources SET name = 'labs' WHERE name = 'lab';
-- a source no criterion reads can be dropped although others are broken
SELECT trialmatch.add_source('spare', 'r_lab', time_column => 'taken_at');
SELECT trialmatch.drop_source('spare');
-- and a registration that breaks nothing for its own criteria is accepted
SELECT trialmatch.add_source('medication', 'r_med', code_column => 'drug', time_column => 'started', end_time_column => 'ended');
\set SHOW_CONTEXT errors
-- the still-dropped diagnosis table is named by the next call
SELECT count(*) FROM trialmatch.match_patients('ETL', '2026-06-01');
CREATE TABLE r_dx (patient_id int8, code text, at date);
SELECT trialmatch.add_source('diagnosis', 'r_dx', time_column => 'at');
SELECT status, count(*) FROM trialmatch.match_patients('ETL', '2026-06-01') GROUP BY 1 ORDER BY 1;

DELETE FROM trialmatch.trials;
DELETE FROM trialmatch.sources;
DELETE FROM trialmatch.patient_source;
DROP TABLE r_pat, r_lab, r_dx, r_med, r_before;
DROP FUNCTION r_load();
