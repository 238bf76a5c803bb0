-- SPEC 2: "Any relation a SELECT can read may be registered: plain,
-- partitioned and inheritance tables (read with their partitions/children,
-- as SELECT reads them), materialized views, views and foreign tables.
-- Results never depend on the relation kind."
-- The same rows as a plain table, a monthly range-partitioned table, an
-- inheritance tree, a view, a materialized view and a foreign table give the
-- same answers to match_patients, attrition, match_trials and explain_match.
SET timezone = 'UTC';
CREATE TABLE rk_pat (patient_id int8 PRIMARY KEY, birth_date date, sex text);
INSERT INTO rk_pat SELECT i, date '1950-01-01' + (i * 7919 % 20000),
       CASE i % 7 WHEN 0 THEN NULL WHEN 1 THEN 'M' ELSE 'F' END
  FROM generate_series(1, 400) i;
-- 2024-11 .. 2026-12, some rows with no time (the default partition holds them)
CREATE TABLE rk_rows AS
SELECT i % 410 + 1 AS patient_id,
       CASE i % 9 WHEN 0 THEN 'A1' WHEN 1 THEN 'A2' WHEN 2 THEN 'B1' WHEN 3 THEN 'B22'
                  WHEN 4 THEN 'C1' WHEN 5 THEN 'CH1' ELSE 'Z' || (i % 5) END AS code,
       CASE WHEN i % 211 = 0 THEN NULL
            ELSE timestamptz '2026-12-31' - (i * 37 % 790) * interval '1 day' - (i % 24) * interval '1 hour' END AS t,
       CASE WHEN i % 53 = 0 THEN NULL ELSE (abs(hashint4(i)) % 200) / 10.0 END AS v,
       CASE i % 13 WHEN 0 THEN 'mmol/L' WHEN 1 THEN NULL ELSE 'mg/dL' END AS u,
       (timestamptz '2025-03-01' - (i % 50) * interval '1 day') AS t2
  FROM generate_series(1, 12000) i;

-- (a) plain
CREATE TABLE rk_plain AS SELECT patient_id, code, t, v, u FROM rk_rows;
-- (b) monthly range partitions, a default, an index on the parent; one
-- partition with its columns in another order and a dropped column
CREATE TABLE rk_part (patient_id int8, code text, t timestamptz, v numeric, u text) PARTITION BY RANGE (t);
DO $$
BEGIN
  FOR m IN 0..25 LOOP
    CONTINUE WHEN m = 20;
    EXECUTE format('CREATE TABLE %I PARTITION OF rk_part FOR VALUES FROM (%L) TO (%L)',
                   'rk_part_' || to_char(date '2024-11-01' + m * interval '1 month', 'YYYY_MM'),
                   date '2024-11-01' + m * interval '1 month', date '2024-12-01' + m * interval '1 month');
  END LOOP;
END $$;
CREATE TABLE rk_part_odd (junk int, u text, v numeric, t timestamptz, code text, patient_id int8);
ALTER TABLE rk_part_odd DROP COLUMN junk;
ALTER TABLE rk_part ATTACH PARTITION rk_part_odd FOR VALUES FROM ('2026-07-01') TO ('2026-08-01');
CREATE TABLE rk_part_default PARTITION OF rk_part DEFAULT;
CREATE INDEX ON rk_part (code, t);
CREATE INDEX ON rk_part (patient_id);
INSERT INTO rk_part SELECT patient_id, code, t, v, u FROM rk_rows;
-- (c) inheritance: rows in the parent and in children, one child with an extra column
CREATE TABLE rk_inh (patient_id int8, code text, t timestamptz, v numeric, u text);
CREATE TABLE rk_inh_1 () INHERITS (rk_inh);
CREATE TABLE rk_inh_2 (extra text, note int) INHERITS (rk_inh);
CREATE INDEX ON rk_inh_2 (patient_id);
INSERT INTO rk_inh SELECT patient_id, code, t, v, u FROM rk_rows WHERE patient_id % 3 = 0;
INSERT INTO rk_inh_1 SELECT patient_id, code, t, v, u FROM rk_rows WHERE patient_id % 3 = 1;
INSERT INTO rk_inh_2 (patient_id, code, t, v, u, extra) SELECT patient_id, code, t, v, u, 'x' FROM rk_rows WHERE patient_id % 3 = 2;
-- (d) a view, (e) a materialized view
CREATE VIEW rk_view AS SELECT patient_id, code, t, v, u FROM rk_plain;
CREATE MATERIALIZED VIEW rk_mv AS SELECT patient_id, code, t, v, u FROM rk_plain;
CREATE INDEX ON rk_mv (patient_id);
-- (f) a foreign table (file_fdw reads a copy of the rows)
CREATE EXTENSION file_fdw;
CREATE SERVER rk_files FOREIGN DATA WRAPPER file_fdw;
DO $$
DECLARE f text := current_setting('data_directory') || '/rk_lab.csv';
BEGIN
  EXECUTE format('COPY rk_plain TO %L (FORMAT csv)', f);
  EXECUTE format('CREATE FOREIGN TABLE rk_ft (patient_id int8, code text, t timestamptz, v numeric, u text)
                    SERVER rk_files OPTIONS (filename %L, format %L)', f, 'csv');
END $$;
-- (g) a partitioned patient table
CREATE TABLE rk_pat_part (patient_id int8 PRIMARY KEY, birth_date date, sex text) PARTITION BY HASH (patient_id);
CREATE TABLE rk_pat_part_0 PARTITION OF rk_pat_part FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE rk_pat_part_1 PARTITION OF rk_pat_part FOR VALUES WITH (MODULUS 2, REMAINDER 1);
INSERT INTO rk_pat_part SELECT * FROM rk_pat;
ANALYZE rk_pat, rk_plain, rk_part, rk_inh, rk_mv;

SELECT trialmatch.set_patients('rk_pat');
SELECT trialmatch.add_source('rk', 'rk_plain', time_column => 't', value_column => 'v', unit_column => 'u');
INSERT INTO trialmatch.unit_conversions VALUES ('A2', 'mmol/L', 'mg/dL', 18, 0);
INSERT INTO trialmatch.trials (trial_id) VALUES ('RK');
INSERT INTO trialmatch.criteria VALUES
  ('RK', 1, 'inclusion', 'age', 'age between 25 and 75 or sex = ''M'''),
  ('RK', 2, 'inclusion', 'last', $$rk 'A1' within 90 days last > 6$$),
  ('RK', 3, 'inclusion', 'count', $$rk ('B1', 'B22') within 6 months count >= 2 or rk 'Z%' within 1 year count where value > 15 >= 3$$),
  ('RK', 4, 'exclusion', 'max', $$rk 'C1' within 60 days max > 18$$),
  ('RK', 5, 'inclusion', 'first/min', $$rk 'A%' except 'A2' within 1 year first between 1 and 17 or rk 'B%' within 200 days min < 1$$),
  ('RK', 6, 'inclusion', 'unit', $$rk 'A2' within 1 year last > 3 unit 'mg/dL' or unknown$$),
  ('RK', 7, 'exclusion', 'prefix C', $$rk 'C%' within 30 days$$);
INSERT INTO trialmatch.trials (trial_id) VALUES ('RK2');
INSERT INTO trialmatch.criteria VALUES
  ('RK2', 1, 'inclusion', 'any', $$rk 'Z1' within 10 months any > 19$$),
  ('RK2', 2, 'exclusion', 'exists', $$rk 'CH1' within 3 months$$);

-- one source name, registered in turn on each relation kind
CREATE TABLE rk_results (kind text, what text, digest text, n bigint);
CREATE FUNCTION rk_run(k text, rel regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM trialmatch.add_source('rk', rel, time_column => 't', value_column => 'v', unit_column => 'u');
  INSERT INTO rk_results
  SELECT k, 'match_patients', md5(string_agg(m::text, ';' ORDER BY m.patient_id)), count(*)
    FROM trialmatch.match_patients('RK', '2026-06-15') m;
  INSERT INTO rk_results
  SELECT k, 'status', string_agg(status || '=' || n, ' ' ORDER BY status), sum(n)
    FROM (SELECT status, count(*) AS n FROM trialmatch.match_patients('RK', '2026-06-15') GROUP BY 1) s;
  INSERT INTO rk_results
  SELECT k, 'attrition', md5(string_agg(a::text, ';' ORDER BY a.position)), count(*)
    FROM trialmatch.attrition('RK', '2026-06-15') a;
  INSERT INTO rk_results
  SELECT k, 'match_trials', md5(string_agg(m::text, ';' ORDER BY p, m::text)), count(*)
    FROM generate_series(1, 400, 7) p, trialmatch.match_trials(p, '2026-06-15') m;
  INSERT INTO rk_results
  SELECT k, 'explain_match', md5(string_agg(e::text, ';' ORDER BY p, e.position)), count(*)
    FROM generate_series(1, 400, 13) p, trialmatch.explain_match('RK', p, '2026-06-15') e;
  -- parallel workers share the leaves (the leader reads views alone)
  PERFORM set_config('min_parallel_table_scan_size', '0', false),
          set_config('trialmatch.max_parallel_workers', '2', false);
  INSERT INTO rk_results
  SELECT k, 'parallel', md5(string_agg(m::text, ';' ORDER BY m.patient_id)), count(*)
    FROM trialmatch.match_patients('RK', '2026-06-15') m;
  PERFORM set_config('min_parallel_table_scan_size', '8MB', false),
          set_config('trialmatch.max_parallel_workers', '0', false);
END $$;
SET trialmatch.max_parallel_workers = 0;
SELECT rk_run('plain', 'rk_plain');
SELECT rk_run('partitioned', 'rk_part');
SELECT rk_run('inheritance', 'rk_inh');
SELECT rk_run('view', 'rk_view');
SELECT rk_run('matview', 'rk_mv');
SELECT rk_run('foreign', 'rk_ft');
SELECT trialmatch.set_patients('rk_pat_part');
SELECT rk_run('partitioned patients', 'rk_part');
SELECT trialmatch.set_patients('rk_pat');

-- every kind agrees with the plain table (no row listed: no difference)
SELECT r.kind, r.what, r.n, p.n AS plain_n
  FROM rk_results r JOIN rk_results p ON p.kind = 'plain' AND p.what = r.what
 WHERE r.digest IS DISTINCT FROM p.digest OR r.n <> p.n
 ORDER BY 1, 2;
SELECT count(DISTINCT kind) AS kinds, count(*) AS checks FROM rk_results;
-- the answers are not trivial
SELECT what, CASE what WHEN 'status' THEN digest END AS statuses, n
  FROM rk_results WHERE kind = 'plain' ORDER BY 1;
-- and the same as SQL over the partitioned table says, for one criterion
SELECT count(*) FILTER (WHERE 'max' = ANY (failed)) AS excluded_by_max,
       (SELECT count(DISTINCT patient_id) FROM rk_part
         WHERE code = 'C1' AND t >= '2026-06-15'::timestamptz - interval '60 days'
           AND t <= '2026-06-15' AND v > 18 AND patient_id <= 400) AS sql_says
  FROM trialmatch.match_patients('RK', '2026-06-15');

-- pruning: monthly partitions entirely before the earliest window start
-- (as_of - 1 year) or after as_of are not read; the default partition is.
-- (explain_match and match_trials open the leaves as match_patients does,
-- without its DEBUG1 line of memory figures)
SELECT trialmatch.add_source('rk', 'rk_part', time_column => 't', value_column => 'v', unit_column => 'u');
SET client_min_messages = debug1;
SELECT count(*) FROM trialmatch.explain_match('RK', 1, '2026-06-15');
-- RK2's widest window is 10 months: two more partitions are skipped
SELECT count(*) FROM trialmatch.explain_match('RK2', 1, '2026-06-15');
-- match_trials reads RK and RK2 at once: the widest window of both counts
SELECT count(*) FROM trialmatch.match_trials(1, '2026-06-15');
RESET client_min_messages;
-- an end time column: windows apply to the end, only as_of prunes
SELECT trialmatch.add_source('rk', 'rk_part', time_column => 't', end_time_column => 't', value_column => 'v', unit_column => 'u');
SET client_min_messages = debug1;
SELECT count(*) FROM trialmatch.explain_match('RK', 1, '2026-06-15');
RESET client_min_messages;

-- a materialized view created WITH NO DATA: the error SELECT gives
CREATE MATERIALIZED VIEW rk_mv_empty AS SELECT patient_id, code, t, v, u FROM rk_plain WITH NO DATA;
SELECT trialmatch.add_source('rk', 'rk_mv_empty', time_column => 't', value_column => 'v', unit_column => 'u');
DO $$
DECLARE q text;
BEGIN
  FOREACH q IN ARRAY ARRAY['SELECT count(*) FROM rk_mv_empty',
                           'SELECT count(*) FROM trialmatch.match_patients(''RK'', ''2026-06-15'')',
                           'SELECT count(*) FROM trialmatch.explain_match(''RK'', 1, ''2026-06-15'')'] LOOP
    BEGIN
      EXECUTE q;
    EXCEPTION WHEN OTHERS THEN
      RAISE NOTICE '%: % (%)', SQLSTATE, SQLERRM, q;
    END;
  END LOOP;
END $$;
REFRESH MATERIALIZED VIEW rk_mv_empty;
SELECT count(*) FROM trialmatch.match_patients('RK', '2026-06-15');
-- a tree holding a foreign partition is read through the executor, with the same answer
CREATE TABLE rk_part2 (patient_id int8, code text, t timestamptz, v numeric, u text) PARTITION BY LIST (code);
CREATE TABLE rk_part2_a PARTITION OF rk_part2 FOR VALUES IN ('A1', 'A2');
CREATE FOREIGN TABLE rk_part2_rest PARTITION OF rk_part2 DEFAULT SERVER rk_files
  OPTIONS (filename '/dev/null', format 'csv');
INSERT INTO rk_part2_a SELECT * FROM rk_plain WHERE code IN ('A1', 'A2');
SELECT trialmatch.add_source('rk', 'rk_part2', time_column => 't', value_column => 'v', unit_column => 'u');
SET client_min_messages = debug1;
SELECT count(*) FROM trialmatch.explain_match('RK', 1, '2026-06-15');
RESET client_min_messages;
SELECT count(*) FILTER (WHERE 'last' = ANY (failed)) FROM trialmatch.match_patients('RK', '2026-06-15');
SELECT trialmatch.add_source('rk', 'rk_plain', time_column => 't', value_column => 'v', unit_column => 'u');
SELECT count(*) FILTER (WHERE 'last' = ANY (failed)) FROM trialmatch.match_patients('RK', '2026-06-15');

-- privileges: SELECT on a partitioned or inheritance parent is what SQL
-- checks, and is enough (the partitions are read under it); row-level
-- security on the parent applying to the caller is refused; a view is read
-- with the view's own permissions
CREATE ROLE rk_user;
GRANT SELECT ON rk_pat, rk_part, rk_inh TO rk_user;
SELECT trialmatch.add_source('rk', 'rk_part', time_column => 't', value_column => 'v', unit_column => 'u');
SET ROLE rk_user;
SELECT count(*) FROM rk_part_2026_05;
SELECT status, count(*) FROM trialmatch.match_patients('RK', '2026-06-15') GROUP BY 1 ORDER BY 1;
RESET ROLE;
SELECT trialmatch.add_source('rk', 'rk_inh', time_column => 't', value_column => 'v', unit_column => 'u');
SET ROLE rk_user;
SELECT status, count(*) FROM trialmatch.match_patients('RK', '2026-06-15') GROUP BY 1 ORDER BY 1;
RESET ROLE;
ALTER TABLE rk_inh ENABLE ROW LEVEL SECURITY;
CREATE POLICY rk_some ON rk_inh FOR SELECT USING (patient_id < 100);
SET ROLE rk_user;
SELECT count(*) FROM trialmatch.match_patients('RK', '2026-06-15');
RESET ROLE;
ALTER TABLE rk_inh DISABLE ROW LEVEL SECURITY;
-- the view: its owner's rights on rk_plain; the caller needs SELECT on the view
SELECT trialmatch.add_source('rk', 'rk_view', time_column => 't', value_column => 'v', unit_column => 'u');
SET ROLE rk_user;
SELECT count(*) FROM trialmatch.match_patients('RK', '2026-06-15');
RESET ROLE;
GRANT SELECT ON rk_view TO rk_user;
SET ROLE rk_user;
SELECT status, count(*) FROM trialmatch.match_patients('RK', '2026-06-15') GROUP BY 1 ORDER BY 1;
RESET ROLE;
-- a view whose name needs quoting
CREATE VIEW "rk view; DROP TABLE rk_plain" AS SELECT * FROM rk_plain;
SELECT trialmatch.add_source('rk', '"rk view; DROP TABLE rk_plain"', time_column => 't', value_column => 'v', unit_column => 'u');
SELECT status, count(*) FROM trialmatch.match_patients('RK', '2026-06-15') GROUP BY 1 ORDER BY 1;

-- OMOP vocabulary tables given as views: << codes and unit concepts
CREATE TABLE rk_concept (concept_id int4 PRIMARY KEY, concept_code text);
INSERT INTO rk_concept VALUES (8840, 'mg/dL'), (8753, 'mmol/L'), (10, 'X'), (11, 'Y');
CREATE TABLE rk_ancestor (ancestor_concept_id int4, descendant_concept_id int4);
INSERT INTO rk_ancestor VALUES (10, 10), (10, 11), (11, 11);
CREATE VIEW rk_concept_v AS SELECT concept_id, concept_code FROM rk_concept;
CREATE VIEW rk_ancestor_v AS SELECT * FROM rk_ancestor;
CREATE TABLE rk_meas (patient_id int8, concept int4, t date, v numeric, unit int4);
INSERT INTO rk_meas SELECT i, 10 + i % 3, date '2026-05-01' - i, i % 11 * 30,
       CASE i % 4 WHEN 0 THEN 8840 WHEN 1 THEN 8753 WHEN 2 THEN NULL ELSE 9999 END
  FROM generate_series(1, 400) i;
INSERT INTO trialmatch.vocabulary (concept, concept_ancestor) VALUES ('rk_concept_v', 'rk_ancestor_v');
SELECT trialmatch.add_source('meas', 'rk_meas', code_column => 'concept', time_column => 't',
                             value_column => 'v', unit_column => 'unit');
INSERT INTO trialmatch.unit_conversions VALUES ('10', 'mmol/L', 'mg/dL', 18, 0), ('11', 'mmol/L', 'mg/dL', 18, 0);
INSERT INTO trialmatch.trials (trial_id) VALUES ('RKV');
INSERT INTO trialmatch.criteria VALUES
  ('RKV', 1, 'inclusion', 'family', 'meas << 10 within 1 year last > 100 unit ''mg/dL''');
CREATE TEMP TABLE rkv_views AS SELECT * FROM trialmatch.match_patients('RKV', '2026-06-15');
CREATE TEMP TABLE rkv_views_e AS SELECT p, e.* FROM generate_series(4, 5) p, trialmatch.explain_match('RKV', p, '2026-06-15') e;
UPDATE trialmatch.vocabulary SET concept = 'rk_concept', concept_ancestor = 'rk_ancestor';
CREATE TEMP TABLE rkv_tables AS SELECT * FROM trialmatch.match_patients('RKV', '2026-06-15');
CREATE TEMP TABLE rkv_tables_e AS SELECT p, e.* FROM generate_series(4, 5) p, trialmatch.explain_match('RKV', p, '2026-06-15') e;
SELECT (SELECT count(*) FROM (TABLE rkv_views EXCEPT ALL TABLE rkv_tables) d) AS views_only,
       (SELECT count(*) FROM (TABLE rkv_tables EXCEPT ALL TABLE rkv_views) d) AS tables_only;
SELECT status, count(*) FROM rkv_views GROUP BY 1 ORDER BY 1;
SELECT * FROM rkv_views_e EXCEPT ALL SELECT * FROM rkv_tables_e;
SELECT * FROM rkv_views_e ORDER BY 1, 2;

-- index ranges per partition (each with its own index and statistics),
-- shared by parallel workers: the same answers as a whole scan of a plain table
CREATE TABLE rk_big (patient_id int8, code text, t date, v numeric);
INSERT INTO rk_big SELECT i % 397 + 1, 'K' || (i % 100), date '2026-06-01' - (i * 7 % 700), i % 97
  FROM generate_series(1, 30000) i;
CREATE TABLE rk_bigp (patient_id int8, code text, t date, v numeric) PARTITION BY RANGE (t);
CREATE TABLE rk_bigp_1 PARTITION OF rk_bigp FOR VALUES FROM ('2024-01-01') TO ('2025-06-01');
CREATE TABLE rk_bigp_2 PARTITION OF rk_bigp FOR VALUES FROM ('2025-06-01') TO ('2027-01-01');
CREATE INDEX ON rk_bigp (code, t);
INSERT INTO rk_bigp SELECT * FROM rk_big;
ANALYZE rk_big, rk_bigp;
INSERT INTO trialmatch.trials (trial_id) VALUES ('RKB');
SELECT trialmatch.add_source('big', 'rk_big', time_column => 't', value_column => 'v');
INSERT INTO trialmatch.criteria VALUES
  ('RKB', 1, 'inclusion', 'k7', $$big ('K7', 'K8') within 2 years last > 40$$),
  ('RKB', 2, 'exclusion', 'k9', $$big 'K9' within 1 year count >= 3$$);
CREATE TEMP TABLE rkb_plain AS SELECT * FROM trialmatch.match_patients('RKB', '2026-06-15');
SELECT trialmatch.add_source('big', 'rk_bigp', time_column => 't', value_column => 'v');
SELECT pg_stat_force_next_flush();
CREATE TEMP TABLE rkb_scans0 AS
SELECT relname, idx_scan FROM pg_stat_user_indexes WHERE relname LIKE 'rk\_bigp\__';
CREATE TEMP TABLE rkb_part AS SELECT * FROM trialmatch.match_patients('RKB', '2026-06-15');
SET min_parallel_table_scan_size = 0;
SET trialmatch.max_parallel_workers = 2;
CREATE TEMP TABLE rkb_par AS SELECT * FROM trialmatch.match_patients('RKB', '2026-06-15');
RESET min_parallel_table_scan_size;
SET trialmatch.max_parallel_workers = 0;
SELECT pg_stat_force_next_flush();
SELECT pg_stat_clear_snapshot();
-- each partition's own index was read (by both calls)
SELECT i.relname, i.idx_scan - s.idx_scan >= 2 AS index_read
  FROM pg_stat_user_indexes i JOIN rkb_scans0 s USING (relname) ORDER BY 1;
SELECT (SELECT count(*) FROM (TABLE rkb_plain EXCEPT ALL TABLE rkb_part) d) +
       (SELECT count(*) FROM (TABLE rkb_part EXCEPT ALL TABLE rkb_plain) d) AS diff_partitioned,
       (SELECT count(*) FROM (TABLE rkb_plain EXCEPT ALL TABLE rkb_par) d) +
       (SELECT count(*) FROM (TABLE rkb_par EXCEPT ALL TABLE rkb_plain) d) AS diff_parallel;
SELECT status, count(*) FROM rkb_plain GROUP BY 1 ORDER BY 1;

-- multiple inheritance: a table with two parents under the registered one
-- is read once, as SELECT reads it (it was read twice: count 4 for 2 rows)
CREATE TABLE rk_mi (patient_id int8, code text, t timestamptz, v numeric);
CREATE TABLE rk_mi_a () INHERITS (rk_mi);
CREATE TABLE rk_mi_b () INHERITS (rk_mi);
CREATE TABLE rk_mi_c () INHERITS (rk_mi_a, rk_mi_b);
INSERT INTO rk_mi_c VALUES (1, 'A1', '2026-06-01', 1), (1, 'A1', '2026-06-02', 2);
SELECT count(*) AS select_count FROM rk_mi WHERE patient_id = 1;
SELECT trialmatch.add_source('mi', 'rk_mi', time_column => 't', value_column => 'v');
INSERT INTO trialmatch.trials (trial_id) VALUES ('RKMI');
INSERT INTO trialmatch.criteria VALUES ('RKMI', 1, 'inclusion', 'two A1', $$mi 'A1' within 1 year count = 2$$);
SELECT result, evidence FROM trialmatch.explain_match('RKMI', 1, '2026-06-15');
SELECT status, count(*) FROM trialmatch.match_patients('RKMI', '2026-06-15') WHERE patient_id = 1 GROUP BY 1;

-- a view read through the executor may itself call trialmatch, and change
-- the catalog meanwhile: the outer call keeps the catalog it started with
-- (the nested call freed it, and the server crashed)
CREATE FUNCTION rk_poke() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  UPDATE trialmatch.trials SET title = coalesce(title, '') || 'x' WHERE trial_id = 'RKMI';
  PERFORM count(*) FROM trialmatch.match_patients('RKMI', '2026-06-15');
  RETURN 1;
END $$;
CREATE TABLE rk_nest (patient_id int8, code text, t timestamptz);
INSERT INTO rk_nest VALUES (1, 'N', '2026-06-01'), (2, 'N', '2026-06-01');
CREATE VIEW rk_nest_v AS SELECT * FROM rk_nest WHERE rk_poke() = 1;
SELECT trialmatch.add_source('nest', 'rk_nest_v', time_column => 't');
INSERT INTO trialmatch.trials (trial_id) VALUES ('RKNEST');
INSERT INTO trialmatch.criteria VALUES ('RKNEST', 1, 'inclusion', 'N', $$nest 'N'$$);
SELECT patient_id, status FROM trialmatch.match_patients('RKNEST', '2026-06-15')
 WHERE patient_id IN (1, 2, 3) ORDER BY 1;
SELECT length(title) > 0 AS poked FROM trialmatch.trials WHERE trial_id = 'RKMI';
DELETE FROM trialmatch.trials WHERE trial_id IN ('RKMI', 'RKNEST');
SELECT trialmatch.drop_source('nest');
SELECT trialmatch.drop_source('mi');
DROP VIEW rk_nest_v;
DROP TABLE rk_nest, rk_mi CASCADE;
DROP FUNCTION rk_poke();

DELETE FROM trialmatch.criteria;
DELETE FROM trialmatch.trials;
DELETE FROM trialmatch.vocabulary;
DELETE FROM trialmatch.sources;
DELETE FROM trialmatch.patient_source;
DELETE FROM trialmatch.unit_conversions;
DROP OWNED BY rk_user;
DROP ROLE rk_user;
