-- NCT04567890  Add-on therapy in type 2 diabetes, as_of 2026-11-01 (session time zone).
--
--  1 incl  Age 18-75              age between 18 and 75
--  2 incl  Type 2 diabetes        diagnosis 'E11%'
--  3 incl  HbA1c 7.0-10.5%        lab '4548-4' within 180 days last between 7.0 and 10.5
--  4 excl  Insulin in last 90 d   medication 'insulin%' within 90 days
--  5 excl  eGFR below 45          lab '33914-3' within 1 year last < 45
--  6 excl  Type 1 diabetes        diagnosis 'E10%'
--
-- Window starts are literals: as_of - interval 'N days/months/years' in the
-- session time zone keeps the local time of day, so with as_of at local
-- midnight they are local midnights: '2026-11-01' - 180 days = '2026-05-05',
-- - 90 days = '2026-08-03', - 1 year = '2025-11-01'.  A date column compared
-- with a date literal is the same as the date read as timestamptz (local
-- midnight) compared with the timestamptz bound.
-- Age: whole years at 2026-11-01 between 18 and 75  <=>  born in
-- (1950-11-01, 2008-11-01]  (age 76 is reached on 2026-11-01 by those born 1950-11-01).
-- Code prefixes: a range on the btree (codepoint order in C.UTF-8) to use the
-- index, plus starts_with() for the exact test.
-- bench/run.sh counts the rows with a filter on every output column
-- (status, failed and unknown IS NOT NULL), on both sides, so that the
-- planner cannot drop unused columns (and with them the LEFT JOINs).
WITH dx AS (
    SELECT patient_id,
           bool_or(starts_with(code, 'E11')) AS t2d,
           bool_or(starts_with(code, 'E10')) AS t1d
      FROM public.diagnoses
     WHERE code >= 'E10' AND code < 'E12'
       AND (starts_with(code, 'E11') OR starts_with(code, 'E10'))
       AND diagnosed_at <= date '2026-11-01'
     GROUP BY patient_id
), a1c AS (            -- last HbA1c in 180 days (ties: larger value)
    SELECT DISTINCT ON (patient_id) patient_id, value::float8 AS v
      FROM public.labs
     WHERE code = '4548-4'
       AND taken_at >= timestamptz '2026-05-05' AND taken_at <= timestamptz '2026-11-01'
       AND value IS NOT NULL AND value <> 'NaN'
     ORDER BY patient_id, taken_at DESC, value DESC
), egfr AS (           -- last eGFR in 1 year
    SELECT DISTINCT ON (patient_id) patient_id, value::float8 AS v
      FROM public.labs
     WHERE code = '33914-3'
       AND taken_at >= timestamptz '2025-11-01' AND taken_at <= timestamptz '2026-11-01'
       AND value IS NOT NULL AND value <> 'NaN'
     ORDER BY patient_id, taken_at DESC, value DESC
), ins AS (            -- insulin overlapping the last 90 days
    SELECT DISTINCT patient_id
      FROM public.medications
     WHERE drug >= 'insulin' AND drug < 'insulio' AND starts_with(drug, 'insulin')
       AND started_at <= date '2026-11-01'
       AND (ended_at IS NULL OR ended_at >= date '2026-08-03')
), c AS (
    SELECT p.patient_id,
           p.birth_date > date '1950-11-01' AND p.birth_date <= date '2008-11-01' AS c1,
           coalesce(dx.t2d, false)                   AS c2,
           a1c.v >= 7.0 AND a1c.v <= 10.5            AS c3,
           ins.patient_id IS NOT NULL                AS c4,
           egfr.v < 45                               AS c5,
           coalesce(dx.t1d, false)                   AS c6
      FROM public.patients p
      LEFT JOIN dx   ON dx.patient_id   = p.patient_id
      LEFT JOIN a1c  ON a1c.patient_id  = p.patient_id
      LEFT JOIN egfr ON egfr.patient_id = p.patient_id
      LEFT JOIN ins  ON ins.patient_id  = p.patient_id
     WHERE p.patient_id IS NOT NULL
), r AS (
    SELECT patient_id,
           array_remove(ARRAY[CASE WHEN NOT c1 THEN 'Age 18-75' END,
                              CASE WHEN NOT c2 THEN 'Type 2 diabetes' END,
                              CASE WHEN NOT c3 THEN 'HbA1c 7.0-10.5%' END,
                              CASE WHEN c4 THEN 'Insulin in last 90 d' END,
                              CASE WHEN c5 THEN 'eGFR below 45' END,
                              CASE WHEN c6 THEN 'Type 1 diabetes' END], NULL) AS failed,
           array_remove(ARRAY[CASE WHEN c1 IS NULL THEN 'Age 18-75' END,
                              CASE WHEN c3 IS NULL THEN 'HbA1c 7.0-10.5%' END,
                              CASE WHEN c5 IS NULL THEN 'eGFR below 45' END], NULL) AS unknown
      FROM c
)
SELECT patient_id,
       (CASE WHEN failed <> '{}' THEN 'ineligible'
             WHEN unknown <> '{}' THEN 'indeterminate'
             ELSE 'eligible' END)::trialmatch.eligibility AS status,
       failed, unknown
  FROM r
