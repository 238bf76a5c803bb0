-- match_patients, attrition, match_trials and explain_match over a small
-- population whose answers are worked out by hand in the comments.
SET timezone = 'UTC';
CREATE TABLE m_pat (patient_id int8 PRIMARY KEY, birth_date timestamptz, sex text);
INSERT INTO m_pat VALUES
  (10, '1970-01-01', 'F'),  -- T2D, HbA1c 8.2, no insulin           -> eligible
  (11, '1970-01-01', 'M'),  -- T2D, HbA1c 8.0, insulin 30 days ago  -> ineligible (exclusion 4)
  (12, '1990-01-01', 'F'),  -- T2D, no HbA1c                        -> indeterminate (criterion 3)
  (13, '1940-01-01', 'M'),  -- too old, no T2D, HbA1c 12            -> ineligible (1, 2, 3)
  (14, NULL, 'F'),          -- no birth date, T2D, HbA1c 7.5        -> indeterminate (1)
  (15, '1980-01-01', NULL), -- T2D, HbA1c 9, eGFR 30                -> ineligible (exclusion 5)
  (16, '1980-01-01', 'F');  -- nothing recorded                     -> ineligible (2)
CREATE TABLE m_lab (patient_id int8, code text, taken_at timestamptz, value float8, unit text);
CREATE TABLE m_dx (patient_id int8, code text, diagnosed_at date);
CREATE TABLE m_med (patient_id int8, drug text, started_at date, ended_at date);
INSERT INTO m_lab VALUES
  (10, '4548-4', '2026-05-01', 8.2, '%'), (11, '4548-4', '2026-05-01', 8.0, '%'),
  (13, '4548-4', '2026-05-01', 12, '%'), (14, '4548-4', '2026-05-01', 7.5, '%'),
  (15, '4548-4', '2026-05-01', 9, '%'), (15, '33914-3', '2026-05-01', 30, 'mL/min'),
  (10, '33914-3', '2026-05-01', 80, 'mL/min'), (11, '33914-3', '2026-05-01', 80, 'mL/min'),
  (12, '33914-3', '2026-05-01', 80, 'mL/min'), (14, '33914-3', '2026-05-01', 80, 'mL/min'),
  (99, '4548-4', '2026-05-01', 8, '%');  -- not in the patient table: ignored
INSERT INTO m_dx VALUES (10, 'E11.9', '2020-01-01'), (11, 'E11.65', '2019-01-01'),
  (12, 'E11.9', '2021-01-01'), (14, 'E11.9', '2018-01-01'), (15, 'E11.9', '2018-01-01'),
  (13, 'E10.9', '2018-01-01');
INSERT INTO m_med VALUES (11, 'insulin glargine', '2026-05-02', NULL), (10, 'metformin', '2020-01-01', NULL);

SELECT trialmatch.set_patients('m_pat');
SELECT trialmatch.add_source('lab', 'm_lab', time_column => 'taken_at', value_column => 'value', unit_column => 'unit');
SELECT trialmatch.add_source('diagnosis', 'm_dx', time_column => 'diagnosed_at');
SELECT trialmatch.add_source('medication', 'm_med', code_column => 'drug', time_column => 'started_at',
                             end_time_column => 'ended_at');
INSERT INTO trialmatch.trials (trial_id, title) VALUES ('NCT04567890', 'Add-on therapy in type 2 diabetes');
INSERT INTO trialmatch.criteria (trial_id, position, kind, label, expr) VALUES
 ('NCT04567890', 1, 'inclusion', 'Age 18-75',            'age between 18 and 75'),
 ('NCT04567890', 2, 'inclusion', 'Type 2 diabetes',      $$diagnosis 'E11%'$$),
 ('NCT04567890', 3, 'inclusion', 'HbA1c 7.0-10.5%',      $$lab '4548-4' within 180 days last between 7.0 and 10.5$$),
 ('NCT04567890', 4, 'exclusion', 'Insulin in last 90 d', $$medication 'insulin%' within 90 days$$),
 ('NCT04567890', 5, 'exclusion', 'eGFR below 45',        $$lab '33914-3' within 1 year last < 45$$);
INSERT INTO trialmatch.trials (trial_id, title) VALUES ('OPEN', 'no criteria: everyone is eligible');
INSERT INTO trialmatch.trials (trial_id, title, status) VALUES ('PAUSED', 'paused', 'paused'), ('CLOSED', 'closed', 'closed');
INSERT INTO trialmatch.criteria VALUES ('CLOSED', 1, 'inclusion', 'x', 'true'), ('PAUSED', 1, 'inclusion', 'x', 'true');
INSERT INTO trialmatch.trials (trial_id, title) VALUES ('CONSENT', 'needs a manual check');
INSERT INTO trialmatch.criteria VALUES
  ('CONSENT', 1, 'inclusion', 'Informed consent', 'unknown'),
  ('CONSENT', 2, 'exclusion', 'Type 1 diabetes', $$diagnosis 'E10%'$$),
  ('CONSENT', 3, 'inclusion', 'Female', $$sex = 'F'$$);

SELECT * FROM trialmatch.match_patients('NCT04567890', '2026-06-01') ORDER BY patient_id;
SELECT status, count(*) FROM trialmatch.match_patients('NCT04567890', '2026-06-01') GROUP BY 1 ORDER BY 1;
-- the funnel: passed/failed/unknown over all patients; remaining = not yet
-- ineligible after criteria 1..position
SELECT * FROM trialmatch.attrition('NCT04567890', '2026-06-01');
SELECT * FROM trialmatch.match_patients('OPEN') ORDER BY patient_id;
SELECT * FROM trialmatch.attrition('OPEN');
SELECT * FROM trialmatch.match_patients('CONSENT') ORDER BY patient_id;
SELECT * FROM trialmatch.attrition('CONSENT');

-- one patient: recruiting trials only, in trial_id order
SELECT * FROM trialmatch.match_trials(11, '2026-06-01');
SELECT * FROM trialmatch.match_trials(16, '2026-06-01');
SELECT * FROM trialmatch.explain_match('NCT04567890', 11, '2026-06-01');
SELECT * FROM trialmatch.explain_match('NCT04567890', 15, '2026-06-01');
SELECT * FROM trialmatch.explain_match('CONSENT', 13);
-- the default as_of is now(): these events are in the past
SELECT count(*) FROM trialmatch.match_patients('NCT04567890');

-- a change to the criteria is seen by the next call
UPDATE trialmatch.criteria SET expr = 'age between 18 and 90' WHERE trial_id = 'NCT04567890' AND position = 1;
SELECT patient_id, status, failed FROM trialmatch.match_patients('NCT04567890', '2026-06-01') WHERE patient_id = 13;
UPDATE trialmatch.trials SET status = 'closed' WHERE trial_id = 'OPEN';
SELECT trial_id FROM trialmatch.match_trials(10, '2026-06-01');
UPDATE trialmatch.trials SET status = 'recruiting' WHERE trial_id = 'OPEN';
-- and within a transaction that is rolled back, nothing stays
BEGIN;
DELETE FROM trialmatch.criteria WHERE trial_id = 'NCT04567890';
SELECT count(*) FILTER (WHERE status = 'eligible') FROM trialmatch.match_patients('NCT04567890', '2026-06-01');
ROLLBACK;
SELECT count(*) FILTER (WHERE status = 'eligible') FROM trialmatch.match_patients('NCT04567890', '2026-06-01');

-- index and sequential paths agree: with and without an index on the patient column
CREATE TEMP TABLE before AS
  SELECT p.patient_id, t.* FROM m_pat p, trialmatch.match_trials(p.patient_id, '2026-06-01') t;
CREATE INDEX m_lab_pid ON m_lab (patient_id);
CREATE INDEX m_dx_pid ON m_dx (patient_id);
CREATE TEMP TABLE after AS
  SELECT p.patient_id, t.* FROM m_pat p, trialmatch.match_trials(p.patient_id, '2026-06-01') t;
SELECT count(*) AS rows, (SELECT count(*) FROM (TABLE before EXCEPT TABLE after) d) AS differences FROM before;
-- and both agree with the population path
SELECT count(*) AS differences
  FROM after a JOIN trialmatch.match_patients('NCT04567890', '2026-06-01') m USING (patient_id)
 WHERE a.trial_id = 'NCT04567890' AND (a.status, a.failed, a.unknown) IS DISTINCT FROM (m.status, m.failed, m.unknown);

-- duplicate patient ids in the patient table are an error, not a double row
CREATE TABLE m_pat2 (patient_id int4, birth_date date, sex text);
INSERT INTO m_pat2 VALUES (1, '1980-01-01', 'F'), (2, NULL, NULL), (1, '1990-01-01', 'M'), (NULL, NULL, 'F');
SELECT trialmatch.set_patients('m_pat2');
SELECT * FROM trialmatch.match_patients('CONSENT');
SELECT * FROM trialmatch.match_trials(1);
DELETE FROM m_pat2 WHERE birth_date = '1990-01-01';
-- a NULL id is skipped; int4 ids work; an id beyond int4 is simply absent
SELECT * FROM trialmatch.match_patients('CONSENT') ORDER BY 1;
SELECT * FROM trialmatch.match_trials(1);
SELECT * FROM trialmatch.match_trials(4294967297);
SELECT trialmatch.set_patients('m_pat');

-- many distinct codes in one source (the code map grows while scanning):
-- trialmatch agrees with plain SQL
CREATE TABLE m_many AS SELECT (i % 7 + 10)::int8 AS patient_id, 'K' || (i % 997) AS code,
       timestamptz '2026-01-01' + i * interval '1 minute' AS taken_at, (i % 13)::float8 AS value, 'u' AS unit
  FROM generate_series(1, 20000) i;
SELECT trialmatch.add_source('many', 'm_many', time_column => 'taken_at', value_column => 'value', unit_column => 'unit');
INSERT INTO trialmatch.trials (trial_id) VALUES ('MANY');
INSERT INTO trialmatch.criteria VALUES ('MANY', 1, 'inclusion', 'K1 codes', $$many 'K1%' except 'K10%' count = 287$$),
  ('MANY', 2, 'inclusion', 'K5 max', $$many ('K5', 'K50', 'K500') max = 12$$);
SELECT m.patient_id, m.status, m.failed,
       (SELECT count(*) FROM m_many x WHERE x.patient_id = m.patient_id AND x.code LIKE 'K1%' AND x.code NOT LIKE 'K10%') AS sql_count,
       (SELECT max(value) FROM m_many x WHERE x.patient_id = m.patient_id AND x.code IN ('K5', 'K50', 'K500')) AS sql_max
  FROM trialmatch.match_patients('MANY', '2026-06-01') m ORDER BY 1;
DELETE FROM trialmatch.trials WHERE trial_id = 'MANY';
SELECT trialmatch.drop_source('many');
DROP TABLE m_many;

-- the rows stream: called in FROM, match_patients is inlined and its rows
-- come one by one from a ProjectSet, not from a stored set
EXPLAIN (COSTS OFF) SELECT * FROM trialmatch.match_patients('NCT04567890', '2026-06-01');
-- a sub-select as an argument prevents inlining (the rows are stored by a
-- Function Scan); the same value from a LATERAL column streams (README)
EXPLAIN (COSTS OFF) SELECT count(*) FROM trialmatch.match_patients((SELECT 'NCT04567890'), '2026-06-01');
EXPLAIN (COSTS OFF) SELECT count(*) FROM (SELECT min(trial_id) AS id FROM trialmatch.trials) t,
       LATERAL trialmatch.match_patients(t.id, '2026-06-01');
-- two calls whose rows are read in turns (two set-returning functions in
-- one select list run in lockstep): each gives its own rows, as alone
SELECT (a).patient_id AS a_id, (a).status AS a_status, (b).patient_id AS b_id, (b).status AS b_status
  FROM (SELECT trialmatch._match_patients_rows('NCT04567890', '2026-06-01') AS a,
               trialmatch._match_patients_rows('CONSENT', '2026-06-01') AS b) s;
-- each row is one record whose values change at the next call: whatever
-- keeps rows longer keeps a copy of each, with its own values (an
-- aggregate of records, records sorted, a subquery's hashed records, a window over
-- a materialised CTE), never seven times the last row
SELECT array_agg(m) FROM (SELECT trialmatch._match_patients_rows('NCT04567890', '2026-06-01') AS m) s;
SELECT m FROM (SELECT trialmatch._match_patients_rows('NCT04567890', '2026-06-01') AS m) s ORDER BY m DESC;
SELECT count(*) AS kept_and_found
  FROM trialmatch.match_patients('NCT04567890', '2026-06-01') mp
 WHERE mp IN (SELECT m FROM (SELECT trialmatch._match_patients_rows('NCT04567890', '2026-06-01') AS m) s);
WITH k AS MATERIALIZED (SELECT trialmatch._match_patients_rows('NCT04567890', '2026-06-01') AS m)
SELECT (m).patient_id, (m).status, lag((m).patient_id) OVER w AS prev_id, lag(m) OVER w AS prev
  FROM k WINDOW w AS (ORDER BY (m).patient_id) ORDER BY 1;
-- other trialmatch calls while the rows are read (a PL/pgSQL loop reads them
-- ten at a time): 3 recruiting trials for each of 7 patients
DO $$
DECLARE
    r record;
    n int := 0;
BEGIN
    FOR r IN SELECT * FROM trialmatch.match_patients('NCT04567890', '2026-06-01') LOOP
        n := n + (SELECT count(*) FROM trialmatch.match_trials(r.patient_id, '2026-06-01'));
    END LOOP;
    RAISE NOTICE '% rows', n;
END
$$;
-- rows not all read (LIMIT), then the next call; NULL arguments give no rows;
-- called in the select list (not inlined), the same rows
SELECT patient_id FROM trialmatch.match_patients('NCT04567890', '2026-06-01') LIMIT 2;
SELECT count(*) FROM trialmatch.match_patients('NCT04567890', '2026-06-01');
SELECT count(*) FROM trialmatch.match_patients(NULL, '2026-06-01');
SELECT count(*) FROM trialmatch.match_patients('NCT04567890', NULL);
SELECT trialmatch.match_patients('CONSENT', '2026-06-01');
-- a rescan (a correlated subquery: once per outer row) reads the rows
-- evaluated for the first outer row again: each patient's own row, and the
-- lab table read once (one evaluation), not 7 times; a LATERAL call whose
-- arguments change evaluates per outer row
SELECT pg_stat_force_next_flush();
SELECT seq_scan + coalesce(idx_scan, 0) AS before FROM pg_stat_user_tables WHERE relname = 'm_lab' \gset
SELECT p.patient_id,
       (SELECT m.status FROM trialmatch.match_patients('NCT04567890', '2026-06-01') m
         WHERE m.patient_id = p.patient_id) AS status
  FROM m_pat p ORDER BY 1;
SELECT pg_stat_force_next_flush();
SELECT seq_scan + coalesce(idx_scan, 0) - :before AS lab_table_reads FROM pg_stat_user_tables WHERE relname = 'm_lab';
SELECT t.trial_id, count(*) FILTER (WHERE m.status = 'eligible') AS eligible
  FROM (VALUES ('NCT04567890'), ('OPEN'), ('NCT04567890')) t(trial_id),
       LATERAL trialmatch.match_patients(t.trial_id, '2026-06-01') m
 GROUP BY 1 ORDER BY 1;

-- a query cancel stops a population scan (statement_timeout)
CREATE TABLE m_big AS SELECT (i % 1000)::int8 AS patient_id, 'X' AS code, now() AS taken_at, 1.0::float8 AS value,
       '%' AS unit FROM generate_series(1, 3000000) i;
SELECT trialmatch.add_source('big', 'm_big', time_column => 'taken_at', value_column => 'value', unit_column => 'unit');
INSERT INTO trialmatch.trials (trial_id) VALUES ('BIG');
INSERT INTO trialmatch.criteria VALUES ('BIG', 1, 'inclusion', 'x', $$big 'X' avg > 0$$);
SET statement_timeout = '20ms';
SELECT count(*) FROM trialmatch.match_patients('BIG');
RESET statement_timeout;
DELETE FROM trialmatch.trials WHERE trial_id = 'BIG';
SELECT trialmatch.drop_source('big');
DROP TABLE m_big;

-- leave the catalog empty for the next test
DELETE FROM trialmatch.trials;
DELETE FROM trialmatch.sources;
DELETE FROM trialmatch.patient_source;
DELETE FROM trialmatch.unit_conversions;
