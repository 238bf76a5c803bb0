/*-------------------------------------------------------------------------
 *
 * trialmatch.h
 *	  Shared types of trialmatch: the criteria parse tree, the catalog
 *	  cache, and the per-call execution plan.
 *
 * A call flows one way, from the SQL entry point down to the leaves:
 *
 *	 match.c		SQL entry points: match_patients, match_trials,
 *					explain_match, attrition, check_expr
 *	 catalog.c		trials, criteria and sources, cached per backend;
 *					the validation triggers (parse.c parses expressions)
 *	 plan.c			binds a call's trials to the source relations: columns,
 *					windows, the per-patient state layout, privileges
 *	 exec.c			the driver: runs a planned call, serially or through
 *					parallel.c (ParallelContext workers)
 *	 leaves:		relation.c (leaves of partitioned/inheritance trees,
 *					pruning, executor reads), patients.c (the patient
 *					table, id map), indexpath.c (index ranges), read.c
 *					(scans), fold.c (a row into per-patient state; the
 *					merge), avg.c (exact averages)
 *	 eval.c			three-valued results and evidence from the state
 *	 all.c			match_all's evaluation of many trials, patient by patient
 *
 * Leaves never call back up (exec.c, parallel.c, plan.c).  The pool of
 * background workers (worker.c, runs.c, progress.c; pool.h) calls
 * match_patients through SQL like any client.
 *
 * IDENTIFICATION
 *	  src/trialmatch.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRIALMATCH_H
#define TRIALMATCH_H

#include "postgres.h"

#include "access/attnum.h"
#include "catalog/pg_type_d.h"
#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "nodes/tidbitmap.h"
#include "access/relscan.h"
#include "access/skey.h"
#include "executor/tuptable.h"
#include "utils/tuplestore.h"
#include "utils/relcache.h"
#include "storage/dsm.h"
#include "utils/dsa.h"

#define TM_SCHEMA "trialmatch"

/* Three-valued truth. */
typedef enum TmTruth
{
	TM_FALSE = 0,
	TM_TRUE = 1,
	TM_UNKNOWN = 2
} TmTruth;

typedef enum TmCmp
{
	TM_CMP_LT,
	TM_CMP_LE,
	TM_CMP_EQ,
	TM_CMP_NE,
	TM_CMP_GE,
	TM_CMP_GT,
	TM_CMP_BETWEEN
} TmCmp;

/* A numeric test: "< 5", "between 1 and 2". */
typedef struct TmTest
{
	TmCmp		op;
	double		lo;				/* the operand, or the lower bound */
	double		hi;				/* upper bound for BETWEEN */
	char	   *lo_text;		/* the operands as written (avg compares */
	char	   *hi_text;		/* them as decimals), or NULL */
	uint8		lo_ref;			/* 1.1: TM_REF_*: lo is N x uln / N x lln */
	uint8		hi_ref;
} TmTest;

/* 1.1 normal-range bounds (SPEC 7.3): N x uln, N x lln */
#define TM_REF_NONE		0
#define TM_REF_ULN		1
#define TM_REF_LLN		2
#define TM_TEST_HAS_REF(t) ((t)->lo_ref != TM_REF_NONE || \
	((t)->op == TM_CMP_BETWEEN && (t)->hi_ref != TM_REF_NONE))

typedef struct TmCode
{
	bool		is_int;
	bool		prefix;			/* string ending in %: prefix match */
	bool		descendants;	/* << id: the concept and its descendants */
	int64		ival;
	char	   *str;			/* without the trailing % */
	int			len;
	char	   *set;			/* 1.1: @name, a code set (trialmatch.code_sets) */
	int			location;		/* of @name, for errors */
} TmCode;

/*
 * 1.1: a test of a row's value (SPEC 7.2 vtest): a numeric test, or IS
 * codes on the category column.
 */
typedef struct TmVTest
{
	bool		is;				/* IS codes */
	List	   *codes;			/* of TmCode *, for IS */
} TmVTest;

/* 1.1: WHERE attribute (IS codes | test) */
typedef struct TmFilter
{
	char	   *attribute;
	int			location;
	bool		is;
	List	   *codes;			/* of TmCode *, for IS */
	TmTest		test;
} TmFilter;

typedef enum TmMeasureKind
{
	TM_M_EXISTS,				/* no measure: at least one event */
	TM_M_COUNT,
	TM_M_LAST,
	TM_M_FIRST,
	TM_M_MIN,
	TM_M_MAX,
	TM_M_AVG,
	TM_M_ANY,
	TM_M_ACTIVE,
	TM_M_COVERS,				/* OBSERVED: a span covering the whole window */
	/* 1.1, time (SPEC 7.3) */
	TM_M_DAYS,					/* distinct calendar dates covered */
	TM_M_ACTIVE_FOR,			/* merged intervals covering [as_of - N, as_of] */
	TM_M_NEW					/* earliest event starts inside the window */
} TmMeasureKind;

/* The source OBSERVED reads (use_omop registers it). */
#define TM_OBSERVATION_SOURCE "observation_period"

typedef enum TmWindowUnit
{
	TM_W_HOUR,
	TM_W_DAY,
	TM_W_WEEK,
	TM_W_MONTH,
	TM_W_YEAR
} TmWindowUnit;

/* The forms of a window (SPEC 7.2). */
typedef enum TmWindowKind
{
	TM_WK_WITHIN,				/* [as_of - N u, as_of] */
	TM_WK_BETWEEN,				/* [as_of - B u2, as_of - A u1] */
	TM_WK_OVER					/* (-infinity, as_of - N u] */
} TmWindowKind;

/* A length of time: "3 months". */
typedef struct TmSpan
{
	int			n;
	TmWindowUnit unit;
} TmSpan;

/* Relations between two events (SPEC 7.3). */
typedef enum TmRelKind
{
	TM_R_AFTER,
	TM_R_BEFORE,
	TM_R_DURING,
	TM_R_NOT_FOLLOWED
} TmRelKind;

typedef struct TmEvent
{
	char	   *source;
	int			source_location;
	List	   *codes;			/* of TmCode * */
	List	   *except;			/* of TmCode * */
	bool		has_window;
	int			window_n;
	TmWindowUnit window_unit;
	TmMeasureKind measure;
	bool		has_where;		/* count where value <test> */
	TmTest		where;
	TmTest		test;			/* for all measures but EXISTS and ACTIVE */
	char	   *unit;			/* unit 'X', or NULL */
	/* 1.1, time: window forms and ACTIVE FOR (parse_window_ago, parse_active) */
	TmWindowKind window_kind;	/* window_n/unit: N, or A of BETWEEN */
	TmSpan		window_far;		/* BETWEEN: B */
	TmSpan		active_for;		/* ACTIVE FOR N u */
	bool		has_gap;
	TmSpan		gap;			/* GAP G u */
	List	   *filters;		/* 1.1: of TmFilter * */
	TmVTest		where_is;		/* 1.1: count where value is codes */
	TmVTest		test_is;		/* 1.1: last/first/any is codes */
	List	   *phrases;		/* MENTIONS (SPEC 8): of TmPhrase * (notes.h); NIL otherwise */
} TmEvent;

typedef enum TmNodeKind
{
	TM_N_AND,
	TM_N_OR,
	TM_N_NOT,
	TM_N_CONST,
	TM_N_AGE,
	TM_N_SEX,
	TM_N_EVENT,
	TM_N_RELATION,				/* args: e1, e2 (events) */
	TM_N_ATLEAST				/* args: the expressions */
} TmNodeKind;

typedef struct TmNode
{
	TmNodeKind	kind;
	int			location;		/* 1-based character position */
	List	   *args;			/* AND, OR, NOT: of TmNode * */
	TmTruth		constval;		/* CONST */
	TmTest		test;			/* AGE */
	TmWindowUnit age_unit;		/* AGE: 1.1 years (default), months, weeks, days */
	List	   *sexes;			/* SEX: of char * */
	TmEvent    *event;			/* EVENT */
	int			atom;			/* index into the plan's atoms, set by plan.c */
	/* 1.1, time */
	TmRelKind	relkind;		/* RELATION */
	bool		has_upto;		/* RELATION: UP TO N u */
	TmSpan		upto;
	int			k;				/* ATLEAST */
	int			timed;			/* RELATION: index into the plan's timed items */
	int			atomid;			/* EVENT: its atom_key interned in the catalog
								 * (plan.c), once per tree; 0 not yet */
} TmNode;

/* parse.c */
extern TmNode *tm_parse(const char *expr);
extern char *tm_deparse(TmNode *node);
extern void tm_deparse_codes(StringInfo buf, List *codes);
extern void tm_deparse_event_head(StringInfo buf, const TmEvent *ev);
extern const char *tm_window_unit_name(const TmEvent *ev);
extern const char *tm_measure_name(TmMeasureKind m);
extern char *tm_caret(const char *expr, int charpos);
extern const char *tm_cmp_name(TmCmp op);
extern bool tm_test_passes(const TmTest *test, double v);
extern const char *tm_unit_name(TmWindowUnit unit, int n);
extern void tm_deparse_window(StringInfo buf, const TmEvent *ev);
extern bool tm_test_passes_ref(const TmTest *test, double v, double low, double high);
extern TmCode *tm_parse_code_text(const char *text);
extern void tm_deparse_test(StringInfo buf, const TmTest *t);
extern void tm_deparse_vtest(StringInfo buf, const TmTest *t, const TmVTest *vt);

/* How a column is read. */
typedef struct TmColumn
{
	AttrNumber	attnum;			/* 0 if absent */
	Oid			typid;
} TmColumn;

/* ----------------------------------------------------------------
 * Catalog (catalog.c): cached per backend, rebuilt after invalidation.
 * ----------------------------------------------------------------
 */
typedef struct TmSourceDef
{
	char	   *name;
	Oid			relid;
	char	   *patient_column;
	char	   *code_column;
	char	   *time_column;
	char	   *end_time_column;	/* NULL if none */
	char	   *value_column;
	char	   *unit_column;	/* text, or int unit concept ids */
	char	   *time_fallback_column;	/* read when the time is NULL */
	char	   *end_time_fallback_column;
	char	   *category_column;	/* 1.1: a categorical result (codes) */
	char	   *range_low_column;	/* 1.1: the row's own normal range */
	char	   *range_high_column;
	char	   *text_column;	/* 1.1: free text (SPEC 8) */
	List	   *attributes;		/* 1.1: of TmAttributeDef * */
} TmSourceDef;

/* 1.1: a column of a source the language can filter on (add_attribute) */
typedef struct TmAttributeDef
{
	char	   *name;
	char	   *column;
} TmAttributeDef;

/* 1.1: a named code list (trialmatch.code_sets) */
typedef struct TmCodeSet
{
	char	   *name;
	List	   *codes;			/* of TmCode * */
	List	   *texts;			/* of char *: the codes as stored */
} TmCodeSet;

typedef struct TmPatientDef
{
	Oid			relid;
	char	   *id_column;
	char	   *birth_date_column;
	char	   *sex_column;
	char	   *gender_concept_column;	/* OMOP: 8532 F, 8507 M */
	char	   *birth_year_column;	/* OMOP: when the birth date is NULL */
	char	   *birth_month_column;
	char	   *birth_day_column;
} TmPatientDef;

typedef struct TmCriterion
{
	int			position;
	bool		exclusion;
	char	   *label;
	char	   *expr;
	TmNode	   *tree;
	text	   *label_text;		/* label as text, made once (match.c) */
} TmCriterion;

typedef struct TmTrial
{
	char	   *trial_id;
	char	   *status;
	int			ncriteria;
	TmCriterion *criteria;		/* in position order */
	struct labelcache_hash *labels; /* match.c: label arrays kept for the catalog's life */
	uint64		bound;			/* bind_serial of the plan its trees' atoms are of */
} TmTrial;

typedef struct TmConversion
{
	char	   *code;
	char	   *from_unit;
	char	   *to_unit;
	double		factor;
	double		offset;
} TmConversion;

typedef struct TmCatalog
{
	TmPatientDef *patients;		/* NULL if not registered */
	List	   *sources;		/* of TmSourceDef * */
	List	   *trials;			/* of TmTrial *, ordered by trial_id */
	List	   *conversions;	/* of TmConversion * */
	Oid			concept_relid;	/* OMOP vocabulary, or InvalidOid */
	Oid			ancestor_relid;
	List	   *code_sets;		/* 1.1: of TmCodeSet * */
	List	   *note_triggers;	/* of TmNoteTrigger * (notes.h), SPEC 8 */
	struct TmNegex *negex;		/* the triggers compiled (negex.c), or NULL */
	struct atomintern_hash *atomids;	/* atom_key -> id (plan.c), or NULL */
	int			natomids;
	uint64		serial;			/* this load of the catalog, in this backend */
	uint64		bound;			/* bind_serial of the plan its trees' atoms are of */
} TmCatalog;

extern TmCatalog *tm_catalog(void);
extern char *tm_catalog_serialize(TmCatalog *cat, TmTrial **trials, int ntrials);
extern TmCatalog *tm_catalog_deserialize(const char *text);
extern TmTrial *tm_catalog_trial(TmCatalog *cat, const char *trial_id);
extern TmSourceDef *tm_catalog_source(TmCatalog *cat, const char *name);
extern TmCodeSet *tm_catalog_code_set(TmCatalog *cat, const char *name);
extern TmAttributeDef *tm_source_attribute(TmSourceDef *src, const char *name);
extern const Oid tm_attribute_types[9];
extern void tm_catalog_init(void);
extern uint64 tm_catalog_relcache_invals(void);
extern Relation tm_open_registered(Oid relid, const char *what);
extern TmColumn tm_resolve_column(Relation rel, const char *colname, const char *what,
								  const char *role, const Oid *allowed, int nallowed);
extern const Oid tm_id_types[2];
extern const Oid tm_code_types[4];
extern const Oid tm_time_types[3];
extern const Oid tm_value_types[6];
extern const Oid tm_text_types[2];
extern const Oid tm_int_types[3];
extern const Oid tm_unit_types[4];
/*
 * What a registration changed, and so what a stored criterion is checked
 * for when it changes (SPEC 2: a registration is checked only for what it
 * changes).  NULL scope: check everything (a criterion being written).
 */
typedef struct TmCheckScope
{
	bool		patients;		/* age and sex: the patient table changed */
	bool		vocabulary;		/* << codes: the vocabulary changed */
	List	   *sources;		/* names of the sources registered or dropped */
	List	   *code_sets;		/* 1.1: names of the code sets written */
} TmCheckScope;

extern void tm_validate_tree(TmNode *node, TmCatalog *cat, const char *expr,
							 const TmCheckScope *scope);

/*
 * The columns of a source, listed once (catalog.c): the column of
 * trialmatch.sources that names it, its role in messages, where its name
 * lives in TmSourceDef and its resolved column in TmPlanSource, the types
 * it may have, and whether every call reads it (value and unit are read
 * only when a criterion needs them).  Loading, shipping to workers,
 * resolving and privilege checks all walk this table.
 */
typedef struct TmSourceColumnDesc
{
	const char *column;			/* "time_column" */
	const char *role;			/* "time" */
	Size		def_offset;		/* char * in TmSourceDef */
	Size		plan_offset;	/* TmColumn in TmPlanSource */
	const Oid  *types;
	int			ntypes;
	bool		always;			/* read by every call */
} TmSourceColumnDesc;

typedef enum TmSourceColumn
{
	TM_SC_PATIENT,
	TM_SC_CODE,
	TM_SC_TIME,
	TM_SC_END_TIME,
	TM_SC_VALUE,
	TM_SC_UNIT,
	TM_SC_TIME_FALLBACK,
	TM_SC_END_FALLBACK,
	TM_SC_CATEGORY,
	TM_SC_RANGE_LOW,
	TM_SC_RANGE_HIGH,
	TM_SC_TEXT,
	TM_SOURCE_NCOLUMNS
} TmSourceColumn;

extern const TmSourceColumnDesc tm_source_columns[TM_SOURCE_NCOLUMNS];

#define TM_SOURCE_DEF_COLUMN(def, c) \
	(*(char **) ((char *) (def) + tm_source_columns[c].def_offset))
#define TM_PLAN_SOURCE_COLUMN(ps, c) \
	((TmColumn *) ((char *) (ps) + tm_source_columns[c].plan_offset))

/* ----------------------------------------------------------------
 * Per-call plan (plan.c)
 * ----------------------------------------------------------------
 */

/* One index range of a source read through an index (indexpath.c). */
typedef struct TmIndexUnit
{
	TmCode	   *code;
	bool		has_lower;
	TimestampTz lower;
	/* a time slice of a unit (parallel calls): time column in [lo, hi) */
	bool		sliced;
	bool		has_lo;
	bool		has_hi;
	Datum		lo;				/* in the time column's type */
	Datum		hi;
} TmIndexUnit;

/*
 * One relation read directly (relation.c): the registered relation itself,
 * or one of its partitions or inheritance children.
 */
typedef struct TmLeaf
{
	Relation	rel;
	AttrNumber *map;			/* registered attno - 1 -> attno here (0: none); NULL: same */
	AttrNumber	maxatt;			/* attributes to deform here */
	Oid			indexoid;		/* population calls: read through this index, or */
	bool		index_time;		/* its second column is the time column */
	double		index_rows;		/* estimated rows read through the index */
	Oid			brinoid;		/* else the blocks this BRIN index on the time
								 * column finds in the windows, or else whole */
	double		brin_share;		/* estimated share of the rows in the windows */
	bool		share_bitmap;	/* parallel: its ranges' bitmap is built once and
								 * its blocks shared (parallel.c) */
} TmLeaf;

/* Is this leaf of a population call read whole (a heap scan, parallel or not)? */
static inline bool
tm_leaf_whole(const TmLeaf *leaf)
{
	return !OidIsValid(leaf->indexoid) && !OidIsValid(leaf->brinoid);
}

/*
 * How a registered relation is read: its leaves (a plain table or
 * populated materialized view is its own one leaf; partitioned and
 * inheritance trees are expanded, pruned by the windows), or, for views
 * and foreign tables, one query through the executor.
 */
typedef struct TmRelation
{
	Relation	rel;			/* as registered */
	const char *what;
	AttrNumber	maxatt;			/* attributes read, in the registered numbering */
	bool		executor;		/* read through SPI, serially */
	int			nleaves;
	TmLeaf	   *leaves;
	int			npruned;		/* partitions skipped: outside the windows */
	Datum	   *values;			/* a row in the registered numbering */
	bool	   *isnull;
} TmRelation;

/* What lets relation.c skip a partition: the time column and the windows. */
typedef struct TmPrune
{
	const char *time_column;	/* NULL: no pruning */
	bool		has_lower;		/* every event read is at or after lower */
	TimestampTz lower;
	TimestampTz as_of;			/* no event read is after as_of */
} TmPrune;

typedef struct TmPlanSource
{
	/* bound (plan.c): kept with a cached plan */
	TmSourceDef *def;
	char	   *what;			/* "source \"lab\"", for messages */
	TmColumn	patient;
	TmColumn	code;
	TmColumn	time;
	TmColumn	end_time;
	TmColumn	value;
	TmColumn	unit;
	TmColumn	time_fallback;
	TmColumn	end_fallback;
	TmColumn	category;
	TmColumn	range_low;
	TmColumn	range_high;
	TmColumn	text;
	AttrNumber	maxattno;		/* highest attribute read */
	int			natoms;
	int		   *atoms;			/* atoms reading this source */
	bool		needs_value;
	bool		needs_unit;
	bool		needs_category; /* 1.1 columns, read only when a criterion needs them */
	bool		needs_range;
	bool		needs_text;
	int			nfiltercols;	/* 1.1: attribute columns read by filters */
	AttrNumber *filtercols;
	int			nmentions;		/* atoms of this source that are MENTIONS */
	/* the code maps (fold.c, tm_codemaps_init), kept with a cached plan */
	struct TmCodeEntry *nullcode;	/* 1.1: atoms taking rows with no code */
	struct TmCodeMap *codemap;	/* code -> matching atoms, filled as codes come */
	/* atoms with equal code lists (fold.c): each list tested once per code */
	int			ngroups;
	int		   *codegroup;		/* per atom k of this source: its group, -1 none */
	int		   *grouprep;		/* per group: an atom of it */
	bool	   *groupmatch;		/* per group: scratch of codemap_lookup */
	/* per call: zeroed in each copy of a cached plan (plan_copy) */
	Relation	rel;
	TmRelation	read;			/* its leaves, opened when the call runs */
	bool		use_index;		/* population calls: some leaf reads index ranges */
	bool		index_time;		/* every such leaf's index has the time second */
	int			nunits;
	TmIndexUnit *units;
	Oid			note_index;		/* a GIN index on a tsvector of the text, or 0 */
	Datum		note_query;		/* the tsquery of every phrase read through it */
} TmPlanSource;

/*
 * One event atom of one criterion: where its per-patient state lives and
 * what it needs from a row.
 */
typedef struct TmAtom
{
	TmEvent    *ev;
	List	   *codes;			/* ev->codes with << concepts expanded */
	List	   *except;
	int			source;			/* index into plan->sources */
	int			payload;		/* byte offset of its TmValState/TmAvgState/int64/double, or -1 */
	int			flag;			/* byte offset of its flag byte */
	bool		has_lower;
	TimestampTz lower;			/* window start */
	List	   *conversions;	/* TmConversion * with to_unit = ev->unit */
	struct TmAvgPlan *avg;		/* AVG: operands, exact conversions (avg.c) */
	/* 1.1, time */
	bool		has_upper;		/* rows read: start <= upper (BETWEEN, OVER) */
	TimestampTz upper;
	bool		empty;			/* an empty window: no row counts */
	bool		win_has_lo;		/* the window, also for NEW (which reads */
	TimestampTz win_lo;			/* every row) */
	TimestampTz win_hi;
	int			timed;			/* index into plan->timed, or -1 */
	int			side;			/* in a relation: 0 reference, 1 probe */
	/* 1.1 */
	uint8		kind11;			/* TM_K_*: how the measure reads a row */
	List	   *test_codes;		/* ev->test_is codes, sets and << expanded */
	List	   *where_codes;	/* ev->where_is codes, expanded */
	int			nfilters;
	struct TmPlanFilter *filters;
} TmAtom;

/* TmAtom.kind11: a 1.0 measure, or one that tests a row on its own */
#define TM_K_PLAIN		0
#define TM_K_CATEGORY	1		/* IS codes on the category column */
#define TM_K_RANGE		2		/* a test with N x uln / N x lln */

/* A filter bound to its column (plan.c) */
typedef struct TmPlanFilter
{
	TmFilter   *f;
	TmColumn	col;
	List	   *codes;			/* expanded */
} TmPlanFilter;

/* Per-patient state of an atom (layout depends on the measure). */
typedef struct TmValState
{
	double		v;				/* value of last/first */
	int64		n;				/* its time */
} TmValState;

/*
 * Per-patient state of an AVG atom (avg.c): the exact sum scaled by
 * 10^scale for numeric and integer columns, a double sum for float columns
 * and for sums too wide to be exact (TM_AVG_DOUBLE).
 */
#ifdef HAVE_INT128
typedef int128 TmWide;
#else
typedef int64 TmWide;
#endif

typedef struct TmAvgState
{
	union
	{
		TmWide		exact;
		double		approx;
	}			sum;
	int64		n;				/* usable values */
	int16		scale;
	uint8		flags;			/* TM_AVG_* */
} TmAvgState;

#define TM_AVG_DOUBLE	0x01	/* sum.approx holds the sum */
#define TM_AVG_PINF		0x02	/* a +Infinity value was seen */
#define TM_AVG_NINF		0x04	/* a -Infinity value was seen */

#define TM_F_SEEN		0x01	/* an event (or a usable value) was seen */
#define TM_F_PASS		0x02	/* ANY: some value passed; 1.1 last/first: it passes */
#define TM_F_TIE		0x04	/* 1.1 last/first: tied events disagree */

#define TM_BIRTH_DAY	0		/* the whole date */
#define TM_BIRTH_MONTH	1		/* year and month */
#define TM_BIRTH_YEAR	2		/* year only */

typedef struct TmPatients
{
	int			n;
	int64	   *ids;
	int32	   *birth;			/* DateADT (earliest possible); DATEVAL_NOBEGIN if NULL */
	uint8	   *birthprec;		/* TM_BIRTH_*: how much of the birth date is known */
	int16	   *sex;			/* index into sexdict, -1 if NULL */
	List	   *sexdict;		/* of char * */
	/* id -> index map: open addressing, or a dense array of ids - minid */
	bool		dense;
	bool		identity;		/* dense, and ids[p] = minid + p: no array read */
	int64		minid;
	uint32		mask;
	int64	   *keys;
	int32	   *slots;			/* index + 1, 0 = empty */
} TmPatients;

/* Evidence kept for one patient (explain_match). */
typedef struct TmEvidence
{
	bool		have;
	char	   *code;
	TimestampTz time;
	bool		has_end;
	TimestampTz end;
	bool		has_value;
	double		value;			/* as recorded */
	double		cvalue;			/* converted */
	char	   *unit;
	int64		nvalues;
	/* 1.1 */
	char	   *category;		/* the category of the event shown */
	bool		has_low;
	bool		has_high;
	double		low;			/* its normal range */
	double		high;
	bool		tie;			/* tied events disagree */
	char	   *filter;			/* "route = IV": a filter that kept the event */
	char	   *note;			/* MENTIONS: the sentence, match and trigger */
	int			note_rank;		/* the class of that match (notes.c) */
} TmEvidence;

typedef struct TmPlan
{
	struct TmCatalog *cat;
	TimestampTz as_of;
	int			as_of_year;
	int			as_of_mon;
	int			as_of_mday;
	int			ntrials;
	TmTrial   **trials;
	int			natoms;			/* distinct atoms (plan.c: atom_key) */
	int			atomcap;
	TmAtom	   *atoms;
	int		   *atom_of_id;		/* interned atom_key -> atom number, -1 none */
	int			nids;			/* entries of atom_of_id */
	int			nshared;		/* event nodes bound to an existing atom */
	int			nsources;
	TmPlanSource *sources;
	int			width;			/* bytes of state per patient */
	int			ntimed;			/* DAYS, ACTIVE FOR, relations (timed.c) */
	struct TmTimed *timed;
	uint64		bind_serial;	/* numbered the trees' atoms (plan.c) */
	bool		cacheable;		/* may be kept for the next call (plan.c) */
	TmPatientDef *patdef;
	TmColumn	pat_id;
	TmColumn	pat_birth;
	TmColumn	pat_sex;
	TmColumn	pat_gender;
	TmColumn	pat_byear;
	TmColumn	pat_bmonth;
	TmColumn	pat_bday;
	bool		needs_unit_concepts;
	TmColumn	concept_id;
	TmColumn	concept_code;

	/*
	 * Per call: everything from patrel up to the date cache is zeroed in
	 * each copy of a cached plan (plan.c, plan_copy).
	 */
	Relation	patrel;
	TmRelation	patread;
	Relation	conceptrel;		/* for unit concept ids */
	TmRelation	conceptread;
	MemoryContext lookupcxt;	/* per unit concept lookup */
	struct HTAB *unitcache;		/* unit concept id -> code */
	TmPatients	pats;
	char	   *state;			/* pats.n * width bytes */
	TmEvidence *evidence;		/* natoms entries, single-patient mode */
	struct TmTimedState *tstate;	/* event times of a call (timed.c) */
	MemoryContext rowcxt;
	int			planned;		/* parallel workers asked for */
	int			launched;		/* parallel workers that ran */
	Size		shared_bytes;	/* dynamic shared memory of a parallel call */
	TimestampTz started;		/* population calls: when the call started reading */
	int			pass;			/* match_all: this pass (1-based) of npasses */
	int			npasses;
	bool		eval_all;		/* match_all: parallel workers may evaluate every trial */
	bool		match_all;		/* a match_all call (its default number of workers) */
	const char *eval_phase;		/* ... reported as this, */
	int64		eval_base;		/* ... its progress from here */
	int64		eval_total;		/* ... of this, */
	struct TmAllTrial *all_out; /* ... and did: per trial, as tm_all_evaluate's */
	void	   *pcxt;			/* the ParallelContext kept for all_out until the end */
	int16	   *agetab;			/* eval.c: ages of recent birth dates, or NULL */
	int32		agetab_lo;		/* DateADT of agetab[0] */
	/* eval.c: a sex test's answers by sex code (< 64), for the last node */
	const struct TmNode *sexnode;
	uint64		sexknown;
	uint64		sextrue;
	/* date -> timestamptz in the session time zone, direct-mapped */
	int32		datecache_key[4096];
	TimestampTz datecache_val[4096];
} TmPlan;

extern TmPlan *tm_plan_create(TmCatalog *cat, TmTrial **trials, int ntrials,
							  TimestampTz as_of);
extern TmPlan *tm_plan_cached(TmCatalog *cat, TmTrial **trials, int ntrials,
							  TimestampTz as_of);
extern void tm_plan_check_privileges(TmPlan *plan);
extern void tm_plan_check_bound(TmPlan *plan);
extern int	tm_plan_passes(TmPlan *plan, int npatients, double budget, int *pass_of,
						   double *max_bytes);
extern int	tm_match_all_memory;
extern void tm_plan_close(TmPlan *plan);

/* relation.c */
extern void tm_relation_open(TmRelation *r, Relation rel, const char *what,
							 AttrNumber maxatt, const TmPrune *prune);
extern void tm_relation_open_leaves(TmRelation *r, Relation rel, const char *what,
									AttrNumber maxatt, const Oid *leaves, int nleaves);
extern void tm_relation_close(TmRelation *r);
extern void tm_source_prune(TmPlan *plan, int srcidx, TmPrune *prune);
extern void tm_leaf_row(TmRelation *r, TmLeaf *leaf, TupleTableSlot *slot,
						Datum **values, bool **isnull);
extern AttrNumber tm_leaf_attnum(TmLeaf *leaf, AttrNumber attnum);
typedef void (*TmRowFn) (TmPlan *plan, void *arg, Datum *values, bool *isnull);
extern void tm_relation_execute(TmPlan *plan, TmRelation *r, TmColumn *idcol, int64 id,
								MemoryContext rowcxt, TmRowFn fn, void *arg);

/* patients.c */
extern void tm_patients_read(TmPlan *plan, bool single, int64 id);
extern int	tm_patient_index(TmPatients *pats, int64 id);
extern void tm_patient_prefetch(TmPatients *pats, int64 id);

/* read.c: what part of a relation to read */
typedef struct TmScanSpec
{
	ParallelTableScanDesc pscan;	/* a share of a parallel scan of a leaf, or all */
	bool		filter_id;		/* keep only rows whose idcol equals id */
	TmColumn	idcol;			/* (through an index on it when a leaf has one) */
	int64		id;
	MemoryContext rowcxt;		/* reset before each row */
} TmScanSpec;

extern bool tm_read_spec_one(TmColumn idcol, int64 id, MemoryContext rowcxt,
							 TmScanSpec *spec);
extern void tm_read_relation(TmPlan *plan, TmRelation *r, int leaf, TmScanSpec *spec,
							 TmRowFn fn, void *arg);
extern void tm_read_source(TmPlan *plan, int srcidx, int leaf, bool single, int64 id,
						   ParallelTableScanDesc pscan);
extern void tm_read_units(TmPlan *plan, int srcidx, int leaf, int first, int count);
extern void tm_read_brin(TmPlan *plan, int srcidx, int leaf, pg_atomic_uint32 *next_chunk);
extern TIDBitmap *tm_units_bitmap(TmPlan *plan, int srcidx, int leaf, int first, int count,
								  Relation index);
extern long tm_fold_bitmap(TmPlan *plan, int srcidx, TmLeaf *leaf, TIDBitmap *tbm, int first,
						   int count, pg_atomic_uint32 *next_chunk, TmRowFn fn);
typedef struct TmPageList TmPageList;	/* read.c */
extern TmPageList *tm_units_pages(TmPlan *plan, int srcidx, int leaf, int first, int count,
								  Relation index, dsa_area *dsa, dsa_pointer *dp);
extern dsa_pointer tm_pages_share(TIDBitmap *tbm, dsa_area *dsa);
extern long tm_fold_shared_pages(TmPlan *plan, int srcidx, TmLeaf *leaf, dsa_area *dsa,
								 dsa_pointer pages, int first, int count, TmRowFn fn);

/* fold.c */
extern bool tm_row_event(TmPlan *plan, TmPlanSource *ps, Datum *values, bool *isnull,
						 TimestampTz *t, TimestampTz *end, bool *has_end, int *pidx);
extern bool tm_row_filters_pass(TmAtom *a, Datum *values, bool *isnull);
extern void tm_fold_row(TmPlan *plan, void *arg, Datum *values, bool *isnull);
extern void tm_fold_prefetch_id(TmPlan *plan, TmPlanSource *ps, Datum id);
extern void tm_fold_prefetch(TmPlan *plan, TmPlanSource *ps, Datum id);
extern void tm_state_alloc(TmPlan *plan);
extern void tm_codemaps_init(TmPlan *plan);
extern void tm_state_merge(TmPlan *plan, char *into, const char *from);
extern void tm_state_merge_range(TmPlan *plan, char *into, const char *from, int lo, int hi);
extern TimestampTz tm_time_value(TmPlan *plan, Datum d, Oid typid);

static inline int64
tm_id_value(Datum d, Oid typid)
{
	return typid == INT4OID ? (int64) DatumGetInt32(d) : DatumGetInt64(d);
}

/* all.c: many trials evaluated patient by patient (match_all) */
#define TM_ALL_CODE_BYTES 2		/* per trial and patient */
typedef struct TmAllTrial
{
	uint16	   *codes;			/* per patient: index into keys; NULL: not coded */
	uint64	   *keys;			/* per combination: failed bits << 32 | unknown bits */
	int			nkeys;
	int			keycap;
} TmAllTrial;

extern void tm_all_evaluate(TmPlan *plan, TmTrial **trials, int ntrials, TmAllTrial *out,
							const char *phase, int64 progress_base, int64 progress_total);
/* patients per piece of evaluation (progress, interrupts, parallel shares) */
#define TM_ALL_CHUNK 1024
typedef struct TmAllEval TmAllEval;
extern Size tm_all_shared_size(int ntrials);
extern void tm_all_shared_init(void *shared, int ntrials);
extern TmAllEval *tm_all_begin(TmPlan *plan, TmTrial **trials, int ntrials, uint16 *codes,
							   void *shared);
extern void tm_all_patients(TmAllEval *ev, int lo, int hi);
extern void tm_all_end(TmAllEval *ev, TmAllTrial *out);

/* rows.c: a population call's rows, kept compact until returned */
typedef struct TmRows TmRows;
extern TmRows *tm_rows_create(TupleDesc desc, int idatt);
extern void tm_rows_set_ids(TmRows *rows, const int64 *ids, int n);
extern void *tm_rows_begin_coded(TmRows *rows, int width);
extern int	tm_rows_template(TmRows *rows, Datum *values);
extern void tm_rows_put(TmRows *rows, Datum *values, bool *nulls);
extern bool tm_rows_next(TmRows *rows, Datum *row);
extern void tm_rows_end(TmRows *rows);
extern bool tm_rows_rewind(TmRows *rows);
extern void tm_rows_materialize(TmRows *rows, Tuplestorestate *ts);

/* exec.c */
extern void tm_run_population(TmPlan *plan);
extern void tm_population_patients(TmPlan *plan, const TmPatients *from);
extern void tm_population_sources(TmPlan *plan);
extern void tm_population_end(TmPlan *plan);
extern bool tm_run_single(TmPlan *plan, int64 patient_id);

/* indexpath.c */
extern void tm_choose_index_paths(TmPlan *plan);
extern void tm_index_units(TmPlan *plan, int srcidx);
extern bool tm_index_usable(Relation idx);
extern bool tm_slice_by_time(TmPlan *plan, int srcidx);
extern double tm_index_heap_blocks(TmLeaf *leaf);
extern int	tm_brin_keys(TmPlan *plan, int srcidx, int leaf, Relation index, ScanKey keys);
extern void tm_slice_units(TmPlan *plan, int srcidx, int nslices);
extern bool tm_index_units_cover(TmPlan *plan, int srcidx, int first, int count,
								 Datum *values, bool *isnull);
extern int	tm_index_unit_keys(TmPlan *plan, int srcidx, int leaf, int unit,
							   Relation index, ScanKey keys);

/* parallel.c */
extern int	tm_max_parallel_workers;
extern int	tm_parallel_workers_for(TmPlan *plan);
extern void tm_parallel_scan_sources(TmPlan *plan, TmCatalog *cat, int nworkers);
extern void tm_parallel_end(TmPlan *plan);

/* avg.c */
extern void tm_avg_plan(TmAtom *a, Oid typid);
extern void tm_avg_accum(const TmAtom *a, TmAvgState *st, Datum d, Oid typid,
						 int conv, double cv);
extern void tm_avg_merge(const TmAtom *a, TmAvgState *into, const TmAvgState *from);
extern TmTruth tm_avg_eval(const TmAtom *a, const TmAvgState *st);
extern char *tm_avg_text(const TmAtom *a, const TmAvgState *st);
extern double tm_numeric_to_double(Datum d);

/* timed.c: what needs the times of a patient's events (SPEC 7.3) */
extern void tm_timed_plan(TmPlan *plan, TmNode *node);
extern void tm_timed_layout(TmPlan *plan, int *off);
extern void tm_timed_begin(TmPlan *plan);
extern void tm_timed_add(TmPlan *plan, const TmAtom *a, int pidx, TimestampTz t,
						 TimestampTz end, const char *code);
extern void tm_timed_finish(TmPlan *plan);
extern bool tm_timed_relation(TmPlan *plan, TmNode *node, int pidx);
extern void tm_timed_evidence(TmPlan *plan, TmNode *node, StringInfo buf);
extern bool tm_time_minus(TmPlan *plan, TimestampTz from, TmSpan span, TimestampTz *out);
extern bool tm_time_plus(TmPlan *plan, TimestampTz from, TmSpan span, TimestampTz *out);
extern Size tm_timed_estimate_shared(TmPlan *plan);
extern void tm_timed_init_shared(TmPlan *plan, void *space, dsm_segment *seg);
extern void tm_timed_attach_worker(TmPlan *plan, void *space, dsm_segment *seg, int worker);
extern void tm_timed_detach_worker(TmPlan *plan);
extern void tm_timed_collect_workers(TmPlan *plan, void *space, int nworkers);

/* eval.c */
extern TmTruth tm_eval(TmPlan *plan, TmNode *node, int pidx);
extern void tm_append_time(StringInfo buf, TimestampTz t);
extern char *tm_evidence(TmPlan *plan, TmNode *node, int pidx);
extern TmTruth tm_eval_trial(TmPlan *plan, TmTrial *trial, int pidx,
							 TmTruth *results);
extern uint64 tm_eval_trial_key(TmPlan *plan, TmTrial *trial, int pidx);

/*
 * A trial's results for one patient as a key, for trials of at most 32
 * criteria: bit i when criterion i is unknown, bit 32 + i when it excludes
 * the patient (an inclusion false, an exclusion true).  The status follows.
 */
static inline uint64
tm_result_bits(const TmCriterion *c, int i, TmTruth r)
{
	if (r == TM_UNKNOWN)
		return UINT64CONST(1) << i;
	if ((r == TM_TRUE) == c->exclusion)
		return UINT64CONST(1) << (32 + i);
	return 0;
}

static inline TmTruth
tm_key_status(uint64 key)
{
	return (key >> 32) ? TM_FALSE : key ? TM_UNKNOWN : TM_TRUE;
}

/* the results a key stands for (tm_result_bits), into results[] */
static inline void
tm_key_results(const TmTrial *trial, uint64 key, TmTruth *results)
{
	for (int i = 0; i < trial->ncriteria; i++)
	{
		if (key & (UINT64CONST(1) << i))
			results[i] = TM_UNKNOWN;
		else if (key & (UINT64CONST(1) << (32 + i)))
			results[i] = trial->criteria[i].exclusion ? TM_TRUE : TM_FALSE;
		else
			results[i] = trial->criteria[i].exclusion ? TM_FALSE : TM_TRUE;
	}
}

/* indexonly.c: index-only reads of index ranges */
extern bool tm_index_only_reads;
extern AttrNumber tm_source_reads_column(TmPlanSource *ps, int c);
extern bool tm_index_covers(TmPlanSource *ps, TmLeaf *leaf, Relation index, AttrNumber *map);
extern bool tm_index_only(TmPlanSource *ps, TmLeaf *leaf, Relation index, AttrNumber *map);
extern void tm_read_units_index_only(TmPlan *plan, int srcidx, int leafidx, int first, int count,
									 Relation index, AttrNumber *map);
extern bool tm_read_one_index_only(TmPlan *plan, int srcidx, int leafidx, int64 id);
extern Oid	tm_find_id_index(Relation rel, AttrNumber attnum, TmPlanSource *ps, TmLeaf *leaf,
							 AttrNumber *map);
#include "notes.h"

#endif							/* TRIALMATCH_H */
