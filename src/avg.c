/*-------------------------------------------------------------------------
 *
 * avg.c
 *	  The AVG measure: accumulating, merging and evaluating an average the
 *	  way PostgreSQL's own avg() computes it over the same values.
 *
 * The rule.  `avg` agrees with PostgreSQL's avg over the same values:
 *
 * - numeric and integer value columns: avg(numeric) / avg(int) are exact
 *   decimal arithmetic: the exact sum divided by the count with numeric's
 *   division (numeric_div, which rounds to at least 16 significant digits
 *   and never fewer decimals than the values have).  The test's operand is
 *   compared as the decimal literal it is written as, as SQL compares a
 *   numeric to a numeric literal.  A value converted by `unit` is value *
 *   factor + offset computed exactly in numeric, with factor and offset
 *   taken as SQL's cast double precision -> numeric gives them (15
 *   significant digits): the same as avg(value * factor::numeric +
 *   "offset"::numeric).
 * - float4/float8 value columns: avg(float8), a double precision sum
 *   divided by the count (converted values: value * factor + offset in
 *   double precision), compared with the operand as a double.
 * - NaN values are not usable; +Infinity values make the average
 *   +Infinity, -Infinity values -Infinity, and both together make it NaN:
 *   no usable value, UNKNOWN.
 *
 * How.  The fold is the hot loop, so the per-patient state is fixed-size
 * (TmAvgState, 32 bytes): the exact sum as a 128-bit integer scaled by
 * 10^scale (scale = the largest display scale among the values, as
 * numeric's own sum keeps it), the count, and flags.  Numeric datums are
 * decoded straight from their on-disk format (stable: pg_upgrade keeps it)
 * without going through text.  Evaluation decides most comparisons with
 * integer arithmetic alone: numeric_div's rounding moves the quotient by
 * less than one unit of the sum's scale, so when the exact quotient is
 * farther than that from the operand its side is known.  Only close calls
 * build the numeric average with numeric_div and compare with numeric_cmp.
 *
 * A sum that no longer fits in 38 digits at its scale (values beyond about
 * 10^30, or with more than about 30 decimals) falls back, for that patient
 * and measure only, to a double precision sum: still fixed-size and
 * mergeable, no longer exact.  Parallel workers merge exactly: scales
 * align, sums and counts add.
 *
 * IDENTIFICATION
 *	  src/avg.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "trialmatch.h"

#ifdef HAVE_INT128
#define TM_WIDE_DIGITS	38		/* 10^38 < 2^127 */
#define TM_WIDE_MAX		((TmWide) (((uint128) 1 << 127) - 1))
#else
#define TM_WIDE_DIGITS	18
#define TM_WIDE_MAX		((TmWide) PG_INT64_MAX)
#endif

/* How a value decodes. */
typedef enum TmDecKind
{
	TM_DEC_OK,					/* a finite decimal that fits */
	TM_DEC_WIDE,				/* finite, but does not fit in TmWide */
	TM_DEC_NAN,
	TM_DEC_PINF,
	TM_DEC_NINF
} TmDecKind;

/* A finite decimal: v / 10^scale. */
typedef struct TmDecimal
{
	TmWide		v;
	int			scale;
} TmDecimal;

/* Per-atom data of an AVG measure, built by tm_avg_plan. */
typedef struct TmAvgPlan
{
	bool		exact;			/* numeric or integer value column */
	int			nconv;
	TmDecimal  *factor;			/* per a->conversions entry, as numeric */
	TmDecimal  *offset;
	bool	   *conv_ok;		/* both fit */
	Datum		opnum[2];		/* test operands as numeric: lo, hi */
	TmDecimal	opdec[2];
	bool		opdec_ok[2];
	MemoryContext cxt;			/* close calls: reset per evaluation */
} TmAvgPlan;

static TmWide pow10_wide[TM_WIDE_DIGITS + 1];
static TmWide scale_limit[TM_WIDE_DIGITS + 1];	/* TM_WIDE_MAX / 10^k */
static double pow10_double[23];
static bool pow10_ready = false;

static void
init_pow10(void)
{
	if (pow10_ready)
		return;
	pow10_wide[0] = 1;
	for (int i = 1; i <= TM_WIDE_DIGITS; i++)
		pow10_wide[i] = pow10_wide[i - 1] * 10;
	for (int i = 0; i <= TM_WIDE_DIGITS; i++)
		scale_limit[i] = TM_WIDE_MAX / pow10_wide[i];
	pow10_double[0] = 1.0;
	for (int i = 1; i < lengthof(pow10_double); i++)
		pow10_double[i] = pow10_double[i - 1] * 10.0;	/* exact up to 1e22 */
	pow10_ready = true;
}

/*
 * Checked arithmetic on TmWide: false on overflow.  Results stay within
 * +-TM_WIDE_MAX, so negation never overflows.  No division in the hot
 * paths (a 128-bit division is a slow library call).
 */
static inline bool
wide_add(TmWide a, TmWide b, TmWide *r)
{
	if ((b > 0 && a > TM_WIDE_MAX - b) || (b < 0 && a < -TM_WIDE_MAX - b))
		return false;
	*r = a + b;
	return true;
}

static inline bool
wide_mul(TmWide a, TmWide b, TmWide *r)
{
#ifdef HAVE__BUILTIN_OP_OVERFLOW
	TmWide		res;

	if (__builtin_mul_overflow(a, b, &res) || res > TM_WIDE_MAX || res < -TM_WIDE_MAX)
		return false;
	*r = res;
	return true;
#else
	TmWide		aa = a < 0 ? -a : a;
	TmWide		ab = b < 0 ? -b : b;

	if (aa != 0 && ab > TM_WIDE_MAX / aa)
		return false;
	*r = a * b;
	return true;
#endif
}

/* *r = a * 10^k */
static inline bool
wide_scale_up(TmWide a, int k, TmWide *r)
{
	if (k == 0 || a == 0)
	{
		*r = a;
		return true;
	}
	if (k > TM_WIDE_DIGITS || a > scale_limit[k] || a < -scale_limit[k])
		return false;
	*r = a * pow10_wide[k];
	return true;
}

/*
 * Numeric's on-disk format (src/backend/utils/adt/numeric.c): a 2-byte
 * short or 4-byte long header, then base-10000 digits, the first of weight
 * `weight`, the value rounded to `dscale` decimals, no trailing zero
 * digits.  The format is stable across versions (pg_upgrade keeps it).
 */
typedef struct TmNumParts
{
	bool		neg;
	int			dscale;
	int			weight;
	int			nd;
	const char *digits;			/* nd int16, possibly unaligned */
} TmNumParts;

static inline TmDecKind
numeric_parts(Datum d, TmNumParts *np)
{
	struct varlena *p = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(d));
	const char *data = VARDATA_ANY(p);
	int			len = VARSIZE_ANY_EXHDR(p);
	uint16		h;

	memcpy(&h, data, sizeof(uint16));
	if ((h & 0xC000) == 0xC000)
	{
		/* NUMERIC_SPECIAL: NaN 0xC000, +Infinity 0xD000, -Infinity 0xF000 */
		if (h == 0xD000)
			return TM_DEC_PINF;
		if (h == 0xF000)
			return TM_DEC_NINF;
		return TM_DEC_NAN;
	}
	if (h & 0x8000)
	{
		/* NUMERIC_SHORT: sign 0x2000, dscale 0x1F80 >> 7, weight 7 bits */
		np->neg = (h & 0x2000) != 0;
		np->dscale = (h & 0x1F80) >> 7;
		np->weight = (h & 0x0040 ? ~0x003F : 0) | (h & 0x003F);
		np->digits = data + sizeof(uint16);
		np->nd = (len - sizeof(uint16)) / sizeof(int16);
	}
	else
	{
		int16		w;

		np->neg = (h & 0xC000) == 0x4000;
		np->dscale = h & 0x3FFF;
		memcpy(&w, data + sizeof(uint16), sizeof(int16));
		np->weight = w;
		np->digits = data + 2 * sizeof(uint16);
		np->nd = (len - 2 * sizeof(uint16)) / sizeof(int16);
	}
	return TM_DEC_OK;
}

/* The first n (<= 4) digits as one integer. */
static inline uint64
parts_digits64(const TmNumParts *np, int n)
{
	uint64		acc = 0;

	for (int i = 0; i < n; i++)
	{
		int16		dg;

		memcpy(&dg, np->digits + i * sizeof(int16), sizeof(int16));
		acc = acc * 10000 + dg;
	}
	return acc;
}

/* A numeric datum as v / 10^scale, scale = its display scale. */
static TmDecKind
decode_numeric(Datum d, TmDecimal *out)
{
	TmNumParts	np;
	TmDecKind	kind = numeric_parts(d, &np);
	TmWide		acc;
	int			e;

	if (kind != TM_DEC_OK)
		return kind;
	if (np.dscale > TM_WIDE_DIGITS)
		return TM_DEC_WIDE;
	/* value = digits * 10^(4 * (weight - nd + 1)); scaled: * 10^dscale */
	e = np.nd > 0 ? 4 * (np.weight - np.nd + 1) + np.dscale : 0;
	if (np.nd <= 4)
	{
		uint64		a64 = parts_digits64(&np, np.nd);

		/* digits beyond dscale in the last group are zeros */
		if (e < 0)
		{
			a64 = -e > 19 ? 0 : a64 / (uint64) pow10_wide[-e];
			e = 0;
		}
		acc = (TmWide) a64;
	}
	else
	{
		acc = 0;
		for (int i = 0; i < np.nd; i++)
		{
			int16		dg;

			memcpy(&dg, np.digits + i * sizeof(int16), sizeof(int16));
			if (acc > scale_limit[4] - 1)
				return TM_DEC_WIDE;
			acc = acc * 10000 + dg;
		}
		if (e < 0)
		{
			acc = -e > TM_WIDE_DIGITS ? 0 : acc / pow10_wide[-e];
			e = 0;
		}
	}
	if (!wide_scale_up(acc, e, &acc))
		return TM_DEC_WIDE;
	out->v = np.neg ? -acc : acc;
	out->scale = np.dscale;
	return TM_DEC_OK;
}

static TmDecKind
decode_value(Datum d, Oid typid, TmDecimal *out)
{
	out->scale = 0;
	switch (typid)
	{
		case INT2OID:
			out->v = DatumGetInt16(d);
			return TM_DEC_OK;
		case INT4OID:
			out->v = DatumGetInt32(d);
			return TM_DEC_OK;
		case INT8OID:
			out->v = DatumGetInt64(d);
#ifndef HAVE_INT128
			if (out->v == PG_INT64_MIN)
				return TM_DEC_WIDE;
#endif
			return TM_DEC_OK;
		default:
			return decode_numeric(d, out);
	}
}

/*
 * A numeric datum as the nearest double, as numeric_float8_no_overflow
 * gives it, without going through text when its significant digits are
 * at most 2^53 and its power of ten at most 10^22: both are then exact
 * doubles, and one IEEE multiplication or division rounds correctly
 * (Clinger's fast path), which is what strtod does with the text.
 */
double
tm_numeric_to_double(Datum d)
{
	TmNumParts	np;

	init_pow10();
	if (numeric_parts(d, &np) == TM_DEC_OK && np.nd <= 4)
	{
		uint64		a64 = parts_digits64(&np, np.nd);
		int			e = 4 * (np.weight - np.nd + 1);
		double		r = -1;

		if (np.nd == 0)
			r = 0.0;
		else if (a64 <= (UINT64CONST(1) << 53) && e >= 0 && e < lengthof(pow10_double))
			r = (double) a64 * pow10_double[e];
		else if (a64 <= (UINT64CONST(1) << 53) && e < 0 && -e < lengthof(pow10_double))
			r = (double) a64 / pow10_double[-e];
		if (r >= 0)
			return np.neg ? -r : r;
	}
	/* beyond double's range: +-Infinity or 0, not an error */
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, d));
}

/* Bring *a and *b to the same (the larger) scale; false on overflow. */
static bool
align(TmDecimal *a, TmDecimal *b)
{
	if (a->scale < b->scale)
	{
		if (!wide_scale_up(a->v, b->scale - a->scale, &a->v))
			return false;
		a->scale = b->scale;
	}
	else if (b->scale < a->scale)
	{
		if (!wide_scale_up(b->v, a->scale - b->scale, &b->v))
			return false;
		b->scale = a->scale;
	}
	return true;
}

/* value * factor + offset, exactly; dscale as numeric_mul/numeric_add give it */
static bool
convert_exact(TmDecimal *x, const TmDecimal *f, const TmDecimal *o)
{
	TmDecimal	off = *o;

	if (x->scale + f->scale > TM_WIDE_DIGITS || !wide_mul(x->v, f->v, &x->v))
		return false;
	x->scale += f->scale;
	if (!align(x, &off))
		return false;
	return wide_add(x->v, off.v, &x->v);
}

static double
exact_to_double(const TmAvgState *st)
{
	if (st->scale < lengthof(pow10_double))
		return (double) st->sum.exact / pow10_double[st->scale];
	return (double) st->sum.exact / pow(10.0, st->scale);
}

static void
to_double_mode(TmAvgState *st)
{
	if (!(st->flags & TM_AVG_DOUBLE))
	{
		st->sum.approx = exact_to_double(st);
		st->flags |= TM_AVG_DOUBLE;
	}
}

/* ---------------------------------------------------------------
 * Plan
 * ---------------------------------------------------------------
 */
static bool
numeric_decimal(Datum num, TmDecimal *out)
{
	return decode_numeric(num, out) == TM_DEC_OK;
}

/* The per-atom data of an AVG measure reading a value column of type typid. */
void
tm_avg_plan(TmAtom *a, Oid typid)
{
	TmAvgPlan  *ap = palloc0(sizeof(TmAvgPlan));
	TmTest	   *test = &a->ev->test;
	ListCell   *lc;
	int			i = 0;

	init_pow10();
	ap->exact = typid != FLOAT4OID && typid != FLOAT8OID;
	if (ap->exact)
	{
		ap->nconv = list_length(a->conversions);
		ap->factor = palloc0(sizeof(TmDecimal) * Max(ap->nconv, 1));
		ap->offset = palloc0(sizeof(TmDecimal) * Max(ap->nconv, 1));
		ap->conv_ok = palloc0(sizeof(bool) * Max(ap->nconv, 1));
		foreach(lc, a->conversions)
		{
			TmConversion *c = lfirst(lc);

			/* as SQL's cast double precision -> numeric */
			ap->conv_ok[i] =
				numeric_decimal(DirectFunctionCall1(float8_numeric, Float8GetDatum(c->factor)),
								&ap->factor[i]) &&
				numeric_decimal(DirectFunctionCall1(float8_numeric, Float8GetDatum(c->offset)),
								&ap->offset[i]);
			i++;
		}
		for (int k = 0; k < 2; k++)
		{
			double		d = k == 0 ? test->lo : test->hi;
			const char *text = k == 0 ? test->lo_text : test->hi_text;

			/* the operand as written; its double for trees built otherwise */
			if (text == NULL)
				text = float8out_internal(d);
			ap->opnum[k] = DirectFunctionCall3(numeric_in, CStringGetDatum(text),
											   ObjectIdGetDatum(InvalidOid),
											   Int32GetDatum(-1));
			ap->opdec_ok[k] = numeric_decimal(ap->opnum[k], &ap->opdec[k]);
		}
		ap->cxt = AllocSetContextCreate(CurrentMemoryContext, "trialmatch avg",
										ALLOCSET_SMALL_SIZES);
	}
	a->avg = ap;
}

/* ---------------------------------------------------------------
 * Fold and merge
 * ---------------------------------------------------------------
 */

/*
 * Add one usable value (not NaN, converted value not NaN) to st: d is the
 * datum of type typid as recorded, conv the index of the conversion used
 * in a->conversions (-1: none), cv the value (converted) as a double.
 */
void
tm_avg_accum(const TmAtom *a, TmAvgState *st, Datum d, Oid typid, int conv, double cv)
{
	const TmAvgPlan *ap = a->avg;
	TmDecimal	x;
	TmDecimal	s;

	st->n++;
	if (!ap->exact)
	{
		st->sum.approx += cv;
		return;
	}
	switch (decode_value(d, typid, &x))
	{
		case TM_DEC_OK:
			break;
		case TM_DEC_PINF:
		case TM_DEC_NINF:
			/* the sign after conversion (NaN was not usable) */
			st->flags |= cv > 0 ? TM_AVG_PINF : TM_AVG_NINF;
			return;
		default:
			to_double_mode(st);
			st->sum.approx += cv;
			return;
	}
	if (conv >= 0 && (!ap->conv_ok[conv] ||
					  !convert_exact(&x, &ap->factor[conv], &ap->offset[conv])))
	{
		to_double_mode(st);
		st->sum.approx += cv;
		return;
	}
	if (st->flags & TM_AVG_DOUBLE)
	{
		st->sum.approx += cv;
		return;
	}
	s.v = st->sum.exact;
	s.scale = st->scale;
	if (!align(&s, &x) || !wide_add(s.v, x.v, &s.v))
	{
		to_double_mode(st);
		st->sum.approx += cv;
		return;
	}
	st->sum.exact = s.v;
	st->scale = s.scale;
}

/* Merge from into into (parallel workers): exact when both are. */
void
tm_avg_merge(const TmAtom *a, TmAvgState *into, const TmAvgState *from)
{
	TmDecimal	s,
				x;

	if (from->n == 0)
		return;
	into->n += from->n;
	into->flags |= from->flags & (TM_AVG_PINF | TM_AVG_NINF);
	if (!a->avg->exact)
	{
		into->sum.approx += from->sum.approx;
		return;
	}
	if ((into->flags | from->flags) & TM_AVG_DOUBLE)
	{
		to_double_mode(into);
		into->sum.approx += (from->flags & TM_AVG_DOUBLE) ? from->sum.approx : exact_to_double(from);
		return;
	}
	s.v = into->sum.exact;
	s.scale = into->scale;
	x.v = from->sum.exact;
	x.scale = from->scale;
	if (!align(&s, &x) || !wide_add(s.v, x.v, &s.v))
	{
		to_double_mode(into);
		into->sum.approx += exact_to_double(from);
		return;
	}
	into->sum.exact = s.v;
	into->scale = s.scale;
}

/* ---------------------------------------------------------------
 * Evaluation
 * ---------------------------------------------------------------
 */

/* The exact sum as a numeric of display scale st->scale. */
static Datum
sum_numeric(const TmAvgState *st)
{
	char		buf[TM_WIDE_DIGITS + 8];
	char		digits[TM_WIDE_DIGITS + 2];
	int			nd = 0;
	TmWide		v = st->sum.exact;
	bool		neg = v < 0;
	char	   *p = buf;

	if (neg)
		v = -v;
	do
	{
		digits[nd++] = '0' + (int) (v % 10);
		v /= 10;
	} while (v != 0);
	while (nd <= st->scale)
		digits[nd++] = '0';
	if (neg)
		*p++ = '-';
	for (int i = nd - 1; i >= 0; i--)
	{
		*p++ = digits[i];
		if (i == st->scale && i > 0)
			*p++ = '.';
	}
	*p = '\0';
	return DirectFunctionCall3(numeric_in, CStringGetDatum(buf),
							   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}

/* PostgreSQL's avg: numeric_avg divides the sum by the count with numeric_div. */
static Datum
avg_numeric(const TmAvgState *st)
{
	return DirectFunctionCall2(numeric_div, sum_numeric(st),
							   NumericGetDatum(int64_to_numeric(st->n)));
}

/*
 * The sign of avg - operand k.  First with integers: the quotient q =
 * sum / (n * 10^s) and numeric_div's result differ by less than one unit
 * of the result scale (it rounds), which is at least s; so when
 * |q - L| > 10^-s the sign of q - L is the answer.  With L = l / 10^t:
 * D = sum * 10^t - n * l * 10^s = n * 10^(s+t) * (q - L), and the test is
 * |D| > n * 10^t.
 */
static int
avg_cmp(const TmAvgPlan *ap, const TmAvgState *st, int k, Datum *avg)
{
	if (ap->opdec_ok[k])
	{
		const TmDecimal *l = &ap->opdec[k];
		TmWide		a,
					b,
					dd,
					bound;

		if (wide_scale_up(st->sum.exact, l->scale, &a) &&
			wide_mul(l->v, st->n, &b) && wide_scale_up(b, st->scale, &b) &&
			wide_add(a, -b, &dd) &&
			wide_scale_up(st->n, l->scale, &bound))
		{
			TmWide		ad = dd < 0 ? -dd : dd;

			if (ad > bound)
				return dd < 0 ? -1 : 1;
		}
	}
	/* a close call: PostgreSQL's avg, compared as numeric */
	if (*avg == (Datum) 0)
		*avg = avg_numeric(st);
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, *avg, ap->opnum[k]));
}

static bool
cmp_passes(TmCmp op, int c)
{
	switch (op)
	{
		case TM_CMP_LT:
			return c < 0;
		case TM_CMP_LE:
			return c <= 0;
		case TM_CMP_EQ:
			return c == 0;
		case TM_CMP_NE:
			return c != 0;
		case TM_CMP_GE:
			return c >= 0;
		case TM_CMP_GT:
			return c > 0;
		case TM_CMP_BETWEEN:
			break;
	}
	return false;
}

/* The AVG measure of one patient (st has at least one usable value). */
TmTruth
tm_avg_eval(const TmAtom *a, const TmAvgState *st)
{
	const TmAvgPlan *ap = a->avg;
	const TmTest *test = &a->ev->test;
	MemoryContext old;
	Datum		avg = (Datum) 0;
	bool		pass;

	if ((st->flags & TM_AVG_PINF) && (st->flags & TM_AVG_NINF))
		return TM_UNKNOWN;		/* +Infinity and -Infinity: NaN */
	if (st->flags & TM_AVG_PINF)
		return tm_test_passes(test, get_float8_infinity()) ? TM_TRUE : TM_FALSE;
	if (st->flags & TM_AVG_NINF)
		return tm_test_passes(test, -get_float8_infinity()) ? TM_TRUE : TM_FALSE;
	if (!ap->exact || (st->flags & TM_AVG_DOUBLE))
	{
		double		v = st->sum.approx / (double) st->n;

		if (isnan(v))
			return TM_UNKNOWN;	/* +Infinity and -Infinity averaged */
		return tm_test_passes(test, v) ? TM_TRUE : TM_FALSE;
	}
	MemoryContextReset(ap->cxt);
	old = MemoryContextSwitchTo(ap->cxt);
	if (test->op == TM_CMP_BETWEEN)
		pass = avg_cmp(ap, st, 0, &avg) >= 0 && avg_cmp(ap, st, 1, &avg) <= 0;
	else
		pass = cmp_passes(test->op, avg_cmp(ap, st, 0, &avg));
	MemoryContextSwitchTo(old);
	return pass ? TM_TRUE : TM_FALSE;
}

/* The average as text, for explain_match (as SQL shows avg, trailing zeros trimmed). */
char *
tm_avg_text(const TmAtom *a, const TmAvgState *st)
{
	if ((st->flags & TM_AVG_PINF) && (st->flags & TM_AVG_NINF))
		return pstrdup("NaN");
	if (st->flags & TM_AVG_PINF)
		return pstrdup("Infinity");
	if (st->flags & TM_AVG_NINF)
		return pstrdup("-Infinity");
	if (!a->avg->exact || (st->flags & TM_AVG_DOUBLE))
		return float8out_internal(st->sum.approx / (double) st->n);
	return DatumGetCString(DirectFunctionCall1(numeric_out,
											   DirectFunctionCall1(numeric_trim_scale,
																   avg_numeric(st))));
}
