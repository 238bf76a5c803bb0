/*-------------------------------------------------------------------------
 *
 * trialmatch.c
 *	  Module entry: _PG_init registers the catalog cache's invalidation
 *	  callback (and, in later versions, settings and the worker pool).
 *
 * IDENTIFICATION
 *	  src/trialmatch.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

#include "trialmatch.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	tm_catalog_init();
}
