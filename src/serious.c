/* serious: the serious-crime list and its matcher.
 *
 * Design rationale
 *
 * The file. UTF-8, one entry a line. A line whose first non-blank character is # is a
 * comment; blank lines are skipped; spaces around an entry do not count. An entry is a
 * word or a phrase, taken literally (regex characters such as . ( ? + mean themselves).
 * Inside a phrase, a space stands for any run of white space or dashes in the text, so
 * "acid attack" also finds "acid  attack", "acid-attack" and the phrase broken over two
 * lines. A bare entry matches whole words only: "rape" does not fire in "rapeseed",
 * "grape" or "therapist", nor খুন in খুনসুটি. Bengali and Hindi attach case endings and
 * suffixes to the word (খুনের, হত্যার, हत्यारा), so a * at the end of an entry allows any
 * letters after it (হত্যা* finds হত্যাকাণ্ড); a * at the start allows any before it (*পাচার
 * finds নারীপাচার). A * anywhere else is an error, so that a typo cannot silently widen
 * an entry; where a * would be too wide (খুন* would find খুনসুটি), the list names the
 * inflected forms one by one instead.
 *
 * Words. A word character is a letter, a combining mark or a digit (\p{L}, \p{M},
 * \p{N}). Bengali and Devanagari vowel signs, virama, anusvara, chandrabindu and nukta
 * are combining marks, so "रेपो" (repo) and "बम्बई" (Bombay) are one word each, and
 * neither fires on रेप or बम; digits of any script continue a word (gun2, ৩০২).
 * Everything else — spaces, punctuation, the danda । — ends a word.
 *
 * One form for text and entries. Both go through canon(): invalid UTF-8 is repaired
 * (U+FFFD) and only the first WB_SERIOUS_SCAN_BYTES of a text are taken; the invisible
 * characters that live inside words (ZWNJ U+200C, ZWJ U+200D, soft hyphen, word joiner,
 * BOM) are removed, because Bengali keyboards put them in conjunct and ya-phala spellings
 * (র‍্যাব) and anyone can slip one into a word to dodge a list; a zero-width space becomes
 * a space; then NFKC (NFC plus compatibility forms: fullwidth and styled Latin letters,
 * ligatures, no-break spaces) and Unicode case folding. Entries are written in any
 * normalisation and case, and "RAPE", "Rape" and "ｒａｐｅ" all find "rape".
 *
 * Matching. Each entry is compiled once, at load, into its own GRegex (JIT): the escaped
 * words joined by the separator class, with a lookbehind and a lookahead for the word
 * boundaries a * does not lift. A text is put in canonical form once and every regex
 * is run over it once, for its first match: every entry present is reported, nested ones
 * included ("attempt to murder" and "murder"), in order of where they first occur (list
 * order among those at the same place). The patterns are literals without nested
 * quantifiers, so a match is linear in the text; the text is capped; a 4 KiB text against
 * the built-in list takes well under a millisecond or so (tests/unit/test-serious.c
 * prints the figure). One alternation of all entries would be faster but reports only
 * one entry where several overlap, and it meets PCRE2's compiled-size limit with a long
 * list.
 *
 * Checking. Every line is checked and every bad one named as FILE:LINE (up to
 * WB_SERIOUS_MAX_PROBLEMS): not UTF-8, a control character, too long, a misplaced *,
 * nothing left to match, no letter or digit, more than WB_SERIOUS_MAX_ENTRIES entries.
 * Entries equal after canon() count once. */
#include "serious.h"
#include "caps.h"

#include <gio/gio.h>
#include <stdbool.h>
#include <string.h>

#define BUILTIN_RESOURCE "/org/wabridge/templates/serious-keywords.txt"
#define BUILTIN_LABEL "built-in serious-keywords.txt"

#define WORD_CLASS "[\\p{L}\\p{M}\\p{N}]"
#define NOT_AFTER_WORD "(?<!" WORD_CLASS ")"
#define NOT_BEFORE_WORD "(?!" WORD_CLASS ")"
#define SEPARATOR "[\\s\\p{Z}\\p{Pd}]++"

struct entry {
	char *written;         /* the entry as written in the list, trimmed */
	GRegex *re;
};

struct wb_serious {
	struct entry *entries;
	unsigned n;
};

/* ---- the canonical form ----------------------------------------------------------------- */

/* Invisible characters that occur inside words: dropped. */
static bool is_inword_invisible(gunichar c)
{
	return c == 0x200C || c == 0x200D || c == 0x00AD || c == 0x2060 || c == 0xFEFF;
}

/* Valid UTF-8, without in-word invisibles, NFKC, case-folded. len < 0: NUL-terminated. */
static char *canon(const char *s, gssize len)
{
	g_autofree char *valid = g_utf8_make_valid(s, len);
	GString *kept = g_string_sized_new(strlen(valid) + 1);
	for (const char *p = valid; *p != '\0'; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		if (is_inword_invisible(c))
			continue;
		g_string_append_unichar(kept, c == 0x200B ? ' ' : c);
	}
	g_autofree char *nfkc = g_utf8_normalize(kept->str, (gssize)kept->len, G_NORMALIZE_NFKC);
	g_string_free(kept, TRUE);
	g_autofree char *folded = g_utf8_casefold(nfkc, -1);
	/* folding can undo the normal form in rare cases; normalise once more */
	return g_utf8_normalize(folded, -1, G_NORMALIZE_NFKC);
}

static bool is_word_char(gunichar c)
{
	return g_unichar_isalpha(c) || g_unichar_ismark(c) || g_unichar_isdigit(c) ||
	       g_unichar_type(c) == G_UNICODE_LETTER_NUMBER ||
	       g_unichar_type(c) == G_UNICODE_OTHER_NUMBER;
}

/* ---- one entry -------------------------------------------------------------------------- */

/* Trim Unicode white space at both ends, in place; returns the start. */
static char *trim(char *s)
{
	while (*s != '\0' && g_unichar_isspace(g_utf8_get_char(s)))
		s = g_utf8_next_char(s);
	char *end = s + strlen(s);
	while (end > s) {
		char *prev = g_utf8_prev_char(end);
		if (!g_unichar_isspace(g_utf8_get_char(prev)))
			break;
		end = prev;
	}
	*end = '\0';
	return s;
}

/* The regex source of a canonical core: its words, escaped, joined by SEPARATOR. */
static char *pattern_of(const char *core, bool lead_star, bool trail_star)
{
	GString *re = g_string_new(lead_star ? "" : NOT_AFTER_WORD);
	g_auto(GStrv) words = g_regex_split_simple("[\\s\\p{Z}]+", core, 0, 0);
	bool first = true;
	for (size_t i = 0; words[i] != NULL; i++) {
		if (words[i][0] == '\0')
			continue;
		if (!first)
			g_string_append(re, SEPARATOR);
		g_autofree char *esc = g_regex_escape_string(words[i], -1);
		g_string_append(re, esc);
		first = false;
	}
	if (!trail_star)
		g_string_append(re, NOT_BEFORE_WORD);
	return g_string_free(re, FALSE);
}

/* Checks one trimmed, non-comment line and makes its pattern; NULL with why set. */
static char *entry_pattern(const char *line, GString *why)
{
	size_t len = strlen(line);
	if (len > WB_SERIOUS_MAX_ENTRY_BYTES) {
		g_string_printf(why, "entry longer than %u bytes", WB_SERIOUS_MAX_ENTRY_BYTES);
		return NULL;
	}
	for (const char *p = line; *p != '\0'; p = g_utf8_next_char(p))
		if (g_unichar_iscntrl(g_utf8_get_char(p)) && *p != '\t') {
			g_string_assign(why, "control character in the entry");
			return NULL;
		}
	bool lead = line[0] == '*', trail = len > 1 && line[len - 1] == '*';
	g_autofree char *core = g_strndup(line + lead, len - lead - trail);
	if (strchr(core, '*') != NULL) {
		g_string_assign(why, "a * may only begin or end an entry");
		return NULL;
	}
	if (core[0] == '\0' || trim(core) != core || strlen(core) != len - lead - trail) {
		g_string_assign(why, core[0] == '\0' ? "empty entry"
				: "a * must touch the word it extends (no space between)");
		return NULL;
	}
	g_autofree char *c = canon(core, -1);
	bool has_word = false;
	for (const char *p = c; *p != '\0' && !has_word; p = g_utf8_next_char(p))
		has_word = is_word_char(g_utf8_get_char(p));
	if (!has_word) {
		g_string_assign(why, c[0] == '\0' ? "empty entry once invisible characters are removed"
				: "entry has no letter or digit");
		return NULL;
	}
	return pattern_of(c, lead, trail);
}

/* ---- the list --------------------------------------------------------------------------- */

struct loading {
	const char *label;
	GArray *entries;       /* of struct entry */
	GHashTable *patterns;  /* sources already compiled */
	GString *problems;     /* "FILE:LINE: why; ..." */
	unsigned nproblems;
};

static void line_problem(struct loading *l, unsigned lineno, const char *why)
{
	if (l->nproblems++ >= WB_SERIOUS_MAX_PROBLEMS)
		return;
	if (l->problems->len > 0)
		g_string_append(l->problems, "; ");
	g_string_append_printf(l->problems, "%s:%u: %s", l->label, lineno, why);
}

static void take_line(struct loading *l, char *raw, size_t rawlen, unsigned lineno)
{
	if (rawlen > 0 && raw[rawlen - 1] == '\r')
		raw[--rawlen] = '\0';
	if (memchr(raw, '\0', rawlen) != NULL || !g_utf8_validate(raw, (gssize)rawlen, NULL)) {
		line_problem(l, lineno, "not valid UTF-8 text");
		return;
	}
	char *line = trim(raw);
	if (line[0] == '\0' || line[0] == '#')
		return;
	g_autoptr(GString) why = g_string_new(NULL);
	char *src = entry_pattern(line, why);
	if (src == NULL) {
		line_problem(l, lineno, why->str);
		return;
	}
	if (g_hash_table_contains(l->patterns, src)) {
		g_free(src);
		return;
	}
	if (l->entries->len >= WB_SERIOUS_MAX_ENTRIES) {
		g_autofree char *w = g_strdup_printf("more than %u entries", WB_SERIOUS_MAX_ENTRIES);
		line_problem(l, lineno, w);
		g_free(src);
		return;
	}
	GError *err = NULL;
	GRegex *re = g_regex_new(src, G_REGEX_OPTIMIZE, 0, &err);
	if (re == NULL) { /* an escaped literal always compiles; say so if one does not */
		g_autofree char *w = g_strdup_printf("entry cannot be compiled: %s", err->message);
		line_problem(l, lineno, w);
		g_error_free(err);
		g_free(src);
		return;
	}
	g_hash_table_add(l->patterns, src);
	struct entry e = { .written = g_strdup(line), .re = re };
	g_array_append_val(l->entries, e);
}

static void parse(struct loading *l, char *text, size_t len)
{
	unsigned lineno = 1;
	char *p = text, *end = text + len;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *stop = nl ? nl : end;
		*stop = '\0';
		take_line(l, p, (size_t)(stop - p), lineno++);
		p = stop + 1;
	}
}

static char *read_list(const char *path, size_t *len, GError **error)
{
	if (path == NULL) {
		GBytes *b = g_resources_lookup_data(BUILTIN_RESOURCE, G_RESOURCE_LOOKUP_FLAGS_NONE,
						    error);
		if (b == NULL)
			return NULL;
		gsize n;
		const char *data = g_bytes_get_data(b, &n);
		char *text = g_strndup(data, n);
		*len = n;
		g_bytes_unref(b);
		return text;
	}
	g_autoptr(GMappedFile) f = g_mapped_file_new(path, FALSE, error);
	if (f == NULL)
		return NULL;
	*len = g_mapped_file_get_length(f);
	if (*len > WB_SERIOUS_MAX_FILE_BYTES) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
			    "%s: larger than %u bytes", path, WB_SERIOUS_MAX_FILE_BYTES);
		return NULL;
	}
	/* a copy: parse() writes into it, and a NUL byte inside a line stays visible */
	char *text = g_malloc(*len + 1);
	if (*len > 0)
		memcpy(text, g_mapped_file_get_contents(f), *len);
	text[*len] = '\0';
	return text;
}

static void entry_clear(struct entry *e)
{
	g_free(e->written);
	if (e->re != NULL)
		g_regex_unref(e->re);
}

struct wb_serious *wb_serious_load(const char *path, GError **error)
{
	size_t len = 0;
	g_autofree char *text = read_list(path, &len, error);
	if (text == NULL)
		return NULL;
	struct loading l = {
		.label = path ? path : BUILTIN_LABEL,
		.entries = g_array_new(FALSE, FALSE, sizeof(struct entry)),
		.patterns = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
		.problems = g_string_new(NULL),
	};
	parse(&l, text, len);
	g_hash_table_destroy(l.patterns);
	if (l.nproblems > 0) {
		if (l.nproblems > WB_SERIOUS_MAX_PROBLEMS)
			g_string_append_printf(l.problems, "; and %u more",
					       l.nproblems - WB_SERIOUS_MAX_PROBLEMS);
		g_set_error_literal(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, l.problems->str);
		g_string_free(l.problems, TRUE);
		for (guint i = 0; i < l.entries->len; i++)
			entry_clear(&g_array_index(l.entries, struct entry, i));
		g_array_free(l.entries, TRUE);
		return NULL;
	}
	g_string_free(l.problems, TRUE);
	struct wb_serious *s = g_new0(struct wb_serious, 1);
	s->n = l.entries->len;
	s->entries = (struct entry *)(void *)g_array_free(l.entries, FALSE);
	return s;
}

void wb_serious_free(struct wb_serious *s)
{
	if (s == NULL)
		return;
	for (unsigned i = 0; i < s->n; i++)
		entry_clear(&s->entries[i]);
	g_free(s->entries);
	g_free(s);
}

unsigned wb_serious_count(const struct wb_serious *s)
{
	return s ? s->n : 0;
}

/* ---- matching --------------------------------------------------------------------------- */

struct hit {
	gint start;
	unsigned entry;
};

static gint hit_cmp(gconstpointer a, gconstpointer b)
{
	const struct hit *x = a, *y = b;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->entry < y->entry ? -1 : x->entry > y->entry;
}

char **wb_serious_match(const struct wb_serious *s, const char *text)
{
	if (s == NULL || text == NULL || s->n == 0)
		return NULL;
	g_autofree char *t = canon(text, (gssize)strnlen(text, WB_SERIOUS_SCAN_BYTES));
	g_autoptr(GArray) hits = g_array_new(FALSE, FALSE, sizeof(struct hit));
	for (unsigned i = 0; i < s->n; i++) {
		GMatchInfo *mi = NULL;
		if (g_regex_match(s->entries[i].re, t, 0, &mi)) {
			struct hit h = { .entry = i };
			g_match_info_fetch_pos(mi, 0, &h.start, NULL);
			g_array_append_val(hits, h);
		}
		g_match_info_free(mi);
	}
	if (hits->len == 0)
		return NULL;
	g_array_sort(hits, hit_cmp);
	char **out = g_new0(char *, hits->len + 1);
	for (guint i = 0; i < hits->len; i++)
		out[i] = g_strdup(s->entries[g_array_index(hits, struct hit, i).entry].written);
	return out;
}
