# Index-only reads of index ranges (src/indexonly.c): with an index holding
# every column a source's criteria read, the ranges are read from the index,
# the table only for pages not all-visible; the answers are those of the
# bitmap heap read (trialmatch.index_only_reads = off) and of a whole-table
# read, on all-visible pages and on pages with updated, deleted and new rows,
# serial and with workers.  An index missing a column read is not read alone.
# The same for one patient's rows (match_trials) through a covering index on
# the patient column.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('index_only');
$node->init;
$node->append_conf('postgresql.conf',
	"autovacuum = off\nmax_worker_processes = 16\nmax_parallel_workers = 8\n");
$node->start;
$node->safe_psql('postgres', q{
  SET timezone = 'UTC';
  CREATE EXTENSION trialmatch;
  CREATE TABLE q_pat (patient_id int8 PRIMARY KEY, birth_date date, sex text);
  INSERT INTO q_pat SELECT i, date '1940-01-01' + (i * 7919 % 25000), 'F' FROM generate_series(1, 3000) i;
  CREATE TABLE q_lab (patient_id int8, code text, t timestamptz, v numeric, u text);
  INSERT INTO q_lab SELECT i % 3100 + 1, 'L' || (i % 17), timestamptz '2026-06-01' - (i % 700) * interval '1 day',
         CASE WHEN i % 101 = 0 THEN NULL WHEN i % 103 = 0 THEN 'NaN' ELSE (abs(hashint4(i)) % 200) / 10.0 END,
         CASE i % 11 WHEN 0 THEN 'mmol/L' WHEN 1 THEN NULL ELSE 'mg/dL' END
    FROM generate_series(1, 200000) i;
  CREATE INDEX q_lab_cover ON q_lab (code, t) INCLUDE (patient_id, v, u);
  CREATE INDEX q_lab_pid ON q_lab (patient_id) INCLUDE (code, t, v, u);
  VACUUM ANALYZE q_lab;
  SELECT trialmatch.set_patients('q_pat');
  SELECT trialmatch.add_source('qlab', 'q_lab', time_column => 't', value_column => 'v', unit_column => 'u');
  INSERT INTO trialmatch.unit_conversions VALUES ('L3', 'mmol/L', 'mg/dL', 18, 0);
  INSERT INTO trialmatch.trials (trial_id) VALUES ('N'), ('U');
  INSERT INTO trialmatch.criteria VALUES
    ('N', 1, 'inclusion', 'L7 last', $$qlab 'L7' within 90 days last > 5$$),
    ('N', 2, 'exclusion', 'L9 count', $$qlab 'L9' within 60 days count where value > 15 >= 2$$),
    ('N', 3, 'inclusion', 'L2 min', $$qlab 'L2' within 30 days min < 10 or unknown$$),
    ('U', 1, 'inclusion', 'L3 avg unit', $$qlab 'L3' within 90 days avg > 9 unit 'mg/dL'$$);
});

my $md5 = q{SELECT md5(string_agg(format('%s %s %s %s', patient_id, status, failed, unknown), ',' ORDER BY patient_id))};

# one call: its answer (md5) and the index-only DEBUG2 lines
sub call
{
	my ($settings, $trial) = @_;
	my ($ret, $out, $err) = $node->psql('postgres',
		"SET client_min_messages = debug2; $settings\n"
		  . "$md5 FROM trialmatch.match_patients('$trial', '2026-06-01');");
	is($ret, 0, "call of $trial with: $settings");
	my @io = grep { /read from index "q_lab_cover" only/ } split /\n/, $err;
	return ($out, join("\n", @io));
}

sub fetches
{
	my ($io) = @_;
	my $n = 0;
	$n += $1 while $io =~ /(\d+) heap fetches/g;
	return $n;
}

# match_trials for every 5th patient: its answer and the index-only lines
my $mt = q{SELECT md5(string_agg(format('%s %s %s %s %s', p, m.trial_id, m.status, m.failed, m.unknown), ',' ORDER BY p, m.trial_id))
             FROM generate_series(1, 3000, 5) p, trialmatch.match_trials(p, '2026-06-01') m};
sub one
{
	my ($settings) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "SET client_min_messages = debug2; $settings\n$mt;");
	is($ret, 0, "match_trials with: $settings");
	my @io = grep { /one patient's rows of source "qlab" \("q_lab"\) read from index "q_lab_pid" only/ } split /\n/, $err;
	return ($out, join("\n", @io));
}

my ($mt_on, $mt_io) = one('');
like($mt_io, qr/only: \d+ rows, 0 heap fetches/, 'one patient: all-visible: read from the patient index alone');
my ($mt_off, $mt_io_off) = one('SET trialmatch.index_only_reads = off;');
is($mt_io_off, '', 'one patient: off: not read index-only');
is($mt_on, $mt_off, 'one patient: all-visible: the same answers');

my $serial = 'SET trialmatch.max_parallel_workers = 0;';
my $par = 'SET min_parallel_table_scan_size = 0; SET trialmatch.max_parallel_workers = 2;';

for my $trial ('N', 'U')
{
	my ($on, $io) = call($serial, $trial);
	like($io, qr/only: \d+ rows, 0 heap fetches/, "$trial: all-visible: read from the index alone, no heap fetch");
	my ($off, $io_off) = call("$serial SET trialmatch.index_only_reads = off;", $trial);
	is($io_off, '', "$trial: off: not read index-only");
	is($on, $off, "$trial: all-visible: index-only answer = bitmap heap answer");
	my ($p) = call($par, $trial);
	is($p, $on, "$trial: all-visible: with workers, the same");
}

# pages no longer all-visible: updated values (the old index entries point
# to dead rows), deleted rows, new rows
$node->safe_psql('postgres', q{
  UPDATE q_lab SET v = v + 3 WHERE code IN ('L7', 'L3') AND patient_id % 7 = 0;
  DELETE FROM q_lab WHERE code IN ('L7', 'L9', 'L2') AND patient_id % 11 = 0;
  INSERT INTO q_lab SELECT i, 'L7', timestamptz '2026-05-30', 20, 'mg/dL' FROM generate_series(1, 3000, 13) i;
  INSERT INTO q_lab SELECT i, 'L3', timestamptz '2026-05-30', 1, 'mmol/L' FROM generate_series(1, 3000, 17) i;
});
($mt_on, $mt_io) = one('');
ok(fetches($mt_io) > 0, 'one patient: pages not all-visible are checked in the table');
($mt_off) = one('SET trialmatch.index_only_reads = off;');
is($mt_on, $mt_off, 'one patient: after changes: the same answers');
my %heap;
for my $trial ('N', 'U')
{
	my ($on, $io) = call($serial, $trial);
	ok(fetches($io) > 0, "$trial: pages not all-visible are checked in the table");
	my ($off) = call("$serial SET trialmatch.index_only_reads = off;", $trial);
	is($on, $off, "$trial: after changes: index-only answer = bitmap heap answer");
	my ($p, $pio) = call($par, $trial);
	is($p, $on, "$trial: after changes: with workers, the same");
	$heap{$trial} = $on;
}

# an index without the unit column (read with every value, for
# explain_match) is not read alone; the answers stay
$node->safe_psql('postgres', q{
  DROP INDEX q_lab_cover;
  CREATE INDEX q_lab_cover ON q_lab (code, t) INCLUDE (patient_id, v);
  ANALYZE q_lab;
});
for my $trial ('N', 'U')
{
	my ($a, $io) = call($serial, $trial);
	is($io, '', "$trial: an index without the unit column is not read alone");
	is($a, $heap{$trial}, "$trial: the same answer");
}

# a whole-table read, without the index, gives the same answers
$node->safe_psql('postgres', 'DROP INDEX q_lab_cover;');
for my $trial ('N', 'U')
{
	my ($w) = call($serial, $trial);
	is($w, $heap{$trial}, "$trial: whole-table read gives the index-only answer");
}

$node->stop;
done_testing();
