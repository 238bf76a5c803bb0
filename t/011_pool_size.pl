# trialmatch.pool_size bounds the runs executed at the same time, and a
# reload (SIGHUP) changes it: never more pool workers than allowed.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 't';
use TrialmatchPool;

my $node = pool_node('size', conf => "trialmatch.pool_size = 2\n");

my $lock = hold_lab_lock($node);
my @ids = map { $node->safe_psql('postgres', "SELECT trialmatch.screen('T')") } 1 .. 6;
$node->poll_query_until('postgres',
	q{SELECT count(*) = 2 FROM trialmatch.runs WHERE state = 'running'});
my $max = 0;
for (1 .. 10)
{
	my $n = $node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'trialmatch worker'});
	$max = $n if $n > $max;
	select(undef, undef, undef, 0.1);
}
is($max, 2, 'two pool workers with pool_size = 2');
is($node->safe_psql('postgres', q{SELECT string_agg(state, ',' ORDER BY run_id) FROM trialmatch.runs}),
	'running,running,queued,queued,queued,queued', 'oldest runs first, the rest queued');
is($node->safe_psql('postgres', 'SELECT count(*) FROM trialmatch.progress'), '2',
	'progress shows the running runs');

# reload with a larger pool: one more run starts
$node->append_conf('postgresql.conf', "trialmatch.pool_size = 3\n");
$node->reload;
$node->poll_query_until('postgres',
	q{SELECT count(*) = 3 FROM trialmatch.runs WHERE state = 'running'});
select(undef, undef, undef, 0.5);
is($node->safe_psql('postgres', q{SELECT count(*) FROM trialmatch.runs WHERE state = 'running'}),
	'3', 'three runs with pool_size = 3 after reload');

$lock->query_safe('COMMIT');
$lock->quit;
for my $id (@ids)
{
	is($node->safe_psql('postgres', "SELECT trialmatch.wait($id)"), 'done', "run $id done");
}

# never more than 3 at once, judged from the recorded intervals
is($node->safe_psql('postgres', q{
  SELECT max(n) FROM (
    SELECT (SELECT count(*) FROM trialmatch.runs b
             WHERE b.started_at <= a.started_at AND b.finished_at > a.started_at) AS n
      FROM trialmatch.runs a) s}), '3', 'at most three runs overlapped');
is($node->safe_psql('postgres', q{SELECT count(*) FROM trialmatch.results}), 2000 * 6,
	'each run stored its results once');

$node->stop;
done_testing();
