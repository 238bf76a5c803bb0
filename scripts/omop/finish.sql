-- After the CSVs are in: the indexes a DBA would create, then ANALYZE.
-- Run by scripts/load_omop.sh with -v schema=NAME.
--   * person(person_id) and concept(concept_id): unique (they are the CDM's
--     primary keys and hold in both sample datasets);
--   * person_id on every other table that has the column (event tables,
--     observation_period, death, eras, ...): plain btree, duplicates allowed;
--   * concept_ancestor(ancestor_concept_id, descendant_concept_id): the
--     "concept and descendants" lookup, index-only;
--   * concept_relationship(concept_id_1).
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET maintenance_work_mem = '256MB';

CREATE UNIQUE INDEX person_person_id_key ON :"schema".person (person_id);
CREATE UNIQUE INDEX concept_concept_id_key ON :"schema".concept (concept_id);
CREATE INDEX concept_ancestor_ancestor_idx ON :"schema".concept_ancestor (ancestor_concept_id, descendant_concept_id);
CREATE INDEX concept_relationship_id_1_idx ON :"schema".concept_relationship (concept_id_1);

SELECT format('CREATE INDEX %I ON %I.%I (person_id)', c.table_name || '_person_id_idx', c.table_schema, c.table_name)
  FROM information_schema.columns c
  JOIN information_schema.tables t USING (table_schema, table_name)
 WHERE c.table_schema = :'schema' AND c.column_name = 'person_id'
   AND c.table_name <> 'person' AND t.table_type = 'BASE TABLE'
 ORDER BY c.table_name
\gexec

SELECT format('ANALYZE %I.%I', table_schema, table_name)
  FROM information_schema.tables
 WHERE table_schema = :'schema' AND table_type = 'BASE TABLE'
 ORDER BY table_name
\gexec

-- row counts, one line "table,rows" per table, for the loader's report
\pset format unaligned
\pset tuples_only on
\pset fieldsep ','
SELECT table_name,
       (xpath('/row/n/text()',
              query_to_xml(format('SELECT count(*) AS n FROM %I.%I', table_schema, table_name), false, true, '')))[1]::text
  FROM information_schema.tables
 WHERE table_schema = :'schema' AND table_type = 'BASE TABLE'
 ORDER BY table_name;
