# An error while the catalog loads (a lock timeout, a permission error)
# leaves the cache invalid, and the next call in the same session loads it
# again.  1.0 marked the cache valid before loading it: the next call
# dereferenced the freed cache and crashed the server (issue 15, item 1).
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TrialmatchPool;

my $node = pool_node('catalog_load_error', patients => 200);
my $count = q{SELECT count(*) FROM trialmatch.match_patients('T', '2026-03-01')};

# session A holds the criteria table; session B's call times out on it
my $lock = $node->background_psql('postgres', on_error_stop => 0);
$lock->query_safe('BEGIN; LOCK trialmatch.criteria IN ACCESS EXCLUSIVE MODE;');
my $b = $node->background_psql('postgres', on_error_stop => 0);
$b->query_safe(q{SET lock_timeout = '100ms'});
my ($out, $ret) = $b->query($count);
like($b->{stderr}, qr/canceling statement due to lock timeout/, 'the first call times out on the lock');
$b->{stderr} = '';
$lock->query_safe('COMMIT');
$lock->quit;
($out, $ret) = $b->query($count);
is($out, '200', 'the next call in the same session loads the catalog and answers');
is($b->{stderr}, '', 'without an error');
# and match_trials/explain_match/attrition after another failed load
# (a committed change makes B load the catalog again at its next call)
$node->safe_psql('postgres', q{UPDATE trialmatch.trials SET title = 'x'});
$lock = $node->background_psql('postgres', on_error_stop => 0);
$lock->query_safe(q{BEGIN; LOCK trialmatch.criteria IN ACCESS EXCLUSIVE MODE;});
$b->query(q{SELECT count(*) FROM trialmatch.match_trials(1, '2026-03-01')});
like($b->{stderr}, qr/lock timeout/, 'match_trials times out too');
$b->{stderr} = '';
$lock->query_safe('ROLLBACK');
$lock->quit;
($out, $ret) = $b->query(q{SELECT count(*) FROM trialmatch.explain_match('T', 1, '2026-03-01')});
is($out, '3', 'explain_match after it works');
($out, $ret) = $b->query(q{SELECT count(*) FROM trialmatch.attrition('T', '2026-03-01')});
is($out, '3', 'attrition too');
$b->quit;

# a permission error while loading: the same
$node->safe_psql('postgres', q{
  CREATE ROLE clerk LOGIN;
  GRANT SELECT ON pat, lab TO clerk;
  REVOKE SELECT ON trialmatch.criteria FROM PUBLIC;
});
my $c = $node->background_psql('postgres', on_error_stop => 0);
$c->query_safe('SET ROLE clerk');
$c->query($count);
like($c->{stderr}, qr/permission denied for table criteria/, 'a load refused by privileges');
$c->{stderr} = '';
$node->safe_psql('postgres', 'GRANT SELECT ON trialmatch.criteria TO PUBLIC');
($out, $ret) = $c->query($count);
is($out, '200', 'the next call loads again');
$c->quit;

ok(!$node->log_contains('terminated by signal'), 'no backend crashed');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is up');
$node->stop;
done_testing();
