-- Trials with ten or more criteria (most real trials have 10-25): failed[],
-- unknown[], explain_match and attrition follow position order as
-- integers.  SPEC 4: "`failed` lists the labels of inclusions that are
-- FALSE and exclusions that are TRUE; `unknown` lists the labels of
-- criteria that are UNKNOWN; both in position order."  1.0 ordered positions
-- as text (1, 10, 11, 12, 2, ...).
SET timezone = 'UTC';
CREATE TABLE o_pat (patient_id int8 PRIMARY KEY, birth_date date, sex text);
INSERT INTO o_pat VALUES
  (1, '1986-01-01', 'F'),   -- 40, has dx X
  (2, '2016-01-01', 'M'),   -- 10
  (3, '1956-01-01', 'F'),   -- 70
  (4, NULL, 'M'),           -- age unknown
  (5, '1996-01-01', 'F');   -- 30
CREATE TABLE o_dx (patient_id int8, code text, at date);
INSERT INTO o_dx VALUES (1, 'X', '2025-01-01'), (5, 'Y', '2025-01-01');
SELECT trialmatch.set_patients('o_pat');
SELECT trialmatch.add_source('dx', 'o_dx', time_column => 'at');

INSERT INTO trialmatch.trials (trial_id) VALUES ('T12');
-- inserted out of order on purpose
INSERT INTO trialmatch.criteria VALUES
  ('T12', 12, 'inclusion', 'c12 consent', 'unknown'),
  ('T12', 11, 'exclusion', 'c11 dx X', $$dx 'X'$$),
  ('T12', 10, 'inclusion', 'c10 under 65', 'age < 65'),
  ('T12', 2, 'inclusion', 'c02 adult', 'age >= 18'),
  ('T12', 1, 'inclusion', 'c01', 'true');
INSERT INTO trialmatch.criteria
SELECT 'T12', p, 'inclusion', format('c%s', lpad(p::text, 2, '0')), 'true'
  FROM generate_series(3, 9) p;

-- by hand: 1 fails c11 (exclusion TRUE), 2 fails c02, 3 fails c10; 4 has
-- c02 and c10 unknown; everyone has c12 unknown
SELECT patient_id, status, failed, unknown
  FROM trialmatch.match_patients('T12', '2026-06-01') ORDER BY 1;
SELECT trial_id, status, failed, unknown FROM trialmatch.match_trials(4, '2026-06-01');
SELECT position, kind, label, result FROM trialmatch.explain_match('T12', 4, '2026-06-01');
-- the funnel: 5 patients; c02 removes patient 2, c10 patient 3, c11
-- patient 1; remaining 5 4 4 4 4 4 4 4 4 3 2 2
SELECT position, kind, label, passed, failed, unknown, remaining
  FROM trialmatch.attrition('T12', '2026-06-01');
-- the same through the parallel path and the serial path
SET trialmatch.max_parallel_workers = 0;
SELECT position, remaining FROM trialmatch.attrition('T12', '2026-06-01');
RESET trialmatch.max_parallel_workers;

-- a trial with 25 criteria: unknown[] lists 1..25 in order
INSERT INTO trialmatch.trials (trial_id) VALUES ('T25');
INSERT INTO trialmatch.criteria
SELECT 'T25', p, 'inclusion', p::text, 'unknown' FROM generate_series(25, 1, -1) p;
SELECT unknown = (SELECT array_agg(p::text ORDER BY p) FROM generate_series(1, 25) p) AS in_order
  FROM trialmatch.match_patients('T25', '2026-06-01') WHERE patient_id = 1;
SELECT string_agg(position::text, ',' ORDER BY ordinality) AS explain_order
  FROM trialmatch.explain_match('T25', 1, '2026-06-01') WITH ORDINALITY;
SELECT string_agg(position::text, ',' ORDER BY ordinality) AS attrition_order
  FROM trialmatch.attrition('T25', '2026-06-01') WITH ORDINALITY;

DELETE FROM trialmatch.trials;
DELETE FROM trialmatch.sources;
DELETE FROM trialmatch.patient_source;
DROP TABLE o_pat, o_dx;
