-- Clinical notes (SPEC 8, issue 11): `source mentions phrases [window]`,
-- word-sequence matching, NegEx/ConText classification, the three-valued
-- atom, explain_match evidence, editable triggers, the text search index.
SET timezone = 'UTC';
CREATE TABLE n_pat (patient_id int8 PRIMARY KEY);
INSERT INTO n_pat SELECT generate_series(1, 30);
CREATE TABLE n_note (patient_id int8, written_at timestamptz, body text);
INSERT INTO n_note VALUES
 (1,  '2026-05-01', 'Patient has brain metastases.'),                        -- affirmed
 (2,  '2026-05-01', 'No evidence of brain metastases.'),                     -- negated, before
 (3,  '2026-05-01', 'Brain metastases were ruled out.'),                     -- negated, after
 (4,  '2026-05-01', 'Brain metastases have been ruled out.'),               -- negated, after
 (5,  '2026-05-01', 'Possible brain metastases on MRI.'),                    -- possible: unknown
 (6,  '2026-05-01', 'Cannot exclude brain metastases.'),                     -- possible (longest trigger)
 (7,  '2026-05-01', 'Return if headache; brain metastases follow-up.'),      -- sentence ends at ";"
 (8,  '2026-05-01', 'Call us if brain metastases are suspected.'),           -- hypothetical
 (9,  '2026-05-01', 'Mother had brain metastases.'),                         -- other
 (10, '2026-05-01', 'Family history of brain metastases.'),                  -- other
 (11, '2026-05-01', 'No increase in brain metastases.'),                     -- pseudo-trigger: affirmed
 (12, '2026-05-01', 'No headache, but brain metastases are present.'),       -- termination: affirmed
 (13, '2026-05-01', 'No fever. Brain metastases are present.'),              -- sentence end: affirmed
 (14, '2026-05-01', 'No change in fever, cough, diet, sleep, weight, mood or brain metastases.'),  -- "no change" pseudo
 (15, '2026-05-01', 'Denies fever, chills, nausea, vomiting, diarrhea, rash, cough, dyspnea, headache or brain metastases.'),  -- beyond the distance limit
 (16, '2026-05-01', 'BRAIN-METASTASES!!! (multiple)'),                       -- case, punctuation
 (17, '2026-05-01', 'brain' || E'\n\t ' || 'metastasis suspected? no: brain mets'),  -- prefix, other phrase
 (18, '2026-05-01', 'No brain metastases.'),                                 -- one negated ...
 (18, '2026-04-01', 'Brain metastases seen.'),                               -- ... one affirmed note: true
 (19, '2026-05-01', 'Possible brain metastases.'),                           -- possible ...
 (19, '2026-05-02', 'No brain metastases.'),                                 -- ... and negated: unknown
 (20, '2025-01-01', 'Brain metastases.'),                                    -- outside the window
 (20, '2026-05-01', 'Brain metastasectomy planned.'),                        -- not the same word
 (21, '2026-07-01', 'Brain metastases.'),                                    -- after as_of
 (22, '2026-05-01', ''),
 (22, '2026-05-01', NULL),
 (23, '2026-05-01', 'Métastases cérébrales: ΜΕΤΑΣΤΑΣΗ confirmed'),           -- Unicode case
 (24, '2026-05-01', 'Ｂｒａｉｎ metastases?'),                               -- full-width letters are letters
 (25, '2026-05-01', 'brainmetastases');                                      -- one word: no match
SELECT trialmatch.set_patients('n_pat', birth_date_column => NULL, sex_column => NULL);
SELECT trialmatch.add_source('n_note', 'n_note', time_column => 'written_at', text_column => 'body');

INSERT INTO trialmatch.trials (trial_id, title) VALUES ('NOTES', 'notes');
INSERT INTO trialmatch.criteria (trial_id, position, kind, label, expr) VALUES
 ('NOTES', 1, 'inclusion', 'brain metastases', $$n_note mentions 'brain metastases' within 6 months$$),
 ('NOTES', 2, 'inclusion', 'any metastasis', $$n_note MENTIONS ('brain metasta*', 'brain mets')$$),
 ('NOTES', 3, 'inclusion', 'unicode', $$n_note mentions ('MÉTASTASES', 'μετασταση', 'ｂｒａｉｎ')$$),
 ('NOTES', 4, 'exclusion', 'not mentioned', $$not n_note mentions 'brain metastases' within 6 months$$);
-- canonical form
SELECT trialmatch.check_expr($$n_note MENTIONS ('brain metasta*', 'it''s')   within 1 YEAR$$);
-- ... which parses again to itself (a backslash is no escape in the language)
SELECT trialmatch.check_expr(trialmatch.check_expr($$n_note mentions ('a\b', 'c''d')$$));

-- each patient's result for each criterion
CREATE FUNCTION n_results(as_of timestamptz) RETURNS TABLE (patient_id int8, r text) LANGUAGE sql AS $$
  SELECT p, string_agg(e.result, ' ' ORDER BY e.position)
    FROM generate_series(1, 25) p, trialmatch.explain_match('NOTES', p, as_of) e GROUP BY p ORDER BY p
$$;
SELECT * FROM n_results('2026-06-01');

-- the population calls agree with explain_match, under 0, 1 and 2 workers
CREATE FUNCTION n_population() RETURNS TABLE (patient_id int8, status trialmatch.eligibility, failed text[], unknown text[])
LANGUAGE sql AS $$ SELECT * FROM trialmatch.match_patients('NOTES', '2026-06-01') WHERE patient_id <= 25 ORDER BY 1 $$;
CREATE TABLE n_serial AS SELECT * FROM n_population();
SELECT * FROM n_serial;
SET min_parallel_table_scan_size = 0;
SET trialmatch.max_parallel_workers = 1;
SELECT count(*) AS differ FROM (SELECT * FROM n_population() EXCEPT SELECT * FROM n_serial) d;
SET trialmatch.max_parallel_workers = 2;
SELECT count(*) AS differ FROM (SELECT * FROM n_population() EXCEPT SELECT * FROM n_serial) d;
SELECT * FROM trialmatch.attrition('NOTES', '2026-06-01');
RESET trialmatch.max_parallel_workers;
RESET min_parallel_table_scan_size;

-- explain_match: the sentence around the match, the match, the deciding trigger
SELECT p AS patient_id, e.result, e.evidence
  FROM unnest(ARRAY[1, 2, 4, 5, 9, 12, 15, 18, 19, 22]) p, trialmatch.explain_match('NOTES', p, '2026-06-01') e
 WHERE e.position = 1;
-- a long note is shortened around the match
INSERT INTO n_note VALUES (26, '2026-05-01', repeat('word ', 50) || 'and no brain metastases at all ' || repeat('word ', 50));
SELECT evidence FROM trialmatch.explain_match('NOTES', 26, '2026-06-01') WHERE position = 1;

-- bad phrases are refused when written (42601, with a caret)
INSERT INTO trialmatch.criteria VALUES ('NOTES', 9, 'inclusion', 'x', $$n_note mentions '...'$$);
INSERT INTO trialmatch.criteria VALUES ('NOTES', 9, 'inclusion', 'x', $$n_note mentions ('ok', ' * ')$$);
INSERT INTO trialmatch.criteria VALUES ('NOTES', 9, 'inclusion', 'x', $$n_note mentions ''$$);
INSERT INTO trialmatch.criteria VALUES ('NOTES', 9, 'inclusion', 'x', $$n_note mentions ()$$);
INSERT INTO trialmatch.criteria VALUES ('NOTES', 9, 'inclusion', 'x', $$n_note mentions 'x' count > 1$$);
-- a source without a text column
CREATE TABLE n_lab (patient_id int8, code text, taken_at timestamptz);
SELECT trialmatch.add_source('n_lab', 'n_lab', time_column => 'taken_at');
INSERT INTO trialmatch.criteria VALUES ('NOTES', 9, 'inclusion', 'x', $$n_lab mentions 'x'$$);

-- the triggers are editable, and seen at once: a small German set
INSERT INTO n_note VALUES
 (27, '2026-05-01', 'Keine Hirnmetastasen nachweisbar.'),
 (28, '2026-05-01', 'Verdacht auf Hirnmetastasen.'),
 (29, '2026-05-01', 'Hirnmetastasen ausgeschlossen, aber Hirnödem.'),
 (30, '2026-05-01', 'Kein Fieber, aber Hirnmetastasen.');
INSERT INTO trialmatch.criteria VALUES ('NOTES', 5, 'inclusion', 'Hirnmetastasen', $$n_note mentions 'hirnmetastasen'$$);
SELECT p AS patient_id, e.result, e.evidence
  FROM generate_series(27, 30) p, trialmatch.explain_match('NOTES', p, '2026-06-01') e WHERE e.position = 5;
INSERT INTO trialmatch.note_triggers (phrase, category, direction) VALUES
 ('kein', 'negated', 'forward'), ('keine', 'negated', 'forward'),
 ('verdacht auf', 'possible', 'forward'), ('ausgeschlossen', 'negated', 'backward'),
 ('aber', 'termination', 'both');
SELECT p AS patient_id, e.result, e.evidence
  FROM generate_series(27, 30) p, trialmatch.explain_match('NOTES', p, '2026-06-01') e WHERE e.position = 5;
SELECT patient_id, status, unknown FROM trialmatch.match_patients('NOTES', '2026-06-01') WHERE patient_id >= 27;
-- a shipped trigger switched off by the same phrase as a pseudo-trigger
INSERT INTO trialmatch.note_triggers VALUES ('mother', 'pseudo', 'both');
SELECT result FROM trialmatch.explain_match('NOTES', 9, '2026-06-01') WHERE position = 1;
DELETE FROM trialmatch.note_triggers WHERE NOT shipped;
DELETE FROM trialmatch.criteria WHERE trial_id = 'NOTES' AND position = 5;
-- scope of the shipped triggers: "given her ..." (a clause of reasons)
-- and "and he ..." (a new clause) end a trigger's reach; "return of" is a
-- pseudo-trigger; "return if" stays hypothetical
INSERT INTO n_note VALUES
 (27, '2026-05-01', 'Possible aspiration pneumonia given her vomiting and confusion.'),
 (28, '2026-05-01', 'He is not cooperative and he is vomiting.'),
 (29, '2026-05-01', 'Return of vomiting after meals.'),
 (30, '2026-05-01', 'Return if vomiting.');
INSERT INTO trialmatch.criteria VALUES ('NOTES', 6, 'inclusion', 'vomiting', $$n_note mentions 'vomiting'$$);
SELECT p AS patient_id, e.result, e.evidence
  FROM generate_series(27, 30) p, trialmatch.explain_match('NOTES', p, '2026-06-01') e WHERE e.position = 6;
DELETE FROM trialmatch.criteria WHERE trial_id = 'NOTES' AND position = 6;

-- a text search index on the text: only the notes it returns are read
-- (t/045_negex.pl shows which path is taken), with the same results
UPDATE trialmatch.criteria SET expr = $$n_note mentions ('brains', 'mother')$$
 WHERE trial_id = 'NOTES' AND position = 3;
CREATE TABLE n_scan AS SELECT * FROM n_population();
CREATE INDEX n_note_fts ON n_note USING gin (to_tsvector('simple', body));
ANALYZE n_note;
SELECT count(*) AS differ FROM (SELECT * FROM n_population() EXCEPT SELECT * FROM n_scan) d;
-- a configuration with stemming (prefixes are not looked up in it: a scan)
DROP INDEX n_note_fts;
CREATE INDEX n_note_en ON n_note USING gin (to_tsvector('english', body));
SELECT count(*) AS differ FROM (SELECT * FROM n_population() EXCEPT SELECT * FROM n_scan) d;
DROP INDEX n_note_en;
DROP TABLE n_scan;

-- use_omop registers OMOP's note table (through _use_omop_notes)
CREATE SCHEMA n_omop;
CREATE TABLE n_omop.note (note_id int8, person_id int8, note_date date, note_datetime timestamp,
                          note_type_concept_id int4, note_text text);
SELECT trialmatch._use_omop_notes('n_omop');
SELECT name, patient_column, code_column, time_column, time_fallback_column, text_column
  FROM trialmatch.sources WHERE name = 'note';
ALTER TABLE n_omop.note DROP COLUMN note_datetime;
SELECT trialmatch._use_omop_notes('n_omop');
SELECT name, patient_column, code_column, time_column, time_fallback_column, text_column
  FROM trialmatch.sources WHERE name = 'note';
SELECT trialmatch.drop_source('note');
SELECT trialmatch._use_omop_notes('n_pat');   -- no such schema's note table: nothing registered
SELECT count(*) FROM trialmatch.sources WHERE name = 'note';
DROP SCHEMA n_omop CASCADE;

DELETE FROM trialmatch.criteria WHERE trial_id = 'NOTES';
DELETE FROM trialmatch.trials WHERE trial_id = 'NOTES';
SELECT trialmatch.drop_source('n_note');
SELECT trialmatch.drop_source('n_lab');
DROP TABLE n_note, n_lab, n_pat, n_serial;
DROP FUNCTION n_results, n_population;
