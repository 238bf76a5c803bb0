-- trialmatch benchmark: 95 more recruiting trials, 100 with the five demo
-- trials (scripts/demo_trials.sql), for match_trials' cost with a hospital's
-- whole portfolio.  Trial <demo>-<k> (k = 1..19) is demo trial <demo> with
-- every window k days (or months, years) longer, so no two trials are the
-- same.  Re-runnable.
--
--   psql -f bench/trials100.sql

\set ON_ERROR_STOP on
BEGIN;
DELETE FROM trialmatch.trials WHERE trial_id LIKE 'NCT%-%';
INSERT INTO trialmatch.trials (trial_id, title, status)
SELECT t.trial_id || '-' || k, t.title || ' (variant ' || k || ')', 'recruiting'
  FROM trialmatch.trials t, generate_series(1, 19) k
 WHERE t.trial_id IN ('NCT04567890', 'NCT05123456', 'NCT05234567', 'NCT05345678', 'NCT05456789');
-- lengthen every "within N unit" by k units
CREATE FUNCTION pg_temp.lengthen(e text, k int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  m text[];
  out text := '';
  rest text := e;
BEGIN
  LOOP
    m := regexp_match(rest, '^(.*?within )([0-9]+)(.*)$', 's');
    EXIT WHEN m IS NULL;
    out := out || m[1] || (m[2]::int + k);
    rest := m[3];
  END LOOP;
  RETURN out || rest;
END $$;
INSERT INTO trialmatch.criteria (trial_id, position, kind, label, expr)
SELECT c.trial_id || '-' || k, c.position, c.kind, c.label, pg_temp.lengthen(c.expr, k)
  FROM trialmatch.criteria c, generate_series(1, 19) k
 WHERE c.trial_id IN ('NCT04567890', 'NCT05123456', 'NCT05234567', 'NCT05345678', 'NCT05456789');
COMMIT;
SELECT count(*) AS recruiting_trials FROM trialmatch.trials WHERE status = 'recruiting';
