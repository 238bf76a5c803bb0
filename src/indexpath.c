/*-------------------------------------------------------------------------
 *
 * indexpath.c
 *	  Index range scans for narrow criteria: when every criterion reading a
 *	  source names exact codes, and the rows those codes and windows select
 *	  are a small share of the table, read them through a btree index on
 *	  (code [, time]) instead of scanning the whole table.
 *
 * The choice uses the planner's statistics (pg_statistic): the frequency
 * of each code (most common values, else the average of the others) times
 * the share of the time histogram inside the window.  Without statistics
 * the table is scanned whole.
 *
 * A source in index mode is read as "units": one index range per distinct
 * code or prefix, bounded below by the widest window of the criteria naming
 * it (no bound if one has no window, or for sources with an end time, whose
 * windows apply to the end).  A code or prefix covered by another prefix is
 * folded into it, so units never overlap and every row is read once.  The
 * bounds are loose (a day wide) and process_row re-checks every row's code
 * and window exactly.  Parallel workers share the units through a counter.
 *
 * Prefix codes ('E11%') become the range [prefix, prefix || U+10FFFF), which
 * holds every string starting with the prefix only when the index orders
 * text by code point: collations "C", "POSIX", and libc's "C.UTF-8" (never
 * ICU, even a database default whose LC_COLLATE is "C.UTF-8").  With any
 * other collation a source with prefix codes is scanned whole.  Exact codes
 * need a deterministic collation (equal only when byte-equal).
 *
 * A leaf still read whole can instead be read through a BRIN index on its
 * time column (brin_time_index), when every criterion reading the source
 * has a window, the table is stored in time order (ANALYZE's correlation)
 * and the windows hold under half of its rows: the blocks whose summary
 * reaches the earliest window start (and not past as_of), in block order,
 * every row of them folded, as a whole scan folds it (read.c).  This is how a table
 * that grows in time order, with no index on its codes, gives up only its
 * recent blocks to a 30-day window.
 *
 * IDENTIFICATION
 *	  src/indexpath.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <locale.h>
#include <math.h>

#include "access/brin_internal.h"
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/nbtree.h"
#include "catalog/pg_am.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_statistic.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/pg_locale.h"
#include "mb/pg_wchar.h"
#include "storage/procarray.h"
#include "utils/snapmgr.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "trialmatch.h"

/*
 * Index mode when the estimated rows are below this share of the table.
 * Measured on the benchmark at 1M patients: reading 5-15% of a table as a
 * bitmap heap scan in one process beat a parallel scan of the whole table
 * with two workers (diagnoses: 1.9 s -> 1.1-1.4 s for a trial), because a
 * bitmap read only examines the rows it needs.
 */
#define TM_INDEX_FRACTION 0.15

/*
 * A BRIN index when the windows hold less than this share of the rows.  In
 * a table stored in time order the index finds about that share of its
 * blocks, read as a bitmap heap scan (shared among parallel participants
 * as a whole scan is); the margin covers a looser order (|correlation|
 * down to 0.5) and the block ranges that straddle the window start.
 */
#define TM_BRIN_FRACTION 0.5

static void choose_brin(TmPlan *plan, int srcidx);

/*
 * May this index be read now: valid, usable by this transaction's snapshot
 * (indcheckxmin: built over broken HOT chains after it started), and over
 * every row (no predicate)?  The one test of every index trialmatch reads.
 */
bool
tm_index_usable(Relation idx)
{
	return idx->rd_index->indisvalid &&
		(!idx->rd_index->indcheckxmin ||
		 TransactionIdPrecedes(HeapTupleHeaderGetXmin(idx->rd_indextuple->t_data),
							   TransactionXmin)) &&
		heap_attisnull(idx->rd_indextuple, Anum_pg_index_indpred, NULL);
}

/*
 * Does this collation order text by code point (so prefixes are ranges)?
 * Only "C" and "POSIX" (lc_collate_is_c) and libc's "C.UTF-8": never an ICU
 * collation, the database default included when its provider is ICU (its
 * LC_COLLATE may well say "C.UTF-8" and mean nothing for the order).
 */
static bool
collation_is_codepoint(Oid collation)
{
	const char *name;
	HeapTuple	tup;

	if (!OidIsValid(collation) || lc_collate_is_c(collation))
		return true;
	if (collation == DEFAULT_COLLATION_OID)
	{
		/* non-NULL only for a non-libc (ICU) default */
		if (pg_newlocale_from_collation(DEFAULT_COLLATION_OID) != NULL)
			return false;
		name = setlocale(LC_COLLATE, NULL);
	}
	else
	{
		Form_pg_collation coll;
		bool		isnull;
		Datum		d;

		tup = SearchSysCache1(COLLOID, ObjectIdGetDatum(collation));
		if (!HeapTupleIsValid(tup))
			return false;
		coll = (Form_pg_collation) GETSTRUCT(tup);
		if (coll->collprovider != COLLPROVIDER_LIBC)
		{
			ReleaseSysCache(tup);
			return false;
		}
		d = SysCacheGetAttr(COLLOID, tup, Anum_pg_collation_collcollate, &isnull);
		name = isnull ? "" : TextDatumGetCString(d);
		ReleaseSysCache(tup);
	}
	return name && (strcmp(name, "C.UTF-8") == 0 || strcmp(name, "C.utf8") == 0);
}

/* A btree index led by the code column (and then, ideally, the time column). */
static Oid
find_code_index(TmPlanSource *ps, TmLeaf *leaf, bool prefixes, bool *with_time)
{
	List	   *indexes = RelationGetIndexList(leaf->rel);
	AttrNumber	codeatt = tm_leaf_attnum(leaf, ps->code.attnum);
	AttrNumber	timeatt = tm_leaf_attnum(leaf, ps->time.attnum);
	ListCell   *lc;
	Oid			best = InvalidOid;
	bool		best_cover = false;

	*with_time = false;
	foreach(lc, indexes)
	{
		Relation	idx = index_open(lfirst_oid(lc), AccessShareLock);
		bool		ok;
		bool		time;
		bool		cover;

		ok = idx->rd_rel->relam == BTREE_AM_OID && tm_index_usable(idx) &&
			codeatt != 0 && idx->rd_index->indkey.values[0] == codeatt &&
			OidIsValid(get_opfamily_member(idx->rd_opfamily[0], idx->rd_opcintype[0],
										   idx->rd_opcintype[0], BTEqualStrategyNumber)) &&
			(!OidIsValid(idx->rd_indcollation[0]) ||
			 get_collation_isdeterministic(idx->rd_indcollation[0])) &&
			(!prefixes ||
			 (OidIsValid(get_opfamily_member(idx->rd_opfamily[0], idx->rd_opcintype[0],
											 idx->rd_opcintype[0], BTLessStrategyNumber)) &&
			  collation_is_codepoint(idx->rd_indcollation[0])));
		/* an index condition on the time would miss rows read from the fallback */
		time = ok && ps->end_time.attnum == 0 && ps->time_fallback.attnum == 0 &&
			idx->rd_index->indnkeyatts >= 2 &&
			timeatt != 0 && idx->rd_index->indkey.values[1] == timeatt &&
			idx->rd_opcintype[1] == ps->time.typid &&
			OidIsValid(get_opfamily_member(idx->rd_opfamily[1], ps->time.typid, ps->time.typid,
										   BTGreaterEqualStrategyNumber));
		/* time second first, then one that can be read alone (indexonly.c) */
		cover = ok && tm_index_only(ps, leaf, idx, NULL);
		if (ok && (!OidIsValid(best) || (time && !*with_time) ||
				   (time == *with_time && cover && !best_cover)))
		{
			best = RelationGetRelid(idx);
			*with_time = time;
			best_cover = cover;
		}
		index_close(idx, AccessShareLock);
	}
	list_free(indexes);
	return best;
}

/* Does unit code o hold every row that code c selects? */
static bool
code_covers(TmCode *o, TmCode *c)
{
	if (c->is_int)
		return o->ival == c->ival;
	if (o->prefix)
		return c->len >= o->len && memcmp(c->str, o->str, o->len) == 0;
	return !c->prefix && o->len == c->len && memcmp(o->str, c->str, c->len) == 0;
}

static void
widen(TmIndexUnit *u, bool has_lower, TimestampTz lower)
{
	if (!has_lower)
		u->has_lower = false;
	else if (u->has_lower && lower < u->lower)
		u->lower = lower;
}

/*
 * Build the units of a source: one per distinct code or prefix, each with
 * the widest window of the criteria it serves; a code or prefix covered by
 * a prefix is folded into it.
 */
void
tm_index_units(TmPlan *plan, int srcidx)
{
	TmPlanSource *ps = &plan->sources[srcidx];
	int			cap = 8;
	int			n = 0;

	ps->units = palloc(sizeof(TmIndexUnit) * cap);
	for (int k = 0; k < ps->natoms; k++)
	{
		TmAtom	   *a = &plan->atoms[ps->atoms[k]];
		ListCell   *lc;

		foreach(lc, a->codes)
		{
			TmCode	   *c = lfirst(lc);
			bool		merged = false;

			CHECK_FOR_INTERRUPTS();
			for (int i = 0; i < n && !merged; i++)
				if (code_covers(ps->units[i].code, c))
				{
					widen(&ps->units[i], a->has_lower, a->lower);
					merged = true;
				}
			if (merged)
				continue;
			if (n == cap)
			{
				cap *= 2;
				ps->units = repalloc(ps->units, sizeof(TmIndexUnit) * cap);
			}
			memset(&ps->units[n], 0, sizeof(TmIndexUnit));
			ps->units[n].code = c;
			ps->units[n].has_lower = a->has_lower;
			ps->units[n].lower = a->lower;
			n++;
		}
	}
	/* a prefix that came later may cover earlier units: fold those into it */
	for (int i = 0; i < n; i++)
	{
		if (!ps->units[i].code->prefix)
			continue;
		for (int j = 0; j < n; j++)
			if (j != i && code_covers(ps->units[i].code, ps->units[j].code))
			{
				widen(&ps->units[i], ps->units[j].has_lower, ps->units[j].lower);
				ps->units[j] = ps->units[--n];
				if (i == n)
					i = j;		/* unit i moved into slot j */
				j = -1;			/* rescan */
			}
	}
	ps->nunits = n;
}

/* Share of the code column's rows holding this code, from pg_statistic. */
static double
code_fraction(TmPlanSource *ps, TmLeaf *leaf, TmCode *code, HeapTuple stats)
{
	Form_pg_statistic st = (Form_pg_statistic) GETSTRUCT(stats);
	AttStatsSlot sslot;
	double		mcvsum = 0;
	double		prefixsum = 0;
	double		ndistinct;
	int			nmcv = 0;

	if (get_attstatsslot(&sslot, stats, STATISTIC_KIND_MCV, InvalidOid,
						 ATTSTATSSLOT_VALUES | ATTSTATSSLOT_NUMBERS))
	{
		for (int i = 0; i < sslot.nvalues; i++)
		{
			bool		match;

			if (code->is_int)
				match = (ps->code.typid == INT4OID ? (int64) DatumGetInt32(sslot.values[i]) :
						 DatumGetInt64(sslot.values[i])) == code->ival;
			else
			{
				text	   *t = DatumGetTextPP(sslot.values[i]);

				match = code->prefix ?
					(VARSIZE_ANY_EXHDR(t) >= code->len &&
					 memcmp(VARDATA_ANY(t), code->str, code->len) == 0) :
					(VARSIZE_ANY_EXHDR(t) == code->len &&
					 memcmp(VARDATA_ANY(t), code->str, code->len) == 0);
			}
			if (match && !code->prefix)
			{
				double		f = sslot.numbers[i];

				free_attstatsslot(&sslot);
				return f;
			}
			if (match)
				prefixsum += sslot.numbers[i];
			mcvsum += sslot.numbers[i];
		}
		nmcv = sslot.nvalues;
		free_attstatsslot(&sslot);
	}
	if (code->prefix)
	{
		/* the MCVs with the prefix, plus its share of the histogram of the rest */
		double		rest = Max(1.0 - st->stanullfrac - mcvsum, 0);
		double		share = 0.01;

		if (get_attstatsslot(&sslot, stats, STATISTIC_KIND_HISTOGRAM, InvalidOid,
							 ATTSTATSSLOT_VALUES))
		{
			int			in = 0;

			for (int i = 0; i < sslot.nvalues; i++)
			{
				text	   *t = DatumGetTextPP(sslot.values[i]);

				if (VARSIZE_ANY_EXHDR(t) >= code->len &&
					memcmp(VARDATA_ANY(t), code->str, code->len) == 0)
					in++;
			}
			if (sslot.nvalues > 1)
				share = (in + 1.0) / (sslot.nvalues - 1);
			free_attstatsslot(&sslot);
		}
		return prefixsum + rest * Min(share, 1.0);
	}
	ndistinct = st->stadistinct < 0 ? -st->stadistinct * Max(leaf->rel->rd_rel->reltuples, 1) :
		st->stadistinct;
	if (ndistinct <= nmcv)
		return 0.0001;			/* not among all the values seen: rare */
	return Max(1.0 - st->stanullfrac - mcvsum, 0) / (ndistinct - nmcv);
}

/* Share of the time column's rows at or after lower, from its histogram. */
static double
time_fraction(TmPlan *plan, TmPlanSource *ps, TmLeaf *leaf, TimestampTz lower)
{
	HeapTuple	stats;
	AttStatsSlot sslot;
	double		frac = 1.0;

	stats = SearchSysCache3(STATRELATTINH, ObjectIdGetDatum(RelationGetRelid(leaf->rel)),
							Int16GetDatum(tm_leaf_attnum(leaf, ps->time.attnum)),
							BoolGetDatum(false));
	if (!HeapTupleIsValid(stats))
		return 1.0;
	if (get_attstatsslot(&sslot, stats, STATISTIC_KIND_HISTOGRAM, InvalidOid, ATTSTATSSLOT_VALUES))
	{
		int			above = 0;

		for (int i = 0; i < sslot.nvalues; i++)
			if (tm_time_value(plan, sslot.values[i], ps->time.typid) >= lower)
				above++;
		if (sslot.nvalues > 1)
			frac = Max((double) above - 0.5, 0.5) / (double) (sslot.nvalues - 1);
		frac = Min(frac, 1.0);
		free_attstatsslot(&sslot);
	}
	ReleaseSysCache(stats);
	return frac;
}

/*
 * Decide, for each leaf of each source of a population call, whether to
 * read it through an index: each leaf (partition, child) by its own
 * indexes and statistics.  Sets leaf->indexoid (InvalidOid: whole scan).
 */
void
tm_choose_index_paths(TmPlan *plan)
{
	for (int s = 0; s < plan->nsources; s++)
	{
		TmPlanSource *ps = &plan->sources[s];
		bool		exact = true;
		bool		anycode = false;
		int			ncodes = 0;

		ps->use_index = false;
		ps->index_time = true;
		for (int l = 0; l < ps->read.nleaves; l++)
		{
			ps->read.leaves[l].indexoid = InvalidOid;
			ps->read.leaves[l].brinoid = InvalidOid;
			ps->read.leaves[l].brin_share = 0;
			ps->read.leaves[l].share_bitmap = false;
		}
		for (int k = 0; k < ps->natoms; k++)
		{
			ListCell   *lc;

			if (plan->atoms[ps->atoms[k]].codes == NIL)
				anycode = true;
			ncodes += list_length(plan->atoms[ps->atoms[k]].codes);
			foreach(lc, plan->atoms[ps->atoms[k]].codes)
				if (((TmCode *) lfirst(lc))->prefix)
					exact = false;
		}
		/* thousands of ranges: a whole scan is cheaper, and units are O(n^2) to build */
		if (!anycode && ncodes <= 1000)
			for (int l = 0; l < ps->read.nleaves; l++)
			{
				TmLeaf	   *leaf = &ps->read.leaves[l];
				bool		with_time;
				Oid			indexoid;
				HeapTuple	stats;
				double		frac = 0;

				if (leaf->rel->rd_rel->reltuples < 10000)
					continue;
				indexoid = find_code_index(ps, leaf, !exact, &with_time);
				if (!OidIsValid(indexoid))
					continue;
				stats = SearchSysCache3(STATRELATTINH, ObjectIdGetDatum(RelationGetRelid(leaf->rel)),
										Int16GetDatum(tm_leaf_attnum(leaf, ps->code.attnum)),
										BoolGetDatum(false));
				if (!HeapTupleIsValid(stats))
					continue;	/* never analyzed: no estimate, scan it all */
				if (ps->units == NULL)
					tm_index_units(plan, s);
				for (int i = 0; i < ps->nunits; i++)
				{
					TmIndexUnit *u = &ps->units[i];
					double		f = code_fraction(ps, leaf, u->code, stats);

					if (u->has_lower && ps->end_time.attnum == 0)
						f *= time_fraction(plan, ps, leaf, u->lower);
					frac += f;
				}
				ReleaseSysCache(stats);
				if (leaf->rel == ps->rel)
					elog(DEBUG1, "trialmatch: %s: %d index ranges estimated at %.2f%% of the table",
						 ps->what, ps->nunits, frac * 100);
				else
					elog(DEBUG1, "trialmatch: %s: %d index ranges estimated at %.2f%% of \"%s\"",
						 ps->what, ps->nunits, frac * 100, RelationGetRelationName(leaf->rel));
				if (frac < TM_INDEX_FRACTION)
				{
					leaf->indexoid = indexoid;
					leaf->index_time = with_time;
					leaf->index_rows = frac * leaf->rel->rd_rel->reltuples;
					ps->use_index = true;
					ps->index_time &= with_time;
				}
			}
		/* time slices need the time column second in every index read */
		if (!ps->use_index)
			ps->index_time = false;
		choose_brin(plan, s);
	}
}

/*
 * The heap blocks a bitmap of a leaf's index ranges visits, estimated as
 * the planner does for a bitmap heap scan (index_pages_fetched, with the
 * table in cache): N rows spread over T blocks touch 2TN / (2T + N) of
 * them, at most T.  A table stored in another order than the codes' (by
 * patient, say) has a code's rows on most of its blocks.
 */
double
tm_index_heap_blocks(TmLeaf *leaf)
{
	double		t = Max((double) RelationGetNumberOfBlocks(leaf->rel), 1.0);
	double		n = Max(leaf->index_rows, 0.0);

	return Min(t, 2.0 * t * n / (2.0 * t + n));
}

/* A window start in the time column's type (exact). */
static Datum
time_key(Oid typid, TimestampTz t)
{
	if (typid == TIMESTAMPTZOID)
		return TimestampTzGetDatum(t);
	if (typid == TIMESTAMPOID)
		return DirectFunctionCall1(timestamptz_timestamp, TimestampTzGetDatum(t));
	return DirectFunctionCall1(timestamptz_date, TimestampTzGetDatum(t));
}

/* The loosest bound on the time column that keeps every event at or after lower. */
static Datum
time_bound(Oid typid, TimestampTz lower)
{
	if (TIMESTAMP_NOT_FINITE(lower))
		return (Datum) 0;
	/* a day of slack covers every time zone */
	return time_key(typid, lower - USECS_PER_DAY);
}

/*
 * Does one of units [first, first + count) of a source cover this row's
 * code?  Used on lossy bitmap pages only.
 */
bool
tm_index_units_cover(TmPlan *plan, int srcidx, int first, int count,
					 Datum *values, bool *isnull)
{
	TmPlanSource *ps = &plan->sources[srcidx];
	AttrNumber	an = ps->code.attnum - 1;
	TmCode		c;

	if (isnull[an])
		return false;
	memset(&c, 0, sizeof(c));
	if (ps->code.typid == INT4OID || ps->code.typid == INT8OID)
	{
		c.is_int = true;
		c.ival = ps->code.typid == INT4OID ? DatumGetInt32(values[an]) : DatumGetInt64(values[an]);
	}
	else
	{
		text	   *t = DatumGetTextPP(values[an]);

		c.str = VARDATA_ANY(t);
		c.len = VARSIZE_ANY_EXHDR(t);
	}
	for (int u = first; u < first + count; u++)
	{
		TmIndexUnit *unit = &ps->units[u];

		if (!code_covers(unit->code, &c))
			continue;
		if (unit->sliced)
		{
			AttrNumber	tn = ps->time.attnum - 1;
			int64		v;

			if (isnull[tn])
				continue;
			v = ps->time.typid == DATEOID ? (int64) DatumGetDateADT(values[tn]) :
				DatumGetInt64(values[tn]);
			if (unit->has_lo && v < (ps->time.typid == DATEOID ?
									 (int64) DatumGetDateADT(unit->lo) : DatumGetInt64(unit->lo)))
				continue;
			if (unit->has_hi && v >= (ps->time.typid == DATEOID ?
									  (int64) DatumGetDateADT(unit->hi) : DatumGetInt64(unit->hi)))
				continue;
		}
		return true;
	}
	return false;
}

/* Did ANALYZE find this leaf's time column in the physical order (|correlation| >= 0.5)? */
static bool
time_correlated(TmPlanSource *ps, TmLeaf *leaf)
{
	HeapTuple	stats;
	AttStatsSlot sslot;
	bool		correlated = false;

	stats = SearchSysCache3(STATRELATTINH, ObjectIdGetDatum(RelationGetRelid(leaf->rel)),
							Int16GetDatum(tm_leaf_attnum(leaf, ps->time.attnum)),
							BoolGetDatum(false));
	if (!HeapTupleIsValid(stats))
		return false;
	if (get_attstatsslot(&sslot, stats, STATISTIC_KIND_CORRELATION, InvalidOid,
						 ATTSTATSSLOT_NUMBERS))
	{
		correlated = sslot.nnumbers == 1 && fabs(sslot.numbers[0]) >= 0.5;
		free_attstatsslot(&sslot);
	}
	ReleaseSysCache(stats);
	return correlated;
}

/*
 * Is key column k of this BRIN index the time column (timeatt in the leaf)
 * under a minmax or minmax-multi operator class of its type, which bound
 * block ranges by >= and <= (bloom and inclusion classes do not)?  The one
 * test of both the choice and the scan keys.
 */
static bool
brin_time_column(Relation idx, int k, AttrNumber timeatt, Oid typid)
{
	Oid			opcinfo;

	if (timeatt == 0 || idx->rd_index->indkey.values[k] != timeatt ||
		idx->rd_opcintype[k] != typid)
		return false;
	opcinfo = get_opfamily_proc(idx->rd_opfamily[k], typid, typid, BRIN_PROCNUM_OPCINFO);
	return (opcinfo == F_BRIN_MINMAX_OPCINFO || opcinfo == F_BRIN_MINMAX_MULTI_OPCINFO) &&
		OidIsValid(get_opfamily_member(idx->rd_opfamily[k], typid, typid,
									   BTGreaterEqualStrategyNumber)) &&
		OidIsValid(get_opfamily_member(idx->rd_opfamily[k], typid, typid,
									   BTLessEqualStrategyNumber));
}

/* A BRIN index on the leaf's time column (brin_time_column). */
static Oid
brin_time_index(TmPlanSource *ps, TmLeaf *leaf)
{
	List	   *indexes = RelationGetIndexList(leaf->rel);
	AttrNumber	timeatt = tm_leaf_attnum(leaf, ps->time.attnum);
	Oid			found = InvalidOid;
	ListCell   *lc;

	foreach(lc, indexes)
	{
		Relation	idx = index_open(lfirst_oid(lc), AccessShareLock);

		if (idx->rd_rel->relam == BRIN_AM_OID && tm_index_usable(idx))
			for (int k = 0; k < idx->rd_index->indnkeyatts && !OidIsValid(found); k++)
				if (brin_time_column(idx, k, timeatt, ps->time.typid))
					found = RelationGetRelid(idx);
		index_close(idx, AccessShareLock);
		if (OidIsValid(found))
			break;
	}
	list_free(indexes);
	return found;
}

/*
 * Read a leaf that no btree serves through a BRIN index on its time column
 * instead of whole: when every criterion reading the source has a window
 * (tm_source_prune: the same bound that skips partitions), the rows are in
 * time order (else every block range spans every time and the index finds
 * every block), and the windows hold under TM_BRIN_FRACTION of the rows.
 * The time column must be the only time read: no end time (windows apply to
 * the end) and no fallback (rows without a time are read by the fallback's).
 */
static void
choose_brin(TmPlan *plan, int srcidx)
{
	TmPlanSource *ps = &plan->sources[srcidx];
	TmPrune		prune;

	if (ps->read.executor || ps->nmentions > 0 || ps->end_time.attnum != 0 ||
		ps->time_fallback.attnum != 0 || ps->time.attnum == 0)
		return;
	tm_source_prune(plan, srcidx, &prune);
	if (!prune.has_lower || TIMESTAMP_NOT_FINITE(prune.lower))
		return;
	for (int l = 0; l < ps->read.nleaves; l++)
	{
		TmLeaf	   *leaf = &ps->read.leaves[l];
		Oid			brin;
		double		frac;

		if (OidIsValid(leaf->indexoid) || leaf->rel->rd_rel->reltuples < 10000)
			continue;
		brin = brin_time_index(ps, leaf);
		if (!OidIsValid(brin) || !time_correlated(ps, leaf))
			continue;
		frac = time_fraction(plan, ps, leaf, prune.lower);
		elog(DEBUG1, "trialmatch: %s: the windows estimated at %.2f%% of \"%s\" by time",
			 ps->what, frac * 100, RelationGetRelationName(leaf->rel));
		if (frac < TM_BRIN_FRACTION)
		{
			leaf->brinoid = brin;
			leaf->brin_share = frac;
		}
	}
}

/*
 * Scan keys of a leaf's BRIN read (choose_brin): time >= the earliest
 * window start and <= as_of, each a day loose (the fold checks every row
 * exactly).  Recomputed from the plan by every participant.
 */
int
tm_brin_keys(TmPlan *plan, int srcidx, int leafidx, Relation index, ScanKey keys)
{
	TmPlanSource *ps = &plan->sources[srcidx];
	TmLeaf	   *leaf = &ps->read.leaves[leafidx];
	AttrNumber	timeatt = tm_leaf_attnum(leaf, ps->time.attnum);
	Oid			t = ps->time.typid;
	TmPrune		prune;
	int			nkeys = 0;

	tm_source_prune(plan, srcidx, &prune);
	for (int k = 0; k < index->rd_index->indnkeyatts; k++)
	{
		Oid			op;

		if (!brin_time_column(index, k, timeatt, t))
			continue;
		if (prune.has_lower && !TIMESTAMP_NOT_FINITE(prune.lower))
		{
			op = get_opfamily_member(index->rd_opfamily[k], t, t, BTGreaterEqualStrategyNumber);
			ScanKeyEntryInitialize(&keys[nkeys++], 0, k + 1, BTGreaterEqualStrategyNumber, t,
								   index->rd_indcollation[k], get_opcode(op),
								   time_bound(t, prune.lower));
		}
		if (!TIMESTAMP_NOT_FINITE(plan->as_of) && plan->as_of < DT_NOEND - USECS_PER_DAY * 2)
		{
			op = get_opfamily_member(index->rd_opfamily[k], t, t, BTLessEqualStrategyNumber);
			ScanKeyEntryInitialize(&keys[nkeys++], 0, k + 1, BTLessEqualStrategyNumber, t,
								   index->rd_indcollation[k], get_opcode(op),
								   time_key(t, plan->as_of + USECS_PER_DAY));
		}
		break;
	}
	return nkeys;
}

/*
 * Whether a parallel call splits a source's index ranges into time slices
 * (the leader decides, once; the workers are told).  A time slice's rows are
 * contiguous in the index, and in the heap too when the table is stored in
 * time order.  In a table stored in another order (by patient, say) every
 * slice's rows lie on nearly every page of the range: each participant
 * would visit each page once per slice (a bitmap heap scan per slice), and
 * the call read 15-25% slower with 1-2 workers than with whole ranges
 * shared out (bench/README, stop 23).  So slices only when every leaf read
 * through an index qualifies: its index holds every column read (with
 * trialmatch.index_only_reads, which touch the heap only for visibility),
 * or ANALYZE found its time column correlated with the physical order
 * (|correlation| >= 0.5); whole ranges otherwise.
 */
bool
tm_slice_by_time(TmPlan *plan, int srcidx)
{
	TmPlanSource *ps = &plan->sources[srcidx];
	bool		slice = false;

	if (!ps->index_time)
		return false;
	for (int l = 0; l < ps->read.nleaves; l++)
	{
		TmLeaf	   *leaf = &ps->read.leaves[l];
		Relation	index;
		bool		apart;

		if (!OidIsValid(leaf->indexoid))
			continue;
		index = index_open(leaf->indexoid, AccessShareLock);
		apart = tm_index_only(ps, leaf, index, NULL);
		index_close(index, AccessShareLock);
		if (!apart)
			apart = time_correlated(ps, leaf);
		if (!apart)
			return false;
		slice = true;
	}
	return slice;
}

/*
 * Split each unit with a window into nslices time slices, so that parallel
 * participants share a large range.  Slices partition the time column's
 * values: [loose window start, b1), [b1, b2), ..., [b(n-1), +inf); the
 * inner bounds are exact values of the column's type.  Deterministic, so
 * every participant builds the same slices.
 */
void
tm_slice_units(TmPlan *plan, int srcidx, int nslices)
{
	TmPlanSource *ps = &plan->sources[srcidx];
	TmIndexUnit *units;
	int			n = 0;

	if (nslices <= 1 || !ps->index_time)
		return;
	units = palloc(sizeof(TmIndexUnit) * ps->nunits * nslices);
	for (int i = 0; i < ps->nunits; i++)
	{
		TmIndexUnit *u = &ps->units[i];
		double		span;

		if (u->code->prefix || !u->has_lower || TIMESTAMP_NOT_FINITE(u->lower) ||
			u->lower >= plan->as_of)
		{
			units[n++] = *u;
			continue;
		}
		span = (double) (plan->as_of - u->lower) / nslices;
		for (int k = 0; k < nslices; k++)
		{
			TmIndexUnit *s = &units[n++];

			*s = *u;
			s->sliced = true;
			s->has_lo = true;
			s->lo = k == 0 ? time_bound(ps->time.typid, u->lower) :
				time_key(ps->time.typid, u->lower + (TimestampTz) (span * k));
			s->has_hi = k < nslices - 1;
			if (s->has_hi)
				s->hi = time_key(ps->time.typid, u->lower + (TimestampTz) (span * (k + 1)));
		}
	}
	ps->units = units;
	ps->nunits = n;
}

/* Scan keys for one unit: code = c [and time >= bound]. */
int
tm_index_unit_keys(TmPlan *plan, int srcidx, int leaf, int unit, Relation index, ScanKey keys)
{
	TmPlanSource *ps = &plan->sources[srcidx];
	TmIndexUnit *u = &ps->units[unit];
	Oid			opcintype = index->rd_opcintype[0];
	Oid			op = get_opfamily_member(index->rd_opfamily[0], opcintype, opcintype,
										 BTEqualStrategyNumber);
	Datum		arg;
	int			nkeys = 1;

	if (!u->code->is_int)
		arg = PointerGetDatum(cstring_to_text_with_len(u->code->str, u->code->len));
	else if (opcintype == INT4OID)
	{
		if (u->code->ival < PG_INT32_MIN || u->code->ival > PG_INT32_MAX)
			return -1;			/* cannot be in an int4 column */
		arg = Int32GetDatum((int32) u->code->ival);
	}
	else
		arg = Int64GetDatum(u->code->ival);
	if (u->code->prefix)
	{
		/*
		 * [prefix, upper): the index orders by code point.  In UTF-8 the
		 * upper bound is prefix || U+10FFFF (a valid string above every
		 * continuation); in single-byte encodings under "C", the byte-wise
		 * successor of the prefix, if there is one.
		 */
		StringInfoData hi;
		bool		has_upper = true;

		initStringInfo(&hi);
		appendBinaryStringInfo(&hi, u->code->str, u->code->len);
		if (GetDatabaseEncoding() == PG_UTF8)
			appendStringInfoString(&hi, "\xf4\x8f\xbf\xbf");
		else
		{
			while (hi.len > 0 && (unsigned char) hi.data[hi.len - 1] == 0xFF)
				hi.data[--hi.len] = '\0';
			if (hi.len == 0)
				has_upper = false;
			else
				hi.data[hi.len - 1]++;
		}
		op = get_opfamily_member(index->rd_opfamily[0], opcintype, opcintype,
								 BTGreaterEqualStrategyNumber);
		ScanKeyEntryInitialize(&keys[0], 0, 1, BTGreaterEqualStrategyNumber, opcintype,
							   index->rd_indcollation[0], get_opcode(op), arg);
		if (!has_upper)
			return 1;
		op = get_opfamily_member(index->rd_opfamily[0], opcintype, opcintype,
								 BTLessStrategyNumber);
		ScanKeyEntryInitialize(&keys[1], 0, 1, BTLessStrategyNumber, opcintype,
							   index->rd_indcollation[0], get_opcode(op),
							   PointerGetDatum(cstring_to_text_with_len(hi.data, hi.len)));
		/* a time bound needs equality on the first column: none here */
		return 2;
	}
	ScanKeyEntryInitialize(&keys[0], 0, 1, BTEqualStrategyNumber, opcintype,
						   index->rd_indcollation[0], get_opcode(op), arg);
	if (u->sliced)
	{
		/* exact slice bounds, so that slices of a unit never overlap */
		Oid			t = ps->time.typid;

		if (u->has_lo)
		{
			op = get_opfamily_member(index->rd_opfamily[1], t, t, BTGreaterEqualStrategyNumber);
			ScanKeyEntryInitialize(&keys[nkeys++], 0, 2, BTGreaterEqualStrategyNumber, t,
								   index->rd_indcollation[1], get_opcode(op), u->lo);
		}
		if (u->has_hi)
		{
			op = get_opfamily_member(index->rd_opfamily[1], t, t, BTLessStrategyNumber);
			ScanKeyEntryInitialize(&keys[nkeys++], 0, 2, BTLessStrategyNumber, t,
								   index->rd_indcollation[1], get_opcode(op), u->hi);
		}
		return nkeys;
	}
	if (ps->read.leaves[leaf].index_time && u->has_lower && !TIMESTAMP_NOT_FINITE(u->lower))
	{
		Oid			t = ps->time.typid;

		op = get_opfamily_member(index->rd_opfamily[1], t, t, BTGreaterEqualStrategyNumber);
		ScanKeyEntryInitialize(&keys[1], 0, 2, BTGreaterEqualStrategyNumber, t,
							   index->rd_indcollation[1], get_opcode(op),
							   time_bound(t, u->lower));
		nkeys = 2;
	}
	return nkeys;
}
