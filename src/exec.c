/*-------------------------------------------------------------------------
 *
 * exec.c
 *	  The driver of a call: opens what each relation is read through,
 *	  reads the patients, chooses index ranges, and runs the sources,
 *	  serially here or in parallel workers (parallel.c).  Data flows one
 *	  way: exec.c calls patients.c, indexpath.c, parallel.c, read.c and
 *	  fold.c; none of them calls back up.
 *
 * IDENTIFICATION
 *	  src/exec.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"


#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "pool.h"
#include "trialmatch.h"

/*
 * Open what each relation of the call is read through (relation.c): the
 * leaves of partitioned and inheritance trees, skipping partitions outside
 * the windows, or the executor.
 */
static void
open_leaves(TmPlan *plan)
{
	AttrNumber	maxatt = Max(plan->pat_id.attnum, Max(plan->pat_birth.attnum, plan->pat_sex.attnum));

	maxatt = Max(maxatt, Max(plan->pat_gender.attnum, plan->pat_byear.attnum));
	maxatt = Max(maxatt, Max(plan->pat_bmonth.attnum, plan->pat_bday.attnum));
	tm_relation_open(&plan->patread, plan->patrel, "the patient table", maxatt, NULL);
	for (int i = 0; i < plan->nsources; i++)
	{
		TmPlanSource *ps = &plan->sources[i];
		TmPrune		prune;

		tm_source_prune(plan, i, &prune);
		tm_relation_open(&ps->read, ps->rel, ps->what, ps->maxattno, &prune);
	}
	if (plan->conceptrel)
		tm_relation_open(&plan->conceptread, plan->conceptrel, "the concept table",
						 Max(plan->concept_id.attnum, plan->concept_code.attnum), NULL);
}

/* Whether some source is read by the leader alone, before any worker starts */
static bool
leader_reads_first(TmPlan *plan)
{
	for (int i = 0; i < plan->nsources; i++)
		if (plan->sources[i].read.executor || OidIsValid(plan->sources[i].note_index))
			return true;
	return false;
}

/*
 * The first step of a population call: open what each relation is read
 * through and read the patient table.  With from (a later pass of
 * match_all over other trials), take its patients instead of reading them
 * again.
 */
void
tm_population_patients(TmPlan *plan, const TmPatients *from)
{
	plan->started = GetCurrentTimestamp();
	plan->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "trialmatch row",
										 ALLOCSET_DEFAULT_SIZES);
	open_leaves(plan);
	if (from)
	{
		plan->pats = *from;
		return;
	}
	tm_progress_report("reading patients", 0, 0);
	tm_patients_read(plan, false, 0);
}

/*
 * The second step: evaluate every source for the whole patient table, in
 * parallel when the sources are large enough and workers are allowed,
 * else here alone.  Sources read through the executor (views, foreign
 * tables) are read here first, before any parallel mode.
 */
void
tm_population_sources(TmPlan *plan)
{
	int			nworkers;

	if (plan->npasses > 1)
		tm_progress_report(psprintf("reading sources %d/%d", plan->pass, plan->npasses),
						   0, plan->pats.n);
	else
		tm_progress_report("reading sources", 0, plan->pats.n);
	tm_choose_index_paths(plan);
	tm_timed_begin(plan);
	/* notes sources with a text search index: only the rows it returns (notes.c) */
	for (int i = 0; i < plan->nsources; i++)
		if (!plan->sources[i].use_index)
			tm_notes_choose_index(plan, i);

	/*
	 * match_all's workers evaluate with the leader after reading, unless
	 * the leader must read some sources alone first or finish event times
	 * alone after (timed.c), or there are no workers.  The leader's state
	 * is then in shared memory (parallel.c), else here.
	 */
	if (plan->ntimed > 0 || leader_reads_first(plan))
		plan->eval_all = false;
	nworkers = tm_parallel_workers_for(plan);
	if (nworkers == 0 && plan->eval_all)
	{
		/* perhaps only the leader's state and the codes did not fit */
		plan->eval_all = false;
		nworkers = tm_parallel_workers_for(plan);
	}
	if (plan->eval_all)
		tm_codemaps_init(plan);
	else
		tm_state_alloc(plan);
	for (int i = 0; i < plan->nsources; i++)
		if (plan->sources[i].read.executor)
			tm_read_source(plan, i, -1, false, 0, NULL);
	tm_notes_read_indexed(plan);
	if (nworkers > 0)
	{
		tm_parallel_scan_sources(plan, plan->cat, nworkers);
		tm_plan_check_bound(plan);
		tm_timed_finish(plan);
		return;
	}
	for (int i = 0; i < plan->nsources; i++)
	{
		TmPlanSource *ps = &plan->sources[i];

		for (int l = 0; l < ps->read.nleaves; l++)
		{
			if (OidIsValid(ps->read.leaves[l].indexoid))
				tm_read_units(plan, i, l, 0, ps->nunits);
			else if (OidIsValid(ps->read.leaves[l].brinoid))
				tm_read_brin(plan, i, l, NULL);
			else
				tm_read_source(plan, i, l, false, 0, NULL);
		}
	}
	plan->launched = 0;
	plan->planned = 0;
	/* executor reads and unit concepts through a view may have run SQL */
	tm_plan_check_bound(plan);
	tm_timed_finish(plan);
}

/*
 * The end of a population call's reading: what the parallel workers left
 * (the state and codes they evaluated in shared memory) is released.
 */
void
tm_population_end(TmPlan *plan)
{
	tm_parallel_end(plan);
}

/* Evaluate every source for the whole patient table: both steps. */
void
tm_run_population(TmPlan *plan)
{
	tm_population_patients(plan, NULL);
	tm_population_sources(plan);
}

/* Evaluate every source for one patient; false if there is no such patient. */
bool
tm_run_single(TmPlan *plan, int64 patient_id)
{
	plan->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "trialmatch row",
										 ALLOCSET_DEFAULT_SIZES);
	open_leaves(plan);
	tm_patients_read(plan, true, patient_id);
	if (plan->pats.n == 0)
		return false;
	tm_state_alloc(plan);
	tm_timed_begin(plan);
	plan->evidence = palloc0(sizeof(TmEvidence) * Max(plan->natoms, 1));
	for (int i = 0; i < plan->nsources; i++)
		tm_read_source(plan, i, -1, true, patient_id, NULL);
	tm_plan_check_bound(plan);
	tm_timed_finish(plan);
	return true;
}

