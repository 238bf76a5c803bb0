-- NCT05234567  Novel neurohormonal agent in heart failure with reduced ejection fraction, as_of 2026-11-01.
--
--  1 incl  Age 18-85                                  age between 18 and 85
--  2 incl  Heart failure (not HFpEF), 2+ diagnoses in 2 years
--                                                     diagnosis 'I50%' except 'I50.3%' within 2 years count >= 2
--  3 incl  NT-proBNP >= 600 pg/mL (max, 6 months)     lab '33762-6' within 6 months max >= 600
--  4 incl  LVEF <= 40% (last echo, 1 year)            lab '10230-1' within 1 year last <= 40
--  5 excl  On sacubitril/valsartan                    medication 'sacubitril/valsartan' active
--  6 excl  eGFR below 30 (last, 6 months)             lab '33914-3' within 6 months last < 30
--
-- See NCT04567890.sql for the conventions.
-- Windows: - 2 years = 2024-11-01, - 6 months = 2026-05-01, - 1 year = 2025-11-01.
-- Age 18-85 <=> born in (1940-11-01, 2008-11-01].
-- active: started_at <= as_of and (ended_at is null or ended_at >= as_of).
-- count is never unknown (no row: 0).
WITH hf AS (
    SELECT patient_id, count(*) AS n
      FROM public.diagnoses
     WHERE code >= 'I50' AND code < 'I51'
       AND starts_with(code, 'I50') AND NOT starts_with(code, 'I50.3')
       AND diagnosed_at >= date '2024-11-01' AND diagnosed_at <= date '2026-11-01'
     GROUP BY patient_id
), bnp AS (            -- max NT-proBNP in 6 months
    SELECT patient_id, max(value::float8) AS v
      FROM public.labs
     WHERE code = '33762-6'
       AND taken_at >= timestamptz '2026-05-01' AND taken_at <= timestamptz '2026-11-01'
       AND value IS NOT NULL AND value <> 'NaN'
     GROUP BY patient_id
), lvef AS (           -- last LVEF in 1 year (ties: larger value)
    SELECT DISTINCT ON (patient_id) patient_id, value::float8 AS v
      FROM public.labs
     WHERE code = '10230-1'
       AND taken_at >= timestamptz '2025-11-01' AND taken_at <= timestamptz '2026-11-01'
       AND value IS NOT NULL AND value <> 'NaN'
     ORDER BY patient_id, taken_at DESC, value DESC
), egfr AS (           -- last eGFR in 6 months
    SELECT DISTINCT ON (patient_id) patient_id, value::float8 AS v
      FROM public.labs
     WHERE code = '33914-3'
       AND taken_at >= timestamptz '2026-05-01' AND taken_at <= timestamptz '2026-11-01'
       AND value IS NOT NULL AND value <> 'NaN'
     ORDER BY patient_id, taken_at DESC, value DESC
), sv AS (             -- sacubitril/valsartan active at as_of
    SELECT DISTINCT patient_id
      FROM public.medications
     WHERE drug = 'sacubitril/valsartan'
       AND started_at <= date '2026-11-01'
       AND (ended_at IS NULL OR ended_at >= date '2026-11-01')
), c AS (
    SELECT p.patient_id,
           p.birth_date > date '1940-11-01' AND p.birth_date <= date '2008-11-01' AS c1,
           coalesce(hf.n, 0) >= 2                   AS c2,
           bnp.v >= 600                             AS c3,
           lvef.v <= 40                             AS c4,
           sv.patient_id IS NOT NULL                AS c5,
           egfr.v < 30                              AS c6
      FROM public.patients p
      LEFT JOIN hf   ON hf.patient_id   = p.patient_id
      LEFT JOIN bnp  ON bnp.patient_id  = p.patient_id
      LEFT JOIN lvef ON lvef.patient_id = p.patient_id
      LEFT JOIN egfr ON egfr.patient_id = p.patient_id
      LEFT JOIN sv   ON sv.patient_id   = p.patient_id
     WHERE p.patient_id IS NOT NULL
), r AS (
    SELECT patient_id,
           array_remove(ARRAY[CASE WHEN NOT c1 THEN 'Age 18-85' END,
                              CASE WHEN NOT c2 THEN 'Heart failure (not HFpEF), 2+ diagnoses in 2 years' END,
                              CASE WHEN NOT c3 THEN 'NT-proBNP >= 600 pg/mL (max, 6 months)' END,
                              CASE WHEN NOT c4 THEN 'LVEF <= 40% (last echo, 1 year)' END,
                              CASE WHEN c5 THEN 'On sacubitril/valsartan' END,
                              CASE WHEN c6 THEN 'eGFR below 30 (last, 6 months)' END], NULL) AS failed,
           array_remove(ARRAY[CASE WHEN c1 IS NULL THEN 'Age 18-85' END,
                              CASE WHEN c3 IS NULL THEN 'NT-proBNP >= 600 pg/mL (max, 6 months)' END,
                              CASE WHEN c4 IS NULL THEN 'LVEF <= 40% (last echo, 1 year)' END,
                              CASE WHEN c6 IS NULL THEN 'eGFR below 30 (last, 6 months)' END], NULL) AS unknown
      FROM c
)
SELECT patient_id,
       (CASE WHEN failed <> '{}' THEN 'ineligible'
             WHEN unknown <> '{}' THEN 'indeterminate'
             ELSE 'eligible' END)::trialmatch.eligibility AS status,
       failed, unknown
  FROM r
