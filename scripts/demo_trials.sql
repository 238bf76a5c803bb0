-- trialmatch: register the demo sources and five demo trials.
--
--   psql -f scripts/gen_data.sql -v scale=100000   -- the synthetic hospital
--   psql -f scripts/demo_trials.sql                 -- this file
--
-- Needs the extension (CREATE EXTENSION trialmatch) and the tables made by
-- scripts/gen_data.sql.  Re-runnable: the demo trials are deleted and inserted
-- again.  The synthetic data ends on 2026-11-01, so for reproducible results
-- screen with as_of => '2026-11-01', e.g.
--
--   SELECT status, count(*)
--   FROM trialmatch.match_patients('NCT04567890', '2026-11-01') GROUP BY 1;

\set ON_ERROR_STOP on

BEGIN;

------------------------------------------------------------------------------
-- Sources
------------------------------------------------------------------------------

SELECT trialmatch.set_patients('public.patients',
         id_column => 'patient_id', birth_date_column => 'birth_date', sex_column => 'sex');
SELECT trialmatch.add_source('lab', 'public.labs', patient_column => 'patient_id',
         code_column => 'code', time_column => 'taken_at',
         value_column => 'value', unit_column => 'unit');
SELECT trialmatch.add_source('diagnosis',  'public.diagnoses',   time_column => 'diagnosed_at');
SELECT trialmatch.add_source('medication', 'public.medications', code_column => 'drug',
         time_column => 'started_at', end_time_column => 'ended_at');

-- Unit conversions: glucose mmol/L -> mg/dL, creatinine umol/L -> mg/dL
DELETE FROM trialmatch.unit_conversions
 WHERE (code, from_unit, to_unit) IN (('2345-7', 'mmol/L', 'mg/dL'), ('2160-0', 'umol/L', 'mg/dL'));
INSERT INTO trialmatch.unit_conversions (code, from_unit, to_unit, factor, "offset") VALUES
 ('2345-7', 'mmol/L', 'mg/dL', 18.016,        0),
 ('2160-0', 'umol/L', 'mg/dL', 1 / 88.42::numeric, 0);

------------------------------------------------------------------------------
-- Trials
------------------------------------------------------------------------------

DELETE FROM trialmatch.criteria
 WHERE trial_id IN ('NCT04567890', 'NCT05123456', 'NCT05234567', 'NCT05345678', 'NCT05456789');
DELETE FROM trialmatch.trials
 WHERE trial_id IN ('NCT04567890', 'NCT05123456', 'NCT05234567', 'NCT05345678', 'NCT05456789');

INSERT INTO trialmatch.trials (trial_id, title) VALUES
 ('NCT04567890', 'Add-on therapy in type 2 diabetes'),
 ('NCT05123456', 'Adjuvant CDK4/6 inhibition in HER2-negative early breast cancer'),
 ('NCT05234567', 'Novel neurohormonal agent in heart failure with reduced ejection fraction'),
 ('NCT05345678', 'Kidney protection in chronic kidney disease stage 3-4'),
 ('NCT05456789', 'Intensive blood-pressure lowering in older adults');

-- 1. Type 2 diabetes (SPEC section 3), plus type 1 diabetes as an exclusion
INSERT INTO trialmatch.criteria (trial_id, position, kind, label, expr) VALUES
 ('NCT04567890', 1, 'inclusion', 'Age 18-75',            'age between 18 and 75'),
 ('NCT04567890', 2, 'inclusion', 'Type 2 diabetes',      $$diagnosis 'E11%'$$),
 ('NCT04567890', 3, 'inclusion', 'HbA1c 7.0-10.5%',      $$lab '4548-4' within 180 days last between 7.0 and 10.5$$),
 ('NCT04567890', 4, 'exclusion', 'Insulin in last 90 d', $$medication 'insulin%' within 90 days$$),
 ('NCT04567890', 5, 'exclusion', 'eGFR below 45',        $$lab '33914-3' within 1 year last < 45$$),
 ('NCT04567890', 6, 'exclusion', 'Type 1 diabetes',      $$diagnosis 'E10%'$$);

-- 2. Early breast cancer, HER2-negative, no prior CDK4/6 inhibitor
INSERT INTO trialmatch.criteria (trial_id, position, kind, label, expr) VALUES
 ('NCT05123456', 1, 'inclusion', 'Female',                          $$sex = 'F'$$),
 ('NCT05123456', 2, 'inclusion', 'Age 18-80',                       'age between 18 and 80'),
 ('NCT05123456', 3, 'inclusion', 'Breast cancer diagnosed in last 5 years',
                                                                    $$diagnosis 'C50%' within 5 years$$),
 ('NCT05123456', 4, 'inclusion', 'Hb >= 9 g/dL and platelets >= 100 (last 90 d)',
   $$lab '718-7' within 90 days last >= 9.0   -- hemoglobin
     and lab '777-3' within 90 days last >= 100  -- platelets$$),
 ('NCT05123456', 5, 'exclusion', 'Prior anti-HER2 therapy',
   $$medication ('trastuzumab', 'pertuzumab', 'ado-trastuzumab emtansine')$$),
 ('NCT05123456', 6, 'exclusion', 'Prior CDK4/6 inhibitor',
   $$medication ('palbociclib', 'ribociclib', 'abemaciclib')$$),
 ('NCT05123456', 7, 'exclusion', 'Pregnancy (last 9 months)',       $$diagnosis 'Z33.1' within 9 months$$);

-- 3. Heart failure with reduced ejection fraction
INSERT INTO trialmatch.criteria (trial_id, position, kind, label, expr) VALUES
 ('NCT05234567', 1, 'inclusion', 'Age 18-85',                       'age between 18 and 85'),
 ('NCT05234567', 2, 'inclusion', 'Heart failure (not HFpEF), 2+ diagnoses in 2 years',
   $$diagnosis 'I50%' except 'I50.3%' within 2 years count >= 2$$),
 ('NCT05234567', 3, 'inclusion', 'NT-proBNP >= 600 pg/mL (max, 6 months)',
   $$lab '33762-6' within 6 months max >= 600$$),
 ('NCT05234567', 4, 'inclusion', 'LVEF <= 40% (last echo, 1 year)', $$lab '10230-1' within 1 year last <= 40$$),
 ('NCT05234567', 5, 'exclusion', 'On sacubitril/valsartan',         $$medication 'sacubitril/valsartan' active$$),
 ('NCT05234567', 6, 'exclusion', 'eGFR below 30 (last, 6 months)',  $$lab '33914-3' within 6 months last < 30$$);

-- 4. Chronic kidney disease stage 3-4
INSERT INTO trialmatch.criteria (trial_id, position, kind, label, expr) VALUES
 ('NCT05345678', 1, 'inclusion', 'Age 18-80',                       'age between 18 and 80'),
 ('NCT05345678', 2, 'inclusion', 'CKD stage 3 or 4',                $$diagnosis ('N18.3%', 'N18.4')$$),
 ('NCT05345678', 3, 'inclusion', 'eGFR 25-60 (mean, 12 months)',    $$lab '33914-3' within 12 months avg between 25 and 60$$),
 ('NCT05345678', 4, 'inclusion', 'Creatinine <= 3.0 mg/dL (last, 6 months)',
   $$lab '2160-0' within 6 months last <= 3.0 unit 'mg/dL'$$),
 ('NCT05345678', 5, 'exclusion', 'On dialysis',                     $$diagnosis 'Z99.2'$$),
 ('NCT05345678', 6, 'exclusion', 'Potassium > 5.5 mmol/L (6 months)', $$lab '2823-3' within 6 months any > 5.5$$);

-- 5. Older adults with uncontrolled hypertension.  The last exclusion uses
-- `unknown`: false for patients without dementia, unknown (manual review of
-- capacity to consent) for those with it, so the trial still has eligible
-- patients and the label tells the coordinator what to check.
INSERT INTO trialmatch.criteria (trial_id, position, kind, label, expr) VALUES
 ('NCT05456789', 1, 'inclusion', 'Age 65 or older',                 'age >= 65'),
 ('NCT05456789', 2, 'inclusion', 'Essential hypertension',          $$diagnosis 'I10'$$),
 ('NCT05456789', 3, 'inclusion', 'Systolic BP >= 140 (last, 6 months)',
   $$lab '8480-6' within 6 months last >= 140$$),
 ('NCT05456789', 4, 'inclusion', '2+ systolic readings >= 140 in past year',
   $$lab '8480-6' within 1 year count where value >= 140 >= 2$$),
 ('NCT05456789', 5, 'exclusion', 'Heart failure or dialysis',       $$diagnosis ('I50%', 'Z99.2')$$),
 ('NCT05456789', 6, 'exclusion', 'Stroke in last 6 months',         $$diagnosis 'I63%' within 6 months$$),
 ('NCT05456789', 7, 'exclusion', 'Dementia: confirm capacity to consent',
   $$diagnosis ('F03%', 'G30%') and unknown$$);

COMMIT;
