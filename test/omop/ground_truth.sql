-- Ground truth for issue 6 (OMOP CDM v5.4 tables as they are), in plain SQL
-- on the tables loaded by scripts/load_omop.sh.  Results: test/omop/README.md.
--
--   bash scripts/load_omop.sh /work/shared/data/eunomia-gibleed gibleed <conn...>
--   bash scripts/load_omop.sh /work/shared/data/synthea27nj     nj      <conn...>
--   psql <conn...> -X -v gib=gibleed -v nj=nj < test/omop/ground_truth.sql
--
-- (the schema names default to gibleed and nj)
\set ON_ERROR_STOP on
\pset pager off
\if :{?gib}
\else
\set gib gibleed
\endif
\if :{?nj}
\else
\set nj nj
\endif
SET timezone = 'UTC';

\echo
\echo ==== 1. eunomia-gibleed: persons per concept and descendants (descendants-or-self via concept_ancestor)
-- concept_ancestor holds the level-0 (self) row of every concept used in the
-- data, but the union with the concept itself makes the query independent of that.
CREATE TEMP VIEW gib_descendants AS
SELECT a.ancestor_concept_id AS ancestor, a.descendant_concept_id AS concept
  FROM :"gib".concept_ancestor a
UNION
SELECT c, c FROM unnest(ARRAY[1118084, 1124300, 192671]) c;

SELECT 'celecoxib (drug << 1118084)' AS what,
       count(DISTINCT d.person_id) AS persons, count(*) AS rows, 1844 AS issue_says
  FROM :"gib".drug_exposure d JOIN gib_descendants x ON x.concept = d.drug_concept_id AND x.ancestor = 1118084
UNION ALL
SELECT 'diclofenac (drug << 1124300)', count(DISTINCT d.person_id), count(*), 850
  FROM :"gib".drug_exposure d JOIN gib_descendants x ON x.concept = d.drug_concept_id AND x.ancestor = 1124300
UNION ALL
SELECT 'GI hemorrhage (condition << 192671)', count(DISTINCT c.person_id), count(*), 479
  FROM :"gib".condition_occurrence c JOIN gib_descendants x ON x.concept = c.condition_concept_id AND x.ancestor = 192671
UNION ALL
SELECT 'all persons', count(*), count(*), 2694 FROM :"gib".person;

\echo descendants of the three concepts present in concept_ancestor (only themselves):
SELECT ancestor_concept_id, descendant_concept_id, min_levels_of_separation
  FROM :"gib".concept_ancestor WHERE ancestor_concept_id IN (1118084, 1124300, 192671) ORDER BY 1, 2;

\echo
\echo ==== 1b. eunomia-gibleed: ancestors that really have several descendants in the data (for testing <<)
SELECT 'drug << ' || a.ancestor_concept_id AS atom,
       count(DISTINCT d.drug_concept_id) AS descendant_concepts_used,
       string_agg(DISTINCT c.concept_name, '; ') AS descendants,
       count(DISTINCT d.person_id) AS persons, count(*) AS rows
  FROM :"gib".concept_ancestor a
  JOIN :"gib".drug_exposure d ON d.drug_concept_id = a.descendant_concept_id
  LEFT JOIN :"gib".concept c ON c.concept_id = d.drug_concept_id
 WHERE a.ancestor_concept_id = 21603933
 GROUP BY a.ancestor_concept_id
UNION ALL
SELECT 'condition << ' || a.ancestor_concept_id,
       count(DISTINCT o.condition_concept_id),
       string_agg(DISTINCT c.concept_name, '; '),
       count(DISTINCT o.person_id), count(*)
  FROM :"gib".concept_ancestor a
  JOIN :"gib".condition_occurrence o ON o.condition_concept_id = a.descendant_concept_id
  LEFT JOIN :"gib".concept c ON c.concept_id = o.condition_concept_id
 WHERE a.ancestor_concept_id IN (4227253, 253549)
 GROUP BY a.ancestor_concept_id
 ORDER BY 1;

\echo
\echo ==== 2. duplicate event ids (rows sharing the id column), both datasets
SELECT format($q$
SELECT %L AS schema, %L AS tab, count(*) AS ids_duplicated, coalesce(sum(n), 0) AS rows_involved,
       coalesce(max(n), 0) AS max_rows_per_id
  FROM (SELECT %I, count(*) AS n FROM %I.%I GROUP BY 1 HAVING count(*) > 1) x$q$,
       c.table_schema, c.table_name, c.column_name, c.table_schema, c.table_name)
  FROM information_schema.columns c
 WHERE c.table_schema IN (:'gib', :'nj') AND c.ordinal_position = 1
   AND c.column_name = c.table_name || '_id'
   AND c.table_name IN ('drug_exposure', 'measurement', 'observation', 'condition_occurrence',
                        'procedure_occurrence', 'visit_occurrence', 'observation_period', 'person',
                        'device_exposure', 'visit_detail', 'condition_era', 'drug_era')
 ORDER BY c.table_schema, c.table_name
\gexec

\echo are the rows sharing an id identical? which columns differ? (gibleed)
SELECT 'drug_exposure' AS tab, count(*) AS pairs,
       count(*) FILTER (WHERE to_jsonb(a) = to_jsonb(b)) AS identical,
       count(*) FILTER (WHERE a.person_id = b.person_id) AS same_person,
       count(*) FILTER (WHERE a.drug_concept_id = b.drug_concept_id) AS same_concept,
       count(*) FILTER (WHERE a.drug_type_concept_id <> b.drug_type_concept_id) AS different_type
  FROM :"gib".drug_exposure a JOIN :"gib".drug_exposure b
    ON a.drug_exposure_id = b.drug_exposure_id AND a.ctid < b.ctid
UNION ALL
SELECT 'measurement', count(*), count(*) FILTER (WHERE to_jsonb(a) = to_jsonb(b)),
       count(*) FILTER (WHERE a.person_id = b.person_id),
       count(*) FILTER (WHERE a.measurement_concept_id = b.measurement_concept_id),
       count(*) FILTER (WHERE a.measurement_type_concept_id <> b.measurement_type_concept_id)
  FROM :"gib".measurement a JOIN :"gib".measurement b
    ON a.measurement_id = b.measurement_id AND a.ctid < b.ctid
UNION ALL
SELECT 'observation', count(*), count(*) FILTER (WHERE to_jsonb(a) = to_jsonb(b)),
       count(*) FILTER (WHERE a.person_id = b.person_id),
       count(*) FILTER (WHERE a.observation_concept_id = b.observation_concept_id),
       count(*) FILTER (WHERE a.observation_type_concept_id <> b.observation_type_concept_id)
  FROM :"gib".observation a JOIN :"gib".observation b
    ON a.observation_id = b.observation_id AND a.ctid < b.ctid;

\echo the pairs that share an id AND a person (gibleed)
SELECT 'drug_exposure' AS tab, a.drug_exposure_id AS id, a.person_id,
       a.drug_concept_id AS concept_1, a.drug_exposure_start_date AS date_1,
       b.drug_concept_id AS concept_2, b.drug_exposure_start_date AS date_2
  FROM :"gib".drug_exposure a JOIN :"gib".drug_exposure b
    ON a.drug_exposure_id = b.drug_exposure_id AND a.ctid < b.ctid AND a.person_id = b.person_id
UNION ALL
SELECT 'measurement', a.measurement_id, a.person_id, a.measurement_concept_id, a.measurement_date,
       b.measurement_concept_id, b.measurement_date
  FROM :"gib".measurement a JOIN :"gib".measurement b
    ON a.measurement_id = b.measurement_id AND a.ctid < b.ctid AND a.person_id = b.person_id
 ORDER BY 1, 2;

\echo what one-row-per-id would do to the headline counts (all rows of a duplicated id dropped)
SELECT 'celecoxib' AS what, count(DISTINCT person_id) AS persons
  FROM :"gib".drug_exposure
 WHERE drug_concept_id = 1118084
   AND drug_exposure_id NOT IN (SELECT drug_exposure_id FROM :"gib".drug_exposure GROUP BY 1 HAVING count(*) > 1)
UNION ALL
SELECT 'diclofenac', count(DISTINCT person_id)
  FROM :"gib".drug_exposure
 WHERE drug_concept_id = 1124300
   AND drug_exposure_id NOT IN (SELECT drug_exposure_id FROM :"gib".drug_exposure GROUP BY 1 HAVING count(*) > 1);

\echo rows identical in everything but their id (true duplicates, different ids)
SELECT format($q$
SELECT %L AS schema, %L AS tab, count(*) AS rows, count(*) - count(DISTINCT to_jsonb(x) - %L) AS extra_copies
  FROM %I.%I x$q$, table_schema, table_name, table_name || '_id', table_schema, table_name)
  FROM information_schema.tables
 WHERE table_schema IN (:'gib', :'nj')
   AND table_name IN ('drug_exposure', 'measurement', 'observation', 'condition_occurrence',
                      'procedure_occurrence', 'visit_occurrence')
 ORDER BY table_schema, table_name
\gexec

\echo
\echo ==== 3. facts: birth dates, gender, observation periods, units
SELECT s AS schema, count(*) AS persons, count(birth_datetime) AS with_birth_datetime,
       count(month_of_birth) AS with_month, count(day_of_birth) AS with_day,
       count(*) FILTER (WHERE birth_datetime IS NULL) AS without_birth_datetime,
       count(*) FILTER (WHERE birth_datetime::date <> make_date(year_of_birth, month_of_birth, day_of_birth)) AS inconsistent,
       min(year_of_birth) AS min_year, max(year_of_birth) AS max_year
  FROM (SELECT :'gib' AS s, person_id, year_of_birth, month_of_birth, day_of_birth, birth_datetime FROM :"gib".person
        UNION ALL
        SELECT :'nj', person_id, year_of_birth, month_of_birth, day_of_birth, birth_datetime FROM :"nj".person) p
 GROUP BY s ORDER BY s;

SELECT s AS schema, gender_concept_id, gender_source_value, count(*)
  FROM (SELECT :'gib' AS s, gender_concept_id, gender_source_value FROM :"gib".person
        UNION ALL SELECT :'nj', gender_concept_id, gender_source_value FROM :"nj".person) p
 GROUP BY 1, 2, 3 ORDER BY 1, 2;

SELECT s AS schema, count(*) AS periods, count(DISTINCT o.person_id) AS persons_with_period,
       count(*) FILTER (WHERE NOT in_person) AS periods_of_persons_not_in_person,
       min(observation_period_start_date) AS first_start, max(observation_period_end_date) AS last_end,
       min(observation_period_start_date) FILTER (WHERE in_person) AS first_start_of_persons,
       max(observation_period_end_date) FILTER (WHERE in_person) AS last_end_of_persons
  FROM (SELECT :'gib' AS s, o.*, EXISTS (SELECT 1 FROM :"gib".person p WHERE p.person_id = o.person_id) AS in_person
          FROM :"gib".observation_period o
        UNION ALL
        SELECT :'nj', o.*, EXISTS (SELECT 1 FROM :"nj".person p WHERE p.person_id = o.person_id)
          FROM :"nj".observation_period o) o
 GROUP BY s ORDER BY s;

\echo unit concepts (concept_code = what a unit clause compares with)
SELECT :'gib' AS schema, 'measurement' AS tab, m.unit_concept_id, u.concept_code, u.vocabulary_id,
       count(*) AS rows, count(m.value_as_number) AS with_value
  FROM :"gib".measurement m LEFT JOIN :"gib".concept u ON u.concept_id = m.unit_concept_id GROUP BY 1, 2, 3, 4, 5
UNION ALL
SELECT :'gib', 'observation', m.unit_concept_id, u.concept_code, u.vocabulary_id, count(*), count(m.value_as_number)
  FROM :"gib".observation m LEFT JOIN :"gib".concept u ON u.concept_id = m.unit_concept_id GROUP BY 1, 2, 3, 4, 5
UNION ALL
SELECT :'nj', 'measurement', m.unit_concept_id, u.concept_code, u.vocabulary_id, count(*), count(m.value_as_number)
  FROM :"nj".measurement m LEFT JOIN :"nj".concept u ON u.concept_id = m.unit_concept_id GROUP BY 1, 2, 3, 4, 5
UNION ALL
SELECT :'nj', 'observation', m.unit_concept_id, u.concept_code, u.vocabulary_id, count(*), count(m.value_as_number)
  FROM :"nj".observation m LEFT JOIN :"nj".concept u ON u.concept_id = m.unit_concept_id GROUP BY 1, 2, 3, 4, 5
 ORDER BY 1, 2, 3;

\echo synthea27nj: values recorded with unit_concept_id 0 (no unit concept), by unit_source_value
SELECT m.measurement_concept_id, c.concept_name, m.unit_source_value, count(*) AS rows,
       count(DISTINCT m.person_id) AS persons
  FROM :"nj".measurement m LEFT JOIN :"nj".concept c ON c.concept_id = m.measurement_concept_id
 WHERE m.unit_concept_id = 0 AND m.value_as_number IS NOT NULL
 GROUP BY 1, 2, 3 ORDER BY 3, 1;

\echo
\echo ==== 4. synthea27nj lab trial NJ-LAB, as_of 2022-07-01 (UTC)
-- criteria (trialmatch language, sources as registered by use_omop):
--   1 inclusion 'Adult'                 age >= 18
--   2 inclusion 'HbA1c >= 6.0 %'        measurement 3004410 within 2 years last >= 6.0 unit '%'
--   3 exclusion 'Creatinine > 2.0 mg/dL' measurement (3051825, 3016723) within 2 years max > 177 unit 'umol/L'
-- with unit_conversions ('3051825'|'3016723', 'mg/dL', 'umol/L', 88.42, 0).
-- Window: events at or after 2020-07-01 00:00 and not after 2022-07-01 00:00.
-- A value is usable only when its unit concept's concept_code is the asked unit
-- (or converts to it); NULL stands for UNKNOWN.
CREATE TEMP TABLE nj_trial AS
WITH params AS (SELECT timestamp '2022-07-01' AS as_of, timestamp '2022-07-01' - interval '2 years' AS since),
ev AS (
    SELECT m.person_id, m.measurement_concept_id AS code,
           coalesce(m.measurement_datetime, m.measurement_date::timestamp) AS t,
           m.value_as_number AS v, u.concept_code AS unit
      FROM :"nj".measurement m LEFT JOIN :"nj".concept u ON u.concept_id = m.unit_concept_id, params
     WHERE coalesce(m.measurement_datetime, m.measurement_date::timestamp) BETWEEN params.since AND params.as_of
       AND m.value_as_number IS NOT NULL),
hba1c AS (
    SELECT DISTINCT ON (person_id) person_id, v AS last_value, t AS last_at
      FROM ev WHERE code = 3004410 AND unit = '%'
     ORDER BY person_id, t DESC, v DESC),
creat AS (
    SELECT person_id, max(CASE unit WHEN 'umol/L' THEN v WHEN 'mg/dL' THEN v * 88.42 END) AS max_umol
      FROM ev WHERE code IN (3051825, 3016723) AND unit IN ('umol/L', 'mg/dL')
     GROUP BY person_id)
SELECT p.person_id,
       extract(year FROM age(date '2022-07-01', coalesce(p.birth_datetime::date,
               make_date(p.year_of_birth, p.month_of_birth, p.day_of_birth))))::int AS age,
       h.last_value AS hba1c_last, h.last_at::date AS hba1c_at, c.max_umol AS creat_max_umol,
       extract(year FROM age(date '2022-07-01', coalesce(p.birth_datetime::date,
               make_date(p.year_of_birth, p.month_of_birth, p.day_of_birth)))) >= 18 AS c1,
       h.last_value >= 6.0 AS c2,
       c.max_umol > 177 AS c3
  FROM :"nj".person p LEFT JOIN hba1c h USING (person_id) LEFT JOIN creat c USING (person_id);

SELECT person_id, age, hba1c_last, hba1c_at, round(creat_max_umol, 2) AS creat_max_umol, c1, c2, c3,
       CASE (c1 AND c2 AND NOT c3) WHEN true THEN 'eligible' WHEN false THEN 'ineligible'
            ELSE 'indeterminate' END AS status,
       array_remove(ARRAY[CASE WHEN NOT c1 THEN 'Adult' END, CASE WHEN NOT c2 THEN 'HbA1c >= 6.0 %' END,
                          CASE WHEN c3 THEN 'Creatinine > 2.0 mg/dL' END], NULL) AS failed,
       array_remove(ARRAY[CASE WHEN c1 IS NULL THEN 'Adult' END, CASE WHEN c2 IS NULL THEN 'HbA1c >= 6.0 %' END,
                          CASE WHEN c3 IS NULL THEN 'Creatinine > 2.0 mg/dL' END], NULL) AS unknown
  FROM nj_trial ORDER BY person_id;

SELECT CASE (c1 AND c2 AND NOT c3) WHEN true THEN 'eligible' WHEN false THEN 'ineligible'
            ELSE 'indeterminate' END AS status, count(*), array_agg(person_id ORDER BY person_id) AS persons
  FROM nj_trial GROUP BY 1 ORDER BY 1;

\echo attrition (passed/failed/unknown per criterion; remaining = not yet ineligible)
SELECT 1 AS position, count(*) FILTER (WHERE c1) AS passed, count(*) FILTER (WHERE NOT c1) AS failed,
       count(*) FILTER (WHERE c1 IS NULL) AS unknown,
       count(*) FILTER (WHERE c1 IS DISTINCT FROM false) AS remaining FROM nj_trial
UNION ALL
SELECT 2, count(*) FILTER (WHERE c2), count(*) FILTER (WHERE NOT c2), count(*) FILTER (WHERE c2 IS NULL),
       count(*) FILTER (WHERE (c1 AND c2) IS DISTINCT FROM false) FROM nj_trial
UNION ALL
SELECT 3, count(*) FILTER (WHERE NOT c3), count(*) FILTER (WHERE c3), count(*) FILTER (WHERE c3 IS NULL),
       count(*) FILTER (WHERE (c1 AND c2 AND NOT c3) IS DISTINCT FROM false) FROM nj_trial
 ORDER BY 1;

\echo variant: the same trial WITHOUT the two unit_conversions rows (creatinine is in mg/dL only, so unusable for unit 'umol/L')
SELECT CASE (c1 AND c2 AND NOT NULL::boolean) WHEN true THEN 'eligible'
            WHEN false THEN 'ineligible' ELSE 'indeterminate' END AS status,
       count(*), array_agg(person_id ORDER BY person_id) AS persons
  FROM nj_trial GROUP BY 1 ORDER BY 1;

\echo
\echo ==== 5. synthea27nj side checks, as_of 2022-07-01
\echo 5a. ALT 3006923 (unit_concept_id 0, unit_source_value U/L), window 2 years: values per person
SELECT m.person_id, count(*) AS values_in_window,
       (array_agg(m.value_as_number ORDER BY m.measurement_datetime DESC, m.value_as_number DESC))[1] AS last_value,
       max(m.value_as_number) AS max_value, array_agg(DISTINCT m.unit_concept_id) AS unit_concept_ids
  FROM :"nj".measurement m
 WHERE m.measurement_concept_id = 3006923 AND m.value_as_number IS NOT NULL
   AND m.measurement_datetime BETWEEN timestamp '2020-07-01' AND timestamp '2022-07-01'
 GROUP BY 1 ORDER BY 1;

\echo 5b. sex from gender_concept_id (8532 F, 8507 M)
SELECT CASE gender_concept_id WHEN 8532 THEN 'F' WHEN 8507 THEN 'M' END AS sex, count(*),
       array_agg(person_id ORDER BY person_id) AS persons
  FROM :"nj".person GROUP BY 1 ORDER BY 1;

\echo 5c. continuously observed 365 days up to as_of: a period with start <= 2021-07-01 and end >= 2022-07-01
SELECT p.person_id, o.observation_period_start_date AS start, o.observation_period_end_date AS "end",
       coalesce(o.observation_period_start_date <= date '2021-07-01'
                AND o.observation_period_end_date >= date '2022-07-01', false) AS observed_365_days
  FROM :"nj".person p LEFT JOIN :"nj".observation_period o USING (person_id)
 ORDER BY 1;
