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
