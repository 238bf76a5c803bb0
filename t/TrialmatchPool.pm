# Helpers for the worker pool TAP tests (t/010_* and up): a node with
# trialmatch preloaded, a small population and a trial, and a session that
# holds a lock on the lab table so that a run stays 'running' as long as a
# test needs.
package TrialmatchPool;

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use Exporter 'import';

our @EXPORT = qw(pool_node hold_lab_lock run_state poll_state worker_pids);

# Patients 1..$n, 10 lab rows each; trial T: adult, glucose within 90 days
# max > 12 (unknown without values), no A1C above 15 within 20 days.
sub setup_sql
{
	my ($n) = @_;
	return qq{
	  SET timezone = 'UTC';
	  CREATE EXTENSION trialmatch;
	  CREATE TABLE pat (patient_id int8 PRIMARY KEY, birth_date date, sex text);
	  CREATE TABLE lab (patient_id int8, code text, taken_at timestamptz, value numeric, unit text);
	  INSERT INTO pat SELECT i, date '1950-01-01' + (i * 37 % 25000), CASE WHEN i % 2 = 0 THEN 'F' ELSE 'M' END
	    FROM generate_series(1, $n) i;
	  INSERT INTO lab SELECT i % $n + 1, CASE WHEN (i * 31) % 3 = 0 THEN 'GLU' ELSE 'A1C' END,
	         timestamptz '2026-02-15' - (i * 613 % 400) * interval '1 day', (i * 7919 % 200) / 10.0, 'mg/dL'
	    FROM generate_series(1, $n * 10) i;
	  SELECT trialmatch.set_patients('pat');
	  SELECT trialmatch.add_source('lab', 'lab', time_column => 'taken_at', value_column => 'value',
	                               unit_column => 'unit');
	  INSERT INTO trialmatch.trials (trial_id, title) VALUES ('T', 'pool test');
	  INSERT INTO trialmatch.criteria VALUES
	    ('T', 1, 'inclusion', 'adult', 'age >= 18'),
	    ('T', 2, 'inclusion', 'glucose', \$\$lab 'GLU' within 90 days max > 12\$\$),
	    ('T', 3, 'exclusion', 'A1C high', \$\$lab 'A1C' within 20 days max > 15\$\$);
	};
}

# A started node with trialmatch preloaded and the test data loaded.
sub pool_node
{
	my ($name, %opt) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'trialmatch'\n"
		  . "max_worker_processes = 16\n"
		  . ($opt{conf} // ''));
	$node->start;
	$node->safe_psql('postgres', setup_sql($opt{patients} // 2000));
	return $node;
}

# A session holding ACCESS EXCLUSIVE on lab: runs wait for it (in state
# 'running') until ->query_safe('COMMIT') or ->quit.
sub hold_lab_lock
{
	my ($node) = @_;
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	$s->query_safe('BEGIN; LOCK TABLE lab IN ACCESS EXCLUSIVE MODE;');
	return $s;
}

sub run_state
{
	my ($node, $id) = @_;
	return $node->safe_psql('postgres', "SELECT state FROM trialmatch.runs WHERE run_id = $id");
}

# Wait until run $id is in $state (and, for 'running', its worker waits).
sub poll_state
{
	my ($node, $id, $state) = @_;
	return $node->poll_query_until('postgres',
		"SELECT state = '$state' FROM trialmatch.runs WHERE run_id = $id");
}

sub worker_pids
{
	my ($node) = @_;
	return split /\n/, $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'trialmatch worker' ORDER BY pid");
}

1;
