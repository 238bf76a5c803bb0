/*-------------------------------------------------------------------------
 *
 * parallel.c
 *	  Splitting a population screening among parallel workers, with
 *	  PostgreSQL's own machinery (ParallelContext, parallel heap scans).
 *
 * Design.  The leader reads the patient table and builds the id map; it
 * then puts in dynamic shared memory the map, one zeroed state array per
 * worker, its catalog (serialized: a worker must not read newer criteria
 * than the leader planned with), and per source either a
 * ParallelTableScanDesc or a counter handing out index ranges (cut into
 * time slices).  Every participant (the workers and the leader) builds the
 * same plan from that catalog, then takes part in each source in turn,
 * folding the rows it gets into its own state array.  No participant ever writes another's state, so no locks are
 * needed.  When all are done the leader merges the workers' arrays into
 * its own (merging is exact: flags OR, counts and sums add (avg: exact
 * sums at aligned scales, avg.c), min/max/last/first keep the winner with
 * the same tie rule as a single scan) and
 * evaluates.
 *
 * Fewer workers than asked, even none, change nothing but speed: the
 * leader's share grows.  Errors in a worker reach the leader with their
 * SQLSTATE; a query cancel in the leader stops the workers.
 *
 * Shared memory: the id map (4 bytes per id when ids are dense, else 12
 * bytes per slot, 2-4 slots per patient) plus plan->width bytes per
 * patient per worker, capped at 1 GB (fewer workers beyond that).
 *
 * IDENTIFICATION
 *	  src/parallel.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "optimizer/paths.h"
#include "postmaster/bgworker.h"
#include "storage/bufmgr.h"
#include "storage/shm_toc.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "trialmatch.h"

int			tm_max_parallel_workers = 2;

/* index ranges are cut into this many time slices per participant */
#define TM_SLICES_PER_PARTICIPANT 2

#define TM_KEY_SHARED	UINT64CONST(0x7E57000000000001)
#define TM_KEY_TRIAL	UINT64CONST(0x7E57000000000002)
#define TM_KEY_IDKEYS	UINT64CONST(0x7E57000000000003)
#define TM_KEY_IDSLOTS	UINT64CONST(0x7E57000000000004)
#define TM_KEY_STATE	UINT64CONST(0x7E57000000000005)
#define TM_KEY_SOURCES	UINT64CONST(0x7E57000000000006)
#define TM_KEY_CATALOG	UINT64CONST(0x7E57000000000007)
#define TM_KEY_SCAN		UINT64CONST(0x7E57000000000100)	/* + source index */

typedef struct TmParallelShared
{
	TimestampTz as_of;
	int			npatients;
	bool		dense;
	int64		minid;
	uint32		mask;
	int			width;
	int			natoms;
	int			nsources;
	int			nworkers;
} TmParallelShared;

/* How each source is read: a parallel heap scan, or index units handed out by a counter. */
typedef struct TmParallelSource
{
	Oid			indexoid;
	bool		index_time;
	int			nslices;
	pg_atomic_uint32 next_unit;
} TmParallelSource;

PGDLLEXPORT void tm_parallel_main(dsm_segment *seg, shm_toc *toc);

/*
 * How many workers to ask for: none when the sources scanned whole are small
 * (below min_parallel_table_scan_size together; starting workers and merging
 * their state would cost more than it saves), else
 * trialmatch.max_parallel_workers capped by max_parallel_workers.
 */
int
tm_parallel_workers_for(TmPlan *plan)
{
	BlockNumber pages = 0;
	int			n = Min(tm_max_parallel_workers, max_parallel_workers);

	if (n <= 0 || plan->nsources == 0 || plan->pats.n == 0)
		return 0;
	/*
	 * Sources scanned whole count by their size.  Sources read through index
	 * ranges do not: measured on 2 cores, starting workers, zeroing their
	 * state and merging it cost more than sharing the ranges saves.  When
	 * workers do run (for the whole scans), they share the ranges too.
	 */
	for (int i = 0; i < plan->nsources; i++)
		if (!OidIsValid(plan->sources[i].indexoid))
			pages += RelationGetNumberOfBlocks(plan->sources[i].rel);
	if ((double) pages < (double) min_parallel_table_scan_size)
		return 0;
	/* each worker's state lives in dynamic shared memory: keep it under 1 GB */
	while (n > 0 && (double) plan->pats.n * plan->width * n > (double) (1024 * 1024 * 1024))
		n--;
	return n;
}

static void
merge_row(TmPlan *plan, char *into, const char *from)
{
	for (int i = 0; i < plan->natoms; i++)
	{
		TmAtom	   *a = &plan->atoms[i];
		uint8	   *fi = (uint8 *) (into + a->flag);
		uint8		ff = *(const uint8 *) (from + a->flag);

		switch (a->ev->measure)
		{
			case TM_M_EXISTS:
			case TM_M_ACTIVE:
			case TM_M_COVERS:
			case TM_M_ANY:
				*fi |= ff;
				break;
			case TM_M_COUNT:
				*(int64 *) (into + a->payload) += *(const int64 *) (from + a->payload);
				break;
			case TM_M_AVG:
				tm_avg_merge(a, (TmAvgState *) (into + a->payload),
							 (const TmAvgState *) (from + a->payload));
				*fi |= ff;
				break;
			case TM_M_MIN:
			case TM_M_MAX:
				{
					double	   *mi = (double *) (into + a->payload);
					double		mf = *(const double *) (from + a->payload);

					if ((ff & TM_F_SEEN) &&
						(!(*fi & TM_F_SEEN) ||
						 (a->ev->measure == TM_M_MIN ? mf < *mi : mf > *mi)))
					{
						*mi = mf;
						*fi |= TM_F_SEEN;
					}
					break;
				}
			case TM_M_LAST:
			case TM_M_FIRST:
				{
					TmValState *si = (TmValState *) (into + a->payload);
					const TmValState *sf = (const TmValState *) (from + a->payload);
					bool		take;

					if (!(ff & TM_F_SEEN))
						break;
					if (!(*fi & TM_F_SEEN))
						take = true;
					else if (sf->n == si->n)
						take = sf->v > si->v;
					else
						take = a->ev->measure == TM_M_LAST ? sf->n > si->n : sf->n < si->n;
					if (take)
					{
						*si = *sf;
						*fi |= TM_F_SEEN;
					}
					break;
				}
		}
	}
}

/* Merge a whole state array (pats.n rows) into another. */
void
tm_state_merge(TmPlan *plan, char *into, const char *from)
{
	for (int p = 0; p < plan->pats.n; p++)
	{
		const char *row = from + (Size) p * plan->width;
		bool		empty = true;

		if ((p & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		/* most rows of a worker's array were never touched */
		for (int b = 0; b < plan->width; b++)
			if (row[b] != 0)
			{
				empty = false;
				break;
			}
		if (!empty)
			merge_row(plan, into + (Size) p * plan->width, row);
	}
}

/* The scans every participant takes part in, the leader included. */
static void
participate(TmPlan *plan, shm_toc *toc)
{
	TmParallelSource *srcs = shm_toc_lookup(toc, TM_KEY_SOURCES, false);

	for (int i = 0; i < plan->nsources; i++)
	{
		if (OidIsValid(srcs[i].indexoid))
		{
			uint32		u;

			while ((u = pg_atomic_fetch_add_u32(&srcs[i].next_unit, 1)) < (uint32) plan->sources[i].nunits)
				tm_scan_units(plan, i, (int) u, 1);
		}
		else
			tm_scan_source(plan, i, false, 0, shm_toc_lookup(toc, TM_KEY_SCAN + i, false));
	}
}

void
tm_parallel_scan_sources(TmPlan *plan, TmCatalog *cat, int nworkers)
{
	ParallelContext *pcxt;
	TmParallelShared *shared;
	Snapshot	snapshot = GetActiveSnapshot();
	const char *trial_id = plan->trials[0]->trial_id;
	char	   *catalog = tm_catalog_serialize(cat, plan->trials[0]);
	Size		mapsize = (Size) plan->pats.mask + 1;
	Size		keysize = plan->pats.dense ? 1 : mapsize;
	Size		statesize = (Size) plan->pats.n * plan->width;
	Size	   *scansize = palloc(sizeof(Size) * plan->nsources);
	char	   *p;
	char	   *states;
	TmParallelSource *srcs;

	Assert(plan->ntrials == 1);
	EnterParallelMode();
	pcxt = CreateParallelContext("trialmatch", "tm_parallel_main", nworkers);

	shm_toc_estimate_chunk(&pcxt->estimator, sizeof(TmParallelShared));
	shm_toc_estimate_chunk(&pcxt->estimator, strlen(trial_id) + 1);
	shm_toc_estimate_chunk(&pcxt->estimator, strlen(catalog) + 1);
	shm_toc_estimate_chunk(&pcxt->estimator, sizeof(int64) * keysize);
	shm_toc_estimate_chunk(&pcxt->estimator, sizeof(int32) * mapsize);
	shm_toc_estimate_chunk(&pcxt->estimator, Max(statesize * nworkers, 1));
	shm_toc_estimate_chunk(&pcxt->estimator, sizeof(TmParallelSource) * plan->nsources);
	shm_toc_estimate_keys(&pcxt->estimator, 7 + plan->nsources);
	for (int i = 0; i < plan->nsources; i++)
	{
		scansize[i] = table_parallelscan_estimate(plan->sources[i].rel, snapshot);
		shm_toc_estimate_chunk(&pcxt->estimator, scansize[i]);
	}
	InitializeParallelDSM(pcxt);

	shared = shm_toc_allocate(pcxt->toc, sizeof(TmParallelShared));
	shared->as_of = plan->as_of;
	shared->npatients = plan->pats.n;
	shared->mask = plan->pats.mask;
	shared->dense = plan->pats.dense;
	shared->minid = plan->pats.minid;
	shared->width = plan->width;
	shared->natoms = plan->natoms;
	shared->nsources = plan->nsources;
	shared->nworkers = pcxt->nworkers;
	shm_toc_insert(pcxt->toc, TM_KEY_SHARED, shared);
	p = shm_toc_allocate(pcxt->toc, strlen(trial_id) + 1);
	strcpy(p, trial_id);
	shm_toc_insert(pcxt->toc, TM_KEY_TRIAL, p);
	p = shm_toc_allocate(pcxt->toc, strlen(catalog) + 1);
	strcpy(p, catalog);
	shm_toc_insert(pcxt->toc, TM_KEY_CATALOG, p);
	p = shm_toc_allocate(pcxt->toc, sizeof(int64) * keysize);
	memcpy(p, plan->pats.keys, sizeof(int64) * keysize);
	shm_toc_insert(pcxt->toc, TM_KEY_IDKEYS, p);
	p = shm_toc_allocate(pcxt->toc, sizeof(int32) * mapsize);
	memcpy(p, plan->pats.slots, sizeof(int32) * mapsize);
	shm_toc_insert(pcxt->toc, TM_KEY_IDSLOTS, p);
	states = shm_toc_allocate(pcxt->toc, Max(statesize * pcxt->nworkers, 1));
	memset(states, 0, statesize * pcxt->nworkers);
	shm_toc_insert(pcxt->toc, TM_KEY_STATE, states);
	srcs = shm_toc_allocate(pcxt->toc, sizeof(TmParallelSource) * plan->nsources);
	for (int i = 0; i < plan->nsources; i++)
	{
		srcs[i].indexoid = plan->sources[i].indexoid;
		srcs[i].index_time = plan->sources[i].index_time;
		srcs[i].nslices = (nworkers + 1) * TM_SLICES_PER_PARTICIPANT;
		if (OidIsValid(srcs[i].indexoid))
			tm_slice_units(plan, i, srcs[i].nslices);
		pg_atomic_init_u32(&srcs[i].next_unit, 0);
	}
	shm_toc_insert(pcxt->toc, TM_KEY_SOURCES, srcs);
	for (int i = 0; i < plan->nsources; i++)
	{
		ParallelTableScanDesc pscan = shm_toc_allocate(pcxt->toc, scansize[i]);

		table_parallelscan_initialize(plan->sources[i].rel, pscan, snapshot);
		shm_toc_insert(pcxt->toc, TM_KEY_SCAN + i, pscan);
	}

	LaunchParallelWorkers(pcxt);
	plan->planned = nworkers;
	plan->launched = pcxt->nworkers_launched;
	plan->shared_bytes = pcxt->seg ? dsm_segment_map_length(pcxt->seg) : 0;

	/* the leader takes its share */
	tm_state_alloc(plan);
	participate(plan, pcxt->toc);

	WaitForParallelWorkersToFinish(pcxt);
	for (int w = 0; w < pcxt->nworkers_launched; w++)
		tm_state_merge(plan, plan->state, states + statesize * w);

	DestroyParallelContext(pcxt);
	ExitParallelMode();
}

/*
 * Entry point of a parallel worker: rebuild the plan from the leader's
 * catalog, attach the shared id
 * map and this worker's state array, and take part in every scan.
 */
void
tm_parallel_main(dsm_segment *seg, shm_toc *toc)
{
	TmParallelShared *shared = shm_toc_lookup(toc, TM_KEY_SHARED, false);
	char	   *trial_id = shm_toc_lookup(toc, TM_KEY_TRIAL, false);
	char	   *states = shm_toc_lookup(toc, TM_KEY_STATE, false);
	TmParallelSource *srcs = shm_toc_lookup(toc, TM_KEY_SOURCES, false);
	TmCatalog  *cat;
	TmTrial    *trial;
	TmPlan	   *plan;

	/* the leader's catalog, not what this worker's snapshot would read */
	cat = tm_catalog_deserialize(shm_toc_lookup(toc, TM_KEY_CATALOG, false));
	trial = tm_catalog_trial(cat, trial_id);
	plan = tm_plan_create(cat, &trial, 1, shared->as_of);
	if (plan->width != shared->width || plan->natoms != shared->natoms ||
		plan->nsources != shared->nsources)
		elog(ERROR, "trialmatch parallel worker built a different plan");
	if (ParallelWorkerNumber >= shared->nworkers)
		elog(ERROR, "unexpected parallel worker number %d", ParallelWorkerNumber);

	/* read each source the way the leader chose */
	for (int i = 0; i < plan->nsources; i++)
	{
		plan->sources[i].indexoid = srcs[i].indexoid;
		plan->sources[i].index_time = srcs[i].index_time;
		if (OidIsValid(srcs[i].indexoid))
		{
			tm_index_units(plan, i);
			tm_slice_units(plan, i, srcs[i].nslices);
		}
	}
	plan->pats.n = shared->npatients;
	plan->pats.mask = shared->mask;
	plan->pats.dense = shared->dense;
	plan->pats.minid = shared->minid;
	plan->pats.keys = shm_toc_lookup(toc, TM_KEY_IDKEYS, false);
	plan->pats.slots = shm_toc_lookup(toc, TM_KEY_IDSLOTS, false);
	plan->state = states + (Size) shared->npatients * shared->width * ParallelWorkerNumber;
	plan->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "trialmatch row",
										 ALLOCSET_DEFAULT_SIZES);
	tm_codemaps_init(plan);
	participate(plan, toc);
	tm_plan_close(plan);
}
