/*-------------------------------------------------------------------------
 *
 * parse.c
 *	  Lexer and recursive-descent parser of the criteria language
 *	  (SPEC section 4), producing a TmNode tree; and its deparser.
 *
 * The parser knows nothing of the catalog: whether a source exists and has
 * the columns a measure needs is checked by tm_validate_tree (catalog.c).
 * Every syntax error reports the offending token, its 1-based character
 * position, and the expression line with a caret under the token.
 *
 * IDENTIFICATION
 *	  src/parse.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/float.h"

#include "trialmatch.h"

/* Limits that keep hostile input cheap to reject. */
#define TM_MAX_WINDOW	1000000
#define TM_MAX_CODES	100000

typedef enum TokKind
{
	TOK_EOF,
	TOK_WORD,					/* identifier or keyword, folded to lower case */
	TOK_STRING,
	TOK_NUMBER,
	TOK_OP,						/* < <= = <> != >= > */
	TOK_LPAREN,
	TOK_RPAREN,
	TOK_COMMA
} TokKind;

typedef struct Token
{
	TokKind		kind;
	int			start;			/* byte offset */
	int			charpos;		/* character offset (0-based) */
	int			len;			/* bytes in source */
	char	   *text;			/* word (lower case), string contents, or op */
	bool		is_integer;
} Token;

typedef struct ParseState
{
	const char *src;
	Token	   *toks;
	int			ntoks;
	int			pos;
} ParseState;

static TmNode *parse_expr(ParseState *ps);
static TmNode *parse_event(ParseState *ps);

/*
 * The line of expr holding the 1-based character position charpos, and a
 * caret line under it.
 */
char *
tm_caret(const char *expr, int charpos)
{
	int			b = 0;
	int			linestart;
	int			lineend;
	StringInfoData buf;

	for (int i = 1; i < charpos && expr[b] != '\0'; i++)
		b += pg_mblen(expr + b);
	linestart = b;
	while (linestart > 0 && expr[linestart - 1] != '\n')
		linestart--;
	lineend = b;
	while (expr[lineend] != '\0' && expr[lineend] != '\n')
		lineend++;
	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, expr + linestart, lineend - linestart);
	appendStringInfoChar(&buf, '\n');
	for (int i = linestart; i < b; i += pg_mblen(expr + i))
		appendStringInfoChar(&buf, expr[i] == '\t' ? '\t' : ' ');
	appendStringInfoChar(&buf, '^');
	return buf.data;
}

/*
 * Report a syntax error at a token: message names the token, detail gives
 * its position and the line with a caret.
 */
static void
syntax_error(ParseState *ps, Token *tok, int sqlstate, const char *what)
{
	int			charpos = tok->charpos + 1;
	char	   *caret = tm_caret(ps->src, charpos);
	int			shown = tok->len;
	char	   *text;

	/* a huge token is shown cut, as PostgreSQL cuts long identifiers */
	if (shown > 60)
		shown = pg_mbcliplen(ps->src + tok->start, tok->len, 60);
	text = pnstrdup(ps->src + tok->start, shown);
	if (shown < tok->len)
		text = psprintf("%s...", text);

	if (tok->kind == TOK_EOF)
		ereport(ERROR,
				(errcode(sqlstate),
				 errmsg("syntax error at end of criterion expression"),
				 errdetail("At position %d: %s.\n%s", charpos, what, caret)));
	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg("%s at or near \"%s\"",
					sqlstate == ERRCODE_SYNTAX_ERROR ? "syntax error" : "invalid value",
					text),
			 errdetail("At position %d: %s.\n%s", charpos, what, caret)));
}

static void
lex(ParseState *ps)
{
	const char *s = ps->src;
	int			i = 0;
	int			cap = 16;

	int			chars = 0;		/* characters before byte offset lastb */
	int			lastb = 0;

	ps->toks = palloc(sizeof(Token) * cap);
	ps->ntoks = 0;
	for (;;)
	{
		Token	   *t;

		CHECK_FOR_INTERRUPTS();
		/* whitespace and comments */
		while (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '\f')
			i++;
		if (s[i] == '-' && s[i + 1] == '-')
		{
			while (s[i] != '\0' && s[i] != '\n')
				i++;
			continue;
		}
		if (ps->ntoks == cap)
		{
			cap *= 2;
			ps->toks = repalloc(ps->toks, sizeof(Token) * cap);
		}
		t = &ps->toks[ps->ntoks++];
		memset(t, 0, sizeof(Token));
		t->start = i;
		/* character positions, counted once (not from the start each time) */
		chars += pg_mbstrlen_with_len(s + lastb, i - lastb);
		lastb = i;
		t->charpos = chars;
		if (s[i] == '\0')
		{
			t->kind = TOK_EOF;
			return;
		}
		if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_')
		{
			int			j = i;

			while ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') ||
				   (s[j] >= '0' && s[j] <= '9') || s[j] == '_')
				j++;
			t->kind = TOK_WORD;
			t->len = j - i;
			t->text = pnstrdup(s + i, j - i);
			for (char *p = t->text; *p; p++)
				if (*p >= 'A' && *p <= 'Z')
					*p += 'a' - 'A';
			i = j;
		}
		else if ((s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
				 (s[i] == '-' && ((s[i + 1] >= '0' && s[i + 1] <= '9') || s[i + 1] == '.')))
		{
			int			j = i;
			bool		digits = false;

			t->is_integer = true;
			if (s[j] == '-')
				j++;
			while (s[j] >= '0' && s[j] <= '9')
				j++, digits = true;
			if (s[j] == '.')
			{
				t->is_integer = false;
				j++;
				while (s[j] >= '0' && s[j] <= '9')
					j++, digits = true;
			}
			if (digits && (s[j] == 'e' || s[j] == 'E'))
			{
				int			k = j + 1;

				if (s[k] == '+' || s[k] == '-')
					k++;
				if (s[k] >= '0' && s[k] <= '9')
				{
					t->is_integer = false;
					while (s[k] >= '0' && s[k] <= '9')
						k++;
					j = k;
				}
			}
			t->kind = TOK_NUMBER;
			t->len = j - i;
			t->text = pnstrdup(s + i, j - i);
			if (!digits)
				syntax_error(ps, t, ERRCODE_SYNTAX_ERROR, "a number needs digits");
			i = j;
		}
		else if (s[i] == '\'')
		{
			StringInfoData buf;
			int			j = i + 1;

			initStringInfo(&buf);
			for (;;)
			{
				if (s[j] == '\0')
				{
					t->kind = TOK_STRING;
					t->len = j - i;
					syntax_error(ps, t, ERRCODE_SYNTAX_ERROR, "unterminated quoted string");
				}
				if (s[j] == '\'')
				{
					if (s[j + 1] == '\'')
					{
						appendStringInfoChar(&buf, '\'');
						j += 2;
						continue;
					}
					j++;
					break;
				}
				appendStringInfoChar(&buf, s[j]);
				j++;
			}
			t->kind = TOK_STRING;
			t->len = j - i;
			t->text = buf.data;
			i = j;
		}
		else if (s[i] == '<' || s[i] == '>' || s[i] == '=' || s[i] == '!')
		{
			int			j = i + 1;

			if ((s[i] == '<' && (s[j] == '=' || s[j] == '>' || s[j] == '<')) ||
				(s[i] == '>' && s[j] == '=') || (s[i] == '!' && s[j] == '='))
				j++;
			t->kind = TOK_OP;
			t->len = j - i;
			t->text = pnstrdup(s + i, j - i);
			if (strcmp(t->text, "!") == 0)
				syntax_error(ps, t, ERRCODE_SYNTAX_ERROR, "unexpected character");
			if (strcmp(t->text, "!=") == 0)
				t->text = pstrdup("<>");
			i = j;
		}
		else if (s[i] == '@')
		{
			/* 1.1: @name, a code set */
			t->kind = TOK_OP;
			t->len = 1;
			t->text = pstrdup("@");
			i++;
		}
		else if (s[i] == '(' || s[i] == ')' || s[i] == ',')
		{
			t->kind = s[i] == '(' ? TOK_LPAREN : s[i] == ')' ? TOK_RPAREN : TOK_COMMA;
			t->len = 1;
			i++;
		}
		else
		{
			t->kind = TOK_WORD;
			t->len = pg_mblen(s + i);
			syntax_error(ps, t, ERRCODE_SYNTAX_ERROR, "unexpected character");
		}
	}
}

static inline Token *
peek(ParseState *ps)
{
	return &ps->toks[ps->pos];
}

static inline int
location(ParseState *ps)
{
	return peek(ps)->charpos + 1;
}

static bool
accept_word(ParseState *ps, const char *word)
{
	Token	   *t = peek(ps);

	if (t->kind == TOK_WORD && strcmp(t->text, word) == 0)
	{
		ps->pos++;
		return true;
	}
	return false;
}

static void
expect_word(ParseState *ps, const char *word, const char *what)
{
	if (!accept_word(ps, word))
		syntax_error(ps, peek(ps), ERRCODE_SYNTAX_ERROR, what);
}

static void
expect_kind(ParseState *ps, TokKind kind, const char *what)
{
	if (peek(ps)->kind != kind)
		syntax_error(ps, peek(ps), ERRCODE_SYNTAX_ERROR, what);
	ps->pos++;
}

static double
parse_number_text(ParseState *ps, char **text)
{
	Token	   *t = peek(ps);
	double		v;
	char	   *end;

	if (t->kind != TOK_NUMBER)
		syntax_error(ps, t, ERRCODE_SYNTAX_ERROR, "expected a number");
	errno = 0;
	v = strtod(t->text, &end);
	/* as float8in: overflow and underflow to zero are errors, denormals not */
	if ((errno == ERANGE && (v == 0.0 || isinf(v))) || !isfinite(v))
		syntax_error(ps, t, ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
					 "number is out of range for type double precision");
	if (text)
		*text = t->text;
	ps->pos++;
	return v;
}

static double
parse_number(ParseState *ps)
{
	return parse_number_text(ps, NULL);
}

/*
 * bound := number [X (ULN | LLN)].  ref_refusal: NULL where a normal-range
 * bound is allowed, else why it is not (42601 at the X).
 */
static double
parse_bound(ParseState *ps, char **text, uint8 *ref, const char *ref_refusal)
{
	double		v = parse_number_text(ps, text);
	Token	   *x = peek(ps);

	*ref = TM_REF_NONE;
	if (x->kind != TOK_WORD || strcmp(x->text, "x") != 0)
		return v;
	if (ref_refusal)
		syntax_error(ps, x, ERRCODE_SYNTAX_ERROR, ref_refusal);
	ps->pos++;
	if (accept_word(ps, "uln"))
		*ref = TM_REF_ULN;
	else if (accept_word(ps, "lln"))
		*ref = TM_REF_LLN;
	else
		syntax_error(ps, peek(ps), ERRCODE_SYNTAX_ERROR, "expected ULN or LLN after X");
	return v;
}

#define TM_REF_NOT_HERE "x ULN and x LLN compare an event's value with its own normal range: only LAST, FIRST, ANY and COUNT WHERE VALUE take them"

static void
parse_test_ref(ParseState *ps, TmTest *test, const char *ref_refusal)
{
	Token	   *t = peek(ps);

	test->lo_ref = test->hi_ref = TM_REF_NONE;
	if (accept_word(ps, "between"))
	{
		test->op = TM_CMP_BETWEEN;
		test->lo = parse_bound(ps, &test->lo_text, &test->lo_ref, ref_refusal);
		expect_word(ps, "and", "expected the AND of BETWEEN");
		test->hi = parse_bound(ps, &test->hi_text, &test->hi_ref, ref_refusal);
		return;
	}
	if (t->kind != TOK_OP)
		syntax_error(ps, t, ERRCODE_SYNTAX_ERROR,
					 "expected a comparison (<, <=, =, <>, >=, >) or BETWEEN");
	if (strcmp(t->text, "<") == 0)
		test->op = TM_CMP_LT;
	else if (strcmp(t->text, "<=") == 0)
		test->op = TM_CMP_LE;
	else if (strcmp(t->text, "=") == 0)
		test->op = TM_CMP_EQ;
	else if (strcmp(t->text, "<>") == 0)
		test->op = TM_CMP_NE;
	else if (strcmp(t->text, ">=") == 0)
		test->op = TM_CMP_GE;
	else if (strcmp(t->text, ">") == 0)
		test->op = TM_CMP_GT;
	else
		syntax_error(ps, t, ERRCODE_SYNTAX_ERROR,
					 "expected a comparison (<, <=, =, <>, >=, >) or BETWEEN");
	ps->pos++;
	test->lo = parse_bound(ps, &test->lo_text, &test->lo_ref, ref_refusal);
	test->hi = test->lo;
	test->hi_text = test->lo_text;
	test->hi_ref = test->lo_ref;
}

static void
parse_test(ParseState *ps, TmTest *test)
{
	parse_test_ref(ps, test, TM_REF_NOT_HERE);
}

static TmCode *
parse_code(ParseState *ps)
{
	Token	   *t = peek(ps);
	TmCode	   *code = palloc0(sizeof(TmCode));

	if (t->kind == TOK_OP && strcmp(t->text, "@") == 0)
	{
		/* 1.1: @name, a code set, resolved against the catalog */
		code->location = t->charpos + 1;
		ps->pos++;
		t = peek(ps);
		if (t->kind != TOK_WORD)
			syntax_error(ps, t, ERRCODE_SYNTAX_ERROR, "expected the name of a code set after @");
		code->set = t->text;
		ps->pos++;
		return code;
	}
	if (t->kind == TOK_OP && strcmp(t->text, "<<") == 0)
	{
		/* << concept: the concept and all its descendants (SNOMED ECL) */
		ps->pos++;
		t = peek(ps);
		if (t->kind != TOK_NUMBER || !t->is_integer)
			syntax_error(ps, t, ERRCODE_SYNTAX_ERROR, "expected an integer concept id after <<");
		code->descendants = true;
	}
	if (t->kind == TOK_STRING && !code->descendants)
	{
		int			len = strlen(t->text);

		if (len == 0)
			syntax_error(ps, t, ERRCODE_SYNTAX_ERROR, "a code must not be empty");
		code->str = t->text;
		code->len = len;
		if (t->text[len - 1] == '%')
		{
			code->prefix = true;
			code->len = len - 1;
			code->str = pnstrdup(t->text, len - 1);
		}
	}
	else if (t->kind == TOK_NUMBER && t->is_integer)
	{
		char	   *end;

		code->is_int = true;
		errno = 0;
		code->ival = strtoi64(t->text, &end, 10);
		if (errno == ERANGE || *end != '\0')
			syntax_error(ps, t, ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
						 "integer code is out of range for type bigint");
	}
	else
		syntax_error(ps, t, ERRCODE_SYNTAX_ERROR,
					 "expected a code: a quoted string, an integer, << and an integer, or @ and a code set");
	ps->pos++;
	return code;
}

static List *
parse_codes(ParseState *ps)
{
	List	   *codes = NIL;

	if (peek(ps)->kind != TOK_LPAREN)
		return list_make1(parse_code(ps));
	ps->pos++;
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (list_length(codes) >= TM_MAX_CODES)
			syntax_error(ps, peek(ps), ERRCODE_PROGRAM_LIMIT_EXCEEDED,
						 "a code list may hold at most 100000 codes");
		codes = lappend(codes, parse_code(ps));
		if (peek(ps)->kind == TOK_COMMA)
		{
			ps->pos++;
			continue;
		}
		expect_kind(ps, TOK_RPAREN, "expected \",\" or \")\" in a code list");
		return codes;
	}
}

static TmNode *
make_node(TmNodeKind kind, int location)
{
	TmNode	   *n = palloc0(sizeof(TmNode));

	n->kind = kind;
	n->location = location;
	n->atom = -1;
	n->timed = -1;
	return n;
}

/* A time unit: HOUR[S] | DAY[S] | WEEK[S] | MONTH[S] | YEAR[S]. */
static TmWindowUnit
parse_unit(ParseState *ps)
{
	Token	   *t = peek(ps);
	const char *u = t->kind == TOK_WORD ? t->text : "";
	TmWindowUnit unit = TM_W_DAY;	/* keep compiler quiet */

	if (strcmp(u, "hour") == 0 || strcmp(u, "hours") == 0)
		unit = TM_W_HOUR;
	else if (strcmp(u, "day") == 0 || strcmp(u, "days") == 0)
		unit = TM_W_DAY;
	else if (strcmp(u, "week") == 0 || strcmp(u, "weeks") == 0)
		unit = TM_W_WEEK;
	else if (strcmp(u, "month") == 0 || strcmp(u, "months") == 0)
		unit = TM_W_MONTH;
	else if (strcmp(u, "year") == 0 || strcmp(u, "years") == 0)
		unit = TM_W_YEAR;
	else
		syntax_error(ps, t, ERRCODE_SYNTAX_ERROR,
					 "expected HOURS, DAYS, WEEKS, MONTHS or YEARS");
	ps->pos++;
	return unit;
}

/* A window length: number and unit (after WITHIN or OBSERVED). */
static void
parse_window(ParseState *ps, TmEvent *ev)
{
	Token	   *nt = peek(ps);
	double		v;

	if (nt->kind != TOK_NUMBER || !nt->is_integer)
		syntax_error(ps, nt, ERRCODE_SYNTAX_ERROR,
					 "expected a whole, positive number of time units");
	v = parse_number(ps);
	if (v < 1 || v > TM_MAX_WINDOW)
		syntax_error(ps, nt, ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
					 "a window must be between 1 and 1000000 units long");
	ev->has_window = true;
	ev->window_n = (int) v;
	ev->window_unit = parse_unit(ps);
}

/* Does a code list follow (1.1: codes may be omitted)? */
static bool
codes_follow(ParseState *ps)
{
	Token	   *t = peek(ps);

	return t->kind == TOK_STRING || t->kind == TOK_NUMBER || t->kind == TOK_LPAREN ||
		(t->kind == TOK_OP && (strcmp(t->text, "<<") == 0 || strcmp(t->text, "@") == 0));
}

/* 1.1: filter := WHERE attribute (IS codes | test), after the WHERE */
static TmFilter *
parse_filter(ParseState *ps)
{
	TmFilter   *f = palloc0(sizeof(TmFilter));
	Token	   *t = peek(ps);

	if (t->kind != TOK_WORD)
		syntax_error(ps, t, ERRCODE_SYNTAX_ERROR, "expected an attribute name after WHERE");
	f->attribute = t->text;
	f->location = t->charpos + 1;
	ps->pos++;
	if (accept_word(ps, "is"))
	{
		f->is = true;
		f->codes = parse_codes(ps);
	}
	else
		parse_test_ref(ps, &f->test,
					   "x ULN and x LLN compare an event's value with its own normal range, not an attribute");
	return f;
}

/*
 * 1.1: vtest := test | IS codes: the test of a row's value (last, first,
 * any, count where value; part 2's days where value).
 */
static void
parse_vtest(ParseState *ps, TmTest *test, TmVTest *vt)
{
	if (accept_word(ps, "is"))
	{
		vt->is = true;
		vt->codes = parse_codes(ps);
		return;
	}
	parse_test_ref(ps, test, NULL);
}

/* ---------------------------------------------------------------
 * 1.1, time (SPEC 7.2): windows in the past, ACTIVE FOR, DAYS, NEW,
 * relations and AT LEAST k OF.
 * ---------------------------------------------------------------
 */

/* A length: a whole number (at least min) and a unit. */
static void
parse_span(ParseState *ps, TmSpan *span, int min)
{
	Token	   *nt = peek(ps);
	double		v;

	if (nt->kind != TOK_NUMBER || !nt->is_integer)
		syntax_error(ps, nt, ERRCODE_SYNTAX_ERROR,
					 min > 0 ? "expected a whole, positive number of time units" :
					 "expected a whole number of time units");
	v = parse_number(ps);
	if (v < min || v > TM_MAX_WINDOW)
		syntax_error(ps, nt, ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
					 min > 0 ? "a length of time must be between 1 and 1000000 units" :
					 "a length of time must be between 0 and 1000000 units");
	span->n = (int) v;
	span->unit = parse_unit(ps);
}

/*
 * [WITHIN N u | BETWEEN A u AND B u AGO | OVER N u AGO].  A of BETWEEN may
 * be 0 ("between 0 days and 1 year ago" is "within 1 year").
 */
static void
parse_window_ago(ParseState *ps, TmEvent *ev)
{
	TmSpan		span;

	if (accept_word(ps, "within"))
	{
		parse_window(ps, ev);
		return;
	}
	if (accept_word(ps, "between"))
	{
		parse_span(ps, &span, 0);
		ev->window_n = span.n;
		ev->window_unit = span.unit;
		expect_word(ps, "and", "expected the AND of BETWEEN ... AGO");
		parse_span(ps, &ev->window_far, 0);
		expect_word(ps, "ago", "expected AGO after BETWEEN A units AND B units");
		ev->has_window = true;
		ev->window_kind = TM_WK_BETWEEN;
		return;
	}
	if (accept_word(ps, "over"))
	{
		parse_span(ps, &span, 0);
		ev->window_n = span.n;
		ev->window_unit = span.unit;
		expect_word(ps, "ago", "expected AGO after OVER N units");
		ev->has_window = true;
		ev->window_kind = TM_WK_OVER;
	}
}

/* After ACTIVE: [FOR N u [GAP G u]]. */
static void
parse_active_for(ParseState *ps, TmEvent *ev)
{
	if (!accept_word(ps, "for"))
		return;
	ev->measure = TM_M_ACTIVE_FOR;
	parse_span(ps, &ev->active_for, 1);
	if (accept_word(ps, "gap"))
	{
		ev->has_gap = true;
		parse_span(ps, &ev->gap, 0);
	}
}

/* DAYS [WHERE VALUE vtest] test, NEW; false if neither. */
static bool
parse_time_measure(ParseState *ps, TmEvent *ev)
{
	if (accept_word(ps, "days"))
	{
		ev->measure = TM_M_DAYS;
		if (accept_word(ps, "where"))
		{
			expect_word(ps, "value", "expected VALUE after DAYS WHERE");
			ev->has_where = true;
			parse_vtest(ps, &ev->where, &ev->where_is);
		}
		parse_test(ps, &ev->test);
		return true;
	}
	if (accept_word(ps, "new"))
	{
		ev->measure = TM_M_NEW;
		return true;
	}
	return false;
}

/* A side of a relation has no measure (SPEC 7.3). */
static void
check_relation_side(ParseState *ps, TmNode *side, Token *at)
{
	if (side->kind != TM_N_EVENT || side->event->measure == TM_M_COVERS)
		syntax_error(ps, at, ERRCODE_SYNTAX_ERROR,
					 "both sides of a relation must be events");
	if (side->event->measure != TM_M_EXISTS)
		syntax_error(ps, at, ERRCODE_SYNTAX_ERROR,
					 psprintf("a side of a relation cannot have a measure (%s)",
							  tm_measure_name(side->event->measure)));
}

/*
 * After an event: [UP TO N u] (AFTER | BEFORE) event, DURING event,
 * NOT FOLLOWED BY event; else the event itself.
 */
static TmNode *
parse_relation(ParseState *ps, TmNode *e1)
{
	Token	   *t = peek(ps);
	TmNode	   *n;
	TmNode	   *e2;

	if (t->kind != TOK_WORD)
		return e1;
	if (strcmp(t->text, "up") != 0 && strcmp(t->text, "after") != 0 &&
		strcmp(t->text, "before") != 0 && strcmp(t->text, "during") != 0 &&
		strcmp(t->text, "not") != 0)
		return e1;
	n = make_node(TM_N_RELATION, location(ps));
	n->timed = -1;
	check_relation_side(ps, e1, t);
	if (accept_word(ps, "up"))
	{
		expect_word(ps, "to", "expected TO after UP");
		n->has_upto = true;
		parse_span(ps, &n->upto, 0);
		if (accept_word(ps, "after"))
			n->relkind = TM_R_AFTER;
		else
		{
			expect_word(ps, "before", "expected AFTER or BEFORE after UP TO N units");
			n->relkind = TM_R_BEFORE;
		}
	}
	else if (accept_word(ps, "after"))
		n->relkind = TM_R_AFTER;
	else if (accept_word(ps, "before"))
		n->relkind = TM_R_BEFORE;
	else if (accept_word(ps, "during"))
		n->relkind = TM_R_DURING;
	else
	{
		ps->pos++;				/* NOT */
		expect_word(ps, "followed", "expected FOLLOWED BY after an event and NOT");
		expect_word(ps, "by", "expected BY after FOLLOWED");
		n->relkind = TM_R_NOT_FOLLOWED;
	}
	t = peek(ps);
	if (t->kind != TOK_WORD || strcmp(t->text, "not") == 0 || strcmp(t->text, "age") == 0 ||
		strcmp(t->text, "sex") == 0 || strcmp(t->text, "observed") == 0 ||
		strcmp(t->text, "true") == 0 || strcmp(t->text, "false") == 0 ||
		strcmp(t->text, "unknown") == 0)
		syntax_error(ps, t, ERRCODE_SYNTAX_ERROR, "expected an event (a source name)");
	e2 = parse_event(ps);
	check_relation_side(ps, e2, t);
	n->args = list_make2(e1, e2);
	return n;
}

/* AT LEAST k OF (expr, ...), or NULL if not at AT LEAST. */
static TmNode *
parse_atleast(ParseState *ps)
{
	Token	   *t = peek(ps);
	Token	   *kt;
	TmNode	   *n;
	double		k;

	if (t->kind != TOK_WORD || strcmp(t->text, "at") != 0 ||
		ps->toks[ps->pos + 1].kind != TOK_WORD || strcmp(ps->toks[ps->pos + 1].text, "least") != 0)
		return NULL;
	n = make_node(TM_N_ATLEAST, location(ps));
	ps->pos += 2;
	kt = peek(ps);
	if (kt->kind != TOK_NUMBER || !kt->is_integer)
		syntax_error(ps, kt, ERRCODE_SYNTAX_ERROR, "expected a whole number after AT LEAST");
	k = parse_number(ps);
	expect_word(ps, "of", "expected OF after AT LEAST k");
	expect_kind(ps, TOK_LPAREN, "expected \"(\" after AT LEAST k OF");
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		n->args = lappend(n->args, parse_expr(ps));
		if (peek(ps)->kind == TOK_COMMA)
		{
			ps->pos++;
			continue;
		}
		expect_kind(ps, TOK_RPAREN, "expected \",\" or \")\" in AT LEAST k OF (...)");
		break;
	}
	if (k < 1 || k > list_length(n->args))
		syntax_error(ps, kt, ERRCODE_SYNTAX_ERROR,
					 psprintf("k must be between 1 and the number of criteria listed (%d)",
							  list_length(n->args)));
	n->k = (int) k;
	return n;
}

/*
 * The rest of a mention (SPEC 8), after "source MENTIONS":
 *	 phrases {filter} [window]
 * phrases := string | '(' string {',' string} ')'.  A phrase must hold a
 * word (letters or digits): one of only punctuation is refused here.
 */
static TmNode *
parse_mention(ParseState *ps, TmNode *n)
{
	TmEvent    *ev = n->event;
	bool		list = false;

	if (peek(ps)->kind == TOK_LPAREN)
	{
		list = true;
		ps->pos++;
	}
	for (;;)
	{
		Token	   *t = peek(ps);
		TmPhrase   *p;

		if (t->kind != TOK_STRING)
			syntax_error(ps, t, ERRCODE_SYNTAX_ERROR, "expected a quoted phrase");
		p = tm_note_phrase(t->text);
		if (p == NULL)
			syntax_error(ps, t, ERRCODE_SYNTAX_ERROR,
						 "a phrase needs one to 64 words of letters or digits");
		if (list_length(ev->phrases) >= TM_MAX_CODES)
			syntax_error(ps, t, ERRCODE_PROGRAM_LIMIT_EXCEEDED, "too many phrases");
		ev->phrases = lappend(ev->phrases, p);
		ps->pos++;
		if (!list)
			break;
		if (peek(ps)->kind == TOK_COMMA)
		{
			ps->pos++;
			continue;
		}
		expect_kind(ps, TOK_RPAREN, "expected \",\" or \")\"");
		break;
	}
	while (accept_word(ps, "where"))
		ev->filters = lappend(ev->filters, parse_filter(ps));
	parse_window_ago(ps, ev);
	ev->measure = TM_M_EXISTS;
	return n;
}

static TmNode *
parse_event(ParseState *ps)
{
	TmNode	   *n = make_node(TM_N_EVENT, location(ps));
	TmEvent    *ev = palloc0(sizeof(TmEvent));
	Token	   *t = peek(ps);

	n->event = ev;
	ev->source = t->text;
	ev->source_location = n->location;
	ps->pos++;
	if (accept_word(ps, "mentions"))
		return parse_mention(ps, n);
	if (codes_follow(ps))
		ev->codes = parse_codes(ps);
	if (accept_word(ps, "except"))
		ev->except = parse_codes(ps);
	while (accept_word(ps, "where"))
		ev->filters = lappend(ev->filters, parse_filter(ps));
	parse_window_ago(ps, ev);

	ev->measure = TM_M_EXISTS;
	t = peek(ps);
	if (t->kind != TOK_WORD)
		return n;
	if (accept_word(ps, "count"))
	{
		ev->measure = TM_M_COUNT;
		if (accept_word(ps, "where"))
		{
			expect_word(ps, "value", "expected VALUE after COUNT WHERE");
			ev->has_where = true;
			parse_vtest(ps, &ev->where, &ev->where_is);
		}
		parse_test(ps, &ev->test);
		return n;
	}
	if (accept_word(ps, "active"))
	{
		ev->measure = TM_M_ACTIVE;
		parse_active_for(ps, ev);
		return n;
	}
	if (parse_time_measure(ps, ev))
		return n;
	if (strcmp(t->text, "last") == 0)
		ev->measure = TM_M_LAST;
	else if (strcmp(t->text, "first") == 0)
		ev->measure = TM_M_FIRST;
	else if (strcmp(t->text, "min") == 0)
		ev->measure = TM_M_MIN;
	else if (strcmp(t->text, "max") == 0)
		ev->measure = TM_M_MAX;
	else if (strcmp(t->text, "avg") == 0)
		ev->measure = TM_M_AVG;
	else if (strcmp(t->text, "any") == 0)
		ev->measure = TM_M_ANY;
	else
		return n;				/* AND, OR, ... : the caller decides */
	ps->pos++;
	if (ev->measure == TM_M_LAST || ev->measure == TM_M_FIRST || ev->measure == TM_M_ANY)
		parse_vtest(ps, &ev->test, &ev->test_is);
	else
		parse_test_ref(ps, &ev->test,
					   "x ULN and x LLN cannot be used with MIN, MAX or AVG: each event has its own normal range");
	if (peek(ps)->kind == TOK_WORD && strcmp(peek(ps)->text, "unit") == 0)
	{
		if (ev->test_is.is)
			syntax_error(ps, peek(ps), ERRCODE_SYNTAX_ERROR,
						 "UNIT cannot be used with IS: categories have no unit");
		if (TM_TEST_HAS_REF(&ev->test))
			syntax_error(ps, peek(ps), ERRCODE_SYNTAX_ERROR,
						 "UNIT cannot be combined with x ULN or x LLN: the normal range is in the unit of the value");
		ps->pos++;
		if (peek(ps)->kind != TOK_STRING)
			syntax_error(ps, peek(ps), ERRCODE_SYNTAX_ERROR,
						 "expected a quoted unit after UNIT");
		ev->unit = peek(ps)->text;
		ps->pos++;
	}
	return n;
}

static TmNode *
parse_factor(ParseState *ps)
{
	Token	   *t = peek(ps);
	int			loc = location(ps);
	TmNode	   *n;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();

	if (t->kind == TOK_LPAREN)
	{
		ps->pos++;
		n = parse_expr(ps);
		expect_kind(ps, TOK_RPAREN, "expected \")\"");
		return n;
	}
	if (t->kind != TOK_WORD)
		syntax_error(ps, t, ERRCODE_SYNTAX_ERROR,
					 "expected a criterion: NOT, \"(\", TRUE, FALSE, UNKNOWN, AGE, SEX or a source name");
	if (accept_word(ps, "not"))
	{
		n = make_node(TM_N_NOT, loc);
		n->args = list_make1(parse_factor(ps));
		return n;
	}
	if (accept_word(ps, "true") || accept_word(ps, "false") || accept_word(ps, "unknown"))
	{
		n = make_node(TM_N_CONST, loc);
		n->constval = t->text[0] == 't' ? TM_TRUE : t->text[0] == 'f' ? TM_FALSE : TM_UNKNOWN;
		return n;
	}
	if (accept_word(ps, "observed"))
	{
		/* continuous observation: an observation period covering the window */
		TmEvent    *ev = palloc0(sizeof(TmEvent));

		n = make_node(TM_N_EVENT, loc);
		n->event = ev;
		ev->source = pstrdup(TM_OBSERVATION_SOURCE);
		ev->source_location = loc;
		ev->measure = TM_M_COVERS;
		parse_window(ps, ev);
		return n;
	}
	if (accept_word(ps, "age"))
	{
		n = make_node(TM_N_AGE, loc);
		parse_test(ps, &n->test);
		/* 1.1: AGE test [YEARS | MONTHS | WEEKS | DAYS] */
		n->age_unit = TM_W_YEAR;
		if (accept_word(ps, "years") || accept_word(ps, "year"))
			n->age_unit = TM_W_YEAR;
		else if (accept_word(ps, "months") || accept_word(ps, "month"))
			n->age_unit = TM_W_MONTH;
		else if (accept_word(ps, "weeks") || accept_word(ps, "week"))
			n->age_unit = TM_W_WEEK;
		else if (accept_word(ps, "days") || accept_word(ps, "day"))
			n->age_unit = TM_W_DAY;
		return n;
	}
	if (accept_word(ps, "sex"))
	{
		n = make_node(TM_N_SEX, loc);
		if (accept_word(ps, "in"))
		{
			expect_kind(ps, TOK_LPAREN, "expected \"(\" after SEX IN");
			for (;;)
			{
				if (peek(ps)->kind != TOK_STRING)
					syntax_error(ps, peek(ps), ERRCODE_SYNTAX_ERROR, "expected a quoted string");
				n->sexes = lappend(n->sexes, peek(ps)->text);
				ps->pos++;
				if (peek(ps)->kind == TOK_COMMA)
				{
					ps->pos++;
					continue;
				}
				expect_kind(ps, TOK_RPAREN, "expected \",\" or \")\"");
				break;
			}
		}
		else
		{
			Token	   *op = peek(ps);

			if (op->kind != TOK_OP || strcmp(op->text, "=") != 0)
				syntax_error(ps, op, ERRCODE_SYNTAX_ERROR, "expected \"=\" or IN after SEX");
			ps->pos++;
			if (peek(ps)->kind != TOK_STRING)
				syntax_error(ps, peek(ps), ERRCODE_SYNTAX_ERROR, "expected a quoted string");
			n->sexes = list_make1(peek(ps)->text);
			ps->pos++;
		}
		return n;
	}
	if (strcmp(t->text, "and") == 0 || strcmp(t->text, "or") == 0)
		syntax_error(ps, t, ERRCODE_SYNTAX_ERROR, "expected a criterion before the operator");
	if ((n = parse_atleast(ps)) != NULL)
		return n;
	return parse_relation(ps, parse_event(ps));
}

static TmNode *
parse_term(ParseState *ps)
{
	TmNode	   *first = parse_factor(ps);
	TmNode	   *n = NULL;

	while (peek(ps)->kind == TOK_WORD && strcmp(peek(ps)->text, "and") == 0)
	{
		int			loc = location(ps);

		ps->pos++;
		if (n == NULL)
		{
			n = make_node(TM_N_AND, loc);
			n->args = list_make1(first);
		}
		n->args = lappend(n->args, parse_factor(ps));
	}
	return n ? n : first;
}

static TmNode *
parse_expr(ParseState *ps)
{
	TmNode	   *first;
	TmNode	   *n = NULL;

	check_stack_depth();
	first = parse_term(ps);
	while (peek(ps)->kind == TOK_WORD && strcmp(peek(ps)->text, "or") == 0)
	{
		int			loc = location(ps);

		ps->pos++;
		if (n == NULL)
		{
			n = make_node(TM_N_OR, loc);
			n->args = list_make1(first);
		}
		n->args = lappend(n->args, parse_term(ps));
	}
	return n ? n : first;
}

/*
 * Parse a criterion expression; ERROR (42601 and friends) on bad input.
 */
TmNode *
tm_parse(const char *expr)
{
	ParseState	ps;
	TmNode	   *n;
	Token	   *t;

	ps.src = expr;
	ps.pos = 0;
	lex(&ps);
	n = parse_expr(&ps);
	t = peek(&ps);
	if (t->kind != TOK_EOF)
		syntax_error(&ps, t, ERRCODE_SYNTAX_ERROR,
					 t->kind == TOK_RPAREN ? "unbalanced \")\"" :
					 "expected AND, OR or the end of the expression");
	return n;
}

const char *
tm_cmp_name(TmCmp op)
{
	switch (op)
	{
		case TM_CMP_LT:
			return "<";
		case TM_CMP_LE:
			return "<=";
		case TM_CMP_EQ:
			return "=";
		case TM_CMP_NE:
			return "<>";
		case TM_CMP_GE:
			return ">=";
		case TM_CMP_GT:
			return ">";
		case TM_CMP_BETWEEN:
			return "between";
	}
	return "?";
}

bool
tm_test_passes(const TmTest *test, double v)
{
	switch (test->op)
	{
		case TM_CMP_LT:
			return v < test->lo;
		case TM_CMP_LE:
			return v <= test->lo;
		case TM_CMP_EQ:
			return v == test->lo;
		case TM_CMP_NE:
			return v != test->lo;
		case TM_CMP_GE:
			return v >= test->lo;
		case TM_CMP_GT:
			return v > test->lo;
		case TM_CMP_BETWEEN:
			return v >= test->lo && v <= test->hi;
	}
	return false;
}

/*
 * 1.1: a test with N x uln / N x lln bounds, for a row with normal range
 * [low, high].  The caller has checked that the value and every limit the
 * test names are finite (SPEC 7.3: otherwise the row is not usable).
 */
bool
tm_test_passes_ref(const TmTest *test, double v, double low, double high)
{
	TmTest		t = *test;

	if (t.lo_ref != TM_REF_NONE)
		t.lo *= t.lo_ref == TM_REF_ULN ? high : low;
	if (t.op != TM_CMP_BETWEEN)
		t.hi = t.lo;
	else if (t.hi_ref != TM_REF_NONE)
		t.hi *= t.hi_ref == TM_REF_ULN ? high : low;
	return tm_test_passes(&t, v);
}

/*
 * 1.1: a code of trialmatch.code_sets, written as in the language but
 * without quotes: 'E11%' (quotes allowed) or E11% is a string code,
 * 1118084 an integer code, <<1118084 a concept and its descendants.
 * NULL if it is none of these.
 */
TmCode *
tm_parse_code_text(const char *text)
{
	TmCode	   *code = palloc0(sizeof(TmCode));
	const char *p = text;
	int			len = strlen(text);
	char	   *end;

	if (len == 0)
		return NULL;
	if (p[0] == '<' && p[1] == '<')
	{
		p += 2;
		while (*p == ' ')
			p++;
		code->descendants = true;
	}
	if (code->descendants || (*p == '-' || (*p >= '0' && *p <= '9')))
	{
		bool		digits = true;
		const char *q = (*p == '-') ? p + 1 : p;

		if (*q == '\0')
			digits = false;
		for (; *q; q++)
			if (*q < '0' || *q > '9')
				digits = false;
		if (digits)
		{
			errno = 0;
			code->is_int = true;
			code->ival = strtoi64(p, &end, 10);
			if (errno == ERANGE || *end != '\0')
				return NULL;
			return code;
		}
		if (code->descendants)
			return NULL;
	}
	if (len >= 2 && text[0] == '\'' && text[len - 1] == '\'')
	{
		/* quoted: a string code even if it looks like a number */
		text = pnstrdup(text + 1, len - 2);
		len -= 2;
		if (len == 0 || strchr(text, '\'') != NULL)
			return NULL;
	}
	code->str = (char *) text;
	code->len = len;
	if (text[len - 1] == '%')
	{
		code->prefix = true;
		code->len = len - 1;
		code->str = pnstrdup(text, len - 1);
	}
	return code;
}

static void
deparse_quoted(StringInfo buf, const char *s, bool prefix)
{
	appendStringInfoChar(buf, '\'');
	for (; *s; s++)
	{
		if (*s == '\'')
			appendStringInfoChar(buf, '\'');
		appendStringInfoChar(buf, *s);
	}
	if (prefix)
		appendStringInfoChar(buf, '%');
	appendStringInfoChar(buf, '\'');
}

static void
deparse_bound(StringInfo buf, double v, uint8 ref)
{
	appendStringInfoString(buf, float8out_internal(v));
	if (ref != TM_REF_NONE)
		appendStringInfoString(buf, ref == TM_REF_ULN ? " x uln" : " x lln");
}

static void
deparse_test(StringInfo buf, const TmTest *t)
{
	if (t->op == TM_CMP_BETWEEN)
	{
		appendStringInfoString(buf, "between ");
		deparse_bound(buf, t->lo, t->lo_ref);
		appendStringInfoString(buf, " and ");
		deparse_bound(buf, t->hi, t->hi_ref);
	}
	else
	{
		appendStringInfo(buf, "%s ", tm_cmp_name(t->op));
		deparse_bound(buf, t->lo, t->lo_ref);
	}
}

void
tm_deparse_test(StringInfo buf, const TmTest *t)
{
	deparse_test(buf, t);
}

void
tm_deparse_vtest(StringInfo buf, const TmTest *t, const TmVTest *vt)
{
	if (vt->is)
	{
		appendStringInfoString(buf, "is ");
		tm_deparse_codes(buf, vt->codes);
	}
	else
		deparse_test(buf, t);
}

void
tm_deparse_codes(StringInfo buf, List *codes)
{
	ListCell   *lc;

	if (list_length(codes) > 1)
		appendStringInfoChar(buf, '(');
	foreach(lc, codes)
	{
		TmCode	   *c = lfirst(lc);

		if (lc != list_head(codes))
			appendStringInfoString(buf, ", ");
		if (c->set)
			appendStringInfo(buf, "@%s", c->set);
		else if (c->is_int)
			appendStringInfo(buf, "%s" INT64_FORMAT, c->descendants ? "<< " : "", c->ival);
		else
			deparse_quoted(buf, c->str, c->prefix);
	}
	if (list_length(codes) > 1)
		appendStringInfoChar(buf, ')');
}

static const char *const measure_names[] = {
	"", "count", "last", "first", "min", "max", "avg", "any", "active", "observed",
	"days", "active for", "new"
};
static const char unit_names[][2][8] = {
	{"hour", "hours"}, {"day", "days"}, {"week", "weeks"}, {"month", "months"}, {"year", "years"}
};

/* "hours", "day", ...: the window unit, singular for 1 */
const char *
tm_window_unit_name(const TmEvent *ev)
{
	return unit_names[ev->window_unit][ev->window_n != 1];
}

const char *
tm_measure_name(TmMeasureKind m)
{
	return measure_names[m];
}

/* "lab '4548-4' except '4548-5' within 180 days": an event without its measure */
void
tm_deparse_event_head(StringInfo buf, const TmEvent *ev)
{
	ListCell   *lc;

	appendStringInfoString(buf, ev->source);
	if (ev->phrases)
	{
		appendStringInfoString(buf, " mentions ");
		tm_deparse_phrases(buf, ev->phrases);
	}
	if (ev->codes)
	{
		appendStringInfoChar(buf, ' ');
		tm_deparse_codes(buf, ev->codes);
	}
	if (ev->except)
	{
		appendStringInfoString(buf, " except ");
		tm_deparse_codes(buf, ev->except);
	}
	foreach(lc, ev->filters)
	{
		TmFilter   *f = lfirst(lc);

		appendStringInfo(buf, " where %s ", f->attribute);
		if (f->is)
		{
			appendStringInfoString(buf, "is ");
			tm_deparse_codes(buf, f->codes);
		}
		else
			deparse_test(buf, &f->test);
	}
	tm_deparse_window(buf, ev);
}

/* "hours", "day", ...: a unit, singular for 1 */
const char *
tm_unit_name(TmWindowUnit unit, int n)
{
	return unit_names[unit][n != 1];
}

/* " within 6 months", " between 3 months and 1 year ago", " over 1 year ago", or nothing */
void
tm_deparse_window(StringInfo buf, const TmEvent *ev)
{
	if (!ev->has_window)
		return;
	switch (ev->window_kind)
	{
		case TM_WK_WITHIN:
			appendStringInfo(buf, " within %d %s", ev->window_n, tm_window_unit_name(ev));
			break;
		case TM_WK_BETWEEN:
			appendStringInfo(buf, " between %d %s and %d %s ago", ev->window_n,
							 tm_window_unit_name(ev), ev->window_far.n,
							 tm_unit_name(ev->window_far.unit, ev->window_far.n));
			break;
		case TM_WK_OVER:
			appendStringInfo(buf, " over %d %s ago", ev->window_n, tm_window_unit_name(ev));
			break;
	}
}

static const char *const relation_names[] = {
	"after", "before", "during", "not followed by"
};

static void
deparse(StringInfo buf, TmNode *n)
{
	ListCell   *lc;

	check_stack_depth();
	switch (n->kind)
	{
		case TM_N_AND:
		case TM_N_OR:
			appendStringInfoChar(buf, '(');
			foreach(lc, n->args)
			{
				if (lc != list_head(n->args))
					appendStringInfoString(buf, n->kind == TM_N_AND ? " and " : " or ");
				deparse(buf, lfirst(lc));
			}
			appendStringInfoChar(buf, ')');
			break;
		case TM_N_NOT:
			appendStringInfoString(buf, "not ");
			deparse(buf, linitial(n->args));
			break;
		case TM_N_CONST:
			appendStringInfoString(buf, n->constval == TM_TRUE ? "true" :
								   n->constval == TM_FALSE ? "false" : "unknown");
			break;
		case TM_N_AGE:
			appendStringInfoString(buf, "age ");
			deparse_test(buf, &n->test);
			if (n->age_unit != TM_W_YEAR)
				appendStringInfo(buf, " %s", unit_names[n->age_unit][1]);
			break;
		case TM_N_SEX:
			appendStringInfoString(buf, "sex in (");
			foreach(lc, n->sexes)
			{
				if (lc != list_head(n->sexes))
					appendStringInfoString(buf, ", ");
				deparse_quoted(buf, lfirst(lc), false);
			}
			appendStringInfoChar(buf, ')');
			break;
		case TM_N_EVENT:
			{
				TmEvent    *ev = n->event;

				if (ev->measure == TM_M_COVERS)
				{
					appendStringInfo(buf, "observed %d %s", ev->window_n,
									 tm_window_unit_name(ev));
					break;
				}
				tm_deparse_event_head(buf, ev);
				if (ev->measure != TM_M_EXISTS)
					appendStringInfo(buf, " %s", measure_names[ev->measure]);
				if (ev->has_where)
				{
					appendStringInfoString(buf, " where value ");
					tm_deparse_vtest(buf, &ev->where, &ev->where_is);
				}
				if (ev->measure == TM_M_ACTIVE_FOR)
				{
					appendStringInfo(buf, " %d %s", ev->active_for.n,
									 tm_unit_name(ev->active_for.unit, ev->active_for.n));
					if (ev->has_gap)
						appendStringInfo(buf, " gap %d %s", ev->gap.n,
										 tm_unit_name(ev->gap.unit, ev->gap.n));
				}
				if (ev->measure != TM_M_EXISTS && ev->measure != TM_M_ACTIVE &&
					ev->measure != TM_M_ACTIVE_FOR && ev->measure != TM_M_NEW)
				{
					appendStringInfoChar(buf, ' ');
					tm_deparse_vtest(buf, &ev->test, &ev->test_is);
				}
				if (ev->unit)
				{
					appendStringInfoString(buf, " unit ");
					deparse_quoted(buf, ev->unit, false);
				}
				break;
			}
		case TM_N_RELATION:
			appendStringInfoChar(buf, '(');
			deparse(buf, linitial(n->args));
			if (n->has_upto)
				appendStringInfo(buf, " up to %d %s", n->upto.n,
								 tm_unit_name(n->upto.unit, n->upto.n));
			appendStringInfo(buf, " %s ", relation_names[n->relkind]);
			deparse(buf, lsecond(n->args));
			appendStringInfoChar(buf, ')');
			break;
		case TM_N_ATLEAST:
			appendStringInfo(buf, "at least %d of (", n->k);
			foreach(lc, n->args)
			{
				if (lc != list_head(n->args))
					appendStringInfoString(buf, ", ");
				deparse(buf, lfirst(lc));
			}
			appendStringInfoChar(buf, ')');
			break;
	}
}

/* Canonical text of a tree: lower case, fully parenthesized AND/OR. */
char *
tm_deparse(TmNode *node)
{
	StringInfoData buf;

	initStringInfo(&buf);
	deparse(&buf, node);
	return buf.data;
}
