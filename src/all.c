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
 * Memory: 2 bytes per trial and patient (TM_ALL_CODE_BYTES), counted in
 * match_all's memory budget (plan.c, tm_plan_passes).  A trial of more than
 * 32 criteria, or with more than 65535 combinations, is left to be
 * evaluated at output time, as match_patients does.
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
 * Evaluate trials[0..ntrials) of plan for every patient.  Fills
 * out[t]: codes (NULL: evaluate the trial at output time) and the keys of
 * its combinations.
 */
void
tm_all_evaluate(TmPlan *plan, TmTrial **trials, int ntrials, TmAllTrial *out,
				const char *phase, int64 progress_base, int64 progress_total)
{
	int			ncrit = 0;
	int			nslots = 0;
	TmNode	  **slot_tree;
	char	  **slot_key;
	int		  **slot_of;
	TmTruth    *val;
	combo_hash **maps = palloc0(sizeof(combo_hash *) * Max(ntrials, 1));

	for (int t = 0; t < ntrials; t++)
		ncrit += trials[t]->ncriteria;
	slot_tree = palloc(sizeof(TmNode *) * Max(ncrit, 1));
	slot_key = palloc(sizeof(char *) * Max(ncrit, 1));
	slot_of = palloc(sizeof(int *) * Max(ntrials, 1));

	/* one slot per distinct criterion (its canonical text) */
	for (int t = 0; t < ntrials; t++)
	{
		TmTrial    *trial = trials[t];

		memset(&out[t], 0, sizeof(TmAllTrial));
		slot_of[t] = NULL;
		if (trial->ncriteria > 32)
			continue;
		slot_of[t] = palloc(sizeof(int) * Max(trial->ncriteria, 1));
		for (int i = 0; i < trial->ncriteria; i++)
		{
			TmNode	   *tree = trial->criteria[i].tree;
			char	   *key = tm_deparse(tree);
			int			s;

			for (s = 0; s < nslots; s++)
				if (strcmp(slot_key[s], key) == 0)
					break;
			if (s == nslots)
			{
				slot_key[s] = key;
				slot_tree[s] = tree;
				nslots++;
			}
			slot_of[t][i] = s;
		}
		out[t].codes = palloc_extended(sizeof(uint16) * Max(plan->pats.n, 1), MCXT_ALLOC_HUGE);
		out[t].keys = palloc(sizeof(uint64) * 64);
		out[t].keycap = 64;
		maps[t] = combo_create(CurrentMemoryContext, 64, NULL);
	}
	val = palloc(sizeof(TmTruth) * Max(nslots, 1));

	for (int p = 0; p < plan->pats.n; p++)
	{
		if ((p & 0x3FF) == 0)
		{
			CHECK_FOR_INTERRUPTS();
			tm_progress_report(phase, progress_base + (int64) p * ntrials, progress_total);
		}
		for (int s = 0; s < nslots; s++)
			val[s] = tm_eval(plan, slot_tree[s], p);
		for (int t = 0; t < ntrials; t++)
		{
			TmTrial    *trial = trials[t];
			uint64		key = 0;
			ComboEntry *e;
			bool		found;

			if (out[t].codes == NULL)
				continue;
			for (int i = 0; i < trial->ncriteria; i++)
			{
				TmTruth		r = val[slot_of[t][i]];

				if (r == TM_UNKNOWN)
					key |= UINT64CONST(1) << i;
				else if ((r == TM_TRUE) == trial->criteria[i].exclusion)
					key |= UINT64CONST(1) << (32 + i);
			}
			e = combo_insert(maps[t], key, &found);
			if (!found)
			{
				if (out[t].nkeys == PG_UINT16_MAX)
				{
					/* too many combinations: evaluate this trial at output time */
					out[t].codes = NULL;
					continue;
				}
				if (out[t].nkeys == out[t].keycap)
				{
					out[t].keycap *= 2;
					out[t].keys = repalloc(out[t].keys, sizeof(uint64) * out[t].keycap);
				}
				e->index = (uint16) out[t].nkeys;
				out[t].keys[out[t].nkeys++] = key;
			}
			out[t].codes[p] = e->index;
		}
	}
}
