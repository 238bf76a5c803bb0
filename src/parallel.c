/*-------------------------------------------------------------------------
 *
 * parallel.c
 *	  Splitting a population screening among parallel workers, with
 *	  PostgreSQL's own machinery (ParallelContext, parallel heap scans).
 *
 * Design.  The leader reads the patient table and builds the id map; it
 * then puts in dynamic shared memory the map, one zeroed state array per
 * worker, its catalog (serialized: a worker must not read newer criteria
 * than the leader planned with; every trial of the call), and per source
 * either a ParallelTableScanDesc or a counter handing out index ranges
 * (cut into time slices), or per table read through index ranges a page
 * list in a shared area (share_read).  Every participant (the workers and
 * the leader) builds the same plan from that catalog, then takes part in
 * each source in turn, folding the rows it gets into its own state array.
 * No participant ever writes another's state, so no locks are needed.
 * When all are done the leader merges the workers' arrays into its own
 * (merging is exact: flags OR, counts and sums add (avg: exact sums at
 * aligned scales, avg.c), min/max/last/first keep the winner with the same
 * tie rule as a single scan) and evaluates.
 *
 * match_all (plan->eval_all) goes further: the leader's array is in shared
 * memory too, and once every participant has folded, each takes pieces of
 * patients in turn, merges the workers' rows of those patients into the
 * leader's array and evaluates every trial for them (evaluate_share, all.c),
 * so that merging and evaluating are shared as reading is.  The context
 * then lives until tm_population_end, for the leader to return the rows
 * from the codes and state it holds.  Each participant zeroes its own array.
 *
 * Fewer workers than asked, even none, change nothing but speed: the
 * leader's share grows.  Errors in a worker reach the leader with their
 * SQLSTATE; a query cancel in the leader stops the workers.
 *
 * Shared memory: the id map (4 bytes per id when ids are dense, else 12
 * bytes per slot, 2-4 slots per patient) plus plan->width bytes per
 * patient per worker, capped at 1 GB (fewer workers beyond that); for
 * match_all, the leader's array, 2 bytes per trial and patient for the
 * codes and 7 per patient for birth and sex besides.  Shared bitmaps take
 * a page list each in a dynamic shared area (16 bytes a page, 2 a row),
 * within work_mem for sorted TIDs, released when the workers are done.
 *
 * IDENTIFICATION
 *	  src/parallel.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <sched.h>
#include <unistd.h>

#include "access/genam.h"
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
#include "storage/condition_variable.h"
#include "storage/fd.h"
#include "storage/lwlock.h"
#include "storage/shm_toc.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

#include "pool.h"
#include "trialmatch.h"

int			tm_max_parallel_workers = -1;

/*
 * Shared bitmaps ask for workers from this many blocks per block of state
 * a worker zeroes and merges, plus this many min_parallel_table_scan_size
 * for its start (15,360 blocks by default).
 */
#define TM_BITMAP_STATE_BLOCKS 40
#define TM_BITMAP_START_SCANS 15

/* index ranges are cut into this many time slices per participant */
#define TM_SLICES_PER_PARTICIPANT 2

#define TM_KEY_SHARED	UINT64CONST(0x7E57000000000001)
#define TM_KEY_IDKEYS	UINT64CONST(0x7E57000000000003)
#define TM_KEY_IDSLOTS	UINT64CONST(0x7E57000000000004)
#define TM_KEY_STATE	UINT64CONST(0x7E57000000000005)
#define TM_KEY_SOURCES	UINT64CONST(0x7E57000000000006)
#define TM_KEY_CATALOG	UINT64CONST(0x7E57000000000007)
#define TM_KEY_LEAVES	UINT64CONST(0x7E57000000000008)
#define TM_KEY_TIMED	UINT64CONST(0x7E57000000000009)	/* timed.c: event times */
#define TM_KEY_PATIENTS	UINT64CONST(0x7E5700000000000A)	/* evaluating: birth, sex */
#define TM_KEY_CODES	UINT64CONST(0x7E5700000000000B)	/* evaluating: codes (all.c) */
#define TM_KEY_COMBOS	UINT64CONST(0x7E5700000000000C)	/* evaluating: keys (all.c) */
#define TM_KEY_DSA		UINT64CONST(0x7E5700000000000D)	/* shared bitmaps */
#define TM_KEY_SCAN		UINT64CONST(0x7E57000000000100)	/* + leaf index */

typedef struct TmParallelShared
{
	TimestampTz as_of;
	int			npatients;
	bool		dense;
	bool		identity;
	int64		minid;
	uint32		mask;
	int			width;
	int			natoms;
	int			nsources;
	int			nworkers;
	int			ntrials;
	/* match_all: after folding, merge and evaluate side by side (below) */
	bool		evaluate;
	int			nsexes;			/* entries of the sex dictionary */
	pg_atomic_uint32 folded;	/* participants done folding */
	pg_atomic_uint32 participants;	/* all of them; 0 until the leader knows */
	pg_atomic_uint32 next_chunk;	/* of TM_ALL_CHUNK patients */
	ConditionVariable folded_cv;
} TmParallelShared;

/*
 * How each source is read: by the leader alone before (executor), or per
 * leaf, a parallel heap scan, index units, a shared bitmap or a BRIN read;
 * the index units of all its leaves are handed out by one counter, leaf
 * by leaf, the pages of a shared bitmap by its page list's, and the
 * blocks of a BRIN read by a counter of the leaf's.
 */
typedef struct TmParallelSource
{
	bool		executor;
	bool		index_time;
	int			nslices;
	bool		by_time;		/* the units are split into time slices */
	int			firstleaf;		/* into the TM_KEY_LEAVES array */
	int			nleaves;
	pg_atomic_uint32 next_unit;
} TmParallelSource;

/* The leaves the leader opened and how it chose to read each. */
typedef struct TmParallelLeaf
{
	Oid			relid;
	Oid			indexoid;
	bool		index_time;
	Oid			brinoid;
	pg_atomic_uint32 next_chunk;	/* of its BRIN read's blocks (read.c) */
	/* index ranges read as one shared bitmap (share_bitmap) */
	bool		share_bitmap;
	double		blocks;			/* the heap blocks it visits, estimated */
	pg_atomic_uint32 bitmap_state;	/* TM_BITMAP_* */
	dsa_pointer pages;			/* its page list (read.c), once built */
	ConditionVariable bitmap_cv;	/* broadcast when built */
} TmParallelLeaf;

#define TM_BITMAP_NONE		0
#define TM_BITMAP_BUILDING	1
#define TM_BITMAP_BUILT		2

PGDLLEXPORT void tm_parallel_main(dsm_segment *seg, shm_toc *toc);

/*
 * CPUs from a cgroup CPU quota, rounded up, as a container sees its own
 * cgroup at the root of the mount: cgroup v2 cpu.max ("max" or "quota
 * period"), else v1 cpu.cfs_quota_us (-1: none) and cpu.cfs_period_us.
 * 0: no quota found.
 */
static long
cgroup_quota_cpus(void)
{
	static const char *const v1[][2] = {
		{"/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us"},
		{"/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us"},
	};
	FILE	   *f;
	char		quota[32];
	long		q = 0,
				p = 0;

	if ((f = AllocateFile("/sys/fs/cgroup/cpu.max", "r")) != NULL)
	{
		if (fscanf(f, "%31s %ld", quota, &p) == 2 && strcmp(quota, "max") != 0)
			q = atol(quota);
		FreeFile(f);
		return q > 0 && p > 0 ? (long) ceil((double) q / p) : 0;
	}
	for (int i = 0; i < lengthof(v1); i++)
	{
		if ((f = AllocateFile(v1[i][0], "r")) == NULL)
			continue;
		if (fscanf(f, "%ld", &q) != 1)
			q = 0;
		FreeFile(f);
		if (q > 0 && (f = AllocateFile(v1[i][1], "r")) != NULL)
		{
			if (fscanf(f, "%ld", &p) != 1)
				p = 0;
			FreeFile(f);
		}
		return q > 0 && p > 0 ? (long) ceil((double) q / p) : 0;
	}
	return 0;
}

/*
 * The CPUs this server may use, counted once per backend: those online,
 * fewer if the process is bound to some (its affinity mask: taskset,
 * cpusets) or its cgroup has a CPU quota (a container's --cpus).  0:
 * unknown.
 */
static long
server_cpus(void)
{
	static long cpus = -1;

	if (cpus >= 0)
		return cpus;
	cpus = 0;
#ifdef _SC_NPROCESSORS_ONLN
	cpus = Max(sysconf(_SC_NPROCESSORS_ONLN), 0);
#endif
#if defined(__linux__) && defined(CPU_COUNT)
	{
		cpu_set_t	set;

		if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
			cpus = cpus > 0 ? Min(cpus, CPU_COUNT(&set)) : CPU_COUNT(&set);
	}
#endif
	{
		long		quota = cgroup_quota_cpus();

		if (quota > 0)
			cpus = cpus > 0 ? Min(cpus, quota) : quota;
	}
	return cpus;
}

/*
 * The workers trialmatch.max_parallel_workers allows a call.  -1 (the
 * default) is 2, and for match_all at most one fewer than the CPUs the
 * server may use (server_cpus): its participants each keep, zero and
 * merge a state array and evaluate side by side, and with a third process
 * on 2 CPUs the call took 10-15% longer than with two (bench/README, stop
 * 23).  A value set is taken as it is.
 */
static int
workers_allowed(TmPlan *plan)
{
	int			n = tm_max_parallel_workers;

	if (n < 0)
	{
		n = 2;
		if (plan->match_all && server_cpus() >= 1)
			n = Min(n, (int) server_cpus() - 1);
	}
	return Min(n, max_parallel_workers);
}

/*
 * Are a leaf's index ranges read as one bitmap whose blocks the
 * participants share?  When they are read through the heap: not from the
 * index alone (tm_index_only), and not cut into time slices
 * (tm_slice_by_time, by_time).  One participant then builds the bitmap of
 * all the leaf's ranges and writes its pages to the call's shared area,
 * and every participant claims runs of them (share_read, read.c
 * tm_pages_share): no block is visited twice, and nobody builds a bitmap
 * twice.  (Whole ranges handed out left one participant visiting most of a
 * patient-ordered table's blocks for a code; each participant building
 * the whole bitmap and claiming chunks of its blocks built it once per
 * participant: bench/README, stop 24.)
 */
static bool
shares_bitmap(TmPlan *plan, int srcidx, int l, bool by_time)
{
	TmPlanSource *ps = &plan->sources[srcidx];
	TmLeaf	   *leaf = &ps->read.leaves[l];
	Relation	index;
	bool		only;

	if (by_time || ps->read.executor || !OidIsValid(leaf->indexoid))
		return false;
	index = index_open(leaf->indexoid, AccessShareLock);
	only = tm_index_only(ps, leaf, index, NULL);
	index_close(index, AccessShareLock);
	return !only;
}

/*
 * Workers for so many pages, as the planner sizes a parallel scan
 * (compute_parallel_worker): none below min_parallel_table_scan_size, one,
 * and one more each time the pages triple; at most n.  A few thousand
 * pages gain less from a second worker than its state costs to zero and
 * merge.
 */
static int
workers_for_pages(double pages, int n)
{
	double		threshold = Max((double) min_parallel_table_scan_size, 1.0);
	int			want = 1;

	if (pages < (double) min_parallel_table_scan_size || n <= 0)
		return 0;
	while (pages >= threshold * 3 && want < n)
	{
		want++;
		threshold *= 3;
	}
	return want;
}

/*
 * How many workers to ask for: none when the sources scanned whole (and
 * the blocks of BRIN reads and shared bitmaps) are small
 * (below min_parallel_table_scan_size together; starting workers and merging
 * their state would cost more than it saves), else one, and one more each
 * time their pages triple, capped by trialmatch.max_parallel_workers
 * (workers_allowed) and max_parallel_workers.
 */
int
tm_parallel_workers_for(TmPlan *plan)
{
	double		pages = 0;
	double		bitmap_pages = 0;
	int			n = workers_allowed(plan);

	if (n <= 0 || plan->nsources == 0 || plan->pats.n == 0)
		return 0;
	/* unit concepts looked up through the executor: not from workers */
	if (plan->conceptrel && plan->conceptread.executor)
		return 0;
	/*
	 * Sources scanned whole count by their size, BRIN reads by the share of
	 * it in their windows, index ranges read as a shared bitmap by the heap
	 * blocks it is estimated to visit (tm_index_heap_blocks).  Ranges read
	 * from the index alone, or in time slices, do not: measured on 2 cores,
	 * starting workers, zeroing their state and merging it cost more than
	 * sharing those ranges saves.  When workers do run, they share them too.
	 */
	for (int i = 0; i < plan->nsources; i++)
	{
		TmPlanSource *ps = &plan->sources[i];
		bool		by_time = ps->use_index && tm_slice_by_time(plan, i);

		for (int l = 0; l < ps->read.nleaves; l++)
		{
			TmLeaf	   *leaf = &ps->read.leaves[l];

			/* a BRIN read's blocks are shared too: those of its windows */
			if (tm_leaf_whole(leaf))
				pages += RelationGetNumberOfBlocks(leaf->rel);
			else if (OidIsValid(leaf->brinoid))
				pages += (BlockNumber) (leaf->brin_share * RelationGetNumberOfBlocks(leaf->rel));
			else if (shares_bitmap(plan, i, l, by_time))
				bitmap_pages += tm_index_heap_blocks(leaf);
		}
	}

	/*
	 * The blocks of shared bitmaps count only when they pay for a worker:
	 * it starts, and zeroes and merges pats.n * width bytes of state.
	 * Since pages are looked up ahead (read.c, prefetch_pages), a worker
	 * lost 4-18% on shared bitmaps of 37-39 blocks per block of state
	 * (192,000-254,000 blocks at 1M patients, 38,000-50,000 at 200,000) and
	 * gained 13-18% from 44-77 at 1M (bench/README, stop 26);
	 * min_parallel_table_scan_size scales the start as it does whole
	 * scans.  Then they ask for no more participants than the server has
	 * CPUs (server_cpus), unless the other pages alone ask for more: their
	 * rows are in cache, one participant builds each bitmap while the
	 * others wait or build the next, and on 2 CPUs a trial read only
	 * through shared bitmaps took 0.72 s with 2 workers against 0.61 s
	 * with one (1M patients, patient-ordered).
	 */
	{
		double		counted = bitmap_pages;
		int			want;

		if (bitmap_pages < TM_BITMAP_STATE_BLOCKS * ((double) plan->pats.n * plan->width / BLCKSZ) +
			TM_BITMAP_START_SCANS * (double) min_parallel_table_scan_size)
			counted = 0;
		want = workers_for_pages(pages + counted, n);

		if (counted > 0 && server_cpus() >= 1)
			want = Min(want, Max(workers_for_pages(pages, n), (int) server_cpus() - 1));
		n = want;
		if (bitmap_pages > 0)
			elog(DEBUG2, "trialmatch: %.0f pages read whole or through BRIN, %.0f through shared bitmaps (%s)",
				 pages, bitmap_pages, counted > 0 ? "counted" : "too few to count");
	}
	/*
	 * Each worker's state lives in dynamic shared memory, and when they
	 * evaluate (match_all) the leader's too, with the codes: under 1 GB.
	 */
	while (n > 0 && (double) plan->pats.n * plan->width * (n + (plan->eval_all ? 1 : 0)) +
		   (plan->eval_all ? (double) plan->pats.n * plan->ntrials * sizeof(uint16) : 0) >
		   (double) (1024 * 1024 * 1024))
		n--;
	return n;
}

/*
 * Take part in reading a leaf's index ranges as one shared bitmap
 * (shares_bitmap).  The first participant to come builds the bitmap,
 * writes its pages to the shared area and tells the others; every
 * participant then claims runs of pages until none are left.  One that
 * finds the bitmap being built comes back later (false) unless told to
 * wait; a builder never waits.
 */
static bool
share_read(TmPlan *plan, int srcidx, int l, TmParallelLeaf *pl, dsa_area *dsa, bool wait)
{
	TmPlanSource *ps = &plan->sources[srcidx];
	TmLeaf	   *leaf = &ps->read.leaves[l];
	uint32		state = TM_BITMAP_NONE;

	Assert(dsa != NULL);
	if (pg_atomic_compare_exchange_u32(&pl->bitmap_state, &state, TM_BITMAP_BUILDING))
	{
		Relation	index = index_open(leaf->indexoid, AccessShareLock);

		/* sorted TIDs, or a bitmap when they would not fit in work_mem */
		if (tm_units_pages(plan, srcidx, l, 0, ps->nunits, index, dsa, &pl->pages) == NULL)
			pl->pages = tm_pages_share(tm_units_bitmap(plan, srcidx, l, 0, ps->nunits, index), dsa);
		index_close(index, AccessShareLock);
		pg_write_barrier();
		pg_atomic_write_u32(&pl->bitmap_state, TM_BITMAP_BUILT);
		ConditionVariableBroadcast(&pl->bitmap_cv);
		elog(DEBUG2, "trialmatch: index ranges of %s (\"%s\") built into a shared bitmap (a page list)",
			 ps->what, RelationGetRelationName(leaf->rel));
	}
	else if (state == TM_BITMAP_BUILDING)
	{
		if (!wait)
			return false;
		/*
		 * A worker's error reaches the leader here (CHECK_FOR_INTERRUPTS in
		 * the sleep); a worker waiting is stopped when the leader fails.
		 */
		ConditionVariablePrepareToSleep(&pl->bitmap_cv);
		while (pg_atomic_read_u32(&pl->bitmap_state) != TM_BITMAP_BUILT)
			ConditionVariableSleep(&pl->bitmap_cv, PG_WAIT_EXTENSION);
		ConditionVariableCancelSleep();
	}
	pg_read_barrier();
	(void) tm_fold_shared_pages(plan, srcidx, leaf, dsa, pl->pages, 0, ps->nunits, tm_fold_row);
	return true;
}

/* Shared bitmaps, the most blocks first (leaf indexes, for qsort_arg). */
static int
more_blocks(const void *a, const void *b, void *arg)
{
	TmParallelLeaf *leaves = arg;
	double		x = leaves[*(const int *) a].blocks;
	double		y = leaves[*(const int *) b].blocks;

	return x > y ? -1 : x < y ? 1 : *(const int *) a - *(const int *) b;
}

/*
 * The scans every participant takes part in, the leader included: first
 * the shared bitmaps, the largest first, so that the first to come (the
 * leader, as workers start) builds the largest while the others build the
 * next ones, then joins what others built; then each source's other reads.
 */
static void
participate(TmPlan *plan, shm_toc *toc, dsa_area *dsa)
{
	TmParallelSource *srcs = shm_toc_lookup(toc, TM_KEY_SOURCES, false);
	TmParallelLeaf *leaves = shm_toc_lookup(toc, TM_KEY_LEAVES, false);
	int			nleaves = 0;
	int		   *order;
	int		   *srcof;
	int			nshared = 0;
	List	   *later = NIL;	/* shared bitmaps found being built */
	ListCell   *lc;

	for (int i = 0; i < plan->nsources; i++)
		nleaves += srcs[i].nleaves;
	order = palloc(sizeof(int) * Max(nleaves, 1));
	srcof = palloc(sizeof(int) * Max(nleaves, 1));
	for (int i = 0; i < plan->nsources; i++)
		for (int l = 0; l < srcs[i].nleaves; l++)
		{
			srcof[srcs[i].firstleaf + l] = i;
			if (plan->sources[i].read.leaves[l].share_bitmap)
				order[nshared++] = srcs[i].firstleaf + l;
		}
	qsort_arg(order, nshared, sizeof(int), more_blocks, leaves);
	for (int j = 0; j < nshared; j++)
	{
		int			k = order[j];
		int			i = srcof[k];

		if (!share_read(plan, i, k - srcs[i].firstleaf, &leaves[k], dsa, false))
			later = lappend_int(later, k);
	}

	for (int i = 0; i < plan->nsources; i++)
	{
		TmPlanSource *ps = &plan->sources[i];

		/* the leader read it before the workers started */
		if (srcs[i].executor)
			continue;
		if (ps->use_index)
		{
			uint32		total = (uint32) ps->read.nleaves * (uint32) ps->nunits;
			uint32		u;

			while ((u = pg_atomic_fetch_add_u32(&srcs[i].next_unit, 1)) < total)
			{
				int			l = (int) (u / (uint32) ps->nunits);

				if (OidIsValid(ps->read.leaves[l].indexoid) && !ps->read.leaves[l].share_bitmap)
					tm_read_units(plan, i, l, (int) (u % (uint32) ps->nunits), 1);
			}
		}
		for (int l = 0; l < ps->read.nleaves; l++)
			if (OidIsValid(ps->read.leaves[l].brinoid))
				tm_read_brin(plan, i, l, &leaves[srcs[i].firstleaf + l].next_chunk);
		for (int l = 0; l < ps->read.nleaves; l++)
			if (tm_leaf_whole(&ps->read.leaves[l]))
				tm_read_source(plan, i, l, false, 0,
							   shm_toc_lookup(toc, TM_KEY_SCAN + srcs[i].firstleaf + l, false));
	}
	/* then the blocks of the bitmaps others were building */
	foreach(lc, later)
	{
		int			k = lfirst_int(lc);

		(void) share_read(plan, srcof[k], k - srcs[srcof[k]].firstleaf, &leaves[k], dsa, true);
	}
	list_free(later);
	pfree(order);
	pfree(srcof);
}

/*
 * What evaluating needs of the patients beyond the id map, for the
 * workers: birth dates and their precision, sex and its dictionary.
 */
static Size
patients_size(TmPatients *pats)
{
	Size		size = (Size) pats->n * (sizeof(int32) + sizeof(int16) + sizeof(uint8));
	ListCell   *lc;

	foreach(lc, pats->sexdict)
		size += strlen(lfirst(lc)) + 1;
	return Max(size, 1);
}

static void
patients_put(TmPatients *pats, char *p)
{
	ListCell   *lc;

	memcpy(p, pats->birth, sizeof(int32) * pats->n);
	p += sizeof(int32) * pats->n;
	memcpy(p, pats->sex, sizeof(int16) * pats->n);
	p += sizeof(int16) * pats->n;
	memcpy(p, pats->birthprec, sizeof(uint8) * pats->n);
	p += sizeof(uint8) * pats->n;
	foreach(lc, pats->sexdict)
	{
		strcpy(p, lfirst(lc));
		p += strlen(p) + 1;
	}
}

static void
patients_get(TmPatients *pats, char *p, int nsexes)
{
	pats->birth = (int32 *) p;
	p += sizeof(int32) * pats->n;
	pats->sex = (int16 *) p;
	p += sizeof(int16) * pats->n;
	pats->birthprec = (uint8 *) p;
	p += sizeof(uint8) * pats->n;
	pats->sexdict = NIL;
	for (int i = 0; i < nsexes; i++)
	{
		pats->sexdict = lappend(pats->sexdict, p);
		p += strlen(p) + 1;
	}
}

/*
 * After folding (match_all): once every participant is done, each takes
 * pieces of TM_ALL_CHUNK patients in turn, merges the workers' state rows
 * of those patients into the leader's array, and evaluates every trial for
 * them (all.c), numbering combinations in shared memory.  No piece is
 * touched by two participants, so the merge needs no lock either.
 */
static TmAllEval *
evaluate_share(TmPlan *plan, shm_toc *toc, bool leader)
{
	TmParallelShared *shared = shm_toc_lookup(toc, TM_KEY_SHARED, false);
	char	   *states = shm_toc_lookup(toc, TM_KEY_STATE, false);
	Size		statesize = (Size) shared->npatients * shared->width;
	char	   *into = states + statesize * shared->nworkers;
	uint32		nchunks = (uint32) ((shared->npatients + TM_ALL_CHUNK - 1) / TM_ALL_CHUNK);
	uint32		nparticipants;
	uint32		c;
	TmAllEval  *ev;

	/* folded: wait for the others (an error in one reaches the leader) */
	pg_atomic_fetch_add_u32(&shared->folded, 1);
	ConditionVariableBroadcast(&shared->folded_cv);
	ConditionVariablePrepareToSleep(&shared->folded_cv);
	for (;;)
	{
		nparticipants = pg_atomic_read_u32(&shared->participants);
		if (nparticipants != 0 && pg_atomic_read_u32(&shared->folded) == nparticipants)
			break;
		ConditionVariableSleep(&shared->folded_cv, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
	/* the others' folded rows are read from here on */
	pg_memory_barrier();

	plan->state = into;
	ev = tm_all_begin(plan, plan->trials, plan->ntrials,
					  shm_toc_lookup(toc, TM_KEY_CODES, false),
					  shm_toc_lookup(toc, TM_KEY_COMBOS, false));
	while ((c = pg_atomic_fetch_add_u32(&shared->next_chunk, 1)) < nchunks)
	{
		int			lo = (int) c * TM_ALL_CHUNK;
		int			hi = Min(shared->npatients, lo + TM_ALL_CHUNK);

		CHECK_FOR_INTERRUPTS();
		if (leader)
			tm_progress_report(plan->eval_phase, plan->eval_base + (int64) lo * plan->ntrials,
							   plan->eval_total);
		/* the workers that ran are numbered 0 .. nparticipants - 2 */
		for (uint32 w = 0; w + 1 < nparticipants; w++)
			tm_state_merge_range(plan, into, states + statesize * w, lo, hi);
		tm_all_patients(ev, lo, hi);
	}
	return ev;
}

/*
 * Release what a call that evaluated in its workers kept (tm_population_end):
 * the parallel context and its shared memory.
 */
void
tm_parallel_end(TmPlan *plan)
{
	if (plan->pcxt == NULL)
		return;
	DestroyParallelContext((ParallelContext *) plan->pcxt);
	ExitParallelMode();
	plan->pcxt = NULL;
	plan->all_out = NULL;
	plan->state = NULL;
}

void
tm_parallel_scan_sources(TmPlan *plan, TmCatalog *cat, int nworkers)
{
	ParallelContext *pcxt;
	TmParallelShared *shared;
	Snapshot	snapshot = GetActiveSnapshot();
	char	   *catalog = tm_catalog_serialize(cat, plan->trials, plan->ntrials);
	Size		mapsize = (Size) plan->pats.mask + 1;
	Size		keysize = plan->pats.dense ? 1 : mapsize;
	Size		statesize = (Size) plan->pats.n * plan->width;
	bool		evaluate = plan->eval_all;
	int			narrays = nworkers + (evaluate ? 1 : 0);
	Size		patsize = 0;
	Size		codesize = (Size) plan->pats.n * plan->ntrials * sizeof(uint16);
	Size	   *scansize;
	char	   *p;
	char	   *states;
	TmParallelSource *srcs;
	TmParallelLeaf *leaves;
	int			nleaves = 0;
	void	   *timed = NULL;
	bool	   *by_time = palloc0(sizeof(bool) * Max(plan->nsources, 1));
	bool		sharing = false;
	dsa_area   *dsa = NULL;

	/* how each source's index ranges are shared (before the estimates) */
	for (int i = 0; i < plan->nsources; i++)
	{
		TmPlanSource *ps = &plan->sources[i];

		nleaves += ps->read.nleaves;
		by_time[i] = ps->use_index && tm_slice_by_time(plan, i);
		for (int l = 0; l < ps->read.nleaves; l++)
		{
			ps->read.leaves[l].share_bitmap = shares_bitmap(plan, i, l, by_time[i]);
			sharing |= ps->read.leaves[l].share_bitmap;
		}
	}
	scansize = palloc0(sizeof(Size) * Max(nleaves, 1));

	EnterParallelMode();
	pcxt = CreateParallelContext("trialmatch", "tm_parallel_main", nworkers);

	shm_toc_estimate_chunk(&pcxt->estimator, sizeof(TmParallelShared));
	shm_toc_estimate_chunk(&pcxt->estimator, strlen(catalog) + 1);
	shm_toc_estimate_chunk(&pcxt->estimator, sizeof(int64) * keysize);
	shm_toc_estimate_chunk(&pcxt->estimator, sizeof(int32) * mapsize);
	shm_toc_estimate_chunk(&pcxt->estimator, Max(statesize * narrays, 1));
	shm_toc_estimate_chunk(&pcxt->estimator, sizeof(TmParallelSource) * plan->nsources);
	shm_toc_estimate_chunk(&pcxt->estimator, sizeof(TmParallelLeaf) * Max(nleaves, 1));
	shm_toc_estimate_keys(&pcxt->estimator, 7 + nleaves);
	if (sharing)
	{
		shm_toc_estimate_chunk(&pcxt->estimator, dsa_minimum_size());
		shm_toc_estimate_keys(&pcxt->estimator, 1);
	}
	if (tm_timed_estimate_shared(plan) > 0)
	{
		shm_toc_estimate_chunk(&pcxt->estimator, tm_timed_estimate_shared(plan));
		shm_toc_estimate_keys(&pcxt->estimator, 1);
	}
	if (evaluate)
	{
		patsize = patients_size(&plan->pats);
		shm_toc_estimate_chunk(&pcxt->estimator, patsize);
		shm_toc_estimate_chunk(&pcxt->estimator, Max(codesize, 1));
		shm_toc_estimate_chunk(&pcxt->estimator, tm_all_shared_size(plan->ntrials));
		shm_toc_estimate_keys(&pcxt->estimator, 3);
	}
	for (int i = 0, k = 0; i < plan->nsources; i++)
		for (int l = 0; l < plan->sources[i].read.nleaves; l++, k++)
		{
			TmLeaf	   *leaf = &plan->sources[i].read.leaves[l];

			if (!tm_leaf_whole(leaf))
				continue;
			scansize[k] = table_parallelscan_estimate(leaf->rel, snapshot);
			shm_toc_estimate_chunk(&pcxt->estimator, scansize[k]);
		}
	InitializeParallelDSM(pcxt);

	/*
	 * Without a segment (none left) the context has no workers and its toc
	 * is private memory: the leader's array is then the only one.
	 */
	narrays = pcxt->nworkers + (evaluate ? 1 : 0);

	/* the area the shared bitmaps live in; without a segment, ranges as before */
	if (sharing && pcxt->seg != NULL)
	{
		p = shm_toc_allocate(pcxt->toc, dsa_minimum_size());
		dsa = dsa_create_in_place(p, dsa_minimum_size(), LWTRANCHE_PARALLEL_QUERY_DSA, pcxt->seg);
		shm_toc_insert(pcxt->toc, TM_KEY_DSA, p);
	}
	else
		for (int i = 0; i < plan->nsources; i++)
			for (int l = 0; l < plan->sources[i].read.nleaves; l++)
				plan->sources[i].read.leaves[l].share_bitmap = false;

	shared = shm_toc_allocate(pcxt->toc, sizeof(TmParallelShared));
	shared->as_of = plan->as_of;
	shared->npatients = plan->pats.n;
	shared->mask = plan->pats.mask;
	shared->dense = plan->pats.dense;
	shared->identity = plan->pats.identity;
	shared->minid = plan->pats.minid;
	shared->width = plan->width;
	shared->natoms = plan->natoms;
	shared->nsources = plan->nsources;
	shared->nworkers = pcxt->nworkers;
	shared->ntrials = plan->ntrials;
	shared->evaluate = evaluate;
	shared->nsexes = list_length(plan->pats.sexdict);
	pg_atomic_init_u32(&shared->folded, 0);
	pg_atomic_init_u32(&shared->participants, 0);
	pg_atomic_init_u32(&shared->next_chunk, 0);
	ConditionVariableInit(&shared->folded_cv);
	shm_toc_insert(pcxt->toc, TM_KEY_SHARED, shared);
	p = shm_toc_allocate(pcxt->toc, strlen(catalog) + 1);
	strcpy(p, catalog);
	shm_toc_insert(pcxt->toc, TM_KEY_CATALOG, p);
	p = shm_toc_allocate(pcxt->toc, sizeof(int64) * keysize);
	memcpy(p, plan->pats.keys, sizeof(int64) * keysize);
	shm_toc_insert(pcxt->toc, TM_KEY_IDKEYS, p);
	p = shm_toc_allocate(pcxt->toc, sizeof(int32) * mapsize);
	memcpy(p, plan->pats.slots, sizeof(int32) * mapsize);
	shm_toc_insert(pcxt->toc, TM_KEY_IDSLOTS, p);
	/* each participant zeroes its own array, side by side */
	states = shm_toc_allocate(pcxt->toc, Max(statesize * narrays, 1));
	shm_toc_insert(pcxt->toc, TM_KEY_STATE, states);
	if (evaluate)
	{
		p = shm_toc_allocate(pcxt->toc, patsize);
		patients_put(&plan->pats, p);
		shm_toc_insert(pcxt->toc, TM_KEY_PATIENTS, p);
		shm_toc_insert(pcxt->toc, TM_KEY_CODES, shm_toc_allocate(pcxt->toc, Max(codesize, 1)));
		p = shm_toc_allocate(pcxt->toc, tm_all_shared_size(plan->ntrials));
		tm_all_shared_init(p, plan->ntrials);
		shm_toc_insert(pcxt->toc, TM_KEY_COMBOS, p);
	}
	srcs = shm_toc_allocate(pcxt->toc, sizeof(TmParallelSource) * plan->nsources);
	leaves = shm_toc_allocate(pcxt->toc, sizeof(TmParallelLeaf) * Max(nleaves, 1));
	for (int i = 0, k = 0; i < plan->nsources; i++)
	{
		TmPlanSource *ps = &plan->sources[i];

		srcs[i].executor = ps->read.executor;
		srcs[i].index_time = ps->index_time;
		srcs[i].nslices = (nworkers + 1) * TM_SLICES_PER_PARTICIPANT;
		srcs[i].by_time = by_time[i];
		srcs[i].firstleaf = k;
		srcs[i].nleaves = ps->read.nleaves;
		if (srcs[i].by_time)
			tm_slice_units(plan, i, srcs[i].nslices);
		pg_atomic_init_u32(&srcs[i].next_unit, 0);
		for (int l = 0; l < ps->read.nleaves; l++, k++)
		{
			TmLeaf	   *leaf = &ps->read.leaves[l];

			leaves[k].relid = RelationGetRelid(leaf->rel);
			leaves[k].indexoid = leaf->indexoid;
			leaves[k].index_time = leaf->index_time;
			leaves[k].brinoid = leaf->brinoid;
			pg_atomic_init_u32(&leaves[k].next_chunk, 0);
			leaves[k].share_bitmap = leaf->share_bitmap;
			pg_atomic_init_u32(&leaves[k].bitmap_state, TM_BITMAP_NONE);
			leaves[k].blocks = leaf->share_bitmap ? tm_index_heap_blocks(leaf) : 0;
			leaves[k].pages = InvalidDsaPointer;
			ConditionVariableInit(&leaves[k].bitmap_cv);
			if (tm_leaf_whole(leaf))
			{
				ParallelTableScanDesc pscan = shm_toc_allocate(pcxt->toc, scansize[k]);

				table_parallelscan_initialize(leaf->rel, pscan, snapshot);
				shm_toc_insert(pcxt->toc, TM_KEY_SCAN + k, pscan);
			}
		}
	}
	shm_toc_insert(pcxt->toc, TM_KEY_SOURCES, srcs);
	shm_toc_insert(pcxt->toc, TM_KEY_LEAVES, leaves);
	if (tm_timed_estimate_shared(plan) > 0)
	{
		timed = shm_toc_allocate(pcxt->toc, tm_timed_estimate_shared(plan));
		tm_timed_init_shared(plan, timed, pcxt->seg);
		shm_toc_insert(pcxt->toc, TM_KEY_TIMED, timed);
	}

	LaunchParallelWorkers(pcxt);
	plan->planned = nworkers;
	plan->launched = pcxt->nworkers_launched;
	plan->shared_bytes = pcxt->seg ? dsm_segment_map_length(pcxt->seg) : 0;

	/* the leader takes its share */
	if (evaluate)
	{
		plan->state = states + statesize * pcxt->nworkers;
		memset(plan->state, 0, statesize);
	}
	participate(plan, pcxt->toc, dsa);
	if (evaluate)
	{
		TmAllEval  *ev;

		/* every worker launched is running (or this fails): all are counted */
		WaitForParallelWorkersToAttach(pcxt);
		pg_atomic_write_u32(&shared->participants, pcxt->nworkers_launched + 1);
		ev = evaluate_share(plan, pcxt->toc, true);
		WaitForParallelWorkersToFinish(pcxt);
		if (dsa)
			dsa_detach(dsa);
		plan->all_out = palloc(sizeof(TmAllTrial) * Max(plan->ntrials, 1));
		tm_all_end(ev, plan->all_out);
		/* the state, codes and keys stay in shared memory until tm_parallel_end */
		plan->pcxt = pcxt;
		return;
	}

	WaitForParallelWorkersToFinish(pcxt);
	if (dsa)
		dsa_detach(dsa);
	for (int w = 0; w < pcxt->nworkers_launched; w++)
		tm_state_merge(plan, plan->state, states + statesize * w);
	/* the workers' event times into the leader's sort, before the files go */
	if (timed)
		tm_timed_collect_workers(plan, timed, pcxt->nworkers_launched);

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
	char	   *states = shm_toc_lookup(toc, TM_KEY_STATE, false);
	TmParallelSource *srcs = shm_toc_lookup(toc, TM_KEY_SOURCES, false);
	TmParallelLeaf *leaves = shm_toc_lookup(toc, TM_KEY_LEAVES, false);
	void	   *dsaplace = shm_toc_lookup(toc, TM_KEY_DSA, true);
	dsa_area   *dsa = dsaplace ? dsa_attach_in_place(dsaplace, seg) : NULL;
	TmCatalog  *cat;
	TmTrial   **trials;
	int			ntrials = 0;
	ListCell   *lc;
	TmPlan	   *plan;

	/*
	 * The leader's catalog, not what this worker's snapshot would read: it
	 * holds exactly the call's trials, in the order the leader planned them,
	 * so the atoms, sources and state layout come out the same.
	 */
	cat = tm_catalog_deserialize(shm_toc_lookup(toc, TM_KEY_CATALOG, false));
	trials = palloc(sizeof(TmTrial *) * Max(list_length(cat->trials), 1));
	foreach(lc, cat->trials)
		trials[ntrials++] = lfirst(lc);
	plan = tm_plan_create(cat, trials, ntrials, shared->as_of);
	if (plan->width != shared->width || plan->natoms != shared->natoms ||
		plan->nsources != shared->nsources || ntrials != shared->ntrials)
		elog(ERROR, "trialmatch parallel worker built a different plan");
	if (ParallelWorkerNumber >= shared->nworkers)
		elog(ERROR, "unexpected parallel worker number %d", ParallelWorkerNumber);

	/* read the leaves the leader opened, each the way the leader chose */
	for (int i = 0; i < plan->nsources; i++)
	{
		TmPlanSource *ps = &plan->sources[i];
		Oid		   *oids = palloc(sizeof(Oid) * Max(srcs[i].nleaves, 1));

		for (int l = 0; l < srcs[i].nleaves; l++)
			oids[l] = leaves[srcs[i].firstleaf + l].relid;
		tm_relation_open_leaves(&ps->read, ps->rel, ps->what, ps->maxattno, oids,
								srcs[i].nleaves);
		ps->read.executor = srcs[i].executor;
		ps->use_index = false;
		for (int l = 0; l < srcs[i].nleaves; l++)
		{
			ps->read.leaves[l].indexoid = leaves[srcs[i].firstleaf + l].indexoid;
			ps->read.leaves[l].index_time = leaves[srcs[i].firstleaf + l].index_time;
			ps->read.leaves[l].brinoid = leaves[srcs[i].firstleaf + l].brinoid;
			ps->read.leaves[l].share_bitmap = leaves[srcs[i].firstleaf + l].share_bitmap;
			ps->use_index |= OidIsValid(ps->read.leaves[l].indexoid);
		}
		ps->index_time = srcs[i].index_time;
		if (ps->use_index)
		{
			tm_index_units(plan, i);
			if (srcs[i].by_time)
				tm_slice_units(plan, i, srcs[i].nslices);
		}
	}
	/* unit concepts (never read through the executor here: see tm_parallel_workers_for) */
	if (plan->conceptrel)
		tm_relation_open(&plan->conceptread, plan->conceptrel, "the concept table",
						 Max(plan->concept_id.attnum, plan->concept_code.attnum), NULL);
	plan->pats.n = shared->npatients;
	plan->pats.mask = shared->mask;
	plan->pats.dense = shared->dense;
	plan->pats.identity = shared->identity;
	plan->pats.minid = shared->minid;
	plan->pats.keys = shm_toc_lookup(toc, TM_KEY_IDKEYS, false);
	plan->pats.slots = shm_toc_lookup(toc, TM_KEY_IDSLOTS, false);
	plan->state = states + (Size) shared->npatients * shared->width * ParallelWorkerNumber;
	memset(plan->state, 0, (Size) shared->npatients * shared->width);
	if (shared->evaluate)
		patients_get(&plan->pats, shm_toc_lookup(toc, TM_KEY_PATIENTS, false), shared->nsexes);
	plan->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "trialmatch row",
										 ALLOCSET_DEFAULT_SIZES);
	tm_codemaps_init(plan);
	if (plan->ntimed > 0)
		tm_timed_attach_worker(plan, shm_toc_lookup(toc, TM_KEY_TIMED, false), seg,
							   ParallelWorkerNumber);
	participate(plan, toc, dsa);
	if (dsa)
		dsa_detach(dsa);
	if (shared->evaluate)
		(void) evaluate_share(plan, toc, false);
	tm_timed_detach_worker(plan);
	tm_plan_close(plan);
}
