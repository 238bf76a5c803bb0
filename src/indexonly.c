/*-------------------------------------------------------------------------
 *
 * indexonly.c
 *	  Index-only reads of index ranges (indexpath.c): when a btree index
 *	  holds every column the fold reads from a source (as key or INCLUDE
 *	  columns, e.g. labs (code, taken_at) INCLUDE (patient_id, value, unit)),
 *	  a range's rows are taken from the index tuples, and the heap is
 *	  visited only for pages the visibility map does not mark all-visible,
 *	  to check the row is visible to the snapshot, as an index-only scan
 *	  does (nodeIndexonlyscan.c).  trialmatch.index_only_reads turns it off.
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
#include "utils/snapmgr.h"

#include "trialmatch.h"

bool		tm_index_only_reads = true;

/*
 * Can this index give every column the fold reads from a leaf of the
 * source?  If so, and map is not NULL, map[i] is the index column (1-based)
 * holding registered attribute i + 1, or 0 for attributes not read.
 * Plain columns only (no expressions), of the heap column's own type.
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
		AttrNumber	att;
		int			found = 0;

		if (regatt == 0)
			continue;
		att = tm_leaf_attnum(leaf, regatt);
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
			Assert(regatt <= ps->read.maxatt);
			map[regatt - 1] = found;
		}
	}
	return true;
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
	TmRelation *r = &ps->read;
	Snapshot	snapshot = GetActiveSnapshot();
	TupleTableSlot *slot = table_slot_create(leaf->rel, NULL);
	Buffer		vmbuffer = InvalidBuffer;
	Datum	   *values = palloc0(sizeof(Datum) * Max(r->maxatt, 1));
	bool	   *isnull = palloc(sizeof(bool) * Max(r->maxatt, 1));
	Datum		ivalues[INDEX_MAX_KEYS];
	bool		iisnull[INDEX_MAX_KEYS];
	int64		rows = 0;
	int64		fetches = 0;

	memset(isnull, true, sizeof(bool) * Max(r->maxatt, 1));
	for (int u = first; u < first + count; u++)
	{
		ScanKeyData keys[3];
		int			nkeys = tm_index_unit_keys(plan, srcidx, leafidx, u, index, keys);
		IndexScanDesc iscan;
		ItemPointer tid;

		if (nkeys <= 0)
			continue;
		iscan = index_beginscan(leaf->rel, index, snapshot, nkeys, 0);
		iscan->xs_want_itup = true;
		index_rescan(iscan, keys, nkeys, NULL, 0);
		while ((tid = index_getnext_tid(iscan, ForwardScanDirection)) != NULL)
		{
			MemoryContext old;

			CHECK_FOR_INTERRUPTS();

			/*
			 * On a page not known all-visible, the heap says whether the row
			 * the index entry points to is visible; the index tuple holds its
			 * values either way (an update changing an indexed or included
			 * column is never HOT, so the entry is that row's).
			 */
			if (!VM_ALL_VISIBLE(leaf->rel, ItemPointerGetBlockNumber(tid), &vmbuffer))
			{
				fetches++;
				if (!index_fetch_heap(iscan, slot))
					continue;
				ExecClearTuple(slot);
				if (iscan->xs_heap_continue)
					elog(ERROR, "non-MVCC snapshots are not supported in index-only reads");
			}
			else
				PredicateLockPage(leaf->rel, ItemPointerGetBlockNumber(tid), snapshot);
			index_deform_tuple(iscan->xs_itup, iscan->xs_itupdesc, ivalues, iisnull);
			for (int i = 0; i < r->maxatt; i++)
				if (map[i] != 0)
				{
					values[i] = ivalues[map[i] - 1];
					isnull[i] = iisnull[map[i] - 1];
				}
			rows++;
			MemoryContextReset(plan->rowcxt);
			old = MemoryContextSwitchTo(plan->rowcxt);
			tm_fold_row(plan, ps, values, isnull);
			MemoryContextSwitchTo(old);
		}
		index_endscan(iscan);
	}
	if (BufferIsValid(vmbuffer))
		ReleaseBuffer(vmbuffer);
	elog(DEBUG2, "trialmatch: index ranges %d..%d of %s (\"%s\") read from index \"%s\" only: " INT64_FORMAT " rows, " INT64_FORMAT " heap fetches",
		 first, first + count - 1, ps->what, RelationGetRelationName(leaf->rel),
		 RelationGetRelationName(index), rows, fetches);
	ExecDropSingleTupleTableSlot(slot);
	pfree(values);
	pfree(isnull);
}
