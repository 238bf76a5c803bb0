# sql/parallel.sql checks that parallel workers, index ranges and the
# serial path agree; this test checks that each path is actually taken
# when it should be (from the DEBUG1 report of a population call), so that
# the agreement checks cannot pass because a path silently stopped being
# chosen.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('parallel_paths');
$node->init;
$node->append_conf('postgresql.conf', "max_worker_processes = 16\nmax_parallel_workers = 8\n");
$node->start;
$node->safe_psql('postgres', q{
  SET timezone = 'UTC';
  CREATE EXTENSION trialmatch;
  CREATE TABLE q_pat (patient_id int8 PRIMARY KEY, birth_date date, sex text);
  INSERT INTO q_pat SELECT i, date '1940-01-01' + (i * 7919 % 25000), 'F' FROM generate_series(1, 3000) i;
  CREATE TABLE q_lab (patient_id int8, code text, t timestamptz, v numeric, u text);
  INSERT INTO q_lab SELECT i % 3100 + 1, 'L' || (i % 17), timestamptz '2026-06-01' - (i % 700) * interval '1 day',
         (abs(hashint4(i)) % 200) / 10.0, 'mg/dL'
    FROM generate_series(1, 200000) i;
  SELECT trialmatch.set_patients('q_pat');
  SELECT trialmatch.add_source('qlab', 'q_lab', time_column => 't', value_column => 'v', unit_column => 'u');
  INSERT INTO trialmatch.trials (trial_id) VALUES ('WIDE'), ('NARROW'), ('NARROW2');
  INSERT INTO trialmatch.criteria VALUES
    ('WIDE', 1, 'inclusion', 'any lab', $$qlab 'L1%' within 2 years any >= 19.5$$),
    ('NARROW', 1, 'inclusion', 'L7 recent', $$qlab 'L7' within 90 days last > 5$$),
    ('NARROW2', 1, 'inclusion', 'L9 recent', $$qlab 'L9' within 30 days count >= 1$$);
});

# the DEBUG1 report of one call under the given settings
sub report
{
	my ($settings, $trial) = @_;
	my ($ret, $out, $err) = $node->psql('postgres',
		"SET client_min_messages = debug1; $settings\n"
		  . "SELECT count(*) FROM trialmatch.match_patients('$trial', '2026-06-01');");
	is($ret, 0, "call of $trial with: $settings");
	my ($line) = grep { /trialmatch: trial "$trial"/ } split /\n/, $err;
	return $line // '';
}

my $r = report('SET min_parallel_table_scan_size = 0; SET trialmatch.max_parallel_workers = 2;', 'WIDE');
like($r, qr/3000 patients/, 'the report counts the patients');
like($r, qr/([12]) of 2 parallel workers launched/, 'a whole-table scan launches workers');
like($r, qr/qlab: whole table/, 'and reads the table whole');

# match_all reports the number of trials; its workers rebuild the plan of
# all of them
sub report_all
{
	my ($settings, $ids) = @_;
	my ($ret, $out, $err) = $node->psql('postgres',
		"SET client_min_messages = debug1; $settings\n"
		  . "SELECT count(*) FROM trialmatch.match_all('2026-06-01', $ids);");
	is($ret, 0, "match_all($ids) with: $settings");
	my ($line) = grep { /trialmatch: \d+ trials:/ } split /\n/, $err;
	return $line // '';
}

$r = report_all('SET min_parallel_table_scan_size = 0; SET trialmatch.max_parallel_workers = 2;', 'NULL');
like($r, qr/trialmatch: 3 trials: 3000 patients, [12] of 2 parallel workers launched/,
	'match_all: every recruiting trial, workers launched');

# the default (-1): two workers, and for match_all at most one fewer than
# the CPUs (participants each keep and merge a state array)
# what the server counts (src/parallel.c, server_cpus): the CPUs online,
# fewer if bound to some (nproc counts the affinity mask), or a cgroup CPU
# quota, rounded up
sub server_cpus
{
	chomp(my $n = `env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc`);
	my $quota = 0;
	if (open(my $f, '<', '/sys/fs/cgroup/cpu.max'))
	{
		my ($q, $p) = split ' ', scalar <$f>;
		$quota = int(($q + $p - 1) / $p) if $q ne 'max' && $p > 0;
	}
	elsif (open(my $g, '<', '/sys/fs/cgroup/cpu/cpu.cfs_quota_us')
		&& open(my $h, '<', '/sys/fs/cgroup/cpu/cpu.cfs_period_us'))
	{
		my ($q, $p) = (scalar <$g>, scalar <$h>);
		$quota = int(($q + $p - 1) / $p) if $q > 0 && $p > 0;
	}
	return $quota > 0 && $quota < $n ? $quota : $n;
}
my $cpus = server_cpus();
my $all_default = $cpus - 1 < 2 ? $cpus - 1 : 2;
# a call whose only pages are those of shared bitmaps asks for no more
# participants than CPUs (src/parallel.c, tm_parallel_workers_for)
my $bw = $cpus - 1 < 2 ? $cpus - 1 : 2;
die "these tests need 2 CPUs or more" if $bw < 1;
$r = report_all('SET min_parallel_table_scan_size = 0; RESET trialmatch.max_parallel_workers;', 'NULL');
like($r, qr/3 trials: 3000 patients, \d of $all_default parallel workers launched/,
	"match_all by default: $all_default planned on $cpus CPUs");
$r = report('SET min_parallel_table_scan_size = 0; RESET trialmatch.max_parallel_workers;', 'WIDE');
like($r, qr/\d of 2 parallel workers launched/, 'one trial by default: 2 planned, whatever the CPUs');
# a server bound to one CPU (its affinity mask, inherited from the process
# that starts it, as taskset or a cpuset does) counts one: match_all plans
# no worker by default
SKIP:
{
	chomp(my $mask = `taskset -p $$ 2>/dev/null`);
	skip 'no taskset, or a single CPU', 2 unless $mask =~ /: ([0-9a-f]+)$/ && $cpus >= 2;
	my $old = $1;
	system("taskset -p 1 $$ >/dev/null") == 0 or BAIL_OUT('taskset failed');
	$node->restart;
	system("taskset -p $old $$ >/dev/null");
	$r = report_all('SET min_parallel_table_scan_size = 0; RESET trialmatch.max_parallel_workers;', 'NULL');
	like($r, qr/3 trials: 3000 patients, 0 of 0 parallel workers launched/,
		'match_all by default on a server bound to one CPU: no worker');
	$node->restart;
	$r = report_all('SET min_parallel_table_scan_size = 0; RESET trialmatch.max_parallel_workers;', 'NULL');
	like($r, qr/3 trials: 3000 patients, \d of $all_default parallel workers launched/,
		"and $all_default again once it may use every CPU");
}

$r = report('SET min_parallel_table_scan_size = 0; SET trialmatch.max_parallel_workers = 1;', 'WIDE');
like($r, qr/1 of 1 parallel workers launched/, 'one worker when one is allowed');

$r = report('SET min_parallel_table_scan_size = 0; SET trialmatch.max_parallel_workers = 0;', 'WIDE');
like($r, qr/0 of 0 parallel workers launched/, 'none with trialmatch.max_parallel_workers = 0');

$r = report('SET min_parallel_table_scan_size = 0; SET max_parallel_workers = 0;', 'WIDE');
like($r, qr/0 of \d parallel workers launched/, 'none when no slot is free (the leader scans alone)');

$r = report(q{SET min_parallel_table_scan_size = '1GB';}, 'WIDE');
like($r, qr/0 of 0 parallel workers launched/, 'a table below min_parallel_table_scan_size stays serial');

# as the planner sizes a parallel scan: one worker from
# min_parallel_table_scan_size, one more each time the pages triple
my $pages = $node->safe_psql('postgres', q{SELECT pg_relation_size('q_lab') / 8192});
my $half = int($pages / 2);
$r = report("SET min_parallel_table_scan_size = $half; SET trialmatch.max_parallel_workers = 2;", 'WIDE');
like($r, qr/1 of 1 parallel workers launched/, "$pages pages, twice the threshold: one worker planned of two allowed");
my $quarter = int($pages / 4);
$r = report("SET min_parallel_table_scan_size = $quarter; SET trialmatch.max_parallel_workers = 2;", 'WIDE');
like($r, qr/[12] of 2 parallel workers launched/, "$pages pages, four times the threshold: two");

# no index: the narrow trial scans the whole table; with an index on
# (code, time) and statistics it reads index ranges
$r = report('SET trialmatch.max_parallel_workers = 0;', 'NARROW');
like($r, qr/qlab: whole table/, 'no index: whole table');
$node->safe_psql('postgres', 'CREATE INDEX q_lab_code_t ON q_lab (code, t); ANALYZE q_lab;');
$r = report('SET trialmatch.max_parallel_workers = 0;', 'NARROW');
like($r, qr/qlab: 1 index ranges/, 'an exact code in a short window reads one index range');
$r = report('SET min_parallel_table_scan_size = 0; SET trialmatch.max_parallel_workers = 2;', 'NARROW');
like($r, qr/qlab: \d+ index ranges/, 'also when workers are allowed');
$r = report('SET trialmatch.max_parallel_workers = 0;', 'WIDE');
like($r, qr/qlab: whole table/, 'a wide criterion (a prefix over two years) still scans the whole table');

# a parallel call splits index ranges into time slices only where slices
# lie apart in the heap (src/indexpath.c, tm_slice_by_time): q_lab's times
# cycle every 700 rows (correlation near 0), so its one range is read as
# one bitmap whose blocks the participants share (src/parallel.c,
# shares_bitmap), and those blocks count towards the workers as a whole
# table's do; the same rows stored in time order are read in slices, as
# they are from an index holding every column read; the rows are the same
$node->safe_psql('postgres', q{
  CREATE TABLE q_lab_t AS SELECT * FROM q_lab ORDER BY t;
  CREATE INDEX ON q_lab_t (code, t);
  ANALYZE q_lab_t;
  SELECT trialmatch.add_source('qlabt', 'q_lab_t', time_column => 't', value_column => 'v', unit_column => 'u');
  INSERT INTO trialmatch.trials (trial_id) VALUES ('NARROWT'), ('CNT'), ('CNTT');
  INSERT INTO trialmatch.criteria VALUES
    ('NARROWT', 1, 'inclusion', 'L7 recent', $$qlabt 'L7' within 90 days last > 5$$),
    -- counts: a row read twice or missed changes the answer
    ('CNT', 1, 'inclusion', 'L7 often', $$qlab 'L7' within 450 days count >= 3$$),
    ('CNTT', 1, 'inclusion', 'L7 often', $$qlabt 'L7' within 450 days count >= 3$$);
});
my $par = 'SET min_parallel_table_scan_size = 0; SET trialmatch.max_parallel_workers = 2;';
is($node->safe_psql('postgres', q{SELECT round(correlation::numeric, 1) FROM pg_stats
                                    WHERE tablename IN ('q_lab', 'q_lab_t') AND attname = 't' ORDER BY tablename}),
	"0.0\n1.0", 'time correlation: none in q_lab, full in q_lab_t');
$r = report($par, 'NARROW');
like($r, qr/$bw of $bw parallel workers launched.*qlab: 1 index ranges \(blocks shared\)/,
	"uncorrelated: the range is not sliced; its blocks are shared, and count towards the workers ($bw on $cpus CPUs)");
$r = report($par, 'NARROWT');
like($r, qr/1 of 1 parallel workers launched.*qlabt: 4 index ranges/, 'time-ordered: sliced, two per participant (the leader and one worker)');
sub rows_of
{
	my ($trial) = @_;
	return qq{SELECT count(*), md5(string_agg(patient_id || ' ' || status, ',' ORDER BY patient_id))
               FROM trialmatch.match_patients('$trial', '2026-06-01')};
}
my $serial = $node->safe_psql('postgres', 'SET trialmatch.max_parallel_workers = 0; ' . rows_of('NARROW'));
is($node->safe_psql('postgres', $par . rows_of('NARROW')), $serial, 'unsliced parallel rows = serial rows');
is($node->safe_psql('postgres', $par . rows_of('NARROWT')), $serial, 'sliced parallel rows = serial rows');
my $cnt = $node->safe_psql('postgres', 'SET trialmatch.max_parallel_workers = 0; ' . rows_of('CNT'));
like($cnt, qr/^3000\|/, 'a count criterion over 450 days');
is($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT status::text, ' ')
                                    FROM trialmatch.match_patients('CNT', '2026-06-01')}),
	'eligible ineligible', 'with mixed answers');
like(report($par, 'CNT'), qr/qlab: 1 index ranges/, 'the count over 450 days: one range, not sliced');
is($node->safe_psql('postgres', $par . rows_of('CNT')), $cnt, 'its parallel rows = serial rows');
like(report($par, 'CNTT'), qr/qlabt: 4 index ranges/, 'time-ordered: four slices');
is($node->safe_psql('postgres', $par . rows_of('CNTT')), $cnt, 'their parallel rows = serial rows');

sub builds
{
	my ($settings, $trial) = @_;
	my ($ret, $out, $err) = $node->psql('postgres',
		"SET client_min_messages = debug2; $settings\n"
		  . "SELECT count(*) FROM trialmatch.match_patients('$trial', '2026-06-01');");
	return scalar(grep { /built into a shared bitmap/ } split /\n/, $err);
}
# a partitioned source slices only if every partition read through an index
# lies apart: one patient-ordered partition keeps the ranges whole
$node->safe_psql('postgres', q{
  CREATE TABLE q_lab_p (LIKE q_lab) PARTITION BY RANGE (t);
  CREATE TABLE q_lab_p1 PARTITION OF q_lab_p FOR VALUES FROM (MINVALUE) TO ('2025-09-01');
  CREATE TABLE q_lab_p2 PARTITION OF q_lab_p FOR VALUES FROM ('2025-09-01') TO (MAXVALUE);
  INSERT INTO q_lab_p SELECT * FROM q_lab WHERE t >= '2025-09-01' ORDER BY t;
  INSERT INTO q_lab_p SELECT * FROM q_lab WHERE t < '2025-09-01';
  CREATE INDEX ON q_lab_p (code, t);
  ANALYZE q_lab_p;
  SELECT trialmatch.add_source('qlabp', 'q_lab_p', time_column => 't', value_column => 'v', unit_column => 'u');
  INSERT INTO trialmatch.trials (trial_id) VALUES ('CNTP');
  INSERT INTO trialmatch.criteria VALUES
    ('CNTP', 1, 'inclusion', 'L7 often', $$qlabp 'L7' within 450 days count >= 3$$);
});
like(report($par, 'CNTP'), qr/qlabp: 1 index ranges \(blocks shared\) \(2 of 2 partitions\)/,
	'one partition stored by patient: not sliced, blocks shared');
is($node->safe_psql('postgres', $par . rows_of('CNTP')), $cnt, 'the same rows');
is(builds($par, 'CNTP'), 2, 'one shared bitmap per partition');
is($node->safe_psql('postgres', "SET work_mem = '64kB'; " . $par . rows_of('CNTP')), $cnt,
	'lossy bitmaps per partition: the same counts');
$node->safe_psql('postgres', q{
  CREATE TABLE q_lab_p1s AS SELECT * FROM q_lab_p1 ORDER BY t;
  TRUNCATE q_lab_p1;
  INSERT INTO q_lab_p1 SELECT * FROM q_lab_p1s;
  ANALYZE q_lab_p;
});
like(report($par, 'CNTP'), qr/qlabp: 4 index ranges \(2 of 2 partitions\)/,
	'both partitions in time order: sliced');
is($node->safe_psql('postgres', $par . rows_of('CNTP')), $cnt, 'the same rows');
$node->safe_psql('postgres', q{CREATE INDEX q_lab_cover ON q_lab (code, t) INCLUDE (patient_id, v, u);
                               DROP INDEX q_lab_code_t; ANALYZE q_lab;});
$r = report($par, 'NARROW');
like($r, qr/1 of 1 parallel workers launched.*qlab: 4 index ranges/, 'uncorrelated, index-only reads: sliced');
is($node->safe_psql('postgres', $par . rows_of('NARROW')), $serial, 'and the rows are the same');
$node->safe_psql('postgres', q{DROP INDEX q_lab_cover; CREATE INDEX q_lab_code_t ON q_lab (code, t); ANALYZE q_lab;});

# ---------------------------------------------------------------------
# Index ranges read through the heap in a parallel call, not sliced: one
# participant builds the bitmap of all the leaf's ranges and writes its
# pages to shared memory; every participant claims runs of them
# (src/parallel.c share_read, src/read.c tm_pages_share).  The bitmap is
# built once, whoever builds it, and every block is read once: counts
# come out as in a serial call, also when the bitmap is lossy.
# ---------------------------------------------------------------------
is(builds($par, 'CNT'), 1, 'one shared bitmap built for one leaf, by one participant');
is(builds($par, 'CNTP'), 0, 'partitions in time order: sliced, no shared bitmap');
is(builds('SET trialmatch.max_parallel_workers = 0;', 'CNT'), 0, 'none in a serial call');
# a code no row has: an empty bitmap, shared all the same
$node->safe_psql('postgres', q{INSERT INTO trialmatch.trials (trial_id) VALUES ('NONE');
  INSERT INTO trialmatch.criteria VALUES ('NONE', 1, 'inclusion', 'L99', $$qlab 'L99' within 450 days count >= 1$$);});
is(builds($par, 'NONE'), 1, 'an empty bitmap is built and shared too');
is($node->safe_psql('postgres', $par . q{SELECT count(*), string_agg(DISTINCT status::text, ' ')
                                           FROM trialmatch.match_patients('NONE', '2026-06-01')}),
	'3000|ineligible', 'and every patient lacks the code');
for my $w (1, 2)
{
	my $set = "SET min_parallel_table_scan_size = 0; SET trialmatch.max_parallel_workers = $w;";
	is($node->safe_psql('postgres', $set . rows_of('CNT')), $cnt, "counts with $w worker(s) = serial counts");
	is($node->safe_psql('postgres', $set . rows_of('NARROW')), $serial, "rows with $w worker(s) = serial rows");
	# 64 kB of bitmap: lossy pages, every row of them checked against the ranges
	is($node->safe_psql('postgres', "SET work_mem = '64kB'; " . $set . rows_of('CNT')), $cnt,
		"a lossy bitmap with $w worker(s): the same counts");
}
is($node->safe_psql('postgres', "SET work_mem = '64kB'; SET trialmatch.max_parallel_workers = 0; " . rows_of('CNT')),
	$cnt, 'a lossy bitmap, serial: the same counts');
# ranges are read as sorted TIDs when they fit in work_mem (24 bytes each),
# else as a bitmap (src/read.c, tm_units_pages)
sub how_read
{
	my ($settings, $trial) = @_;
	my ($ret, $out, $err) = $node->psql('postgres',
		"SET client_min_messages = debug2; SET trialmatch.max_parallel_workers = 0; $settings\n"
		  . "SELECT count(*) FROM trialmatch.match_patients('$trial', '2026-06-01');");
	my ($line) = grep { /index ranges 0\.\.0 of source "qlab"/ } split /\n/, $err;
	return $line // '';
}
like(how_read('', 'CNT'), qr/read as sorted TIDs/, 'serial, in work_mem: sorted TIDs');
like(how_read("SET work_mem = '64kB';", 'CNT'), qr/read as a bitmap/, 'serial, beyond work_mem: a bitmap');
# the blocks the ranges visit, estimated, count towards the workers as a
# whole table's pages do, from 15 x min_parallel_table_scan_size (a
# worker's start) plus forty blocks per block of state (src/parallel.c)
my $blocks = $node->safe_psql('postgres', q{SELECT pg_relation_size('q_lab') / 8192});
like(report("SET min_parallel_table_scan_size = '@{[ int($blocks * 8 / 10) ]}kB'; SET trialmatch.max_parallel_workers = 2;", 'CNT'),
	qr/0 of 0 parallel workers launched.*qlab: 1 index ranges;/,
	'ranges on fewer blocks than 15 x min_parallel_table_scan_size: serial');
like(report("SET min_parallel_table_scan_size = '@{[ int($blocks * 8 / 30) ]}kB'; SET trialmatch.max_parallel_workers = 2;", 'CNT'),
	qr/1 of 1 parallel workers launched.*qlab: 1 index ranges \(blocks shared\)/, 'on more: a worker');

# match_all reads the union of its trials' codes: index ranges when every
# atom of the source is narrow, the whole table when one is wide
$r = report_all('SET trialmatch.max_parallel_workers = 0;', q{'{NARROW,NARROW2}'});
like($r, qr/2 trials: .*qlab: 2 index ranges/, 'match_all: two narrow trials read two index ranges');
$r = report_all('SET min_parallel_table_scan_size = 0; SET trialmatch.max_parallel_workers = 2;',
	q{'{NARROW,WIDE,NARROW2}'});
like($r, qr/3 trials: .*[12] of 2 parallel workers launched.*qlab: whole table/,
	'match_all: one wide trial among narrow ones reads the table whole, with workers');

# ---------------------------------------------------------------------
# BRIN on the time column (src/indexpath.c, choose_brin): a table no btree
# serves, stored in time order, whose windows hold a small share of it, is
# read through the blocks its BRIN index finds.  The same trials on q_lab
# (the same rows, read whole or by index ranges) give the expected rows.
# ---------------------------------------------------------------------
$node->safe_psql('postgres', q{
  CREATE TABLE q_lab_b AS SELECT * FROM q_lab ORDER BY t;
  CREATE INDEX q_lab_b_brin ON q_lab_b USING brin (t) WITH (pages_per_range = 4);
  ANALYZE q_lab_b;
  SELECT trialmatch.add_source('qlabb', 'q_lab_b', time_column => 't', value_column => 'v', unit_column => 'u');
  -- the same rows in q_lab's order (uncorrelated), with the same BRIN index
  CREATE TABLE q_lab_u AS SELECT * FROM q_lab;
  CREATE INDEX ON q_lab_u USING brin (t) WITH (pages_per_range = 4);
  ANALYZE q_lab_u;
  SELECT trialmatch.add_source('qlabu', 'q_lab_u', time_column => 't', value_column => 'v', unit_column => 'u');
  INSERT INTO trialmatch.trials (trial_id) VALUES ('BR'), ('BRWIDE'), ('BREVER'), ('BRMIX'), ('BRTIMED');
  INSERT INTO trialmatch.criteria VALUES
    ('BR', 1, 'inclusion', 'L7 recent', $$qlab 'L7' within 120 days count >= 1$$),
    ('BR', 2, 'exclusion', 'L1x high', $$qlab 'L1%' within 30 days any > 19$$),
    ('BR', 3, 'inclusion', 'mean', $$qlab within 60 days avg > 9.8 or qlab 'L3' within 45 days last < 5$$),
    -- a row read twice turns one L7 into two
    ('BR', 4, 'exclusion', 'L7 twice', $$qlab 'L7' within 120 days count >= 2$$),
    ('BRWIDE', 1, 'inclusion', 'L7 often', $$qlab 'L7' within 450 days count >= 3$$),
    ('BREVER', 1, 'inclusion', 'L7 ever', $$qlab 'L7' count >= 30$$),
    ('BREVER', 2, 'inclusion', 'L7 recent', $$qlab 'L7' within 30 days count >= 1$$),
    -- a whole scan of another source starts workers; the BRIN read is one participant's
    ('BRMIX', 1, 'inclusion', 'wide', $$qlabu 'L1%' within 2 years any >= 19.5$$),
    ('BRMIX', 2, 'inclusion', 'L7 often', $$qlab 'L7' within 90 days count >= 2$$),
    ('BRTIMED', 1, 'inclusion', 'after', $$qlab 'L2' up to 3 days after qlab 'L3' within 60 days$$),
    ('BRTIMED', 2, 'exclusion', 'not followed', $$qlab 'L4' within 60 days not followed by qlab 'L5'$$);
  -- each trial again, on q_lab_b (and BR on q_lab_u)
  INSERT INTO trialmatch.trials (trial_id) SELECT trial_id || '_B' FROM trialmatch.trials WHERE trial_id LIKE 'BR%';
  INSERT INTO trialmatch.criteria (trial_id, position, kind, label, expr)
    SELECT trial_id || '_B', position, kind, label, replace(expr, 'qlab ', 'qlabb ')
      FROM trialmatch.criteria WHERE trial_id LIKE 'BR%' AND trial_id NOT LIKE '%\_B';
  INSERT INTO trialmatch.trials (trial_id) VALUES ('BR_U');
  INSERT INTO trialmatch.criteria (trial_id, position, kind, label, expr)
    SELECT 'BR_U', position, kind, label, replace(expr, 'qlab ', 'qlabu ')
      FROM trialmatch.criteria WHERE trial_id = 'BR';
});
is($node->safe_psql('postgres', q{SELECT round(correlation::numeric, 1) FROM pg_stats
                                    WHERE tablename IN ('q_lab_b', 'q_lab_u') AND attname = 't' ORDER BY tablename}),
	"1.0\n0.0", 'time correlation: full in q_lab_b, none in q_lab_u');
my $ser = 'SET trialmatch.max_parallel_workers = 0;';
$r = report($ser, 'BR_B');
like($r, qr/qlabb: BRIN block ranges/, 'windows of 30-90 days on a time-ordered table: its BRIN index');
like(report($par, 'BR_B'), qr/qlabb: BRIN block ranges/, 'also when workers are allowed');
like(report($ser, 'BR_U'), qr/qlabu: whole table/, 'the same BRIN index on a table not in time order: whole');
like(report($ser, 'BRWIDE_B'), qr/qlabb: whole table/, 'a window of 450 of 700 days (64%): whole');
like(report($ser, 'BREVER_B'), qr/qlabb: whole table/, 'one criterion without a window: whole');
$r = report($par, 'BRMIX_B');
like($r, qr/[12] of [12] parallel workers launched.*qlabu: whole table.*qlabb: BRIN block ranges/,
	'beside a whole scan with a worker');
for my $t (qw(BR BRWIDE BREVER BRMIX BRTIMED))
{
	my $want = $node->safe_psql('postgres', $ser . rows_of($t));
	is($node->safe_psql('postgres', $ser . rows_of("${t}_B")), $want, "$t: serial rows on q_lab_b = on q_lab");
	is($node->safe_psql('postgres', $par . rows_of("${t}_B")), $want, "$t: parallel rows on q_lab_b = on q_lab");
}
is($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT status::text, ' ' ORDER BY status::text)
                                    FROM trialmatch.match_patients('BR_B', '2026-06-01')}),
	'eligible indeterminate ineligible', 'BR has mixed answers');
my $timed = report($ser, 'BRTIMED_B');
ok($timed =~ /qlabb: (BRIN block ranges|whole table)/, "BRTIMED on q_lab_b read: $1");
# a table partitioned by time with BRIN indexes only: each partition is
# decided alone (the recent one is all inside the windows: whole; the older
# one mostly outside: BRIN), and the rows are the same
$node->safe_psql('postgres', q{
  CREATE TABLE q_lab_pb (LIKE q_lab) PARTITION BY RANGE (t);
  CREATE TABLE q_lab_pb1 PARTITION OF q_lab_pb FOR VALUES FROM (MINVALUE) TO ('2026-03-01');
  CREATE TABLE q_lab_pb2 PARTITION OF q_lab_pb FOR VALUES FROM ('2026-03-01') TO (MAXVALUE);
  INSERT INTO q_lab_pb SELECT * FROM q_lab ORDER BY t;
  CREATE INDEX ON q_lab_pb USING brin (t) WITH (pages_per_range = 4);
  ANALYZE q_lab_pb;
  SELECT trialmatch.add_source('qlabpb', 'q_lab_pb', time_column => 't', value_column => 'v', unit_column => 'u');
  INSERT INTO trialmatch.trials (trial_id) VALUES ('BR_PB');
  INSERT INTO trialmatch.criteria (trial_id, position, kind, label, expr)
    SELECT 'BR_PB', position, kind, label, replace(expr, 'qlab ', 'qlabpb ')
      FROM trialmatch.criteria WHERE trial_id = 'BR';
});
like(report($ser, 'BR_PB'), qr/qlabpb: BRIN block ranges and whole tables \(2 of 2 partitions\)/,
	'partitioned by time: the older partition through BRIN, the recent one whole');
is($node->safe_psql('postgres', $ser . rows_of('BR_PB')), $node->safe_psql('postgres', $ser . rows_of('BR')),
	'the same rows (serial)');
is($node->safe_psql('postgres', $par . rows_of('BR_PB')), $node->safe_psql('postgres', $ser . rows_of('BR')),
	'the same rows (workers)');
# match_all reads the union of the windows
$r = report_all($ser, q{'{BR_B}'});
like($r, qr/1 trials: .*qlabb: BRIN block ranges/, 'match_all of BR: BRIN');
$r = report_all($ser, q{'{BR_B,BRWIDE_B}'});
like($r, qr/2 trials: .*qlabb: whole table/, 'match_all with a 450-day window too: whole');
# rows added since the index was summarized sit in block ranges not yet
# summarized, which the index always returns: they are read
my $before = $node->safe_psql('postgres', $ser . rows_of('BR'));
$node->safe_psql('postgres', q{
  INSERT INTO q_lab SELECT p, 'L7', timestamptz '2026-05-30', 1, 'mg/dL' FROM generate_series(1, 3000, 7) p;
  INSERT INTO q_lab_b SELECT p, 'L7', timestamptz '2026-05-30', 1, 'mg/dL' FROM generate_series(1, 3000, 7) p;
});
my $after = $node->safe_psql('postgres', $ser . rows_of('BR'));
isnt($after, $before, 'the new rows change BR');
like(report($ser, 'BR_B'), qr/qlabb: BRIN block ranges/, 'still BRIN');
is($node->safe_psql('postgres', $ser . rows_of('BR_B')), $after, 'rows not yet summarized are read (serial)');
is($node->safe_psql('postgres', $par . rows_of('BR_B')), $after, 'and with workers');
# the time column second in a multi-column BRIN index
$node->safe_psql('postgres', q{DROP INDEX q_lab_b_brin;
                               CREATE INDEX q_lab_b_brin2 ON q_lab_b USING brin (v, t) WITH (pages_per_range = 4)});
like(report($ser, 'BR_B'), qr/qlabb: BRIN block ranges/, 'the time column second in the BRIN index');
is($node->safe_psql('postgres', $ser . rows_of('BR_B')), $after, 'the same rows');
# bloom summaries cannot bound a range: whole
$node->safe_psql('postgres', q{DROP INDEX q_lab_b_brin2;
                               CREATE INDEX q_lab_b_bloom ON q_lab_b USING brin (t timestamptz_bloom_ops)});
like(report($ser, 'BR_B'), qr/qlabb: whole table/, 'a bloom BRIN index: whole');
# the scan keys go on the minmax column, not on the bloom one before it
$node->safe_psql('postgres', q{DROP INDEX q_lab_b_bloom;
                               CREATE INDEX q_lab_b_two ON q_lab_b USING brin (t timestamptz_bloom_ops, t timestamptz_minmax_ops)});
like(report($ser, 'BR_B'), qr/qlabb: BRIN block ranges/, 'bloom then minmax on the time column: BRIN');
is($node->safe_psql('postgres', $ser . rows_of('BR_B')), $after, 'the same rows');
is($node->safe_psql('postgres', $par . rows_of('BR_B')), $after, 'and with workers');
$node->safe_psql('postgres', q{DROP INDEX q_lab_b_two});

# ---------------------------------------------------------------------
# 1.1 time (issue 10): the event times of relations, days and active for
# are sorted once per call; workers hand theirs to the leader exactly.
# ---------------------------------------------------------------------
$node->safe_psql('postgres', q{
  INSERT INTO trialmatch.trials (trial_id) VALUES ('TIMED');
  INSERT INTO trialmatch.criteria VALUES
    ('TIMED', 1, 'inclusion', 'days', $$qlab 'L1%' within 2 years days >= 30$$),
    ('TIMED', 2, 'inclusion', 'after', $$qlab 'L2' up to 3 days after qlab 'L3' within 1 year$$),
    ('TIMED', 3, 'exclusion', 'not followed', $$qlab 'L4' within 90 days not followed by qlab 'L5'$$);
});
sub timed_run
{
	my ($settings) = @_;
	my ($ret, $out, $err) = $node->psql('postgres',
		"SET client_min_messages = debug1; $settings\n"
		  . "SELECT status, count(*) FROM trialmatch.match_patients('TIMED', '2026-06-01') GROUP BY 1 ORDER BY 1;");
	is($ret, 0, "TIMED with: $settings");
	my ($launch) = grep { /trialmatch: trial "TIMED"/ } split /\n/, $err;
	my ($sort) = grep { /event times of \d+ timed criteria sorted/ } split /\n/, $err;
	return ($out, $launch // '', $sort // '');
}
my ($t0, $l0, $s0) = timed_run("SET work_mem = '64MB'; SET trialmatch.max_parallel_workers = 0;");
my ($t2, $l2, $s2) = timed_run("SET work_mem = '64MB'; SET min_parallel_table_scan_size = 0; SET trialmatch.max_parallel_workers = 2;");
like($l2, qr/[12] of 2 parallel workers launched/, 'time constructs: workers launched');
is($t2, $t0, 'time constructs: the same answers with workers as without');
like($s0, qr/sorted, Memory: \d+ kB/, 'the sort of event times is reported (in memory)');
my ($s2n) = $s2 =~ /^.*?(\d+) event times/;
my ($s0n) = $s0 =~ /^.*?(\d+) event times/;
is($s2n, $s0n, 'the leader sorts every event time, its workers\' included');
my ($tl, $ll, $sl) = timed_run("SET work_mem = '64kB'; SET min_parallel_table_scan_size = 0; SET trialmatch.max_parallel_workers = 2;");
is($tl, $t0, 'with work_mem at its minimum too');
like($sl, qr/sorted, Disk: \d+ kB/, 'and then the sort spills to disk');

$node->stop;
done_testing();
