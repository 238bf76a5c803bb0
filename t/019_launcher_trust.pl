# The launcher trusts nothing by name (issue 15, item 3).  SPEC 6: "A run
# executes as the role that queued it, never with more privileges".
#
# 1. In the database named by trialmatch.database, without the extension,
#    a non-superuser database owner creates a schema trialmatch with a runs
#    table, triggers that would make it a superuser, a crafted queued row
#    with requested_by = the bootstrap superuser, and its own
#    match_patients.  The launcher (a superuser) must never touch them.
# 2. The extension installed into a schema that owner created first: the
#    launcher refuses to work until a superuser owns the schema.
# 3. Rows written into trialmatch.runs other than by screen() (a superuser
#    inserting directly, with any requested_by; a changed requested_by) are
#    failed, never executed.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TrialmatchPool;

my $node = pool_node('trust', patients => 200,
	conf => "trialmatch.database = 'appdb'\n");
$node->safe_psql('postgres', q{
  CREATE ROLE appowner LOGIN;
  CREATE ROLE alice LOGIN;
  CREATE DATABASE appdb OWNER appowner;
});

sub as_appowner
{
	my ($sql) = @_;
	my ($out, $err) = ('', '');
	my $ret = $node->psql('appdb', $sql, stdout => \$out, stderr => \$err,
		extra_params => [ '-U', 'appowner' ]);
	return ($ret, $out, $err);
}

# the setting is for superusers only
my ($ret, $out, $err) = as_appowner('SHOW trialmatch.database');
isnt($ret, 0, 'a non-superuser cannot read trialmatch.database');
like($err, qr/must be superuser or have privileges of pg_read_all_settings/, '... with the usual error');

# 1. the attack
($ret, $out, $err) = as_appowner(q{
  CREATE SCHEMA trialmatch;
  CREATE TABLE trialmatch.fired (who text, what text);
  CREATE TABLE trialmatch.runs (
    run_id bigserial PRIMARY KEY, trial_id text, as_of timestamptz DEFAULT now(),
    requested_by regrole, requested_at timestamptz DEFAULT now(),
    state text DEFAULT 'queued', started_at timestamptz, finished_at timestamptz,
    patients bigint, eligible bigint, indeterminate bigint, error text,
    attempts int DEFAULT 0, time_zone text DEFAULT 'UTC',
    queued_by_screen boolean DEFAULT true);
  CREATE TABLE trialmatch.results (run_id bigint, patient_id bigint, status text,
    failed text[], unknown text[]);
  CREATE FUNCTION trialmatch.escalate() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    INSERT INTO trialmatch.fired VALUES (current_user, TG_OP || ' ' || TG_LEVEL);
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
      ALTER ROLE appowner SUPERUSER;
    END IF;
    RETURN NULL;
  END $$;
  CREATE TRIGGER s BEFORE INSERT OR UPDATE OR DELETE ON trialmatch.runs
    FOR EACH STATEMENT EXECUTE FUNCTION trialmatch.escalate();
  CREATE TRIGGER r AFTER INSERT OR UPDATE OR DELETE ON trialmatch.runs
    FOR EACH ROW EXECUTE FUNCTION trialmatch.escalate();
  CREATE FUNCTION trialmatch.match_patients(text, timestamptz)
  RETURNS TABLE (patient_id bigint, status text, failed text[], unknown text[])
  LANGUAGE plpgsql AS $$
  BEGIN
    INSERT INTO trialmatch.fired VALUES (current_user, 'match_patients');
    ALTER ROLE appowner SUPERUSER;
  END $$;
  -- a crafted run for the bootstrap superuser (requested_by = 10)
  INSERT INTO trialmatch.runs (trial_id, requested_by) VALUES ('T', 10::oid::regrole);
  TRUNCATE trialmatch.fired;
});
is($ret, 0, 'the database owner set up the trap') or diag($err);

# the launcher has been failing to connect (appdb did not exist); restart so
# that it makes a pass at once, and wait until it has looked at appdb
my $offset = -s $node->logfile;
$node->restart;
$node->wait_for_log(
	qr/trialmatch launcher: extension "trialmatch" is not installed in database "appdb"; no screening runs are executed/,
	$offset);
pass('the launcher saw that the extension is not installed');
# give a wrongly started worker time to connect and run
sleep 3;
is($node->safe_psql('appdb', 'SELECT count(*) FROM trialmatch.fired'), '0',
	'no trigger or function of the fake schema ran');
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'appowner'}), 'f',
	'the database owner is not a superuser');
is($node->safe_psql('appdb', 'SELECT state, attempts FROM trialmatch.runs'), 'queued|0',
	'the crafted row was not touched');
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'trialmatch worker'}), '0',
	'no pool worker was started');

# 2. the extension installed into the schema that owner created
($ret, $out, $err) = as_appowner(q{
  DROP TABLE trialmatch.runs, trialmatch.results, trialmatch.fired;
  DROP FUNCTION trialmatch.escalate(), trialmatch.match_patients(text, timestamptz);
});
is($ret, 0, 'the owner emptied the schema') or diag($err);
my $setup = TrialmatchPool::setup_sql(200);
# the offset before the install: the launcher rechecks every few seconds and
# may report the schema's owner while the setup is still running
$offset = -s $node->logfile;
$node->safe_psql('appdb', $setup);
is($node->safe_psql('appdb', q{SELECT nspowner::regrole FROM pg_namespace WHERE nspname = 'trialmatch'}),
	'appowner', 'the extension went into the schema appowner owns');
my $id = $node->safe_psql('appdb', q{SELECT trialmatch.screen('T')});
$node->wait_for_log(
	qr/trialmatch launcher: schema "trialmatch" is owned by role "appowner", which is not a superuser/,
	$offset);
pass('the launcher refuses a schema a non-superuser owns');
sleep 1;
is($node->safe_psql('appdb', "SELECT state FROM trialmatch.runs WHERE run_id = $id"), 'queued',
	'and runs nothing there');

$offset = -s $node->logfile;
$node->safe_psql('appdb', q{ALTER SCHEMA trialmatch OWNER TO postgres});
my $id2 = $node->safe_psql('appdb', q{SELECT trialmatch.screen('T')});
is($node->safe_psql('appdb', "SELECT trialmatch.wait($id2, '30 s')"), 'done',
	'once a superuser owns the schema, runs execute');
$node->wait_for_log(qr/extension "trialmatch" found in database "appdb"/, $offset);
is($node->safe_psql('appdb', "SELECT trialmatch.wait($id, '30 s')"), 'done',
	'including the run queued before');

# 2b. the run tables handed to a non-superuser (their triggers would fire as
# that owner's code in the launcher): refused until a superuser owns them
$offset = -s $node->logfile;
$node->safe_psql('appdb', q{ALTER TABLE trialmatch.runs OWNER TO appowner});
my $id3 = $node->safe_psql('appdb', q{SELECT trialmatch.screen('T')});
$node->wait_for_log(
	qr/trialmatch launcher: table trialmatch.runs is owned by role "appowner", which is not a superuser/,
	$offset);
is($node->safe_psql('appdb', "SELECT state FROM trialmatch.runs WHERE run_id = $id3"), 'queued',
	'runs owned by a non-superuser: nothing is executed');
$node->safe_psql('appdb', q{ALTER TABLE trialmatch.runs OWNER TO postgres});
my $id4 = $node->safe_psql('appdb', q{SELECT trialmatch.screen('T')});
is($node->safe_psql('appdb', "SELECT trialmatch.wait($id4, '30 s')"), 'done',
	'once a superuser owns them again, runs execute');
is($node->safe_psql('appdb', "SELECT trialmatch.wait($id3, '30 s')"), 'done',
	'including the one queued meanwhile');

# 3. crafted rows, written by a superuser directly
$node->safe_psql('appdb', q{GRANT SELECT ON pat, lab TO alice});
my $crafted = $node->safe_psql('appdb', q{
  INSERT INTO trialmatch.runs (trial_id, as_of, requested_by, time_zone, queued_by_screen)
  VALUES ('T', now(), 'alice', 'UTC', true), ('T', now(), 'postgres', 'UTC', true),
         ('T', now(), 10::oid::regrole, 'UTC', true)
  RETURNING run_id});
my @crafted = split /\n/, $crafted;
is(scalar(@crafted), 3, 'three crafted rows');
is($node->safe_psql('appdb', "SELECT bool_or(queued_by_screen) FROM trialmatch.runs WHERE run_id IN ("
	  . join(',', @crafted) . ")"), 'f', 'the guard trigger marked them as not queued by screen()');

# a run screen() queued whose requested_by is then changed
my $changed = $node->safe_psql('appdb', q{
  SET ROLE alice;
  BEGIN;
  SELECT trialmatch.screen('T');
  RESET ROLE;
  UPDATE trialmatch.runs SET requested_by = 'postgres' WHERE state = 'queued'
     AND requested_by = 'alice'::regrole AND queued_by_screen;
  COMMIT;
});
$changed =~ s/\n.*//s;
# a genuine run of alice's, to wake the launcher and to compare
my $genuine = $node->safe_psql('appdb', q{SET ROLE alice; SELECT trialmatch.screen('T')});
is($node->safe_psql('appdb', "SELECT trialmatch.wait($genuine, '30 s')"), 'done',
	'a run alice queued with screen() is done');
for my $c (@crafted, $changed)
{
	is($node->safe_psql('appdb', "SELECT trialmatch.wait($c, '30 s')"), 'failed',
		"crafted run $c is failed");
}
is($node->safe_psql('appdb', "SELECT count(*) FROM trialmatch.runs WHERE run_id IN ("
	  . join(',', @crafted, $changed) . ") AND error = 'run was not queued through trialmatch.screen(); it is not executed'"
	  . " AND attempts = 0 AND started_at IS NULL"),
	'4', 'never started, with an error saying it was not queued through screen()');
is($node->safe_psql('appdb', "SELECT count(*) FROM trialmatch.results WHERE run_id IN ("
	  . join(',', @crafted, $changed) . ")"), '0', 'and without results');
ok($node->log_contains(qr/run $crafted[0] was not queued through trialmatch.screen\(\) and is failed/),
	'the server log says so');

$node->stop;
done_testing();
