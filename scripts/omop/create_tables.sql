-- Creates every OMOP CDM v5.4 table in schema :schema from the CDM's own field
-- documentation (OMOP_CDMv5.4_Field_Level.csv).  scripts/load_omop.sh streams
-- this file to psql with the documentation CSV inserted right after the
-- "\copy cdm_field ... FROM pstdin" line (ended by a "\." line), with
-- -v schema=NAME.  The schema is dropped and recreated (idempotent).
--
-- Type mapping, as in OHDSI's own PostgreSQL DDL for v5.4:
--   integer -> integer, float -> numeric, date -> date, datetime -> timestamp,
--   varchar(MAX) -> text, varchar(n) -> varchar(n); isRequired = Yes -> NOT NULL.
-- No primary or foreign keys: the sample data has duplicate event ids.
\set ON_ERROR_STOP on
SET client_min_messages = warning;

CREATE TEMP TABLE cdm_field (
    ord        int GENERATED ALWAYS AS IDENTITY,
    tbl        text, fld text, required text, datatype text,
    user_guidance text, etl_conventions text, is_pk text, is_fk text,
    fk_table text, fk_field text, fk_domain text, fk_class text, dq_ids text);
\copy cdm_field (tbl, fld, required, datatype, user_guidance, etl_conventions, is_pk, is_fk, fk_table, fk_field, fk_domain, fk_class, dq_ids) FROM pstdin WITH (FORMAT csv, HEADER true)

CREATE TEMP VIEW cdm_column AS
SELECT ord,
       lower(btrim(tbl)) AS tbl,
       lower(btrim(btrim(fld), '"')) AS fld,          -- note_nlp."offset" is documented quoted
       CASE WHEN lower(datatype) = 'integer'           THEN 'integer'
            WHEN lower(datatype) = 'float'             THEN 'numeric'
            WHEN lower(datatype) = 'date'              THEN 'date'
            WHEN lower(datatype) = 'datetime'          THEN 'timestamp'
            WHEN lower(datatype) = 'varchar(max)'      THEN 'text'
            WHEN lower(datatype) ~ '^varchar\(\d+\)$'  THEN lower(datatype)
       END AS pgtype,
       datatype,
       required = 'Yes' AS not_null
  FROM cdm_field;

DO $$
DECLARE bad text;
BEGIN
    SELECT string_agg(format('%s.%s: %s', tbl, fld, datatype), ', ') INTO bad
      FROM cdm_column WHERE pgtype IS NULL OR fld !~ '^[a-z_][a-z0-9_]*$' OR tbl !~ '^[a-z_][a-z0-9_]*$';
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'OMOP field documentation: unmapped datatype or odd name: %', bad;
    END IF;
    IF (SELECT count(DISTINCT tbl) FROM cdm_column) < 30 THEN
        RAISE EXCEPTION 'OMOP field documentation: only % tables read', (SELECT count(DISTINCT tbl) FROM cdm_column);
    END IF;
END $$;

DROP SCHEMA IF EXISTS :"schema" CASCADE;
CREATE SCHEMA :"schema";

SELECT format('CREATE TABLE %I.%I (%s)', :'schema', tbl,
              string_agg(format('%I %s%s', fld, pgtype, CASE WHEN not_null THEN ' NOT NULL' ELSE '' END),
                         ', ' ORDER BY ord))
  FROM cdm_column GROUP BY tbl ORDER BY min(ord)
\gexec
