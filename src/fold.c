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
#include "utils/float.h"
#include "utils/memutils.h"

#include <math.h>

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

	/*
	 * The old array is left to the map's context (all the old ones together
	 * are smaller than the new): a caller may still hold one of its entries
	 * while a nested call (a view read through the executor that calls
	 * match_trials) grows a map kept across calls (plan.c).
	 */
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
	char	   *kcopy;
	char	   *text;
	int		   *atoms;
	int			natoms = 0;

	for (i = h & m->mask; m->entries[i].keylen >= 0; i = (i + 1) & m->mask)
	{
		e = &m->entries[i];
		if (e->hash == h && e->keylen == keylen && memcmp(e->key, key, keylen) == 0)
			return e;
	}

	/*
	 * A new code: in the map's context (its plan's, which a cached plan
	 * outlives the call in), not the per-row one; the entry is written
	 * whole before it is counted as used (keylen last), so that a map kept
	 * across calls never holds a half-made entry.
	 */
	old = MemoryContextSwitchTo(GetMemoryChunkContext(m));
	kcopy = palloc(keylen + 1);
	memcpy(kcopy, key, keylen);
	kcopy[keylen] = '\0';
	if (is_int)
	{
		int64		v;

		memcpy(&v, key, sizeof(int64));
		text = psprintf(INT64_FORMAT, v);
	}
	else
		text = kcopy;
	/* each distinct pair of code lists once, then its atoms in order */
	for (int g = 0; g < ps->ngroups; g++)
	{
		TmAtom	   *a = &plan->atoms[ps->grouprep[g]];

		ps->groupmatch[g] = (a->codes == NIL || code_matches(a->codes, key, keylen, is_int)) &&
			!code_matches(a->except, key, keylen, is_int);
	}
	for (int k = 0; k < ps->natoms; k++)
		natoms += ps->codegroup[k] >= 0 && ps->groupmatch[ps->codegroup[k]];
	atoms = palloc(sizeof(int) * Max(natoms, 1));
	natoms = 0;
	for (int k = 0; k < ps->natoms; k++)
		if (ps->codegroup[k] >= 0 && ps->groupmatch[ps->codegroup[k]])
			atoms[natoms++] = ps->atoms[k];
	MemoryContextSwitchTo(old);
	e = &m->entries[i];
	e->hash = h;
	e->key = kcopy;
	e->text = text;
	e->natoms = natoms;
	e->atoms = atoms;
	e->keylen = keylen;
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

/*
 * When a row happened and whose it is: its time (else the fallback time;
 * no time, or after as_of: false), its end if it has one (else the end
 * fallback) and the patient's index (not a patient of the call: false).
 * The one reading of these columns for every kind of atom.
 */
bool
tm_row_event(TmPlan *plan, TmPlanSource *ps, Datum *values, bool *isnull,
			 TimestampTz *t, TimestampTz *end, bool *has_end, int *pidx)
{
	AttrNumber	an = ps->time.attnum - 1;

	if (!isnull[an])
		*t = time_value(plan, values[an], ps->time.typid);
	else if (ps->time_fallback.attnum && !isnull[ps->time_fallback.attnum - 1])
		*t = time_value(plan, values[ps->time_fallback.attnum - 1], ps->time_fallback.typid);
	else
		return false;
	if (*t > plan->as_of)
		return false;
	*has_end = false;
	if (ps->end_time.attnum && !isnull[ps->end_time.attnum - 1])
	{
		*end = time_value(plan, values[ps->end_time.attnum - 1], ps->end_time.typid);
		*has_end = true;
	}
	else if (ps->end_fallback.attnum && !isnull[ps->end_fallback.attnum - 1])
	{
		*end = time_value(plan, values[ps->end_fallback.attnum - 1], ps->end_fallback.typid);
		*has_end = true;
	}
	an = ps->patient.attnum - 1;
	if (isnull[an])
		return false;
	*pidx = tm_patient_index(&plan->pats, tm_id_value(values[an], ps->patient.typid));
	return *pidx >= 0;
}

/*
 * Hints that a row of patient id will be folded soon (indexonly.c's ring):
 * first fetch the id's map entry into the cache, and some rows later,
 * when that is there, the patient's state.
 */
void
tm_fold_prefetch_id(TmPlan *plan, TmPlanSource *ps, Datum id)
{
	tm_patient_prefetch(&plan->pats, tm_id_value(id, ps->patient.typid));
}

void
tm_fold_prefetch(TmPlan *plan, TmPlanSource *ps, Datum id)
{
#if defined(__GNUC__) || defined(__clang__)
	int			pidx = tm_patient_index(&plan->pats, tm_id_value(id, ps->patient.typid));

	if (pidx >= 0)
	{
		char	   *row = plan->state + (Size) pidx * plan->width;

		for (int off = 0; off < plan->width; off += 64)
			__builtin_prefetch(row + off, 1, 3);
	}
#endif
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

/* The row being folded, for the evidence of filtered atoms (note_filters). */
static Datum *fold_values;
static bool *fold_isnull;
static void note_filters(TmPlan *plan, int atom, Datum *values, bool *isnull);

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
	if (plan->atoms[atom].nfilters > 0)
		note_filters(plan, atom, fold_values, fold_isnull);
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

/* ---------------------------------------------------------------
 * 1.1: filters, categories, normal-range bounds (SPEC 7.3)
 * ---------------------------------------------------------------
 */

/* The columns of the row being folded, read once each when first needed. */
typedef struct TmRow
{
	TmPlanSource *ps;
	Datum	   *values;
	bool	   *isnull;
	bool		value_read;
	bool		has_value;
	double		v;
	bool		cat_read;
	bool		has_cat;
	bool		cat_int;
	int64		cat_ival;
	const char *cat_str;
	int			cat_len;
	bool		range_read;
	bool		has_low;
	bool		has_high;
	double		low;
	double		high;
} TmRow;

static void
row_value(TmRow *r)
{
	AttrNumber	an = r->ps->value.attnum - 1;

	if (r->value_read)
		return;
	r->value_read = true;
	if (an >= 0 && !r->isnull[an])
	{
		r->v = numeric_value(r->values[an], r->ps->value.typid);
		r->has_value = !isnan(r->v);
	}
}

static void
row_category(TmRow *r)
{
	AttrNumber	an = r->ps->category.attnum - 1;

	if (r->cat_read)
		return;
	r->cat_read = true;
	r->has_cat = r->cat_int = false;
	if (an < 0 || r->isnull[an])
		return;
	r->has_cat = true;
	if (r->ps->category.typid == INT4OID || r->ps->category.typid == INT8OID)
	{
		r->cat_int = true;
		r->cat_ival = tm_id_value(r->values[an], r->ps->category.typid);
	}
	else
	{
		text	   *txt = DatumGetTextPP(r->values[an]);

		r->cat_str = VARDATA_ANY(txt);
		r->cat_len = VARSIZE_ANY_EXHDR(txt);
	}
}

static void
row_range(TmRow *r)
{
	AttrNumber	lo = r->ps->range_low.attnum - 1;
	AttrNumber	hi = r->ps->range_high.attnum - 1;

	if (r->range_read)
		return;
	r->range_read = true;
	r->has_low = r->has_high = false;
	r->low = r->high = 0;
	if (lo >= 0 && !r->isnull[lo])
	{
		r->low = numeric_value(r->values[lo], r->ps->range_low.typid);
		r->has_low = isfinite(r->low);
	}
	if (hi >= 0 && !r->isnull[hi])
	{
		r->high = numeric_value(r->values[hi], r->ps->range_high.typid);
		r->has_high = isfinite(r->high);
	}
}

/* Does a row's category match a code list (as codes match)? */
static bool
row_category_matches(TmRow *r, List *codes)
{
	if (r->cat_int)
		return code_matches(codes, (const char *) &r->cat_ival, sizeof(int64), true);
	return code_matches(codes, r->cat_str, r->cat_len, false);
}

static bool
ref_usable(TmRow *r, uint8 ref)
{
	return ref == TM_REF_NONE || (ref == TM_REF_ULN ? r->has_high : r->has_low);
}

/*
 * The vtest of SPEC 7.2 on one row: IS codes (is, with codes expanded) on
 * the category, or a numeric test (with N x uln / N x lln bounds) on the
 * value.  1: the row passes; 0: it is usable and fails; -1: not usable (no
 * category, no value, or a limit the test names is NULL or not finite).
 * Part 2's "days where value vtest" calls this too.
 */
static int
row_vtest(TmRow *r, const TmTest *test, bool is, List *codes)
{
	if (is)
	{
		row_category(r);
		if (!r->has_cat)
			return -1;
		return row_category_matches(r, codes) ? 1 : 0;
	}
	row_value(r);
	if (!r->has_value)
		return -1;
	if (!TM_TEST_HAS_REF(test))
		return tm_test_passes(test, r->v) ? 1 : 0;
	row_range(r);
	if (!isfinite(r->v) || !ref_usable(r, test->lo_ref) ||
		(test->op == TM_CMP_BETWEEN && !ref_usable(r, test->hi_ref)))
		return -1;
	return tm_test_passes_ref(test, r->v, r->low, r->high) ? 1 : 0;
}

static char *
datum_text(Datum d, Oid typid)
{
	switch (typid)
	{
		case TEXTOID:
		case VARCHAROID:
			return TextDatumGetCString(d);
		case BOOLOID:
			return pstrdup(DatumGetBool(d) ? "true" : "false");
		case INT2OID:
		case INT4OID:
		case INT8OID:
			return psprintf(INT64_FORMAT, typid == INT2OID ? (int64) DatumGetInt16(d) :
							tm_id_value(d, typid));
		default:
			return float8out_internal(numeric_value(d, typid));
	}
}

/* Does a row pass every filter of an atom?  A NULL attribute never does. */
bool
tm_row_filters_pass(TmAtom *a, Datum *values, bool *isnull)
{
	for (int i = 0; i < a->nfilters; i++)
	{
		TmPlanFilter *pf = &a->filters[i];
		AttrNumber	an = pf->col.attnum - 1;
		Datum		d = values[an];
		Oid			typid = pf->col.typid;

		if (isnull[an])
			return false;
		if (pf->f->is)
		{
			if (typid == TEXTOID || typid == VARCHAROID)
			{
				text	   *txt = DatumGetTextPP(d);

				if (!code_matches(pf->codes, VARDATA_ANY(txt), VARSIZE_ANY_EXHDR(txt), false))
					return false;
			}
			else
			{
				int64		k = typid == INT2OID ? (int64) DatumGetInt16(d) : tm_id_value(d, typid);

				if (!code_matches(pf->codes, (const char *) &k, sizeof(k), true))
					return false;
			}
		}
		else
		{
			double		v = typid == BOOLOID ? (DatumGetBool(d) ? 1.0 : 0.0) :
				numeric_value(d, typid);

			if (isnan(v) || !tm_test_passes(&pf->f->test, v))
				return false;
		}
	}
	return true;
}

/* Evidence of a filtered atom: the attributes of the row shown. */
static void
note_filters(TmPlan *plan, int atom, Datum *values, bool *isnull)
{
	TmAtom	   *a = &plan->atoms[atom];
	TmEvidence *ev = &plan->evidence[atom];
	MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(plan->evidence));
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < a->nfilters; i++)
	{
		TmPlanFilter *pf = &a->filters[i];

		appendStringInfo(&buf, "%s%s %s", i ? ", " : "", pf->f->attribute,
						 quote_literal_cstr(datum_text(values[pf->col.attnum - 1], pf->col.typid)));
	}
	ev->filter = buf.data;
	MemoryContextSwitchTo(old);
}

/* Evidence of a 1.1 atom: its category or normal range. */
static void
note_evidence_11(TmPlan *plan, int atom, TmRow *r, bool tie)
{
	TmEvidence *ev = &plan->evidence[atom];
	MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(plan->evidence));

	ev->category = NULL;
	if (r->cat_read && r->has_cat)
		ev->category = r->cat_int ? psprintf(INT64_FORMAT, r->cat_ival) :
			pnstrdup(r->cat_str, r->cat_len);
	ev->has_low = r->range_read && r->has_low;
	ev->has_high = r->range_read && r->has_high;
	ev->low = r->low;
	ev->high = r->high;
	ev->tie = tie;
	MemoryContextSwitchTo(old);
}


/*
 * A row into a 1.1 atom (categories, normal-range bounds): every row is
 * tested on its own.  last/first keep the latest (earliest) usable event,
 * ties by the larger value (categories: no value), and TM_F_TIE when
 * events still tied disagree about the test (SPEC 7.3): the merge applies
 * the same rule (merge_row).
 */
static void
fold_atom_11(TmPlan *plan, TmAtom *a, int ai, TmCodeEntry *e, char *row, TmRow *r,
			 TimestampTz t, bool has_end, TimestampTz end)
{
	TmEvent    *ev = a->ev;
	uint8	   *flag = (uint8 *) (row + a->flag);
	int			res;

	if (ev->measure == TM_M_COUNT)
	{
		if (row_vtest(r, &ev->where, ev->where_is.is, a->where_codes) == 1)
			(*(int64 *) (row + a->payload))++;
		return;
	}
	res = row_vtest(r, &ev->test, ev->test_is.is, a->test_codes);
	if (res < 0)
		return;
	if (ev->measure == TM_M_ANY)
	{
		*flag |= TM_F_SEEN;
		if (plan->evidence)
			plan->evidence[ai].nvalues++;
		if (res == 1)
		{
			*flag |= TM_F_PASS;
			if (plan->evidence && later_evidence(plan, ai, e, t))
			{
				int64		n = plan->evidence[ai].nvalues;

				note_evidence(plan, ai, e, t, has_end, end, r->has_value, r->v, r->v, NULL);
				note_evidence_11(plan, ai, r, false);
				plan->evidence[ai].nvalues = n;
			}
		}
		return;
	}
	/* last, first */
	{
		TmValState *st = (TmValState *) (row + a->payload);
		double		v = ev->test_is.is ? 0 : r->v;

		if (!(*flag & TM_F_SEEN) || fold_replaces(ev->measure, true, t, v, st->n, st->v))
		{
			st->v = v;
			st->n = t;
			*flag = TM_F_SEEN | (res == 1 ? TM_F_PASS : 0);
			if (plan->evidence)
			{
				note_evidence(plan, ai, e, t, has_end, end, r->has_value, r->v, r->v, NULL);
				note_evidence_11(plan, ai, r, false);
			}
		}
		else if (t == st->n && v == st->v)
		{
			if ((res == 1) != ((*flag & TM_F_PASS) != 0))
				*flag |= TM_F_TIE;
			/* the evidence shows the largest category, whatever the order read */
			if (plan->evidence && ev->test_is.is)
			{
				char	   *c = r->cat_int ? psprintf(INT64_FORMAT, r->cat_ival) :
					pnstrdup(r->cat_str, r->cat_len);

				if (plan->evidence[ai].category == NULL ||
					strcmp(c, plan->evidence[ai].category) > 0)
				{
					note_evidence(plan, ai, e, t, has_end, end, r->has_value, r->v, r->v, NULL);
					note_evidence_11(plan, ai, r, false);
				}
			}
		}
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
	TmRow		rc;

	/* MENTIONS atoms read the text (notes.c) */
	if (ps->nmentions > 0)
	{
		tm_notes_fold_row(plan, ps, values, isnull);
		if (ps->nmentions == ps->natoms)
			return;
	}

	/* cheapest filters first: the code map rejects most rows */
	an = ps->code.attnum - 1;
	if (an < 0 || isnull[an])
	{
		/* 1.1: no code: only atoms with codes omitted take the row */
		e = ps->nullcode;
		if (e == NULL || e->natoms == 0)
			return;
	}
	else if (ps->code.typid == INT4OID || ps->code.typid == INT8OID)
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
	/* 1.1 columns, read when an atom first needs them (row_vtest) */
	rc.ps = ps;
	rc.values = values;
	rc.isnull = isnull;
	rc.value_read = rc.cat_read = rc.range_read = false;
	rc.has_value = false;
	rc.v = 0;
	fold_values = values;
	fold_isnull = isnull;

	if (!tm_row_event(plan, ps, values, isnull, &t, &end, &has_end, &pidx))
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
		/* 1.1: filters on attributes; a row failing one is invisible to the atom */
		if (a->nfilters > 0 && !tm_row_filters_pass(a, values, isnull))
			continue;
		/* ... and start by its end (BETWEEN, OVER); an empty window holds none */
		if ((a->has_upper && t > a->upper) || (a->empty && ev->measure != TM_M_NEW))
			continue;
		/* times kept for the end of the call (timed.c); DAYS WHERE VALUE: the passing events */
		if (a->timed >= 0)
		{
			if (!ev->has_where ||
				row_vtest(&rc, &ev->where, ev->where_is.is, a->where_codes) == 1)
				tm_timed_add(plan, a, pidx, t, ps->end_time.attnum ? end : t, e->text);
			continue;
		}
		if (ev->measure == TM_M_NEW)
		{
			/* the earliest start, window ignored; ties: the larger code */
			int64	   *m = (int64 *) (row + a->payload);

			if (!(*flag & TM_F_SEEN) || t < *m)
			{
				*m = t;
				*flag |= TM_F_SEEN;
				if (plan->evidence)
					note_evidence(plan, ai, e, t, has_end, end, false, 0, 0, NULL);
			}
			else if (plan->evidence && t == *m && strcmp(e->text, plan->evidence[ai].code) > 0)
				note_evidence(plan, ai, e, t, has_end, end, false, 0, 0, NULL);
			continue;
		}
		if (a->kind11 != TM_K_PLAIN)
		{
			fold_atom_11(plan, a, ai, e, row, &rc, t, has_end, end);
			continue;
		}

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

/* A hash of a list of (expanded) codes, for code_groups. */
static uint32
codes_hash(List *codes)
{
	uint32		h = list_length(codes);
	ListCell   *lc;

	foreach(lc, codes)
	{
		TmCode	   *c = lfirst(lc);

		h = hash_combine(h, c->is_int ? murmurhash32((uint32) c->ival ^ (uint32) (c->ival >> 32)) :
						 hash_bytes((const unsigned char *) c->str, c->len));
		h = hash_combine(h, c->prefix);
	}
	return h;
}

static bool
codes_equal(List *a, List *b)
{
	ListCell   *la,
			   *lb;

	if (list_length(a) != list_length(b))
		return false;
	forboth(la, a, lb, b)
	{
		TmCode	   *x = lfirst(la);
		TmCode	   *y = lfirst(lb);

		if (x->is_int != y->is_int || x->prefix != y->prefix ||
			(x->is_int ? x->ival != y->ival :
			 (x->len != y->len || memcmp(x->str, y->str, x->len) != 0)))
			return false;
	}
	return true;
}

/*
 * Group the atoms of ps whose code and except lists are equal (trials
 * that say the same codes with other windows or measures): a new code is
 * tested against each group's lists once, not against every atom's.
 */
static void
code_groups(TmPlan *plan, TmPlanSource *ps)
{
	uint32	   *hashes = palloc(sizeof(uint32) * Max(ps->natoms, 1));

	ps->ngroups = 0;
	ps->codegroup = palloc(sizeof(int) * Max(ps->natoms, 1));
	ps->grouprep = palloc(sizeof(int) * Max(ps->natoms, 1));
	ps->groupmatch = palloc(sizeof(bool) * Max(ps->natoms, 1));
	for (int k = 0; k < ps->natoms; k++)
	{
		TmAtom	   *a = &plan->atoms[ps->atoms[k]];
		uint32		h;
		int			g;

		ps->codegroup[k] = -1;
		if (a->ev->phrases != NIL)
			continue;			/* MENTIONS: notes.c reads the text */
		h = hash_combine(codes_hash(a->codes), codes_hash(a->except));
		for (g = 0; g < ps->ngroups; g++)
		{
			TmAtom	   *r = &plan->atoms[ps->grouprep[g]];

			if (hashes[g] == h && codes_equal(r->codes, a->codes) &&
				codes_equal(r->except, a->except))
				break;
		}
		if (g == ps->ngroups)
		{
			hashes[g] = h;
			ps->grouprep[g] = ps->atoms[k];
			ps->ngroups++;
		}
		ps->codegroup[k] = g;
	}
	pfree(hashes);
}

/*
 * The code maps of each source, once per plan (a cached plan keeps them
 * from call to call, plan.c), and (1.1) the atoms that take rows with no
 * code: those whose codes are omitted (SPEC 7.3: every row counts, NULL
 * code included; an except list never matches NULL).
 */
void
tm_codemaps_init(TmPlan *plan)
{
	for (int i = 0; i < plan->nsources; i++)
	{
		TmPlanSource *ps = &plan->sources[i];
		TmCodeEntry *e;

		if (ps->codemap != NULL)
			continue;
		e = palloc0(sizeof(TmCodeEntry));

		ps->codemap = codemap_create(64);
		code_groups(plan, ps);
		e->key = e->text = "";
		e->atoms = palloc(sizeof(int) * Max(ps->natoms, 1));
		for (int k = 0; k < ps->natoms; k++)
		{
			TmAtom	   *a = &plan->atoms[ps->atoms[k]];

			if (a->ev->codes == NIL && a->ev->phrases == NIL && a->ev->measure != TM_M_COVERS)
				e->atoms[e->natoms++] = ps->atoms[k];
		}
		ps->nullcode = e;
	}
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
			case TM_M_DAYS:
			case TM_M_ACTIVE_FOR:
				/* computed by the leader from the merged times (timed.c) */
				break;
			case TM_M_NEW:
				{
					int64	   *mi = (int64 *) (into + a->payload);
					int64		mf = *(const int64 *) (from + a->payload);

					if ((ff & TM_F_SEEN) && (!(*fi & TM_F_SEEN) || mf < *mi))
					{
						*mi = mf;
						*fi |= TM_F_SEEN;
					}
					break;
				}
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

					if (!(ff & TM_F_SEEN))
						break;
					if (a->kind11 != TM_K_PLAIN)
					{
						/* 1.1: the same rule as fold_atom_11, ties included */
						if (!(*fi & TM_F_SEEN) ||
							fold_replaces(a->ev->measure, true, sf->n, sf->v, si->n, si->v))
						{
							*si = *sf;
							*fi = ff;
						}
						else if (sf->n == si->n && sf->v == si->v &&
								 ((ff & TM_F_TIE) || (ff & TM_F_PASS) != (*fi & TM_F_PASS)))
							*fi |= TM_F_TIE;
						break;
					}
					if (fold_replaces(a->ev->measure, *fi & TM_F_SEEN, sf->n, sf->v, si->n, si->v))
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
	tm_state_merge_range(plan, into, from, 0, plan->pats.n);
}

/* Merge the rows of patients lo..hi-1 of a state array into another. */
void
tm_state_merge_range(TmPlan *plan, char *into, const char *from, int lo, int hi)
{
	for (int p = lo; p < hi; p++)
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
