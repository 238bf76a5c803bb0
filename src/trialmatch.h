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
#include "access/relscan.h"
#include "access/skey.h"
#include "executor/tuptable.h"
#include "utils/relcache.h"

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
} TmTest;

typedef struct TmCode
{
	bool		is_int;
	bool		prefix;			/* string ending in %: prefix match */
	bool		descendants;	/* << id: the concept and its descendants */
	int64		ival;
	char	   *str;			/* without the trailing % */
	int			len;
} TmCode;

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
	TM_M_COVERS					/* OBSERVED: a span covering the whole window */
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
} TmEvent;

typedef enum TmNodeKind
{
	TM_N_AND,
	TM_N_OR,
	TM_N_NOT,
	TM_N_CONST,
	TM_N_AGE,
	TM_N_SEX,
	TM_N_EVENT
} TmNodeKind;

typedef struct TmNode
{
	TmNodeKind	kind;
	int			location;		/* 1-based character position */
	List	   *args;			/* AND, OR, NOT: of TmNode * */
	TmTruth		constval;		/* CONST */
	TmTest		test;			/* AGE */
	List	   *sexes;			/* SEX: of char * */
	TmEvent    *event;			/* EVENT */
	int			atom;			/* index into the plan's atoms, set by plan.c */
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
} TmSourceDef;

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
} TmCriterion;

typedef struct TmTrial
{
	char	   *trial_id;
	char	   *status;
	int			ncriteria;
	TmCriterion *criteria;		/* in position order */
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
} TmCatalog;

extern TmCatalog *tm_catalog(void);
extern char *tm_catalog_serialize(TmCatalog *cat, TmTrial **trials, int ntrials);
extern TmCatalog *tm_catalog_deserialize(const char *text);
extern TmTrial *tm_catalog_trial(TmCatalog *cat, const char *trial_id);
extern TmSourceDef *tm_catalog_source(TmCatalog *cat, const char *name);
extern void tm_catalog_init(void);
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
} TmLeaf;

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
	TmSourceDef *def;
	Relation	rel;
	TmRelation	read;			/* its leaves, opened when the call runs */
	char	   *what;			/* "source \"lab\"", for messages */
	TmColumn	patient;
	TmColumn	code;
	TmColumn	time;
	TmColumn	end_time;
	TmColumn	value;
	TmColumn	unit;
	TmColumn	time_fallback;
	TmColumn	end_fallback;
	AttrNumber	maxattno;		/* highest attribute read */
	int			natoms;
	int		   *atoms;			/* atoms reading this source */
	bool		needs_value;
	bool		needs_unit;
	struct TmCodeMap *codemap;	/* per-call cache: code -> matching atoms */
	bool		use_index;		/* population calls: some leaf reads index ranges */
	bool		index_time;		/* every such leaf's index has the time second */
	int			nunits;
	TmIndexUnit *units;
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
} TmAtom;

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
#define TM_F_PASS		0x02	/* ANY: some value passed */

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
	uint32	   *atomhash;		/* per atom: hash of its key */
	char	  **atomkey;		/* per atom: what its state depends on */
	int			nshared;		/* event nodes bound to an existing atom */
	int			nsources;
	TmPlanSource *sources;
	int			width;			/* bytes of state per patient */
	TmPatientDef *patdef;
	Relation	patrel;
	TmRelation	patread;
	TmColumn	pat_id;
	TmColumn	pat_birth;
	TmColumn	pat_sex;
	TmColumn	pat_gender;
	TmColumn	pat_byear;
	TmColumn	pat_bmonth;
	TmColumn	pat_bday;
	bool		needs_unit_concepts;
	Relation	conceptrel;		/* for unit concept ids */
	TmRelation	conceptread;
	MemoryContext lookupcxt;	/* per unit concept lookup */
	TmColumn	concept_id;
	TmColumn	concept_code;
	struct HTAB *unitcache;		/* unit concept id -> code */
	TmPatients	pats;
	char	   *state;			/* pats.n * width bytes */
	TmEvidence *evidence;		/* natoms entries, single-patient mode */
	MemoryContext rowcxt;
	int			planned;		/* parallel workers asked for */
	int			launched;		/* parallel workers that ran */
	Size		shared_bytes;	/* dynamic shared memory of a parallel call */
	TimestampTz started;		/* population calls: when the call started reading */
	int			pass;			/* match_all: this pass (1-based) of npasses */
	int			npasses;
	/* date -> timestamptz in the session time zone, direct-mapped */
	int32		datecache_key[4096];
	TimestampTz datecache_val[4096];
} TmPlan;

extern TmPlan *tm_plan_create(TmCatalog *cat, TmTrial **trials, int ntrials,
							  TimestampTz as_of);
extern void tm_plan_check_privileges(TmPlan *plan);
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

/* fold.c */
extern void tm_fold_row(TmPlan *plan, void *arg, Datum *values, bool *isnull);
extern void tm_state_alloc(TmPlan *plan);
extern void tm_codemaps_init(TmPlan *plan);
extern void tm_state_merge(TmPlan *plan, char *into, const char *from);
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

/* exec.c */
extern void tm_run_population(TmPlan *plan);
extern void tm_population_patients(TmPlan *plan, const TmPatients *from);
extern void tm_population_sources(TmPlan *plan);
extern bool tm_run_single(TmPlan *plan, int64 patient_id);

/* indexpath.c */
extern void tm_choose_index_paths(TmPlan *plan);
extern void tm_index_units(TmPlan *plan, int srcidx);
extern void tm_slice_units(TmPlan *plan, int srcidx, int nslices);
extern bool tm_index_units_cover(TmPlan *plan, int srcidx, int first, int count,
								 Datum *values, bool *isnull);
extern int	tm_index_unit_keys(TmPlan *plan, int srcidx, int leaf, int unit,
							   Relation index, ScanKey keys);

/* parallel.c */
extern int	tm_max_parallel_workers;
extern int	tm_parallel_workers_for(TmPlan *plan);
extern void tm_parallel_scan_sources(TmPlan *plan, TmCatalog *cat, int nworkers);

/* avg.c */
extern void tm_avg_plan(TmAtom *a, Oid typid);
extern void tm_avg_accum(const TmAtom *a, TmAvgState *st, Datum d, Oid typid,
						 int conv, double cv);
extern void tm_avg_merge(const TmAtom *a, TmAvgState *into, const TmAvgState *from);
extern TmTruth tm_avg_eval(const TmAtom *a, const TmAvgState *st);
extern char *tm_avg_text(const TmAtom *a, const TmAvgState *st);
extern double tm_numeric_to_double(Datum d);

/* eval.c */
extern TmTruth tm_eval(TmPlan *plan, TmNode *node, int pidx);
extern char *tm_evidence(TmPlan *plan, TmNode *node, int pidx);
extern TmTruth tm_eval_trial(TmPlan *plan, TmTrial *trial, int pidx,
							 TmTruth *results);

#endif							/* TRIALMATCH_H */
