/*-------------------------------------------------------------------------
 *
 * notes.c
 *	  Clinical notes (SPEC 8): words of a text, phrases, the MENTIONS atom
 *	  (fold, evaluation, evidence) and reading a notes table through a GIN
 *	  index on a tsvector of its text.
 *
 * Words.  A word is a maximal run of letters and digits.  In a UTF-8
 * database a character is decoded and classified by code point: ASCII
 * letters and digits; outside ASCII every code point is a word character
 * except the blocks of punctuation, spaces, symbols and emoji listed in
 * is_word_cp() (Latin-1 punctuation, General Punctuation, CJK symbols,
 * full-width punctuation, ...).  Combining marks therefore stay inside
 * their word.  Bytes that are not valid UTF-8 (they cannot normally reach
 * us, as PostgreSQL verifies text on input, but a SQL_ASCII database or a
 * damaged page can hold anything) separate words and are never read past
 * the end of the value.  In other server encodings ASCII letters and
 * digits and every non-ASCII character (pg_mblen, clamped to the value)
 * are word characters.
 *
 * Case.  Words are compared after a fixed, locale-independent lower-case
 * mapping: ASCII, Latin-1, Latin Extended-A, Greek (final sigma folds to
 * sigma), Cyrillic and full-width Latin letters.  It does not depend on the
 * database's collation or the session's locale, so the leader, parallel
 * workers and every database agree; letters outside those blocks compare
 * as written (no Unicode normalization: a full-width "ＭＲＩ" is a word, and
 * matches the phrase 'ｍｒｉ' or 'ＭＲＩ', not 'mri').
 *
 * Sentences.  A sentence ends between two words when the characters
 * between them hold '.', '!', '?', ';' or ':' (a '.' between two digits,
 * as in "3.5", does not end one), or a blank line.  A colon ends a heading
 * or a field name ("REFERRING DIAGNOSIS: syncope"), whose context does not
 * carry over.
 *
 * Memory.  Tokenizing allocates in the caller's per-row context, which the
 * scan resets before every row: a note of many megabytes costs a few times
 * its size once, never more.
 *
 * IDENTIFICATION
 *	  src/notes.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/tableam.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "nodes/primnodes.h"
#include "nodes/tidbitmap.h"
#include "optimizer/optimizer.h"
#include "tsearch/ts_type.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_ts_config.h"
#include "utils/timestamp.h"

#include "trialmatch.h"

#define TM_NOTE_MAX_WORDS 64	/* words of a phrase */

/* ---------------------------------------------------------------
 * Characters
 * ---------------------------------------------------------------
 */

/* Is a (non-ASCII) code point part of a word? */
static inline bool
is_word_cp(pg_wchar c)
{
	if (c < 0xC0)
		return c == 0xAA || c == 0xB2 || c == 0xB3 || c == 0xB5 || c == 0xB9 || c == 0xBA;
	if (c == 0xD7 || c == 0xF7)
		return false;
	if (c >= 0x2000 && c <= 0x2BFF)		/* punctuation, symbols, arrows, math, shapes */
		return false;
	if (c >= 0x2E00 && c <= 0x2E7F)		/* supplemental punctuation */
		return false;
	if (c >= 0x3000 && c <= 0x303F)		/* CJK symbols and punctuation */
		return false;
	if (c >= 0xD800 && c <= 0xF8FF)		/* surrogates, private use */
		return false;
	if (c >= 0xFE10 && c <= 0xFE6F)		/* vertical, small form variants */
		return false;
	if (c == 0xFEFF || (c >= 0xFFF0 && c <= 0xFFFF))
		return false;
	if ((c >= 0xFF00 && c <= 0xFF0F) || (c >= 0xFF1A && c <= 0xFF20) ||
		(c >= 0xFF3B && c <= 0xFF40) || (c >= 0xFF5B && c <= 0xFF65))
		return false;					/* full-width punctuation */
	if (c >= 0x1F000 && c <= 0x1FAFF)	/* emoji, symbols */
		return false;
	if (c >= 0xE0000)					/* tags, variation selectors, private use */
		return false;
	return true;
}

/* The fixed lower-case mapping described above. */
static inline pg_wchar
lower_cp(pg_wchar c)
{
	if (c < 0x80)
		return (c >= 'A' && c <= 'Z') ? c + 32 : c;
	if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
		return c + 32;
	if (c >= 0x100 && c <= 0x17F)
	{
		if (c == 0x130)
			return 'i';
		if (c == 0x178)
			return 0xFF;
		if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
			return (c & 1) ? c + 1 : c;
		if (c != 0x138 && c != 0x149 && c != 0x17F)
			return (c & 1) ? c : c + 1;
		return c;
	}
	if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2)
		return c + 32;
	if (c == 0x3C2)
		return 0x3C3;
	if (c == 0x386)
		return 0x3AC;
	if (c >= 0x388 && c <= 0x38A)
		return c + 37;
	if (c == 0x38C)
		return 0x3CC;
	if (c == 0x38E || c == 0x38F)
		return c + 63;
	if (c >= 0x410 && c <= 0x42F)
		return c + 32;
	if (c >= 0x400 && c <= 0x40F)
		return c + 80;
	if (c >= 0xFF21 && c <= 0xFF3A)
		return c + 32;
	return c;
}

/*
 * Decode one UTF-8 character at s (n > 0 bytes left): its length, and the
 * code point in *cp, or *cp = 0 for a byte that does not start a valid
 * character (then the length is 1).
 */
static inline int
utf8_next(const unsigned char *s, int n, pg_wchar *cp)
{
	unsigned char c = s[0];
	int			l;
	pg_wchar	v;

	if (c < 0x80)
	{
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF)
	{
		l = 2;
		v = c & 0x1F;
	}
	else if (c >= 0xE0 && c <= 0xEF)
	{
		l = 3;
		v = c & 0x0F;
	}
	else if (c >= 0xF0 && c <= 0xF4)
	{
		l = 4;
		v = c & 0x07;
	}
	else
	{
		*cp = 0;
		return 1;
	}
	if (l > n)
	{
		*cp = 0;
		return 1;
	}
	for (int i = 1; i < l; i++)
	{
		if ((s[i] & 0xC0) != 0x80)
		{
			*cp = 0;
			return 1;
		}
		v = (v << 6) | (s[i] & 0x3F);
	}
	/* overlong forms, surrogates and values beyond U+10FFFF are invalid */
	if ((l == 3 && v < 0x800) || (l == 4 && (v < 0x10000 || v > 0x10FFFF)) ||
		(v >= 0xD800 && v <= 0xDFFF))
	{
		*cp = 0;
		return 1;
	}
	*cp = v;
	return l;
}

static inline int
put_utf8(char *out, pg_wchar c)
{
	unsigned char *o = (unsigned char *) out;

	if (c < 0x80)
	{
		o[0] = c;
		return 1;
	}
	unicode_to_utf8(c, o);
	return pg_utf_mblen(o);
}

/* ---------------------------------------------------------------
 * Tokenizer
 * ---------------------------------------------------------------
 */

/* Does the gap s[a..b) between two words end a sentence? */
static bool
gap_ends_sentence(const char *s, int len, int a, int b)
{
	int			newlines = 0;

	for (int i = a; i < b; i++)
	{
		char		c = s[i];

		if (c == '!' || c == '?' || c == ';' || c == ':')
			return true;
		if (c == '.')
		{
			/* "3.5": a decimal point, not a full stop */
			if (i == a && b == a + 1 && a > 0 && b < len &&
				isdigit((unsigned char) s[a - 1]) && isdigit((unsigned char) s[b]))
				continue;
			return true;
		}
		if (c == '\n')
		{
			if (++newlines >= 2)
				return true;
		}
		else if (c != '\r' && c != ' ' && c != '\t')
			newlines = 0;
	}
	return false;
}

/*
 * Split s[0..len) into words, normalized into out->norm.  Allocates in the
 * current memory context.
 */
void
tm_note_tokenize(const char *s, int len, TmNoteText *out)
{
	bool		utf8 = GetDatabaseEncoding() == PG_UTF8;
	int			cap = 64;
	int			i = 0;
	int			prev_end = -1;
	char	   *norm;
	int			nl = 0;

	out->text = s;
	out->len = len;
	out->trigmemo = NULL;
	out->nwords = 0;
	out->words = palloc(sizeof(TmNoteWord) * cap);
	/* lower-casing never makes a character longer in this mapping's blocks */
	norm = MemoryContextAllocHuge(CurrentMemoryContext, (Size) len + 8);
	out->norm = norm;

	while (i < len)
	{
		int			start;
		int			wlen;
		pg_wchar	cp;
		bool		word;

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		/* skip to the next word character */
		if (utf8)
		{
			wlen = utf8_next((const unsigned char *) s + i, len - i, &cp);
			word = cp < 0x80 ? isalnum((unsigned char) cp) != 0 : (cp != 0 && is_word_cp(cp));
		}
		else
		{
			unsigned char c = (unsigned char) s[i];

			wlen = c < 0x80 ? 1 : Min(pg_mblen(s + i), len - i);
			word = c < 0x80 ? isalnum(c) != 0 : true;
		}
		if (!word)
		{
			i += wlen;
			continue;
		}

		/* a word: from here to the next non-word character */
		start = i;
		if (out->nwords == cap)
		{
			cap *= 2;
			out->words = repalloc_huge(out->words, sizeof(TmNoteWord) * cap);
		}
		out->words[out->nwords].start = start;
		out->words[out->nwords].norm = nl;
		while (i < len)
		{
			if (utf8)
			{
				wlen = utf8_next((const unsigned char *) s + i, len - i, &cp);
				if (cp < 0x80 ? !isalnum((unsigned char) cp) : (cp == 0 || !is_word_cp(cp)))
					break;
				if (cp < 0x80)
					norm[nl++] = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
				else
				{
					pg_wchar	lc = lower_cp(cp);
					int			ol;

					/* the mapping keeps lengths, but never trust that blindly */
					ol = lc < 0x800 ? 2 : lc < 0x10000 ? 3 : 4;
					if (ol > wlen)
						lc = cp;
					nl += put_utf8(norm + nl, lc);
				}
			}
			else
			{
				unsigned char c = (unsigned char) s[i];

				if (c < 0x80 && !isalnum(c))
					break;
				wlen = c < 0x80 ? 1 : Min(pg_mblen(s + i), len - i);
				if (c < 0x80)
					norm[nl++] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
				else
				{
					memcpy(norm + nl, s + i, wlen);
					nl += wlen;
				}
			}
			i += wlen;
		}
		out->words[out->nwords].end = i;
		out->words[out->nwords].normlen = nl - out->words[out->nwords].norm;
		out->words[out->nwords].brk = prev_end >= 0 && gap_ends_sentence(s, len, prev_end, start);
		prev_end = i;
		out->nwords++;
	}
}

/*
 * A phrase of a MENTIONS atom, normalized as text is; a word directly
 * followed by '*' is a prefix.  NULL when it holds no word.
 */
TmPhrase *
tm_note_phrase(const char *s)
{
	TmNoteText t;
	TmPhrase   *p;
	int			len = strlen(s);

	tm_note_tokenize(s, len, &t);
	if (t.nwords == 0 || t.nwords > TM_NOTE_MAX_WORDS)
		return NULL;
	p = palloc0(sizeof(TmPhrase));
	p->text = pstrdup(s);
	p->nwords = t.nwords;
	p->words = palloc(sizeof(char *) * t.nwords);
	p->lens = palloc(sizeof(int) * t.nwords);
	p->prefix = palloc(sizeof(bool) * t.nwords);
	for (int i = 0; i < t.nwords; i++)
	{
		p->words[i] = pnstrdup(t.norm + t.words[i].norm, t.words[i].normlen);
		p->lens[i] = t.words[i].normlen;
		p->prefix[i] = t.words[i].end < len && s[t.words[i].end] == '*';
	}
	return p;
}

static inline bool
word_matches(const TmNoteText *t, int w, const TmPhrase *p, int k)
{
	const TmNoteWord *nw = &t->words[w];

	if (p->prefix[k])
		return nw->normlen >= p->lens[k] &&
			memcmp(t->norm + nw->norm, p->words[k], p->lens[k]) == 0;
	return nw->normlen == p->lens[k] &&
		memcmp(t->norm + nw->norm, p->words[k], p->lens[k]) == 0;
}

/* The first word index >= from where phrase p matches, or -1. */
int
tm_note_match(const TmNoteText *t, const TmPhrase *p, int from)
{
	for (int w = from; w + p->nwords <= t->nwords; w++)
	{
		int			k;

		if (!word_matches(t, w, p, 0))
			continue;
		for (k = 1; k < p->nwords; k++)
			if (!word_matches(t, w + k, p, k))
				break;
		if (k == p->nwords)
			return w;
	}
	return -1;
}

/* "('brain metastases', 'brain mets')" as written */
void
tm_deparse_phrases(StringInfo buf, List *phrases)
{
	ListCell   *lc;

	if (list_length(phrases) > 1)
		appendStringInfoChar(buf, '(');
	foreach(lc, phrases)
	{
		TmPhrase   *p = lfirst(lc);

		if (lc != list_head(phrases))
			appendStringInfoString(buf, ", ");
		/* as the criteria language quotes: '' for ', nothing else escaped */
		appendStringInfoChar(buf, '\'');
		for (const char *c = p->text; *c; c++)
		{
			if (*c == '\'')
				appendStringInfoChar(buf, '\'');
			appendStringInfoChar(buf, *c);
		}
		appendStringInfoChar(buf, '\'');
	}
	if (list_length(phrases) > 1)
		appendStringInfoChar(buf, ')');
}

/* ---------------------------------------------------------------
 * The MENTIONS atom
 *
 * Per-patient state: the atom's flag byte.  TM_F_SEEN: an affirmed match
 * was seen; TM_F_PASS: a possible one.  Both only ever get set, so the
 * parallel merge ORs them (fold.c merges TM_M_EXISTS atoms so).
 * ---------------------------------------------------------------
 */
TmTruth
tm_notes_eval(uint8 flag)
{
	if (flag & TM_F_SEEN)
		return TM_TRUE;
	if (flag & TM_F_PASS)
		return TM_UNKNOWN;
	return TM_FALSE;
}

/* Rank of a class for evidence: affirmed, possible, then the rest. */
static inline int
class_rank(TmNoteClass c)
{
	return c == TM_NOTE_AFFIRMED ? 3 : c == TM_NOTE_POSSIBLE ? 2 : 1;
}

/*
 * Text of s[a..b) for evidence, with "[" and "]" around bytes [ma, mb):
 * whitespace runs as one space, control characters dropped.
 */
static void
append_clean(StringInfo buf, const char *s, int a, int b, int ma, int mb)
{
	bool		space = false;

	for (int i = a; i < b; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (i == ma || i == mb)
		{
			if (space)
				appendStringInfoChar(buf, ' ');
			space = false;
			appendStringInfoChar(buf, i == ma ? '[' : ']');
		}
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
		{
			space = true;
			continue;
		}
		if (c < 0x20 || c == 0x7F)
			continue;
		if (space)
			appendStringInfoChar(buf, ' ');
		space = false;
		appendStringInfoChar(buf, (char) c);
	}
	if (mb == b)
		appendStringInfoChar(buf, ']');
}

#define TM_NOTE_CONTEXT_WORDS 10	/* words shown on each side of a match */

static void
note_evidence(TmPlan *plan, int ai, TmNoteText *t, int ms, int me, TmNoteClass cls,
			  int ts, int te, TimestampTz time)
{
	TmEvidence *e = &plan->evidence[ai];
	int			rank = class_rank(cls);
	int			ss = ms;
	int			se = me;
	StringInfoData buf;
	MemoryContext old;

	/* the best class, then the latest note */
	if (e->have && (rank < e->note_rank || (rank == e->note_rank && time <= e->time)))
		return;
	while (ss > 0 && !t->words[ss].brk && ms - ss < TM_NOTE_CONTEXT_WORDS)
		ss--;
	while (se < t->nwords && !t->words[se].brk && se - me < TM_NOTE_CONTEXT_WORDS)
		se++;

	old = MemoryContextSwitchTo(GetMemoryChunkContext(plan->evidence));
	initStringInfo(&buf);
	appendStringInfoString(&buf, tm_note_class_name(cls));
	appendStringInfoString(&buf, " \"");
	if (ss > 0 && !t->words[ss].brk)
		appendStringInfoString(&buf, "... ");
	append_clean(&buf, t->text, t->words[ss].start, t->words[se - 1].end,
				 t->words[ms].start, t->words[me - 1].end);
	if (se < t->nwords && !t->words[se].brk)
		appendStringInfoString(&buf, " ...");
	appendStringInfoChar(&buf, '"');
	if (ts >= 0)
	{
		appendStringInfoString(&buf, " (trigger \"");
		append_clean(&buf, t->text, t->words[ts].start, t->words[te - 1].end, -1, -1);
		appendStringInfoString(&buf, "\")");
	}
	if (e->note)
		pfree(e->note);
	e->note = buf.data;
	e->note_rank = rank;
	e->have = true;
	e->time = time;
	MemoryContextSwitchTo(old);
}

void
tm_notes_evidence(TmPlan *plan, TmAtom *a, TmEvidence *e, uint8 flag, StringInfo buf)
{
	if (!e->have)
	{
		appendStringInfoString(buf, "no ");
		tm_deparse_event_head(buf, a->ev);
		return;
	}
	appendStringInfo(buf, "%s at ", a->ev->source);
	tm_append_time(buf, e->time);
	appendStringInfo(buf, ": %s", e->note);
}

/*
 * Fold one row of a notes source into the MENTIONS atoms reading it.  The
 * text is read (detoasted and tokenized) only when some atom still has
 * something to learn from this patient's row.
 */
void
tm_notes_fold_row(TmPlan *plan, TmPlanSource *ps, Datum *values, bool *isnull)
{
	AttrNumber	an;
	TimestampTz t;
	TimestampTz end = DT_NOEND;
	bool		has_end;
	int			pidx;
	char	   *row;
	TmNoteText	txt;
	bool		tokenized = false;

	an = ps->text.attnum - 1;
	if (isnull[an])
		return;
	if (!tm_row_event(plan, ps, values, isnull, &t, &end, &has_end, &pidx))
		return;
	row = plan->state + (Size) pidx * plan->width;

	for (int k = 0; k < ps->natoms; k++)
	{
		int			ai = ps->atoms[k];
		TmAtom	   *a = &plan->atoms[ai];
		uint8	   *flag = (uint8 *) (row + a->flag);
		ListCell   *lc;

		/* only atoms that can still learn something from this row */
		if (a->ev->phrases == NIL)
			continue;
		if (a->has_lower && (ps->end_time.attnum ? end < a->lower : t < a->lower))
			continue;
		/* 1.1 windows in the past (BETWEEN, OVER), and attribute filters */
		if ((a->has_upper && t > a->upper) || a->empty)
			continue;
		if (a->nfilters > 0 && !tm_row_filters_pass(a, values, isnull))
			continue;
		if (!plan->evidence && (*flag & TM_F_SEEN))
			continue;
		if (!tokenized)
		{
			/* in the per-row context: reset before the next row */
			text	   *body = DatumGetTextPP(values[ps->text.attnum - 1]);

			tm_note_tokenize(VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body), &txt);
			tokenized = true;
		}
		foreach(lc, a->ev->phrases)
		{
			TmPhrase   *p = lfirst(lc);
			int			w = 0;

			while ((w = tm_note_match(&txt, p, w)) >= 0)
			{
				int			ts = -1,
							te = -1;
				TmNoteClass cls;

				CHECK_FOR_INTERRUPTS();
				cls = tm_negex_classify(plan->cat->negex, &txt, w, w + p->nwords, &ts, &te);
				if (cls == TM_NOTE_AFFIRMED)
					*flag |= TM_F_SEEN;
				else if (cls == TM_NOTE_POSSIBLE)
					*flag |= TM_F_PASS;
				if (plan->evidence)
					note_evidence(plan, ai, &txt, w, w + p->nwords, cls, ts, te, t);
				else if (*flag & TM_F_SEEN)
					break;
				w++;
			}
			if (!plan->evidence && (*flag & TM_F_SEEN))
				break;
		}
	}
}

/* ---------------------------------------------------------------
 * Reading through a GIN index on a tsvector of the text
 *
 * When a plain table has a valid GIN index on to_tsvector(config, text)
 * and every atom reading the source is a MENTIONS atom, the notes that can
 * match are those whose tsvector holds every word of some phrase: the
 * query is the OR over phrases of the AND of their words (prefix words as
 * 'word':*), built with to_tsquery in the index's configuration, so it
 * goes through the same dictionaries as the indexed text.  Only phrases of
 * ASCII letters are looked up so (phrases_query).  One known gap: the
 * default text search parser keeps URLs, e-mail addresses, host names and
 * file paths whole ("brain.example.org"), where notes.c sees words; a
 * phrase found only inside such a token is missed when the index is used.  The index only
 * narrows the rows read: every row it returns is matched and classified
 * as a scan would, so the result is the same either way.  Phrases with a
 * digit, or a word the configuration drops (a stop word), cannot be looked
 * up so: then the table is scanned.
 * ---------------------------------------------------------------
 */

/* Is node to_tsvector(<const regconfig>, <the text column>)?  Its config, or 0. */
static Oid
tsvector_expr_config(Node *node, AttrNumber textatt)
{
	FuncExpr   *f;
	Node	   *cfg;
	Node	   *arg;

	if (!IsA(node, FuncExpr))
		return InvalidOid;
	f = (FuncExpr *) node;
	if (f->funcid != F_TO_TSVECTOR_REGCONFIG_TEXT || list_length(f->args) != 2)
		return InvalidOid;
	cfg = linitial(f->args);
	arg = lsecond(f->args);
	while (arg && IsA(arg, RelabelType))
		arg = (Node *) ((RelabelType *) arg)->arg;
	if (!IsA(cfg, Const) || ((Const *) cfg)->constisnull || !arg || !IsA(arg, Var) ||
		((Var *) arg)->varattno != textatt)
		return InvalidOid;
	return DatumGetObjectId(((Const *) cfg)->constvalue);
}

/*
 * The tsquery text of the phrases: ('a' & 'b') | ('c':*), or NULL if one
 * cannot be looked up.  Only words of ASCII letters: every text search
 * parser and locale splits and lower-cases those as notes.c does (digits
 * form numbers, and non-ASCII letters depend on the locale there).  Prefix
 * words only with pg_catalog.simple: a stemmed prefix need not be a prefix
 * of the stemmed word.
 */
static char *
phrases_query(List *phrases, bool simple)
{
	StringInfoData q;
	ListCell   *lc;

	initStringInfo(&q);
	foreach(lc, phrases)
	{
		TmPhrase   *p = lfirst(lc);

		if (q.len > 0)
			appendStringInfoString(&q, " | ");
		appendStringInfoChar(&q, '(');
		for (int k = 0; k < p->nwords; k++)
		{
			for (const char *c = p->words[k]; *c; c++)
				if (!(*c >= 'a' && *c <= 'z'))
					return NULL;
			if (p->prefix[k] && !simple)
				return NULL;
			appendStringInfo(&q, "%s'%s'%s", k ? " & " : "", p->words[k],
							 p->prefix[k] ? ":*" : "");
		}
		appendStringInfoChar(&q, ')');
	}
	return q.data;
}

/*
 * Choose a GIN index for a notes source of a population call: sets
 * ps->note_index and ps->note_query, or leaves them unset (scan).
 */
void
tm_notes_choose_index(TmPlan *plan, int srcidx)
{
	TmPlanSource *ps = &plan->sources[srcidx];
	TmLeaf	   *leaf;
	List	   *indexes;
	ListCell   *lc;
	StringInfoData q;

	if (ps->nmentions == 0 || ps->nmentions != ps->natoms || ps->read.executor ||
		ps->read.nleaves != 1 || ps->text.attnum == 0)
		return;
	leaf = &ps->read.leaves[0];
	if (leaf->rel != ps->rel)
		return;
	indexes = RelationGetIndexList(leaf->rel);
	foreach(lc, indexes)
	{
		Relation	idx = index_open(lfirst_oid(lc), AccessShareLock);
		Oid			cfg = InvalidOid;

		if (idx->rd_rel->relam == GIN_AM_OID && tm_index_usable(idx) &&
			idx->rd_index->indnatts >= 1 && idx->rd_index->indkey.values[0] == 0)
		{
			List	   *exprs = RelationGetIndexExpressions(idx);

			if (exprs != NIL)
				cfg = tsvector_expr_config(linitial(exprs), ps->text.attnum);
		}
		if (OidIsValid(cfg))
		{
			HeapTuple	tup = SearchSysCache1(TSCONFIGOID, ObjectIdGetDatum(cfg));
			bool		simple = false;

			if (HeapTupleIsValid(tup))
			{
				Form_pg_ts_config c = (Form_pg_ts_config) GETSTRUCT(tup);

				simple = c->cfgnamespace == PG_CATALOG_NAMESPACE &&
					strcmp(NameStr(c->cfgname), "simple") == 0;
				ReleaseSysCache(tup);
			}
			initStringInfo(&q);
			for (int k = 0; k < ps->natoms; k++)
			{
				char	   *one = phrases_query(plan->atoms[ps->atoms[k]].ev->phrases, simple);

				if (one == NULL)
				{
					cfg = InvalidOid;
					break;
				}
				appendStringInfo(&q, "%s%s", q.len ? " | " : "", one);
			}
		}
		if (OidIsValid(cfg))
		{
			Datum		query;
			TSQuery		tq;

			query = DirectFunctionCall2(to_tsquery_byid, ObjectIdGetDatum(cfg),
										CStringGetTextDatum(q.data));
			tq = DatumGetTSQuery(query);
			/* a stop word dropped from some phrase: the AND would not be a superset */
			if (tq->size > 0)
			{
				char	   *back = DatumGetCString(DirectFunctionCall1(tsqueryout, query));
				int			nq = 0,
							nb = 0;

				for (const char *c = q.data; *c; c++)
					nq += *c == '&' || *c == '|';
				for (const char *c = back; *c; c++)
					nb += *c == '&' || *c == '|';
				if (nq == nb)
				{
					ps->note_index = RelationGetRelid(idx);
					ps->note_query = query;
				}
			}
		}
		index_close(idx, AccessShareLock);
		if (OidIsValid(ps->note_index))
			break;
	}
	list_free(indexes);
	if (OidIsValid(ps->note_index))
		elog(DEBUG1, "trialmatch: %s is read through its text search index: %s",
			 ps->what, q.data);
}

/* tm_notes_fold_row as a TmRowFn, for tm_fold_bitmap */
static void
notes_row(TmPlan *plan, void *arg, Datum *values, bool *isnull)
{
	tm_notes_fold_row(plan, (TmPlanSource *) arg, values, isnull);
}

/*
 * Read the notes sources that have an index (tm_notes_choose_index) in this
 * backend, as a bitmap heap scan of the rows the index returns, and close
 * their leaves so that nothing else (the serial loop, parallel workers)
 * reads them again.
 */
void
tm_notes_read_indexed(TmPlan *plan)
{
	for (int i = 0; i < plan->nsources; i++)
	{
		TmPlanSource *ps = &plan->sources[i];
		TmLeaf	   *leaf;
		Relation	index;
		Snapshot	snapshot = GetActiveSnapshot();
		TIDBitmap  *tbm;
		IndexScanDesc iscan;
		ScanKeyData key;
		long		nrows;

		if (!OidIsValid(ps->note_index))
			continue;
		leaf = &ps->read.leaves[0];
		index = index_open(ps->note_index, AccessShareLock);
		tbm = tbm_create(work_mem * 1024L, NULL);
		/* GIN tsvector_ops: strategy 1 is @@ (tsvector, tsquery) */
		ScanKeyEntryInitialize(&key, 0, 1, 1, InvalidOid, InvalidOid,
							   F_TS_MATCH_VQ, ps->note_query);
		iscan = index_beginscan_bitmap(index, snapshot, 1);
		index_rescan(iscan, &key, 1, NULL, 0);
		(void) index_getbitmap(iscan, tbm);
		index_endscan(iscan);
		index_close(index, AccessShareLock);

		nrows = tm_fold_bitmap(plan, i, leaf, tbm, 0, -1, NULL, notes_row);
		elog(DEBUG1, "trialmatch: %ld rows of %s read through its text search index",
			 nrows, ps->what);
		/* done: no scan of this source in this call, here or in workers */
		tm_relation_close(&ps->read);
	}
}

/* ---------------------------------------------------------------
 * Triggers (trialmatch.note_triggers), read with the catalog
 * ---------------------------------------------------------------
 */

/*
 * The rows of note_triggers, in cxt; the caller is connected to SPI.  An
 * older schema (a new library before ALTER EXTENSION UPDATE) has no such
 * table: no triggers.
 */
List *
tm_notes_load_triggers(MemoryContext cxt)
{
	List	   *out = NIL;
	MemoryContext old;

	if (SPI_execute("SELECT pg_catalog.to_regclass('" TM_SCHEMA ".note_triggers') IS NOT NULL",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "note_triggers lookup failed");
	{
		bool		isnull;

		if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
			return NIL;
	}
	if (SPI_execute("SELECT phrase, category, direction FROM " TM_SCHEMA ".note_triggers"
					" ORDER BY phrase, category, direction", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "note_triggers query failed");
	old = MemoryContextSwitchTo(cxt);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		TmNoteTrigger *tr = palloc(sizeof(TmNoteTrigger));

		tr->phrase = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		tr->category = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		tr->direction = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);
		if (tr->phrase && tr->category && tr->direction)
			out = lappend(out, tr);
	}
	MemoryContextSwitchTo(old);
	return out;
}
