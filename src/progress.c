/*-------------------------------------------------------------------------
 *
 * progress.c
 *	  Progress of screening runs, kept in the pool worker's slot in shared
 *	  memory and shown by the view trialmatch.progress.
 *
 * tm_progress_report() is the hook: code that screens a population may call
 * it as often as it likes (it costs a test and a spinlock), with the phase
 * it is in, the patients done and the patients in all.  In a pool worker it
 * writes the worker's slot; the pool worker itself reports its phases
 * ('starting', 'screening', 'collecting', 'saving').  An interactive
 * match_patients or attrition call (tm_progress_begin .. tm_progress_end)
 * writes its backend's own call slot, one per backend id, so claiming one
 * needs no lock; a transaction or subtransaction abort frees it.  Without
 * shared_preload_libraries there is no shared memory: nothing is shown.
 *
 * IDENTIFICATION
 *	  src/progress.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/backendid.h"
#include "storage/lwlock.h"
#include "mb/pg_wchar.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "pool.h"

PG_FUNCTION_INFO_V1(tm_progress);

/* This backend's slot, when it is a pool worker running a run. */
TmSlot	   *tm_my_progress = NULL;

/* Progress of an interactive call, one slot per backend id. */
typedef struct TmCallSlot
{
	slock_t		mutex;
	pid_t		pid;			/* 0: free */
	Oid			roleid;
	char		trial_id[NAMEDATALEN];
	TimestampTz started_at;
	char		phase[TM_PHASE_LEN];
	int64		done;
	int64		total;
	TimestampTz phase_since;
} TmCallSlot;

static TmCallSlot *tm_calls = NULL;	/* MaxBackends slots, when preloaded */
static TmCallSlot *my_call = NULL;
static bool callbacks_registered = false;

Size
tm_calls_shmem_size(void)
{
	return mul_size(MaxBackends, sizeof(TmCallSlot));
}

/* From the shmem startup hook, under AddinShmemInitLock. */
void
tm_calls_shmem_init(void)
{
	bool		found;

	tm_calls = ShmemInitStruct("trialmatch calls", tm_calls_shmem_size(), &found);
	if (!found)
	{
		memset(tm_calls, 0, tm_calls_shmem_size());
		for (int i = 0; i < MaxBackends; i++)
			SpinLockInit(&tm_calls[i].mutex);
	}
}

static void
calls_xact_callback(XactEvent event, void *arg)
{
	tm_progress_end();
}

static void
calls_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		tm_progress_end();
}

/* An interactive population call starts: show it in trialmatch.progress. */
void
tm_progress_begin(const char *trial_id)
{
	TmCallSlot *slot;
	TimestampTz now = GetCurrentTimestamp();
	char		clipped[NAMEDATALEN];
	int			len;

	if (tm_calls == NULL || tm_my_progress != NULL ||
		MyBackendId < 1 || MyBackendId > MaxBackends)
		return;
	if (!callbacks_registered)
	{
		RegisterXactCallback(calls_xact_callback, NULL);
		RegisterSubXactCallback(calls_subxact_callback, NULL);
		callbacks_registered = true;
	}
	/* cut a long trial id at a character boundary, as names are cut */
	len = pg_mbcliplen(trial_id, strlen(trial_id), NAMEDATALEN - 1);
	memcpy(clipped, trial_id, len);
	clipped[len] = '\0';

	slot = &tm_calls[MyBackendId - 1];
	SpinLockAcquire(&slot->mutex);
	slot->pid = MyProcPid;
	slot->roleid = GetUserId();
	memcpy(slot->trial_id, clipped, len + 1);
	strlcpy(slot->phase, "planning", TM_PHASE_LEN);
	slot->done = 0;
	slot->total = -1;
	slot->started_at = now;
	slot->phase_since = now;
	SpinLockRelease(&slot->mutex);
	my_call = slot;
}

/* Say more about the call than its start did (match_all: its passes and memory). */
void
tm_progress_label(const char *label)
{
	int			len;

	if (my_call == NULL)
		return;
	len = pg_mbcliplen(label, strlen(label), NAMEDATALEN - 1);
	SpinLockAcquire(&my_call->mutex);
	memcpy(my_call->trial_id, label, len);
	my_call->trial_id[len] = '\0';
	SpinLockRelease(&my_call->mutex);
}

/* The call ended (or its transaction did). */
void
tm_progress_end(void)
{
	if (my_call == NULL)
		return;
	SpinLockAcquire(&my_call->mutex);
	my_call->pid = 0;
	SpinLockRelease(&my_call->mutex);
	my_call = NULL;
}

/*
 * Report progress.  phase NULL keeps the current phase; total -1 means
 * "not known yet".
 */
void
tm_progress_report(const char *phase, int64 done, int64 total)
{
	TmSlot	   *slot = tm_my_progress;
	TmCallSlot *call = my_call;
	char	   *cur_phase;
	bool		new_phase;
	TimestampTz now = 0;

	if (slot == NULL && call == NULL)
		return;

	/*
	 * Only this backend writes its slot's phase, so it may read it without
	 * the spinlock; the clock is read before taking the spinlock, never
	 * under it.
	 */
	cur_phase = slot ? slot->phase : call->phase;
	new_phase = phase != NULL && strncmp(cur_phase, phase, TM_PHASE_LEN) != 0;
	if (new_phase)
		now = GetCurrentTimestamp();

	if (slot == NULL)
	{
		SpinLockAcquire(&call->mutex);
		if (new_phase)
		{
			strlcpy(call->phase, phase, TM_PHASE_LEN);
			call->phase_since = now;
		}
		call->done = done;
		call->total = total;
		SpinLockRelease(&call->mutex);
		return;
	}
	SpinLockAcquire(&slot->mutex);
	if (new_phase)
	{
		strlcpy(slot->phase, phase, TM_PHASE_LEN);
		slot->phase_since = now;
	}
	slot->done = done;
	slot->total = total;
	SpinLockRelease(&slot->mutex);
}

/*
 * May the current user see the work of role roleid?  The same rule as the
 * row-level security policy on trialmatch.runs: roles with roleid's
 * privileges (superusers included), and members of pg_read_all_data.
 */
static bool
may_see_role(Oid roleid)
{
	Oid			me = GetUserId();

	return has_privs_of_role(me, roleid) ||
		has_privs_of_role(me, ROLE_PG_READ_ALL_DATA);
}

/*
 * trialmatch._progress(): one row per run a pool worker is working on and
 * per interactive call, filtered here (the function is executable by
 * everyone): a row is shown only to roles that may see the work of the
 * role it runs as (may_see_role).  The view trialmatch.progress joins it
 * to trialmatch.runs.
 */
Datum
tm_progress(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TmSlot	   *copies;
	int			ncopies = 0;

	InitMaterializedSRF(fcinfo, 0);
	if (tm_pool == NULL)
		return (Datum) 0;

	/*
	 * Copy the busy slots under the lock, then filter: the privilege check
	 * reads the catalog, which is not done while holding an LWLock.
	 */
	copies = palloc(sizeof(TmSlot) * tm_pool->nslots);
	LWLockAcquire(tm_pool->lock, LW_SHARED);
	for (int i = 0; i < tm_pool->nslots; i++)
	{
		TmSlot	   *slot = &tm_pool->slots[i];
		TmSlot	   *c = &copies[ncopies];

		if (!slot->in_use || slot->exited)
			continue;
		c->run_id = slot->run_id;
		c->pid = slot->pid;
		c->roleid = slot->roleid;
		c->assigned_at = slot->assigned_at;
		SpinLockAcquire(&slot->mutex);
		strlcpy(c->phase, slot->phase, TM_PHASE_LEN);
		c->done = slot->done;
		c->total = slot->total;
		c->phase_since = slot->phase_since;
		SpinLockRelease(&slot->mutex);
		ncopies++;
	}
	LWLockRelease(tm_pool->lock);

	for (int i = 0; i < ncopies; i++)
	{
		TmSlot	   *c = &copies[i];
		Datum		values[9];
		bool		nulls[9] = {false, false, false, false, false, false, true, true, true};

		if (!may_see_role(c->roleid))
			continue;
		values[0] = Int64GetDatum(c->run_id);
		values[1] = Int32GetDatum((int32) c->pid);
		nulls[1] = (c->pid == 0);
		values[2] = CStringGetTextDatum(c->phase[0] ? c->phase : "starting");
		values[3] = Int64GetDatum(c->done);
		values[4] = Int64GetDatum(c->total);
		nulls[4] = (c->total < 0);
		values[5] = TimestampTzGetDatum(c->phase_since ? c->phase_since : c->assigned_at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	/* interactive calls: no run id; trial, role and start of their own */
	for (int i = 0; tm_calls != NULL && i < MaxBackends; i++)
	{
		TmCallSlot *call = &tm_calls[i];
		TmCallSlot	copy;
		Datum		values[9];
		bool		nulls[9] = {true, false, false, false, false, false, false, false, false};

		SpinLockAcquire(&call->mutex);
		copy = *call;
		SpinLockRelease(&call->mutex);
		if (copy.pid == 0 || !may_see_role(copy.roleid))
			continue;
		values[0] = (Datum) 0;
		values[1] = Int32GetDatum((int32) copy.pid);
		values[2] = CStringGetTextDatum(copy.phase);
		values[3] = Int64GetDatum(copy.done);
		values[4] = Int64GetDatum(copy.total);
		nulls[4] = (copy.total < 0);
		values[5] = TimestampTzGetDatum(copy.phase_since);
		values[6] = CStringGetTextDatum(copy.trial_id);
		values[7] = ObjectIdGetDatum(copy.roleid);
		values[8] = TimestampTzGetDatum(copy.started_at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
