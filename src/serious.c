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
 * Matching. Each entry is compiled once, at load, into its own GRegex: the escaped words
 * joined by the separator class, with a lookbehind and a lookahead for the word
 * boundaries a * does not lift. Every entry present in a text is reported, nested ones
 * included ("attempt to murder" and "murder"), in order of where they first occur (list
 * order among those at the same place). Running some 600 regexes over every text would
 * be slow without PCRE2's JIT, and valgrind cannot follow JIT code; so each entry also
 * has a key, its longest run of word characters, which the text must hold as a whole
 * word (or, where a * opens that side, as the start, end or part of a word). A text is
 * put in canonical form once and cut into its distinct words (a hash set, and sorted
 * arrays of the words and of the words reversed, for prefixes and suffixes); only the
 * entries whose key is there run their regex. The key is a necessary condition, so it
 * changes no result, only the time: a 4 KiB text against the built-in list takes about
 * half a millisecond, most of it Unicode normalisation (test-serious prints the figure).
 * The patterns are literals without nested quantifiers, so a match is linear in the
 * text, and the text is capped. One alternation of all entries would report only one
 * entry where several overlap, and meets PCRE2's compiled-size limit with a long list.
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

/* What a text's words must hold for an entry to be possible at all: its longest run of
 * word characters (the key) as a whole word, or as the start, the end or any part of a
 * word where a * or the entry's own edge leaves that side open. */
enum key_kind { KEY_WORD, KEY_PREFIX, KEY_SUFFIX, KEY_INSIDE };

struct entry {
	char *written;         /* the entry as written in the list, trimmed */
	GRegex *re;
	char *key;             /* canonical; reversed for KEY_SUFFIX */
	enum key_kind kind;
};

struct wb_serious {
	gatomicrefcount ref;   /* the built-in list is shared, see wb_serious_load() */
	struct entry *entries;
	unsigned n;
};

/* ---- the canonical form ----------------------------------------------------------------- */

/* The UTF-8 of the invisible characters that occur inside words, dropped: ZWNJ, ZWJ,
 * soft hyphen, word joiner, BOM; and of the zero-width space, made a space. */
static size_t invisible_at(const char *p, bool *is_space)
{
	static const char *const inword[] = {
		"\u200C", "\u200D", "\u00AD", "\u2060", "\uFEFF",
	};
	*is_space = strncmp(p, "\u200B", 3) == 0;
	if (*is_space)
		return 3;
	for (size_t i = 0; i < G_N_ELEMENTS(inword); i++)
		if (strncmp(p, inword[i], strlen(inword[i])) == 0)
			return strlen(inword[i]);
	return 0;
}

/* Valid UTF-8, without in-word invisibles, NFKC, case-folded. len < 0: NUL-terminated.
 * Folding after NFKC also folds what NFKC makes of styled capitals (𝐑 becomes R). */
static char *canon(const char *s, gssize len)
{
	g_autofree char *valid = g_utf8_make_valid(s, len);
	char *w = valid;
	for (const char *p = valid; *p != '\0';) {
		bool is_space;
		size_t skip = (guchar)*p >= 0xC2 ? invisible_at(p, &is_space) : 0;
		if (skip == 0) {
			*w++ = *p++;
			continue;
		}
		if (is_space)
			*w++ = ' ';
		p += skip;
	}
	*w = '\0';
	g_autofree char *nfkc = g_utf8_normalize(valid, -1, G_NORMALIZE_NFKC);
	return g_utf8_casefold(nfkc, -1);
}

static bool is_word_char(gunichar c)
{
	return g_unichar_isalpha(c) || g_unichar_ismark(c) || g_unichar_isdigit(c) ||
	       g_unichar_type(c) == G_UNICODE_LETTER_NUMBER ||
	       g_unichar_type(c) == G_UNICODE_OTHER_NUMBER;
}

static char *reversed(const char *s, size_t len)
{
	char *r = g_malloc(len + 1);
	for (size_t i = 0; i < len; i++)
		r[i] = s[len - 1 - i];
	r[len] = '\0';
	return r;
}

/* ---- one entry -------------------------------------------------------------------------- */

/* The key of a canonical core: its longest run of word characters, and which of its
 * sides a * leaves open. */
static void set_key(struct entry *e, const char *core, bool lead_star, bool trail_star)
{
	size_t best_at = 0, best_len = 0, len = strlen(core);
	const char *run = NULL;
	for (const char *p = core;; p = g_utf8_next_char(p)) {
		bool word = *p != '\0' && is_word_char(g_utf8_get_char(p));
		if (word && run == NULL)
			run = p;
		if (!word && run != NULL) {
			if ((size_t)(p - run) > best_len) {
				best_at = (size_t)(run - core);
				best_len = (size_t)(p - run);
			}
			run = NULL;
		}
		if (*p == '\0')
			break;
	}
	bool open_left = lead_star && best_at == 0;
	bool open_right = trail_star && best_at + best_len == len;
	e->kind = open_left ? (open_right ? KEY_INSIDE : KEY_SUFFIX)
			    : (open_right ? KEY_PREFIX : KEY_WORD);
	e->key = e->kind == KEY_SUFFIX ? reversed(core + best_at, best_len)
				       : g_strndup(core + best_at, best_len);
}

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

/* Checks one trimmed, non-comment line and makes its pattern and key; NULL with why
 * set. */
static char *entry_pattern(const char *line, struct entry *e, GString *why)
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
	set_key(e, c, lead, trail);
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
	struct entry e = { 0 };
	char *src = entry_pattern(line, &e, why);
	if (src == NULL) {
		line_problem(l, lineno, why->str);
		return;
	}
	if (g_hash_table_contains(l->patterns, src)) {
		g_free(e.key);
		g_free(src);
		return;
	}
	if (l->entries->len >= WB_SERIOUS_MAX_ENTRIES) {
		g_autofree char *w = g_strdup_printf("more than %u entries", WB_SERIOUS_MAX_ENTRIES);
		line_problem(l, lineno, w);
		g_free(e.key);
		g_free(src);
		return;
	}
	/* No G_REGEX_OPTIMIZE: the keys leave few regexes to run, and valgrind cannot
	 * follow PCRE2's JIT code. */
	GError *err = NULL;
	e.re = g_regex_new(src, 0, 0, &err);
	if (e.re == NULL) { /* an escaped literal always compiles; say so if one does not */
		g_autofree char *w = g_strdup_printf("entry cannot be compiled: %s", err->message);
		line_problem(l, lineno, w);
		g_error_free(err);
		g_free(e.key);
		g_free(src);
		return;
	}
	g_hash_table_add(l->patterns, src);
	e.written = g_strdup(line);
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
	g_free(e->key);
	if (e->re != NULL)
		g_regex_unref(e->re);
}

static struct wb_serious *load_list(const char *path, GError **error)
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
	g_atomic_ref_count_init(&s->ref);
	s->n = l.entries->len;
	s->entries = (struct entry *)(void *)g_array_free(l.entries, FALSE);
	return s;
}

/* The built-in list never changes while the process runs: it is compiled once and each
 * load takes a reference to it, so that a reload or a check costs nothing. */
struct wb_serious *wb_serious_load(const char *path, GError **error)
{
	static GMutex lock;
	static struct wb_serious *builtin; /* holds one reference for the process */
	if (path != NULL)
		return load_list(path, error);
	g_mutex_lock(&lock);
	if (builtin == NULL)
		builtin = load_list(NULL, error);
	if (builtin != NULL)
		g_atomic_ref_count_inc(&builtin->ref);
	g_mutex_unlock(&lock);
	return builtin;
}

void wb_serious_free(struct wb_serious *s)
{
	if (s == NULL || !g_atomic_ref_count_dec(&s->ref))
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

/* The distinct words of a canonical text, for the keys: a set, and sorted arrays of the
 * words and of the words reversed, for prefixes and suffixes. */
struct words {
	GHashTable *set;       /* owns the words */
	GPtrArray *sorted;
	GPtrArray *rsorted;    /* owns the reversed words */
};

static gint str_cmp(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void words_init(struct words *w, const char *t)
{
	w->set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	const char *run = NULL;
	for (const char *p = t;; p = g_utf8_next_char(p)) {
		bool word = *p != '\0' && is_word_char(g_utf8_get_char(p));
		if (word && run == NULL)
			run = p;
		if (!word && run != NULL) {
			g_hash_table_add(w->set, g_strndup(run, (size_t)(p - run)));
			run = NULL;
		}
		if (*p == '\0')
			break;
	}
	guint n = g_hash_table_size(w->set);
	w->sorted = g_ptr_array_sized_new(n);
	w->rsorted = g_ptr_array_new_full(n, g_free);
	GHashTableIter it;
	gpointer k;
	g_hash_table_iter_init(&it, w->set);
	while (g_hash_table_iter_next(&it, &k, NULL)) {
		g_ptr_array_add(w->sorted, k);
		g_ptr_array_add(w->rsorted, reversed(k, strlen(k)));
	}
	g_ptr_array_sort(w->sorted, str_cmp);
	g_ptr_array_sort(w->rsorted, str_cmp);
}

static void words_clear(struct words *w)
{
	g_ptr_array_unref(w->sorted);
	g_ptr_array_unref(w->rsorted);
	g_hash_table_destroy(w->set);
}

/* Does a word of the sorted array start with key? */
static bool some_starts_with(const GPtrArray *a, const char *key)
{
	guint lo = 0, hi = a->len;
	while (lo < hi) {
		guint mid = lo + (hi - lo) / 2;
		if (strcmp(a->pdata[mid], key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < a->len && g_str_has_prefix(a->pdata[lo], key);
}

static bool possible(const struct entry *e, const struct words *w, const char *t)
{
	switch (e->kind) {
	case KEY_WORD:
		return g_hash_table_contains(w->set, e->key);
	case KEY_PREFIX:
		return some_starts_with(w->sorted, e->key);
	case KEY_SUFFIX:
		return some_starts_with(w->rsorted, e->key);
	case KEY_INSIDE:
		return strstr(t, e->key) != NULL;
	}
	return true;
}

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
	struct words w;
	words_init(&w, t);
	g_autoptr(GArray) hits = g_array_new(FALSE, FALSE, sizeof(struct hit));
	for (unsigned i = 0; i < s->n; i++) {
		if (!possible(&s->entries[i], &w, t))
			continue;
		GMatchInfo *mi = NULL;
		if (g_regex_match(s->entries[i].re, t, 0, &mi)) {
			struct hit h = { .entry = i };
			g_match_info_fetch_pos(mi, 0, &h.start, NULL);
			g_array_append_val(hits, h);
		}
		g_match_info_free(mi);
	}
	words_clear(&w);
	if (hits->len == 0)
		return NULL;
	g_array_sort(hits, hit_cmp);
	char **out = g_new0(char *, hits->len + 1);
	for (guint i = 0; i < hits->len; i++)
		out[i] = g_strdup(s->entries[g_array_index(hits, struct hit, i).entry].written);
	return out;
}
