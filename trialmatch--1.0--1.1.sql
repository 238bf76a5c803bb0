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
    ('consistent with', 'termination', 'both')
) AS v(phrase, category, direction);


-- use_omop registers OMOP's note table as the source `note` (note_text;
-- note_datetime, else note_date) when it exists: a helper, called at the
-- end of use_omop (the CREATE OR REPLACE below is use_omop as above plus
-- that call).
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
    PERFORM @extschema@._use_omop_notes(schema_name);
END
$$;
