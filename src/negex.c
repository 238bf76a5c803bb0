/*-------------------------------------------------------------------------
 *
 * negex.c
 *	  The context of a match in a clinical note, NegEx/ConText style
 *	  (SPEC 8): negated, possible, hypothetical, other (someone else), or
 *	  affirmed.
 *
 * Algorithm.  The match's sentence (notes.c splits sentences) is read left
 * to right; at each word the longest trigger phrase of
 * trialmatch.note_triggers that starts there (and does not overlap the
 * match) is taken and its words skipped.  A pseudo-trigger ("no increase")
 * is taken so, and has no effect: its words cannot start another trigger.
 * A trigger before the match ('forward' or 'both') reaches it when at most
 * TM_NEGEX_SCOPE words lie between them and no termination term ("but",
 * "however") does; a trigger after it ('backward' or 'both') likewise.
 * When several triggers reach the match, the class decides in this order:
 * negated, other, hypothetical, possible (then the nearest trigger); with
 * none, the match is affirmed.
 *
 * Triggers are compared word by word, as phrases are (notes.c); the set is
 * compiled once per catalog load.
 *
 * IDENTIFICATION
 *	  src/negex.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "utils/memutils.h"

#include "trialmatch.h"

#define TM_NEGEX_BUCKETS 1024	/* a power of two */
#define TM_DIR_FORWARD	0x01
#define TM_DIR_BACKWARD 0x02

typedef struct TmTrig
{
	TmNoteClass cls;
	uint8		dir;
	int			nwords;
	TmPhrase   *p;
} TmTrig;

struct TmNegex
{
	int			n;
	TmTrig	   *trigs;			/* longest first */
	int			first[TM_NEGEX_BUCKETS];	/* by the hash of the first word: start in trigs */
	int		   *chain;			/* next trigger in the same bucket, -1 */
	int			prefixed;		/* triggers whose first word is a prefix*: a chain */
};

static TmNoteClass
class_of(const char *category)
{
	if (strcmp(category, "negated") == 0)
		return TM_NOTE_NEGATED;
	if (strcmp(category, "possible") == 0)
		return TM_NOTE_POSSIBLE;
	if (strcmp(category, "hypothetical") == 0)
		return TM_NOTE_HYPOTHETICAL;
	if (strcmp(category, "other") == 0)
		return TM_NOTE_OTHER;
	if (strcmp(category, "pseudo") == 0)
		return TM_NOTE_PSEUDO;
	return TM_NOTE_TERMINATION;
}

const char *
tm_note_class_name(TmNoteClass c)
{
	switch (c)
	{
		case TM_NOTE_AFFIRMED:
			return "affirmed";
		case TM_NOTE_POSSIBLE:
			return "possible";
		case TM_NOTE_NEGATED:
			return "negated";
		case TM_NOTE_HYPOTHETICAL:
			return "hypothetical";
		case TM_NOTE_OTHER:
			return "other";
		case TM_NOTE_PSEUDO:
			return "pseudo";
		case TM_NOTE_TERMINATION:
			return "termination";
	}
	return "?";
}

static int
trig_cmp(const void *a, const void *b)
{
	const TmTrig *x = a;
	const TmTrig *y = b;

	if (x->nwords != y->nwords)
		return y->nwords - x->nwords;
	/* at equal length a pseudo-trigger wins: it switches a phrase off */
	return (int) (y->cls == TM_NOTE_PSEUDO) - (int) (x->cls == TM_NOTE_PSEUDO);
}

static bool
same_words(const TmPhrase *a, const TmPhrase *b)
{
	if (a->nwords != b->nwords)
		return false;
	for (int i = 0; i < a->nwords; i++)
		if (a->lens[i] != b->lens[i] || a->prefix[i] != b->prefix[i] ||
			memcmp(a->words[i], b->words[i], a->lens[i]) != 0)
			return false;
	return true;
}

/* Compile the trigger rows into lookup tables, in the current memory context. */
TmNegex *
tm_negex_compile(List *triggers)
{
	TmNegex    *nx = palloc0(sizeof(TmNegex));
	ListCell   *lc;

	nx->prefixed = -1;
	nx->trigs = palloc(sizeof(TmTrig) * Max(list_length(triggers), 1));
	foreach(lc, triggers)
	{
		TmNoteTrigger *tr = lfirst(lc);
		TmPhrase   *p = tm_note_phrase(tr->phrase);
		TmTrig	   *t;

		if (p == NULL)
			continue;
		t = &nx->trigs[nx->n++];
		t->p = p;
		t->nwords = p->nwords;
		t->cls = class_of(tr->category);
		t->dir = strcmp(tr->direction, "forward") == 0 ? TM_DIR_FORWARD :
			strcmp(tr->direction, "backward") == 0 ? TM_DIR_BACKWARD :
			TM_DIR_FORWARD | TM_DIR_BACKWARD;
		/* a prefix* trigger word is a prefix, as in a phrase */
	}
	qsort(nx->trigs, nx->n, sizeof(TmTrig), trig_cmp);

	/* one entry per phrase and category: directions of duplicate rows combine */
	{
		int			kept = 0;

		for (int i = 0; i < nx->n; i++)
		{
			int			j;

			for (j = 0; j < kept; j++)
				if (nx->trigs[j].cls == nx->trigs[i].cls && same_words(nx->trigs[j].p, nx->trigs[i].p))
					break;
			if (j < kept)
				nx->trigs[j].dir |= nx->trigs[i].dir;
			else
				nx->trigs[kept++] = nx->trigs[i];
		}
		nx->n = kept;
	}
	nx->chain = palloc(sizeof(int) * Max(nx->n, 1));
	for (int b = 0; b < TM_NEGEX_BUCKETS; b++)
		nx->first[b] = -1;
	/* chains keep the longest-first order; a prefix* first word goes in every bucket's reach below */
	for (int i = nx->n - 1; i >= 0; i--)
	{
		const TmPhrase *p = nx->trigs[i].p;
		uint32		b = p->prefix[0] ? TM_NEGEX_BUCKETS :
			hash_bytes((const unsigned char *) p->words[0], p->lens[0]) & (TM_NEGEX_BUCKETS - 1);

		if (b == TM_NEGEX_BUCKETS)
		{
			nx->chain[i] = nx->prefixed;
			nx->prefixed = i;
			continue;
		}
		nx->chain[i] = nx->first[b];
		nx->first[b] = i;
	}
	return nx;
}

static inline bool
word_is(const TmNoteText *t, int w, const TmPhrase *p, int k)
{
	const TmNoteWord *nw = &t->words[w];

	if (p->prefix[k])
		return nw->normlen >= p->lens[k] &&
			memcmp(t->norm + nw->norm, p->words[k], p->lens[k]) == 0;
	return nw->normlen == p->lens[k] &&
		memcmp(t->norm + nw->norm, p->words[k], p->lens[k]) == 0;
}

/*
 * The longest trigger starting at word i and ending by limit, or -1 (at
 * equal length the one sorted first: a pseudo-trigger).
 */
static int
trigger_at(const TmNegex *nx, const TmNoteText *t, int i, int limit)
{
	const TmNoteWord *w = &t->words[i];
	uint32		b = hash_bytes((const unsigned char *) t->norm + w->norm, w->normlen) &
		(TM_NEGEX_BUCKETS - 1);
	int			best = -1;

	/* both chains are longest first: the first hit of each is its longest */
	for (int pass = 0; pass < 2; pass++)
	{
		for (int k = pass == 0 ? nx->first[b] : nx->prefixed; k >= 0; k = nx->chain[k])
		{
			const TmTrig *tr = &nx->trigs[k];
			int			j;

			if (i + tr->nwords > limit)
				continue;
			if (best >= 0 && tr->nwords <= nx->trigs[best].nwords)
				break;
			for (j = 0; j < tr->nwords; j++)
				if (!word_is(t, i + j, tr->p, j))
					break;
			if (j == tr->nwords)
			{
				best = k;
				break;
			}
		}
	}
	return best;
}

/* Precedence among the triggers that reach a match: larger decides. */
static inline int
precedence(TmNoteClass c)
{
	switch (c)
	{
		case TM_NOTE_NEGATED:
			return 4;
		case TM_NOTE_OTHER:
			return 3;
		case TM_NOTE_HYPOTHETICAL:
			return 2;
		case TM_NOTE_POSSIBLE:
			return 1;
		default:
			return 0;
	}
}

/*
 * Classify the match of words [ms, me) of t; the deciding trigger's words
 * in [*tstart, *tend), or -1.
 */
TmNoteClass
tm_negex_classify(const TmNegex *nx, TmNoteText *t, int ms, int me,
				  int *tstart, int *tend)
{
	int			ss = ms;
	int			se = me;
	int			best = -1;
	int			best_prec = 0;
	int			best_dist = 0;
	int			last_term_before = -1;	/* start of the last termination before the match */
	int			first_term_after = -1;	/* start of the first one after it */
	/* pending triggers before the match: kept so termination can cut them */
	int			pre_k[32];
	int			pre_s[32];
	int			pre_e[32];
	int			npre = 0;

	*tstart = *tend = -1;
	if (nx == NULL || nx->n == 0)
		return TM_NOTE_AFFIRMED;
	/*
	 * The sentence, but only the words within reach: a trigger's words
	 * (16 at most are looked at) and the scope.  This bounds the work per
	 * match however long a sentence is (a note without a full stop).
	 */
	while (ss > 0 && !t->words[ss].brk && ms - ss < TM_NEGEX_SCOPE + 16)
		ss--;
	while (se < t->nwords && !t->words[se].brk && se - me < TM_NEGEX_SCOPE + 16)
		se++;

	for (int i = ss; i < se;)
	{
		int			k;
		int			limit = i < ms ? ms : se;

		if (i >= ms && i < me)
		{
			i = me;
			continue;
		}
		/*
		 * The longest trigger at each word is looked up once per note (a
		 * note with many matches classifies the same words again): the
		 * memo holds it without a limit, and is used when it fits.
		 */
		if (t->trigmemo == NULL)
		{
			t->trigmemo = MemoryContextAllocHuge(CurrentMemoryContext,
												 sizeof(int) * (Size) Max(t->nwords, 1));
			for (int w = 0; w < t->nwords; w++)
				t->trigmemo[w] = -2;
		}
		if (t->trigmemo[i] == -2)
			t->trigmemo[i] = trigger_at(nx, t, i, t->nwords);
		k = t->trigmemo[i];
		if (k >= 0 && i + nx->trigs[k].nwords > limit)
			k = trigger_at(nx, t, i, limit);
		if (k < 0)
		{
			i++;
			continue;
		}
		if (nx->trigs[k].cls == TM_NOTE_TERMINATION)
		{
			if (i < ms)
				last_term_before = i;
			else if (first_term_after < 0)
				first_term_after = i;
		}
		else if (nx->trigs[k].cls != TM_NOTE_PSEUDO)
		{
			if (i < ms && (nx->trigs[k].dir & TM_DIR_FORWARD))
			{
				if (npre == lengthof(pre_k))
				{
					memmove(pre_k, pre_k + 1, sizeof(int) * (npre - 1));
					memmove(pre_s, pre_s + 1, sizeof(int) * (npre - 1));
					memmove(pre_e, pre_e + 1, sizeof(int) * (npre - 1));
					npre--;
				}
				pre_k[npre] = k;
				pre_s[npre] = i;
				pre_e[npre] = i + nx->trigs[k].nwords;
				npre++;
			}
			else if (i >= me && (nx->trigs[k].dir & TM_DIR_BACKWARD) &&
					 first_term_after < 0 && i - me <= TM_NEGEX_SCOPE)
			{
				int			p = precedence(nx->trigs[k].cls);
				int			d = i - me;

				if (p > best_prec || (p == best_prec && d < best_dist))
				{
					best = k;
					best_prec = p;
					best_dist = d;
					*tstart = i;
					*tend = i + nx->trigs[k].nwords;
				}
			}
		}
		i += nx->trigs[k].nwords;
	}
	for (int j = 0; j < npre; j++)
	{
		int			p = precedence(nx->trigs[pre_k[j]].cls);
		int			d = ms - pre_e[j];

		if (last_term_before >= pre_e[j] || d > TM_NEGEX_SCOPE)
			continue;
		if (p > best_prec || (p == best_prec && d < best_dist))
		{
			best = pre_k[j];
			best_prec = p;
			best_dist = d;
			*tstart = pre_s[j];
			*tend = pre_e[j];
		}
	}
	if (best < 0)
		return TM_NOTE_AFFIRMED;
	return nx->trigs[best].cls;
}
