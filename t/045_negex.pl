# Clinical notes (issue 11): accuracy of negation on the NegEx test kit's
# reports 1-60 (scripts/negex_eval.sql), the text search index path, and
# bad input: huge notes with bounded memory, bytes that are not UTF-8 (a
# SQL_ASCII database), a single-byte encoding (LATIN1).
use strict;
use warnings;
use FindBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $tsv = $ENV{NEGEX_DEV_TSV} // '/work/shared/data/negex-dev/annotations-1-60.tsv';
my $eval = "$FindBin::RealBin/../scripts/negex_eval.sql";

my $node = PostgreSQL::Test::Cluster->new('negex');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'trialmatch'
max_worker_processes = 16
max_parallel_workers = 8
log_min_messages = debug1
});
$node->start;

# ---------------------------------------------------------------------
# Accuracy (NegEx's scoring: a non-TRUE result on a Negated pair is a hit,
# on an Affirmed pair a false alarm).  Floors: NegEx's own figures for
# the comparable (negation-only) trigger set; the default set also marks
# hypothetical, someone else's and possible mentions, which the kit
# annotates as Affirmed.
# ---------------------------------------------------------------------
SKIP:
{
	skip "no NegEx development annotations at $tsv", 4 unless -r $tsv;
	$node->safe_psql('postgres', 'CREATE DATABASE ev');
	$node->safe_psql('ev', 'CREATE EXTENSION trialmatch');
	my %fig;
	for my $set ('default', 'negation')
	{
		my @opt = ('-v', "tsv=$tsv", '-At', '-F', ' ', '-f', $eval);
		push @opt, ('-v', 'negation_only=1') if $set eq 'negation';
		my ($ret, $out, $err) = $node->psql('ev', undef, extra_params => \@opt);
		my ($line) = grep { /^\d+ \d+ \d+ \d+ [\d.]+ [\d.]+$/ } split /\n/, $out;
		die "negex_eval.sql failed: $err" unless defined $line;
		my ($pairs, $hits, $misses, $fa, $p, $r) = split / /, $line;
		diag("negex dev ($set triggers): $pairs pairs, $hits hits, $misses misses, $fa false alarms, "
			  . "precision $p, recall $r");
		$fig{$set} = [ $p, $r ];
	}
	cmp_ok($fig{negation}[0], '>', 0.935, 'negation precision above NegEx (0.935)');
	cmp_ok($fig{negation}[1], '>', 0.959, 'negation recall above NegEx (0.959)');
	# 0.863 on reports 1-60: 24 of its 40 false alarms are correct
	# hypothetical, someone else's or possible answers (SPEC 8) that the kit
	# labels Affirmed, so NegEx's 0.935 is out of reach for this set.
	cmp_ok($fig{default}[0], '>=', 0.86, 'default trigger set: precision floor');
	cmp_ok($fig{default}[1], '>', 0.959, 'default trigger set: recall above NegEx');
}

# ---------------------------------------------------------------------
# The text search index path and huge notes
# ---------------------------------------------------------------------
$node->safe_psql('postgres', q{
SET timezone = 'UTC';
CREATE EXTENSION trialmatch;
CREATE TABLE pat (patient_id int8 PRIMARY KEY);
INSERT INTO pat SELECT generate_series(1, 100);
CREATE TABLE note (patient_id int8, written_at timestamptz, body text);
INSERT INTO note SELECT i % 100 + 1, '2026-01-01', CASE WHEN i % 50 = 0 THEN 'No brain metastases.'
       WHEN i % 70 = 0 THEN 'Brain metastases, resected.' ELSE 'Routine visit, doing well.' END
  FROM generate_series(1, 5000) i;
CREATE INDEX note_fts ON note USING gin (to_tsvector('simple', body));
ANALYZE note;
SELECT trialmatch.set_patients('pat', birth_date_column => NULL, sex_column => NULL);
SELECT trialmatch.add_source('note', 'note', time_column => 'written_at', text_column => 'body');
INSERT INTO trialmatch.trials (trial_id) VALUES ('T');
INSERT INTO trialmatch.criteria VALUES ('T', 1, 'inclusion', 'mets', $$note mentions 'brain metastases'$$);
});
my $q = q{SELECT string_agg(status::text, ',' ORDER BY patient_id) FROM trialmatch.match_patients('T', '2026-06-01')};
my $logpos = -s $node->logfile;
my $with_index = $node->safe_psql('postgres', $q);
my $log = substr(slurp_file($node->logfile), $logpos);
like($log, qr/source "note" is read through its text search index: \('brain' & 'metastases'\)/,
	'the GIN index on to_tsvector(simple, body) is used');
like($log, qr/(\d+) rows of source "note" read through its text search index/, 'rows read through it');
my ($nread) = $log =~ /(\d+) rows of source "note" read through its text search index/;
cmp_ok($nread, '<', 5000 / 10, 'only the notes it returns are read');
$node->safe_psql('postgres', 'DROP INDEX note_fts');
is($node->safe_psql('postgres', $q), $with_index, 'the same results without the index');

# a huge note (tens of MB of words) and memory: the per-row context is reset
$node->safe_psql('postgres', q{
INSERT INTO note SELECT 1, '2026-02-01', repeat('no fever but cough, ', 1000000) || 'brain metastases'
  FROM generate_series(1, 5);
INSERT INTO note VALUES (2, '2026-02-01', ''), (3, '2026-02-01', repeat('x', 20000000));
});
my $bg = $node->background_psql('postgres');
my $pid = $bg->query_safe('SELECT pg_backend_pid()');
my $hwm = sub {
	my $s = slurp_file("/proc/$pid/status");
	return $s =~ /VmHWM:\s+(\d+) kB/ ? $1 : 0;
};
my $before = $hwm->();
my $res = $bg->query_safe(q{SELECT status FROM trialmatch.match_patients('T', '2026-06-01') WHERE patient_id = 1});
is($res, 'eligible', 'a match after 20 MB of text is found');
my $growth = $hwm->() - $before;
diag("peak memory growth reading 5 notes of 20 MB: $growth kB");
cmp_ok($growth, '<', 400 * 1024, 'memory bounded by one note, not all of them');
$bg->quit;
# explain_match classifies every match: 200,000 in one sentence of 4 MB,
# each in time bounded by the scope (the sentence walk was quadratic)
$node->safe_psql('postgres', q{
INSERT INTO note VALUES (4, '2026-02-01', repeat('no fever but cough, ', 200000));
INSERT INTO trialmatch.criteria VALUES ('T', 2, 'exclusion', 'fever', 'note mentions ''fever''');
});
like( $node->safe_psql('postgres', q{SET statement_timeout = '120s';
SELECT result || ' ' || evidence FROM trialmatch.explain_match('T', 4, '2026-06-01') WHERE position = 2}),
	qr/^false note at 2026-02-01: negated "no \[fever\] but cough, no fever/,
	'explain_match over millions of matches in long sentences');

# ---------------------------------------------------------------------
# Encodings: bytes that are not UTF-8 (SQL_ASCII) and LATIN1
# ---------------------------------------------------------------------
for my $enc ('SQL_ASCII', 'LATIN1')
{
	my $db = lc $enc;
	$node->safe_psql('postgres',
		"CREATE DATABASE $db ENCODING '$enc' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0");
	my $body = $enc eq 'SQL_ASCII'
	  ? q{E'\\xff\\xfe brain\\xc3 metastases \\xe2\\x82 brain metastases \\xf0\\x9f\\x98'}
	  : q{E'caf\\xe9 brain metastases'};
	my ($ret, $out, $err) = $node->psql($db, qq{
SET timezone = 'UTC';
CREATE EXTENSION trialmatch;
CREATE TABLE pat (patient_id int8 PRIMARY KEY);
INSERT INTO pat VALUES (1), (2);
CREATE TABLE note (patient_id int8, written_at timestamptz, body text);
INSERT INTO note VALUES (1, '2026-01-01', $body), (2, '2026-01-01', E'\\x80\\x81\\xfe no brain metastases');
SELECT trialmatch.set_patients('pat', birth_date_column => NULL, sex_column => NULL);
SELECT trialmatch.add_source('note', 'note', time_column => 'written_at', text_column => 'body');
INSERT INTO trialmatch.trials (trial_id) VALUES ('T');
INSERT INTO trialmatch.criteria VALUES ('T', 1, 'inclusion', 'x', 'note mentions ''brain metastases''');
SELECT string_agg(status::text, ',' ORDER BY patient_id) FROM trialmatch.match_patients('T', '2026-06-01');
});
	is($ret, 0, "$enc: screened without error") or diag($err);
	like($out, qr/eligible,ineligible$/, "$enc: the notes are read (affirmed, negated)");
}

is($node->safe_psql('postgres', 'SELECT 1'), '1', 'server alive');
$node->stop;
done_testing();
