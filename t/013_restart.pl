# Queued runs survive a restart; a run interrupted by a (clean) restart is
# run again; a launcher restart does not disturb a live run.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 't';
use TrialmatchPool;

my $node = pool_node('restart', conf => "trialmatch.pool_size = 0\n");

# queued runs survive a restart
my @ids = map { $node->safe_psql('postgres', "SELECT trialmatch.screen('T')") } 1 .. 3;
$node->stop;
$node->append_conf('postgresql.conf', "trialmatch.pool_size = 2\n");
$node->start;
for my $id (@ids)
{
	is($node->safe_psql('postgres', "SELECT trialmatch.wait($id)"), 'done', "queued run $id done after restart");
}

# a running run interrupted by a restart is run again
my $lock = hold_lab_lock($node);
my $id = $node->safe_psql('postgres', "SELECT trialmatch.screen('T')");
poll_state($node, $id, 'running');
$node->restart(mode => 'fast');
eval { $lock->quit };
is($node->safe_psql('postgres', "SELECT trialmatch.wait($id)"), 'done', 'interrupted run done after restart');
is($node->safe_psql('postgres', "SELECT attempts, patients FROM trialmatch.runs WHERE run_id = $id"),
	'2|2000', 'run again once');

# the launcher restarts (after an error, here a terminate): live runs go on
$lock = hold_lab_lock($node);
$id = $node->safe_psql('postgres', "SELECT trialmatch.screen('T')");
poll_state($node, $id, 'running');
my $launcher = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'trialmatch launcher'});
$node->safe_psql('postgres', "SELECT pg_terminate_backend($launcher)");
$node->poll_query_until('postgres', qq{
  SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'trialmatch launcher' AND pid <> $launcher});
is(run_state($node, $id), 'running', 'run still running after the launcher restarted');
$lock->query_safe('COMMIT');
$lock->quit;
is($node->safe_psql('postgres', "SELECT trialmatch.wait($id)"), 'done', 'run done');
is($node->safe_psql('postgres', "SELECT attempts FROM trialmatch.runs WHERE run_id = $id"), '1',
	'in one attempt');
# and the new launcher serves new runs
$id = $node->safe_psql('postgres', "SELECT trialmatch.screen('T')");
is($node->safe_psql('postgres', "SELECT trialmatch.wait($id)"), 'done', 'new launcher runs new runs');

$node->stop;
done_testing();
