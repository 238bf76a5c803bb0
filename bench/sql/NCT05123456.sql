-- NCT05123456  Adjuvant CDK4/6 inhibition in HER2-negative early breast cancer, as_of 2026-11-01.
--
--  1 incl  Female                                   sex = 'F'
--  2 incl  Age 18-80                                age between 18 and 80
--  3 incl  Breast cancer diagnosed in last 5 years  diagnosis 'C50%' within 5 years
--  4 incl  Hb >= 9 g/dL and platelets >= 100 (last 90 d)
--                                                   lab '718-7' within 90 days last >= 9.0
--                                                   and lab '777-3' within 90 days last >= 100
--  5 excl  Prior anti-HER2 therapy                  medication ('trastuzumab', 'pertuzumab', 'ado-trastuzumab emtansine')
--  6 excl  Prior CDK4/6 inhibitor                   medication ('palbociclib', 'ribociclib', 'abemaciclib')
--  7 excl  Pregnancy (last 9 months)                diagnosis 'Z33.1' within 9 months
--
-- See NCT04567890.sql for the conventions (literal window starts, age as a
-- birth-date range, code prefixes, the result).
-- Windows: - 5 years = 2021-11-01, - 90 days = 2026-08-03, - 9 months = 2026-02-01.
-- Age 18-80 <=> born in (1945-11-01, 2008-11-01].
-- Criterion 4 is SQL's own three-valued AND of the two lab tests.
WITH dx AS (
    SELECT patient_id,
           bool_or(starts_with(code, 'C50') AND diagnosed_at >= date '2021-11-01') AS bc5y,
           bool_or(code = 'Z33.1' AND diagnosed_at >= date '2026-02-01')            AS preg
      FROM public.diagnoses
     WHERE ((code >= 'C50' AND code < 'C51' AND starts_with(code, 'C50')) OR code = 'Z33.1')
       AND diagnosed_at >= date '2021-11-01' AND diagnosed_at <= date '2026-11-01'
     GROUP BY patient_id
), hb AS (             -- last hemoglobin in 90 days (ties: larger value)
    SELECT DISTINCT ON (patient_id) patient_id, value::float8 AS v
      FROM public.labs
     WHERE code = '718-7'
       AND taken_at >= timestamptz '2026-08-03' AND taken_at <= timestamptz '2026-11-01'
       AND value IS NOT NULL AND value <> 'NaN'
     ORDER BY patient_id, taken_at DESC, value DESC
), plt AS (            -- last platelets in 90 days
    SELECT DISTINCT ON (patient_id) patient_id, value::float8 AS v
      FROM public.labs
     WHERE code = '777-3'
       AND taken_at >= timestamptz '2026-08-03' AND taken_at <= timestamptz '2026-11-01'
       AND value IS NOT NULL AND value <> 'NaN'
     ORDER BY patient_id, taken_at DESC, value DESC
), med AS (            -- ever (started on or before as_of)
    SELECT patient_id,
           bool_or(drug IN ('trastuzumab', 'pertuzumab', 'ado-trastuzumab emtansine')) AS her2,
           bool_or(drug IN ('palbociclib', 'ribociclib', 'abemaciclib'))             AS cdk46
      FROM public.medications
     WHERE drug IN ('trastuzumab', 'pertuzumab', 'ado-trastuzumab emtansine',
                    'palbociclib', 'ribociclib', 'abemaciclib')
       AND started_at <= date '2026-11-01'
     GROUP BY patient_id
), c AS (
    SELECT p.patient_id,
           p.sex = 'F'                                                      AS c1,
           p.birth_date > date '1945-11-01' AND p.birth_date <= date '2008-11-01' AS c2,
           coalesce(dx.bc5y, false)                                         AS c3,
           hb.v >= 9.0 AND plt.v >= 100                                     AS c4,
           coalesce(med.her2, false)                                        AS c5,
           coalesce(med.cdk46, false)                                       AS c6,
           coalesce(dx.preg, false)                                         AS c7
      FROM public.patients p
      LEFT JOIN dx  ON dx.patient_id  = p.patient_id
      LEFT JOIN hb  ON hb.patient_id  = p.patient_id
      LEFT JOIN plt ON plt.patient_id = p.patient_id
      LEFT JOIN med ON med.patient_id = p.patient_id
     WHERE p.patient_id IS NOT NULL
), r AS (
    SELECT patient_id,
           array_remove(ARRAY[CASE WHEN NOT c1 THEN 'Female' END,
                              CASE WHEN NOT c2 THEN 'Age 18-80' END,
                              CASE WHEN NOT c3 THEN 'Breast cancer diagnosed in last 5 years' END,
                              CASE WHEN NOT c4 THEN 'Hb >= 9 g/dL and platelets >= 100 (last 90 d)' END,
                              CASE WHEN c5 THEN 'Prior anti-HER2 therapy' END,
                              CASE WHEN c6 THEN 'Prior CDK4/6 inhibitor' END,
                              CASE WHEN c7 THEN 'Pregnancy (last 9 months)' END], NULL) AS failed,
           array_remove(ARRAY[CASE WHEN c1 IS NULL THEN 'Female' END,
                              CASE WHEN c2 IS NULL THEN 'Age 18-80' END,
                              CASE WHEN c4 IS NULL THEN 'Hb >= 9 g/dL and platelets >= 100 (last 90 d)' END], NULL) AS unknown
      FROM c
)
SELECT patient_id,
       (CASE WHEN failed <> '{}' THEN 'ineligible'
             WHEN unknown <> '{}' THEN 'indeterminate'
             ELSE 'eligible' END)::trialmatch.eligibility AS status,
       failed, unknown
  FROM r
