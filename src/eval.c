/*-------------------------------------------------------------------------
 *
 * eval.c
 *	  Three-valued (Kleene) evaluation of criteria from per-patient state,
 *	  a patient's status for a trial, and the evidence text of
 *	  explain_match.
 *
 * IDENTIFICATION
 *	  src/eval.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/float.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "trialmatch.h"

/*
 * Whole years from birth to the as_of date, as age() counts them: a birth
 * after as_of gives minus the whole years from as_of to the birth.
 */
static int
age_years_of(TmPlan *plan, DateADT birth)
{
	int			y,
				m,
				d;
	int			age;

	j2date(birth + POSTGRES_EPOCH_JDATE, &y, &m, &d);
	if (y > plan->as_of_year ||
		(y == plan->as_of_year && (m > plan->as_of_mon ||
								   (m == plan->as_of_mon && d > plan->as_of_mday))))
	{
		age = y - plan->as_of_year;
		if (m < plan->as_of_mon || (m == plan->as_of_mon && d < plan->as_of_mday))
			age--;
		return -age;
	}
	age = plan->as_of_year - y;
	if (plan->as_of_mon < m || (plan->as_of_mon == m && plan->as_of_mday < d))
		age--;
	return age;
}

/*
 * Whole years at as_of, for every patient of a population call: from a
 * table of the ages of the birth dates of the last 150 years (built once
 * per call, when the call has many patients and its years are all of the
 * Julian day calendar PostgreSQL's dates use), else computed.
 */
#define AGE_TABLE_DAYS	(150 * 366)
#define AGE_TABLE_MIN_PATIENTS 65536

static int
age_years(TmPlan *plan, DateADT birth)
{
	if (plan->agetab == NULL && plan->pats.n >= AGE_TABLE_MIN_PATIENTS &&
		plan->as_of_year - 151 > JULIAN_MINYEAR)
	{
		DateADT		as_of = date2j(plan->as_of_year, plan->as_of_mon, plan->as_of_mday) -
			POSTGRES_EPOCH_JDATE;
		int16	   *tab = MemoryContextAlloc(GetMemoryChunkContext(plan),
											 sizeof(int16) * AGE_TABLE_DAYS);

		/*
		 * Year by year rather than day by day (a j2date a day cost 1.5 ms a
		 * call): a birth in year y is as_of_year - y years old up to its
		 * birthday's (month, day) matching as_of's, one less after.  The
		 * table's 150 * 366 days start in the 151st year before as_of's.
		 */
		plan->agetab_lo = as_of - (AGE_TABLE_DAYS - 1);
		for (int y = plan->as_of_year - 151; y <= plan->as_of_year; y++)
		{
			int			bd = Min(plan->as_of_mday, day_tab[isleap(y)][plan->as_of_mon - 1]);
			int			first = date2j(y, 1, 1) - POSTGRES_EPOCH_JDATE - plan->agetab_lo;
			int			last_older = date2j(y, plan->as_of_mon, bd) - POSTGRES_EPOCH_JDATE -
				plan->agetab_lo;
			int			last = date2j(y, 12, 31) - POSTGRES_EPOCH_JDATE - plan->agetab_lo;

			for (int i = Max(first, 0); i <= Min(last, AGE_TABLE_DAYS - 1); i++)
				tab[i] = (int16) (plan->as_of_year - y - (i > last_older ? 1 : 0));
		}
#ifdef USE_ASSERT_CHECKING
		for (int i = 0; i < AGE_TABLE_DAYS; i += 97)
			Assert(tab[i] == age_years_of(plan, plan->agetab_lo + i));
#endif
		plan->agetab = tab;
	}
	if (plan->agetab && birth >= plan->agetab_lo && birth - plan->agetab_lo < AGE_TABLE_DAYS)
		return plan->agetab[birth - plan->agetab_lo];
	return age_years_of(plan, birth);
}

/*
 * 1.1: the age in a unit (SPEC 7.3): whole years or months as age()
 * counts them, whole weeks (days / 7, rounded down), days (as_of date -
 * birth date).  A birth after as_of gives a negative age.
 */
static int
age_in(TmPlan *plan, DateADT birth, TmWindowUnit unit)
{
	int			y,
				m,
				d;
	int			mo;
	int			days;

	switch (unit)
	{
		case TM_W_MONTH:
			j2date(birth + POSTGRES_EPOCH_JDATE, &y, &m, &d);
			if (y > plan->as_of_year ||
				(y == plan->as_of_year && (m > plan->as_of_mon ||
										   (m == plan->as_of_mon && d > plan->as_of_mday))))
			{
				mo = (y - plan->as_of_year) * 12 + (m - plan->as_of_mon);
				if (d < plan->as_of_mday)
					mo--;
				return -mo;
			}
			mo = (plan->as_of_year - y) * 12 + (plan->as_of_mon - m);
			if (plan->as_of_mday < d)
				mo--;
			return mo;
		case TM_W_WEEK:
		case TM_W_DAY:
			days = (date2j(plan->as_of_year, plan->as_of_mon, plan->as_of_mday) -
					POSTGRES_EPOCH_JDATE) - birth;
			if (unit == TM_W_DAY)
				return days;
			return days >= 0 ? days / 7 : -((-days + 6) / 7);
		default:
			return age_years(plan, birth);
	}
}

/* The latest birth date a partly known birth date allows. */
static DateADT
latest_birth(DateADT earliest, uint8 prec)
{
	int			y,
				m,
				d;

	if (prec == TM_BIRTH_DAY)
		return earliest;
	j2date(earliest + POSTGRES_EPOCH_JDATE, &y, &m, &d);
	if (prec == TM_BIRTH_YEAR)
		return date2j(y, 12, 31) - POSTGRES_EPOCH_JDATE;
	return date2j(y, m, day_tab[isleap(y)][m - 1]) - POSTGRES_EPOCH_JDATE;
}

/*
 * An age test for a birth date known to the day, month or year: decided
 * only when every possible birth date gives the same answer.
 */
static TmTruth
eval_age(TmPlan *plan, TmNode *node, int pidx)
{
	DateADT		birth = plan->pats.birth[pidx];
	uint8		prec = plan->pats.birthprec[pidx];
	int			oldest,
				youngest;
	bool		first;

	if (DATE_IS_NOBEGIN(birth))
		return TM_UNKNOWN;
	oldest = age_in(plan, birth, node->age_unit);
	youngest = age_in(plan, latest_birth(birth, prec), node->age_unit);
	first = tm_test_passes(&node->test, oldest);
	for (int a = youngest; a < oldest; a++)
		if (tm_test_passes(&node->test, a) != first)
			return TM_UNKNOWN;
	return first ? TM_TRUE : TM_FALSE;
}

static TmTruth
eval_atom(TmPlan *plan, TmNode *node, int pidx)
{
	TmAtom	   *a = &plan->atoms[node->atom];
	TmEvent    *ev = node->event;	/* an atom may be shared (plan.c): its test is this node's */
	char	   *row = plan->state + (Size) pidx * plan->width;
	uint8		flag = *(uint8 *) (row + a->flag);
	double		v;

	if (ev->phrases != NIL)
		return tm_notes_eval(flag);
	switch (ev->measure)
	{
		case TM_M_EXISTS:
		case TM_M_ACTIVE:
		case TM_M_COVERS:
		case TM_M_ACTIVE_FOR:	/* set by timed.c */
			return (flag & TM_F_SEEN) ? TM_TRUE : TM_FALSE;
		case TM_M_DAYS:			/* the count, set by timed.c */
			return tm_test_passes(&ev->test, (double) *(int64 *) (row + a->payload)) ? TM_TRUE : TM_FALSE;
		case TM_M_NEW:
			{
				/* the earliest event (window ignored) starts inside the window */
				int64		first = *(int64 *) (row + a->payload);

				if (!(flag & TM_F_SEEN) || a->empty)
					return TM_FALSE;
				if ((a->win_has_lo && first < a->win_lo) || first > a->win_hi)
					return TM_FALSE;
				return TM_TRUE;
			}
		case TM_M_COUNT:
			return tm_test_passes(&ev->test, (double) *(int64 *) (row + a->payload)) ? TM_TRUE : TM_FALSE;
		case TM_M_ANY:
			if (!(flag & TM_F_SEEN))
				return TM_UNKNOWN;
			return (flag & TM_F_PASS) ? TM_TRUE : TM_FALSE;
		case TM_M_LAST:
		case TM_M_FIRST:
			if (!(flag & TM_F_SEEN))
				return TM_UNKNOWN;
			/* 1.1: tested row by row; tied events that disagree: unknown */
			if (a->kind11 != TM_K_PLAIN)
				return (flag & TM_F_TIE) ? TM_UNKNOWN :
					(flag & TM_F_PASS) ? TM_TRUE : TM_FALSE;
			v = ((TmValState *) (row + a->payload))->v;
			break;
		case TM_M_MIN:
		case TM_M_MAX:
			if (!(flag & TM_F_SEEN))
				return TM_UNKNOWN;
			v = *(double *) (row + a->payload);
			break;
		case TM_M_AVG:
			/* as PostgreSQL's avg over the same values (avg.c) */
			if (!(flag & TM_F_SEEN))
				return TM_UNKNOWN;
			return tm_avg_eval(a, (TmAvgState *) (row + a->payload));
		default:
			elog(ERROR, "unexpected measure %d", ev->measure);
	}
	if (isnan(v))
		return TM_UNKNOWN;
	return tm_test_passes(&ev->test, v) ? TM_TRUE : TM_FALSE;
}

/*
 * sex = ...: is the patient's sex (code s in the call's dictionary) listed?
 * The answers of the last node tested are remembered by code, as a call's
 * patients have few distinct sexes.
 */
static TmTruth
eval_sex(TmPlan *plan, TmNode *node, int s)
{
	const char *sex;
	bool		listed = false;
	ListCell   *lc;

	if (plan->sexnode != node)
	{
		plan->sexnode = node;
		plan->sexknown = plan->sextrue = 0;
	}
	if (s < 64 && (plan->sexknown & (UINT64CONST(1) << s)))
		return (plan->sextrue & (UINT64CONST(1) << s)) ? TM_TRUE : TM_FALSE;
	sex = list_nth(plan->pats.sexdict, s);
	foreach(lc, node->sexes)
	{
		if (strcmp(lfirst(lc), sex) == 0)
		{
			listed = true;
			break;
		}
	}
	if (s < 64)
	{
		plan->sexknown |= UINT64CONST(1) << s;
		if (listed)
			plan->sextrue |= UINT64CONST(1) << s;
	}
	return listed ? TM_TRUE : TM_FALSE;
}

TmTruth
tm_eval(TmPlan *plan, TmNode *node, int pidx)
{
	ListCell   *lc;
	TmTruth		r;

	switch (node->kind)
	{
		case TM_N_AND:
			check_stack_depth();	/* only nodes with children recurse */
			r = TM_TRUE;
			foreach(lc, node->args)
			{
				TmTruth		x = tm_eval(plan, lfirst(lc), pidx);

				if (x == TM_FALSE)
					return TM_FALSE;
				if (x == TM_UNKNOWN)
					r = TM_UNKNOWN;
			}
			return r;
		case TM_N_OR:
			check_stack_depth();
			r = TM_FALSE;
			foreach(lc, node->args)
			{
				TmTruth		x = tm_eval(plan, lfirst(lc), pidx);

				if (x == TM_TRUE)
					return TM_TRUE;
				if (x == TM_UNKNOWN)
					r = TM_UNKNOWN;
			}
			return r;
		case TM_N_NOT:
			check_stack_depth();
			r = tm_eval(plan, linitial(node->args), pidx);
			return r == TM_UNKNOWN ? TM_UNKNOWN : r == TM_TRUE ? TM_FALSE : TM_TRUE;
		case TM_N_CONST:
			return node->constval;
		case TM_N_AGE:
			return eval_age(plan, node, pidx);
		case TM_N_SEX:
			{
				int			s = plan->pats.sex[pidx];

				if (s < 0)
					return TM_UNKNOWN;
				return eval_sex(plan, node, s);
			}
		case TM_N_EVENT:
			return eval_atom(plan, node, pidx);
		case TM_N_RELATION:
			return tm_timed_relation(plan, node, pidx) ? TM_TRUE : TM_FALSE;
		case TM_N_ATLEAST:
			{
				/* SPEC 7.3: TRUE when T >= k, FALSE when T + U < k */
				int			t = 0,
							u = 0;

				check_stack_depth();

				foreach(lc, node->args)
				{
					TmTruth		x = tm_eval(plan, lfirst(lc), pidx);

					t += x == TM_TRUE;
					u += x == TM_UNKNOWN;
				}
				return t >= node->k ? TM_TRUE : t + u < node->k ? TM_FALSE : TM_UNKNOWN;
			}
	}
	return TM_UNKNOWN;
}

/*
 * Evaluate every criterion of a trial for one patient into results[] (may
 * be NULL) and return the status: TRUE eligible, FALSE ineligible,
 * UNKNOWN indeterminate.
 */
TmTruth
tm_eval_trial(TmPlan *plan, TmTrial *trial, int pidx, TmTruth *results)
{
	bool		failed = false;
	bool		unknown = false;

	for (int i = 0; i < trial->ncriteria; i++)
	{
		TmCriterion *c = &trial->criteria[i];
		TmTruth		r = tm_eval(plan, c->tree, pidx);

		if (results)
			results[i] = r;
		if (r == TM_UNKNOWN)
			unknown = true;
		else if ((r == TM_TRUE) == c->exclusion)
			failed = true;
	}
	return failed ? TM_FALSE : unknown ? TM_UNKNOWN : TM_TRUE;
}

/*
 * Evaluate every criterion of a trial of at most 32 criteria for one
 * patient: the results as a key (tm_result_bits), the status with them
 * (tm_key_status).  A criterion that is one event, as most are, is
 * evaluated without the tree walk.
 */
uint64
tm_eval_trial_key(TmPlan *plan, TmTrial *trial, int pidx)
{
	uint64		key = 0;

	Assert(trial->ncriteria <= 32);
	for (int i = 0; i < trial->ncriteria; i++)
	{
		TmCriterion *c = &trial->criteria[i];
		TmTruth		r = c->tree->kind == TM_N_EVENT ? eval_atom(plan, c->tree, pidx) :
			tm_eval(plan, c->tree, pidx);

		key |= tm_result_bits(c, i, r);
	}
	return key;
}

/* ---------------------------------------------------------------
 * Evidence
 * ---------------------------------------------------------------
 */
/* A time in evidence: its date, or date and minutes (one format for every construct). */
void
tm_append_time(StringInfo buf, TimestampTz t)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tz;

	if (TIMESTAMP_IS_NOBEGIN(t))
		appendStringInfoString(buf, "-infinity");
	else if (TIMESTAMP_IS_NOEND(t))
		appendStringInfoString(buf, "infinity");
	else if (timestamp2tm(t, &tz, &tm, &fsec, NULL, NULL) != 0)
		appendStringInfoString(buf, "?");
	else if (tm.tm_hour == 0 && tm.tm_min == 0 && tm.tm_sec == 0 && fsec == 0)
		appendStringInfo(buf, "%04d-%02d-%02d", tm.tm_year, tm.tm_mon, tm.tm_mday);
	else
		appendStringInfo(buf, "%04d-%02d-%02d %02d:%02d", tm.tm_year, tm.tm_mon,
						 tm.tm_mday, tm.tm_hour, tm.tm_min);
}

/* "4548-4 = 8.2 %" or "2345-7 = 7.1 mmol/L (127.9 mg/dL)" */
static void
append_value(StringInfo buf, TmEvidence *e, TmEvent *ev)
{
	appendStringInfo(buf, "%s = %s", e->code, float8out_internal(e->value));
	if (e->unit)
		appendStringInfo(buf, " %s", e->unit);
	if (ev->unit && e->value != e->cvalue)
		appendStringInfo(buf, " (%.6g %s)", e->cvalue, ev->unit);
	else if (ev->unit && e->unit && strcmp(e->unit, ev->unit) != 0)
		appendStringInfo(buf, " (%.6g %s)", e->cvalue, ev->unit);
	appendStringInfoString(buf, " at ");
	tm_append_time(buf, e->time);
}

/* "lab HBSAG" or, for a row with no code (1.1: codes omitted), "death" */
static void
append_source_code(StringInfo buf, TmEvent *ev, TmEvidence *e)
{
	appendStringInfoString(buf, ev->source);
	if (e->code && e->code[0] != '\0')
		appendStringInfo(buf, " %s", e->code);
}

/*
 * 1.1: what decided last/first/any with IS codes or N x uln / N x lln:
 * "last HBSAG is 'Negative' at 2026-05-01",
 * "last 1742-6 = 120 at 2026-05-01, limit 3 x uln = 105".
 */
static void
append_evidence_11(StringInfo buf, TmAtom *a, TmEvidence *e, uint8 flag)
{
	TmEvent    *ev = a->ev;
	const TmTest *t = &ev->test;

	appendStringInfo(buf, "%s ", tm_measure_name(ev->measure));
	if (ev->test_is.is)
	{
		appendStringInfo(buf, "%s is %s at ", e->code && e->code[0] ? e->code : ev->source,
						 e->category ? quote_literal_cstr(e->category) : "?");
		tm_append_time(buf, e->time);
	}
	else
	{
		append_value(buf, e, ev);
		for (int i = 0; i < (t->op == TM_CMP_BETWEEN ? 2 : 1); i++)
		{
			uint8		ref = i == 0 ? t->lo_ref : t->hi_ref;
			double		n = i == 0 ? t->lo : t->hi;
			double		lim = ref == TM_REF_ULN ? e->high : e->low;

			if (ref == TM_REF_NONE)
				continue;
			appendStringInfo(buf, ", limit %s x %s = %s", float8out_internal(n),
							 ref == TM_REF_ULN ? "uln" : "lln", float8out_internal(n * lim));
		}
	}
	if (flag & TM_F_TIE)
		appendStringInfoString(buf, "; events at the same time disagree");
}

static void
evidence_atom(TmPlan *plan, TmNode *node, StringInfo buf)
{
	TmAtom	   *a = &plan->atoms[node->atom];
	TmEvent    *ev = node->event;
	TmEvidence *e = &plan->evidence[node->atom];
	char	   *row = plan->state;
	uint8		flag = *(uint8 *) (row + a->flag);

	if (ev->phrases != NIL)
	{
		tm_notes_evidence(plan, a, e, flag, buf);
		return;
	}
	switch (ev->measure)
	{
		case TM_M_EXISTS:
			if (e->have)
			{
				append_source_code(buf, ev, e);
				appendStringInfoString(buf, " at ");
				tm_append_time(buf, e->time);
			}
			else
			{
				appendStringInfoString(buf, "no ");
				tm_deparse_event_head(buf, ev);
			}
			break;
		case TM_M_ACTIVE:
			if (e->have)
			{
				append_source_code(buf, ev, e);
				appendStringInfoString(buf, " active since ");
				tm_append_time(buf, e->time);
				if (e->has_end)
				{
					appendStringInfoString(buf, " until ");
					tm_append_time(buf, e->end);
				}
			}
			else
			{
				appendStringInfoString(buf, "no active ");
				tm_deparse_event_head(buf, ev);
			}
			break;
		case TM_M_COVERS:
			if (e->have)
			{
				appendStringInfoString(buf, "observed from ");
				tm_append_time(buf, e->time);
				if (e->has_end)
				{
					appendStringInfoString(buf, " to ");
					tm_append_time(buf, e->end);
				}
			}
			else
				appendStringInfo(buf, "no observation period covering the last %d %s", ev->window_n,
								 tm_window_unit_name(ev));
			break;
		case TM_M_DAYS:
		case TM_M_ACTIVE_FOR:
			tm_timed_evidence(plan, node, buf);
			break;
		case TM_M_NEW:
			if (e->have)
			{
				appendStringInfo(buf, "first %s %s at ", ev->source, e->code);
				tm_append_time(buf, e->time);
				if (eval_atom(plan, node, 0) == TM_TRUE)
					appendStringInfoString(buf, ", inside the window");
				else if (ev->has_window)
					appendStringInfoString(buf, ", outside the window");
			}
			else
			{
				appendStringInfo(buf, "no %s ", ev->source);
				tm_deparse_codes(buf, ev->codes);
				appendStringInfoString(buf, " ever");
			}
			break;
		case TM_M_COUNT:
			appendStringInfo(buf, "count " INT64_FORMAT " of ", *(int64 *) (row + a->payload));
			tm_deparse_event_head(buf, ev);
			if (ev->has_where && ev->where_is.is)
			{
				appendStringInfoString(buf, " where value is ");
				tm_deparse_codes(buf, ev->where_is.codes);
			}
			else if (ev->has_where && TM_TEST_HAS_REF(&ev->where))
			{
				appendStringInfoString(buf, " where value ");
				tm_deparse_test(buf, &ev->where);
			}
			else if (ev->has_where)
				appendStringInfo(buf, " where value %s %s%s%s", tm_cmp_name(ev->where.op),
								 float8out_internal(ev->where.lo),
								 ev->where.op == TM_CMP_BETWEEN ? " and " : "",
								 ev->where.op == TM_CMP_BETWEEN ? float8out_internal(ev->where.hi) : "");
			break;
		case TM_M_AVG:
			if (flag & TM_F_SEEN)
			{
				TmAvgState *st = (TmAvgState *) (row + a->payload);

				appendStringInfo(buf, "avg of " INT64_FORMAT " values of ", st->n);
				tm_deparse_event_head(buf, ev);
				appendStringInfo(buf, " = %s", tm_avg_text(a, st));
				if (ev->unit)
					appendStringInfo(buf, " %s", ev->unit);
				break;
			}
			/* FALLTHROUGH */
		case TM_M_LAST:
		case TM_M_FIRST:
		case TM_M_MIN:
		case TM_M_MAX:
		case TM_M_ANY:
			if (!(flag & TM_F_SEEN))
			{
				appendStringInfoString(buf, "no usable value: ");
				tm_deparse_event_head(buf, ev);
				if (ev->unit)
					appendStringInfo(buf, " in %s or convertible to it", ev->unit);
			}
			else if (ev->measure == TM_M_ANY && !(flag & TM_F_PASS))
			{
				appendStringInfo(buf, "none of " INT64_FORMAT " values passes: ", e->nvalues);
				tm_deparse_event_head(buf, ev);
			}
			else if (a->kind11 != TM_K_PLAIN)
				append_evidence_11(buf, a, e, flag);
			else
			{
				appendStringInfo(buf, "%s ", tm_measure_name(ev->measure));
				append_value(buf, e, ev);
			}
			break;
	}
	/* 1.1: the attributes that let the event shown through its filters */
	if (e->have && e->filter)
		appendStringInfo(buf, " (%s)", e->filter);
}

static void
evidence_walk(TmPlan *plan, TmNode *node, StringInfo buf)
{
	ListCell   *lc;

	check_stack_depth();
	switch (node->kind)
	{
		case TM_N_AND:
		case TM_N_OR:
		case TM_N_NOT:
		case TM_N_ATLEAST:
			foreach(lc, node->args)
				evidence_walk(plan, lfirst(lc), buf);
			return;
		default:
			break;
	}
	if (buf->len > 0)
		appendStringInfoString(buf, "; ");
	switch (node->kind)
	{
		case TM_N_CONST:
			appendStringInfoString(buf, node->constval == TM_UNKNOWN ?
								   "not decidable from data: check by hand" :
								   node->constval == TM_TRUE ? "always true" : "always false");
			break;
		case TM_N_AGE:
			{
				DateADT		birth = plan->pats.birth[0];

				int			y,
							m,
							d;

				if (DATE_IS_NOBEGIN(birth))
				{
					appendStringInfoString(buf, "birth date unknown");
					break;
				}
				j2date(birth + POSTGRES_EPOCH_JDATE, &y, &m, &d);
				if (node->age_unit != TM_W_YEAR)
				{
					/* 1.1: months, weeks, days */
					static const char *const names[] = {"", "days", "weeks", "months", ""};
					int			young = age_in(plan, latest_birth(birth, plan->pats.birthprec[0]),
											   node->age_unit);
					int			old = age_in(plan, birth, node->age_unit);

					if (young == old)
						appendStringInfo(buf, "age %d %s", old, names[node->age_unit]);
					else
						appendStringInfo(buf, "age %d to %d %s", young, old, names[node->age_unit]);
					if (plan->pats.birthprec[0] == TM_BIRTH_YEAR)
						appendStringInfo(buf, " (born in %04d)", y);
					else if (plan->pats.birthprec[0] == TM_BIRTH_MONTH)
						appendStringInfo(buf, " (born in %04d-%02d)", y, m);
					else
						appendStringInfo(buf, " (born %04d-%02d-%02d)", y, m, d);
				}
				else if (plan->pats.birthprec[0] == TM_BIRTH_YEAR)
				{
					int			young = age_years(plan, latest_birth(birth, TM_BIRTH_YEAR));
					int			old = age_years(plan, birth);

					if (young == old)
						appendStringInfo(buf, "age %d (born in %04d)", old, y);
					else
						appendStringInfo(buf, "age %d or %d (born in %04d)", young, old, y);
				}
				else if (plan->pats.birthprec[0] == TM_BIRTH_MONTH)
				{
					int			young = age_years(plan, latest_birth(birth, TM_BIRTH_MONTH));
					int			old = age_years(plan, birth);

					if (young == old)
						appendStringInfo(buf, "age %d (born in %04d-%02d)", old, y, m);
					else
						appendStringInfo(buf, "age %d or %d (born in %04d-%02d)", young, old, y, m);
				}
				else
					appendStringInfo(buf, "age %d (born %04d-%02d-%02d)", age_years(plan, birth),
									 y, m, d);
				break;
			}
		case TM_N_SEX:
			if (plan->pats.sex[0] < 0)
				appendStringInfoString(buf, "sex unknown");
			else
				appendStringInfo(buf, "sex %s", (char *) list_nth(plan->pats.sexdict, plan->pats.sex[0]));
			break;
		case TM_N_EVENT:
			evidence_atom(plan, node, buf);
			break;
		case TM_N_RELATION:
			tm_timed_evidence(plan, node, buf);
			break;
		default:
			break;
	}
}

/* What decided a criterion for the single patient of plan. */
char *
tm_evidence(TmPlan *plan, TmNode *node, int pidx)
{
	StringInfoData buf;

	Assert(pidx == 0 && plan->evidence);
	initStringInfo(&buf);
	evidence_walk(plan, node, &buf);
	return buf.data;
}
