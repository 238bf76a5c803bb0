# Interactive match_patients and attrition calls appear in
# trialmatch.progress (with no run id) while they work, to the roles that
# may see them, and leave it when they end, also after an error.
# trialmatch._progress() itself, which everyone may execute, filters the
# same way (issue 15, item 5), and a long multibyte trial id is cut at a
# character boundary (item 11).
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
  CREATE ROLE auditor LOGIN IN ROLE pg_read_all_data;
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
is($node->safe_psql('postgres', q{SET ROLE outsider; SELECT count(*) FROM trialmatch._progress()}),
	'0', "nor through trialmatch._progress()");
is($node->safe_psql('postgres', q{SET ROLE auditor; SELECT count(*) FROM trialmatch._progress()}),
	'1', "a member of pg_read_all_data sees it");

# a pool run: _progress() shows it only to roles that may see the run
my $run = $node->safe_psql('postgres', q{SELECT trialmatch.screen('T')});
ok($node->poll_query_until('postgres', qq{
  SELECT count(*) = 1 FROM trialmatch._progress() WHERE run_id = $run}),
	'a pool run shows in _progress()');
is($node->safe_psql('postgres', qq{SET ROLE outsider; SELECT count(*) FROM trialmatch._progress() WHERE run_id IS NOT NULL}),
	'0', "another role does not see the pool run through _progress()");
$lock->query_safe('COMMIT');
$lock->quit;
$call->quit;
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM trialmatch.progress}),
	'and it leaves when the call ends');
is($node->safe_psql('postgres', "SELECT trialmatch.wait($run, '30 s')"), 'done', 'the pool run ends');

# a trial id longer than a name, in a UTF8 database, is cut at a character
# boundary: it can be read in another client encoding
$node->safe_psql('postgres', q{CREATE DATABASE utf8db TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'});
$node->safe_psql('utf8db', TrialmatchPool::setup_sql(100));
$node->safe_psql('utf8db', qq{
  SET client_encoding = 'UTF8';
  INSERT INTO trialmatch.trials (trial_id, title) VALUES (repeat(U&'\\00E9', 40), 'long');
  INSERT INTO trialmatch.criteria SELECT repeat(U&'\\00E9', 40), position, kind, label, expr
    FROM trialmatch.criteria WHERE trial_id = 'T';
});
$lock = $node->background_psql('utf8db', on_error_stop => 0);
$lock->query_safe('BEGIN; LOCK TABLE lab IN ACCESS EXCLUSIVE MODE;');
$call = $node->background_psql('utf8db', on_error_stop => 0);
$call->query_until(qr/started/, q{
  \echo started
  SELECT count(*) FROM trialmatch.match_patients(repeat(U&'\00E9', 40), '2026-03-01');
});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM trialmatch._progress() WHERE run_id IS NULL}),
	'the call with a long multibyte trial id shows');
my ($ret, $out, $err) = $node->psql('postgres', q{
  SET client_encoding = 'LATIN1';
  SELECT trial_id FROM trialmatch.progress WHERE run_id IS NULL});
is($ret, 0, 'its trial id can be read in LATIN1') or diag($err);
is($node->safe_psql('postgres', q{
  SELECT octet_length(trial_id), trial_id = repeat(U&'\00E9', 31) FROM trialmatch.progress WHERE run_id IS NULL}),
	'62|t', 'cut after 31 characters (62 bytes), not in the middle of the 32nd');
$lock->query_safe('COMMIT');
$lock->quit;
$call->quit;
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM trialmatch._progress()}),
	'that call leaves too');

# an error inside a subtransaction frees the slot at once: checked in the
# same session, right after the error, and after the next call
$node->safe_psql('postgres', q{
  DO $$
  BEGIN
    BEGIN
      PERFORM count(*) FROM trialmatch.attrition('T', 'infinity');
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
    IF (SELECT count(*) FROM trialmatch._progress() WHERE pid = pg_backend_pid()) <> 0 THEN
      RAISE EXCEPTION 'call left behind after the error in the subtransaction';
    END IF;
    PERFORM count(*) FROM trialmatch.attrition('T', '2026-03-01');
    IF (SELECT count(*) FROM trialmatch._progress() WHERE pid = pg_backend_pid()) <> 0 THEN
      RAISE EXCEPTION 'call left behind after the call';
    END IF;
  END $$;
});
is($node->safe_psql('postgres', q{SELECT count(*) FROM trialmatch.progress}), '0',
	'no call left behind after an error');

# an error at the top level: the same session sees no call of its own at once
($ret, $out, $err) = $node->psql('postgres', q{
  SELECT count(*) FROM trialmatch.attrition('T', 'infinity');
  SELECT count(*) FROM trialmatch._progress() WHERE pid = pg_backend_pid();},
	on_error_stop => 0);
like($err, qr/as_of must be a finite timestamp|infinity/i, 'the call failed');
is($out, '0', 'and left no call behind in its own session');

$node->stop;
done_testing();
