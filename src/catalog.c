/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  The trialmatch catalog: loading sources, trials, criteria and unit
 *	  conversions; the per-backend cache of parsed criteria and its
 *	  invalidation; validation of expressions against the registered
 *	  sources, run by triggers whenever criteria or sources change.
 *
 * Cache invalidation: every statement that changes a catalog table fires a
 * statement trigger that queues a relcache invalidation for the criteria
 * table (the "sentinel").  PostgreSQL delivers it to every backend when the
 * transaction commits, and to our own backend at the next command counter
 * increment; the callback marks the cache stale.  The stale cache is freed
 * at the next tm_catalog() call, never inside the callback, so a call in
 * progress keeps a consistent catalog.
 *
 * Every call first accepts pending invalidation messages (inside a
 * transaction block a committed change would otherwise be seen only at the
 * next lock on a new relation), and the cache is marked valid only after a
 * load succeeded: an error while loading (a lock timeout, a cancel) leaves
 * it invalid, to be loaded again by the next call.  An invalidation that
 * arrives while a load is under way bumps a counter, and such a load is
 * used for its own call but not kept as valid.
 *
 * IDENTIFICATION
 *	  src/catalog.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/float.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "trialmatch.h"

/*
 * A loaded catalog, in its own context.  A call pins the catalog it uses
 * until the call's memory context goes away; a catalog that became stale
 * while pinned (a view read through the executor may itself call
 * trialmatch, and a catalog change may commit meanwhile) is retired, and
 * freed only when its last pin goes.
 */
typedef struct CacheEntry
{
	MemoryContext cxt;
	TmCatalog  *cat;
	int			pins;
	bool		retired;
} CacheEntry;

static CacheEntry *cache = NULL;
static bool cache_valid = false;
static uint64 inval_count = 0;	/* invalidations seen, ever */
static uint64 relcache_invals = 0;	/* of any relation (plan.c's cache) */
static uint64 catalog_serial = 0;	/* catalogs loaded by this backend */
static Oid	sentinel_relid = InvalidOid;

PG_FUNCTION_INFO_V1(tm_catalog_changed_trigger);
PG_FUNCTION_INFO_V1(tm_criteria_check_trigger);
PG_FUNCTION_INFO_V1(tm_sources_check_trigger);
PG_FUNCTION_INFO_V1(tm_code_sets_check_trigger);

static Oid
lookup_sentinel(void)
{
	Oid			nsp = get_namespace_oid(TM_SCHEMA, false);

	return get_relname_relid("criteria", nsp);
}

static void
cache_release(CacheEntry *e)
{
	MemoryContextDelete(e->cxt);	/* e lives in it */
}

/* A reset callback of a call's context: the call no longer uses e. */
static void
cache_unpin(void *arg)
{
	CacheEntry *e = arg;

	if (--e->pins == 0 && e->retired)
		cache_release(e);
}

static TmCatalog *
cache_pin(CacheEntry *e)
{
	MemoryContextCallback *cb = palloc(sizeof(MemoryContextCallback));

	cb->func = cache_unpin;
	cb->arg = e;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, cb);
	e->pins++;
	return e->cat;
}

static void
inval_callback(Datum arg, Oid relid)
{
	relcache_invals++;
	if (relid == InvalidOid || relid == sentinel_relid)
	{
		cache_valid = false;
		inval_count++;
	}
}

void
tm_catalog_init(void)
{
	CacheRegisterRelcacheCallback(inval_callback, (Datum) 0);
}

/*
 * How many relcache invalidations this backend has seen, of any relation:
 * a plan bound before the count last moved may name columns that changed
 * (plan.c, tm_plan_cached).
 */
uint64
tm_catalog_relcache_invals(void)
{
	return relcache_invals;
}

static char *
spi_text(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	if (isnull)
		return NULL;
	return TextDatumGetCString(d);
}

/* Run a catalog query (constant text, schema-qualified) through SPI. */
static bool spi_read_only = true;

static void
spi_query(const char *sql)
{
	if (SPI_execute(sql, spi_read_only, 0) != SPI_OK_SELECT)
		elog(ERROR, "trialmatch catalog query failed: %s", sql);
}

/* Does the catalog table exist (a 1.1 table on a 1.0 schema does not)? */
static bool
catalog_table_exists(const char *name)
{
	Oid			nsp = get_namespace_oid(TM_SCHEMA, true);

	return OidIsValid(nsp) && OidIsValid(get_relname_relid(name, nsp));
}

TmCodeSet *
tm_catalog_code_set(TmCatalog *cat, const char *name)
{
	ListCell   *lc;

	foreach(lc, cat->code_sets)
	{
		TmCodeSet  *cs = lfirst(lc);

		if (strcmp(cs->name, name) == 0)
			return cs;
	}
	return NULL;
}

TmAttributeDef *
tm_source_attribute(TmSourceDef *src, const char *name)
{
	ListCell   *lc;

	foreach(lc, src->attributes)
	{
		TmAttributeDef *a = lfirst(lc);

		if (strcmp(a->name, name) == 0)
			return a;
	}
	return NULL;
}

/* Add a code (as stored) to a code set, creating the set. */
static void
code_set_add(TmCatalog *cat, const char *name, const char *text)
{
	TmCodeSet  *cs = tm_catalog_code_set(cat, name);
	TmCode	   *code;

	if (cs == NULL)
	{
		cs = palloc0(sizeof(TmCodeSet));
		cs->name = pstrdup(name);
		cat->code_sets = lappend(cat->code_sets, cs);
	}
	code = tm_parse_code_text(text);
	/* the write trigger refuses such a code; a restore may skip it: ignore it */
	if (code == NULL)
		return;
	cs->codes = lappend(cs->codes, code);
	cs->texts = lappend(cs->texts, pstrdup(text));
}

/*
 * 1.1: the attributes of the sources and the code sets, when the schema
 * has their tables (a new library runs on a 1.0 schema until ALTER
 * EXTENSION ... UPDATE).
 */
static void
load_catalog_11(TmCatalog *cat, MemoryContext cxt)
{
	MemoryContext old;

	if (catalog_table_exists("source_attributes"))
	{
		spi_query("SELECT source, name, column_name::pg_catalog.text FROM " TM_SCHEMA
				  ".source_attributes ORDER BY source, name");
		old = MemoryContextSwitchTo(cxt);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			TmSourceDef *src = tm_catalog_source(cat, spi_text(tup, desc, 1));
			TmAttributeDef *a;

			if (src == NULL)
				continue;
			a = palloc0(sizeof(TmAttributeDef));
			a->name = spi_text(tup, desc, 2);
			a->column = spi_text(tup, desc, 3);
			src->attributes = lappend(src->attributes, a);
		}
		MemoryContextSwitchTo(old);
	}
	if (catalog_table_exists("code_sets"))
	{
		spi_query("SELECT set_name, code FROM " TM_SCHEMA ".code_sets ORDER BY set_name, code");
		old = MemoryContextSwitchTo(cxt);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;

			code_set_add(cat, spi_text(tup, desc, 1), spi_text(tup, desc, 2));
		}
		MemoryContextSwitchTo(old);
	}
}

/*
 * Read the catalog tables.  With trials = false only the patient source,
 * the sources and the conversions are read.  Allocates in the current
 * memory context; the caller is connected to SPI.
 */
static TmCatalog *
load_catalog(MemoryContext cxt, bool trials, bool read_only)
{
	TmCatalog  *cat;
	MemoryContext old;
	uint64		i;

	cat = MemoryContextAllocZero(cxt, sizeof(TmCatalog));
	cat->serial = ++catalog_serial;
	/* triggers must see the statement's own changes */
	spi_read_only = read_only;

	spi_query("SELECT relation::pg_catalog.oid::pg_catalog.text, id_column::pg_catalog.text,"
			  " birth_date_column::pg_catalog.text, sex_column::pg_catalog.text,"
			  " gender_concept_column::pg_catalog.text, birth_year_column::pg_catalog.text,"
			  " birth_month_column::pg_catalog.text, birth_day_column::pg_catalog.text"
			  " FROM " TM_SCHEMA ".patient_source");
	old = MemoryContextSwitchTo(cxt);
	if (SPI_processed > 0)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		cat->patients = palloc0(sizeof(TmPatientDef));
		cat->patients->relid = (Oid) strtoul(spi_text(tup, desc, 1), NULL, 10);
		cat->patients->id_column = spi_text(tup, desc, 2);
		cat->patients->birth_date_column = spi_text(tup, desc, 3);
		cat->patients->sex_column = spi_text(tup, desc, 4);
		cat->patients->gender_concept_column = spi_text(tup, desc, 5);
		cat->patients->birth_year_column = spi_text(tup, desc, 6);
		cat->patients->birth_month_column = spi_text(tup, desc, 7);
		cat->patients->birth_day_column = spi_text(tup, desc, 8);
	}
	MemoryContextSwitchTo(old);

	{
		StringInfoData sql;

		/*
		 * Each column through the row's jsonb, so that a column a later
		 * version added reads as NULL while the schema is still the older
		 * one (a new library before ALTER EXTENSION ... UPDATE).
		 */
		initStringInfo(&sql);
		appendStringInfoString(&sql, "SELECT s.name, s.relation::pg_catalog.oid::pg_catalog.text");
		for (int c = 0; c < TM_SOURCE_NCOLUMNS; c++)
			appendStringInfo(&sql, ", pg_catalog.to_jsonb(s) OPERATOR(pg_catalog.->>) %s",
							 quote_literal_cstr(tm_source_columns[c].column));
		appendStringInfoString(&sql, " FROM " TM_SCHEMA ".sources s ORDER BY s.name");
		spi_query(sql.data);
	}
	old = MemoryContextSwitchTo(cxt);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		TmSourceDef *s = palloc0(sizeof(TmSourceDef));

		s->name = spi_text(tup, desc, 1);
		s->relid = (Oid) strtoul(spi_text(tup, desc, 2), NULL, 10);
		for (int c = 0; c < TM_SOURCE_NCOLUMNS; c++)
			TM_SOURCE_DEF_COLUMN(s, c) = spi_text(tup, desc, 3 + c);
		cat->sources = lappend(cat->sources, s);
	}
	MemoryContextSwitchTo(old);

	spi_query("SELECT code, from_unit, to_unit, factor::pg_catalog.text, \"offset\"::pg_catalog.text"
			  " FROM " TM_SCHEMA ".unit_conversions");
	old = MemoryContextSwitchTo(cxt);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		TmConversion *c = palloc0(sizeof(TmConversion));

		c->code = spi_text(tup, desc, 1);
		c->from_unit = spi_text(tup, desc, 2);
		c->to_unit = spi_text(tup, desc, 3);
		c->factor = float8in_internal(spi_text(tup, desc, 4), NULL, "double precision", "");
		c->offset = float8in_internal(spi_text(tup, desc, 5), NULL, "double precision", "");
		cat->conversions = lappend(cat->conversions, c);
	}
	MemoryContextSwitchTo(old);

	spi_query("SELECT concept::pg_catalog.oid::pg_catalog.text,"
			  " concept_ancestor::pg_catalog.oid::pg_catalog.text FROM " TM_SCHEMA ".vocabulary");
	if (SPI_processed > 0)
	{
		cat->concept_relid = (Oid) strtoul(spi_text(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), NULL, 10);
		cat->ancestor_relid = (Oid) strtoul(spi_text(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2), NULL, 10);
	}

	load_catalog_11(cat, cxt);

	if (!trials)
		return cat;

	/* SPEC 8: the context triggers of clinical notes */
	cat->note_triggers = tm_notes_load_triggers(cxt);

	spi_query("SELECT trial_id, status FROM " TM_SCHEMA ".trials ORDER BY trial_id");
	old = MemoryContextSwitchTo(cxt);
	for (i = 0; i < SPI_processed; i++)
	{
		TmTrial    *t = palloc0(sizeof(TmTrial));

		t->trial_id = spi_text(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		t->status = spi_text(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		cat->trials = lappend(cat->trials, t);
	}
	MemoryContextSwitchTo(old);

	/* positions are integers: ordered as integers, never as text */
	spi_query("SELECT c.trial_id, c.position, c.kind, c.label, c.expr"
			  " FROM " TM_SCHEMA ".criteria c ORDER BY c.trial_id, c.position");
	old = MemoryContextSwitchTo(cxt);
	for (int pass = 0; pass < 2; pass++)
	{
		ListCell   *lc = list_head(cat->trials);
		TmTrial    *t = NULL;

		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			char	   *tid = spi_text(tup, desc, 1);
			TmCriterion *c;

			while (lc && strcmp(((TmTrial *) lfirst(lc))->trial_id, tid) != 0)
				lc = lnext(cat->trials, lc);
			if (lc == NULL)
				elog(ERROR, "criteria of unknown trial \"%s\"", tid);
			if (t != lfirst(lc))
			{
				t = lfirst(lc);
				if (pass == 1)
				{
					t->criteria = palloc0(sizeof(TmCriterion) * t->ncriteria);
					t->ncriteria = 0;
				}
			}
			if (pass == 0)
			{
				t->ncriteria++;
				continue;
			}
			c = &t->criteria[t->ncriteria++];
			{
				bool		isnull;

				c->position = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
			}
			c->exclusion = strcmp(spi_text(tup, desc, 3), "exclusion") == 0;
			c->label = spi_text(tup, desc, 4);
			c->expr = spi_text(tup, desc, 5);
			c->tree = tm_parse(c->expr);
		}
	}
	MemoryContextSwitchTo(old);
	return cat;
}

/*
 * The catalog, from the cache when it is still valid.  The result stays
 * valid until the next call of tm_catalog().
 */
TmCatalog *
tm_catalog(void)
{
	MemoryContext newcxt;
	TmCatalog  *cat;
	CacheEntry *entry;
	uint64		seen;

	/* a change committed since the last call, even inside this transaction */
	AcceptInvalidationMessages();
	/* the sentinel may have changed (extension dropped and re-created) */
	if (cache_valid && sentinel_relid != lookup_sentinel())
		cache_valid = false;
	if (cache_valid && cache != NULL)
		return cache_pin(cache);
	cache_valid = false;
	if (cache)
	{
		/* in use by a call under way (a nested call): freed by its last unpin */
		if (cache->pins > 0)
			cache->retired = true;
		else
			cache_release(cache);
		cache = NULL;
	}

	/*
	 * Build under the current context so that an error frees it; move it
	 * under CacheMemoryContext once complete.
	 */
	newcxt = AllocSetContextCreate(CurrentMemoryContext, "trialmatch catalog",
								   ALLOCSET_SMALL_SIZES);
	seen = inval_count;
	sentinel_relid = lookup_sentinel();

	/*
	 * Read the latest committed catalog (and this transaction's own
	 * changes), as PostgreSQL reads its system catalogs: a cache built from
	 * an older transaction snapshot (REPEATABLE READ) would otherwise be
	 * kept as valid after that snapshot is gone.
	 */
	PushActiveSnapshot(GetLatestSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	cat = load_catalog(newcxt, true, true);
	SPI_finish();
	PopActiveSnapshot();
	MemoryContextSetParent(newcxt, CacheMemoryContext);
	entry = MemoryContextAllocZero(newcxt, sizeof(CacheEntry));
	entry->cxt = newcxt;
	entry->cat = cat;
	cache = entry;
	/* valid only now, and only if nothing changed while we read */
	cache_valid = (inval_count == seen);
	return cache_pin(entry);
	return cat;
}

TmTrial *
tm_catalog_trial(TmCatalog *cat, const char *trial_id)
{
	ListCell   *lc;

	foreach(lc, cat->trials)
	{
		TmTrial    *t = lfirst(lc);

		if (strcmp(t->trial_id, trial_id) == 0)
			return t;
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("trial \"%s\" does not exist", trial_id),
			 errhint("Trials are listed in table trialmatch.trials.")));
	return NULL;
}

TmSourceDef *
tm_catalog_source(TmCatalog *cat, const char *name)
{
	ListCell   *lc;

	foreach(lc, cat->sources)
	{
		TmSourceDef *s = lfirst(lc);

		if (strcmp(s->name, name) == 0)
			return s;
	}
	return NULL;
}

/*
 * Open a registered table, with a clear error if it was dropped since it
 * was registered.
 */
Relation
tm_open_registered(Oid relid, const char *what)
{
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the table of %s no longer exists", what),
				 errhint("Register the table again with trialmatch.add_source() or trialmatch.set_patients().")));
	return table_open(relid, AccessShareLock);
}

/*
 * Find a registered column in an open relation and check its type; a
 * clear error naming the source and the column when it was dropped or
 * retyped since registration.
 */
TmColumn
tm_resolve_column(Relation rel, const char *colname, const char *what,
				  const char *role, const Oid *allowed, int nallowed)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TmColumn	col = {0, InvalidOid};

	if (colname == NULL)
		return col;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), colname) == 0)
		{
			col.attnum = att->attnum;
			col.typid = att->atttypid;
			break;
		}
	}
	if (col.attnum == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s column \"%s\" of %s does not exist",
						role, colname, what),
				 errdetail("Table \"%s\" has no column \"%s\".",
						   RelationGetRelationName(rel), colname),
				 errhint("Register the table again with trialmatch.add_source() or trialmatch.set_patients().")));
	for (int i = 0; i < nallowed; i++)
		if (allowed[i] == col.typid)
			return col;
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("%s column \"%s\" of %s has unsupported type %s",
					role, colname, what, format_type_be(col.typid)),
			 errhint("Register the table again with trialmatch.add_source() or trialmatch.set_patients().")));
	return col;
}

const Oid	tm_id_types[] = {INT4OID, INT8OID};
const Oid	tm_code_types[] = {TEXTOID, VARCHAROID, INT4OID, INT8OID};
const Oid	tm_time_types[] = {DATEOID, TIMESTAMPOID, TIMESTAMPTZOID};
const Oid	tm_value_types[] = {NUMERICOID, FLOAT4OID, FLOAT8OID, INT2OID, INT4OID, INT8OID};
const Oid	tm_text_types[] = {TEXTOID, VARCHAROID};
const Oid	tm_int_types[] = {INT2OID, INT4OID, INT8OID};
const Oid	tm_unit_types[] = {TEXTOID, VARCHAROID, INT4OID, INT8OID};
const Oid	tm_attribute_types[] = {TEXTOID, VARCHAROID, INT2OID, INT4OID, INT8OID,
	NUMERICOID, FLOAT4OID, FLOAT8OID, BOOLOID};

#define SRC_COLUMN(col, role, field, planfield, types, always) \
	{col, role, offsetof(TmSourceDef, field), offsetof(TmPlanSource, planfield), \
	 types, lengthof(types), always}

const TmSourceColumnDesc tm_source_columns[TM_SOURCE_NCOLUMNS] = {
	[TM_SC_PATIENT] = SRC_COLUMN("patient_column", "patient", patient_column, patient, tm_id_types, true),
	[TM_SC_CODE] = SRC_COLUMN("code_column", "code", code_column, code, tm_code_types, true),
	[TM_SC_TIME] = SRC_COLUMN("time_column", "time", time_column, time, tm_time_types, true),
	[TM_SC_END_TIME] = SRC_COLUMN("end_time_column", "end time", end_time_column, end_time, tm_time_types, true),
	[TM_SC_VALUE] = SRC_COLUMN("value_column", "value", value_column, value, tm_value_types, false),
	[TM_SC_UNIT] = SRC_COLUMN("unit_column", "unit", unit_column, unit, tm_unit_types, false),
	[TM_SC_TIME_FALLBACK] = SRC_COLUMN("time_fallback_column", "time fallback", time_fallback_column, time_fallback,
			   tm_time_types, true),
	[TM_SC_END_FALLBACK] = SRC_COLUMN("end_time_fallback_column", "end time fallback", end_time_fallback_column,
			   end_fallback, tm_time_types, true),
	[TM_SC_CATEGORY] = SRC_COLUMN("category_column", "category", category_column, category, tm_code_types, false),
	[TM_SC_RANGE_LOW] = SRC_COLUMN("range_low_column", "range low", range_low_column, range_low,
			   tm_value_types, false),
	[TM_SC_RANGE_HIGH] = SRC_COLUMN("range_high_column", "range high", range_high_column, range_high,
			   tm_value_types, false),
	[TM_SC_TEXT] = SRC_COLUMN("text_column", "text", text_column, text, tm_text_types, false),
};

static void
expr_error(const char *expr, int location, int sqlstate, const char *msg,
		   const char *hint)
{
	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg_internal("%s", msg),
			 errdetail("At position %d:\n%s", location, tm_caret(expr, location)),
			 hint ? errhint("%s", hint) : 0));
}

/*
 * Check a code list against the type of the column it is compared with
 * (42804), its << codes against the vocabulary and its @sets against
 * trialmatch.code_sets (42704); @sets are checked code by code.
 */
static void
check_code_list(const char *expr, TmNode *node, TmCatalog *cat, List *codes,
				bool intcodes, const char *what, const char *column,
				const TmCheckScope *scope)
{
	ListCell   *lc;

	foreach(lc, codes)
	{
		TmCode	   *c = lfirst(lc);
		List	   *members = list_make1(c);
		ListCell   *m;

		if (c->set)
		{
			TmCodeSet  *cs = tm_catalog_code_set(cat, c->set);

			if (cs == NULL || cs->codes == NIL)
			{
				StringInfoData names;
				ListCell   *k;

				initStringInfo(&names);
				foreach(k, cat->code_sets)
					appendStringInfo(&names, "%s%s", names.len ? ", " : "",
									 ((TmCodeSet *) lfirst(k))->name);
				expr_error(expr, c->location, ERRCODE_UNDEFINED_OBJECT,
						   psprintf("code set \"%s\" does not exist", c->set),
						   names.len ? psprintf("Code sets: %s.", names.data) :
						   "Code sets are rows of table trialmatch.code_sets (set_name, code).");
			}
			members = cs->codes;
		}
		foreach(m, members)
		{
			TmCode	   *x = lfirst(m);
			char	   *shown = x->is_int ? psprintf(INT64_FORMAT, x->ival) :
				quote_literal_cstr(x->str);

			if (x->descendants && !OidIsValid(cat->ancestor_relid) &&
				(scope == NULL || scope->vocabulary || scope->code_sets))
				expr_error(expr, c->set ? c->location : node->location,
						   ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
						   "<< codes need a registered vocabulary",
						   "trialmatch.use_omop() registers the schema's concept_ancestor table.");
			if (x->is_int != intcodes)
				expr_error(expr, c->set ? c->location : node->location, ERRCODE_DATATYPE_MISMATCH,
						   c->set ?
						   psprintf("%s%s has %s codes, but code set \"%s\" holds %s code %s",
									column, what, intcodes ? "integer" : "text", c->set,
									x->is_int ? "an integer" : "a string", shown) :
						   psprintf("%s%s has %s codes, but the criterion gives %s code %s",
									column, what, intcodes ? "integer" : "text",
									x->is_int ? "an integer" : "a string", shown),
						   intcodes ? "Write concept ids as integers, without quotes." :
						   "Quote codes of a text column: 'E11%'.");
		}
	}
}

/* Does an event name one of these code sets? */
static bool
codes_use_sets(List *codes, List *names)
{
	ListCell   *lc;
	ListCell   *n;

	foreach(lc, codes)
	{
		TmCode	   *c = lfirst(lc);

		if (c->set)
			foreach(n, names)
				if (strcmp(lfirst(n), c->set) == 0)
					return true;
	}
	return false;
}

static bool
event_uses_sets(TmEvent *ev, List *names)
{
	ListCell   *lc;

	if (names == NIL)
		return false;
	if (codes_use_sets(ev->codes, names) || codes_use_sets(ev->except, names) ||
		codes_use_sets(ev->test_is.codes, names) || codes_use_sets(ev->where_is.codes, names))
		return true;
	foreach(lc, ev->filters)
		if (codes_use_sets(((TmFilter *) lfirst(lc))->codes, names))
			return true;
	return false;
}

/* Does an event's value test read the value column? */
static bool
event_reads_value(TmEvent *ev)
{
	return (ev->has_where && !ev->where_is.is) ||
		(ev->measure >= TM_M_LAST && ev->measure <= TM_M_ANY && !ev->test_is.is);
}

static void
need_range_column(const char *expr, TmNode *node, TmSourceDef *src, uint8 ref)
{
	if (ref == TM_REF_ULN && src->range_high_column == NULL)
		expr_error(expr, node->location, ERRCODE_UNDEFINED_COLUMN,
				   psprintf("source \"%s\" has no range high column", src->name),
				   "Register the source with a range_high_column to compare with x ULN.");
	if (ref == TM_REF_LLN && src->range_low_column == NULL)
		expr_error(expr, node->location, ERRCODE_UNDEFINED_COLUMN,
				   psprintf("source \"%s\" has no range low column", src->name),
				   "Register the source with a range_low_column to compare with x LLN.");
}

static void
need_range_columns(const char *expr, TmNode *node, TmSourceDef *src, const TmTest *t)
{
	need_range_column(expr, node, src, t->lo_ref);
	if (t->op == TM_CMP_BETWEEN)
		need_range_column(expr, node, src, t->hi_ref);
}

/*
 * 1.1 parts of an event (SPEC 7): categories need a category column of the
 * codes' type, normal-range bounds the range columns, filters registered
 * attributes of a type their test fits.
 */
static void
validate_event_11(const char *expr, TmNode *node, TmCatalog *cat, TmSourceDef *src,
				  Relation rel, const TmCheckScope *scope)
{
	TmEvent    *ev = node->event;
	char	   *what = psprintf("source \"%s\"", src->name);
	ListCell   *lc;

	if (ev->test_is.is || ev->where_is.is)
	{
		TmColumn	cat_col;

		if (src->category_column == NULL)
			expr_error(expr, node->location, ERRCODE_UNDEFINED_COLUMN,
					   psprintf("source \"%s\" has no category column", src->name),
					   "Register the source with a category_column to test categories with IS.");
		cat_col = tm_resolve_column(rel, src->category_column, what, "category",
									tm_code_types, lengthof(tm_code_types));
		check_code_list(expr, node, cat, ev->test_is.is ? ev->test_is.codes : ev->where_is.codes,
						cat_col.typid == INT4OID || cat_col.typid == INT8OID, what,
						"the category column of ", scope);
	}
	if (ev->measure != TM_M_COUNT && !ev->test_is.is && TM_TEST_HAS_REF(&ev->test))
		need_range_columns(expr, node, src, &ev->test);
	if (ev->has_where && !ev->where_is.is && TM_TEST_HAS_REF(&ev->where))
		need_range_columns(expr, node, src, &ev->where);

	foreach(lc, ev->filters)
	{
		TmFilter   *f = lfirst(lc);
		TmAttributeDef *a = tm_source_attribute(src, f->attribute);
		TmColumn	col;
		bool		textcol;
		bool		intcol;

		if (a == NULL)
		{
			StringInfoData names;
			ListCell   *k;

			initStringInfo(&names);
			foreach(k, src->attributes)
				appendStringInfo(&names, "%s%s", names.len ? ", " : "",
								 ((TmAttributeDef *) lfirst(k))->name);
			expr_error(expr, f->location, ERRCODE_UNDEFINED_COLUMN,
					   psprintf("source \"%s\" has no attribute \"%s\"", src->name, f->attribute),
					   names.len ? psprintf("Attributes of source \"%s\": %s.", src->name, names.data) :
					   psprintf("Register one with trialmatch.add_attribute('%s', '%s', column_name).",
								src->name, f->attribute));
		}
		col = tm_resolve_column(rel, a->column, what, psprintf("attribute \"%s\"", a->name),
								tm_attribute_types, lengthof(tm_attribute_types));
		textcol = col.typid == TEXTOID || col.typid == VARCHAROID;
		intcol = col.typid == INT2OID || col.typid == INT4OID || col.typid == INT8OID;
		if (f->is && !textcol && !intcol)
			expr_error(expr, f->location, ERRCODE_DATATYPE_MISMATCH,
					   psprintf("attribute \"%s\" of source \"%s\" has type %s, which IS cannot compare with codes",
								f->attribute, src->name, format_type_be(col.typid)),
					   "Compare a numeric or boolean attribute with a test: where dose >= 10, where flag = 1.");
		if (f->is)
			check_code_list(expr, node, cat, f->codes, intcol, what,
							psprintf("attribute \"%s\" of ", f->attribute), scope);
		else if (textcol)
			expr_error(expr, f->location, ERRCODE_DATATYPE_MISMATCH,
					   psprintf("attribute \"%s\" of source \"%s\" has type %s, which a numeric test cannot compare",
								f->attribute, src->name, format_type_be(col.typid)),
					   psprintf("Compare it with codes: where %s is 'X'.", f->attribute));
	}
}

/*
 * Check that a tree can be evaluated against the registered sources:
 * sources exist, measures find the columns they need, code literals match
 * the code column's type, age and sex have their patient columns.
 */
void
tm_validate_tree(TmNode *node, TmCatalog *cat, const char *expr,
				 const TmCheckScope *scope)
{
	ListCell   *lc;
	List	   *sources = cat->sources;
	TmPatientDef *patients = cat->patients;

	check_stack_depth();
	switch (node->kind)
	{
		case TM_N_AND:
		case TM_N_OR:
		case TM_N_NOT:
		case TM_N_ATLEAST:
			foreach(lc, node->args)
				tm_validate_tree(lfirst(lc), cat, expr, scope);
			break;
		case TM_N_RELATION:
			foreach(lc, node->args)
				tm_validate_tree(lfirst(lc), cat, expr, scope);
			/* DURING: e2's source needs an end column (SPEC 7.3) */
			if (node->relkind == TM_R_DURING)
			{
				TmEvent    *e2 = ((TmNode *) lsecond(node->args))->event;

				foreach(lc, sources)
				{
					TmSourceDef *src = lfirst(lc);

					if (strcmp(src->name, e2->source) == 0 && !src->end_time_column)
						expr_error(expr, node->location, ERRCODE_UNDEFINED_COLUMN,
								   psprintf("source \"%s\" has no end time column", src->name),
								   "DURING needs an event source registered with an end_time_column on its right.");
				}
			}
			break;
		case TM_N_CONST:
			break;
		case TM_N_AGE:
		case TM_N_SEX:
			{
				bool		age = node->kind == TM_N_AGE;

				if (scope && !scope->patients)
					break;
				if (patients == NULL)
					expr_error(expr, node->location, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
							   psprintf("%s needs a registered patient table", age ? "age" : "sex"),
							   "Register it with trialmatch.set_patients().");
				if (age ? (patients->birth_date_column == NULL && patients->birth_year_column == NULL) :
					(patients->sex_column == NULL && patients->gender_concept_column == NULL))
					expr_error(expr, node->location, ERRCODE_UNDEFINED_COLUMN,
							   psprintf("the patient table has no %s column",
										age ? "birth date" : "sex"),
							   psprintf("Register it with trialmatch.set_patients(..., %s => '...').",
										age ? "birth_date_column" : "sex_column"));
				break;
			}
		case TM_N_EVENT:
			{
				TmEvent    *ev = node->event;
				TmSourceDef *src = NULL;
				Relation	rel;
				TmColumn	code;
				bool		intcodes;
				char	   *what;
				List	   *all;

				if (scope)
				{
					/* only what the registration changed */
					if (scope->vocabulary)
						foreach(lc, list_concat_copy(ev->codes, ev->except))
							if (((TmCode *) lfirst(lc))->descendants &&
								!OidIsValid(cat->ancestor_relid))
								expr_error(expr, node->location, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
										   "<< codes need a registered vocabulary",
										   "trialmatch.use_omop() registers the schema's concept_ancestor table.");
					foreach(lc, scope->sources)
						if (strcmp(lfirst(lc), ev->source) == 0)
							break;
					if (lc == NULL && !event_uses_sets(ev, scope->code_sets))
						break;
				}
				foreach(lc, sources)
					if (strcmp(((TmSourceDef *) lfirst(lc))->name, ev->source) == 0)
						src = lfirst(lc);
				if (src == NULL && ev->measure == TM_M_COVERS)
					expr_error(expr, ev->source_location, ERRCODE_UNDEFINED_OBJECT,
							   "OBSERVED needs a source named \"" TM_OBSERVATION_SOURCE "\"",
							   "trialmatch.use_omop() registers one; or add_source('" TM_OBSERVATION_SOURCE
							   "', ..., end_time_column => ...).");
				if (src == NULL)
				{
					StringInfoData names;

					initStringInfo(&names);
					foreach(lc, sources)
						appendStringInfo(&names, "%s%s", names.len ? ", " : "",
										 ((TmSourceDef *) lfirst(lc))->name);
					expr_error(expr, ev->source_location, ERRCODE_UNDEFINED_OBJECT,
							   psprintf("source \"%s\" does not exist", ev->source),
							   names.len ? psprintf("Registered sources: %s.", names.data) :
							   "No source is registered yet: add one with trialmatch.add_source().");
				}
				if (event_reads_value(ev) && !src->value_column)
					expr_error(expr, node->location, ERRCODE_UNDEFINED_COLUMN,
							   psprintf("source \"%s\" has no value column", src->name),
							   "Register the source with a value_column to compare values.");
				if (ev->unit && !src->unit_column)
					expr_error(expr, node->location, ERRCODE_UNDEFINED_COLUMN,
							   psprintf("source \"%s\" has no unit column", src->name),
							   "Register the source with a unit_column to use UNIT.");
				if ((ev->measure == TM_M_ACTIVE || ev->measure == TM_M_COVERS ||
					 ev->measure == TM_M_ACTIVE_FOR) && !src->end_time_column)
					expr_error(expr, node->location, ERRCODE_UNDEFINED_COLUMN,
							   psprintf("source \"%s\" has no end time column", src->name),
							   psprintf("%s needs a source registered with an end_time_column.",
										ev->measure == TM_M_ACTIVE ? "ACTIVE" :
										ev->measure == TM_M_ACTIVE_FOR ? "ACTIVE FOR" : "OBSERVED"));

				if (ev->phrases != NIL && src->text_column == NULL)
					expr_error(expr, ev->source_location, ERRCODE_UNDEFINED_COLUMN,
							   psprintf("source \"%s\" has no text column", src->name),
							   "MENTIONS reads a source registered with a text_column.");

				if (src->code_column == NULL && (ev->codes != NIL || ev->except != NIL))
					expr_error(expr, ev->source_location, ERRCODE_UNDEFINED_COLUMN,
							   psprintf("source \"%s\" has no code column", src->name),
							   src->text_column ?
							   psprintf("Read its text with \"%s mentions '...'\".", src->name) :
							   "Register the source with a code_column to select rows by code.");

				what = psprintf("source \"%s\"", src->name);
				rel = tm_open_registered(src->relid, what);
				code = tm_resolve_column(rel, src->code_column, what, "code",
										 tm_code_types, lengthof(tm_code_types));
				intcodes = code.typid == INT4OID || code.typid == INT8OID;
				all = list_concat_copy(ev->codes, ev->except);
				check_code_list(expr, node, cat, all, intcodes, what, "", scope);
				validate_event_11(expr, node, cat, src, rel, scope);
				table_close(rel, AccessShareLock);
				break;
			}
	}
}

/* Context for errors while checking a stored criterion. */
typedef struct CheckContext
{
	const char *trial_id;
	int			position;
} CheckContext;

static void
check_error_callback(void *arg)
{
	CheckContext *c = arg;

	errcontext("criterion %d of trial \"%s\"", c->position, c->trial_id);
}

/*
 * BEFORE INSERT OR UPDATE on trialmatch.criteria: refuse an expression
 * that does not parse or cannot be evaluated.
 */
Datum
tm_criteria_check_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	HeapTuple	tup;
	TupleDesc	desc;
	char	   *expr;
	char	   *tid;
	bool		isnull;
	Datum		d;
	TmCatalog  *cat;
	TmNode	   *tree;
	CheckContext cc;
	ErrorContextCallback cb;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "tm_criteria_check_trigger: not called by trigger manager");
	tup = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple : trigdata->tg_trigtuple;
	desc = trigdata->tg_relation->rd_att;

	d = SPI_getbinval(tup, desc, SPI_fnumber(desc, "expr"), &isnull);
	if (isnull)
		return PointerGetDatum(tup);	/* NOT NULL constraint reports it */
	expr = TextDatumGetCString(d);
	tid = SPI_getvalue(tup, desc, SPI_fnumber(desc, "trial_id"));
	d = SPI_getbinval(tup, desc, SPI_fnumber(desc, "position"), &isnull);

	cc.trial_id = tid ? tid : "?";
	cc.position = isnull ? 0 : DatumGetInt32(d);
	cb.callback = check_error_callback;
	cb.arg = &cc;
	cb.previous = error_context_stack;
	error_context_stack = &cb;

	tree = tm_parse(expr);

	/*
	 * A restore (pg_dump sets check_function_bodies = false, as it does for
	 * function bodies) may load criteria before the sources: check the
	 * syntax only.  Every call checks the sources again anyway.
	 */
	if (check_function_bodies)
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		cat = load_catalog(CurrentMemoryContext, false, false);
		tm_validate_tree(tree, cat, expr, NULL);
		SPI_finish();
	}

	error_context_stack = cb.previous;
	return PointerGetDatum(tup);
}

/*
 * The names in a column of a transition table (trialmatch.sources: name;
 * source_attributes: source; code_sets: set_name), into a list.
 */
static void
scope_add_names(List **names, const char *table, const char *column)
{
	StringInfoData sql;

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT t.%s FROM %s t", quote_identifier(column),
					 quote_identifier(table));
	spi_query(sql.data);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *name = spi_text(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

		if (name)
			*names = lappend(*names, name);
	}
}

/*
 * Check every stored criterion (within scope) against cat; one that no
 * longer validates refuses the change ("cannot change <what>: ...").
 */
static void
recheck_criteria(TmCatalog *cat, const TmCheckScope *use, const char *what)
{
	ListCell   *lc;

	foreach(lc, cat->trials)
	{
		TmTrial    *t = lfirst(lc);

		for (int i = 0; i < t->ncriteria; i++)
		{
			TmCriterion *c = &t->criteria[i];
			MemoryContext old = CurrentMemoryContext;

			CHECK_FOR_INTERRUPTS();
			PG_TRY();
			{
				tm_validate_tree(c->tree, cat, c->expr, use);
			}
			PG_CATCH();
			{
				ErrorData  *edata;

				MemoryContextSwitchTo(old);
				edata = CopyErrorData();
				/* only a criterion that no longer validates is reworded */
				if (edata->sqlerrcode != ERRCODE_UNDEFINED_OBJECT &&
					edata->sqlerrcode != ERRCODE_UNDEFINED_COLUMN &&
					edata->sqlerrcode != ERRCODE_UNDEFINED_TABLE &&
					edata->sqlerrcode != ERRCODE_DATATYPE_MISMATCH &&
					edata->sqlerrcode != ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE)
					PG_RE_THROW();
				FlushErrorState();
				ereport(ERROR,
						(errcode(edata->sqlerrcode == ERRCODE_UNDEFINED_OBJECT ?
								 ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST : edata->sqlerrcode),
						 errmsg("cannot change %s: criterion %d of trial \"%s\" would no longer evaluate",
								what, c->position, t->trial_id),
						 errdetail("%s", edata->message),
						 errhint("Change or delete that criterion first.")));
			}
			PG_END_TRY();
		}
	}
}

/*
 * AFTER statement on sources, patient_source and vocabulary: the stored
 * criteria that read what the statement changed must still evaluate, or
 * the change is refused.  Only what changed is checked (SPEC 2): after a
 * nightly reload that drops every table, registering one source again is
 * not blocked by another source that is still missing, so registering
 * them all again, in any order, repairs the catalog.
 *
 * The triggers on sources carry transition tables tm_old / tm_new (1.1);
 * a trigger without them (a 1.0 catalog not yet updated) checks every
 * source, as 1.0 did.
 */
Datum
tm_sources_check_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TmCatalog  *cat;
	TmCheckScope scope = {false, false, NIL, NIL};
	const char *column = "name";
	const TmCheckScope *use = &scope;
	const char *relname;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "tm_sources_check_trigger: not called by trigger manager");
	if (!check_function_bodies)
		return PointerGetDatum(NULL);	/* a restore: see above */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	relname = RelationGetRelationName(trigdata->tg_relation);
	/* 1.1: source_attributes names its source in column "source" */
	if (strcmp(relname, "source_attributes") == 0)
		column = "source";
	if (strcmp(relname, "patient_source") == 0)
		scope.patients = true;
	else if (strcmp(relname, "vocabulary") == 0)
		scope.vocabulary = true;
	else if (trigdata->tg_oldtable == NULL && trigdata->tg_newtable == NULL)
		use = NULL;
	else
	{
		if (SPI_register_trigger_data(trigdata) != SPI_OK_TD_REGISTER)
			elog(ERROR, "SPI_register_trigger_data failed");
		spi_read_only = false;
		if (trigdata->tg_oldtable)
			scope_add_names(&scope.sources, trigdata->tg_trigger->tgoldtable, column);
		if (trigdata->tg_newtable)
			scope_add_names(&scope.sources, trigdata->tg_trigger->tgnewtable, column);
		if (scope.sources == NIL)
		{
			SPI_finish();
			return PointerGetDatum(NULL);	/* no row changed */
		}
	}
	cat = load_catalog(CurrentMemoryContext, true, false);
	recheck_criteria(cat, use, strcmp(column, "source") == 0 ? "the attributes" : "the sources");
	SPI_finish();
	return PointerGetDatum(NULL);
}

/*
 * 1.1: AFTER statement on code_sets (transition tables tm_old / tm_new):
 * every code written must parse, and the criteria naming a changed set
 * must still evaluate (a set in use cannot be emptied, nor hold a code of
 * the wrong type for a column it is compared with).
 */
Datum
tm_code_sets_check_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TmCatalog  *cat;
	TmCheckScope scope = {false, false, NIL, NIL};

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "tm_code_sets_check_trigger: not called by trigger manager");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_register_trigger_data(trigdata) != SPI_OK_TD_REGISTER)
		elog(ERROR, "SPI_register_trigger_data failed");
	spi_read_only = false;
	if (trigdata->tg_newtable)
	{
		StringInfoData sql;

		/* every code written must be a code of the language */
		initStringInfo(&sql);
		appendStringInfo(&sql, "SELECT t.set_name, t.code FROM %s t",
						 quote_identifier(trigdata->tg_trigger->tgnewtable));
		spi_query(sql.data);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			char	   *name = spi_text(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
			char	   *code = spi_text(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

			if (code && tm_parse_code_text(code) == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						 errmsg("invalid code %s in code set \"%s\"", quote_literal_cstr(code),
								name ? name : ""),
						 errhint("Write a code as in the criteria language, without quotes: E11%%, 1118084, <<1118084; quote a text code that looks like a number: '250'.")));
		}
		scope_add_names(&scope.code_sets, trigdata->tg_trigger->tgnewtable, "set_name");
	}
	if (trigdata->tg_oldtable)
		scope_add_names(&scope.code_sets, trigdata->tg_trigger->tgoldtable, "set_name");
	if (scope.code_sets != NIL && check_function_bodies)
	{
		cat = load_catalog(CurrentMemoryContext, true, false);
		recheck_criteria(cat, &scope, "the code sets");
	}
	SPI_finish();
	return PointerGetDatum(NULL);
}

/* AFTER statement on any catalog table: tell every backend. */
Datum
tm_catalog_changed_trigger(PG_FUNCTION_ARGS)
{
	Oid			relid;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "tm_catalog_changed_trigger: not called by trigger manager");
	relid = lookup_sentinel();
	if (OidIsValid(relid))
		CacheInvalidateRelcacheByRelid(relid);
	return PointerGetDatum(NULL);
}

/* ----------------------------------------------------------------
 * Shipping the catalog to parallel workers
 *
 * A worker must evaluate exactly what the leader planned, whatever its own
 * snapshot would read from the catalog tables: the leader serializes the
 * parts of its catalog a population call uses (its trials, in the call's
 * order), and workers rebuild a TmCatalog whose trial list is exactly those
 * trials in that order.  Strings are length-prefixed, so any
 * character may appear in a label or expression.
 * ----------------------------------------------------------------
 */
static void
put_str(StringInfo buf, const char *s)
{
	if (s == NULL)
		appendStringInfoString(buf, "-1:");
	else
		appendStringInfo(buf, "%d:%s", (int) strlen(s), s);
}

static char *
get_str(const char **p)
{
	int			len = (int) strtol(*p, (char **) p, 10);
	char	   *s;

	if (**p != ':')
		elog(ERROR, "malformed serialized trialmatch catalog");
	(*p)++;
	if (len < 0)
		return NULL;
	s = pnstrdup(*p, len);
	*p += len;
	return s;
}

static long
get_num(const char **p)
{
	char	   *s = get_str(p);

	return s ? strtol(s, NULL, 10) : 0;
}

char *
tm_catalog_serialize(TmCatalog *cat, TmTrial **trials, int ntrials)
{
	StringInfoData buf;
	TmPatientDef *pd = cat->patients;
	ListCell   *lc;
	ListCell   *ac;

	initStringInfo(&buf);
	put_str(&buf, psprintf("%u", pd ? pd->relid : InvalidOid));
	if (pd)
	{
		put_str(&buf, pd->id_column);
		put_str(&buf, pd->birth_date_column);
		put_str(&buf, pd->sex_column);
		put_str(&buf, pd->gender_concept_column);
		put_str(&buf, pd->birth_year_column);
		put_str(&buf, pd->birth_month_column);
		put_str(&buf, pd->birth_day_column);
	}
	put_str(&buf, psprintf("%u", cat->concept_relid));
	put_str(&buf, psprintf("%u", cat->ancestor_relid));
	put_str(&buf, psprintf("%d", list_length(cat->sources)));
	foreach(lc, cat->sources)
	{
		TmSourceDef *s = lfirst(lc);

		put_str(&buf, s->name);
		put_str(&buf, psprintf("%u", s->relid));
		for (int c = 0; c < TM_SOURCE_NCOLUMNS; c++)
			put_str(&buf, TM_SOURCE_DEF_COLUMN(s, c));
		/* 1.1: its attributes */
		put_str(&buf, psprintf("%d", list_length(s->attributes)));
		foreach(ac, s->attributes)
		{
			TmAttributeDef *a = lfirst(ac);

			put_str(&buf, a->name);
			put_str(&buf, a->column);
		}
	}
	/* 1.1: the code sets, as stored */
	put_str(&buf, psprintf("%d", list_length(cat->code_sets)));
	foreach(lc, cat->code_sets)
	{
		TmCodeSet  *cs = lfirst(lc);

		put_str(&buf, cs->name);
		put_str(&buf, psprintf("%d", list_length(cs->texts)));
		foreach(ac, cs->texts)
			put_str(&buf, lfirst(ac));
	}
	put_str(&buf, psprintf("%d", list_length(cat->conversions)));
	foreach(lc, cat->conversions)
	{
		TmConversion *c = lfirst(lc);

		put_str(&buf, c->code);
		put_str(&buf, c->from_unit);
		put_str(&buf, c->to_unit);
		put_str(&buf, psprintf("%.17g", c->factor));
		put_str(&buf, psprintf("%.17g", c->offset));
	}
	put_str(&buf, psprintf("%d", list_length(cat->note_triggers)));
	foreach(lc, cat->note_triggers)
	{
		TmNoteTrigger *tr = lfirst(lc);

		put_str(&buf, tr->phrase);
		put_str(&buf, tr->category);
		put_str(&buf, tr->direction);
	}
	put_str(&buf, psprintf("%d", ntrials));
	for (int t = 0; t < ntrials; t++)
	{
		TmTrial    *trial = trials[t];

		put_str(&buf, trial->trial_id);
		put_str(&buf, trial->status);
		put_str(&buf, psprintf("%d", trial->ncriteria));
		for (int i = 0; i < trial->ncriteria; i++)
		{
			put_str(&buf, psprintf("%d", trial->criteria[i].position));
			put_str(&buf, trial->criteria[i].exclusion ? "1" : "0");
			put_str(&buf, trial->criteria[i].label);
			put_str(&buf, trial->criteria[i].expr);
		}
	}
	return buf.data;
}

TmCatalog *
tm_catalog_deserialize(const char *p)
{
	TmCatalog  *cat = palloc0(sizeof(TmCatalog));
	Oid			relid = (Oid) strtoul(get_str(&p), NULL, 10);
	int			n;

	if (OidIsValid(relid))
	{
		TmPatientDef *pd = palloc0(sizeof(TmPatientDef));

		pd->relid = relid;
		pd->id_column = get_str(&p);
		pd->birth_date_column = get_str(&p);
		pd->sex_column = get_str(&p);
		pd->gender_concept_column = get_str(&p);
		pd->birth_year_column = get_str(&p);
		pd->birth_month_column = get_str(&p);
		pd->birth_day_column = get_str(&p);
		cat->patients = pd;
	}
	cat->concept_relid = (Oid) strtoul(get_str(&p), NULL, 10);
	cat->ancestor_relid = (Oid) strtoul(get_str(&p), NULL, 10);
	n = (int) get_num(&p);
	for (int i = 0; i < n; i++)
	{
		TmSourceDef *s = palloc0(sizeof(TmSourceDef));

		s->name = get_str(&p);
		s->relid = (Oid) strtoul(get_str(&p), NULL, 10);
		for (int c = 0; c < TM_SOURCE_NCOLUMNS; c++)
			TM_SOURCE_DEF_COLUMN(s, c) = get_str(&p);
		for (int k = (int) get_num(&p); k > 0; k--)
		{
			TmAttributeDef *a = palloc0(sizeof(TmAttributeDef));

			a->name = get_str(&p);
			a->column = get_str(&p);
			s->attributes = lappend(s->attributes, a);
		}
		cat->sources = lappend(cat->sources, s);
	}
	n = (int) get_num(&p);
	for (int i = 0; i < n; i++)
	{
		char	   *name = get_str(&p);

		for (int k = (int) get_num(&p); k > 0; k--)
			code_set_add(cat, name, get_str(&p));
	}
	n = (int) get_num(&p);
	for (int i = 0; i < n; i++)
	{
		TmConversion *c = palloc0(sizeof(TmConversion));

		c->code = get_str(&p);
		c->from_unit = get_str(&p);
		c->to_unit = get_str(&p);
		c->factor = strtod(get_str(&p), NULL);
		c->offset = strtod(get_str(&p), NULL);
		cat->conversions = lappend(cat->conversions, c);
	}
	n = (int) get_num(&p);
	for (int i = 0; i < n; i++)
	{
		TmNoteTrigger *tr = palloc(sizeof(TmNoteTrigger));

		tr->phrase = get_str(&p);
		tr->category = get_str(&p);
		tr->direction = get_str(&p);
		cat->note_triggers = lappend(cat->note_triggers, tr);
	}
	n = (int) get_num(&p);
	for (int k = 0; k < n; k++)
	{
		TmTrial    *t = palloc0(sizeof(TmTrial));

		t->trial_id = get_str(&p);
		t->status = get_str(&p);
		t->ncriteria = (int) get_num(&p);
		t->criteria = palloc0(sizeof(TmCriterion) * Max(t->ncriteria, 1));
		for (int i = 0; i < t->ncriteria; i++)
		{
			TmCriterion *c = &t->criteria[i];

			c->position = (int) get_num(&p);
			c->exclusion = get_num(&p) != 0;
			c->label = get_str(&p);
			c->expr = get_str(&p);
			c->tree = tm_parse(c->expr);
		}
		cat->trials = lappend(cat->trials, t);
	}
	return cat;
}
