-- NCT05345678  Kidney protection in chronic kidney disease stage 3-4, as_of 2026-11-01.
--
--  1 incl  Age 18-80                                  age between 18 and 80
--  2 incl  CKD stage 3 or 4                           diagnosis ('N18.3%', 'N18.4')
--  3 incl  eGFR 25-60 (mean, 12 months)               lab '33914-3' within 12 months avg between 25 and 60
--  4 incl  Creatinine <= 3.0 mg/dL (last, 6 months)   lab '2160-0' within 6 months last <= 3.0 unit 'mg/dL'
--  5 excl  On dialysis                                diagnosis 'Z99.2'
--  6 excl  Potassium > 5.5 mmol/L (6 months)          lab '2823-3' within 6 months any > 5.5
--
-- See NCT04567890.sql for the conventions.
-- Windows: - 12 months = 2025-11-01, - 6 months = 2026-05-01.
-- Age 18-80 <=> born in (1945-11-01, 2008-11-01].
-- unit 'mg/dL': a value recorded in mg/dL counts as is; another unit counts
-- converted (value * factor + offset, in float8 as trialmatch does) when
-- trialmatch.unit_conversions has (the row's code, its unit, 'mg/dL');
-- otherwise (or NULL unit) the row is not usable.  The tie on the time of
-- `last` is broken by the larger converted value.
WITH dx AS (
    SELECT patient_id,
           bool_or(code <> 'Z99.2') AS ckd34,
           bool_or(code = 'Z99.2')  AS dialysis
      FROM public.diagnoses
     WHERE ((code >= 'N18.3' AND code < 'N18.4' AND starts_with(code, 'N18.3')) OR code IN ('N18.4', 'Z99.2'))
       AND diagnosed_at <= date '2026-11-01'
     GROUP BY patient_id
), egfr AS (           -- mean eGFR in 12 months
    SELECT patient_id, avg(value::float8) AS v
      FROM public.labs
     WHERE code = '33914-3'
       AND taken_at >= timestamptz '2025-11-01' AND taken_at <= timestamptz '2026-11-01'
       AND value IS NOT NULL AND value <> 'NaN'
     GROUP BY patient_id
), crea AS (           -- last creatinine in mg/dL in 6 months
    SELECT DISTINCT ON (patient_id) patient_id, v
      FROM (SELECT l.patient_id, l.taken_at,
                   CASE WHEN l.unit = 'mg/dL' THEN l.value::float8
                        ELSE l.value::float8 * uc.factor + uc."offset" END AS v
              FROM public.labs l
              LEFT JOIN trialmatch.unit_conversions uc
                     ON uc.code = l.code AND uc.from_unit = l.unit AND uc.to_unit = 'mg/dL'
             WHERE l.code = '2160-0'
               AND l.taken_at >= timestamptz '2026-05-01' AND l.taken_at <= timestamptz '2026-11-01'
               AND l.value IS NOT NULL AND l.value <> 'NaN'
               AND (l.unit = 'mg/dL' OR uc.code IS NOT NULL)) s
     WHERE v <> 'NaN'
     ORDER BY patient_id, taken_at DESC, v DESC
), k AS (              -- any potassium > 5.5 in 6 months (NULL: no usable value)
    SELECT patient_id, bool_or(value::float8 > 5.5) AS v
      FROM public.labs
     WHERE code = '2823-3'
       AND taken_at >= timestamptz '2026-05-01' AND taken_at <= timestamptz '2026-11-01'
       AND value IS NOT NULL AND value <> 'NaN'
     GROUP BY patient_id
), c AS (
    SELECT p.patient_id,
           p.birth_date > date '1945-11-01' AND p.birth_date <= date '2008-11-01' AS c1,
           coalesce(dx.ckd34, false)                AS c2,
           egfr.v >= 25 AND egfr.v <= 60            AS c3,
           crea.v <= 3.0                            AS c4,
           coalesce(dx.dialysis, false)             AS c5,
           k.v                                      AS c6
      FROM public.patients p
      LEFT JOIN dx   ON dx.patient_id   = p.patient_id
      LEFT JOIN egfr ON egfr.patient_id = p.patient_id
      LEFT JOIN crea ON crea.patient_id = p.patient_id
      LEFT JOIN k    ON k.patient_id    = p.patient_id
     WHERE p.patient_id IS NOT NULL
), r AS (
    SELECT patient_id,
           array_remove(ARRAY[CASE WHEN NOT c1 THEN 'Age 18-80' END,
                              CASE WHEN NOT c2 THEN 'CKD stage 3 or 4' END,
                              CASE WHEN NOT c3 THEN 'eGFR 25-60 (mean, 12 months)' END,
                              CASE WHEN NOT c4 THEN 'Creatinine <= 3.0 mg/dL (last, 6 months)' END,
                              CASE WHEN c5 THEN 'On dialysis' END,
                              CASE WHEN c6 THEN 'Potassium > 5.5 mmol/L (6 months)' END], NULL) AS failed,
           array_remove(ARRAY[CASE WHEN c1 IS NULL THEN 'Age 18-80' END,
                              CASE WHEN c3 IS NULL THEN 'eGFR 25-60 (mean, 12 months)' END,
                              CASE WHEN c4 IS NULL THEN 'Creatinine <= 3.0 mg/dL (last, 6 months)' END,
                              CASE WHEN c6 IS NULL THEN 'Potassium > 5.5 mmol/L (6 months)' END], NULL) AS unknown
      FROM c
)
SELECT patient_id,
       (CASE WHEN failed <> '{}' THEN 'ineligible'
             WHEN unknown <> '{}' THEN 'indeterminate'
             ELSE 'eligible' END)::trialmatch.eligibility AS status,
       failed, unknown
  FROM r
