-- Population screenings split among parallel workers give exactly the
-- answers of the single-backend path, whatever the number of workers.
SET timezone = 'UTC';
CREATE TABLE q_pat (patient_id int8 PRIMARY KEY, birth_date date, sex text);
INSERT INTO q_pat SELECT i, CASE WHEN i % 97 = 0 THEN NULL ELSE date '1940-01-01' + (i * 7919 % 25000) END,
       CASE i % 5 WHEN 0 THEN NULL WHEN 1 THEN 'M' ELSE 'F' END
  FROM generate_series(1, 3000) i;
-- many rows per patient, with ties, NULLs, NaN, units, far-apart blocks
CREATE TABLE q_lab (patient_id int8, code text, t timestamptz, v numeric, u text);
INSERT INTO q_lab SELECT i % 3100 + 1, 'L' || (i % 17), timestamptz '2026-06-01' - (i % 700) * interval '1 day',
       CASE WHEN i % 101 = 0 THEN NULL WHEN i % 103 = 0 THEN 'NaN' ELSE (abs(hashint4(i)) % 200) / 10.0 END,
       CASE i % 11 WHEN 0 THEN 'mmol/L' WHEN 1 THEN NULL ELSE 'mg/dL' END
  FROM generate_series(1, 200000) i;
CREATE TABLE q_med (patient_id int4, drug text, started date, ended date);
INSERT INTO q_med SELECT i % 3000 + 1, 'D' || (i % 13), date '2026-06-01' - (i % 900),
       CASE WHEN i % 3 = 0 THEN NULL ELSE date '2026-06-01' - (i % 900) + (i % 200) END
  FROM generate_series(1, 30000) i;
SELECT trialmatch.set_patients('q_pat');
SELECT trialmatch.add_source('qlab', 'q_lab', time_column => 't', value_column => 'v', unit_column => 'u');
SELECT trialmatch.add_source('qmed', 'q_med', code_column => 'drug', time_column => 'started', end_time_column => 'ended');
INSERT INTO trialmatch.unit_conversions VALUES ('L3', 'mmol/L', 'mg/dL', 18, 0), ('L4', 'mmol/L', 'mg/dL', 0.5, 1);
INSERT INTO trialmatch.trials (trial_id) VALUES ('Q');
INSERT INTO trialmatch.criteria VALUES
  ('Q', 1, 'inclusion', 'age', 'age between 30 and 70 or sex = ''M'''),
  ('Q', 2, 'inclusion', 'last', $$qlab 'L1' within 90 days last > 8$$),
  ('Q', 3, 'inclusion', 'first', $$qlab ('L2', 'L12') within 1 year first between 2 and 15$$),
  ('Q', 4, 'exclusion', 'min/max', $$qlab 'L5' min < 1 and qlab 'L5' max > 19$$),
  ('Q', 5, 'inclusion', 'avg unit', $$qlab ('L3', 'L4') within 6 months avg > 9 unit 'mg/dL'$$),
  ('Q', 6, 'inclusion', 'any', $$qlab 'L1%' except 'L10' within 2 years any >= 19.5$$),
  ('Q', 7, 'exclusion', 'count', $$qlab 'L6' within 200 days count where value > 5 >= 2$$),
  ('Q', 8, 'exclusion', 'active', $$qmed ('D1', 'D2') active$$),
  ('Q', 9, 'inclusion', 'span', $$qmed 'D1%' within 3 months count >= 1 or unknown$$);

-- rows in one result and not the other, in both directions, duplicates
-- counted (a path that returned a patient twice would show)
CREATE FUNCTION q_diff(a regclass, b regclass) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  EXECUTE format('SELECT count(*) FROM ((TABLE %s EXCEPT ALL TABLE %s) UNION ALL (TABLE %s EXCEPT ALL TABLE %s)) d',
                 a, b, b, a) INTO n;
  RETURN n;
END $$;

SET min_parallel_table_scan_size = 0;
SET trialmatch.max_parallel_workers = 0;
CREATE TEMP TABLE r0 AS SELECT * FROM trialmatch.match_patients('Q', '2026-06-01');
CREATE TEMP TABLE a0 AS SELECT * FROM trialmatch.attrition('Q', '2026-06-01');
SET trialmatch.max_parallel_workers = 1;
CREATE TEMP TABLE r1 AS SELECT * FROM trialmatch.match_patients('Q', '2026-06-01');
CREATE TEMP TABLE a1 AS SELECT * FROM trialmatch.attrition('Q', '2026-06-01');
SET trialmatch.max_parallel_workers = 2;
CREATE TEMP TABLE r2 AS SELECT * FROM trialmatch.match_patients('Q', '2026-06-01');
CREATE TEMP TABLE a2 AS SELECT * FROM trialmatch.attrition('Q', '2026-06-01');
-- no worker slot available: the leader does everything, same answer
SET max_parallel_workers = 0;
CREATE TEMP TABLE rn AS SELECT * FROM trialmatch.match_patients('Q', '2026-06-01');
RESET max_parallel_workers;
-- small tables stay serial (same answer, of course)
RESET min_parallel_table_scan_size;
CREATE TEMP TABLE rs AS SELECT * FROM trialmatch.match_patients('Q', '2026-06-01');

SELECT count(*) AS patients,
       q_diff('r0', 'r1') AS diff_1_worker,
       q_diff('r0', 'r2') AS diff_2_workers,
       q_diff('r0', 'rn') AS diff_no_slot,
       q_diff('r0', 'rs') AS diff_small,
       q_diff('a0', 'a1') + q_diff('a0', 'a2') AS diff_attrition
  FROM r0;
-- a non-trivial mix of answers
SELECT status, count(*) FROM r0 GROUP BY 1 ORDER BY 1;
SELECT * FROM a0;
-- the single-patient path agrees on a sample
SELECT count(*) AS sampled,
       count(*) FILTER (WHERE (t.status, t.failed, t.unknown) IS DISTINCT FROM (r.status, r.failed, r.unknown)) AS differences
  FROM r0 r, LATERAL trialmatch.match_trials(r.patient_id, '2026-06-01') t
 WHERE t.trial_id = 'Q' AND r.patient_id % 10 = 0;

-- narrow criteria (exact codes, short windows) on an analyzed table with an
-- index on (code, time) are read through the index: same answers as a full
-- scan, also with a lossy bitmap (tiny work_mem) and split among workers
INSERT INTO trialmatch.trials (trial_id) VALUES ('NARROW');
INSERT INTO trialmatch.criteria VALUES
  ('NARROW', 1, 'inclusion', 'L7 recent', $$qlab 'L7' within 90 days last > 5$$),
  ('NARROW', 2, 'exclusion', 'L8 or L9', $$qlab ('L8', 'L9') within 20 days any > 15$$),
  ('NARROW', 3, 'inclusion', 'L7 count', $$qlab 'L7' within 120 days count >= 2 and qlab 'L3' within 90 days avg < 10 unit 'mg/dL'$$),
  -- a prefix range that covers an exact code of another criterion
  ('NARROW', 4, 'inclusion', 'L1x', $$qlab 'L12' within 20 days count >= 1 or qlab 'L1%' within 10 days any > 3$$);
SET trialmatch.max_parallel_workers = 0;
CREATE TEMP TABLE n_full AS SELECT * FROM trialmatch.match_patients('NARROW', '2026-06-01');
CREATE INDEX q_lab_code_t ON q_lab (code, t);
ANALYZE q_lab;
CREATE TEMP TABLE n_index AS SELECT * FROM trialmatch.match_patients('NARROW', '2026-06-01');
-- the pages read without looking them up ahead (src/read.c, prefetch_pages)
SET effective_io_concurrency = 0;
CREATE TEMP TABLE n_no_ahead AS SELECT * FROM trialmatch.match_patients('NARROW', '2026-06-01');
RESET effective_io_concurrency;
SET work_mem = '64kB';
CREATE TEMP TABLE n_lossy AS SELECT * FROM trialmatch.match_patients('NARROW', '2026-06-01');
RESET work_mem;
SET trialmatch.max_parallel_workers = 2;
SET min_parallel_table_scan_size = 0;
CREATE TEMP TABLE n_par AS SELECT * FROM trialmatch.match_patients('NARROW', '2026-06-01');
-- lossy bitmaps read by several workers must not count a row twice
SET work_mem = '64kB';
CREATE TEMP TABLE n_par_lossy AS SELECT * FROM trialmatch.match_patients('NARROW', '2026-06-01');
RESET work_mem;
RESET min_parallel_table_scan_size;
-- a large index range is cut into time slices shared by the workers: the
-- same answers as one serial range and as a whole scan
INSERT INTO trialmatch.trials (trial_id) VALUES ('SLICE');
INSERT INTO trialmatch.criteria VALUES
  ('SLICE', 1, 'inclusion', 'L7 often', $$qlab 'L7' within 450 days count >= 3$$),
  ('SLICE', 2, 'inclusion', 'L7 mean', $$qlab 'L7' within 450 days avg > 9$$);
SET trialmatch.max_parallel_workers = 0;
CREATE TEMP TABLE s_serial AS SELECT * FROM trialmatch.match_patients('SLICE', '2026-06-01');
SET trialmatch.max_parallel_workers = 2;
SET min_parallel_table_scan_size = 0;
SET work_mem = '64kB';
CREATE TEMP TABLE s_par_lossy AS SELECT * FROM trialmatch.match_patients('SLICE', '2026-06-01');
RESET work_mem;
CREATE TEMP TABLE s_par AS SELECT * FROM trialmatch.match_patients('SLICE', '2026-06-01');
RESET min_parallel_table_scan_size;
SELECT count(*) FILTER (WHERE status = 'eligible') AS eligible,
       q_diff('s_serial', 's_par') AS diff_sliced,
       q_diff('s_serial', 's_par_lossy') AS diff_sliced_lossy
  FROM s_serial;
DROP INDEX q_lab_code_t;
CREATE TEMP TABLE s_full AS SELECT * FROM trialmatch.match_patients('SLICE', '2026-06-01');
CREATE INDEX q_lab_code_t ON q_lab (code, t);
SELECT q_diff('s_full', 's_serial') AS diff_index_vs_full;
-- slices only where they lie apart in the heap (src/indexpath.c,
-- tm_slice_by_time): q_lab's times cycle every 700 rows, so SLICE read its
-- range whole above; the same rows stored in time order are read in time
-- slices, with the same answers
CREATE TABLE q_lab_t AS SELECT * FROM q_lab ORDER BY t;
CREATE INDEX ON q_lab_t (code, t);
ANALYZE q_lab_t;
SELECT trialmatch.add_source('qlabt', 'q_lab_t', time_column => 't', value_column => 'v', unit_column => 'u');
INSERT INTO trialmatch.trials (trial_id) VALUES ('SLICET');
INSERT INTO trialmatch.criteria (trial_id, position, kind, label, expr)
  SELECT 'SLICET', position, kind, label, replace(expr, 'qlab ', 'qlabt ')
    FROM trialmatch.criteria WHERE trial_id = 'SLICE';
SET trialmatch.max_parallel_workers = 2;
SET min_parallel_table_scan_size = 0;
SET work_mem = '64kB';
CREATE TEMP TABLE st_par_lossy AS SELECT * FROM trialmatch.match_patients('SLICET', '2026-06-01');
RESET work_mem;
CREATE TEMP TABLE st_par AS SELECT * FROM trialmatch.match_patients('SLICET', '2026-06-01');
RESET min_parallel_table_scan_size;
SELECT q_diff('s_serial', 'st_par') AS diff_time_sliced,
       q_diff('s_serial', 'st_par_lossy') AS diff_time_sliced_lossy;
DELETE FROM trialmatch.criteria WHERE trial_id = 'SLICET';
DELETE FROM trialmatch.trials WHERE trial_id = 'SLICET';
SELECT trialmatch.drop_source('qlabt');
DROP TABLE q_lab_t;

-- rows whose time is NULL are read from the fallback column: the index path
-- must not bound them by the time column
ALTER TABLE q_lab ADD COLUMN t_date date;
UPDATE q_lab SET t_date = t::date, t = NULL WHERE code = 'L7' AND patient_id % 3 = 0;
ANALYZE q_lab;
SELECT trialmatch.add_source('qlab', 'q_lab', time_column => 't', value_column => 'v', unit_column => 'u',
                             time_fallback_column => 't_date');
SET trialmatch.max_parallel_workers = 0;
CREATE TEMP TABLE n_fb_index AS SELECT * FROM trialmatch.match_patients('NARROW', '2026-06-01');
DROP INDEX q_lab_code_t;
CREATE TEMP TABLE n_fb_full AS SELECT * FROM trialmatch.match_patients('NARROW', '2026-06-01');
CREATE INDEX q_lab_code_t ON q_lab (code, t);
UPDATE q_lab SET t = t_date, t_date = NULL WHERE t IS NULL;
SELECT trialmatch.add_source('qlab', 'q_lab', time_column => 't', value_column => 'v', unit_column => 'u');
ALTER TABLE q_lab DROP COLUMN t_date;
SET trialmatch.max_parallel_workers = 2;
SELECT count(*) AS patients,
       count(*) FILTER (WHERE status = 'eligible') AS eligible,
       q_diff('n_full', 'n_index') AS diff_index,
       q_diff('n_full', 'n_no_ahead') AS diff_no_ahead,
       q_diff('n_full', 'n_lossy') AS diff_lossy,
       q_diff('n_full', 'n_par') AS diff_parallel,
       q_diff('n_full', 'n_par_lossy') AS diff_parallel_lossy,
       q_diff('n_fb_full', 'n_fb_index') AS diff_fallback
  FROM n_full;
DROP INDEX q_lab_code_t;

-- dense ids stored out of id order, or with a gap, are mapped through the
-- id array; stored 1..n in id order (as above), by a subtraction: the same
-- answers either way, serial and with 2 workers
CREATE TEMP TABLE q_pat_copy AS TABLE q_pat;
TRUNCATE q_pat;
INSERT INTO q_pat SELECT * FROM q_pat_copy ORDER BY patient_id DESC;
SET min_parallel_table_scan_size = 0;
CREATE TEMP TABLE rr2 AS SELECT * FROM trialmatch.match_patients('Q', '2026-06-01');
SET trialmatch.max_parallel_workers = 0;
CREATE TEMP TABLE rr0 AS SELECT * FROM trialmatch.match_patients('Q', '2026-06-01');
DELETE FROM q_pat WHERE patient_id = 1500;
CREATE TEMP TABLE rg0 AS SELECT * FROM trialmatch.match_patients('Q', '2026-06-01');
SET trialmatch.max_parallel_workers = 2;
CREATE TEMP TABLE rg2 AS SELECT * FROM trialmatch.match_patients('Q', '2026-06-01');
RESET min_parallel_table_scan_size;
INSERT INTO q_pat SELECT * FROM q_pat_copy WHERE patient_id = 1500;
CREATE TEMP TABLE r0_gap AS SELECT * FROM r0 WHERE patient_id <> 1500;
SELECT q_diff('r0', 'rr0') AS diff_reversed, q_diff('r0', 'rr2') AS diff_reversed_2_workers,
       (SELECT count(*) FROM rg0) AS gap_patients,
       q_diff('r0_gap', 'rg0') AS diff_gap, q_diff('r0_gap', 'rg2') AS diff_gap_2_workers;

-- sparse (and negative) ids use the hashed id map instead of the dense one
UPDATE q_pat SET patient_id = patient_id * 700001 - 1000000000;
UPDATE q_lab SET patient_id = patient_id * 700001 - 1000000000;
UPDATE q_med SET patient_id = patient_id * 700001 - 1000000000;
SET min_parallel_table_scan_size = 0;
CREATE TEMP TABLE rh AS SELECT (patient_id + 1000000000) / 700001 AS patient_id, status, failed, unknown
  FROM trialmatch.match_patients('Q', '2026-06-01');
RESET min_parallel_table_scan_size;
SELECT count(*) AS patients, q_diff('r0', 'rh') AS diff_sparse FROM rh;

RESET trialmatch.max_parallel_workers;

DROP TABLE q_pat, q_lab, q_med;
DROP FUNCTION q_diff(regclass, regclass);

-- leave the catalog empty for the next test
DELETE FROM trialmatch.trials;
DELETE FROM trialmatch.sources;
DELETE FROM trialmatch.patient_source;
DELETE FROM trialmatch.unit_conversions;
