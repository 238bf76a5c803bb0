/*-------------------------------------------------------------------------
 *
 * rows.c
 *	  The output rows of a population call (match_patients, match_all),
 *	  kept compact from evaluation until they are returned one per call.
 *
 * Patients share few (status, failed, unknown) combinations, so a trial's
 * rows are kept as the column values of each combination (a template) and,
 * per patient, the number of its template: 2 or 4 bytes where a stored row
 * takes some 200.  A coded row is returned as a read-only expanded record
 * (utils/expandedrecord.h) whose values are set in place to the template's
 * and the patient's id at each call: nothing is formed or copied per row,
 * and the caller's FieldSelects read the values without deforming a tuple.
 * That record is valid until the next call, as a value-per-call SRF's
 * result must be; whoever keeps it longer copies it (datumCopy, a slot's
 * materialisation), which flattens it into an ordinary composite datum.
 * Rows that cannot be coded (a trial of more than 32 criteria) go to a
 * tuplestore, bounded by work_mem and spilled beyond it, and are returned
 * from there in their turn, as formed tuples.
 *
 * Every row is evaluated before the first is returned: a call's plan is
 * closed by then, so the rows hold no catalog entry, relation or worker,
 * and two calls whose rows are read in turns (a join of two calls) do not
 * disturb each other.
 *
 * The rows live in the memory context current at tm_rows_create, which
 * must outlive them (the SRF's multi_call_memory_ctx).
 *
 * IDENTIFICATION
 *	  src/rows.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/datum.h"
#include "utils/expandedrecord.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "trialmatch.h"

/* A run of consecutive rows: coded (one template per patient) or spilled. */
typedef struct RowSegment
{
	int64		n;				/* rows */
	int			base;			/* first template of a coded segment */
	int			width;			/* code bytes (2 or 4); 0: from the tuplestore */
	void	   *codes;			/* per patient: template number - base */
} RowSegment;

struct TmRows
{
	MemoryContext cxt;
	TupleDesc	desc;			/* blessed */
	int			idatt;			/* attribute number - 1 of patient_id */
	int64	   *ids;			/* patient ids, in the patient table's order */
	int			nids;
	Datum	   *templates;		/* natts values per template (patient_id 0) */
	int			ntemplates;
	int			templatecap;
	RowSegment *segs;
	int			nsegs;
	int			segcap;
	ExpandedRecordHeader *erh;	/* the coded row returned; NULL until the first */
	Tuplestorestate *spill;
	TupleTableSlot *slot;
	int			seg;			/* reading: segment and row within it */
	int64		pos;
};

/* Rows of desc (patient_id at attribute idatt + 1), in CurrentMemoryContext */
TmRows *
tm_rows_create(TupleDesc desc, int idatt)
{
	TmRows	   *rows = palloc0(sizeof(TmRows));

	rows->cxt = CurrentMemoryContext;
	rows->desc = BlessTupleDesc(CreateTupleDescCopy(desc));
	rows->idatt = idatt;
	rows->templatecap = 16;
	rows->templates = palloc(sizeof(Datum) * rows->desc->natts * rows->templatecap);
	rows->segcap = 4;
	rows->segs = palloc(sizeof(RowSegment) * rows->segcap);
	return rows;
}

/* The patients of every coded segment to come: a copy of ids[0..n) */
void
tm_rows_set_ids(TmRows *rows, const int64 *ids, int n)
{
	rows->ids = MemoryContextAllocHuge(rows->cxt, sizeof(int64) * Max(n, 1));
	memcpy(rows->ids, ids, sizeof(int64) * n);
	rows->nids = n;
}

static RowSegment *
new_segment(TmRows *rows)
{
	RowSegment *s;

	if (rows->nsegs == rows->segcap)
	{
		rows->segcap *= 2;
		rows->segs = repalloc(rows->segs, sizeof(RowSegment) * rows->segcap);
	}
	s = &rows->segs[rows->nsegs++];
	memset(s, 0, sizeof(RowSegment));
	s->base = rows->ntemplates;
	return s;
}

/*
 * A coded segment of one row per patient: the returned array, of width
 * (2 or 4) bytes per patient, is for the caller to fill with each patient's
 * template number as tm_rows_template gives it.
 */
void *
tm_rows_begin_coded(TmRows *rows, int width)
{
	RowSegment *s;

	Assert(width == 2 || width == 4);
	s = new_segment(rows);
	s->n = rows->nids;
	s->width = width;
	s->codes = MemoryContextAllocHuge(rows->cxt, (Size) width * Max(rows->nids, 1));
	return s->codes;
}

/*
 * A template of the current coded segment from values (no NULLs; the
 * patient id among them is written in when a row is returned), copied
 * into the rows' context; its number.
 */
int
tm_rows_template(TmRows *rows, Datum *values)
{
	MemoryContext old = MemoryContextSwitchTo(rows->cxt);
	RowSegment *s = &rows->segs[rows->nsegs - 1];
	int			natts = rows->desc->natts;
	Datum	   *t;

	Assert(rows->nsegs > 0 && s->width > 0);
	if (rows->ntemplates == rows->templatecap)
	{
		rows->templatecap *= 2;
		rows->templates = repalloc_huge(rows->templates,
										sizeof(Datum) * natts * rows->templatecap);
	}
	t = &rows->templates[(Size) rows->ntemplates * natts];
	for (int i = 0; i < natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(rows->desc, i);

		if (i == rows->idatt)
			t[i] = Int64GetDatum(0);
		else if (att->attlen == -1)
			t[i] = PointerGetDatum(PG_DETOAST_DATUM_COPY(values[i]));
		else
			t[i] = datumCopy(values[i], att->attbyval, att->attlen);
	}
	MemoryContextSwitchTo(old);
	return rows->ntemplates++ - s->base;
}

/* One row that is not coded, stored as it is (after the rows before it). */
void
tm_rows_put(TmRows *rows, Datum *values, bool *nulls)
{
	MemoryContext old = MemoryContextSwitchTo(rows->cxt);
	RowSegment *s = rows->nsegs > 0 ? &rows->segs[rows->nsegs - 1] : NULL;

	if (rows->spill == NULL)
	{
		rows->spill = tuplestore_begin_heap(false, false, work_mem);
		rows->slot = MakeSingleTupleTableSlot(rows->desc, &TTSOpsMinimalTuple);
	}
	if (s == NULL || s->width != 0)
		s = new_segment(rows);
	tuplestore_putvalues(rows->spill, rows->desc, values, nulls);
	s->n++;
	MemoryContextSwitchTo(old);
}

/* The record that coded rows are returned in, made at the first */
static ExpandedRecordHeader *
coded_record(TmRows *rows)
{
	if (rows->erh == NULL)
	{
		ExpandedRecordHeader *erh = make_expanded_record_from_tupdesc(rows->desc, rows->cxt);

		/* an empty record deconstructs to a row of NULLs: dvalues valid */
		deconstruct_expanded_record(erh);
		memset(erh->dnulls, false, sizeof(bool) * erh->nfields);
		rows->erh = erh;
	}
	return rows->erh;
}

/*
 * The next row as a composite datum of the blessed row type, valid until
 * the next call; false when every row has been returned.
 */
bool
tm_rows_next(TmRows *rows, Datum *row)
{
	while (rows->seg < rows->nsegs)
	{
		RowSegment *s = &rows->segs[rows->seg];

		if (rows->pos < s->n)
		{
			int64		p = rows->pos++;

			if (s->width == 0)
			{
				/*
				 * A row read back from a spilled tuplestore is allocated in
				 * the current context and freed by the slot at the next
				 * read: that must be the rows' context, not the caller's,
				 * which is reset between calls.
				 */
				MemoryContext old = MemoryContextSwitchTo(rows->cxt);
				bool		found = tuplestore_gettupleslot(rows->spill, true, false, rows->slot);

				MemoryContextSwitchTo(old);
				if (!found)
					elog(ERROR, "trialmatch: stored rows ended early");
				*row = ExecFetchSlotHeapTupleDatum(rows->slot);
			}
			else
			{
				ExpandedRecordHeader *erh = coded_record(rows);
				int			natts = erh->nfields;
				int			t = s->base + (s->width == 2 ? ((uint16 *) s->codes)[p]
										   : (int) ((uint32 *) s->codes)[p]);

				/*
				 * The values only, in place: the record owns none of them
				 * (no ER_FLAG_DVALUES_ALLOCED) and has no flat form
				 * (ER_FLAG_FVALUE_VALID is never set), so the size of its
				 * flat form is all that must be forgotten.
				 */
				memcpy(erh->dvalues, &rows->templates[(Size) t * natts], sizeof(Datum) * natts);
				erh->dvalues[rows->idatt] = Int64GetDatum(rows->ids[p]);
				erh->flat_size = 0;
				*row = EOHPGetRODatum(&erh->hdr);
			}
			return true;
		}
		rows->seg++;
		rows->pos = 0;
	}
	return false;
}

/*
 * Ready the rows to be read again from the first; false when they cannot
 * be (some were spilled to a tuplestore, which tm_rows_end then releases).
 */
bool
tm_rows_rewind(TmRows *rows)
{
	if (rows->spill)
		return false;
	rows->seg = 0;
	rows->pos = 0;
	return true;
}

/*
 * Release what the rows hold beyond memory (a spilled tuplestore's
 * temporary file), when they have all been read or the query ends first.
 */
void
tm_rows_end(TmRows *rows)
{
	if (rows->spill)
	{
		ExecDropSingleTupleTableSlot(rows->slot);
		tuplestore_end(rows->spill);
		rows->spill = NULL;
		rows->slot = NULL;
	}
	rows->seg = rows->nsegs;
}

/*
 * Every row into the tuplestore of a materialising SRF: match_patients as
 * the 1.0 script defines it, until ALTER EXTENSION UPDATE.
 */
void
tm_rows_materialize(TmRows *rows, Tuplestorestate *ts)
{
	MemoryContext rowcxt = AllocSetContextCreate(CurrentMemoryContext, "trialmatch output row",
												 ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(rowcxt);
	Datum		row;
	int64		n = 0;

	while (tm_rows_next(rows, &row))
	{
		if ((++n & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(row)))
		{
			ExpandedRecordHeader *erh = (ExpandedRecordHeader *) DatumGetEOHP(row);

			tuplestore_putvalues(ts, rows->desc, erh->dvalues, erh->dnulls);
		}
		else
		{
			HeapTupleData tup;

			tup.t_data = DatumGetHeapTupleHeader(row);
			tup.t_len = HeapTupleHeaderGetDatumLength(tup.t_data);
			ItemPointerSetInvalid(&tup.t_self);
			tup.t_tableOid = InvalidOid;
			tuplestore_puttuple(ts, &tup);
		}
		MemoryContextReset(rowcxt);
	}
	tm_rows_end(rows);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(rowcxt);
}
