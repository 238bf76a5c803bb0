/*-------------------------------------------------------------------------
 *
 * read.c
 *	  Reading relations: all of a registered relation (every leaf, or the
 *	  executor for views and foreign tables), one leaf's share of a
 *	  parallel scan, the rows of one patient (through a btree index on the
 *	  patient column when a leaf has one), or index ranges in block order
 *	  (their TIDs sorted, or a bitmap), alone or sharing a page list with
 *	  parallel participants.  Each row is handed to a row function (fold.c,
 *	  patients.c) in the registered relation's attribute numbering.
 *
 * IDENTIFICATION
 *	  src/read.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"


#include "access/htup_details.h"
#include "access/nbtree.h"
#include "catalog/pg_am.h"
#include "catalog/pg_opfamily.h"
#include "miscadmin.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/spccache.h"

#include "trialmatch.h"


/* ---------------------------------------------------------------
 * Scans
 * ---------------------------------------------------------------
 */

/*
 * A valid, non-partial btree index whose first column is attnum (integers).
 * With ps (a source's leaf), only one holding every column read
 * (tm_index_covers, which fills map), for index-only reads.
 */
Oid
tm_find_id_index(Relation rel, AttrNumber attnum, TmPlanSource *ps, TmLeaf *leaf, AttrNumber *map)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			found = InvalidOid;

	foreach(lc, indexes)
	{
		Relation	idx = index_open(lfirst_oid(lc), AccessShareLock);

		if (idx->rd_rel->relam == BTREE_AM_OID && tm_index_usable(idx) &&
			idx->rd_index->indkey.values[0] == attnum &&
			idx->rd_opfamily[0] == INTEGER_BTREE_FAM_OID &&
			(ps == NULL || tm_index_covers(ps, leaf, idx, map)))
			found = RelationGetRelid(idx);
		index_close(idx, AccessShareLock);
		if (OidIsValid(found))
			break;
	}
	list_free(indexes);
	return found;
}

/* The rows of one patient (or concept): filtered by id, through an index when a leaf has one. */
bool
tm_read_spec_one(TmColumn idcol, int64 id, MemoryContext rowcxt, TmScanSpec *spec)
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
		indexoid = tm_find_id_index(rel, tm_leaf_attnum(leaf, spec->idcol.attnum), NULL, NULL, NULL);
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
			 tm_id_value(values[spec->idcol.attnum - 1], spec->idcol.typid) != spec->id))
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
void
tm_read_relation(TmPlan *plan, TmRelation *r, int leaf, TmScanSpec *spec, TmRowFn fn, void *arg)
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

/*
 * Fold one source (all of it, one patient's rows, or a leaf or a parallel
 * share of a leaf) into plan->state.
 */
void
tm_read_source(TmPlan *plan, int srcidx, int leaf, bool single, int64 id,
			   ParallelTableScanDesc pscan)
{
	TmPlanSource *ps = &plan->sources[srcidx];
	TmScanSpec	spec;

	if (single)
	{
		if (!tm_read_spec_one(ps->patient, id, plan->rowcxt, &spec))
			return;
		/* leaf by leaf: from a covering patient index alone where there is one */
		if (tm_index_only_reads && !ps->read.executor)
		{
			for (int l = (leaf >= 0 ? leaf : 0); l < (leaf >= 0 ? leaf + 1 : ps->read.nleaves); l++)
				if (!tm_read_one_index_only(plan, srcidx, l, id))
					tm_read_relation(plan, &ps->read, l, &spec, tm_fold_row, ps);
			return;
		}
	}
	else
	{
		memset(&spec, 0, sizeof(spec));
		spec.pscan = pscan;
		spec.rowcxt = plan->rowcxt;
	}
	tm_read_relation(plan, &ps->read, leaf, &spec, tm_fold_row, ps);
}

/*
 * A page list: the pages of index ranges in block order, each as a bitmap
 * iterator gives it, their tuple offsets in one array after them; from
 * sorted TIDs (tm_units_pages) or a bitmap (tm_pages_share), in local
 * memory or, for parallel participants to claim in runs of TM_PAGE_RUN, in
 * the call's shared area.  Claiming runs from a counter costs one atomic
 * operation per run, where a shared TIDBitmap iterator takes a lock per
 * page (measured: two processes folding one leaf's pages through it were
 * 1.5x as fast as one).
 */
#define TM_PAGE_RUN 32

typedef struct TmSharedPage
{
	BlockNumber blockno;
	int32		ntuples;		/* -1: lossy, every row of the page */
	bool		recheck;
	uint32		first;			/* its first offset in the offsets array */
} TmSharedPage;

struct TmPageList
{
	pg_atomic_uint32 next;		/* the next run to claim */
	uint32		npages;
	TmSharedPage pages[FLEXIBLE_ARRAY_MEMBER];
	/* then the offsets (OffsetNumber) of every exact page */
};

#define TM_PAGE_OFFSETS(list) \
	((OffsetNumber *) ((char *) (list) + offsetof(TmPageList, pages) + \
					   sizeof(TmSharedPage) * (list)->npages))

/*
 * A page list's pages are looked up in shared buffers TM_LOOKUP_AHEAD
 * pages before they are read (PrefetchBuffer: for a page not there, a
 * read-ahead hint to the kernel, as a bitmap heap scan gives), their line
 * pointers then, and their tuples TM_FETCH_AHEAD pages before, fetched
 * into the CPU cache.  The pages are far apart in memory, so each read
 * otherwise waits for memory three or four times (the buffer table, the
 * page, its line pointer, its tuple).  Then, TM_STATE_AHEAD pages before,
 * the patient id is read from each of those tuples (when the columns
 * before it are of fixed length and the tuple has no NULLs) and the
 * patient's state fetched too: one random place in pats.n * width bytes a
 * row, the costliest load of the fold on time-ordered tables.  Measured at
 * 200,000 patients, all in shared buffers: the lookahead took 9-13% off the
 * serial calls of the benchmark's selective trials, the state 3-13% more
 * (bench/README, stop 26).  Off when the tablespace's
 * effective_io_concurrency is 0, as a bitmap heap scan's prefetching is.
 */
#define TM_LOOKUP_AHEAD 12
#define TM_FETCH_AHEAD 4
#define TM_STATE_AHEAD 2
#define TM_AHEAD_RING 16		/* > TM_LOOKUP_AHEAD, a power of 2 */
#define TM_AHEAD_ROWS 4			/* rows of a page fetched ahead at most */

/*
 * Where a bitmap read takes its pages from: a bitmap of this process's (a
 * BRIN read shared by parallel participants: only the blocks of the chunks
 * it claims from next_chunk), or a page list.
 */
typedef struct TmPages
{
	TBMIterator *it;
	pg_atomic_uint32 *next_chunk;
	int64		mine;			/* the chunk claimed last */
	TmPageList *list;
	uint32		run_pages;		/* pages claimed at once: a run, or all of a list of its own */
	uint32		pos;			/* the next page of the run claimed */
	uint32		end;
	TBMIterateResult *res;		/* a page of the list, as an iterator gives it */
	/* looking a list's pages up ahead (prefetch_pages), when prefetch */
	bool		prefetch;
	bool		heap;			/* heap pages: their tuples fetched ahead too */
	Relation	rel;
	uint32		next_lookup;	/* the next page of the run to look up */
	uint32		next_fetch;		/* the next page whose tuples to fetch */
	Buffer		ahead[TM_AHEAD_RING];	/* the buffers looked up, by page mod */
	BlockNumber ahead_block[TM_AHEAD_RING];
	/* the patients' state of rows TM_STATE_AHEAD pages ahead, when id_off >= 0 */
	TmPlan	   *plan;
	TmPlanSource *ps;
	uint32		next_state;		/* the next page whose patients' state to fetch */
	int			id_off;			/* the patient id's offset in a tuple without NULLs, or -1 */
	AttrNumber	id_att;			/* its attribute number in the leaf */
} TmPages;

/*
 * Blocks of a BRIN read shared among parallel participants: each claims
 * the next chunk of TM_BRIN_CHUNK blocks from the leaf's counter.
 */
#define TM_BRIN_CHUNK 128

/*
 * Where a heap tuple of the leaf without NULLs holds the patient id: the
 * columns before it all of fixed length.  -1 when they are not, or the
 * patient column is not int4 or int8.
 */
static int
patient_id_offset(TmPlanSource *ps, TmLeaf *leaf, AttrNumber *attno)
{
	TupleDesc	desc = RelationGetDescr(leaf->rel);
	AttrNumber	att;
	int			off = 0;

	if (ps->read.executor || ps->patient.attnum <= 0 ||
		(ps->patient.typid != INT8OID && ps->patient.typid != INT4OID))
		return -1;
	att = tm_leaf_attnum(leaf, ps->patient.attnum);
	if (att <= 0 || att > desc->natts)
		return -1;
	for (int i = 0; i < att; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);

		if (a->attlen <= 0)
			return -1;
		off = att_align_nominal(off, a->attalign);
		if (i == att - 1)
			break;
		off += a->attlen;
	}
	if (TupleDescAttr(desc, att - 1)->atttypid != ps->patient.typid)
		return -1;
	*attno = att;
	return off;
}

/*
 * Look up the pages of the run up to TM_LOOKUP_AHEAD after the one being
 * read, fetch the tuples of those up to TM_FETCH_AHEAD after it, and the
 * state of their patients up to TM_STATE_AHEAD after it (the comment of
 * TM_LOOKUP_AHEAD).  Nothing is pinned or locked: the page of a buffer
 * looked up may change before it is read, which costs only a useless
 * fetch.  Every address read or fetched lies within the buffer (a tuple
 * read for its patient id within its line pointer's length and the
 * page), and an id read from a page that changed names another patient's
 * state, or none (tm_fold_prefetch checks it).
 */
static void
prefetch_pages(TmPages *src)
{
	uint32		lookup_to = (uint32) Min((uint64) src->end, (uint64) src->pos + TM_LOOKUP_AHEAD);
	uint32		fetch_to = (uint32) Min((uint64) src->end, (uint64) src->pos + TM_FETCH_AHEAD);
	OffsetNumber *offsets = TM_PAGE_OFFSETS(src->list);

	for (; src->next_lookup < lookup_to; src->next_lookup++)
	{
		TmSharedPage *page = &src->list->pages[src->next_lookup];
		int			slot = src->next_lookup % TM_AHEAD_RING;
		Buffer		buf = PrefetchBuffer(src->rel, MAIN_FORKNUM, page->blockno).recent_buffer;

		src->ahead[slot] = buf;
		src->ahead_block[slot] = page->blockno;
		if (BufferIsValid(buf) && src->heap)
		{
			Page		pg = (Page) BufferGetBlock(buf);

			__builtin_prefetch(pg);
			for (int i = 0; i < Min(page->ntuples, TM_AHEAD_ROWS); i++)
				__builtin_prefetch(PageGetItemId(pg, offsets[page->first + i]));
		}
	}
	if (src->id_off >= 0)
	{
		uint32		state_to = (uint32) Min((uint64) src->end, (uint64) src->pos + TM_STATE_AHEAD);

		for (; src->next_state < state_to; src->next_state++)
		{
			TmSharedPage *page = &src->list->pages[src->next_state];
			int			slot = src->next_state % TM_AHEAD_RING;
			Page		pg;

			if (!BufferIsValid(src->ahead[slot]) || src->ahead_block[slot] != page->blockno)
				continue;
			pg = (Page) BufferGetBlock(src->ahead[slot]);
			for (int i = 0; i < Min(page->ntuples, TM_AHEAD_ROWS); i++)
			{
				ItemId		lp = PageGetItemId(pg, offsets[page->first + i]);
				unsigned	off = ItemIdGetOffset(lp);
				unsigned	len = ItemIdGetLength(lp);
				HeapTupleHeader tup;
				int64		id;

				if (!ItemIdIsNormal(lp) || off + len > BLCKSZ || len < SizeofHeapTupleHeader)
					continue;
				tup = (HeapTupleHeader) ((char *) pg + off);
				if ((tup->t_infomask & HEAP_HASNULL) || HeapTupleHeaderGetNatts(tup) < src->id_att ||
					tup->t_hoff + src->id_off + 8 > len)
					continue;
				if (src->ps->patient.typid == INT8OID)
				{
					memcpy(&id, (char *) tup + tup->t_hoff + src->id_off, sizeof(int64));
					tm_fold_prefetch(src->plan, src->ps, Int64GetDatum(id));
				}
				else
				{
					int32		id4;

					memcpy(&id4, (char *) tup + tup->t_hoff + src->id_off, sizeof(int32));
					tm_fold_prefetch(src->plan, src->ps, Int32GetDatum(id4));
				}
			}
		}
	}
	for (; src->next_fetch < fetch_to; src->next_fetch++)
	{
		TmSharedPage *page = &src->list->pages[src->next_fetch];
		int			slot = src->next_fetch % TM_AHEAD_RING;
		Page		pg;

		if (!src->heap || !BufferIsValid(src->ahead[slot]) ||
			src->ahead_block[slot] != page->blockno)
			continue;
		pg = (Page) BufferGetBlock(src->ahead[slot]);
		for (int i = 0; i < Min(page->ntuples, TM_AHEAD_ROWS); i++)
		{
			unsigned	off = ItemIdGetOffset(PageGetItemId(pg, offsets[page->first + i]));

			if (off < BLCKSZ)
				__builtin_prefetch((char *) pg + off);
		}
	}
}

/*
 * The next page to read, or NULL.  With next_chunk, walking the blocks in
 * order, a participant claims chunk numbers from the counter until it
 * holds one at or past the current block's, and reads the blocks of the
 * chunk it holds.  Claims only grow, so every chunk is claimed once, by a
 * participant that has not yet walked past it; the chunks it claimed and
 * walked over held no block of its bitmap.  The participants' bitmaps may
 * differ only where a range was summarized meanwhile, or the table grew:
 * blocks without a row visible to the call's snapshot in the windows.
 */
static TBMIterateResult *
next_page(TmPages *src)
{
	TBMIterateResult *r;
	TmSharedPage *page;

	if (src->it)
	{
		while ((r = tbm_iterate(src->it)) != NULL)
		{
			int64		chunk = r->blockno / TM_BRIN_CHUNK;

			if (src->next_chunk == NULL)
				return r;
			while (src->mine < chunk)
				src->mine = pg_atomic_fetch_add_u32(src->next_chunk, 1);
			if (src->mine == chunk)
				return r;
			/* another participant's */
		}
		return NULL;
	}
	if (src->pos >= src->end)
	{
		uint32		run = pg_atomic_fetch_add_u32(&src->list->next, 1);

		if ((uint64) run * src->run_pages >= src->list->npages)
			return NULL;
		src->pos = run * src->run_pages;
		src->end = (uint32) Min((uint64) src->list->npages, (uint64) src->pos + src->run_pages);
		src->next_lookup = src->next_fetch = src->next_state = src->pos;
	}
	page = &src->list->pages[src->pos++];
	if (src->prefetch)
		prefetch_pages(src);
	r = src->res;
	r->blockno = page->blockno;
	r->ntuples = page->ntuples;
	r->recheck = page->recheck;
	if (page->ntuples > 0)
		memcpy(r->offsets, TM_PAGE_OFFSETS(src->list) + page->first,
			   sizeof(OffsetNumber) * page->ntuples);
	return r;
}

/*
 * Fold the rows of the pages src gives with fn (tm_fold_row, or the notes'
 * fold) in block order, each block once, as a bitmap heap scan reads them;
 * the number of rows folded.  On a lossy page (every row of it is
 * returned) only the rows of units [first, first + count) are kept, or
 * parallel participants reading other units would count a row twice; with
 * count < 0 (a BRIN read, whose bitmap is all lossy pages) every row.  The
 * fold checks every row's code and time.
 */
static long
fold_pages(TmPlan *plan, int srcidx, TmLeaf *leaf, TmPages *src, int first, int count,
		   TmRowFn fn)
{
	TmPlanSource *ps = &plan->sources[srcidx];
	TupleTableSlot *slot = table_slot_create(leaf->rel, NULL);
	TableScanDesc hscan = table_beginscan_bm(leaf->rel, GetActiveSnapshot(), 0, NULL);
	TBMIterateResult *tbmres;
	long		nrows = 0;

	while ((tbmres = next_page(src)) != NULL)
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
			if (lossy && count >= 0 &&
				!tm_index_units_cover(plan, srcidx, first, count, values, isnull))
				continue;
			MemoryContextReset(plan->rowcxt);
			old = MemoryContextSwitchTo(plan->rowcxt);
			fn(plan, ps, values, isnull);
			MemoryContextSwitchTo(old);
			nrows++;
		}
	}
	table_endscan(hscan);
	ExecDropSingleTupleTableSlot(slot);
	return nrows;
}

/*
 * Fold the rows of a bitmap's blocks (fold_pages) and free it.  With
 * next_chunk (a BRIN read shared by parallel participants, each with the
 * same bitmap), only the blocks of the chunks this participant claims.
 */
long
tm_fold_bitmap(TmPlan *plan, int srcidx, TmLeaf *leaf, TIDBitmap *tbm, int first, int count,
			   pg_atomic_uint32 *next_chunk, TmRowFn fn)
{
	TmPages		src = {0};
	long		nrows;

	src.it = tbm_begin_iterate(tbm);
	src.next_chunk = next_chunk;
	src.mine = -1;
	nrows = fold_pages(plan, srcidx, leaf, &src, first, count, fn);
	tbm_end_iterate(src.it);
	tbm_free(tbm);
	return nrows;
}

/*
 * Write a bitmap's pages, in block order, to a page list in the shared
 * area (TmPageList), and free the bitmap.  The bitmap is read twice, to
 * size the list and to fill it, so that nothing but the list is kept: it
 * takes 16 bytes a page and 2 a row of an exact page, about the bitmap's
 * own size for exact pages (bounded by work_mem), more for lossy ones.
 */
dsa_pointer
tm_pages_share(TIDBitmap *tbm, dsa_area *dsa)
{
	TBMIterator *it;
	TBMIterateResult *r;
	uint64		npages = 0,
				noffsets = 0;
	dsa_pointer dp;
	TmPageList *list;
	OffsetNumber *offsets;

	it = tbm_begin_iterate(tbm);
	while ((r = tbm_iterate(it)) != NULL)
	{
		npages++;
		noffsets += Max(r->ntuples, 0);
		CHECK_FOR_INTERRUPTS();
	}
	tbm_end_iterate(it);
	if (noffsets > PG_UINT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("trialmatch: too many rows in one shared bitmap (%llu)",
						(unsigned long long) noffsets),
				 errhint("Lower work_mem, or screen with fewer parallel workers "
						 "(trialmatch.max_parallel_workers = 0).")));

	dp = dsa_allocate_extended(dsa, offsetof(TmPageList, pages) + sizeof(TmSharedPage) * npages +
							   sizeof(OffsetNumber) * noffsets, DSA_ALLOC_HUGE);
	list = dsa_get_address(dsa, dp);
	pg_atomic_init_u32(&list->next, 0);
	list->npages = (uint32) npages;
	offsets = TM_PAGE_OFFSETS(list);
	noffsets = 0;
	npages = 0;
	it = tbm_begin_iterate(tbm);
	while ((r = tbm_iterate(it)) != NULL)
	{
		TmSharedPage *page = &list->pages[npages++];

		page->blockno = r->blockno;
		page->ntuples = r->ntuples;
		page->recheck = r->recheck;
		page->first = (uint32) noffsets;
		if (r->ntuples > 0)
		{
			memcpy(offsets + noffsets, r->offsets, sizeof(OffsetNumber) * r->ntuples);
			noffsets += r->ntuples;
		}
		CHECK_FOR_INTERRUPTS();
	}
	tbm_end_iterate(it);
	tbm_free(tbm);
	return dp;
}

/*
 * Sort TID keys (block << 16 | offset) in place: a radix sort, 16 bits a
 * pass from the lowest, skipping a pass whose digit every key shares.
 */
static void
sort_tid_keys(uint64 *keys, int64 n)
{
	uint64	   *from = keys;
	uint64	   *to;
	int64	   *count;

	if (n < 2)
		return;
	to = palloc_extended(sizeof(uint64) * n, MCXT_ALLOC_HUGE);
	count = palloc(sizeof(int64) * 65536);
	for (int shift = 0; shift < 48; shift += 16)
	{
		int64		pos = 0;

		memset(count, 0, sizeof(int64) * 65536);
		for (int64 i = 0; i < n; i++)
			count[(from[i] >> shift) & 0xFFFF]++;
		if (count[(from[0] >> shift) & 0xFFFF] == n)
			continue;
		for (int d = 0; d < 65536; d++)
		{
			int64		c = count[d];

			count[d] = pos;
			pos += c;
		}
		for (int64 i = 0; i < n; i++)
			to[count[(from[i] >> shift) & 0xFFFF]++] = from[i];
		{
			uint64	   *t = from;

			from = to;
			to = t;
		}
		CHECK_FOR_INTERRUPTS();
	}
	if (from != keys)
	{
		memcpy(keys, from, sizeof(uint64) * n);
		to = from;
	}
	pfree(to);
	pfree(count);
}

/*
 * Index ranges [first, first + count) of a source's leaf as a page list
 * (TmPageList), without a TIDBitmap: the ranges' TIDs are gathered from
 * the index (amgettuple) and radix-sorted, and each block with rows
 * becomes an exact page.  On 2 cores this took a third of the time of
 * building a bitmap and iterating it in block order (which sorts its
 * pages).  In the shared area when dsa is given (*dp set), else in local
 * memory.  NULL when the ranges hold more TIDs than work_mem holds at 24
 * bytes each (the keys, their sorted copy, then the list), or are
 * estimated to: the caller then builds a bitmap, which can go lossy.
 */
TmPageList *
tm_units_pages(TmPlan *plan, int srcidx, int leafidx, int first, int count, Relation index,
			   dsa_area *dsa, dsa_pointer *dp)
{
	TmLeaf	   *leaf = &plan->sources[srcidx].read.leaves[leafidx];
	/* keys, the sort's copy, then keys and the list (18 bytes a TID at most) */
	int64		max = Min((int64) work_mem * 1024 / 24, (int64) PG_UINT32_MAX);
	int64		n = 0,
				cap = Min(max, 4096);
	uint64	   *keys;
	uint32		npages = 0;
	int64		noffsets = 0;
	TmPageList *list;
	OffsetNumber *offsets;
	Size		size;

	/* estimated beyond work_mem: straight to a bitmap */
	if (leaf->index_rows > (double) max)
		return NULL;
	keys = palloc(sizeof(uint64) * cap);
	for (int u = first; u < first + count; u++)
	{
		ScanKeyData skeys[3];
		int			nkeys = tm_index_unit_keys(plan, srcidx, leafidx, u, index, skeys);
		IndexScanDesc iscan;
		ItemPointer tid;

		if (nkeys <= 0)
			continue;
		iscan = index_beginscan(leaf->rel, index, GetActiveSnapshot(), nkeys, 0);
		index_rescan(iscan, skeys, nkeys, NULL, 0);
		while ((tid = index_getnext_tid(iscan, ForwardScanDirection)) != NULL)
		{
			if (n == cap)
			{
				if (cap >= max)
				{
					index_endscan(iscan);
					pfree(keys);
					return NULL;
				}
				cap = Min(max, cap * 2);
				keys = repalloc_huge(keys, sizeof(uint64) * cap);
			}
			/* as tbm_add_tuples checks: a page holds no more (fold_pages) */
			if (ItemPointerGetOffsetNumber(tid) < 1 ||
				ItemPointerGetOffsetNumber(tid) > MaxHeapTuplesPerPage)
				elog(ERROR, "trialmatch: tuple offset out of range: %u",
					 ItemPointerGetOffsetNumber(tid));
			keys[n++] = ((uint64) ItemPointerGetBlockNumber(tid) << 16) |
				ItemPointerGetOffsetNumber(tid);
			if ((n & 0xFFFF) == 0)
				CHECK_FOR_INTERRUPTS();
		}
		index_endscan(iscan);
		CHECK_FOR_INTERRUPTS();
	}
	sort_tid_keys(keys, n);

	/* the pages and distinct TIDs, then the list */
	for (int64 i = 0; i < n; i++)
	{
		if (i == 0 || keys[i] != keys[i - 1])
		{
			noffsets++;
			if (i == 0 || (keys[i] >> 16) != (keys[i - 1] >> 16))
				npages++;
		}
		if ((i & 0xFFFF) == 0xFFFF)
			CHECK_FOR_INTERRUPTS();
	}
	size = offsetof(TmPageList, pages) + sizeof(TmSharedPage) * npages +
		sizeof(OffsetNumber) * noffsets;
	if (dsa)
	{
		*dp = dsa_allocate_extended(dsa, size, DSA_ALLOC_HUGE);
		list = dsa_get_address(dsa, *dp);
	}
	else
		list = palloc_extended(size, MCXT_ALLOC_HUGE);
	pg_atomic_init_u32(&list->next, 0);
	list->npages = npages;
	offsets = TM_PAGE_OFFSETS(list);
	npages = 0;
	noffsets = 0;
	for (int64 i = 0; i < n; i++)
	{
		TmSharedPage *page;

		if (i > 0 && keys[i] == keys[i - 1])
			continue;
		if (i == 0 || (keys[i] >> 16) != (keys[i - 1] >> 16))
		{
			page = &list->pages[npages++];
			page->blockno = (BlockNumber) (keys[i] >> 16);
			page->ntuples = 0;
			page->recheck = false;
			page->first = (uint32) noffsets;
		}
		else
			page = &list->pages[npages - 1];
		offsets[noffsets++] = (OffsetNumber) (keys[i] & 0xFFFF);
		page->ntuples++;
		if ((i & 0xFFFF) == 0xFFFF)
			CHECK_FOR_INTERRUPTS();
	}
	pfree(keys);
	return list;
}

/*
 * Fold the rows of the runs of pages this process claims from a page list
 * (tm_units_pages, tm_pages_share), as fold_pages does: all of them, as one
 * run (the pages looked up ahead all along), when the list is its own
 * (shared false); its share, in runs of TM_PAGE_RUN, when the list is in
 * the shared area.
 */
static long
fold_page_list(TmPlan *plan, int srcidx, TmLeaf *leaf, TmPageList *list, bool shared,
			   int first, int count, TmRowFn fn)
{
	TmPages		src = {0};
	long		nrows;

	src.list = list;
	src.run_pages = shared ? TM_PAGE_RUN : Max(list->npages, 1);
	src.res = palloc(offsetof(TBMIterateResult, offsets) + sizeof(OffsetNumber) * MaxHeapTuplesPerPage);
	src.rel = leaf->rel;
	src.prefetch = get_tablespace_io_concurrency(leaf->rel->rd_rel->reltablespace) > 0;
	src.heap = leaf->rel->rd_rel->relam == HEAP_TABLE_AM_OID;
	src.plan = plan;
	src.ps = &plan->sources[srcidx];
	src.id_off = src.heap ? patient_id_offset(src.ps, leaf, &src.id_att) : -1;
	nrows = fold_pages(plan, srcidx, leaf, &src, first, count, fn);
	pfree(src.res);
	return nrows;
}

/* fold_page_list for a list in the shared area (parallel.c, share_read) */
long
tm_fold_shared_pages(TmPlan *plan, int srcidx, TmLeaf *leaf, dsa_area *dsa, dsa_pointer pages,
					 int first, int count, TmRowFn fn)
{
	return fold_page_list(plan, srcidx, leaf, dsa_get_address(dsa, pages), true, first, count, fn);
}

/*
 * The TIDs of index ranges (indexpath.c) [first, first + count) of a
 * source's leaf, all in one bitmap, so that the heap is then read in block
 * order, each block once (tm_fold_bitmap, or tm_pages_share for parallel
 * participants to share its pages).
 */
TIDBitmap *
tm_units_bitmap(TmPlan *plan, int srcidx, int leafidx, int first, int count, Relation index)
{
	TIDBitmap  *tbm = tbm_create(work_mem * 1024L, NULL);

	for (int u = first; u < first + count; u++)
	{
		ScanKeyData keys[3];
		int			nkeys = tm_index_unit_keys(plan, srcidx, leafidx, u, index, keys);
		IndexScanDesc iscan;

		if (nkeys <= 0)
			continue;
		iscan = index_beginscan_bitmap(index, GetActiveSnapshot(), nkeys);
		index_rescan(iscan, keys, nkeys, NULL, 0);
		(void) index_getbitmap(iscan, tbm);
		index_endscan(iscan);
		CHECK_FOR_INTERRUPTS();
	}
	return tbm;
}

/*
 * Fold index ranges [first, first + count) of a source's leaf into
 * plan->state: from the index alone when it holds every column read
 * (indexonly.c), else through the heap in block order, from sorted TIDs
 * (tm_units_pages) or, beyond work_mem, a bitmap (tm_units_bitmap).
 */
void
tm_read_units(TmPlan *plan, int srcidx, int leafidx, int first, int count)
{
	TmPlanSource *ps = &plan->sources[srcidx];
	TmLeaf	   *leaf = &ps->read.leaves[leafidx];
	Relation	index = index_open(leaf->indexoid, AccessShareLock);
	AttrNumber *map = palloc(sizeof(AttrNumber) * Max(ps->read.maxatt, 1));
	TIDBitmap  *tbm;
	TmPageList *list;

	/* the index holds every column read: the heap only for visibility */
	if (tm_index_only(ps, leaf, index, map))
	{
		tm_read_units_index_only(plan, srcidx, leafidx, first, count, index, map);
		index_close(index, AccessShareLock);
		pfree(map);
		return;
	}
	pfree(map);
	list = tm_units_pages(plan, srcidx, leafidx, first, count, index, NULL, NULL);
	if (list)
	{
		index_close(index, AccessShareLock);
		(void) fold_page_list(plan, srcidx, leaf, list, false, first, count, tm_fold_row);
		pfree(list);
		elog(DEBUG2, "trialmatch: index ranges %d..%d of %s (\"%s\") read as sorted TIDs",
			 first, first + count - 1, ps->what, RelationGetRelationName(leaf->rel));
		return;
	}
	tbm = tm_units_bitmap(plan, srcidx, leafidx, first, count, index);
	index_close(index, AccessShareLock);
	(void) tm_fold_bitmap(plan, srcidx, leaf, tbm, first, count, NULL, tm_fold_row);
	elog(DEBUG2, "trialmatch: index ranges %d..%d of %s (\"%s\") read as a bitmap",
		 first, first + count - 1, ps->what, RelationGetRelationName(leaf->rel));
}

/*
 * Fold the blocks of a leaf that its BRIN index on the time column finds
 * in the windows (indexpath.c, choose_brin), every row of them; in a
 * parallel call the blocks of the chunks this participant claims from
 * next_chunk (tm_fold_bitmap).  Block ranges not yet summarized are always
 * returned, so rows added since the last summary are read too.
 */
void
tm_read_brin(TmPlan *plan, int srcidx, int leafidx, pg_atomic_uint32 *next_chunk)
{
	TmPlanSource *ps = &plan->sources[srcidx];
	TmLeaf	   *leaf = &ps->read.leaves[leafidx];
	Relation	index = index_open(leaf->brinoid, AccessShareLock);
	TIDBitmap  *tbm = tbm_create(work_mem * 1024L, NULL);
	ScanKeyData keys[2];
	int			nkeys = tm_brin_keys(plan, srcidx, leafidx, index, keys);
	IndexScanDesc iscan;

	if (nkeys == 0)
		elog(ERROR, "trialmatch: no BRIN keys for \"%s\"", RelationGetRelationName(index));
	iscan = index_beginscan_bitmap(index, GetActiveSnapshot(), nkeys);
	index_rescan(iscan, keys, nkeys, NULL, 0);
	(void) index_getbitmap(iscan, tbm);
	index_endscan(iscan);
	index_close(index, AccessShareLock);
	(void) tm_fold_bitmap(plan, srcidx, leaf, tbm, 0, -1, next_chunk, tm_fold_row);
	elog(DEBUG2, "trialmatch: %s (\"%s\") read through its BRIN index",
		 ps->what, RelationGetRelationName(leaf->rel));
}

