# A screening run queued with screen() is executed by the background worker
# pool: results equal match_patients', the counts and times are recorded,
# NOTIFY trialmatch_runs carries the run id, the results appear only with
# the final state, changes() compares with the previous run, and screen()
# is refused in a database the pool does not serve.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use lib 't';
use TrialmatchPool;

my $node = pool_node('run', patients => 5000);
my $as_of = '2026-01-01 00:00+00';
my $q = qq{SELECT md5(string_agg(format('%s %s %s %s', patient_id, status, failed, unknown), ',' ORDER BY patient_id))};

# run to completion, with NOTIFY
my $t0 = time;
my $out = $node->safe_psql('postgres', qq{
  LISTEN trialmatch_runs;
  SELECT trialmatch.screen('T', '$as_of') AS id \\gset
  SELECT 'state', trialmatch.wait(:id);
  SELECT 'id', :id;
});
my $elapsed = time - $t0;
like($out, qr/^state\|done$/m, 'run completes');
my ($id) = $out =~ /^id\|(\d+)$/m;
like($out, qr/Asynchronous notification "trialmatch_runs" with payload "$id" received/,
	'NOTIFY trialmatch_runs with the run id');
note(sprintf('screen + wait of 5000 patients: %.0f ms', $elapsed * 1000));

is($node->safe_psql('postgres', "$q FROM trialmatch.results WHERE run_id = $id"),
	$node->safe_psql('postgres', "$q FROM trialmatch.match_patients('T', '$as_of')"),
	'results equal match_patients');
is($node->safe_psql('postgres', qq{
  SELECT r.patients = (SELECT count(*) FROM trialmatch.results WHERE run_id = $id)
     AND r.eligible = (SELECT count(*) FROM trialmatch.results WHERE run_id = $id AND status = 'eligible')
     AND r.indeterminate = (SELECT count(*) FROM trialmatch.results WHERE run_id = $id AND status = 'indeterminate')
     AND r.patients = 5000 AND r.eligible > 0
     AND r.requested_by = 'postgres'::regrole AND r.trial_id = 'T' AND r.as_of = '$as_of'
     AND r.requested_at <= r.started_at AND r.started_at <= r.finished_at
     AND r.error IS NULL AND r.attempts = 1
    FROM trialmatch.runs r WHERE run_id = $id}), 't', 'counts, times and requester recorded');
note('queue to start, start to finish (ms): ' . $node->safe_psql('postgres', qq{
  SELECT round(extract(epoch FROM started_at - requested_at) * 1000, 1) || ', '
      || round(extract(epoch FROM finished_at - started_at) * 1000, 1)
    FROM trialmatch.runs WHERE run_id = $id}));
is($node->safe_psql('postgres', 'SELECT count(*) FROM trialmatch.progress'), '0',
	'no progress rows once runs end');

# the results appear with the final state, never before
my $lock = hold_lab_lock($node);
my $id2 = $node->safe_psql('postgres', "SELECT trialmatch.screen('T', '2026-03-01')");
poll_state($node, $id2, 'running');
is($node->safe_psql('postgres', qq{
  SELECT phase, patients_total IS NULL FROM trialmatch.progress WHERE run_id = $id2}),
	'screening|t', 'progress shows the running run');
is($node->safe_psql('postgres', "SELECT count(*) FROM trialmatch.results WHERE run_id = $id2"),
	'0', 'no results while running');
$lock->query_safe('COMMIT');
$lock->quit;
is($node->safe_psql('postgres', "SELECT trialmatch.wait($id2)"), 'done', 'second run done');

# changes(): against the previous done run of the trial
is($node->safe_psql('postgres', qq{
  SELECT count(*) FILTER (WHERE change = 'newly eligible') > 0
     AND count(*) FILTER (WHERE change = 'no longer eligible') > 0
    FROM trialmatch.changes($id2)}), 't', 'changes finds both directions');
is($node->safe_psql('postgres', qq{
  SELECT md5(string_agg(format('%s %s %s', patient_id, previous_status, status), ',' ORDER BY patient_id))
    FROM trialmatch.changes($id2)}),
	$node->safe_psql('postgres', qq{
  SELECT md5(string_agg(format('%s %s %s', n.patient_id, o.status, n.status), ',' ORDER BY n.patient_id))
    FROM trialmatch.match_patients('T', '$as_of') o
    JOIN trialmatch.match_patients('T', '2026-03-01') n USING (patient_id)
   WHERE o.status <> n.status}), 'changes equal the difference of the two screenings');

# wait() with a timeout on a run that cannot start; wait() on an unknown run
$node->safe_psql('postgres', q{ALTER SYSTEM SET trialmatch.pool_size = 0; SELECT pg_reload_conf();});
$node->poll_query_until('postgres', q{SELECT current_setting('trialmatch.pool_size') = '0'});
my $id3 = $node->safe_psql('postgres', "SELECT trialmatch.screen('T')");
$t0 = time;
is($node->safe_psql('postgres', "SELECT trialmatch.wait($id3, '300 ms')"), 'queued',
	'wait returns the state when the timeout passes');
cmp_ok(time - $t0, '<', 5, 'wait honours its timeout');
$node->safe_psql('postgres', "SELECT trialmatch.cancel($id3)");
my ($ret, $stdout, $stderr) = $node->psql('postgres', 'SELECT trialmatch.wait(424242)');
like($stderr, qr/screening run 424242 does not exist/, 'unknown run');
($ret, $stdout, $stderr) = $node->psql('postgres', q{
  BEGIN; SELECT trialmatch.screen('T') AS id \gset
  SELECT trialmatch.wait(:id);});
like($stderr, qr/was queued in this transaction/, 'wait inside the queuing transaction is refused');
($ret, $stdout, $stderr) = $node->psql('postgres', q{SELECT trialmatch.screen('NOPE')});
like($stderr, qr/trial "NOPE" does not exist/, 'unknown trial refused');

# another database: refused with a hint
$node->safe_psql('postgres', 'CREATE DATABASE other');
$node->safe_psql('other', 'CREATE EXTENSION trialmatch');
($ret, $stdout, $stderr) = $node->psql('other', q{SELECT trialmatch.screen('T')});
like($stderr, qr/serves database "postgres", not "other"/, 'other database refused');
$node->safe_psql('postgres', 'CREATE ROLE nobody LOGIN');
($ret, $stdout, $stderr) = $node->psql('other', q{SELECT trialmatch.screen('T')},
	extra_params => [ '-U', 'nobody' ]);
like($stderr, qr/the trialmatch worker pool does not serve database "other"/,
	'a non-superuser is refused too');
unlike($stderr, qr/"postgres"/, 'without being told the superuser-only setting');

# results larger than work_mem (the worker has its role's settings): the
# tuplestore spills to a temporary file, which is closed before commit
$node->safe_psql('postgres', q{
  ALTER SYSTEM RESET trialmatch.pool_size;
  ALTER ROLE postgres SET work_mem = '64kB';
  SELECT pg_reload_conf();});
$node->poll_query_until('postgres', q{SELECT current_setting('trialmatch.pool_size') = '2'});
my $offset = -s $node->logfile;
my $big = $node->safe_psql('postgres', "SELECT trialmatch.screen('T')");
is($node->safe_psql('postgres', "SELECT trialmatch.wait($big, '60 s')"), 'done', 'a run spilling to disk is done');
is($node->safe_psql('postgres', "SELECT patients = (SELECT count(*) FROM pat) FROM trialmatch.runs WHERE run_id = $big"), 't',
	'with every patient');
my $log = slurp_file($node->logfile, $offset);
unlike($log, qr/temporary file leak/, 'and no temporary file leak is logged');

$node->stop;
done_testing();
