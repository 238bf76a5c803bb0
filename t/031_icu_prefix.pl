# Issue 15 item 8: in a database whose default collation is ICU (cs-CZ)
# while LC_COLLATE says C.UTF-8, a prefix code ('C%') must not become an
# index range: Czech sorts "CH" after "H", so the range ['C', 'C' || U+10FFFF)
# misses every 'CH...' code.  Prefix ranges are used only under collations
# that order by code point; otherwise the source is scanned whole.
# Exact codes may still use the index (the ICU collation is deterministic).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('icu');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
  CREATE DATABASE icu TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'cs-CZ' LOCALE 'C.UTF-8'
});
is($node->safe_psql('icu', q{SELECT 'CH1' < 'D' COLLATE "default", 'CH1' > 'H' COLLATE "default"}),
	"f|t", 'the database sorts CH after H');

$node->safe_psql('icu', q{
  CREATE EXTENSION trialmatch;
  SET timezone = 'UTC';
  CREATE TABLE pat (patient_id int8 PRIMARY KEY, birth_date date, sex text);
  INSERT INTO pat SELECT i, '1980-01-01', 'F' FROM generate_series(1, 2000) i;
  -- 100 patients with a 'C1' code, 100 others with a 'CH1' code, and filler
  CREATE TABLE dx (patient_id int8, code text, at date);
  INSERT INTO dx SELECT i % 2000 + 1, 'Z' || (i % 50), date '2026-01-01' - i % 300 FROM generate_series(1, 40000) i;
  INSERT INTO dx SELECT i, 'C1', '2026-01-01' FROM generate_series(1, 100) i;
  INSERT INTO dx SELECT i, 'CH1', '2026-01-01' FROM generate_series(101, 200) i;
  CREATE INDEX ON dx (code, at);
  ANALYZE dx;
  SELECT trialmatch.set_patients('pat');
  SELECT trialmatch.add_source('dx', 'dx', time_column => 'at');
  INSERT INTO trialmatch.trials (trial_id) VALUES ('P'), ('E');
  INSERT INTO trialmatch.criteria VALUES ('P', 1, 'inclusion', 'C', $$dx 'C%'$$);
  INSERT INTO trialmatch.criteria VALUES ('E', 1, 'inclusion', 'CH1', $$dx ('CH1', 'C1')$$);
});
my $sql = q{SELECT count(*) FROM trialmatch.match_patients('%s', '2026-06-01') WHERE status = 'eligible'};
is($node->safe_psql('icu', sprintf($sql, 'P')), '200', "'C%' finds the C1 and the CH1 patients");
is($node->safe_psql('icu', sprintf($sql, 'E')), '200', 'exact codes find them too');

# which path was taken: no index range for the prefix, index ranges for exact codes
my $idx = q{SELECT pg_stat_force_next_flush(); SELECT pg_stat_clear_snapshot();
            SELECT idx_scan FROM pg_stat_user_indexes WHERE relname = 'dx'};
my $before = $node->safe_psql('icu', $idx);
$node->safe_psql('icu', sprintf($sql, 'P'));
my $after = $node->safe_psql('icu', $idx);
is($after, $before, 'the prefix is not read as an index range');
$node->safe_psql('icu', sprintf($sql, 'E'));
cmp_ok($node->safe_psql('icu', $idx), '>', $after, 'exact codes are read through the index');

$node->stop;
done_testing();
