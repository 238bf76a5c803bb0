/*-------------------------------------------------------------------------
 *
 * runs.c
 *	  SQL entry points of screening runs: screen, screen_all, cancel and wait.
 *
 * trialmatch.runs and trialmatch.results are readable through row-level
 * security (a role sees the runs of the roles whose privileges it has) and
 * writable by their owner only.  These functions read them as the caller,
 * so that a run the caller cannot see "does not exist", and write them as
 * the bootstrap superuser after checking what the caller may do, with a
 * safe search_path (like a SECURITY DEFINER function with SET search_path,
 * but only around the writes).
 *
 * Every statement runs with search_path = pg_catalog, pg_temp and names
 * its operators and functions with their schema, so that no object of the
 * caller's (or of anybody's) search_path is ever executed by them.
 *
 * screen() wakes the launcher when its transaction commits: before that,
 * the launcher could not see the run.  A transaction that queued a run
 * cannot be prepared (PREPARE TRANSACTION): the wake-up would be lost.
 *
 * Proof of queuing.  The trigger runs_guard (tm_runs_guard) sets the
 * column queued_by_screen of a new run to true only while screen() inserts
 * it, and keeps it false for a row inserted any other way (a crafted row,
 * a restored dump); an update keeps it, and clears it if requested_by
 * changes.  The launcher fails, and never executes, a queued run whose
 * queued_by_screen is false: a run executes as the role that called
 * screen() (requested_by is always current_user there), never as a role
 * named in a row somebody wrote.
 *
 * IDENTIFICATION
 *	  src/runs.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "pgtime.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "pool.h"

PG_FUNCTION_INFO_V1(tm_screen);
PG_FUNCTION_INFO_V1(tm_screen_all);
PG_FUNCTION_INFO_V1(tm_cancel);
PG_FUNCTION_INFO_V1(tm_wait);
PG_FUNCTION_INFO_V1(tm_runs_guard);

/* What to do when the current transaction commits. */
static bool xact_callback_registered = false;
static bool wake_at_commit = false;
static bool broadcast_at_commit = false;
static List *queued_in_xact = NIL;	/* run ids (int64 *), TopMemoryContext */

/* True only while screen() inserts its run (read by tm_runs_guard). */
static bool screen_inserting = false;

static void
runs_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			/* as NOTIFY: the launcher could not be woken at COMMIT PREPARED */
			if (queued_in_xact != NIL)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that has queued a screening run"),
						 errdetail("trialmatch.screen() wakes the worker pool when its transaction commits, which a prepared transaction does not do."),
						 errhint("Call screen() in a transaction that is committed directly.")));
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wake_at_commit)
				tm_wake_launcher();
			if (broadcast_at_commit)
				tm_broadcast_run_ended();
			/* FALLTHROUGH */
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			screen_inserting = false;
			wake_at_commit = false;
			broadcast_at_commit = false;
			list_free_deep(queued_in_xact);
			queued_in_xact = NIL;
			break;
		default:
			break;
	}
}

static void
register_callback(void)
{
	if (!xact_callback_registered)
	{
		RegisterXactCallback(runs_xact_callback, NULL);
		xact_callback_registered = true;
	}
}

/*
 * search_path = pg_catalog, pg_temp until tm_unpin_search_path(), for a
 * statement run as the caller (as ExecRefreshMatView does).  An error in
 * between is cleaned up by transaction abort.
 */
int
tm_pin_search_path(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

void
tm_unpin_search_path(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
}

/*
 * Switch to the bootstrap superuser, as a security-restricted operation
 * with search_path = pg_catalog, pg_temp, for bookkeeping statements;
 * tm_restore_user switches back.  An error in between is cleaned up by
 * transaction abort.
 */
void
tm_become_superuser(TmPrivSave *save)
{
	GetUserIdAndSecContext(&save->userid, &save->sec_context);
	save->nestlevel = tm_pin_search_path();
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   save->sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

void
tm_restore_user(TmPrivSave *save)
{
	SetUserIdAndSecContext(save->userid, save->sec_context);
	AtEOXact_GUC(true, save->nestlevel);
}

static void
spi_connect(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

/* The run's state and requester as the caller sees them; false if unseen. */
static bool
read_run(int64 run_id, char **state, Oid *requested_by)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(run_id)};
	bool		isnull;
	int			nestlevel = tm_pin_search_path();

	if (SPI_execute_with_args("SELECT state, requested_by::pg_catalog.oid FROM trialmatch.runs"
							  " WHERE run_id OPERATOR(pg_catalog.=) $1",
							  1, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "trialmatch: could not read run " INT64_FORMAT, run_id);
	tm_unpin_search_path(nestlevel);
	if (SPI_processed == 0)
		return false;
	*state = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (requested_by)
		*requested_by = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
													   SPI_tuptable->tupdesc, 2, &isnull));
	return true;
}

/* Was the run queued by screen_all() (a group)?  As the caller sees it. */
static bool
in_group(int64 run_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(run_id)};
	Oid			nsp = get_namespace_oid("trialmatch", true);
	int			nestlevel;

	/* a 1.0 schema (not updated yet) has no groups */
	if (!OidIsValid(nsp) ||
		get_attnum(get_relname_relid("runs", nsp), "group_id") == InvalidAttrNumber)
		return false;
	nestlevel = tm_pin_search_path();
	if (SPI_execute_with_args("SELECT 1 FROM trialmatch.runs WHERE run_id OPERATOR(pg_catalog.=) $1"
							  " AND group_id IS NOT NULL",
							  1, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "trialmatch: could not read run " INT64_FORMAT, run_id);
	tm_unpin_search_path(nestlevel);
	return SPI_processed > 0;
}

static void
run_not_found(int64 run_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("screening run " INT64_FORMAT " does not exist", run_id),
			 errhint("trialmatch.runs lists the runs you may see.")));
}

static bool
state_is_final(const char *state)
{
	return strcmp(state, "done") == 0 || strcmp(state, "failed") == 0 ||
		strcmp(state, "cancelled") == 0;
}

/*
 * What screen() and screen_all() check before queuing, in this order: the
 * pool runs and serves this database (check_pool), the arguments, as_of is
 * given and finite and the role can log in, as a pool worker connects as
 * it (check_as_of_and_role).
 */
static void
check_pool(void)
{
	char	   *dbname;

	if (!tm_pool_preloaded || tm_pool == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the trialmatch worker pool is not running"),
				 errdetail("Screening runs are executed by background workers, which start only when trialmatch is loaded at server start."),
				 errhint("Add trialmatch to shared_preload_libraries in postgresql.conf and restart the server.")));
	dbname = get_database_name(MyDatabaseId);
	if ((dbname == NULL || strcmp(dbname, tm_database) != 0) &&
		!tm_pool_may_read_database_setting())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the trialmatch worker pool does not serve database \"%s\"",
						dbname ? dbname : "?"),
				 errhint("Call screen() in the database named by trialmatch.database (ask a superuser which one).")));
	if (dbname == NULL || strcmp(dbname, tm_database) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the trialmatch worker pool serves database \"%s\", not \"%s\"",
						tm_database, dbname ? dbname : "?"),
				 errhint("Call screen() in database \"%s\", or set trialmatch.database and restart the server.",
						 tm_database)));
}

static void
check_as_of_and_role(Oid roleid, bool as_of_null, TimestampTz as_of)
{
	HeapTuple	roletup;
	bool		canlogin;

	if (as_of_null)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("as_of must not be null")));
	if (TIMESTAMP_NOT_FINITE(as_of))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("as_of must be a finite timestamp")));

	/* A PostgreSQL 15 background worker can only connect as a LOGIN role. */
	roletup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(roleid));
	if (!HeapTupleIsValid(roletup))
		elog(ERROR, "cache lookup failed for role %u", roleid);
	canlogin = ((Form_pg_authid) GETSTRUCT(roletup))->rolcanlogin;
	ReleaseSysCache(roletup);
	if (!canlogin)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" cannot queue screening runs because it cannot log in",
						GetUserNameFromId(roleid, false)),
				 errdetail("A run executes in a background worker connected as the role that queued it, and only a role with LOGIN can connect."),
				 errhint("Queue the run as a login role (for example after RESET ROLE).")));
}

/* Does the trial exist, as the caller sees the catalog?  (In SPI.) */
static bool
trial_exists(const char *trial_id)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(trial_id)};
	int			nestlevel = tm_pin_search_path();

	if (SPI_execute_with_args("SELECT 1 FROM trialmatch.trials WHERE trial_id OPERATOR(pg_catalog.=) $1",
							  1, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "trialmatch: could not read trialmatch.trials");
	tm_unpin_search_path(nestlevel);
	return SPI_processed > 0;
}

/*
 * Insert one queued run as the owner of the runs table, with the proof of
 * queuing (runs_guard); group_id 0: a run of its own.  (In SPI, as the
 * caller.)  The launcher is woken when the transaction commits.
 */
static int64
queue_run(const char *trial_id, TimestampTz as_of, Oid roleid, int64 group_id)
{
	Oid			types[5] = {TEXTOID, TIMESTAMPTZOID, OIDOID, TEXTOID, INT8OID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', group_id ? ' ' : 'n'};
	TmPrivSave	save;
	bool		isnull;
	int64		run_id;
	MemoryContext old;
	int64	   *idp;

	values[0] = CStringGetTextDatum(trial_id);
	values[1] = TimestampTzGetDatum(as_of);
	values[2] = ObjectIdGetDatum(roleid);
	values[3] = CStringGetTextDatum(pg_get_timezone_name(session_timezone));
	values[4] = Int64GetDatum(group_id);
	tm_become_superuser(&save);
	screen_inserting = true;
	PG_TRY();
	{
		/* screen() names no group_id: it works on a 1.0 schema too */
		if (SPI_execute_with_args(group_id ?
								  "INSERT INTO trialmatch.runs (trial_id, as_of, requested_by, time_zone, group_id)"
								  " VALUES ($1, $2, $3::pg_catalog.regrole, $4, $5) RETURNING run_id" :
								  "INSERT INTO trialmatch.runs (trial_id, as_of, requested_by, time_zone)"
								  " VALUES ($1, $2, $3::pg_catalog.regrole, $4) RETURNING run_id",
								  group_id ? 5 : 4, types, values, nulls, false, 0) != SPI_OK_INSERT_RETURNING ||
			SPI_processed != 1)
			elog(ERROR, "trialmatch: could not queue the run");
	}
	PG_FINALLY();
	{
		/* also after an error caught by a savepoint */
		screen_inserting = false;
	}
	PG_END_TRY();
	run_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
										 &isnull));
	tm_restore_user(&save);

	register_callback();
	wake_at_commit = true;
	old = MemoryContextSwitchTo(TopMemoryContext);
	idp = palloc(sizeof(int64));
	*idp = run_id;
	queued_in_xact = lappend(queued_in_xact, idp);
	MemoryContextSwitchTo(old);
	return run_id;
}

/*
 * screen(trial_id text, as_of timestamptz DEFAULT now()) returns bigint
 */
Datum
tm_screen(PG_FUNCTION_ARGS)
{
	char	   *trial_id;
	Oid			roleid = GetUserId();
	int64		run_id;

	tm_refuse_on_standby("screen()");
	check_pool();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("trial_id must not be null")));
	check_as_of_and_role(roleid, PG_ARGISNULL(1), PG_ARGISNULL(1) ? 0 : PG_GETARG_TIMESTAMPTZ(1));
	trial_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	spi_connect();
	if (!trial_exists(trial_id))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("trial \"%s\" does not exist", trial_id)));
	run_id = queue_run(trial_id, PG_GETARG_TIMESTAMPTZ(1), roleid, 0);
	SPI_finish();
	PG_RETURN_INT64(run_id);
}

static int
cstring_cmp(const ListCell *a, const ListCell *b)
{
	return strcmp(lfirst(a), lfirst(b));
}

/*
 * screen_all(as_of timestamptz DEFAULT now(), trial_ids text[] DEFAULT NULL)
 * returns setof bigint: one run per recruiting trial (trial_ids NULL) or per
 * listed trial (each once, in trial_id order; an unknown id is an error, as
 * in match_all), queued together: they share a group_id, a number drawn
 * from the runs' sequence, and one pool worker executes them in one pass
 * (worker.c).  Returns the run ids.  No trial: no run.
 */
Datum
tm_screen_all(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			roleid = GetUserId();
	TimestampTz as_of;
	List	   *ids = NIL;
	ListCell   *lc;
	int64		group_id = 0;
	TmPrivSave	save;
	bool		isnull;
	MemoryContext cxt = CurrentMemoryContext;

	tm_refuse_on_standby("screen_all()");
	check_pool();
	check_as_of_and_role(roleid, PG_ARGISNULL(0), PG_ARGISNULL(0) ? 0 : PG_GETARG_TIMESTAMPTZ(0));
	as_of = PG_GETARG_TIMESTAMPTZ(0);
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	spi_connect();
	if (PG_ARGISNULL(1))
	{
		int			nestlevel = tm_pin_search_path();

		if (SPI_execute("SELECT trial_id FROM trialmatch.trials"
						" WHERE status OPERATOR(pg_catalog.=) 'recruiting' ORDER BY trial_id COLLATE \"C\"",
						true, 0) != SPI_OK_SELECT)
			elog(ERROR, "trialmatch: could not read trialmatch.trials");
		tm_unpin_search_path(nestlevel);
		for (uint64 i = 0; i < SPI_processed; i++)
			ids = lappend(ids, MemoryContextStrdup(cxt, SPI_getvalue(SPI_tuptable->vals[i],
																	 SPI_tuptable->tupdesc, 1)));
	}
	else
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &nulls, &n);
		for (int i = 0; i < n; i++)
		{
			char	   *id;
			bool		dup = false;

			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("trial_ids must not contain NULL")));
			id = TextDatumGetCString(elems[i]);
			foreach(lc, ids)
				dup |= strcmp(lfirst(lc), id) == 0;
			if (dup)
				continue;
			if (!trial_exists(id))
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("trial \"%s\" does not exist", id)));
			ids = lappend(ids, id);
		}
		list_sort(ids, cstring_cmp);
	}
	if (ids != NIL)
	{
		tm_become_superuser(&save);
		if (SPI_execute("SELECT pg_catalog.nextval('trialmatch.runs_run_id_seq'::pg_catalog.regclass)",
						false, 0) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "trialmatch: could not draw a group id");
		group_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
											   &isnull));
		tm_restore_user(&save);
	}
	foreach(lc, ids)
	{
		Datum		value = Int64GetDatum(queue_run(lfirst(lc), as_of, roleid, group_id));
		bool		null = false;

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &null);
	}
	SPI_finish();
	return (Datum) 0;
}

/*
 * Mark a run cancelled if it is still in the given state, with its NOTIFY,
 * as the owner of the runs table; true if it was.
 */
static bool
cancel_in_state(int64 run_id, const char *from_state)
{
	TmPrivSave	save;
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(run_id), CStringGetTextDatum(from_state)};
	bool		done;

	tm_become_superuser(&save);
	if (SPI_execute_with_args("UPDATE trialmatch.runs SET state = 'cancelled',"
							  " finished_at = pg_catalog.now()"
							  " WHERE run_id OPERATOR(pg_catalog.=) $1"
							  " AND state OPERATOR(pg_catalog.=) $2",
							  2, types, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "trialmatch: could not cancel run " INT64_FORMAT, run_id);
	done = SPI_processed == 1;
	if (done)
		SPI_execute_with_args("SELECT pg_catalog.pg_notify('" TM_RUNS_CHANNEL "', $1::pg_catalog.text)",
							  1, types, values, NULL, false, 0);
	tm_restore_user(&save);
	if (done)
	{
		register_callback();
		broadcast_at_commit = true;
	}
	return done;
}

/*
 * cancel(run_id bigint) returns boolean: true if the run was queued (it is
 * now cancelled) or running (its worker is told to stop; it becomes
 * cancelled within moments), false if it had already ended.
 */
Datum
tm_cancel(PG_FUNCTION_ARGS)
{
	int64		run_id = PG_GETARG_INT64(0);
	char	   *state;
	Oid			requested_by;
	bool		result = false;

	tm_refuse_on_standby("cancel()");

	spi_connect();
	if (!read_run(run_id, &state, &requested_by))
		run_not_found(run_id);
	if (!has_privs_of_role(GetUserId(), requested_by))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to cancel screening run " INT64_FORMAT, run_id),
				 errdetail("Only the role that queued a run, and roles with its privileges, may cancel it.")));

	for (int attempt = 0; attempt < 5; attempt++)
	{
		pid_t		pid = 0;	/* set if signalling it failed */
		int			kill_errno = 0;
		bool		owned = false;

		/* a queued run: cancel it here */
		if (cancel_in_state(run_id, "queued"))
		{
			result = true;
			break;
		}

		/* not queued (any more): look again with a fresh snapshot */
		if (!read_run(run_id, &state, NULL))
			run_not_found(run_id);
		if (strcmp(state, "running") != 0)
			break;				/* it has ended */

		/*
		 * A running run of a screen_all() group is dropped from the group:
		 * cancelled here at once, while the group's worker goes on with the
		 * others and stores nothing for it.
		 */
		if (in_group(run_id))
		{
			if (cancel_in_state(run_id, "running"))
			{
				result = true;
				break;
			}
			continue;			/* it ended meanwhile: look again */
		}

		/* running: tell its worker to stop */
		if (tm_pool != NULL)
		{
			LWLockAcquire(tm_pool->lock, LW_EXCLUSIVE);
			for (int i = 0; i < tm_pool->nslots; i++)
			{
				TmSlot	   *slot = &tm_pool->slots[i];

				if (slot->in_use && !slot->exited && slot->run_id == run_id &&
					slot->dboid == MyDatabaseId)
				{
					slot->cancel_requested = true;
					owned = true;

					/*
					 * Signal under the lock: the worker clears its pid
					 * under this lock before it exits, so a pid seen here
					 * is still the worker of this run, never a reused one.
					 */
					if (slot->pid != 0 && kill(slot->pid, SIGINT) != 0)
					{
						pid = slot->pid;
						kill_errno = errno;
					}
				}
			}
			LWLockRelease(tm_pool->lock);
		}
		if (owned)
		{
			if (pid != 0)
			{
				errno = kill_errno;
				ereport(WARNING,
						(errmsg("could not send a cancel request to process %d: %m", (int) pid)));
			}
			result = true;
			break;
		}

		/* running, but its worker is gone: the launcher would requeue it */
		if (cancel_in_state(run_id, "running"))
		{
			result = true;
			break;
		}
	}
	SPI_finish();
	PG_RETURN_BOOL(result);
}

/*
 * wait(run_id bigint, timeout interval DEFAULT '5 min') returns text: the
 * run's state when it ends or the timeout passes.
 */
Datum
tm_wait(PG_FUNCTION_ARGS)
{
	int64		run_id = PG_GETARG_INT64(0);
	Interval   *timeout = PG_GETARG_INTERVAL_P(1);
	TimestampTz deadline;
	char	   *state = NULL;
	text	   *result;
	ListCell   *lc;
	bool		woke = false;

	MemoryContext callcxt = CurrentMemoryContext;

	deadline = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
													   TimestampTzGetDatum(GetCurrentTimestamp()),
													   IntervalPGetDatum(timeout)));

	spi_connect();
	if (tm_pool != NULL)
		ConditionVariablePrepareToSleep(&tm_pool->run_ended);
	for (;;)
	{
		TimestampTz now;
		long		ms;

		CHECK_FOR_INTERRUPTS();
		if (SPI_tuptable != NULL)
			SPI_freetuptable(SPI_tuptable);
		if (!read_run(run_id, &state, NULL))
			run_not_found(run_id);
		if (state_is_final(state))
			break;

		foreach(lc, queued_in_xact)
		{
			if (*(int64 *) lfirst(lc) == run_id)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("screening run " INT64_FORMAT " was queued in this transaction", run_id),
						 errdetail("The run cannot start before the transaction that queued it commits."),
						 errhint("Commit, then call wait().")));
		}
		if (IsolationUsesXactSnapshot())
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("wait() cannot see a run end in a %s transaction",
							IsolationIsSerializable() ? "SERIALIZABLE" : "REPEATABLE READ"),
					 errhint("Call wait() in a READ COMMITTED transaction.")));

		/*
		 * A queued run may wait on a launcher that sleeps: after ALTER
		 * EXTENSION trialmatch UPDATE, say, nothing else tells it the
		 * catalog is usable again.  Wake it once per call, and at most once
		 * a second from this backend (a pass costs one query; wait() in a
		 * loop must not keep the launcher busy).
		 */
		if (!woke && strcmp(state, "queued") == 0)
		{
			static TimestampTz last_wake = 0;
			TimestampTz t = GetCurrentTimestamp();

			if (TimestampDifferenceExceeds(last_wake, t, 1000))
			{
				tm_wake_launcher();
				last_wake = t;
			}
			woke = true;
		}

		now = GetCurrentTimestamp();
		if (now >= deadline)
			break;
		ms = (long) Min((deadline - now) / 1000 + 1, 1000);
		if (tm_pool != NULL)
			(void) ConditionVariableTimedSleep(&tm_pool->run_ended, ms, PG_WAIT_EXTENSION);
		else
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 Min(ms, 200), PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
	}
	if (tm_pool != NULL)
		ConditionVariableCancelSleep();
	{
		MemoryContext old = MemoryContextSwitchTo(callcxt);

		result = cstring_to_text(state);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	PG_RETURN_TEXT_P(result);
}

/*
 * BEFORE INSERT OR UPDATE FOR EACH ROW on trialmatch.runs: queued_by_screen
 * is true only for a run that screen() inserted, and stays so only while
 * requested_by does not change (see the file header).
 */
Datum
tm_runs_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	desc;
	HeapTuple	tup;
	int			attnum;
	int			reqnum;
	bool		proof;
	bool		isnull;
	Datum		value;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		elog(ERROR, "tm_runs_guard: not called as a BEFORE ROW trigger");
	rel = trigdata->tg_relation;
	desc = RelationGetDescr(rel);
	attnum = SPI_fnumber(desc, "queued_by_screen");
	reqnum = SPI_fnumber(desc, "requested_by");
	if (attnum <= 0 || reqnum <= 0)
		elog(ERROR, "tm_runs_guard: table \"%s\" has no queued_by_screen or requested_by column",
			 RelationGetRelationName(rel));

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		tup = trigdata->tg_trigtuple;
		proof = screen_inserting;
	}
	else if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		Datum		oldreq,
					newreq;
		bool		oldnull,
					newnull;

		tup = trigdata->tg_newtuple;
		proof = DatumGetBool(heap_getattr(trigdata->tg_trigtuple, attnum, desc, &isnull)) && !isnull;
		oldreq = heap_getattr(trigdata->tg_trigtuple, reqnum, desc, &oldnull);
		newreq = heap_getattr(tup, reqnum, desc, &newnull);
		if (oldnull || newnull || DatumGetObjectId(oldreq) != DatumGetObjectId(newreq))
			proof = false;
	}
	else
		elog(ERROR, "tm_runs_guard: not called for INSERT or UPDATE");

	value = heap_getattr(tup, attnum, desc, &isnull);
	if (!isnull && DatumGetBool(value) == proof)
		return PointerGetDatum(tup);
	value = BoolGetDatum(proof);
	isnull = false;
	return PointerGetDatum(heap_modify_tuple_by_cols(tup, desc, 1, &attnum, &value, &isnull));
}
