-- SPEC 9: match_all(as_of, trial_ids) gives, for every recruiting trial (or
-- exactly the listed ones), the rows match_patients gives for it, reading
-- each table once for all of them: serially, split among parallel workers,
-- and through index ranges.
SET timezone = 'UTC';
-- earlier files' trials are set aside (restored at the end): match_all()
-- with no list screens every recruiting trial
CREATE TEMP TABLE ma_set_aside AS
  SELECT trial_id, status FROM trialmatch.trials WHERE status = 'recruiting';
UPDATE trialmatch.trials SET status = 'paused' WHERE trial_id IN (SELECT trial_id FROM ma_set_aside);

CREATE TABLE ma_pat (patient_id int8 PRIMARY KEY, birth_date date, sex text);
INSERT INTO ma_pat SELECT i, CASE WHEN i % 97 = 0 THEN NULL ELSE date '1940-01-01' + (i * 7919 % 25000) END,
       CASE i % 5 WHEN 0 THEN NULL WHEN 1 THEN 'M' ELSE 'F' END
  FROM generate_series(1, 3000) i;
CREATE TABLE ma_lab (patient_id int8, code text, t timestamptz, v numeric, u text);
INSERT INTO ma_lab SELECT i % 3100 + 1, 'L' || (i % 17), timestamptz '2026-06-01' - (i % 700) * interval '1 day',
       CASE WHEN i % 101 = 0 THEN NULL ELSE (abs(hashint4(i)) % 200) / 10.0 END,
       CASE i % 11 WHEN 0 THEN 'mmol/L' WHEN 1 THEN NULL ELSE 'mg/dL' END
  FROM generate_series(1, 120000) i;
CREATE TABLE ma_dx (patient_id int4, code text, t date);
INSERT INTO ma_dx SELECT i % 3000 + 1, chr(65 + i % 5) || (i % 23), date '2026-06-01' - (i % 1500)
  FROM generate_series(1, 40000) i;
CREATE TABLE ma_med (patient_id int8, drug text, started date, ended date);
INSERT INTO ma_med SELECT i % 3000 + 1, 'D' || (i % 13), date '2026-06-01' - (i % 900),
       CASE WHEN i % 3 = 0 THEN NULL ELSE date '2026-06-01' - (i % 900) + (i % 200) END
  FROM generate_series(1, 30000) i;
SELECT trialmatch.set_patients('ma_pat');
SELECT trialmatch.add_source('malab', 'ma_lab', time_column => 't', value_column => 'v', unit_column => 'u');
SELECT trialmatch.add_source('madx', 'ma_dx', time_column => 't');
SELECT trialmatch.add_source('mamed', 'ma_med', code_column => 'drug', time_column => 'started', end_time_column => 'ended');
INSERT INTO trialmatch.unit_conversions VALUES ('L3', 'mmol/L', 'mg/dL', 18, 0) ON CONFLICT DO NOTHING;

INSERT INTO trialmatch.trials (trial_id, status) VALUES
  ('MA1', 'recruiting'), ('MA2', 'recruiting'), ('MA3', 'recruiting'), ('MA4', 'recruiting'),
  ('MA5', 'paused'), ('MA6', 'closed'), ('MA7', 'closed');
-- two trials of 10+ criteria over the three sources, sharing some atoms
INSERT INTO trialmatch.criteria VALUES
  ('MA1', 1, 'inclusion', 'age', 'age between 30 and 70 or sex = ''M'''),
  ('MA1', 2, 'inclusion', 'last', $$malab 'L1' within 90 days last > 8$$),
  ('MA1', 3, 'inclusion', 'first', $$malab ('L2', 'L12') within 1 year first between 2 and 15$$),
  ('MA1', 4, 'exclusion', 'min/max', $$malab 'L5' min < 1 and malab 'L5' max > 19$$),
  ('MA1', 5, 'inclusion', 'avg unit', $$malab 'L3' within 6 months avg > 9 unit 'mg/dL'$$),
  ('MA1', 6, 'inclusion', 'any', $$malab 'L1%' except 'L10' within 2 years any >= 19.5$$),
  ('MA1', 7, 'exclusion', 'count', $$malab 'L6' within 200 days count where value > 5 >= 2$$),
  ('MA1', 8, 'exclusion', 'active', $$mamed ('D1', 'D2') active$$),
  ('MA1', 9, 'inclusion', 'span', $$mamed 'D1%' within 3 months count >= 1 or unknown$$),
  ('MA1', 10, 'inclusion', 'dx A', $$madx 'A%' within 2 years$$),
  ('MA1', 11, 'exclusion', 'dx B3', $$madx 'B3' within 1 year$$),
  ('MA1', 12, 'inclusion', 'not C', $$not madx 'C1%'$$),
  ('MA2', 1, 'inclusion', 'adult', 'age >= 18'),
  ('MA2', 2, 'inclusion', 'female', 'sex = ''F'''),
  ('MA2', 3, 'inclusion', 'dx A', $$madx 'A%' within 2 years$$),
  ('MA2', 4, 'inclusion', 'last L1', $$malab 'L1' within 90 days last > 8$$),
  ('MA2', 5, 'exclusion', 'L7 high', $$malab 'L7' within 1 year max > 18$$),
  ('MA2', 6, 'inclusion', 'L8 count', $$malab 'L8' count >= 3$$),
  ('MA2', 7, 'exclusion', 'D3', $$mamed 'D3' within 6 months$$),
  ('MA2', 8, 'inclusion', 'L9 avg', $$malab 'L9' within 2 years avg between 5 and 15$$),
  ('MA2', 9, 'exclusion', 'E', $$madx ('E1', 'E2') within 5 years count >= 2$$),
  ('MA2', 10, 'inclusion', 'L4 first', $$malab 'L4' first > 2 or unknown$$),
  ('MA2', 11, 'inclusion', 'D5', $$mamed 'D5' within 1 year or mamed 'D6' active$$),
  -- narrow criteria: exact codes in short windows (index ranges)
  ('MA3', 1, 'inclusion', 'L7 recent', $$malab 'L7' within 30 days last > 5$$),
  ('MA3', 2, 'exclusion', 'L8 or L9', $$malab ('L8', 'L9') within 20 days any > 15$$),
  ('MA3', 3, 'inclusion', 'B4', $$madx 'B4' within 30 days$$),
  ('MA5', 1, 'inclusion', 'L7 count', $$malab 'L7' within 40 days count >= 1$$),
  ('MA5', 2, 'exclusion', 'D4', $$madx 'D4' within 30 days$$),
  ('MA6', 1, 'inclusion', 'old', 'age > 60'),
  ('MA6', 2, 'inclusion', 'L2', $$malab 'L2' within 1 year last < 10$$);
-- MA4 has no criteria; MA7 has more than 32 (no label cache)
INSERT INTO trialmatch.criteria
  SELECT 'MA7', k, CASE WHEN k % 4 = 0 THEN 'exclusion' ELSE 'inclusion' END, 'c' || k,
         format($$malab 'L%s' within %s days last > %s$$, k % 17, 30 * k, k % 12)
    FROM generate_series(1, 35) k;

-- rows in one result and not the other, both directions, duplicates counted
CREATE FUNCTION ma_diff(a text, b text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  EXECUTE format('SELECT count(*) FROM ((%s EXCEPT ALL %s) UNION ALL (%s EXCEPT ALL %s)) d', a, b, b, a) INTO n;
  RETURN n;
END $$;
-- match_patients over the given trials, each with its trial_id
CREATE FUNCTION ma_union(ids text[]) RETURNS TABLE (trial_id text, patient_id bigint,
    status trialmatch.eligibility, failed text[], unknown text[])
LANGUAGE sql AS $$
  SELECT t.id, m.* FROM unnest(ids) t(id), trialmatch.match_patients(t.id, '2026-06-01') m
$$;
CREATE TEMP TABLE ma_expected AS SELECT * FROM ma_union('{MA1,MA2,MA3,MA4,MA5,MA6,MA7}');
SELECT trial_id, status, count(*) FROM ma_expected GROUP BY 1, 2 ORDER BY 1, 2;
-- distinct (status, failed, unknown) combinations: rows really differ
SELECT trial_id, count(DISTINCT (status, failed, unknown)) AS combinations
  FROM ma_expected GROUP BY 1 ORDER BY 1;

-- serial
SET trialmatch.max_parallel_workers = 0;
CREATE TEMP TABLE ma_serial AS SELECT * FROM trialmatch.match_all('2026-06-01');
SELECT count(*) AS rows_, count(DISTINCT trial_id) AS trials,
       ma_diff('TABLE ma_serial',
               $$SELECT * FROM ma_expected WHERE trial_id IN ('MA1', 'MA2', 'MA3', 'MA4')$$) AS diff
  FROM ma_serial;
-- parallel workers forced
SET min_parallel_table_scan_size = 0;
SET trialmatch.max_parallel_workers = 2;
SELECT ma_diff($$SELECT * FROM trialmatch.match_all('2026-06-01')$$,
               $$SELECT * FROM ma_expected WHERE trial_id IN ('MA1', 'MA2', 'MA3', 'MA4')$$) AS diff_parallel,
       ma_diff($$SELECT * FROM trialmatch.match_all('2026-06-01', '{MA7,MA6,MA5,MA1,MA2,MA3,MA4}')$$,
               'TABLE ma_expected') AS diff_parallel_all_seven;
-- index ranges: an index on (code, time) of every source, analyzed; narrow
-- trials together read index ranges (the union of their codes), a wide one
-- with them makes the source read whole: the same rows in every case
CREATE INDEX ON ma_lab (code, t);
CREATE INDEX ON ma_dx (code, t);
CREATE INDEX ON ma_med (drug, started);
ANALYZE ma_lab, ma_dx, ma_med;
SET trialmatch.max_parallel_workers = 0;
SELECT ma_diff($$SELECT * FROM trialmatch.match_all('2026-06-01', '{MA3,MA5}')$$,
               $$SELECT * FROM ma_union('{MA3,MA5}')$$) AS diff_index_serial,
       ma_diff($$SELECT * FROM trialmatch.match_all('2026-06-01', '{MA3,MA5,MA1}')$$,
               $$SELECT * FROM ma_union('{MA1,MA3,MA5}')$$) AS diff_index_mixed_serial,
       ma_diff($$SELECT * FROM trialmatch.match_all('2026-06-01', '{MA1,MA2,MA3,MA4,MA5,MA6,MA7}')$$,
               'TABLE ma_expected') AS diff_index_all_serial;
SET trialmatch.max_parallel_workers = 2;
SELECT ma_diff($$SELECT * FROM trialmatch.match_all('2026-06-01', '{MA3,MA5}')$$,
               $$SELECT * FROM ma_union('{MA3,MA5}')$$) AS diff_index_parallel,
       ma_diff($$SELECT * FROM trialmatch.match_all('2026-06-01', '{MA3,MA5,MA1}')$$,
               $$SELECT * FROM ma_union('{MA1,MA3,MA5}')$$) AS diff_index_mixed_parallel,
       ma_diff($$SELECT * FROM trialmatch.match_all('2026-06-01')$$,
               $$SELECT * FROM ma_union('{MA1,MA2,MA3,MA4}')$$) AS diff_index_recruiting_parallel;
RESET min_parallel_table_scan_size;
RESET trialmatch.max_parallel_workers;

-- trials come out one after the other in trial_id order, whatever the
-- order of the list; listed trials are screened whatever their status, and
-- a trial listed twice is screened once
SELECT trial_id, count(*), min(n), max(n)
  FROM (SELECT trial_id, row_number() OVER () AS n
          FROM trialmatch.match_all('2026-06-01', '{MA7,MA6,MA5,MA6,MA7}')) r
 GROUP BY 1 ORDER BY 1;
-- a trial without criteria: everyone eligible, nothing failed or unknown
SELECT status, failed, unknown, count(*) FROM trialmatch.match_all('2026-06-01', '{MA4}') GROUP BY 1, 2, 3;
-- no trial listed: no rows
SELECT count(*) FROM trialmatch.match_all('2026-06-01', '{}');
-- no recruiting trial: no rows
UPDATE trialmatch.trials SET status = 'paused' WHERE trial_id IN ('MA1', 'MA2', 'MA3', 'MA4');
SELECT count(*) FROM trialmatch.match_all('2026-06-01');
UPDATE trialmatch.trials SET status = 'recruiting' WHERE trial_id IN ('MA1', 'MA2', 'MA3', 'MA4');
-- the default as_of is now(), as for match_patients
SELECT ma_diff($$SELECT * FROM trialmatch.match_all(trial_ids => '{MA1}')$$,
               $$SELECT 'MA1', * FROM trialmatch.match_patients('MA1')$$) AS diff_now;

-- errors: an unknown trial as match_patients (42704), NULLs (22004), an
-- infinite as_of as match_patients
\set VERBOSITY sqlstate
SELECT * FROM trialmatch.match_all('2026-06-01', '{MA1,NOPE}');
SELECT * FROM trialmatch.match_patients('NOPE', '2026-06-01');
SELECT * FROM trialmatch.match_all(NULL);
SELECT * FROM trialmatch.match_all('2026-06-01', '{MA1,NULL}');
\set VERBOSITY default
SELECT * FROM trialmatch.match_all('2026-06-01', '{MA1,NOPE}');
SELECT * FROM trialmatch.match_all(NULL);
SELECT * FROM trialmatch.match_all('2026-06-01', '{MA1,NULL}');
SELECT * FROM trialmatch.match_all('infinity');

-- the memory budget (trialmatch.match_all_memory): trials whose state for
-- every patient exceeds it are screened in several passes over groups of
-- trials; the rows are those of one pass.  64kB holds one MA trial's state
-- for 3000 patients at a time, so every listed trial is a pass of its own
-- (t/033_match_all_passes.pl checks the passes reported).
SHOW trialmatch.match_all_memory;
SET trialmatch.match_all_memory = '64kB';
SELECT ma_diff($$SELECT * FROM trialmatch.match_all('2026-06-01', '{MA1,MA2,MA3,MA4,MA5,MA6,MA7}')$$,
               'TABLE ma_expected') AS diff_passes;
SET trialmatch.max_parallel_workers = 2;
SET min_parallel_table_scan_size = 0;
SELECT ma_diff($$SELECT * FROM trialmatch.match_all('2026-06-01', '{MA1,MA2,MA3,MA4,MA5,MA6,MA7}')$$,
               'TABLE ma_expected') AS diff_passes_parallel;
RESET min_parallel_table_scan_size;
RESET trialmatch.max_parallel_workers;
SET trialmatch.match_all_memory = '1kB';   -- below the minimum
RESET trialmatch.match_all_memory;
-- 4 trials of 50 criteria for 70000 patients: about 240 MB of state at
-- once, 2 passes within 128MB (before the budget, more than 1 GB at once
-- was refused with 54000)
CREATE TABLE ma_many (patient_id int8 PRIMARY KEY, birth_date date, sex text);
INSERT INTO ma_many SELECT i, NULL, NULL FROM generate_series(1, 70000) i;
SELECT trialmatch.set_patients('ma_many');
INSERT INTO trialmatch.trials (trial_id, status)
  SELECT 'MB' || lpad(k::text, 2, '0'), 'closed' FROM generate_series(1, 4) k;
INSERT INTO trialmatch.criteria
  SELECT 'MB' || lpad(k::text, 2, '0'), c, 'inclusion', 'c' || c,
         format($$malab 'L%s' within %s days last > %s$$, c % 17, k * 10 + c, c)
    FROM generate_series(1, 4) k, generate_series(1, 50) c;
SET trialmatch.match_all_memory = '128MB';
SELECT trial_id, status, count(*) FROM trialmatch.match_all('2026-06-01', '{MB01,MB02,MB03,MB04}')
 GROUP BY 1, 2 ORDER BY 1, 2;
RESET trialmatch.match_all_memory;
SELECT 'MB04' AS trial_id, status, count(*) FROM trialmatch.match_patients('MB04', '2026-06-01')
 GROUP BY 1, 2 ORDER BY 1, 2;
-- those rows are too many for work_mem and were written to a temporary
-- file: a call whose rows are not all read releases it too (no leak warning)
SET work_mem = '1MB';
SELECT patient_id, status FROM trialmatch.match_patients('MB04', '2026-06-01') LIMIT 1;
SELECT trial_id, patient_id FROM trialmatch.match_all('2026-06-01', '{MB03,MB04}') LIMIT 1;
RESET work_mem;

-- clean up
DELETE FROM trialmatch.trials WHERE trial_id LIKE 'MA_' OR trial_id LIKE 'MB__';
SELECT trialmatch.drop_source(name) FROM (VALUES ('malab'), ('madx'), ('mamed')) v(name);
UPDATE trialmatch.trials t SET status = s.status FROM ma_set_aside s WHERE t.trial_id = s.trial_id;
