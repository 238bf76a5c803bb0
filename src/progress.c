/*-------------------------------------------------------------------------
 *
 * progress.c
 *	  Progress of screening runs, kept in the pool worker's slot in shared
 *	  memory and shown by the view trialmatch.progress.
 *
 * tm_progress_report() is the hook: code that screens a population may call
 * it as often as it likes (it costs a test and, in a pool worker, a
 * spinlock), with the phase it is in, the patients done and the patients in
 * all.  Outside a pool worker it does nothing.  The pool worker itself
 * reports its phases ('starting', 'screening', 'collecting', 'saving').
 *
 * IDENTIFICATION
 *	  src/progress.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "storage/lwlock.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "pool.h"

PG_FUNCTION_INFO_V1(tm_progress);

/* This backend's slot, when it is a pool worker running a run. */
TmSlot	   *tm_my_progress = NULL;

/*
 * Report progress.  phase NULL keeps the current phase; total -1 means
 * "not known yet".
 */
void
tm_progress_report(const char *phase, int64 done, int64 total)
{
	TmSlot	   *slot = tm_my_progress;

	if (slot == NULL)
		return;
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
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};
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
	return (Datum) 0;
}
