/*-------------------------------------------------------------------------
 *
 * standby.c
 *	  What a hot standby refuses.
 *
 * match_patients, match_trials, explain_match, attrition and match_all
 * only read, so they run on a streaming replica as on its primary.  Queuing
 * or cancelling a screening run writes trialmatch.runs: on a standby it is
 * refused before anything else with read_only_sql_transaction (25006), the
 * SQLSTATE a write on a standby gets, and a hint naming the primary, taken
 * from primary_conninfo (host and port only, never a password) when the
 * caller may read that setting, else a hint that says where to look.
 *
 * IDENTIFICATION
 *	  src/standby.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "lib/stringinfo.h"
#include "utils/guc.h"

#include "pool.h"

/*
 * The value of keyword kw in a keyword/value connection string (libpq's
 * syntax: kw = value, value optionally single-quoted with \ escapes), or
 * NULL.  A URI (postgresql://...) is not parsed: NULL.
 */
static char *
conninfo_value(const char *conninfo, const char *kw)
{
	const char *p = conninfo;
	size_t		kwlen = strlen(kw);

	if (strncmp(p, "postgres://", 11) == 0 || strncmp(p, "postgresql://", 13) == 0)
		return NULL;
	while (*p)
	{
		const char *key;
		size_t		keylen;
		StringInfoData val;

		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (*p == '\0')
			break;
		key = p;
		while (*p && *p != '=' && *p != ' ' && *p != '\t')
			p++;
		keylen = p - key;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '=')
			return NULL;		/* malformed: say nothing */
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		initStringInfo(&val);
		if (*p == '\'')
		{
			p++;
			while (*p && *p != '\'')
			{
				if (*p == '\\' && p[1])
					p++;
				appendStringInfoChar(&val, *p++);
			}
			if (*p == '\'')
				p++;
		}
		else
		{
			while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
			{
				if (*p == '\\' && p[1])
					p++;
				appendStringInfoChar(&val, *p++);
			}
		}
		if (keylen == kwlen && strncmp(key, kw, kwlen) == 0)
			return val.data;
		pfree(val.data);
	}
	return NULL;
}

/*
 * Refuse what (a function name, e.g. "screen()") on a hot standby.
 */
void
tm_refuse_on_standby(const char *what)
{
	const char *conninfo = NULL;
	char	   *host = NULL;
	char	   *port = NULL;

	if (!RecoveryInProgress())
		return;

	if (tm_pool_may_read_database_setting())
		conninfo = GetConfigOption("primary_conninfo", true, false);
	if (conninfo != NULL)
	{
		host = conninfo_value(conninfo, "host");
		if (host == NULL)
			host = conninfo_value(conninfo, "hostaddr");
		port = conninfo_value(conninfo, "port");
	}

	if (host != NULL || port != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot call %s on a hot standby", what),
				 errdetail("A screening run is written to trialmatch.runs, and a standby is read-only."),
				 errhint("Call %s on the primary (host %s, port %s); match_patients, match_trials, explain_match, attrition and match_all work here.",
						 what, host ? host : "default", port ? port : "default")));
	ereport(ERROR,
			(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
			 errmsg("cannot call %s on a hot standby", what),
			 errdetail("A screening run is written to trialmatch.runs, and a standby is read-only."),
			 errhint("Call %s on the primary this standby replicates from (primary_conninfo names it); match_patients, match_trials, explain_match, attrition and match_all work here.",
					 what)));
}
