/*-------------------------------------------------------------------------
 *
 * timed.c
 *	  What needs the times of a patient's matching events, not just a flag
 *	  or an aggregate (SPEC 7.3): DAYS, ACTIVE FOR and the relations
 *	  (AFTER, BEFORE, UP TO ..., DURING, NOT FOLLOWED BY).
 *
 * Design.  The fold (fold.c) hands every row that such an atom keeps
 * (after its codes, filters and window) to tm_timed_add, which keeps one
 * small tuple (patient, item, start, side, end, code): in an array while
 * the tuples fit in half of work_mem, sorted at the end with an inlined
 * comparator; beyond that, in a tuplesort bounded by work_mem, PostgreSQL's own, spilling to temporary
 * files, so a patient with a million events costs disk, not memory.  Parallel workers
 * write their tuples to a file of a SharedFileSet instead; the leader reads
 * every worker's file into its sort after the scans, so the merge is exact.
 * The sources are still read once each.
 *
 * At the end of the call (tm_timed_finish) the sorted stream is walked
 * once, in patient order and, within a patient and item, in start order;
 * each item is decided with O(1) state per (patient, item):
 *
 *	 DAYS		dates covered by the start-sorted intervals clipped to the
 *				window: a sweep that remembers the last date counted.
 *	 ACTIVE FOR	islands: merged while the next start is no later than G
 *				after the merged end; one must contain [as_of - N, as_of].
 *	 relations	the reference side sorts before the probe side at the same
 *				time; for each probe the latest reference at or before it
 *				is the best partner (t + N u is monotone in t), and DURING
 *				keeps the latest end among references started by then.
 *				NOT FOLLOWED BY compares the latest e1 with the latest e2.
 *
 * The results go into the per-patient state (a DAYS count, an ACTIVE FOR
 * flag, one flag byte per relation) that eval.c reads.
 *
 * IDENTIFICATION
 *	  src/timed.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <math.h>

#include "access/tupdesc.h"
#include "catalog/pg_operator_d.h"
#include "common/hashfn.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "storage/buffile.h"
#include "storage/sharedfileset.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"
#include "utils/tuplesort.h"

#include "trialmatch.h"

typedef enum TmTimedKind
{
	TM_T_DAYS,
	TM_T_ACTIVE_FOR,
	TM_T_RELATION
} TmTimedKind;

/* One item that needs event times; and, for explain_match, what decided it. */
typedef struct TmTimed
{
	TmTimedKind kind;
	TmNode	   *node;
	int			atom;			/* DAYS, ACTIVE FOR: the atom; RELATION: e1 */
	int			atom2;			/* RELATION: e2 */
	int			flag;			/* RELATION: its flag byte in the state */
	TimestampTz active_from;	/* ACTIVE FOR: as_of - N u */
	/* evidence (single-patient calls) */
	bool		found;
	const char *code1;
	TimestampTz t1;
	const char *code2;
	TimestampTz t2;
	TimestampTz end2;
	int64		ndays;
	int32		date_first;
	int32		date_last;
} TmTimed;

/* One event time, as sorted and as written by parallel workers. */
typedef struct TmTimedTuple
{
	int32		pidx;
	int32		item;
	int64		start;
	int32		side;
	int32		pad;
	int64		end;			/* DT_NOEND: no end (NULL) */
	int64		code;			/* const char * in this backend (evidence) */
} TmTimedTuple;

#define TM_TIMED_NATTS 6

typedef struct TmTimedState
{
	bool		active;			/* between tm_timed_begin and tm_timed_finish */
	MemoryContext cxt;			/* the call's: holds the array and the sort */
	TmTimedTuple *mem;			/* the tuples while they fit in work_mem */
	int64		nmem;
	int64		memcap;
	Tuplesortstate *sort;		/* beyond work_mem: every tuple is here */
	TupleDesc	desc;
	TupleTableSlot *in;
	TupleTableSlot *out;
	BufFile    *file;			/* a parallel worker writes here */
	int64		ntuples;
} TmTimedState;

/* ---------------------------------------------------------------
 * Time arithmetic (SPEC 4: calendar arithmetic, session time zone)
 * ---------------------------------------------------------------
 */
static bool
time_shift(TimestampTz from, TmSpan span, bool minus, TimestampTz *out)
{
	Interval	iv;
	double		days;
	double		j;

	if (TIMESTAMP_NOT_FINITE(from))
	{
		*out = from;
		return true;
	}
	memset(&iv, 0, sizeof(iv));
	switch (span.unit)
	{
		case TM_W_HOUR:
			iv.time = (int64) span.n * USECS_PER_HOUR;
			break;
		case TM_W_DAY:
			iv.day = span.n;
			break;
		case TM_W_WEEK:
			iv.day = span.n * 7;
			break;
		case TM_W_MONTH:
			iv.month = span.n;
			break;
		case TM_W_YEAR:
			iv.month = span.n * 12;
			break;
	}
	/*
	 * Beyond the range PostgreSQL's timestamps hold: no bound, rather than a
	 * "timestamp out of range" error.  The estimate is generous (31-day
	 * months, 366-day years), so the exact arithmetic cannot overflow.
	 */
	days = (double) iv.day + (double) iv.month * 31 + (double) iv.time / USECS_PER_DAY;
	if (iv.month >= 12)
		days = (double) iv.day + (double) (iv.month / 12) * 366 + (iv.month % 12) * 31;
	j = floor((double) from / USECS_PER_DAY) + POSTGRES_EPOCH_JDATE;
	if (minus ? days >= j - 3 : days >= (double) TIMESTAMP_END_JULIAN - j - 3)
		return false;
	*out = DatumGetTimestampTz(DirectFunctionCall2(minus ? timestamptz_mi_interval :
												   timestamptz_pl_interval,
												   TimestampTzGetDatum(from),
												   IntervalPGetDatum(&iv)));
	return true;
}

/*
 * Window starts: every atom of every plan asks tm_time_minus for a few spans
 * before as_of (a hundred trials, six hundred atoms, a few dozen distinct
 * windows), and with months and days each answer goes through the session
 * time zone's rules.  Remember the answers, direct-mapped, by everything
 * they depend on: the time, the span and the session time zone.
 */
typedef struct ShiftMemo
{
	bool		valid;
	bool		ok;
	TmSpan		span;
	TimestampTz from;
	const pg_tz *tz;
	TimestampTz out;
} ShiftMemo;

static ShiftMemo shift_memo[1024];

/* from - span; false when that is before the earliest timestamp (no bound) */
bool
tm_time_minus(TmPlan *plan, TimestampTz from, TmSpan span, TimestampTz *out)
{
	uint32		h = hash_combine(murmurhash32((uint32) from ^ (uint32) (from >> 32)),
								 murmurhash32((uint32) span.n * 16 + (uint32) span.unit));
	ShiftMemo  *m = &shift_memo[h % lengthof(shift_memo)];

	if (m->valid && m->from == from && m->span.n == span.n && m->span.unit == span.unit &&
		m->tz == session_timezone)
	{
		if (m->ok)
			*out = m->out;
		return m->ok;
	}
	m->valid = false;
	m->ok = time_shift(from, span, true, out);
	m->from = from;
	m->span = span;
	m->tz = session_timezone;
	m->out = m->ok ? *out : 0;
	m->valid = true;
	return m->ok;
}

/* from + span; false when that is after the latest timestamp (no bound) */
bool
tm_time_plus(TmPlan *plan, TimestampTz from, TmSpan span, TimestampTz *out)
{
	return time_shift(from, span, false, out);
}

/* The calendar date (Julian day) of t in the session time zone. */
static int32
local_date(TimestampTz t)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tz;

	if (TIMESTAMP_IS_NOBEGIN(t))
		return 0;
	if (TIMESTAMP_IS_NOEND(t) || timestamp2tm(t, &tz, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	return date2j(tm.tm_year, tm.tm_mon, tm.tm_mday);
}

/* ---------------------------------------------------------------
 * Planning
 * ---------------------------------------------------------------
 */

/* Number the items of node (an event with DAYS or ACTIVE FOR, a relation). */
void
tm_timed_plan(TmPlan *plan, TmNode *node)
{
	TmTimed    *it;

	if (node->kind == TM_N_EVENT &&
		node->event->measure != TM_M_DAYS && node->event->measure != TM_M_ACTIVE_FOR)
		return;
	if (node->kind != TM_N_EVENT && node->kind != TM_N_RELATION)
		return;
	if (plan->timed == NULL)
		plan->timed = palloc0(sizeof(TmTimed) * plan->atomcap);
	it = &plan->timed[plan->ntimed];
	memset(it, 0, sizeof(TmTimed));
	it->node = node;
	it->flag = -1;
	if (node->kind == TM_N_EVENT)
	{
		TmAtom	   *a = &plan->atoms[node->atom];

		it->kind = node->event->measure == TM_M_DAYS ? TM_T_DAYS : TM_T_ACTIVE_FOR;
		it->atom = node->atom;
		a->timed = plan->ntimed;
		a->side = 0;
		if (it->kind == TM_T_ACTIVE_FOR &&
			!tm_time_minus(plan, plan->as_of, node->event->active_for, &it->active_from))
			it->active_from = DT_NOBEGIN;
	}
	else
	{
		TmNode	   *e1 = linitial(node->args);
		TmNode	   *e2 = lsecond(node->args);
		TmAtom	   *a1 = &plan->atoms[e1->atom];
		TmAtom	   *a2 = &plan->atoms[e2->atom];

		it->kind = TM_T_RELATION;
		it->atom = e1->atom;
		it->atom2 = e2->atom;
		a1->timed = a2->timed = plan->ntimed;
		/* side 0, the reference, sorts first at the same time */
		a1->side = node->relkind == TM_R_AFTER || node->relkind == TM_R_DURING ? 1 : 0;
		a2->side = 1 - a1->side;
		if (node->relkind == TM_R_DURING &&
			plan->sources[a2->source].end_time.attnum == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("%s has no end time column", plan->sources[a2->source].what)));
		node->timed = plan->ntimed;
	}
	plan->ntimed++;
}

/* One flag byte per relation, after the atoms' flags. */
void
tm_timed_layout(TmPlan *plan, int *off)
{
	for (int i = 0; i < plan->ntimed; i++)
		if (plan->timed[i].kind == TM_T_RELATION)
			plan->timed[i].flag = (*off)++;
}

/* ---------------------------------------------------------------
 * Collecting event times
 * ---------------------------------------------------------------
 */
void
tm_timed_begin(TmPlan *plan)
{
	TmTimedState *ts;

	if (plan->ntimed == 0)
		return;
	ts = palloc0(sizeof(TmTimedState));
	ts->active = true;
	ts->cxt = CurrentMemoryContext;
	ts->desc = CreateTemplateTupleDesc(TM_TIMED_NATTS);
	TupleDescInitEntry(ts->desc, 1, "pidx", INT4OID, -1, 0);
	TupleDescInitEntry(ts->desc, 2, "item", INT4OID, -1, 0);
	TupleDescInitEntry(ts->desc, 3, "start", INT8OID, -1, 0);
	TupleDescInitEntry(ts->desc, 4, "side", INT4OID, -1, 0);
	TupleDescInitEntry(ts->desc, 5, "end", INT8OID, -1, 0);
	TupleDescInitEntry(ts->desc, 6, "code", INT8OID, -1, 0);
	ts->in = MakeSingleTupleTableSlot(ts->desc, &TTSOpsVirtual);
	ts->out = MakeSingleTupleTableSlot(ts->desc, &TTSOpsMinimalTuple);
	plan->tstate = ts;
}

/* One tuple into the tuplesort. */
static void
sort_put(TmTimedState *ts, const TmTimedTuple *tup)
{
	TupleTableSlot *s = ts->in;

	ExecClearTuple(s);
	s->tts_values[0] = Int32GetDatum(tup->pidx);
	s->tts_values[1] = Int32GetDatum(tup->item);
	s->tts_values[2] = Int64GetDatum(tup->start);
	s->tts_values[3] = Int32GetDatum(tup->side);
	s->tts_values[4] = Int64GetDatum(tup->end);
	s->tts_values[5] = Int64GetDatum(tup->code);
	memset(s->tts_isnull, 0, sizeof(bool) * TM_TIMED_NATTS);
	ExecStoreVirtualTuple(s);
	tuplesort_puttupleslot(ts->sort, s);
}

/* Beyond half of work_mem: a tuplesort, and the tuples kept so far into it */
static void
spill_to_sort(TmTimedState *ts)
{
	/* patient, item, start, side; then end (rows equal in all five: in no set order) */
	AttrNumber	attnums[5] = {1, 2, 3, 4, 5};
	Oid			ops[5] = {Int4LessOperator, Int4LessOperator, Int8LessOperator, Int4LessOperator,
	Int8LessOperator};
	Oid			colls[5] = {InvalidOid, InvalidOid, InvalidOid, InvalidOid, InvalidOid};
	bool		nullsfirst[5] = {false, false, false, false, false};
	MemoryContext old = MemoryContextSwitchTo(ts->cxt);

	ts->sort = tuplesort_begin_heap(ts->desc, 5, attnums, ops, colls, nullsfirst,
									work_mem, NULL, TUPLESORT_NONE);
	for (int64 i = 0; i < ts->nmem; i++)
	{
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		sort_put(ts, &ts->mem[i]);
	}
	if (ts->mem)
		pfree(ts->mem);
	ts->mem = NULL;
	ts->nmem = ts->memcap = 0;
	MemoryContextSwitchTo(old);
}

static void
put_tuple(TmTimedState *ts, const TmTimedTuple *tup)
{
	if (ts->sort == NULL && ts->nmem == ts->memcap)
	{
		int64		cap = Max(ts->memcap * 2, 1024);

		/*
		 * Half of work_mem for the array: while it is copied into the
		 * tuplesort, both exist, and together stay under 1.5 x work_mem.
		 */
		if ((double) cap * sizeof(TmTimedTuple) > (double) work_mem * 512.0)
			spill_to_sort(ts);
		else if (ts->mem == NULL)
		{
			ts->mem = MemoryContextAllocHuge(ts->cxt, sizeof(TmTimedTuple) * cap);
			ts->memcap = cap;
		}
		else
		{
			ts->mem = repalloc_huge(ts->mem, sizeof(TmTimedTuple) * cap);
			ts->memcap = cap;
		}
	}
	if (ts->sort == NULL)
		ts->mem[ts->nmem++] = *tup;
	else
		sort_put(ts, tup);
	ts->ntuples++;
}

/* One kept event of a timed atom (end: DT_NOEND when it has none). */
void
tm_timed_add(TmPlan *plan, const TmAtom *a, int pidx, TimestampTz t, TimestampTz end,
			 const char *code)
{
	TmTimedState *ts = plan->tstate;
	TmTimedTuple tup;

	memset(&tup, 0, sizeof(tup));
	tup.pidx = pidx;
	tup.item = a->timed;
	tup.start = t;
	tup.side = a->side;
	tup.end = end;
	tup.code = (int64) (uintptr_t) code;
	if (ts->file)
		BufFileWrite(ts->file, &tup, sizeof(tup));
	else
		put_tuple(ts, &tup);
}

/* ---------------------------------------------------------------
 * Parallel workers: their times reach the leader through files
 * ---------------------------------------------------------------
 */
Size
tm_timed_estimate_shared(TmPlan *plan)
{
	return plan->ntimed > 0 ? sizeof(SharedFileSet) : 0;
}

void
tm_timed_init_shared(TmPlan *plan, void *space, dsm_segment *seg)
{
	SharedFileSetInit((SharedFileSet *) space, seg);
}

static char *
worker_file_name(int worker)
{
	return psprintf("trialmatch_times.%d", worker);
}

void
tm_timed_attach_worker(TmPlan *plan, void *space, dsm_segment *seg, int worker)
{
	SharedFileSet *fs = space;

	SharedFileSetAttach(fs, seg);
	plan->tstate = palloc0(sizeof(TmTimedState));
	plan->tstate->file = BufFileCreateFileSet(&fs->fs, worker_file_name(worker));
}

void
tm_timed_detach_worker(TmPlan *plan)
{
	if (plan->tstate && plan->tstate->file)
		BufFileClose(plan->tstate->file);
}

/* The leader: every launched worker's times into its own sort. */
void
tm_timed_collect_workers(TmPlan *plan, void *space, int nworkers)
{
	SharedFileSet *fs = space;

	for (int w = 0; w < nworkers; w++)
	{
		BufFile    *f = BufFileOpenFileSet(&fs->fs, worker_file_name(w), O_RDONLY, false);
		TmTimedTuple tup;
		size_t		got;

		while ((got = BufFileRead(f, &tup, sizeof(tup))) == sizeof(tup))
		{
			CHECK_FOR_INTERRUPTS();
			put_tuple(plan->tstate, &tup);
		}
		if (got != 0)
			elog(ERROR, "trialmatch: short read of a parallel worker's event times");
		BufFileClose(f);
	}
}

/* ---------------------------------------------------------------
 * Deciding, per patient and item, from the sorted times
 * ---------------------------------------------------------------
 */
typedef struct Group
{
	int			pidx;
	int			item;
	bool		result;
	/* DAYS */
	int64		ndays;
	int32		lastdate;
	int32		firstdate;
	/* ACTIVE FOR: the island being merged, and the one shown */
	bool		island;
	TimestampTz ms;
	TimestampTz me;
	const char *mcode;
	/* relations: the reference side so far */
	bool		ref_seen;
	TimestampTz ref_t;
	const char *ref_code;
	TimestampTz ref_end;		/* DURING: the latest end */
	TimestampTz ref_end_start;
	const char *ref_end_code;
	/* NOT FOLLOWED BY: the latest of each side */
	bool		has[2];
	TimestampTz max[2];
	const char *maxcode[2];
} Group;

static void
close_island(TmPlan *plan, TmTimed *it, Group *g)
{
	if (!g->island)
		return;
	g->island = false;
	if (g->result)
		return;
	if (g->ms <= it->active_from && g->me >= plan->as_of)
		g->result = true;
	/* evidence: the island that decided, else the latest one */
	it->found = true;
	it->t1 = g->ms;
	it->end2 = g->me;
	it->code1 = g->mcode;
}

static void
step(TmPlan *plan, TmTimed *it, Group *g, const TmTimedTuple *tup)
{
	const char *code = (const char *) (uintptr_t) tup->code;

	switch (it->kind)
	{
		case TM_T_DAYS:
			{
				TmAtom	   *a = &plan->atoms[it->atom];
				TimestampTz s = tup->start;
				TimestampTz e = tup->end == DT_NOEND ? plan->as_of : tup->end;
				int32		ds,
							de;

				/* clip to the window at the instant, then count dates touched */
				if (a->win_has_lo && s < a->win_lo)
					s = a->win_lo;
				if (e > a->win_hi)
					e = a->win_hi;
				if (e < s)
					return;
				ds = local_date(s);
				de = local_date(e);
				if (g->ndays == 0)
					g->firstdate = ds;
				else if (ds <= g->lastdate)
					ds = g->lastdate + 1;
				if (de >= ds)
				{
					g->ndays += (int64) de - ds + 1;
					g->lastdate = de;
				}
				return;
			}
		case TM_T_ACTIVE_FOR:
			{
				TimestampTz e = tup->end == DT_NOEND ? plan->as_of : tup->end;

				/* an end before the start: the interval is its start */
				if (e < tup->start)
					e = tup->start;
				if (g->island)
				{
					TimestampTz reach = g->me;
					TmEvent    *ev = plan->atoms[it->atom].ev;

					if (ev->has_gap && ev->gap.n > 0 &&
						!tm_time_plus(plan, g->me, ev->gap, &reach))
						reach = DT_NOEND;
					if (tup->start <= reach)
					{
						if (e > g->me)
							g->me = e;
						return;
					}
					close_island(plan, it, g);
				}
				g->island = true;
				g->ms = tup->start;
				g->me = e;
				g->mcode = code;
				return;
			}
		case TM_T_RELATION:
			{
				TmNode	   *node = it->node;

				if (node->relkind == TM_R_NOT_FOLLOWED)
				{
					int			k = tup->side;

					/* sorted by time: the last one seen is the latest */
					g->has[k] = true;
					g->max[k] = tup->start;
					g->maxcode[k] = code;
					return;
				}
				if (tup->side == 0)
				{
					g->ref_seen = true;
					g->ref_t = tup->start;
					g->ref_code = code;
					if (node->relkind == TM_R_DURING &&
						(!g->ref_end_code || tup->end >= g->ref_end))
					{
						g->ref_end = tup->end;
						g->ref_end_start = tup->start;
						g->ref_end_code = code ? code : "";
					}
					return;
				}
				if (g->result || !g->ref_seen)
					return;
				if (node->relkind == TM_R_DURING)
				{
					if (g->ref_end < tup->start)
						return;
					it->t2 = g->ref_end_start;
					it->code2 = g->ref_end_code;
					it->end2 = g->ref_end;
				}
				else
				{
					TimestampTz reach;

					if (node->has_upto && tm_time_plus(plan, g->ref_t, node->upto, &reach) &&
						tup->start > reach)
						return;
					it->t2 = g->ref_t;
					it->code2 = g->ref_code;
				}
				g->result = true;
				it->found = true;
				it->t1 = tup->start;
				it->code1 = code;
				return;
			}
	}
}

/* The end of a (patient, item) group: its result into the state. */
static void
flush(TmPlan *plan, Group *g)
{
	TmTimed    *it = &plan->timed[g->item];
	char	   *row = plan->state + (Size) g->pidx * plan->width;

	switch (it->kind)
	{
		case TM_T_DAYS:
			{
				TmAtom	   *a = &plan->atoms[it->atom];

				*(int64 *) (row + a->payload) = g->ndays;
				if (g->ndays > 0)
				{
					*(uint8 *) (row + a->flag) |= TM_F_SEEN;
					it->ndays = g->ndays;
					it->date_first = g->firstdate;
					it->date_last = g->lastdate;
				}
				break;
			}
		case TM_T_ACTIVE_FOR:
			close_island(plan, it, g);
			if (g->result)
				*(uint8 *) (row + plan->atoms[it->atom].flag) |= TM_F_SEEN;
			break;
		case TM_T_RELATION:
			if (it->node->relkind == TM_R_NOT_FOLLOWED)
			{
				/* some e1 with no e2 at or after it: the latest e1 is the one */
				g->result = g->has[0] && (!g->has[1] || g->max[0] > g->max[1]);
				if (g->has[0])
				{
					it->found = true;
					it->t1 = g->max[0];
					it->code1 = g->maxcode[0];
					it->code2 = g->has[1] ? g->maxcode[1] : NULL;
					it->t2 = g->max[1];
				}
			}
			if (g->result)
				*(uint8 *) (row + it->flag) = 1;
			break;
	}
}

/*
 * The order the times are walked in, the tuplesort's: patient, item, start,
 * side (the reference first at the same time), end.  Not the code: a
 * parallel worker's code pointers mean nothing in the leader.
 */
static inline int
timed_cmp(const TmTimedTuple *a, const TmTimedTuple *b)
{
	if (a->pidx != b->pidx)
		return a->pidx < b->pidx ? -1 : 1;
	if (a->item != b->item)
		return a->item < b->item ? -1 : 1;
	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	if (a->side != b->side)
		return a->side < b->side ? -1 : 1;
	if (a->end != b->end)
		return a->end < b->end ? -1 : 1;
	return 0;
}

#define ST_SORT sort_timed
#define ST_ELEMENT_TYPE TmTimedTuple
#define ST_COMPARE(a, b) timed_cmp(a, b)
#define ST_SCOPE static
#define ST_CHECK_FOR_INTERRUPTS
#define ST_DEFINE
#include "lib/sort_template.h"

/* The walk: one tuple, in order; a group ends where (patient, item) changes */
static void
walk(TmPlan *plan, Group *g, bool *have, const TmTimedTuple *tup)
{
	if (!*have || tup->pidx != g->pidx || tup->item != g->item)
	{
		if (*have)
			flush(plan, g);
		memset(g, 0, sizeof(Group));
		g->pidx = tup->pidx;
		g->item = tup->item;
		*have = true;
	}
	step(plan, &plan->timed[g->item], g, tup);
}

/*
 * Sort what was collected and decide every item for every patient that has
 * events for it; report the sort's memory (DEBUG1).
 */
void
tm_timed_finish(TmPlan *plan)
{
	TmTimedState *ts = plan->tstate;
	Group		g;
	bool		have = false;
	int64		n = 0;
	TuplesortInstrumentation stats;

	if (ts == NULL || !ts->active)
		return;
	ts->active = false;
	memset(&g, 0, sizeof(g));
	if (ts->sort == NULL)
	{
		/* in memory: sorted in place */
		sort_timed(ts->mem, ts->nmem);
		for (int64 i = 0; i < ts->nmem; i++)
		{
			if ((i & 0xFFFF) == 0)
				CHECK_FOR_INTERRUPTS();
			walk(plan, &g, &have, &ts->mem[i]);
		}
		if (have)
			flush(plan, &g);
		elog(DEBUG1, "trialmatch: " INT64_FORMAT " event times of %d timed criteria sorted, Memory: " INT64_FORMAT " kB",
			 ts->ntuples, plan->ntimed, (int64) ((ts->memcap * sizeof(TmTimedTuple) + 1023) / 1024));
		if (ts->mem)
			pfree(ts->mem);
		ts->mem = NULL;
		return;
	}
	tuplesort_performsort(ts->sort);
	while (tuplesort_gettupleslot(ts->sort, true, false, ts->out, NULL))
	{
		TmTimedTuple tup;
		bool		isnull;

		if ((++n & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		tup.pidx = DatumGetInt32(slot_getattr(ts->out, 1, &isnull));
		tup.item = DatumGetInt32(slot_getattr(ts->out, 2, &isnull));
		tup.start = DatumGetInt64(slot_getattr(ts->out, 3, &isnull));
		tup.side = DatumGetInt32(slot_getattr(ts->out, 4, &isnull));
		tup.end = DatumGetInt64(slot_getattr(ts->out, 5, &isnull));
		tup.code = DatumGetInt64(slot_getattr(ts->out, 6, &isnull));
		walk(plan, &g, &have, &tup);
	}
	if (have)
		flush(plan, &g);
	tuplesort_get_stats(ts->sort, &stats);
	elog(DEBUG1, "trialmatch: " INT64_FORMAT " event times of %d timed criteria sorted, %s: " INT64_FORMAT " kB",
		 ts->ntuples, plan->ntimed, tuplesort_space_type_name(stats.spaceType), stats.spaceUsed);
	tuplesort_end(ts->sort);
	ts->sort = NULL;
}

/* ---------------------------------------------------------------
 * Results and evidence
 * ---------------------------------------------------------------
 */
bool
tm_timed_relation(TmPlan *plan, TmNode *node, int pidx)
{
	TmTimed    *it = &plan->timed[node->timed];

	return *(uint8 *) (plan->state + (Size) pidx * plan->width + it->flag) != 0;
}

static void
append_date(StringInfo buf, int32 j)
{
	int			y,
				m,
				d;

	j2date(j, &y, &m, &d);
	appendStringInfo(buf, "%04d-%02d-%02d", y, m, d);
}

static const char *const rel_words[] = {"after", "before", "during", "not followed by"};

/* What decided a DAYS, ACTIVE FOR or relation item (single-patient calls). */
void
tm_timed_evidence(TmPlan *plan, TmNode *node, StringInfo buf)
{
	TmTimed    *it;
	TmEvent    *ev;

	if (node->kind == TM_N_EVENT)
		it = &plan->timed[plan->atoms[node->atom].timed];
	else
		it = &plan->timed[node->timed];
	switch (it->kind)
	{
		case TM_T_DAYS:
			ev = node->event;
			appendStringInfo(buf, INT64_FORMAT " day%s of ", it->ndays, it->ndays == 1 ? "" : "s");
			tm_deparse_event_head(buf, ev);
			if (ev->has_where)
			{
				appendStringInfoString(buf, " where value ");
				tm_deparse_vtest(buf, &ev->where, &ev->where_is);
			}
			if (it->ndays > 0)
			{
				appendStringInfoString(buf, " (");
				append_date(buf, it->date_first);
				if (it->date_last != it->date_first)
				{
					appendStringInfoString(buf, " .. ");
					append_date(buf, it->date_last);
				}
				appendStringInfoChar(buf, ')');
			}
			break;
		case TM_T_ACTIVE_FOR:
			ev = node->event;
			if (!it->found)
			{
				appendStringInfoString(buf, "no ");
				tm_deparse_event_head(buf, ev);
				break;
			}
			appendStringInfo(buf, "%s %s active from ", ev->source, it->code1 ? it->code1 : "");
			tm_append_time(buf, it->t1);
			appendStringInfoString(buf, " to ");
			tm_append_time(buf, it->end2);
			if (ev->has_gap)
				appendStringInfo(buf, " (merged across gaps up to %d %s)", ev->gap.n,
								 tm_unit_name(ev->gap.unit, ev->gap.n));
			if (!(*(uint8 *) (plan->state + plan->atoms[it->atom].flag) & TM_F_SEEN))
			{
				appendStringInfoString(buf, ", not covering ");
				tm_append_time(buf, it->active_from);
				appendStringInfoString(buf, " to as_of");
			}
			break;
		case TM_T_RELATION:
			{
				TmEvent    *e1 = plan->atoms[it->atom].ev;
				TmEvent    *e2 = plan->atoms[it->atom2].ev;
				bool		r = tm_timed_relation(plan, node, 0);
				const char *c1 = it->code1,
						   *c2 = it->code2;
				TimestampTz t1 = it->t1,
							t2 = it->t2;

				if (node->relkind == TM_R_NOT_FOLLOWED)
				{
					if (!it->found)
					{
						appendStringInfoString(buf, "no ");
						tm_deparse_event_head(buf, e1);
						break;
					}
					appendStringInfo(buf, "%s %s at ", e1->source, c1 ? c1 : "");
					tm_append_time(buf, t1);
					if (r)
					{
						appendStringInfoString(buf, ", not followed by ");
						tm_deparse_event_head(buf, e2);
					}
					else
					{
						appendStringInfo(buf, ", followed by %s %s at ", e2->source, c2 ? c2 : "");
						tm_append_time(buf, t2);
					}
					break;
				}
				if (!r)
				{
					appendStringInfoString(buf, "no pair: ");
					appendStringInfoString(buf, tm_deparse(node));
					break;
				}
				/* it->code1/t1 is the probe, code2/t2 the reference */
				if (node->relkind == TM_R_BEFORE)
				{
					c1 = it->code2, c2 = it->code1;
					t1 = it->t2, t2 = it->t1;
				}
				appendStringInfo(buf, "%s %s at ", e1->source, c1 ? c1 : "");
				tm_append_time(buf, t1);
				if (node->has_upto)
					appendStringInfo(buf, " up to %d %s", node->upto.n,
									 tm_unit_name(node->upto.unit, node->upto.n));
				appendStringInfo(buf, " %s %s %s ", rel_words[node->relkind], e2->source,
								 c2 ? c2 : "");
				if (node->relkind == TM_R_DURING)
				{
					appendStringInfoString(buf, "from ");
					tm_append_time(buf, t2);
					if (it->end2 == DT_NOEND)
						appendStringInfoString(buf, ", ongoing");
					else
					{
						appendStringInfoString(buf, " to ");
						tm_append_time(buf, it->end2);
					}
				}
				else
				{
					appendStringInfoString(buf, "at ");
					tm_append_time(buf, t2);
				}
				break;
			}
	}
}
