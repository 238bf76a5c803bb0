/*-------------------------------------------------------------------------
 *
 * notes.h
 *	  Clinical notes (SPEC 8): the word tokenizer and phrase matcher
 *	  (notes.c) and the NegEx/ConText context classifier (negex.c).
 *
 * Included by trialmatch.h; uses its types.
 *
 * IDENTIFICATION
 *	  src/notes.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRIALMATCH_NOTES_H
#define TRIALMATCH_NOTES_H

/* A phrase of a MENTIONS atom: its words, normalized as the text's are. */
typedef struct TmPhrase
{
	char	   *text;			/* as written */
	int			nwords;
	char	  **words;			/* lower case, UTF-8 (or the database encoding) */
	int		   *lens;			/* bytes of each word */
	bool	   *prefix;			/* word* : any word with this prefix */
} TmPhrase;

/* A row of trialmatch.note_triggers. */
typedef struct TmNoteTrigger
{
	char	   *phrase;
	char	   *category;		/* negated possible hypothetical other pseudo termination */
	char	   *direction;		/* forward backward both */
} TmNoteTrigger;

/* The class of one match, most decisive first for a mention atom. */
typedef enum TmNoteClass
{
	TM_NOTE_AFFIRMED = 0,
	TM_NOTE_POSSIBLE,
	TM_NOTE_NEGATED,
	TM_NOTE_HYPOTHETICAL,
	TM_NOTE_OTHER,
	TM_NOTE_PSEUDO,				/* trigger categories only */
	TM_NOTE_TERMINATION
} TmNoteClass;

/* One word of a tokenized text. */
typedef struct TmNoteWord
{
	int			start;			/* byte offsets in the text */
	int			end;
	int			norm;			/* offset of the normalized word in TmNoteText.norm */
	int			normlen;
	bool		brk;			/* a sentence ends between the previous word and this */
} TmNoteWord;

typedef struct TmNoteText
{
	const char *text;
	int			len;
	int			nwords;
	TmNoteWord *words;
	char	   *norm;
	int		   *trigmemo;		/* negex.c: the trigger at each word, or NULL */
} TmNoteText;

/* How many words around a match a trigger reaches (NegEx's window). */
#define TM_NEGEX_SCOPE 8

/* notes.c */
extern void tm_note_tokenize(const char *s, int len, TmNoteText *out);
extern TmPhrase *tm_note_phrase(const char *s);
extern int	tm_note_match(const TmNoteText *t, const TmPhrase *p, int from);
extern void tm_notes_fold_row(TmPlan *plan, TmPlanSource *ps, Datum *values, bool *isnull);
extern TmTruth tm_notes_eval(uint8 flag);
extern void tm_notes_evidence(TmPlan *plan, TmAtom *a, TmEvidence *e, uint8 flag,
							  StringInfo buf);
extern void tm_deparse_phrases(StringInfo buf, List *phrases);
extern void tm_notes_choose_index(TmPlan *plan, int srcidx);
extern void tm_notes_read_indexed(TmPlan *plan);
extern List *tm_notes_load_triggers(MemoryContext cxt);

/* negex.c */
typedef struct TmNegex TmNegex;
extern TmNegex *tm_negex_compile(List *triggers);
extern TmNoteClass tm_negex_classify(const TmNegex *nx, TmNoteText *t,
									 int mstart, int mend, int *tstart, int *tend);
extern const char *tm_note_class_name(TmNoteClass c);

#endif							/* TRIALMATCH_NOTES_H */
