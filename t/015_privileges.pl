# A run executes as the role that queued it: a role without SELECT on a
# source gets a failed run saying so.  Roles see only the runs (and results)
# of roles whose privileges they have; only those may cancel them.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 't';
use TrialmatchPool;

my $node = pool_node('priv');
$node->safe_psql('postgres', q{
  CREATE ROLE alice LOGIN;
  CREATE ROLE bob LOGIN;
  CREATE ROLE carol LOGIN IN ROLE alice;
  CREATE ROLE team NOLOGIN;
  GRANT team TO bob;
  GRANT SELECT ON pat TO alice, bob;
  GRANT SELECT ON lab TO bob;
});

my $cs_alice = $node->connstr('postgres') . ' user=alice';
my $cs_bob = $node->connstr('postgres') . ' user=bob';
my $cs_carol = $node->connstr('postgres') . ' user=carol';
sub as
{
	my ($connstr, $sql) = @_;
	my ($out, $err) = ('', '');
	$node->psql('postgres', $sql, stdout => \$out, stderr => \$err,
		extra_params => [ '-d', $connstr ]);
	return ($out, $err);
}

# alice lacks SELECT on lab: her run fails, saying so
my ($id) = as($cs_alice, q{SELECT trialmatch.screen('T')});
my ($state) = as($cs_alice, "SELECT trialmatch.wait($id)");
is($state, 'failed', 'run without privileges fails');
my ($err) = as($cs_alice, "SELECT error FROM trialmatch.runs WHERE run_id = $id");
like($err, qr/permission denied for table lab/, 'error names the table');
is($node->safe_psql('postgres', "SELECT requested_by FROM trialmatch.runs WHERE run_id = $id"),
	'alice', 'requested_by is alice');

# bob may read both tables: his run completes
my ($bid) = as($cs_bob, q{SELECT trialmatch.screen('T')});
is((as($cs_bob, "SELECT trialmatch.wait($bid)"))[0], 'done', 'run with privileges done');
is((as($cs_bob, "SELECT count(*) FROM trialmatch.results WHERE run_id = $bid"))[0], '2000',
	'bob sees his results');

# visibility
is((as($cs_alice, 'SELECT count(*) FROM trialmatch.runs'))[0], '1', 'alice sees her run only');
is((as($cs_alice, "SELECT count(*) FROM trialmatch.results WHERE run_id = $bid"))[0], '0',
	'alice does not see bob\'s results');
is((as($cs_carol, 'SELECT string_agg(requested_by::text, \',\') FROM trialmatch.runs'))[0], 'alice',
	'carol, a member of alice, sees alice\'s runs');
my (undef, $e) = as($cs_alice, "SELECT trialmatch.wait($bid)");
like($e, qr/screening run $bid does not exist/, 'another role\'s run does not exist for alice');
(undef, $e) = as($cs_alice, "SELECT trialmatch.cancel($bid)");
like($e, qr/screening run $bid does not exist/, 'nor can alice cancel it');
(undef, $e) = as($cs_alice, "INSERT INTO trialmatch.results VALUES ($id, 1, 'eligible', '{}', '{}')");
like($e, qr/permission denied for table results/, 'results are not writable');
(undef, $e) = as($cs_alice, "UPDATE trialmatch.runs SET state = 'done'");
like($e, qr/permission denied for table runs/, 'runs are not writable');

# a member that sees but may not act: pg_read_all_data sees, cannot cancel
$node->safe_psql('postgres', 'GRANT pg_read_all_data TO carol');
is((as($cs_carol, 'SELECT count(*) FROM trialmatch.runs'))[0], '2', 'pg_read_all_data sees all runs');
$node->safe_psql('postgres', q{ALTER SYSTEM SET trialmatch.pool_size = 0; SELECT pg_reload_conf();});
$node->poll_query_until('postgres', q{SELECT current_setting('trialmatch.pool_size') = '0'});
my ($qid) = as($cs_bob, q{SELECT trialmatch.screen('T')});
(undef, $e) = as($cs_carol, "SELECT trialmatch.cancel($qid)");
like($e, qr/permission denied to cancel screening run $qid/, 'carol may not cancel bob\'s run');
is((as($cs_bob, "SELECT trialmatch.cancel($qid)"))[0], 't', 'bob may');

# a NOLOGIN role cannot queue (its worker could not connect)
(undef, $e) = as($cs_bob, q{SET ROLE team; SELECT trialmatch.screen('T')});
like($e, qr/role "team" cannot queue screening runs because it cannot log in/, 'NOLOGIN role refused');

$node->stop;
done_testing();
