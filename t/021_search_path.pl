# No statement trialmatch runs internally can reach an object of the
# caller's search_path (issue 15, item 4).  A schema "evil", first in the
# search_path of a superuser session and of a non-superuser role (a role
# setting, which the pool worker connecting as that role also gets),
# shadows every operator and function name the internal SQL uses, for the
# types it uses; each records its call.  After screen, wait, cancel,
# changes, match_patients, attrition, explain_match, match_trials,
# progress and _progress, by both, nothing was recorded.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TrialmatchPool;

my $node = pool_node('search_path', patients => 300);

# the recorder: a sequence (not rolled back) and a table (who called)
my $sql = q{
  CREATE ROLE alice LOGIN;
  GRANT SELECT ON pat, lab TO alice;
  CREATE SCHEMA evil;
  GRANT USAGE ON SCHEMA evil TO PUBLIC;
  CREATE SEQUENCE evil.hits;
  CREATE TABLE evil.calls (who name, what text);
  CREATE FUNCTION evil.hit(what text) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS $$
  BEGIN
    PERFORM pg_catalog.nextval('evil.hits');
    INSERT INTO evil.calls VALUES (current_user, what);
  END $$;
  GRANT EXECUTE ON FUNCTION evil.hit(text) TO PUBLIC;
};

# operators, for every type (and int8/int4 mix) internal statements compare
my @types = ('int8', 'int4', 'int2', 'text', 'name', 'oid', 'bool', 'timestamptz', 'regrole',
	'regclass', 'trialmatch.eligibility');
my @pairs = ((map { [ $_, $_ ] } @types), [ 'int8', 'int4' ], [ 'int4', 'int8' ],
	[ 'oid', 'regrole' ], [ 'regrole', 'oid' ], [ 'text', 'name' ], [ 'name', 'text' ]);
my %ops = ('=' => 'eq', '<>' => 'ne', '<' => 'lt', '>' => 'gt', '<=' => 'le', '>=' => 'ge');
my $n = 0;
for my $p (@pairs)
{
	my ($l, $r) = @$p;
	for my $op (sort keys %ops)
	{
		# compare as the real operator of the underlying types
		my ($lc, $rc) = map { /^(regrole|regclass)$/ ? 'oid' : $_ } ($l, $r);
		$n++;
		$sql .= qq{
  CREATE FUNCTION evil.op$n(a $l, b $r) RETURNS bool LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp AS \$\$
  BEGIN
    PERFORM evil.hit('$l $op $r');
    RETURN a::$lc OPERATOR(pg_catalog.$op) b::$rc;
  END \$\$;
  CREATE OPERATOR evil.$op (LEFTARG = $l, RIGHTARG = $r, FUNCTION = evil.op$n);
};
	}
}

# functions and aggregates, by every name the internal SQL uses
$sql .= q{
  CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp AS $$ BEGIN PERFORM evil.hit('now'); RETURN pg_catalog.now(); END $$;
  CREATE FUNCTION evil.clock_timestamp() RETURNS timestamptz LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp AS $$ BEGIN PERFORM evil.hit('clock_timestamp'); RETURN pg_catalog.now(); END $$;
  CREATE FUNCTION evil.pg_notify(text, text) RETURNS void LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp AS $$ BEGIN PERFORM evil.hit('pg_notify'); END $$;
  CREATE FUNCTION evil.format(text, integer) RETURNS text LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp AS $$ BEGIN PERFORM evil.hit('format'); RETURN $1; END $$;
  CREATE FUNCTION evil.format(text, text) RETURNS text LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp AS $$ BEGIN PERFORM evil.hit('format'); RETURN $1; END $$;
  CREATE FUNCTION evil.pg_has_role(oid, text) RETURNS bool LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp AS $$ BEGIN PERFORM evil.hit('pg_has_role'); RETURN true; END $$;
  CREATE FUNCTION evil.pg_has_role(name, text) RETURNS bool LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp AS $$ BEGIN PERFORM evil.hit('pg_has_role'); RETURN true; END $$;
  CREATE FUNCTION evil.to_regclass(text) RETURNS regclass LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp AS $$ BEGIN PERFORM evil.hit('to_regclass'); RETURN pg_catalog.to_regclass($1); END $$;
  CREATE FUNCTION evil.cnt(int8) RETURNS int8 LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp AS $$ BEGIN PERFORM evil.hit('count'); RETURN $1 + 1; END $$;
  CREATE AGGREGATE evil.count(*) (SFUNC = evil.cnt, STYPE = int8, INITCOND = '0');
  CREATE FUNCTION evil.mx(int8, int8) RETURNS int8 LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp AS $$ BEGIN PERFORM evil.hit('max'); RETURN greatest($1, $2); END $$;
  CREATE AGGREGATE evil.max(int8) (SFUNC = evil.mx, STYPE = int8);
  CREATE FUNCTION evil.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp AS $$ BEGIN PERFORM evil.hit('unnest'); RETURN QUERY SELECT pg_catalog.unnest($1); END $$;
  ALTER ROLE alice SET search_path = evil, pg_catalog, public;
};
$node->safe_psql('postgres', $sql);

# the recorder works: an unqualified comparison in the evil search_path calls it
is($node->safe_psql('postgres', q{
  SET search_path = evil, pg_catalog, public;
  SELECT 1::int8 = 1::int8;
  SELECT pg_catalog.count(*) FROM evil.calls}), "t\n1", 'a shadowing operator records its call');
$node->safe_psql('postgres', q{TRUNCATE evil.calls; SELECT setval('evil.hits', 1, false)});

my $su = 'SET search_path = evil, pg_catalog, public; ';
sub su { return $node->safe_psql('postgres', $su . $_[0]); }
sub alice
{
	my ($out, $err) = ('', '');
	my $ret = $node->psql('postgres', $_[0], stdout => \$out, stderr => \$err,
		extra_params => [ '-U', 'alice', '-v', 'ON_ERROR_STOP=1' ]);
	die "alice: $err" if $ret != 0;
	return $out;
}
is(alice('SHOW search_path'), 'evil, pg_catalog, public', "alice's search_path puts evil first");

# runs: one done by each, then a running and a queued one cancelled by each
my $done_su = su(q{SELECT trialmatch.screen('T', '2026-03-01')});
my $done_alice = alice(q{SELECT trialmatch.screen('T', '2026-03-01')});
is(su("SELECT trialmatch.wait($done_su, '60 s')"), 'done', 'superuser run done');
is(alice("SELECT trialmatch.wait($done_alice, '60 s')"), 'done', "alice's run done");
my $done_su2 = su(q{SELECT trialmatch.screen('T', '2026-03-02')});
is(su("SELECT trialmatch.wait($done_su2, '60 s')"), 'done', 'second superuser run done');
my $done_alice2 = alice(q{SELECT trialmatch.screen('T', '2026-03-02')});
is(alice("SELECT trialmatch.wait($done_alice2, '60 s')"), 'done', "alice's second run done");

my $lock = hold_lab_lock($node);
my $run_su = su(q{SELECT trialmatch.screen('T')});
my $run_alice = alice(q{SELECT trialmatch.screen('T')});
my $queued_su = su(q{SELECT trialmatch.screen('T')});
my $queued_alice = alice(q{SELECT trialmatch.screen('T')});
poll_state($node, $run_su, 'running');
poll_state($node, $run_alice, 'running');
is(alice("SELECT trialmatch.cancel($queued_alice)"), 't', 'alice cancels her queued run');
is(alice("SELECT trialmatch.cancel($run_alice)"), 't', 'alice cancels her running run');
is(su("SELECT trialmatch.cancel($queued_su)"), 't', 'superuser cancels a queued run');
is(su("SELECT trialmatch.cancel($run_su)"), 't', 'superuser cancels a running run');
is(alice("SELECT trialmatch.wait($run_alice, '30 s')"), 'cancelled', 'alice waits for her cancelled run');
is(su("SELECT trialmatch.wait($run_su, '30 s')"), 'cancelled', 'superuser waits for a cancelled run');
$lock->query_safe('COMMIT');
$lock->quit;

# everything else, as both
for my $as ([ 'superuser', \&su ], [ 'alice', \&alice ])
{
	my ($who, $f) = @$as;
	my $done2 = $who eq 'alice' ? $done_alice2 : $done_su2;
	$f->("SELECT * FROM trialmatch.changes($done2) LIMIT 1");
	$f->(q{SELECT * FROM trialmatch.match_patients('T', '2026-03-01') LIMIT 1});
	$f->(q{SELECT * FROM trialmatch.attrition('T', '2026-03-01')});
	$f->(q{SELECT * FROM trialmatch.explain_match('T', 1, '2026-03-01')});
	$f->(q{SELECT * FROM trialmatch.match_trials(1, '2026-03-01')});
	$f->(q{SELECT * FROM trialmatch.progress});
	$f->(q{SELECT * FROM trialmatch._progress()});
	$f->(q{SELECT * FROM trialmatch.runs LIMIT 1});
	$f->(q{SELECT * FROM trialmatch.results LIMIT 1});
	pass("$who called every function");
}

is($node->safe_psql('postgres', q{SELECT is_called FROM evil.hits}), 'f',
	'no shadowing operator or function was called');
is($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT who || ': ' || what, ', ') FROM evil.calls}), '',
	'nobody is recorded');

$node->stop;
done_testing();
