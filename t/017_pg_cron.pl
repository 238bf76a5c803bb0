# The README's pg_cron recipe: a scheduled job queues a screening run as
# the role that scheduled it, and the pool executes it.  Skipped when
# pg_cron (Debian: postgresql-15-cron) is not installed.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 't';
use TrialmatchPool;

my $pkglibdir = `pg_config --pkglibdir`;
chomp $pkglibdir;
plan skip_all => 'pg_cron is not installed' unless -e "$pkglibdir/pg_cron.so";

# pool_node preloads trialmatch; pg_cron is added in front of it
my $node = PostgreSQL::Test::Cluster->new('cron');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'pg_cron,trialmatch'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16
});
$node->start;
$node->safe_psql('postgres', TrialmatchPool::setup_sql(1000));
$node->safe_psql('postgres', q{
  CREATE EXTENSION pg_cron;
  CREATE ROLE coordinator LOGIN;
  GRANT SELECT ON pat, lab TO coordinator;
  GRANT USAGE ON SCHEMA cron TO coordinator;
});

# the recipe, as the coordinator (every minute here; nightly in the README)
$node->safe_psql('postgres', q{
  SET ROLE coordinator;
  SELECT cron.schedule('screen-T', '* * * * *', $$SELECT trialmatch.screen('T')$$);
});
$node->poll_query_until('postgres',
	q{SELECT count(*) > 0 FROM trialmatch.runs WHERE state = 'done'})
  or die 'no run from pg_cron';
is($node->safe_psql('postgres',
	q{SELECT requested_by, patients FROM trialmatch.runs ORDER BY run_id LIMIT 1}),
	'coordinator|1000', 'the scheduled job queued a run as its owner, and it completed');
$node->safe_psql('postgres', q{SET ROLE coordinator; SELECT cron.unschedule('screen-T')});

$node->stop;
done_testing();
