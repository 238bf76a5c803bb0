-- Registration 1.1 (SPEC 7.1, 8): category, normal range and text columns;
-- sources without a code column.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS trialmatch;
RESET client_min_messages;
\set VERBOSITY default

CREATE TABLE reg_lab (patient_id int8, code text, taken_at timestamptz, value numeric,
                      result text, result_concept int4, low numeric, high float8, flag bool);
CREATE TABLE reg_note (patient_id int8, written_at timestamptz, body text, title varchar(80));
CREATE TABLE reg_death (patient_id int8, died_on date);

-- every new column, with its type checked
SELECT trialmatch.add_source('reg_lab', 'reg_lab', time_column => 'taken_at', value_column => 'value',
                             category_column => 'result', range_low_column => 'low',
                             range_high_column => 'high');
SELECT name, code_column, category_column, range_low_column, range_high_column, text_column
  FROM trialmatch.sources WHERE name = 'reg_lab';
-- concept-id categories
SELECT trialmatch.add_source('reg_lab2', 'reg_lab', time_column => 'taken_at',
                             category_column => 'result_concept');
SELECT trialmatch.add_source('reg_bad', 'reg_lab', time_column => 'taken_at', category_column => 'flag');
SELECT trialmatch.add_source('reg_bad', 'reg_lab', time_column => 'taken_at', value_column => 'value',
                             range_high_column => 'result');
SELECT trialmatch.add_source('reg_bad', 'reg_lab', time_column => 'taken_at', value_column => 'value',
                             range_low_column => 'nosuch');
-- a range is in the unit of the value: no value, no range
SELECT trialmatch.add_source('reg_bad', 'reg_lab', time_column => 'taken_at', range_high_column => 'high');
SELECT trialmatch.add_source('reg_bad', 'reg_lab', time_column => 'taken_at', text_column => 'value');
SELECT count(*) FROM trialmatch.sources WHERE name = 'reg_bad';

-- a notes table: with a text column the default code column is used only if it exists
SELECT trialmatch.add_source('reg_note', 'reg_note', time_column => 'written_at', text_column => 'body');
SELECT trialmatch.add_source('reg_note2', 'reg_note', time_column => 'written_at', text_column => 'title');
SELECT name, code_column IS NULL AS no_code, text_column FROM trialmatch.sources
 WHERE name LIKE 'reg_note%' ORDER BY name;
-- without a text column the default still names a column that must exist
SELECT trialmatch.add_source('reg_death', 'reg_death', time_column => 'died_on');
-- an explicit NULL code column: a source read only without codes
SELECT trialmatch.add_source('reg_death', 'reg_death', code_column => NULL, time_column => 'died_on');
SELECT name, code_column FROM trialmatch.sources WHERE name = 'reg_death';

-- codes on a source without a code column are refused when the criterion is written
INSERT INTO trialmatch.trials (trial_id) VALUES ('REG-1');
INSERT INTO trialmatch.criteria VALUES ('REG-1', 1, 'exclusion', 'died', 'reg_death ''X'' within 1 year');
INSERT INTO trialmatch.criteria VALUES ('REG-1', 1, 'inclusion', 'note', 'reg_note ''X''');
-- 1.0 sources keep working and accept a criterion as before
INSERT INTO trialmatch.criteria VALUES ('REG-1', 1, 'inclusion', 'lab', 'reg_lab ''HB'' within 1 year last > 10');
INSERT INTO reg_lab VALUES (1, 'HB', now() - interval '1 day', 12, 'Positive', 1, 11, 15, true),
                           (2, 'HB', now() - interval '1 day', 9, 'Negative', 2, 11, 15, false);
-- a patient table for the call
CREATE TABLE reg_person (id int8, born date);
INSERT INTO reg_person VALUES (1, '1970-01-01'), (2, '1980-01-01');
SELECT trialmatch.set_patients('reg_person', id_column => 'id', birth_date_column => 'born', sex_column => NULL);
SELECT patient_id, status FROM trialmatch.match_patients('REG-1') ORDER BY 1;

-- clean up
SELECT trialmatch.drop_source(name) FROM trialmatch.sources WHERE name LIKE 'reg_%' AND name <> 'reg_lab';
DELETE FROM trialmatch.trials WHERE trial_id = 'REG-1';
DELETE FROM trialmatch.patient_source;
SELECT trialmatch.drop_source('reg_lab');
DROP TABLE reg_lab, reg_note, reg_death, reg_person;
