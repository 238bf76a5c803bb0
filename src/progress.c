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
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/backendid.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
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

	if (tm_calls == NULL || tm_my_progress != NULL ||
		MyBackendId < 1 || MyBackendId > MaxBackends)
		return;
	if (!callbacks_registered)
	{
		RegisterXactCallback(calls_xact_callback, NULL);
		RegisterSubXactCallback(calls_subxact_callback, NULL);
		callbacks_registered = true;
	}
	slot = &tm_calls[MyBackendId - 1];
	SpinLockAcquire(&slot->mutex);
	slot->pid = MyProcPid;
	slot->roleid = GetUserId();
	strlcpy(slot->trial_id, trial_id, NAMEDATALEN);
	strlcpy(slot->phase, "planning", TM_PHASE_LEN);
	slot->done = 0;
	slot->total = -1;
	slot->started_at = now;
	slot->phase_since = now;
	SpinLockRelease(&slot->mutex);
	my_call = slot;
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

	if (slot == NULL)
	{
		TmCallSlot *call = my_call;

		if (call == NULL)
			return;
		SpinLockAcquire(&call->mutex);
		if (phase != NULL && strncmp(call->phase, phase, TM_PHASE_LEN) != 0)
		{
			strlcpy(call->phase, phase, TM_PHASE_LEN);
			call->phase_since = GetCurrentTimestamp();
		}
		call->done = done;
		call->total = total;
		SpinLockRelease(&call->mutex);
		return;
	}
	SpinLockAcquire(&slot->mutex);
	if (phase != NULL && strncmp(slot->phase, phase, TM_PHASE_LEN) != 0)
	{
		strlcpy(slot->phase, phase, TM_PHASE_LEN);
		slot->phase_since = GetCurrentTimestamp();
	}
	slot->done = done;
	slot->total = total;
	SpinLockRelease(&slot->mutex);
}

/*
 * trialmatch._progress(): one row per run a pool worker is working on.
 * The view trialmatch.progress joins it to trialmatch.runs, so a role sees
 * the progress of the runs it may see.
 */
Datum
tm_progress(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	if (tm_pool == NULL)
		return (Datum) 0;

	LWLockAcquire(tm_pool->lock, LW_SHARED);
	for (int i = 0; i < tm_pool->nslots; i++)
	{
		TmSlot	   *slot = &tm_pool->slots[i];
		Datum		values[9];
		bool		nulls[9] = {false, false, false, false, false, false, true, true, true};
		char		phase[TM_PHASE_LEN];
		int64		done,
					total;
		TimestampTz since;

		if (!slot->in_use || slot->exited)
			continue;
		SpinLockAcquire(&slot->mutex);
		strlcpy(phase, slot->phase, TM_PHASE_LEN);
		done = slot->done;
		total = slot->total;
		since = slot->phase_since;
		SpinLockRelease(&slot->mutex);

		values[0] = Int64GetDatum(slot->run_id);
		values[1] = Int32GetDatum((int32) slot->pid);
		nulls[1] = (slot->pid == 0);
		values[2] = CStringGetTextDatum(phase[0] ? phase : "starting");
		values[3] = Int64GetDatum(done);
		values[4] = Int64GetDatum(total);
		nulls[4] = (total < 0);
		values[5] = TimestampTzGetDatum(since ? since : slot->assigned_at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LWLockRelease(tm_pool->lock);

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
		if (copy.pid == 0)
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
