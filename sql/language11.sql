-- Criteria language 1.1, part 1 (SPEC 7, issue 9): categorical results,
-- normal-range bounds, attribute filters, code sets, omitted codes and age
-- in months/weeks/days, each on hand-made data with the answer worked out
-- in the comments; then every new error, and the same constructs split
-- among 0, 1 and 2 parallel workers against a SQL oracle.
SET timezone = 'UTC';
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS trialmatch;
RESET client_min_messages;
\set VERBOSITY default
\set asof '''2026-06-01 12:00+00'''

CREATE TABLE l_person (id int8 PRIMARY KEY, born date, by int4, bm int4, bd int4);
CREATE TABLE l_lab (patient_id int8, code text, taken_at timestamptz, value numeric,
                    result text, low numeric, high float8);
CREATE TABLE l_med (patient_id int8, drug text, started date, ended date, route text, dose numeric);
CREATE TABLE l_obs (patient_id int8, concept int8, t timestamptz, value_concept int4);
CREATE TABLE l_death (patient_id int8, died date, cause text);
SELECT trialmatch.set_patients('l_person', id_column => 'id', birth_date_column => 'born',
                               sex_column => NULL, birth_year_column => 'by',
                               birth_month_column => 'bm', birth_day_column => 'bd');
SELECT trialmatch.add_source('lab', 'l_lab', time_column => 'taken_at', value_column => 'value',
                             category_column => 'result', range_low_column => 'low',
                             range_high_column => 'high');
SELECT trialmatch.add_source('med', 'l_med', code_column => 'drug', time_column => 'started',
                             end_time_column => 'ended');
SELECT trialmatch.add_source('obs', 'l_obs', code_column => 'concept', time_column => 't',
                             category_column => 'value_concept');
SELECT trialmatch.add_source('died', 'l_death', code_column => 'cause', time_column => 'died');
SELECT trialmatch.add_attribute('med', 'route', 'route');
SELECT trialmatch.add_attribute('med', 'dose', 'dose');
SELECT * FROM trialmatch.source_attributes WHERE source = 'med' ORDER BY 1, 2;

INSERT INTO l_person (id, born) SELECT i, date '1980-01-01' FROM generate_series(1, 6) i;

-- ---------------------------------------------------------------------
-- NCT05382364 "HBsAg negative": the latest usable result in the last year.
-- 1: Negative on 03-01                                     -> true
-- 2: Positive on 03-01                                     -> false
-- 3: Negative, but in 2025-01 (outside the year)           -> unknown
-- 4: Negative and Positive both at 04-01 10:00 (a tie that disagrees) -> unknown
-- 5: Negative on 04-01, a later row with a NULL result (not usable) -> true
-- 6: Negative twice at 04-01 (a tie that agrees), Positive earlier -> true
INSERT INTO l_lab (patient_id, code, taken_at, result) VALUES
  (1, 'HBSAG', '2026-03-01', 'Negative'),
  (2, 'HBSAG', '2026-03-01', 'Positive'),
  (3, 'HBSAG', '2025-01-01', 'Negative'),
  (4, 'HBSAG', '2026-04-01 10:00', 'Negative'), (4, 'HBSAG', '2026-04-01 10:00', 'Positive'),
  (5, 'HBSAG', '2026-04-01', 'Negative'), (5, 'HBSAG', '2026-05-01', NULL),
  (6, 'HBSAG', '2026-04-01', 'Negative'), (6, 'HBSAG', '2026-04-01', 'Negative'),
  (6, 'HBSAG', '2026-02-01', 'Positive');
INSERT INTO trialmatch.trials (trial_id) VALUES ('NCT05382364');
INSERT INTO trialmatch.criteria VALUES ('NCT05382364', 1, 'inclusion', 'HBsAg negative',
  $$lab 'HBSAG' within 1 year last is 'Negative'$$);
SELECT patient_id, status, unknown FROM trialmatch.match_patients('NCT05382364', :asof) ORDER BY 1;
SELECT m.patient_id, e.evidence
  FROM generate_series(1, 6) m(patient_id),
       LATERAL trialmatch.explain_match('NCT05382364', m.patient_id, :asof) e ORDER BY 1;
-- first is: the earliest usable result (6: Positive on 02-01)
SELECT trialmatch.check_expr($$lab 'HBSAG' first is ('Positive', 'Reactive')$$);

-- ---------------------------------------------------------------------
-- NCT03926117 "positive TB test" (exclusion): any QFT/TST in a year that
-- is Positive or Reactive.  Patients 1-3 get TB tests:
-- 1: QFT Negative                       -> false (usable, none passes): eligible
-- 2: QFT Negative, TST Reactive         -> true: ineligible
-- 3: QFT with a NULL result             -> unknown (nothing usable)
-- 4-6: no test                          -> unknown
INSERT INTO l_lab (patient_id, code, taken_at, result) VALUES
  (1, 'QFT', '2026-05-01', 'Negative'),
  (2, 'QFT', '2026-05-01', 'Negative'), (2, 'TST', '2026-05-02', 'Reactive'),
  (3, 'QFT', '2026-05-01', NULL);
INSERT INTO trialmatch.trials (trial_id) VALUES ('NCT03926117');
INSERT INTO trialmatch.criteria VALUES ('NCT03926117', 1, 'exclusion', 'Positive TB test',
  $$lab ('QFT', 'TST') within 1 year any is ('Positive', 'Reactive')$$);
SELECT patient_id, status, failed, unknown FROM trialmatch.match_patients('NCT03926117', :asof) ORDER BY 1;
SELECT e.result, e.evidence FROM trialmatch.explain_match('NCT03926117', 2, :asof) e;
SELECT e.result, e.evidence FROM trialmatch.explain_match('NCT03926117', 1, :asof) e;

-- ---------------------------------------------------------------------
-- NCT03867682 "AST and ALT <= 3.0x ULN", "bilirubin <= 3.0x ULN"
-- 1: AST 100 (uln 40: limit 120, passes); ALT 130 (uln 40: fails) -> false
-- 2: AST 50, ALT 60 (uln 40) -> true; bilirubin 2 with a NULL uln -> unknown
-- 3: AST at 05-20 twice with the same value 125: uln 40 (limit 120, fails)
--    and uln 50 (limit 150, passes) -> still tied, disagree -> unknown;
--    ALT at 05-20: 100 (passes) and 130 (fails): the larger value 130
--    decides -> false
-- 4: bilirubin 1.0 with uln 1.2 (limit 3.6) -> true; an older 9.0 is not the last
-- 5: AST 'NaN' (not usable) and an older AST 10 (uln 40) -> true
INSERT INTO l_lab (patient_id, code, taken_at, value, high) VALUES
  (1, 'AST', '2026-05-20', 100, 40), (1, 'ALT', '2026-05-20', 130, 40),
  (2, 'AST', '2026-05-20', 50, 40), (2, 'ALT', '2026-05-20', 60, 40), (2, 'BILI', '2026-05-20', 2, NULL),
  (3, 'AST', '2026-05-20', 125, 40), (3, 'AST', '2026-05-20', 125, 50),
  (3, 'ALT', '2026-05-20', 100, 40), (3, 'ALT', '2026-05-20', 130, 40),
  (4, 'BILI', '2026-05-20', 1.0, 1.2), (4, 'BILI', '2026-05-10', 9.0, 1.2),
  (5, 'AST', '2026-05-25', 'NaN', 40), (5, 'AST', '2026-05-20', 10, 40);
INSERT INTO trialmatch.trials (trial_id) VALUES ('NCT03867682');
INSERT INTO trialmatch.criteria VALUES
  ('NCT03867682', 1, 'inclusion', 'AST and ALT <= 3.0x ULN',
   $$lab 'AST' within 28 days last <= 3.0 x uln and lab 'ALT' within 28 days last <= 3.0 x uln$$),
  ('NCT03867682', 2, 'inclusion', 'Bilirubin <= 3.0x ULN', $$lab 'BILI' within 28 days last <= 3.0 x uln$$);
SELECT patient_id, status, failed, unknown FROM trialmatch.match_patients('NCT03867682', :asof) ORDER BY 1;
SELECT position, result, evidence FROM trialmatch.explain_match('NCT03867682', 1, :asof);
SELECT position, result, evidence FROM trialmatch.explain_match('NCT03867682', 3, :asof);

-- ---------------------------------------------------------------------
-- NCT05381194 exclusions "creatinine > 2x ULN", "calcium < LLN",
-- "magnesium < LLN"; the limits are each row's own.
-- 1: creatinine 2.5 (uln 1.2: limit 2.4) -> true; excluded
-- 2: creatinine 2.0 (uln 1.2) -> false; calcium 2.0 (lln 2.1) -> true; excluded
-- 3: creatinine 1.0, calcium 2.3 (lln 2.1), magnesium 0.8 (lln 0.7) -> eligible
-- 4: magnesium 0.6 with a NULL lln -> unknown; creatinine, calcium: none -> unknown
INSERT INTO l_lab (patient_id, code, taken_at, value, low, high) VALUES
  (1, 'CREA', '2026-05-20', 2.5, 0.6, 1.2),
  (2, 'CREA', '2026-05-20', 2.0, 0.6, 1.2), (2, 'CA', '2026-05-20', 2.0, 2.1, 2.6),
  (3, 'CREA', '2026-05-20', 1.0, 0.6, 1.2), (3, 'CA', '2026-05-20', 2.3, 2.1, 2.6),
  (3, 'MG', '2026-05-20', 0.8, 0.7, 1.0),
  (4, 'MG', '2026-05-20', 0.6, NULL, 1.0);
INSERT INTO trialmatch.trials (trial_id) VALUES ('NCT05381194');
INSERT INTO trialmatch.criteria VALUES
  ('NCT05381194', 1, 'exclusion', 'Creatinine > 2x ULN', $$lab 'CREA' within 28 days last > 2 x uln$$),
  ('NCT05381194', 2, 'exclusion', 'Calcium < LLN', $$lab 'CA' within 28 days last < 1 x lln$$),
  ('NCT05381194', 3, 'exclusion', 'Magnesium < LLN', $$lab 'MG' within 28 days last < 1 x lln$$);
SELECT patient_id, status, failed, unknown FROM trialmatch.match_patients('NCT05381194', :asof)
 WHERE patient_id <= 4 ORDER BY 1;
SELECT position, result, evidence FROM trialmatch.explain_match('NCT05381194', 2, :asof);
-- mixed bounds in between, and count where value with a limit: patient 3's
-- calcium 2.3 lies in [1 x lln, 1 x uln] = [2.1, 2.6]; patient 2's 2.0 does not;
-- count where value > 2 x uln counts the usable rows that pass (1: one; 2: none)
INSERT INTO trialmatch.trials (trial_id) VALUES ('MIXED');
INSERT INTO trialmatch.criteria VALUES
  ('MIXED', 1, 'inclusion', 'Calcium normal', $$lab 'CA' last between 1 x lln and 1 x uln$$),
  ('MIXED', 2, 'inclusion', 'Creatinine high', $$lab 'CREA' count where value > 2 x uln >= 1$$),
  ('MIXED', 3, 'inclusion', 'Calcium above 2', $$lab 'CA' last between 2 and 1 x uln$$);
SELECT patient_id, status, failed, unknown FROM trialmatch.match_patients('MIXED', :asof)
 WHERE patient_id <= 3 ORDER BY 1;
SELECT position, result, evidence FROM trialmatch.explain_match('MIXED', 3, :asof);

-- ---------------------------------------------------------------------
-- NCT03928158 "NYHA class II-III", NYHA stored as a coded observation
-- (observation concept 3034084 hypothetical: NYHA; value concepts 2 = II,
-- 3 = III, 4 = IV; integer categories).
-- 1: NYHA IV in 2026-01, NYHA II in 2026-05 -> the last is II -> true
-- 2: NYHA III in 2026-05, NYHA IV at 2026-05-10 -> the last is IV -> false
-- 3: NYHA with a NULL value concept -> unknown
INSERT INTO l_obs VALUES (1, 3034084, '2026-01-10', 4), (1, 3034084, '2026-05-01', 2),
  (2, 3034084, '2026-05-01', 3), (2, 3034084, '2026-05-10', 4),
  (3, 3034084, '2026-05-01', NULL);
INSERT INTO trialmatch.trials (trial_id) VALUES ('NCT03928158');
INSERT INTO trialmatch.criteria VALUES ('NCT03928158', 1, 'inclusion', 'NYHA class II-III',
  $$obs 3034084 within 6 months last is (2, 3)$$);
SELECT patient_id, status, unknown FROM trialmatch.match_patients('NCT03928158', :asof)
 WHERE patient_id <= 3 ORDER BY 1;
SELECT evidence FROM trialmatch.explain_match('NCT03928158', 2, :asof);

-- ---------------------------------------------------------------------
-- NCT05382559 "infection needing IV antibiotics within 14 days" (exclusion)
-- 1: J01CA04 IV on 05-25 -> true (excluded)
-- 2: J01CA04 oral on 05-25 -> the row fails the filter -> false
-- 3: J01CA04 with a NULL route -> never matches -> false
-- 4: J01CA04 IV on 04-01, ended 04-10 (before the window) -> false
-- 5: J01DD04 'IV' on 05-30 with dose 2000: the dose filter (>= 1000) also passes -> true
INSERT INTO l_med VALUES (1, 'J01CA04', '2026-05-25', NULL, 'IV', 1000),
  (2, 'J01CA04', '2026-05-25', NULL, 'oral', 500),
  (3, 'J01CA04', '2026-05-25', NULL, NULL, 1000),
  (4, 'J01CA04', '2026-04-01', '2026-04-10', 'IV', 1000),
  (5, 'J01DD04', '2026-05-30', NULL, 'IV', 2000);
INSERT INTO trialmatch.trials (trial_id) VALUES ('NCT05382559');
INSERT INTO trialmatch.criteria VALUES ('NCT05382559', 1, 'exclusion', 'IV antibiotics within 14 days',
  $$med 'J01%' where route is 'IV' within 14 days$$),
  ('NCT05382559', 2, 'exclusion', 'High-dose IV antibiotics',
  $$med 'J01%' where route is 'IV' where dose >= 1000 within 14 days count >= 2$$);
SELECT patient_id, status, failed FROM trialmatch.match_patients('NCT05382559', :asof)
 WHERE patient_id <= 5 ORDER BY 1;
SELECT position, result, evidence FROM trialmatch.explain_match('NCT05382559', 5, :asof);
SELECT position, result, evidence FROM trialmatch.explain_match('NCT05382559', 2, :asof);
-- an attribute in use cannot be dropped; one not in use can
SELECT trialmatch.drop_attribute('med', 'route');
\echo :SQLSTATE
SELECT trialmatch.add_attribute('med', 'unused', 'dose');
SELECT trialmatch.drop_attribute('med', 'unused');
SELECT trialmatch.drop_attribute('med', 'unused');

-- ---------------------------------------------------------------------
-- NCT03927157 "current smoker" from a coded smoking-status observation
-- (LOINC 72166-2, text answers).
-- 1: "Former smoker" in 2025-09, "Current every day smoker" in 2026-04 -> true
-- 2: "Current some day smoker" in 2025-09, "Never smoker" in 2026-04 -> false
INSERT INTO l_lab (patient_id, code, taken_at, result) VALUES
  (1, '72166-2', '2025-09-01', 'Former smoker'), (1, '72166-2', '2026-04-01', 'Current every day smoker'),
  (2, '72166-2', '2025-09-01', 'Current some day smoker'), (2, '72166-2', '2026-04-01', 'Never smoker');
INSERT INTO trialmatch.trials (trial_id) VALUES ('NCT03927157');
INSERT INTO trialmatch.criteria VALUES ('NCT03927157', 1, 'inclusion', 'Current smoker',
  $$lab '72166-2' within 1 year last is 'Current%'$$);
SELECT patient_id, status FROM trialmatch.match_patients('NCT03927157', :asof) WHERE patient_id <= 2 ORDER BY 1;
-- count where value is: patient 1 has one 'Current%' row, patient 2 one
SELECT trialmatch.check_expr($$lab '72166-2' count where value is 'Current%' >= 1$$);

-- ---------------------------------------------------------------------
-- NCT03863418 "age 6-36 months", as_of 2026-06-01: whole months as age()
-- counts them (years*12 + months).
-- 11 born 2026-01-01: 5 months -> false
-- 12 born 2025-12-01: 6 months -> true
-- 13 born 2023-06-02: 35 months (one day short of 36) -> true
-- 14 born 2023-05-31: 36 months -> true
-- 15 born 2023-05-01: 37 months -> false
-- 16 born in 2025 (month unknown): 5 (2025-12-31) to 17 (2025-01-01) months -> unknown
-- 17 born in 2024 (month unknown): 17 to 29 months -> true
-- 18 born 2024-06 (day unknown): 24 (06-01) or 23 (06-02..06-30) months -> true
INSERT INTO l_person (id, born, by, bm) VALUES (11, '2026-01-01', NULL, NULL), (12, '2025-12-01', NULL, NULL),
  (13, '2023-06-02', NULL, NULL), (14, '2023-05-31', NULL, NULL), (15, '2023-05-01', NULL, NULL),
  (16, NULL, 2025, NULL), (17, NULL, 2024, NULL), (18, NULL, 2024, 6);
SELECT id, age(date '2026-06-01', born) FROM l_person WHERE id BETWEEN 11 AND 15 ORDER BY 1;
INSERT INTO trialmatch.trials (trial_id) VALUES ('NCT03863418');
INSERT INTO trialmatch.criteria VALUES ('NCT03863418', 1, 'inclusion', 'Age 6-36 months',
  $$age between 6 and 36 months$$);
SELECT patient_id, status FROM trialmatch.match_patients('NCT03863418', :asof) WHERE patient_id > 10 ORDER BY 1;
SELECT m.patient_id, e.evidence
  FROM (VALUES (13), (16), (18)) m(patient_id),
       LATERAL trialmatch.explain_match('NCT03863418', m.patient_id, :asof) e ORDER BY 1;
-- weeks and days: 11 is 151 days old (2026-01-01 to 2026-06-01), 21 whole weeks
INSERT INTO trialmatch.trials (trial_id) VALUES ('AGEUNITS');
INSERT INTO trialmatch.criteria VALUES
  ('AGEUNITS', 1, 'inclusion', '151 days', $$age = 151 days$$),
  ('AGEUNITS', 2, 'inclusion', '21 weeks', $$age = 21 weeks and age < 22 week$$),
  ('AGEUNITS', 3, 'inclusion', '0 years', $$age = 0 years and age = 0$$);
SELECT patient_id, status, failed FROM trialmatch.match_patients('AGEUNITS', :asof) WHERE patient_id IN (11, 12) ORDER BY 1;
SELECT position, evidence FROM trialmatch.explain_match('AGEUNITS', 11, :asof);

-- ---------------------------------------------------------------------
-- Omitted codes: "died within 1 year" counts every row, NULL code included;
-- except without codes keeps every row whose code does not match (NULL too).
-- 1: died 2026-03-01, cause NULL      -> death: true; except 'C%': true
-- 2: died 2026-03-01, cause 'C50.9'  -> death: true; except 'C%': false
-- 3: died 2024-01-01                 -> false, false (outside the year)
INSERT INTO l_death VALUES (1, '2026-03-01', NULL), (2, '2026-03-01', 'C50.9'), (3, '2024-01-01', 'I21');
INSERT INTO trialmatch.trials (trial_id) VALUES ('DEATH');
INSERT INTO trialmatch.criteria VALUES
  ('DEATH', 1, 'inclusion', 'died', $$died within 1 year$$),
  ('DEATH', 2, 'inclusion', 'died not of cancer', $$died except 'C%' within 1 year$$);
SELECT patient_id, status, failed FROM trialmatch.match_patients('DEATH', :asof) WHERE patient_id <= 3 ORDER BY 1;
SELECT position, result, evidence FROM trialmatch.explain_match('DEATH', 1, :asof);
-- a source with no code column at all
SELECT trialmatch.add_source('death2', 'l_death', code_column => NULL, time_column => 'died');
SELECT trialmatch.check_expr('death2 within 1 year');
INSERT INTO trialmatch.criteria VALUES ('DEATH', 3, 'inclusion', 'died (no code column)', 'death2 within 1 year');
SELECT patient_id, status, failed FROM trialmatch.match_patients('DEATH', :asof) WHERE patient_id <= 3 ORDER BY 1;
-- omitted codes count rows with a NULL code: 5 labs rows for patient 5
-- (AST x2, HBSAG x2) plus one with no code -> 5 within 60 days
INSERT INTO l_lab (patient_id, code, taken_at, value) VALUES (5, NULL, '2026-05-31', 1);
INSERT INTO trialmatch.trials (trial_id) VALUES ('ANYLAB');
INSERT INTO trialmatch.criteria VALUES ('ANYLAB', 1, 'inclusion', 'five labs', $$lab within 90 days count = 5$$);
SELECT patient_id, status FROM trialmatch.match_patients('ANYLAB', :asof) WHERE patient_id = 5;

-- ---------------------------------------------------------------------
-- A code set used by three trials ("strong CYP3A inhibitors"), changed
-- once: the next call of each trial sees it.  Patient 6 takes
-- clarithromycin from 05-20 (ongoing).
INSERT INTO trialmatch.code_sets VALUES ('strong_cyp3a', 'ketoconazole'), ('strong_cyp3a', 'itraconazole');
INSERT INTO l_med VALUES (6, 'clarithromycin', '2026-05-20', NULL, 'oral', 500);
INSERT INTO trialmatch.trials (trial_id) VALUES ('CYP-A'), ('CYP-B'), ('CYP-C');
INSERT INTO trialmatch.criteria VALUES
  ('CYP-A', 1, 'exclusion', 'strong CYP3A inhibitor', $$med @strong_cyp3a within 14 days$$),
  ('CYP-B', 1, 'exclusion', 'strong CYP3A inhibitor', $$med @strong_cyp3a active$$),
  ('CYP-C', 1, 'exclusion', 'strong CYP3A or ritonavir', $$med ('ritonavir', @strong_cyp3a) within 30 days count >= 1$$);
SELECT t.trial_id, m.status FROM (VALUES ('CYP-A'), ('CYP-B'), ('CYP-C')) t(trial_id),
       LATERAL trialmatch.match_patients(t.trial_id, :asof) m WHERE m.patient_id = 6 ORDER BY 1;
INSERT INTO trialmatch.code_sets VALUES ('strong_cyp3a', 'clarithromycin');
SELECT t.trial_id, m.status, m.failed FROM (VALUES ('CYP-A'), ('CYP-B'), ('CYP-C')) t(trial_id),
       LATERAL trialmatch.match_patients(t.trial_id, :asof) m WHERE m.patient_id = 6 ORDER BY 1;
SELECT * FROM trialmatch.match_trials(6, :asof) WHERE trial_id LIKE 'CYP%' ORDER BY 1;
-- a set in use cannot be emptied, nor hold a code of the wrong type
DELETE FROM trialmatch.code_sets WHERE set_name = 'strong_cyp3a';
\echo :SQLSTATE
INSERT INTO trialmatch.code_sets VALUES ('strong_cyp3a', '1118084');
\echo :SQLSTATE
-- a code must be one of the language: not empty, << needs an integer
INSERT INTO trialmatch.code_sets VALUES ('strong_cyp3a', '');
\echo :SQLSTATE
INSERT INTO trialmatch.code_sets VALUES ('strong_cyp3a', '<<abc');
\echo :SQLSTATE
-- a quoted number is a text code; a quote inside a code is a character
INSERT INTO trialmatch.code_sets VALUES ('strong_cyp3a', 'it''s');
INSERT INTO trialmatch.code_sets VALUES ('strong_cyp3a', '''250''');
-- sets also serve categories and filters, and prefixes work inside them
INSERT INTO trialmatch.code_sets VALUES ('positive', 'Positive'), ('positive', 'React%'), ('iv', 'IV');
SELECT trialmatch.check_expr($$lab 'QFT' last is @positive and med where route is @iv$$);
INSERT INTO trialmatch.trials (trial_id) VALUES ('SETS');
INSERT INTO trialmatch.criteria VALUES ('SETS', 1, 'exclusion', 'TB', $$lab ('QFT', 'TST') within 1 year any is @positive$$);
SELECT patient_id, status FROM trialmatch.match_patients('SETS', :asof) WHERE patient_id <= 3 ORDER BY 1;

-- ---------------------------------------------------------------------
-- Errors, with their SQLSTATE and caret.
SELECT trialmatch.check_expr($$lab 'CREA' max > 2 x uln$$);
\echo :SQLSTATE
SELECT trialmatch.check_expr($$lab 'CREA' avg between 1 x lln and 1 x uln$$);
\echo :SQLSTATE
SELECT trialmatch.check_expr($$lab 'CREA' last > 2 x uln unit 'mg/dL'$$);
\echo :SQLSTATE
SELECT trialmatch.check_expr($$lab 'HBSAG' last is 'Negative' unit 'x'$$);
\echo :SQLSTATE
SELECT trialmatch.check_expr($$lab 'CREA' count > 2 x uln$$);
\echo :SQLSTATE
SELECT trialmatch.check_expr($$age > 2 x uln$$);
\echo :SQLSTATE
SELECT trialmatch.check_expr($$lab 'CREA' last > 2 x ulm$$);
\echo :SQLSTATE
SELECT trialmatch.check_expr($$med @$$);
\echo :SQLSTATE
-- errors against the catalog are raised when a criterion is stored
INSERT INTO trialmatch.criteria VALUES ('SETS', 2, 'inclusion', 'x', $$med 'J01%' where nosuch is 'IV'$$);
\echo :SQLSTATE
INSERT INTO trialmatch.criteria VALUES ('SETS', 2, 'inclusion', 'x', $$med @no_such_set within 1 year$$);
\echo :SQLSTATE
INSERT INTO trialmatch.criteria VALUES ('SETS', 2, 'inclusion', 'x', $$lab 'HBSAG' last is 5$$);
\echo :SQLSTATE
INSERT INTO trialmatch.criteria VALUES ('SETS', 2, 'inclusion', 'x', $$obs 3034084 last is ('II', 3)$$);
\echo :SQLSTATE
INSERT INTO trialmatch.code_sets VALUES ('ints', '1'), ('ints', '<<2');
INSERT INTO trialmatch.criteria VALUES ('SETS', 2, 'inclusion', 'x', $$lab @ints$$);
\echo :SQLSTATE
INSERT INTO trialmatch.criteria VALUES ('SETS', 2, 'inclusion', 'x', $$med 'J01%' where dose is 'IV'$$);
\echo :SQLSTATE
INSERT INTO trialmatch.criteria VALUES ('SETS', 2, 'inclusion', 'x', $$med 'J01%' where route > 3$$);
\echo :SQLSTATE
INSERT INTO trialmatch.criteria VALUES ('SETS', 2, 'inclusion', 'x', $$med 'J01%' last is 'A'$$);
\echo :SQLSTATE
INSERT INTO trialmatch.criteria VALUES ('SETS', 2, 'inclusion', 'x', $$obs 3034084 last > 1 x uln$$);
\echo :SQLSTATE
SELECT trialmatch.add_attribute('med', 'value', 'dose');
\echo :SQLSTATE
SELECT trialmatch.add_attribute('med', 'flag', 'started');
\echo :SQLSTATE
SELECT trialmatch.add_attribute('nosuch', 'flag', 'x');
\echo :SQLSTATE
-- deparse: the canonical text of the new constructs
SELECT trialmatch.check_expr($$LAB 'X' EXCEPT 'Y' WHERE Route IS ('IV', @iv) WHERE dose BETWEEN 1 AND 2 WITHIN 3 DAYS COUNT WHERE VALUE IS @positive >= 1$$);
SELECT trialmatch.check_expr($$lab 'X' last between 0.5 x LLN and 3 X uln or age >= 6 Months$$);

-- ---------------------------------------------------------------------
-- Every construct split among 0, 1 and 2 parallel workers: the same
-- answers, and for last is / last x uln (ties included) the answers of a
-- SQL oracle written from SPEC 7.3.  Times are whole days, so that many
-- events share a time; categories, values and limits are NULL now and then.
CREATE TABLE p_pat (patient_id int8 PRIMARY KEY, born date);
INSERT INTO p_pat SELECT i, date '1970-01-01' + (i * 7919 % 20000) FROM generate_series(1, 3000) i;
CREATE TABLE p_lab (patient_id int8, code text, t timestamptz, v numeric, res text, lo numeric, hi float8);
INSERT INTO p_lab SELECT i % 3001 + 1, CASE WHEN i % 23 = 0 THEN NULL ELSE 'C' || (i % 5) END,
       timestamptz '2026-06-01' - (abs(hashint4(i * 7)) % 20) * interval '20 days',
       CASE WHEN i % 31 = 0 THEN NULL WHEN i % 37 = 0 THEN 'NaN' ELSE (abs(hashint4(i)) % 6) / 2.0 END,
       CASE WHEN i % 7 = 0 THEN NULL WHEN hashint4(i * 3) % 3 = 0 THEN 'Positive'
            WHEN hashint4(i * 3) % 3 = 1 THEN 'Negative' ELSE 'Neg-borderline' END,
       CASE WHEN i % 13 = 0 THEN NULL ELSE 1 END,
       CASE WHEN i % 11 = 0 THEN NULL WHEN i % 17 = 0 THEN 'Infinity' ELSE (abs(hashint4(i * 5)) % 4) / 2.0 END
  FROM generate_series(1, 100000) i;
CREATE INDEX ON p_lab (patient_id);
CREATE TABLE p_med (patient_id int4, drug text, started date, ended date, route text, dose int4);
INSERT INTO p_med SELECT i % 3000 + 1, 'D' || (i % 13), date '2026-06-01' - (i % 300),
       CASE WHEN i % 3 = 0 THEN NULL ELSE date '2026-06-01' - (i % 300) + (i % 60) END,
       CASE i % 4 WHEN 0 THEN 'IV' WHEN 1 THEN 'oral' WHEN 2 THEN NULL ELSE 'IM' END, i % 100
  FROM generate_series(1, 30000) i;
CREATE INDEX ON p_med (patient_id);
SELECT trialmatch.set_patients('p_pat', birth_date_column => 'born', sex_column => NULL);
SELECT trialmatch.add_source('plab', 'p_lab', time_column => 't', value_column => 'v',
                             category_column => 'res', range_low_column => 'lo', range_high_column => 'hi');
SELECT trialmatch.add_source('pmed', 'p_med', code_column => 'drug', time_column => 'started',
                             end_time_column => 'ended');
SELECT trialmatch.add_attribute('pmed', 'route', 'route');
SELECT trialmatch.add_attribute('pmed', 'dose', 'dose');
INSERT INTO trialmatch.code_sets VALUES ('pset', 'D1'), ('pset', 'D2%');
INSERT INTO trialmatch.trials (trial_id) VALUES ('PAR'), ('ORA1'), ('ORA2');
INSERT INTO trialmatch.criteria VALUES
  ('PAR', 1, 'inclusion', 'last is', $$plab 'C1' within 1 year last is 'Positive'$$),
  ('PAR', 2, 'inclusion', 'first is', $$plab 'C2' first is ('Negative', 'Neg%')$$),
  ('PAR', 3, 'exclusion', 'any is', $$plab ('C3', 'C4') within 60 days any is 'Positive'$$),
  ('PAR', 4, 'inclusion', 'last uln', $$plab 'C1' within 1 year last <= 2 x uln$$),
  ('PAR', 5, 'inclusion', 'last between', $$plab 'C2' last between 1 x lln and 1 x uln$$),
  ('PAR', 6, 'inclusion', 'count is', $$plab 'C3' count where value is 'Positive' >= 3$$),
  ('PAR', 7, 'inclusion', 'count uln', $$plab 'C4' within 200 days count where value > 1 x uln >= 3$$),
  ('PAR', 8, 'exclusion', 'filter', $$pmed 'D1%' where route is 'IV' within 20 days$$),
  ('PAR', 9, 'inclusion', 'no codes', $$pmed where dose >= 50 within 60 days count >= 2 or plab within 30 days count >= 4$$),
  ('PAR', 10, 'exclusion', 'set', $$pmed @pset where route is ('IM', 'oral') active$$),
  ('PAR', 11, 'inclusion', 'any uln', $$plab 'C0' within 90 days any > 1.5 x uln$$),
  ('PAR', 12, 'inclusion', 'age', $$age between 300 and 500 months$$),
  ('ORA1', 1, 'inclusion', 'last is', $$plab 'C1' within 1 year last is 'Positive'$$),
  ('ORA2', 1, 'inclusion', 'last uln', $$plab 'C1' within 1 year last <= 2 x uln$$);

SET min_parallel_table_scan_size = 0;
SET trialmatch.max_parallel_workers = 0;
CREATE TEMP TABLE p0 AS SELECT * FROM trialmatch.match_patients('PAR', '2026-06-01');
CREATE TEMP TABLE pa0 AS SELECT * FROM trialmatch.attrition('PAR', '2026-06-01');
CREATE TEMP TABLE o1_0 AS SELECT patient_id, status FROM trialmatch.match_patients('ORA1', '2026-06-01');
CREATE TEMP TABLE o2_0 AS SELECT patient_id, status FROM trialmatch.match_patients('ORA2', '2026-06-01');
SET trialmatch.max_parallel_workers = 1;
CREATE TEMP TABLE p1 AS SELECT * FROM trialmatch.match_patients('PAR', '2026-06-01');
CREATE TEMP TABLE pa1 AS SELECT * FROM trialmatch.attrition('PAR', '2026-06-01');
CREATE TEMP TABLE o1_1 AS SELECT patient_id, status FROM trialmatch.match_patients('ORA1', '2026-06-01');
CREATE TEMP TABLE o2_1 AS SELECT patient_id, status FROM trialmatch.match_patients('ORA2', '2026-06-01');
SET trialmatch.max_parallel_workers = 2;
CREATE TEMP TABLE p2 AS SELECT * FROM trialmatch.match_patients('PAR', '2026-06-01');
CREATE TEMP TABLE pa2 AS SELECT * FROM trialmatch.attrition('PAR', '2026-06-01');
CREATE TEMP TABLE o1_2 AS SELECT patient_id, status FROM trialmatch.match_patients('ORA1', '2026-06-01');
CREATE TEMP TABLE o2_2 AS SELECT patient_id, status FROM trialmatch.match_patients('ORA2', '2026-06-01');
RESET min_parallel_table_scan_size;
RESET trialmatch.max_parallel_workers;

-- the oracles: last is 'Positive' among usable rows (category not NULL) in
-- [as_of - 1 year, as_of]; several at the latest time that disagree: unknown
CREATE TEMP TABLE o1_sql AS
WITH u AS (SELECT patient_id, t, res = 'Positive' AS pass FROM p_lab
            WHERE code = 'C1' AND res IS NOT NULL AND patient_id IS NOT NULL
              AND t BETWEEN timestamptz '2026-06-01' - interval '1 year' AND '2026-06-01'),
     l AS (SELECT patient_id, bool_and(pass) AS a, bool_or(pass) AS o FROM u
            WHERE (patient_id, t) IN (SELECT patient_id, max(t) FROM u GROUP BY 1) GROUP BY 1)
SELECT p.patient_id, (CASE WHEN l.patient_id IS NULL OR l.a <> l.o THEN 'indeterminate'
                          WHEN l.a THEN 'eligible' ELSE 'ineligible' END)::trialmatch.eligibility AS status
  FROM p_pat p LEFT JOIN l USING (patient_id);
-- last <= 2 x uln among usable rows (value and uln finite): the latest
-- time, then the largest value; still tied rows that disagree: unknown
CREATE TEMP TABLE o2_sql AS
WITH u AS (SELECT patient_id, t, v, v <= 2 * hi::numeric AS pass FROM p_lab
            WHERE code = 'C1' AND v IS NOT NULL AND v <> 'NaN' AND hi IS NOT NULL
              AND hi NOT IN ('Infinity', '-Infinity', 'NaN') AND patient_id IS NOT NULL
              AND t BETWEEN timestamptz '2026-06-01' - interval '1 year' AND '2026-06-01'),
     k AS (SELECT DISTINCT ON (patient_id) patient_id, t, v FROM u ORDER BY patient_id, t DESC, v DESC),
     l AS (SELECT u.patient_id, bool_and(pass) AS a, bool_or(pass) AS o FROM u JOIN k USING (patient_id, t, v)
            GROUP BY 1)
SELECT p.patient_id, (CASE WHEN l.patient_id IS NULL OR l.a <> l.o THEN 'indeterminate'
                          WHEN l.a THEN 'eligible' ELSE 'ineligible' END)::trialmatch.eligibility AS status
  FROM p_pat p LEFT JOIN l USING (patient_id);
CREATE FUNCTION p_diff(a regclass, b regclass) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  EXECUTE format('SELECT count(*) FROM ((TABLE %s EXCEPT ALL TABLE %s) UNION ALL (TABLE %s EXCEPT ALL TABLE %s)) d',
                 a, b, b, a) INTO n;
  RETURN n;
END $$;
SELECT count(*) AS patients, p_diff('p0', 'p1') AS diff_1_worker, p_diff('p0', 'p2') AS diff_2_workers,
       p_diff('pa0', 'pa1') + p_diff('pa0', 'pa2') AS diff_attrition,
       p_diff('o1_0', 'o1_sql') + p_diff('o1_1', 'o1_sql') + p_diff('o1_2', 'o1_sql') AS diff_last_is_oracle,
       p_diff('o2_0', 'o2_sql') + p_diff('o2_1', 'o2_sql') + p_diff('o2_2', 'o2_sql') AS diff_last_uln_oracle
  FROM p0;
-- the oracles see ties that disagree, and every criterion splits the patients
SELECT status, count(*) FROM o1_sql GROUP BY 1 ORDER BY 1;
SELECT status, count(*) FROM o2_sql GROUP BY 1 ORDER BY 1;
SELECT position, label, passed > 0 AS some_pass, failed > 0 AS some_fail FROM pa0 ORDER BY 1;
-- the single-patient path agrees on a sample
SELECT count(*) AS sampled,
       count(*) FILTER (WHERE (t.status, t.failed, t.unknown) IS DISTINCT FROM (r.status, r.failed, r.unknown)) AS differences
  FROM p0 r, LATERAL trialmatch.match_trials(r.patient_id, '2026-06-01') t
 WHERE t.trial_id = 'PAR' AND r.patient_id % 10 = 0;

-- index ranges still apply to atoms with filters and 1.1 measures: a rare
-- code on an analyzed table with an index on (code, time) is read through
-- the index (checked by hand with client_min_messages = debug1: "1 index
-- ranges"), with the answers of a whole scan and of 2 workers.  One R1
-- row per patient (i = patient - 1 mod 3000): 'Positive' when i % 3 = 0,
-- i % 30 days old.  Eligible: positive and at most 10 days old (i % 30 in
-- 0, 3, 6, 9: 400); indeterminate: positive, 12-18 days old, so nothing in
-- criterion 2's 10 days (i % 30 in 12, 15, 18: 300); the other 2300 fail 1.
INSERT INTO p_lab SELECT i % 3000 + 1, 'R1', timestamptz '2026-06-01' - (i % 30) * interval '1 day',
       (i % 6) / 2.0, CASE i % 3 WHEN 0 THEN 'Positive' WHEN 1 THEN 'Negative' END, 1, (i % 4) / 2.0
  FROM generate_series(1, 3000) i;
SELECT trialmatch.add_attribute('plab', 'res', 'res');
INSERT INTO trialmatch.trials (trial_id) VALUES ('IDX');
INSERT INTO trialmatch.criteria VALUES
  ('IDX', 1, 'inclusion', 'filter', $$plab 'R1' where res is 'Positive' within 20 days$$),
  ('IDX', 2, 'inclusion', 'is/uln', $$plab 'R1' within 10 days last is 'Positive' or plab 'R1' within 10 days any > 1 x uln$$);
SET trialmatch.max_parallel_workers = 0;
CREATE TEMP TABLE i_full AS SELECT * FROM trialmatch.match_patients('IDX', '2026-06-01');
CREATE INDEX p_lab_code_t ON p_lab (code, t);
ANALYZE p_lab;
CREATE TEMP TABLE i_idx AS SELECT * FROM trialmatch.match_patients('IDX', '2026-06-01');
SET min_parallel_table_scan_size = 0;
SET trialmatch.max_parallel_workers = 2;
CREATE TEMP TABLE i_par AS SELECT * FROM trialmatch.match_patients('IDX', '2026-06-01');
RESET min_parallel_table_scan_size;
RESET trialmatch.max_parallel_workers;
SELECT p_diff('i_full', 'i_idx') AS diff_index, p_diff('i_full', 'i_par') AS diff_index_workers FROM i_full LIMIT 1;
SELECT status, count(*) FROM i_full GROUP BY 1 ORDER BY 1;

-- ---------------------------------------------------------------------
-- use_omop (SPEC 7.1): categories and ranges on measurement, categories on
-- observation, the attributes, and the sources death and drug_era because
-- those tables exist (device, specimen, condition_era, dose_era, episode
-- do not: not registered).  as_of 2026-06-01.
CREATE SCHEMA omop_l;
SET search_path = omop_l, public;
CREATE TABLE person (person_id int8, gender_concept_id int4, year_of_birth int4,
                     month_of_birth int4, day_of_birth int4, birth_datetime timestamp);
INSERT INTO person VALUES (1, 8532, 1970, 1, 1, NULL), (2, 8507, 1960, 1, 1, NULL);
CREATE TABLE concept (concept_id int4 PRIMARY KEY, concept_code text);
CREATE TABLE concept_ancestor (ancestor_concept_id int4, descendant_concept_id int4);
CREATE TABLE condition_occurrence (person_id int8, condition_concept_id int4, condition_start_date date,
  condition_start_datetime timestamp, condition_end_date date, condition_end_datetime timestamp,
  condition_type_concept_id int4, condition_status_concept_id int4, visit_occurrence_id int8);
CREATE TABLE drug_exposure (person_id int8, drug_concept_id int4, drug_exposure_start_date date,
  drug_exposure_start_datetime timestamp, drug_exposure_end_date date, drug_exposure_end_datetime timestamp,
  drug_type_concept_id int4, route_concept_id int4, quantity numeric, days_supply int4, visit_occurrence_id int8);
CREATE TABLE measurement (person_id int8, measurement_concept_id int4, measurement_date date,
  measurement_datetime timestamp, value_as_number numeric, unit_concept_id int4, value_as_concept_id int4,
  range_low numeric, range_high numeric, operator_concept_id int4, measurement_type_concept_id int4);
CREATE TABLE observation (person_id int8, observation_concept_id int4, observation_date date,
  observation_datetime timestamp, value_as_number numeric, unit_concept_id int4, value_as_concept_id int4);
CREATE TABLE procedure_occurrence (person_id int8, procedure_concept_id int4, procedure_date date,
  procedure_datetime timestamp);
CREATE TABLE visit_occurrence (visit_occurrence_id int8, person_id int8, visit_concept_id int4,
  visit_start_date date, visit_start_datetime timestamp, visit_end_date date, visit_end_datetime timestamp);
CREATE TABLE observation_period (person_id int8, observation_period_start_date date,
  observation_period_end_date date, period_type_concept_id int4);
CREATE TABLE death (person_id int8, death_date date, death_datetime timestamp, death_type_concept_id int4,
  cause_concept_id int4);
CREATE TABLE drug_era (person_id int8, drug_concept_id int4, drug_era_start_date date, drug_era_end_date date);
-- 1: AST 130 with range_high 40 (3 x uln = 120: above); NYHA answer 45884084;
--    IV (route 4171047) amoxicillin 05-25; died 2026-05-01 with no cause; a drug era ongoing
-- 2: AST 100 (below 120); oral (4132161); no death; the drug era ended 2026-01-31
INSERT INTO measurement VALUES (1, 1002, '2026-05-20', NULL, 130, NULL, NULL, 10, 40, NULL, 32817),
  (2, 1002, '2026-05-20', NULL, 100, NULL, NULL, 10, 40, NULL, 32817);
INSERT INTO observation VALUES (1, 1003, '2026-05-20', NULL, NULL, NULL, 45884084),
  (2, 1003, '2026-05-20', NULL, NULL, NULL, 45876662);
INSERT INTO drug_exposure VALUES (1, 1713332, '2026-05-25', NULL, NULL, NULL, 38000177, 4171047, 1, 7, 11),
  (2, 1713332, '2026-05-25', NULL, NULL, NULL, 38000177, 4132161, 1, 7, 12);
INSERT INTO death VALUES (1, '2026-05-01', NULL, 32817, NULL);
INSERT INTO drug_era VALUES (1, 1713332, '2026-01-01', '2026-12-31'), (2, 1713332, '2025-12-01', '2026-01-31');
RESET search_path;
SELECT trialmatch.use_omop('omop_l');
SELECT name, code_column, time_column, time_fallback_column, end_time_column, category_column,
       range_low_column, range_high_column
  FROM trialmatch.sources WHERE relation::text LIKE 'omop_l.%' ORDER BY name;
SELECT a.* FROM trialmatch.source_attributes a JOIN trialmatch.sources s ON s.name = a.source
 WHERE s.relation::text LIKE 'omop_l.%' ORDER BY 1, 2;
INSERT INTO trialmatch.trials (trial_id) VALUES ('OMOP11');
INSERT INTO trialmatch.criteria VALUES
  ('OMOP11', 1, 'exclusion', 'AST > 3x ULN', $$measurement 1002 within 28 days last > 3 x uln$$),
  ('OMOP11', 2, 'inclusion', 'NYHA', $$observation 1003 last is 45884084$$),
  ('OMOP11', 3, 'exclusion', 'IV amoxicillin', $$drug 1713332 where route is 4171047 within 14 days$$),
  ('OMOP11', 4, 'exclusion', 'died', $$death within 1 year$$),
  ('OMOP11', 5, 'inclusion', 'era', $$drug_era 1713332 active$$);
-- 1: excluded by 1 (130 > 3 x 40), 3 (IV within 14 days) and 4 (died, no cause);
-- 2: fails 2 (NYHA answer 45876662) and 5 (its drug era ended in January)
SELECT patient_id, status, failed FROM trialmatch.match_patients('OMOP11', :asof) ORDER BY 1;
SELECT position, result, evidence FROM trialmatch.explain_match('OMOP11', 1, :asof);

-- leave the catalog empty for the tests that follow
DO $$
BEGIN
    DELETE FROM trialmatch.trials;
    DELETE FROM trialmatch.code_sets;
    PERFORM trialmatch.drop_source(name) FROM trialmatch.sources;
    DELETE FROM trialmatch.patient_source;
    DELETE FROM trialmatch.vocabulary;
END
$$;
