-- Criteria language 1.1, part 2: time (SPEC 7.2, 7.3, issue 10).
-- Hand-made data, one trial per criterion (a single inclusion, so that
-- eligible/ineligible/indeterminate read as true/false/unknown), and the
-- answers worked out by hand for patients 1..6, written as t/f/u strings
-- (patient 1 first) next to each criterion.  as_of is 2026-06-01 00:00 UTC.
SET timezone = 'UTC';
CREATE TABLE t_pat (patient_id int8 PRIMARY KEY, birth_date date, sex text);
INSERT INTO t_pat VALUES (1, '1980-01-01', 'F'), (2, '1980-01-01', 'M'), (3, '1980-01-01', NULL),
  (4, '1980-01-01', 'F'), (5, '1980-01-01', 'M'), (6, '1980-01-01', 'F'), (7, '1980-01-01', 'F');
CREATE TABLE t_dx (patient_id int8, code text, t timestamptz);
CREATE TABLE t_lab (patient_id int8, code text, t timestamptz, v numeric);
CREATE TABLE t_med (patient_id int8, code text, s timestamptz, e timestamptz);
CREATE TABLE t_visit (patient_id int8, code int4, s timestamptz, e timestamptz);
SELECT trialmatch.set_patients('t_pat');
SELECT trialmatch.add_source('diagnosis', 't_dx', time_column => 't');
SELECT trialmatch.add_source('lab', 't_lab', time_column => 't', value_column => 'v');
SELECT trialmatch.add_source('medication', 't_med', time_column => 's', end_time_column => 'e');
SELECT trialmatch.add_source('visit', 't_visit', time_column => 's', end_time_column => 'e');

-- C01 over 12 months ago = (-infinity, 2025-06-01 00:00]:       t f t f f f
INSERT INTO t_dx VALUES (1, 'J45.0', '2025-06-01 00:00'), (2, 'J45.1', '2025-06-01 00:00:01'),
  (3, 'J45', '2020-01-01'), (3, 'J45', '2026-01-01');
-- C02 between 3 months and 1 year ago = [2025-06-01, 2026-03-01]: t f u u u t
-- (p2: 8 falls after the window, 6 inside fails; p3: just before it;
--  p4: no lab; p5: a NULL value is not usable)
INSERT INTO t_lab VALUES (1, '4548-4', '2026-03-01 00:00', 7.5),
  (2, '4548-4', '2026-03-01 00:00:01', 8), (2, '4548-4', '2025-06-01 00:00', 6),
  (3, '4548-4', '2025-05-31 23:59', 9), (5, '4548-4', '2025-12-01', NULL),
  (6, '4548-4', '2025-06-01 00:00', 7);
-- C03 between 1 year and 3 months ago: lo > hi, empty: even an
--     interval spanning it does not count:                        f f f f f f
-- C04 between 3 months and 1 year ago, intervals overlap it:      t t t t f f
-- C05 active for 3 months gap 30 days (from 2026-03-01):          t t f t f f
--     (p2: a gap of exactly 30 days merges; p3: one second more does not;
--      p4: the interval holds both ends exactly)
-- C06 active for 3 months (gap 0):                                t f f t f f
INSERT INTO t_med VALUES (1, 'A10BA02', '2024-01-01', NULL),
  (2, 'A10BA02', '2026-01-01', '2026-02-01'), (2, 'A10BA02', '2026-03-03', NULL),
  (3, 'A10BA02', '2026-01-01', '2026-02-01'), (3, 'A10BA02', '2026-03-03 00:00:01', NULL),
  (4, 'A10BA02', '2026-03-01', '2026-06-01'), (5, 'A10BA02', '2026-03-01 00:00:01', NULL),
  (6, 'A10BA02', '2024-01-01', '2025-05-31');
-- C07 active for 3 months, touching intervals merge with gap 0:   t f f f f f
INSERT INTO t_med VALUES (1, 'A10BB01', '2026-01-01', '2026-03-15'), (1, 'A10BB01', '2026-03-15', NULL),
  (2, 'A10BB01', '2026-01-01', '2026-03-15'), (2, 'A10BB01', '2026-03-15 00:00:01', NULL);
-- C08 within 1 year days > 28:                                    t t f f f f
-- (p1: 05-01..06-01 is 32 dates, the open end stops at as_of; p2: 29 dates
--  (06-01 00:00 touches 06-01); p3: 28; p4: clipped to the window's start
--  2025-06-01, 1 date; p5: 15 + 15 overlapping dates are 19; p6: after as_of)
INSERT INTO t_med VALUES (1, 'J04AK05', '2026-05-01', NULL),
  (2, 'J04AK05', '2026-05-04 12:00', '2026-06-01 00:00'), (3, 'J04AK05', '2026-05-05', '2026-06-01'),
  (4, 'J04AK05', '2025-01-01', '2025-06-01 10:00'),
  (5, 'J04AK05', '2026-04-01', '2026-04-15'), (5, 'J04AK05', '2026-04-05', '2026-04-19'),
  (6, 'J04AK05', '2026-07-01', NULL);
-- C09 within 2 years days >= 2:                                   f t t f f f
-- (p1: two events the same day; p3: one exactly on the window's start)
INSERT INTO t_dx VALUES (1, 'I10', '2026-01-01 08:00'), (1, 'I10', '2026-01-01 20:00'),
  (2, 'I10', '2026-01-01'), (2, 'I10', '2026-01-02'),
  (3, 'I10', '2024-06-01 00:00'), (3, 'I10', '2026-01-01'),
  (4, 'I10', '2024-05-31 23:59'), (4, 'I10', '2026-01-01');
-- C10 within 1 year days where value >= 140 >= 2:                 t f f f f f
INSERT INTO t_lab VALUES (1, '8480-6', '2026-01-01', 150), (1, '8480-6', '2026-01-02', 120),
  (1, '8480-6', '2026-01-03', 145),
  (2, '8480-6', '2026-01-01', 150), (2, '8480-6', '2026-01-02', 120), (2, '8480-6', '2026-01-03', NULL),
  (3, '8480-6', '2026-01-01 08:00', 140), (3, '8480-6', '2026-01-01 09:00', 141);
-- C11 within 6 months new (window from 2025-12-01):               t f f f f f
-- C12 new, no window: some matching event:                        t t f f t f
-- (p1: first exactly on the window's start; p2: an earlier one; p4: only
--  after as_of; p5: an interval that started before the window)
INSERT INTO t_med VALUES (1, 'H03AA01', '2025-12-01', NULL),
  (2, 'H03AA01', '2025-11-30', '2025-12-30'), (2, 'H03AA01', '2026-02-01', NULL),
  (4, 'H03AA01', '2026-07-01', NULL), (5, 'H03AA01', '2025-11-01', '2026-05-01');
-- C13 medication 'H02AB%' up to 90 days after diagnosis 'J84%':   t f t t f f
-- (p1: exactly 90 days; p2: one second more; p3: the later of two J84s is
--  close enough; p4: the same instant; p5: the drug came first)
-- C14 medication 'H02AB%' after diagnosis 'J84%':                 t t t t f f
-- C15 diagnosis 'J84%' before medication 'H02AB%':                t t t t f f
-- C16 diagnosis 'J84%' up to 90 days before medication 'H02AB%':  t f t t f f
INSERT INTO t_dx VALUES (1, 'J84.1', '2026-01-01'), (2, 'J84.1', '2026-01-01'),
  (3, 'J84.1', '2025-06-01'), (3, 'J84.1', '2026-01-02'), (4, 'J84.1', '2026-02-01'),
  (5, 'J84.1', '2026-02-01');
INSERT INTO t_med VALUES (1, 'H02AB01', '2026-04-01', '2026-04-10'),
  (2, 'H02AB01', '2026-04-01 00:00:01', '2026-04-10'), (3, 'H02AB06', '2026-04-01 12:00', NULL),
  (4, 'H02AB01', '2026-02-01', '2026-02-02'), (5, 'H02AB01', '2026-01-01', '2026-01-05');
-- C17 diagnosis ('I20.0', 'I21%') within 6 months during visit 9201:  t t f t f t
-- (p2: at the visit's end; p3: one second after it, in another visit type;
--  p4: an open visit; p5: outside the 6 months; p6: at the visit's start)
INSERT INTO t_visit VALUES (1, 9201, '2026-05-01 08:00', '2026-05-03'), (2, 9201, '2026-05-01 08:00', '2026-05-03'),
  (3, 9201, '2026-05-01 08:00', '2026-05-03'), (3, 9202, '2026-05-03', '2026-05-10'),
  (4, 9201, '2026-04-01', NULL), (5, 9201, '2025-10-30', '2025-11-05'),
  (6, 9201, '2026-05-01 08:00', '2026-05-02');
INSERT INTO t_dx VALUES (1, 'I21.4', '2026-05-01 10:00'), (2, 'I21.4', '2026-05-03 00:00'),
  (3, 'I21.4', '2026-05-03 00:00:01'), (4, 'I20.0', '2026-05-20'), (5, 'I21.0', '2025-11-01'),
  (6, 'I21.0', '2026-05-01 08:00'), (6, 'I22', '2026-05-01 09:00');
-- C18 diagnosis 'Z34%' within 9 months not followed by
--     diagnosis ('Z37%', 'O0%'):                                  t f f t f t
-- (p3: an abortion code at the same instant follows; p4: a delivery before,
--  then a new pregnancy; p5: outside 9 months; p6: a delivery after as_of
--  does not count)
INSERT INTO t_dx VALUES (1, 'Z34.0', '2026-01-01'), (2, 'Z34.0', '2026-01-01'), (2, 'Z37.0', '2026-05-01'),
  (3, 'Z34.0', '2026-01-01'), (3, 'O03.9', '2026-01-01'), (4, 'Z37.0', '2025-12-01'), (4, 'Z34.0', '2026-01-01'),
  (5, 'Z34.0', '2025-08-01'), (6, 'Z34.0', '2026-01-01'), (6, 'Z37.0', '2026-07-01');
-- C19 at least 2 of (three antidepressant classes):               t f f f f f
INSERT INTO t_med VALUES (1, 'N06AB03', '2025-01-01', '2025-03-01'), (1, 'N06AX16', '2025-04-01', '2025-06-01'),
  (2, 'N06AB03', '2025-01-01', '2025-03-01'), (2, 'N06AB05', '2025-04-01', '2025-06-01');
-- C20 at least 2 of (lab '4548-4' within 1 year last >= 7, sex = 'F',
--     diagnosis 'E11%'), with UNKNOWNs:                           t f u t f t
-- (p1: T T F; p2: T F F; p3: U U F; p4: U T T; p5: U F F; p6: T T F)
INSERT INTO t_dx VALUES (4, 'E11.9', '2020-01-01');
-- C21 diagnosis 'T88.6' after medication 'L04AC%':                t f f f f f
-- C22 diagnosis 'J45.901' during medication 'R03BA%':             t f f f f f
INSERT INTO t_med VALUES (1, 'L04AC05', '2026-01-01', '2026-03-01'), (2, 'L04AC05', '2026-01-01', '2026-03-01'),
  (1, 'R03BA02', '2025-01-01', NULL), (2, 'R03BA02', '2025-01-01', '2025-06-01');
INSERT INTO t_dx VALUES (1, 'T88.6', '2026-02-01'), (2, 'T88.6', '2025-12-01'),
  (1, 'J45.901', '2026-01-01'), (2, 'J45.901', '2026-01-01');
-- C23 one row serves both sides: diagnosis 'I10' after diagnosis 'I10':  t t t t f f
-- C24 ACTIVE ignores a window, even an empty one (the A10BA02 rows above):  t t t t t f

INSERT INTO trialmatch.trials (trial_id) VALUES ('C01'), ('C02'), ('C03'), ('C04'), ('C05'), ('C06'),
  ('C07'), ('C08'), ('C09'), ('C10'), ('C11'), ('C12'), ('C13'), ('C14'), ('C15'), ('C16'), ('C17'),
  ('C18'), ('C19'), ('C20'), ('C21'), ('C22'), ('C23'), ('C24');
INSERT INTO trialmatch.criteria (trial_id, position, kind, label, expr) VALUES
  ('C01', 1, 'inclusion', 'asthma diagnosed at least 12 months ago', $$diagnosis 'J45%' over 12 months ago$$),
  ('C02', 1, 'inclusion', 'HbA1c >= 7 between 3 and 12 months ago', $$lab '4548-4' between 3 months and 1 year ago any >= 7$$),
  ('C03', 1, 'inclusion', 'empty window', $$medication 'A10BA02' between 1 year and 3 months ago$$),
  ('C04', 1, 'inclusion', 'metformin 3-12 months ago', $$medication 'A10BA02' between 3 months and 1 year ago$$),
  ('C05', 1, 'inclusion', 'metformin for at least 3 months', $$medication 'A10BA02' active for 3 months gap 30 days$$),
  ('C06', 1, 'inclusion', 'metformin 3 months, no gap', $$medication 'A10BA02' active for 3 months$$),
  ('C07', 1, 'inclusion', 'touching intervals', $$medication 'A10BB01' active for 3 months$$),
  ('C08', 1, 'inclusion', 'bedaquiline for more than 4 weeks', $$medication 'J04AK05' within 1 year days > 28$$),
  ('C09', 1, 'inclusion', '2 diagnoses on different days', $$diagnosis 'I10' within 2 years days >= 2$$),
  ('C10', 1, 'inclusion', 'SBP >= 140 on 2 days', $$lab '8480-6' within 1 year days where value >= 140 >= 2$$),
  ('C11', 1, 'inclusion', 'replacement started < 6 months ago', $$medication 'H03AA%' within 6 months new$$),
  ('C12', 1, 'inclusion', 'new without a window', $$medication 'H03AA%' new$$),
  ('C13', 1, 'inclusion', 'steroids within 90 days after ILD', $$medication 'H02AB%' up to 90 days after diagnosis 'J84%'$$),
  ('C14', 1, 'inclusion', 'steroids after ILD', $$medication 'H02AB%' after diagnosis 'J84%'$$),
  ('C15', 1, 'inclusion', 'ILD before steroids', $$diagnosis 'J84%' before medication 'H02AB%'$$),
  ('C16', 1, 'inclusion', 'ILD up to 90 days before steroids', $$diagnosis 'J84%' up to 90 days before medication 'H02AB%'$$),
  ('C17', 1, 'inclusion', 'unstable angina or AMI in hospital within 6 months', $$diagnosis ('I20.0', 'I21%') within 6 months during visit 9201$$),
  ('C18', 1, 'exclusion', 'pregnant', $$diagnosis 'Z34%' within 9 months not followed by diagnosis ('Z37%', 'O0%')$$),
  ('C19', 1, 'inclusion', 'failed >= 2 antidepressants of different classes', $$at least 2 of (medication 'N06AB%', medication 'N06AX%', medication 'N06AA%')$$),
  ('C20', 1, 'inclusion', '2 of 3, some unknown', $$at least 2 of (lab '4548-4' within 1 year last >= 7, sex = 'F', diagnosis 'E11%')$$),
  ('C21', 1, 'inclusion', 'anaphylaxis after a biologic', $$diagnosis 'T88.6' after medication 'L04AC%'$$),
  ('C22', 1, 'inclusion', 'exacerbation while on ICS', $$diagnosis 'J45.901' during medication 'R03BA%'$$),
  ('C23', 1, 'inclusion', 'one row on both sides', $$diagnosis 'I10' after diagnosis 'I10'$$),
  ('C24', 1, 'inclusion', 'active, empty window', $$medication 'A10BA02' between 1 year and 3 months ago active$$);

-- the canonical text of each
SELECT trial_id, trialmatch.check_expr(expr) FROM trialmatch.criteria
 WHERE trial_id LIKE 'C__' ORDER BY trial_id;

-- t/f/u per patient 1..6; for C18 (an exclusion) eligible means FALSE,
-- so its letters are flipped back to the criterion's value
CREATE FUNCTION t_letters(as_of timestamptz) RETURNS TABLE (trial_id text, answers text)
LANGUAGE sql AS $$
  SELECT t.trial_id,
         string_agg(CASE WHEN m.status = 'indeterminate' THEN 'u'
                         WHEN (m.status = 'eligible') <> (t.trial_id = 'C18') THEN 't' ELSE 'f' END,
                    ' ' ORDER BY m.patient_id)
    FROM trialmatch.trials t, trialmatch.match_patients(t.trial_id, as_of) m
   WHERE t.trial_id LIKE 'C__' AND m.patient_id <= 6
   GROUP BY t.trial_id ORDER BY t.trial_id
$$;
-- the same from explain_match, one patient at a time (the single-patient path)
CREATE FUNCTION t_letters_single(as_of timestamptz) RETURNS TABLE (trial_id text, answers text)
LANGUAGE sql AS $$
  SELECT t.trial_id, string_agg(left(e.result, 1), ' ' ORDER BY p)
    FROM trialmatch.trials t, generate_series(1, 6) p,
         trialmatch.explain_match(t.trial_id, p, as_of) e
   WHERE t.trial_id LIKE 'C__'
   GROUP BY t.trial_id ORDER BY t.trial_id
$$;

SET min_parallel_table_scan_size = 0;
SET trialmatch.max_parallel_workers = 0;
CREATE TEMP TABLE l0 AS SELECT * FROM t_letters('2026-06-01');
TABLE l0;
SET trialmatch.max_parallel_workers = 1;
CREATE TEMP TABLE l1 AS SELECT * FROM t_letters('2026-06-01');
SET trialmatch.max_parallel_workers = 2;
CREATE TEMP TABLE l2 AS SELECT * FROM t_letters('2026-06-01');
CREATE TEMP TABLE ls AS SELECT * FROM t_letters_single('2026-06-01');
-- every construct gives the same answers with 0, 1 and 2 workers and one
-- patient at a time
SELECT count(*) AS differences FROM (
  (TABLE l0 EXCEPT TABLE l1) UNION ALL (TABLE l0 EXCEPT TABLE l2) UNION ALL
  (TABLE l0 EXCEPT TABLE ls) UNION ALL (TABLE ls EXCEPT TABLE l0)) d;
RESET trialmatch.max_parallel_workers;
RESET min_parallel_table_scan_size;

-- evidence: the pair of events, the merged interval, the number of days
SELECT e.trial_id, p, e.result, e.evidence
  FROM (VALUES ('C01', 1), ('C03', 1), ('C05', 2), ('C05', 3), ('C08', 2), ('C08', 5), ('C09', 1),
               ('C10', 1), ('C11', 1), ('C11', 2), ('C12', 3), ('C13', 1), ('C13', 2), ('C15', 3),
               ('C16', 4), ('C17', 2), ('C17', 4), ('C18', 1), ('C18', 3), ('C18', 4), ('C19', 1),
               ('C20', 3), ('C23', 1)) v(trial_id, p),
       LATERAL (SELECT v.trial_id, x.result, x.evidence
                  FROM trialmatch.explain_match(v.trial_id, v.p, '2026-06-01') x) e
 ORDER BY 1, 2;

-- DST: days counts calendar dates in the session time zone.  In New York
-- 2026-03-08 has 23 hours and 2026-11-01 25: two events 23 hours apart on
-- each are one date there, two dates in UTC.
INSERT INTO t_dx VALUES (1, 'DST', '2026-03-08 00:30 America/New_York'), (1, 'DST', '2026-03-08 23:30 America/New_York'),
  (2, 'DST', '2026-11-01 00:30 America/New_York'), (2, 'DST', '2026-11-01 23:30 America/New_York'),
  (3, 'DST', '2026-03-07 12:00 America/New_York'), (3, 'DST', '2026-03-08 12:00 America/New_York');
INSERT INTO trialmatch.trials (trial_id) VALUES ('DST');
INSERT INTO trialmatch.criteria (trial_id, position, kind, label, expr) VALUES
  ('DST', 1, 'inclusion', 'two dates', $$diagnosis 'DST' days >= 2$$);
SET timezone = 'America/New_York';
-- p1 f, p2 f, p3 t
SELECT patient_id, status FROM trialmatch.match_patients('DST', '2026-12-01') WHERE patient_id <= 3 ORDER BY 1;
SELECT p, evidence FROM generate_series(1, 3) p, trialmatch.explain_match('DST', p, '2026-12-01') ORDER BY 1;
SET timezone = 'UTC';
-- p1 t, p2 t, p3 t
SELECT patient_id, status FROM trialmatch.match_patients('DST', '2026-12-01') WHERE patient_id <= 3 ORDER BY 1;

-- errors: a measure on a side of a relation, k out of range (42601);
-- ACTIVE FOR and the right side of DURING need an end column (42703)
\set VERBOSITY default
INSERT INTO trialmatch.criteria VALUES ('C01', 2, 'inclusion', 'x', $$diagnosis 'A' count >= 2 after diagnosis 'B'$$);
INSERT INTO trialmatch.criteria VALUES ('C01', 2, 'inclusion', 'x', $$diagnosis 'A' after lab 'B' last > 2$$);
INSERT INTO trialmatch.criteria VALUES ('C01', 2, 'inclusion', 'x', $$at least 0 of (diagnosis 'A', diagnosis 'B')$$);
INSERT INTO trialmatch.criteria VALUES ('C01', 2, 'inclusion', 'x', $$at least 3 of (diagnosis 'A', diagnosis 'B')$$);
INSERT INTO trialmatch.criteria VALUES ('C01', 2, 'inclusion', 'x', $$lab 'A' between 3 months and 1 year$$);
\set VERBOSITY sqlstate
INSERT INTO trialmatch.criteria VALUES ('C01', 2, 'inclusion', 'x', $$diagnosis 'A' count >= 2 after diagnosis 'B'$$);
INSERT INTO trialmatch.criteria VALUES ('C01', 2, 'inclusion', 'x', $$at least 3 of (diagnosis 'A', diagnosis 'B')$$);
INSERT INTO trialmatch.criteria VALUES ('C01', 2, 'inclusion', 'x', $$diagnosis 'A' active for 3 months$$);
INSERT INTO trialmatch.criteria VALUES ('C01', 2, 'inclusion', 'x', $$medication 'A' during diagnosis 'B'$$);
\set VERBOSITY default
INSERT INTO trialmatch.criteria VALUES ('C01', 2, 'inclusion', 'x', $$diagnosis 'A' active for 3 months$$);
INSERT INTO trialmatch.criteria VALUES ('C01', 2, 'inclusion', 'x', $$medication 'A' during diagnosis 'B'$$);

-- A patient with a million events, work_mem at its minimum: the event
-- times are sorted on disk, the answers are exact.  One event (ending when
-- it starts) every 5 minutes back from as_of, 1,000,000 of them, reaching
-- back to 2016-12; the window of 9 years starts 2017-06-01, and every date
-- from there to 2026-06-01 (as_of itself is an event) has events: 3288
-- dates.  The events are 5 minutes apart: merged only with a gap.
CREATE TABLE t_bulk (patient_id int8, code text, t timestamptz, e timestamptz);
INSERT INTO t_bulk SELECT 7, 'MANY', timestamptz '2026-06-01' - i * interval '5 minutes',
       timestamptz '2026-06-01' - i * interval '5 minutes'
  FROM generate_series(0, 999999) i;
SELECT trialmatch.add_source('bulk', 't_bulk', time_column => 't', end_time_column => 'e');
SELECT count(DISTINCT t::date) AS dates_in_window FROM t_bulk WHERE t >= '2017-06-01';
INSERT INTO trialmatch.trials (trial_id) VALUES ('BULK');
INSERT INTO trialmatch.criteria (trial_id, position, kind, label, expr) VALUES
  ('BULK', 1, 'inclusion', 'days', $$bulk 'MANY' within 9 years days >= 3288$$),
  ('BULK', 2, 'inclusion', 'days +1', $$bulk 'MANY' within 9 years days >= 3289$$),
  ('BULK', 3, 'inclusion', 'active for, gaps', $$bulk 'MANY' active for 9 years gap 1 hour$$),
  ('BULK', 4, 'inclusion', 'active for', $$bulk 'MANY' active for 9 years$$),
  ('BULK', 5, 'inclusion', 'not followed', $$bulk 'MANY' not followed by bulk 'MANY'$$),
  ('BULK', 6, 'inclusion', 'up to 1 hour after', $$bulk 'MANY' up to 1 hour after bulk 'MANY' within 1 day$$);
SET work_mem = '64kB';
SELECT position, result, evidence FROM trialmatch.explain_match('BULK', 7, '2026-06-01');
SET min_parallel_table_scan_size = 0;
SET trialmatch.max_parallel_workers = 0;
SELECT * FROM trialmatch.attrition('BULK', '2026-06-01');
SET trialmatch.max_parallel_workers = 2;
SELECT * FROM trialmatch.attrition('BULK', '2026-06-01');
RESET trialmatch.max_parallel_workers;
RESET min_parallel_table_scan_size;
RESET work_mem;

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
