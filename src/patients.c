/*-------------------------------------------------------------------------
 *
 * patients.c
 *	  The patients of a call: reads the patient table (all of it, or one
 *	  patient) into flat arrays of ids, birth dates and sexes, and maps
 *	  patient ids to dense indexes: a dense array when the ids are nearly
 *	  sequential, else an open-addressing hash table.
 *
 * IDENTIFICATION
 *	  src/patients.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"


#include "access/nbtree.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/memutils.h"

#include "trialmatch.h"


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

		if (pats->identity)
			return off <= pats->mask ? (int) off : -1;
		return off <= pats->mask ? pats->slots[off] - 1 : -1;
	}
	for (uint32 i = hash_id(id) & pats->mask; pats->slots[i] != 0; i = (i + 1) & pats->mask)
		if (pats->keys[i] == id)
			return pats->slots[i] - 1;
	return -1;
}

/* A hint that id will be looked up soon: fetch its map entry meanwhile */
void
tm_patient_prefetch(TmPatients *pats, int64 id)
{
#if defined(__GNUC__) || defined(__clang__)
	if (pats->identity)
		return;
	if (pats->dense)
	{
		uint64		off = (uint64) id - (uint64) pats->minid;

		if (off <= pats->mask)
			__builtin_prefetch(&pats->slots[off], 0, 3);
		return;
	}
	if (pats->mask > 0)
	{
		uint32		i = hash_id(id) & pats->mask;

		__builtin_prefetch(&pats->keys[i], 0, 3);
		__builtin_prefetch(&pats->slots[i], 0, 3);
	}
#endif
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
	pats->identity = false;
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

		/*
		 * A patient table stored in id order without gaps (1..n loaded in
		 * order, as a sequence gives them) maps id to index by a
		 * subtraction: rows that arrive in time order, random in patient,
		 * then miss the cache once per row, on the patient's state, not
		 * twice.
		 */
		pats->identity = (range == (uint32) pats->n);
		for (int p = 0; pats->identity && p < pats->n; p++)
			pats->identity = (pats->slots[p] == p + 1);
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

static int64
int_value(Datum d, Oid typid)
{
	return typid == INT2OID ? (int64) DatumGetInt16(d) : tm_id_value(d, typid);
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
	pats->ids[p] = tm_id_value(values[plan->pat_id.attnum - 1], plan->pat_id.typid);
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
		const char *s;
		int			len;
		ListCell   *lc;
		int			k = 0;

		if (plan->pat_sex.attnum)
		{
			/* compared in place: no copy per patient */
			text	   *t = DatumGetTextPP(values[plan->pat_sex.attnum - 1]);

			s = VARDATA_ANY(t);
			len = VARSIZE_ANY_EXHDR(t);
		}
		else
		{
			/* OMOP gender concepts: 8532 female, 8507 male, others unknown */
			int64		g = tm_id_value(values[plan->pat_gender.attnum - 1], plan->pat_gender.typid);

			if (g == 8532)
				s = "F";
			else if (g == 8507)
				s = "M";
			else
				return;
			len = 1;
		}

		foreach(lc, pats->sexdict)
		{
			const char *e = lfirst(lc);

			if (strncmp(e, s, len) == 0 && e[len] == '\0')
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
			pats->sexdict = lappend(pats->sexdict, pnstrdup(s, len));
			MemoryContextSwitchTo(old);
		}
		pats->sex[p] = k;
	}
}

/* Read the patients (all, or the one with this id) and build the id map. */
void
tm_patients_read(TmPlan *plan, bool single, int64 id)
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
		if (tm_read_spec_one(plan->pat_id, id, plan->rowcxt, &spec))
			tm_read_relation(plan, &plan->patread, -1, &spec, patient_row, &cap);
	}
	else
	{
		memset(&spec, 0, sizeof(spec));
		spec.rowcxt = plan->rowcxt;
		tm_read_relation(plan, &plan->patread, -1, &spec, patient_row, &cap);
	}
	build_patient_map(plan);
}
