/*-------------------------------------------------------------------------
 *
 * relation.c
 *	  How a registered relation is read, whatever its kind: the tables
 *	  holding its rows ("leaves"), or one query through the executor.
 *
 * A plain table or a populated materialized view is its own single leaf.
 * A partitioned table is read through its leaf partitions and an
 * inheritance parent through itself and its children, as SELECT reads
 * them (the caller's SELECT privilege on the registered parent is what
 * counts, as in SQL).  Each leaf is read directly, with its own indexes
 * and statistics; its rows are mapped into the registered relation's
 * attribute numbering (a partition may number its columns differently),
 * so the row functions never see a difference.
 *
 * A range partition whose key is the source's time column is skipped when
 * its bounds lie entirely outside the call's windows: it starts after
 * as_of, or (for sources without an end time, when every criterion reading
 * the source has a window) it ends before the earliest window start.  The
 * default partition is never skipped.
 *
 * Views and foreign tables (and trees holding a foreign partition) are
 * read through the executor with SPI, serially in the calling backend;
 * their own permissions and policies apply as in any SELECT.  An
 * unpopulated materialized view is the error SELECT gives.
 *
 * IDENTIFICATION
 *	  src/relation.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "partitioning/partbounds.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "trialmatch.h"

/* An unpopulated materialized view: the error SELECT gives. */
static void
check_populated(Relation rel)
{
	if (rel->rd_rel->relkind == RELKIND_MATVIEW && !RelationIsPopulated(rel))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("materialized view \"%s\" has not been populated",
						RelationGetRelationName(rel)),
				 errhint("Use the REFRESH MATERIALIZED VIEW command.")));
}

static void
add_leaf(TmRelation *r, Relation rel, int *cap)
{
	TmLeaf	   *leaf;
	TupleDesc	top = RelationGetDescr(r->rel);
	TupleDesc	desc = RelationGetDescr(rel);
	bool		same = true;

	check_populated(rel);
	if (r->nleaves == *cap)
	{
		*cap *= 2;
		r->leaves = repalloc(r->leaves, sizeof(TmLeaf) * *cap);
	}
	leaf = &r->leaves[r->nleaves++];
	memset(leaf, 0, sizeof(TmLeaf));
	leaf->rel = rel;
	leaf->maxatt = r->maxatt;
	if (rel == r->rel)
		return;

	/* columns by name: a partition or child may number them differently */
	leaf->map = palloc0(sizeof(AttrNumber) * Max(r->maxatt, 1));
	leaf->maxatt = 0;
	for (int i = 0; i < r->maxatt && i < top->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(top, i);

		if (att->attisdropped)
			continue;
		for (int j = 0; j < desc->natts; j++)
		{
			Form_pg_attribute c = TupleDescAttr(desc, j);

			if (!c->attisdropped && strcmp(NameStr(c->attname), NameStr(att->attname)) == 0)
			{
				if (c->atttypid != att->atttypid)
					elog(ERROR, "column \"%s\" of \"%s\" has another type than in \"%s\"",
						 NameStr(att->attname), RelationGetRelationName(rel),
						 RelationGetRelationName(r->rel));
				leaf->map[i] = c->attnum;
				leaf->maxatt = Max(leaf->maxatt, c->attnum);
				break;
			}
		}
		if (leaf->map[i] != i + 1)
			same = false;
	}
	if (same && desc->natts >= r->maxatt)
	{
		pfree(leaf->map);
		leaf->map = NULL;
		leaf->maxatt = r->maxatt;
	}
}

/* A bound of a time range partition as timestamptz; false if it cannot be. */
static bool
bound_time(PartitionRangeDatum *prd, Oid typid, TimestampTz *t)
{
	Const	   *c;
	int			overflow = 0;

	if (prd->kind != PARTITION_RANGE_DATUM_VALUE || !IsA(prd->value, Const))
		return false;
	c = (Const *) prd->value;
	if (c->constisnull)
		return false;
	if (typid == TIMESTAMPTZOID)
		*t = DatumGetTimestampTz(c->constvalue);
	else if (typid == DATEOID)
		*t = date2timestamptz_opt_overflow(DatumGetDateADT(c->constvalue), &overflow);
	else
		*t = timestamp2timestamptz_opt_overflow(DatumGetTimestamp(c->constvalue), &overflow);
	return overflow == 0;
}

/*
 * Can the partition childoid of parent be skipped: range-partitioned on
 * the time column alone, with bounds entirely outside the windows?
 */
static bool
partition_outside(Relation parent, Oid childoid, const TmPrune *prune)
{
	PartitionKey key;
	AttrNumber	tattno;
	Oid			typid;
	HeapTuple	tup;
	Datum		d;
	bool		isnull;
	PartitionBoundSpec *spec;
	TimestampTz t;
	bool		outside = false;

	if (prune == NULL || prune->time_column == NULL)
		return false;
	key = RelationGetPartitionKey(parent);
	tattno = get_attnum(RelationGetRelid(parent), prune->time_column);
	if (key == NULL || key->strategy != PARTITION_STRATEGY_RANGE || key->partnatts != 1 ||
		tattno == InvalidAttrNumber || key->partattrs[0] != tattno)
		return false;
	typid = key->parttypid[0];
	if ((typid != DATEOID && typid != TIMESTAMPOID && typid != TIMESTAMPTZOID) ||
		key->partopcintype[0] != typid ||
		key->partopfamily[0] != get_opclass_family(GetDefaultOpClass(typid, BTREE_AM_OID)))
		return false;

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(childoid));
	if (!HeapTupleIsValid(tup))
		return false;
	d = SysCacheGetAttr(RELOID, tup, Anum_pg_class_relpartbound, &isnull);
	if (isnull)
	{
		ReleaseSysCache(tup);
		return false;
	}
	spec = (PartitionBoundSpec *) stringToNode(TextDatumGetCString(d));
	ReleaseSysCache(tup);
	if (!IsA(spec, PartitionBoundSpec) || spec->is_default ||
		spec->strategy != PARTITION_STRATEGY_RANGE ||
		list_length(spec->lowerdatums) != 1 || list_length(spec->upperdatums) != 1)
		return false;

	/* rows hold lower <= time < upper, and converting to timestamptz keeps the order */
	if (bound_time(linitial(spec->lowerdatums), typid, &t) && t > prune->as_of)
		outside = true;
	if (prune->has_lower && bound_time(linitial(spec->upperdatums), typid, &t) &&
		t < prune->lower)
		outside = true;
	return outside;
}

/* Is this relation a leaf already (a child of two parents: multiple inheritance)? */
static bool
has_leaf(TmRelation *r, Oid relid)
{
	for (int i = 0; i < r->nleaves; i++)
		if (RelationGetRelid(r->leaves[i].rel) == relid)
			return true;
	return false;
}

/*
 * Add rel's rows: rel itself if it holds rows, then its partitions or
 * children.  A table that inherits from two parents under the registered
 * one is read once, as SELECT reads it.
 */
static void
expand(TmRelation *r, Relation rel, const TmPrune *prune, int *cap)
{
	List	   *children;
	ListCell   *lc;
	char		kind = rel->rd_rel->relkind;

	check_stack_depth();
	if (kind == RELKIND_VIEW || kind == RELKIND_FOREIGN_TABLE)
	{
		r->executor = true;
		return;
	}
	if (kind != RELKIND_PARTITIONED_TABLE)
		add_leaf(r, rel, cap);
	if (kind != RELKIND_PARTITIONED_TABLE && !rel->rd_rel->relhassubclass)
		return;

	/* locks each child (AccessShareLock), skipping those dropped meanwhile */
	children = find_inheritance_children(RelationGetRelid(rel), AccessShareLock);
	foreach(lc, children)
	{
		Oid			childoid = lfirst_oid(lc);
		Relation	child;

		if (has_leaf(r, childoid))
			continue;
		if (kind == RELKIND_PARTITIONED_TABLE && partition_outside(rel, childoid, prune))
		{
			r->npruned++;
			elog(DEBUG1, "trialmatch: %s: partition \"%s\" skipped: outside the windows",
				 r->what, get_rel_name(childoid));
			continue;
		}
		child = table_open(childoid, NoLock);
		expand(r, child, prune, cap);
		/* kept open only when it is a leaf itself */
		kind = child->rd_rel->relkind;
		if (kind != RELKIND_RELATION && kind != RELKIND_MATVIEW)
			table_close(child, NoLock);
		kind = rel->rd_rel->relkind;
	}
	list_free(children);
}

/* An empty TmRelation for rel, room for cap leaves. */
static void
relation_init(TmRelation *r, Relation rel, const char *what, AttrNumber maxatt, int cap)
{
	memset(r, 0, sizeof(TmRelation));
	r->rel = rel;
	r->what = what;
	r->maxatt = Max(maxatt, 1);
	r->leaves = palloc(sizeof(TmLeaf) * cap);
	r->values = palloc0(sizeof(Datum) * r->maxatt);
	r->isnull = palloc0(sizeof(bool) * r->maxatt);
}

/*
 * Prepare to read rel (registered as what), maxatt attributes of it:
 * expand it into leaves, skipping partitions outside prune's windows
 * (prune may be NULL), or decide to read it through the executor.
 */
void
tm_relation_open(TmRelation *r, Relation rel, const char *what, AttrNumber maxatt,
				 const TmPrune *prune)
{
	int			cap = 4;

	relation_init(r, rel, what, maxatt, cap);
	expand(r, rel, prune, &cap);
	if (r->executor)
	{
		/* a foreign partition somewhere: the whole tree through the executor */
		for (int i = 0; i < r->nleaves; i++)
			if (r->leaves[i].rel != rel)
				table_close(r->leaves[i].rel, NoLock);
		r->nleaves = 0;
		r->npruned = 0;
		elog(DEBUG1, "trialmatch: %s is read through the executor", what);
	}
	else if (r->nleaves != 1 || r->leaves[0].rel != rel)
		elog(DEBUG1, "trialmatch: %s is read through %d tables, %d partitions skipped",
			 what, r->nleaves, r->npruned);
}

/* The same, with the leaves a parallel leader chose. */
void
tm_relation_open_leaves(TmRelation *r, Relation rel, const char *what, AttrNumber maxatt,
						const Oid *leaves, int nleaves)
{
	int			cap = Max(nleaves, 1);

	relation_init(r, rel, what, maxatt, cap);
	for (int i = 0; i < nleaves; i++)
		add_leaf(r, leaves[i] == RelationGetRelid(rel) ? rel :
				 table_open(leaves[i], AccessShareLock), &cap);
}

/* Release the leaves; their locks are kept until the end of the transaction. */
void
tm_relation_close(TmRelation *r)
{
	for (int i = 0; i < r->nleaves; i++)
		if (r->leaves[i].rel != r->rel)
			table_close(r->leaves[i].rel, NoLock);
	r->nleaves = 0;
}

/* An attribute number of the registered relation, in a leaf. */
AttrNumber
tm_leaf_attnum(TmLeaf *leaf, AttrNumber attnum)
{
	if (attnum <= 0 || leaf->map == NULL)
		return attnum;
	return leaf->map[attnum - 1];
}

/* A leaf's row in the registered relation's numbering. */
void
tm_leaf_row(TmRelation *r, TmLeaf *leaf, TupleTableSlot *slot, Datum **values, bool **isnull)
{
	slot_getsomeattrs(slot, leaf->maxatt);
	if (leaf->map == NULL)
	{
		*values = slot->tts_values;
		*isnull = slot->tts_isnull;
		return;
	}
	for (int i = 0; i < r->maxatt; i++)
	{
		AttrNumber	a = leaf->map[i];

		r->isnull[i] = a == 0 || slot->tts_isnull[a - 1];
		r->values[i] = a == 0 ? (Datum) 0 : slot->tts_values[a - 1];
	}
	*values = r->values;
	*isnull = r->isnull;
}

/*
 * What lets a source's partitions be skipped: every event it counts is at
 * or before as_of, and, when it has no end time and every criterion reading
 * it has a window, at or after the earliest window start.
 */
void
tm_source_prune(TmPlan *plan, int srcidx, TmPrune *prune)
{
	TmPlanSource *ps = &plan->sources[srcidx];

	memset(prune, 0, sizeof(TmPrune));
	prune->time_column = ps->def->time_column;
	prune->as_of = plan->as_of;
	prune->has_lower = ps->end_time.attnum == 0 && ps->natoms > 0;
	for (int k = 0; k < ps->natoms && prune->has_lower; k++)
	{
		TmAtom	   *a = &plan->atoms[ps->atoms[k]];

		if (!a->has_lower)
			prune->has_lower = false;
		else if (k == 0 || a->lower < prune->lower)
			prune->lower = a->lower;
	}
}

/*
 * Read a relation through the executor: SELECT its first maxatt columns
 * (all rows, or those whose idcol equals id), calling fn for each row in
 * rowcxt.  Serial; the view's or foreign table's own permissions apply.
 */
void
tm_relation_execute(TmPlan *plan, TmRelation *r, TmColumn *idcol, int64 id,
					MemoryContext rowcxt, TmRowFn fn, void *arg)
{
	TupleDesc	desc = RelationGetDescr(r->rel);
	StringInfoData sql;
	Oid			argtypes[1];
	Datum		args[1];
	Portal		portal;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (int i = 0; i < r->maxatt; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (i > 0)
			appendStringInfoString(&sql, ", ");
		if (i >= desc->natts || att->attisdropped)
			appendStringInfoString(&sql, "NULL::pg_catalog.int4");
		else
			appendStringInfoString(&sql, quote_identifier(NameStr(att->attname)));
	}
	appendStringInfo(&sql, " FROM %s",
					 quote_qualified_identifier(get_namespace_name(RelationGetNamespace(r->rel)),
												RelationGetRelationName(r->rel)));
	if (idcol)
	{
		appendStringInfo(&sql, " WHERE %s OPERATOR(pg_catalog.=) $1",
						 quote_identifier(NameStr(TupleDescAttr(desc, idcol->attnum - 1)->attname)));
		argtypes[0] = idcol->typid;
		args[0] = idcol->typid == INT4OID ? Int32GetDatum((int32) id) : Int64GetDatum(id);
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	portal = SPI_cursor_open_with_args(NULL, sql.data, idcol ? 1 : 0, argtypes, args, NULL,
									   true, CURSOR_OPT_NO_SCROLL);
	for (;;)
	{
		SPITupleTable *tt;
		uint64		n;

		SPI_cursor_fetch(portal, true, 1000);
		tt = SPI_tuptable;
		n = SPI_processed;
		if (n == 0)
			break;
		for (uint64 i = 0; i < n; i++)
		{
			MemoryContext old;

			CHECK_FOR_INTERRUPTS();
			heap_deform_tuple(tt->vals[i], tt->tupdesc, r->values, r->isnull);
			if (idcol && (r->isnull[idcol->attnum - 1] ||
						  (idcol->typid == INT4OID ?
						   (int64) DatumGetInt32(r->values[idcol->attnum - 1]) :
						   DatumGetInt64(r->values[idcol->attnum - 1])) != id))
				continue;
			MemoryContextReset(rowcxt);
			old = MemoryContextSwitchTo(rowcxt);
			fn(plan, arg, r->values, r->isnull);
			MemoryContextSwitchTo(old);
		}
		SPI_freetuptable(tt);
	}
	SPI_cursor_close(portal);
	SPI_finish();
	pfree(sql.data);
}
