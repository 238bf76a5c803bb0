/*-------------------------------------------------------------------------
 *
 * plan.c
 *	  Binding a set of trials to the tables of one call: opens the
 *	  registered tables (AccessShareLock until the end of the transaction),
 *	  resolves and re-checks their columns (so a dropped or retyped column
 *	  is a clear error, never a wrong answer), numbers the event atoms,
 *	  lays out the per-patient state, computes window bounds, and checks
 *	  the caller's privileges.
 *
 * Per-patient state layout: a row of plan->width bytes per patient, holding
 * first the 8-byte-aligned payloads (a count, a min/max, a TmValState for
 * last/first, a TmAvgState for avg) and then one flag byte per atom.  An
 * atom with no measure, ACTIVE or ANY needs only its flag byte; COUNT and
 * MIN/MAX take 8 more bytes, LAST/FIRST 16 more, AVG 32 more.  Identical
 * atoms (atom_key) have one state, however many criteria and trials say
 * them: the state is sized for the union of the call's distinct atoms.
 *
 * IDENTIFICATION
 *	  src/plan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "executor/spi.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "trialmatch.h"

/*
 * The atom keys (atom_key) of a catalog, interned: equal keys get one id,
 * once per tree, and a plan finds the atom of an id in an array.
 */
typedef struct AtomInternEntry
{
	const char *key;
	uint32		hash;
	int			id;
	char		status;			/* simplehash's entry state */
} AtomInternEntry;

#define SH_PREFIX atomintern
#define SH_ELEMENT_TYPE AtomInternEntry
#define SH_KEY_TYPE const char *
#define SH_KEY key
#define SH_HASH_KEY(tb, key) hash_bytes((const unsigned char *) (key), strlen(key))
#define SH_EQUAL(tb, a, b) (strcmp((a), (b)) == 0)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) ((a)->hash)
#define SH_SCOPE static inline
#define SH_DEFINE
#define SH_DECLARE
#include "lib/simplehash.h"

static uint64 bind_serials = 0; /* plans bound by this backend */

static int
plan_source(TmPlan *plan, TmCatalog *cat, const char *name)
{
	TmSourceDef *def;
	TmPlanSource *ps;

	for (int i = 0; i < plan->nsources; i++)
		if (strcmp(plan->sources[i].def->name, name) == 0)
			return i;
	def = tm_catalog_source(cat, name);
	if (def == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("source \"%s\" does not exist", name)));
	ps = &plan->sources[plan->nsources];
	memset(ps, 0, sizeof(TmPlanSource));
	ps->def = def;
	ps->what = psprintf("source \"%s\"", name);
	ps->rel = tm_open_registered(def->relid, ps->what);
	for (int c = 0; c < TM_SOURCE_NCOLUMNS; c++)
	{
		const TmSourceColumnDesc *d = &tm_source_columns[c];
		TmColumn   *col = TM_PLAN_SOURCE_COLUMN(ps, c);

		*col = tm_resolve_column(ps->rel, TM_SOURCE_DEF_COLUMN(def, c), ps->what, d->role,
								 d->types, d->ntypes);
		/* value and unit are read when a criterion needs them (bind_atoms) */
		if (d->always)
			ps->maxattno = Max(ps->maxattno, col->attnum);
	}
	if (ps->unit.attnum && ps->unit.typid != TEXTOID && ps->unit.typid != VARCHAROID &&
		!OidIsValid(cat->concept_relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("unit column \"%s\" of %s holds concept ids, but no vocabulary is registered",
						def->unit_column, ps->what),
				 errhint("trialmatch.use_omop() registers the schema's concept table.")));
	ps->atoms = palloc(sizeof(int) * plan->atomcap);
	return plan->nsources++;
}

static int
count_atoms(TmNode *n)
{
	ListCell   *lc;
	int			k = 0;

	check_stack_depth();
	if (n->kind == TM_N_EVENT)
		return 1;
	foreach(lc, n->args)
		k += count_atoms(lfirst(lc));
	return k;
}

/*
 * Expand '<< concept' codes into the concept and all its descendants, from
 * the registered concept_ancestor table: once per call, into exact codes.
 */
static List *
expand_codes(TmPlan *plan, TmCatalog *cat, List *codes)
{
	ListCell   *lc;
	List	   *out = NIL;
	MemoryContext cxt = CurrentMemoryContext;
	char	   *sql;
	bool		any = false;
	Oid			argtypes[1] = {INT8OID};
	Oid			nsp;

	foreach(lc, codes)
		any |= ((TmCode *) lfirst(lc))->descendants;
	if (!any)
		return codes;
	/* rows of the vocabulary, which change without an invalidation */
	plan->cacheable = false;
	if (!OidIsValid(cat->ancestor_relid) ||
		!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(cat->ancestor_relid)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("<< codes need a registered vocabulary"),
				 errhint("trialmatch.use_omop() registers the schema's concept_ancestor table.")));
	/* read through SPI, which would apply row-level security: refuse instead */
	if (check_enable_rls(cat->ancestor_relid, InvalidOid, true) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("row-level security is enabled for table \"%s\"",
						get_rel_name(cat->ancestor_relid)),
				 errdetail("trialmatch reads the vocabulary directly and cannot apply row-level security policies.")));
	nsp = get_rel_namespace(cat->ancestor_relid);
	/* ordered, so that every parallel participant numbers index ranges alike */
	sql = psprintf("SELECT descendant_concept_id::pg_catalog.int8 FROM %s"
				   " WHERE ancestor_concept_id OPERATOR(pg_catalog.=) $1 ORDER BY 1",
				   quote_qualified_identifier(get_namespace_name(nsp),
											  get_rel_name(cat->ancestor_relid)));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	foreach(lc, codes)
	{
		TmCode	   *c = lfirst(lc);
		Datum		args[1];
		MemoryContext old;
		TmCode	   *self;

		/* everything that outlives SPI_finish is allocated in cxt */
		old = MemoryContextSwitchTo(cxt);
		if (!c->descendants)
		{
			out = lappend(out, c);
			MemoryContextSwitchTo(old);
			continue;
		}
		self = palloc0(sizeof(TmCode));
		self->is_int = true;
		self->ival = c->ival;
		out = lappend(out, self);
		MemoryContextSwitchTo(old);

		args[0] = Int64GetDatum(c->ival);
		if (SPI_execute_with_args(sql, 1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "concept_ancestor query failed");
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
			TmCode	   *x;

			if (isnull || DatumGetInt64(d) == c->ival)
				continue;
			old = MemoryContextSwitchTo(cxt);
			x = palloc0(sizeof(TmCode));
			x->is_int = true;
			x->ival = DatumGetInt64(d);
			out = lappend(out, x);
			MemoryContextSwitchTo(old);
		}
	}
	SPI_finish();
	return out;
}

/*
 * The window of an atom as [win_lo, win_hi] (SPEC 7.3), and what the fold
 * keeps: rows from lower (an event, or its span, reaching it) up to upper.
 * A bound before the earliest timestamp PostgreSQL holds is no bound.
 * ACTIVE, ACTIVE FOR and NEW read every row: they ignore the window (NEW
 * looks at it only for the earliest event).
 */
static void
bind_window(TmPlan *plan, TmAtom *a)
{
	TmEvent    *ev = a->ev;
	TmSpan		near = {ev->window_n, ev->window_unit};

	a->win_has_lo = false;
	a->win_lo = DT_NOBEGIN;
	a->win_hi = plan->as_of;
	if (ev->has_window)
	{
		switch (ev->window_kind)
		{
			case TM_WK_WITHIN:
				a->win_has_lo = tm_time_minus(plan, plan->as_of, near, &a->win_lo);
				break;
			case TM_WK_BETWEEN:
				a->win_has_lo = tm_time_minus(plan, plan->as_of, ev->window_far, &a->win_lo);
				if (!tm_time_minus(plan, plan->as_of, near, &a->win_hi))
					a->win_hi = DT_NOBEGIN;
				break;
			case TM_WK_OVER:
				if (!tm_time_minus(plan, plan->as_of, near, &a->win_hi))
					a->win_hi = DT_NOBEGIN;
				break;
		}
	}
	/* an empty window holds no event (BETWEEN with lo > hi) */
	a->empty = ev->has_window && (a->win_hi == DT_NOBEGIN ||
								  (a->win_has_lo && a->win_lo > a->win_hi));
	if (ev->measure == TM_M_ACTIVE || ev->measure == TM_M_ACTIVE_FOR)
	{
		/* ACTIVE and ACTIVE FOR ignore the window (SPEC 7.3 edge rules) */
		a->empty = false;
		return;
	}
	if (ev->measure == TM_M_NEW)
		return;
	a->has_lower = a->win_has_lo;
	a->lower = a->win_lo;
	a->has_upper = ev->has_window && ev->window_kind != TM_WK_WITHIN;
	a->upper = a->win_hi;
}

/*
 * 1.1: replace @name codes by the codes of the set (trialmatch.code_sets),
 * then expand << codes.
 */
static List *
expand_code_list(TmPlan *plan, TmCatalog *cat, List *codes)
{
	ListCell   *lc;
	List	   *out = NIL;
	bool		any = false;

	foreach(lc, codes)
		any |= ((TmCode *) lfirst(lc))->set != NULL;
	if (any)
	{
		foreach(lc, codes)
		{
			TmCode	   *c = lfirst(lc);
			TmCodeSet  *cs;

			if (c->set == NULL)
			{
				out = lappend(out, c);
				continue;
			}
			cs = tm_catalog_code_set(cat, c->set);
			if (cs == NULL || cs->codes == NIL)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("code set \"%s\" does not exist", c->set),
						 errhint("Code sets are rows of table trialmatch.code_sets (set_name, code).")));
			out = list_concat(out, cs->codes);
		}
		codes = out;
	}
	return expand_codes(plan, cat, codes);
}

/* Do all codes have the column's type (the schema may have drifted)? */
static void
check_code_types(List *codes, TmColumn col, const char *role, const char *what)
{
	ListCell   *lc;
	bool		intcode = col.typid == INT2OID || col.typid == INT4OID || col.typid == INT8OID;

	foreach(lc, codes)
		if (((TmCode *) lfirst(lc))->is_int != intcode)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("%s column of %s has type %s, which does not match the codes of a criterion",
							role, what, format_type_be(col.typid)),
					 errhint("Register the source again, or change the criterion.")));
}

static void
need_range(TmPlanSource *ps, uint8 ref)
{
	TmColumn   *col = ref == TM_REF_ULN ? &ps->range_high : &ps->range_low;

	if (ref == TM_REF_NONE)
		return;
	if (col->attnum == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s has no range %s column", ps->what, ref == TM_REF_ULN ? "high" : "low")));
	ps->needs_range = true;
	ps->maxattno = Max(ps->maxattno, col->attnum);
}

/*
 * 1.1 parts of an atom: categories (IS codes), normal-range bounds,
 * filters on attributes; which columns the source then reads.
 */
static void
bind_atom_11(TmPlan *plan, TmCatalog *cat, TmAtom *a, TmPlanSource *ps)
{
	TmEvent    *ev = a->ev;
	ListCell   *lc;
	bool		category = false;
	const TmTest *reftest = NULL;

	if ((ev->measure == TM_M_LAST || ev->measure == TM_M_FIRST || ev->measure == TM_M_ANY) &&
		ev->test_is.is)
	{
		category = true;
		a->test_codes = expand_code_list(plan, cat, ev->test_is.codes);
	}
	if (ev->has_where && ev->where_is.is)
	{
		category = true;
		a->where_codes = expand_code_list(plan, cat, ev->where_is.codes);
	}
	if (category)
	{
		if (ps->category.attnum == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("%s has no category column", ps->what)));
		check_code_types(list_concat_copy(a->test_codes, a->where_codes), ps->category,
						 "category", ps->what);
		ps->needs_category = true;
		ps->maxattno = Max(ps->maxattno, ps->category.attnum);
		a->kind11 = TM_K_CATEGORY;
	}
	if ((ev->measure == TM_M_LAST || ev->measure == TM_M_FIRST || ev->measure == TM_M_ANY) &&
		!ev->test_is.is && TM_TEST_HAS_REF(&ev->test))
		reftest = &ev->test;
	if ((ev->measure == TM_M_COUNT || ev->measure == TM_M_DAYS) && ev->has_where &&
		!ev->where_is.is && TM_TEST_HAS_REF(&ev->where))
		reftest = &ev->where;
	if (reftest)
	{
		need_range(ps, reftest->lo_ref);
		if (reftest->op == TM_CMP_BETWEEN)
			need_range(ps, reftest->hi_ref);
		a->kind11 = TM_K_RANGE;
	}

	if (ev->filters == NIL)
		return;
	a->nfilters = list_length(ev->filters);
	a->filters = palloc0(sizeof(TmPlanFilter) * a->nfilters);
	foreach(lc, ev->filters)
	{
		TmFilter   *f = lfirst(lc);
		TmPlanFilter *pf = &a->filters[foreach_current_index(lc)];
		TmAttributeDef *ad = tm_source_attribute(ps->def, f->attribute);

		if (ad == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("%s has no attribute \"%s\"", ps->what, f->attribute)));
		pf->f = f;
		pf->col = tm_resolve_column(ps->rel, ad->column, ps->what, "attribute",
									tm_attribute_types, lengthof(tm_attribute_types));
		if (f->is)
		{
			pf->codes = expand_code_list(plan, cat, f->codes);
			check_code_types(pf->codes, pf->col, "attribute", ps->what);
		}
		ps->maxattno = Max(ps->maxattno, pf->col.attnum);
		ps->filtercols = ps->filtercols ?
			repalloc(ps->filtercols, sizeof(AttrNumber) * (ps->nfiltercols + 1)) :
			palloc(sizeof(AttrNumber));
		ps->filtercols[ps->nfiltercols++] = pf->col.attnum;
	}
}

/*
 * What the per-patient state of an event atom depends on, as text: the
 * event's canonical form (tm_deparse, which writes every part of an event),
 * without the test for the measures whose test is applied only when the
 * state is evaluated (eval.c reads the test from the criterion's own node).
 * Atoms of equal keys, in one trial or across the trials of a call (many
 * trials say diagnosis 'E11%'), share one atom: one state, folded once.
 * The sides of a relation are never shared: their rows go to the event
 * times of that relation (timed.c), not to a state of their own.
 */
static char *
atom_key(TmNode *n)
{
	TmNode		copy = *n;
	TmEvent		ev = *n->event;

	switch (ev.measure)
	{
		case TM_M_COUNT:
		case TM_M_LAST:
		case TM_M_FIRST:
		case TM_M_MIN:
		case TM_M_MAX:
			/* 1.1 tests (IS codes, x ULN) are applied to each row: they stay */
			if (!ev.test_is.is && !TM_TEST_HAS_REF(&ev.test))
				memset(&ev.test, 0, sizeof(ev.test));
			break;
		default:
			break;
	}
	copy.event = &ev;
	return tm_deparse(&copy);
}

/* The id of an event node's atom_key in cat (1, 2, ...), a new one if new. */
static int
intern_atom_key(TmCatalog *cat, TmNode *n)
{
	MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(cat));
	char	   *key = atom_key(n);
	AtomInternEntry *e;
	bool		found;

	if (cat->atomids == NULL)
		cat->atomids = atomintern_create(CurrentMemoryContext, 256, NULL);
	e = atomintern_insert_hash(cat->atomids, key,
							   hash_bytes((const unsigned char *) key, strlen(key)), &found);
	if (!found)
		e->id = ++cat->natomids;
	MemoryContextSwitchTo(old);
	return e->id;
}

/* Assign atom numbers and bind each event atom to its source. */
static void
bind_atoms(TmPlan *plan, TmCatalog *cat, TmNode *n, bool share)
{
	ListCell   *lc;
	TmAtom	   *a;
	TmEvent    *ev;
	TmPlanSource *ps;
	bool		intcode;

	check_stack_depth();
	if ((n->kind == TM_N_AGE && plan->pat_birth.attnum == 0 && plan->pat_byear.attnum == 0) ||
		(n->kind == TM_N_SEX && plan->pat_sex.attnum == 0 && plan->pat_gender.attnum == 0))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("the patient table has no %s column",
						n->kind == TM_N_AGE ? "birth date" : "sex"),
				 errhint("Register it with trialmatch.set_patients().")));
	if (n->kind != TM_N_EVENT)
	{
		foreach(lc, n->args)
			bind_atoms(plan, cat, lfirst(lc), n->kind != TM_N_RELATION);
		if (n->kind == TM_N_RELATION)
			tm_timed_plan(plan, n);
		return;
	}
	ev = n->event;
	if (share)
	{
		/* once per tree: the catalog keeps its trees across calls */
		if (n->atomid == 0)
			n->atomid = intern_atom_key(cat, n);
		if (n->atomid >= plan->nids)
		{
			int			nids = Max(plan->nids * 2, n->atomid + 1);

			plan->atom_of_id = repalloc(plan->atom_of_id, sizeof(int) * nids);
			for (int i = plan->nids; i < nids; i++)
				plan->atom_of_id[i] = -1;
			plan->nids = nids;
		}
		if (plan->atom_of_id[n->atomid] >= 0)
		{
			n->atom = plan->atom_of_id[n->atomid];
			plan->nshared++;
			return;
		}
		plan->atom_of_id[n->atomid] = plan->natoms;
	}
	n->atom = plan->natoms;
	a = &plan->atoms[plan->natoms++];
	memset(a, 0, sizeof(TmAtom));
	a->ev = ev;
	a->payload = -1;
	a->codes = expand_code_list(plan, cat, ev->codes);
	a->except = expand_code_list(plan, cat, ev->except);
	a->source = plan_source(plan, cat, ev->source);
	ps = &plan->sources[a->source];
	ps->atoms[ps->natoms++] = n->atom;

	/* the schema may have drifted since the criterion was stored */
	if (ps->code.attnum == 0 && (ev->codes != NIL || ev->except != NIL))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s has no code column", ps->what),
				 errhint("Register the source again with a code_column, or change the criterion.")));
	if (ev->phrases != NIL)
	{
		/* MENTIONS (SPEC 8): reads the text, through the catalog's triggers */
		if (ps->text.attnum == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("%s has no text column", ps->what),
					 errhint("Register the source again with a text_column, or change the criterion.")));
		ps->needs_text = true;
		ps->maxattno = Max(ps->maxattno, ps->text.attnum);
		ps->nmentions++;
		if (cat->negex == NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(cat));

			cat->negex = tm_negex_compile(cat->note_triggers);
			MemoryContextSwitchTo(old);
		}
	}
	intcode = ps->code.typid == INT4OID || ps->code.typid == INT8OID;
	foreach(lc, list_concat_copy(a->codes, a->except))
		if (((TmCode *) lfirst(lc))->is_int != intcode)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("code column \"%s\" of %s has type %s, which does not match the codes of a criterion",
							ps->def->code_column, ps->what, format_type_be(ps->code.typid)),
					 errhint("Register the source again, or change the criterion.")));
	bind_atom_11(plan, cat, a, ps);
	if ((ev->has_where && !ev->where_is.is) ||
		(ev->measure >= TM_M_LAST && ev->measure <= TM_M_ANY && !ev->test_is.is))
	{
		if (ps->value.attnum == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("%s has no value column", ps->what)));
		ps->needs_value = true;
		ps->maxattno = Max(ps->maxattno, ps->value.attnum);
		/* explain_match shows a value with its unit */
		if (ps->unit.attnum)
		{
			ps->needs_unit = true;
			plan->needs_unit_concepts |= ps->unit.typid != TEXTOID && ps->unit.typid != VARCHAROID;
			ps->maxattno = Max(ps->maxattno, ps->unit.attnum);
		}
	}
	if (ev->unit)
	{
		ListCell   *c;

		if (ps->unit.attnum == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("%s has no unit column", ps->what)));
		ps->needs_unit = true;
		ps->maxattno = Max(ps->maxattno, ps->unit.attnum);
		plan->needs_unit_concepts |= ps->unit.typid != TEXTOID && ps->unit.typid != VARCHAROID;
		foreach(c, cat->conversions)
		{
			TmConversion *conv = lfirst(c);

			if (strcmp(conv->to_unit, ev->unit) == 0)
				a->conversions = lappend(a->conversions, conv);
		}
	}
	if (ev->measure == TM_M_AVG)
		tm_avg_plan(a, ps->value.typid);
	if ((ev->measure == TM_M_ACTIVE || ev->measure == TM_M_COVERS) && ps->end_time.attnum == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s has no end time column", ps->what)));

	if ((ev->measure == TM_M_ACTIVE_FOR) && ps->end_time.attnum == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s has no end time column", ps->what)));
	bind_window(plan, a);
	a->timed = -1;
	tm_timed_plan(plan, n);
}

/* Bytes of an atom's payload in the per-patient state (0: its flag only). */
static int
atom_payload_bytes(const TmAtom *a)
{
	switch (a->ev->measure)
	{
		case TM_M_COUNT:
		case TM_M_MIN:
		case TM_M_MAX:
			return 8;
		case TM_M_LAST:
		case TM_M_FIRST:
			return sizeof(TmValState);
		case TM_M_AVG:
			return MAXALIGN(sizeof(TmAvgState));
		case TM_M_DAYS:
		case TM_M_NEW:
			return 8;
		default:
			return 0;
	}
}

/* Lay out per-patient state: payloads first (8-byte aligned), then flags. */
static void
layout_state(TmPlan *plan)
{
	int			off = 0;

	for (int i = 0; i < plan->natoms; i++)
	{
		TmAtom	   *a = &plan->atoms[i];
		int			bytes = atom_payload_bytes(a);

		if (bytes > 0)
		{
			a->payload = off;
			off += bytes;
		}
	}
	for (int i = 0; i < plan->natoms; i++)
		plan->atoms[i].flag = off++;
	tm_timed_layout(plan, &off);
	plan->width = MAXALIGN(Max(off, 1));
}

/* Mark the atoms a tree reads; returns the state bytes of those newly marked. */
static int
mark_atoms(TmPlan *plan, TmNode *n, bool *marked)
{
	ListCell   *lc;
	int			bytes = 0;

	check_stack_depth();
	if (n->kind == TM_N_EVENT)
	{
		if (marked[n->atom])
			return 0;
		marked[n->atom] = true;
		return atom_payload_bytes(&plan->atoms[n->atom]) + 1;
	}
	foreach(lc, n->args)
		bytes += mark_atoms(plan, lfirst(lc), marked);
	return bytes;
}

/*
 * match_all's memory budget: split the plan's trials, in order, into passes
 * whose per-patient state for npatients takes at most budget bytes (a pass
 * plans only its trials, so its state is the union of their distinct atoms,
 * computed here exactly as layout_state will lay it out, plus the
 * TM_ALL_CODE_BYTES per trial of all.c).  A trial is never
 * split: one whose state alone exceeds the budget is a pass of its own.
 * Sets pass_of[t] (0-based) and *max_bytes, the largest pass's state;
 * returns the number of passes.  Uses the atom numbers of this plan, so it
 * must run before another plan is created.
 */
int
tm_plan_passes(TmPlan *plan, int npatients, double budget, int *pass_of, double *max_bytes)
{
	bool	   *marked = palloc0(sizeof(bool) * Max(plan->natoms, 1));
	int			npasses = 1;
	int			bytes = 0;
	int			intrials = 0;

	*max_bytes = 0;
	for (int t = 0; t < plan->ntrials; t++)
	{
		TmTrial    *trial = plan->trials[t];
		bool	   *trialmarked = palloc0(sizeof(bool) * Max(plan->natoms, 1));
		int			add = 0;

		/* what this trial adds to the pass so far */
		memcpy(trialmarked, marked, sizeof(bool) * plan->natoms);
		for (int c = 0; c < trial->ncriteria; c++)
			add += mark_atoms(plan, trial->criteria[c].tree, trialmarked);
		add += TM_ALL_CODE_BYTES;	/* its combination per patient (all.c) */
		if (intrials > 0 &&
			(double) MAXALIGN(Max(bytes + add, 1)) * npatients > budget)
		{
			/* start a new pass with this trial alone */
			*max_bytes = Max(*max_bytes, (double) MAXALIGN(Max(bytes, 1)) * npatients);
			npasses++;
			memset(marked, 0, sizeof(bool) * plan->natoms);
			bytes = 0;
			intrials = 0;
			add = TM_ALL_CODE_BYTES;
			for (int c = 0; c < trial->ncriteria; c++)
				add += mark_atoms(plan, trial->criteria[c].tree, marked);
		}
		else
			memcpy(marked, trialmarked, sizeof(bool) * plan->natoms);
		pfree(trialmarked);
		bytes += add;
		intrials++;
		pass_of[t] = npasses - 1;
	}
	*max_bytes = Max(*max_bytes, (double) MAXALIGN(Max(bytes, 1)) * npatients);
	pfree(marked);
	return npasses;
}

/* The call's as_of, and its calendar date in the session time zone */
static void
set_as_of(TmPlan *plan, TimestampTz as_of)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tz;

	if (TIMESTAMP_NOT_FINITE(as_of))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("as_of must be a finite timestamp")));
	if (timestamp2tm(as_of, &tz, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	plan->as_of = as_of;
	plan->as_of_year = tm.tm_year;
	plan->as_of_mon = tm.tm_mon;
	plan->as_of_mday = tm.tm_mday;
}

/* The date cache starts empty: its values are read only once keyed. */
static void
clear_datecache(TmPlan *plan)
{
	for (int i = 0; i < lengthof(plan->datecache_key); i++)
		plan->datecache_key[i] = DATEVAL_NOEND;
}

/*
 * The trees must still hold this plan's atom numbers when it evaluates: a
 * call nested in the reading of a source or of the vocabulary (a view or
 * foreign table whose query calls trialmatch) binds the trees of its own
 * trials, and would leave those shared with this call numbered for another
 * plan.  Trials the nested call did not screen are untouched.  bound: the
 * serial each of the plan's trials must still have.
 */
static void
check_bound(TmTrial **trials, int ntrials, uint64 bound)
{
	for (int t = 0; t < ntrials; t++)
		if (trials[t]->bound != bound)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("trial \"%s\" was screened by a trialmatch call made while this call read its sources",
							trials[t]->trial_id),
					 errdetail("A source's view or foreign table calls trialmatch for a trial this call screens too."),
					 errhint("Store the inner call's rows in a table, and register that table as the source.")));
}

void
tm_plan_check_bound(TmPlan *plan)
{
	check_bound(plan->trials, plan->ntrials, plan->bind_serial);
}

TmPlan *
tm_plan_create(TmCatalog *cat, TmTrial **trials, int ntrials, TimestampTz as_of)
{
	/* zeroed up to the date cache (clear_datecache) */
	TmPlan	   *plan = palloc(sizeof(TmPlan));
	TmPatientDef *pd = cat->patients;
	int			natoms = 0;

	memset(plan, 0, offsetof(TmPlan, datecache_key));
	set_as_of(plan, as_of);
	plan->cat = cat;
	plan->ntrials = ntrials;
	plan->trials = trials;
	plan->cacheable = true;
	clear_datecache(plan);

	if (pd == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no patient table is registered"),
				 errhint("Register one with trialmatch.set_patients().")));
	plan->patdef = pd;
	plan->patrel = tm_open_registered(pd->relid, "the patient table");
	plan->pat_id = tm_resolve_column(plan->patrel, pd->id_column, "the patient table",
									 "id", tm_id_types, lengthof(tm_id_types));
	plan->pat_birth = tm_resolve_column(plan->patrel, pd->birth_date_column,
										"the patient table", "birth date",
										tm_time_types, lengthof(tm_time_types));
	plan->pat_sex = tm_resolve_column(plan->patrel, pd->sex_column, "the patient table",
									  "sex", tm_text_types, lengthof(tm_text_types));
	plan->pat_gender = tm_resolve_column(plan->patrel, pd->gender_concept_column, "the patient table",
										 "gender concept", tm_id_types, lengthof(tm_id_types));
	plan->pat_byear = tm_resolve_column(plan->patrel, pd->birth_year_column, "the patient table",
										"birth year", tm_int_types, lengthof(tm_int_types));
	plan->pat_bmonth = tm_resolve_column(plan->patrel, pd->birth_month_column, "the patient table",
										 "birth month", tm_int_types, lengthof(tm_int_types));
	plan->pat_bday = tm_resolve_column(plan->patrel, pd->birth_day_column, "the patient table",
									   "birth day", tm_int_types, lengthof(tm_int_types));

	for (int t = 0; t < ntrials; t++)
		for (int c = 0; c < trials[t]->ncriteria; c++)
			natoms += count_atoms(trials[t]->criteria[c].tree);
	/* each is zeroed when bound (bind_atoms, plan_source) */
	plan->atoms = palloc(sizeof(TmAtom) * Max(natoms, 1));
	plan->sources = palloc(sizeof(TmPlanSource) * Max(Min(natoms, list_length(cat->sources)), 1));
	plan->atomcap = Max(natoms, 1);
	plan->nids = cat->natomids + 1;
	plan->atom_of_id = palloc(sizeof(int) * plan->nids);
	for (int i = 0; i < plan->nids; i++)
		plan->atom_of_id[i] = -1;

	/*
	 * Atom numbers are written into the (cached) trees: they are valid for
	 * this plan only, which is fine as calls never overlap in a backend.
	 */
	/* until bound in full, the trees hold no plan's numbers */
	cat->bound = 0;
	for (int t = 0; t < ntrials; t++)
	{
		trials[t]->bound = 0;
		for (int c = 0; c < trials[t]->ncriteria; c++)
			bind_atoms(plan, cat, trials[t]->criteria[c].tree, true);
	}
	/* << codes read the vocabulary through SPI, which may be a view too */
	check_bound(trials, ntrials, 0);
	plan->bind_serial = cat->bound = ++bind_serials;
	for (int t = 0; t < ntrials; t++)
		trials[t]->bound = plan->bind_serial;
	/* event times are numbered into the trees, and their spans from as_of */
	if (plan->ntimed > 0)
		plan->cacheable = false;
	layout_state(plan);

	/* unit concept ids are read as their concept_code (UCUM) */
	if (plan->needs_unit_concepts)
	{
		plan->conceptrel = tm_open_registered(cat->concept_relid, "the vocabulary's concept table");
		plan->concept_id = tm_resolve_column(plan->conceptrel, "concept_id", "the concept table",
											 "concept id", tm_id_types, lengthof(tm_id_types));
		plan->concept_code = tm_resolve_column(plan->conceptrel, "concept_code", "the concept table",
											   "concept code", tm_text_types, lengthof(tm_text_types));
	}
	return plan;
}


/*
 * The plan cache of match_trials.  A call for one patient against every
 * recruiting trial spent a fifth of its time binding the same trees again
 * (bench/README, stop 22).  The last such plan is kept (the template),
 * without its relations, and each call takes a copy of it: the sources and
 * the per-call fields fresh, the relations opened again (and so locked, and
 * invalidations accepted), the atoms shared, or copied and given the
 * windows of another as_of.  The sources' code maps (code -> the atoms that
 * accept it, fold.c) are the template's and grow as calls read codes.  A
 * template serves while
 *	- the catalog is the same load (a change to trials, criteria, sources,
 *	  code sets or conversions loads a new one);
 *	- the trees still hold its atom numbers: no other plan was bound since;
 *	- the session time zone is the same (windows are calendar spans);
 *	- no relcache invalidation of its relations (patients, sources, the
 *	  concept table) arrived since it was bound, checked once the call's
 *	  relations are locked: an ALTER, DROP, GRANT, CREATE INDEX or ANALYZE
 *	  of one of them (columns are resolved by name when bound), or a reset
 *	  of the whole relcache;
 *	- its memory is at most PLAN_CACHE_MAX_BYTES, checked as each call ends.
 * Privileges are checked by each call, as the role of that call.  Not kept:
 * plans with DAYS, ACTIVE FOR or relations between events (their event
 * times are numbered into the trees), and plans with << codes (rows of the
 * vocabulary, which change without an invalidation).  A call pins the
 * template it copied until the call's memory goes; one replaced meanwhile
 * is freed by the last unpin.
 */
typedef struct PlanTemplate
{
	MemoryContext cxt;			/* holds the template and this */
	TmPlan	   *plan;			/* its relation fields unset */
	uint64		cat_serial;
	pg_tz	   *tz;
	int			nrelids;
	Oid		   *relids;			/* its relations */
	bool		stale;			/* one of them was invalidated */
	int			pins;
	bool		retired;
} PlanTemplate;

static PlanTemplate *template = NULL;
static bool inval_registered = false;

/* a template's code maps grow with the codes read; beyond this, dropped */
#define PLAN_CACHE_MAX_BYTES	((Size) 16 * 1024 * 1024)

/* A relcache invalidation: the template is stale if it names the relation. */
static void
template_inval(Datum arg, Oid relid)
{
	PlanTemplate *t = template;

	if (t == NULL)
		return;
	if (relid == InvalidOid)
		t->stale = true;
	for (int i = 0; i < t->nrelids && !t->stale; i++)
		t->stale = t->relids[i] == relid;
}

/* The end of a call that used t: a template grown too big is dropped. */
static void
template_unpin(void *arg)
{
	PlanTemplate *t = arg;

	if (t == template && MemoryContextMemAllocated(t->cxt, true) > PLAN_CACHE_MAX_BYTES)
	{
		template = NULL;
		t->retired = true;
	}
	if (--t->pins == 0 && t->retired)
		MemoryContextDelete(t->cxt);
}

static void
template_pin(PlanTemplate *t)
{
	MemoryContextCallback *cb = palloc(sizeof(MemoryContextCallback));

	cb->func = template_unpin;
	cb->arg = t;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, cb);
	t->pins++;
}

static void
template_drop(void)
{
	PlanTemplate *t = template;

	template = NULL;
	if (t == NULL)
		return;
	if (t->pins > 0)
		t->retired = true;
	else
		MemoryContextDelete(t->cxt);
}

static bool
template_fits(PlanTemplate *t, TmCatalog *cat, TmTrial **trials, int ntrials)
{
	TmPlan	   *tp = t->plan;

	return t->cat_serial == cat->serial && cat->bound == tp->bind_serial &&
		t->tz == session_timezone && tp->ntrials == ntrials &&
		memcmp(tp->trials, trials, sizeof(TmTrial *) * ntrials) == 0;
}

/* Open the relations of a plan bound earlier (tm_plan_create opens them as it binds) */
static void
plan_open(TmPlan *plan)
{
	plan->patrel = tm_open_registered(plan->patdef->relid, "the patient table");
	for (int i = 0; i < plan->nsources; i++)
		plan->sources[i].rel = tm_open_registered(plan->sources[i].def->relid,
												  plan->sources[i].what);
	if (plan->needs_unit_concepts)
		plan->conceptrel = tm_open_registered(plan->cat->concept_relid,
											  "the vocabulary's concept table");
}

/*
 * A call's copy of template tp at as_of, in the current memory context, its
 * per-call fields zeroed; relations not opened.
 */
static TmPlan *
plan_copy(const TmPlan *tp, TmTrial **trials, TimestampTz as_of)
{
	TmPlan	   *plan = palloc(sizeof(TmPlan));

	memcpy(plan, tp, offsetof(TmPlan, patrel));
	memset(&plan->patrel, 0, offsetof(TmPlan, datecache_key) - offsetof(TmPlan, patrel));
	clear_datecache(plan);
	plan->trials = trials;
	plan->sources = palloc(sizeof(TmPlanSource) * Max(tp->nsources, 1));
	for (int i = 0; i < tp->nsources; i++)
	{
		TmPlanSource *ps = &plan->sources[i];

		memcpy(ps, &tp->sources[i], offsetof(TmPlanSource, rel));
		memset(&ps->rel, 0, sizeof(TmPlanSource) - offsetof(TmPlanSource, rel));
	}
	if (as_of != tp->as_of)
	{
		set_as_of(plan, as_of);
		plan->atoms = palloc(sizeof(TmAtom) * Max(tp->natoms, 1));
		memcpy(plan->atoms, tp->atoms, sizeof(TmAtom) * tp->natoms);
		for (int i = 0; i < plan->natoms; i++)
			bind_window(plan, &plan->atoms[i]);
	}
	return plan;
}

/*
 * tm_plan_create for trials at as_of, from the plan cache when it holds
 * them; a plan that can be kept is kept for the next call.
 */
TmPlan *
tm_plan_cached(TmCatalog *cat, TmTrial **trials, int ntrials, TimestampTz as_of)
{
	PlanTemplate *t = template;
	MemoryContext cxt;
	MemoryContext old;
	TmTrial   **kept;
	TmPlan	   *plan;
	uint64		invals;

	if (t && template_fits(t, cat, trials, ntrials))
	{
		plan = plan_copy(t->plan, trials, as_of);
		plan_open(plan);
		if (!t->stale)
		{
			template_pin(t);
			ereport(DEBUG1,
					(errmsg_internal("trialmatch: the plan of %d trials reused", ntrials)));
			return plan;
		}
		tm_plan_close(plan);
	}
	template_drop();

	/* bound in a context of its own, under the call's until complete */
	cxt = AllocSetContextCreate(CurrentMemoryContext, "trialmatch plan cache",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	invals = tm_catalog_relcache_invals();
	kept = palloc(sizeof(TmTrial *) * Max(ntrials, 1));
	memcpy(kept, trials, sizeof(TmTrial *) * ntrials);
	plan = tm_plan_create(cat, kept, ntrials, as_of);
	if (!plan->cacheable || tm_catalog_relcache_invals() != invals)
	{
		MemoryContextSwitchTo(old);
		return plan;			/* freed with the call's context */
	}
	tm_codemaps_init(plan);		/* filled by the calls, kept with the plan */
	MemoryContextSwitchTo(old);

	/* keep it, and give the call a copy that takes its relations */
	if (!inval_registered)
	{
		CacheRegisterRelcacheCallback(template_inval, (Datum) 0);
		inval_registered = true;
	}
	t = MemoryContextAllocZero(cxt, sizeof(PlanTemplate));
	t->cxt = cxt;
	t->plan = plan;
	t->cat_serial = cat->serial;
	t->tz = session_timezone;
	t->relids = MemoryContextAlloc(cxt, sizeof(Oid) * (plan->nsources + 2));
	t->relids[t->nrelids++] = RelationGetRelid(plan->patrel);
	for (int i = 0; i < plan->nsources; i++)
		t->relids[t->nrelids++] = RelationGetRelid(plan->sources[i].rel);
	if (plan->conceptrel)
		t->relids[t->nrelids++] = RelationGetRelid(plan->conceptrel);
	plan = plan_copy(t->plan, trials, as_of);
	plan->patrel = t->plan->patrel;
	plan->conceptrel = t->plan->conceptrel;
	for (int i = 0; i < plan->nsources; i++)
		plan->sources[i].rel = t->plan->sources[i].rel;
	t->plan->patrel = t->plan->conceptrel = NULL;
	for (int i = 0; i < plan->nsources; i++)
		t->plan->sources[i].rel = NULL;
	MemoryContextSetParent(cxt, CacheMemoryContext);
	template = t;
	template_pin(t);
	return plan;
}

/*
 * The attribute number of source column c (tm_source_columns) if a call
 * reads it from the source's rows, else 0: value, unit and the 1.1 columns
 * (category, range, text) only when a criterion reads them.  Privileges are checked on these columns, and an
 * index holding them all can be read alone (indexonly.c).
 */
AttrNumber
tm_source_reads_column(TmPlanSource *ps, int c)
{
	if ((c == TM_SC_VALUE && !ps->needs_value) || (c == TM_SC_UNIT && !ps->needs_unit) ||
		(c == TM_SC_CATEGORY && !ps->needs_category) ||
		((c == TM_SC_RANGE_LOW || c == TM_SC_RANGE_HIGH) && !ps->needs_range) ||
		(c == TM_SC_TEXT && !ps->needs_text))
		return 0;
	return TM_PLAN_SOURCE_COLUMN(ps, c)->attnum;
}

/*
 * The caller must be able to SELECT every column we read, and row-level
 * security must not apply to it: we read tables directly and would bypass
 * the policies.
 */
static void
check_relation(Relation rel, AttrNumber *cols, int ncols)
{
	Oid			relid = RelationGetRelid(rel);
	Oid			user = GetUserId();

	if (pg_class_aclcheck(relid, user, ACL_SELECT) != ACLCHECK_OK)
	{
		for (int i = 0; i < ncols; i++)
			if (cols[i] != 0 &&
				pg_attribute_aclcheck(relid, cols[i], user, ACL_SELECT) != ACLCHECK_OK)
				aclcheck_error(ACLCHECK_NO_PRIV, get_relkind_objtype(rel->rd_rel->relkind),
							   RelationGetRelationName(rel));
	}
	if (check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("row-level security is enabled for table \"%s\"",
						RelationGetRelationName(rel)),
				 errdetail("trialmatch reads source tables directly and cannot apply row-level security policies."),
				 errhint("Screen as a role that is exempt from the table's policies, or disable row-level security on it.")));
}

void
tm_plan_check_privileges(TmPlan *plan)
{
	AttrNumber	cols[Max(TM_SOURCE_NCOLUMNS, 7)];

	cols[0] = plan->pat_id.attnum;
	cols[1] = plan->pat_birth.attnum;
	cols[2] = plan->pat_sex.attnum;
	cols[3] = plan->pat_gender.attnum;
	cols[4] = plan->pat_byear.attnum;
	cols[5] = plan->pat_bmonth.attnum;
	cols[6] = plan->pat_bday.attnum;
	check_relation(plan->patrel, cols, 7);
	if (plan->conceptrel)
	{
		cols[0] = plan->concept_id.attnum;
		cols[1] = plan->concept_code.attnum;
		check_relation(plan->conceptrel, cols, 2);
	}
	for (int i = 0; i < plan->nsources; i++)
	{
		TmPlanSource *ps = &plan->sources[i];

		for (int c = 0; c < TM_SOURCE_NCOLUMNS; c++)
			cols[c] = tm_source_reads_column(ps, c);
		check_relation(ps->rel, cols, TM_SOURCE_NCOLUMNS);
		/* 1.1: the attribute columns filters read */
		if (ps->nfiltercols > 0)
			check_relation(ps->rel, ps->filtercols, ps->nfiltercols);
	}
}

/* Release the relations; their locks are kept until the end of the transaction. */
void
tm_plan_close(TmPlan *plan)
{
	for (int i = 0; i < plan->nsources; i++)
	{
		tm_relation_close(&plan->sources[i].read);
		table_close(plan->sources[i].rel, NoLock);
	}
	tm_relation_close(&plan->patread);
	table_close(plan->patrel, NoLock);
	if (plan->conceptrel)
	{
		tm_relation_close(&plan->conceptread);
		table_close(plan->conceptrel, NoLock);
	}
}
