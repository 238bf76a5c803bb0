-- NCT05456789  Intensive blood-pressure lowering in older adults, as_of 2026-11-01.
--
--  1 incl  Age 65 or older                            age >= 65
--  2 incl  Essential hypertension                     diagnosis 'I10'
--  3 incl  Systolic BP >= 140 (last, 6 months)        lab '8480-6' within 6 months last >= 140
--  4 incl  2+ systolic readings >= 140 in past year   lab '8480-6' within 1 year count where value >= 140 >= 2
--  5 excl  Heart failure or dialysis                  diagnosis ('I50%', 'Z99.2')
--  6 excl  Stroke in last 6 months                    diagnosis 'I63%' within 6 months
--  7 excl  Dementia: confirm capacity to consent      diagnosis ('F03%', 'G30%') and unknown
--
-- See NCT04567890.sql for the conventions.
-- Windows: - 6 months = 2026-05-01, - 1 year = 2025-11-01.
-- Age >= 65 <=> born on or before 1961-11-01.
-- `count where value >= 140` counts rows whose value (as recorded, not NULL,
-- not NaN) passes; it is never unknown.  `x and unknown` is SQL's x AND NULL.
WITH dx AS (
    SELECT patient_id,
           bool_or(code = 'I10')                                   AS htn,
           bool_or(starts_with(code, 'I50') OR code = 'Z99.2')     AS hf_dial,
           bool_or(starts_with(code, 'I63') AND diagnosed_at >= date '2026-05-01') AS stroke,
           bool_or(starts_with(code, 'F03') OR starts_with(code, 'G30')) AS dementia
      FROM public.diagnoses
     WHERE (code = 'I10' OR code = 'Z99.2'
            OR (code >= 'I50' AND code < 'I51' AND starts_with(code, 'I50'))
            OR (code >= 'I63' AND code < 'I64' AND starts_with(code, 'I63'))
            OR (code >= 'F03' AND code < 'F04' AND starts_with(code, 'F03'))
            OR (code >= 'G30' AND code < 'G31' AND starts_with(code, 'G30')))
       AND diagnosed_at <= date '2026-11-01'
     GROUP BY patient_id
), sbp_last AS (       -- last systolic BP in 6 months (ties: larger value)
    SELECT DISTINCT ON (patient_id) patient_id, value::float8 AS v
      FROM public.labs
     WHERE code = '8480-6'
       AND taken_at >= timestamptz '2026-05-01' AND taken_at <= timestamptz '2026-11-01'
       AND value IS NOT NULL AND value <> 'NaN'
     ORDER BY patient_id, taken_at DESC, value DESC
), sbp_high AS (       -- readings >= 140 in 1 year
    SELECT patient_id, count(*) AS n
      FROM public.labs
     WHERE code = '8480-6'
       AND taken_at >= timestamptz '2025-11-01' AND taken_at <= timestamptz '2026-11-01'
       AND value >= 140 AND value <> 'NaN'
     GROUP BY patient_id
), c AS (
    SELECT p.patient_id,
           p.birth_date <= date '1961-11-01'        AS c1,
           coalesce(dx.htn, false)                  AS c2,
           sbp_last.v >= 140                        AS c3,
           coalesce(sbp_high.n, 0) >= 2             AS c4,
           coalesce(dx.hf_dial, false)              AS c5,
           coalesce(dx.stroke, false)               AS c6,
           coalesce(dx.dementia, false) AND NULL::boolean AS c7
      FROM public.patients p
      LEFT JOIN dx       ON dx.patient_id       = p.patient_id
      LEFT JOIN sbp_last ON sbp_last.patient_id = p.patient_id
      LEFT JOIN sbp_high ON sbp_high.patient_id = p.patient_id
     WHERE p.patient_id IS NOT NULL
), r AS (
    SELECT patient_id,
           array_remove(ARRAY[CASE WHEN NOT c1 THEN 'Age 65 or older' END,
                              CASE WHEN NOT c2 THEN 'Essential hypertension' END,
                              CASE WHEN NOT c3 THEN 'Systolic BP >= 140 (last, 6 months)' END,
                              CASE WHEN NOT c4 THEN '2+ systolic readings >= 140 in past year' END,
                              CASE WHEN c5 THEN 'Heart failure or dialysis' END,
                              CASE WHEN c6 THEN 'Stroke in last 6 months' END,
                              CASE WHEN c7 THEN 'Dementia: confirm capacity to consent' END], NULL) AS failed,
           array_remove(ARRAY[CASE WHEN c1 IS NULL THEN 'Age 65 or older' END,
                              CASE WHEN c3 IS NULL THEN 'Systolic BP >= 140 (last, 6 months)' END,
                              CASE WHEN c7 IS NULL THEN 'Dementia: confirm capacity to consent' END], NULL) AS unknown
      FROM c
)
SELECT patient_id,
       (CASE WHEN failed <> '{}' THEN 'ineligible'
             WHEN unknown <> '{}' THEN 'indeterminate'
             ELSE 'eligible' END)::trialmatch.eligibility AS status,
       failed, unknown
  FROM r
