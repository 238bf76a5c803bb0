/* trialmatch--1.0--1.1.sql: upgrade from 1.0 (see CHANGELOG.md) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION trialmatch UPDATE TO '1.1'" to load this file. \quit

-- A fresh install runs trialmatch--1.0.sql and then this script, so that
-- every object is defined once: 1.1's changes live only here.

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
