-- NCT05567890  Heart failure after a recent admission (1.1 time constructs),
-- as_of 2026-11-01.  Tables: bench/time_trial.sql.
--
--  1 incl  HF diagnosed during an admission   diagnosis 'I50%' within 1 year during visit 9201
--  2 incl  Loop diuretic for >= 3 months      medication ('furosemide', 'bumetanide', 'torsemide')
--                                               active for 3 months gap 30 days
--  3 incl  HF on 2 different days in 2 years  diagnosis 'I50%' within 2 years days >= 2
--  4 excl  Pregnant                           diagnosis ('Z33.1', 'Z34%') within 9 months
--                                               not followed by outcome ('Z37%', 'O0%')
--
-- See NCT04567890.sql for the conventions.  Dates are midnight in the
-- session time zone, as is as_of, so comparing dates is comparing times.
-- Windows: - 1 year = 2025-11-01, - 2 years = 2024-11-01, - 9 months =
-- 2026-02-01, - 3 months = 2026-08-01.
-- 1: a diagnosis in the window on a day some 9201 stay covers (start <= t,
--    end NULL or t <= end).
-- 2: gaps and islands: intervals [start, coalesce(end, as_of)] in start
--    order; a new island starts when a start is more than 30 days after the
--    latest end so far; some island must reach from 2026-08-01 to as_of.
-- 3: distinct diagnosis dates in the window.
-- 4: the latest pregnancy code in the window is after every outcome (an
--    outcome on the same day follows it).  No criterion is ever unknown.
WITH adm AS (
    SELECT DISTINCT d.patient_id
      FROM public.diagnoses d
      JOIN public.visits v ON v.patient_id = d.patient_id AND v.visit_type = 9201
                          AND v.started_at <= d.diagnosed_at
                          AND (v.ended_at IS NULL OR d.diagnosed_at <= v.ended_at)
     WHERE d.code >= 'I50' AND d.code < 'I51' AND starts_with(d.code, 'I50')
       AND d.diagnosed_at >= date '2025-11-01' AND d.diagnosed_at <= date '2026-11-01'
), loop AS (
    SELECT patient_id, started_at AS s, coalesce(ended_at, date '2026-11-01') AS e
      FROM public.medications
     WHERE drug IN ('furosemide', 'bumetanide', 'torsemide') AND started_at <= date '2026-11-01'
), edges AS (
    SELECT patient_id, s, e,
           max(e) OVER (PARTITION BY patient_id ORDER BY s, e
                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end
      FROM loop
), islands AS (
    SELECT patient_id, s, e,
           count(*) FILTER (WHERE prev_end IS NULL OR s > prev_end + 30)
             OVER (PARTITION BY patient_id ORDER BY s, e ROWS UNBOUNDED PRECEDING) AS island
      FROM edges
), exposed AS (
    SELECT DISTINCT patient_id
      FROM islands
     GROUP BY patient_id, island
    HAVING min(s) <= date '2026-08-01' AND max(e) >= date '2026-11-01'
), hfdays AS (
    SELECT patient_id
      FROM public.diagnoses
     WHERE code >= 'I50' AND code < 'I51' AND starts_with(code, 'I50')
       AND diagnosed_at >= date '2024-11-01' AND diagnosed_at <= date '2026-11-01'
     GROUP BY patient_id
    HAVING count(DISTINCT diagnosed_at) >= 2
), preg AS (
    SELECT patient_id, max(diagnosed_at) AS last_preg
      FROM public.diagnoses
     WHERE (code = 'Z33.1' OR (code >= 'Z34' AND code < 'Z35' AND starts_with(code, 'Z34')))
       AND diagnosed_at >= date '2026-02-01' AND diagnosed_at <= date '2026-11-01'
     GROUP BY patient_id
), outcome AS (
    SELECT patient_id, max(recorded_at) AS last_outcome
      FROM public.outcomes
     WHERE (starts_with(code, 'Z37') OR starts_with(code, 'O0')) AND recorded_at <= date '2026-11-01'
     GROUP BY patient_id
), pregnant AS (
    SELECT p.patient_id
      FROM preg p LEFT JOIN outcome o USING (patient_id)
     WHERE o.last_outcome IS NULL OR p.last_preg > o.last_outcome
), c AS (
    SELECT p.patient_id,
           adm.patient_id IS NOT NULL       AS c1,
           exposed.patient_id IS NOT NULL   AS c2,
           hfdays.patient_id IS NOT NULL    AS c3,
           pregnant.patient_id IS NOT NULL  AS c4
      FROM public.patients p
      LEFT JOIN adm      ON adm.patient_id      = p.patient_id
      LEFT JOIN exposed  ON exposed.patient_id  = p.patient_id
      LEFT JOIN hfdays   ON hfdays.patient_id   = p.patient_id
      LEFT JOIN pregnant ON pregnant.patient_id = p.patient_id
     WHERE p.patient_id IS NOT NULL
), r AS (
    SELECT patient_id,
           array_remove(ARRAY[CASE WHEN NOT c1 THEN 'HF diagnosed during an admission in the last year' END,
                              CASE WHEN NOT c2 THEN 'Loop diuretic for at least 3 months' END,
                              CASE WHEN NOT c3 THEN 'HF recorded on 2 different days in 2 years' END,
                              CASE WHEN c4 THEN 'Pregnant' END], NULL) AS failed,
           '{}'::text[] AS unknown
      FROM c
)
SELECT patient_id,
       (CASE WHEN failed <> '{}' THEN 'ineligible' ELSE 'eligible' END)::trialmatch.eligibility AS status,
       failed, unknown
  FROM r;
