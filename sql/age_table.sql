-- Whole years of age for a population of 65,536 patients or more come from
-- a table of the ages of the last 150 years' birth dates, built once per
-- call (src/eval.c, age_years): the same answers as PostgreSQL's age()
-- for every birth date from 1860 to 2051, around every birthday, on 29
-- February, before the table's first date and after as_of, and for an as_of
-- whose 150 years before reach past the calendar's start (no table).
SET timezone = 'UTC';
CREATE TABLE age_pat (patient_id int8 PRIMARY KEY, birth_date date, sex text);
INSERT INTO age_pat SELECT i, date '1860-01-01' + (i - 1), 'F' FROM generate_series(1, 70000) i;
SELECT min(birth_date), max(birth_date) FROM age_pat;
SELECT trialmatch.set_patients('age_pat');
INSERT INTO trialmatch.trials (trial_id) VALUES ('AGE');
INSERT INTO trialmatch.criteria VALUES
  ('AGE', 1, 'inclusion', 'born', 'age >= 0'),
  ('AGE', 2, 'inclusion', 'adult', 'age >= 18'),
  ('AGE', 3, 'inclusion', '40-65', 'age between 40 and 65'),
  ('AGE', 4, 'exclusion', '100+', 'age >= 100'),
  ('AGE', 5, 'exclusion', '149+', 'age >= 149'),
  ('AGE', 6, 'exclusion', '150+', 'age > 149');
-- the criteria each patient fails, by age(): rows that differ
CREATE FUNCTION age_diff(as_of date) RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*)
    FROM trialmatch.match_patients('AGE', as_of) m
    JOIN age_pat p USING (patient_id),
         LATERAL (SELECT extract(year FROM age(as_of, p.birth_date))::int AS y) a
   WHERE m.failed IS DISTINCT FROM
         ARRAY(SELECT label FROM (VALUES (1, 'born', a.y < 0), (2, 'adult', a.y < 18),
                                         (3, '40-65', a.y NOT BETWEEN 40 AND 65),
                                         (4, '100+', a.y >= 100), (5, '149+', a.y >= 149),
                                         (6, '150+', a.y > 149)) v(pos, label, fails)
                WHERE fails ORDER BY pos)
$$;
SELECT as_of, age_diff(as_of) AS differences
  FROM unnest(ARRAY[date '2026-11-01', '2024-02-29', '2023-02-28', '2023-03-01',
                    '2024-12-31', '2025-01-01', '2000-02-29', '4650-06-01 BC']) AS as_of;
-- a sample of the answers, so that a blanket failure shows too
SELECT status, count(*) FROM trialmatch.match_patients('AGE', '2024-02-29') GROUP BY 1 ORDER BY 1;
SELECT m.patient_id, p.birth_date, m.status, m.failed
  FROM trialmatch.match_patients('AGE', '2024-02-29') m JOIN age_pat p USING (patient_id)
 WHERE p.birth_date IN ('1874-02-28', '1874-03-01', '1875-02-28', '1875-03-01',
                        '1959-02-28', '1959-03-01', '1984-02-29', '2006-02-28', '2006-03-01',
                        '2024-02-29', '2024-03-01')
 ORDER BY 1;
DELETE FROM trialmatch.criteria WHERE trial_id = 'AGE';
DELETE FROM trialmatch.trials WHERE trial_id = 'AGE';
DROP FUNCTION age_diff(date);
