/*-------------------------------------------------------------------------
 *
 * match.c
 *	  SQL entry points: match_patients, match_all, match_trials,
 *	  explain_match, attrition and check_expr.
 *
 * Each call gets its own memory context, deleted at the end; per-row
 * output work happens in a context reset for every row.
 *
 * IDENTIFICATION
 *	  src/match.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "pool.h"
#include "trialmatch.h"

PG_FUNCTION_INFO_V1(tm_match_patients);
PG_FUNCTION_INFO_V1(tm_match_patients_rows);
PG_FUNCTION_INFO_V1(tm_match_trials);
PG_FUNCTION_INFO_V1(tm_match_all);
PG_FUNCTION_INFO_V1(tm_explain_match);
PG_FUNCTION_INFO_V1(tm_attrition);
PG_FUNCTION_INFO_V1(tm_check_expr);

/* Output helpers for rows (status, failed[], unknown[]). */
typedef struct StatusOut
{
	Oid			status_oid[3];	/* by TmTruth: ineligible, eligible, indeterminate */
} StatusOut;

/* statusatt: the attribute number - 1 of the status column */
static void
status_out_init(StatusOut *so, TupleDesc desc, int statusatt)
{
	Oid			enumtype = TupleDescAttr(desc, statusatt)->atttypid;
	const char *names[3] = {"ineligible", "eligible", "indeterminate"};

	for (int i = 0; i < 3; i++)
	{
		so->status_oid[i] = GetSysCacheOid2(ENUMTYPOIDNAME, Anum_pg_enum_oid,
											ObjectIdGetDatum(enumtype),
											CStringGetDatum(names[i]));
		if (!OidIsValid(so->status_oid[i]))
			elog(ERROR, "enum label \"%s\" not found", names[i]);
	}
}

/*
 * A criterion's label as text, made once in the catalog's memory: arrays
 * are formed from it on every call whose combination is not kept.
 */
static Datum
label_text(TmTrial *trial, TmCriterion *c)
{
	if (c->label_text == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(trial));

		c->label_text = cstring_to_text(c->label);
		MemoryContextSwitchTo(old);
	}
	return PointerGetDatum(c->label_text);
}

/* Arrays of the labels of failed and of unknown criteria, in position order. */
static void
label_arrays(TmTrial *trial, TmTruth *results, Datum *failed, Datum *unknown)
{
	Datum	   *f = palloc(sizeof(Datum) * Max(trial->ncriteria, 1));
	Datum	   *u = palloc(sizeof(Datum) * Max(trial->ncriteria, 1));
	int			nf = 0,
				nu = 0;

	for (int i = 0; i < trial->ncriteria; i++)
	{
		TmCriterion *c = &trial->criteria[i];

		if (results[i] == TM_UNKNOWN)
			u[nu++] = label_text(trial, c);
		else if ((results[i] == TM_TRUE) == c->exclusion)
			f[nf++] = label_text(trial, c);
	}
	*failed = PointerGetDatum(construct_array(f, nf, TEXTOID, -1, false, TYPALIGN_INT));
	*unknown = PointerGetDatum(construct_array(u, nu, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * Patients share few distinct (failed, unknown) combinations: keep the
 * arrays of each combination, for trials of at most 32 criteria.
 */
typedef struct LabelCacheEntry
{
	uint64		key;			/* failed bits << 32 | unknown bits */
	char		status;			/* simplehash's entry state */
	Datum		failed;
	Datum		unknown;
	int			template;		/* its row in rows.c (trial_rows), or -1 */
} LabelCacheEntry;

#define SH_PREFIX labelcache
#define SH_ELEMENT_TYPE LabelCacheEntry
#define SH_KEY_TYPE uint64
#define SH_KEY key
#define SH_HASH_KEY(tb, key) hash_combine(murmurhash32((uint32) (key)), murmurhash32((uint32) ((key) >> 32)))
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DEFINE
#define SH_DECLARE
#include "lib/simplehash.h"

/* The combination of results (tm_result_bits) */
static uint64
label_key(TmTrial *trial, TmTruth *results)
{
	uint64		key = 0;

	for (int i = 0; i < trial->ncriteria; i++)
		key |= tm_result_bits(&trial->criteria[i], i, results[i]);
	return key;
}

/*
 * The entry of cache for this combination of results, its label arrays
 * formed in cxt when new.  They are formed before the entry exists, so an
 * error (out of memory) leaves no half entry in a cache that outlives the
 * call (trial_labels).
 */
static LabelCacheEntry *
cached_label_entry(labelcache_hash *cache, MemoryContext cxt, TmTrial *trial,
				   TmTruth *results, uint64 key)
{
	LabelCacheEntry *e = labelcache_lookup(cache, key);

	if (e == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);
		Datum		failed;
		Datum		unknown;
		bool		found;

		label_arrays(trial, results, &failed, &unknown);
		MemoryContextSwitchTo(old);
		e = labelcache_insert(cache, key, &found);
		e->failed = failed;
		e->unknown = unknown;
		e->template = -1;
	}
	return e;
}

/*
 * The label arrays of a trial for one combination of results, kept with the
 * trial for the catalog's life (match_trials forms a row per trial on every
 * call, and patients share few combinations), up to LABEL_MEMO_MAX
 * combinations per trial, the first met; the arrays of any other are
 * formed in the current context.
 */
#define LABEL_MEMO_MAX 64

static void
trial_labels(TmTrial *trial, TmTruth *results, Datum *failed, Datum *unknown)
{
	LabelCacheEntry *e = NULL;

	/* a key has room for 32 criteria */
	if (trial->ncriteria <= 32)
	{
		uint64		key = label_key(trial, results);

		if (trial->labels && trial->labels->members >= LABEL_MEMO_MAX)
			e = labelcache_lookup(trial->labels, key);	/* full: the kept still serve */
		else
		{
			if (trial->labels == NULL)
				trial->labels = labelcache_create(GetMemoryChunkContext(trial), 16, NULL);
			e = cached_label_entry(trial->labels, GetMemoryChunkContext(trial), trial,
								   results, key);
		}
	}
	if (e == NULL)
	{
		label_arrays(trial, results, failed, unknown);
		return;
	}
	*failed = e->failed;
	*unknown = e->unknown;
}

/*
 * InitMaterializedSRF for match_patients as the 1.0 script defines it (a
 * C function that stores its rows; 1.1's rows stream, see rows.c), with
 * the rows kept in a generation context:
 * each row is written once and read once, and a generation context holds
 * it at its size where an AllocSet rounds it up to a power of two (a row
 * of 200 bytes takes 224 bytes instead of 272).  The same rows take less
 * memory, fault in fewer pages, and spill to disk (beyond work_mem) later.
 */
static void
population_srf(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext rows;
	MemoryContext old;

	InitMaterializedSRF(fcinfo, 0);
	tuplestore_end(rsinfo->setResult);
	rows = GenerationContextCreate(rsinfo->econtext->ecxt_per_query_memory,
								   "trialmatch result rows", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(rows);
	rsinfo->setResult =
		tuplestore_begin_heap((rsinfo->allowedModes & SFRM_Materialize_Random) != 0,
							  false, work_mem);
	MemoryContextSwitchTo(old);
}

static MemoryContext
call_context(void)
{
	return AllocSetContextCreate(CurrentMemoryContext, "trialmatch call",
								 ALLOCSET_DEFAULT_SIZES);
}

/* How each source of a population call was read, for the DEBUG1 report. */
static char *
describe_reads(TmPlan *plan)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < plan->nsources; i++)
	{
		TmPlanSource *ps = &plan->sources[i];
		TmRelation *r = &ps->read;
		int			ranges = 0,
					shared = 0,
					brin = 0,
					whole = 0;

		appendStringInfo(&buf, "%s%s: ", i ? ", " : "", ps->def->name);
		if (r->executor)
		{
			appendStringInfoString(&buf, "executor");
			continue;
		}
		for (int l = 0; l < r->nleaves; l++)
		{
			if (OidIsValid(r->leaves[l].indexoid))
			{
				ranges++;
				shared += r->leaves[l].share_bitmap;
			}
			else if (OidIsValid(r->leaves[l].brinoid))
				brin++;
			else
				whole++;
		}
		if (ranges > 0)
			appendStringInfo(&buf, "%d index ranges%s%s%s", ps->nunits,
							 shared ? " (blocks shared)" : "",
							 brin ? " and BRIN block ranges" : "",
							 whole ? " and whole tables" : "");
		else if (brin > 0)
			appendStringInfo(&buf, "BRIN block ranges%s", whole ? " and whole tables" : "");
		else
			appendStringInfoString(&buf, "whole table");
		if (r->nleaves > 1 || r->npruned > 0)
			appendStringInfo(&buf, " (%d of %d partitions)", r->nleaves, r->nleaves + r->npruned);
	}
	return buf.data;
}

/*
 * Plan and evaluate trials over the whole patient table, reading each
 * source once for all of them; "what" names them in the DEBUG1 report.
 */
static void
report_population(TmPlan *plan, const char *what)
{
	ereport(DEBUG1,
			(errmsg_internal("trialmatch: %s: %d patients, %d of %d parallel workers launched, "
							 "sources read: %s; "
							 "state %d bytes per patient (%d atoms, %d shared), memory %zu kB local + %zu kB shared; "
							 "read in %.0f ms",
							 what, plan->pats.n,
							 plan->launched, plan->planned,
							 plan->nsources ? describe_reads(plan) : "none", plan->width,
							 plan->natoms, plan->nshared,
							 MemoryContextMemAllocated(CurrentMemoryContext, true) / 1024,
							 plan->shared_bytes / 1024,
							 (double) (GetCurrentTimestamp() - plan->started) / 1000.0)));
}

static TmPlan *
population(TmCatalog *cat, TmTrial **trials, int ntrials, const char *what,
		   TimestampTz as_of)
{
	TmPlan	   *plan;

	plan = tm_plan_create(cat, trials, ntrials, as_of);
	tm_plan_check_privileges(plan);
	tm_run_population(plan);
	report_population(plan, what);
	return plan;
}

/* One trial over the whole patient table (match_patients, attrition). */
static TmPlan *
population_one(TmTrial **trial, char *trial_id, TimestampTz as_of)
{
	TmCatalog  *cat = tm_catalog();

	*trial = tm_catalog_trial(cat, trial_id);
	return population(cat, trial, 1, psprintf("trial \"%s\"", trial_id), as_of);
}

/*
 * The rows of one trial, one per patient in the patient table's order:
 * (patient_id, status, failed, unknown), after trial_id when trial_id is
 * not NULL (match_all).  A trial of at most 32 criteria is coded: a row
 * per combination of results and a number per patient (rows.c).
 * Progress counts done patients from progress_base out of progress_total.
 */
static void
trial_rows(TmRows *rows, StatusOut *so, TmPlan *plan, TmTrial *trial,
		   const char *trial_id, int64 progress_base, int64 progress_total)
{
	const char *phase = plan->npasses > 1 ?
		psprintf("evaluating %d/%d", plan->pass, plan->npasses) : "evaluating";
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "trialmatch trial rows",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext rowcxt = AllocSetContextCreate(cxt, "trialmatch output row",
												 ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	int			idatt = trial_id ? 1 : 0;
	Datum		tid = trial_id ? CStringGetTextDatum(trial_id) : (Datum) 0;
	TmTruth    *results = palloc(sizeof(TmTruth) * Max(trial->ncriteria, 1));
	labelcache_hash *cache = NULL;
	LabelCacheEntry *last = NULL;
	uint32	   *codes = NULL;

	if (trial->ncriteria <= 32)
	{
		cache = labelcache_create(cxt, 64, NULL);
		codes = tm_rows_begin_coded(rows, sizeof(uint32));
	}
	for (int p = 0; p < plan->pats.n; p++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};
		TmTruth		st;

		CHECK_FOR_INTERRUPTS();
		if ((p & 0xFFF) == 0)
			tm_progress_report(phase, progress_base + p, progress_total);
		if (cache != NULL)
		{
			/*
			 * Rows differ only by patient id within a (status, failed,
			 * unknown) combination: one row per combination.  Neighbouring
			 * patients often share one: the last is looked up first.
			 */
			uint64		key = tm_eval_trial_key(plan, trial, p);
			LabelCacheEntry *e = last;

			if (e == NULL || e->key != key)
			{
				e = labelcache_lookup(cache, key);
				if (e == NULL)
				{
					tm_key_results(trial, key, results);
					e = cached_label_entry(cache, cxt, trial, results, key);
				}
				last = e;
			}
			if (e->template < 0)
			{
				values[0] = tid;
				values[idatt] = Int64GetDatum(plan->pats.ids[p]);
				values[idatt + 1] = ObjectIdGetDatum(so->status_oid[tm_key_status(key)]);
				values[idatt + 2] = e->failed;
				values[idatt + 3] = e->unknown;
				e->template = tm_rows_template(rows, values);
			}
			codes[p] = e->template;
			continue;
		}
		MemoryContextReset(rowcxt);
		MemoryContextSwitchTo(rowcxt);
		st = tm_eval_trial(plan, trial, p, results);
		values[0] = tid;
		values[idatt] = Int64GetDatum(plan->pats.ids[p]);
		values[idatt + 1] = ObjectIdGetDatum(so->status_oid[st]);
		label_arrays(trial, results, &values[idatt + 2], &values[idatt + 3]);
		tm_rows_put(rows, values, nulls);
		MemoryContextSwitchTo(cxt);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

/*
 * The rows of one trial evaluated by tm_all_evaluate (all.c): a row per
 * combination, and the patients' numbers as all.c left them.
 */
static void
trial_rows_coded(TmRows *rows, StatusOut *so, TmPlan *plan, TmTrial *trial,
				 TmAllTrial *coded)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "trialmatch trial rows",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	TmTruth    *results = palloc(sizeof(TmTruth) * Max(trial->ncriteria, 1));
	Datum		tid = CStringGetTextDatum(trial->trial_id);
	uint16	   *codes = tm_rows_begin_coded(rows, sizeof(uint16));

	memcpy(codes, coded->codes, sizeof(uint16) * plan->pats.n);
	for (int k = 0; k < coded->nkeys; k++)
	{
		uint64		key = coded->keys[k];
		Datum		values[5];
		TmTruth		st;
		int			n PG_USED_FOR_ASSERTS_ONLY;

		tm_key_results(trial, key, results);
		st = tm_key_status(key);
		values[0] = tid;
		values[2] = ObjectIdGetDatum(so->status_oid[st]);
		label_arrays(trial, results, &values[3], &values[4]);
		n = tm_rows_template(rows, values);
		Assert(n == k);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

/*
 * Read the sources of match_all's plan (its pass of trials, done_before of
 * total before it); parallel workers evaluate its trials too when they can
 * (parallel.c: plan->all_out).
 */
static void
all_read(TmPlan *plan, int64 done_before, int64 total)
{
	plan->eval_all = true;
	plan->match_all = true;
	plan->eval_phase = plan->npasses > 1 ?
		psprintf("evaluating %d/%d", plan->pass, plan->npasses) : "evaluating";
	plan->eval_base = done_before * plan->pats.n;
	plan->eval_total = total * plan->pats.n;
	tm_population_sources(plan);
}

/*
 * The rows of match_all's trials[0..ntrials) from one plan, read by
 * all_read: evaluated patient by patient (all.c) unless the workers did,
 * then kept trial by trial.
 */
static void
all_rows(TmRows *rows, StatusOut *so, TmPlan *plan, TmTrial **trials, int ntrials,
		 int64 done_before, int64 total)
{
	TmAllTrial *coded = plan->all_out;
	TimestampTz t0 = GetCurrentTimestamp();
	TimestampTz t1;

	Assert(plan->ntrials == ntrials);
	if (coded == NULL)
	{
		coded = palloc(sizeof(TmAllTrial) * Max(ntrials, 1));
		tm_all_evaluate(plan, trials, ntrials, coded, plan->eval_phase, plan->eval_base,
						plan->eval_total);
	}
	t1 = GetCurrentTimestamp();
	for (int t = 0; t < ntrials; t++)
	{
		if (coded[t].codes)
			trial_rows_coded(rows, so, plan, trials[t], &coded[t]);
		else
			trial_rows(rows, so, plan, trials[t], trials[t]->trial_id,
					   (done_before + t) * plan->pats.n, total * plan->pats.n);
	}
	if (plan->all_out)
		ereport(DEBUG1,
				(errmsg_internal("trialmatch: %d trials evaluated with the reading by %d participants, their rows kept in %.0f ms",
								 ntrials, plan->launched + 1,
								 (double) (GetCurrentTimestamp() - t1) / 1000.0)));
	else
		ereport(DEBUG1,
				(errmsg_internal("trialmatch: %d trials evaluated in %.0f ms, their rows kept in %.0f ms",
								 ntrials, (double) (t1 - t0) / 1000.0,
								 (double) (GetCurrentTimestamp() - t1) / 1000.0)));
	tm_population_end(plan);
}

/* The result row type of a value-per-call SRF, or an error */
static TupleDesc
srf_row_type(FunctionCallInfo fcinfo)
{
	TupleDesc	desc;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("function returning record called in context that cannot accept type record")));
	return desc;
}

/*
 * match_patients' rows, evaluated in the memory context current at the
 * call (which must outlive the rows) for a call of row type desc.
 */
static TmRows *
match_patients_rows(char *trial_id, TimestampTz as_of, TupleDesc desc)
{
	TmRows	   *rows = tm_rows_create(desc, 0);
	MemoryContext cxt = call_context();
	MemoryContext old;
	TmTrial    *trial;
	TmPlan	   *plan;
	StatusOut	so;

	status_out_init(&so, desc, 1);
	old = MemoryContextSwitchTo(cxt);
	tm_progress_begin(trial_id);
	plan = population_one(&trial, trial_id, as_of);
	tm_rows_set_ids(rows, plan->pats.ids, plan->pats.n);
	trial_rows(rows, &so, plan, trial, NULL, 0, plan->pats.n);
	tm_plan_close(plan);
	tm_progress_end();
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return rows;
}

/*
 * A value-per-call SRF of population rows across its calls (fn_extra, in
 * the per-query fn_mcxt): the rows evaluated for the last arguments, read
 * again from the start when the same arguments come again (a rescan: the
 * inner side of a nested loop, a correlated subquery), evaluated anew when
 * they change (a LATERAL call per outer row).  Rows spilled to a temporary
 * file are not kept beyond one reading: the file must be closed by the
 * query's end, which a rescan cannot be told from.
 */
typedef struct RowsCall
{
	MemoryContext cxt;			/* holds rows and args; NULL: none yet */
	TmRows	   *rows;
	int			nargs;
	Datum		args[2];
	bool		argnull[2];
	int16		typlen[2];
	bool		typbyval[2];
	bool		registered;		/* rows_reset is registered with the econtext */
	bool		reading;		/* within a set: its arguments are checked */
} RowsCall;

typedef TmRows *(*RowsMaker) (FunctionCallInfo fcinfo, TupleDesc desc);

static void
rows_drop(RowsCall *rc)
{
	if (rc->rows)
		tm_rows_end(rc->rows);
	if (rc->cxt)
		MemoryContextDelete(rc->cxt);
	rc->rows = NULL;
	rc->cxt = NULL;
}

/* After a set: ready to be read again from the start, or dropped */
static void
rows_rewind(RowsCall *rc)
{
	rc->reading = false;
	if (rc->rows && !tm_rows_rewind(rc->rows))
		rows_drop(rc);
}

/* A rescan, or the query's end (ExprContext shutdown) */
static void
rows_reset(Datum arg)
{
	RowsCall   *rc = (RowsCall *) DatumGetPointer(arg);

	rc->registered = false;
	rows_rewind(rc);
}

static bool
same_args(RowsCall *rc, FunctionCallInfo fcinfo)
{
	for (int i = 0; i < rc->nargs; i++)
	{
		if (fcinfo->args[i].isnull != rc->argnull[i])
			return false;
		if (!rc->argnull[i] &&
			!datumIsEqual(fcinfo->args[i].value, rc->args[i], rc->typbyval[i], rc->typlen[i]))
			return false;
	}
	return true;
}

/*
 * The next row of a value-per-call SRF whose rows maker evaluates, all of
 * them before the first is returned.
 */
static Datum
population_rows(FunctionCallInfo fcinfo, RowsMaker maker)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RowsCall   *rc = fcinfo->flinfo->fn_extra;
	Datum		row;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_ValuePerCall) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	if (rc == NULL)
	{
		rc = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(RowsCall));
		rc->nargs = Min(PG_NARGS(), lengthof(rc->args));
		for (int i = 0; i < rc->nargs; i++)
			get_typlenbyval(get_fn_expr_argtype(fcinfo->flinfo, i),
							&rc->typlen[i], &rc->typbyval[i]);
		fcinfo->flinfo->fn_extra = rc;
	}
	/* a set's first call: the rows kept, if they are of these arguments */
	if (!rc->reading && rc->cxt != NULL && (rc->rows == NULL || !same_args(rc, fcinfo)))
		rows_drop(rc);
	if (rc->cxt == NULL)
	{
		MemoryContext old;
		TmRows	   *rows;

		rc->cxt = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt, "trialmatch rows",
										ALLOCSET_DEFAULT_SIZES);
		old = MemoryContextSwitchTo(rc->cxt);
		for (int i = 0; i < rc->nargs; i++)
		{
			rc->argnull[i] = fcinfo->args[i].isnull;
			if (!rc->argnull[i])
				rc->args[i] = datumCopy(fcinfo->args[i].value, rc->typbyval[i], rc->typlen[i]);
		}
		rows = maker(fcinfo, srf_row_type(fcinfo));
		MemoryContextSwitchTo(old);
		rc->rows = rows;
	}
	rc->reading = true;
	if (!rc->registered)
	{
		RegisterExprContextCallback(rsinfo->econtext, rows_reset, PointerGetDatum(rc));
		rc->registered = true;
	}
	rsinfo->returnMode = SFRM_ValuePerCall;
	if (tm_rows_next(rc->rows, &row))
	{
		rsinfo->isDone = ExprMultipleResult;
		return row;
	}
	rows_rewind(rc);
	rsinfo->isDone = ExprEndResult;
	PG_RETURN_NULL();
}

static TmRows *
match_patients_maker(FunctionCallInfo fcinfo, TupleDesc desc)
{
	return match_patients_rows(text_to_cstring(PG_GETARG_TEXT_PP(0)),
							   PG_GETARG_TIMESTAMPTZ(1), desc);
}

/*
 * match_patients(trial_id, as_of) as _match_patients_rows, under the SQL
 * function match_patients (1.1): one row per call, so that the rows
 * stream into the query (ProjectSet) instead of being stored first.
 */
Datum
tm_match_patients_rows(PG_FUNCTION_ARGS)
{
	return population_rows(fcinfo, match_patients_maker);
}

/*
 * match_patients as the 1.0 script defines it (a materialising SRF), for a
 * database not yet updated to 1.1: the same rows, stored.
 */
Datum
tm_match_patients(PG_FUNCTION_ARGS)
{
	char	   *trial_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	TimestampTz as_of = PG_GETARG_TIMESTAMPTZ(1);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext cxt = call_context();
	MemoryContext old;

	population_srf(fcinfo);
	old = MemoryContextSwitchTo(cxt);
	tm_rows_materialize(match_patients_rows(trial_id, as_of, rsinfo->setDesc),
						rsinfo->setResult);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return (Datum) 0;
}

/* trialmatch.match_all_memory: kB of per-patient state in one pass of match_all */
int			tm_match_all_memory = 262144;

/*
 * match_all(as_of, trial_ids): every recruiting trial (trial_ids NULL) or
 * exactly the listed trials, whatever their status (each once however often
 * listed; an unknown id is an error), for every patient, trial by trial in
 * trial_id order; the rows match_patients gives for each.  Not STRICT, as
 * trial_ids may be NULL: a NULL as_of or a NULL in the list is an error.
 */
static TmRows *
match_all_rows(FunctionCallInfo fcinfo, TupleDesc desc)
{
	TmRows	   *rows = tm_rows_create(desc, 1);
	MemoryContext cxt;
	MemoryContext old;
	TimestampTz as_of;
	TmCatalog  *cat;
	TmTrial   **trials;
	bool	   *chosen;
	int			ntrials = 0;
	int			k;
	ListCell   *lc;
	TmPlan	   *plan;
	StatusOut	so;
	char	   *what;
	int		   *pass_of;
	int			npasses;
	double		max_bytes;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("as_of must not be NULL")));
	as_of = PG_GETARG_TIMESTAMPTZ(0);
	status_out_init(&so, desc, 2);
	cxt = call_context();
	old = MemoryContextSwitchTo(cxt);
	cat = tm_catalog();
	chosen = palloc0(sizeof(bool) * Max(list_length(cat->trials), 1));
	if (PG_ARGISNULL(1))
	{
		k = 0;
		foreach(lc, cat->trials)
			chosen[k++] = strcmp(((TmTrial *) lfirst(lc))->status, "recruiting") == 0;
	}
	else
	{
		ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
		Datum	   *ids;
		bool	   *nulls;
		int			nids;

		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &ids, &nulls, &nids);
		for (int i = 0; i < nids; i++)
		{
			char	   *id;
			bool		found = false;

			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("trial_ids must not contain NULL")));
			id = TextDatumGetCString(ids[i]);
			k = 0;
			foreach(lc, cat->trials)
			{
				if (strcmp(((TmTrial *) lfirst(lc))->trial_id, id) == 0)
				{
					chosen[k] = found = true;
					break;
				}
				k++;
			}
			if (!found)
				(void) tm_catalog_trial(cat, id);	/* raises "does not exist" */
		}
	}
	trials = palloc(sizeof(TmTrial *) * Max(list_length(cat->trials), 1));
	k = 0;
	foreach(lc, cat->trials)
	{
		if (chosen[k++])
			trials[ntrials++] = lfirst(lc);
	}
	/* no trial: no rows, and nothing is read */
	if (ntrials == 0)
	{
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
		return rows;
	}
	what = psprintf("%d trials", ntrials);
	tm_progress_begin(what);
	plan = tm_plan_create(cat, trials, ntrials, as_of);
	tm_plan_check_privileges(plan);
	tm_population_patients(plan, NULL);
	tm_rows_set_ids(rows, plan->pats.ids, plan->pats.n);
	pass_of = palloc(sizeof(int) * ntrials);
	npasses = tm_plan_passes(plan, plan->pats.n, (double) tm_match_all_memory * 1024.0,
							 pass_of, &max_bytes);
	ereport(DEBUG1,
			(errmsg_internal("trialmatch: match_all of %s: %d patients, %d passes, state at most %.0f kB per pass "
							 "(trialmatch.match_all_memory %d kB), %d bytes per patient for all trials at once",
							 what, plan->pats.n, npasses, max_bytes / 1024.0, tm_match_all_memory,
							 plan->width)));
	tm_progress_label(psprintf("%s, %d pass%s, %.0f MB", what, npasses, npasses > 1 ? "es" : "",
							   max_bytes / (1024.0 * 1024.0)));
	if (npasses == 1)
	{
		all_read(plan, 0, ntrials);
		report_population(plan, what);
		all_rows(rows, &so, plan, trials, ntrials, 0, ntrials);
		tm_plan_close(plan);
	}
	else
	{
		/*
		 * Several passes, each planning and reading the sources for its
		 * group of trials; the patients read once are shared by all.
		 */
		TmPatients	pats = plan->pats;
		TmTrial   **group = palloc(sizeof(TmTrial *) * ntrials);
		MemoryContext passcxt = AllocSetContextCreate(cxt, "trialmatch pass",
													  ALLOCSET_DEFAULT_SIZES);
		int			done = 0;

		tm_plan_close(plan);
		for (int pass = 0; pass < npasses; pass++)
		{
			int			ngroup = 0;
			TmPlan	   *gplan;
			char	   *gwhat;

			for (int t = 0; t < ntrials; t++)
				if (pass_of[t] == pass)
					group[ngroup++] = trials[t];
			MemoryContextSwitchTo(passcxt);
			gplan = tm_plan_create(cat, group, ngroup, as_of);
			gplan->pass = pass + 1;
			gplan->npasses = npasses;
			tm_population_patients(gplan, &pats);
			all_read(gplan, done, ntrials);
			gwhat = psprintf("%s, pass %d of %d (%d trials)", what, pass + 1, npasses, ngroup);
			report_population(gplan, gwhat);
			all_rows(rows, &so, gplan, group, ngroup, done, ntrials);
			done += ngroup;
			tm_plan_close(gplan);
			MemoryContextSwitchTo(cxt);
			MemoryContextReset(passcxt);
		}
	}
	tm_progress_end();
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return rows;
}

/* match_all as _match_all_rows, under the SQL function match_all: one row per call */
Datum
tm_match_all(PG_FUNCTION_ARGS)
{
	return population_rows(fcinfo, match_all_rows);
}

Datum
tm_attrition(PG_FUNCTION_ARGS)
{
	char	   *trial_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	TimestampTz as_of = PG_GETARG_TIMESTAMPTZ(1);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext cxt = call_context();
	MemoryContext old;
	TmTrial    *trial;
	TmPlan	   *plan;
	TmTruth    *results;
	int64	   *counts;			/* per criterion: passed, failed, unknown, remaining */

	InitMaterializedSRF(fcinfo, 0);
	old = MemoryContextSwitchTo(cxt);
	tm_progress_begin(trial_id);
	plan = population_one(&trial, trial_id, as_of);
	results = palloc(sizeof(TmTruth) * Max(trial->ncriteria, 1));
	counts = palloc0(sizeof(int64) * 4 * Max(trial->ncriteria, 1));
	for (int p = 0; p < plan->pats.n; p++)
	{
		bool		out = false;

		CHECK_FOR_INTERRUPTS();
		tm_eval_trial(plan, trial, p, results);
		for (int i = 0; i < trial->ncriteria; i++)
		{
			bool		excl = trial->criteria[i].exclusion;

			if (results[i] == TM_UNKNOWN)
				counts[i * 4 + 2]++;
			else if ((results[i] == TM_TRUE) == excl)
			{
				counts[i * 4 + 1]++;
				out = true;
			}
			else
				counts[i * 4]++;
			if (!out)
				counts[i * 4 + 3]++;
		}
	}
	MemoryContextSwitchTo(old);
	for (int i = 0; i < trial->ncriteria; i++)
	{
		TmCriterion *c = &trial->criteria[i];
		Datum		values[7];
		bool		nulls[7] = {0};

		values[0] = Int32GetDatum(c->position);
		values[1] = CStringGetTextDatum(c->exclusion ? "exclusion" : "inclusion");
		values[2] = CStringGetTextDatum(c->label);
		for (int k = 0; k < 4; k++)
			values[3 + k] = Int64GetDatum(counts[i * 4 + k]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	tm_plan_close(plan);
	tm_progress_end();
	MemoryContextDelete(cxt);
	return (Datum) 0;
}

static void
patient_not_found(int64 id)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("patient " INT64_FORMAT " does not exist", id),
			 errhint("Patients are read from the table registered with trialmatch.set_patients().")));
}

Datum
tm_match_trials(PG_FUNCTION_ARGS)
{
	int64		patient_id = PG_GETARG_INT64(0);
	TimestampTz as_of = PG_GETARG_TIMESTAMPTZ(1);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext cxt = call_context();
	MemoryContext old;
	TmCatalog  *cat;
	TmTrial   **trials;
	int			ntrials = 0;
	ListCell   *lc;
	TmPlan	   *plan;
	StatusOut	so;

	InitMaterializedSRF(fcinfo, 0);
	status_out_init(&so, rsinfo->setDesc, 1);
	old = MemoryContextSwitchTo(cxt);
	cat = tm_catalog();
	trials = palloc(sizeof(TmTrial *) * Max(list_length(cat->trials), 1));
	foreach(lc, cat->trials)
	{
		TmTrial    *t = lfirst(lc);

		if (strcmp(t->status, "recruiting") == 0)
			trials[ntrials++] = t;
	}
	plan = tm_plan_cached(cat, trials, ntrials, as_of);
	tm_plan_check_privileges(plan);
	if (!tm_run_single(plan, patient_id))
		patient_not_found(patient_id);
	for (int t = 0; t < ntrials; t++)
	{
		TmTruth    *results = palloc(sizeof(TmTruth) * Max(trials[t]->ncriteria, 1));
		Datum		values[4];
		bool		nulls[4] = {0};
		TmTruth		st = tm_eval_trial(plan, trials[t], 0, results);

		values[0] = CStringGetTextDatum(trials[t]->trial_id);
		values[1] = ObjectIdGetDatum(so.status_oid[st]);
		trial_labels(trials[t], results, &values[2], &values[3]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	tm_plan_close(plan);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return (Datum) 0;
}

Datum
tm_explain_match(PG_FUNCTION_ARGS)
{
	char	   *trial_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int64		patient_id = PG_GETARG_INT64(1);
	TimestampTz as_of = PG_GETARG_TIMESTAMPTZ(2);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext cxt = call_context();
	MemoryContext old;
	TmCatalog  *cat;
	TmTrial    *trial;
	TmPlan	   *plan;

	InitMaterializedSRF(fcinfo, 0);
	old = MemoryContextSwitchTo(cxt);
	cat = tm_catalog();
	trial = tm_catalog_trial(cat, trial_id);
	plan = tm_plan_create(cat, &trial, 1, as_of);
	tm_plan_check_privileges(plan);
	if (!tm_run_single(plan, patient_id))
		patient_not_found(patient_id);
	for (int i = 0; i < trial->ncriteria; i++)
	{
		TmCriterion *c = &trial->criteria[i];
		TmTruth		r = tm_eval(plan, c->tree, 0);
		Datum		values[5];
		bool		nulls[5] = {0};

		values[0] = Int32GetDatum(c->position);
		values[1] = CStringGetTextDatum(c->exclusion ? "exclusion" : "inclusion");
		values[2] = CStringGetTextDatum(c->label);
		values[3] = CStringGetTextDatum(r == TM_TRUE ? "true" : r == TM_FALSE ? "false" : "unknown");
		values[4] = CStringGetTextDatum(tm_evidence(plan, c->tree, 0));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	tm_plan_close(plan);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return (Datum) 0;
}

/* Parse an expression and return its canonical form. */
Datum
tm_check_expr(PG_FUNCTION_ARGS)
{
	char	   *expr = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_TEXT_P(cstring_to_text(tm_deparse(tm_parse(expr))));
}
