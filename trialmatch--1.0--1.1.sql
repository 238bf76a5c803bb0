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

-- use_omop() replaces the vocabulary row in place: deleting it first made
-- every criterion with << codes refuse the second call.
CREATE OR REPLACE FUNCTION @extschema@.use_omop(schema_name pg_catalog.name)
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
    INSERT INTO @extschema@.vocabulary AS v (singleton, concept, concept_ancestor)
    VALUES (true, format('%I.concept', schema_name)::regclass,
            format('%I.concept_ancestor', schema_name)::regclass)
    ON CONFLICT (singleton) DO UPDATE
       SET concept = excluded.concept, concept_ancestor = excluded.concept_ancestor;
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
-- match_all (SPEC 9, issue 12): every recruiting trial, or the listed ones,
-- for every patient, reading each table once for all of them.  Not STRICT:
-- trial_ids may be NULL (recruiting trials); a NULL as_of is an error.
-- ====================================================================
CREATE FUNCTION @extschema@.match_all(as_of timestamptz DEFAULT pg_catalog.now(),
                                      trial_ids text[] DEFAULT NULL)
RETURNS TABLE (trial_id text, patient_id bigint, status @extschema@.eligibility,
               failed text[], unknown text[])
AS 'MODULE_PATHNAME', 'tm_match_all'
LANGUAGE C STABLE PARALLEL UNSAFE;

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
END
$$;
