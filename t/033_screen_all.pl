# screen_all (SPEC 9): one run per trial, queued together and executed by
# one pool worker in one pass (match_all); each run gets the results,
# counts and changes() of a screen() of its trial; a trial the role may not
# screen fails its own run only; cancel() drops one run from a running
# group.  And match_all's memory budget: a tiny trialmatch.match_all_memory
# makes several passes, reported in DEBUG1, with the rows of one pass.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 't';
use TrialmatchPool;

my $node = pool_node('sall', patients => 3000);
my $as_of = '2026-01-01 00:00+00';
$node->safe_psql('postgres', q{
  CREATE ROLE alice LOGIN;
  GRANT SELECT ON pat, lab TO alice;
  CREATE TABLE secret (patient_id int8, code text, taken_at timestamptz);
  INSERT INTO secret SELECT i, 'S', '2025-12-01' FROM generate_series(1, 100) i;
  SELECT trialmatch.add_source('secret', 'secret', time_column => 'taken_at');
  -- T2 and T3 share atoms with T (age >= 18, the glucose criterion)
  INSERT INTO trialmatch.trials (trial_id, title) VALUES ('T2', 'two'), ('T3', 'three'), ('TS', 'secret');
  INSERT INTO trialmatch.criteria VALUES
    ('T2', 1, 'inclusion', 'adult', 'age >= 18'),
    ('T2', 2, 'inclusion', 'female', $$sex = 'F'$$),
    ('T2', 3, 'exclusion', 'glucose', $$lab 'GLU' within 90 days max > 12$$),
    ('T3', 1, 'inclusion', 'a1c', $$lab 'A1C' within 1 year last between 5 and 15$$),
    ('T3', 2, 'inclusion', 'glucose', $$lab 'GLU' within 90 days max > 12$$),
    ('TS', 1, 'inclusion', 'adult', 'age >= 18'),
    ('TS', 2, 'inclusion', 'secret', $$secret 'S'$$);
});
my $cs_alice = $node->connstr('postgres') . ' user=alice';
sub as_alice
{
	my ($sql) = @_;
	my ($out, $err) = ('', '');
	$node->psql('postgres', $sql, stdout => \$out, stderr => \$err,
		extra_params => [ '-d', $cs_alice ]);
	return ($out, $err);
}
my $md5 = q{SELECT md5(string_agg(format('%s %s %s %s', patient_id, status, failed, unknown), ',' ORDER BY patient_id))};

# alice screens four trials together; she may not read secret
my ($ids, $ids_err) = as_alice("SELECT string_agg(id::text, ',') FROM trialmatch.screen_all('$as_of', '{TS,T3,T,T2,T}') id");
diag($ids_err) if $ids_err;
my @ids = split /,/, $ids;
is(scalar @ids, 4, 'one run per distinct trial');
for my $id (@ids)
{
	as_alice("SELECT trialmatch.wait($id)");
}
is($node->safe_psql('postgres', qq{
  SELECT string_agg(trial_id || ' ' || state, ', ' ORDER BY trial_id) FROM trialmatch.runs
   WHERE run_id IN ($ids)}),
	'T done, T2 done, T3 done, TS failed', 'the forbidden trial fails its own run only');
like($node->safe_psql('postgres', "SELECT error FROM trialmatch.runs WHERE run_id IN ($ids) AND trial_id = 'TS'"),
	qr/permission denied for table secret/, 'its error says why');
is($node->safe_psql('postgres', qq{
  SELECT count(DISTINCT started_at) || ' ' || count(DISTINCT group_id) || ' ' || bool_and(attempts = 1)
    FROM trialmatch.runs WHERE run_id IN ($ids)}),
	'1 1 true', 'one worker claimed the group at once (one started_at, one group)');

# the same trials screened one by one with screen()
my %single;
for my $t (qw(T T2 T3))
{
	my ($id) = as_alice("SELECT trialmatch.screen('$t', '$as_of')");
	as_alice("SELECT trialmatch.wait($id)");
	$single{$t} = $id;
}
for my $t (qw(T T2 T3))
{
	my $gid = $node->safe_psql('postgres',
		"SELECT run_id FROM trialmatch.runs WHERE run_id IN ($ids) AND trial_id = '$t'");
	is($node->safe_psql('postgres', "$md5 FROM trialmatch.results WHERE run_id = $gid"),
		$node->safe_psql('postgres', "$md5 FROM trialmatch.results WHERE run_id = $single{$t}"),
		"trial $t: screen_all's results equal screen()'s");
	is($node->safe_psql('postgres', qq{
	  SELECT a.patients = b.patients AND a.eligible = b.eligible AND a.indeterminate = b.indeterminate
	         AND a.patients = 3000 AND a.requested_by = 'alice'::regrole
	    FROM trialmatch.runs a, trialmatch.runs b WHERE a.run_id = $gid AND b.run_id = $single{$t}}),
		't', "trial $t: the same counts");
	is($node->safe_psql('postgres', "SELECT count(*) FROM trialmatch.changes($single{$t})"),
		'0', "trial $t: changes() of the screen() run against the group's run: none");
}

# no trial listed and none recruiting: no run
is($node->safe_psql('postgres', q{
  UPDATE trialmatch.trials SET status = 'closed';
  SELECT count(*) FROM trialmatch.screen_all();
  UPDATE trialmatch.trials SET status = 'recruiting';}), '0', 'nothing to screen: no run');
my (undef, $err) = as_alice("SELECT trialmatch.screen_all('$as_of', '{T,NOPE}')");
like($err, qr/trial "NOPE" does not exist/, 'an unknown trial is an error');

# cancel() of one run of a running group drops it; the others complete
my $lock = hold_lab_lock($node);
my $gids = $node->safe_psql('postgres',
	"SELECT string_agg(id::text, ',') FROM trialmatch.screen_all('$as_of', '{T,T2,T3}') id");
my ($g1, $g2, $g3) = split /,/, $gids;
poll_state($node, $g3, 'running');
is($node->safe_psql('postgres', "SELECT count(*) FROM trialmatch.progress WHERE run_id IN ($gids)"),
	'1', 'one worker (one progress row) for the group');
is($node->safe_psql('postgres', "SELECT trialmatch.cancel($g2)"), 't', 'cancel one run of the group');
is(run_state($node, $g2), 'cancelled', 'it is cancelled at once');
$lock->query_safe('COMMIT');
$lock->quit;
is($node->safe_psql('postgres', "SELECT trialmatch.wait($g1) || ' ' || trialmatch.wait($g3)"),
	'done done', 'the others complete');
is($node->safe_psql('postgres', qq{
  SELECT string_agg(run_id::text || ':' || (SELECT count(*) FROM trialmatch.results r WHERE r.run_id = x.run_id), ' ' ORDER BY run_id)
    FROM trialmatch.runs x WHERE run_id IN ($gids)}),
	"$g1:3000 $g2:0 $g3:3000", 'no results for the dropped run');

# the memory budget: several passes, the rows of one pass
my $one = $node->safe_psql('postgres', qq{
  SELECT md5(string_agg(format('%s %s %s %s %s', trial_id, patient_id, status, failed, unknown), ','
                        ORDER BY trial_id, patient_id))
    FROM trialmatch.match_all('$as_of', '{T,T2,T3}')});
my ($out, $dbg) = ('', '');
$node->psql('postgres', qq{
  SET trialmatch.match_all_memory = '64kB';
  SET client_min_messages = debug1;
  SELECT md5(string_agg(format('%s %s %s %s %s', trial_id, patient_id, status, failed, unknown), ','
                        ORDER BY trial_id, patient_id))
    FROM trialmatch.match_all('$as_of', '{T,T2,T3}')},
	stdout => \$out, stderr => \$dbg);
is($out, $one, 'several passes give the rows of one pass');
like($dbg, qr/match_all of 3 trials: 3000 patients, 3 passes, state at most \d+ kB per pass \(trialmatch.match_all_memory 64 kB\)/,
	'DEBUG1 reports the passes and the memory');
like($dbg, qr/pass 3 of 3 \(1 trials\)/, 'and each pass');
like($node->safe_psql('postgres', "SELECT trialmatch.match_all('$as_of', '{T,T2,T3}') LIMIT 0; SHOW trialmatch.match_all_memory"),
	qr/256MB/, 'the default budget');

done_testing();
