# Without trialmatch in shared_preload_libraries, screen() fails with a
# clear error and a hint naming the setting; the rest works.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('nopreload');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
  CREATE EXTENSION trialmatch;
  INSERT INTO trialmatch.trials (trial_id) VALUES ('T');
});
my ($ret, $out, $err) = $node->psql('postgres', q{SELECT trialmatch.screen('T')});
isnt($ret, 0, 'screen fails');
like($err, qr/ERROR:  the trialmatch worker pool is not running/, 'clear error');
like($err, qr/HINT:  Add trialmatch to shared_preload_libraries/, 'hint names the setting');
is($node->safe_psql('postgres', q{SELECT count(*) FROM trialmatch.progress}), '0', 'progress is empty');
is($node->safe_psql('postgres', q{SELECT trialmatch.check_expr('true'); SHOW trialmatch.pool_size}),
	"true\n2", 'settings defined once the library is loaded');
$node->stop;
done_testing();
