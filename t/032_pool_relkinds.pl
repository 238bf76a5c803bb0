# A screening run on the pool reads partitioned, inheritance and view
# sources as match_patients does.  Issue 15 item 2: "one screen() crashed
# the whole server three times before the run failed" on a lab table
# partitioned by month.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 't';
use TrialmatchPool;

my $node = pool_node('pool_relkinds', patients => 3000);
my $as_of = '2026-03-01 00:00+00';
my $q = qq{SELECT count(*), md5(string_agg(format('%s %s %s %s', patient_id, status, failed, unknown), ',' ORDER BY patient_id))};

my $plain = $node->safe_psql('postgres', "$q FROM trialmatch.match_patients('T', '$as_of')");
like($plain, qr/^3000\|[0-9a-f]{32}$/, 'the plain table screens 3000 patients');

# the same rows as a table partitioned by month (with a default partition),
# as an inheritance tree, and behind a view
$node->safe_psql('postgres', q{
  CREATE TABLE lab_part (LIKE lab) PARTITION BY RANGE (taken_at);
  DO $$
  DECLARE m date;
  BEGIN
    FOR m IN SELECT generate_series(date '2024-11-01', date '2026-02-01', interval '1 month') LOOP
      EXECUTE format('CREATE TABLE %I PARTITION OF lab_part FOR VALUES FROM (%L) TO (%L)',
                     'lab_' || to_char(m, 'YYYYMM'), m, m + interval '1 month');
    END LOOP;
  END $$;
  CREATE TABLE lab_part_default PARTITION OF lab_part DEFAULT;
  INSERT INTO lab_part SELECT * FROM lab;
  CREATE INDEX ON lab_part (code, taken_at);
  CREATE TABLE lab_inh (LIKE lab);
  CREATE TABLE lab_inh_a () INHERITS (lab_inh);
  CREATE TABLE lab_inh_b () INHERITS (lab_inh);
  INSERT INTO lab_inh_a SELECT * FROM lab WHERE patient_id % 3 = 0;
  INSERT INTO lab_inh_b SELECT * FROM lab WHERE patient_id % 3 = 1;
  INSERT INTO lab_inh SELECT * FROM lab WHERE patient_id % 3 = 2;
  CREATE VIEW lab_view AS SELECT * FROM lab;
  ANALYZE;
});

for my $rel ('lab_part', 'lab_inh', 'lab_view')
{
	$node->safe_psql('postgres', qq{
	  SELECT trialmatch.add_source('lab', '$rel', time_column => 'taken_at', value_column => 'value',
	                               unit_column => 'unit')});
	my $id = $node->safe_psql('postgres', "SELECT trialmatch.screen('T', '$as_of')");
	is($node->safe_psql('postgres', "SELECT trialmatch.wait($id, '120 s')"), 'done', "a run on $rel completes");
	is($node->safe_psql('postgres', "$q FROM trialmatch.results WHERE run_id = $id"), $plain,
		"its results equal the plain table's");
	is($node->safe_psql('postgres', "$q FROM trialmatch.match_patients('T', '$as_of')"), $plain,
		"and match_patients on $rel agrees");
}
ok(!$node->log_contains('terminated by signal'), 'no process crashed');
$node->stop;
done_testing();
