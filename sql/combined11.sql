-- The two halves of language 1.1 together (issues 9 and 10): DAYS WHERE
-- VALUE with a category or a normal-range bound, attribute filters on
-- relations and ACTIVE FOR, and index-only reads that must also cover the
-- columns of attribute filters.  Answers worked out by hand in comments.
SET timezone = 'UTC';
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS trialmatch;
RESET client_min_messages;
\set asof '''2026-06-01 12:00+00'''

CREATE TABLE c_person (id int8 PRIMARY KEY, born date);
CREATE TABLE c_lab (patient_id int8, code text, taken_at timestamptz, value numeric,
                    result text, low numeric, high numeric);
CREATE TABLE c_med (patient_id int8, drug text, started date, ended date, route text);
INSERT INTO c_person SELECT i, date '1970-01-01' FROM generate_series(1, 4) i;
SELECT trialmatch.set_patients('c_person', id_column => 'id', birth_date_column => 'born',
                               sex_column => NULL);
SELECT trialmatch.add_source('clab', 'c_lab', time_column => 'taken_at', value_column => 'value',
                             category_column => 'result', range_low_column => 'low',
                             range_high_column => 'high');
SELECT trialmatch.add_source('cmed', 'c_med', code_column => 'drug', time_column => 'started',
                             end_time_column => 'ended');
SELECT trialmatch.add_attribute('cmed', 'route', 'route');

-- TB results: 1 Positive on two dates; 2 Positive twice on one date;
-- 3 Positive then Negative; 4 none.
INSERT INTO c_lab (patient_id, code, taken_at, result) VALUES
  (1, 'TB', '2026-03-01 08:00', 'Positive'), (1, 'TB', '2026-03-02 08:00', 'Positive'),
  (2, 'TB', '2026-03-01 08:00', 'Positive'), (2, 'TB', '2026-03-01 20:00', 'Positive'),
  (3, 'TB', '2026-03-01 08:00', 'Positive'), (3, 'TB', '2026-03-02 08:00', 'Negative');
-- creatinine against the row's own upper limit: 1 3 > 2 x 1; 2 1.5 <= 2 x 1;
-- 3 no upper limit (not usable); 4 none.
INSERT INTO c_lab (patient_id, code, taken_at, value, high) VALUES
  (1, 'CR', '2026-05-01', 3, 1), (2, 'CR', '2026-05-01', 1.5, 1), (3, 'CR', '2026-05-01', 3, NULL);
-- antibiotics: 1 IV since 05-01, still running; 2 oral since 05-01, running;
-- 3 IV 02-01 to 02-10; 4 IV 05-01 to 05-05.
INSERT INTO c_med VALUES
  (1, 'ABX', '2026-05-01', NULL, 'IV'), (2, 'ABX', '2026-05-01', NULL, 'oral'),
  (3, 'ABX', '2026-02-01', '2026-02-10', 'IV'), (4, 'ABX', '2026-05-01', '2026-05-05', 'IV');
-- other drugs, so that 'ABX' is a rare code read through index ranges
INSERT INTO c_med SELECT 1000 + i, 'OTHER' || (i % 7), date '2026-01-01' + (i % 150), NULL, 'oral'
  FROM generate_series(1, 20000) i;

INSERT INTO trialmatch.trials (trial_id) VALUES ('C1'), ('C2'), ('C3'), ('C4');
INSERT INTO trialmatch.criteria VALUES
  -- 1: 2 dates -> true; 2: one date -> false; 3: one positive date -> false; 4: 0 -> false
  ('C1', 1, 'inclusion', 'two positive TB dates', $$clab 'TB' within 1 year days where value is 'Positive' >= 2$$),
  -- 1: true; 2: 1.5 is not > 2 -> false; 3: no limit, not counted -> false; 4: false
  ('C2', 1, 'inclusion', 'creatinine > 2x ULN on a day', $$clab 'CR' within 1 year days where value > 2 x uln >= 1$$),
  -- IV antibiotics in the last 60 days ([04-02, 06-01]) after a TB test:
  -- 1: IV 05-01 after TB 03-01 -> true; 2: oral, invisible -> false;
  -- 3: IV outside the window -> false; 4: no TB test -> false
  ('C3', 1, 'inclusion', 'IV antibiotics after a TB test',
   $$cmed 'ABX' where route is 'IV' within 60 days after clab 'TB' within 1 year$$),
  -- IV antibiotics covering the last 10 days: 1 true (open); 2 oral -> false;
  -- 3 ended in February -> false; 4 ended 05-05 -> false
  ('C4', 1, 'inclusion', 'IV antibiotics for 10 days', $$cmed 'ABX' where route is 'IV' active for 10 days$$);

CREATE TEMP TABLE c_answers AS
SELECT t.trial_id, m.patient_id, m.status
  FROM unnest(ARRAY['C1', 'C2', 'C3', 'C4']) t(trial_id),
       LATERAL trialmatch.match_patients(t.trial_id, :asof) m;
SELECT trial_id, string_agg(patient_id || ' ' || status, ', ' ORDER BY patient_id)
  FROM c_answers WHERE patient_id <= 4 GROUP BY 1 ORDER BY 1;
SELECT m.patient_id, e.label, e.evidence
  FROM generate_series(1, 2) m(patient_id), unnest(ARRAY['C1', 'C2', 'C3']) t(trial_id),
       LATERAL trialmatch.explain_match(t.trial_id, m.patient_id, :asof) e ORDER BY 1, 2;

-- match_all shares identical atoms across trials, but not the sides of a
-- relation (their rows go to the relation's event times), nor atoms whose
-- 1.1 test is applied to each row (x ULN, IS codes).
-- C5: the same event as C3's left side, alone: 1 and 4 (IV in the window) eligible.
-- C6: last creatinine > 2 x uln: 1 (3 > 2); 2 (1.5) no; 3 no limit, 4 none -> unknown.
-- C7: last creatinine > 3.5 x uln: 1 (3 <= 3.5) no; 2 no; 3, 4 unknown.
INSERT INTO trialmatch.trials (trial_id) VALUES ('C5'), ('C6'), ('C7');
INSERT INTO trialmatch.criteria VALUES
  ('C5', 1, 'inclusion', 'IV antibiotics', $$cmed 'ABX' where route is 'IV' within 60 days$$),
  ('C6', 1, 'inclusion', 'creatinine > 2x ULN', $$clab 'CR' last > 2 x uln$$),
  ('C7', 1, 'inclusion', 'creatinine > 3.5x ULN', $$clab 'CR' last > 3.5 x uln$$);
INSERT INTO c_answers
SELECT t.trial_id, m.patient_id, m.status
  FROM unnest(ARRAY['C5', 'C6', 'C7']) t(trial_id),
       LATERAL trialmatch.match_patients(t.trial_id, :asof) m;
SELECT trial_id, string_agg(patient_id || ' ' || status, ', ' ORDER BY patient_id)
  FROM c_answers WHERE patient_id <= 4 AND trial_id IN ('C5', 'C6', 'C7') GROUP BY 1 ORDER BY 1;
-- the same rows from one match_all over the seven trials
(SELECT trial_id, patient_id, status FROM trialmatch.match_all(:asof, ARRAY['C1', 'C2', 'C3', 'C4', 'C5', 'C6', 'C7'])
 EXCEPT SELECT * FROM c_answers)
UNION ALL
(SELECT * FROM c_answers
 EXCEPT SELECT trial_id, patient_id, status FROM trialmatch.match_all(:asof, ARRAY['C1', 'C2', 'C3', 'C4', 'C5', 'C6', 'C7']));

-- Index-only reads: an index holding every registered column the call reads
-- but not the filter's column must not be read alone (the route would read
-- as NULL and patient 1 would lose C3 and C4).
CREATE INDEX c_med_cover ON c_med (drug, started) INCLUDE (patient_id, ended);
VACUUM ANALYZE c_med;
SET trialmatch.index_only_reads = on;
SELECT t.trial_id, m.patient_id, m.status
  FROM unnest(ARRAY['C3', 'C4']) t(trial_id),
       LATERAL trialmatch.match_patients(t.trial_id, :asof) m
EXCEPT
SELECT * FROM c_answers;
SELECT t.trial_id, m.patient_id, m.status
  FROM unnest(ARRAY['C3', 'C4']) t(trial_id), generate_series(1, 4) p(id),
       LATERAL trialmatch.match_trials(p.id, :asof) m2,
       LATERAL (SELECT p.id AS patient_id, m2.status) m
 WHERE m2.trial_id = t.trial_id
EXCEPT
SELECT * FROM c_answers;
-- with the filter's column in the index, it is read alone, with the same answers
DROP INDEX c_med_cover;
CREATE INDEX c_med_cover ON c_med (drug, started) INCLUDE (patient_id, ended, route);
VACUUM ANALYZE c_med;
SELECT t.trial_id, m.patient_id, m.status
  FROM unnest(ARRAY['C3', 'C4']) t(trial_id),
       LATERAL trialmatch.match_patients(t.trial_id, :asof) m
EXCEPT
SELECT * FROM c_answers;
RESET trialmatch.index_only_reads;

DELETE FROM trialmatch.trials WHERE trial_id IN ('C1', 'C2', 'C3', 'C4', 'C5', 'C6', 'C7');
SELECT trialmatch.drop_source('clab'), trialmatch.drop_source('cmed');
DELETE FROM trialmatch.patient_source;
DROP TABLE c_lab, c_med, c_person;
