/* trialmatch--1.0--1.1.sql: upgrade from 1.0 (see CHANGELOG.md) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION trialmatch UPDATE TO '1.1'" to load this file. \quit

-- A fresh install runs trialmatch--1.0.sql and then this script, so that
-- every object is defined once: 1.1's changes live only here.

-- ====================================================================
-- Registration is checked only for what it changes (SPEC 2, issue 15
-- item 10): the check triggers on sources see which rows changed through
-- transition tables (a trigger with transition tables has one event).
-- ====================================================================
DROP TRIGGER sources_check ON @extschema@.sources;
CREATE TRIGGER sources_check_insert AFTER INSERT ON @extschema@.sources
    REFERENCING NEW TABLE AS tm_new
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.sources_check_trigger();
CREATE TRIGGER sources_check_update AFTER UPDATE ON @extschema@.sources
    REFERENCING OLD TABLE AS tm_old NEW TABLE AS tm_new
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.sources_check_trigger();
CREATE TRIGGER sources_check_delete AFTER DELETE ON @extschema@.sources
    REFERENCING OLD TABLE AS tm_old
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.sources_check_trigger();

-- use_omop() replaces the vocabulary row in place (deleting it first made
-- every criterion with << codes refuse the second call): see its 1.1
-- definition below (section "Language 1.1, part 1").

-- ====================================================================
-- Relation kinds (issue 15, item 2): any relation a SELECT can read may be
-- registered: tables (plain, partitioned, inheritance parents), materialized
-- views, views and foreign tables.
CREATE OR REPLACE FUNCTION @extschema@._check_relation(rel pg_catalog.regclass)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF rel IS NULL THEN
        RAISE EXCEPTION 'relation must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c
                    WHERE c.oid OPERATOR(pg_catalog.=) rel
                      AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p,m,v,f}'::"char"[])) THEN
        RAISE EXCEPTION '"%" is not a table, view, materialized view or foreign table', rel::text
            USING ERRCODE = 'wrong_object_type';
    END IF;
END
$$;

-- ====================================================================
-- Runs execute only if screen() queued them (issue 15, item 3).
-- queued_by_screen is set by the trigger runs_guard: true only for a row
-- screen() inserts (requested_by is then current_user of the screen()
-- call), false for a row written any other way (a crafted INSERT, a
-- restored dump), cleared when requested_by changes.  The launcher fails a
-- queued run whose queued_by_screen is false and never executes it.  Runs
-- that exist when 1.0 is updated were written by screen() or by the
-- superuser owning the table (the only role that could write it): they
-- are kept as queued by screen().
-- ====================================================================
ALTER TABLE @extschema@.runs ADD COLUMN queued_by_screen boolean NOT NULL DEFAULT true;
ALTER TABLE @extschema@.runs ALTER COLUMN queued_by_screen SET DEFAULT false;

CREATE FUNCTION @extschema@._runs_guard() RETURNS trigger
AS 'MODULE_PATHNAME', 'tm_runs_guard'
LANGUAGE C;
REVOKE ALL ON FUNCTION @extschema@._runs_guard() FROM PUBLIC;
CREATE TRIGGER runs_guard BEFORE INSERT OR UPDATE ON @extschema@.runs
    FOR EACH ROW EXECUTE FUNCTION @extschema@._runs_guard();

-- ====================================================================
-- Population rows that stream (issue 12).  match_patients and match_all
-- are SQL functions over C functions that return one row per call.  Called
-- in FROM, the planner inlines them, and their rows flow into the query
-- (a ProjectSet) as they are returned, where a C function in FROM would
-- have stored every row first.  Both C functions evaluate every patient
-- before returning the first row (src/rows.c).  The SQL functions have no
-- SET search_path, as SET forbids inlining: their bodies name only
-- schema-qualified objects, and no operator.  Not STRICT (inlining needs
-- it): the C function under match_patients is STRICT, so a NULL argument
-- still gives no rows.  OFFSET 0 keeps the call in a subquery of its own,
-- so that it is made once, not once per column.  COST (per row) and ROWS
-- tell the planner that a call is a whole population's work.
-- ====================================================================
CREATE FUNCTION @extschema@._match_patients_rows(trial_id text, as_of timestamptz,
    OUT patient_id bigint, OUT status @extschema@.eligibility, OUT failed text[], OUT unknown text[])
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'tm_match_patients_rows'
LANGUAGE C STABLE STRICT PARALLEL UNSAFE COST 1000 ROWS 100000;

CREATE OR REPLACE FUNCTION @extschema@.match_patients(trial_id text, as_of timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (patient_id bigint, status @extschema@.eligibility, failed text[], unknown text[])
LANGUAGE sql STABLE PARALLEL UNSAFE COST 1000 ROWS 100000
AS $$
SELECT (m).patient_id, (m).status, (m).failed, (m).unknown
  FROM (SELECT @extschema@._match_patients_rows($1, $2) AS m OFFSET 0) AS s
$$;

-- ====================================================================
-- match_all (SPEC 9, issue 12): every recruiting trial, or the listed ones,
-- for every patient, reading each table once for all of them.  Not STRICT:
-- trial_ids may be NULL (recruiting trials); a NULL as_of is an error.
-- Its rows stream as match_patients' do (above).
-- ====================================================================
CREATE FUNCTION @extschema@._match_all_rows(as_of timestamptz, trial_ids text[],
    OUT trial_id text, OUT patient_id bigint, OUT status @extschema@.eligibility,
    OUT failed text[], OUT unknown text[])
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'tm_match_all'
LANGUAGE C STABLE PARALLEL UNSAFE COST 1000 ROWS 1000000;

CREATE FUNCTION @extschema@.match_all(as_of timestamptz DEFAULT pg_catalog.now(),
                                      trial_ids text[] DEFAULT NULL)
RETURNS TABLE (trial_id text, patient_id bigint, status @extschema@.eligibility,
               failed text[], unknown text[])
LANGUAGE sql STABLE PARALLEL UNSAFE COST 1000 ROWS 1000000
AS $$
SELECT (m).trial_id, (m).patient_id, (m).status, (m).failed, (m).unknown
  FROM (SELECT @extschema@._match_all_rows($1, $2) AS m OFFSET 0) AS s
$$;

-- ====================================================================
-- Registration 1.1 (SPEC 7.1, 8): a source may name a category column (a
-- categorical result: text, or concept ids), its rows' own normal range
-- (range_low_column, range_high_column) and a text column (clinical
-- notes).  A source may have no code column: a notes table, or a table
-- read only with omitted codes (`death within 1 year`).  The new columns
-- are read only by criteria that need them (as value and unit in 1.0).
-- ====================================================================
ALTER TABLE @extschema@.sources
    ALTER COLUMN code_column DROP NOT NULL,
    ADD COLUMN category_column   pg_catalog.name,
    ADD COLUMN range_low_column  pg_catalog.name,
    ADD COLUMN range_high_column pg_catalog.name,
    ADD COLUMN text_column       pg_catalog.name;

DROP FUNCTION @extschema@.add_source(text, pg_catalog.regclass, pg_catalog.name, pg_catalog.name,
                                     pg_catalog.name, pg_catalog.name, pg_catalog.name,
                                     pg_catalog.name, pg_catalog.name, pg_catalog.name);

CREATE FUNCTION @extschema@.add_source(name text, relation pg_catalog.regclass,
                                       patient_column pg_catalog.name DEFAULT 'patient_id',
                                       code_column pg_catalog.name DEFAULT 'code',
                                       time_column pg_catalog.name DEFAULT NULL,
                                       end_time_column pg_catalog.name DEFAULT NULL,
                                       value_column pg_catalog.name DEFAULT NULL,
                                       unit_column pg_catalog.name DEFAULT NULL,
                                       time_fallback_column pg_catalog.name DEFAULT NULL,
                                       end_time_fallback_column pg_catalog.name DEFAULT NULL,
                                       category_column pg_catalog.name DEFAULT NULL,
                                       range_low_column pg_catalog.name DEFAULT NULL,
                                       range_high_column pg_catalog.name DEFAULT NULL,
                                       text_column pg_catalog.name DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF name IS NULL OR name !~ '^[a-z_][a-z0-9_]*$' THEN
        RAISE EXCEPTION 'invalid source name "%"', name
            USING ERRCODE = 'invalid_name',
                  DETAIL = 'A source name must be a lower-case identifier: a letter or underscore, then letters, digits or underscores.';
    END IF;
    IF name IN ('age', 'sex', 'not', 'true', 'false', 'unknown', 'observed') THEN
        RAISE EXCEPTION 'source name "%" is a keyword of the criteria language', name
            USING ERRCODE = 'reserved_name';
    END IF;
    IF time_column IS NULL THEN
        RAISE EXCEPTION 'time_column is required'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Name the column that holds when each event happened: add_source(..., time_column => ''...'').';
    END IF;
    PERFORM @extschema@._check_relation(relation);
    -- A notes table usually has no code column: with a text column, the
    -- default code column 'code' is used only if the relation has one.
    IF text_column IS NOT NULL AND code_column OPERATOR(pg_catalog.=) 'code'
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                        WHERE a.attrelid OPERATOR(pg_catalog.=) relation
                          AND a.attname OPERATOR(pg_catalog.=) 'code'
                          AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped) THEN
        code_column := NULL;
    END IF;
    PERFORM @extschema@._check_column(relation, patient_column, 'patient', '{int4,int8}');
    IF code_column IS NOT NULL THEN
        PERFORM @extschema@._check_column(relation, code_column, 'code', '{text,varchar,int4,int8}');
    END IF;
    PERFORM @extschema@._check_column(relation, time_column, 'time', '{date,timestamp,timestamptz}');
    IF end_time_column IS NOT NULL THEN
        PERFORM @extschema@._check_column(relation, end_time_column, 'end time',
                                          '{date,timestamp,timestamptz}');
    END IF;
    IF value_column IS NOT NULL THEN
        PERFORM @extschema@._check_column(relation, value_column, 'value',
                                          '{numeric,float4,float8,int2,int4,int8}');
    END IF;
    IF unit_column IS NOT NULL THEN
        PERFORM @extschema@._check_column(relation, unit_column, 'unit', '{text,varchar,int4,int8}');
    END IF;
    IF time_fallback_column IS NOT NULL THEN
        PERFORM @extschema@._check_column(relation, time_fallback_column, 'time fallback',
                                          '{date,timestamp,timestamptz}');
    END IF;
    IF end_time_fallback_column IS NOT NULL THEN
        IF end_time_column IS NULL THEN
            RAISE EXCEPTION 'end_time_fallback_column needs end_time_column'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        PERFORM @extschema@._check_column(relation, end_time_fallback_column, 'end time fallback',
                                          '{date,timestamp,timestamptz}');
    END IF;
    IF category_column IS NOT NULL THEN
        PERFORM @extschema@._check_column(relation, category_column, 'category', '{text,varchar,int4,int8}');
    END IF;
    IF range_low_column IS NOT NULL THEN
        PERFORM @extschema@._check_column(relation, range_low_column, 'range low',
                                          '{numeric,float4,float8,int2,int4,int8}');
    END IF;
    IF range_high_column IS NOT NULL THEN
        PERFORM @extschema@._check_column(relation, range_high_column, 'range high',
                                          '{numeric,float4,float8,int2,int4,int8}');
    END IF;
    IF (range_low_column IS NOT NULL OR range_high_column IS NOT NULL) AND value_column IS NULL THEN
        RAISE EXCEPTION 'a normal range needs a value column'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The range is in the unit of the value: add_source(..., value_column => ''...'').';
    END IF;
    IF text_column IS NOT NULL THEN
        PERFORM @extschema@._check_column(relation, text_column, 'text', '{text,varchar}');
    END IF;
    INSERT INTO @extschema@.sources AS s
           (name, relation, patient_column, code_column, time_column, end_time_column,
            value_column, unit_column, time_fallback_column, end_time_fallback_column,
            category_column, range_low_column, range_high_column, text_column)
    VALUES (name, relation, patient_column, code_column, time_column, end_time_column,
            value_column, unit_column, time_fallback_column, end_time_fallback_column,
            category_column, range_low_column, range_high_column, text_column)
    ON CONFLICT ON CONSTRAINT sources_pkey DO UPDATE
       SET relation = excluded.relation, patient_column = excluded.patient_column,
           code_column = excluded.code_column, time_column = excluded.time_column,
           end_time_column = excluded.end_time_column, value_column = excluded.value_column,
           unit_column = excluded.unit_column, time_fallback_column = excluded.time_fallback_column,
           end_time_fallback_column = excluded.end_time_fallback_column,
           category_column = excluded.category_column, range_low_column = excluded.range_low_column,
           range_high_column = excluded.range_high_column, text_column = excluded.text_column;
END
$$;

-- ====================================================================
-- Beyond one machine (SPEC 10, issue 13).  Patients are hash-partitioned
-- over shard databases; a coordinator owns the catalog and publishes it
-- (logical replication); PL/Proxy functions in schema trialmatch_cluster
-- on the coordinator fan calls out.  PL/Proxy is optional: nothing here
-- needs it until trialmatch.create_cluster() is called, which creates the
-- schema trialmatch_cluster (not an extension member: it is the
-- coordinator's configuration, dumped like any other schema).
-- ====================================================================

-- The catalog tables the coordinator publishes and the shards subscribe
-- to: the one list.  A table of a later version is listed here already
-- and is included once it exists.  Registrations (patient_source,
-- sources, vocabulary) stay per database: each shard names its own tables.
CREATE FUNCTION @extschema@.replicated_tables()
RETURNS SETOF pg_catalog.regclass
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r
      FROM (VALUES (1, 'trials'), (2, 'criteria'), (3, 'unit_conversions'),
                   (4, 'code_sets'), (5, 'note_triggers')) AS v(n, name),
           LATERAL pg_catalog.to_regclass('@extschema@.' OPERATOR(pg_catalog.||) v.name) AS r
     WHERE r IS NOT NULL
     ORDER BY v.n
$$;

CREATE FUNCTION @extschema@._bad_partitions(partitions integer, shards integer)
RETURNS integer
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'cannot place patients in % partitions over % shards', partitions, shards
        USING ERRCODE = 'invalid_parameter_value',
              DETAIL = 'PL/Proxy routes by hashint8(patient_id) & (partitions - 1): partitions must be a power of two, and every shard needs at least one partition.';
END
$$;

-- The shard that holds a patient: the same hash PL/Proxy routes with
-- (hashint8(patient_id) & (partitions - 1)), partition p living on shard
-- p % shards (create_cluster assigns them so).  Use it to place data.
-- Call it once per patient (events follow their patient: join on
-- patient_id), not once per event row.
CREATE FUNCTION @extschema@.shard_of(patient_id bigint, partitions integer, shards integer)
RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN partitions OPERATOR(pg_catalog.<) 1
                  OR (partitions OPERATOR(pg_catalog.&) (partitions OPERATOR(pg_catalog.-) 1))
                     OPERATOR(pg_catalog.<>) 0
                  OR shards OPERATOR(pg_catalog.<) 1 OR shards OPERATOR(pg_catalog.>) partitions
                THEN @extschema@._bad_partitions(partitions, shards)
           ELSE (pg_catalog.hashint8(patient_id) OPERATOR(pg_catalog.&) (partitions OPERATOR(pg_catalog.-) 1))
                OPERATOR(pg_catalog.%) shards END
$$;

-- On a shard the apply worker of the subscription writes the catalog with
-- session_replication_role = replica: ordinary triggers do not fire, and
-- statement triggers never fire for replicated rows.  Two decisions:
--  * Validation (criteria_check) stays an ordinary trigger, so it is not
--    run again on a shard: the coordinator validated the row against its
--    own registrations, and an error in the apply worker would stop the
--    replication of every later change.  A shard whose registrations differ
--    reports the criterion when a call evaluates it.
--  * Cache invalidation must happen: a backend that keeps its connection
--    (PL/Proxy keeps them) would otherwise evaluate stale criteria.  These
--    row (and TRUNCATE) triggers fire only for replicated changes (ENABLE
--    REPLICA) and queue the same invalidation as the ..._changed triggers.
CREATE FUNCTION @extschema@._replica_triggers()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t pg_catalog.regclass;
BEGIN
    FOR t IN SELECT r FROM @extschema@.replicated_tables() AS r LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_trigger
                        WHERE tgrelid OPERATOR(pg_catalog.=) t
                          AND tgname OPERATOR(pg_catalog.=) 'replica_changed') THEN
            EXECUTE pg_catalog.format('CREATE TRIGGER replica_changed AFTER INSERT OR UPDATE OR DELETE ON %s '
                                      'FOR EACH ROW EXECUTE FUNCTION @extschema@.catalog_changed_trigger()', t);
            EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE REPLICA TRIGGER replica_changed', t);
        END IF;
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_trigger
                        WHERE tgrelid OPERATOR(pg_catalog.=) t
                          AND tgname OPERATOR(pg_catalog.=) 'replica_truncated') THEN
            EXECUTE pg_catalog.format('CREATE TRIGGER replica_truncated AFTER TRUNCATE ON %s '
                                      'FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.catalog_changed_trigger()', t);
            EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE REPLICA TRIGGER replica_truncated', t);
        END IF;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._replica_triggers() FROM PUBLIC;
-- (run at the end of this script, once every catalog table exists)

-- Run on a shard before CREATE SUBSCRIPTION (and again after an update
-- that adds a catalog table): returns the tables the shard will receive.
CREATE FUNCTION @extschema@.prepare_shard()
RETURNS SETOF pg_catalog.regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM @extschema@._replica_triggers();
    -- Before the first subscription: the note triggers CREATE EXTENSION
    -- shipped here give way to the coordinator's (the same rows, which
    -- the subscription's initial copy brings; leaving them made that copy
    -- fail on their primary key, and the catalog never arrived).
    IF pg_catalog.to_regclass('@extschema@.note_triggers') IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_subscription s, pg_catalog.pg_database d
                        WHERE s.subdbid OPERATOR(pg_catalog.=) d.oid
                          AND d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()) THEN
        EXECUTE 'DELETE FROM @extschema@.note_triggers WHERE shipped';
    END IF;
    RETURN QUERY SELECT r FROM @extschema@.replicated_tables() AS r;
END
$$;
REVOKE ALL ON FUNCTION @extschema@.prepare_shard() FROM PUBLIC;

-- On the coordinator: (re)creates schema trialmatch_cluster, the PL/Proxy
-- cluster (a foreign server of the same name, partitions p0..pN-1, p on
-- shard p % shards) and the publication trialmatch_catalog.
CREATE FUNCTION @extschema@.create_cluster(shards text[], partitions integer DEFAULT 256)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer := pg_catalog.cardinality(shards);
    opts text;
    tabs text;
    level text := pg_catalog.current_setting('client_min_messages');
BEGIN
    -- not the notices of dropping the previous cluster's objects
    PERFORM pg_catalog.set_config('client_min_messages', 'warning', true);
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'plproxy') THEN
        RAISE EXCEPTION 'PL/Proxy is not installed in this database'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Install the package postgresql-15-plproxy and run CREATE EXTENSION plproxy.';
    END IF;
    IF n OPERATOR(pg_catalog.=) 0 OR pg_catalog.array_position(shards, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'shards must list one connection string per shard'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM @extschema@.shard_of(0, partitions, n);     -- checks partitions and n

    SELECT pg_catalog.string_agg(pg_catalog.format('p%s %L', p, shards[p OPERATOR(pg_catalog.%) n OPERATOR(pg_catalog.+) 1]),
                                 ', ' ORDER BY p)
      INTO opts FROM pg_catalog.generate_series(0, partitions OPERATOR(pg_catalog.-) 1) AS p;
    DROP SERVER IF EXISTS trialmatch_cluster CASCADE;
    EXECUTE 'CREATE SERVER trialmatch_cluster FOREIGN DATA WRAPPER plproxy OPTIONS ('
            OPERATOR(pg_catalog.||) opts OPERATOR(pg_catalog.||) ')';
    CREATE USER MAPPING FOR PUBLIC SERVER trialmatch_cluster;
    GRANT USAGE ON FOREIGN SERVER trialmatch_cluster TO PUBLIC;

    DROP SCHEMA IF EXISTS trialmatch_cluster CASCADE;
    CREATE SCHEMA trialmatch_cluster;
    GRANT USAGE ON SCHEMA trialmatch_cluster TO PUBLIC;
    CREATE TABLE trialmatch_cluster.shards (
        shard      integer PRIMARY KEY,
        connstr    text NOT NULL,
        partitions integer NOT NULL      -- of the cluster, the same in every row
    );
    INSERT INTO trialmatch_cluster.shards
    SELECT s OPERATOR(pg_catalog.-) 1, shards[s], create_cluster.partitions
      FROM pg_catalog.generate_series(1, n) AS s;
    GRANT SELECT ON trialmatch_cluster.shards TO PUBLIC;

    -- PL/Proxy functions: every remote call runs in the caller's time
    -- zone (ages and date columns depend on it), set for the remote
    -- transaction only.  They return all rows or an error, never a part.
    CREATE FUNCTION trialmatch_cluster._match_patients(trial_id text, as_of timestamptz, tz text)
    RETURNS TABLE (patient_id bigint, status @extschema@.eligibility, failed text[], unknown text[])
    LANGUAGE plproxy AS $p$
        CLUSTER 'trialmatch_cluster';
        RUN ON ALL;
        SELECT m.patient_id, m.status, m.failed, m.unknown
          FROM pg_catalog.set_config('TimeZone', $3, true) AS z(zone),
               LATERAL trialmatch.match_patients($1, CASE WHEN z.zone IS NOT NULL THEN $2 END) AS m;
    $p$;
    CREATE FUNCTION trialmatch_cluster._match_all(as_of timestamptz, trial_ids text[], tz text)
    RETURNS TABLE (trial_id text, patient_id bigint, status @extschema@.eligibility, failed text[], unknown text[])
    LANGUAGE plproxy AS $p$
        CLUSTER 'trialmatch_cluster';
        RUN ON ALL;
        SELECT m.trial_id, m.patient_id, m.status, m.failed, m.unknown
          FROM pg_catalog.set_config('TimeZone', $3, true) AS z(zone),
               LATERAL trialmatch.match_all(CASE WHEN z.zone IS NOT NULL THEN $1 END, $2) AS m;
    $p$;
    CREATE FUNCTION trialmatch_cluster._attrition(trial_id text, as_of timestamptz, tz text)
    RETURNS TABLE ("position" integer, kind text, label text, passed bigint, failed bigint,
                   unknown bigint, remaining bigint)
    LANGUAGE plproxy AS $p$
        CLUSTER 'trialmatch_cluster';
        RUN ON ALL;
        SELECT a.position, a.kind, a.label, a.passed, a.failed, a.unknown, a.remaining
          FROM pg_catalog.set_config('TimeZone', $3, true) AS z(zone),
               LATERAL trialmatch.attrition($1, CASE WHEN z.zone IS NOT NULL THEN $2 END) AS a;
    $p$;
    CREATE FUNCTION trialmatch_cluster._match_trials(patient_id bigint, as_of timestamptz, tz text)
    RETURNS TABLE (trial_id text, status @extschema@.eligibility, failed text[], unknown text[])
    LANGUAGE plproxy AS $p$
        CLUSTER 'trialmatch_cluster';
        RUN ON pg_catalog.hashint8($1);
        SELECT m.trial_id, m.status, m.failed, m.unknown
          FROM pg_catalog.set_config('TimeZone', $3, true) AS z(zone),
               LATERAL trialmatch.match_trials($1, CASE WHEN z.zone IS NOT NULL THEN $2 END) AS m;
    $p$;
    CREATE FUNCTION trialmatch_cluster._explain_match(trial_id text, patient_id bigint, as_of timestamptz, tz text)
    RETURNS TABLE ("position" integer, kind text, label text, result text, evidence text)
    LANGUAGE plproxy AS $p$
        CLUSTER 'trialmatch_cluster';
        RUN ON pg_catalog.hashint8($2);
        SELECT e.position, e.kind, e.label, e.result, e.evidence
          FROM pg_catalog.set_config('TimeZone', $4, true) AS z(zone),
               LATERAL trialmatch.explain_match($1, $2, CASE WHEN z.zone IS NOT NULL THEN $3 END) AS e;
    $p$;
    -- one element of parts (a partition of each shard) per shard, in parallel
    CREATE FUNCTION trialmatch_cluster._screen(parts integer[], trial_id text, as_of timestamptz)
    RETURNS TABLE (part integer, run_id bigint)
    LANGUAGE plproxy AS $p$
        CLUSTER 'trialmatch_cluster';
        SPLIT parts;
        RUN ON parts;
        SELECT ($1)[1] AS part, trialmatch.screen($2, $3) AS run_id;
    $p$;
    -- on every shard: its catalog subscriptions and the tables of them
    -- not yet synchronized
    CREATE FUNCTION trialmatch_cluster._subscription_state(OUT subscriptions bigint, OUT unsynced bigint)
    RETURNS SETOF record
    LANGUAGE plproxy AS $p$
        CLUSTER 'trialmatch_cluster';
        RUN ON ALL;
        SELECT (SELECT pg_catalog.count(*) FROM pg_catalog.pg_subscription s
                 WHERE s.subdbid OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d
                                                          WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
                   AND s.subname OPERATOR(pg_catalog.~~) 'trialmatch\_catalog%') AS subscriptions,
               (SELECT pg_catalog.count(*) FROM pg_catalog.pg_subscription_rel r
                 WHERE r.srsubstate OPERATOR(pg_catalog.<>) 'r') AS unsynced;
    $p$;
    CREATE FUNCTION trialmatch_cluster._ping(part integer)
    RETURNS integer
    LANGUAGE plproxy AS $p$
        CLUSTER 'trialmatch_cluster';
        RUN ON part;
        SELECT 1;
    $p$;

    -- An error from a population call: when a shard cannot be reached,
    -- raise an error that names every such shard (each is tried alone);
    -- otherwise return, for the caller to re-raise the original error.
    CREATE FUNCTION trialmatch_cluster._shard_error(message text)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $f$
    DECLARE
        s record;
        down text := '';
        why text := '';
    BEGIN
        -- PL/Proxy's own errors (connecting, sending, receiving) start so;
        -- a shard's error is passed through as "...: [db] REMOTE ERROR: ..."
        IF message NOT LIKE 'PL/Proxy function %' THEN
            RETURN;
        END IF;
        FOR s IN SELECT * FROM trialmatch_cluster.shards ORDER BY shard LOOP
            BEGIN
                PERFORM trialmatch_cluster._ping(s.shard);
            EXCEPTION WHEN OTHERS THEN
                down := down || CASE WHEN down = '' THEN '' ELSE ', ' END
                        || pg_catalog.format('%s (%s)', s.shard, s.connstr);
                why := why || CASE WHEN why = '' THEN '' ELSE ' ' END
                       || pg_catalog.format('Shard %s: %s', s.shard,
                                            pg_catalog.rtrim(pg_catalog.regexp_replace(SQLERRM, '^PL/Proxy function [^:]*: ', ''), E' \n'));
            END;
        END LOOP;
        IF down = '' THEN
            RETURN;
        END IF;
        RAISE EXCEPTION 'trialmatch shard % is not reachable', down
            USING ERRCODE = 'connection_failure',
                  DETAIL = why,
                  HINT = 'No rows were returned: every shard must answer.  Start the shard, or point the cluster at a standby with trialmatch.create_cluster().';
    END
    $f$;

    CREATE FUNCTION trialmatch_cluster.match_patients(trial_id text, as_of timestamptz DEFAULT pg_catalog.now())
    RETURNS TABLE (patient_id bigint, status @extschema@.eligibility, failed text[], unknown text[])
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $f$
    BEGIN
        RETURN QUERY SELECT * FROM trialmatch_cluster._match_patients(trial_id, as_of, pg_catalog.current_setting('TimeZone'));
    EXCEPTION WHEN OTHERS THEN
        PERFORM trialmatch_cluster._shard_error(SQLERRM);
        RAISE;
    END
    $f$;
    CREATE FUNCTION trialmatch_cluster.match_all(as_of timestamptz DEFAULT pg_catalog.now(), trial_ids text[] DEFAULT NULL)
    RETURNS TABLE (trial_id text, patient_id bigint, status @extschema@.eligibility, failed text[], unknown text[])
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $f$
    BEGIN
        -- trial by trial in trial_id order, like match_all
        RETURN QUERY SELECT m.* FROM trialmatch_cluster._match_all(as_of, trial_ids, pg_catalog.current_setting('TimeZone')) AS m
                      ORDER BY m.trial_id, m.patient_id;
    EXCEPTION WHEN OTHERS THEN
        PERFORM trialmatch_cluster._shard_error(SQLERRM);
        RAISE;
    END
    $f$;
    CREATE FUNCTION trialmatch_cluster.attrition(trial_id text, as_of timestamptz DEFAULT pg_catalog.now())
    RETURNS TABLE ("position" integer, kind text, label text, passed bigint, failed bigint,
                   unknown bigint, remaining bigint)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $f$
    BEGIN
        -- every shard counts its own patients: the funnel is their sum
        RETURN QUERY
            SELECT a.position, a.kind, a.label, pg_catalog.sum(a.passed)::bigint, pg_catalog.sum(a.failed)::bigint,
                   pg_catalog.sum(a.unknown)::bigint, pg_catalog.sum(a.remaining)::bigint
              FROM trialmatch_cluster._attrition(trial_id, as_of, pg_catalog.current_setting('TimeZone')) AS a
             GROUP BY a.position, a.kind, a.label
             ORDER BY a.position;
    EXCEPTION WHEN OTHERS THEN
        PERFORM trialmatch_cluster._shard_error(SQLERRM);
        RAISE;
    END
    $f$;
    CREATE FUNCTION trialmatch_cluster.match_trials(patient_id bigint, as_of timestamptz DEFAULT pg_catalog.now())
    RETURNS TABLE (trial_id text, status @extschema@.eligibility, failed text[], unknown text[])
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $f$
    BEGIN
        RETURN QUERY SELECT * FROM trialmatch_cluster._match_trials(patient_id, as_of, pg_catalog.current_setting('TimeZone'));
    EXCEPTION WHEN OTHERS THEN
        PERFORM trialmatch_cluster._shard_error(SQLERRM);
        RAISE;
    END
    $f$;
    CREATE FUNCTION trialmatch_cluster.explain_match(trial_id text, patient_id bigint, as_of timestamptz DEFAULT pg_catalog.now())
    RETURNS TABLE ("position" integer, kind text, label text, result text, evidence text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $f$
    BEGIN
        RETURN QUERY SELECT * FROM trialmatch_cluster._explain_match(trial_id, patient_id, as_of, pg_catalog.current_setting('TimeZone'));
    EXCEPTION WHEN OTHERS THEN
        PERFORM trialmatch_cluster._shard_error(SQLERRM);
        RAISE;
    END
    $f$;
    -- a run queued on every shard: one row per shard with the run's id there
    CREATE FUNCTION trialmatch_cluster.screen(trial_id text, as_of timestamptz DEFAULT pg_catalog.now())
    RETURNS TABLE (shard integer, run_id bigint)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $f$
    DECLARE
        parts integer[] := (SELECT pg_catalog.array_agg(s.shard ORDER BY s.shard) FROM trialmatch_cluster.shards s);
    BEGIN
        -- partition k (k < number of shards) lives on shard k
        RETURN QUERY SELECT r.part, r.run_id FROM trialmatch_cluster._screen(parts, trial_id, as_of) AS r
                      ORDER BY r.part;
    EXCEPTION WHEN OTHERS THEN
        PERFORM trialmatch_cluster._shard_error(SQLERRM);
        RAISE;
    END
    $f$;

    -- Has every change committed on the coordinator so far reached every
    -- shard?  Waits until the replication slot of every shard (named
    -- trialmatch_catalog_<shard>) confirms the coordinator's current WAL
    -- position and every shard's tables are synchronized; false after
    -- timeout (with a notice naming the shards still behind).
    CREATE FUNCTION trialmatch_cluster.wait_for_shards(timeout interval DEFAULT '1 min')
    RETURNS boolean
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $f$
    DECLARE
        target pg_catalog.pg_lsn := pg_catalog.pg_current_wal_lsn();
        deadline timestamptz := pg_catalog.clock_timestamp() + timeout;
        behind text;
        st record;
    BEGIN
        LOOP
            SELECT pg_catalog.string_agg(pg_catalog.format('%s (%s)', s.shard,
                       COALESCE(r.confirmed_flush_lsn::text || ' < ' || target::text, 'no slot ' || 'trialmatch_catalog_' || s.shard)),
                       ', ' ORDER BY s.shard)
              INTO behind
              FROM trialmatch_cluster.shards s
              LEFT JOIN pg_catalog.pg_replication_slots r
                ON r.slot_name OPERATOR(pg_catalog.=) ('trialmatch_catalog_' || s.shard)
               AND r.database OPERATOR(pg_catalog.=) pg_catalog.current_database()
             WHERE r.confirmed_flush_lsn IS NULL OR r.confirmed_flush_lsn OPERATOR(pg_catalog.<) target;
            IF behind IS NULL THEN
                BEGIN
                    SELECT pg_catalog.count(*) FILTER (WHERE x.subscriptions OPERATOR(pg_catalog.=) 0) AS unsubscribed,
                           pg_catalog.sum(x.unsynced) AS unsynced
                      INTO st FROM trialmatch_cluster._subscription_state() AS x;
                EXCEPTION WHEN OTHERS THEN
                    PERFORM trialmatch_cluster._shard_error(SQLERRM);
                    RAISE;
                END;
                IF st.unsubscribed OPERATOR(pg_catalog.=) 0 AND st.unsynced OPERATOR(pg_catalog.=) 0 THEN
                    RETURN true;
                END IF;
                behind := pg_catalog.format('%s shard(s) without a subscription, %s table(s) not yet synchronized',
                                            st.unsubscribed, st.unsynced);
            END IF;
            IF pg_catalog.clock_timestamp() OPERATOR(pg_catalog.>=) deadline THEN
                RAISE NOTICE 'shards not caught up with %: %', target, behind;
                RETURN false;
            END IF;
            PERFORM pg_catalog.pg_sleep(0.05);
        END LOOP;
    END
    $f$;

    -- the catalog: publish the tables of the one list (adds new ones)
    SELECT pg_catalog.string_agg(r::text, ', ') INTO tabs FROM @extschema@.replicated_tables() AS r;
    IF EXISTS (SELECT FROM pg_catalog.pg_publication WHERE pubname OPERATOR(pg_catalog.=) 'trialmatch_catalog') THEN
        EXECUTE 'ALTER PUBLICATION trialmatch_catalog SET TABLE ' OPERATOR(pg_catalog.||) tabs;
    ELSE
        EXECUTE 'CREATE PUBLICATION trialmatch_catalog FOR TABLE ' OPERATOR(pg_catalog.||) tabs;
    END IF;
    PERFORM pg_catalog.set_config('client_min_messages', level, true);
END
$$;
REVOKE ALL ON FUNCTION @extschema@.create_cluster(text[], integer) FROM PUBLIC;

-- ====================================================================
-- Criteria language 1.1, part 1 (SPEC 7.1, issue 9): attributes a filter
-- can name (`where route is 'IV'`), named code sets (`@name` in a code
-- list), and use_omop's additions.
-- ====================================================================

-- Further columns of a source, under a name the language filters on.
-- No foreign key to sources: drop_source deletes a source's attributes
-- (and a dump restores the two tables in any order).
CREATE TABLE @extschema@.source_attributes (
    source      text NOT NULL,
    name        text NOT NULL CHECK (name ~ '^[a-z_][a-z0-9_]*$' AND name <> 'value'),
    column_name pg_catalog.name NOT NULL,
    PRIMARY KEY (source, name)
);

-- Named, reusable code lists; each code written as in the language,
-- without quotes: E11%, 1118084, <<1118084 (quote a text code that looks
-- like a number: '250').
CREATE TABLE @extschema@.code_sets (
    set_name text NOT NULL CHECK (set_name ~ '^[a-z_][a-z0-9_]*$'),
    code     text NOT NULL,
    PRIMARY KEY (set_name, code)
);

SELECT pg_catalog.pg_extension_config_dump('@extschema@.source_attributes', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.code_sets', '');
GRANT SELECT ON @extschema@.source_attributes, @extschema@.code_sets TO PUBLIC;

CREATE FUNCTION @extschema@.code_sets_check_trigger() RETURNS trigger
    AS 'MODULE_PATHNAME', 'tm_code_sets_check_trigger' LANGUAGE C;

-- A criterion naming a changed set must still evaluate (a set in use
-- cannot be emptied or hold a code of the wrong type); the next call of
-- every session sees the change.
CREATE TRIGGER code_sets_check_insert AFTER INSERT ON @extschema@.code_sets
    REFERENCING NEW TABLE AS tm_new
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.code_sets_check_trigger();
CREATE TRIGGER code_sets_check_update AFTER UPDATE ON @extschema@.code_sets
    REFERENCING OLD TABLE AS tm_old NEW TABLE AS tm_new
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.code_sets_check_trigger();
CREATE TRIGGER code_sets_check_delete AFTER DELETE ON @extschema@.code_sets
    REFERENCING OLD TABLE AS tm_old
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.code_sets_check_trigger();
CREATE TRIGGER code_sets_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.code_sets
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.catalog_changed_trigger();

-- An attribute in use cannot be dropped or pointed at a column that no
-- longer fits (the same check as a registration, for that source).
CREATE TRIGGER source_attributes_check_insert AFTER INSERT ON @extschema@.source_attributes
    REFERENCING NEW TABLE AS tm_new
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.sources_check_trigger();
CREATE TRIGGER source_attributes_check_update AFTER UPDATE ON @extschema@.source_attributes
    REFERENCING OLD TABLE AS tm_old NEW TABLE AS tm_new
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.sources_check_trigger();
CREATE TRIGGER source_attributes_check_delete AFTER DELETE ON @extschema@.source_attributes
    REFERENCING OLD TABLE AS tm_old
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.sources_check_trigger();
CREATE TRIGGER source_attributes_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON @extschema@.source_attributes
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.catalog_changed_trigger();

CREATE FUNCTION @extschema@.add_attribute(source text, name text, column_name pg_catalog.name)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel pg_catalog.regclass;
BEGIN
    SELECT s.relation INTO rel FROM @extschema@.sources s WHERE s.name OPERATOR(pg_catalog.=) add_attribute.source;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'source "%" does not exist', source USING ERRCODE = 'undefined_object';
    END IF;
    IF name IS NULL OR name !~ '^[a-z_][a-z0-9_]*$' OR name OPERATOR(pg_catalog.=) 'value' THEN
        RAISE EXCEPTION 'invalid attribute name "%"', name
            USING ERRCODE = 'invalid_name',
                  DETAIL = 'An attribute name is a lower-case identifier other than "value": a letter or underscore, then letters, digits or underscores.';
    END IF;
    PERFORM @extschema@._check_column(rel, column_name, 'attribute',
                                      '{text,varchar,int2,int4,int8,numeric,float4,float8,bool}');
    INSERT INTO @extschema@.source_attributes AS a (source, name, column_name)
    VALUES (source, name, column_name)
    ON CONFLICT ON CONSTRAINT source_attributes_pkey DO UPDATE SET column_name = excluded.column_name;
END
$$;

CREATE FUNCTION @extschema@.drop_attribute(source text, name text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM @extschema@.source_attributes a
     WHERE a.source OPERATOR(pg_catalog.=) drop_attribute.source
       AND a.name OPERATOR(pg_catalog.=) drop_attribute.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'attribute "%" of source "%" does not exist', name, source
            USING ERRCODE = 'undefined_object';
    END IF;
END
$$;

-- A dropped source takes its attributes with it.
CREATE OR REPLACE FUNCTION @extschema@.drop_source(name text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM @extschema@.sources s WHERE s.name = drop_source.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'source "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    DELETE FROM @extschema@.source_attributes a WHERE a.source OPERATOR(pg_catalog.=) drop_source.name;
END
$$;

-- Does a relation have this column (NULL: no)?
CREATE FUNCTION @extschema@._has_column(rel pg_catalog.regclass, col pg_catalog.name)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT col IS NOT NULL AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute att
                   WHERE att.attrelid OPERATOR(pg_catalog.=) rel
                     AND att.attname OPERATOR(pg_catalog.=) col
                     AND att.attnum OPERATOR(pg_catalog.>) 0 AND NOT att.attisdropped)
$$;

-- use_omop (SPEC 7.1): categories and normal ranges on measurement,
-- categories on observation, the attributes type, route, quantity,
-- days_supply, status, operator and visit where the tables have those
-- columns, and the sources death, device, specimen, drug_era,
-- condition_era, dose_era and episode when the tables exist.
CREATE OR REPLACE FUNCTION @extschema@.use_omop(schema_name pg_catalog.name)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t record;
    a record;
    rel pg_catalog.regclass;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = schema_name) THEN
        RAISE EXCEPTION 'schema "%" does not exist', schema_name USING ERRCODE = 'invalid_schema_name';
    END IF;
    PERFORM @extschema@.set_patients(format('%I.person', schema_name)::regclass,
        id_column => 'person_id', birth_date_column => 'birth_datetime', sex_column => NULL,
        gender_concept_column => 'gender_concept_id', birth_year_column => 'year_of_birth',
        birth_month_column => 'month_of_birth', birth_day_column => 'day_of_birth');
    INSERT INTO @extschema@.vocabulary AS v (singleton, concept, concept_ancestor)
    VALUES (true, format('%I.concept', schema_name)::regclass,
            format('%I.concept_ancestor', schema_name)::regclass)
    ON CONFLICT (singleton) DO UPDATE
       SET concept = excluded.concept, concept_ancestor = excluded.concept_ancestor;
    -- required: the tables of 1.0; optional (1.1): registered when present
    FOR t IN SELECT * FROM (VALUES
        ('condition', 'condition_occurrence', 'condition_concept_id', 'condition_start_datetime',
         'condition_start_date', 'condition_end_datetime', 'condition_end_date', NULL, NULL, NULL, NULL, NULL, true),
        ('drug', 'drug_exposure', 'drug_concept_id', 'drug_exposure_start_datetime',
         'drug_exposure_start_date', 'drug_exposure_end_datetime', 'drug_exposure_end_date', NULL, NULL, NULL, NULL, NULL, true),
        ('measurement', 'measurement', 'measurement_concept_id', 'measurement_datetime',
         'measurement_date', NULL, NULL, 'value_as_number', 'unit_concept_id',
         'value_as_concept_id', 'range_low', 'range_high', true),
        ('observation', 'observation', 'observation_concept_id', 'observation_datetime',
         'observation_date', NULL, NULL, 'value_as_number', 'unit_concept_id', 'value_as_concept_id', NULL, NULL, true),
        ('procedure', 'procedure_occurrence', 'procedure_concept_id', 'procedure_datetime',
         'procedure_date', NULL, NULL, NULL, NULL, NULL, NULL, NULL, true),
        ('visit', 'visit_occurrence', 'visit_concept_id', 'visit_start_datetime',
         'visit_start_date', 'visit_end_datetime', 'visit_end_date', NULL, NULL, NULL, NULL, NULL, true),
        ('observation_period', 'observation_period', 'period_type_concept_id',
         'observation_period_start_date', NULL, 'observation_period_end_date', NULL, NULL, NULL, NULL, NULL, NULL, true),
        ('death', 'death', 'cause_concept_id', 'death_datetime', 'death_date',
         NULL, NULL, NULL, NULL, NULL, NULL, NULL, false),
        ('device', 'device_exposure', 'device_concept_id', 'device_exposure_start_datetime',
         'device_exposure_start_date', 'device_exposure_end_datetime', 'device_exposure_end_date',
         NULL, NULL, NULL, NULL, NULL, false),
        ('specimen', 'specimen', 'specimen_concept_id', 'specimen_datetime', 'specimen_date',
         NULL, NULL, 'quantity', 'unit_concept_id', NULL, NULL, NULL, false),
        ('drug_era', 'drug_era', 'drug_concept_id', 'drug_era_start_date', NULL,
         'drug_era_end_date', NULL, NULL, NULL, NULL, NULL, NULL, false),
        ('condition_era', 'condition_era', 'condition_concept_id', 'condition_era_start_date', NULL,
         'condition_era_end_date', NULL, NULL, NULL, NULL, NULL, NULL, false),
        ('dose_era', 'dose_era', 'drug_concept_id', 'dose_era_start_date', NULL,
         'dose_era_end_date', NULL, 'dose_value', 'unit_concept_id', NULL, NULL, NULL, false),
        ('episode', 'episode', 'episode_concept_id', 'episode_start_datetime', 'episode_start_date',
         'episode_end_datetime', 'episode_end_date', NULL, NULL, NULL, NULL, NULL, false)
      ) AS v(name, tab, code, t1, t2, e1, e2, val, unit, cat, lo, hi, required)
    LOOP
        rel := pg_catalog.to_regclass(format('%I.%I', schema_name, t.tab));
        IF rel IS NULL AND NOT t.required THEN
            CONTINUE;
        END IF;
        rel := format('%I.%I', schema_name, t.tab)::regclass;
        -- the 1.1 columns only where the table has them (older CDM versions)
        PERFORM @extschema@.add_source(t.name, rel,
            patient_column => 'person_id', code_column => t.code,
            time_column => t.t1, time_fallback_column => t.t2,
            end_time_column => t.e1, end_time_fallback_column => t.e2,
            value_column => t.val, unit_column => t.unit,
            category_column => CASE WHEN @extschema@._has_column(rel, t.cat) THEN t.cat END,
            range_low_column => CASE WHEN @extschema@._has_column(rel, t.lo) THEN t.lo END,
            range_high_column => CASE WHEN @extschema@._has_column(rel, t.hi) THEN t.hi END);
        FOR a IN SELECT * FROM (VALUES
            ('type', t.tab OPERATOR(pg_catalog.||) '_type_concept_id'),
            ('type', 'period_type_concept_id'),
            ('type', regexp_replace(t.tab, '_exposure$', '') OPERATOR(pg_catalog.||) '_type_concept_id'),
            ('type', regexp_replace(t.tab, '_occurrence$', '') OPERATOR(pg_catalog.||) '_type_concept_id'),
            ('route', 'route_concept_id'), ('quantity', 'quantity'), ('days_supply', 'days_supply'),
            ('status', 'condition_status_concept_id'), ('operator', 'operator_concept_id'),
            ('visit', 'visit_occurrence_id')) AS x(name, col)
        LOOP
            IF @extschema@._has_column(rel, a.col)
               AND NOT EXISTS (SELECT 1 FROM @extschema@.source_attributes sa
                                WHERE sa.source OPERATOR(pg_catalog.=) t.name
                                  AND sa.name OPERATOR(pg_catalog.=) a.name
                                  AND sa.column_name OPERATOR(pg_catalog.=) a.col) THEN
                PERFORM @extschema@.add_attribute(t.name, a.name, a.col);
            END IF;
        END LOOP;
    END LOOP;
    PERFORM @extschema@._use_omop_notes(schema_name);   -- SPEC 8 (section "Clinical notes" below)
END
$$;

-- ====================================================================
-- Clinical notes (SPEC 8, issue 11): `source mentions 'phrase'` reads a
-- source's text column; each match is classified by the triggers below
-- (negated, possible, hypothetical, other; pseudo-triggers and
-- termination terms shape their scope).  The table is part of the
-- catalog: a change is seen by the next call in every session.
-- Rows with shipped = true are the default English set and are recreated
-- by CREATE EXTENSION; pg_dump keeps only the hospital's own rows
-- (shipped = false).  A shipped trigger changed or deleted is therefore
-- back after a dump and restore: to switch one off for good, add the same
-- phrase as category 'pseudo' (at equal length a pseudo-trigger wins).
-- ====================================================================
CREATE TABLE @extschema@.note_triggers (
    phrase    text NOT NULL,
    category  text NOT NULL
              CHECK (category IN ('negated', 'possible', 'hypothetical', 'other', 'pseudo', 'termination')),
    direction text NOT NULL DEFAULT 'forward'
              CHECK (direction IN ('forward', 'backward', 'both')),
    shipped   boolean NOT NULL DEFAULT false,
    PRIMARY KEY (phrase, category, direction)
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.note_triggers', 'WHERE NOT shipped');
GRANT SELECT ON @extschema@.note_triggers TO PUBLIC;
CREATE TRIGGER note_triggers_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.note_triggers
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.catalog_changed_trigger();

-- The default English triggers.  Derived from the NegEx lexicon
-- (negex.python/negex_triggers.txt) and ConText's hypothetical triggers
-- (genConText/hypothetical_triggers.txt) of github.com/chapmanbe/negex,
-- by Wendy W. Chapman et al., University of Pittsburgh, licensed under the
-- Apache License, Version 2.0 (http://www.apache.org/licenses/LICENSE-2.0).
-- Mapping: PSEU -> pseudo, PREN -> negated forward, PREP -> possible
-- forward, POST -> negated backward, POSP -> possible backward, CONJ ->
-- termination; hypothetical PREN -> hypothetical forward.
INSERT INTO @extschema@.note_triggers (phrase, category, direction, shipped)
SELECT phrase, category, direction, true FROM (VALUES
    ('no increase', 'pseudo', 'both'),
    ('no suspicious change', 'pseudo', 'both'),
    ('no significant change', 'pseudo', 'both'),
    ('no change', 'pseudo', 'both'),
    ('no interval change', 'pseudo', 'both'),
    ('no definite change', 'pseudo', 'both'),
    ('no significant interval change', 'pseudo', 'both'),
    ('not extend', 'pseudo', 'both'),
    ('not cause', 'pseudo', 'both'),
    ('not drain', 'pseudo', 'both'),
    ('not certain if', 'pseudo', 'both'),
    ('not certain whether', 'pseudo', 'both'),
    ('gram negative', 'pseudo', 'both'),
    ('without difficulty', 'pseudo', 'both'),
    ('not necessarily', 'pseudo', 'both'),
    ('not only', 'pseudo', 'both'),
    ('absence of', 'negated', 'forward'),
    ('cannot', 'negated', 'forward'),
    ('cannot see', 'negated', 'forward'),
    ('checked for', 'negated', 'forward'),
    ('declined', 'negated', 'forward'),
    ('declines', 'negated', 'forward'),
    ('denied', 'negated', 'forward'),
    ('denies', 'negated', 'forward'),
    ('denying', 'negated', 'forward'),
    ('evaluate for', 'negated', 'forward'),
    ('fails to reveal', 'negated', 'forward'),
    ('free of', 'negated', 'forward'),
    ('negative for', 'negated', 'forward'),
    ('never developed', 'negated', 'forward'),
    ('never had', 'negated', 'forward'),
    ('no', 'negated', 'forward'),
    ('no abnormal', 'negated', 'forward'),
    ('no cause of', 'negated', 'forward'),
    ('no complaints of', 'negated', 'forward'),
    ('no evidence', 'negated', 'forward'),
    ('no new evidence', 'negated', 'forward'),
    ('no other evidence', 'negated', 'forward'),
    ('no evidence to suggest', 'negated', 'forward'),
    ('no findings of', 'negated', 'forward'),
    ('no findings to indicate', 'negated', 'forward'),
    ('no mammographic evidence of', 'negated', 'forward'),
    ('no new', 'negated', 'forward'),
    ('no radiographic evidence of', 'negated', 'forward'),
    ('no sign of', 'negated', 'forward'),
    ('no significant', 'negated', 'forward'),
    ('no signs of', 'negated', 'forward'),
    ('no suggestion of', 'negated', 'forward'),
    ('no suspicious', 'negated', 'forward'),
    ('not', 'negated', 'forward'),
    ('not appear', 'negated', 'forward'),
    ('not appreciate', 'negated', 'forward'),
    ('not associated with', 'negated', 'forward'),
    ('not complain of', 'negated', 'forward'),
    ('not demonstrate', 'negated', 'forward'),
    ('not exhibit', 'negated', 'forward'),
    ('not feel', 'negated', 'forward'),
    ('not had', 'negated', 'forward'),
    ('not have', 'negated', 'forward'),
    ('not know of', 'negated', 'forward'),
    ('not known to have', 'negated', 'forward'),
    ('not reveal', 'negated', 'forward'),
    ('not see', 'negated', 'forward'),
    ('not to be', 'negated', 'forward'),
    ('patient was not', 'negated', 'forward'),
    ('rather than', 'negated', 'forward'),
    ('resolved', 'negated', 'forward'),
    ('test for', 'negated', 'forward'),
    ('to exclude', 'negated', 'forward'),
    ('unremarkable for', 'negated', 'forward'),
    ('with no', 'negated', 'forward'),
    ('without', 'negated', 'forward'),
    ('without any evidence of', 'negated', 'forward'),
    ('without evidence', 'negated', 'forward'),
    ('without indication of', 'negated', 'forward'),
    ('without sign of', 'negated', 'forward'),
    ('rules out', 'negated', 'forward'),
    ('rules out for', 'negated', 'forward'),
    ('rules him out', 'negated', 'forward'),
    ('rules him out for', 'negated', 'forward'),
    ('rules her out', 'negated', 'forward'),
    ('rules her out for', 'negated', 'forward'),
    ('rules the patient out', 'negated', 'forward'),
    ('rules the patient out for', 'negated', 'forward'),
    ('ruled out', 'negated', 'forward'),
    ('ruled out for', 'negated', 'forward'),
    ('ruled out against', 'negated', 'forward'),
    ('ruled him out', 'negated', 'forward'),
    ('ruled him out for', 'negated', 'forward'),
    ('ruled him out against', 'negated', 'forward'),
    ('ruled her out', 'negated', 'forward'),
    ('ruled her out for', 'negated', 'forward'),
    ('ruled her out against', 'negated', 'forward'),
    ('ruled the patient out', 'negated', 'forward'),
    ('ruled the patient out for', 'negated', 'forward'),
    ('ruled the patient out against', 'negated', 'forward'),
    ('did rule out', 'negated', 'forward'),
    ('did rule out for', 'negated', 'forward'),
    ('did rule out against', 'negated', 'forward'),
    ('did rule him out', 'negated', 'forward'),
    ('did rule him out for', 'negated', 'forward'),
    ('did rule him out against', 'negated', 'forward'),
    ('did rule her out', 'negated', 'forward'),
    ('did rule her out for', 'negated', 'forward'),
    ('did rule her out against', 'negated', 'forward'),
    ('did rule the patient out', 'negated', 'forward'),
    ('did rule the patient out for', 'negated', 'forward'),
    ('did rule the patient out against', 'negated', 'forward'),
    ('can rule out', 'negated', 'forward'),
    ('can rule out for', 'negated', 'forward'),
    ('can rule out against', 'negated', 'forward'),
    ('can rule him out', 'negated', 'forward'),
    ('can rule him out for', 'negated', 'forward'),
    ('can rule him out against', 'negated', 'forward'),
    ('can rule her out', 'negated', 'forward'),
    ('can rule her out for', 'negated', 'forward'),
    ('can rule her out against', 'negated', 'forward'),
    ('can rule the patient out', 'negated', 'forward'),
    ('can rule the patient out for', 'negated', 'forward'),
    ('can rule the patient out against', 'negated', 'forward'),
    ('adequate to rule out', 'negated', 'forward'),
    ('adequate to rule out for', 'negated', 'forward'),
    ('adequate to rule him out', 'negated', 'forward'),
    ('adequate to rule him out for', 'negated', 'forward'),
    ('adequate to rule her out', 'negated', 'forward'),
    ('adequate to rule her out for', 'negated', 'forward'),
    ('adequate to rule the patient out', 'negated', 'forward'),
    ('adequate to rule the patient out for', 'negated', 'forward'),
    ('adequate to rule the patient out against', 'negated', 'forward'),
    ('sufficient to rule out', 'negated', 'forward'),
    ('sufficient to rule out for', 'negated', 'forward'),
    ('sufficient to rule out against', 'negated', 'forward'),
    ('sufficient to rule him out', 'negated', 'forward'),
    ('sufficient to rule him out for', 'negated', 'forward'),
    ('sufficient to rule him out against', 'negated', 'forward'),
    ('sufficient to rule her out', 'negated', 'forward'),
    ('sufficient to rule her out for', 'negated', 'forward'),
    ('sufficient to rule her out against', 'negated', 'forward'),
    ('sufficient to rule the patient out', 'negated', 'forward'),
    ('sufficient to rule the patient out for', 'negated', 'forward'),
    ('sufficient to rule the patient out against', 'negated', 'forward'),
    ('rule out', 'possible', 'forward'),
    ('r/o', 'possible', 'forward'),
    ('ro', 'possible', 'forward'),
    ('rule him out', 'possible', 'forward'),
    ('rule her out', 'possible', 'forward'),
    ('rule the patient out', 'possible', 'forward'),
    ('rule out for', 'possible', 'forward'),
    ('rule him out for', 'possible', 'forward'),
    ('rule her out for', 'possible', 'forward'),
    ('rule the patient out for', 'possible', 'forward'),
    ('be ruled out for', 'possible', 'forward'),
    ('should be ruled out for', 'possible', 'forward'),
    ('ought to be ruled out for', 'possible', 'forward'),
    ('may be ruled out for', 'possible', 'forward'),
    ('might be ruled out for', 'possible', 'forward'),
    ('could be ruled out for', 'possible', 'forward'),
    ('will be ruled out for', 'possible', 'forward'),
    ('can be ruled out for', 'possible', 'forward'),
    ('must be ruled out for', 'possible', 'forward'),
    ('is to be ruled out for', 'possible', 'forward'),
    ('what must be ruled out is', 'possible', 'forward'),
    ('unlikely', 'negated', 'backward'),
    ('free', 'negated', 'backward'),
    ('was ruled out', 'negated', 'backward'),
    ('is ruled out', 'negated', 'backward'),
    ('are ruled out', 'negated', 'backward'),
    ('have been ruled out', 'negated', 'backward'),
    ('has been ruled out', 'negated', 'backward'),
    ('did not rule out', 'possible', 'backward'),
    ('not ruled out', 'possible', 'backward'),
    ('not been ruled out', 'possible', 'backward'),
    ('being ruled out', 'possible', 'backward'),
    ('be ruled out', 'possible', 'backward'),
    ('should be ruled out', 'possible', 'backward'),
    ('ought to be ruled out', 'possible', 'backward'),
    ('may be ruled out', 'possible', 'backward'),
    ('might be ruled out', 'possible', 'backward'),
    ('could be ruled out', 'possible', 'backward'),
    ('will be ruled out', 'possible', 'backward'),
    ('can be ruled out', 'possible', 'backward'),
    ('must be ruled out', 'possible', 'backward'),
    ('is to be ruled out', 'possible', 'backward'),
    ('but', 'termination', 'both'),
    ('however', 'termination', 'both'),
    ('nevertheless', 'termination', 'both'),
    ('yet', 'termination', 'both'),
    ('though', 'termination', 'both'),
    ('although', 'termination', 'both'),
    ('still', 'termination', 'both'),
    ('aside from', 'termination', 'both'),
    ('except', 'termination', 'both'),
    ('apart from', 'termination', 'both'),
    ('secondary to', 'termination', 'both'),
    ('as the cause of', 'termination', 'both'),
    ('as the cause for', 'termination', 'both'),
    ('as the source of', 'termination', 'both'),
    ('as the source for', 'termination', 'both'),
    ('as the reason of', 'termination', 'both'),
    ('as the reason for', 'termination', 'both'),
    ('as the etiology of', 'termination', 'both'),
    ('as the etiology for', 'termination', 'both'),
    ('as the origin of', 'termination', 'both'),
    ('as the origin for', 'termination', 'both'),
    ('as the secondary cause of', 'termination', 'both'),
    ('as the secondary cause for', 'termination', 'both'),
    ('as the secondary source of', 'termination', 'both'),
    ('as the secondary source for', 'termination', 'both'),
    ('as the secondary reason of', 'termination', 'both'),
    ('as the secondary reason for', 'termination', 'both'),
    ('as the secondary etiology of', 'termination', 'both'),
    ('as the secondary etiology for', 'termination', 'both'),
    ('as the secondary origin of', 'termination', 'both'),
    ('as the secondary origin for', 'termination', 'both'),
    ('as a cause of', 'termination', 'both'),
    ('as a cause for', 'termination', 'both'),
    ('as a source of', 'termination', 'both'),
    ('as a source for', 'termination', 'both'),
    ('as a reason of', 'termination', 'both'),
    ('as a reason for', 'termination', 'both'),
    ('as a etiology of', 'termination', 'both'),
    ('as a etiology for', 'termination', 'both'),
    ('as a origin of', 'termination', 'both'),
    ('as a origin for', 'termination', 'both'),
    ('as a secondary cause of', 'termination', 'both'),
    ('as a secondary cause for', 'termination', 'both'),
    ('as a secondary source of', 'termination', 'both'),
    ('as a secondary source for', 'termination', 'both'),
    ('as a secondary reason of', 'termination', 'both'),
    ('as a secondary reason for', 'termination', 'both'),
    ('as a secondary etiology of', 'termination', 'both'),
    ('as a secondary etiology for', 'termination', 'both'),
    ('as a secondary origin of', 'termination', 'both'),
    ('as a secondary origin for', 'termination', 'both'),
    ('as an cause of', 'termination', 'both'),
    ('as an cause for', 'termination', 'both'),
    ('as an source of', 'termination', 'both'),
    ('as an source for', 'termination', 'both'),
    ('as an reason of', 'termination', 'both'),
    ('as an reason for', 'termination', 'both'),
    ('as an etiology of', 'termination', 'both'),
    ('as an etiology for', 'termination', 'both'),
    ('as an origin of', 'termination', 'both'),
    ('as an origin for', 'termination', 'both'),
    ('as an secondary cause of', 'termination', 'both'),
    ('as an secondary cause for', 'termination', 'both'),
    ('as an secondary source of', 'termination', 'both'),
    ('as an secondary source for', 'termination', 'both'),
    ('as an secondary reason of', 'termination', 'both'),
    ('as an secondary reason for', 'termination', 'both'),
    ('as an secondary etiology of', 'termination', 'both'),
    ('as an secondary etiology for', 'termination', 'both'),
    ('as an secondary origin of', 'termination', 'both'),
    ('as an secondary origin for', 'termination', 'both'),
    ('cause of', 'termination', 'both'),
    ('cause for', 'termination', 'both'),
    ('causes of', 'termination', 'both'),
    ('causes for', 'termination', 'both'),
    ('source of', 'termination', 'both'),
    ('source for', 'termination', 'both'),
    ('sources of', 'termination', 'both'),
    ('sources for', 'termination', 'both'),
    ('reason of', 'termination', 'both'),
    ('reason for', 'termination', 'both'),
    ('reasons of', 'termination', 'both'),
    ('reasons for', 'termination', 'both'),
    ('etiology of', 'termination', 'both'),
    ('etiology for', 'termination', 'both'),
    ('trigger event for', 'termination', 'both'),
    ('origin of', 'termination', 'both'),
    ('origin for', 'termination', 'both'),
    ('origins of', 'termination', 'both'),
    ('origins for', 'termination', 'both'),
    ('other possibilities of', 'termination', 'both'),
    ('by his wife', 'pseudo', 'both'),
    ('by her husband', 'pseudo', 'both'),
    ('if negative', 'pseudo', 'both'),
    ('know if', 'pseudo', 'both'),
    ('if', 'hypothetical', 'forward'),
    ('return', 'hypothetical', 'forward'),
    ('returning', 'hypothetical', 'forward'),
    ('should he', 'hypothetical', 'forward'),
    ('should she', 'hypothetical', 'forward'),
    ('call', 'hypothetical', 'forward'),
    ('should there', 'hypothetical', 'forward'),
    ('should the', 'hypothetical', 'forward'),
    ('as needed', 'hypothetical', 'forward'),
    ('come back for', 'hypothetical', 'forward'),
    ('come back to', 'hypothetical', 'forward'),
    ('look out for', 'hypothetical', 'forward')
) AS v(phrase, category, direction);

-- trialmatch's additions (SPEC 8's examples, ConText's "other" class:
-- experiencers), tuned on reports 1-60 of the NegEx test kit only.
INSERT INTO @extschema@.note_triggers (phrase, category, direction, shipped)
SELECT phrase, category, direction, true FROM (VALUES
    ('possible', 'possible', 'forward'),
    ('possibly', 'possible', 'forward'),
    ('probable', 'possible', 'forward'),
    ('questionable', 'possible', 'forward'),
    ('suspicious for', 'possible', 'forward'),
    ('cannot exclude', 'possible', 'forward'),
    ('cannot be excluded', 'possible', 'backward'),
    ('can not be excluded', 'possible', 'backward'),
    ('cannot rule out', 'possible', 'forward'),
    ('family history of', 'other', 'forward'),
    ('family history', 'other', 'forward'),
    ('mother', 'other', 'forward'),
    ('father', 'other', 'forward'),
    ('sister', 'other', 'forward'),
    ('brother', 'other', 'forward'),
    ('grandmother', 'other', 'forward'),
    ('grandfather', 'other', 'forward'),
    ('aunt', 'other', 'forward'),
    ('uncle', 'other', 'forward'),
    ('cousin', 'other', 'forward'),
    ('parents', 'other', 'forward'),
    ('sibling', 'other', 'forward'),
    ('siblings', 'other', 'forward'),
    ('was negative', 'negated', 'backward'),
    ('were ruled out', 'negated', 'backward'),
    ('were negative', 'negated', 'backward'),
    ('is negative', 'negated', 'backward'),
    ('are negative', 'negated', 'backward'),
    ('resolved', 'negated', 'backward'),
    ('none', 'negated', 'backward'),
    ('quit', 'negated', 'backward'),
    ('without change', 'pseudo', 'both'),
    ('positive for', 'termination', 'both'),
    ('which', 'termination', 'both'),
    ('who', 'termination', 'both'),
    ('states', 'termination', 'both'),
    ('reports', 'termination', 'both'),
    ('remained', 'termination', 'both'),
    ('consistent with', 'termination', 'both'),
    -- "given his/her/the/their ..." opens a clause of reasons, like
    -- NegEx's "secondary to": a trigger before it does not reach the
    -- findings cited as the reason ("a possible aspiration pneumonia given
    -- her decreased mental status and vomiting": the vomiting is affirmed)
    ('given his', 'termination', 'both'),
    ('given her', 'termination', 'both'),
    ('given the', 'termination', 'both'),
    ('given their', 'termination', 'both'),
    -- "and he"/"and she" opens a new clause with its own subject and verb:
    -- "he is not cooperative and he is difficult to keep focused"
    ('and he', 'termination', 'both'),
    ('and she', 'termination', 'both'),
    -- "return of X" says X came back: not ConText's "return (if/to)"
    ('return of', 'pseudo', 'both')
) AS v(phrase, category, direction);


-- use_omop registers OMOP's note table as the source `note` (note_text;
-- note_datetime, else note_date) when it exists: a helper, called at the
-- end of use_omop (issue 9's section above).
CREATE FUNCTION @extschema@._use_omop_notes(schema_name pg_catalog.name)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel regclass := to_regclass(format('%I.note', schema_name));
    has_datetime boolean;
BEGIN
    IF rel IS NULL THEN
        RETURN;
    END IF;
    SELECT EXISTS (SELECT 1 FROM pg_attribute a
                    WHERE a.attrelid OPERATOR(pg_catalog.=) rel
                      AND a.attname OPERATOR(pg_catalog.=) 'note_datetime'
                      AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped)
      INTO has_datetime;
    PERFORM @extschema@.add_source('note', rel, patient_column => 'person_id', code_column => NULL,
        time_column => CASE WHEN has_datetime THEN 'note_datetime' ELSE 'note_date' END,
        time_fallback_column => CASE WHEN has_datetime THEN 'note_date' END,
        text_column => 'note_text');
END
$$;

-- ====================================================================
-- screen_all (SPEC 9, issue 12): one run per trial, queued together and
-- executed by one pool worker in one pass (match_all).  Runs queued by one
-- screen_all() call share group_id (a number drawn from the runs'
-- sequence); screen() leaves it NULL.  The launcher starts a worker for
-- the oldest queued run of a group, which claims the group's queued runs.
-- match_all's memory budget is the setting trialmatch.match_all_memory.
-- ====================================================================
ALTER TABLE @extschema@.runs ADD COLUMN group_id bigint;
CREATE INDEX runs_group ON @extschema@.runs (group_id, run_id) WHERE group_id IS NOT NULL;

CREATE FUNCTION @extschema@.screen_all(as_of timestamptz DEFAULT pg_catalog.now(),
                                       trial_ids text[] DEFAULT NULL)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'tm_screen_all'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- ====================================================================
-- KEEP THIS SECTION LAST: the replica-only invalidation triggers of every
-- replicated catalog table (issue 13), now that every table of this
-- version exists.
-- ====================================================================
SELECT @extschema@._replica_triggers();
