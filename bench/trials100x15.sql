-- trialmatch benchmark: 100 recruiting trials of 15 criteria each (real
-- protocols have 10-25), drawn from the five demo trials' 32 criteria with
-- every "within N" lengthened by (k + position) % 7, for match_trials' cost
-- with a portfolio of long trials.  Every other trial is closed (bench/run.sh
-- creates the extension and the demo trials again on each run).
--
--   psql -f bench/trials100x15.sql

\set ON_ERROR_STOP on
BEGIN;
DELETE FROM trialmatch.trials WHERE trial_id LIKE 'T15-%';
UPDATE trialmatch.trials SET status = 'closed' WHERE status = 'recruiting';
INSERT INTO trialmatch.trials (trial_id, title, status)
SELECT 'T15-' || k, 'fifteen ' || k, 'recruiting' FROM generate_series(1, 100) k;
CREATE FUNCTION pg_temp.lengthen(e text, k int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE m text[]; out text := ''; rest text := e;
BEGIN
  LOOP
    m := regexp_match(rest, '^(.*?within )([0-9]+)(.*)$', 's');
    EXIT WHEN m IS NULL;
    out := out || m[1] || (m[2]::int + k);
    rest := m[3];
  END LOOP;
  RETURN out || rest;
END $$;
WITH src AS (
  SELECT row_number() OVER (ORDER BY trial_id, position) AS n, kind, label, expr
    FROM trialmatch.criteria WHERE trial_id IN ('NCT04567890', 'NCT05123456', 'NCT05234567', 'NCT05345678', 'NCT05456789')
), cnt AS (SELECT count(*) AS c FROM src)
INSERT INTO trialmatch.criteria (trial_id, position, kind, label, expr)
SELECT 'T15-' || k, p, s.kind, s.label || ' #' || p, pg_temp.lengthen(s.expr, (k + p) % 7)
  FROM generate_series(1, 100) k, generate_series(1, 15) p, cnt, src s
 WHERE s.n = 1 + ((k * 7 + p * 3) % cnt.c);
COMMIT;
SELECT count(*) FROM trialmatch.criteria WHERE trial_id LIKE 'T15-%';
