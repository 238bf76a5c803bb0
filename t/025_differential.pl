# Differential test: trialmatch against an SQL oracle.
#
# A random but reproducible population (patients with NULL, leap-day and
# birthday-on-as_of birth dates; a lab table with NULL/NaN values, NULL and
# convertible units, ties and duplicates; a diagnosis table with a date
# column; a medication table with timestamp spans, NULL end = ongoing;
# events after as_of and exactly on window edges) and random trials of 10-25
# criteria written in the whole criteria language 1.0 (SPEC section 4).
#
# Every criterion is also translated into a plain SQL expression of
# three-valued logic over the same tables, following SPEC section 4 and the
# README's decisions to the letter (the oracle); status, failed[],
# unknown[] and the attrition funnel are derived from the oracle's
# per-criterion answers in SQL.  trialmatch's match_patients, attrition,
# match_trials (a sample of patients) and explain_match's result column
# (the sample) must return exactly the same rows, compared in both
# directions with duplicates counted, under trialmatch.max_parallel_workers
# = 0 and = 2 (min_parallel_table_scan_size = 0), without indexes and with
# indexes on (code, time) and (patient) after ANALYZE, partitioned by
# quarter, and stored in time order with only BRIN indexes on the time
# columns (match_patients and attrition there).  A mismatch prints the
# trial, criterion, patient, both answers and a self-contained reproduction
# (also written to tmp_check/log/025_differential_repro.sql).
#
# Environment:
#   TRIALMATCH_DIFF_SEED      random seed (default 20260615)
#   TRIALMATCH_DIFF_TRIALS    number of trials (default 30)
#   TRIALMATCH_DIFF_PATIENTS  number of patients (default 1200)
#   TRIALMATCH_DIFF_SAMPLE    patients for match_trials/explain_match (default 12)
#   TRIALMATCH_DIFF_TZ        session time zone (default: chosen by the seed)
#   TRIALMATCH_DIFF_AVG=0     replace every avg measure by max (same trials
#                             otherwise), while the avg fix is not merged
# Another seed, from the top of a tree copy owned by postgres:
#   TRIALMATCH_DIFF_SEED=$RANDOM make installcheck REGRESS= ISOLATION= \
#     PROVE_TESTS=t/025_differential.pl
#
# Exactness: values are numeric with 1-2 decimals, which trialmatch reads as
# double; distinct such values stay distinct and ordered as doubles, so
# comparisons agree.  unit_conversions.factor and "offset" are double
# precision; the convertible (code, unit) pairs hold multiples of 0.25 and
# the factors/offsets are binary-exact, so value * factor + offset is exact
# in both double and numeric arithmetic and avg over converted values is
# well defined (the oracle uses numeric, as avg(numeric) would).
use strict;
use warnings;
use utf8;
use Time::HiRes qw(time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $t_start = time;
my $seed = $ENV{TRIALMATCH_DIFF_SEED} // 20260615;
my $ntrials = $ENV{TRIALMATCH_DIFF_TRIALS} // 30;
my $npat = $ENV{TRIALMATCH_DIFF_PATIENTS} // 1200;
my $nsample = $ENV{TRIALMATCH_DIFF_SAMPLE} // 12;
my $with_avg = $ENV{TRIALMATCH_DIFF_AVG} // 1;
srand($seed);
my @zones = ('Europe/Berlin', 'America/New_York', 'UTC', 'Australia/Lord_Howe', 'Asia/Kolkata');
my $tz = $ENV{TRIALMATCH_DIFF_TZ} // $zones[ $seed % @zones ];
diag("differential: seed $seed, $ntrials trials, $npat patients, time zone $tz"
	  . ($with_avg ? '' : ', avg replaced by max (TRIALMATCH_DIFF_AVG=0)'));

# ---------------------------------------------------------------- helpers

sub rint { return int(rand($_[0])); }
sub pick { return $_[ rint(scalar @_) ]; }
sub chance { return rand() < $_[0]; }

# pick from [item, weight] pairs
sub wpick
{
	my $total = 0;
	$total += $_->[1] for @_;
	my $r = rand($total);
	for (@_)
	{
		return $_->[0] if ($r -= $_->[1]) < 0;
	}
	return $_[-1][0];
}

# an SQL (and criteria language) string literal, or NULL
sub lit
{
	my ($s) = @_;
	return 'NULL' unless defined $s;
	$s =~ s/'/''/g;
	return "'$s'";
}

# a keyword in random case
sub kw
{
	my ($w) = @_;
	my $r = rand();
	return $r < 0.6 ? lc $w : $r < 0.85 ? uc $w : ucfirst lc $w;
}

sub shuffle
{
	my @a = @_;
	for (my $i = $#a; $i > 0; $i--)
	{
		my $j = rint($i + 1);
		@a[ $i, $j ] = @a[ $j, $i ];
	}
	return @a;
}

# ---------------------------------------------------------------- the data

# Screening times (local times in the session time zone): a midnight (date
# edges are exact), the last microsecond of a 28 February (leap-day
# birthdays), a leap day, a month end with fractional seconds.
my @anchors = ('2026-03-29 00:00:00', '2027-02-28 23:59:59.999999', '2028-02-29 12:00:00',
	'2026-10-31 10:15:30.25');
sub anc { return "'$anchors[$_[0]]'::timestamptz"; }

my @wunits = ('hour', 'day', 'week', 'month', 'year');
my %wmenu = (
	hour => [ 1, 6, 12, 24, 36, 48, 72, 100, 720 ],
	day => [ 1, 2, 7, 14, 30, 31, 60, 90, 180, 365, 366, 730 ],
	week => [ 1, 2, 4, 8, 12, 26, 52 ],
	month => [ 1, 2, 3, 6, 12, 18, 24 ],
	year => [ 1, 2, 3, 5 ]);
my @nudges = ('', '', '', '', " - interval '1 microsecond'", " + interval '1 microsecond'",
	" + interval '1 day'", " - interval '1 day'", " - interval '1 hour'", " + interval '1 hour'");

# an event time: random in the four years before an anchor, recent, exactly
# on a window edge (or a microsecond/hour/day off it), at the anchor, after it
sub time_expr
{
	my $a = anc(rint(scalar @anchors));
	my $r = rand();
	return "($a - interval '" . rint(4 * 366 * 86400) . " seconds'"
	  . (chance(0.3) ? " - interval '" . rint(1_000_000) . " microseconds'" : '') . ')'
	  if $r < 0.40;
	return "($a - interval '" . rint(100 * 86400) . " seconds')" if $r < 0.55;
	if ($r < 0.88)
	{
		my $u = pick(@wunits);
		my $n = pick(@{ $wmenu{$u} });
		return "($a - interval '$n ${u}s'" . pick(@nudges) . ')';
	}
	return "($a" . pick('', '', " + interval '1 microsecond'", " - interval '1 microsecond'") . ')'
	  if $r < 0.94;
	return "($a + interval '" . (1 + rint(90 * 86400)) . " seconds')";
}

# patients: ids with gaps, sometimes a few huge ones (int8 only)
my @pids;
{
	my $id = 0;
	for (1 .. $npat)
	{
		$id += chance(0.85) ? 1 : 2 + rint(3);
		push @pids, $id;
	}
	if (chance(0.5))
	{
		push @pids, 5_000_000_000 + $_ * 7919 for 1 .. 5;
	}
}
my @pat_rows;
for my $id (@pids)
{
	my $r = rand();
	my $birth;
	if ($r < 0.04) { $birth = 'NULL'; }
	elsif ($r < 0.16)
	{
		# a birthday on (or a day off) an as_of date
		my $y = pick(0, 1, 17, 18, 40, 64, 65, 75);
		my $d = pick(0, 0, -1, 1);
		$birth = '(' . anc(rint(scalar @anchors)) . "::date - interval '$y years' + interval '$d days')::date";
	}
	elsif ($r < 0.21) { $birth = "'" . pick(1960, 1980, 2000, 2008, 2024, 2028) . "-02-29'::date"; }
	elsif ($r < 0.23) { $birth = "'" . pick('2026-06-01', '2027-03-01', '2028-03-01', '2029-01-01') . "'::date"; }
	else { $birth = "(date '1926-01-01' + " . rint(100 * 365) . ')'; }
	my $sex = wpick([ 'F', 45 ], [ 'M', 40 ], [ undef, 8 ], [ 'X', 3 ], [ 'f', 2 ], [ 'U', 2 ]);
	push @pat_rows, "($id, $birth, " . lit($sex) . ')';
}
push @pat_rows, "(NULL, '1970-01-01', 'F')";    # a NULL id is not screened

# patients with events (5% have none); a few events belong to a NULL or an
# unknown patient
my @active = grep { !chance(0.05) } @pids;
sub pick_pid
{
	my ($int4) = @_;
	my $r = rand();
	return 'NULL' if $r < 0.01;
	return 2_000_000_000 if $r < 0.02;
	while (1)
	{
		my $p = $active[ int(rand()**1.5 * @active) ];
		return $p unless $int4 && $p > 2_000_000_000;
	}
}

my @lab_codes = ([ 'L1', 12 ], [ 'L12', 8 ], [ 'L123', 4 ], [ 'L2', 10 ], [ 'L21', 5 ], [ 'L_1', 4 ],
	[ 'l1', 3 ], [ 'GLU', 12 ], [ 'HB', 8 ], [ 'X9', 2 ]);
my @lab_units = ([ 'mg/dL', 45 ], [ 'mmol/L', 15 ], [ '%', 15 ], [ undef, 15 ], [ 'mg/dl', 6 ], [ 'g/L', 4 ]);
# (code, from, to, factor, offset): binary-exact factors and offsets
my @conversions = ([ 'GLU', 'mmol/L', 'mg/dL', 4, -1.5 ], [ 'L12', '%', 'mg/dL', 0.5, 2 ],
	[ 'L1', 'mmol/L', 'mg/dL', 8, 0 ], [ 'HB', 'mg/dL', 'g/L', 0.25, 0 ]);
my %quarter = map { ("$_->[0]\0$_->[1]" => 1) } @conversions;
my @vmenu = qw(0 0.1 0.15 0.2 0.25 1.1 2.2 3.3 5 5.25 6.5 7 7.5 8.25 10 12.5);
my %avg_codes = (L123 => 1, X9 => 1);
my @avg_values = qw(0.1 0.2 0.3 1.1 2.2 3.3);
my @avg_tests = qw(0.1 0.15 0.2 0.25 0.3 1.1 1.65 2.2 2.75 3.3 0.2 0.15 2.2);

sub value_sql
{
	my ($code, $unit) = @_;
	my $r = rand();
	return 'NULL' if $r < 0.06;
	return "'NaN'" if $r < 0.07;
	my $sign = chance(0.03) ? '-' : '';
	return $sign . rint(61) / 4 if $quarter{ ($code // '') . "\0" . ($unit // '') };
	# averages of these are exact in numeric, not in double (0.1 + 0.2, 1.1 + 2.2 + 3.3)
	return pick(@avg_values) if defined $code && $avg_codes{$code} && $r < 0.85;
	return $sign . pick(@vmenu) if $r < 0.5;
	return $sign . (chance(0.5) ? rint(2001) / 100 : rint(201) / 10);
}

my $nlab = $npat * 14 > 11000 ? $npat * 14 : 11000;
my @lab_rows;
while (@lab_rows < $nlab)
{
	my $p = pick_pid(0);
	my $code = chance(0.01) ? undef : wpick(@lab_codes);
	my $unit = wpick(@lab_units);
	my $time = chance(0.008) ? 'NULL' : time_expr();
	push @lab_rows, "($p, " . lit($code) . ", $time, " . value_sql($code, $unit) . ', ' . lit($unit) . ')';
	# a tie: same time, another value (sometimes another unit)
	if (chance(0.12))
	{
		my $u2 = chance(0.5) ? $unit : wpick(@lab_units);
		push @lab_rows, "($p, " . lit($code) . ", $time, " . value_sql($code, $u2) . ', ' . lit($u2) . ')';
	}
	push @lab_rows, $lab_rows[-1] if chance(0.03);    # a duplicate row
}
# HBA: short series of values whose average is exact in numeric but not in
# double (0.1 and 0.2 average to 0.15, 1.1, 2.2 and 3.3 to 2.2), a few days
# before an anchor
for my $p (@active)
{
	next unless chance(0.3);
	for my $k (0 .. $#anchors)
	{
		next unless chance(0.5);
		my @v = chance(0.5) ? (0.1, 0.2) : chance(0.5) ? (1.1, 2.2, 3.3) : map { pick(@avg_values) } 1 .. 2 + rint(3);
		my $day = rint(10);
		for my $v (@v)
		{
			my $t = chance(0.3) ? "'$day days'" : "'$day days " . rint(86400) . " seconds'";
			push @lab_rows, "($p, 'HBA', (" . anc($k) . " - interval $t), $v, " . lit(wpick([ 'mg/dL', 80 ], [ '%', 10 ], [ undef, 10 ])) . ')';
		}
	}
}

my @dx_codes = ([ 'E11', 10 ], [ 'E11.9', 10 ], [ 'E119', 5 ], [ 'E1', 3 ], [ 'I10', 15 ], [ 'I21.0', 6 ],
	[ 'I21%', 2 ], [ 'C50_1', 4 ], [ 'C5001', 2 ], [ 'Z99', 5 ], [ 'e11', 2 ]);
my $ndx = $npat * 9 > 10500 ? $npat * 9 : 10500;
my @dx_rows;
while (@dx_rows < $ndx)
{
	my $p = pick_pid(1);
	my $code = chance(0.01) ? undef : wpick(@dx_codes);
	my $time = chance(0.008) ? 'NULL' : time_expr() . '::date';
	push @dx_rows, "($p, " . lit($code) . ", $time)";
	push @dx_rows, $dx_rows[-1] if chance(0.03);
}

my @med_codes = ([ 'insulin glargine', 10 ], [ 'insulin lispro', 8 ], [ 'Insulin X', 3 ], [ 'metformin', 15 ],
	[ 'warfarin', 3 ], [ "st john's wort", 2 ], [ 'aspirin', 10 ]);
my $nmed = $npat * 9 > 10300 ? $npat * 9 : 10300;
my @med_rows;
while (@med_rows < $nmed)
{
	my $p = pick_pid(0);
	my $code = chance(0.01) ? undef : wpick(@med_codes);
	my $start = chance(0.008) ? 'NULL' : time_expr();
	my $r = rand();
	my $end;
	if ($r < 0.30) { $end = 'NULL'; }
	elsif ($r < 0.55 && $start ne 'NULL') { $end = "$start + interval '" . rint(2 * 366 * 86400) . " seconds'"; }
	elsif ($r < 0.75)
	{
		my $u = pick(@wunits);
		$end = '(' . anc(rint(scalar @anchors)) . " - interval '" . pick(@{ $wmenu{$u} }) . " ${u}s'" . pick(@nudges) . ')';
	}
	elsif ($r < 0.85) { $end = '(' . anc(rint(scalar @anchors)) . pick('', '', " - interval '1 microsecond'", " + interval '1 microsecond'") . ')'; }
	else { $end = time_expr(); }
	push @med_rows, "($p, " . lit($code) . ", ($start)::timestamp, ($end)::timestamp)";
	push @med_rows, $med_rows[-1] if chance(0.03);
}

# ---------------------------------------------------------------- the trials

my %sources = (
	lab => { table => 'd_lab', code => 'code', t => 'taken_at', value => 1 },
	diagnosis => { table => 'd_dx', code => 'code', t => 'diagnosed_on' },
	medication => { table => 'd_med', code => 'drug', t => 'started_at', end => 'ended_at' });
my %crit_codes = (
	lab => {
		exact => [qw(L1 L12 L123 L2 L21 L_1 l1 GLU HB HBA X9 L3)],
		prefix => [ 'L1%', 'L%', 'L_%', 'HB%', '%', 'G%', 'l%', 'L12%' ]
	},
	diagnosis => {
		exact => [ 'E11', 'E11.9', 'E119', 'E1', 'I10', 'I21.0', 'C50_1', 'C5001', 'Z99', 'e11' ],
		prefix => [ 'E11%', 'E1%', 'I21%', 'I%', 'C50_%', '%', 'Z%', 'E11.%' ]
	},
	medication => {
		exact => [ 'insulin glargine', 'insulin lispro', 'metformin', 'warfarin', 'Insulin X', "st john's wort", 'aspirin' ],
		prefix => [ 'insulin%', 'Insulin%', 'met%', '%', "st john's%", 'a%' ]
	});
my @target_units = ([ 'mg/dL', 70 ], [ 'g/L', 10 ], [ '%', 8 ], [ 'mmol/L', 8 ], [ 'mg/dl', 4 ]);

# a test: (text, sql-of-a-value)
sub gen_test
{
	my ($kind) = @_;
	my $num = sub {
		return pick(0, 0, 1, 1, 2, 3, 4) if $kind eq 'count';
		return pick(@avg_tests) if $kind eq 'avg' && chance(0.7);
		return pick(-1, 0, 1, 17, 18, 18.5, 40, 64, 65, 75, 100) if $kind eq 'age';
		return chance(0.6) ? pick(@vmenu) : chance(0.5) ? rint(2001) / 100 : rint(201) / 10;
	};
	if (chance($kind eq 'count' ? 0.1 : 0.2))
	{
		my ($a, $b) = ($num->(), $num->());
		($a, $b) = ($b, $a) if $a > $b && chance(0.85);
		return { text => kw('between') . " $a " . kw('and') . " $b", sql => sub { "($_[0] BETWEEN $a AND $b)" } };
	}
	my $op = pick('<', '<=', '=', '<>', '>=', '>');
	my $n = $num->();
	my $ntext = $n;
	$ntext = "${n}e0" if chance(0.03) && $n !~ /e/;
	my $tx = $op eq '<>' && chance(0.2) ? '!=' : $op;
	return { text => "$tx $ntext", sql => sub { "($_[0] $op $n)" } };
}

sub gen_codes
{
	my ($src, $narrow, $max) = @_;
	my $n = chance(0.3) ? 1 + rint($max) : 1;
	my @c;
	for (1 .. $n)
	{
		push @c, ($narrow || chance(0.6)) ? pick(@{ $crit_codes{$src}{exact} }) : pick(@{ $crit_codes{$src}{prefix} });
	}
	return \@c;
}

sub codes_text
{
	my ($c) = @_;
	return lit($c->[0]) if @$c == 1 && !chance(0.2);
	return '(' . join(', ', map { lit($_) } @$c) . ')';
}

sub codes_sql
{
	my ($col, $c) = @_;
	return '(' . join(' OR ', map {
		/^(.*)%$/s ? "starts_with(${col}::text, " . lit($1) . ')' : "$col = " . lit($_)
	} @$c) . ')';
}

my %measure_count;

sub gen_event
{
	my ($narrow) = @_;
	my $src = $narrow ? wpick([ 'lab', 6 ], [ 'diagnosis', 4 ]) : wpick([ 'lab', 5 ], [ 'diagnosis', 3 ], [ 'medication', 3 ]);
	my $ev = { type => 'event', src => $src, codes => gen_codes($src, $narrow, 3) };
	$ev->{except} = gen_codes($src, 0, 2) if chance(0.15);
	if ($narrow)
	{
		my $u = pick('hour', 'day', 'week');
		$ev->{window} = [ $u eq 'hour' ? pick(1, 6, 24, 48, 72, 720) : $u eq 'day' ? pick(1, 7, 14, 30, 31, 60, 90) : pick(1, 2, 4, 8, 12), $u ];
	}
	elsif (chance(0.7))
	{
		my $u = pick(@wunits);
		$ev->{window} = [ chance(0.1) ? 1 + rint(1000) : pick(@{ $wmenu{$u} }), $u ];
		time_window_kind($ev) if chance(0.25);    # 1.1: between/over ... ago (appended below)
	}
	my $m;
	if ($src eq 'lab')
	{
		$m = wpick([ 'exists', 12 ], [ 'count', 10 ], [ 'countwhere', 10 ], [ 'last', 14 ], [ 'first', 10 ],
			[ 'min', 8 ], [ 'max', 8 ], [ 'avg', 12 ], [ 'any', 12 ]);
		$m = 'max' if $m eq 'avg' && !$with_avg;
	}
	elsif ($src eq 'diagnosis') { $m = wpick([ 'exists', 6 ], [ 'count', 4 ]); }
	else { $m = $narrow ? wpick([ 'exists', 4 ], [ 'count', 3 ]) : wpick([ 'exists', 4 ], [ 'count', 3 ], [ 'active', 3 ]); }
	$ev->{measure} = $m;
	$measure_count{$m}++;
	if ($m eq 'count') { $ev->{test} = gen_test('count'); }
	elsif ($m eq 'countwhere') { $ev->{where} = gen_test('value'); $ev->{test} = gen_test('count'); }
	elsif ($m ne 'exists' && $m ne 'active')
	{
		if ($m eq 'avg' && chance(0.5))
		{
			$ev->{codes} = [ pick('HBA', 'HBA', 'HB%', sort keys %avg_codes) ];
			$ev->{window} = [ pick(10, 14, 30), 'day' ] if $narrow || chance(0.6);
		}
		$ev->{test} = gen_test($m eq 'avg' ? 'avg' : 'value');
		$ev->{unit} = wpick(@target_units) if chance(0.4);
	}
	return $ev;
}

sub gen_expr
{
	my ($depth, $narrow) = @_;
	if ($depth < 3 && chance($depth == 0 ? 0.4 : 0.25))
	{
		return { type => 'not', arg => gen_expr($depth + 1, $narrow) } if chance(0.2);
		return { type => chance(0.5) ? 'and' : 'or', args => [ map { gen_expr($depth + 1, $narrow) } 1 .. 2 + rint(2) ] };
	}
	my $r = rand();
	return { type => 'const', value => pick('TRUE', 'FALSE', 'UNKNOWN') } if $r < 0.05;
	return { type => 'age', test => gen_test('age') } if $r < 0.15;
	if ($r < 0.22)
	{
		return { type => 'sex', eq => pick('F', 'M', 'X', 'f') } if chance(0.5);
		return { type => 'sex', in => [ pick([ 'M', 'X' ], [ 'F', 'f', 'U' ], ['F'], [ 'M', 'F' ]) ] } ;
	}
	return gen_time_node($depth, $narrow) if chance(0.2);    # 1.1 time (appended below)
	return gen_event($narrow);
}

# the criteria language text of a node
sub expr_text
{
	my ($n) = @_;
	my $t = $n->{type};
	return kw($n->{value}) if $t eq 'const';
	return kw('age') . ' ' . $n->{test}{text} if $t eq 'age';
	if ($t eq 'sex')
	{
		return kw('sex') . ' = ' . lit($n->{eq}) if defined $n->{eq};
		return kw('sex') . ' ' . kw('in') . ' (' . join(', ', map { lit($_) } @{ $n->{in}[0] }) . ')';
	}
	return time_node_text($n) if $t eq 'rel' || $t eq 'atleast';
	if ($t eq 'not')
	{
		my $a = expr_text($n->{arg});
		$a = "($a)" if $n->{arg}{type} =~ /^(and|or)$/ || chance(0.2);
		return kw('not') . " $a";
	}
	if ($t eq 'and' || $t eq 'or')
	{
		my $sep = chance(0.05) ? " -- a comment\n " . kw($t) . ' ' : ' ' . kw($t) . ' ';
		return join($sep, map {
			my $a = expr_text($_);
			($_->{type} =~ /^(and|or)$/ || chance(0.15)) ? "($a)" : $a
		} @{ $n->{args} });
	}
	my $s = kw($n->{src}) . ' ' . codes_text($n->{codes});
	$s .= ' ' . kw('except') . ' ' . codes_text($n->{except}) if $n->{except};
	$s .= window_text($n) if $n->{window};
	my $m = $n->{measure};
	if (my $tm = time_measure_text($n)) { $s .= $tm; }
	elsif ($m eq 'count') { $s .= ' ' . kw('count') . ' ' . $n->{test}{text}; }
	elsif ($m eq 'countwhere')
	{
		$s .= ' ' . kw('count') . ' ' . kw('where') . ' ' . kw('value') . ' ' . $n->{where}{text} . ' ' . $n->{test}{text};
	}
	elsif ($m eq 'active') { $s .= ' ' . kw('active'); }
	elsif ($m ne 'exists')
	{
		$s .= ' ' . kw($m) . ' ' . $n->{test}{text};
		$s .= ' ' . kw('unit') . ' ' . lit($n->{unit}) if defined $n->{unit};
	}
	return $s;
}

# The oracle: the SQL of one event atom, a subquery of (pid, v) grouped by
# patient, and the boolean over its alias.
sub atom_sql
{
	my ($n, $asof, $alias) = @_;
	return time_atom_sql($n, $asof, $alias) if $n->{measure} =~ /^(days|daysw|activefor|new)$/;
	my $s = $sources{ $n->{src} };
	my $code = "e.$s->{code}";
	my $t = "e.$s->{t}::timestamptz";
	# NULL patient, code or time: ignored
	my @w = ('e.patient_id IS NOT NULL', "$code IS NOT NULL", "e.$s->{t} IS NOT NULL", codes_sql($code, $n->{codes}));
	push @w, 'NOT ' . codes_sql($code, $n->{except}) if $n->{except};
	# events after as_of never count
	push @w, "$t <= $asof";
	my $m = $n->{measure};
	if ($m eq 'active')
	{
		# started at or before as_of, no end or ends at or after as_of; the window does not change it
		push @w, "(e.$s->{end} IS NULL OR e.$s->{end}::timestamptz >= $asof)";
	}
	elsif ($n->{window})
	{
		# a span counts when it overlaps the window (NULL end: ongoing)
		push @w, window_sql($n, $asof, $s, $t);
	}
	my $join = '';
	my $val = 'e.value';
	if (defined $n->{unit})
	{
		# unit X as is; other units through a conversion of the event's own
		# code; a NULL unit or no conversion: not usable
		my $u = lit($n->{unit});
		$join = "LEFT JOIN trialmatch.unit_conversions c ON c.code = e.code AND c.from_unit = e.unit AND c.to_unit = $u";
		$val = "CASE WHEN e.unit = $u THEN e.value WHEN c.code IS NOT NULL THEN e.value * c.factor::numeric + c.\"offset\"::numeric END";
	}
	my $usable = "($val IS NOT NULL AND $val <> 'NaN')";
	my ($agg, $outer);
	if ($m eq 'exists' || $m eq 'active') { ($agg, $outer) = ('count(*)', "($alias.v IS NOT NULL)"); }
	elsif ($m eq 'count') { ($agg, $outer) = ('count(*)', $n->{test}{sql}->("coalesce($alias.v, 0)")); }
	elsif ($m eq 'countwhere')
	{
		$agg = "count(*) FILTER (WHERE e.value IS NOT NULL AND e.value <> 'NaN' AND " . $n->{where}{sql}->('e.value') . ')';
		$outer = $n->{test}{sql}->("coalesce($alias.v, 0)");
	}
	elsif ($m eq 'last' || $m eq 'first')
	{
		# latest/earliest usable value; ties: the larger value
		my $dir = $m eq 'last' ? 'DESC' : 'ASC';
		$agg = "(array_agg($val ORDER BY $t $dir, $val DESC) FILTER (WHERE $usable))[1]";
		$outer = $n->{test}{sql}->("$alias.v");
	}
	elsif ($m eq 'any')
	{
		$agg = 'bool_or(' . $n->{test}{sql}->($val) . ") FILTER (WHERE $usable)";
		$outer = "$alias.v";
	}
	else
	{
		$agg = "$m($val) FILTER (WHERE $usable)";
		$outer = $n->{test}{sql}->("$alias.v");
	}
	my $sub = "(SELECT e.patient_id AS pid, $agg AS v FROM $s->{table} e $join WHERE "
	  . join(' AND ', @w) . ' GROUP BY 1)';
	return ($sub, $outer);
}

sub expr_sql
{
	my ($n, $asof, $joins) = @_;
	my $t = $n->{type};
	return $n->{value} eq 'UNKNOWN' ? 'NULL::boolean' : $n->{value} if $t eq 'const';
	# whole years as age() counts them, on the date of as_of in the session time zone
	return $n->{test}{sql}->("date_part('year', age(($asof)::date::timestamp, p.birth_date::timestamp))")
	  if $t eq 'age';
	if ($t eq 'sex')
	{
		return '(p.sex = ' . lit($n->{eq}) . ')' if defined $n->{eq};
		return '(p.sex IN (' . join(', ', map { lit($_) } @{ $n->{in}[0] }) . '))';
	}
	return '(NOT ' . expr_sql($n->{arg}, $asof, $joins) . ')' if $t eq 'not';
	return '(' . join(' ' . uc($t) . ' ', map { expr_sql($_, $asof, $joins) } @{ $n->{args} }) . ')'
	  if $t eq 'and' || $t eq 'or';
	return time_expr_sql($n, $asof, $joins) if $t eq 'rel' || $t eq 'atleast';
	my $alias = 'a' . (@$joins + 1);
	my ($sub, $outer) = atom_sql($n, $asof, $alias);
	push @$joins, "LEFT JOIN $sub $alias ON $alias.pid = p.patient_id";
	return $outer;
}

sub sources_of
{
	my ($n, $acc) = @_;
	$acc->{ $n->{src} } = 1 if $n->{type} eq 'event';
	$acc->{unit} = 1 if $n->{type} eq 'event' && defined $n->{unit};
	sources_of($n->{arg}, $acc) if $n->{arg};
	sources_of($_, $acc) for @{ $n->{args} // [] };
	return $acc;
}

my @words = ('Age', 'HbA1c', 'eGFR', 'no insulin', 'Ålder ≥ 18', 'consent, "written"', "it's ok", 'CKD', 'pregnancy');
my (@trials, %crit);    # %crit{trial}{position} = {kind, label, expr, sql, node}
my $ncrit = 0;
for my $i (1 .. $ntrials)
{
	my $tid = sprintf('DIFF-%02d', $i);
	my $k = rint(scalar @anchors);
	my $narrow = $i % 3 == 0;
	my $status = chance(0.15) ? pick('paused', 'closed') : 'recruiting';
	push @trials, { id => $tid, k => $k, narrow => $narrow, status => $status };
	my $n = 10 + rint(16);
	my $pos = 0;
	for (1 .. $n)
	{
		$pos += chance(0.8) ? 1 : 2 + rint(4);
		my $node = gen_expr(0, $narrow);
		my $text = expr_text($node);
		$text .= ' -- ' . pick('why', 'see protocol §4', "it's") if chance(0.08);
		my @joins;
		my $expr = expr_sql($node, anc($k), \@joins);
		my $sql = "SELECT p.patient_id, ($expr)::boolean AS res FROM d_pat p "
		  . join(' ', @joins) . ' WHERE p.patient_id IS NOT NULL';
		$crit{$tid}{$pos} = {
			label => pick(@words) . " #$pos",
			expr => $text,
			sql => $sql,
			node => $node
		};
		$ncrit++;
	}
}
diag("differential: $ncrit criteria; event measures: "
	  . join(', ', map { "$_ $measure_count{$_}" } sort keys %measure_count));

# ---------------------------------------------------------------- the node

my $node = PostgreSQL::Test::Cluster->new('differential');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->append_conf('postgresql.conf', qq{
max_worker_processes = 16
max_parallel_workers = 8
timezone = '$tz'
log_min_messages = warning
autovacuum = off
});
$node->start;

sub chunked_insert
{
	my ($table, $rows) = @_;
	my $sql = '';
	for (my $i = 0; $i < @$rows; $i += 2000)
	{
		my $j = $i + 1999 < $#$rows ? $i + 1999 : $#$rows;
		$sql .= "INSERT INTO $table VALUES\n" . join(",\n", @$rows[ $i .. $j ]) . ";\n";
	}
	return $sql;
}

# the generated SQL, kept with the logs (to replay by hand)
sub dump_sql
{
	my ($name, $sql) = @_;
	my $f = "$PostgreSQL::Test::Utils::log_path/025_differential_$name.sql";
	open(my $fh, '>', $f) or die "cannot write $f: $!";
	binmode($fh, ':utf8');
	print $fh "SET timezone = " . lit($tz) . ";\n$sql";
	close($fh);
}

my $t_load = time;
my $setup = q{
CREATE EXTENSION trialmatch;
CREATE TABLE d_pat (patient_id int8, birth_date date, sex text);
CREATE TABLE d_lab (patient_id int8, code text, taken_at timestamptz, value numeric, unit text);
CREATE TABLE d_dx (patient_id int4, code text, diagnosed_on date);
CREATE TABLE d_med (patient_id int8, drug varchar(40), started_at timestamp, ended_at timestamp);
};
$setup .= chunked_insert('d_pat', \@pat_rows);
$setup .= chunked_insert('d_lab', \@lab_rows);
$setup .= chunked_insert('d_dx', \@dx_rows);
$setup .= chunked_insert('d_med', \@med_rows);
$setup .= q{
UPDATE d_med SET started_at = ended_at, ended_at = started_at WHERE ended_at < started_at;
ALTER TABLE d_pat ADD UNIQUE (patient_id);
ANALYZE;
SELECT trialmatch.set_patients('d_pat', id_column => 'patient_id', birth_date_column => 'birth_date', sex_column => 'sex');
SELECT trialmatch.add_source('lab', 'd_lab', time_column => 'taken_at', value_column => 'value', unit_column => 'unit');
SELECT trialmatch.add_source('diagnosis', 'd_dx', time_column => 'diagnosed_on');
SELECT trialmatch.add_source('medication', 'd_med', code_column => 'drug', time_column => 'started_at',
                             end_time_column => 'ended_at');
CREATE TABLE anchors (k int PRIMARY KEY, t timestamptz);
CREATE TABLE d_trials (trial_id text PRIMARY KEY, k int, as_of timestamptz, narrow bool, status text);
CREATE TABLE d_sample (patient_id int8);
CREATE TABLE o_res (trial_id text, position int, patient_id int8, res boolean);
};
$setup .= "INSERT INTO trialmatch.unit_conversions VALUES "
  . join(', ', map { '(' . join(', ', map { lit($_) } @$_) . ')' } @conversions) . ";\n";
$setup .= "INSERT INTO anchors VALUES " . join(', ', map { "($_, " . anc($_) . ')' } 0 .. $#anchors) . ";\n";
for my $tr (@trials)
{
	$setup .= "INSERT INTO trialmatch.trials (trial_id, title, status) VALUES ("
	  . lit($tr->{id}) . ", 'differential', " . lit($tr->{status}) . ");\n";
	$setup .= "INSERT INTO d_trials VALUES (" . lit($tr->{id}) . ", $tr->{k}, " . anc($tr->{k})
	  . ', ' . ($tr->{narrow} ? 'true' : 'false') . ', ' . lit($tr->{status}) . ");\n";
}
my @all_crit;
for my $tr (@trials)
{
	push @all_crit, map { [ $tr->{id}, $_ ] } sort { $a <=> $b } keys %{ $crit{ $tr->{id} } };
}
# the sample for match_trials and explain_match
my %sample;
$sample{ $pids[0] } = 1;
$sample{ $pids[-1] } = 1;
$sample{ pick(@pids) } = 1 while keys %sample < $nsample && keys %sample < @pids;
$setup .= "INSERT INTO d_sample VALUES " . join(', ', map { "($_)" } sort { $a <=> $b } keys %sample) . ";\n";
dump_sql('setup', $setup);
$node->safe_psql('postgres', $setup);
my ($nl, $nd, $nm, $np) = split /\|/, $node->safe_psql('postgres',
	'SELECT (SELECT count(*) FROM d_lab), (SELECT count(*) FROM d_dx), (SELECT count(*) FROM d_med), '
	  . '(SELECT count(*) FROM d_pat WHERE patient_id IS NOT NULL)');
diag(sprintf('differential: %d patients, %d lab, %d diagnosis, %d medication rows loaded in %.1f s',
		$np, $nl, $nd, $nm, time - $t_load));

# ---------------------------------------------------------------- the oracle

my $t_oracle = time;
my $oracle = '';
for my $c (@all_crit)
{
	my ($tid, $pos) = @$c;
	$oracle .= "INSERT INTO o_res SELECT " . lit($tid) . ", $pos, q.patient_id, q.res FROM ("
	  . $crit{$tid}{$pos}{sql} . ") q;\n";
}
dump_sql('oracle', $oracle);
$node->safe_psql('postgres', $oracle);

# Kinds: mostly the one that lets more patients pass (so that funnels
# narrow gradually and some patients stay eligible or indeterminate),
# sometimes the other.
my %counts = map { my @f = split /\|/; ("$f[0]|$f[1]" => [ $f[2], $f[3] ]) } split /\n/,
  $node->safe_psql('postgres', 'SELECT trial_id, position, count(*) FILTER (WHERE res), '
	  . 'count(*) FILTER (WHERE NOT res) FROM o_res GROUP BY 1, 2');
my $store = '';
for my $c (@all_crit)
{
	my $cr = $crit{ $c->[0] }{ $c->[1] };
	my ($nt, $nf) = @{ $counts{"$c->[0]|$c->[1]"} };
	$cr->{kind} = (($nt >= $nf) xor chance(0.05)) ? 'inclusion' : 'exclusion';
}
# criteria stored in random order (positions are integers with gaps)
for my $c (shuffle(@all_crit))
{
	my $cr = $crit{ $c->[0] }{ $c->[1] };
	$store .= "INSERT INTO trialmatch.criteria (trial_id, position, kind, label, expr) VALUES ("
	  . join(', ', lit($c->[0]), $c->[1], lit($cr->{kind}), lit($cr->{label}), lit($cr->{expr})) . ");\n";
}
dump_sql('criteria', $store);
$node->safe_psql('postgres', $store);

$oracle = q{
CREATE TABLE o_judg AS
SELECT r.trial_id, r.position, r.patient_id, r.res, c.kind, c.label,
       coalesce(CASE c.kind WHEN 'inclusion' THEN NOT r.res ELSE r.res END, false) AS fail,
       coalesce(CASE c.kind WHEN 'inclusion' THEN r.res ELSE NOT r.res END, false) AS pass
  FROM o_res r JOIN trialmatch.criteria c USING (trial_id, position);
CREATE TABLE o_mp AS
SELECT trial_id, patient_id,
       CASE WHEN bool_or(fail) THEN 'ineligible' WHEN bool_or(res IS NULL) THEN 'indeterminate'
            ELSE 'eligible' END AS status,
       coalesce(array_agg(label ORDER BY position) FILTER (WHERE fail), '{}') AS failed,
       coalesce(array_agg(label ORDER BY position) FILTER (WHERE res IS NULL), '{}') AS unknown
  FROM o_judg GROUP BY 1, 2;
-- remaining after p: the patients minus those whose first failing criterion is at or before p
CREATE TABLE o_attr AS
WITH ff AS (SELECT trial_id, first_fail AS position, count(*) AS n
              FROM (SELECT trial_id, patient_id, min(position) FILTER (WHERE fail) AS first_fail
                      FROM o_judg GROUP BY 1, 2) x
             WHERE first_fail IS NOT NULL GROUP BY 1, 2),
     cnt AS (SELECT trial_id, position, kind, label, count(*) FILTER (WHERE pass) AS passed,
                    count(*) FILTER (WHERE fail) AS failed, count(*) FILTER (WHERE res IS NULL) AS unknown
               FROM o_judg GROUP BY 1, 2, 3, 4)
SELECT c.trial_id, c.position, c.kind, c.label, c.passed, c.failed, c.unknown,
       (SELECT count(*) FROM d_pat WHERE patient_id IS NOT NULL)
       - sum(coalesce(ff.n, 0)) OVER (PARTITION BY c.trial_id ORDER BY c.position) AS remaining
  FROM cnt c LEFT JOIN ff USING (trial_id, position);
CREATE TABLE o_em AS
SELECT trial_id, patient_id, position, kind, label,
       CASE res WHEN true THEN 'true' WHEN false THEN 'false' ELSE 'unknown' END AS result
  FROM o_judg WHERE patient_id IN (SELECT patient_id FROM d_sample);
CREATE TABLE o_mt AS
SELECT d.k, m.patient_id, m.trial_id, m.status, m.failed, m.unknown
  FROM o_mp m JOIN d_trials d USING (trial_id)
 WHERE d.status = 'recruiting' AND m.patient_id IN (SELECT patient_id FROM d_sample);
CREATE TABLE tm_mp (cfg text, trial_id text, patient_id int8, status text, failed text[], unknown text[]);
CREATE TABLE tm_attr (cfg text, trial_id text, position int, kind text, label text, passed int8, failed int8,
                      unknown int8, remaining int8, ord int8);
CREATE TABLE tm_mt (cfg text, k int, patient_id int8, trial_id text, status text, failed text[], unknown text[], ord int8);
CREATE TABLE tm_em (cfg text, trial_id text, patient_id int8, position int, kind text, label text, result text, ord int8);
};
dump_sql('oracle_derived', $oracle);
$node->safe_psql('postgres', $oracle);
my $dist = $node->safe_psql('postgres',
	q{SELECT count(*) FILTER (WHERE res), count(*) FILTER (WHERE NOT res), count(*) FILTER (WHERE res IS NULL),
	         (SELECT string_agg(status || ' ' || n, ', ' ORDER BY status)
	            FROM (SELECT status, count(*) n FROM o_mp GROUP BY 1) s)
	    FROM o_res});
my @d = split /\|/, $dist;
diag(sprintf('differential: oracle in %.1f s: criterion results true %d, false %d, unknown %d; statuses %s',
		time - $t_oracle, @d));

# ---------------------------------------------------------------- trialmatch

my %reports;    # cfg => DEBUG1 lines
sub run_trialmatch
{
	my ($cfg, $workers, $single) = @_;
	my $c = lit($cfg);
	my $t0 = time;
	my ($ret, $out, $err) = $node->psql('postgres', qq{
SET client_min_messages = debug1;
SET min_parallel_table_scan_size = 0;
SET trialmatch.max_parallel_workers = $workers;
INSERT INTO tm_mp SELECT $c, t.trial_id, m.patient_id, m.status::text, m.failed, m.unknown
  FROM d_trials t, LATERAL trialmatch.match_patients(t.trial_id, t.as_of) m;
INSERT INTO tm_attr SELECT $c, t.trial_id, a.*
  FROM d_trials t, LATERAL trialmatch.attrition(t.trial_id, t.as_of) WITH ORDINALITY a;
SET client_min_messages = warning;
} . ($single ? qq{
INSERT INTO tm_mt SELECT $c, a.k, s.patient_id, m.trial_id, m.status::text, m.failed, m.unknown, m.ord
  FROM anchors a, d_sample s,
       LATERAL trialmatch.match_trials(s.patient_id, a.t) WITH ORDINALITY m(trial_id, status, failed, unknown, ord);
INSERT INTO tm_em SELECT $c, t.trial_id, s.patient_id, e.position, e.kind, e.label, e.result, e.ord
  FROM d_trials t, d_sample s,
       LATERAL trialmatch.explain_match(t.trial_id, s.patient_id, t.as_of) WITH ORDINALITY e(position, kind, label, result, evidence, ord);
} : ''), on_error_stop => 1);
	is($ret, 0, "$cfg: every trialmatch call succeeded") or diag($err);
	diag(sprintf('differential: %s: calls in %.1f s', $cfg, time - $t0));
	$reports{$cfg} = [ grep { /trialmatch: trial "/ } split /\n/, $err ];
}

my $t_tm = time;
# match_trials and explain_match never start workers: without indexes
# (a filtered scan per call, the slowest part) they run serially only
run_trialmatch('serial, no index', 0, 1);
run_trialmatch('2 workers, no index', 2, 0);
$node->safe_psql('postgres', q{
CREATE INDEX ON d_lab (code, taken_at);
CREATE INDEX ON d_dx (code, diagnosed_on);
CREATE INDEX ON d_med (drug, started_at);
CREATE INDEX ON d_lab (patient_id);
CREATE INDEX ON d_dx (patient_id);
CREATE INDEX ON d_med (patient_id);
ANALYZE;
});
run_trialmatch('serial, indexes', 0, 1);
run_trialmatch('2 workers, indexes', 2, 1);

# the same rows in tables partitioned by quarter on their time column, with
# a default partition (NULL times land there) and the indexes on the parent:
# partitions outside a trial's windows are skipped, and the answers must not
# change (SPEC 2: "Results never depend on the relation kind")
$node->safe_psql('postgres', q{
DO $$
DECLARE
  t record;
  lo date;
  hi date;
  q date;
BEGIN
  FOR t IN SELECT * FROM (VALUES ('d_lab', 'taken_at'), ('d_dx', 'diagnosed_on'), ('d_med', 'started_at')) v(tab, col)
  LOOP
    EXECUTE format('CREATE TABLE %I (LIKE %I) PARTITION BY RANGE (%I)', t.tab || '_p', t.tab, t.col);
    EXECUTE format('SELECT date_trunc(''quarter'', min(%I))::date, max(%I)::date FROM %I', t.col, t.col, t.tab)
      INTO lo, hi;
    q := lo;
    WHILE q <= hi LOOP
      EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                     t.tab || '_p_' || to_char(q, 'YYYYMM'), t.tab || '_p', q, q + interval '3 months');
      q := q + interval '3 months';
    END LOOP;
    EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', t.tab || '_p_default', t.tab || '_p');
    EXECUTE format('INSERT INTO %I SELECT * FROM %I', t.tab || '_p', t.tab);
  END LOOP;
END $$;
CREATE INDEX ON d_lab_p (code, taken_at);
CREATE INDEX ON d_dx_p (code, diagnosed_on);
CREATE INDEX ON d_med_p (drug, started_at);
CREATE INDEX ON d_lab_p (patient_id);
CREATE INDEX ON d_dx_p (patient_id);
CREATE INDEX ON d_med_p (patient_id);
ANALYZE;
SELECT trialmatch.add_source('lab', 'd_lab_p', time_column => 'taken_at', value_column => 'value', unit_column => 'unit');
SELECT trialmatch.add_source('diagnosis', 'd_dx_p', time_column => 'diagnosed_on');
SELECT trialmatch.add_source('medication', 'd_med_p', code_column => 'drug', time_column => 'started_at',
                             end_time_column => 'ended_at');
});
run_trialmatch('partitioned, 2 workers', 2, 1);
$node->safe_psql('postgres', q{
SELECT trialmatch.add_source('lab', 'd_lab', time_column => 'taken_at', value_column => 'value', unit_column => 'unit');
SELECT trialmatch.add_source('diagnosis', 'd_dx', time_column => 'diagnosed_on');
SELECT trialmatch.add_source('medication', 'd_med', code_column => 'drug', time_column => 'started_at',
                             end_time_column => 'ended_at');
});
# the same rows stored in time order, with a BRIN index on the time column
# and no btree: a table whose every criterion in a call has a window is
# read through the blocks the BRIN index finds (README, "BRIN on the time
# column"), serially and shared by workers; the answers must not change
$node->safe_psql('postgres', q{
CREATE TABLE d_lab_b AS SELECT * FROM d_lab ORDER BY taken_at;
CREATE TABLE d_dx_b AS SELECT * FROM d_dx ORDER BY diagnosed_on;
CREATE INDEX ON d_lab_b USING brin (taken_at) WITH (pages_per_range = 2);
CREATE INDEX ON d_dx_b USING brin (diagnosed_on) WITH (pages_per_range = 2);
ANALYZE d_lab_b, d_dx_b;
SELECT trialmatch.add_source('lab', 'd_lab_b', time_column => 'taken_at', value_column => 'value', unit_column => 'unit');
SELECT trialmatch.add_source('diagnosis', 'd_dx_b', time_column => 'diagnosed_on');
});
run_trialmatch('BRIN, serial', 0, 0);
run_trialmatch('BRIN, 2 workers', 2, 0);
$node->safe_psql('postgres', q{
SELECT trialmatch.add_source('lab', 'd_lab', time_column => 'taken_at', value_column => 'value', unit_column => 'unit');
SELECT trialmatch.add_source('diagnosis', 'd_dx', time_column => 'diagnosed_on');
});
diag(sprintf('differential: trialmatch calls in %.1f s', time - $t_tm));

# the paths were really taken
my $launched = grep { /[1-9]\d* of 2 parallel workers launched/ } @{ $reports{'2 workers, no index'} },
  @{ $reports{'2 workers, indexes'} };
ok($launched > 0, "parallel workers ran ($launched population calls)");
my $shared = grep { /[1-9]\d* of [12] parallel workers launched.*index ranges \(blocks shared\)/ }
  @{ $reports{'2 workers, indexes'} }, @{ $reports{'partitioned, 2 workers'} };
diag("differential: index ranges read as shared bitmaps with workers in $shared population calls");
ok($shared > 0, "index ranges were read as shared bitmaps by workers ($shared population calls)");
my $ranges = grep { /\d+ index ranges/ } @{ $reports{'serial, indexes'} };
ok($ranges > 0, "index ranges were read ($ranges of "
	  . scalar(@{ $reports{'serial, indexes'} }) . ' population calls)');
is(scalar(grep { /\d+ index ranges/ } @{ $reports{'serial, no index'} }), 0, 'no index ranges without indexes');
my $brin = grep { /BRIN block ranges/ } @{ $reports{'BRIN, serial'} };
diag("differential: BRIN block ranges read in $brin of " . scalar(@{ $reports{'BRIN, serial'} }) . ' serial population calls');
ok($brin > 0, "BRIN block ranges were read ($brin of " . scalar(@{ $reports{'BRIN, serial'} }) . ' population calls)');
$brin = grep { /[1-9]\d* of 2 parallel workers launched.*BRIN block ranges/ } @{ $reports{'BRIN, 2 workers'} };
ok($brin > 0, "BRIN block ranges were shared by workers ($brin population calls)");
my $pruned = grep { /partitions\)/ && !/\((\d+) of \1 partitions\)/ } @{ $reports{'partitioned, 2 workers'} };
ok($pruned > 0, "partitions outside the windows were skipped ($pruned of "
	  . scalar(@{ $reports{'partitioned, 2 workers'} }) . ' population calls)');

# ---------------------------------------------------------------- comparison

my $repro_file = "$PostgreSQL::Test::Utils::log_path/025_differential_repro.sql";
my %repro_done;
my $nrepro = 0;

# per-criterion answers of a patient from failed[]/unknown[] (labels are unique per trial)
sub derived_sql
{
	my ($tmtable, $where) = @_;
	return qq{
SELECT j.trial_id, j.position, j.patient_id, j.kind, j.res AS oracle,
       CASE WHEN j.label = ANY (t.failed) THEN j.kind = 'exclusion'
            WHEN j.label = ANY (t.unknown) THEN NULL ELSE j.kind = 'inclusion' END AS tm
  FROM o_judg j JOIN $tmtable t USING (trial_id, patient_id) WHERE $where};
}

# a self-contained reproduction of one criterion for one patient
sub repro
{
	my ($tid, $pos, $pid, $oracle_answer, $tm_answer, $where) = @_;
	my $cr = $crit{$tid}{$pos};
	my $tr = (grep { $_->{id} eq $tid } @trials)[0];
	my $asof = anc($tr->{k});
	my $used = sources_of($cr->{node}, {});
	my $sql = "-- $where: trial $tid position $pos ($cr->{kind}), patient $pid:"
	  . " oracle $oracle_answer, trialmatch $tm_answer (seed $seed)\n"
	  . "CREATE EXTENSION IF NOT EXISTS trialmatch;\nSET timezone = " . lit($tz) . ";\n"
	  . "CREATE TABLE d_pat (patient_id int8, birth_date date, sex text);\n"
	  . "CREATE TABLE d_lab (patient_id int8, code text, taken_at timestamptz, value numeric, unit text);\n"
	  . "CREATE TABLE d_dx (patient_id int4, code text, diagnosed_on date);\n"
	  . "CREATE TABLE d_med (patient_id int8, drug varchar(40), started_at timestamp, ended_at timestamp);\n";
	$sql .= $node->safe_psql('postgres', qq{
SELECT format('INSERT INTO d_pat VALUES (%s, %L, %L);', patient_id, birth_date, sex) FROM d_pat WHERE patient_id = $pid
UNION ALL
SELECT * FROM (SELECT format('INSERT INTO d_lab VALUES (%s, %L, %L, %L, %L);', patient_id, code, taken_at, value, unit)
                 FROM d_lab WHERE patient_id = $pid AND @{[ $used->{lab} ? 'true' : 'false' ]} ORDER BY taken_at, code, value) l
UNION ALL
SELECT * FROM (SELECT format('INSERT INTO d_dx VALUES (%s, %L, %L);', patient_id, code, diagnosed_on)
                 FROM d_dx WHERE patient_id = $pid AND @{[ $used->{diagnosis} ? 'true' : 'false' ]} ORDER BY diagnosed_on, code) d
UNION ALL
SELECT * FROM (SELECT format('INSERT INTO d_med VALUES (%s, %L, %L, %L);', patient_id, drug, started_at, ended_at)
                 FROM d_med WHERE patient_id = $pid AND @{[ $used->{medication} ? 'true' : 'false' ]} ORDER BY started_at, drug) m
UNION ALL
SELECT format('INSERT INTO trialmatch.unit_conversions VALUES (%L, %L, %L, %s, %s);', code, from_unit, to_unit, factor, "offset")
  FROM trialmatch.unit_conversions WHERE @{[ $used->{unit} ? 'true' : 'false' ]}}) . "\n";
	$sql .= q{SELECT trialmatch.set_patients('d_pat', id_column => 'patient_id', birth_date_column => 'birth_date', sex_column => 'sex');
SELECT trialmatch.add_source('lab', 'd_lab', time_column => 'taken_at', value_column => 'value', unit_column => 'unit');
SELECT trialmatch.add_source('diagnosis', 'd_dx', time_column => 'diagnosed_on');
SELECT trialmatch.add_source('medication', 'd_med', code_column => 'drug', time_column => 'started_at', end_time_column => 'ended_at');
INSERT INTO trialmatch.trials (trial_id) VALUES ('R');
} . "INSERT INTO trialmatch.criteria VALUES ('R', 1, 'inclusion', 'c', " . lit($cr->{expr}) . ");\n"
	  . "SELECT * FROM trialmatch.explain_match('R', $pid, $asof);\n"
	  . "-- the oracle:\n$cr->{sql} AND p.patient_id = $pid;\n";
	diag("REPRO:\n$sql");
	open(my $fh, '>>', $repro_file) or die "cannot write $repro_file: $!";
	print $fh "$sql\n";
	close($fh);
}

sub tri { return !defined $_[0] || $_[0] eq '' ? 'unknown' : $_[0] eq 't' ? 'true' : 'false'; }

# print the criteria that disagree, then a reproduction for the first few
sub explain_disagreement
{
	my ($where, $rows) = @_;    # rows: trial|position|patient|oracle|tm
	my %by;
	for (@$rows)
	{
		my ($tid, $pos, $pid, $o, $t) = split /\|/, $_, -1;
		push @{ $by{"$tid|$pos"} }, [ $pid, tri($o), tri($t) ];
	}
	for my $key (sort keys %by)
	{
		my ($tid, $pos) = split /\|/, $key;
		my $cr = $crit{$tid}{$pos};
		my $l = $by{$key};
		diag("$where: trial $tid (as_of $anchors[(grep { $_->{id} eq $tid } @trials)[0]{k}] $tz) position $pos "
			  . "$cr->{kind}: $cr->{expr}\n  " . scalar(@$l) . ' patients disagree, e.g. '
			  . join('; ', map { "patient $_->[0]: oracle $_->[1], trialmatch $_->[2]" } @$l[ 0 .. ($#$l < 4 ? $#$l : 4) ]));
		next if $repro_done{$key}++ || $nrepro >= 6;
		$nrepro++;
		repro($tid, $pos, $l->[0][0], $l->[0][1], $l->[0][2], $where);
	}
}

my $qcfg;
for my $cfg ('serial, no index', '2 workers, no index', 'serial, indexes', '2 workers, indexes',
	'partitioned, 2 workers', 'BRIN, serial', 'BRIN, 2 workers')
{
	$qcfg = lit($cfg);
	my $single = $cfg ne '2 workers, no index' && $cfg !~ /^BRIN/;
	# match_patients: whole rows, both directions, duplicates counted
	my $cols = 'trial_id, patient_id, status, failed, unknown';
	my $diff = $node->safe_psql('postgres', qq{
SELECT 'oracle only' AS side, * FROM (SELECT $cols FROM o_mp EXCEPT ALL SELECT $cols FROM tm_mp WHERE cfg = $qcfg) x
UNION ALL
SELECT 'trialmatch only', * FROM (SELECT $cols FROM tm_mp WHERE cfg = $qcfg EXCEPT ALL SELECT $cols FROM o_mp) y
ORDER BY 2, 3, 1});
	my @rows = split /\n/, $diff;
	ok(@rows == 0, "match_patients ($cfg): " . $node->safe_psql('postgres', "SELECT count(*) FROM tm_mp WHERE cfg = $qcfg")
		  . ' rows equal to the oracle');
	if (@rows)
	{
		diag("match_patients ($cfg): " . scalar(@rows) . ' rows differ; first ones:');
		diag($_) for @rows[ 0 .. ($#rows < 9 ? $#rows : 9) ];
		my $det = $node->safe_psql('postgres', derived_sql("(SELECT * FROM tm_mp WHERE cfg = $qcfg)",
				'j.res IS DISTINCT FROM (CASE WHEN j.label = ANY (t.failed) THEN j.kind = \'exclusion\' '
				  . 'WHEN j.label = ANY (t.unknown) THEN NULL ELSE j.kind = \'inclusion\' END)')
			  . ' ORDER BY 1, 2, 3');
		my @det = map { my @f = split /\|/, $_, -1; join('|', @f[ 0, 1, 2, 4, 5 ]) } split /\n/, $det;
		explain_disagreement("match_patients ($cfg)", \@det);
	}

	# attrition
	my $acols = 'trial_id, position, kind, label, passed, failed, unknown, remaining';
	$diff = $node->safe_psql('postgres', qq{
SELECT 'oracle only' AS side, * FROM (SELECT $acols FROM o_attr EXCEPT ALL SELECT $acols FROM tm_attr WHERE cfg = $qcfg) x
UNION ALL
SELECT 'trialmatch only', * FROM (SELECT $acols FROM tm_attr WHERE cfg = $qcfg EXCEPT ALL SELECT $acols FROM o_attr) y
ORDER BY 2, 3, 1});
	@rows = split /\n/, $diff;
	ok(@rows == 0, "attrition ($cfg): " . $node->safe_psql('postgres', "SELECT count(*) FROM tm_attr WHERE cfg = $qcfg")
		  . ' rows equal to the oracle');
	if (@rows)
	{
		diag("attrition ($cfg): " . scalar(@rows) . ' rows differ (side|trial|position|kind|label|passed|failed|unknown|remaining); first ones:');
		diag($_) for @rows[ 0 .. ($#rows < 19 ? $#rows : 19) ];
	}

	next unless $single;

	# match_trials: the trials whose as_of is the call's, every recruiting trial once
	my $mcols = 'k, patient_id, trial_id, status, failed, unknown';
	$diff = $node->safe_psql('postgres', qq{
SELECT 'oracle only' AS side, * FROM (SELECT $mcols FROM o_mt EXCEPT ALL
       SELECT $mcols FROM tm_mt m WHERE cfg = $qcfg AND (SELECT k FROM d_trials d WHERE d.trial_id = m.trial_id) = m.k) x
UNION ALL
SELECT 'trialmatch only', * FROM (SELECT $mcols FROM tm_mt m WHERE cfg = $qcfg AND (SELECT k FROM d_trials d WHERE d.trial_id = m.trial_id) = m.k
       EXCEPT ALL SELECT $mcols FROM o_mt) y
UNION ALL
SELECT 'trial set', * FROM (
  (SELECT a.k, s.patient_id, d.trial_id, NULL, NULL::text[], NULL::text[] FROM anchors a, d_sample s, d_trials d WHERE d.status = 'recruiting'
   EXCEPT ALL SELECT k, patient_id, trial_id, NULL, NULL::text[], NULL::text[] FROM tm_mt WHERE cfg = $qcfg)
  UNION ALL
  (SELECT k, patient_id, trial_id, NULL, NULL::text[], NULL::text[] FROM tm_mt WHERE cfg = $qcfg
   EXCEPT ALL SELECT a.k, s.patient_id, d.trial_id, NULL, NULL::text[], NULL::text[] FROM anchors a, d_sample s, d_trials d WHERE d.status = 'recruiting')) z
ORDER BY 2, 3, 4, 1});
	@rows = split /\n/, $diff;
	ok(@rows == 0, "match_trials ($cfg): " . $node->safe_psql('postgres', "SELECT count(*) FROM tm_mt WHERE cfg = $qcfg")
		  . ' rows (the recruiting trials, each once; those screened at their as_of equal to the oracle)');
	if (@rows)
	{
		diag("match_trials ($cfg): " . scalar(@rows) . ' rows differ (side|anchor|patient|trial|status|failed|unknown); first ones:');
		diag($_) for @rows[ 0 .. ($#rows < 9 ? $#rows : 9) ];
		my $det = $node->safe_psql('postgres', derived_sql(
				"(SELECT m.* FROM tm_mt m JOIN d_trials d ON d.trial_id = m.trial_id AND d.k = m.k WHERE cfg = $qcfg)",
				'j.res IS DISTINCT FROM (CASE WHEN j.label = ANY (t.failed) THEN j.kind = \'exclusion\' '
				  . 'WHEN j.label = ANY (t.unknown) THEN NULL ELSE j.kind = \'inclusion\' END)')
			  . ' ORDER BY 1, 2, 3');
		my @det = map { my @f = split /\|/, $_, -1; join('|', @f[ 0, 1, 2, 4, 5 ]) } split /\n/, $det;
		explain_disagreement("match_trials ($cfg)", \@det);
	}

	# explain_match: one row per criterion, the result column
	my $ecols = 'trial_id, patient_id, position, kind, label, result';
	$diff = $node->safe_psql('postgres', qq{
SELECT 'oracle only' AS side, * FROM (SELECT $ecols FROM o_em EXCEPT ALL SELECT $ecols FROM tm_em WHERE cfg = $qcfg) x
UNION ALL
SELECT 'trialmatch only', * FROM (SELECT $ecols FROM tm_em WHERE cfg = $qcfg EXCEPT ALL SELECT $ecols FROM o_em) y
ORDER BY 2, 3, 4, 1});
	@rows = split /\n/, $diff;
	ok(@rows == 0, "explain_match ($cfg): " . $node->safe_psql('postgres', "SELECT count(*) FROM tm_em WHERE cfg = $qcfg")
		  . ' rows equal to the oracle');
	if (@rows)
	{
		diag("explain_match ($cfg): " . scalar(@rows) . ' rows differ; first ones:');
		diag($_) for @rows[ 0 .. ($#rows < 9 ? $#rows : 9) ];
		my $det = $node->safe_psql('postgres', qq{
SELECT o.trial_id, o.position, o.patient_id, o.result, e.result FROM o_em o
  JOIN tm_em e ON e.cfg = $qcfg AND e.trial_id = o.trial_id AND e.patient_id = o.patient_id AND e.position = o.position
 WHERE e.result IS DISTINCT FROM o.result ORDER BY 1, 2, 3});
		my @det = map {
			my @f = split /\|/, $_, -1;
			$f[3] = $f[3] eq 'true' ? 't' : $f[3] eq 'false' ? 'f' : '';
			$f[4] = $f[4] eq 'true' ? 't' : $f[4] eq 'false' ? 'f' : '';
			join('|', @f)
		} split /\n/, $det;
		explain_disagreement("explain_match ($cfg)", \@det);
	}

	# order: explain_match and attrition by position, match_trials by trial id
	is($node->safe_psql('postgres', qq{
SELECT count(*) FROM (SELECT ord, row_number() OVER (PARTITION BY trial_id, patient_id ORDER BY position) rn
                        FROM tm_em WHERE cfg = $qcfg) x WHERE ord <> rn}), '0', "explain_match rows in position order ($cfg)");
	is($node->safe_psql('postgres', qq{
SELECT count(*) FROM (SELECT ord, row_number() OVER (PARTITION BY trial_id ORDER BY position) rn
                        FROM tm_attr WHERE cfg = $qcfg) x WHERE ord <> rn}), '0', "attrition rows in position order ($cfg)");
	is($node->safe_psql('postgres', qq{
SELECT count(*) FROM (SELECT ord, row_number() OVER (PARTITION BY k, patient_id ORDER BY trial_id) rn
                        FROM tm_mt WHERE cfg = $qcfg) x WHERE ord <> rn}), '0', "match_trials rows in trial_id order ($cfg)");
}

diag(sprintf('differential: seed %s, %d trials, %d criteria, %d patients (%d sampled), %.0f s in all',
		$seed, $ntrials, $ncrit, $np, scalar(keys %sample), time - $t_start));
diag("differential: reproductions written to $repro_file") if $nrepro;
$node->stop;
done_testing();

# ---------------------------------------------------------------------
# Criteria language 1.1, time (SPEC 7.3, issue 10): windows in the past,
# days, active for, new, relations and at least k of, each with its SQL.
# Dates and times as elsewhere in this oracle: ::timestamptz and ::date in
# the session time zone, calendar arithmetic with timestamptz + interval.
# ---------------------------------------------------------------------

# within N u -> between A u and B u2 ago (sometimes empty: lo > hi) or over N u ago
sub time_window_kind
{
	my ($ev) = @_;
	my ($num, $u) = @{ $ev->{window} };
	if (chance(0.6))
	{
		my $u2 = pick(@wunits);
		$ev->{window} = [ chance(0.2) ? 0 : $num, $u, 'between', pick(@{ $wmenu{$u2} }), $u2 ];
	}
	else { $ev->{window} = [ $num, $u, 'over' ]; }
}

sub window_text
{
	my ($n) = @_;
	my ($num, $u, $kind, $num2, $u2) = @{ $n->{window} };
	my $un = sub { kw(chance(0.5) ? $_[0] : "$_[0]s") };
	$kind //= 'within';
	return ' ' . kw('within') . " $num " . $un->($u) if $kind eq 'within';
	return ' ' . kw('between') . " $num " . $un->($u) . ' ' . kw('and') . " $num2 " . $un->($u2)
	  . ' ' . kw('ago') if $kind eq 'between';
	return ' ' . kw('over') . " $num " . $un->($u) . ' ' . kw('ago');
}

# the window as [lo, hi] (lo undef: none)
sub win_bounds
{
	my ($n, $asof) = @_;
	return (undef, "($asof)") unless $n->{window};
	my ($num, $u, $kind, $num2, $u2) = @{ $n->{window} };
	$kind //= 'within';
	return ("($asof - interval '$num ${u}s')", "($asof)") if $kind eq 'within';
	return ("($asof - interval '$num2 ${u2}s')", "($asof - interval '$num ${u}s')") if $kind eq 'between';
	return (undef, "($asof - interval '$num ${u}s')");
}

# a point in [lo, hi]; a span with start <= hi and (no end or end >= lo);
# an empty window (lo > hi) holds nothing
sub window_sql
{
	my ($n, $asof, $s, $t) = @_;
	my ($lo, $hi) = win_bounds($n, $asof);
	my @c = ("$t <= $hi");
	if (defined $lo)
	{
		push @c, $s->{end} ? "(e.$s->{end} IS NULL OR e.$s->{end}::timestamptz >= $lo)" : "$t >= $lo";
		push @c, "$lo <= $hi";
	}
	return join(' AND ', @c);
}

# the rows of an event: its codes, except, window (unless nowin), not after as_of
sub time_rows
{
	my ($n, $asof, $nowin) = @_;
	my $s = $sources{ $n->{src} };
	my $code = "e.$s->{code}";
	my $t = "e.$s->{t}::timestamptz";
	my @w = ('e.patient_id IS NOT NULL', "$code IS NOT NULL", "e.$s->{t} IS NOT NULL", codes_sql($code, $n->{codes}));
	push @w, 'NOT ' . codes_sql($code, $n->{except}) if $n->{except};
	push @w, "$t <= $asof";
	push @w, window_sql($n, $asof, $s, $t) if $n->{window} && !$nowin;
	my $end = $s->{end} ? "e.$s->{end}::timestamptz" : 'NULL::timestamptz';
	return "(SELECT e.patient_id AS pid, $t AS t, $end AS en, "
	  . ($s->{value} ? 'e.value' : 'NULL::numeric') . " AS value FROM $s->{table} e WHERE "
	  . join(' AND ', @w) . ')';
}

sub span_text
{
	my ($num, $u) = @_;
	return "$num " . kw(chance(0.5) ? $u : "${u}s");
}

# an event with no measure (a side of a relation)
sub gen_side
{
	my ($src) = @_;
	$src //= wpick([ 'lab', 4 ], [ 'diagnosis', 4 ], [ 'medication', 3 ]);
	my $ev = { type => 'event', src => $src, codes => gen_codes($src, 0, 2), measure => 'exists' };
	$ev->{except} = gen_codes($src, 0, 1) if chance(0.1);
	if (chance(0.6))
	{
		my $u = pick(@wunits);
		$ev->{window} = [ pick(@{ $wmenu{$u} }), $u ];
		time_window_kind($ev) if chance(0.3);
	}
	return $ev;
}

sub gen_time_node
{
	my ($depth, $narrow) = @_;
	my $r = rand();
	if ($r < 0.45)
	{
		my $rel = pick('after', 'before', 'during', 'nfb');
		my $n = { type => 'rel', rel => $rel,
			args => [ gen_side(), gen_side($rel eq 'during' ? 'medication' : undef) ] };
		if (($rel eq 'after' || $rel eq 'before') && chance(0.5))
		{
			my $u = pick(@wunits);
			$n->{upto} = [ chance(0.1) ? 0 : pick(@{ $wmenu{$u} }), $u ];
		}
		$measure_count{"rel $rel"}++;
		return $n;
	}
	if ($r < 0.6 && $depth < 3)
	{
		my $m = 1 + rint(4);
		$measure_count{'at least'}++;
		return { type => 'atleast', k => 1 + rint($m), args => [ map { gen_expr($depth + 1, $narrow) } 1 .. $m ] };
	}
	my $ev = gen_side($r < 0.75 ? 'medication' : undef);
	if ($r < 0.75)
	{
		$ev->{measure} = 'activefor';
		my $u = pick(@wunits);
		$ev->{for} = [ pick(@{ $wmenu{$u} }), $u ];
		if (chance(0.6))
		{
			my $g = pick(@wunits);
			$ev->{gap} = [ chance(0.2) ? 0 : pick(@{ $wmenu{$g} }), $g ];
		}
	}
	elsif ($r < 0.9)
	{
		$ev->{measure} = $ev->{src} eq 'lab' && chance(0.5) ? 'daysw' : 'days';
		$ev->{where} = gen_test('value') if $ev->{measure} eq 'daysw';
		$ev->{test} = gen_test('count');
	}
	else { $ev->{measure} = 'new'; }
	$measure_count{ $ev->{measure} }++;
	return $ev;
}

sub time_measure_text
{
	my ($n) = @_;
	my $m = $n->{measure};
	if ($m eq 'days' || $m eq 'daysw')
	{
		my $s = ' ' . kw('days');
		$s .= ' ' . kw('where') . ' ' . kw('value') . ' ' . $n->{where}{text} if $m eq 'daysw';
		return $s . ' ' . $n->{test}{text};
	}
	if ($m eq 'activefor')
	{
		my $s = ' ' . kw('active') . ' ' . kw('for') . ' ' . span_text(@{ $n->{for} });
		$s .= ' ' . kw('gap') . ' ' . span_text(@{ $n->{gap} }) if $n->{gap};
		return $s;
	}
	return ' ' . kw('new') if $m eq 'new';
	return undef;
}

sub time_node_text
{
	my ($n) = @_;
	if ($n->{type} eq 'atleast')
	{
		return kw('at') . ' ' . kw('least') . " $n->{k} " . kw('of') . ' ('
		  . join(', ', map { expr_text($_) } @{ $n->{args} }) . ')';
	}
	my %word = (after => 'after', before => 'before', during => 'during', nfb => 'not followed by');
	my $s = expr_text($n->{args}[0]);
	$s .= ' ' . kw('up') . ' ' . kw('to') . ' ' . span_text(@{ $n->{upto} }) if $n->{upto};
	return $s . ' ' . join(' ', map { kw($_) } split / /, $word{ $n->{rel} }) . ' ' . expr_text($n->{args}[1]);
}

# (subquery of (pid, v), boolean over its alias) of days, active for, new
sub time_atom_sql
{
	my ($n, $asof, $alias) = @_;
	my $m = $n->{measure};
	my $s = $sources{ $n->{src} };
	if ($m eq 'new')
	{
		# the earliest event, window ignored, starts inside the window
		my ($lo, $hi) = win_bounds($n, $asof);
		my $in = "$alias.v <= $hi" . (defined $lo ? " AND $alias.v >= $lo AND $lo <= $hi" : '');
		return ('(SELECT pid, min(t) AS v FROM ' . time_rows($n, $asof, 1) . ' r GROUP BY 1)',
			"($alias.v IS NOT NULL AND $in)");
	}
	if ($m eq 'activefor')
	{
		# gaps and islands over [start, coalesce(end, as_of)] (an end before
		# the start: the start), merged while the next start <= latest end + G
		my ($num, $u) = @{ $n->{for} };
		my $gap = $n->{gap} ? "interval '$n->{gap}[0] $n->{gap}[1]s'" : "interval '0'";
		my $sub = "(SELECT DISTINCT pid, true AS v FROM ("
		  . "SELECT pid, s, e, count(*) FILTER (WHERE pm IS NULL OR s > pm + $gap) OVER (PARTITION BY pid ORDER BY s, e ROWS UNBOUNDED PRECEDING) AS isl FROM ("
		  . "SELECT pid, s, e, max(e) OVER (PARTITION BY pid ORDER BY s, e ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS pm FROM ("
		  . "SELECT pid, t AS s, greatest(t, coalesce(en, $asof)) AS e FROM " . time_rows($n, $asof, 1) . ' r0) r1) r2) r3'
		  . " GROUP BY pid, isl HAVING min(s) <= ($asof - interval '$num ${u}s') AND max(e) >= $asof)";
		return ($sub, "($alias.v IS NOT NULL)");
	}
	# days: each interval (open end: as_of; a point: itself) clipped to the
	# window, the calendar dates it touches, counted once (date ranges merged)
	my ($lo, $hi) = win_bounds($n, $asof);
	my $cs = defined $lo ? "greatest(t, $lo)" : 't';
	my $ce = $s->{end} ? "least(coalesce(en, $asof), $hi)" : "least(t, $hi)";
	my $pass = $m eq 'daysw' ? " AND value IS NOT NULL AND value <> 'NaN' AND " . $n->{where}{sql}->('value') : '';
	my $sub = "(SELECT pid, sum(n) AS v FROM (SELECT pid, max(de) - min(ds) + 1 AS n FROM ("
	  . "SELECT pid, ds, de, count(*) FILTER (WHERE pm IS NULL OR ds > pm + 1) OVER (PARTITION BY pid ORDER BY ds, de ROWS UNBOUNDED PRECEDING) AS isl FROM ("
	  . "SELECT pid, ds, de, max(de) OVER (PARTITION BY pid ORDER BY ds, de ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS pm FROM ("
	  . "SELECT pid, ($cs)::date AS ds, ($ce)::date AS de FROM " . time_rows($n, $asof, 0)
	  . " r0 WHERE $ce >= $cs$pass) r1) r2) r3 GROUP BY pid, isl) r4 GROUP BY pid)";
	return ($sub, $n->{test}{sql}->("coalesce($alias.v, 0)"));
}

sub time_expr_sql
{
	my ($n, $asof, $joins) = @_;
	if ($n->{type} eq 'atleast')
	{
		my @b = map { expr_sql($_, $asof, $joins) } @{ $n->{args} };
		my $t = join(' + ', map { "(($_) IS TRUE)::int" } @b);
		my $u = join(' + ', map { "(($_) IS NULL)::int" } @b);
		return "(CASE WHEN $t >= $n->{k} THEN TRUE WHEN $t + $u < $n->{k} THEN FALSE END)";
	}
	my ($e1, $e2) = @{ $n->{args} };
	my $a = time_rows($e1, $asof, 0);
	my $b = time_rows($e2, $asof, 0);
	my $rel = $n->{rel};
	my $up = $n->{upto} ? "interval '$n->{upto}[0] $n->{upto}[1]s'" : undef;
	my $cond;
	if ($rel eq 'after') { $cond = 'b.t <= a.t' . ($up ? " AND a.t <= b.t + $up" : ''); }
	elsif ($rel eq 'before') { $cond = 'a.t <= b.t' . ($up ? " AND b.t <= a.t + $up" : ''); }
	elsif ($rel eq 'during') { $cond = 'b.t <= a.t AND (b.en IS NULL OR a.t <= b.en)'; }
	my $where = $rel eq 'nfb' ? "NOT EXISTS (SELECT 1 FROM $b b WHERE b.pid = a.pid AND b.t >= a.t)"
	  : "EXISTS (SELECT 1 FROM $b b WHERE b.pid = a.pid AND $cond)";
	my $alias = 'a' . (@$joins + 1);
	push @$joins, "LEFT JOIN (SELECT DISTINCT a.pid, true AS v FROM $a a WHERE $where) $alias ON $alias.pid = p.patient_id";
	return "($alias.v IS NOT NULL)";
}

