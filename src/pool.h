/*-------------------------------------------------------------------------
 *
 * pool.h
 *	  The background worker pool that executes screening runs: settings,
 *	  shared memory, and the functions shared by worker.c (launcher and
 *	  pool workers), runs.c (screen, cancel, wait) and progress.c.
 *
 * A run is a row of trialmatch.runs.  screen() inserts it as 'queued' and
 * wakes the launcher when its transaction commits; the launcher gives each
 * queued run a slot in shared memory and starts a dynamic background
 * worker for it, which connects as the role that queued the run.  The slot
 * carries what other backends need while the run works: the worker's pid
 * (for cancel), a cancel flag, and progress.
 *
 * IDENTIFICATION
 *	  src/pool.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRIALMATCH_POOL_H
#define TRIALMATCH_POOL_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/spin.h"

/* NOTIFY channel on which the id of every run that ends is sent. */
#define TM_RUNS_CHANNEL "trialmatch_runs"

/* A run started this many times and interrupted each time is failed. */
#define TM_MAX_ATTEMPTS 3

#define TM_PHASE_LEN 24

/*
 * One pool worker.  in_use, run_id, dboid, roleid and assigned_at are set
 * by the launcher under the lock; pid, connected and exited by the worker,
 * cancel_requested by cancel(), all under the lock.  The progress fields
 * are written by the worker alone, under the slot's spinlock.
 */
typedef struct TmSlot
{
	bool		in_use;
	bool		connected;		/* the worker connected and owns the run */
	bool		exited;			/* the worker has exited (slot to reap) */
	bool		cancel_requested;
	pid_t		pid;
	int64		run_id;
	Oid			dboid;
	Oid			roleid;
	TimestampTz assigned_at;

	slock_t		mutex;			/* protects the progress fields */
	char		phase[TM_PHASE_LEN];
	int64		done;
	int64		total;			/* -1 while unknown */
	TimestampTz phase_since;
} TmSlot;

typedef struct TmPoolShared
{
	LWLock	   *lock;
	pid_t		launcher_pid;
	Latch	   *launcher_latch; /* NULL while no launcher runs */
	bool		recovered;		/* interrupted runs recovered (once per
								 * shared memory lifetime) */
	ConditionVariable run_ended;	/* broadcast when a run ends */
	int			nslots;
	TmSlot		slots[FLEXIBLE_ARRAY_MEMBER];
} TmPoolShared;

/* worker.c */
extern PGDLLIMPORT TmPoolShared *tm_pool;	/* NULL unless preloaded */
extern bool tm_pool_preloaded;
extern char *tm_database;
extern int	tm_pool_size;
extern int	tm_run_timeout;
extern void tm_worker_init(void);
extern void tm_wake_launcher(void);
extern void tm_broadcast_run_ended(void);
extern bool tm_pool_may_read_database_setting(void);

/* standby.c */
extern void tm_refuse_on_standby(const char *what);

/* progress.c */
extern TmSlot *tm_my_progress;
extern void tm_progress_report(const char *phase, int64 done, int64 total);
extern void tm_progress_begin(const char *trial_id);
extern void tm_progress_end(void);
extern void tm_progress_label(const char *label);
extern Size tm_calls_shmem_size(void);
extern void tm_calls_shmem_init(void);

/* runs.c */
typedef struct TmPrivSave
{
	Oid			userid;
	int			sec_context;
	int			nestlevel;
} TmPrivSave;

extern int	tm_pin_search_path(void);
extern void tm_unpin_search_path(int nestlevel);
extern void tm_become_superuser(TmPrivSave *save);
extern void tm_restore_user(TmPrivSave *save);

#endif							/* TRIALMATCH_POOL_H */
