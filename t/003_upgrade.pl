# Upgrade path: a database created at 1.0, with sources, trials and a
# queued run stored, is updated with ALTER EXTENSION ... UPDATE; its
# extension objects must then be the same as a fresh install's, its data
# kept, and its screenings the same.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'trialmatch'\nmax_worker_processes = 16\ntrialmatch.database = 'old'\n");
$node->start;

my $data = q{
  SET timezone = 'UTC';
  CREATE TABLE pat (patient_id int8 PRIMARY KEY, birth_date date, sex text);
  INSERT INTO pat SELECT i, date '1940-01-01' + (i * 7919 % 25000), CASE WHEN i % 3 = 0 THEN 'M' ELSE 'F' END
    FROM generate_series(1, 1000) i;
  CREATE TABLE lab (patient_id int8, code text, taken_at timestamptz, value numeric, unit text);
  INSERT INTO lab SELECT i % 1000 + 1, CASE WHEN i % 3 = 0 THEN 'GLU' ELSE 'A1C' END,
         timestamptz '2026-02-15' - (i * 613 % 400) * interval '1 day', (i * 7919 % 200) / 10.0,
         CASE WHEN i % 7 = 0 THEN 'mmol/L' ELSE 'mg/dL' END
    FROM generate_series(1, 10000) i;
  SELECT trialmatch.set_patients('pat');
  SELECT trialmatch.add_source('lab', 'lab', time_column => 'taken_at', value_column => 'value', unit_column => 'unit');
  INSERT INTO trialmatch.unit_conversions VALUES ('GLU', 'mmol/L', 'mg/dL', 18, 0);
  INSERT INTO trialmatch.trials (trial_id, title) VALUES ('T', 'upgrade test');
  INSERT INTO trialmatch.criteria
  SELECT 'T', p, CASE WHEN p % 4 = 0 THEN 'exclusion' ELSE 'inclusion' END, 'c' || p,
         CASE p % 4 WHEN 0 THEN $$lab 'A1C' within 30 days max > 19$$
                    WHEN 1 THEN format('age >= %s', 10 + p)
                    WHEN 2 THEN $$lab 'GLU' within 90 days last > 5 unit 'mg/dL'$$
                    ELSE 'sex = ''F'' or unknown' END
    FROM generate_series(1, 12) p;
};

# every object of the extension, described with its definition
my $objects = q{
  SELECT string_agg(d, E'\n' ORDER BY d) FROM (
    SELECT pg_describe_object(dep.classid, dep.objid, 0) || ': ' ||
           CASE dep.classid
             WHEN 'pg_proc'::regclass THEN pg_get_functiondef(dep.objid)
                  || coalesce(array_to_string((SELECT proacl FROM pg_proc WHERE oid = dep.objid), ','), '')
             WHEN 'pg_class'::regclass THEN
                  (SELECT relkind::text || ' ' || coalesce(array_to_string(relacl, ','), '') || ' rls=' || relrowsecurity
                          || ' ' || coalesce(pg_get_viewdef(c.oid), '') || ' ' ||
                          coalesce((SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod)
                                                      || ' ' || attnotnull || ' ' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), ''),
                                                      ', ' ORDER BY attnum)
                                      FROM pg_attribute a LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                                     WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '') || ' ' ||
                          coalesce((SELECT string_agg(pg_get_triggerdef(t.oid), '; ' ORDER BY t.tgname)
                                      FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal), '') || ' ' ||
                          coalesce((SELECT string_agg(pg_get_constraintdef(k.oid), '; ' ORDER BY k.conname)
                                      FROM pg_constraint k WHERE k.conrelid = c.oid), '') || ' ' ||
                          coalesce((SELECT string_agg(pg_get_indexdef(i.indexrelid), '; ' ORDER BY 1)
                                      FROM pg_index i WHERE i.indrelid = c.oid), '') || ' ' ||
                          coalesce((SELECT string_agg(polname || ' ' || pg_get_expr(polqual, polrelid), '; ' ORDER BY polname)
                                      FROM pg_policy WHERE polrelid = c.oid), '')
                     FROM pg_class c WHERE c.oid = dep.objid)
             WHEN 'pg_type'::regclass THEN format_type(dep.objid, NULL)
             ELSE '' END AS d
      FROM pg_depend dep
     WHERE dep.refclassid = 'pg_extension'::regclass
       AND dep.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'trialmatch')
       AND dep.deptype = 'e') s
};
my $screen = q{SELECT md5(string_agg(format('%s %s %s %s', patient_id, status, failed, unknown), ',' ORDER BY patient_id)),
                      count(*) FROM trialmatch.match_patients('T', '2026-03-01')};
my $funnel = q{SELECT string_agg(format('%s %s %s %s %s', position, passed, failed, unknown, remaining), ',' ORDER BY position)
                 FROM trialmatch.attrition('T', '2026-03-01')};

# the old database: 1.0, data stored, a run screened by the pool
$node->safe_psql('postgres', 'CREATE DATABASE old');
$node->safe_psql('old', q{CREATE EXTENSION trialmatch VERSION '1.0'});
is($node->safe_psql('old', q{SELECT extversion FROM pg_extension WHERE extname = 'trialmatch'}), '1.0',
	'installed at 1.0');
$node->safe_psql('old', $data);
# a run queued at 1.0: the 1.1 library's launcher does not execute runs of
# a catalog that is not updated (it cannot tell that screen() queued them)
my $run = $node->safe_psql('old', q{SELECT trialmatch.screen('T', '2026-03-01')});
ok($node->wait_for_log(qr/extension "trialmatch" must be updated \(ALTER EXTENSION trialmatch UPDATE\); no screening runs are executed/),
	'the launcher asks for the update');
is($node->safe_psql('old', qq{SELECT state FROM trialmatch.runs WHERE run_id = $run}), 'queued',
	'and leaves the 1.0 run queued');

# at 1.0, match_patients is the 1.0 script's C function, which stores its rows
my $screen_at_10 = $node->safe_psql('old', $screen);

$node->safe_psql('old', 'ALTER EXTENSION trialmatch UPDATE');
is($node->safe_psql('old', q{SELECT extversion FROM pg_extension WHERE extname = 'trialmatch'}), '1.1',
	'updated to 1.1');
# the launcher logged the refusal and sleeps a minute; wait() wakes it, so
# the run ends well within that minute
is($node->safe_psql('old', qq{SELECT trialmatch.wait($run, '30 s')}), 'done',
	'the run queued at 1.0 completes after the update');
my $stored = $node->safe_psql('old', qq{SELECT count(*), md5(string_agg(format('%s %s', patient_id, status), ',' ORDER BY patient_id))
                                          FROM trialmatch.results WHERE run_id = $run});
like($stored, qr/^1000\|/, 'with a result per patient');

# the fresh database: the default version, the same data
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION trialmatch');
is($node->safe_psql('fresh', q{SELECT extversion FROM pg_extension WHERE extname = 'trialmatch'}), '1.1',
	'a fresh install is 1.1');
$node->safe_psql('fresh', $data);

my $old_objects = $node->safe_psql('old', $objects);
my $fresh_objects = $node->safe_psql('fresh', $objects);
ok(length($fresh_objects) > 1000, 'the extension has objects to compare');
is($old_objects, $fresh_objects, 'updated and fresh installs have the same objects and definitions');

is($node->safe_psql('old', 'SELECT count(*) FROM trialmatch.criteria'), '12', 'criteria kept');
is($node->safe_psql('old', qq{SELECT count(*), md5(string_agg(format('%s %s', patient_id, status), ',' ORDER BY patient_id))
                               FROM trialmatch.results WHERE run_id = $run}), $stored, 'stored results kept');
is($node->safe_psql('old', qq{SELECT md5(string_agg(format('%s %s', patient_id, status), ',' ORDER BY patient_id))
                               FROM trialmatch.match_patients('T', '2026-03-01')}),
   (split /\|/, $stored)[1], 'and equal to an interactive screening');
my $s = $node->safe_psql('fresh', $screen);
like($s, qr/^[0-9a-f]{32}\|1000$/, 'the fresh install screens 1000 patients');
is($node->safe_psql('old', $screen), $s, 'the updated install screens the same');
is($screen_at_10, $s, 'as the 1.0 definition of match_patients did with the 1.1 library');
is($node->safe_psql('old', q{SELECT l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
                               WHERE p.oid = 'trialmatch.match_patients(text, timestamptz)'::regprocedure}),
   'sql', 'match_patients is the 1.1 SQL function after the update');
is($node->safe_psql('old', $funnel), $node->safe_psql('fresh', $funnel), 'and gives the same funnel');

# the updated catalog behaves as 1.1: re-registration after a reload
$node->safe_psql('old', q{
  DROP TABLE lab;
  CREATE TABLE lab (patient_id int8, code text, taken_at timestamptz, value numeric, unit text);
  SELECT trialmatch.add_source('lab', 'lab', time_column => 'taken_at', value_column => 'value', unit_column => 'unit');
});
is($node->safe_psql('old', q{SELECT count(*) FROM trialmatch.match_patients('T', '2026-03-01')}), '1000',
	'a reloaded table registers again after the update');

# a second run after the lab table was reloaded (empty): changes() lists what moved
my $run2 = $node->safe_psql('old', q{SELECT trialmatch.screen('T', '2026-03-01')});
is($node->safe_psql('old', qq{SELECT trialmatch.wait($run2, '60 s')}), 'done', 'a run after the update completes');
ok($node->safe_psql('old', qq{SELECT count(*) FROM trialmatch.changes($run2)}) > 0,
	'changes() compares it with the earlier run');

$node->stop;
done_testing();
