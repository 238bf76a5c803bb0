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
 * A source in index mode is read as "units": one index scan per distinct
 * code, bounded below by the widest window of the criteria naming it (no
 * bound if one has no window, or for sources with an end time, whose
 * windows apply to the end).  Units never overlap, so every row is read
 * once; the bounds are loose (a day wide) and process_row applies the
 * exact window.  Parallel workers share the units through a counter.
 *
 * IDENTIFICATION
 *	  src/indexpath.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/nbtree.h"
#include "catalog/pg_am.h"
#include "catalog/pg_statistic.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "trialmatch.h"

/* Index mode when the estimated rows are below this share of the table. */
#define TM_INDEX_FRACTION 0.05

/* A btree index led by the code column (and then, ideally, the time column). */
static Oid
find_code_index(TmPlanSource *ps, bool *with_time)
{
	List	   *indexes = RelationGetIndexList(ps->rel);
	ListCell   *lc;
	Oid			best = InvalidOid;

	*with_time = false;
	foreach(lc, indexes)
	{
		Relation	idx = index_open(lfirst_oid(lc), AccessShareLock);
		bool		ok;
		bool		time;

		ok = idx->rd_rel->relam == BTREE_AM_OID &&
			idx->rd_index->indisvalid &&
			idx->rd_index->indkey.values[0] == ps->code.attnum &&
			heap_attisnull(idx->rd_indextuple, Anum_pg_index_indpred, NULL) &&
			OidIsValid(get_opfamily_member(idx->rd_opfamily[0], idx->rd_opcintype[0],
										   idx->rd_opcintype[0], BTEqualStrategyNumber)) &&
			(!OidIsValid(idx->rd_indcollation[0]) ||
			 get_collation_isdeterministic(idx->rd_indcollation[0]));
		time = ok && ps->end_time.attnum == 0 &&
			idx->rd_index->indnkeyatts >= 2 &&
			idx->rd_index->indkey.values[1] == ps->time.attnum &&
			idx->rd_opcintype[1] == ps->time.typid &&
			OidIsValid(get_opfamily_member(idx->rd_opfamily[1], ps->time.typid, ps->time.typid,
										   BTGreaterEqualStrategyNumber));
		if (ok && (!OidIsValid(best) || (time && !*with_time)))
		{
			best = RelationGetRelid(idx);
			*with_time = time;
		}
		index_close(idx, AccessShareLock);
	}
	list_free(indexes);
	return best;
}

/* Build the units of a source: one per distinct code, with the widest window. */
void
tm_index_units(TmPlan *plan, int srcidx)
{
	TmPlanSource *ps = &plan->sources[srcidx];
	int			cap = 8;

	ps->nunits = 0;
	ps->units = palloc(sizeof(TmIndexUnit) * cap);
	for (int k = 0; k < ps->natoms; k++)
	{
		TmAtom	   *a = &plan->atoms[ps->atoms[k]];
		ListCell   *lc;

		foreach(lc, a->ev->codes)
		{
			TmCode	   *c = lfirst(lc);
			TmIndexUnit *u = NULL;

			for (int i = 0; i < ps->nunits; i++)
			{
				TmCode	   *o = ps->units[i].code;

				if (c->is_int ? o->ival == c->ival :
					(o->len == c->len && memcmp(o->str, c->str, c->len) == 0))
					u = &ps->units[i];
			}
			if (u == NULL)
			{
				if (ps->nunits == cap)
				{
					cap *= 2;
					ps->units = repalloc(ps->units, sizeof(TmIndexUnit) * cap);
				}
				u = &ps->units[ps->nunits++];
				u->code = c;
				u->has_lower = a->has_lower;
				u->lower = a->lower;
			}
			else if (!a->has_lower)
				u->has_lower = false;
			else if (u->has_lower && a->lower < u->lower)
				u->lower = a->lower;
		}
	}
}

/* Share of the code column's rows holding this code, from pg_statistic. */
static double
code_fraction(TmPlanSource *ps, TmCode *code, HeapTuple stats)
{
	Form_pg_statistic st = (Form_pg_statistic) GETSTRUCT(stats);
	AttStatsSlot sslot;
	double		mcvsum = 0;
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

				match = VARSIZE_ANY_EXHDR(t) == code->len &&
					memcmp(VARDATA_ANY(t), code->str, code->len) == 0;
			}
			if (match)
			{
				double		f = sslot.numbers[i];

				free_attstatsslot(&sslot);
				return f;
			}
			mcvsum += sslot.numbers[i];
		}
		nmcv = sslot.nvalues;
		free_attstatsslot(&sslot);
	}
	ndistinct = st->stadistinct < 0 ? -st->stadistinct * Max(ps->rel->rd_rel->reltuples, 1) :
		st->stadistinct;
	if (ndistinct <= nmcv)
		return 0.0001;			/* not among all the values seen: rare */
	return Max(1.0 - st->stanullfrac - mcvsum, 0) / (ndistinct - nmcv);
}

/* Share of the time column's rows at or after lower, from its histogram. */
static double
time_fraction(TmPlan *plan, TmPlanSource *ps, TimestampTz lower)
{
	HeapTuple	stats;
	AttStatsSlot sslot;
	double		frac = 1.0;

	stats = SearchSysCache3(STATRELATTINH, ObjectIdGetDatum(RelationGetRelid(ps->rel)),
							Int16GetDatum(ps->time.attnum), BoolGetDatum(false));
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
 * Decide, for each source of a population call, whether to read it through
 * an index.  Sets ps->indexoid (InvalidOid: whole-table scan).
 */
void
tm_choose_index_paths(TmPlan *plan)
{
	for (int s = 0; s < plan->nsources; s++)
	{
		TmPlanSource *ps = &plan->sources[s];
		bool		exact = true;
		bool		with_time;
		Oid			indexoid;
		HeapTuple	stats;
		double		frac = 0;

		ps->indexoid = InvalidOid;
		for (int k = 0; k < ps->natoms && exact; k++)
		{
			ListCell   *lc;

			foreach(lc, plan->atoms[ps->atoms[k]].ev->codes)
				if (((TmCode *) lfirst(lc))->prefix)
					exact = false;
		}
		if (!exact || ps->rel->rd_rel->reltuples < 10000)
			continue;
		indexoid = find_code_index(ps, &with_time);
		if (!OidIsValid(indexoid))
			continue;
		stats = SearchSysCache3(STATRELATTINH, ObjectIdGetDatum(RelationGetRelid(ps->rel)),
								Int16GetDatum(ps->code.attnum), BoolGetDatum(false));
		if (!HeapTupleIsValid(stats))
			continue;			/* never analyzed: no estimate, scan it all */
		tm_index_units(plan, s);
		for (int i = 0; i < ps->nunits; i++)
		{
			TmIndexUnit *u = &ps->units[i];
			double		f = code_fraction(ps, u->code, stats);

			if (u->has_lower && ps->end_time.attnum == 0)
				f *= time_fraction(plan, ps, u->lower);
			frac += f;
		}
		ReleaseSysCache(stats);
		elog(DEBUG1, "trialmatch: %s: %d index ranges estimated at %.2f%% of the table",
			 ps->what, ps->nunits, frac * 100);
		if (frac < TM_INDEX_FRACTION)
		{
			ps->indexoid = indexoid;
			ps->index_time = with_time;
		}
	}
}

/* The loosest bound on the time column that keeps every event at or after lower. */
static Datum
time_bound(Oid typid, TimestampTz lower)
{
	if (TIMESTAMP_NOT_FINITE(lower))
		return (Datum) 0;
	lower -= USECS_PER_DAY;		/* a day of slack covers every time zone */
	if (typid == TIMESTAMPTZOID)
		return TimestampTzGetDatum(lower);
	if (typid == TIMESTAMPOID)
		return DirectFunctionCall1(timestamptz_timestamp, TimestampTzGetDatum(lower));
	return DirectFunctionCall1(timestamptz_date, TimestampTzGetDatum(lower));
}

/* Scan keys for one unit: code = c [and time >= bound]. */
int
tm_index_unit_keys(TmPlan *plan, int srcidx, int unit, Relation index, ScanKey keys)
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
	ScanKeyEntryInitialize(&keys[0], 0, 1, BTEqualStrategyNumber, opcintype,
						   index->rd_indcollation[0], get_opcode(op), arg);
	if (ps->index_time && u->has_lower && !TIMESTAMP_NOT_FINITE(u->lower))
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
