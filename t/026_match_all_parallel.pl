# match_all's parallel workers evaluate with the leader (parallel.c,
# evaluate_share): after folding, each participant merges and evaluates
# pieces of patients, numbering every trial's combinations in shared
# memory.  This test checks, on enough patients for many pieces (70,000,
# also enough for eval.c's table of ages), that the rows are exactly those
# of match_patients called trial by trial without workers:
#   - with two workers, with one, and with none able to start;
#   - for criteria on age and sex (the patients' columns, which the workers
#     get from the leader);
#   - for a trial with more combinations than the shared table holds (it is
#     evaluated at output time instead);
#   - over several passes (trialmatch.match_all_memory);
#   - for a source partitioned by time;
# and that a cancelled call leaves nothing behind.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('match_all_parallel');
$node->init;
$node->append_conf('postgresql.conf',
	"max_worker_processes = 16\nmax_parallel_workers = 8\ntimezone = 'UTC'\n");
$node->start;

# 70,000 patients; per patient and lab L0..L8, a row two times in three,
# with a value from 0 to 10: each lab criterion is unknown, true or false
# about equally, so a trial of all nine has some 18,000 combinations.
$node->safe_psql('postgres', q{
  CREATE EXTENSION trialmatch;
  CREATE TABLE p_pat (patient_id int8 PRIMARY KEY, birth_date date, sex text);
  INSERT INTO p_pat SELECT i, date '1930-01-01' + (abs(hashint4(i)) % 30000),
         CASE i % 7 WHEN 0 THEN NULL WHEN 1 THEN 'M' WHEN 2 THEN 'X' ELSE 'F' END
    FROM generate_series(1, 70000) i;
  CREATE TABLE p_lab (patient_id int8, code text, t timestamptz, v numeric, u text);
  INSERT INTO p_lab
  SELECT i, 'L' || k, timestamptz '2026-05-01' - (abs(hashint4(i * 11 + k)) % 900) * interval '1 day',
         (abs(hashint4(i * 13 + k)) % 1000) / 100.0, 'mg/dL'
    FROM generate_series(1, 70000) i, generate_series(0, 8) k
   WHERE abs(hashint4(i * 17 + k)) % 3 <> 0;
  CREATE TABLE p_dx (patient_id int8, code text, t timestamptz);
  INSERT INTO p_dx SELECT i % 70000 + 1, 'D' || (i % 40), timestamptz '2026-05-01' - (i % 1500) * interval '1 day'
    FROM generate_series(1, 200000) i;
  SELECT trialmatch.set_patients('p_pat');
  SELECT trialmatch.add_source('plab', 'p_lab', time_column => 't', value_column => 'v', unit_column => 'u');
  SELECT trialmatch.add_source('pdx', 'p_dx', time_column => 't');
  INSERT INTO trialmatch.trials (trial_id, status)
  SELECT 'P' || k, 'recruiting' FROM generate_series(1, 12) k;
  INSERT INTO trialmatch.trials (trial_id, status) VALUES ('MANY', 'recruiting');
  -- twelve trials sharing atoms: age, sex, a diagnosis, two labs
  INSERT INTO trialmatch.criteria (trial_id, position, kind, label, expr)
  SELECT 'P' || k, 1, 'inclusion', 'adult', format('age >= %s', 18 + k * 3) FROM generate_series(1, 12) k
  UNION ALL
  SELECT 'P' || k, 2, 'inclusion', 'sex', CASE WHEN k % 3 = 0 THEN $$sex = 'F'$$ ELSE $$sex in ('F', 'M')$$ END
    FROM generate_series(1, 12) k
  UNION ALL
  SELECT 'P' || k, 3, 'inclusion', 'dx', format($$pdx 'D%s%%' within %s days$$, k % 4, 300 + k * 50)
    FROM generate_series(1, 12) k
  UNION ALL
  SELECT 'P' || k, 4, 'exclusion', 'lab', format($$plab 'L%s' within 2 years last > %s$$, k % 9, 4 + k % 3)
    FROM generate_series(1, 12) k
  UNION ALL
  SELECT 'P' || k, 5, 'inclusion', 'lab or age', format($$plab 'L%s' within 1 year count >= 1 or age < 40$$, (k + 4) % 9)
    FROM generate_series(1, 12) k;
  -- one trial of nine lab criteria: more combinations than are shared
  INSERT INTO trialmatch.criteria (trial_id, position, kind, label, expr)
  SELECT 'MANY', k + 1, CASE WHEN k % 2 = 0 THEN 'inclusion' ELSE 'exclusion' END, 'L' || k,
         format($$plab 'L%s' within 3 years last > 5$$, k)
    FROM generate_series(0, 8) k;
  ANALYZE;
});

# match_patients, trial by trial, without workers: the expected rows
my $expected = $node->safe_psql('postgres', q{
  SET trialmatch.max_parallel_workers = 0;
  SELECT count(*) || ' ' || md5(string_agg(concat_ws('|', t.trial_id, m.patient_id, m.status, m.failed, m.unknown),
                                           ',' ORDER BY t.trial_id, m.patient_id))
    FROM trialmatch.trials t, LATERAL trialmatch.match_patients(t.trial_id, '2026-06-01') m;
});
like($expected, qr/^910000 /, 'match_patients: 13 trials of 70000 patients');

my $distinct = $node->safe_psql('postgres', q{
  SET trialmatch.max_parallel_workers = 0;
  SELECT count(DISTINCT (m.failed, m.unknown)) FROM trialmatch.match_patients('MANY', '2026-06-01') m;
});
cmp_ok($distinct, '>', 8192, "trial MANY has $distinct combinations, more than the 8192 shared");

# one match_all under settings: its rows (as above) and its DEBUG1 report
sub match_all
{
	my ($settings) = @_;
	my ($ret, $out, $err) = $node->psql('postgres',
		"SET client_min_messages = debug1; $settings\n"
		  . q{SELECT count(*) || ' ' || md5(string_agg(concat_ws('|', trial_id, patient_id, status, failed, unknown),
                                                ',' ORDER BY trial_id, patient_id))
                FROM trialmatch.match_all('2026-06-01');});
	is($ret, 0, "match_all with: $settings");
	return ($out, $err);
}

my ($out, $err) = match_all('SET min_parallel_table_scan_size = 0; SET trialmatch.max_parallel_workers = 2;');
is($out, $expected, 'two workers: the rows of match_patients');
like($err, qr/13 trials: 70000 patients, 2 of 2 parallel workers launched/, 'two workers launched');
like($err, qr/13 trials evaluated with the reading by 3 participants/, 'and they evaluated with the leader');

($out, $err) = match_all('SET min_parallel_table_scan_size = 0; SET trialmatch.max_parallel_workers = 2; SET max_parallel_workers = 1;');
is($out, $expected, 'one worker (max_parallel_workers = 1): the same rows');
like($err, qr/evaluated with the reading by 2 participants/, 'one worker and the leader evaluated');

($out, $err) = match_all('SET min_parallel_table_scan_size = 0; SET trialmatch.max_parallel_workers = 2; SET max_parallel_workers = 0;');
is($out, $expected, 'no worker allowed by max_parallel_workers: the same rows');
like($err, qr/13 trials evaluated in \d+ ms/, 'evaluated by the leader after the reading');

($out, $err) = match_all('SET trialmatch.max_parallel_workers = 0;');
is($out, $expected, 'no workers: the same rows');
like($err, qr/13 trials evaluated in \d+ ms/, 'evaluated after the reading, serially');

($out, $err) = match_all(q{SET min_parallel_table_scan_size = 0; SET trialmatch.max_parallel_workers = 2; SET trialmatch.match_all_memory = '2MB';});
is($out, $expected, 'several passes with workers: the same rows');
like($err, qr/pass 2 of \d+/, 'in several passes');
like($err, qr/evaluated with the reading by 3 participants/, 'each evaluated by the workers and the leader');

# a call cancelled while the workers evaluate leaves nothing behind
my ($ret, $o, $e) = $node->psql('postgres', q{
  SET min_parallel_table_scan_size = 0; SET trialmatch.max_parallel_workers = 2;
  SET statement_timeout = '150ms';
  SELECT count(*) FROM trialmatch.match_all('2026-06-01') a, trialmatch.match_all('2026-06-01') b
   WHERE a.patient_id = b.patient_id AND a.trial_id = b.trial_id;
});
like($e, qr/canceling statement due to statement timeout/, 'a call cancelled by statement_timeout');
($out, $err) = match_all('SET min_parallel_table_scan_size = 0; SET trialmatch.max_parallel_workers = 2;');
is($out, $expected, 'the next call in a new session gives the same rows');

# a partitioned source (partitions by time, some outside the windows):
# the workers read its leaves and evaluate as for a plain table
$node->safe_psql('postgres', q{
  CREATE TABLE p_dxp (patient_id int8, code text, t timestamptz) PARTITION BY RANGE (t);
  CREATE TABLE p_dxp_old PARTITION OF p_dxp FOR VALUES FROM (MINVALUE) TO ('2024-01-01');
  CREATE TABLE p_dxp_2024 PARTITION OF p_dxp FOR VALUES FROM ('2024-01-01') TO ('2025-06-01');
  CREATE TABLE p_dxp_new PARTITION OF p_dxp FOR VALUES FROM ('2025-06-01') TO (MAXVALUE);
  INSERT INTO p_dxp SELECT * FROM p_dx;
  ANALYZE p_dxp;
  SELECT trialmatch.add_source('pdxp', 'p_dxp', time_column => 't');
  INSERT INTO trialmatch.trials (trial_id, status) VALUES ('PART', 'recruiting');
  INSERT INTO trialmatch.criteria (trial_id, position, kind, label, expr) VALUES
    ('PART', 1, 'inclusion', 'dx recent', $$pdxp 'D1%' within 300 days$$),
    ('PART', 2, 'exclusion', 'dx other', $$pdxp 'D2%' within 2 years count >= 2$$),
    ('PART', 3, 'inclusion', 'age', 'age >= 30');
});
$expected = $node->safe_psql('postgres', q{
  SET trialmatch.max_parallel_workers = 0;
  SELECT count(*) || ' ' || md5(string_agg(concat_ws('|', t.trial_id, m.patient_id, m.status, m.failed, m.unknown),
                                           ',' ORDER BY t.trial_id, m.patient_id))
    FROM trialmatch.trials t, LATERAL trialmatch.match_patients(t.trial_id, '2026-06-01') m;
});
like($expected, qr/^980000 /, 'match_patients: 14 trials, one on a partitioned source');
($out, $err) = match_all('SET min_parallel_table_scan_size = 0; SET trialmatch.max_parallel_workers = 2;');
is($out, $expected, 'a partitioned source, two workers: the rows of match_patients');
like($err, qr/14 trials evaluated with the reading by 3 participants/, 'evaluated by the workers and the leader');

# no background worker slot at all: the workers asked for never start,
# and the leader merges and evaluates alone in the parallel context
$node->append_conf('postgresql.conf', "max_worker_processes = 0\n");
$node->restart;
($out, $err) = match_all('SET min_parallel_table_scan_size = 0; SET trialmatch.max_parallel_workers = 2;');
is($out, $expected, 'no worker slot: the same rows');
like($err, qr/0 of 2 parallel workers launched/, 'no worker launched');
like($err, qr/evaluated with the reading by 1 participants/, 'the leader evaluated alone');

$node->stop;
done_testing();
