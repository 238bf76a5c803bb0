-- trialmatch: deterministic synthetic population generator.
--
--   psql -v scale=100000 -f scripts/gen_data.sql
--
-- (Re)creates, in schema public, the tables patients, labs, diagnoses and
-- medications, with the indexes a DBA would create, then ANALYZEs them.
-- scale = number of patients (default 100000).
--
-- Determinism: every pseudo-random number is a pure function of
-- (row key, salt) through hashint8extended(); no random(), no dependence on
-- scan order, parallelism or session time zone.  The same scale always gives
-- exactly the same rows.  Patient i of a run at scale N is also patient i of a
-- run at any other scale.
--
-- The reference date is 2026-11-01 00:00 UTC: every event lies in the ten
-- years before it (more recent events are more frequent); ages are "as of"
-- that date.  Screen with as_of => '2026-11-01' for reproducible demos.
--
-- Only core PostgreSQL 15.  Set-based INSERT ... SELECT, indexes built after
-- loading.

\set ON_ERROR_STOP on
\if :{?scale}
\else
\set scale 100000
\endif

SET client_min_messages = warning;
SET timezone = 'UTC';
SET work_mem = '256MB';
SET maintenance_work_mem = '512MB';
SET synchronous_commit = off;
SET jit = off;   -- huge row estimates would otherwise trigger seconds of JIT compilation

BEGIN;

------------------------------------------------------------------------------
-- Pseudo-random helpers (inlinable SQL functions, session-local in pg_temp)
------------------------------------------------------------------------------

-- uniform in (0, 1)
CREATE FUNCTION pg_temp.u(k bigint, s integer) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT ((hashint8extended(k, s) & 4503599627370495)::float8 + 0.5) / 4503599627370496.0 $$;

-- standard normal (Box-Muller)
CREATE FUNCTION pg_temp.z(k bigint, s integer) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT sqrt(-2.0 * ln(pg_temp.u(k, s))) * cos(6.283185307179586 * pg_temp.u(k, s + 7919)) $$;

-- clamp to [0, 1]
CREATE FUNCTION pg_temp.c01(x float8) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT least(greatest(x, 0.0), 1.0) $$;

------------------------------------------------------------------------------
-- Target tables
------------------------------------------------------------------------------

DROP TABLE IF EXISTS public.labs;
DROP TABLE IF EXISTS public.diagnoses;
DROP TABLE IF EXISTS public.medications;
DROP TABLE IF EXISTS public.patients;

CREATE TABLE public.patients (
    patient_id  bigint PRIMARY KEY,
    birth_date  date,
    sex         text
);

CREATE TABLE public.labs (
    patient_id  bigint,
    code        text,
    taken_at    timestamptz,
    value       numeric,
    unit        text
);

CREATE TABLE public.diagnoses (
    patient_id   bigint,
    code         text,
    diagnosed_at date
);

CREATE TABLE public.medications (
    patient_id  bigint,
    drug        text,
    started_at  date,
    ended_at    date
);

------------------------------------------------------------------------------
-- Hidden per-patient model: demographics, diseases, onsets, physiology
------------------------------------------------------------------------------

CREATE TEMP TABLE pt ON COMMIT DROP AS
WITH r AS (
    SELECT g::bigint AS pid
    FROM generate_series(1, :scale) AS g
), a AS MATERIALIZED (
    SELECT pid,
           CASE WHEN pg_temp.u(pid, 4) < 0.03 THEN 10.0 + 8.0 * pg_temp.u(pid, 1)
                WHEN pg_temp.u(pid, 3) < 0.70 THEN 18.0 + 77.0 * (pg_temp.u(pid, 1) + pg_temp.u(pid, 2)) / 2.0
                ELSE 18.0 + 77.0 * pg_temp.u(pid, 1) END             AS agef,
           CASE WHEN pg_temp.u(pid, 5) < 0.52 THEN 'F' ELSE 'M' END   AS sex_true,
           pg_temp.u(pid, 6) < 0.003                                  AS bd_missing,
           pg_temp.u(pid, 7) < 0.003                                  AS sex_missing,
           pg_temp.z(pid, 20)                                         AS z_util
    FROM r
), d1 AS MATERIALIZED (
    SELECT a.*,
           pg_temp.u(pid, 10) < 0.02 + 0.56 * pg_temp.c01((agef - 25) / 60)   AS htn,
           pg_temp.u(pid, 11) < 0.005                                          AS t1d
    FROM a
), d2 AS MATERIALIZED (
    SELECT d1.*,
           NOT t1d AND pg_temp.u(pid, 12) <
               0.005 + 0.15 * pg_temp.c01((agef - 25) / 50) + CASE WHEN htn THEN 0.04 ELSE 0 END AS t2d
    FROM d1
), d3 AS MATERIALIZED (
    SELECT d2.*,
           agef >= 18 AND pg_temp.u(pid, 13) <
               0.004 + 0.08 * pg_temp.c01((agef - 40) / 45)
               + CASE WHEN t2d THEN 0.07 ELSE 0 END
               + CASE WHEN t1d THEN 0.08 ELSE 0 END
               + CASE WHEN htn THEN 0.03 ELSE 0 END                        AS ckd
    FROM d2
), d4 AS MATERIALIZED (
    SELECT d3.*,
           agef >= 18 AND pg_temp.u(pid, 14) <
               0.001 + 0.05 * pg_temp.c01((agef - 45) / 45)
               + CASE WHEN htn THEN 0.02 ELSE 0 END
               + CASE WHEN t2d THEN 0.02 ELSE 0 END
               + CASE WHEN ckd THEN 0.04 ELSE 0 END                        AS hf,
           agef >= 20 AND pg_temp.u(pid, 15) <
               CASE WHEN sex_true = 'F' THEN 0.002 + 0.05 * pg_temp.c01((agef - 30) / 45)
                    ELSE 0.0004 END                                        AS bc,
           sex_true = 'F' AND agef BETWEEN 16 AND 45 AND pg_temp.u(pid, 16) < 0.06 AS preg,
           pg_temp.u(pid, 17) < 0.002 + 0.12 * power(pg_temp.c01((agef - 55) / 40), 1.5) AS af,
           pg_temp.u(pid, 18) < 0.20 * power(pg_temp.c01((agef - 65) / 30), 2)          AS dem
    FROM d3
), d5 AS MATERIALIZED (
    SELECT d4.*,
           least(3651, floor(agef * 365))::int AS span,
           -- disease subtypes
           CASE WHEN NOT ckd THEN NULL
                WHEN pg_temp.u(pid, 21) < 0.45 THEN '3a'
                WHEN pg_temp.u(pid, 21) < 0.73 THEN '3b'
                WHEN pg_temp.u(pid, 21) < 0.88 THEN '4'
                ELSE '5' END                                                AS ckd_stage,
           CASE WHEN NOT hf THEN NULL
                WHEN pg_temp.u(pid, 22) < 0.50 THEN 'r'     -- reduced EF  (I50.2x)
                WHEN pg_temp.u(pid, 22) < 0.88 THEN 'p'     -- preserved EF (I50.3x)
                WHEN pg_temp.u(pid, 22) < 0.95 THEN 'm'     -- combined     (I50.4x)
                ELSE 'u' END                                                AS hf_type,
           t2d AND pg_temp.u(pid, 23) < 0.28                                AS t2d_insulin,
           CASE WHEN sex_true = 'F' THEN 1.63 ELSE 1.77 END
               * (1 + 0.04 * pg_temp.z(pid, 24))                            AS height
    FROM d4
), d6 AS MATERIALIZED (
    SELECT d5.*,
           ckd_stage = '5' AND pg_temp.u(pid, 25) < 0.65                   AS dialysis,
           -- onsets, in days before 2026-11-01 (1 .. 3651)
           1 + floor(pg_temp.u(pid, 30) * (span - 1))::int AS on_htn,
           1 + floor(pg_temp.u(pid, 31) * (span - 1))::int AS on_diab,
           1 + floor(pg_temp.u(pid, 32) * (span - 1))::int AS on_ckd,
           1 + floor(pg_temp.u(pid, 33) * (span - 1))::int AS on_hf,
           1 + floor(pg_temp.u(pid, 34) * (span - 1))::int AS on_bc,
           CASE WHEN pg_temp.u(pid, 35) < 0.4 THEN 1 + floor(pg_temp.u(pid, 36) * 270)::int
                ELSE 1 + floor(pg_temp.u(pid, 36) * (span - 1))::int END AS on_preg,
           1 + floor(pg_temp.u(pid, 37) * (span - 1))::int AS on_af,
           1 + floor(pg_temp.u(pid, 38) * (span - 1))::int AS on_dem
    FROM d5
), d7 AS MATERIALIZED (
    SELECT d6.*,
           (t1d OR t2d) AS diab,
           (htn::int + t1d::int + t2d::int + ckd::int + hf::int + bc::int + af::int + dem::int) AS ndis,
           -- physiology (patient-level means)
           CASE WHEN t1d THEN 8.1 WHEN t2d THEN 7.7 ELSE 5.4 + 0.004 * (agef - 40) END AS a1c_mu,
           CASE WHEN t1d THEN 1.0 WHEN t2d THEN 1.1 ELSE 0.3 END                     AS a1c_sdb,
           CASE ckd_stage WHEN '3a' THEN 52 WHEN '3b' THEN 38 WHEN '4' THEN 22
                          WHEN '5' THEN CASE WHEN dialysis THEN 7 ELSE 11 END
                          ELSE greatest(70.0, 118 - 0.75 * (agef - 20)) END          AS egfr_mu,
           CASE WHEN ckd THEN 3.5 ELSE 8 END                                         AS egfr_sdb,
           CASE WHEN sex_true = 'F' THEN 13.3 ELSE 14.9 END
             - CASE ckd_stage WHEN '3a' THEN 0.7 WHEN '3b' THEN 1.2 WHEN '4' THEN 2.0
                              WHEN '5' THEN 2.8 ELSE 0 END
             - CASE WHEN bc THEN 0.9 ELSE 0 END                                      AS hgb_mu,
           CASE WHEN htn THEN 134 + 0.15 * (agef - 60)
                ELSE 114 + 0.25 * greatest(agef - 30, 0) END                         AS sbp_mu,
           CASE WHEN htn THEN 82 - 0.1 * (agef - 60) ELSE 74 END                     AS dbp_mu,
           CASE WHEN sex_true = 'F' THEN 74 ELSE 88 END
             + CASE WHEN t2d THEN 10 ELSE 0 END
             - CASE WHEN agef < 18 THEN 25 ELSE 0 END                                AS wt_mu,
           CASE hf_type WHEN 'r' THEN ln(2200) WHEN 'm' THEN ln(1500)
                        WHEN 'p' THEN ln(900) WHEN 'u' THEN ln(1200)
                        ELSE ln(45 * (1 + pg_temp.c01((agef - 40) / 40))) END
             + CASE WHEN ckd THEN 0.5 ELSE 0 END                                     AS bnp_mu,
           CASE hf_type WHEN 'r' THEN 29 WHEN 'm' THEN 45 WHEN 'p' THEN 57 WHEN 'u' THEN 42
                        ELSE 61 END                                                  AS lvef_mu,
           CASE hf_type WHEN 'r' THEN 6 WHEN 'm' THEN 3 WHEN 'p' THEN 4 WHEN 'u' THEN 10
                        ELSE 4 END                                                   AS lvef_sdb
    FROM d6
), d8 AS MATERIALIZED (
    SELECT d7.*,
           -- monitoring schedule for chronic conditions (last two years)
           CASE WHEN bc THEN 75 WHEN hf THEN 90 WHEN diab OR ckd OR af THEN 120
                WHEN htn THEN 180 END                                               AS mon_int,
           greatest(CASE WHEN diab THEN on_diab ELSE 0 END, CASE WHEN htn THEN on_htn ELSE 0 END,
                    CASE WHEN ckd THEN on_ckd ELSE 0 END,  CASE WHEN hf THEN on_hf ELSE 0 END,
                    CASE WHEN bc THEN on_bc ELSE 0 END,    CASE WHEN af THEN on_af ELSE 0 END) AS on_max
    FROM d7
)
SELECT d8.*,
       CASE WHEN mon_int IS NULL THEN 0
            WHEN pg_temp.u(pid, 40) < 0.18 THEN mon_int + 700 * pg_temp.u(pid, 41)   -- lapsed follow-up
            ELSE 0.9 * mon_int * pg_temp.u(pid, 41) END                             AS mon_off,
       -- ordinary visits, skewed (lognormal), more for the chronically ill
       least(150, floor(exp(ln(2.2) - 0.32 + 0.8 * z_util) * (1 + 0.25 * ndis)))::int AS n_reg,
       -- background diagnoses and medications
       least(80, floor(exp(ln(6.0) - 0.18 + 0.6 * (0.7 * z_util + 0.714 * pg_temp.z(pid, 42)))))::int AS n_bgdx,
       least(60, floor(exp(ln(3.8) - 0.18 + 0.6 * (0.7 * z_util + 0.714 * pg_temp.z(pid, 43)))))::int AS n_bgmed
FROM d8;

ALTER TABLE pt ADD COLUMN n_mon int;
UPDATE pt SET n_mon = CASE WHEN mon_int IS NULL THEN 0
                           ELSE greatest(0, floor((least(on_max, 730) - mon_off) / mon_int)::int + 1) END;
ANALYZE pt;

------------------------------------------------------------------------------
-- patients
------------------------------------------------------------------------------

INSERT INTO public.patients (patient_id, birth_date, sex)
SELECT pid,
       CASE WHEN bd_missing THEN NULL ELSE date '2026-11-01' - floor(agef * 365.25)::int END,
       CASE WHEN sex_missing THEN NULL ELSE sex_true END
FROM pt
ORDER BY pid;

------------------------------------------------------------------------------
-- labs
------------------------------------------------------------------------------

-- lab catalogue: idx, LOINC code, unit, default mean, between-patient sd,
-- within-patient sd, clamp range, decimals, lognormal?, noise shared with
CREATE TEMP TABLE lc (idx int PRIMARY KEY, code text, unit text, mu float8, sdb float8, sdw float8,
                      lo float8, hi float8, dec int, islog bool, nidx int) ON COMMIT DROP;
INSERT INTO lc VALUES
 ( 1,'2345-7' ,'mg/dL'        , 96   , 8   , 10  , 40  , 700  , 0, false,  1), -- glucose
 ( 2,'2951-2' ,'mmol/L'       , 140  , 1.8 , 1.8 , 118 , 165  , 0, false,  2), -- sodium
 ( 3,'2823-3' ,'mmol/L'       , 4.2  , 0.25, 0.3 , 2.4 , 7.5  , 1, false,  3), -- potassium
 ( 4,'2075-0' ,'mmol/L'       , 103  , 1.8 , 2   , 85  , 122  , 0, false,  4), -- chloride
 ( 5,'2028-9' ,'mmol/L'       , 25   , 1.5 , 2   , 10  , 40   , 0, false,  5), -- CO2
 ( 6,'3094-0' ,'mg/dL'        , 14   , 3   , 3   , 3   , 180  , 0, false,  6), -- BUN
 ( 7,'2160-0' ,'mg/dL'        , 0    , 0   , 4   , 0.3 , 15   , 2, false,  9), -- creatinine (from eGFR)
 ( 8,'17861-6','mg/dL'        , 9.4  , 0.25, 0.3 , 6.0 , 13   , 1, false,  8), -- calcium
 ( 9,'33914-3','mL/min/1.73m2', 0    , 0   , 4   , 3   , 150  , 0, false,  9), -- eGFR
 (10,'6690-2' ,'10*3/uL'      , ln(6.8), 0.2, 0.18, 0.5, 60  , 1, true , 10), -- WBC
 (11,'789-8'  ,'10*6/uL'      , 4.7  , 0.3 , 0.2 , 2.0 , 7.0  , 2, false, 11), -- RBC
 (12,'718-7'  ,'g/dL'         , 0    , 0.9 , 0.6 , 5.0 , 20   , 1, false, 12), -- hemoglobin
 (13,'4544-3' ,'%'            , 0    , 2.7 , 1.8 , 15  , 60   , 1, false, 12), -- hematocrit (~3x Hb)
 (14,'787-2'  ,'fL'           , 90   , 4   , 1.5 , 60  , 125  , 0, false, 14), -- MCV
 (15,'777-3'  ,'10*3/uL'      , 250  , 50  , 25  , 8   , 950  , 0, false, 15), -- platelets
 (16,'1742-6' ,'U/L'          , ln(22), 0.4, 0.25, 3   , 3000 , 0, true , 16), -- ALT
 (17,'1920-8' ,'U/L'          , ln(23), 0.3, 0.2 , 5   , 3000 , 0, true , 17), -- AST
 (18,'6768-6' ,'U/L'          , ln(75), 0.25,0.12, 15  , 1500 , 0, true , 18), -- ALP
 (19,'1975-2' ,'mg/dL'        , ln(0.6),0.35,0.2 , 0.1 , 25   , 1, true , 19), -- bilirubin
 (20,'1751-7' ,'g/dL'         , 4.2  , 0.3 , 0.25, 1.5 , 5.6  , 1, false, 20), -- albumin
 (21,'2885-2' ,'g/dL'         , 7.0  , 0.4 , 0.3 , 4.0 , 9.8  , 1, false, 21), -- total protein
 (22,'2093-3' ,'mg/dL'        , 192  , 32  , 14  , 80  , 420  , 0, false, 22), -- cholesterol
 (23,'2571-8' ,'mg/dL'        , ln(125),0.4, 0.2 , 25  , 2500 , 0, true , 23), -- triglycerides
 (24,'2085-9' ,'mg/dL'        , 0    , 11  , 4   , 12  , 130  , 0, false, 24), -- HDL
 (25,'13457-7','mg/dL'        , 112  , 28  , 12  , 15  , 320  , 0, false, 25), -- LDL (calc)
 (26,'4548-4' ,'%'            , 0    , 0   , 0.35, 3.8 , 18   , 1, false, 26), -- HbA1c
 (27,'8480-6' ,'mm[Hg]'       , 0    , 10  , 9   , 70  , 250  , 0, false, 27), -- systolic BP
 (28,'8462-4' ,'mm[Hg]'       , 0    , 7   , 6   , 35  , 140  , 0, false, 28), -- diastolic BP
 (29,'8867-4' ,'/min'         , 74   , 7   , 8   , 35  , 180  , 0, false, 29), -- heart rate
 (30,'8310-5' ,'Cel'          , 36.8 , 0.15, 0.3 , 34.5, 41   , 1, false, 30), -- temperature
 (31,'29463-7','kg'           , 0    , 14  , 1.5 , 25  , 250  , 1, false, 31), -- body weight
 (32,'39156-5','kg/m2'        , 0    , 0   , 0   , 12  , 75   , 1, false, 31), -- BMI (weight / h^2)
 (33,'33762-6','pg/mL'        , 0    , 0   , 0.35, 5   , 35000, 0, true , 33), -- NT-proBNP
 (34,'10839-9','ng/mL'        , ln(0.008),0.6,0.5, 0.001,50  , 3, true , 34), -- troponin I
 (35,'10230-1','%'            , 0    , 0   , 3   , 10  , 78   , 0, false, 35), -- LVEF
 (36,'5902-2' ,'s'            , 12   , 0.7 , 0.5 , 9   , 80   , 1, false, 37), -- PT (tracks INR)
 (37,'6301-6' ,'{INR}'        , 1.0  , 0.06, 0.06, 0.8 , 9    , 1, false, 37), -- INR
 (38,'3016-3' ,'mIU/L'        , ln(1.8),0.5, 0.3 , 0.01, 100  , 2, true , 38), -- TSH
 (39,'1988-5' ,'mg/L'         , ln(2.0),0.9, 0.6 , 0.1 , 350  , 1, true , 39), -- CRP
 (40,'14959-1','mg/g'         , ln(10), 0.8, 0.5 , 1   , 6000 , 0, true , 40), -- urine albumin/creatinine
 (41,'3084-1' ,'mg/dL'        , 5.5  , 1.2 , 0.6 , 1.5 , 16   , 1, false, 41), -- uric acid
 (42,'19123-9','mg/dL'        , 2.0  , 0.15, 0.15, 0.8 , 4.5  , 1, false, 42), -- magnesium
 (43,'1989-3' ,'ng/mL'        , 28   , 9   , 5   , 3   , 120  , 0, false, 43); -- vitamin D

-- panels drawn together at one visit
CREATE TEMP TABLE panel_codes (panel int, idx int) ON COMMIT DROP;
INSERT INTO panel_codes
SELECT 1, unnest(ARRAY[1,2,3,4,5,6,7,8,9])      -- basic metabolic panel
UNION ALL SELECT 2, unnest(ARRAY[10,11,12,13,14,15])   -- CBC
UNION ALL SELECT 3, unnest(ARRAY[22,23,24,25])         -- lipid panel
UNION ALL SELECT 4, unnest(ARRAY[27,28,29,30,31,32])   -- vital signs
UNION ALL SELECT 5, unnest(ARRAY[16,17,18,19,20,21])   -- hepatic panel
UNION ALL SELECT 6, 26                                 -- HbA1c
UNION ALL SELECT 7, unnest(ARRAY[33,34])               -- cardiac markers
UNION ALL SELECT 8, 35                                 -- echocardiogram
UNION ALL SELECT 9, unnest(ARRAY[36,37])               -- coagulation
UNION ALL SELECT 10, unnest(ARRAY[3,7,9])              -- renal function
UNION ALL SELECT 10 + i, 37 + i FROM generate_series(1, 6) i;  -- single tests 38..43

INSERT INTO public.labs (patient_id, code, taken_at, value, unit)
WITH vis AS (
    -- ordinary visits: one panel, sometimes two; times biased to recent
    SELECT p.pid, k AS vkey,
           1 + floor((p.span - 1) * power(pg_temp.u(p.pid * 1024 + k, 50), 2))::int AS days_ago,
           pg_temp.u(p.pid * 1024 + k, 51) AS utod,
           array_remove(ARRAY[pn1, CASE WHEN pg_temp.u(p.pid * 1024 + k, 53) < 0.45 AND pn2 <> pn1 THEN pn2 END], NULL) AS panels
    FROM pt p
    CROSS JOIN LATERAL generate_series(1, p.n_reg) AS k
    CROSS JOIN LATERAL (
        SELECT CASE WHEN x < 0.30 THEN 4 WHEN x < 0.50 THEN 1 WHEN x < 0.67 THEN 2
                    WHEN x < 0.74 THEN 3 WHEN x < 0.81 THEN 5 WHEN x < 0.84 THEN 6
                    WHEN x < 0.86 THEN 9 WHEN x < 0.875 THEN 7 WHEN x < 0.88 THEN 8
                    ELSE 11 + least(5, floor((x - 0.88) / 0.02)::int) END AS pn1,
               CASE WHEN y < 0.30 THEN 4 WHEN y < 0.55 THEN 1 WHEN y < 0.75 THEN 2
                    WHEN y < 0.85 THEN 3 ELSE 5 END AS pn2
        FROM (SELECT pg_temp.u(p.pid * 1024 + k, 52) AS x, pg_temp.u(p.pid * 1024 + k, 54) AS y) s
    ) ch
    UNION ALL
    -- disease monitoring visits (last two years, regular interval)
    SELECT pid, vkey, days_ago, utod,
           array_remove(ARRAY[
             CASE WHEN pg_temp.u(mk, 61) < greatest(CASE WHEN dx_diab THEN 0.75 ELSE 0 END,
                                                    CASE WHEN dx_hf   THEN 0.80 ELSE 0 END) THEN 1 END,
             CASE WHEN pg_temp.u(mk, 62) < greatest(CASE WHEN dx_bc  THEN 0.90 ELSE 0 END,
                                                    CASE WHEN dx_ckd THEN 0.40 ELSE 0 END) THEN 2 END,
             CASE WHEN pg_temp.u(mk, 64) < greatest(CASE WHEN dx_htn THEN 0.85 ELSE 0 END,
                                                    CASE WHEN dx_hf  THEN 0.50 ELSE 0 END,
                                                    CASE WHEN dx_diab THEN 0.40 ELSE 0 END) THEN 4 END,
             CASE WHEN dx_bc   AND pg_temp.u(mk, 65) < 0.60 THEN 5 END,
             CASE WHEN dx_diab AND pg_temp.u(mk, 66) < 0.90 THEN 6 END,
             CASE WHEN dx_hf   AND pg_temp.u(mk, 67) < 0.75 THEN 7 END,
             CASE WHEN dx_hf   AND pg_temp.u(mk, 68) < 0.40 THEN 8 END,
             CASE WHEN dx_af   AND pg_temp.u(mk, 69) < 0.70 THEN 9 END,
             -- renal panel only when the BMP (which contains it) was not drawn
             CASE WHEN dx_ckd  AND pg_temp.u(mk, 70) < 0.90
                   AND NOT (pg_temp.u(mk, 61) < greatest(CASE WHEN dx_diab THEN 0.75 ELSE 0 END,
                                                         CASE WHEN dx_hf   THEN 0.80 ELSE 0 END)) THEN 10 END,
             CASE WHEN (dx_diab OR dx_ckd) AND pg_temp.u(mk, 71) < 0.25 THEN 13 END  -- urine ACR
           ], NULL)
    FROM (
        SELECT p.pid, 1000 + m AS vkey, p.pid * 1024 + 1000 + m AS mk, d.days_ago,
               pg_temp.u(p.pid * 1024 + 1000 + m, 51) AS utod,
               p.diab AND d.days_ago <= p.on_diab AS dx_diab,
               p.hf   AND d.days_ago <= p.on_hf   AS dx_hf,
               p.ckd  AND d.days_ago <= p.on_ckd  AS dx_ckd,
               p.htn  AND d.days_ago <= p.on_htn  AS dx_htn,
               p.bc   AND d.days_ago <= p.on_bc   AS dx_bc,
               p.af   AND d.days_ago <= p.on_af   AS dx_af
        FROM pt p
        CROSS JOIN LATERAL generate_series(0, p.n_mon - 1) AS m
        CROSS JOIN LATERAL (
            SELECT greatest(1, floor(p.mon_off + m * p.mon_int
                                     + (pg_temp.u(p.pid * 1024 + 1000 + m, 60) - 0.5) * 0.3 * p.mon_int))::int AS days_ago
        ) d
    ) mv
), lrows AS (
    SELECT p.*, v.vkey, v.days_ago, v.utod, c.*,
           p.pid * 65536 + v.vkey * 64 + c.nidx AS nkey,   -- shared by codes measured together
           p.pid * 65536 + v.vkey * 64 + c.idx  AS rkey
    FROM vis v
    CROSS JOIN LATERAL unnest(v.panels) AS pn(panel)
    JOIN panel_codes pc ON pc.panel = pn.panel
    JOIN lc c ON c.idx = pc.idx
    JOIN pt p ON p.pid = v.pid
), params AS (
    SELECT r.*,
           CASE r.idx
             WHEN 1  THEN CASE WHEN r.diab THEN 28.7 * r.a1c_mu - 62 ELSE r.mu END
             WHEN 3  THEN r.mu + CASE r.ckd_stage WHEN '3a' THEN 0.15 WHEN '3b' THEN 0.3
                                                  WHEN '4' THEN 0.5 WHEN '5' THEN 0.7 ELSE 0 END
             WHEN 6  THEN r.mu * power(greatest(r.egfr_mu, 5) / 90.0, -0.7)
             WHEN 7  THEN r.egfr_mu
             WHEN 9  THEN r.egfr_mu
             WHEN 11 THEN CASE WHEN r.sex_true = 'F' THEN 4.5 ELSE 5.0 END
             WHEN 12 THEN r.hgb_mu
             WHEN 13 THEN 2.98 * r.hgb_mu
             WHEN 15 THEN r.mu - CASE WHEN r.bc THEN 20 ELSE 0 END
             WHEN 20 THEN r.mu - CASE WHEN r.ckd THEN 0.3 ELSE 0 END - CASE WHEN r.hf THEN 0.2 ELSE 0 END
             WHEN 23 THEN CASE WHEN r.diab THEN ln(175) ELSE r.mu END
             WHEN 24 THEN CASE WHEN r.sex_true = 'F' THEN 58 ELSE 46 END - CASE WHEN r.diab THEN 6 ELSE 0 END
             WHEN 26 THEN r.a1c_mu
             WHEN 27 THEN r.sbp_mu
             WHEN 28 THEN r.dbp_mu
             WHEN 29 THEN r.mu + CASE WHEN r.hf THEN 6 ELSE 0 END + CASE WHEN r.af THEN 10 ELSE 0 END
             WHEN 31 THEN r.wt_mu
             WHEN 32 THEN r.wt_mu / (r.height * r.height)
             WHEN 33 THEN r.bnp_mu
             WHEN 34 THEN r.mu + CASE WHEN r.hf THEN 1.1 ELSE 0 END + CASE WHEN r.ckd THEN 0.5 ELSE 0 END
             WHEN 35 THEN r.lvef_mu
             WHEN 36 THEN CASE WHEN r.af THEN 24 ELSE r.mu END
             WHEN 37 THEN CASE WHEN r.af THEN 2.2 ELSE r.mu END
             WHEN 40 THEN r.mu + CASE WHEN r.diab THEN 1.0 ELSE 0 END
                               + CASE r.ckd_stage WHEN '3a' THEN 1.2 WHEN '3b' THEN 1.8 WHEN '4' THEN 2.5
                                                  WHEN '5' THEN 3.0 ELSE 0 END
             WHEN 41 THEN r.mu + CASE WHEN r.ckd THEN 1.5 ELSE 0 END
             ELSE r.mu END AS mu_e,
           CASE r.idx
             WHEN 7  THEN r.egfr_sdb
             WHEN 9  THEN r.egfr_sdb
             WHEN 26 THEN r.a1c_sdb
             WHEN 1  THEN CASE WHEN r.diab THEN 25 ELSE r.sdb END
             WHEN 32 THEN 14 / (r.height * r.height)
             WHEN 33 THEN CASE WHEN r.hf THEN 0.7 ELSE 0.8 END
             WHEN 35 THEN r.lvef_sdb
             WHEN 36 THEN CASE WHEN r.af THEN 5 ELSE r.sdb END
             WHEN 37 THEN CASE WHEN r.af THEN 0.4 ELSE r.sdb END
             ELSE r.sdb END AS sdb_e,
           CASE r.idx
             WHEN 1  THEN CASE WHEN r.diab THEN 35 ELSE r.sdw END
             WHEN 7  THEN CASE WHEN r.ckd THEN 3 ELSE 4 END
             WHEN 9  THEN CASE WHEN r.ckd THEN 3 ELSE 4 END
             WHEN 26 THEN CASE WHEN r.diab THEN 0.45 ELSE 0.15 END
             WHEN 32 THEN 1.5 / (r.height * r.height)
             WHEN 36 THEN CASE WHEN r.af THEN 6 ELSE r.sdw END
             WHEN 37 THEN CASE WHEN r.af THEN 0.5 ELSE r.sdw END
             ELSE r.sdw END AS sdw_e
    FROM lrows r
), vals AS (
    SELECT q.pid, q.code, q.unit, q.idx, q.rkey,
           timestamptz '2026-11-01 00:00:00+00'
             - (q.days_ago * 86400 - 25200 - floor(q.utod * 39600)::int) * interval '1 second' AS taken_at,
           CASE WHEN q.idx = 7 THEN
                  -- creatinine from the eGFR drawn with it (CKD-EPI 2021, inverted)
                  CASE WHEN q.sex_true = 'F' THEN 0.7 ELSE 0.9 END
                  * CASE WHEN q.ratio <= 1 THEN power(q.ratio, -1 / 1.2)
                         ELSE power(q.ratio, 1 / CASE WHEN q.sex_true = 'F' THEN -0.241 ELSE -0.302 END) END
                WHEN q.islog THEN exp(q.v0)
                ELSE q.v0 END AS v,
           q.lo, q.hi, q.dec
    FROM (SELECT w.*,
                 least(150.0, greatest(3.0, w.v0))
                   / (142 * power(0.9938, greatest(w.agef, 18))
                      * CASE WHEN w.sex_true = 'F' THEN 1.012 ELSE 1 END) AS ratio
          FROM (SELECT params.*,
                       mu_e + sdb_e * pg_temp.z(pid * 64 + nidx, 31) + sdw_e * pg_temp.z(nkey, 32) AS v0
                FROM params) w) q
), fin AS (
    SELECT pid, code, taken_at,
           round(least(hi, greatest(lo, v))::numeric, dec) AS val,
           unit,
           CASE WHEN idx = 1 AND pg_temp.u(rkey, 80) < 0.03 THEN 1
                WHEN idx = 7 AND pg_temp.u(rkey, 80) < 0.01 THEN 2
                ELSE 0 END AS conv,
           pg_temp.u(rkey, 81) AS unull
    FROM vals
)
SELECT pid, code, taken_at,
       CASE WHEN unull < 0.005 THEN NULL
            WHEN conv = 1 THEN round(val / 18.016, 1)
            WHEN conv = 2 THEN round(val * 88.42, 0)
            ELSE val END,
       CASE WHEN unull >= 0.995 AND unull < 0.997 THEN NULL
            WHEN conv = 1 THEN 'mmol/L'
            WHEN conv = 2 THEN 'umol/L'
            ELSE unit END
FROM fin;

------------------------------------------------------------------------------
-- diagnoses
------------------------------------------------------------------------------

-- disease code choice: (cond, code, cumulative upper bound)
CREATE TEMP TABLE dxmap (cond text, code text, lo float8, hi float8) ON COMMIT DROP;
INSERT INTO dxmap (cond, code, hi)
VALUES
 ('t2d','E11.9',0.50),('t2d','E11.65',0.68),('t2d','E11.22',0.75),('t2d','E11.40',0.80),
 ('t2d','E11.42',0.84),('t2d','E11.319',0.87),('t2d','E11.8',0.90),('t2d','E11.69',0.95),('t2d','E11.649',1.0),
 ('t1d','E10.9',0.55),('t1d','E10.65',0.80),('t1d','E10.10',0.85),('t1d','E10.22',0.90),('t1d','E10.40',1.0),
 ('htn','I10',1.0),
 ('hf_r','I50.22',0.45),('hf_r','I50.23',0.57),('hf_r','I50.21',0.65),('hf_r','I50.20',0.85),('hf_r','I50.9',1.0),
 ('hf_p','I50.32',0.45),('hf_p','I50.33',0.55),('hf_p','I50.31',0.60),('hf_p','I50.30',0.85),('hf_p','I50.9',1.0),
 ('hf_m','I50.42',0.50),('hf_m','I50.43',0.60),('hf_m','I50.40',0.85),('hf_m','I50.9',1.0),
 ('hf_u','I50.9',1.0),
 ('ckd_3a','N18.31',0.45),('ckd_3a','N18.3',0.80),('ckd_3a','N18.30',1.0),
 ('ckd_3b','N18.32',0.45),('ckd_3b','N18.3',0.80),('ckd_3b','N18.30',1.0),
 ('ckd_4','N18.4',0.85),('ckd_4','N18.9',1.0),
 ('ckd_5','N18.5',0.85),('ckd_5','N18.9',1.0),
 ('ckd_5d','N18.6',0.80),('ckd_5d','N18.5',1.0),
 ('dialysis','Z99.2',1.0),
 ('bc_f','C50.911',0.30),('bc_f','C50.912',0.60),('bc_f','C50.919',0.70),('bc_f','C50.411',0.80),
 ('bc_f','C50.412',0.90),('bc_f','C50.811',0.95),('bc_f','C50.212',1.0),
 ('bc_m','C50.921',0.50),('bc_m','C50.922',1.0),
 ('preg','Z33.1',1.0),
 ('af','I48.91',0.60),('af','I48.0',0.80),('af','I48.20',1.0),
 ('dem','F03.90',0.60),('dem','G30.9',0.90),('dem','G30.1',1.0);
UPDATE dxmap d SET lo = coalesce((SELECT max(hi) FROM dxmap e WHERE e.cond = d.cond AND e.hi < d.hi), 0);

-- background codes: common real codes first (Zipf rank order), then generated ones
CREATE TEMP TABLE dxbg (rank int PRIMARY KEY, code text UNIQUE) ON COMMIT DROP;
INSERT INTO dxbg
SELECT ord, code FROM unnest(ARRAY[
 'E78.5','Z00.00','J06.9','M54.50','K21.9','F41.9','F32.9','E66.9','Z23','R05.9','N39.0','I25.10',
 'E03.9','G47.33','M17.11','J45.909','R51.9','Z12.31','E55.9','M25.561','R10.9','J02.9','J20.9',
 'Z79.899','K59.00','R53.83','G43.909','L40.0','M79.7','J44.9','F17.210','R73.03','D64.9','E87.1',
 'N40.0','H52.4','M81.0','K57.30','B34.9','R42','R06.02','Z87.891','M10.9','L30.9','J30.9','H10.9',
 'R11.2','K29.70','M19.90','G89.29','I73.9','R00.2','F43.10','F90.0','Z30.011','N94.6','R31.9',
 'I83.90','K76.0','D50.9','E28.2','J18.9','A09','S39.012A','S93.401A','T78.40XA','Z51.11','Z68.30',
 'I63.9','I21.4','C61','C34.90','C18.9','Z86.73','I20.9','I26.99','E05.90','E21.3','K80.20',
 'K35.80','N20.0','L03.115','J32.9','R07.9','R50.9','Z34.90','J45.20','J45.40','M54.2','M62.830',
 'R10.84','R19.7','R21','R60.0','Z79.01','Z79.4','Z01.419','Z13.220','Z71.3','Z91.81','G40.909',
 'G62.9','H40.9','H25.9','K63.5','K92.1','L70.0','L82.1','M06.9','M48.06'
]) WITH ORDINALITY AS t(code, ord);

INSERT INTO dxbg
SELECT (SELECT max(rank) FROM dxbg) + row_number() OVER (ORDER BY md5(code)), code
FROM (
    SELECT substr('ABDHJKLMNRST', l, 1) || lpad(n::text, 2, '0') || '.' || d::text AS code
    FROM generate_series(1, 12) l, generate_series(0, 99) n, generate_series(0, 9) d
) g
WHERE code NOT LIKE 'N18%'
  AND code NOT IN (SELECT code FROM dxbg)
ORDER BY md5(code)
LIMIT 1960 - (SELECT count(*) FROM dxbg);

INSERT INTO public.diagnoses (patient_id, code, diagnosed_at)
-- chronic conditions: first record at onset, later records biased to recent
SELECT p.pid, m.code, date '2026-11-01' - x.days_ago
FROM pt p
CROSS JOIN LATERAL (VALUES
    (1, 't2d', p.t2d, p.on_diab, 1 + floor(pg_temp.u(p.pid, 100) * 5)::int),
    (2, 't1d', p.t1d, p.on_diab, 1 + floor(pg_temp.u(p.pid, 101) * 5)::int),
    (3, 'htn', p.htn, p.on_htn,  1 + floor(pg_temp.u(p.pid, 102) * 4)::int),
    (4, 'hf_' || p.hf_type, p.hf, p.on_hf, 1 + floor(pg_temp.u(p.pid, 103) * 6)::int),
    (5, 'ckd_' || p.ckd_stage || CASE WHEN p.dialysis THEN 'd' ELSE '' END, p.ckd, p.on_ckd,
          1 + floor(pg_temp.u(p.pid, 104) * 4)::int),
    (6, 'dialysis', p.dialysis, least(p.on_ckd, 1 + floor(pg_temp.u(p.pid, 105) * 1500)::int),
          1 + floor(pg_temp.u(p.pid, 106) * 4)::int),
    (7, CASE WHEN p.sex_true = 'F' THEN 'bc_f' ELSE 'bc_m' END, p.bc, p.on_bc,
          1 + floor(pg_temp.u(p.pid, 107) * 6)::int),
    (8, 'preg', p.preg, p.on_preg, 1 + floor(pg_temp.u(p.pid, 108) * 2)::int),
    (9, 'af',  p.af,  p.on_af,  1 + floor(pg_temp.u(p.pid, 109) * 3)::int),
    (10, 'dem', p.dem, p.on_dem, 1 + floor(pg_temp.u(p.pid, 110) * 2)::int)
) AS c(ci, cond, has, onset, nrows)
CROSS JOIN LATERAL generate_series(1, c.nrows) AS j
CROSS JOIN LATERAL (
    SELECT CASE WHEN j = 1 THEN c.onset
                WHEN c.cond = 'preg' THEN greatest(1, c.onset - floor(pg_temp.u(p.pid * 64 + j, 1400 + c.ci) * 250)::int)
                ELSE 1 + floor((c.onset - 1) * power(pg_temp.u(p.pid * 64 + j, 1000 + c.ci), 1.5))::int
           END AS days_ago,
           -- most records repeat the patient's usual code, some vary
           CASE WHEN pg_temp.u(p.pid * 64 + j, 1100 + c.ci) < 0.7
                THEN pg_temp.u(p.pid, 1200 + c.ci)
                ELSE pg_temp.u(p.pid * 64 + j, 1300 + c.ci) END AS cu
) x
JOIN dxmap m ON m.cond = c.cond AND x.cu >= m.lo AND x.cu < m.hi
WHERE c.has
UNION ALL
-- everything else: Zipf-like popularity over ~1960 codes
SELECT p.pid, b.code,
       date '2026-11-01' - (1 + floor((p.span - 1) * power(pg_temp.u(p.pid * 128 + j, 121), 1.7))::int)
FROM pt p
CROSS JOIN LATERAL generate_series(1, p.n_bgdx) AS j
JOIN dxbg b ON b.rank = least(1960, floor(power(1961.0, pg_temp.u(p.pid * 128 + j, 120)))::int);

------------------------------------------------------------------------------
-- medications
------------------------------------------------------------------------------

-- disease drugs: (cond, drug, probability, probability still ongoing)
CREATE TEMP TABLE dmap (cond text, drug text, prob float8, p_on float8, di int) ON COMMIT DROP;
INSERT INTO dmap (cond, drug, prob, p_on) VALUES
 ('t2d','metformin',0.75,0.70),('t2d','empagliflozin',0.18,0.70),('t2d','dapagliflozin',0.08,0.70),
 ('t2d','sitagliptin',0.15,0.60),('t2d','glipizide',0.15,0.50),('t2d','glimepiride',0.06,0.50),
 ('t2d','semaglutide',0.14,0.70),('t2d','liraglutide',0.05,0.50),('t2d','dulaglutide',0.06,0.60),
 ('t2d','pioglitazone',0.04,0.50),('t2d','atorvastatin',0.55,0.75),
 ('t2d_ins','insulin glargine',0.80,0.75),('t2d_ins','insulin lispro',0.35,0.70),
 ('t2d_ins','insulin aspart',0.15,0.60),('t2d_ins','insulin degludec',0.10,0.70),
 ('t1d','insulin glargine',0.70,0.85),('t1d','insulin lispro',0.65,0.85),('t1d','insulin aspart',0.30,0.80),
 ('t1d','insulin detemir',0.10,0.60),('t1d','insulin degludec',0.15,0.80),
 ('htn','lisinopril',0.35,0.65),('htn','amlodipine',0.35,0.65),('htn','losartan',0.22,0.65),
 ('htn','hydrochlorothiazide',0.25,0.60),('htn','metoprolol succinate',0.12,0.60),
 ('htn','chlorthalidone',0.06,0.60),('htn','valsartan',0.06,0.60),('htn','olmesartan',0.04,0.60),
 ('htn','atorvastatin',0.30,0.70),
 ('hf','sacubitril/valsartan',0.38,0.75),('hf','carvedilol',0.40,0.75),('hf','metoprolol succinate',0.30,0.70),
 ('hf','furosemide',0.60,0.70),('hf','spironolactone',0.35,0.65),('hf','empagliflozin',0.18,0.75),
 ('hf','dapagliflozin',0.15,0.75),('hf','bumetanide',0.08,0.60),('hf','lisinopril',0.12,0.50),
 ('hf','torsemide',0.06,0.60),('hf','digoxin',0.06,0.50),('hf','eplerenone',0.04,0.60),
 ('ckd','furosemide',0.15,0.60),('ckd','calcitriol',0.10,0.70),('ckd','sodium bicarbonate',0.08,0.60),
 ('ckd_adv','epoetin alfa',0.30,0.60),('ckd_adv','sevelamer',0.30,0.70),('ckd_adv','cinacalcet',0.10,0.60),
 ('bc','tamoxifen',0.40,0.50),('bc','letrozole',0.35,0.55),('bc','anastrozole',0.20,0.55),
 ('bc','exemestane',0.06,0.50),('bc','trastuzumab',0.20,0.20),('bc','pertuzumab',0.08,0.20),
 ('bc','ado-trastuzumab emtansine',0.04,0.20),('bc','doxorubicin',0.15,0.05),
 ('bc','cyclophosphamide',0.18,0.05),('bc','paclitaxel',0.22,0.05),('bc','docetaxel',0.10,0.05),
 ('bc','capecitabine',0.06,0.20),('bc','palbociclib',0.10,0.60),('bc','ribociclib',0.05,0.60),
 ('bc','abemaciclib',0.05,0.60),('bc','ondansetron',0.30,0.20),
 ('af','apixaban',0.50,0.80),('af','warfarin',0.22,0.70),('af','rivaroxaban',0.15,0.75),
 ('af','dabigatran',0.03,0.60),('af','metoprolol tartrate',0.30,0.60),('af','diltiazem',0.15,0.60),
 ('af','amiodarone',0.06,0.50),
 ('dem','donepezil',0.50,0.80),('dem','memantine',0.30,0.80),('dem','quetiapine',0.10,0.50),
 ('preg','prenatal multivitamin',0.60,0.30);
UPDATE dmap d SET di = s.rn FROM (SELECT cond, drug, row_number() OVER (ORDER BY cond, drug) AS rn FROM dmap) s
WHERE s.cond = d.cond AND s.drug = d.drug;

-- background drugs: real generic names by rough popularity, then generated names
CREATE TEMP TABLE medbg (rank int PRIMARY KEY, drug text UNIQUE) ON COMMIT DROP;
INSERT INTO medbg
SELECT ord, drug FROM unnest(ARRAY[
 'atorvastatin','levothyroxine','lisinopril','amlodipine','metoprolol tartrate','omeprazole',
 'simvastatin','losartan','albuterol','gabapentin','hydrochlorothiazide','sertraline','acetaminophen',
 'ibuprofen','amoxicillin','montelukast','rosuvastatin','escitalopram','pantoprazole','furosemide',
 'fluticasone','prednisone','tamsulosin','bupropion','trazodone','fluoxetine','cetirizine','citalopram',
 'meloxicam','tramadol','clopidogrel','duloxetine','azithromycin','cyclobenzaprine',
 'amoxicillin/clavulanate','venlafaxine','alprazolam','zolpidem','pravastatin','allopurinol',
 'ondansetron','cephalexin','ciprofloxacin','doxycycline','methylprednisolone','clonazepam',
 'lorazepam','oxycodone','hydrocodone/acetaminophen','famotidine','propranolol','spironolactone',
 'estradiol','norethindrone','sumatriptan','topiramate','lamotrigine','quetiapine','aripiprazole',
 'buspirone','hydroxyzine','loratadine','ezetimibe','fenofibrate','valacyclovir','nitrofurantoin',
 'sulfamethoxazole/trimethoprim','metronidazole','fluconazole','tizanidine','baclofen','methocarbamol',
 'naproxen','diclofenac','celecoxib','potassium chloride','cholecalciferol','cyanocobalamin',
 'folic acid','ferrous sulfate','aspirin','lansoprazole','esomeprazole','docusate',
 'polyethylene glycol','senna','loperamide','dicyclomine','mirtazapine','nortriptyline',
 'amitriptyline','paroxetine','risperidone','olanzapine','lithium','divalproex','levetiracetam',
 'phenytoin','carbamazepine','oxybutynin','finasteride','sildenafil','tadalafil','benzonatate',
 'guaifenesin','promethazine','meclizine','prochlorperazine','budesonide/formoterol',
 'fluticasone/salmeterol','tiotropium','ipratropium','mometasone','triamcinolone','hydrocortisone',
 'clobetasol','mupirocin','ketoconazole','terbinafine','acyclovir','oseltamivir','levofloxacin',
 'clindamycin','penicillin v','cefdinir','ceftriaxone','vancomycin','heparin','enoxaparin',
 'labetalol','nifedipine','verapamil','hydralazine','clonidine','isosorbide mononitrate',
 'nitroglycerin','ranolazine','colchicine','methotrexate','hydroxychloroquine','adalimumab',
 'etanercept','infliximab','ustekinumab','dupilumab','pembrolizumab','nivolumab','rituximab',
 'bevacizumab','alendronate','raloxifene','medroxyprogesterone','ethinyl estradiol/levonorgestrel',
 'testosterone cypionate','prednisolone','dexamethasone','ranitidine','sucralfate','metoclopramide',
 'pregabalin','ropinirole','pramipexole','carbidopa/levodopa','haloperidol','ziprasidone',
 'desvenlafaxine','vilazodone','atenolol','bisoprolol','nebivolol','benazepril','ramipril',
 'enalapril','irbesartan','telmisartan','candesartan','bumetanide','triamterene/hydrochlorothiazide'
]) WITH ORDINALITY AS t(drug, ord);

INSERT INTO medbg
SELECT (SELECT max(rank) FROM medbg) + row_number() OVER (ORDER BY md5(name)), name
FROM (
    SELECT DISTINCT pre || mid || suf AS name
    FROM unnest(ARRAY['ab','bel','cor','dal','el','fen','gal','hal','ind','lor','mir','nal','ol','pra',
                      'quin','ros','sul','tel','ver','zol','bri','cla','dor','epi','fla']) pre,
         unnest(ARRAY['o','a','i','e']) mid,
         unnest(ARRAY['tinib','mab','pril','sartan','olol','zole','cillin','statin','dronate','tidine',
                      'dipine','zepam','floxacin','mycin','vir','setron','gliptin','parin','lukast',
                      'triptan','navir','fibrate','semide','coxib']) suf
) g
WHERE name NOT IN (SELECT drug FROM medbg) AND name NOT IN (SELECT drug FROM dmap)
ORDER BY md5(name)
LIMIT 470 - (SELECT count(*) FROM medbg);

INSERT INTO public.medications (patient_id, drug, started_at, ended_at)
SELECT pid, drug, date '2026-11-01' - sda,
       CASE WHEN ongoing THEN NULL
            ELSE date '2026-11-01' - sda + 1 + floor(uend * (sda - 1))::int END
FROM (
    SELECT p.pid, m.drug,
           c.onset - floor(power(pg_temp.u(p.pid * 256 + m.di, 201), 2) * (c.onset - 1))::int AS sda,
           pg_temp.u(p.pid * 256 + m.di, 202) < m.p_on AS ongoing,
           pg_temp.u(p.pid * 256 + m.di, 203) AS uend
    FROM pt p
    CROSS JOIN LATERAL (VALUES
        ('t2d', p.t2d, p.on_diab),
        ('t2d_ins', p.t2d_insulin, 1 + floor(pg_temp.u(p.pid, 210) * (p.on_diab - 1))::int),
        ('t1d', p.t1d, p.on_diab),
        ('htn', p.htn, p.on_htn),
        ('hf',  p.hf,  p.on_hf),
        ('ckd', p.ckd, p.on_ckd),
        ('ckd_adv', p.ckd_stage IN ('4', '5'), p.on_ckd),
        ('bc',  p.bc,  p.on_bc),
        ('af',  p.af,  p.on_af),
        ('dem', p.dem, p.on_dem),
        ('preg', p.preg, p.on_preg)
    ) AS c(cond, has, onset)
    JOIN dmap m ON m.cond = c.cond
    WHERE c.has AND pg_temp.u(p.pid * 256 + m.di, 200) < m.prob
) dm
UNION ALL
SELECT pid, drug, date '2026-11-01' - sda,
       CASE WHEN ongoing THEN NULL
            ELSE date '2026-11-01' - sda + least(sda, ceil(exp(ln(30) + 1.2 * zdur))::int) END
FROM (
    SELECT p.pid, b.drug,
           1 + floor((p.span - 1) * power(pg_temp.u(p.pid * 64 + j, 221), 1.7))::int AS sda,
           pg_temp.u(p.pid * 64 + j, 222) < 0.33 AS ongoing,
           pg_temp.z(p.pid * 64 + j, 223) AS zdur
    FROM pt p
    CROSS JOIN LATERAL generate_series(1, p.n_bgmed) AS j
    JOIN medbg b ON b.rank = least(470, floor(power(471.0, pg_temp.u(p.pid * 64 + j, 220)))::int)
) bm;

COMMIT;

------------------------------------------------------------------------------
-- Indexes, statistics
------------------------------------------------------------------------------

CREATE INDEX labs_patient_id_idx        ON public.labs (patient_id);
CREATE INDEX labs_code_taken_at_idx     ON public.labs (code, taken_at);
CREATE INDEX diagnoses_patient_id_idx   ON public.diagnoses (patient_id);
CREATE INDEX diagnoses_code_idx         ON public.diagnoses (code);
CREATE INDEX medications_patient_id_idx ON public.medications (patient_id);
CREATE INDEX medications_drug_idx       ON public.medications (drug);

ANALYZE public.patients;
ANALYZE public.labs;
ANALYZE public.diagnoses;
ANALYZE public.medications;

SELECT 'patients' AS "table", count(*) AS "rows" FROM public.patients
UNION ALL SELECT 'labs', count(*) FROM public.labs
UNION ALL SELECT 'diagnoses', count(*) FROM public.diagnoses
UNION ALL SELECT 'medications', count(*) FROM public.medications;
