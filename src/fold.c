/*-------------------------------------------------------------------------
 *
 * fold.c
 *	  The fold: one source row into the per-patient state of the atoms
 *	  that read its source, and the merge of two such states (parallel
 *	  workers).  Both apply the same rules (fold_replaces below): the
 *	  latest (earliest) event wins for last (first), ties at the same time
 *	  go to the larger value; min/max keep the extreme; counts add; avg
 *	  accumulates exactly (avg.c).
 *
 * For each source a code map, built lazily during the scan, maps each
 * distinct code seen to the atoms whose code list (prefixes, EXCEPT)
 * accepts it, so that a row costs one hash probe however many criteria
 * read the source.
 *
 * This file calls nothing above it: read.c hands it rows, exec.c and
 * parallel.c hand it states to merge.
 *
 * IDENTIFICATION
 *	  src/fold.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"


#include "access/nbtree.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/memutils.h"

#include "trialmatch.h"


/* ---------------------------------------------------------------
 * Code map
 * ---------------------------------------------------------------
 */
typedef struct TmCodeEntry
{
	uint32		hash;
	int			keylen;			/* -1: empty slot */
	char	   *key;
	char	   *text;			/* the code as text (for conversions, evidence) */
	int			natoms;
	int		   *atoms;
} TmCodeEntry;

typedef struct TmCodeMap
{
	uint32		mask;
	uint32		used;
	TmCodeEntry *entries;
} TmCodeMap;

static TmCodeMap *
codemap_create(int size)
{
	TmCodeMap  *m = palloc(sizeof(TmCodeMap));

	m->mask = size - 1;
	m->used = 0;
	m->entries = palloc(sizeof(TmCodeEntry) * size);
	for (int i = 0; i < size; i++)
		m->entries[i].keylen = -1;
	return m;
}

static bool
code_matches(List *codes, const char *key, int keylen, bool is_int)
{
	ListCell   *lc;

	foreach(lc, codes)
	{
		TmCode	   *c = lfirst(lc);

		if (is_int)
		{
			int64		v;

			memcpy(&v, key, sizeof(int64));
			if (c->ival == v)
				return true;
		}
		else if (c->prefix ? (keylen >= c->len && memcmp(key, c->str, c->len) == 0) :
				 (keylen == c->len && memcmp(key, c->str, keylen) == 0))
			return true;
	}
	return false;
}

static void
codemap_grow(TmCodeMap *m)
{
	TmCodeEntry *old = m->entries;
	uint32		oldsize = m->mask + 1;
	uint32		size = oldsize * 2;

	/* the map lives in the plan's context; we are in the per-row one */
	m->entries = MemoryContextAlloc(GetMemoryChunkContext(m), sizeof(TmCodeEntry) * size);
	m->mask = size - 1;
	for (uint32 i = 0; i < size; i++)
		m->entries[i].keylen = -1;
	for (uint32 i = 0; i < oldsize; i++)
	{
		uint32		j;

		if (old[i].keylen < 0)
			continue;
		for (j = old[i].hash & m->mask; m->entries[j].keylen >= 0; j = (j + 1) & m->mask)
			;
		m->entries[j] = old[i];
	}
	pfree(old);
}

/* The atoms of source ps that accept this code; computed once per code. */
static TmCodeEntry *
codemap_lookup(TmPlan *plan, TmPlanSource *ps, const char *key, int keylen, bool is_int)
{
	TmCodeMap  *m = ps->codemap;
	uint32		h = hash_bytes((const unsigned char *) key, keylen);
	uint32		i;
	TmCodeEntry *e;
	MemoryContext old;

	for (i = h & m->mask; m->entries[i].keylen >= 0; i = (i + 1) & m->mask)
	{
		e = &m->entries[i];
		if (e->hash == h && e->keylen == keylen && memcmp(e->key, key, keylen) == 0)
			return e;
	}

	/* new code: allocate in the plan's context, not the per-row one */
	old = MemoryContextSwitchTo(GetMemoryChunkContext(m));
	e = &m->entries[i];
	e->hash = h;
	e->keylen = keylen;
	e->key = palloc(keylen + 1);
	memcpy(e->key, key, keylen);
	e->key[keylen] = '\0';
	if (is_int)
	{
		int64		v;

		memcpy(&v, key, sizeof(int64));
		e->text = psprintf(INT64_FORMAT, v);
	}
	else
		e->text = e->key;
	e->natoms = 0;
	e->atoms = palloc(sizeof(int) * ps->natoms);
	for (int k = 0; k < ps->natoms; k++)
	{
		TmAtom	   *a = &plan->atoms[ps->atoms[k]];

		if (a->ev->phrases != NIL)
			continue;			/* MENTIONS: notes.c reads the text */
		if ((a->codes == NIL || code_matches(a->codes, key, keylen, is_int)) &&
			!code_matches(a->except, key, keylen, is_int))
			e->atoms[e->natoms++] = ps->atoms[k];
	}
	MemoryContextSwitchTo(old);
	if (++m->used * 2 > m->mask)
	{
		codemap_grow(m);
		/* find the entry again after rehashing */
		return codemap_lookup(plan, ps, key, keylen, is_int);
	}
	return e;
}

/* ---------------------------------------------------------------
 * Reading columns
 * ---------------------------------------------------------------
 */
static inline TimestampTz
time_value(TmPlan *plan, Datum d, Oid typid)
{
	int			overflow;

	if (typid == TIMESTAMPTZOID)
		return DatumGetTimestampTz(d);
	if (typid == DATEOID)
	{
		DateADT		date = DatumGetDateADT(d);
		int			slot = date & (lengthof(plan->datecache_key) - 1);

		/* empty cache slots hold DATEVAL_NOEND: infinite dates bypass it */
		if (DATE_NOT_FINITE(date))
			return date2timestamptz_opt_overflow(date, &overflow);

		if (plan->datecache_key[slot] != date)
		{
			plan->datecache_val[slot] = date2timestamptz_opt_overflow(date, &overflow);
			plan->datecache_key[slot] = date;
		}
		return plan->datecache_val[slot];
	}
	return timestamp2timestamptz_opt_overflow(DatumGetTimestamp(d), &overflow);
}

TimestampTz
tm_time_value(TmPlan *plan, Datum d, Oid typid)
{
	return time_value(plan, d, typid);
}

static inline double
numeric_value(Datum d, Oid typid)
{
	switch (typid)
	{
		case FLOAT8OID:
			return DatumGetFloat8(d);
		case FLOAT4OID:
			return (double) DatumGetFloat4(d);
		case INT2OID:
			return (double) DatumGetInt16(d);
		case INT4OID:
			return (double) DatumGetInt32(d);
		case INT8OID:
			return (double) DatumGetInt64(d);
		default:
			/* beyond double's range: +-Infinity or 0, not an error */
			return tm_numeric_to_double(d);
	}
}

/* ---------------------------------------------------------------
 * Folding one source row into the atoms' state
 * ---------------------------------------------------------------
 */
static void
note_evidence(TmPlan *plan, int atom, TmCodeEntry *e, TimestampTz t, bool has_end,
			  TimestampTz end, bool has_value, double v, double cv, const char *unit)
{
	TmEvidence *ev = &plan->evidence[atom];
	MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(plan->evidence));

	ev->have = true;
	ev->code = e->text;
	ev->time = t;
	ev->has_end = has_end;
	ev->end = end;
	ev->has_value = has_value;
	ev->value = v;
	ev->cvalue = cv;
	if (ev->unit)
		pfree(ev->unit);
	ev->unit = unit ? pstrdup(unit) : NULL;
	MemoryContextSwitchTo(old);
}

/*
 * Is this event the one to show rather than the evidence kept so far: the
 * latest, and among events at the same time the largest code, so that the
 * evidence does not depend on the order rows are read in (partitions,
 * indexes, views).
 */
static inline bool
later_evidence(TmPlan *plan, int atom, TmCodeEntry *e, TimestampTz t)
{
	TmEvidence *ev = &plan->evidence[atom];

	return !ev->have || t > ev->time || (t == ev->time && strcmp(e->text, ev->code) >= 0);
}

typedef struct TmUnitEntry
{
	int64		concept_id;
	char	   *code;			/* NULL: no such concept */
} TmUnitEntry;

static void
concept_row(TmPlan *plan, void *arg, Datum *values, bool *isnull)
{
	TmUnitEntry *e = arg;

	if (e->code == NULL && !isnull[plan->concept_code.attnum - 1])
		e->code = MemoryContextStrdup(GetMemoryChunkContext(plan),
									  TextDatumGetCString(values[plan->concept_code.attnum - 1]));
}

/* The concept_code of a unit concept, looked up once per call and id. */
static char *
unit_concept_code(TmPlan *plan, int64 concept_id)
{
	TmUnitEntry *e;
	bool		found;

	if (plan->unitcache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(TmUnitEntry);
		ctl.hcxt = GetMemoryChunkContext(plan);
		plan->unitcache = hash_create("trialmatch unit concepts", 64, &ctl,
									  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	e = hash_search(plan->unitcache, &concept_id, HASH_ENTER, &found);
	if (!found)
	{
		TmScanSpec	spec;

		e->code = NULL;
		if (plan->lookupcxt == NULL)
			plan->lookupcxt = AllocSetContextCreate(GetMemoryChunkContext(plan),
													"trialmatch unit lookup",
													ALLOCSET_SMALL_SIZES);
		/* a separate row context: the source row being folded lives in rowcxt */
		if (tm_read_spec_one(plan->concept_id, concept_id, plan->lookupcxt, &spec))
			tm_read_relation(plan, &plan->conceptread, -1, &spec, concept_row, e);
	}
	return e->code;
}

/* The unit of a row as text: the column itself, or its unit concept's code. */
static char *
unit_value(TmPlan *plan, TmPlanSource *ps, Datum *values, bool *isnull)
{
	AttrNumber	an = ps->unit.attnum - 1;

	if (isnull[an])
		return NULL;
	if (ps->unit.typid == TEXTOID || ps->unit.typid == VARCHAROID)
		return TextDatumGetCString(values[an]);
	/* concept 0 is OMOP's "No matching concept": no unit */
	if (tm_id_value(values[an], ps->unit.typid) == 0)
		return NULL;
	return unit_concept_code(plan, tm_id_value(values[an], ps->unit.typid));
}

/*
 * The one rule of last/first and min/max, shared by the fold and the
 * merge: does a value (at time t) replace the one kept so far (at time
 * kept_t), if any?  last/first: the latest/earliest event, and at the same
 * time the larger value (SPEC 4: "ties: the larger value"); min/max: a
 * strictly smaller/larger value.  Times are ignored for min/max.
 */
static inline bool
fold_replaces(TmMeasureKind measure, bool have, TimestampTz t, double v,
			  TimestampTz kept_t, double kept_v)
{
	if (!have)
		return true;
	switch (measure)
	{
		case TM_M_LAST:
			return t > kept_t || (t == kept_t && v > kept_v);
		case TM_M_FIRST:
			return t < kept_t || (t == kept_t && v > kept_v);
		case TM_M_MIN:
			return v < kept_v;
		case TM_M_MAX:
			return v > kept_v;
		default:
			elog(ERROR, "trialmatch: no replace rule for measure %d", (int) measure);
			return false;
	}
}

/*
 * Fold one row of a source (arg: its TmPlanSource) into plan->state, and
 * into plan->evidence in single-patient calls.  A TmRowFn.
 */
void
tm_fold_row(TmPlan *plan, void *arg, Datum *values, bool *isnull)
{
	TmPlanSource *ps = arg;
	int			pidx;
	TimestampTz t;
	TimestampTz end = DT_NOEND;
	bool		has_end = false;
	TmCodeEntry *e;
	char	   *row;
	bool		value_read = false;
	bool		has_value = false;
	double		v = 0;
	char	   *unit = NULL;
	bool		unit_read = false;
	AttrNumber	an;

	/* MENTIONS atoms read the text (notes.c) */
	if (ps->nmentions > 0)
	{
		tm_notes_fold_row(plan, ps, values, isnull);
		if (ps->nmentions == ps->natoms || ps->code.attnum == 0)
			return;
	}

	/* cheapest filters first: the code map rejects most rows */
	an = ps->code.attnum - 1;
	if (isnull[an])
		return;
	if (ps->code.typid == INT4OID || ps->code.typid == INT8OID)
	{
		int64		k = tm_id_value(values[an], ps->code.typid);

		e = codemap_lookup(plan, ps, (char *) &k, sizeof(k), true);
	}
	else
	{
		text	   *txt = DatumGetTextPP(values[an]);

		e = codemap_lookup(plan, ps, VARDATA_ANY(txt), VARSIZE_ANY_EXHDR(txt), false);
	}
	if (e->natoms == 0)
		return;

	an = ps->time.attnum - 1;
	if (!isnull[an])
		t = time_value(plan, values[an], ps->time.typid);
	else if (ps->time_fallback.attnum && !isnull[ps->time_fallback.attnum - 1])
		t = time_value(plan, values[ps->time_fallback.attnum - 1], ps->time_fallback.typid);
	else
		return;
	if (t > plan->as_of)
		return;
	if (ps->end_time.attnum && !isnull[ps->end_time.attnum - 1])
	{
		end = time_value(plan, values[ps->end_time.attnum - 1], ps->end_time.typid);
		has_end = true;
	}
	else if (ps->end_fallback.attnum && !isnull[ps->end_fallback.attnum - 1])
	{
		end = time_value(plan, values[ps->end_fallback.attnum - 1], ps->end_fallback.typid);
		has_end = true;
	}

	an = ps->patient.attnum - 1;
	if (isnull[an])
		return;
	pidx = tm_patient_index(&plan->pats, tm_id_value(values[an], ps->patient.typid));
	if (pidx < 0)
		return;

	row = plan->state + (Size) pidx * plan->width;
	for (int k = 0; k < e->natoms; k++)
	{
		int			ai = e->atoms[k];
		TmAtom	   *a = &plan->atoms[ai];
		TmEvent    *ev = a->ev;
		uint8	   *flag = (uint8 *) (row + a->flag);
		double		cv;
		int			conv;

		/* the window: an event, or its span, must reach the window start */
		if (a->has_lower && (ps->end_time.attnum ? end < a->lower : t < a->lower))
			continue;

		if (ev->measure == TM_M_EXISTS)
		{
			*flag |= TM_F_SEEN;
			if (plan->evidence && later_evidence(plan, ai, e, t))
				note_evidence(plan, ai, e, t, has_end, end, false, 0, 0, NULL);
			continue;
		}
		if (ev->measure == TM_M_COVERS)
		{
			/* started by the window start, not ended before as_of */
			if (a->has_lower && t <= a->lower && (!has_end || end >= plan->as_of))
			{
				*flag |= TM_F_SEEN;
				if (plan->evidence && later_evidence(plan, ai, e, t))
					note_evidence(plan, ai, e, t, has_end, end, false, 0, 0, NULL);
			}
			continue;
		}
		if (ev->measure == TM_M_ACTIVE)
		{
			if (!has_end || end >= plan->as_of)
			{
				*flag |= TM_F_SEEN;
				if (plan->evidence && later_evidence(plan, ai, e, t))
					note_evidence(plan, ai, e, t, has_end, end, false, 0, 0, NULL);
			}
			continue;
		}

		if (ev->measure == TM_M_COUNT && !ev->has_where)
		{
			(*(int64 *) (row + a->payload))++;
			continue;
		}

		/* everything else reads the value */
		if (!value_read)
		{
			value_read = true;
			an = ps->value.attnum - 1;
			if (!isnull[an])
			{
				v = numeric_value(values[an], ps->value.typid);
				has_value = !isnan(v);
			}
		}
		if (ev->measure == TM_M_COUNT)
		{
			if (has_value && tm_test_passes(&ev->where, v))
				(*(int64 *) (row + a->payload))++;
			continue;
		}
		if (!has_value)
			continue;
		cv = v;
		conv = -1;
		if (ev->unit)
		{
			ListCell   *lc;
			bool		usable = false;

			if (!unit_read)
			{
				unit_read = true;
				unit = unit_value(plan, ps, values, isnull);
			}
			if (unit == NULL)
				continue;
			if (strcmp(unit, ev->unit) == 0)
				usable = true;
			else
				foreach(lc, a->conversions)
				{
					TmConversion *c = lfirst(lc);

					if (strcmp(c->from_unit, unit) == 0 && strcmp(c->code, e->text) == 0)
					{
						cv = v * c->factor + c->offset;
						usable = !isnan(cv);
						conv = foreach_current_index(lc);
						break;
					}
				}
			if (!usable)
				continue;
		}
		else if (plan->evidence && ps->unit.attnum && !unit_read)
		{
			unit_read = true;
			unit = unit_value(plan, ps, values, isnull);
		}

		switch (ev->measure)
		{
			case TM_M_LAST:
			case TM_M_FIRST:
				{
					TmValState *st = (TmValState *) (row + a->payload);

					if (fold_replaces(ev->measure, *flag & TM_F_SEEN, t, cv, st->n, st->v))
					{
						st->v = cv;
						st->n = t;
						*flag |= TM_F_SEEN;
						if (plan->evidence)
							note_evidence(plan, ai, e, t, has_end, end, true, v, cv, unit);
					}
					break;
				}
			case TM_M_MIN:
			case TM_M_MAX:
				{
					double	   *m = (double *) (row + a->payload);

					if (fold_replaces(ev->measure, *flag & TM_F_SEEN, 0, cv, 0, *m))
					{
						*m = cv;
						*flag |= TM_F_SEEN;
						if (plan->evidence)
							note_evidence(plan, ai, e, t, has_end, end, true, v, cv, unit);
					}
					else if (plan->evidence && cv == *m && later_evidence(plan, ai, e, t))
						note_evidence(plan, ai, e, t, has_end, end, true, v, cv, unit);
					break;
				}
			case TM_M_AVG:
				tm_avg_accum(a, (TmAvgState *) (row + a->payload),
							 values[ps->value.attnum - 1], ps->value.typid, conv, cv);
				*flag |= TM_F_SEEN;
				break;
			case TM_M_ANY:
				*flag |= TM_F_SEEN;
				if (plan->evidence)
					plan->evidence[ai].nvalues++;
				if (tm_test_passes(&ev->test, cv))
				{
					*flag |= TM_F_PASS;
					if (plan->evidence && later_evidence(plan, ai, e, t))
					{
						int64		n = plan->evidence[ai].nvalues;

						note_evidence(plan, ai, e, t, has_end, end, true, v, cv, unit);
						plan->evidence[ai].nvalues = n;
					}
				}
				break;
			default:
				break;
		}
	}
}

/* Per-call caches of each source: the code maps. */
void
tm_codemaps_init(TmPlan *plan)
{
	for (int i = 0; i < plan->nsources; i++)
		plan->sources[i].codemap = codemap_create(64);
}

void
tm_state_alloc(TmPlan *plan)
{
	plan->state = MemoryContextAllocExtended(CurrentMemoryContext,
											 (Size) Max(plan->pats.n, 1) * plan->width,
											 MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	tm_codemaps_init(plan);
}

/* ---------------------------------------------------------------
 * Merging states (parallel workers)
 * ---------------------------------------------------------------
 */

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
						fold_replaces(a->ev->measure, *fi & TM_F_SEEN, 0, mf, 0, *mi))
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

					if ((ff & TM_F_SEEN) &&
						fold_replaces(a->ev->measure, *fi & TM_F_SEEN, sf->n, sf->v, si->n, si->v))
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
