-- Calls repeated in one session: what a backend keeps from one call to the
-- next must depend on everything it was computed from.
--  * window starts (as_of minus a span, remembered across calls) depend on
--    the session time zone: the same as_of gives another start in another
--    zone when a DST change lies in between;
--  * the label arrays match_trials keeps with each trial follow changes of
--    the criteria (a new catalog), and a 33-criteria trial is not kept;
--  * atoms shared between trials (a hash of their keys) keep their own
--    windows.
SET timezone = 'UTC';
CREATE TABLE r_pat (patient_id int8 PRIMARY KEY, birth_date date, sex text);
INSERT INTO r_pat VALUES (1, '1980-01-01', 'F'), (2, '1980-01-01', 'M');
CREATE TABLE r_dx (patient_id int8, code text, t timestamptz);
SELECT trialmatch.set_patients('r_pat');
SELECT trialmatch.add_source('diagnosis', 'r_dx', time_column => 't');

-- as_of 2026-03-08 12:00 UTC is 08:00 EDT in New York, the morning DST began.
-- within 1 day: in UTC from 2026-03-07 12:00 UTC; in New York from
-- 2026-03-07 08:00 EST = 13:00 UTC.  Patient 1's event at 12:30 UTC is in
-- the UTC window only; patient 2's at 13:30 UTC is in both.
INSERT INTO r_dx VALUES (1, 'X1', '2026-03-07 12:30+00'), (2, 'X1', '2026-03-07 13:30+00');
INSERT INTO trialmatch.trials VALUES ('R1', 'one day', 'recruiting');
INSERT INTO trialmatch.criteria VALUES ('R1', 1, 'inclusion', 'X1 in a day', $$diagnosis 'X1' within 1 day$$);
SELECT patient_id, status FROM trialmatch.match_patients('R1', '2026-03-08 12:00+00') ORDER BY 1;
SET timezone = 'America/New_York';
SELECT patient_id, status FROM trialmatch.match_patients('R1', '2026-03-08 12:00+00') ORDER BY 1;
SELECT trial_id, status, failed FROM trialmatch.match_trials(1, '2026-03-08 12:00+00');
SET timezone = 'UTC';
SELECT trial_id, status, failed FROM trialmatch.match_trials(1, '2026-03-08 12:00+00');
-- and back: the answers of the first zone again
SET timezone = 'America/New_York';
SELECT trial_id, status, failed FROM trialmatch.match_trials(1, '2026-03-08 12:00+00');
SET timezone = 'UTC';

-- Shared atoms, different windows: 'X1' within 1 day and within 2 days
-- are two atoms, 'X1' within 1 day in two trials one.
INSERT INTO trialmatch.trials VALUES ('R2', 'two days', 'recruiting'), ('R3', 'one day again', 'recruiting');
INSERT INTO trialmatch.criteria VALUES ('R2', 1, 'inclusion', 'X1 in two days', $$diagnosis 'X1' within 2 days$$),
  ('R3', 1, 'exclusion', 'no X1 in a day', $$diagnosis 'X1' within 1 day$$);
SELECT * FROM trialmatch.match_trials(1, '2026-03-09 12:00+00') ORDER BY 1;
SELECT * FROM trialmatch.match_trials(1, '2026-03-08 12:00+00') ORDER BY 1;

-- Label arrays kept with a trial follow a changed label.
SELECT * FROM trialmatch.match_trials(2, '2026-03-10 12:00+00') ORDER BY 1;
UPDATE trialmatch.criteria SET label = 'X1 within one day' WHERE trial_id = 'R1';
SELECT * FROM trialmatch.match_trials(2, '2026-03-10 12:00+00') ORDER BY 1;

-- A trial of 33 criteria: its arrays are formed on every call.
DELETE FROM trialmatch.trials WHERE trial_id IN ('R2', 'R3');
INSERT INTO trialmatch.criteria
SELECT 'R1', k, 'inclusion', 'c' || k, CASE WHEN k % 2 = 0 THEN 'age >= 18' ELSE 'age >= 90' END
  FROM generate_series(2, 33) k;
SELECT trial_id, status, array_length(failed, 1) AS failed, failed[1:3] FROM trialmatch.match_trials(1, '2026-03-08 12:00+00');
SELECT trial_id, status, array_length(failed, 1) AS failed, failed[1:3] FROM trialmatch.match_trials(2, '2026-03-08 12:00+00');

-- A population call of 65,536 patients or more reads ages from a table of
-- the birth dates of the last 150 years: every birth date from 151 years
-- before as_of to 2 years after it (so 220 leap days, birthdays on as_of and
-- the day after, and dates outside the table), against age() in SQL.
DELETE FROM trialmatch.trials;
CREATE TABLE r_many (patient_id int8 PRIMARY KEY, birth_date date, sex text);
INSERT INTO r_many SELECT k, date '2026-03-08' - 55200 + k, 'F' FROM generate_series(1, 56000) k;
INSERT INTO r_many SELECT 56000 + k, date '1952-02-29' + (k % 3), 'M' FROM generate_series(1, 12000) k;
SELECT trialmatch.set_patients('r_many');
INSERT INTO trialmatch.trials VALUES ('AGE', 'ages', 'recruiting');
INSERT INTO trialmatch.criteria VALUES ('AGE', 1, 'inclusion', '18-75', 'age between 18 and 75'),
  ('AGE', 2, 'exclusion', '74', 'age = 74'), ('AGE', 3, 'exclusion', 'over 150', 'age > 150'),
  ('AGE', 4, 'exclusion', 'unborn', 'age < 0');
SELECT count(*) AS patients,
       count(*) FILTER (WHERE m.status = 'eligible') AS eligible,
       count(*) FILTER (WHERE (m.status = 'eligible') IS DISTINCT FROM
                              (a BETWEEN 18 AND 75 AND a <> 74)) AS wrong,
       count(*) FILTER (WHERE (m.failed @> '{over 150}') IS DISTINCT FROM (a > 150)) AS wrong_over_150,
       count(*) FILTER (WHERE (m.failed @> '{unborn}') IS DISTINCT FROM (a < 0)) AS wrong_unborn
  FROM trialmatch.match_patients('AGE', '2026-03-08 12:00+00') m
  JOIN (SELECT patient_id, extract(year FROM age(date '2026-03-08', birth_date))::int AS a FROM r_many) p
 USING (patient_id);
-- a call remembers a sex test's answers by sex code, for the last test
-- node: two criteria and two trials test sex in turns, over five codes.
-- F (1-5): SEXF eligible, SEXM ineligible (M or X); M (6-10) and X
-- (11-15): SEXF ineligible (F), SEXM eligible; NULL (16-20):
-- indeterminate in both; 'f' (21-25, another code): ineligible in both
UPDATE r_many SET sex = CASE (patient_id - 1) / 5 WHEN 0 THEN 'F' WHEN 1 THEN 'M' WHEN 2 THEN 'X'
                             WHEN 3 THEN NULL ELSE 'f' END
 WHERE patient_id <= 25;
INSERT INTO trialmatch.trials VALUES ('SEXF', 'F, not M', 'recruiting'), ('SEXM', 'M or X', 'recruiting');
INSERT INTO trialmatch.criteria VALUES ('SEXF', 1, 'inclusion', 'F', $$sex = 'F'$$),
  ('SEXF', 2, 'exclusion', 'M', $$sex = 'M'$$), ('SEXM', 1, 'inclusion', 'M or X', $$sex in ('M', 'X')$$);
SELECT trial_id, (patient_id - 1) / 5 AS grp, status, failed, unknown, count(*)
  FROM trialmatch.match_all('2026-03-08', '{SEXF,SEXM}') WHERE patient_id <= 25
 GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2;
SELECT (patient_id - 1) / 5 AS grp, status, failed, count(*)
  FROM trialmatch.match_patients('SEXF', '2026-03-08') WHERE patient_id <= 25
 GROUP BY 1, 2, 3 ORDER BY 1;
SELECT trialmatch.set_patients('r_pat');
DROP TABLE r_many;

-- leave the catalog empty for the tests that follow
DO $$
BEGIN
    DELETE FROM trialmatch.trials;
    PERFORM trialmatch.drop_source(name) FROM trialmatch.sources;
    DELETE FROM trialmatch.patient_source;
END
$$;
DROP TABLE r_dx, r_pat;
