# A pool worker killed with SIGKILL mid-run: the server restarts
# (restart_after_crash), the run is run again and completes once.  A run
# interrupted for the third time fails with an error saying so.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 't';
use TrialmatchPool;

my $node = pool_node('crash', conf => "restart_after_crash = on\n");

my $lock = hold_lab_lock($node);
my $id = $node->safe_psql('postgres', "SELECT trialmatch.screen('T')");
poll_state($node, $id, 'running');
my ($pid) = worker_pids($node);
ok($pid, "pool worker $pid runs the run");
kill 'KILL', $pid;
$node->wait_for_log(qr/all server processes terminated; reinitializing/);
eval { $lock->quit };

$node->poll_query_until('postgres', "SELECT state = 'done' FROM trialmatch.runs WHERE run_id = $id")
  or die 'run did not complete after the crash';
is($node->safe_psql('postgres', "SELECT attempts, patients FROM trialmatch.runs WHERE run_id = $id"),
	'2|2000', 'run again after the crash and done');
is($node->safe_psql('postgres', "SELECT count(*), count(DISTINCT patient_id) FROM trialmatch.results WHERE run_id = $id"),
	'2000|2000', 'results stored once');

# third interruption: the run fails
$node->safe_psql('postgres', q{ALTER SYSTEM SET trialmatch.pool_size = 0; SELECT pg_reload_conf();});
$node->poll_query_until('postgres', q{SELECT current_setting('trialmatch.pool_size') = '0'});
my $id2 = $node->safe_psql('postgres', "SELECT trialmatch.screen('T')");
$node->safe_psql('postgres', "UPDATE trialmatch.runs SET attempts = 2 WHERE run_id = $id2");
$lock = hold_lab_lock($node);
$node->safe_psql('postgres', q{ALTER SYSTEM RESET trialmatch.pool_size; SELECT pg_reload_conf();});
poll_state($node, $id2, 'running');
($pid) = worker_pids($node);
kill 'KILL', $pid;
$node->wait_for_log(qr/all server processes terminated; reinitializing/, -s $node->logfile - 2000);
eval { $lock->quit };
$node->poll_query_until('postgres', "SELECT state = 'failed' FROM trialmatch.runs WHERE run_id = $id2")
  or die 'run did not fail';
like($node->safe_psql('postgres', "SELECT error FROM trialmatch.runs WHERE run_id = $id2"),
	qr/interrupted 3 times/, 'failed after three interrupted attempts');
is($node->safe_psql('postgres', "SELECT count(*) FROM trialmatch.results WHERE run_id = $id2"),
	'0', 'no results for the failed run');

$node->stop;
done_testing();
