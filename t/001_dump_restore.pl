# pg_dump keeps the trialmatch catalog (sources, trials, criteria,
# conversions) and a restored database screens exactly as the original;
# the catalog and answers survive a server restart.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->start;

$node->safe_psql('postgres', q{
  CREATE DATABASE src;
  CREATE DATABASE dst;
});
$node->safe_psql('src', q{
  SET timezone = 'UTC';
  CREATE EXTENSION trialmatch;
  CREATE TABLE pat (patient_id int8 PRIMARY KEY, birth_date date, sex text);
  CREATE TABLE lab (patient_id int8, code text, taken_at timestamptz, value numeric, unit text);
  INSERT INTO pat SELECT i, date '1950-01-01' + (i * 37 % 20000), CASE WHEN i % 2 = 0 THEN 'F' ELSE 'M' END
    FROM generate_series(1, 500) i;
  INSERT INTO lab SELECT i % 500 + 1, CASE WHEN i % 3 = 0 THEN 'GLU' ELSE 'A1C' END,
         timestamptz '2026-01-01' - (i % 400) * interval '1 day', (i % 200) / 10.0,
         CASE WHEN i % 7 = 0 THEN 'mmol/L' ELSE 'mg/dL' END
    FROM generate_series(1, 5000) i;
  SELECT trialmatch.set_patients('pat');
  SELECT trialmatch.add_source('lab', 'lab', time_column => 'taken_at', value_column => 'value', unit_column => 'unit');
  INSERT INTO trialmatch.unit_conversions VALUES ('GLU', 'mmol/L', 'mg/dL', 18, 0);
  INSERT INTO trialmatch.trials (trial_id, title) VALUES ('T', 'dump test');
  INSERT INTO trialmatch.criteria VALUES
    ('T', 1, 'inclusion', 'adult', 'age >= 18'),
    ('T', 2, 'inclusion', 'glucose', $$lab 'GLU' within 90 days max > 10 unit 'mg/dL'$$),
    ('T', 3, 'exclusion', 'high A1C', $$lab 'A1C' within 1 year any > 18$$);
});

my $query = q{SELECT md5(string_agg(format('%s %s %s %s', patient_id, status, failed, unknown), ',' ORDER BY patient_id))
  FROM trialmatch.match_patients('T', '2026-01-01 00:00+00')};
my $before = $node->safe_psql('src', $query);
like($before, qr/^[0-9a-f]{32}$/, 'the source database screens patients (an md5 of rows, not of nothing)');
is($node->safe_psql('src', q{SELECT count(*) FROM trialmatch.match_patients('T', '2026-01-01 00:00+00') WHERE status = 'eligible'}) > 0,
	1, 'and finds eligible patients');

my $dump = PostgreSQL::Test::Utils::tempdir() . '/dump.sql';
$node->command_ok([ 'pg_dump', '-d', $node->connstr('src'), '-f', $dump ], 'pg_dump');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('dst'), '-f', $dump ],
	'restore');

is($node->safe_psql('dst', 'SELECT count(*) FROM trialmatch.criteria'), '3', 'criteria restored');
is($node->safe_psql('dst', 'SELECT count(*) FROM trialmatch.unit_conversions'), '1', 'conversions restored');
is($node->safe_psql('dst', $query), $before, 'restored database screens the same');

$node->restart;
is($node->safe_psql('src', $query), $before, 'same answers after a restart');

$node->stop;
done_testing();
