# trialmatch on the two public OMOP CDM v5.4 sample databases, loaded as
# they are by scripts/load_omop.sh: person counts on eunomia-gibleed
# (celecoxib, diclofenac, GI hemorrhage, all persons, and ancestors with many
# descendants), and a lab-threshold trial with unit conversion on
# synthea27nj whose expected statuses were worked out by hand from the CSVs
# (test/omop/README.md).  The data lives outside the repository
# (../shared/data, or $TRIALMATCH_OMOP_DATA); without it the test is skipped.
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $top = abs_path(dirname(__FILE__) . '/..');
my ($data) = grep { defined $_ && -d "$_/eunomia-gibleed/csv" && -d "$_/synthea27nj" }
  ($ENV{TRIALMATCH_OMOP_DATA}, "$top/../shared/data", '/work/shared/data');
plan skip_all => 'OMOP sample data not found (set TRIALMATCH_OMOP_DATA)' unless $data;

my $node = PostgreSQL::Test::Cluster->new('omop');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION trialmatch');

foreach my $ds (['eunomia-gibleed', 'gibleed'], ['synthea27nj', 'nj'])
{
	local $ENV{PSQL} = 'psql';
	$node->command_ok(
		[ 'bash', "$top/scripts/load_omop.sh", "$data/$ds->[0]", $ds->[1],
		  '-h', $node->host, '-p', $node->port, '-d', 'postgres' ],
		"load $ds->[0]");
}

# eunomia-gibleed: persons with a drug or condition ever, through << hierarchies
$node->safe_psql('postgres', q{
  SELECT trialmatch.use_omop('gibleed');
  INSERT INTO trialmatch.trials (trial_id) VALUES ('celecoxib'), ('diclofenac'), ('gi_bleed'), ('all'),
    ('nsaids'), ('c4227253'), ('c253549');
  INSERT INTO trialmatch.criteria VALUES
    ('celecoxib', 1, 'inclusion', 'celecoxib ever', 'drug << 1118084'),
    ('diclofenac', 1, 'inclusion', 'diclofenac ever', 'drug << 1124300'),
    ('gi_bleed', 1, 'inclusion', 'GI hemorrhage ever', 'condition << 192671'),
    ('all', 1, 'inclusion', 'anyone', 'true'),
    ('nsaids', 1, 'inclusion', 'any of 4 NSAIDs', 'drug << 21603933'),
    ('c4227253', 1, 'inclusion', '16 descendants', 'condition << 4227253'),
    ('c253549', 1, 'inclusion', '17 descendants', 'condition << 253549');
});
my %expect = (celecoxib => 1844, diclofenac => 850, gi_bleed => 479, all => 2694,
	nsaids => 2694, c4227253 => 1416, c253549 => 2356);
foreach my $t (sort keys %expect)
{
	is($node->safe_psql('postgres',
			"SELECT count(*) FROM trialmatch.match_patients('$t', '2020-01-01') WHERE status = 'eligible'"),
		$expect{$t}, "gibleed: $t");
}
# the same through the single-patient path, for a sample of persons
is($node->safe_psql('postgres', q{
  WITH single AS (
    SELECT p.person_id, t.trial_id, t.status
      FROM gibleed.person p, LATERAL trialmatch.match_trials(p.person_id, '2020-01-01') t
     WHERE p.person_id % 50 = 0)
  SELECT count(*) FROM single s
   JOIN (SELECT tr.trial_id, m.* FROM trialmatch.trials tr,
                LATERAL trialmatch.match_patients(tr.trial_id, '2020-01-01') m) pop
     ON pop.trial_id = s.trial_id AND pop.patient_id = s.person_id
   WHERE pop.status IS DISTINCT FROM s.status}), '0',
	'gibleed: match_trials agrees with match_patients');

# synthea27nj: HbA1c in %, creatinine converted from mg/dL to umol/L
$node->safe_psql('postgres', q{
  DELETE FROM trialmatch.trials;
  SELECT trialmatch.use_omop('nj');
  INSERT INTO trialmatch.trials (trial_id) VALUES ('NJ-LAB');
  INSERT INTO trialmatch.criteria (trial_id, position, kind, label, expr) VALUES
   ('NJ-LAB', 1, 'inclusion', 'Adult', 'age >= 18'),
   ('NJ-LAB', 2, 'inclusion', 'HbA1c', $$measurement 3004410 within 2 years last >= 6.0 unit '%'$$),
   ('NJ-LAB', 3, 'exclusion', 'Creatinine', $$measurement (3051825, 3016723) within 2 years max > 177 unit 'umol/L'$$);
  INSERT INTO trialmatch.unit_conversions (code, from_unit, to_unit, factor, "offset") VALUES
   ('3051825', 'mg/dL', 'umol/L', 88.42, 0), ('3016723', 'mg/dL', 'umol/L', 88.42, 0);
});
my $got = $node->safe_psql('postgres', q{
  SELECT status, string_agg(patient_id::text, ',' ORDER BY patient_id)
    FROM trialmatch.match_patients('NJ-LAB', '2022-07-01') GROUP BY status ORDER BY status});
is($got, join("\n",
		'eligible|16,22,26',
		'ineligible|2,3,6,8,10,13,15,20,27,28',
		'indeterminate|1,4,5,7,9,11,12,14,17,18,19,21,23,24,25'),
	'synthea27nj: NJ-LAB statuses as worked out by hand');
is($node->safe_psql('postgres', q{
  SELECT string_agg(format('%s/%s/%s/%s', passed, failed, unknown, remaining), ' ' ORDER BY position)
    FROM trialmatch.attrition('NJ-LAB', '2022-07-01')}),
	'23/5/0/23 4/4/20/19 6/2/20/18', 'synthea27nj: attrition');
like($node->safe_psql('postgres',
		"SELECT evidence FROM trialmatch.explain_match('NJ-LAB', 20, '2022-07-01') WHERE position = 3"),
	qr/^max 3051825 = 2\.8 mg\/dL \(247\.5\d* umol\/L\) at 2020-10-26/, 'synthea27nj: evidence of a converted value');

$node->stop;
done_testing();
