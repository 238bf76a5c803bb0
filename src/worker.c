/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The background worker pool that executes screening runs: settings,
 *	  shared memory, the launcher and the pool workers.
 *
 * The launcher is a static background worker, registered when trialmatch
 * is in shared_preload_libraries.  It connects to trialmatch.database as
 * the bootstrap superuser and loops: check that the extension is installed
 * there and that what it touches is the extension's own (see below), reap
 * pool workers that have exited,
 * recover runs whose worker died, and start one dynamic background worker
 * per queued run, oldest first, while fewer than trialmatch.pool_size work.
 * It sleeps on its latch, which screen() sets when the transaction that
 * queued a run commits and a pool worker sets when it exits; a 10 s poll
 * is the backstop.
 *
 * A pool worker connects as the role that queued its run (never with more
 * privileges) and:
 *	1. in one transaction marks the run 'running' and counts the attempt,
 *	   unless the run is no longer queued (cancelled meanwhile);
 *	2. in a second transaction reads match_patients() as that role into a
 *	   tuplestore, then inserts the rows into trialmatch.results, marks the
 *	   run 'done' with its counts and sends NOTIFY: results and final state
 *	   commit together, so nobody sees half a run;
 *	3. on error (including cancel and trialmatch.run_timeout) aborts, and
 *	   in a fresh transaction marks the run 'failed' (with the message) or
 *	   'cancelled' (after cancel() or a query cancel request sent with
 *	   pg_cancel_backend: both are a request to stop, and are not retried).
 * A run of a screen_all() group (runs.group_id) claims, in step 1, every
 * queued run of its group; step 2 reads match_all() over their trials once
 * (execute_group), falling back to one trial at a time in subtransactions
 * if that fails, so that a trial that fails fails its own run only, and
 * stores every run's results and state in the one transaction.  The
 * launcher starts a worker for the oldest queued run of a group only.
 * Bookkeeping statements (on trialmatch.runs and trialmatch.results, which
 * ordinary roles cannot write) run as the bootstrap superuser with a safe
 * search_path, switched with SetUserIdAndSecContext only around them; the
 * screening itself runs as the requesting role.
 *
 * Trust.  The launcher and the workers run as a superuser in a database
 * whose other users may be hostile, so before each pass (and each run)
 * they check, by OID, that extension trialmatch is installed in this
 * database (get_extension_oid), that its schema is named trialmatch and is
 * owned by a superuser (so nobody else can create or rename anything in
 * it), and that trialmatch.runs, trialmatch.results and
 * trialmatch.match_patients(text, timestamptz) are members of the
 * extension (pg_depend, deptype 'e').  Until then no statement touches any
 * table: a schema trialmatch that some database owner created is never
 * read.  Their statements run as security-restricted operations with
 * search_path = pg_catalog, pg_temp.  A run executes only if screen()
 * queued it (runs.queued_by_screen, see runs.c), as the role that called
 * screen(); any other queued row is failed without being executed.
 *
 * Crash safety.  A run is 'running' in the table only while a worker owns
 * it, or after that worker died.  The launcher requeues such runs: all of
 * them the first time it runs in a shared memory lifetime (after a server
 * start or crash restart every worker is gone), and later those of a
 * worker it sees exit with its run still 'running' (e.g. terminated with
 * pg_terminate_backend).  A run started TM_MAX_ATTEMPTS times is failed
 * instead.  Because that recovery happens once per shared memory lifetime,
 * a launcher restart (after an error in the launcher) never touches runs
 * that live workers own; it adopts their slots.
 *
 * Locking: tm_pool->lock guards the slots' assignment fields; a slot's
 * progress fields have their own spinlock (see progress.c).
 *
 * IDENTIFICATION
 *	  src/worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <signal.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "postmaster/postmaster.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/queryenvironment.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "pool.h"

PGDLLEXPORT void tm_launcher_main(Datum main_arg);
PGDLLEXPORT void tm_pool_worker_main(Datum main_arg);

/* Settings */
char	   *tm_database = NULL;
int			tm_pool_size = 2;
int			tm_run_timeout = 0;

bool		tm_pool_preloaded = false;
TmPoolShared *tm_pool = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* Launcher-local state */
static BackgroundWorkerHandle **launcher_handles = NULL;
static char *launcher_problem = NULL;	/* last check_extension() complaint */

typedef struct StartFailure
{
	int64		run_id;
	int			count;
} StartFailure;
static List *start_failures = NIL;	/* in TopMemoryContext */

/* Pool-worker-local state */
static volatile sig_atomic_t run_timed_out = false;

/* ----------------------------------------------------------------
 * Settings and shared memory
 * ----------------------------------------------------------------
 */

static int
pool_nslots(void)
{
	return Max(max_worker_processes, 1);
}

static Size
pool_shmem_size(void)
{
	return add_size(offsetof(TmPoolShared, slots),
					mul_size(pool_nslots(), sizeof(TmSlot)));
}

static void
pool_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(pool_shmem_size());
	RequestAddinShmemSpace(tm_calls_shmem_size());
	RequestNamedLWLockTranche("trialmatch", 1);
}

static void
pool_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	tm_pool = ShmemInitStruct("trialmatch pool", pool_shmem_size(), &found);
	if (!found)
	{
		memset(tm_pool, 0, pool_shmem_size());
		tm_pool->lock = &(GetNamedLWLockTranche("trialmatch"))->lock;
		ConditionVariableInit(&tm_pool->run_ended);
		tm_pool->nslots = pool_nslots();
		for (int i = 0; i < tm_pool->nslots; i++)
			SpinLockInit(&tm_pool->slots[i].mutex);
	}
	tm_calls_shmem_init();
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Called from _PG_init: defines the settings and, when preloading,
 * requests shared memory and registers the launcher.
 */
void
tm_worker_init(void)
{
	DefineCustomIntVariable("trialmatch.pool_size",
							"Maximum number of screening runs executed at the same time.",
							"Each run takes one background worker; 0 keeps runs queued.",
							&tm_pool_size,
							2, 0, MAX_BACKENDS,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("trialmatch.run_timeout",
							"Longest time a screening run may take; 0 means no limit.",
							"A run that takes longer is stopped and marked failed.",
							&tm_run_timeout,
							0, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	if (!process_shared_preload_libraries_in_progress)
		return;

	/* a PGC_POSTMASTER setting can only be defined while preloading */
	DefineCustomStringVariable("trialmatch.database",
							   "Database whose screening runs the background worker pool executes.",
							   "screen() works in this database only.",
							   &tm_database,
							   "postgres",
							   PGC_POSTMASTER,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	tm_pool_preloaded = true;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = pool_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = pool_shmem_startup;

	{
		BackgroundWorker bgw;

		memset(&bgw, 0, sizeof(bgw));
		bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
		bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
		bgw.bgw_restart_time = 5;
		snprintf(bgw.bgw_library_name, BGW_MAXLEN, "trialmatch");
		snprintf(bgw.bgw_function_name, BGW_MAXLEN, "tm_launcher_main");
		snprintf(bgw.bgw_name, BGW_MAXLEN, "trialmatch launcher");
		snprintf(bgw.bgw_type, BGW_MAXLEN, "trialmatch launcher");
		RegisterBackgroundWorker(&bgw);
	}
}

/* Wake the launcher (after a run was queued, or a worker exited). */
void
tm_wake_launcher(void)
{
	Latch	   *latch;

	if (tm_pool == NULL)
		return;
	LWLockAcquire(tm_pool->lock, LW_SHARED);
	latch = tm_pool->launcher_latch;
	if (latch != NULL)
		SetLatch(latch);
	LWLockRelease(tm_pool->lock);
}

/* Wake the sessions in wait(): a run has ended (call after commit). */
void
tm_broadcast_run_ended(void)
{
	if (tm_pool != NULL)
		ConditionVariableBroadcast(&tm_pool->run_ended);
}

/* May the current user read trialmatch.database (GUC_SUPERUSER_ONLY)? */
bool
tm_pool_may_read_database_setting(void)
{
	return superuser() || has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_SETTINGS);
}

/* ----------------------------------------------------------------
 * Is the extension here, and are the objects we touch its own?
 * ----------------------------------------------------------------
 */

/* pg_extension.extnamespace of an extension (PostgreSQL 15 exports no getter). */
static Oid
extension_namespace(Oid extoid)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			nsp = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extoid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		nsp = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return nsp;
}

/* Is relation name in namespace nsp a member of extension extoid? */
static bool
extension_owns_relation(Oid extoid, Oid nsp, const char *name)
{
	Oid			relid = get_relname_relid(name, nsp);

	return OidIsValid(relid) && getExtensionOfObject(RelationRelationId, relid) == extoid;
}

/* The launcher's complaint about an object a non-superuser owns. */
static char *
not_superuser(const char *what, Oid owner)
{
	const char *name = GetUserNameFromId(owner, true);

	return psprintf("%s is owned by role \"%s\", which is not a superuser", what, name ? name : "?");
}

/*
 * Check, in the current transaction and before any statement reads a table
 * of the trialmatch schema, that the extension is installed in this
 * database and that the objects the pool touches are its own (by OID, see
 * the file header).  Returns NULL when they are, else what is wrong.
 */
static char *
check_extension(void)
{
	Oid			extoid = get_extension_oid("trialmatch", true);
	Oid			nsp;
	HeapTuple	tup;
	Oid			nspowner;
	char	   *nspname;
	Oid			argtypes[2] = {TEXTOID, TIMESTAMPTZOID};
	Oid			fn;

	if (!OidIsValid(extoid))
		return psprintf("extension \"trialmatch\" is not installed in database \"%s\"",
						get_database_name(MyDatabaseId));
	nsp = extension_namespace(extoid);
	nspname = OidIsValid(nsp) ? get_namespace_name(nsp) : NULL;
	if (nspname == NULL || strcmp(nspname, "trialmatch") != 0)
		return pstrdup("extension \"trialmatch\" is not in schema \"trialmatch\"");
	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for schema %u", nsp);
	nspowner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);
	if (!superuser_arg(nspowner))
		return not_superuser("schema \"trialmatch\"", nspowner);
	if (!extension_owns_relation(extoid, nsp, "runs") ||
		!extension_owns_relation(extoid, nsp, "results"))
		return pstrdup("trialmatch.runs or trialmatch.results is not a member of extension \"trialmatch\"");
	/* their triggers fire as their owner's: a superuser (the extension's) only */
	for (int i = 0; i < 2; i++)
	{
		Oid			relid = get_relname_relid(i == 0 ? "runs" : "results", nsp);
		HeapTuple	rt = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
		Oid			owner;

		if (!HeapTupleIsValid(rt))
			elog(ERROR, "cache lookup failed for relation %u", relid);
		owner = ((Form_pg_class) GETSTRUCT(rt))->relowner;
		ReleaseSysCache(rt);
		if (!superuser_arg(owner))
			return not_superuser(i == 0 ? "table trialmatch.runs" : "table trialmatch.results", owner);
	}
	if (get_attnum(get_relname_relid("runs", nsp), "queued_by_screen") == InvalidAttrNumber ||
		get_attnum(get_relname_relid("runs", nsp), "group_id") == InvalidAttrNumber)
		return pstrdup("extension \"trialmatch\" must be updated (ALTER EXTENSION trialmatch UPDATE)");
	fn = LookupFuncName(list_make2(makeString("trialmatch"), makeString("match_patients")),
						2, argtypes, true);
	if (!OidIsValid(fn) || getExtensionOfObject(ProcedureRelationId, fn) != extoid)
		return pstrdup("trialmatch.match_patients(text, timestamptz) is not a member of extension \"trialmatch\"");
	argtypes[0] = TIMESTAMPTZOID;
	argtypes[1] = TEXTARRAYOID;
	fn = LookupFuncName(list_make2(makeString("trialmatch"), makeString("match_all")),
						2, argtypes, true);
	if (!OidIsValid(fn) || getExtensionOfObject(ProcedureRelationId, fn) != extoid)
		return pstrdup("trialmatch.match_all(timestamptz, text[]) is not a member of extension \"trialmatch\"");
	return NULL;
}

/* ----------------------------------------------------------------
 * Helpers for the bookkeeping transactions
 * ----------------------------------------------------------------
 */

static void
xact_begin(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

static void
xact_end(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

static int
spi_exec(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls,
		 int expected)
{
	int			ret = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	if (ret != expected)
		elog(ERROR, "trialmatch: SPI_execute_with_args returned %d for: %s", ret, sql);
	return ret;
}

/* NOTIFY trialmatch_runs, run id (sent at commit). */
static void
notify_run(int64 run_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(run_id)};

	spi_exec("SELECT pg_catalog.pg_notify('" TM_RUNS_CHANNEL "', $1::pg_catalog.text)",
			 1, types, values, NULL, SPI_OK_SELECT);
}

/*
 * A run whose worker is gone while it is 'running': queue it again, or
 * fail it after TM_MAX_ATTEMPTS starts.  run_id 0 means every such run.
 * Returns whether any run ended (was failed).
 */
static bool
requeue_interrupted(int64 run_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(run_id)};
	bool		ended = false;

	spi_exec("UPDATE trialmatch.runs SET"
			 "  state = CASE WHEN attempts >= " CppAsString2(TM_MAX_ATTEMPTS) " THEN 'failed' ELSE 'queued' END,"
			 "  error = CASE WHEN attempts >= " CppAsString2(TM_MAX_ATTEMPTS)
			 "    THEN pg_catalog.format('run interrupted %s times (server crash, restart or terminated worker); not retried', attempts) END,"
			 "  finished_at = CASE WHEN attempts >= " CppAsString2(TM_MAX_ATTEMPTS) " THEN pg_catalog.now() END,"
			 "  started_at = CASE WHEN attempts >= " CppAsString2(TM_MAX_ATTEMPTS) " THEN started_at END"
			 " WHERE state = 'running' AND ($1 = 0 OR run_id = $1"
			 "   OR group_id = (SELECT g.group_id FROM trialmatch.runs g WHERE g.run_id = $1))"
			 " RETURNING run_id, state",
			 1, types, values, NULL, SPI_OK_UPDATE_RETURNING);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
													 SPI_tuptable->tupdesc, 1, &isnull));
		char	   *state = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

		if (strcmp(state, "failed") == 0)
		{
			ereport(LOG,
					(errmsg("trialmatch: run " INT64_FORMAT " was interrupted %d times and is failed",
							id, TM_MAX_ATTEMPTS)));
			notify_run(id);
			ended = true;
		}
		else
			ereport(LOG,
					(errmsg("trialmatch: run " INT64_FORMAT " was interrupted and is queued again", id)));
	}
	return ended;
}

/* Fail a run that is still queued; returns whether it was. */
static bool
fail_queued_run(int64 run_id, const char *error)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(run_id), CStringGetTextDatum(error)};

	spi_exec("UPDATE trialmatch.runs SET state = 'failed', error = $2,"
			 " finished_at = pg_catalog.now()"
			 " WHERE run_id = $1 AND state = 'queued'",
			 2, types, values, NULL, SPI_OK_UPDATE);
	if (SPI_processed == 0)
		return false;
	notify_run(run_id);
	return true;
}

/* ----------------------------------------------------------------
 * The launcher
 * ----------------------------------------------------------------
 */

static void
launcher_detach(int code, Datum arg)
{
	LWLockAcquire(tm_pool->lock, LW_EXCLUSIVE);
	if (tm_pool->launcher_pid == MyProcPid)
	{
		tm_pool->launcher_pid = 0;
		tm_pool->launcher_latch = NULL;
	}
	LWLockRelease(tm_pool->lock);
}

typedef struct Reaped
{
	int64		run_id;
	bool		connected;
} Reaped;

/* Free the slots of workers that are gone; returns what they had. */
static List *
reap_slots(void)
{
	List	   *reaped = NIL;
	TimestampTz now = GetCurrentTimestamp();

	LWLockAcquire(tm_pool->lock, LW_EXCLUSIVE);
	for (int i = 0; i < tm_pool->nslots; i++)
	{
		TmSlot	   *slot = &tm_pool->slots[i];
		bool		gone = slot->exited;

		if (!slot->in_use)
			continue;
		if (!gone && launcher_handles[i] != NULL)
		{
			pid_t		pid;

			if (GetBackgroundWorkerPid(launcher_handles[i], &pid) == BGWH_STOPPED)
				gone = true;
		}
		else if (!gone && launcher_handles[i] == NULL && slot->pid == 0 &&
				 TimestampDifferenceExceeds(slot->assigned_at, now, 60000))
			gone = true;		/* adopted slot whose worker never started */
		else if (!gone && launcher_handles[i] == NULL && slot->pid != 0 &&
				 kill(slot->pid, 0) != 0 && errno == ESRCH)
			gone = true;		/* adopted slot whose worker vanished */

		if (gone)
		{
			Reaped	   *r = palloc(sizeof(Reaped));

			r->run_id = slot->run_id;
			r->connected = slot->connected;
			reaped = lappend(reaped, r);
			slot->in_use = false;
			slot->exited = false;
			slot->connected = false;
			slot->cancel_requested = false;
			slot->pid = 0;
			slot->run_id = 0;
			if (launcher_handles[i] != NULL)
			{
				pfree(launcher_handles[i]);
				launcher_handles[i] = NULL;
			}
		}
	}
	LWLockRelease(tm_pool->lock);
	return reaped;
}

/* Count a failed start of a run; returns the count so far. */
static int
count_start_failure(int64 run_id)
{
	ListCell   *lc;
	StartFailure *f;
	MemoryContext old;

	foreach(lc, start_failures)
	{
		f = lfirst(lc);
		if (f->run_id == run_id)
			return ++f->count;
	}
	old = MemoryContextSwitchTo(TopMemoryContext);
	f = palloc(sizeof(StartFailure));
	f->run_id = run_id;
	f->count = 1;
	start_failures = lappend(start_failures, f);
	MemoryContextSwitchTo(old);
	return 1;
}

static void
forget_start_failures(void)
{
	list_free_deep(start_failures);
	start_failures = NIL;
}

typedef struct ToStart
{
	int64		run_id;
	Oid			roleid;
} ToStart;

/* Start a pool worker for a run in a free slot; false if none could start. */
static bool
start_worker(int64 run_id, Oid roleid)
{
	BackgroundWorker bgw;
	MemoryContext old;
	int			idx = -1;
	bool		ok;

	LWLockAcquire(tm_pool->lock, LW_EXCLUSIVE);
	for (int i = 0; i < tm_pool->nslots; i++)
	{
		TmSlot	   *slot = &tm_pool->slots[i];

		if (slot->in_use)
			continue;
		idx = i;
		slot->in_use = true;
		slot->connected = false;
		slot->exited = false;
		slot->cancel_requested = false;
		slot->pid = 0;
		slot->run_id = run_id;
		slot->dboid = MyDatabaseId;
		slot->roleid = roleid;
		slot->assigned_at = GetCurrentTimestamp();
		SpinLockAcquire(&slot->mutex);
		strlcpy(slot->phase, "starting", TM_PHASE_LEN);
		slot->done = 0;
		slot->total = -1;
		slot->phase_since = slot->assigned_at;
		SpinLockRelease(&slot->mutex);
		break;
	}
	LWLockRelease(tm_pool->lock);
	if (idx < 0)
		return false;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "trialmatch");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "tm_pool_worker_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "trialmatch worker for run " INT64_FORMAT, run_id);
	snprintf(bgw.bgw_type, BGW_MAXLEN, "trialmatch worker");
	bgw.bgw_main_arg = Int32GetDatum(idx);
	bgw.bgw_notify_pid = MyProcPid;

	old = MemoryContextSwitchTo(TopMemoryContext);
	ok = RegisterDynamicBackgroundWorker(&bgw, &launcher_handles[idx]);
	MemoryContextSwitchTo(old);
	if (!ok)
	{
		LWLockAcquire(tm_pool->lock, LW_EXCLUSIVE);
		tm_pool->slots[idx].in_use = false;
		tm_pool->slots[idx].run_id = 0;
		LWLockRelease(tm_pool->lock);
		launcher_handles[idx] = NULL;
	}
	return ok;
}

/*
 * One pass of the launcher; returns how long to sleep (ms) unless woken.
 */
static long
launcher_pass(void)
{
	List	   *reaped = reap_slots();
	List	   *to_start = NIL;
	List	   *assigned = NIL;
	ListCell   *lc;
	bool		ended = false;
	bool		recovered_now = false;
	char	   *problem;
	TmPrivSave	save;
	int			busy = 0;
	int			limit;
	long		sleep_ms = 10000;

	LWLockAcquire(tm_pool->lock, LW_SHARED);
	for (int i = 0; i < tm_pool->nslots; i++)
	{
		if (tm_pool->slots[i].in_use)
		{
			int64	   *id = palloc(sizeof(int64));

			*id = tm_pool->slots[i].run_id;
			busy++;
			assigned = lappend(assigned, id);
		}
	}
	limit = Min(tm_pool_size, tm_pool->nslots);
	LWLockRelease(tm_pool->lock);

	xact_begin("trialmatch launcher: looking for queued runs");

	/* nothing is read before the extension's objects are checked */
	problem = check_extension();
	if (problem != NULL)
	{
		/* say so once per change; screen() will wake us when it is fixed */
		if (launcher_problem == NULL || strcmp(launcher_problem, problem) != 0)
		{
			ereport(LOG,
					(errmsg("trialmatch launcher: %s; no screening runs are executed", problem),
					 errhint("Install extension trialmatch in database \"%s\" as a superuser, or set trialmatch.database.",
							 tm_database)));
			if (launcher_problem)
				pfree(launcher_problem);
			launcher_problem = MemoryContextStrdup(TopMemoryContext, problem);
		}
		xact_end();
		return 60000;
	}
	if (launcher_problem != NULL)
	{
		ereport(LOG,
				(errmsg("trialmatch launcher: extension \"trialmatch\" found in database \"%s\"",
						tm_database)));
		pfree(launcher_problem);
		launcher_problem = NULL;
	}
	tm_become_superuser(&save);

	if (!tm_pool->recovered)
	{
		ended |= requeue_interrupted(0);
		recovered_now = true;
	}

	foreach(lc, reaped)
	{
		Reaped	   *r = lfirst(lc);

		if (r->connected)
			ended |= requeue_interrupted(r->run_id);
		else if (count_start_failure(r->run_id) >= 3)
			ended |= fail_queued_run(r->run_id,
									 "the pool worker could not start the run 3 times; see the server log");
	}

	if (busy < limit)
	{
		Oid			types[1] = {INT4OID};
		Datum		values[1] = {Int32GetDatum(limit - busy + list_length(assigned))};

		spi_exec("SELECT r.run_id, r.requested_by::pg_catalog.oid, a.rolcanlogin, a.rolname,"
				 " r.queued_by_screen"
				 " FROM trialmatch.runs r LEFT JOIN pg_catalog.pg_authid a"
				 "   ON a.oid OPERATOR(pg_catalog.=) r.requested_by::pg_catalog.oid"
				 " WHERE r.state OPERATOR(pg_catalog.=) 'queued'"
				 /* a screen_all() group: its oldest queued run stands for it */
				 "   AND (r.group_id IS NULL OR NOT EXISTS (SELECT 1 FROM trialmatch.runs g"
				 "     WHERE g.group_id OPERATOR(pg_catalog.=) r.group_id"
				 "       AND g.state OPERATOR(pg_catalog.=) 'queued'"
				 "       AND g.run_id OPERATOR(pg_catalog.<) r.run_id))"
				 " ORDER BY r.run_id LIMIT $1",
				 1, types, values, NULL, SPI_OK_SELECT);
		{
			SPITupleTable *tt = SPI_tuptable;
			uint64		n = SPI_processed;

			for (uint64 i = 0; i < n && busy + list_length(to_start) < limit; i++)
			{
				bool		isnull,
							login_null;
				int64		run_id = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
				Oid			roleid = DatumGetObjectId(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull));
				bool		canlogin = DatumGetBool(SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &login_null));
				bool		by_screen = DatumGetBool(SPI_getbinval(tt->vals[i], tt->tupdesc, 5, &isnull)) && !isnull;
				bool		taken = false;
				ListCell   *lc2;

				foreach(lc2, assigned)
				{
					if (*(int64 *) lfirst(lc2) == run_id)
						taken = true;
				}
				if (taken)
					continue;
				if (!by_screen)
				{
					/* never executed as the role a written row names */
					ereport(LOG,
							(errmsg("trialmatch: run " INT64_FORMAT " was not queued through trialmatch.screen() and is failed",
									run_id)));
					ended |= fail_queued_run(run_id,
											 "run was not queued through trialmatch.screen(); it is not executed");
				}
				else if (login_null)
					ended |= fail_queued_run(run_id,
											 "the role that queued the run no longer exists");
				else if (!canlogin)
					ended |= fail_queued_run(run_id,
											 psprintf("role \"%s\" cannot log in, and a run executes as the role that queued it",
													  SPI_getvalue(tt->vals[i], tt->tupdesc, 4)));
				else
				{
					ToStart    *s = palloc(sizeof(ToStart));

					s->run_id = run_id;
					s->roleid = roleid;
					to_start = lappend(to_start, s);
				}
			}
		}
	}
	tm_restore_user(&save);
	xact_end();

	if (recovered_now)
	{
		LWLockAcquire(tm_pool->lock, LW_EXCLUSIVE);
		tm_pool->recovered = true;
		LWLockRelease(tm_pool->lock);
	}
	if (ended)
		tm_broadcast_run_ended();
	if (start_failures != NIL && reaped == NIL && busy == 0 && to_start == NIL)
		forget_start_failures();

	foreach(lc, to_start)
	{
		ToStart    *s = lfirst(lc);

		if (!start_worker(s->run_id, s->roleid))
		{
			ereport(WARNING,
					(errmsg("trialmatch: could not start a pool worker for run " INT64_FORMAT, s->run_id),
					 errhint("Raise max_worker_processes, or lower trialmatch.pool_size.")));
			sleep_ms = 1000;
			break;
		}
	}
	return sleep_ms;
}

void
tm_launcher_main(Datum main_arg)
{
	MemoryContext passcxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(tm_database, NULL, 0);
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);

	launcher_handles = MemoryContextAllocZero(TopMemoryContext,
											  sizeof(BackgroundWorkerHandle *) * tm_pool->nslots);
	LWLockAcquire(tm_pool->lock, LW_EXCLUSIVE);
	tm_pool->launcher_pid = MyProcPid;
	tm_pool->launcher_latch = MyLatch;
	LWLockRelease(tm_pool->lock);
	before_shmem_exit(launcher_detach, (Datum) 0);

	ereport(LOG,
			(errmsg("trialmatch launcher started in database \"%s\" (pool size %d)",
					tm_database, tm_pool_size)));

	passcxt = AllocSetContextCreate(TopMemoryContext, "trialmatch launcher pass",
									ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		MemoryContext old;
		long		sleep_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		MemoryContextReset(passcxt);
		old = MemoryContextSwitchTo(passcxt);
		sleep_ms = launcher_pass();
		MemoryContextSwitchTo(old);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ----------------------------------------------------------------
 * A pool worker
 * ----------------------------------------------------------------
 */

static TmSlot *my_slot = NULL;

static void
worker_exit(int code, Datum arg)
{
	TmSlot	   *slot = &tm_pool->slots[DatumGetInt32(arg)];

	tm_my_progress = NULL;
	LWLockReleaseAll();
	LWLockAcquire(tm_pool->lock, LW_EXCLUSIVE);
	slot->exited = true;
	slot->pid = 0;
	if (tm_pool->launcher_latch != NULL)
		SetLatch(tm_pool->launcher_latch);
	LWLockRelease(tm_pool->lock);
}

static void
run_timeout_handler(void)
{
	run_timed_out = true;
	QueryCancelPending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
}

static bool
cancel_requested(void)
{
	bool		result;

	LWLockAcquire(tm_pool->lock, LW_SHARED);
	result = my_slot->cancel_requested;
	LWLockRelease(tm_pool->lock);
	return result;
}

typedef struct RunInfo
{
	int64		run_id;
	char	   *trial_id;
	TimestampTz as_of;
	char	   *time_zone;
	int			attempt;
	List	   *group;			/* screen_all: every claimed run (RunInfo *) of the group */
} RunInfo;

static int
run_id_cmp(const ListCell *a, const ListCell *b)
{
	int64		x = ((RunInfo *) lfirst(a))->run_id;
	int64		y = ((RunInfo *) lfirst(b))->run_id;

	return x < y ? -1 : x > y;
}

/*
 * Transaction 1: queued -> running.  False if the run is not queued.  A
 * run of a screen_all() group claims every queued run of the group
 * (run->group).
 */
static bool
claim_run(RunInfo *run, MemoryContext cxt)
{
	TmPrivSave	save;
	Oid			types[2] = {INT8OID, OIDOID};
	Datum		values[2] = {Int64GetDatum(run->run_id), ObjectIdGetDatum(GetUserId())};
	bool		claimed = false;
	char	   *problem;

	HOLD_CANCEL_INTERRUPTS();
	xact_begin("trialmatch worker: claiming the run");
	problem = check_extension();
	if (problem != NULL)
	{
		ereport(LOG,
				(errmsg("trialmatch worker: %s; run " INT64_FORMAT " is not executed",
						problem, run->run_id)));
		xact_end();
		RESUME_CANCEL_INTERRUPTS();
		return false;
	}
	tm_become_superuser(&save);
	/*
	 * Only runs screen() or screen_all() queued, as the role this worker
	 * connected as: this run, or every queued run of its screen_all() group
	 * (even if this one was cancelled meanwhile).
	 */
	spi_exec("UPDATE trialmatch.runs SET state = 'running', started_at = pg_catalog.now(),"
			 " attempts = attempts + 1, error = NULL"
			 " WHERE (run_id = $1 OR group_id = (SELECT g.group_id FROM trialmatch.runs g WHERE g.run_id = $1))"
			 "   AND state = 'queued' AND queued_by_screen"
			 "   AND requested_by::pg_catalog.oid = $2"
			 " RETURNING run_id, trial_id, as_of, time_zone, attempts, group_id IS NOT NULL",
			 2, types, values, NULL, SPI_OK_UPDATE_RETURNING);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		MemoryContext old = MemoryContextSwitchTo(cxt);
		RunInfo    *r = palloc0(sizeof(RunInfo));

		r->run_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		r->trial_id = SPI_getvalue(tup, desc, 2);
		r->as_of = DatumGetTimestampTz(SPI_getbinval(tup, desc, 3, &isnull));
		r->time_zone = SPI_getvalue(tup, desc, 4);
		r->attempt = DatumGetInt32(SPI_getbinval(tup, desc, 5, &isnull));
		if (DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull)))
			run->group = lappend(run->group, r);
		else
		{
			/* a run of its own */
			run->trial_id = r->trial_id;
			run->as_of = r->as_of;
			run->time_zone = r->time_zone;
			run->attempt = r->attempt;
		}
		MemoryContextSwitchTo(old);
		claimed = true;
	}
	if (run->group != NIL)
	{
		RunInfo    *first;

		list_sort(run->group, run_id_cmp);
		first = linitial(run->group);
		run->run_id = first->run_id;
		run->trial_id = first->trial_id;
		run->as_of = first->as_of;
		run->time_zone = first->time_zone;
		run->attempt = first->attempt;
	}
	tm_restore_user(&save);
	xact_end();
	RESUME_CANCEL_INTERRUPTS();
	return claimed;
}

/* Final state after an error or a cancel, in a fresh transaction. */
static void
finish_run(int64 run_id, const char *state, const char *error)
{
	TmPrivSave	save;
	Oid			types[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', error ? ' ' : 'n'};

	values[0] = Int64GetDatum(run_id);
	values[1] = CStringGetTextDatum(state);
	values[2] = error ? CStringGetTextDatum(error) : (Datum) 0;

	HOLD_CANCEL_INTERRUPTS();
	xact_begin("trialmatch worker: recording the outcome");
	tm_become_superuser(&save);
	spi_exec("UPDATE trialmatch.runs SET state = $2, error = $3,"
			 " finished_at = pg_catalog.clock_timestamp()"
			 " WHERE run_id = $1 AND state IN ('queued', 'running')",
			 3, types, values, nulls, SPI_OK_UPDATE);
	if (SPI_processed > 0)
		notify_run(run_id);
	tm_restore_user(&save);
	xact_end();
	RESUME_CANCEL_INTERRUPTS();
	tm_broadcast_run_ended();
}

/* finish_run for a run, or for every run of its screen_all() group. */
static void
finish_runs(RunInfo *run, const char *state, const char *error)
{
	ListCell   *lc;

	if (run->group == NIL)
	{
		finish_run(run->run_id, state, error);
		return;
	}
	foreach(lc, run->group)
		finish_run(((RunInfo *) lfirst(lc))->run_id, state, error);
}

/*
 * The start of a screening transaction: the extension still as the
 * launcher checked it, the requester's time zone, progress reported.
 */
static void
begin_screening(const char *what, const char *time_zone)
{
	char	   *problem;

	xact_begin(what);
	problem = check_extension();
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s", problem)));
	SetConfigOption("TimeZone", time_zone, PGC_USERSET, PGC_S_SESSION);
	tm_progress_report("screening", 0, -1);
}

/*
 * Transaction 2: screen as the requesting role, then store the results and
 * the final state together.
 */
static void
execute_run(RunInfo *run)
{
	Oid			argtypes[2] = {TEXTOID, TIMESTAMPTZOID};
	Datum		args[2];
	Portal		portal;
	Tuplestorestate *store = NULL;
	TupleDesc	desc = NULL;
	Oid			eligible_oid = InvalidOid,
				indeterminate_oid = InvalidOid;
	int64		n = 0,
				neligible = 0,
				nindeterminate = 0;
	TmPrivSave	save;
	EphemeralNamedRelation enr;

	begin_screening("trialmatch worker: screening", run->time_zone);

	args[0] = CStringGetTextDatum(run->trial_id);
	args[1] = TimestampTzGetDatum(run->as_of);
	portal = SPI_cursor_open_with_args(NULL,
									   "SELECT patient_id, status, failed, unknown"
									   " FROM trialmatch.match_patients($1, $2)",
									   2, argtypes, args, NULL, true, 0);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		if (store == NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
			Oid			enumtype = SPI_gettypeid(SPI_tuptable->tupdesc, 2);

			desc = CreateTupleDescCopy(SPI_tuptable->tupdesc);
			store = tuplestore_begin_heap(false, false, work_mem);
			MemoryContextSwitchTo(old);
			eligible_oid = GetSysCacheOid2(ENUMTYPOIDNAME, Anum_pg_enum_oid,
										   ObjectIdGetDatum(enumtype),
										   CStringGetDatum("eligible"));
			indeterminate_oid = GetSysCacheOid2(ENUMTYPOIDNAME, Anum_pg_enum_oid,
												ObjectIdGetDatum(enumtype),
												CStringGetDatum("indeterminate"));
		}
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			bool		isnull;
			Oid			st = DatumGetObjectId(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));

			if (st == eligible_oid)
				neligible++;
			else if (st == indeterminate_oid)
				nindeterminate++;
			tuplestore_puttuple(store, tup);
		}
		n += SPI_processed;
		SPI_freetuptable(SPI_tuptable);
		tm_progress_report("collecting", n, -1);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);

	tm_progress_report("saving", n, n);
	tm_become_superuser(&save);
	if (store != NULL)
	{
		Oid			types[1] = {INT8OID};
		Datum		values[1] = {Int64GetDatum(run->run_id)};

		enr = palloc0(sizeof(EphemeralNamedRelationData));
		enr->md.name = "trialmatch_run_results";
		enr->md.reliddesc = InvalidOid;
		enr->md.tupdesc = desc;
		enr->md.enrtype = ENR_NAMED_TUPLESTORE;
		enr->md.enrtuples = (double) n;
		enr->reldata = store;
		if (SPI_register_relation(enr) != SPI_OK_REL_REGISTER)
			elog(ERROR, "trialmatch: could not register the run's results");
		spi_exec("INSERT INTO trialmatch.results (run_id, patient_id, status, failed, unknown)"
				 " SELECT $1, patient_id, status, failed, unknown FROM trialmatch_run_results",
				 1, types, values, NULL, SPI_OK_INSERT);

		/*
		 * Close the tuplestore before commit: once it spilled to disk
		 * (more than work_mem of results), its temporary file would
		 * otherwise still be open at commit, which logs "temporary file
		 * leak".
		 */
		if (SPI_unregister_relation(enr->md.name) != SPI_OK_REL_UNREGISTER)
			elog(ERROR, "trialmatch: could not unregister the run's results");
		tuplestore_end(store);
		store = NULL;
	}
	{
		Oid			types[4] = {INT8OID, INT8OID, INT8OID, INT8OID};
		Datum		values[4] = {Int64GetDatum(run->run_id), Int64GetDatum(n),
		Int64GetDatum(neligible), Int64GetDatum(nindeterminate)};

		spi_exec("UPDATE trialmatch.runs SET state = 'done', error = NULL,"
				 " finished_at = pg_catalog.clock_timestamp(),"
				 " patients = $2, eligible = $3, indeterminate = $4"
				 " WHERE run_id = $1 AND state = 'running'",
				 4, types, values, NULL, SPI_OK_UPDATE);
	}
	notify_run(run->run_id);
	tm_restore_user(&save);

	/* last chance for a cancel; after this the run commits */
	CHECK_FOR_INTERRUPTS();
	HOLD_CANCEL_INTERRUPTS();
	disable_timeout(USER_TIMEOUT, false);
	xact_end();
	RESUME_CANCEL_INTERRUPTS();
	tm_broadcast_run_ended();
}

/* ----------------------------------------------------------------
 * A screen_all() group: one pass of match_all for all its runs
 * ----------------------------------------------------------------
 */

/* What one match_all read of a group gave: its rows, and which runs they are. */
typedef struct GroupRead
{
	List	   *runs;			/* RunInfo * */
	Tuplestorestate *store;		/* (trial_id, patient_id, status, failed, unknown), or NULL: no rows */
	TupleDesc	desc;
} GroupRead;

static Datum
text_array(List *runs)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(list_length(runs), 1));
	int			n = 0;
	ListCell   *lc;

	foreach(lc, runs)
		d[n++] = CStringGetTextDatum(((RunInfo *) lfirst(lc))->trial_id);
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

static Datum
run_id_array(List *runs)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(list_length(runs), 1));
	int			n = 0;
	ListCell   *lc;

	foreach(lc, runs)
		d[n++] = Int64GetDatum(((RunInfo *) lfirst(lc))->run_id);
	return PointerGetDatum(construct_array(d, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* Read match_all(as_of, the runs' trials) as the requesting role into rd->store. */
static void
read_group(GroupRead *rd, TimestampTz as_of)
{
	Oid			argtypes[2] = {TIMESTAMPTZOID, TEXTARRAYOID};
	Datum		args[2];
	Portal		portal;
	int64		n = 0;

	args[0] = TimestampTzGetDatum(as_of);
	args[1] = text_array(rd->runs);
	portal = SPI_cursor_open_with_args(NULL,
									   "SELECT trial_id, patient_id, status, failed, unknown"
									   " FROM trialmatch.match_all($1, $2)",
									   2, argtypes, args, NULL, true, 0);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		if (rd->store == NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

			rd->desc = CreateTupleDescCopy(SPI_tuptable->tupdesc);
			rd->store = tuplestore_begin_heap(false, false, work_mem);
			MemoryContextSwitchTo(old);
		}
		for (uint64 i = 0; i < SPI_processed; i++)
			tuplestore_puttuple(rd->store, SPI_tuptable->vals[i]);
		n += SPI_processed;
		SPI_freetuptable(SPI_tuptable);
		tm_progress_report("collecting", n, -1);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
}

/*
 * read_group in a subtransaction; returns NULL on success, else the error
 * message (the subtransaction is rolled back).  A cancel or timeout is
 * not caught: it stops the whole group.
 */
static char *
try_read_group(GroupRead *rd, TimestampTz as_of)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	char	   *error = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		read_group(rd, as_of);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			PG_RE_THROW();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		/* the store's files went with the subtransaction: drop it unread */
		rd->store = NULL;
		error = edata->message;
	}
	PG_END_TRY();
	return error;
}

/*
 * Store what a read gave (as the owner of the tables): each of its runs
 * still running becomes done with its counts and results; a run cancelled
 * meanwhile (cancel() drops it from the group) gets nothing.
 */
static void
save_group_read(GroupRead *rd)
{
	Oid			types[2] = {INT8ARRAYOID, TEXTARRAYOID};
	Datum		values[2] = {run_id_array(rd->runs), text_array(rd->runs)};
	List	   *done = NIL;
	EphemeralNamedRelation enr = NULL;

	if (rd->store != NULL)
	{
		enr = palloc0(sizeof(EphemeralNamedRelationData));
		enr->md.name = "trialmatch_run_results";
		enr->md.reliddesc = InvalidOid;
		enr->md.tupdesc = rd->desc;
		enr->md.enrtype = ENR_NAMED_TUPLESTORE;
		enr->md.enrtuples = (double) tuplestore_tuple_count(rd->store);
		enr->reldata = rd->store;
		if (SPI_register_relation(enr) != SPI_OK_REL_REGISTER)
			elog(ERROR, "trialmatch: could not register the run's results");
		spi_exec("UPDATE trialmatch.runs r SET state = 'done', error = NULL,"
				 " finished_at = pg_catalog.clock_timestamp(),"
				 " patients = coalesce(c.n, 0), eligible = coalesce(c.e, 0),"
				 " indeterminate = coalesce(c.i, 0)"
				 " FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) u(run_id, trial_id)"
				 " LEFT JOIN (SELECT trial_id, pg_catalog.count(*) AS n,"
				 "     pg_catalog.count(*) FILTER (WHERE status = 'eligible') AS e,"
				 "     pg_catalog.count(*) FILTER (WHERE status = 'indeterminate') AS i"
				 "   FROM trialmatch_run_results GROUP BY trial_id) c ON c.trial_id = u.trial_id"
				 " WHERE r.run_id = u.run_id AND r.state = 'running'"
				 " RETURNING r.run_id, r.trial_id",
				 2, types, values, NULL, SPI_OK_UPDATE_RETURNING);
	}
	else
		spi_exec("UPDATE trialmatch.runs r SET state = 'done', error = NULL,"
				 " finished_at = pg_catalog.clock_timestamp(),"
				 " patients = 0, eligible = 0, indeterminate = 0"
				 " FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) u(run_id, trial_id)"
				 " WHERE r.run_id = u.run_id AND r.state = 'running'"
				 " RETURNING r.run_id, r.trial_id",
				 2, types, values, NULL, SPI_OK_UPDATE_RETURNING);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		RunInfo    *r = palloc0(sizeof(RunInfo));
		bool		isnull;

		r->run_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		r->trial_id = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		done = lappend(done, r);
	}
	if (enr != NULL)
	{
		if (done != NIL)
		{
			values[0] = run_id_array(done);
			values[1] = text_array(done);
			spi_exec("INSERT INTO trialmatch.results (run_id, patient_id, status, failed, unknown)"
					 " SELECT u.run_id, e.patient_id, e.status, e.failed, e.unknown"
					 " FROM trialmatch_run_results e"
					 " JOIN ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) u(run_id, trial_id) ON u.trial_id = e.trial_id",
					 2, types, values, NULL, SPI_OK_INSERT);
		}
		/* closed before commit (see execute_run) */
		if (SPI_unregister_relation(enr->md.name) != SPI_OK_REL_UNREGISTER)
			elog(ERROR, "trialmatch: could not unregister the run's results");
		tuplestore_end(rd->store);
		rd->store = NULL;
	}
	{
		ListCell   *lc;

		foreach(lc, done)
			notify_run(((RunInfo *) lfirst(lc))->run_id);
	}
}

/*
 * Transaction 2 of a screen_all() group: one match_all over all its trials
 * as the requesting role.  If that fails, each trial is read alone, so
 * that a trial that fails (a source the role may not read, a dropped
 * column) fails its own run only.  Then every run's results, counts and
 * state are stored, and commit together.
 */
static void
execute_group(RunInfo *run)
{
	GroupRead	all;
	List	   *reads = NIL;
	List	   *failed = NIL;	/* RunInfo * of the runs that failed */
	List	   *errors = NIL;	/* and their messages */
	TmPrivSave	save;
	ListCell   *lc,
			   *lc2;
	char	   *error;

	begin_screening("trialmatch worker: screening a group", run->time_zone);

	memset(&all, 0, sizeof(all));
	all.runs = run->group;
	error = try_read_group(&all, run->as_of);
	if (error == NULL)
		reads = lappend(reads, &all);
	else
	{
		ereport(LOG,
				(errmsg("trialmatch: group of run " INT64_FORMAT " failed as a whole (%s); its trials are screened one by one",
						run->run_id, error)));
		foreach(lc, run->group)
		{
			GroupRead  *one = palloc0(sizeof(GroupRead));

			one->runs = list_make1(lfirst(lc));
			error = try_read_group(one, run->as_of);
			if (error == NULL)
				reads = lappend(reads, one);
			else
			{
				failed = lappend(failed, lfirst(lc));
				errors = lappend(errors, error);
			}
		}
	}

	tm_progress_report("saving", 0, -1);
	tm_become_superuser(&save);
	foreach(lc, reads)
		save_group_read(lfirst(lc));
	forboth(lc, failed, lc2, errors)
	{
		Oid			types[2] = {INT8OID, TEXTOID};
		Datum		values[2] = {Int64GetDatum(((RunInfo *) lfirst(lc))->run_id),
		CStringGetTextDatum((char *) lfirst(lc2))};

		spi_exec("UPDATE trialmatch.runs SET state = 'failed', error = $2,"
				 " finished_at = pg_catalog.clock_timestamp()"
				 " WHERE run_id = $1 AND state = 'running'",
				 2, types, values, NULL, SPI_OK_UPDATE);
		if (SPI_processed > 0)
			notify_run(((RunInfo *) lfirst(lc))->run_id);
	}
	tm_restore_user(&save);
	/* last chance for a cancel; after this the runs commit */
	CHECK_FOR_INTERRUPTS();
	HOLD_CANCEL_INTERRUPTS();
	disable_timeout(USER_TIMEOUT, false);
	xact_end();
	RESUME_CANCEL_INTERRUPTS();
	tm_broadcast_run_ended();
}

void
tm_pool_worker_main(Datum main_arg)
{
	int			idx = DatumGetInt32(main_arg);
	RunInfo		run;
	Oid			dboid,
				roleid;
	MemoryContext cxt;

	memset(&run, 0, sizeof(run));
	pqsignal(SIGTERM, die);
	pqsignal(SIGINT, StatementCancelHandler);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	my_slot = &tm_pool->slots[idx];
	before_shmem_exit(worker_exit, Int32GetDatum(idx));

	LWLockAcquire(tm_pool->lock, LW_EXCLUSIVE);
	my_slot->pid = MyProcPid;
	run.run_id = my_slot->run_id;
	dboid = my_slot->dboid;
	roleid = my_slot->roleid;
	LWLockRelease(tm_pool->lock);

	BackgroundWorkerInitializeConnectionByOid(dboid, roleid, 0);

	LWLockAcquire(tm_pool->lock, LW_EXCLUSIVE);
	my_slot->connected = true;
	LWLockRelease(tm_pool->lock);

	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	pgstat_report_appname("trialmatch worker");
	tm_my_progress = my_slot;
	RegisterTimeout(USER_TIMEOUT, run_timeout_handler);
	cxt = AllocSetContextCreate(TopMemoryContext, "trialmatch run", ALLOCSET_DEFAULT_SIZES);

	if (!claim_run(&run, cxt))
		proc_exit(0);			/* cancelled before it started */

	ereport(DEBUG1,
			(errmsg("trialmatch: run " INT64_FORMAT " of trial \"%s\" started (attempt %d)%s",
					run.run_id, run.trial_id, run.attempt,
					run.group ? psprintf(", with the %d runs of its screen_all() group",
										 list_length(run.group)) : "")));

	if (cancel_requested())
	{
		finish_runs(&run, "cancelled", NULL);
		proc_exit(0);
	}

	PG_TRY();
	{
		if (tm_run_timeout > 0)
			enable_timeout_after(USER_TIMEOUT, tm_run_timeout);
		if (run.group != NIL)
			execute_group(&run);
		else
			execute_run(&run);
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		char	   *error;
		const char *state = "failed";

		HOLD_INTERRUPTS();
		disable_timeout(USER_TIMEOUT, false);
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED &&
			(cancel_requested() ||
			 (!run_timed_out && edata->message_id != NULL &&
			  strcmp(edata->message_id, "canceling statement due to user request") == 0)))
		{
			/*
			 * cancel(), or a query cancel request (pg_cancel_backend): both
			 * ask the run to stop, so the run is cancelled and not retried.
			 * A statement_timeout is not a request: the run fails.
			 */
			state = "cancelled";
			error = NULL;
			if (!cancel_requested())
				ereport(LOG,
						(errmsg("trialmatch: run " INT64_FORMAT " received a query cancel request (pg_cancel_backend)",
								run.run_id)));
		}
		else
		{
			if (run_timed_out && edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
				error = psprintf("run exceeded trialmatch.run_timeout (%s)",
								 GetConfigOptionByName("trialmatch.run_timeout", NULL, false));
			else
				error = pstrdup(edata->message);
			EmitErrorReport();
		}
		FlushErrorState();
		AbortCurrentTransaction();
		QueryCancelPending = false;
		RESUME_INTERRUPTS();

		finish_runs(&run, state, error);
		ereport(LOG,
				(errmsg("trialmatch: run " INT64_FORMAT " %s%s%s", run.run_id, state,
						error ? ": " : "", error ? error : "")));
	}
	PG_END_TRY();

	proc_exit(0);
}
