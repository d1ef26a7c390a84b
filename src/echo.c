/* echo: runs of words a reply shares with texts that are not the officer's.
 *
 * Design rationale: a run is kept as the 64-bit hash of its normalised words, so a set
 * of a complaint's texts costs a few bytes a word whatever their length, and a lookup is
 * one hash per word of the reply. A hash collision could only hold words back (the
 * number still goes), never send any, so it errs on the safe side. */
#include "echo.h"

#include <stdbool.h>

#include <string.h>

struct wb_echo {
	GHashTable *runs; /* of guint64 * */
};

struct word {
	const char *start, *end; /* in the original text */
	guint64 hash;
};

static guint64 mix(guint64 h, guint64 v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdULL;
}

/* The words of text: letters, marks and digits, compared without case. */
static GArray *words_of(const char *text)
{
	GArray *out = g_array_new(FALSE, FALSE, sizeof(struct word));
	if (!text)
		return out;
	g_autofree char *valid = g_utf8_make_valid(text, -1);
	const char *p = valid, *start = NULL;
	guint64 h = 1469598103934665603ULL;
	for (;;) {
		gunichar c = *p ? g_utf8_get_char(p) : 0;
		bool in = c && (g_unichar_isalnum(c) || g_unichar_ismark(c));
		if (in) {
			if (!start) {
				start = p;
				h = 1469598103934665603ULL;
			}
			/* Any script's digit as its value: ১২৩ and 123 are one word. */
			gunichar low = g_unichar_tolower(c);
			int digit = g_unichar_digit_value(c);
			h = mix(h, digit >= 0 ? (guint64)('0' + digit) : (guint64)low);
		} else if (start) {
			struct word w = { start, p, h };
			g_array_append_val(out, w);
			start = NULL;
		}
		if (!c)
			break;
		p = g_utf8_next_char(p);
	}
	/* Positions point into valid, which dies here: keep them relative to text only
	 * when text was valid UTF-8 (the usual case); else the caller quotes valid text. */
	if (strcmp(valid, text) != 0) {
		for (guint i = 0; i < out->len; i++) {
			struct word *w = &g_array_index(out, struct word, i);
			w->start = NULL;
			w->end = NULL;
		}
	} else {
		for (guint i = 0; i < out->len; i++) {
			struct word *w = &g_array_index(out, struct word, i);
			w->start = text + (w->start - valid);
			w->end = text + (w->end - valid);
		}
	}
	return out;
}

static guint64 run_hash(const GArray *words, guint from)
{
	guint64 h = 0x84222325cbf29ce4ULL;
	for (guint i = from; i < from + WB_ECHO_WORDS; i++)
		h = mix(h, g_array_index(words, struct word, i).hash);
	return h;
}

static guint hash64(gconstpointer p)
{
	guint64 v = *(const guint64 *)p;
	return (guint)(v ^ (v >> 32));
}

static gboolean equal64(gconstpointer a, gconstpointer b)
{
	return *(const guint64 *)a == *(const guint64 *)b;
}

struct wb_echo *wb_echo_new(void)
{
	struct wb_echo *e = g_new0(struct wb_echo, 1);
	e->runs = g_hash_table_new_full(hash64, equal64, g_free, NULL);
	return e;
}

void wb_echo_free(struct wb_echo *e)
{
	if (!e)
		return;
	g_hash_table_unref(e->runs);
	g_free(e);
}

void wb_echo_add(struct wb_echo *e, const char *text)
{
	g_autoptr(GArray) words = words_of(text);
	for (guint i = 0; i + WB_ECHO_WORDS <= words->len; i++) {
		guint64 *h = g_new(guint64, 1);
		*h = run_hash(words, i);
		g_hash_table_add(e->runs, h);
	}
}

char *wb_echo_find(const struct wb_echo *e, const char *text)
{
	g_autoptr(GArray) words = words_of(text);
	for (guint i = 0; i + WB_ECHO_WORDS <= words->len; i++) {
		guint64 h = run_hash(words, i);
		if (!g_hash_table_contains(e->runs, &h))
			continue;
		const struct word *a = &g_array_index(words, struct word, i);
		const struct word *z = &g_array_index(words, struct word, i + WB_ECHO_WORDS - 1);
		if (!a->start)
			return g_strdup("(a run of words of the complaint)");
		return g_strndup(a->start, (gsize)(z->end - a->start));
	}
	return NULL;
}
