# Fuzzing the criteria parser, validator and evaluator through SQL.
#
# Inputs come from (a) random generation from the grammar of SPEC section 4
# (random nesting, code lists, numbers huge and tiny, strings with quotes,
# %, _, multibyte and control characters, comments, random keyword case)
# and (b) mutation of seeds taken from the regression tests sql/*.sql (char
# flips, truncation, duplication, deletion, splicing of seeds, insertion of
# keywords from the language's dictionary).  Each input goes through
# trialmatch.check_expr(), its canonical form through check_expr() again
# (it must be a fixed point), and through an INSERT into
# trialmatch.criteria; an accepted criterion is then screened with
# match_patients, explain_match and attrition on a tiny population.
#
# Every input must end in a result or a clean ERROR whose SQLSTATE is one
# of the expected classes; never a crash, a hang (statement_timeout), an
# internal error (XX000), or a leak (a session's memory growing input
# after input).  Unexpected outcomes are written, with the input as a SQL
# literal, to tmp_check/log/020_fuzz_failures.sql.
#
# The run is reproducible: a fixed seed by default.  Environment:
#   TRIALMATCH_FUZZ_SECONDS  how long to generate inputs (default 60)
#   TRIALMATCH_FUZZ_SEED     random seed (default 20260601)
#   TRIALMATCH_FUZZ_BATCH    inputs per psql session (default 300)
# A longer run, from the top of a tree copy owned by postgres:
#   TRIALMATCH_FUZZ_SECONDS=3600 TRIALMATCH_FUZZ_SEED=$RANDOM \
#     make installcheck REGRESS= ISOLATION= PROVE_TESTS=t/020_fuzz.pl
use strict;
use warnings;
use utf8;
use Time::HiRes qw(time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $seconds = $ENV{TRIALMATCH_FUZZ_SECONDS} // 60;
my $seed = $ENV{TRIALMATCH_FUZZ_SEED} // 20260601;
my $batch_size = $ENV{TRIALMATCH_FUZZ_BATCH} // 300;
srand($seed);
note "fuzz: seed $seed, $seconds seconds, batches of $batch_size";

# Expected SQLSTATEs: syntax (42601), unknown source (42704), missing column
# (42703), code type mismatch (42804), out of range (22003), program limits
# (54xxx: code lists, stack depth), prerequisite (55000).  $known_re lists
# SQLSTATEs tolerated while a known issue is open (none now).
my $expected_re = qr/^(42601|42704|42703|42804|22003|54...|55000)$/;
my $known_re = qr/(?!)/;

my $node = PostgreSQL::Test::Cluster->new('fuzz');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->append_conf('postgresql.conf', q{
restart_after_crash = on
max_worker_processes = 16
max_parallel_workers = 8
log_min_messages = warning
log_min_error_statement = panic
});
$node->start;

$node->safe_psql('postgres', q{
SET timezone = 'UTC';
CREATE EXTENSION trialmatch;
CREATE TABLE pat (patient_id int8 PRIMARY KEY, birth_date date, sex text);
INSERT INTO pat VALUES (1, '1970-01-01', 'F'), (2, '2008-06-15', 'M'), (3, NULL, NULL),
  (4, '2000-02-29', 'é'), (5, '1950-01-01', 'X');
CREATE TABLE lab (patient_id int8, code text, taken_at timestamptz, value numeric, unit text);
CREATE INDEX ON lab (patient_id);
INSERT INTO lab VALUES
  (1, 'A1', '2026-05-01', 7.5, '%'), (1, 'E11.9', '2026-01-01', 1, NULL),
  (2, '4548-4', '2026-05-30', 'NaN', '%'), (2, 'x', '2025-01-01', 'Infinity', 'mg/dL'),
  (3, '%', '2026-05-31', -1, 'mmol/L'), (3, '_', '-infinity', 0, 'x'),
  (4, 'é', '2026-05-31 23:00', 1e300, 'é'), (4, 'A1', 'infinity', 3, '%'),
  (5, 'it''s', '2026-01-01', -1e-300, NULL), (99, 'A1', '2026-01-01', 1, '%'),
  (NULL, 'A1', '2026-01-01', 1, '%'), (1, NULL, '2026-01-01', 1, '%'), (1, 'A1', NULL, 1, '%');
CREATE TABLE med (patient_id int4, drug varchar, started date, ended date);
INSERT INTO med VALUES (1, 'insulin', '2026-01-01', NULL), (2, 'insulin lispro', '2025-01-01', '2026-06-15'),
  (3, 'metformin', '-infinity', '2020-12-31'), (4, 'm', '2026-05-01', '2026-05-02');
CREATE TABLE obs (patient_id int8, concept int8, t timestamp, v float8);
INSERT INTO obs VALUES (1, 201826, '2026-05-01', 1), (2, -5, '2026-05-01', 'NaN'),
  (3, 9223372036854775807, '2026-05-01', '-Infinity'), (4, 0, '2026-05-31 12:00', 2);
INSERT INTO trialmatch.unit_conversions VALUES ('A1', 'mmol/L', '%', 2, 1), ('x', 'mg/dL', 'é', 'NaN', 0);
SELECT trialmatch.set_patients('pat');
SELECT trialmatch.add_source('lab', 'lab', time_column => 'taken_at', value_column => 'value', unit_column => 'unit');
SELECT trialmatch.add_source('med', 'med', code_column => 'drug', time_column => 'started', end_time_column => 'ended');
SELECT trialmatch.add_source('obs', 'obs', code_column => 'concept', time_column => 't', value_column => 'v');
-- clinical notes (issue 11): odd text, huge and empty notes, a text search index
CREATE TABLE note (patient_id int8, written date, body text);
INSERT INTO note VALUES (1, '2026-05-01', 'No evidence of brain metastases. Possible pneumonia.'),
  (2, '2026-05-02', 'Mother had diabetes; ＭＲＩ shows é́ lesion, é café'),
  (3, '2026-05-03', ''), (4, '2026-05-04', repeat('no fever but cough. ', 200000)),
  (5, '2026-05-05', repeat('x', 3000000)), (5, NULL, 'pneumonia'), (NULL, '2026-01-01', 'pneumonia'),
  (1, '2026-05-06', E'\u00a0\u2028rule out\u3000PE\uff01 denies\tchest\npain');
CREATE INDEX ON note USING gin (to_tsvector('simple', body));
SELECT trialmatch.add_source('note', 'note', time_column => 'written', text_column => 'body');
INSERT INTO trialmatch.trials (trial_id) VALUES ('FZ');
INSERT INTO trialmatch.criteria VALUES ('FZ', 1, 'inclusion', 'adult', 'age >= 18');

-- One input: check_expr, its canonical form again, INSERT as criterion 2
-- of trial FZ, and if stored, screen; every step's outcome, the INSERT
-- rolled back.  Query cancel (statement_timeout) is caught as TIMEOUT.
CREATE FUNCTION fz_try(e text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
  c text; s text := '-'; m text := '-'; rt text := '-';
  canon text; again text; n bigint;
BEGIN
  BEGIN
    canon := trialmatch.check_expr(e);
    c := 'ok';
  EXCEPTION WHEN query_canceled THEN c := 'TIMEOUT';
            WHEN OTHERS THEN c := SQLSTATE;
  END;
  IF c = 'ok' THEN
    BEGIN
      again := trialmatch.check_expr(canon);
      rt := CASE WHEN again = canon THEN 'ok' ELSE 'DIFF' END;
    EXCEPTION WHEN query_canceled THEN rt := 'TIMEOUT';
              WHEN OTHERS THEN rt := SQLSTATE;
    END;
  END IF;
  BEGIN
    INSERT INTO trialmatch.criteria VALUES ('FZ', 2, 'exclusion', 'fuzz', e);
    s := 'ok';
    BEGIN
      SELECT count(*) INTO n FROM trialmatch.match_patients('FZ', '2026-06-01');
      SELECT count(*) INTO n FROM trialmatch.explain_match('FZ', 1 + length(e) % 5, '2026-06-01');
      SELECT count(*) INTO n FROM trialmatch.attrition('FZ', '2026-06-01');
      SELECT count(*) INTO n FROM trialmatch.match_trials(4, '2026-06-01');
      m := 'ok';
    EXCEPTION WHEN query_canceled THEN m := 'TIMEOUT';
              WHEN OTHERS THEN m := SQLSTATE;
    END;
    RAISE EXCEPTION USING ERRCODE = 'FZ000';
  EXCEPTION WHEN query_canceled THEN s := 'TIMEOUT';
            WHEN SQLSTATE 'FZ000' THEN NULL;
            WHEN OTHERS THEN s := SQLSTATE;
  END;
  RETURN c || ' ' || rt || ' ' || s || ' ' || m;
END $f$;
});

# ---------------------------------------------------------------------
# Random helpers
# ---------------------------------------------------------------------
sub pick { return $_[ int(rand(@_)) ]; }

# In valid mode (most generated inputs) only well-formed, well-typed
# choices are made, so that most inputs get through to the screening.
our $valid = 0;
sub chance { return rand() < $_[0]; }

my @keywords = qw(or and not true false unknown age sex in except within
  hour hours day days week weeks month months year years count where value
  last first min max avg any unit active between observed);
my @dict = (@keywords, qw(lab med obs diagnosis note mentions), '(', ')', ',', '=', '<', '<=', '<>', '!=',
	'>=', '>', '<<', "'", "''", '--', '%', '_', '1e', '0', '-1', '.5',
	"'E11%'", "'x'", "1e309", "\n", "--\n", "é", "\x{1F600}");

sub kw
{
	my ($w) = @_;
	my $r = rand();
	return $w if $r < 0.6;
	return uc($w) if $r < 0.8;
	return join('', map { chance(0.5) ? uc($_) : $_ } split //, $w);
}

sub ws
{
	my $r = rand();
	return ' ' if $r < 0.85;
	return pick("\t", "\n", "  ", "\r\n", "\f", " -- comment é\n", "--\n", " --'unterminated\n");
}

sub quote_code
{
	my ($s) = @_;
	$s =~ s/'/''/g;
	return "'$s'";
}

sub rand_char
{
	my $r = rand();
	return chr(32 + int(rand(95))) if $r < 0.6;
	return pick('é', 'ü', '中', 'ß', "\x{1F600}", "\x{10FFFF}", "\x{FFFD}", "\x{00A0}") if $r < 0.8;
	return chr(1 + int(rand(31)));    # control characters, never NUL
}

sub rand_string
{
	my $r = rand();
	my $s;
	if ($r < 0.5)
	{
		$s = pick('A1', 'E11.9', '4548-4', 'x', 'insulin', 'insulin lispro', 'it\'s', 'é', '_', 'm',
			'E11', 'metformin', 'A', 'mg/dL', 'mmol/L', '%', 'F', 'M', 'X');
	}
	elsif ($r < 0.9)
	{
		$s = join('', map { rand_char() } 1 .. int(rand(12)));
	}
	else
	{
		$s = rand_char() x int(rand(chance(0.1) ? 100000 : 300));
	}
	$s .= '%' if chance(0.25);
	$s = '' if chance(0.02) && !$valid;
	$s = 'A1' if $s eq '' || ($s eq '%' && $valid);
	return quote_code($s);
}

sub rand_number
{
	my $r = rand();
	if ($valid)
	{
		return int(rand(100)) if $r < 0.5;
		return sprintf('%.*f', int(rand(4)), rand(200) - 100) if $r < 0.8;
		return pick('1e308', '-1e308', '1e-300', '2.5E+10', '1E-5', '-0', '.5', '5.', '00001',
			'9223372036854775808', '1.7976931348623157e308');
	}
	return int(rand(100)) if $r < 0.35;
	return sprintf('%.*f', int(rand(4)), rand(200) - 100) if $r < 0.55;
	return pick('1e308', '-1e308', '1.7976931348623157e308', '1e309', '-1e309', '1e-300',
		'1e-320', '4.9e-324', '1e-400', '2.5E+10', '1E-5', '-0', '0.0', '.5', '5.', '-.5',
		'00001', '9223372036854775807', '9223372036854775808', '-9223372036854775809',
		'1e99999999999', '0x10', '1_000', '1.2.3', '1e', '1e+', '--1', '+1', 'NaN', 'nan',
		'Infinity', '-infinity', 'inf', '1,5') if $r < 0.9;
	return '9' x (1 + int(rand(500))) if $r < 0.95;
	return '0.' . ('0' x int(rand(400))) . '1';
}

sub rand_integer
{
	return pick(0, 201826, -5, 9223372036854775807, int(rand(1000))) if $valid;
	return pick(0, 1, -5, 201826, 2147483647, 2147483648, -2147483649, '9223372036854775807',
		'-9223372036854775808', '9223372036854775808', '007', int(rand(1000000)));
}

sub gen_test
{
	return kw('between') . ws() . rand_number() . ws() . kw('and') . ws() . rand_number()
	  if chance(0.2);
	return pick('<', '<=', '=', '<>', '!=', '>=', '>') . ws() . rand_number() if $valid;
	return pick('<', '<=', '=', '<>', '!=', '>=', '>', '=<', '=>', '==', '!') . ws() . rand_number();
}

sub gen_code
{
	my ($int) = @_;
	$int = chance(0.3) unless $valid;
	return ($int && chance(0.1) ? '<< ' : '') . rand_integer() if $int;
	return rand_string();
}

sub gen_codes
{
	my ($int) = @_;
	return gen_code($int) if chance(0.6);
	my $n = chance(0.05) ? int(rand(3000)) : 1 + int(rand(5));
	$n = 1 if $n == 0 && $valid;
	return '(' . join(',' . ws(), map { gen_code($int) } 1 .. $n) . ')';
}

sub gen_event
{
	return gen_mention() if chance(0.12);    # clinical notes (appended below)
	my $src = $valid ? pick('lab', 'lab', 'med', 'obs', 'LAB')
	  : pick('lab', 'lab', 'med', 'obs', 'diagnosis', 'LAB', 'count', 'x' . int(rand(9)));
	my $int = lc($src) eq 'obs';
	my $e = $src . ws() . gen_codes($int);
	$e .= ws() . kw('except') . ws() . gen_codes($int) if chance(0.15);
	if (chance(0.4))
	{
		my @units = qw(hour hours day days week weeks month months year years);
		$e .= ws() . kw('within') . ws()
		  . ($valid ? pick(1, 7, 30, 90, 180, 365, 1000, 1000000) :
			  pick(1, 7, 30, 90, 180, 365, 1000000, 1000001, 0, -1, '1.5', '1e3', 99999999999))
		  . ws() . kw($valid ? pick(@units) : pick(@units, 'parsecs'));
		$e =~ s/1000000(\s+)(\w+)$/1000000$1hours/ if $valid;    # else before 4714 BC
	}
	my $r = rand();
	if ($valid && lc($src) eq 'med')
	{
		$e .= ws() . kw('count') . ws() . gen_test() if $r < 0.3;
		$e .= ws() . kw('active') if $r >= 0.3 && $r < 0.6;
		return $e;
	}
	if ($r < 0.15)
	{
		$e .= ws() . kw('count');
		$e .= ws() . kw('where') . ws() . kw('value') . ws() . gen_test() if chance(0.4);
		$e .= ws() . gen_test();
	}
	elsif ($r < 0.55)
	{
		$e .= ws() . kw(pick(qw(last first min max avg any))) . ws() . gen_test();
		$e .= ws() . kw('unit') . ws() . rand_string() if chance(0.3) && !($valid && $int);
	}
	elsif ($r < 0.65 && !$valid)
	{
		$e .= ws() . kw('active');
	}
	return $e;
}

sub gen_factor
{
	my ($depth) = @_;
	my $r = rand();
	if ($depth > 0 && $r < 0.1)
	{
		return kw('not') . ws() . gen_factor($depth - 1);
	}
	if ($depth > 0 && $r < 0.25)
	{
		return '(' . ws() . gen_expr($depth - 1) . ws() . ')';
	}
	return kw(pick(qw(true false unknown))) if $r < 0.32;
	return kw('age') . ws() . gen_test() if $r < 0.42;
	if ($r < 0.5)
	{
		return kw('sex') . ws() . '=' . ws() . rand_string() if chance(0.5);
		return kw('sex') . ws() . kw('in') . ws() . '('
		  . join(',' . ws(), map { rand_string() } 1 .. 1 + int(rand(4))) . ')';
	}
	return gen_time_factor($depth) if chance(0.3);    # 1.1 time: appended below
	return gen_event();
}

sub gen_term
{
	my ($depth) = @_;
	my $n = chance(0.6) ? 1 : 1 + int(rand(4));
	return join(ws() . kw('and') . ws(), map { gen_factor($depth) } 1 .. $n);
}

sub gen_expr
{
	my ($depth) = @_;
	my $n = chance(0.6) ? 1 : 1 + int(rand(4));
	my $e = join(ws() . kw('or') . ws(), map { gen_term($depth) } 1 .. $n);
	$e .= " -- trailing é" if chance(0.03);
	return $e;
}

sub generate
{
	local $valid = chance(0.6);
	my $r = rand();
	my $depth = $r < 0.9 ? int(rand(4)) : int(rand(60));
	my $e = gen_expr($depth);
	if (chance(0.02))
	{
		# deep nesting straight away: NOTs or parentheses, hundreds to thousands deep
		my $d = pick(100, 500, 1000, 3000, 20000);
		$e = chance(0.5) ? (kw('not') . ' ') x $d . $e : ('(' x $d) . $e . (')' x $d);
	}
	return $e;
}

# ---------------------------------------------------------------------
# Seeds: every quoted literal of the regression tests, and mutations
# ---------------------------------------------------------------------
my @seeds;
foreach my $f (glob('sql/*.sql'))
{
	my $sql = slurp_file($f);
	utf8::decode($sql);
	while ($sql =~ /\$\$(.*?)\$\$/gs) { push @seeds, $1; }
	while ($sql =~ /(?<![\$\w])'((?:[^']|'')+)'/g)
	{
		my $s = $1;
		$s =~ s/''/'/g;
		push @seeds, $s;
	}
}
@seeds = grep { length($_) > 0 && length($_) < 5000 } @seeds;
push @seeds, 'true', q{lab 'A1' within 1 year last > 7 unit '%'};
note 'fuzz: ' . scalar(@seeds) . ' seeds from sql/*.sql';

sub mutate
{
	my ($s) = @_;
	my $n = 1 + int(rand(4));
	for (1 .. $n)
	{
		my $len = length($s);
		my $pos = int(rand($len + 1));
		my $r = rand();
		if ($r < 0.2 && $len > 0)    # flip a character
		{
			my $c = substr($s, $pos % $len, 1);
			my $o = ord($c) ^ (1 << int(rand(7)));
			$o = 32 if $o == 0;
			substr($s, $pos % $len, 1) = chance(0.7) ? chr($o) : rand_char();
		}
		elsif ($r < 0.3)              # truncate
		{
			$s = substr($s, 0, $pos);
		}
		elsif ($r < 0.4 && $len > 0)    # delete a range
		{
			substr($s, $pos, int(rand(10))) = '';
		}
		elsif ($r < 0.55)               # duplicate a range, sometimes many times
		{
			my $piece = substr($s, $pos, 1 + int(rand(20)));
			my $times = chance(0.1) ? int(rand(300)) : 1 + int(rand(3));
			substr($s, $pos, 0) = $piece x $times;
		}
		elsif ($r < 0.8)                # splice a keyword from the dictionary
		{
			substr($s, $pos, 0) = ' ' . kw(pick(@dict)) . ' ';
		}
		elsif ($r < 0.9)                # splice with another seed
		{
			my $o = pick(@seeds);
			$s = substr($s, 0, $pos) . substr($o, int(rand(length($o) + 1)));
		}
		else                            # a token of the grammar
		{
			substr($s, $pos, 0) = pick(gen_test(), gen_codes(), rand_number(), rand_string(), generate());
		}
	}
	return $s;
}

sub next_input
{
	my $r = rand();
	return generate() if $r < 0.45;
	return mutate(generate()) if $r < 0.6;
	return mutate(pick(@seeds));
}

# ---------------------------------------------------------------------
# Language 1.1, part 1 (SPEC 7, issue 9): categories (IS codes), normal-range
# bounds (N x uln / N x lln), filters on attributes, code sets (@name),
# omitted codes, age in months/weeks/days.  The lab table gets a category,
# a normal range and an attribute; med an attribute; two code sets.  A
# share of generated events use the 1.1 rules (valid and invalid), and the
# dictionary learns the new keywords.
# ---------------------------------------------------------------------
$node->safe_psql('postgres', q{
ALTER TABLE lab ADD COLUMN res text, ADD COLUMN lo numeric, ADD COLUMN hi float8, ADD COLUMN route text;
UPDATE lab SET res = CASE WHEN value > 1 THEN 'Positive' WHEN value IS NULL THEN NULL ELSE 'Negative' END,
               lo = 0.5, hi = CASE WHEN code = 'A1' THEN 'Infinity'::float8 ELSE 2 END,
               route = CASE WHEN patient_id % 2 = 0 THEN 'IV' END;
ALTER TABLE med ADD COLUMN dose int4;
UPDATE med SET dose = patient_id * 100;
SELECT trialmatch.add_source('lab', 'lab', time_column => 'taken_at', value_column => 'value',
  unit_column => 'unit', category_column => 'res', range_low_column => 'lo', range_high_column => 'hi');
SELECT trialmatch.add_attribute('lab', 'route', 'route');
SELECT trialmatch.add_attribute('med', 'dose', 'dose');
INSERT INTO trialmatch.code_sets VALUES ('fzset', 'A1'), ('fzset', 'E11%'), ('fzpos', 'Pos%');
});
push @keywords, qw(is x uln lln months weeks days route dose);
push @dict, qw(is x uln lln @ @fzset @fzpos @nosuch where route dose), 'x uln', '2 x lln';

sub gen_bound
{
	my $n = rand_number();
	return $n unless chance(0.5);
	return $n . ws() . kw('x') . ws() . kw(pick('uln', 'lln')) if $valid;
	return $n . ws() . kw(pick('x', 'X', 'x x')) . ws() . kw(pick('uln', 'lln', 'ulm', ''));
}

sub gen_test11
{
	return kw('between') . ws() . gen_bound() . ws() . kw('and') . ws() . gen_bound() if chance(0.3);
	return pick('<', '<=', '=', '<>', '>=', '>') . ws() . gen_bound();
}

sub gen_codes11
{
	my ($int) = @_;
	return gen_codes($int) if $int || chance(0.6);
	my $set = $valid ? pick('@fzset', '@fzpos') : pick('@fzset', '@fzpos', '@nosuch', '@', '@ 1', '@@x');
	return chance(0.5) ? $set : '(' . gen_code(0) . ',' . ws() . $set . ')';
}

my $gen_event_10 = \&gen_event;
{
	no warnings 'redefine';
	*gen_event = sub {
		return $gen_event_10->() if chance(0.6);
		my $src = $valid ? pick('lab', 'lab', 'med') : pick('lab', 'med', 'obs', 'lab');
		my $e = $src;
		$e .= ws() . ($src eq 'lab' ? gen_codes11(0) : gen_codes(0)) if !$valid || chance(0.8);
		$e .= ws() . kw('except') . ws() . gen_codes(0) if chance(0.1);
		if (chance(0.3))
		{
			$e .= ws() . kw('where') . ws()
			  . ($src eq 'med' ? kw('dose') . ws() . gen_test()
				: kw('route') . ws() . kw('is') . ws() . gen_codes11(0));
			$e .= ws() . kw('where') . ws() . kw(pick('nosuch', 'value', 'route')) . ws() . gen_test()
			  if !$valid && chance(0.3);
		}
		$e .= ws() . kw('within') . ws() . pick(1, 30, 365) . ws() . kw(pick('days', 'months', 'year'))
		  if chance(0.4);
		return $e if $src eq 'med' && $valid;
		my $r = rand();
		if ($r < 0.35)
		{
			$e .= ws() . kw(pick('last', 'first', 'any')) . ws() . kw('is') . ws() . gen_codes11(0);
			$e .= ws() . kw('unit') . ws() . rand_string() if !$valid && chance(0.2);
		}
		elsif ($r < 0.65)
		{
			$e .= ws() . kw(pick('last', 'first', 'any', $valid ? () : ('min', 'max', 'avg'))) . ws() . gen_test11();
			$e .= ws() . kw('unit') . ws() . rand_string() if !$valid && chance(0.2);
		}
		elsif ($r < 0.85)
		{
			$e .= ws() . kw('count') . ws() . kw('where') . ws() . kw('value') . ws()
			  . (chance(0.5) ? kw('is') . ws() . gen_codes11(0) : gen_test11()) . ws() . gen_test();
		}
		return $e;
	};
	my $gen_factor_10 = \&gen_factor;
	*gen_factor = sub {
		return kw('age') . ws() . gen_test() . ws() . kw(pick(qw(years months weeks days month day)))
		  if chance(0.05);
		return $gen_factor_10->(@_);
	};
}

# A few extremes once, then random inputs.
my @extremes = (
	'not ' x 30000 . 'true',
	'(' x 30000 . 'true' . ')' x 30000,
	'(' x 100000,
	'lab (' . join(',', map { "'c$_'" } 1 .. 100001) . ')',
	'obs (' . join(',', 1 .. 100000) . ')',
	'lab ' . quote_code('x' x 2000000),
	'age > ' . ('9' x 20000),
	'true or ' x 3000 . 'true',
	"lab 'A1' within 1000000 years",
	"'" x 10001,
	"sex in (" . join(',', map { "'s$_'" } 1 .. 20000) . ')');

# ---------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------
sub sql_literal
{
	my ($s) = @_;
	$s =~ s/'/''/g;
	return "'$s'";
}

my %stats = (tried => 0, check_ok => 0, stored => 0, screened => 0);
my (%check_err, %store_err, %match_err, %rt_err);
my @failures;
my $failfile = $PostgreSQL::Test::Utils::log_path . '/020_fuzz_failures.sql';
my $logpos = -s $node->logfile;
my $start = time();
my $batches = 0;
# backend memory after the 20th input and at the end of each batch
my ($mem_growth, $mem_max) = (0, 0);

sub fail_input
{
	my ($why, $input) = @_;
	push @failures, [ $why, $input ];
	diag("fuzz failure: $why; input (" . length($input) . ' chars): '
		  . substr($input, 0, 300) . (length($input) > 300 ? '...' : ''));
}

my $batch_time = 0;
# stop when the next batch would end after the time limit
while (@extremes || time() - $start + $batch_time < $seconds)
{
	my $batch_start = time();
	my @inputs;
	if (@extremes)
	{
		@inputs = @extremes;
		@extremes = ();
	}
	else
	{
		push @inputs, next_input() for 1 .. $batch_size;
	}
	s/\x00//g for @inputs;
	my $script = "SET statement_timeout = '20s';\nSET timezone = 'UTC';\n";
	for my $i (0 .. $#inputs)
	{
		$script .= "SELECT '$i ' || fz_try(" . sql_literal($inputs[$i]) . ");\n";
		$script .= "SELECT 'MEM0 ' || sum(total_bytes) FROM pg_backend_memory_contexts;\n"
		  if $i == 19;
	}
	$script .= "SELECT 'MEM1 ' || sum(total_bytes) FROM pg_backend_memory_contexts;\n";
	utf8::encode($script);
	my ($out, $err) = ('', '');
	my $ret = $node->psql('postgres', $script, stdout => \$out, stderr => \$err,
		on_error_stop => 0, timeout => 600);
	$batches++;

	my %seen;
	my $mem0;
	foreach my $line (split /\n/, $out)
	{
		if ($line =~ /^MEM0 (\d+)/)
		{
			$mem0 = $1;
			next;
		}
		if ($line =~ /^MEM1 (\d+)/)
		{
			if (defined $mem0)
			{
				$mem_growth = $1 - $mem0 if $1 - $mem0 > $mem_growth;
				$mem_max = $1 if $1 > $mem_max;
			}
			next;
		}
		next unless $line =~ /^(\d+) (\S+) (\S+) (\S+) (\S+)$/;
		my ($i, $c, $rt, $s, $m) = ($1, $2, $3, $4, $5);
		$seen{$i} = 1;
		my $input = $inputs[$i];
		$stats{tried}++;
		if ($c eq 'ok') { $stats{check_ok}++; }
		else { $check_err{$c}++; }
		if ($s eq 'ok') { $stats{stored}++; }
		else { $store_err{$s}++; }
		if ($m eq 'ok') { $stats{screened}++; }
		elsif ($m ne '-') { $match_err{$m}++; }
		$rt_err{$rt}++ if $rt ne 'ok' && $rt ne '-';

		foreach my $st ($c, $s, $m)
		{
			next if $st eq 'ok' || $st eq '-' || $st =~ $expected_re || $st =~ $known_re;
			fail_input("unexpected SQLSTATE $st (check $c, store $s, screen $m)", $input);
		}
		fail_input("canonical form is not a fixed point of check_expr ($rt)", $input)
		  if $rt ne 'ok' && $rt ne '-';
		# the INSERT parses exactly like check_expr (its stack is deeper)
		my $parse_err = qr/^(42601|22003|54000)$/;
		fail_input("check_expr $c but INSERT $s", $input)
		  if ($c eq 'ok' && $s =~ $parse_err)
		  || ($c ne 'ok' && $s eq 'ok')
		  || ($c =~ $parse_err && $s ne $c && $s ne '54001');
	}
	# an input without an answer: the backend died (or psql lost it)
	for my $i (0 .. $#inputs)
	{
		next if $seen{$i};
		$stats{tried}++;
		fail_input("no answer (server crash?): psql exit $ret, stderr: " . substr($err, 0, 300),
			$inputs[$i]);
		last;
	}
	my $log = slurp_file($node->logfile);
	my $newlog = substr($log, $logpos);
	$logpos = length($log);
	if ($newlog =~ /(terminated by signal|PANIC|TRAP:|was terminated by exception)/)
	{
		fail_input("server log: $1", '(see the batch above; log: ' . $node->logfile . ')');
		$node->poll_query_until('postgres', 'SELECT true');
	}
	my $alive = $node->safe_psql('postgres', 'SELECT 1');
	if ($alive ne '1')
	{
		fail_input('server not answering after a batch', '');
		last;
	}
	$batch_time = time() - $batch_start if $batches > 1;
}

my $elapsed = time() - $start;
my $fmt = sub {
	my ($h) = @_;
	return join(', ', map { "$_: $h->{$_}" } sort keys %$h) || 'none';
};
diag(sprintf('fuzz: %d inputs in %d batches, %.0f s (seed %s): check_expr accepted %d, '
		  . 'stored %d, screened %d', $stats{tried}, $batches, $elapsed, $seed,
		$stats{check_ok}, $stats{stored}, $stats{screened}));
diag('fuzz: check_expr errors: ' . $fmt->(\%check_err));
diag('fuzz: INSERT errors: ' . $fmt->(\%store_err));
diag('fuzz: screening errors: ' . $fmt->(\%match_err));
diag('fuzz: round trip: ' . $fmt->(\%rt_err)) if %rt_err;
diag(sprintf('fuzz: backend memory: at most %d kB at the end of a batch, growth within a batch at most %d kB',
		$mem_max / 1024, $mem_growth / 1024));

if (@failures)
{
	open my $fh, '>:encoding(UTF-8)', $failfile or die "cannot write $failfile: $!";
	print $fh "-- trialmatch fuzz failures, seed $seed\n";
	foreach my $f (@failures)
	{
		print $fh "-- $f->[0]\nSELECT fz_try(" . sql_literal($f->[1]) . ");\n";
	}
	close $fh;
	diag("fuzz: failing inputs written to $failfile");
}

cmp_ok($stats{tried}, '>', 0, 'fuzz inputs were run');
cmp_ok($stats{check_ok}, '>', 0, 'some inputs parse');
cmp_ok($stats{screened}, '>', 0, 'some inputs were stored and screened');
is(scalar(@failures), 0, 'no crash, hang, internal or unexpected error');
# a leak would grow the session's memory batch after batch
cmp_ok($mem_growth, '<', 32 * 1024 * 1024, 'backend memory does not grow input after input');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'server alive');

$node->stop;
done_testing();


# ---------------------------------------------------------------------
# Criteria language 1.1, time (SPEC 7.2, issue 10): windows in the past,
# days, active for, new, relations, at least k of.  Valid inputs only use
# what the sources have (ACTIVE FOR and the right side of DURING need
# med's end column; DAYS WHERE VALUE a value column).
# ---------------------------------------------------------------------
sub gen_span
{
	my ($min) = @_;
	my @units = qw(hour hours day days week weeks month months year years);
	my $n = $valid ? pick($min, 1, 3, 30, 90, 365) :
	  pick(0, 1, 3, 30, 1000000, 1000001, -1, '1.5', 99999999999);
	return $n . ws() . kw($valid ? pick(@units) : pick(@units, 'fortnights'));
}

sub gen_time_window
{
	my $r = rand();
	return ws() . kw('between') . ws() . gen_span(0) . ws() . kw('and') . ws() . gen_span(0)
	  . ws() . kw('ago') if $r < 0.4;
	return ws() . kw('over') . ws() . gen_span(0) . ws() . kw('ago') if $r < 0.7;
	return ws() . kw('within') . ws() . gen_span(1) if $r < 0.85;
	return '';
}

# an event with no measure, possibly with a 1.1 window
sub gen_time_event
{
	my ($src) = @_;
	$src //= $valid ? pick('lab', 'med', 'obs') : pick('lab', 'med', 'obs', 'x1');
	my $int = lc($src) eq 'obs';
	return $src . ws() . gen_codes($int) . gen_time_window();
}

sub gen_time_factor
{
	my ($depth) = @_;
	my $r = rand();
	if ($r < 0.15)
	{
		my $src = $valid ? pick('lab', 'obs') : pick('lab', 'med', 'obs');
		my $e = gen_time_event($src) . ws() . kw('days');
		$e .= ws() . kw('where') . ws() . kw('value') . ws() . gen_test() if chance(0.3);
		return $e . ws() . gen_test();
	}
	if ($r < 0.3)
	{
		my $e = gen_time_event($valid ? 'med' : undef) . ws() . kw('active') . ws() . kw('for')
		  . ws() . gen_span(1);
		$e .= ws() . kw('gap') . ws() . gen_span(0) if chance(0.5);
		return $e;
	}
	return gen_time_event() . ws() . kw('new') if $r < 0.4;
	if ($r < 0.8)
	{
		my $e1 = gen_time_event();
		my $k = rand();
		return $e1 . ws() . kw('during') . ws() . gen_time_event($valid ? 'med' : undef)
		  if $k < 0.25;
		return $e1 . ws() . kw('not') . ws() . kw('followed') . ws() . kw('by') . ws()
		  . gen_time_event() if $k < 0.5;
		my $up = chance(0.4) ? kw('up') . ws() . kw('to') . ws() . gen_span(0) . ws() : '';
		my $e2 = gen_time_event();
		$e2 .= ws() . kw('count') . ws() . gen_test() if !$valid && chance(0.2);
		return $e1 . ws() . $up . kw(pick('after', 'before')) . ws() . $e2;
	}
	my $m = 1 + int(rand(4));
	my $k = $valid ? 1 + int(rand($m)) : pick(0, 1, $m, $m + 1, -1);
	return kw('at') . ws() . kw('least') . ws() . $k . ws() . kw('of') . ws() . '('
	  . join(',' . ws(), map { $depth > 0 ? gen_expr($depth - 1) : gen_factor(0) } 1 .. $m) . ')';
}

# ---------------------------------------------------------------------
# Clinical notes (issue 11): `note mentions phrases [window]`, phrases of
# words, prefixes, punctuation only (42601), odd Unicode, huge phrases.
# ---------------------------------------------------------------------
sub gen_phrase
{
	my $r = rand();
	my $p;
	if ($r < 0.5)
	{
		$p = pick('brain metastases', 'metasta*', 'pneumonia', 'fever', 'chest pain', 'diabetes',
			'café', 'ＭＲＩ', "e\x{301}", 'no', 'rule out', 'x*', 'brain   METASTASES!', "it's");
	}
	elsif ($r < 0.8)
	{
		$p = join('', map { rand_char() } 1 .. int(rand(20)));
		$p = 'x' if $valid && $p !~ /[[:alnum:]]/;
	}
	elsif ($r < 0.9 && !$valid)
	{
		$p = pick('...', '*', '', ' - ', "\x{00A0}", '**', '!?');
	}
	else
	{
		$p = join(' ', map { pick('a', 'b*', 'é', '中') } 1 .. (chance(0.1) ? 70 : 1 + int(rand(5))));
	}
	return quote_code($p);
}

sub gen_mention
{
	my $e = pick('note', 'note', $valid ? 'note' : 'lab') . ws() . kw('mentions') . ws();
	if (chance(0.3))
	{
		$e .= '(' . join(',' . ws(), map { gen_phrase() } 1 .. 1 + int(rand(4))) . ')';
	}
	else
	{
		$e .= gen_phrase();
	}
	if (chance(0.4))
	{
		$e .= ws() . kw('within') . ws() . pick(1, 7, 30, 365) . ws() . kw(pick(qw(days months years)));
	}
	return $e;
}
