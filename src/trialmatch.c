/*-------------------------------------------------------------------------
 *
 * trialmatch.c
 *	  Module entry: _PG_init defines the settings and registers the catalog
 *	  cache's invalidation callback (and the worker pool, when preloaded).
 *
 * IDENTIFICATION
 *	  src/trialmatch.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "trialmatch.h"
#include "pool.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomIntVariable("trialmatch.max_parallel_workers",
							"Maximum number of parallel workers of one population screening.",
							"-1: 2, and for match_all at most one fewer than the server's CPUs. "
							"Also capped by max_parallel_workers. Sources smaller than "
							"min_parallel_table_scan_size together are screened without workers.",
							&tm_max_parallel_workers,
							-1, -1, 1024,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("trialmatch.index_only_reads",
							 "Read index ranges from the index alone when it holds every column read.",
							 "Rows on pages the visibility map does not mark all-visible are "
							 "checked in the table. Off: index ranges are read as a bitmap heap scan.",
							 &tm_index_only_reads,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("trialmatch.match_all_memory",
							"Most memory the per-patient state of one pass of match_all or screen_all may take.",
							"Trials whose state for every patient would take more are screened in several "
							"passes over groups of trials, each reading the tables again.",
							&tm_match_all_memory,
							262144, 64, MAX_KILOBYTES,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
	tm_catalog_init();
	tm_worker_init();
	MarkGUCPrefixReserved("trialmatch");
}
