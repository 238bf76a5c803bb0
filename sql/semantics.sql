-- Semantics of the criteria language (SPEC section 4), one construct at a
-- time, through explain_match (the single-patient, index path); at the end
-- every expression is also run through match_patients (the population,
-- sequential-scan path) and the two must agree for every patient.
SET timezone = 'UTC';

-- patients: int4 ids, date birth dates, varchar sex
CREATE TABLE s_pat (id int4 PRIMARY KEY, born date, sex varchar(3));
INSERT INTO s_pat VALUES
  (1, '2008-06-15', 'F'),   -- 18 on the as_of date
  (2, '2008-06-16', 'M'),   -- 18 the day after
  (3, NULL, NULL),
  (4, '2000-02-29', 'F'),   -- leap-day birthday
  (5, '1950-01-01', 'M');   -- no events at all

-- labs: text codes, timestamptz, numeric values with units
CREATE TABLE s_lab (pid int8, code text, t timestamptz, v numeric, u text);
CREATE INDEX ON s_lab (pid);
INSERT INTO s_lab VALUES
  (1, 'A1', '2026-06-15 12:00:00+00'::timestamptz - interval '30 days', 5, '%'),  -- exactly 30 days before
  (1, 'A1', '2026-05-16 11:59:59.999999+00', 50, '%'),                              -- 1 microsecond earlier
  (1, 'A1', '2026-06-15 12:00:00.000001+00', 99, '%'),                              -- after as_of
  (1, 'A1', '2026-06-01 00:00+00', 7, '%'),
  (2, 'A1', '2026-06-01 00:00+00', 3, '%'),      -- a tie: same time,
  (2, 'A1', '2026-06-01 00:00+00', 4, '%'),      -- the larger value wins
  (2, 'A1', '2026-05-01 00:00+00', 10, '%'),
  (2, 'A1', '2026-06-10 00:00+00', NULL, '%'),   -- NULL value
  (NULL, 'A1', '2026-06-01 00:00+00', 1, '%'),   -- NULL patient
  (3, NULL, '2026-06-01 00:00+00', 1, '%'),      -- NULL code
  (3, 'A1', NULL, 1, '%'),                       -- NULL time
  (4, 'A1', '2026-06-01 00:00+00', 'NaN', '%'),  -- NaN value
  (4, 'INF', '2026-06-01 00:00+00', 'Infinity', NULL),
  (1, 'B_1', '2026-06-01 00:00+00', 1, NULL),
  (2, 'BX1', '2026-06-01 00:00+00', 1, NULL),
  (1, 'C%D', '2026-06-01 00:00+00', 1, NULL),
  (1, 'GLU', '2026-06-01 00:00+00', 7, 'mmol/L'),
  (2, 'GLU', '2026-06-01 00:00+00', 130, 'mg/dL'),
  (3, 'GLU', '2026-06-01 00:00+00', 100, NULL),
  (4, 'GLU', '2026-06-01 00:00+00', 5, 'mmol/l'),
  (4, 'GLU2', '2026-06-01 00:00+00', 5, 'mmol/L'),
  (1, 'TEMP', '2026-06-01 00:00+00', 212, 'degF'),
  (1, 'M1', '2026-02-28 12:00+00', 1, NULL);
-- medications: varchar codes, date start and end
CREATE TABLE s_med (pid int8, drug varchar, started date, ended date);
INSERT INTO s_med VALUES
  (1, 'insulin glargine', '2026-01-01', NULL),
  (2, 'insulin lispro', '2025-01-01', '2026-06-15'),
  (4, 'metformin', '2020-01-01', '2020-12-31'),
  (5, 'insulin x', '2026-07-01', NULL),
  (3, 'warfarin', '2020-01-01', 'infinity'),     -- an end date of infinity: ongoing
  (3, 'aspirin', '-infinity', '2019-01-01');
-- conditions: int8 concept ids, timestamp without time zone, float8 values
CREATE TABLE s_cond (pid int8, concept int8, t timestamp, v float8);
CREATE INDEX ON s_cond (pid);
INSERT INTO s_cond VALUES
  (1, 201826, '2026-06-01 00:00', 1),
  (1, 443238, '2026-06-01 00:00', 2),
  (2, 201826, '2026-06-16 00:00', 1),
  (4, 201826, '2026-06-15 10:00', 1);
-- observations: int4 patient and concept ids, int4 values
CREATE TABLE s_obs (pid int4, concept int4, t timestamptz, v int4);
CREATE INDEX ON s_obs (pid);
INSERT INTO s_obs VALUES (1, 5, '2026-06-01', 2), (2, 5, '2026-06-01', 3), (2, 6, '2026-06-02', 4);

SELECT trialmatch.set_patients('s_pat', id_column => 'id', birth_date_column => 'born', sex_column => 'sex');
SELECT trialmatch.add_source('lab', 's_lab', patient_column => 'pid', code_column => 'code', time_column => 't',
                             value_column => 'v', unit_column => 'u');
SELECT trialmatch.add_source('med', 's_med', patient_column => 'pid', code_column => 'drug',
                             time_column => 'started', end_time_column => 'ended');
SELECT trialmatch.add_source('cond', 's_cond', patient_column => 'pid', code_column => 'concept',
                             time_column => 't', value_column => 'v');
SELECT trialmatch.add_source('obs', 's_obs', patient_column => 'pid', code_column => 'concept',
                             time_column => 't', value_column => 'v');
INSERT INTO trialmatch.unit_conversions VALUES
  ('GLU', 'mmol/L', 'mg/dL', 18, 0),
  ('TEMP', 'degF', 'degC', 5.0 / 9, -160.0 / 9);
INSERT INTO trialmatch.trials (trial_id) VALUES ('S');

-- ev(expr, patient, as_of): result and evidence of one criterion
CREATE TABLE s_tested (expr text, as_of timestamptz);
CREATE FUNCTION ev(expr text, pid bigint, as_of timestamptz DEFAULT '2026-06-15 12:00+00')
RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
  DELETE FROM trialmatch.criteria WHERE trial_id = 'S';
  INSERT INTO trialmatch.criteria VALUES ('S', 1, 'inclusion', 'c', expr);
  INSERT INTO s_tested VALUES (expr, as_of);
  SELECT e.result || ' | ' || e.evidence INTO r FROM trialmatch.explain_match('S', pid, as_of) e;
  RETURN r;
END $$;
-- all five patients at once
CREATE FUNCTION ev5(expr text, as_of timestamptz DEFAULT '2026-06-15 12:00+00')
RETURNS TABLE (patient int, result text) LANGUAGE sql AS $$
  SELECT p, ev(expr, p, as_of) FROM generate_series(1, 5) p
$$;

-- three-valued logic: every corner of NOT, AND, OR
SELECT a, b, split_part(ev(a || ' and ' || b, 5), ' |', 1) AS "and",
             split_part(ev(a || ' or ' || b, 5), ' |', 1) AS "or"
  FROM (VALUES ('true'), ('false'), ('unknown')) x(a), (VALUES ('true'), ('false'), ('unknown')) y(b)
 ORDER BY 1, 2;
SELECT a, split_part(ev('not ' || a, 5), ' |', 1) AS "not"
  FROM (VALUES ('true'), ('false'), ('unknown')) x(a) ORDER BY 1;
SELECT ev('not (unknown and false) or unknown', 5);
SELECT ev('unknown', 5);

-- age: whole years on the as_of date; birthdays; leap days; NULL
SELECT * FROM ev5('age >= 18');
SELECT * FROM ev5('age between 18 and 18');
SELECT ev('age = 25', 4, '2026-02-28 23:59+00'), ev('age = 26', 4, '2026-03-01 00:00+00');
SELECT extract(year FROM age('2026-02-28', '2000-02-29'::date)) AS pg_age_feb28,
       extract(year FROM age('2026-03-01', '2000-02-29'::date)) AS pg_age_mar1;
-- a birth after as_of: age() counts minus the whole years
SELECT ev('age = 0', 1, '2008-02-15 12:00+00'), ev('age = -2', 1, '2006-01-01 12:00+00');
SELECT extract(year FROM age('2008-02-15', '2008-06-15'::date)) AS pg_age_before_birth,
       extract(year FROM age('2006-01-01', '2008-06-15'::date)) AS pg_age_2_years_before;
-- the as_of date is taken in the session time zone
SET timezone = 'America/New_York';
SELECT ev('age >= 18', 1, '2026-06-15 02:00+00');
SET timezone = 'UTC';
SELECT ev('age >= 18', 1, '2026-06-15 02:00+00');

-- sex: exact, case-sensitive; NULL is unknown
SELECT * FROM ev5($$sex = 'F'$$);
SELECT * FROM ev5($$sex in ('M', 'X')$$);
SELECT ev($$sex = 'f'$$, 1);

-- windows: exactly N days counts, a microsecond earlier does not, after as_of never
SELECT ev($$lab 'A1' within 30 days count >= 0$$, 1);
SELECT ev($$lab 'A1' within 30 days min < 100$$, 1);
SELECT ev($$lab 'A1' within 31 days max < 100$$, 1);
SELECT ev($$lab 'A1' count = 3$$, 1);
SELECT ev($$lab 'A1' within 720 hours count = 2$$, 1);
SELECT ev($$lab 'A1' within 4 weeks count = 1$$, 1);
-- calendar months and years: 2026-03-31 minus 1 month is 2026-02-28
SELECT ev($$lab 'M1' within 1 month$$, 1, '2026-03-31 12:00+00');
SELECT ev($$lab 'M1' within 1 month$$, 1, '2026-03-31 12:00:00.000001+00');
SELECT ev($$lab 'M1' within 30 days$$, 1, '2026-03-31 12:00+00');
SELECT ev($$lab 'M1' within 1 year$$, 1, '2027-02-28 12:00+00');
SELECT ev($$lab 'M1' within 1 year$$, 1, '2027-02-28 12:01+00');
SELECT ev($$lab 'M1' within 2 years$$, 1, '2028-02-29 12:00+00');
SELECT ev($$lab 'M1'$$, 1, '2026-02-28 11:59+00');

-- measures and ties
SELECT * FROM ev5($$lab 'A1' within 60 days last > 5$$);
SELECT * FROM ev5($$lab 'A1' within 60 days first > 5$$);
SELECT * FROM ev5($$lab 'A1' within 30 days avg = 6$$);
SELECT * FROM ev5($$lab 'A1' within 30 days any > 6$$);
SELECT * FROM ev5($$lab 'A1' within 30 days any > 7$$);
SELECT * FROM ev5($$lab 'A1' count where value > 4 >= 2$$);
SELECT * FROM ev5($$lab 'A1' within 30 days count where value between 3 and 7 = 2$$);
SELECT ev($$lab 'INF' last > 1e308$$, 4);

-- codes: exact and case-sensitive; only a trailing % is special
SELECT * FROM ev5($$lab 'B_1'$$);
SELECT * FROM ev5($$lab 'B_%'$$);
SELECT * FROM ev5($$lab 'B%'$$);
SELECT ev($$lab 'b_1'$$, 1), ev($$lab 'C%D'$$, 1), ev($$lab 'C%'$$, 1), ev($$lab 'C'$$, 1);
SELECT ev($$lab ('A1', 'B%') except 'A1'$$, 1), ev($$lab ('A1', 'B%') except ('A%', 'B%')$$, 1);
SELECT ev($$lab '%'$$, 5), ev($$lab '%' count = 8$$, 1);

-- units: same unit as is; converted through unit_conversions on the event's
-- own code; otherwise (no conversion, NULL unit, other case) not usable
SELECT * FROM ev5($$lab 'GLU' last > 100 unit 'mg/dL'$$);
SELECT * FROM ev5($$lab 'GLU' last > 100$$);
SELECT ev($$lab 'GLU2' last > 1 unit 'mg/dL'$$, 4);
SELECT ev($$lab 'TEMP' last between 99.999 and 100.001 unit 'degC'$$, 1);
SELECT ev($$lab ('GLU', 'TEMP') max > 100 unit 'mg/dL'$$, 1);

-- spans: an event with an end time counts when its span overlaps the window
SELECT * FROM ev5($$med 'insulin%'$$);
SELECT * FROM ev5($$med 'insulin%' active$$);
SELECT ev($$med 'insulin%' active$$, 2, '2026-06-15 00:00+00');
SELECT ev($$med 'metformin' within 6 years$$, 4), ev($$med 'metformin' within 5 years$$, 4);
SELECT ev($$med 'metformin' within 1 year$$, 4), ev($$med 'metformin' active$$, 4);
SELECT ev($$med 'warfarin' active$$, 3), ev($$med 'warfarin' within 1 day$$, 3), ev($$med 'aspirin' within 10 years$$, 3);

-- integer codes (int8 and int4 columns), timestamp without time zone
SELECT * FROM ev5('cond 201826');
SELECT ev('cond (201826, 443238) except 443238', 1), ev('cond 443238 last = 2', 1);
SELECT ev('obs 5 any >= 3', 2), ev('obs (5, 6) last = 4', 2), ev('obs 7', 2);
-- timestamp columns are read in the session time zone: 10:00 in New York is
-- 14:00 UTC, after as_of
SELECT ev('cond 201826', 4);
SET timezone = 'America/New_York';
SELECT ev('cond 201826', 4);
SET timezone = 'UTC';

-- the population path agrees with the single-patient path everywhere
CREATE FUNCTION agree() RETURNS TABLE (checked bigint, disagreements bigint) LANGUAGE plpgsql AS $$
DECLARE x record; n bigint := 0; bad bigint := 0; d bigint;
BEGIN
  FOR x IN SELECT DISTINCT expr, as_of FROM s_tested ORDER BY 1, 2 LOOP
    DELETE FROM trialmatch.criteria WHERE trial_id = 'S';
    INSERT INTO trialmatch.criteria VALUES ('S', 1, 'inclusion', 'c', x.expr);
    SELECT count(*) INTO d
      FROM trialmatch.match_patients('S', x.as_of) m
      JOIN LATERAL trialmatch.explain_match('S', m.patient_id, x.as_of) e ON true
     WHERE m.status::text <> CASE e.result WHEN 'true' THEN 'eligible' WHEN 'false' THEN 'ineligible'
                                           ELSE 'indeterminate' END;
    IF d > 0 THEN RAISE NOTICE 'disagreement on %', x.expr; END IF;
    n := n + 1; bad := bad + d;
  END LOOP;
  RETURN QUERY SELECT n, bad;
END $$;
SELECT * FROM agree();

-- leave the catalog empty for the next test
DELETE FROM trialmatch.trials;
DELETE FROM trialmatch.sources;
DELETE FROM trialmatch.patient_source;
DELETE FROM trialmatch.unit_conversions;
