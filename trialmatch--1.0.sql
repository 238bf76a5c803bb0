/* trialmatch--1.0.sql: catalog, registration functions and SQL entry points */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION trialmatch" to load this file. \quit

CREATE TYPE @extschema@.eligibility AS ENUM ('eligible', 'ineligible', 'indeterminate');

-- The patient table: at most one row (the key column is always true).
CREATE TABLE @extschema@.patient_source (
    singleton         boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    relation          pg_catalog.regclass NOT NULL,
    id_column         pg_catalog.name NOT NULL,
    birth_date_column pg_catalog.name,
    sex_column        pg_catalog.name,
    -- OMOP-style persons: sex from a gender concept id (8532 F, 8507 M),
    -- birth from year/month/day when the birth date is NULL
    gender_concept_column pg_catalog.name,
    birth_year_column  pg_catalog.name,
    birth_month_column pg_catalog.name,
    birth_day_column   pg_catalog.name
);

CREATE TABLE @extschema@.sources (
    name            text PRIMARY KEY
                    CHECK (name ~ '^[a-z_][a-z0-9_]*$'
                           AND name NOT IN ('age', 'sex', 'not', 'true', 'false', 'unknown', 'observed')),
    relation        pg_catalog.regclass NOT NULL,
    patient_column  pg_catalog.name NOT NULL,
    code_column     pg_catalog.name NOT NULL,
    time_column     pg_catalog.name NOT NULL,
    end_time_column pg_catalog.name,
    value_column    pg_catalog.name,
    unit_column     pg_catalog.name,        -- text, or a unit concept id (needs a vocabulary)
    time_fallback_column     pg_catalog.name,   -- read when the time column is NULL
    end_time_fallback_column pg_catalog.name
);

-- The OMOP vocabulary used for '<< concept' codes and unit concepts: at most one row.
CREATE TABLE @extschema@.vocabulary (
    singleton        boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    concept          pg_catalog.regclass NOT NULL,
    concept_ancestor pg_catalog.regclass NOT NULL
);

CREATE TABLE @extschema@.trials (
    trial_id   text PRIMARY KEY,
    title      text,
    status     text NOT NULL DEFAULT 'recruiting'
               CHECK (status IN ('recruiting', 'paused', 'closed')),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);

CREATE TABLE @extschema@.criteria (
    trial_id text NOT NULL REFERENCES @extschema@.trials ON UPDATE CASCADE ON DELETE CASCADE,
    position integer NOT NULL CHECK (position > 0),
    kind     text NOT NULL CHECK (kind IN ('inclusion', 'exclusion')),
    label    text NOT NULL,
    expr     text NOT NULL,
    PRIMARY KEY (trial_id, position)
);

CREATE TABLE @extschema@.unit_conversions (
    code      text NOT NULL,
    from_unit text NOT NULL,
    to_unit   text NOT NULL,
    factor    double precision NOT NULL,
    "offset"  double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (code, from_unit, to_unit)
);

SELECT pg_catalog.pg_extension_config_dump('@extschema@.patient_source', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.sources', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.trials', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.criteria', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.unit_conversions', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.vocabulary', '');

-- The catalog describes trials and where data lives; it holds no patient data.
GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;
GRANT SELECT ON @extschema@.patient_source, @extschema@.sources, @extschema@.trials,
      @extschema@.criteria, @extschema@.unit_conversions, @extschema@.vocabulary TO PUBLIC;

-- Validation and cache invalidation, in C.
CREATE FUNCTION @extschema@.criteria_check_trigger() RETURNS trigger
    AS 'MODULE_PATHNAME', 'tm_criteria_check_trigger' LANGUAGE C;
CREATE FUNCTION @extschema@.catalog_changed_trigger() RETURNS trigger
    AS 'MODULE_PATHNAME', 'tm_catalog_changed_trigger' LANGUAGE C;
CREATE FUNCTION @extschema@.sources_check_trigger() RETURNS trigger
    AS 'MODULE_PATHNAME', 'tm_sources_check_trigger' LANGUAGE C;

CREATE TRIGGER criteria_check BEFORE INSERT OR UPDATE ON @extschema@.criteria
    FOR EACH ROW EXECUTE FUNCTION @extschema@.criteria_check_trigger();
CREATE TRIGGER sources_check AFTER INSERT OR UPDATE OR DELETE ON @extschema@.sources
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.sources_check_trigger();
CREATE TRIGGER patient_source_check AFTER INSERT OR UPDATE OR DELETE ON @extschema@.patient_source
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.sources_check_trigger();
CREATE TRIGGER criteria_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.criteria
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.catalog_changed_trigger();
CREATE TRIGGER trials_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.trials
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.catalog_changed_trigger();
CREATE TRIGGER sources_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.sources
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.catalog_changed_trigger();
CREATE TRIGGER patient_source_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.patient_source
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.catalog_changed_trigger();
CREATE TRIGGER unit_conversions_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.unit_conversions
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.catalog_changed_trigger();
CREATE TRIGGER vocabulary_check AFTER INSERT OR UPDATE OR DELETE ON @extschema@.vocabulary
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.sources_check_trigger();
CREATE TRIGGER vocabulary_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.vocabulary
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.catalog_changed_trigger();

-- Checks one column of a relation being registered; returns its type.
CREATE FUNCTION @extschema@._check_column(rel pg_catalog.regclass, col pg_catalog.name,
                                          role text, allowed pg_catalog.regtype[])
RETURNS pg_catalog.regtype
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    typ regtype;
BEGIN
    IF col IS NULL THEN
        RAISE EXCEPTION 'the % column must not be null', role
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT a.atttypid::regtype INTO typ
      FROM pg_attribute a
     WHERE a.attrelid = rel AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column "%" of relation "%" does not exist', col, rel::text
            USING ERRCODE = 'undefined_column',
                  HINT = format('Pass the name of the %s column as an argument.', role);
    END IF;
    IF NOT typ = ANY (allowed) THEN
        RAISE EXCEPTION 'column "%" of relation "%" has type %', col, rel::text, typ
            USING ERRCODE = 'datatype_mismatch',
                  DETAIL = format('The %s column must have one of the types: %s.', role,
                                  array_to_string(allowed::text[], ', '));
    END IF;
    RETURN typ;
END
$$;

CREATE FUNCTION @extschema@._check_relation(rel pg_catalog.regclass)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF rel IS NULL THEN
        RAISE EXCEPTION 'relation must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = rel AND relkind IN ('r', 'p', 'm')) THEN
        RAISE EXCEPTION '"%" is not a table or materialized view', rel::text
            USING ERRCODE = 'wrong_object_type';
    END IF;
END
$$;

CREATE FUNCTION @extschema@.set_patients(relation pg_catalog.regclass,
                                         id_column pg_catalog.name DEFAULT 'patient_id',
                                         birth_date_column pg_catalog.name DEFAULT 'birth_date',
                                         sex_column pg_catalog.name DEFAULT 'sex',
                                         gender_concept_column pg_catalog.name DEFAULT NULL,
                                         birth_year_column pg_catalog.name DEFAULT NULL,
                                         birth_month_column pg_catalog.name DEFAULT NULL,
                                         birth_day_column pg_catalog.name DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM @extschema@._check_relation(relation);
    PERFORM @extschema@._check_column(relation, id_column, 'patient id', '{int4,int8}');
    IF birth_date_column IS NOT NULL THEN
        PERFORM @extschema@._check_column(relation, birth_date_column, 'birth date',
                                          '{date,timestamp,timestamptz}');
    END IF;
    IF sex_column IS NOT NULL AND gender_concept_column IS NOT NULL THEN
        RAISE EXCEPTION 'sex_column and gender_concept_column cannot both be given'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF sex_column IS NOT NULL THEN
        PERFORM @extschema@._check_column(relation, sex_column, 'sex', '{text,varchar}');
    END IF;
    IF gender_concept_column IS NOT NULL THEN
        PERFORM @extschema@._check_column(relation, gender_concept_column, 'gender concept',
                                          '{int4,int8}');
    END IF;
    IF birth_year_column IS NULL AND (birth_month_column IS NOT NULL OR birth_day_column IS NOT NULL) THEN
        RAISE EXCEPTION 'birth_month_column and birth_day_column need birth_year_column'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF birth_year_column IS NOT NULL THEN
        PERFORM @extschema@._check_column(relation, birth_year_column, 'birth year', '{int2,int4,int8}');
    END IF;
    IF birth_month_column IS NOT NULL THEN
        PERFORM @extschema@._check_column(relation, birth_month_column, 'birth month', '{int2,int4,int8}');
    END IF;
    IF birth_day_column IS NOT NULL THEN
        PERFORM @extschema@._check_column(relation, birth_day_column, 'birth day', '{int2,int4,int8}');
    END IF;
    INSERT INTO @extschema@.patient_source AS p
           (singleton, relation, id_column, birth_date_column, sex_column,
            gender_concept_column, birth_year_column, birth_month_column, birth_day_column)
    VALUES (true, relation, id_column, birth_date_column, sex_column,
            gender_concept_column, birth_year_column, birth_month_column, birth_day_column)
    ON CONFLICT (singleton) DO UPDATE
       SET relation = excluded.relation, id_column = excluded.id_column,
           birth_date_column = excluded.birth_date_column, sex_column = excluded.sex_column,
           gender_concept_column = excluded.gender_concept_column,
           birth_year_column = excluded.birth_year_column,
           birth_month_column = excluded.birth_month_column,
           birth_day_column = excluded.birth_day_column;
END
$$;

CREATE FUNCTION @extschema@.add_source(name text, relation pg_catalog.regclass,
                                       patient_column pg_catalog.name DEFAULT 'patient_id',
                                       code_column pg_catalog.name DEFAULT 'code',
                                       time_column pg_catalog.name DEFAULT NULL,
                                       end_time_column pg_catalog.name DEFAULT NULL,
                                       value_column pg_catalog.name DEFAULT NULL,
                                       unit_column pg_catalog.name DEFAULT NULL,
                                       time_fallback_column pg_catalog.name DEFAULT NULL,
                                       end_time_fallback_column pg_catalog.name DEFAULT NULL)
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
    PERFORM @extschema@._check_column(relation, patient_column, 'patient', '{int4,int8}');
    PERFORM @extschema@._check_column(relation, code_column, 'code', '{text,varchar,int4,int8}');
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
    INSERT INTO @extschema@.sources AS s
           (name, relation, patient_column, code_column, time_column, end_time_column,
            value_column, unit_column, time_fallback_column, end_time_fallback_column)
    VALUES (name, relation, patient_column, code_column, time_column, end_time_column,
            value_column, unit_column, time_fallback_column, end_time_fallback_column)
    ON CONFLICT ON CONSTRAINT sources_pkey DO UPDATE
       SET relation = excluded.relation, patient_column = excluded.patient_column,
           code_column = excluded.code_column, time_column = excluded.time_column,
           end_time_column = excluded.end_time_column, value_column = excluded.value_column,
           unit_column = excluded.unit_column, time_fallback_column = excluded.time_fallback_column,
           end_time_fallback_column = excluded.end_time_fallback_column;
END
$$;

CREATE FUNCTION @extschema@.drop_source(name text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM @extschema@.sources s WHERE s.name = drop_source.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'source "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
END
$$;

-- Registers an OMOP CDM v5.4 schema as it is: person, the event tables and the vocabulary.
CREATE FUNCTION @extschema@.use_omop(schema_name pg_catalog.name)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = schema_name) THEN
        RAISE EXCEPTION 'schema "%" does not exist', schema_name USING ERRCODE = 'invalid_schema_name';
    END IF;
    PERFORM @extschema@.set_patients(format('%I.person', schema_name)::regclass,
        id_column => 'person_id', birth_date_column => 'birth_datetime', sex_column => NULL,
        gender_concept_column => 'gender_concept_id', birth_year_column => 'year_of_birth',
        birth_month_column => 'month_of_birth', birth_day_column => 'day_of_birth');
    DELETE FROM @extschema@.vocabulary;
    INSERT INTO @extschema@.vocabulary (concept, concept_ancestor)
    VALUES (format('%I.concept', schema_name)::regclass,
            format('%I.concept_ancestor', schema_name)::regclass);
    FOR t IN SELECT * FROM (VALUES
        ('condition', 'condition_occurrence', 'condition_concept_id', 'condition_start_datetime',
         'condition_start_date', 'condition_end_datetime', 'condition_end_date', NULL, NULL),
        ('drug', 'drug_exposure', 'drug_concept_id', 'drug_exposure_start_datetime',
         'drug_exposure_start_date', 'drug_exposure_end_datetime', 'drug_exposure_end_date', NULL, NULL),
        ('measurement', 'measurement', 'measurement_concept_id', 'measurement_datetime',
         'measurement_date', NULL, NULL, 'value_as_number', 'unit_concept_id'),
        ('observation', 'observation', 'observation_concept_id', 'observation_datetime',
         'observation_date', NULL, NULL, 'value_as_number', 'unit_concept_id'),
        ('procedure', 'procedure_occurrence', 'procedure_concept_id', 'procedure_datetime',
         'procedure_date', NULL, NULL, NULL, NULL),
        ('visit', 'visit_occurrence', 'visit_concept_id', 'visit_start_datetime',
         'visit_start_date', 'visit_end_datetime', 'visit_end_date', NULL, NULL),
        ('observation_period', 'observation_period', 'period_type_concept_id',
         'observation_period_start_date', NULL, 'observation_period_end_date', NULL, NULL, NULL)
      ) AS v(name, tab, code, t1, t2, e1, e2, val, unit)
    LOOP
        PERFORM @extschema@.add_source(t.name, format('%I.%I', schema_name, t.tab)::regclass,
            patient_column => 'person_id', code_column => t.code,
            time_column => t.t1, time_fallback_column => t.t2,
            end_time_column => t.e1, end_time_fallback_column => t.e2,
            value_column => t.val, unit_column => t.unit);
    END LOOP;
END
$$;

CREATE FUNCTION @extschema@.match_patients(trial_id text, as_of timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (patient_id bigint, status @extschema@.eligibility, failed text[], unknown text[])
AS 'MODULE_PATHNAME', 'tm_match_patients'
LANGUAGE C STABLE STRICT PARALLEL UNSAFE;

CREATE FUNCTION @extschema@.match_trials(patient_id bigint, as_of timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (trial_id text, status @extschema@.eligibility, failed text[], unknown text[])
AS 'MODULE_PATHNAME', 'tm_match_trials'
LANGUAGE C STABLE STRICT PARALLEL UNSAFE;

CREATE FUNCTION @extschema@.explain_match(trial_id text, patient_id bigint,
                                          as_of timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE ("position" integer, kind text, label text, result text, evidence text)
AS 'MODULE_PATHNAME', 'tm_explain_match'
LANGUAGE C STABLE STRICT PARALLEL UNSAFE;

CREATE FUNCTION @extschema@.attrition(trial_id text, as_of timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE ("position" integer, kind text, label text, passed bigint, failed bigint,
               unknown bigint, remaining bigint)
AS 'MODULE_PATHNAME', 'tm_attrition'
LANGUAGE C STABLE STRICT PARALLEL UNSAFE;

-- Parses an expression without storing it: useful for editors and tests.
CREATE FUNCTION @extschema@.check_expr(expr text)
RETURNS text
AS 'MODULE_PATHNAME', 'tm_check_expr'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

-- ====================================================================
-- Screening runs: screen() queues a run for the background worker pool
-- (trialmatch in shared_preload_libraries); see src/worker.c.
-- ====================================================================

CREATE TABLE @extschema@.runs (
    run_id        bigserial PRIMARY KEY,
    trial_id      text NOT NULL,
    as_of         timestamptz NOT NULL,
    requested_by  pg_catalog.regrole NOT NULL,
    requested_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    state         text NOT NULL DEFAULT 'queued'
                  CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    started_at    timestamptz,
    finished_at   timestamptz,
    patients      bigint,
    eligible      bigint,
    indeterminate bigint,
    error         text,
    attempts      integer NOT NULL DEFAULT 0,   -- times a worker started the run
    time_zone     text NOT NULL                 -- the queuing session's TimeZone
);
CREATE INDEX runs_pending ON @extschema@.runs (run_id) WHERE state IN ('queued', 'running');
CREATE INDEX runs_trial ON @extschema@.runs (trial_id, run_id);

CREATE TABLE @extschema@.results (
    run_id     bigint NOT NULL,
    patient_id bigint NOT NULL,
    status     @extschema@.eligibility NOT NULL,
    failed     text[] NOT NULL,
    unknown    text[] NOT NULL,
    PRIMARY KEY (run_id, patient_id)
);

-- Deleting runs deletes their results (a statement-level cascade: no
-- per-row foreign key check slows down storing a run's results).
CREATE FUNCTION @extschema@._runs_deleted() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM @extschema@.results r USING deleted_runs d WHERE r.run_id = d.run_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER runs_deleted AFTER DELETE ON @extschema@.runs
    REFERENCING OLD TABLE AS deleted_runs
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._runs_deleted();

-- Runs and results are the user's data: pg_dump keeps them.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.runs', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.runs_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.results', '');

-- Results hold patient data.  Everyone may SELECT, but row-level security
-- shows a role only the runs (and their results) of roles whose privileges
-- it has, plus everything to pg_read_all_data; the owner (a superuser)
-- bypasses it.  Only the owner writes; screen(), cancel() and the pool
-- workers write as the bootstrap superuser after their own checks.
REVOKE ALL ON @extschema@.runs, @extschema@.results FROM PUBLIC;
GRANT SELECT ON @extschema@.runs, @extschema@.results TO PUBLIC;
ALTER TABLE @extschema@.runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.results ENABLE ROW LEVEL SECURITY;
CREATE POLICY runs_visible ON @extschema@.runs FOR SELECT
    USING (pg_catalog.pg_has_role(requested_by::pg_catalog.oid, 'USAGE')
           OR pg_catalog.pg_has_role('pg_read_all_data', 'USAGE'));
CREATE POLICY results_visible ON @extschema@.results FOR SELECT
    USING (EXISTS (SELECT 1 FROM @extschema@.runs r WHERE r.run_id = results.run_id));

CREATE FUNCTION @extschema@.screen(trial_id text, as_of timestamptz DEFAULT pg_catalog.now())
RETURNS bigint
AS 'MODULE_PATHNAME', 'tm_screen'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION @extschema@.cancel(run_id bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'tm_cancel'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

CREATE FUNCTION @extschema@.wait(run_id bigint, timeout interval DEFAULT '5 min')
RETURNS text
AS 'MODULE_PATHNAME', 'tm_wait'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

-- Patients whose status differs from the previous completed ('done') run
-- of the same trial that the caller can see.
CREATE FUNCTION @extschema@.changes(run_id bigint)
RETURNS TABLE (patient_id bigint, previous_status @extschema@.eligibility,
               status @extschema@.eligibility, change text)
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r   @extschema@.runs;
    prev bigint;
BEGIN
    SELECT * INTO r FROM @extschema@.runs WHERE runs.run_id = changes.run_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'screening run % does not exist', changes.run_id
            USING ERRCODE = 'undefined_object',
                  HINT = 'trialmatch.runs lists the runs you may see.';
    END IF;
    IF r.state <> 'done' THEN
        RAISE EXCEPTION 'screening run % is %, not done', changes.run_id, r.state
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    SELECT max(p.run_id) INTO prev FROM @extschema@.runs p
     WHERE p.trial_id = r.trial_id AND p.state = 'done' AND p.run_id < r.run_id;
    RETURN QUERY
    SELECT coalesce(c.patient_id, o.patient_id), o.status, c.status,
           CASE WHEN c.status = 'eligible' THEN 'newly eligible'
                WHEN o.status = 'eligible' THEN 'no longer eligible'
                WHEN c.status IS NULL THEN 'gone'
                ELSE 'changed' END
      FROM (SELECT * FROM @extschema@.results x WHERE x.run_id = r.run_id) c
      FULL JOIN (SELECT * FROM @extschema@.results y WHERE y.run_id = prev) o
        ON o.patient_id = c.patient_id
     WHERE c.status IS DISTINCT FROM o.status
     ORDER BY 1;
END
$$;

-- Progress of the runs pool workers are working on, from shared memory.
CREATE FUNCTION @extschema@._progress()
RETURNS TABLE (run_id bigint, pid integer, phase text, patients_done bigint,
               patients_total bigint, phase_since timestamptz,
               trial_id text, requested_by pg_catalog.regrole, started_at timestamptz)
AS 'MODULE_PATHNAME', 'tm_progress'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE VIEW @extschema@.progress WITH (security_invoker = true) AS
SELECT p.run_id, coalesce(r.trial_id, p.trial_id) AS trial_id,
       coalesce(r.requested_by, p.requested_by) AS requested_by, p.pid, p.phase,
       p.patients_done, p.patients_total, p.phase_since,
       coalesce(r.started_at, p.started_at) AS started_at
  FROM @extschema@._progress() p
  LEFT JOIN @extschema@.runs r ON r.run_id OPERATOR(pg_catalog.=) p.run_id
 -- runs the caller may see (row-level security on runs), and interactive
 -- calls (no run id) of roles whose privileges it has
 WHERE (p.run_id IS NOT NULL AND r.run_id IS NOT NULL)
    OR (p.run_id IS NULL AND pg_catalog.pg_has_role(p.requested_by, 'USAGE'));
GRANT SELECT ON @extschema@.progress TO PUBLIC;
