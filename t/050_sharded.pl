# Beyond one machine (SPEC 10): a coordinator, 3 shards holding 4 PL/Proxy
# partitions (shard 0 holds partitions 0 and 3), a hot standby of shard 1
# and one plain database with the same patients.  The trialmatch_cluster
# functions return row for row what the plain database returns, in a
# session time zone other than the servers'; screen() queues a run on
# every shard; a criterion changed on the coordinator reaches every shard,
# including a session that had the old one cached; a stopped shard gives
# an error naming it and no rows; the standby answers the read-only calls
# (alone and as a shard of the cluster) and refuses screen() naming its
# primary.  Skipped when PL/Proxy is not installed.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $pkglibdir = `pg_config --pkglibdir`;
chomp $pkglibdir;
plan skip_all => "PL/Proxy is not installed ($pkglibdir/plproxy.so; Debian package postgresql-15-plproxy)"
  unless -e "$pkglibdir/plproxy.so";

my $partitions = 4;
my $as_of = '2026-03-01 12:00+00';    # already 2 March in Auckland

# Patients 1..$n (ten of them turn 40 on 2 March 2026), labs, diagnoses
# and medications; only the rows of shard $k when $k is given.
sub population
{
	my ($n, $k) = @_;
	my $where = defined $k
	  ? "WHERE trialmatch.shard_of(patient_id, $partitions, 3) = $k" : '';
	return qq{
	  SET timezone = 'UTC';
	  INSERT INTO pat SELECT * FROM (
	    SELECT i AS patient_id,
	           CASE WHEN i % 97 = 0 THEN date '1986-03-02'
	                ELSE date '1940-01-01' + (i * 7919 % 25000) END,
	           CASE WHEN i % 11 = 0 THEN NULL WHEN i % 2 = 0 THEN 'F' ELSE 'M' END
	      FROM generate_series(1, $n) i) s $where;
	  INSERT INTO lab SELECT * FROM (
	    SELECT i % $n + 1 AS patient_id, CASE WHEN i % 3 = 0 THEN 'HBA1C' ELSE 'GLU' END,
	           timestamptz '2026-02-28' - (i * 613 % 700) * interval '1 day',
	           CASE WHEN i % 17 = 0 THEN NULL ELSE (i * 7919 % 200) / 10.0 END,
	           CASE WHEN i % 5 = 0 THEN 'mmol/mol' ELSE '%' END
	      FROM generate_series(1, $n * 6) i) s $where;
	  INSERT INTO dx SELECT * FROM (
	    SELECT i % $n + 1 AS patient_id, (ARRAY['E11.9', 'E10.1', 'I10', 'C50.9'])[i % 4 + 1],
	           date '2026-02-28' - (i * 37 % 3000)
	      FROM generate_series(1, $n * 2) i) s $where;
	  INSERT INTO med SELECT * FROM (
	    SELECT i % $n + 1 AS patient_id, (ARRAY['metformin', 'insulin glargine', 'aspirin'])[i % 3 + 1],
	           date '2026-02-28' - (i * 53 % 800),
	           CASE WHEN i % 4 = 0 THEN NULL ELSE date '2026-02-28' - (i * 53 % 800) + 90 END
	      FROM generate_series(1, $n) i) s $where;
	  ANALYZE;
	};
}

my $tables = q{
  CREATE EXTENSION trialmatch;
  CREATE TABLE pat (patient_id int8 PRIMARY KEY, birth_date date, sex text);
  CREATE TABLE lab (patient_id int8, code text, taken_at timestamptz, value numeric, unit text);
  CREATE TABLE dx (patient_id int8, code text, diagnosed_at date);
  CREATE TABLE med (patient_id int8, drug text, started_at date, ended_at date);
  CREATE INDEX ON lab (patient_id);
  CREATE INDEX ON dx (patient_id);
  CREATE INDEX ON med (patient_id);
};
my $register = q{
  SELECT trialmatch.set_patients('pat');
  SELECT trialmatch.add_source('lab', 'lab', time_column => 'taken_at', value_column => 'value',
                               unit_column => 'unit');
  SELECT trialmatch.add_source('diagnosis', 'dx', time_column => 'diagnosed_at');
  SELECT trialmatch.add_source('medication', 'med', code_column => 'drug', time_column => 'started_at',
                               end_time_column => 'ended_at');
};
my $catalog = q{
  INSERT INTO trialmatch.unit_conversions VALUES ('HBA1C', 'mmol/mol', '%', 0.0915, 2.15);
  INSERT INTO trialmatch.trials (trial_id, title) VALUES ('A', 'diabetes'), ('B', 'over 40');
  INSERT INTO trialmatch.criteria VALUES
    ('A', 1, 'inclusion', 'Adult', 'age >= 18'),
    ('A', 2, 'inclusion', 'Type 2 diabetes', $$diagnosis 'E11%'$$),
    ('A', 3, 'inclusion', 'HbA1c 7-10', $$lab 'HBA1C' within 1 year last between 7 and 10 unit '%'$$),
    ('A', 4, 'exclusion', 'Insulin', $$medication 'insulin%' active$$),
    ('A', 5, 'exclusion', 'Cancer', $$diagnosis 'C%' within 5 years$$),
    ('B', 1, 'inclusion', 'Age 40 or more', 'age >= 40'),
    ('B', 2, 'inclusion', 'Female', $$sex = 'F'$$),
    ('B', 3, 'exclusion', 'High glucose', $$lab 'GLU' within 90 days max > 15$$);
};

sub node
{
	my ($name, $conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(allows_streaming => 'logical');
	$node->append_conf('postgresql.conf',
		"timezone = 'UTC'\nmax_worker_processes = 16\n" . ($conf // ''));
	$node->start;
	return $node;
}

my $n = 600;
my $single = node('single');
$single->safe_psql('postgres', $tables . population($n) . $register . $catalog);

my $coord = node('coord');
$coord->safe_psql('postgres', "CREATE EXTENSION plproxy;" . $tables . $register . $catalog);

my @shards;
for my $k (0 .. 2)
{
	my $s = node("shard$k", "shared_preload_libraries = 'trialmatch'\n");
	$s->safe_psql('postgres', $tables . population($n, $k) . $register);
	push @shards, $s;
}
sub connstr { my ($node) = @_; return 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres'; }
my $cluster_sql = sub {
	my @nodes = @_;
	return "SELECT trialmatch.create_cluster(ARRAY['" . join("', '", map { connstr($_) } @nodes) . "'], $partitions)";
};
$coord->safe_psql('postgres', $cluster_sql->(@shards));
is($coord->safe_psql('postgres', 'SELECT string_agg(r::text, \',\') FROM trialmatch.replicated_tables() r'),
	join(',', map { "trialmatch.$_" } grep { $coord->safe_psql('postgres', "SELECT to_regclass('trialmatch.$_') IS NOT NULL") eq 't' }
		qw(trials criteria unit_conversions code_sets note_triggers)),
	'the replicated tables are the catalog tables that exist');
for my $k (0 .. 2)
{
	$shards[$k]->safe_psql('postgres', qq{
	  SELECT trialmatch.prepare_shard();
	  CREATE SUBSCRIPTION trialmatch_catalog CONNECTION '@{[connstr($coord)]}'
	    PUBLICATION trialmatch_catalog WITH (slot_name = 'trialmatch_catalog_$k');
	});
}
is($coord->safe_psql('postgres', "SELECT trialmatch_cluster.wait_for_shards('3 min')"), 't',
	'the catalog reaches every shard');
is(join(' ', map { $_->safe_psql('postgres', 'SELECT count(*) FROM trialmatch.criteria') } @shards),
	'8 8 8', 'every shard holds the criteria');
my @counts = map { $_->safe_psql('postgres', 'SELECT count(*) FROM pat') } @shards;
is($counts[0] + $counts[1] + $counts[2], $n, "the shards hold the $n patients (@counts)");
cmp_ok($counts[0], '>', $counts[1], 'shard 0 holds two of the four partitions');

# the hot standby of shard 1
$shards[1]->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($shards[1], 'b', has_streaming => 1);
$standby->start;
$shards[1]->wait_for_catchup($standby);

# row for row, in Auckland (the servers are in UTC)
my $tz = "SET timezone = 'Pacific/Auckland';";
my $sample = '{1,2,3,5,8,13,21,97,194,291,388,485,582,599,600}';
sub same
{
	my ($node, $name, $mine, $theirs) = @_;
	my $want = $single->safe_psql('postgres', "$tz $mine");
	my $got = $node->safe_psql('postgres', "$tz $theirs");
	isnt($want, '', "$name: not empty");
	is($got, $want, $name);
}
sub check_all
{
	my ($node, $schema, $label) = @_;
	for my $t ('A', 'B')
	{
		same($node, "$label match_patients $t",
			"SELECT * FROM trialmatch.match_patients('$t', '$as_of') ORDER BY patient_id",
			"SELECT * FROM $schema.match_patients('$t', '$as_of') ORDER BY patient_id");
		same($node, "$label attrition $t",
			"SELECT * FROM trialmatch.attrition('$t', '$as_of')",
			"SELECT * FROM $schema.attrition('$t', '$as_of')");
		same($node, "$label explain_match $t",
			"SELECT p, e.* FROM unnest('$sample'::int8[]) p, trialmatch.explain_match('$t', p, '$as_of') e",
			"SELECT p, e.* FROM unnest('$sample'::int8[]) p, $schema.explain_match('$t', p, '$as_of') e");
	}
	same($node, "$label match_all",
		"SELECT * FROM trialmatch.match_all('$as_of') ORDER BY trial_id, patient_id",
		"SELECT * FROM $schema.match_all('$as_of')"
		  . ($schema eq 'trialmatch' ? ' ORDER BY trial_id, patient_id' : ''));
	same($node, "$label match_trials",
		"SELECT p, m.* FROM unnest('$sample'::int8[]) p, trialmatch.match_trials(p, '$as_of') m",
		"SELECT p, m.* FROM unnest('$sample'::int8[]) p, $schema.match_trials(p, '$as_of') m");
}
check_all($coord, 'trialmatch_cluster', 'cluster');
isnt($single->safe_psql('postgres', "SELECT count(*) FROM trialmatch.match_patients('B', '$as_of') WHERE status = 'eligible'"),
	$single->safe_psql('postgres', "$tz SELECT count(*) FROM trialmatch.match_patients('B', '$as_of') WHERE status = 'eligible'"),
	'the time zone changes the answer (so the cluster must carry it)');

# screen(): one run per shard; together they give match_patients' rows
my @runs = split /\n/, $coord->safe_psql('postgres', "SELECT shard || ' ' || run_id FROM trialmatch_cluster.screen('A', '$as_of')");
is(scalar @runs, 3, 'screen() queues a run on every shard');
my @rows;
for (@runs)
{
	my ($k, $id) = split / /;
	is($shards[$k]->safe_psql('postgres', "SELECT trialmatch.wait($id)"), 'done', "run $id on shard $k done");
	push @rows, split /\n/, $shards[$k]->safe_psql('postgres', "SELECT patient_id, status, failed, unknown FROM trialmatch.results WHERE run_id = $id");
}
is(join("\n", sort { (split /\|/, $a)[0] <=> (split /\|/, $b)[0] } @rows),
	$single->safe_psql('postgres', "SELECT * FROM trialmatch.match_patients('A', '$as_of') ORDER BY patient_id"),
	'the runs of every shard together equal match_patients');

# a criterion changed on the coordinator reaches every shard, also a
# session there that had compiled the old one (the apply worker fires no
# ordinary trigger: the replica triggers invalidate the cache)
my $held = $shards[0]->background_psql('postgres');
my $q = "SELECT string_agg(status::text, ',' ORDER BY patient_id) FROM trialmatch.match_patients('B', '$as_of')";
my $before = $held->query_safe($q);
$coord->safe_psql('postgres', "UPDATE trialmatch.criteria SET expr = 'age >= 60' WHERE trial_id = 'B' AND position = 1");
$single->safe_psql('postgres', "UPDATE trialmatch.criteria SET expr = 'age >= 60' WHERE trial_id = 'B' AND position = 1");
is($coord->safe_psql('postgres', "SELECT trialmatch_cluster.wait_for_shards('1 min')"), 't', 'wait_for_shards after a change');
is(join(' ', map { $_->safe_psql('postgres', "SELECT expr FROM trialmatch.criteria WHERE trial_id = 'B' AND position = 1") } @shards),
	'age >= 60 age >= 60 age >= 60', 'every shard holds the changed criterion');
my $after = $held->query_safe($q);
isnt($after, $before, 'a session of the shard sees the change');
is($after, $shards[0]->safe_psql('postgres', $q), 'it sees what a new session sees');
$held->quit;
same($coord, 'changed match_patients B',
	"SELECT * FROM trialmatch.match_patients('B', '$as_of') ORDER BY patient_id",
	"SELECT * FROM trialmatch_cluster.match_patients('B', '$as_of') ORDER BY patient_id");

# the standby: read-only calls as on its primary, alone and in the cluster
$shards[1]->wait_for_catchup($standby);
my $on1 = $single->safe_psql('postgres',
	"SELECT min(patient_id) FROM pat WHERE trialmatch.shard_of(patient_id, $partitions, 3) = 1");
for my $call ("match_patients('A', '$as_of') ORDER BY patient_id", "attrition('B', '$as_of')",
	"match_all('$as_of') ORDER BY trial_id, patient_id", "match_trials($on1, '$as_of')",
	"explain_match('A', $on1, '$as_of')")
{
	my $sql = "SELECT * FROM trialmatch.$call";
	is($standby->safe_psql('postgres', $sql), $shards[1]->safe_psql('postgres', $sql),
		"standby: $call");
}
my ($ret, $stdout, $stderr) = $standby->psql('postgres', "\\set VERBOSITY verbose\nSELECT trialmatch.screen('A')");
like($stderr, qr/ERROR:  25006: cannot call screen\(\) on a hot standby/, 'standby refuses screen() with 25006');
my $port1 = $shards[1]->port;
like($stderr, qr/HINT:  Call screen\(\) on the primary \(host \S+, port $port1\)/, 'the hint names the primary');
($ret, $stdout, $stderr) = $standby->psql('postgres', "SELECT trialmatch.cancel(1)");
like($stderr, qr/ERROR:  cannot call cancel\(\) on a hot standby/, 'standby refuses cancel()');
$coord->safe_psql('postgres', $cluster_sql->($shards[0], $standby, $shards[2]));
check_all($coord, 'trialmatch_cluster', 'through the standby:');
($ret, $stdout, $stderr) = $coord->psql('postgres', "SELECT * FROM trialmatch_cluster.screen('A')");
like($stderr, qr/cannot call screen\(\) on a hot standby/, 'cluster screen() through the standby is refused');
$coord->safe_psql('postgres', $cluster_sql->(@shards));

# a stopped shard: an error naming it, never a part of the answer
$shards[2]->stop;
my $port2 = $shards[2]->port;
($ret, $stdout, $stderr) = $coord->psql('postgres',
	"\\set VERBOSITY verbose\nSELECT count(*) FROM trialmatch_cluster.match_patients('A', '$as_of')");
isnt($ret, 0, 'match_patients fails with a shard down');
is($stdout, '', 'and returns no rows');
like($stderr, qr/ERROR:  08006: trialmatch shard 2 \(host=\S+ port=$port2 dbname=postgres\) is not reachable/,
	'the error names the shard');
like($stderr, qr/DETAIL:  Shard 2: .*$port2/, 'the detail says why');
($ret, $stdout, $stderr) = $coord->psql('postgres', "SELECT * FROM trialmatch_cluster.attrition('A', '$as_of')");
like($stderr, qr/trialmatch shard 2 .* is not reachable/, 'attrition too');
($ret, $stdout, $stderr) = $coord->psql('postgres', "SELECT trialmatch_cluster.wait_for_shards('1 s')");
# behind (its slot no longer confirms) or asked and not reachable
like($stderr, qr/trialmatch shard 2 .* is not reachable|shards not caught up with \S+: 2 \(/,
	'wait_for_shards names it too');
my $on0 = $single->safe_psql('postgres',
	"SELECT min(patient_id) FROM pat WHERE trialmatch.shard_of(patient_id, $partitions, 3) = 0");
is($coord->safe_psql('postgres', "SELECT count(*) > 0 FROM trialmatch_cluster.match_trials($on0, '$as_of')"), 't',
	'match_trials of a patient of another shard still answers');
$shards[2]->start;
is($coord->safe_psql('postgres', "SELECT count(*) FROM trialmatch_cluster.match_patients('A', '$as_of')"), $n,
	'the shard answers again once started');

# placement is checked: PL/Proxy needs a power of two
($ret, $stdout, $stderr) = $coord->psql('postgres', "SELECT trialmatch.shard_of(1, 6, 3)");
like($stderr, qr/cannot place patients in 6 partitions over 3 shards/, 'partitions must be a power of two');

done_testing();
