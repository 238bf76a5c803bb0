-- OMOP CDM v5.4 tables as they are: use_omop() registration, concept
-- hierarchies (<< id), sex from gender concepts, partial birth dates, unit
-- concepts, datetime-else-date columns, duplicated event ids, and
-- continuous observation (observed N days).  A tiny hand-made schema with
-- only the columns trialmatch reads; answers worked out in the comments.
SET timezone = 'UTC';
CREATE SCHEMA omop_t;
SET search_path = omop_t, public;
CREATE TABLE person (person_id int8, gender_concept_id int4, year_of_birth int4,
                     month_of_birth int4, day_of_birth int4, birth_datetime timestamp);
INSERT INTO person VALUES
  (1, 8532, 2000, 6, 15, NULL),         -- F, born 2000-06-15: 25 on 2026-06-01
  (2, 8507, 2008, NULL, NULL, NULL),    -- M, born in 2008: 17 or 18
  (3, 0, 1990, 3, NULL, NULL),          -- sex unknown, born 1990-03: 36 on 2026-06-01, 35 or 36 on 2026-03-15
  (4, 8532, 1980, 1, 1, '1985-05-05 10:00'), -- birth_datetime wins: 41
  (5, 8507, 1950, NULL, NULL, NULL);    -- 75 or 76: certainly >= 65
CREATE TABLE concept (concept_id int4 PRIMARY KEY, concept_code text, vocabulary_id text);
INSERT INTO concept VALUES (8840, 'mg/dL', 'UCUM'), (8753, 'mmol/L', 'UCUM'), (100, 'X', 'SNOMED');
CREATE TABLE concept_ancestor (ancestor_concept_id int4, descendant_concept_id int4);
INSERT INTO concept_ancestor VALUES (100, 100), (100, 101), (100, 102), (101, 101), (101, 102), (102, 102);
CREATE TABLE condition_occurrence (condition_occurrence_id int8, person_id int8, condition_concept_id int4,
  condition_start_date date, condition_start_datetime timestamp,
  condition_end_date date, condition_end_datetime timestamp);
INSERT INTO condition_occurrence VALUES
  (1, 1, 101, '2026-01-01', NULL, NULL, NULL),                   -- date only
  (2, 2, 102, '2026-01-01', '2026-01-01 10:00', NULL, NULL),     -- datetime preferred
  (3, 3, 200, '2026-01-01', NULL, NULL, NULL),
  (3, 4, 200, '2026-02-01', NULL, NULL, NULL),                   -- the same id, another event (as in
  (3, 3, 201, '2026-03-01', NULL, NULL, NULL),                   -- eunomia-gibleed): each counts
  (4, 4, 100, '2026-07-01', NULL, NULL, NULL);                   -- after as_of
CREATE TABLE drug_exposure (drug_exposure_id int8, person_id int8, drug_concept_id int4,
  drug_exposure_start_date date, drug_exposure_start_datetime timestamp,
  drug_exposure_end_date date, drug_exposure_end_datetime timestamp);
INSERT INTO drug_exposure VALUES (1, 4, 1118084, '2026-01-01', NULL, '2026-12-31', NULL);
CREATE TABLE measurement (measurement_id int8, person_id int8, measurement_concept_id int4,
  measurement_date date, measurement_datetime timestamp, value_as_number numeric, unit_concept_id int4);
INSERT INTO measurement VALUES
  (1, 1, 3000, '2026-05-01', NULL, 120, 8840),    -- mg/dL
  (2, 2, 3000, '2026-05-01', NULL, 7, 8753),      -- mmol/L: 126 mg/dL through unit_conversions
  (3, 3, 3000, '2026-05-01', NULL, 99, NULL),     -- no unit: not usable with unit 'mg/dL'
  (4, 4, 3000, '2026-05-01', NULL, 5, 9999),      -- unknown unit concept: not usable
  (5, 5, 3000, '2026-05-01', NULL, 130, 8840),
  (5, 5, 3000, '2026-04-01', NULL, 0, 0);         -- the same id again; unit concept 0 is no unit
CREATE TABLE observation (observation_id int8, person_id int8, observation_concept_id int4,
  observation_date date, observation_datetime timestamp, value_as_number numeric, unit_concept_id int4);
CREATE TABLE procedure_occurrence (procedure_occurrence_id int8, person_id int8, procedure_concept_id int4,
  procedure_date date, procedure_datetime timestamp);
CREATE TABLE visit_occurrence (visit_occurrence_id int8, person_id int8, visit_concept_id int4,
  visit_start_date date, visit_start_datetime timestamp, visit_end_date date, visit_end_datetime timestamp);
CREATE TABLE observation_period (observation_period_id int8, person_id int8,
  observation_period_start_date date, observation_period_end_date date, period_type_concept_id int4);
INSERT INTO observation_period VALUES
  (1, 1, '2020-01-01', '2026-12-31', 32817),      -- covers 2025-06-01 .. 2026-06-01
  (2, 2, '2026-01-01', '2026-12-31', 32817),      -- starts too late
  (3, 3, '2010-01-01', '2026-05-01', 32817),      -- ends before as_of
  (5, 5, '2000-01-01', '2030-01-01', 32817);
RESET search_path;

-- << needs a vocabulary
INSERT INTO trialmatch.trials (trial_id) VALUES ('OMOP1');
SELECT trialmatch.use_omop('no_such_schema');
SELECT trialmatch.use_omop('omop_t');
SELECT name, relation, code_column, time_column, time_fallback_column, end_time_column,
       end_time_fallback_column, value_column, unit_column
  FROM trialmatch.sources ORDER BY name;
SELECT relation, id_column, birth_date_column, sex_column, gender_concept_column,
       birth_year_column, birth_month_column, birth_day_column FROM trialmatch.patient_source;
SELECT concept, concept_ancestor FROM trialmatch.vocabulary;
INSERT INTO trialmatch.unit_conversions VALUES ('3000', 'mmol/L', 'mg/dL', 18, 0);

INSERT INTO trialmatch.criteria VALUES
  ('OMOP1', 1, 'inclusion', 'condition 100 family', 'condition << 100'),
  ('OMOP1', 2, 'exclusion', 'condition 200 or 201 twice', 'condition (200, 201) count >= 2'),
  ('OMOP1', 3, 'inclusion', 'glucose above 100', $$measurement 3000 last > 100 unit 'mg/dL'$$),
  ('OMOP1', 4, 'inclusion', 'observed a year', 'observed 365 days'),
  ('OMOP1', 5, 'inclusion', 'adult', 'age >= 18'),
  ('OMOP1', 6, 'inclusion', 'female', $$sex = 'F'$$);
SELECT * FROM trialmatch.match_patients('OMOP1', '2026-06-01') ORDER BY 1;
SELECT * FROM trialmatch.explain_match('OMOP1', 1, '2026-06-01');
SELECT * FROM trialmatch.explain_match('OMOP1', 2, '2026-06-01');
SELECT * FROM trialmatch.explain_match('OMOP1', 3, '2026-06-01');
SELECT * FROM trialmatch.explain_match('OMOP1', 5, '2026-06-01');
SELECT * FROM trialmatch.attrition('OMOP1', '2026-06-01');

-- partial birth dates: decided only when every possible date agrees
DELETE FROM trialmatch.criteria WHERE trial_id = 'OMOP1';
INSERT INTO trialmatch.criteria VALUES
  ('OMOP1', 1, 'inclusion', 'age >= 36', 'age >= 36'),
  ('OMOP1', 2, 'inclusion', 'age < 19', 'age < 19'),
  ('OMOP1', 3, 'inclusion', 'age between 17 and 18', 'age between 17 and 18'),
  ('OMOP1', 4, 'inclusion', 'age = 18', 'age = 18');
SELECT p.person_id, e.label, e.result, e.evidence
  FROM omop_t.person p, trialmatch.explain_match('OMOP1', p.person_id, '2026-03-15') e
 WHERE p.person_id IN (2, 3) ORDER BY 1, e.position;
-- the same through the population path
SELECT * FROM trialmatch.match_patients('OMOP1', '2026-03-15') ORDER BY 1;

-- codes: << with descendants, except, and the index path agree
DELETE FROM trialmatch.criteria WHERE trial_id = 'OMOP1';
INSERT INTO trialmatch.criteria VALUES
  ('OMOP1', 1, 'inclusion', 'c', 'condition << 101 except 102'),
  ('OMOP1', 2, 'inclusion', 'd', 'drug (<< 1118084, 5) within 1 year active'),
  -- several << codes, and << in except
  ('OMOP1', 5, 'inclusion', 'e', 'condition (<< 300, << 100, << 200) except (<< 999, << 101)'),
  -- person 5 has two measurements sharing an id: two events
  ('OMOP1', 3, 'inclusion', 'one glucose', 'measurement 3000 count = 1'),
  ('OMOP1', 4, 'inclusion', 'unit-less glucose', $$measurement 3000 first < 1 unit 'mg/dL'$$);
SELECT patient_id, status, failed FROM trialmatch.match_patients('OMOP1', '2026-06-01') ORDER BY 1;
-- errors: << on a text source
CREATE TABLE omop_t.txt_events (person_id int8, code text, t date);
SELECT trialmatch.add_source('txt', 'omop_t.txt_events', patient_column => 'person_id', time_column => 't');
INSERT INTO trialmatch.criteria VALUES ('OMOP1', 3, 'inclusion', 'x', 'txt << 5');
SELECT trialmatch.drop_source('txt');
-- the vocabulary cannot go while << criteria need it
DELETE FROM trialmatch.vocabulary;
-- but registering the schema again keeps working (1.0 deleted the
-- vocabulary row first, and refused: SPEC 2, re-registration repairs)
SELECT trialmatch.use_omop('omop_t');
SELECT count(*) FROM trialmatch.match_patients('OMOP1', '2026-06-01');

-- leave the catalog empty for the next test
DELETE FROM trialmatch.trials;
DELETE FROM trialmatch.sources;
DELETE FROM trialmatch.patient_source;
DELETE FROM trialmatch.unit_conversions;
DELETE FROM trialmatch.vocabulary;
DROP SCHEMA omop_t CASCADE;
