# Interactive match_patients and attrition calls appear in
# trialmatch.progress (with no run id) while they work, to the roles that
# may see them, and leave it when they end, also after an error.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TrialmatchPool;

my $node = pool_node('progress_interactive', patients => 500);
$node->safe_psql('postgres', q{
  CREATE ROLE outsider LOGIN;
  GRANT USAGE ON SCHEMA trialmatch TO outsider;
});

# a screening that waits on a lock stays in its 'planning' phase
my $lock = hold_lab_lock($node);
my $call = $node->background_psql('postgres', on_error_stop => 0);
$call->query_until(qr/started/, q{
  \echo started
  SELECT count(*) FROM trialmatch.match_patients('T', '2026-03-01');
});
ok($node->poll_query_until('postgres', q{
  SELECT count(*) = 1 FROM trialmatch.progress
   WHERE run_id IS NULL AND trial_id = 'T' AND phase = 'planning'}),
	'an interactive call shows in progress');
is($node->safe_psql('postgres', q{
  SELECT requested_by::text, pid > 0, started_at <= now() FROM trialmatch.progress WHERE run_id IS NULL}),
	'postgres|t|t', 'with its role, backend and start');
is($node->safe_psql('postgres', q{SET ROLE outsider; SELECT count(*) FROM trialmatch.progress}),
	'0', "another role does not see it");
$lock->query_safe('COMMIT');
$lock->quit;
$call->quit;
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM trialmatch.progress}),
	'and it leaves when the call ends');

# an error inside a subtransaction frees the slot at once
$node->safe_psql('postgres', q{
  DO $$
  BEGIN
    BEGIN
      PERFORM count(*) FROM trialmatch.attrition('T', 'infinity');
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
    PERFORM count(*) FROM trialmatch.attrition('T', '2026-03-01');
  END $$;
});
is($node->safe_psql('postgres', q{SELECT count(*) FROM trialmatch.progress}), '0',
	'no call left behind after an error');

$node->stop;
done_testing();
