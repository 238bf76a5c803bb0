# Release metadata agrees with itself: META.json (PGXN Meta Spec 1.0.0)
# parses and names the version the Makefile builds (EXTVERSION) and
# trialmatch.control installs (default_version); debian/changelog's top entry
# packages that version; every file the Makefile's DATA lists exists, and
# every install or upgrade script in the tree is in DATA (so the package and
# `make install` ship it), with a chain of them reaching default_version.
# No server: plain Test::More.
use strict;
use warnings;
use File::Basename qw(dirname);
use File::Spec;
use JSON::PP;
use Test::More;

my $top = File::Spec->rel2abs(dirname(__FILE__) . '/..');

sub slurp
{
	my ($name) = @_;
	open my $fh, '<:raw', "$top/$name" or die "cannot read $name: $!";
	local $/;
	return scalar <$fh>;
}

# the Makefile's variables (a value may continue over lines ending in \)
my $makefile = slurp('Makefile');
$makefile =~ s/\\\n/ /g;
my %make;
$make{$1} = $2 while $makefile =~ /^(\w+)\s*[:?]?=[ \t]*(.*?)\s*$/mg;
my $ext = $make{EXTENSION};
my $extversion = $make{EXTVERSION};
my @data = split ' ', ($make{DATA} // '');
is($ext, 'trialmatch', 'Makefile: EXTENSION');
like($extversion, qr/^\d+\.\d+$/, 'Makefile: EXTVERSION is major.minor');
ok(@data > 0, 'Makefile: DATA lists files');

my ($default_version) = slurp("$ext.control") =~ /^default_version\s*=\s*'([^']*)'/m;
is($default_version, $extversion, "$ext.control: default_version is EXTVERSION");

# META.json: PGXN wants semantic versions, so 1.1 is spelled 1.1.0
my $semver = "$extversion.0";
my $meta = eval { JSON::PP->new->decode(slurp('META.json')) };
ok($meta, 'META.json parses') or diag($@);
$meta //= {};
ok(exists $meta->{$_}, "META.json: $_ present")
  for qw(name abstract version maintainer license provides meta-spec);
is($meta->{name}, $ext, 'META.json: name');
is($meta->{version}, $semver, "META.json: version is $semver (EXTVERSION $extversion)");
like($meta->{'meta-spec'}{version} // '', qr/^1\.0\.\d+$/, 'META.json: meta-spec 1.0.x');
my $provides = $meta->{provides}{$ext} // {};
is($provides->{version}, $semver, "META.json: provides $ext version $semver");
ok(defined $provides->{file} && -f "$top/$provides->{file}",
	"META.json: provides $ext file exists ($provides->{file})");
ok(defined $provides->{docfile} && -f "$top/$provides->{docfile}",
	'META.json: provides docfile exists');
my ($pgmajor) = slurp('debian/pgversions') =~ /^(\d+)/m;
is($meta->{prereqs}{runtime}{requires}{PostgreSQL}, "$pgmajor.0.0",
	'META.json: requires the PostgreSQL debian/pgversions builds for');

# debian/changelog: "trialmatch (1.1-1) unstable; ..."
my ($source, $debversion) = slurp('debian/changelog') =~ /\A(\S+) \(([^)]+)\)/;
is($source, $ext, 'debian/changelog: source name');
(my $upstream = $debversion // '') =~ s/-[^-]*$//;
is($upstream, $extversion, "debian/changelog: top version $debversion packages $extversion");

like(slurp('CHANGELOG.md'), qr/^## \Q$extversion\E\b/m, "CHANGELOG.md has a section for $extversion");

# DATA: every file exists; every script in the tree is listed
ok(-f "$top/$_", "DATA: $_ exists") for @data;
opendir my $dh, $top or die $!;
my @scripts = sort grep { /^\Q$ext\E--.*\.sql$/ } readdir $dh;
closedir $dh;
my %in_data = map { $_ => 1 } @data;
ok($in_data{$_}, "DATA lists $_") for @scripts;

# the install and update scripts reach default_version from an install script
my (%reached, @edges);
for (@data)
{
	if (/^\Q$ext\E--(.+)--(.+)\.sql$/) { push @edges, [ $1, $2 ]; }
	elsif (/^\Q$ext\E--(.+)\.sql$/) { $reached{$1} = 1; }
}
ok(%reached, 'DATA has an install script');
for (1 .. @edges)
{
	$reached{ $_->[1] } = 1 for grep { $reached{ $_->[0] } } @edges;
}
ok($reached{$default_version}, "the scripts in DATA install version $default_version");

done_testing();
