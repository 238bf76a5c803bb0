/*-------------------------------------------------------------------------
 *
 * scan.c
 *	  The executor: reads the patient table and each source table once,
 *	  and folds every source row into the per-patient state of the atoms
 *	  that read that source.
 *
 * A population call scans whole tables; a single-patient call looks the
 * patient up through a btree index on the patient column when there is
 * one (else it filters a sequential scan).  Both feed the same row
 * function, so both give the same answers.
 *
 * For each source a code map, built lazily during the scan, maps each
 * distinct code seen to the atoms whose code list (prefixes, EXCEPT)
 * accepts it, so that a row costs one hash probe however many criteria
 * read the source.  Patient ids map to dense indexes through an
 * open-addressing hash table of flat arrays.
 *
 * IDENTIFICATION
 *	  src/scan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "access/nbtree.h"
#include "access/relscan.h"
#include "access/tableam.h"
#include "catalog/pg_am.h"
#include "catalog/pg_opfamily.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "nodes/tidbitmap.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "storage/procarray.h"
#include "access/transam.h"
#include "utils/timestamp.h"

#include "pool.h"
#include "trialmatch.h"

static Oid	find_id_index(Relation rel, AttrNumber attnum);

/* What part of a relation to read. */
typedef struct TmScanSpec
{
	ParallelTableScanDesc pscan;	/* a share of a parallel scan of a leaf, or all */
	bool		filter_id;		/* keep only rows whose idcol equals id */
	TmColumn	idcol;			/* (through an index on it when a leaf has one) */
	int64		id;
	MemoryContext rowcxt;		/* reset before each row */
} TmScanSpec;

static bool single_patient_spec(TmColumn idcol, int64 id, MemoryContext rowcxt,
								TmScanSpec *spec);
static void scan_relation(TmPlan *plan, TmRelation *r, int leaf, TmScanSpec *spec,
						  TmRowFn fn, void *arg);

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
 * Patient id map
 * ---------------------------------------------------------------
 */
static inline uint32
hash_id(int64 id)
{
	uint64		h = (uint64) id;

	h ^= h >> 33;
	h *= UINT64CONST(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64CONST(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return (uint32) h;
}

int
tm_patient_index(TmPatients *pats, int64 id)
{
	if (pats->dense)
	{
		uint64		off = (uint64) id - (uint64) pats->minid;

		return off <= pats->mask ? pats->slots[off] - 1 : -1;
	}
	for (uint32 i = hash_id(id) & pats->mask; pats->slots[i] != 0; i = (i + 1) & pats->mask)
		if (pats->keys[i] == id)
			return pats->slots[i] - 1;
	return -1;
}

static void
duplicate_patient(TmPlan *plan, int64 id)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("patient id " INT64_FORMAT " appears more than once in table \"%s\"",
					id, RelationGetRelationName(plan->patrel)),
			 errhint("Patient ids must be unique: add a primary key or unique constraint on column \"%s\".",
					 plan->patdef->id_column)));
}

static void
build_patient_map(TmPlan *plan)
{
	TmPatients *pats = &plan->pats;
	uint32		size = 16;
	int64		minid = PG_INT64_MAX;
	int64		maxid = PG_INT64_MIN;

	/*
	 * Ids are usually dense (a sequence): then the map is a plain array
	 * indexed by id - min, one memory access per row.  keys[] stays unused
	 * (one element) and mask is the array's last offset.
	 */
	for (int p = 0; p < pats->n; p++)
	{
		minid = Min(minid, pats->ids[p]);
		maxid = Max(maxid, pats->ids[p]);
	}
	pats->dense = false;
	if (pats->n > 0 && (uint64) maxid - (uint64) minid < (uint64) pats->n * 2 &&
		(uint64) maxid - (uint64) minid < PG_UINT32_MAX)
	{
		uint32		range = (uint32) ((uint64) maxid - (uint64) minid) + 1;

		pats->dense = true;
		pats->minid = minid;
		pats->mask = range - 1;
		pats->keys = palloc0(sizeof(int64));
		pats->slots = MemoryContextAllocExtended(CurrentMemoryContext, sizeof(int32) * range,
												 MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
		for (int p = 0; p < pats->n; p++)
		{
			uint32		off = (uint32) ((uint64) pats->ids[p] - (uint64) minid);

			if ((p & 0xFFFF) == 0)
				CHECK_FOR_INTERRUPTS();
			if (pats->slots[off] != 0)
				duplicate_patient(plan, pats->ids[p]);
			pats->slots[off] = p + 1;
		}
		return;
	}

	while (size < (uint32) pats->n * 2)
		size *= 2;
	pats->mask = size - 1;
	pats->keys = MemoryContextAllocExtended(CurrentMemoryContext, sizeof(int64) * size,
											MCXT_ALLOC_HUGE);
	pats->slots = MemoryContextAllocExtended(CurrentMemoryContext, sizeof(int32) * size,
											 MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	for (int p = 0; p < pats->n; p++)
	{
		int64		id = pats->ids[p];
		uint32		i;

		if ((p & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		for (i = hash_id(id) & pats->mask; pats->slots[i] != 0; i = (i + 1) & pats->mask)
			if (pats->keys[i] == id)
				duplicate_patient(plan, id);
		pats->keys[i] = id;
		pats->slots[i] = p + 1;
	}
}

/* ---------------------------------------------------------------
 * Reading columns
 * ---------------------------------------------------------------
 */
static inline int64
id_value(Datum d, Oid typid)
{
	return typid == INT4OID ? (int64) DatumGetInt32(d) : DatumGetInt64(d);
}

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
		if (single_patient_spec(plan->concept_id, concept_id, plan->lookupcxt, &spec))
			scan_relation(plan, &plan->conceptread, -1, &spec, concept_row, e);
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
	if (id_value(values[an], ps->unit.typid) == 0)
		return NULL;
	return unit_concept_code(plan, id_value(values[an], ps->unit.typid));
}

static void
process_row(TmPlan *plan, TmPlanSource *ps, Datum *values, bool *isnull)
{
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

	/* cheapest filters first: the code map rejects most rows */
	an = ps->code.attnum - 1;
	if (isnull[an])
		return;
	if (ps->code.typid == INT4OID || ps->code.typid == INT8OID)
	{
		int64		k = id_value(values[an], ps->code.typid);

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
	pidx = tm_patient_index(&plan->pats, id_value(values[an], ps->patient.typid));
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
					bool		take;

					if (!(*flag & TM_F_SEEN))
						take = true;
					else if (t == st->n)
						take = cv > st->v;
					else
						take = ev->measure == TM_M_LAST ? t > st->n : t < st->n;
					if (take)
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

					if (!(*flag & TM_F_SEEN) ||
						(ev->measure == TM_M_MIN ? cv < *m : cv > *m))
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

/* ---------------------------------------------------------------
 * Scans
 * ---------------------------------------------------------------
 */

/* A valid, non-partial btree index whose first column is attnum (integers). */
static Oid
find_id_index(Relation rel, AttrNumber attnum)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			found = InvalidOid;

	foreach(lc, indexes)
	{
		Relation	idx = index_open(lfirst_oid(lc), AccessShareLock);

		if (idx->rd_rel->relam == BTREE_AM_OID &&
			idx->rd_index->indisvalid &&
			(!idx->rd_index->indcheckxmin ||
			 TransactionIdPrecedes(HeapTupleHeaderGetXmin(idx->rd_indextuple->t_data),
								   TransactionXmin)) &&
			idx->rd_index->indkey.values[0] == attnum &&
			idx->rd_opfamily[0] == INTEGER_BTREE_FAM_OID &&
			heap_attisnull(idx->rd_indextuple, Anum_pg_index_indpred, NULL))
			found = RelationGetRelid(idx);
		index_close(idx, AccessShareLock);
		if (OidIsValid(found))
			break;
	}
	list_free(indexes);
	return found;
}

/* The rows of one patient (or concept): filtered by id, through an index when a leaf has one. */
static bool
single_patient_spec(TmColumn idcol, int64 id, MemoryContext rowcxt, TmScanSpec *spec)
{
	memset(spec, 0, sizeof(TmScanSpec));
	spec->filter_id = true;
	spec->idcol = idcol;
	spec->id = id;
	spec->rowcxt = rowcxt;
	/* an id outside int4 range cannot be in an int4 column */
	if (idcol.typid == INT4OID && (id < PG_INT32_MIN || id > PG_INT32_MAX))
		return false;
	return true;
}

/*
 * Read the part of one leaf that spec describes, calling fn for each row,
 * in the registered relation's numbering.
 */
static void
scan_leaf(TmPlan *plan, TmRelation *r, TmLeaf *leaf, TmScanSpec *spec, TmRowFn fn, void *arg)
{
	Relation	rel = leaf->rel;
	Snapshot	snapshot = GetActiveSnapshot();
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	TableScanDesc hscan = NULL;
	IndexScanDesc iscan = NULL;
	Relation	index = NULL;
	Oid			indexoid = InvalidOid;
	MemoryContext old;

	if (spec->filter_id)
		indexoid = find_id_index(rel, tm_leaf_attnum(leaf, spec->idcol.attnum));
	if (OidIsValid(indexoid))
	{
		ScanKeyData key;

		if (spec->idcol.typid == INT4OID)
			ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum((int32) spec->id));
		else
			ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(spec->id));
		index = index_open(indexoid, AccessShareLock);
		iscan = index_beginscan(rel, index, snapshot, 1, 0);
		index_rescan(iscan, &key, 1, NULL, 0);
	}
	else if (spec->pscan)
		hscan = table_beginscan_parallel(rel, spec->pscan);
	else
		hscan = table_beginscan(rel, snapshot, 0, NULL);

	for (;;)
	{
		bool		more;
		Datum	   *values;
		bool	   *isnull;

		CHECK_FOR_INTERRUPTS();
		if (iscan)
			more = index_getnext_slot(iscan, ForwardScanDirection, slot);
		else
			more = table_scan_getnextslot(hscan, ForwardScanDirection, slot);
		if (!more)
			break;
		tm_leaf_row(r, leaf, slot, &values, &isnull);
		if (spec->filter_id &&
			(isnull[spec->idcol.attnum - 1] ||
			 id_value(values[spec->idcol.attnum - 1], spec->idcol.typid) != spec->id))
			continue;
		MemoryContextReset(spec->rowcxt);
		old = MemoryContextSwitchTo(spec->rowcxt);
		fn(plan, arg, values, isnull);
		MemoryContextSwitchTo(old);
	}

	if (iscan)
	{
		index_endscan(iscan);
		index_close(index, AccessShareLock);
	}
	else
		table_endscan(hscan);
	ExecDropSingleTupleTableSlot(slot);
}

/*
 * Read the part of a registered relation that spec describes: one leaf
 * (leaf >= 0), every leaf, or the whole relation through the executor.
 */
static void
scan_relation(TmPlan *plan, TmRelation *r, int leaf, TmScanSpec *spec, TmRowFn fn, void *arg)
{
	if (r->executor)
	{
		Assert(spec->pscan == NULL);
		tm_relation_execute(plan, r, spec->filter_id ? &spec->idcol : NULL, spec->id,
							spec->rowcxt, fn, arg);
		return;
	}
	if (leaf >= 0)
	{
		scan_leaf(plan, r, &r->leaves[leaf], spec, fn, arg);
		return;
	}
	for (int i = 0; i < r->nleaves; i++)
		scan_leaf(plan, r, &r->leaves[i], spec, fn, arg);
}

static int64
int_value(Datum d, Oid typid)
{
	return typid == INT2OID ? (int64) DatumGetInt16(d) : id_value(d, typid);
}

/*
 * Birth from year, month and day columns (OMOP), any of month and day
 * possibly NULL: keep the earliest possible date and how much is known.
 * An impossible date (month 13, February 30) keeps only what is valid.
 */
static void
partial_birth(TmPlan *plan, int p, Datum *values, bool *isnull)
{
	TmPatients *pats = &plan->pats;
	int64		y = int_value(values[plan->pat_byear.attnum - 1], plan->pat_byear.typid);
	int64		m = 0,
				d = 0;

	if (y < 1 || y > 9999)
		return;
	if (plan->pat_bmonth.attnum && !isnull[plan->pat_bmonth.attnum - 1])
		m = int_value(values[plan->pat_bmonth.attnum - 1], plan->pat_bmonth.typid);
	if (m >= 1 && m <= 12 && plan->pat_bday.attnum && !isnull[plan->pat_bday.attnum - 1])
		d = int_value(values[plan->pat_bday.attnum - 1], plan->pat_bday.typid);
	if (m < 1 || m > 12)
	{
		pats->birth[p] = date2j((int) y, 1, 1) - POSTGRES_EPOCH_JDATE;
		pats->birthprec[p] = TM_BIRTH_YEAR;
	}
	else if (d < 1 || d > day_tab[isleap(y)][m - 1])
	{
		pats->birth[p] = date2j((int) y, (int) m, 1) - POSTGRES_EPOCH_JDATE;
		pats->birthprec[p] = TM_BIRTH_MONTH;
	}
	else
	{
		pats->birth[p] = date2j((int) y, (int) m, (int) d) - POSTGRES_EPOCH_JDATE;
		pats->birthprec[p] = TM_BIRTH_DAY;
	}
}

static void
patient_row(TmPlan *plan, void *arg, Datum *values, bool *isnull)
{
	TmPatients *pats = &plan->pats;
	int		   *cap = arg;
	int			p;

	if (isnull[plan->pat_id.attnum - 1])
		return;
	if (pats->n == *cap)
	{
		MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(pats->ids));

		*cap *= 2;
		pats->ids = repalloc_huge(pats->ids, sizeof(int64) * *cap);
		pats->birth = repalloc_huge(pats->birth, sizeof(int32) * *cap);
		pats->birthprec = repalloc_huge(pats->birthprec, sizeof(uint8) * *cap);
		pats->sex = repalloc_huge(pats->sex, sizeof(int16) * *cap);
		MemoryContextSwitchTo(old);
	}
	p = pats->n++;
	pats->ids[p] = id_value(values[plan->pat_id.attnum - 1], plan->pat_id.typid);
	pats->birth[p] = DATEVAL_NOBEGIN;
	if (plan->pat_birth.attnum && !isnull[plan->pat_birth.attnum - 1])
	{
		Datum		d = values[plan->pat_birth.attnum - 1];

		switch (plan->pat_birth.typid)
		{
			case DATEOID:
				pats->birth[p] = DatumGetDateADT(d);
				break;
			case TIMESTAMPOID:
				pats->birth[p] = DatumGetDateADT(DirectFunctionCall1(timestamp_date, d));
				break;
			default:
				pats->birth[p] = DatumGetDateADT(DirectFunctionCall1(timestamptz_date, d));
				break;
		}
		/* an infinite birth date cannot give an age */
		if (DATE_NOT_FINITE(pats->birth[p]))
			pats->birth[p] = DATEVAL_NOBEGIN;
	}
	pats->birthprec[p] = TM_BIRTH_DAY;
	if (DATE_IS_NOBEGIN(pats->birth[p]) && plan->pat_byear.attnum &&
		!isnull[plan->pat_byear.attnum - 1])
		partial_birth(plan, p, values, isnull);

	pats->sex[p] = -1;
	if ((plan->pat_sex.attnum && !isnull[plan->pat_sex.attnum - 1]) ||
		(plan->pat_gender.attnum && !isnull[plan->pat_gender.attnum - 1]))
	{
		char	   *s;
		ListCell   *lc;
		int			k = 0;

		if (plan->pat_sex.attnum)
			s = TextDatumGetCString(values[plan->pat_sex.attnum - 1]);
		else
		{
			/* OMOP gender concepts: 8532 female, 8507 male, others unknown */
			int64		g = id_value(values[plan->pat_gender.attnum - 1], plan->pat_gender.typid);

			if (g == 8532)
				s = "F";
			else if (g == 8507)
				s = "M";
			else
				return;
		}

		foreach(lc, pats->sexdict)
		{
			if (strcmp(lfirst(lc), s) == 0)
				break;
			k++;
		}
		if (lc == NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(pats->ids));

			if (k >= PG_INT16_MAX)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("too many distinct values in sex column \"%s\"",
								plan->patdef->sex_column)));
			pats->sexdict = lappend(pats->sexdict, pstrdup(s));
			MemoryContextSwitchTo(old);
		}
		pats->sex[p] = k;
	}
}

static void
source_row(TmPlan *plan, void *arg, Datum *values, bool *isnull)
{
	process_row(plan, (TmPlanSource *) arg, values, isnull);
}

/* Read the patients (all, or the one with this id) and build the id map. */
void
tm_scan_patients(TmPlan *plan, bool single, int64 id)
{
	int			cap = single ? 4 : 1024;
	TmScanSpec	spec;

	if (!single)
	{
		double		est = plan->patrel->rd_rel->reltuples;

		if (est > cap && est < 100000000)
			cap = (int) est + 1;
	}
	plan->pats.n = 0;
	plan->pats.ids = MemoryContextAllocExtended(CurrentMemoryContext, sizeof(int64) * cap, MCXT_ALLOC_HUGE);
	plan->pats.birth = MemoryContextAllocExtended(CurrentMemoryContext, sizeof(int32) * cap, MCXT_ALLOC_HUGE);
	plan->pats.birthprec = MemoryContextAllocExtended(CurrentMemoryContext, sizeof(uint8) * cap, MCXT_ALLOC_HUGE);
	plan->pats.sex = MemoryContextAllocExtended(CurrentMemoryContext, sizeof(int16) * cap, MCXT_ALLOC_HUGE);
	plan->pats.sexdict = NIL;
	if (single)
	{
		if (single_patient_spec(plan->pat_id, id, plan->rowcxt, &spec))
			scan_relation(plan, &plan->patread, -1, &spec, patient_row, &cap);
	}
	else
	{
		memset(&spec, 0, sizeof(spec));
		spec.rowcxt = plan->rowcxt;
		scan_relation(plan, &plan->patread, -1, &spec, patient_row, &cap);
	}
	build_patient_map(plan);
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

/*
 * Fold one source (all of it, one patient's rows, or a leaf or a parallel
 * share of a leaf) into plan->state.
 */
void
tm_scan_source(TmPlan *plan, int srcidx, int leaf, bool single, int64 id,
			   ParallelTableScanDesc pscan)
{
	TmPlanSource *ps = &plan->sources[srcidx];
	TmScanSpec	spec;

	if (single)
	{
		if (!single_patient_spec(ps->patient, id, plan->rowcxt, &spec))
			return;
	}
	else
	{
		memset(&spec, 0, sizeof(spec));
		spec.pscan = pscan;
		spec.rowcxt = plan->rowcxt;
	}
	scan_relation(plan, &ps->read, leaf, &spec, source_row, ps);
}

/*
 * Fold index ranges (indexpath.c) of a source into plan->state: the TIDs of
 * all the ranges go into one bitmap, and the heap is then read in block
 * order, each block once, as a bitmap heap scan does.  A lossy bitmap only
 * means more rows to filter: process_row checks every row's code and time.
 */
void
tm_scan_units(TmPlan *plan, int srcidx, int leafidx, int first, int count)
{
	TmPlanSource *ps = &plan->sources[srcidx];
	TmLeaf	   *leaf = &ps->read.leaves[leafidx];
	Snapshot	snapshot = GetActiveSnapshot();
	Relation	index = index_open(leaf->indexoid, AccessShareLock);
	TIDBitmap  *tbm = tbm_create(work_mem * 1024L, NULL);
	TableScanDesc hscan;
	TBMIterator *it;
	TBMIterateResult *tbmres;
	TupleTableSlot *slot;

	for (int u = first; u < first + count; u++)
	{
		ScanKeyData keys[3];
		int			nkeys = tm_index_unit_keys(plan, srcidx, leafidx, u, index, keys);
		IndexScanDesc iscan;

		if (nkeys <= 0)
			continue;
		iscan = index_beginscan_bitmap(index, snapshot, nkeys);
		index_rescan(iscan, keys, nkeys, NULL, 0);
		(void) index_getbitmap(iscan, tbm);
		index_endscan(iscan);
		CHECK_FOR_INTERRUPTS();
	}
	index_close(index, AccessShareLock);

	slot = table_slot_create(leaf->rel, NULL);
	hscan = table_beginscan_bm(leaf->rel, snapshot, 0, NULL);
	it = tbm_begin_iterate(tbm);
	while ((tbmres = tbm_iterate(it)) != NULL)
	{
		bool		lossy;

		CHECK_FOR_INTERRUPTS();
		/* read before next_block, which may change it */
		lossy = tbmres->ntuples < 0;
		if (!table_scan_bitmap_next_block(hscan, tbmres))
			continue;
		while (table_scan_bitmap_next_tuple(hscan, tbmres, slot))
		{
			MemoryContext old;
			Datum	   *values;
			bool	   *isnull;

			tm_leaf_row(&ps->read, leaf, slot, &values, &isnull);

			/*
			 * A lossy page returns every row on it: keep only those of this
			 * call's units, or parallel participants reading other units
			 * would count a row twice.
			 */
			if (lossy && !tm_index_units_cover(plan, srcidx, first, count, values, isnull))
				continue;
			MemoryContextReset(plan->rowcxt);
			old = MemoryContextSwitchTo(plan->rowcxt);
			process_row(plan, ps, values, isnull);
			MemoryContextSwitchTo(old);
		}
	}
	tbm_end_iterate(it);
	elog(DEBUG2, "trialmatch: index ranges %d..%d of %s (\"%s\") read as a bitmap",
		 first, first + count - 1, ps->what, RelationGetRelationName(leaf->rel));
	table_endscan(hscan);
	tbm_free(tbm);
	ExecDropSingleTupleTableSlot(slot);
}

/*
 * Open what each relation of the call is read through (relation.c): the
 * leaves of partitioned and inheritance trees, skipping partitions outside
 * the windows, or the executor.
 */
void
tm_open_leaves(TmPlan *plan)
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

/*
 * Evaluate every source for the whole patient table: in parallel when the
 * sources are large enough and workers are allowed, else here alone.
 * Sources read through the executor (views, foreign tables) are read here
 * first, before any parallel mode.
 */
void
tm_run_population(TmPlan *plan)
{
	int			nworkers;

	plan->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "trialmatch row",
										 ALLOCSET_DEFAULT_SIZES);
	tm_open_leaves(plan);
	tm_progress_report("reading patients", 0, 0);
	tm_scan_patients(plan, false, 0);
	tm_progress_report("reading sources", 0, plan->pats.n);
	tm_choose_index_paths(plan);
	tm_state_alloc(plan);
	for (int i = 0; i < plan->nsources; i++)
		if (plan->sources[i].read.executor)
			tm_scan_source(plan, i, -1, false, 0, NULL);
	nworkers = tm_parallel_workers_for(plan);
	if (nworkers > 0)
	{
		tm_parallel_scan_sources(plan, plan->cat, nworkers);
		return;
	}
	for (int i = 0; i < plan->nsources; i++)
	{
		TmPlanSource *ps = &plan->sources[i];

		for (int l = 0; l < ps->read.nleaves; l++)
		{
			if (!OidIsValid(ps->read.leaves[l].indexoid))
				tm_scan_source(plan, i, l, false, 0, NULL);
			else
				tm_scan_units(plan, i, l, 0, ps->nunits);
		}
	}
	plan->launched = 0;
	plan->planned = 0;
}

/* Evaluate every source for one patient; false if there is no such patient. */
bool
tm_run_single(TmPlan *plan, int64 patient_id)
{
	plan->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "trialmatch row",
										 ALLOCSET_DEFAULT_SIZES);
	tm_open_leaves(plan);
	tm_scan_patients(plan, true, patient_id);
	if (plan->pats.n == 0)
		return false;
	tm_state_alloc(plan);
	plan->evidence = palloc0(sizeof(TmEvidence) * Max(plan->natoms, 1));
	for (int i = 0; i < plan->nsources; i++)
		tm_scan_source(plan, i, -1, true, patient_id, NULL);
	return true;
}
