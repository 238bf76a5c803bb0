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
    sex_column        pg_catalog.name
);

CREATE TABLE @extschema@.sources (
    name            text PRIMARY KEY
                    CHECK (name ~ '^[a-z_][a-z0-9_]*$'
                           AND name NOT IN ('age', 'sex', 'not', 'true', 'false', 'unknown')),
    relation        pg_catalog.regclass NOT NULL,
    patient_column  pg_catalog.name NOT NULL,
    code_column     pg_catalog.name NOT NULL,
    time_column     pg_catalog.name NOT NULL,
    end_time_column pg_catalog.name,
    value_column    pg_catalog.name,
    unit_column     pg_catalog.name
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

-- The catalog describes trials and where data lives; it holds no patient data.
GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;
GRANT SELECT ON @extschema@.patient_source, @extschema@.sources, @extschema@.trials,
      @extschema@.criteria, @extschema@.unit_conversions TO PUBLIC;

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
                                         sex_column pg_catalog.name DEFAULT 'sex')
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
    IF sex_column IS NOT NULL THEN
        PERFORM @extschema@._check_column(relation, sex_column, 'sex', '{text,varchar}');
    END IF;
    INSERT INTO @extschema@.patient_source AS p
           (singleton, relation, id_column, birth_date_column, sex_column)
    VALUES (true, relation, id_column, birth_date_column, sex_column)
    ON CONFLICT (singleton) DO UPDATE
       SET relation = excluded.relation, id_column = excluded.id_column,
           birth_date_column = excluded.birth_date_column, sex_column = excluded.sex_column;
END
$$;

CREATE FUNCTION @extschema@.add_source(name text, relation pg_catalog.regclass,
                                       patient_column pg_catalog.name DEFAULT 'patient_id',
                                       code_column pg_catalog.name DEFAULT 'code',
                                       time_column pg_catalog.name DEFAULT NULL,
                                       end_time_column pg_catalog.name DEFAULT NULL,
                                       value_column pg_catalog.name DEFAULT NULL,
                                       unit_column pg_catalog.name DEFAULT NULL)
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
    IF name IN ('age', 'sex', 'not', 'true', 'false', 'unknown') THEN
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
        PERFORM @extschema@._check_column(relation, unit_column, 'unit', '{text,varchar}');
    END IF;
    INSERT INTO @extschema@.sources AS s
           (name, relation, patient_column, code_column, time_column, end_time_column,
            value_column, unit_column)
    VALUES (name, relation, patient_column, code_column, time_column, end_time_column,
            value_column, unit_column)
    ON CONFLICT ON CONSTRAINT sources_pkey DO UPDATE
       SET relation = excluded.relation, patient_column = excluded.patient_column,
           code_column = excluded.code_column, time_column = excluded.time_column,
           end_time_column = excluded.end_time_column, value_column = excluded.value_column,
           unit_column = excluded.unit_column;
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
