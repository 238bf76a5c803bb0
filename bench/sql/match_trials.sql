-- The five demo trials for one patient, as_of 2026-11-01: the hand-written
-- equivalent of  SELECT * FROM trialmatch.match_trials(<patient>, '2026-11-01').
-- One statement with one variable, pid (the patient id): pgbench -M prepared
-- sends it as a parameter, psql substitutes it (\set pid 123).  It reads the patient's rows once per table
-- through the patient_id indexes, computes every atom of every trial from
-- them, and returns one row per demo trial that is recruiting, in trial_id
-- order.  The conventions (literal window starts, ages as birth-date ranges,
-- etc.) are those of the per-trial files NCT*.sql.
WITH p AS (
    SELECT patient_id, birth_date, sex FROM public.patients WHERE patient_id = :pid
), l AS MATERIALIZED (     -- usable lab values, up to as_of, of the codes the trials read
    SELECT code, taken_at, value::float8 AS v, unit
      FROM public.labs
     WHERE patient_id = :pid
       AND code IN ('4548-4', '33914-3', '718-7', '777-3', '33762-6', '10230-1', '2160-0', '2823-3', '8480-6')
       AND taken_at <= timestamptz '2026-11-01'
       AND value IS NOT NULL AND value <> 'NaN'
), d AS MATERIALIZED (     -- diagnoses up to as_of
    SELECT code, diagnosed_at AS t
      FROM public.diagnoses
     WHERE patient_id = :pid AND diagnosed_at <= date '2026-11-01' AND code IS NOT NULL
), m AS MATERIALIZED (     -- medications started up to as_of
    SELECT drug, started_at, ended_at
      FROM public.medications
     WHERE patient_id = :pid AND started_at <= date '2026-11-01' AND drug IS NOT NULL
), a AS (                  -- every atom; NULL = unknown
    SELECT p.patient_id, p.birth_date, p.sex,
           -- diagnoses
           EXISTS (SELECT FROM d WHERE starts_with(code, 'E11'))                             AS dx_e11,
           EXISTS (SELECT FROM d WHERE starts_with(code, 'E10'))                             AS dx_e10,
           EXISTS (SELECT FROM d WHERE starts_with(code, 'C50') AND t >= date '2021-11-01')  AS dx_c50_5y,
           EXISTS (SELECT FROM d WHERE code = 'Z33.1' AND t >= date '2026-02-01')           AS dx_preg_9m,
           (SELECT count(*) FROM d WHERE starts_with(code, 'I50') AND NOT starts_with(code, 'I50.3')
                                     AND t >= date '2024-11-01')                            AS dx_hfref_2y_n,
           EXISTS (SELECT FROM d WHERE starts_with(code, 'N18.3') OR code = 'N18.4')         AS dx_ckd34,
           EXISTS (SELECT FROM d WHERE code = 'Z99.2')                                       AS dx_dialysis,
           EXISTS (SELECT FROM d WHERE code = 'I10')                                         AS dx_htn,
           EXISTS (SELECT FROM d WHERE starts_with(code, 'I50') OR code = 'Z99.2')           AS dx_hf_dial,
           EXISTS (SELECT FROM d WHERE starts_with(code, 'I63') AND t >= date '2026-05-01')  AS dx_stroke_6m,
           EXISTS (SELECT FROM d WHERE starts_with(code, 'F03') OR starts_with(code, 'G30')) AS dx_dementia,
           -- medications
           EXISTS (SELECT FROM m WHERE starts_with(drug, 'insulin')
                                   AND (ended_at IS NULL OR ended_at >= date '2026-08-03'))  AS med_insulin_90d,
           EXISTS (SELECT FROM m WHERE drug IN ('trastuzumab', 'pertuzumab', 'ado-trastuzumab emtansine')) AS med_her2,
           EXISTS (SELECT FROM m WHERE drug IN ('palbociclib', 'ribociclib', 'abemaciclib')) AS med_cdk46,
           EXISTS (SELECT FROM m WHERE drug = 'sacubitril/valsartan'
                                   AND (ended_at IS NULL OR ended_at >= date '2026-11-01'))  AS med_arni_active,
           -- labs (last: latest time, ties: larger value)
           (SELECT v FROM l WHERE code = '4548-4' AND taken_at >= timestamptz '2026-05-05'
             ORDER BY taken_at DESC, v DESC LIMIT 1)                                          AS a1c_last_180d,
           (SELECT v FROM l WHERE code = '33914-3' AND taken_at >= timestamptz '2025-11-01'
             ORDER BY taken_at DESC, v DESC LIMIT 1)                                          AS egfr_last_1y,
           (SELECT v FROM l WHERE code = '33914-3' AND taken_at >= timestamptz '2026-05-01'
             ORDER BY taken_at DESC, v DESC LIMIT 1)                                          AS egfr_last_6m,
           (SELECT avg(v) FROM l WHERE code = '33914-3' AND taken_at >= timestamptz '2025-11-01') AS egfr_avg_12m,
           (SELECT v FROM l WHERE code = '718-7' AND taken_at >= timestamptz '2026-08-03'
             ORDER BY taken_at DESC, v DESC LIMIT 1)                                          AS hb_last_90d,
           (SELECT v FROM l WHERE code = '777-3' AND taken_at >= timestamptz '2026-08-03'
             ORDER BY taken_at DESC, v DESC LIMIT 1)                                          AS plt_last_90d,
           (SELECT max(v) FROM l WHERE code = '33762-6' AND taken_at >= timestamptz '2026-05-01') AS bnp_max_6m,
           (SELECT v FROM l WHERE code = '10230-1' AND taken_at >= timestamptz '2025-11-01'
             ORDER BY taken_at DESC, v DESC LIMIT 1)                                          AS lvef_last_1y,
           (SELECT cv FROM (SELECT l.taken_at,
                                   CASE WHEN l.unit = 'mg/dL' THEN l.v
                                        ELSE l.v * uc.factor + uc."offset" END AS cv
                              FROM l
                              LEFT JOIN trialmatch.unit_conversions uc
                                     ON uc.code = l.code AND uc.from_unit = l.unit AND uc.to_unit = 'mg/dL'
                             WHERE l.code = '2160-0' AND l.taken_at >= timestamptz '2026-05-01'
                               AND (l.unit = 'mg/dL' OR uc.code IS NOT NULL)) s
             WHERE cv <> 'NaN'
             ORDER BY taken_at DESC, cv DESC LIMIT 1)                                         AS crea_mgdl_last_6m,
           (SELECT bool_or(v > 5.5) FROM l WHERE code = '2823-3' AND taken_at >= timestamptz '2026-05-01') AS k_any_gt55_6m,
           (SELECT v FROM l WHERE code = '8480-6' AND taken_at >= timestamptz '2026-05-01'
             ORDER BY taken_at DESC, v DESC LIMIT 1)                                          AS sbp_last_6m,
           (SELECT count(*) FROM l WHERE code = '8480-6' AND taken_at >= timestamptz '2025-11-01'
                                     AND v >= 140)                                            AS sbp_ge140_1y_n
      FROM p
), t AS (                  -- per trial: failed and unknown labels, in position order
    SELECT x.trial_id, x.failed, x.unknown
      FROM a
     CROSS JOIN LATERAL (
        SELECT birth_date > date '1950-11-01' AND birth_date <= date '2008-11-01' AS age_18_75,
               birth_date > date '1945-11-01' AND birth_date <= date '2008-11-01' AS age_18_80,
               birth_date > date '1940-11-01' AND birth_date <= date '2008-11-01' AS age_18_85,
               birth_date <= date '1961-11-01'                                    AS age_65,
               a1c_last_180d >= 7.0 AND a1c_last_180d <= 10.5                     AS a1c_ok,
               hb_last_90d >= 9.0 AND plt_last_90d >= 100                         AS hb_plt_ok,
               egfr_avg_12m >= 25 AND egfr_avg_12m <= 60                          AS egfr_avg_ok
     ) b
     CROSS JOIN LATERAL (VALUES
        ('NCT04567890',
         array_remove(ARRAY[CASE WHEN NOT age_18_75 THEN 'Age 18-75' END,
                            CASE WHEN NOT dx_e11 THEN 'Type 2 diabetes' END,
                            CASE WHEN NOT a1c_ok THEN 'HbA1c 7.0-10.5%' END,
                            CASE WHEN med_insulin_90d THEN 'Insulin in last 90 d' END,
                            CASE WHEN egfr_last_1y < 45 THEN 'eGFR below 45' END,
                            CASE WHEN dx_e10 THEN 'Type 1 diabetes' END], NULL),
         array_remove(ARRAY[CASE WHEN age_18_75 IS NULL THEN 'Age 18-75' END,
                            CASE WHEN a1c_ok IS NULL THEN 'HbA1c 7.0-10.5%' END,
                            CASE WHEN egfr_last_1y IS NULL THEN 'eGFR below 45' END], NULL)),
        ('NCT05123456',
         array_remove(ARRAY[CASE WHEN sex <> 'F' THEN 'Female' END,
                            CASE WHEN NOT age_18_80 THEN 'Age 18-80' END,
                            CASE WHEN NOT dx_c50_5y THEN 'Breast cancer diagnosed in last 5 years' END,
                            CASE WHEN NOT hb_plt_ok THEN 'Hb >= 9 g/dL and platelets >= 100 (last 90 d)' END,
                            CASE WHEN med_her2 THEN 'Prior anti-HER2 therapy' END,
                            CASE WHEN med_cdk46 THEN 'Prior CDK4/6 inhibitor' END,
                            CASE WHEN dx_preg_9m THEN 'Pregnancy (last 9 months)' END], NULL),
         array_remove(ARRAY[CASE WHEN sex IS NULL THEN 'Female' END,
                            CASE WHEN age_18_80 IS NULL THEN 'Age 18-80' END,
                            CASE WHEN hb_plt_ok IS NULL THEN 'Hb >= 9 g/dL and platelets >= 100 (last 90 d)' END], NULL)),
        ('NCT05234567',
         array_remove(ARRAY[CASE WHEN NOT age_18_85 THEN 'Age 18-85' END,
                            CASE WHEN dx_hfref_2y_n < 2 THEN 'Heart failure (not HFpEF), 2+ diagnoses in 2 years' END,
                            CASE WHEN bnp_max_6m < 600 THEN 'NT-proBNP >= 600 pg/mL (max, 6 months)' END,
                            CASE WHEN lvef_last_1y > 40 THEN 'LVEF <= 40% (last echo, 1 year)' END,
                            CASE WHEN med_arni_active THEN 'On sacubitril/valsartan' END,
                            CASE WHEN egfr_last_6m < 30 THEN 'eGFR below 30 (last, 6 months)' END], NULL),
         array_remove(ARRAY[CASE WHEN age_18_85 IS NULL THEN 'Age 18-85' END,
                            CASE WHEN bnp_max_6m IS NULL THEN 'NT-proBNP >= 600 pg/mL (max, 6 months)' END,
                            CASE WHEN lvef_last_1y IS NULL THEN 'LVEF <= 40% (last echo, 1 year)' END,
                            CASE WHEN egfr_last_6m IS NULL THEN 'eGFR below 30 (last, 6 months)' END], NULL)),
        ('NCT05345678',
         array_remove(ARRAY[CASE WHEN NOT age_18_80 THEN 'Age 18-80' END,
                            CASE WHEN NOT dx_ckd34 THEN 'CKD stage 3 or 4' END,
                            CASE WHEN NOT egfr_avg_ok THEN 'eGFR 25-60 (mean, 12 months)' END,
                            CASE WHEN crea_mgdl_last_6m > 3.0 THEN 'Creatinine <= 3.0 mg/dL (last, 6 months)' END,
                            CASE WHEN dx_dialysis THEN 'On dialysis' END,
                            CASE WHEN k_any_gt55_6m THEN 'Potassium > 5.5 mmol/L (6 months)' END], NULL),
         array_remove(ARRAY[CASE WHEN age_18_80 IS NULL THEN 'Age 18-80' END,
                            CASE WHEN egfr_avg_ok IS NULL THEN 'eGFR 25-60 (mean, 12 months)' END,
                            CASE WHEN crea_mgdl_last_6m IS NULL THEN 'Creatinine <= 3.0 mg/dL (last, 6 months)' END,
                            CASE WHEN k_any_gt55_6m IS NULL THEN 'Potassium > 5.5 mmol/L (6 months)' END], NULL)),
        ('NCT05456789',
         array_remove(ARRAY[CASE WHEN NOT age_65 THEN 'Age 65 or older' END,
                            CASE WHEN NOT dx_htn THEN 'Essential hypertension' END,
                            CASE WHEN sbp_last_6m < 140 THEN 'Systolic BP >= 140 (last, 6 months)' END,
                            CASE WHEN sbp_ge140_1y_n < 2 THEN '2+ systolic readings >= 140 in past year' END,
                            CASE WHEN dx_hf_dial THEN 'Heart failure or dialysis' END,
                            CASE WHEN dx_stroke_6m THEN 'Stroke in last 6 months' END], NULL),
         array_remove(ARRAY[CASE WHEN age_65 IS NULL THEN 'Age 65 or older' END,
                            CASE WHEN sbp_last_6m IS NULL THEN 'Systolic BP >= 140 (last, 6 months)' END,
                            CASE WHEN dx_dementia THEN 'Dementia: confirm capacity to consent' END], NULL))
     ) x(trial_id, failed, unknown)
)
SELECT trial_id,
       (CASE WHEN failed <> '{}' THEN 'ineligible'
             WHEN unknown <> '{}' THEN 'indeterminate'
             ELSE 'eligible' END)::trialmatch.eligibility AS status,
       failed, unknown
  FROM t
 WHERE trial_id IN (SELECT trial_id FROM trialmatch.trials WHERE status = 'recruiting')
 ORDER BY trial_id;
