# cancel() of a queued run and of a running run; pg_cancel_backend on a
# pool worker (cancelled, like cancel()); trialmatch.run_timeout; screen()
# in a transaction that is then prepared (refused).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use lib 't';
use TrialmatchPool;

my $node = pool_node('cancel', conf => "trialmatch.pool_size = 1\nmax_prepared_transactions = 2\n");

my $lock = hold_lab_lock($node);
my $running = $node->safe_psql('postgres', "SELECT trialmatch.screen('T')");
my $queued = $node->safe_psql('postgres', "SELECT trialmatch.screen('T')");
poll_state($node, $running, 'running');
is(run_state($node, $queued), 'queued', 'second run queued behind the first');

# a queued run: cancelled at once
is($node->safe_psql('postgres', "SELECT trialmatch.cancel($queued)"), 't', 'cancel queued');
is(run_state($node, $queued), 'cancelled', 'queued run cancelled');

# a running run: stopped promptly, no results
my $t0 = time;
my $out = $node->safe_psql('postgres', "SELECT trialmatch.cancel($running); SELECT trialmatch.wait($running, '10 s');");
my $elapsed = time - $t0;
is($out, "t\ncancelled", 'cancel running: cancelled');
cmp_ok($elapsed, '<', 5, 'promptly');
note(sprintf('cancel() to cancelled state: %.0f ms', $elapsed * 1000));
is($node->safe_psql('postgres', qq{SELECT count(*) FROM trialmatch.results WHERE run_id IN ($running, $queued)}),
	'0', 'no results for cancelled runs');
is($node->safe_psql('postgres', "SELECT error IS NULL AND finished_at IS NOT NULL FROM trialmatch.runs WHERE run_id = $running"),
	't', 'finished, without error');
$lock->query_safe('COMMIT');
$lock->quit;

# a finished run cannot be cancelled
my $done = $node->safe_psql('postgres', "SELECT trialmatch.screen('T')");
is($node->safe_psql('postgres', "SELECT trialmatch.wait($done)"), 'done', 'run done');
is($node->safe_psql('postgres', "SELECT trialmatch.cancel($done)"), 'f', 'cancel of a finished run is false');
is(run_state($node, $done), 'done', 'and it stays done');

# pg_cancel_backend on the worker: a request to stop, like cancel()
$lock = hold_lab_lock($node);
my $sig = $node->safe_psql('postgres', "SELECT trialmatch.screen('T')");
poll_state($node, $sig, 'running');
my ($pid) = worker_pids($node);
ok($pid, 'the run has a worker');
is($node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)"), 't', 'pg_cancel_backend sent');
is($node->safe_psql('postgres', "SELECT trialmatch.wait($sig, '10 s')"), 'cancelled',
	'pg_cancel_backend: the run is cancelled, as with cancel()');
is($node->safe_psql('postgres', "SELECT error IS NULL, attempts FROM trialmatch.runs WHERE run_id = $sig"),
	't|1', 'without error, and not retried');
$lock->query_safe('COMMIT');
$lock->quit;
sleep 1;
is(run_state($node, $sig), 'cancelled', 'it stays cancelled');
ok($node->log_contains(qr/run $sig received a query cancel request \(pg_cancel_backend\)/),
	'the server log says why');

# PREPARE TRANSACTION after screen(): refused, as after NOTIFY
my $before = $node->safe_psql('postgres', 'SELECT count(*) FROM trialmatch.runs');
my ($ret, $stdout, $stderr) = $node->psql('postgres', q{
  \set VERBOSITY verbose
  BEGIN;
  SELECT trialmatch.screen('T');
  PREPARE TRANSACTION 'screened';});
like($stderr, qr/ERROR:  0A000: cannot PREPARE a transaction that has queued a screening run/,
	'PREPARE after screen() is refused with 0A000');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'), '0', 'nothing was prepared');
is($node->safe_psql('postgres', 'SELECT count(*) FROM trialmatch.runs'), $before, 'and no run was queued');
# the refusal leaves nothing behind: the next transaction prepares normally
$node->safe_psql('postgres', q{BEGIN; CREATE TABLE prepared_ok (); PREPARE TRANSACTION 'ok'; COMMIT PREPARED 'ok';});
my $after = $node->safe_psql('postgres', "SELECT trialmatch.screen('T')");
is($node->safe_psql('postgres', "SELECT trialmatch.wait($after, '30 s')"), 'done', 'and screen() works after it');

# run_timeout
$node->append_conf('postgresql.conf', "trialmatch.run_timeout = '300ms'\n");
$node->reload;
$node->poll_query_until('postgres', q{SELECT current_setting('trialmatch.run_timeout') = '300ms'});
$lock = hold_lab_lock($node);
my $slow = $node->safe_psql('postgres', "SELECT trialmatch.screen('T')");
is($node->safe_psql('postgres', "SELECT trialmatch.wait($slow, '20 s')"), 'failed', 'run over run_timeout fails');
like($node->safe_psql('postgres', "SELECT error FROM trialmatch.runs WHERE run_id = $slow"),
	qr/run exceeded trialmatch.run_timeout \(300ms\)/, 'error names run_timeout');
$lock->query_safe('COMMIT');
$lock->quit;

$node->stop;
done_testing();
