/*-------------------------------------------------------------------------
 *
 * all.c
 *	  Evaluating many trials at once (match_all, screen_all), patient by
 *	  patient: each distinct criterion is evaluated once per patient however
 *	  many trials state it (many say age >= 18 or diagnosis 'E11%'), while
 *	  the patient's state row is in cache, and each trial keeps per patient
 *	  only the number of its (status, failed, unknown) combination.  The
 *	  output rows are then returned trial by trial from those numbers
 *	  (match.c, rows.c), each combination's values made once.
 *
 * Patients are evaluated in pieces (tm_all_patients): here alone after
 * the reading, or by match_all's parallel workers side by side with the
 * leader (parallel.c), when the combinations are numbered in shared memory.
 *
 * Memory: 2 bytes per trial and patient (TM_ALL_CODE_BYTES), counted in
 * match_all's memory budget (plan.c, tm_plan_passes).  A trial of more than
 * 32 criteria, or with more than 65535 combinations (8192 when numbered in
 * shared memory), is left to be evaluated at output time, as
 * match_patients does.
 *
 * A leaf: it reads the plan's state through eval.c and calls nothing above.
 *
 * IDENTIFICATION
 *	  src/all.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/spin.h"

#include "pool.h"
#include "trialmatch.h"

typedef struct ComboEntry
{
	uint64		key;			/* failed bits << 32 | unknown bits */
	char		status;			/* simplehash's entry state */
	uint16		index;
} ComboEntry;

#define SH_PREFIX combo
#define SH_ELEMENT_TYPE ComboEntry
#define SH_KEY_TYPE uint64
#define SH_KEY key
#define SH_HASH_KEY(tb, key) hash_combine(murmurhash32((uint32) (key)), murmurhash32((uint32) ((key) >> 32)))
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DEFINE
#define SH_DECLARE
#include "lib/simplehash.h"

/*
 * Per trial, a direct-mapped cache of recent combinations in front of its
 * hash table: a multiplicative hash of the key picks the entry.
 */
#define TM_ALL_RECENT_BITS 8
#define TM_ALL_RECENT (1 << TM_ALL_RECENT_BITS)

static inline int
recent_slot(uint64 key)
{
	return (int) ((key * UINT64CONST(0x9E3779B97F4A7C15)) >> (64 - TM_ALL_RECENT_BITS));
}

/* A combination and its number (-1: none yet) */
typedef struct TmAllRecent
{
	uint64		key;
	int			index;
} TmAllRecent;

/*
 * A trial's combinations numbered in shared memory, when participants of
 * a parallel call evaluate patients side by side: keys are appended under
 * the mutex and published by nkeys, so that they are looked up without it.
 */
#define TM_ALL_SHARED_KEYS 8192

typedef struct TmAllSharedTrial
{
	slock_t		mutex;
	bool		overflow;		/* more than TM_ALL_SHARED_KEYS: not coded */
	pg_atomic_uint32 nkeys;
	uint64		keys[TM_ALL_SHARED_KEYS];
} TmAllSharedTrial;

/* One participant's evaluation of many trials (serial: the only one). */
struct TmAllEval
{
	TmPlan	   *plan;
	TmTrial   **trials;
	int			ntrials;
	int			nslots;
	TmNode	  **slot_tree;		/* per slot: a distinct criterion */
	int		   *crit_unknown;	/* per criterion: its slot in unknown[] */
	int		   *crit_fails;		/* per criterion: its slot in fails[] */
	int		   *first_crit;		/* per trial: its first criterion in those */
	uint8	   *unknown;		/* per slot: the patient's result is unknown */
	uint8	   *fails;			/* per slot: false, then per slot: true */
	TmAllRecent *recent;		/* per trial: TM_ALL_RECENT combinations */
	combo_hash **maps;			/* per trial: key -> number */
	bool	   *coded;			/* per trial: still coded */
	uint16	   *codes;			/* ntrials x pats.n: per trial, per patient */
	TmAllTrial *local;			/* serial: per trial, its keys */
	TmAllSharedTrial *shared;	/* parallel: per trial, its keys */
};

Size
tm_all_shared_size(int ntrials)
{
	return mul_size(sizeof(TmAllSharedTrial), Max(ntrials, 1));
}

void
tm_all_shared_init(void *shared, int ntrials)
{
	TmAllSharedTrial *sh = shared;

	for (int t = 0; t < ntrials; t++)
	{
		SpinLockInit(&sh[t].mutex);
		sh[t].overflow = false;
		pg_atomic_init_u32(&sh[t].nkeys, 0);
	}
}

/*
 * Begin evaluating trials[0..ntrials) of plan: the distinct criteria, and
 * per trial where its codes go.  codes: ntrials x pats.n numbers (NULL: made
 * here); shared: the trials' combinations in shared memory (parallel), or
 * NULL to number them here.
 */
TmAllEval *
tm_all_begin(TmPlan *plan, TmTrial **trials, int ntrials, uint16 *codes, void *shared)
{
	TmAllEval  *ev = palloc0(sizeof(TmAllEval));
	int			ncrit = 0;
	char	  **slot_key;

	ev->plan = plan;
	ev->trials = trials;
	ev->ntrials = ntrials;
	ev->shared = shared;
	for (int t = 0; t < ntrials; t++)
		ncrit += trials[t]->ncriteria;
	ev->slot_tree = palloc(sizeof(TmNode *) * Max(ncrit, 1));
	slot_key = palloc(sizeof(char *) * Max(ncrit, 1));
	ev->crit_unknown = palloc(sizeof(int) * Max(ncrit, 1));
	ev->crit_fails = palloc(sizeof(int) * Max(ncrit, 1));
	ev->first_crit = palloc(sizeof(int) * (ntrials + 1));
	ev->recent = palloc(sizeof(TmAllRecent) * TM_ALL_RECENT * Max(ntrials, 1));
	for (int i = 0; i < TM_ALL_RECENT * Max(ntrials, 1); i++)
		ev->recent[i].index = -1;
	ev->maps = palloc0(sizeof(combo_hash *) * Max(ntrials, 1));
	ev->coded = palloc0(sizeof(bool) * Max(ntrials, 1));
	ev->codes = codes ? codes :
		palloc_extended(sizeof(uint16) * Max((Size) plan->pats.n * ntrials, 1), MCXT_ALLOC_HUGE);
	if (!shared)
		ev->local = palloc0(sizeof(TmAllTrial) * Max(ntrials, 1));

	/* one slot per distinct criterion (its canonical text) */
	ncrit = 0;
	for (int t = 0; t < ntrials; t++)
	{
		TmTrial    *trial = trials[t];

		ev->first_crit[t] = ncrit;
		if (trial->ncriteria > 32)
			continue;
		for (int i = 0; i < trial->ncriteria; i++)
		{
			TmNode	   *tree = trial->criteria[i].tree;
			char	   *key = tm_deparse(tree);
			int			s;

			for (s = 0; s < ev->nslots; s++)
				if (strcmp(slot_key[s], key) == 0)
					break;
			if (s == ev->nslots)
			{
				slot_key[s] = key;
				ev->slot_tree[s] = tree;
				ev->nslots++;
			}
			ev->crit_unknown[ncrit + i] = s;
		}
		ncrit += trial->ncriteria;
		ev->coded[t] = true;
		ev->maps[t] = combo_create(CurrentMemoryContext, 64, NULL);
		if (ev->local)
		{
			ev->local[t].keys = palloc(sizeof(uint64) * 64);
			ev->local[t].keycap = 64;
		}
	}
	ev->first_crit[ntrials] = ncrit;
	/* an inclusion excludes the patient when false, an exclusion when true */
	for (int t = 0; t < ntrials; t++)
		for (int c = ev->first_crit[t], i = 0; c < ev->first_crit[t + 1]; c++, i++)
			ev->crit_fails[c] = ev->crit_unknown[c] +
				(trials[t]->criteria[i].exclusion ? ev->nslots : 0);
	ev->unknown = palloc(sizeof(uint8) * Max(ev->nslots, 1));
	ev->fails = palloc(sizeof(uint8) * 2 * Max(ev->nslots, 1));
	return ev;
}

/*
 * The number of trial t's combination key, from the shared table; -1 when
 * the table is full.
 */
static int
shared_number(TmAllSharedTrial *sh, uint64 key)
{
	uint32		n = pg_atomic_read_u32(&sh->nkeys);
	int			index = -1;

	pg_read_barrier();
	for (uint32 k = 0; k < n; k++)
		if (sh->keys[k] == key)
			return (int) k;
	SpinLockAcquire(&sh->mutex);
	for (uint32 k = n; k < pg_atomic_read_u32(&sh->nkeys); k++)
		if (sh->keys[k] == key)
			index = (int) k;
	if (index < 0 && !sh->overflow)
	{
		n = pg_atomic_read_u32(&sh->nkeys);
		if (n == TM_ALL_SHARED_KEYS)
			sh->overflow = true;
		else
		{
			sh->keys[n] = key;
			pg_write_barrier();
			pg_atomic_write_u32(&sh->nkeys, n + 1);
			index = (int) n;
		}
	}
	SpinLockRelease(&sh->mutex);
	return index;
}

/* The number of trial t's combination key; -1: too many, not coded */
static int
number_key(TmAllEval *ev, int t, uint64 key)
{
	bool		found;
	ComboEntry *e = combo_insert(ev->maps[t], key, &found);
	int			index;

	if (found)
		return e->index;
	if (ev->shared)
		index = shared_number(&ev->shared[t], key);
	else
	{
		TmAllTrial *lt = &ev->local[t];

		if (lt->nkeys == PG_UINT16_MAX)
			index = -1;
		else
		{
			if (lt->nkeys == lt->keycap)
			{
				lt->keycap *= 2;
				lt->keys = repalloc(lt->keys, sizeof(uint64) * lt->keycap);
			}
			index = lt->nkeys;
			lt->keys[lt->nkeys++] = key;
		}
	}
	if (index < 0)
	{
		combo_delete_item(ev->maps[t], e);
		return -1;
	}
	e->index = (uint16) index;
	return index;
}

/*
 * Evaluate patients lo..hi-1 for every trial: each distinct criterion
 * once, then per trial the number of the patient's combination.
 */
void
tm_all_patients(TmAllEval *ev, int lo, int hi)
{
	TmPlan	   *plan = ev->plan;
	int			nslots = ev->nslots;
	Size		n = plan->pats.n;

	for (int p = lo; p < hi; p++)
	{
		for (int s = 0; s < nslots; s++)
		{
			TmTruth		r = tm_eval(plan, ev->slot_tree[s], p);

			ev->unknown[s] = (r == TM_UNKNOWN);
			ev->fails[s] = (r == TM_FALSE);
			ev->fails[nslots + s] = (r == TM_TRUE);
		}
		for (int t = 0; t < ev->ntrials; t++)
		{
			uint64		key = 0;
			TmAllRecent *r;
			int			index;

			if (!ev->coded[t])
				continue;
			/* bit i: criterion i unknown; bit 32 + i: it excludes the patient */
			for (int c = ev->first_crit[t], i = 0; c < ev->first_crit[t + 1]; c++, i++)
				key |= ((uint64) ev->unknown[ev->crit_unknown[c]] << i) |
					((uint64) ev->fails[ev->crit_fails[c]] << (32 + i));
			/* a combination seen lately: no hash table lookup */
			r = &ev->recent[t * TM_ALL_RECENT + recent_slot(key)];
			if (r->index >= 0 && r->key == key)
			{
				ev->codes[t * n + p] = (uint16) r->index;
				continue;
			}
			index = number_key(ev, t, key);
			if (index < 0)
			{
				/* too many combinations: evaluate this trial at output time */
				ev->coded[t] = false;
				continue;
			}
			ev->codes[t * n + p] = (uint16) index;
			r->key = key;
			r->index = index;
		}
	}
}

/*
 * What evaluating found, per trial into out[t]: its codes and the keys of
 * its combinations, or codes NULL (evaluate the trial at output time).  In
 * a parallel call, the leader's, once every participant is done; the codes
 * and keys then stay in shared memory.
 */
void
tm_all_end(TmAllEval *ev, TmAllTrial *out)
{
	for (int t = 0; t < ev->ntrials; t++)
	{
		memset(&out[t], 0, sizeof(TmAllTrial));
		if (ev->shared)
		{
			if (!ev->coded[t] || ev->shared[t].overflow)
				continue;
			out[t].keys = ev->shared[t].keys;
			out[t].nkeys = (int) pg_atomic_read_u32(&ev->shared[t].nkeys);
		}
		else
		{
			if (!ev->coded[t])
				continue;
			out[t] = ev->local[t];
		}
		out[t].codes = ev->codes + (Size) t * ev->plan->pats.n;
	}
}

/*
 * Evaluate trials[0..ntrials) of plan for every patient, here alone.
 * Fills out[t] as tm_all_end does.
 */
void
tm_all_evaluate(TmPlan *plan, TmTrial **trials, int ntrials, TmAllTrial *out,
				const char *phase, int64 progress_base, int64 progress_total)
{
	TmAllEval  *ev = tm_all_begin(plan, trials, ntrials, NULL, NULL);

	for (int lo = 0; lo < plan->pats.n; lo += TM_ALL_CHUNK)
	{
		CHECK_FOR_INTERRUPTS();
		tm_progress_report(phase, progress_base + (int64) lo * ntrials, progress_total);
		tm_all_patients(ev, lo, Min(plan->pats.n, lo + TM_ALL_CHUNK));
	}
	tm_all_end(ev, out);
}
