/*-------------------------------------------------------------------------
 *
 * indexonly.c
 *	  Index-only reads of index ranges (indexpath.c): when a btree index
 *	  holds every column the fold reads from a source (as key or INCLUDE
 *	  columns, e.g. labs (code, taken_at) INCLUDE (patient_id, value, unit)),
 *	  a range's rows are taken from the index tuples, and the heap is
 *	  visited only for pages the visibility map does not mark all-visible,
 *	  to check the row is visible to the snapshot, as an index-only scan
 *	  does (nodeIndexonlyscan.c).  The same for one patient's rows, through
 *	  an index led by the patient column that holds every column read, e.g.
 *	  labs (patient_id) INCLUDE (code, taken_at, value, unit).
 *	  trialmatch.index_only_reads turns both off.
 *
 *	  A range's rows arrive in index order (code, time), so in patient
 *	  order at random: each row's fold touches its patient's state where
 *	  the row before left another's, a cache miss (two, when the id map is
 *	  read).  The rows are therefore folded a few behind the index: an
 *	  entry is copied into a small ring and its id's map entry prefetched;
 *	  IO_AHEAD entries later its patient's state is prefetched, and IO_RING
 *	  entries later it is folded, in the index's order still.
 *
 * IDENTIFICATION
 *	  src/indexonly.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/tableam.h"
#include "access/visibilitymap.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/predicate.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/fmgroids.h"
#include "utils/snapmgr.h"

#include "trialmatch.h"

bool		tm_index_only_reads = true;

/*
 * Does the index return the leaf's column for registered attribute regatt
 * (a plain column of the heap column's own type)?  Records it in map.
 */
static bool
index_covers_column(TmLeaf *leaf, Relation index, TupleDesc heapdesc, AttrNumber regatt,
					AttrNumber *map, AttrNumber maxatt)
{
	AttrNumber	att = tm_leaf_attnum(leaf, regatt);
	int			found = 0;

	if (att <= 0)
		return false;
	for (int i = 0; i < index->rd_index->indnatts && found == 0; i++)
		if (index->rd_index->indkey.values[i] == att &&
			TupleDescAttr(index->rd_att, i)->atttypid ==
			TupleDescAttr(heapdesc, att - 1)->atttypid &&
			index_can_return(index, i + 1))
			found = i + 1;
	if (found == 0)
		return false;
	if (map)
	{
		Assert(regatt <= maxatt);
		map[regatt - 1] = found;
	}
	return true;
}

/*
 * Are a leaf's index ranges read from this index alone?  With
 * trialmatch.index_only_reads, when it holds every column read
 * (tm_index_covers, which fills map when not NULL).
 */
bool
tm_index_only(TmPlanSource *ps, TmLeaf *leaf, Relation index, AttrNumber *map)
{
	return tm_index_only_reads && tm_index_covers(ps, leaf, index, map);
}

/*
 * Can this index give every column the fold reads from a leaf of the
 * source (registered columns and attribute filters)?  If so, and map is
 * not NULL, map[i] is the index column (1-based) holding registered
 * attribute i + 1, or 0 for attributes not read.
 */
bool
tm_index_covers(TmPlanSource *ps, TmLeaf *leaf, Relation index, AttrNumber *map)
{
	TupleDesc	heapdesc = RelationGetDescr(leaf->rel);

	if (map)
		memset(map, 0, sizeof(AttrNumber) * ps->read.maxatt);
	for (int c = 0; c < TM_SOURCE_NCOLUMNS; c++)
	{
		AttrNumber	regatt = tm_source_reads_column(ps, c);

		if (regatt != 0 &&
			!index_covers_column(leaf, index, heapdesc, regatt, map, ps->read.maxatt))
			return false;
	}
	/* 1.1: the columns of attribute filters */
	for (int i = 0; i < ps->nfiltercols; i++)
		if (!index_covers_column(leaf, index, heapdesc, ps->filtercols[i], map, ps->read.maxatt))
			return false;
	return true;
}

/* One index entry waiting in the ring: a copy, and its deformed values */
typedef struct IoEntry
{
	IndexTuple	tup;
	Size		cap;
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];
} IoEntry;

#define IO_RING 16
#define IO_AHEAD 8

/* What one index-only read needs across its ranges. */
typedef struct IoRead
{
	TmPlan	   *plan;
	TmPlanSource *ps;
	TmLeaf	   *leaf;
	Relation	index;
	AttrNumber *map;
	TupleTableSlot *slot;
	Buffer		vmbuffer;
	Datum	   *values;
	bool	   *isnull;
	int64		rows;
	int64		fetches;
	AttrNumber	patatt;			/* index column of the patient id; 0: none */
	IoEntry		ring[IO_RING];
	int			first;			/* the oldest entry waiting */
	int			nwaiting;
} IoRead;

static void
io_begin(IoRead *io, TmPlan *plan, TmPlanSource *ps, TmLeaf *leaf, Relation index, AttrNumber *map)
{
	int			n = Max(ps->read.maxatt, 1);

	memset(io, 0, sizeof(IoRead));
	io->plan = plan;
	io->ps = ps;
	io->leaf = leaf;
	io->index = index;
	io->map = map;
	io->slot = table_slot_create(leaf->rel, NULL);
	io->vmbuffer = InvalidBuffer;
	io->values = palloc0(sizeof(Datum) * n);
	io->isnull = palloc(sizeof(bool) * n);
	memset(io->isnull, true, sizeof(bool) * n);
	if (ps->patient.attnum > 0 && ps->patient.attnum <= ps->read.maxatt)
		io->patatt = map[ps->patient.attnum - 1];
}

static void
io_end(IoRead *io)
{
	if (BufferIsValid(io->vmbuffer))
		ReleaseBuffer(io->vmbuffer);
	ExecDropSingleTupleTableSlot(io->slot);
	pfree(io->values);
	pfree(io->isnull);
	for (int i = 0; i < IO_RING; i++)
		if (io->ring[i].tup)
			pfree(io->ring[i].tup);
}

/* Fold the oldest entry waiting in the ring. */
static void
io_fold_first(IoRead *io)
{
	IoEntry    *e = &io->ring[io->first];
	int			natt = io->ps->read.maxatt;
	MemoryContext old;

	for (int i = 0; i < natt; i++)
		if (io->map[i] != 0)
		{
			io->values[i] = e->values[io->map[i] - 1];
			io->isnull[i] = e->isnull[io->map[i] - 1];
		}
	io->first = (io->first + 1) % IO_RING;
	io->nwaiting--;
	io->rows++;
	MemoryContextReset(io->plan->rowcxt);
	old = MemoryContextSwitchTo(io->plan->rowcxt);
	tm_fold_row(io->plan, io->ps, io->values, io->isnull);
	MemoryContextSwitchTo(old);
}

/*
 * Put a visible entry in the ring, prefetching its id's map entry and the
 * state of the patient IO_AHEAD entries before it; fold the oldest when
 * the ring is full.
 */
static void
io_add(IoRead *io, IndexScanDesc iscan)
{
	IoEntry    *e;
	Size		len = IndexTupleSize(iscan->xs_itup);

	if (io->nwaiting == IO_RING)
		io_fold_first(io);
	e = &io->ring[(io->first + io->nwaiting) % IO_RING];
	if (e->cap < len)
	{
		if (e->tup)
			pfree(e->tup);
		e->cap = Max(len, 64);
		e->tup = MemoryContextAlloc(GetMemoryChunkContext(io->values), e->cap);
	}
	memcpy(e->tup, iscan->xs_itup, len);
	index_deform_tuple(e->tup, iscan->xs_itupdesc, e->values, e->isnull);
	io->nwaiting++;
	if (io->patatt > 0)
	{
		int			a = io->patatt - 1;

		if (!e->isnull[a])
			tm_fold_prefetch_id(io->plan, io->ps, e->values[a]);
		if (io->nwaiting > IO_AHEAD)
		{
			e = &io->ring[(io->first + io->nwaiting - 1 - IO_AHEAD) % IO_RING];
			if (!e->isnull[a])
				tm_fold_prefetch(io->plan, io->ps, e->values[a]);
		}
	}
}

/* Fold the rows of one index range (scan keys) from the index tuples. */
static void
io_range(IoRead *io, ScanKey keys, int nkeys)
{
	Relation	heap = io->leaf->rel;
	Snapshot	snapshot = GetActiveSnapshot();
	IndexScanDesc iscan;
	ItemPointer tid;

	iscan = index_beginscan(heap, io->index, snapshot, nkeys, 0);
	iscan->xs_want_itup = true;
	index_rescan(iscan, keys, nkeys, NULL, 0);
	while ((tid = index_getnext_tid(iscan, ForwardScanDirection)) != NULL)
	{
		CHECK_FOR_INTERRUPTS();

		/*
		 * On a page not known all-visible, the heap says whether the row the
		 * index entry points to is visible; the index tuple holds its values
		 * either way (an update changing an indexed or included column is
		 * never HOT, so the entry is that row's).
		 */
		if (!VM_ALL_VISIBLE(heap, ItemPointerGetBlockNumber(tid), &io->vmbuffer))
		{
			io->fetches++;
			if (!index_fetch_heap(iscan, io->slot))
				continue;
			ExecClearTuple(io->slot);
			if (iscan->xs_heap_continue)
				elog(ERROR, "non-MVCC snapshots are not supported in index-only reads");
		}
		else
			PredicateLockPage(heap, ItemPointerGetBlockNumber(tid), snapshot);
		io_add(io, iscan);
	}
	while (io->nwaiting > 0)
	{
		CHECK_FOR_INTERRUPTS();
		io_fold_first(io);
	}
	index_endscan(iscan);
}

/*
 * Fold units [first, first + count) of a leaf's index ranges into
 * plan->state from the index alone (tm_read_units decided it can).
 */
void
tm_read_units_index_only(TmPlan *plan, int srcidx, int leafidx, int first, int count,
						 Relation index, AttrNumber *map)
{
	TmPlanSource *ps = &plan->sources[srcidx];
	TmLeaf	   *leaf = &ps->read.leaves[leafidx];
	IoRead		io;

	io_begin(&io, plan, ps, leaf, index, map);
	for (int u = first; u < first + count; u++)
	{
		ScanKeyData keys[3];
		int			nkeys = tm_index_unit_keys(plan, srcidx, leafidx, u, index, keys);

		if (nkeys > 0)
			io_range(&io, keys, nkeys);
	}
	elog(DEBUG2, "trialmatch: index ranges %d..%d of %s (\"%s\") read from index \"%s\" only: " INT64_FORMAT " rows, " INT64_FORMAT " heap fetches",
		 first, first + count - 1, ps->what, RelationGetRelationName(leaf->rel),
		 RelationGetRelationName(index), io.rows, io.fetches);
	io_end(&io);
}

/*
 * Fold one patient's rows of a leaf from an index on the patient column
 * that holds every column read, if the leaf has one; false if not (the
 * caller reads the rows otherwise).
 */
bool
tm_read_one_index_only(TmPlan *plan, int srcidx, int leafidx, int64 id)
{
	TmPlanSource *ps = &plan->sources[srcidx];
	TmLeaf	   *leaf = &ps->read.leaves[leafidx];
	AttrNumber *map = palloc(sizeof(AttrNumber) * Max(ps->read.maxatt, 1));
	Oid			indexoid;
	Relation	index;
	ScanKeyData key;
	IoRead		io;

	indexoid = tm_find_id_index(leaf->rel, tm_leaf_attnum(leaf, ps->patient.attnum), ps, leaf, map);
	if (!OidIsValid(indexoid))
	{
		pfree(map);
		return false;
	}
	index = index_open(indexoid, AccessShareLock);
	if (ps->patient.typid == INT4OID)
		ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum((int32) id));
	else
		ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(id));
	io_begin(&io, plan, ps, leaf, index, map);
	io_range(&io, &key, 1);
	elog(DEBUG2, "trialmatch: one patient's rows of %s (\"%s\") read from index \"%s\" only: " INT64_FORMAT " rows, " INT64_FORMAT " heap fetches",
		 ps->what, RelationGetRelationName(leaf->rel), RelationGetRelationName(index),
		 io.rows, io.fetches);
	io_end(&io);
	index_close(index, AccessShareLock);
	pfree(map);
	return true;
}
