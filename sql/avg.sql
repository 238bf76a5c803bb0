-- avg agrees with PostgreSQL's avg over the same values (issue 15, item 9):
-- exactly for numeric and integer value columns (a numeric avg compared with
-- a numeric literal), as avg(float8) for float8 columns; converted values as
-- value * factor::numeric + "offset"::numeric.  Every answer is checked
-- against SQL's own avg over the same rows, in the same test, through every
-- path: serial and parallel scans, index ranges (serial and parallel), the
-- single-patient path (match_trials) and attrition.
SET timezone = 'UTC';
CREATE TABLE v_pat (patient_id int8 PRIMARY KEY, birth_date date, sex text);
CREATE TABLE v_num (patient_id int8, code text, t timestamptz, v numeric, u text);
CREATE TABLE v_int (patient_id int8, code text, t timestamptz, v int4, u text);
CREATE TABLE v_flt (patient_id int8, code text, t timestamptz, v float8, u text);
SELECT trialmatch.set_patients('v_pat');
SELECT trialmatch.add_source('vnum', 'v_num', time_column => 't', value_column => 'v', unit_column => 'u');
SELECT trialmatch.add_source('vint', 'v_int', time_column => 't', value_column => 'v', unit_column => 'u');
SELECT trialmatch.add_source('vflt', 'v_flt', time_column => 't', value_column => 'v', unit_column => 'u');
-- mg/dL -> mmol/L for glucose, and a made-up affine one
INSERT INTO trialmatch.unit_conversions VALUES
  ('X', 'mg/dL', 'mmol/L', 0.0555, 0), ('X', 'degF', 'degC', 0.5555555555555556, -17.77777777777778);

-- The checks: trial_id -> source table, test and unit.  The criterion is
-- "<source> 'X' within 1 year avg <test> [unit '<unit>']".
CREATE TABLE checks (trial_id text PRIMARY KEY, tab text, test text, unit text);
CREATE FUNCTION add_check(trial text, tab text, test text, unit text DEFAULT NULL) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO checks VALUES (trial, tab, test, unit);
  INSERT INTO trialmatch.trials (trial_id) VALUES (trial);
  INSERT INTO trialmatch.criteria VALUES (trial, 1, 'inclusion', 'avg',
    format('%s ''X'' within 1 year avg %s', replace(tab, '_', ''), test)
      || CASE WHEN unit IS NOT NULL THEN format(' unit %L', unit) ELSE '' END);
$$;
-- SQL's answer for a check: avg(v) over the same rows (NaN not usable;
-- other units converted through unit_conversions, in numeric for numeric
-- and integer columns, in double precision for float8 columns).
CREATE FUNCTION sql_avg(c checks, as_of timestamptz) RETURNS TABLE (patient_id int8, a text, status text)
LANGUAGE plpgsql AS $f$
BEGIN
  RETURN QUERY EXECUTE format($q$
    WITH a AS (
      SELECT l.patient_id,
             avg(CASE WHEN $2 IS NULL OR l.u = $2 THEN l.v
                      ELSE l.v * k.factor%s + k."offset"%s END) AS a
        FROM %I l LEFT JOIN trialmatch.unit_conversions k
             ON k.code = l.code AND k.from_unit = l.u AND k.to_unit = $2
       WHERE l.code = 'X' AND l.t >= $1 - interval '1 year' AND l.t <= $1
         AND l.v::text <> 'NaN' AND ($2 IS NULL OR l.u = $2 OR k.code IS NOT NULL)
       GROUP BY 1)
    SELECT p.patient_id, a.a::text,
           CASE WHEN a.a IS NULL OR a.a::text = 'NaN' THEN 'indeterminate'
                WHEN a.a %s THEN 'eligible' ELSE 'ineligible' END
      FROM v_pat p LEFT JOIN a USING (patient_id)$q$,
    CASE c.tab WHEN 'v_flt' THEN '' ELSE '::numeric' END,
    CASE c.tab WHEN 'v_flt' THEN '' ELSE '::numeric' END,
    c.tab, c.test) USING as_of, c.unit;
END $f$;
-- Disagreements with SQL, per path: match_patients, attrition's counts and
-- (for up to 40 patients) match_trials; population_only: match_patients
-- alone (attrition reads the same population path; match_trials is serial).
-- SQL's answers are computed once.
CREATE TABLE expect (trial_id text, patient_id int8, a text, status text);
CREATE INDEX ON expect (trial_id, patient_id);
CREATE FUNCTION disagreements(as_of timestamptz, population_only boolean DEFAULT false,
                              OUT checks bigint, OUT patients bigint,
                              OUT match_patients bigint, OUT attrition bigint, OUT match_trials bigint)
LANGUAGE plpgsql AS $$
BEGIN
  TRUNCATE expect;
  INSERT INTO expect SELECT c.trial_id, s.* FROM checks c, sql_avg(c, as_of) s;
  ANALYZE expect;
  checks := (SELECT count(*) FROM checks);
  patients := (SELECT count(*) FROM v_pat);
  match_patients := (SELECT sum(d.n)::bigint FROM checks c,
                 LATERAL (SELECT count(*) AS n FROM (SELECT * FROM expect e WHERE e.trial_id = c.trial_id) s
                            FULL JOIN trialmatch.match_patients(c.trial_id, as_of) m USING (patient_id)
                           WHERE s.status IS DISTINCT FROM m.status::text) d);
  IF population_only THEN
    RETURN;
  END IF;
  attrition := (SELECT count(*) FROM checks c,
                 LATERAL (SELECT count(*) FILTER (WHERE status = 'eligible') AS p,
                                 count(*) FILTER (WHERE status = 'ineligible') AS f,
                                 count(*) FILTER (WHERE status = 'indeterminate') AS u
                            FROM expect e WHERE e.trial_id = c.trial_id) s,
                 trialmatch.attrition(c.trial_id, as_of) t
           WHERE (t.passed, t.failed, t.unknown) IS DISTINCT FROM (s.p, s.f, s.u));
  match_trials := (SELECT count(*) FROM (SELECT patient_id FROM v_pat ORDER BY patient_id LIMIT 40) p,
                 trialmatch.match_trials(p.patient_id, as_of) t, expect e
           WHERE e.trial_id = t.trial_id AND e.patient_id = p.patient_id
             AND e.status IS DISTINCT FROM t.status::text);
END $$;

-- 1. The issue's examples: 0.1 and 0.2 average to 0.15, and 1.1, 2.2, 3.3
-- to 2.2, in numeric (and, as numbers, in an integer column: 1, 2, 2 to
-- 1.6666666666666667); in float8 they do not, for SQL either.
INSERT INTO v_pat VALUES (1, '1970-01-01', 'F'), (2, '1970-01-01', 'M'), (3, '1970-01-01', 'F');
INSERT INTO v_num VALUES
  (1, 'X', '2026-05-01', 0.1, 'mmol/L'), (1, 'X', '2026-05-02', 0.2, 'mmol/L'),
  (2, 'X', '2026-05-01', 1.1, 'mmol/L'), (2, 'X', '2026-05-02', 2.2, 'mmol/L'), (2, 'X', '2026-05-03', 3.3, 'mmol/L'),
  (3, 'X', '2026-05-01', 1, 'mmol/L'), (3, 'X', '2026-05-02', 2, 'mmol/L'), (3, 'X', '2026-05-03', 2, 'mmol/L');
INSERT INTO v_int SELECT patient_id, code, t, v::int4, u FROM v_num WHERE patient_id = 3;
INSERT INTO v_flt SELECT patient_id, code, t, v::float8, u FROM v_num;
SELECT patient_id, avg(v) AS numeric_avg, avg(v) = 0.15 AS "= 0.15", avg(v) = 2.2 AS "= 2.2",
       avg(v::float8) AS float8_avg, avg(v::float8) = 0.15 AS "float8 = 0.15", avg(v::float8) = 2.2 AS "float8 = 2.2"
  FROM v_num GROUP BY 1 ORDER BY 1;
SELECT add_check('N_EQ_015', 'v_num', '= 0.15'), add_check('N_NE_015', 'v_num', '<> 0.15'),
       add_check('N_EQ_22', 'v_num', '= 2.2'), add_check('N_NE_22', 'v_num', '<> 2.2'),
       add_check('N_BETWEEN', 'v_num', 'between 0.15 and 2.2'),
       add_check('N_GT_22', 'v_num', '> 2.2'), add_check('N_LT_015', 'v_num', '< 0.15'),
       add_check('N_EQ_53', 'v_num', '= 1.6666666666666667'),
       add_check('N_LT_53', 'v_num', '< 1.66666666666666667'),
       add_check('I_EQ_53', 'v_int', '= 1.6666666666666667'),
       add_check('I_GT_53', 'v_int', '> 1.6666666666666666'),
       add_check('I_LT_53', 'v_int', '< 1.66666666666666667'),
       add_check('F_EQ_015', 'v_flt', '= 0.15'), add_check('F_EQ_015X', 'v_flt', '= 0.15000000000000002'),
       add_check('F_EQ_22', 'v_flt', '= 2.2'), add_check('F_NE_22', 'v_flt', '<> 2.2');
-- trialmatch and SQL side by side
SELECT c.trial_id, s.patient_id, s.a AS sql_avg, s.status AS sql, m.status AS trialmatch
  FROM checks c, sql_avg(c, '2026-06-01') s
  JOIN trialmatch.match_patients(c.trial_id, '2026-06-01') m USING (patient_id)
 ORDER BY 1, 2;
SELECT position, result, evidence FROM trialmatch.explain_match('N_EQ_015', 1, '2026-06-01');
SELECT position, result, evidence FROM trialmatch.explain_match('N_EQ_22', 2, '2026-06-01');
SELECT position, result, evidence FROM trialmatch.explain_match('I_EQ_53', 3, '2026-06-01');
SELECT position, result, evidence FROM trialmatch.explain_match('F_EQ_22', 2, '2026-06-01');
SELECT * FROM disagreements('2026-06-01');

-- 2. Unit conversions: value * factor + offset, exactly in numeric with
-- factor and offset as their cast to numeric gives them (0.0555 * 100 is
-- 5.55), in double precision for float8 columns.
INSERT INTO v_num VALUES
  (1, 'X', '2026-05-03', 100, 'mg/dL'), (1, 'X', '2026-05-04', 0.2, 'mmol/L'),   -- 0.1 0.2 5.55 0.2: 1.5125
  (2, 'X', '2026-05-04', 98.6, 'degF');  -- 98.6 * 0.555555555555556 - 17.7777777777778: 37.0000000000000216
INSERT INTO v_flt SELECT patient_id, code, t, v::float8, u FROM v_num WHERE u <> 'mmol/L' OR t = '2026-05-04';
SELECT add_check('U_N_EQ', 'v_num', '= 1.5125', 'mmol/L'), add_check('U_N_GT', 'v_num', '> 1.5125', 'mmol/L'),
       add_check('U_F_EQ', 'v_flt', '= 1.5125', 'mmol/L'),
       add_check('U_N_DEGC', 'v_num', '= 37.0000000000000216', 'degC'),
       add_check('U_F_DEGC', 'v_flt', '= 37', 'degC');
SELECT c.trial_id, s.patient_id, s.a AS sql_avg, s.status AS sql, m.status AS trialmatch
  FROM checks c, sql_avg(c, '2026-06-01') s
  JOIN trialmatch.match_patients(c.trial_id, '2026-06-01') m USING (patient_id)
 WHERE c.trial_id LIKE 'U%' ORDER BY 1, 2;
SELECT position, result, evidence FROM trialmatch.explain_match('U_N_EQ', 1, '2026-06-01');
SELECT * FROM disagreements('2026-06-01');

-- 3. Randomized differential check: 300 patients with 0-7 random values of
-- one or two decimals (some outside the window, in the future, NULL or
-- NaN), in numeric, int4 and float8; many trials "avg <op> X" with X taken
-- from the actual averages (rounded, and exact).  Zero disagreements, on
-- every path.
DELETE FROM trialmatch.criteria;
DELETE FROM trialmatch.trials;
TRUNCATE checks, v_num, v_int, v_flt;
INSERT INTO v_pat SELECT i, '1970-01-01', 'F' FROM generate_series(4, 300) i;
SELECT setseed(0.15);
INSERT INTO v_num
SELECT p, 'X', timestamptz '2026-06-01' - (random() * 400)::int * interval '1 day' + (random() < 0.03)::int * interval '30 days',
       CASE WHEN random() < 0.02 THEN NULL WHEN random() < 0.01 THEN 'NaN'
            ELSE round((random() * 12 - 2)::numeric, (1 + (random() < 0.5)::int)) END,
       CASE WHEN random() < 0.8 THEN 'mmol/L' ELSE 'mg/dL' END
  FROM generate_series(1, 300) p, generate_series(1, 7) k
 WHERE random() < 0.5;
INSERT INTO v_int SELECT patient_id, code, t, (v * 10)::int4 / 10, u FROM v_num WHERE v::text <> 'NaN';
INSERT INTO v_flt SELECT patient_id, code, t, v::float8, u FROM v_num;
-- filler rows of other codes: 'X' is a small share of each table (index ranges)
INSERT INTO v_num SELECT p, 'F' || (p % 9), '2026-05-01', p % 10, 'mmol/L' FROM generate_series(1, 300) p, generate_series(1, 60);
INSERT INTO v_int SELECT patient_id, code, t, v::int4, u FROM v_num WHERE code <> 'X';
INSERT INTO v_flt SELECT patient_id, code, t, v::float8, u FROM v_num WHERE code <> 'X';
-- X from the averages: exact, and rounded to 1 and 2 decimals; every
-- operator.  float8 averages are double sums whose last bit depends on the
-- order the rows are added, for PostgreSQL too (its plan, its parallel
-- workers): their X stay clear of the averages.
SELECT count(*) > 150 AS enough_checks FROM (
  SELECT add_check(format('R_%s_%s_%s', tab, i, op), tab,
                   CASE WHEN op = 'between' THEN format('between %s and %s', x, x::numeric + 0.1) ELSE op || ' ' || x END,
                   CASE WHEN i % 10 = 6 AND tab <> 'v_int' THEN 'mmol/L' END)
    FROM (SELECT tab, i, (ARRAY['=', '<>', '<', '<=', '>', '>=', 'between'])[1 + i % 7] AS op,
                 CASE WHEN tab = 'v_flt' THEN (round(a::numeric, 2) + 0.0031234)::text
                      WHEN i % 3 = 0 THEN a WHEN i % 3 = 1 THEN round(a::numeric, 1)::text
                      ELSE round(a::numeric, 2)::text END AS x
            FROM (SELECT 'v_num' AS tab, row_number() OVER (ORDER BY patient_id) AS i, avg(v)::text AS a
                    FROM v_num WHERE code = 'X' AND v::text <> 'NaN' AND t <= '2026-06-01' AND t >= '2025-06-01' GROUP BY patient_id
                  UNION ALL
                  SELECT 'v_int', row_number() OVER (ORDER BY patient_id), avg(v)::text
                    FROM v_int WHERE code = 'X' AND t <= '2026-06-01' AND t >= '2025-06-01' GROUP BY patient_id
                  UNION ALL
                  SELECT 'v_flt', row_number() OVER (ORDER BY patient_id), avg(v)::text
                    FROM v_flt WHERE code = 'X' AND v::text <> 'NaN' AND t <= '2026-06-01' AND t >= '2025-06-01' GROUP BY patient_id) a
           WHERE i % 5 = 1 AND a::text NOT IN ('NaN', 'Infinity', '-Infinity')) x) s;
-- every operator, with and without unit; close calls happen (some "=" hold)
SELECT count(DISTINCT split_part(test, ' ', 1)) AS operators, count(unit) > 20 AS with_unit,
       (SELECT count(*) FILTER (WHERE status = 'eligible') > 5
          FROM checks c, sql_avg(c, '2026-06-01') s WHERE c.test LIKE '= %') AS some_equal_true
  FROM checks;
-- serial, whole tables
SET trialmatch.max_parallel_workers = 0;
SELECT * FROM disagreements('2026-06-01');
-- parallel workers, whole tables
SET min_parallel_table_scan_size = 0;
SET trialmatch.max_parallel_workers = 2;
SELECT * FROM disagreements('2026-06-01', population_only => true);
-- index ranges, serial and shared among workers
CREATE INDEX ON v_num (code, t);
CREATE INDEX ON v_int (code, t);
CREATE INDEX ON v_flt (code, t);
ANALYZE v_num, v_int, v_flt;
SET trialmatch.max_parallel_workers = 0;
SELECT * FROM disagreements('2026-06-01');
SET trialmatch.max_parallel_workers = 2;
SELECT * FROM disagreements('2026-06-01', population_only => true);
RESET min_parallel_table_scan_size;
RESET trialmatch.max_parallel_workers;

-- 4. Values too wide for an exact 38-digit sum fall back to double
-- precision for that patient only; +-Infinity as before.
DELETE FROM trialmatch.criteria;
DELETE FROM trialmatch.trials;
TRUNCATE checks, v_num;
INSERT INTO v_num VALUES
  (1, 'X', '2026-05-01', 1e38, 'u'), (1, 'X', '2026-05-02', 3e38, 'u'),
  (2, 'X', '2026-05-01', 'Infinity', 'u'), (2, 'X', '2026-05-02', 5, 'u'),
  (3, 'X', '2026-05-01', 0.000000000000000000000000000000000000001, 'u'),
  (3, 'X', '2026-05-02', 0.000000000000000000000000000000000000003, 'u');
SELECT add_check('W_GT', 'v_num', '> 1e38'), add_check('W_EQ', 'v_num', '= 2e38'),
       add_check('W_TINY', 'v_num', 'between 1e-39 and 3e-39');
SELECT c.trial_id, s.patient_id, s.a AS sql_avg, s.status AS sql, m.status AS trialmatch
  FROM checks c, sql_avg(c, '2026-06-01') s
  JOIN trialmatch.match_patients(c.trial_id, '2026-06-01') m USING (patient_id)
 WHERE s.patient_id <= 3 ORDER BY 1, 2;
SELECT position, result, evidence FROM trialmatch.explain_match('W_GT', 1, '2026-06-01');
SELECT position, result, evidence FROM trialmatch.explain_match('W_GT', 2, '2026-06-01');

-- leave the catalog empty for the next test
DELETE FROM trialmatch.trials;
DELETE FROM trialmatch.sources;
DELETE FROM trialmatch.patient_source;
DELETE FROM trialmatch.unit_conversions;
DROP TABLE v_pat, v_num, v_int, v_flt, checks, expect CASCADE;
DROP FUNCTION add_check(text, text, text, text);
