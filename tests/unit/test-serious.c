/* test-serious: the serious-crime list and its matcher (src/serious.c).
 *
 * The built-in list is tested as shipped: it fires on phrases in Bengali, Hindi, English
 * and Roman transliteration, and stays quiet on the near misses below. The matcher's rules
 * (word boundaries, *, phrases, normal forms, invisible joiners, the file's errors,
 * hostile text) are tested on small lists written here. */
#include "serious.h"
#include "caps.h"
#include "testlib.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <stdbool.h>
#include <string.h>

static char *scratch; /* temporary directory of the list files */

static char *write_list(const char *name, const char *text, gssize len)
{
	char *path = g_build_filename(scratch, name, NULL);
	g_autoptr(GError) err = NULL;
	g_assert_true(g_file_set_contents(path, text, len, &err));
	g_assert_no_error(err);
	return path;
}

static struct wb_serious *list_of(const char *text)
{
	g_autofree char *path = write_list("list.txt", text, -1);
	g_autoptr(GError) err = NULL;
	struct wb_serious *s = wb_serious_load(path, &err);
	g_assert_no_error(err);
	g_assert_nonnull(s);
	return s;
}

static struct wb_serious *builtin(void)
{
	static struct wb_serious *s;
	if (s == NULL) {
		g_autoptr(GError) err = NULL;
		s = wb_serious_load(NULL, &err);
		g_assert_no_error(err);
	}
	return s;
}

/* The matches as one string, "a|b|c", or "" for none. */
static char *found(const struct wb_serious *s, const char *text)
{
	g_auto(GStrv) m = wb_serious_match(s, text);
	if (m != NULL)
		g_assert_nonnull(m[0]); /* NULL, never an empty array, for none */
	return m ? g_strjoinv("|", m) : g_strdup("");
}

static bool has_entry(char **m, const char *entry)
{
	for (size_t i = 0; m != NULL && m[i] != NULL; i++)
		if (strcmp(m[i], entry) == 0)
			return true;
	return false;
}

/* ---- the built-in list ------------------------------------------------------------------ */

static void test_builtin_loads(void)
{
	g_assert_cmpuint(wb_serious_count(builtin()), >, 400);
	g_assert_cmpuint(wb_serious_count(builtin()), <=, WB_SERIOUS_MAX_ENTRIES);
	/* loaded once, shared, and each load given back on its own */
	struct wb_serious *again = wb_serious_load(NULL, NULL);
	g_assert_true(again == builtin());
	wb_serious_free(again);
	g_autofree char *m = found(builtin(), "murder");
	g_assert_cmpstr(m, ==, "murder*");
}

/* Texts as citizens write them, and one entry each must fire on. */
static const struct { const char *text, *entry; } fires[] = {
	/* English */
	{ "Sir my neighbour was murdered last night.", "murder*" },
	{ "MURDER in our para, please come", "murder*" },
	{ "They raped my sister", "raped" },
	{ "rape", "rape" },
	{ "he tried to molest her in the bus", "molest*" },
	{ "My son was kidnapped from school!", "kidnap*" },
	{ "missing  child near Gariahat", "missing child" },
	{ "Missing\ngirl, 14 years", "missing girl" },
	{ "someone threw acid on her face", "threw acid" },
	{ "acid-attack survivor", "acid attack*" },
	{ "goons with a pistol outside", "pistol*" },
	{ "bomb hurled at the club", "bomb" },
	{ "knife attack at the market", "knife attack" },
	{ "firing near the station", "firing" },
	{ "case under POCSO please", "pocso" },
	{ "this is human trafficking", "human trafficking" },
	{ "dowry death in Behala", "dowry death" },
	{ "they set her on fire", "set her on fire" },
	{ "attempt to murder case", "attempt to murder" },
	{ "he threatened to kill my father", "threatened to kill" },
	{ "domestic violence, she is bleeding", "domestic violence" },
	{ "(gun)", "gun" },
	/* Roman Bengali and Hindi */
	{ "amar dada ke khun koreche", "khun" },
	{ "meye ke dhorshon koreche", "dhorsh*" },
	{ "chhele ke apaharan kore niyeche", "apaharan*" },
	{ "kal raat hatya hui", "hatya*" },
	{ "ladki ke saath balatkar hua", "balatkar*" },
	{ "usko jaan se maarne ki dhamki di", "jaan se maar*" },
	{ "meye nikhoj 2 din", "nikhoj" },
	{ "paray bomabaji hoyeche", "bomabaji" },
	{ "or gaye tezab fekse", "tezab*" },
	{ "bhai ko goli mar di", "goli mar di" },
	{ "bouma ke pudiye mereche", "pudiye mer*" },
	/* Bengali */
	{ "আমার ভাইকে খুন করেছে।", "খুন" },
	{ "খুনের হুমকি দিচ্ছে", "খুনের হুমকি" },
	{ "পাড়ায় একটা হত্যাকাণ্ড ঘটেছে", "হত্যা*" },
	{ "মেয়েটিকে ধর্ষণ করা হয়েছে", "ধর্ষ*" },
	{ "গণধর্ষণের অভিযোগ", "গণধর্ষণ*" },
	{ "শিশুধর্ষণ", "*ধর্ষণ" },
	{ "ছেলেকে অপহরণ করেছে", "অপহরণ*" },
	{ "আমার মেয়ে নিখোঁজ", "নিখোঁজ*" },
	{ "মুখে অ্যাসিড ছুঁড়েছে", "অ্যাসিড" },
	{ "বোমা মেরেছে", "বোমা" },
	{ "গুলি চালিয়েছে দুজন", "গুলি চাল*" },
	{ "বধূ নির্যাতনের মামলা", "বধূ নির্যাতন*" },
	{ "নারীপাচার চক্র", "*পাচার" },
	{ "মেয়েটি নাবালিকা", "নাবালিকা*" },
	{ "শ্লীলতাহানির অভিযোগ", "শ্লীলতাহানি*" },
	/* Hindi */
	{ "मेरे भाई की हत्या कर दी गई", "हत्या*" },
	{ "हत्यारा भाग गया", "हत्या*" },
	{ "लड़की के साथ बलात्कार हुआ।", "बलात्कार*" },
	{ "बच्चे का अपहरण हो गया", "अपहरण*" },
	{ "मेरी बेटी लापता है", "लापता" },
	{ "उस पर तेज़ाब फेंका", "तेज़ाब*" },
	{ "दहेज के लिए जला दिया", "दहेज*" },
	{ "गोली चली", "गोली चल*" },
	{ "बम फेंका गया", "बम" },
	{ "जान से मारने की धमकी", "जान से मार*" },
	{ "पॉक्सो का केस", "पॉक्सो" },
	/* mixed scripts in one message */
	{ "Sir, আমার বোন কে rape করেছে", "rape" },
	{ "please help, बेटी लापता since morning", "लापता" },
};

static void test_builtin_fires(void)
{
	for (size_t i = 0; i < G_N_ELEMENTS(fires); i++) {
		g_auto(GStrv) m = wb_serious_match(builtin(), fires[i].text);
		g_autofree char *all = m ? g_strjoinv("|", m) : g_strdup("(none)");
		g_test_message("%s -> %s", fires[i].text, all);
		if (!has_entry(m, fires[i].entry))
			g_error("fires[%zu] \"%s\" did not fire on %s (found: %s)", i, fires[i].text,
				fires[i].entry, all);
	}
}

/* Near misses: words that hold an entry without being one. */
static const char *const quiet[] = {
	"I bought rapeseed oil and grapes",
	"my therapist says the drapes are nice",
	"scrape, trapeze, parapet",
	"a skilled worker, a painkiller", /* "killer" is an entry; "painkiller" is one word */
	"two gunny bags of rice, begun bhaja", /* begun: Bengali brinjal */
	"acidity problem since Monday",
	"the horse is stable; a pistachio cake",
	"Bombay duck, bombastic speech",
	"murdoch and murmur",
	"Gunjan and Gunther",
	"shotgun wedding? no, a screenshot",
	"the gun2 model",
	"খুনসুটি করছিল ভাইবোন", /* teasing, not খুন */
	"খুন\u200Cসুটি", /* the same, with a ZWNJ inside the word */
	"আত্মহত্যার চেষ্টা", /* হত্যা* needs a word start */
	"দুর্ধর্ষ অভিযান", /* daring: holds ধর্ষ, not at a word start */
	"সব গুলিয়ে গেছে", /* confused, not গুলি (bullet) */
	"রেপো রেট বেড়েছে", /* repo rate: a vowel sign continues the word */
	"रेपो रेट बढ़ा",
	"बमुश्किल पहुँचे", /* hardly: बम + a letter */
	"बम्बई जाना है", /* Bombay: बम + virama */
	"এসিডিটি হয়েছে", "एसिडिटी की दवा", /* acidity */
	"film shooting at Tollygunge, eyelash extension, katla maach",
};

static void test_builtin_quiet(void)
{
	for (size_t i = 0; i < G_N_ELEMENTS(quiet); i++) {
		g_autofree char *all = found(builtin(), quiet[i]);
		g_test_message("%s -> %s", quiet[i], all[0] ? all : "(none)");
		if (all[0] != '\0')
			g_error("near miss \"%s\" fired: %s", quiet[i], all);
	}
}

/* ---- the rules, on small lists ---------------------------------------------------------- */

static void test_words(void)
{
	g_autoptr(wb_serious) s = list_of("rape\nখুন\nबम\ngun\n৩০২ ধারা\n");
	static const struct { const char *text, *want; } cases[] = {
		{ "rape", "rape" },
		{ "Rape!", "rape" },
		{ "\"rape\"", "rape" },
		{ "gang-rape", "rape" },
		{ "rapeseed", "" },
		{ "grape", "" },
		{ "খুন", "খুন" },
		{ "খুন।", "খুন" }, /* the danda ends a word */
		{ "খুনসুটি", "" },
		{ "খুনের", "" }, /* an inflection needs * or its own entry */
		{ "ভাইখুন", "" },
		{ "বম", "" }, /* Bengali letters are not Devanagari ones */
		{ "बम.", "बम" },
		{ "बमबारी", "" },
		{ "बम्बई", "" },
		{ "gun", "gun" },
		{ "gun2", "" },
		{ "2gun", "" },
		{ "gun_2", "gun" }, /* _ is not a letter or digit */
		{ "৩০২ ধারা", "৩০২ ধারা" },
		{ "১৩০২ ধারা", "" }, /* a digit continues a word */
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *got = found(s, cases[i].text);
		g_test_message("%s -> %s", cases[i].text, got);
		g_assert_cmpstr(got, ==, cases[i].want);
	}
}

static void test_star(void)
{
	g_autoptr(wb_serious) s = list_of("হত্যা*\n*পাচার\nkidnap*\n*jack*\nगोली चल*\n");
	static const struct { const char *text, *want; } cases[] = {
		{ "হত্যা", "হত্যা*" },
		{ "হত্যার", "হত্যা*" },
		{ "হত্যাকারী", "হত্যা*" },
		{ "আত্মহত্যা", "" },
		{ "পাচার", "*পাচার" },
		{ "নারীপাচার", "*পাচার" },
		{ "পাচারকারী", "" },
		{ "kidnapped", "kidnap*" },
		{ "KIDNAPPING", "kidnap*" },
		{ "skidnap", "" },
		{ "hijacked", "*jack*" },
		{ "गोली चली", "गोली चल*" },
		{ "गोली चलाई", "गोली चल*" },
		{ "गोली  चली", "गोली चल*" },
		{ "गोलीचली", "" },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *got = found(s, cases[i].text);
		g_test_message("%s -> %s", cases[i].text, got);
		g_assert_cmpstr(got, ==, cases[i].want);
	}
}

static void test_phrases(void)
{
	g_autoptr(wb_serious) s = list_of("missing child\n  acid   attack  \n");
	static const struct { const char *text, *want; } cases[] = {
		{ "missing child", "missing child" },
		{ "Missing\tChild", "missing child" },
		{ "missing\r\n  child", "missing child" },
		{ "missing\u00A0child", "missing child" }, /* no-break space */
		{ "missing\u200Bchild", "missing child" }, /* zero-width space */
		{ "missing-child", "missing child" },
		{ "missing \u2013 child", "missing child" }, /* en dash */
		{ "missing, child", "" },
		{ "missingchild", "" },
		{ "missing children", "" },
		{ "acid attack", "acid   attack" }, /* reported as written, trimmed */
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *got = found(s, cases[i].text);
		g_test_message("%s -> %s", cases[i].text, got);
		g_assert_cmpstr(got, ==, cases[i].want);
	}
}

static void test_normal_forms(void)
{
	/* বোমা with the precomposed vowel sign ো (U+09CB); কাঠগড়া with ড় (U+09DC); क़त्ल with क़
	 * (U+0958): each entry written in one form, the text in the other */
	g_autoptr(wb_serious) s = list_of("\u09AC\u09CB\u09AE\u09BE\n"
					  "\u0995\u09BE\u09A0\u0997\u09A1\u09BC\u09BE\n"
					  "\u0958\u0924\u094D\u0932\n"
					  "caf\u00E9 attack\n"
					  "ধর্ষণ\n"
					  "Rape\n");
	static const struct { const char *text, *want; } cases[] = {
		{ "\u09AC\u09C7\u09BE\u09AE\u09BE", "\u09AC\u09CB\u09AE\u09BE" },      /* NFD */
		{ "\u0995\u09BE\u09A0\u0997\u09DC\u09BE", "\u0995\u09BE\u09A0\u0997\u09A1\u09BC\u09BE" },
		{ "\u0915\u093C\u0924\u094D\u0932", "\u0958\u0924\u094D\u0932" },
		{ "CAFE\u0301 ATTACK", "caf\u00E9 attack" },
		{ "\uFF52\uFF41\uFF50\uFF45 caf\u00E9 attack", "Rape|caf\u00E9 attack" },
		{ "\U0001D411\U0001D400\U0001D40F\U0001D404", "Rape" }, /* mathematical bold */
		{ "ধর্\u200Dষণ", "ধর্ষণ" },  /* ZWJ inside the conjunct */
		{ "ধ\u200Cর্ষণ", "ধর্ষণ" },  /* ZWNJ */
		{ "ধর্ষ\u00ADণ", "ধর্ষণ" },  /* soft hyphen */
		{ "\uFEFFধর্ষণ\u200C", "ধর্ষণ" },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *got = found(s, cases[i].text);
		g_test_message("case %zu -> %s", i, got);
		g_assert_cmpstr(got, ==, cases[i].want);
	}
}

static void test_order_and_once(void)
{
	g_autoptr(wb_serious) s = list_of("# a comment\n\nmurder\ngun\nattempt to murder\n"
					  "Gun\n" /* the same entry again: counted once */
					  "খুন\n");
	g_assert_cmpuint(wb_serious_count(s), ==, 4);
	g_autofree char *a = found(s, "a gun, then খুন, then gun again, murder, খুন");
	g_assert_cmpstr(a, ==, "gun|খুন|murder");
	/* nested entries are both named, the one that starts first first */
	g_autofree char *b = found(s, "an attempt to murder");
	g_assert_cmpstr(b, ==, "attempt to murder|murder");
	g_assert_null(wb_serious_match(s, "nothing here"));
	g_assert_null(wb_serious_match(s, ""));
	g_assert_null(wb_serious_match(s, NULL));
	g_assert_null(wb_serious_match(NULL, "murder"));
}

static void test_literal(void)
{
	g_autoptr(wb_serious) s = list_of("a.b\n(c++)\nu/s 302\n[x]\n$1 ^z\n");
	g_autofree char *a = found(s, "axb (c++) u/s 302 [x] $1 ^z");
	g_assert_cmpstr(a, ==, "(c++)|u/s 302|[x]|$1 ^z");
	g_autofree char *b = found(s, "a.b cc");
	g_assert_cmpstr(b, ==, "a.b");
	g_autofree char *c = found(s, "c++ x");
	g_assert_cmpstr(c, ==, "");
}

static void test_file_format(void)
{
	/* CRLF lines, a comment after spaces, a BOM-free UTF-8 file, an empty file */
	g_autoptr(wb_serious) s = list_of("  # comment\r\nmurder\r\n\r\n\t\r\n");
	g_assert_cmpuint(wb_serious_count(s), ==, 1);
	g_autoptr(wb_serious) empty = list_of("");
	g_assert_cmpuint(wb_serious_count(empty), ==, 0);
	g_assert_null(wb_serious_match(empty, "murder"));
}

static void assert_load_fails(const char *text, gssize len, const char *const *needles)
{
	g_autofree char *path = write_list("bad.txt", text, len);
	g_autoptr(GError) err = NULL;
	g_assert_null(wb_serious_load(path, &err));
	g_assert_nonnull(err);
	g_test_message("%s", err->message);
	for (size_t i = 0; needles[i] != NULL; i++) {
		g_autofree char *want = g_strdup_printf("%s%s", needles[i][0] == ':' ? path : "",
							needles[i]);
		if (strstr(err->message, want) == NULL)
			g_error("\"%s\" not in \"%s\"", want, err->message);
	}
}

static void test_file_errors(void)
{
	assert_load_fails("murder\n# fine\nbad \xff byte\n", -1,
			  (const char *[]){ ":3: not valid UTF-8", NULL });
	assert_load_fails("nul\0byte\n", 9, (const char *[]){ ":1: not valid UTF-8", NULL });
	assert_load_fails("ok\n*\n", -1, (const char *[]){ ":2: empty entry", NULL });
	assert_load_fails("\u200D\u200C\n", -1, (const char *[]){ ":1: empty entry", NULL });
	assert_load_fails("!!!\n", -1, (const char *[]){ ":1: entry has no letter", NULL });
	assert_load_fails("mur*der\n", -1,
			  (const char *[]){ ":1: a * may only begin or end", NULL });
	assert_load_fails("gun *\n* gun\n", -1,
			  (const char *[]){ ":1: a * must touch", ":2: a * must touch", NULL });
	assert_load_fails("a\x01z\n", -1, (const char *[]){ ":1: control character", NULL });
	g_autoptr(GString) longer = g_string_new("ok\n");
	for (unsigned i = 0; i <= WB_SERIOUS_MAX_ENTRY_BYTES; i++)
		g_string_append_c(longer, 'x');
	g_string_append(longer, "\nfine\n");
	assert_load_fails(longer->str, -1, (const char *[]){ ":2: entry longer than", NULL });
	/* every bad line named, not only the first */
	assert_load_fails("a*b\n\n!!!\n", -1,
			  (const char *[]){ ":1: a * may only", "; ", ":3: entry has no letter",
					    NULL });
	g_autoptr(GString) many = g_string_new(NULL);
	for (unsigned i = 0; i <= WB_SERIOUS_MAX_ENTRIES; i++)
		g_string_append_printf(many, "w%u\n", i);
	g_autofree char *line = g_strdup_printf(":%u: more than %u entries",
						WB_SERIOUS_MAX_ENTRIES + 1, WB_SERIOUS_MAX_ENTRIES);
	assert_load_fails(many->str, -1, (const char *[]){ line, NULL });
	g_autoptr(GString) huge = g_string_new(NULL);
	while (huge->len <= WB_SERIOUS_MAX_FILE_BYTES)
		g_string_append(huge, "# padding padding padding padding padding padding\n");
	assert_load_fails(huge->str, -1, (const char *[]){ ": larger than", NULL });

	g_autoptr(GError) err = NULL;
	g_autofree char *missing = g_build_filename(scratch, "no-such-list.txt", NULL);
	g_assert_null(wb_serious_load(missing, &err));
	g_assert_nonnull(err);
	g_assert_nonnull(strstr(err->message, "no-such-list.txt"));
}

static void test_hostile_text(void)
{
	g_autoptr(wb_serious) s = list_of("murder\nখুন\n");
	/* invalid UTF-8: repaired, and a word cut by a bad byte still ends there */
	g_autofree char *a = found(s, "mur\xff" "der \xe0\xa6 murder\xc0");
	g_assert_cmpstr(a, ==, "murder");
	g_autofree char *b = found(s, "\xe0\xa6\x96\xe0\xa7\x81\xe0\xa6\xa8\xff");
	g_assert_cmpstr(b, ==, "খুন");
	g_autofree char *c = found(s, "\xff\xfe\xfd\x80\x80");
	g_assert_cmpstr(c, ==, "");

	/* a huge text: only the first WB_SERIOUS_SCAN_BYTES are looked at */
	g_autoptr(GString) big = g_string_new(NULL);
	while (big->len < WB_SERIOUS_SCAN_BYTES - 20)
		g_string_append_c(big, 'a');
	g_string_append(big, " খুন ");
	while (big->len < 4 * WB_SERIOUS_SCAN_BYTES)
		g_string_append(big, "all quiet here ");
	g_string_append(big, " murder");
	g_autofree char *d = found(s, big->str);
	g_assert_cmpstr(d, ==, "খুন");
	g_autofree char *e = g_strnfill(8 * 1024 * 1024, 'a');
	gint64 t0 = g_get_monotonic_time();
	g_assert_null(wb_serious_match(builtin(), e));
	g_test_message("8 MiB of one letter: %.1f ms", (g_get_monotonic_time() - t0) / 1000.0);
}

/* ---- threads and speed ------------------------------------------------------------------ */

static gpointer match_many(gpointer data)
{
	for (int i = 0; i < 200; i++) {
		size_t k = (size_t)i % G_N_ELEMENTS(fires);
		g_auto(GStrv) m = wb_serious_match(builtin(), fires[k].text);
		if (!has_entry(m, fires[k].entry))
			return GINT_TO_POINTER(1);
	}
	return NULL;
}

static void test_threads(void)
{
	GThread *t[8];
	for (size_t i = 0; i < G_N_ELEMENTS(t); i++)
		t[i] = g_thread_new("match", match_many, NULL);
	for (size_t i = 0; i < G_N_ELEMENTS(t); i++)
		g_assert_null(g_thread_join(t[i]));
}

static void test_speed(void)
{
	static const char *const words[] = {
		"আমার", "পাড়ায়", "গতকাল", "রাতে", "ঝামেলা", "হয়েছে", "मेरे", "घर", "के", "पास",
		"kal", "raat", "jhamela", "hoyeche", "please", "help", "sir", "the", "road", "light",
	};
	g_autoptr(GString) text = g_string_new(NULL);
	for (unsigned i = 0; text->len < 4096; i = i * 7 + 3)
		g_string_append_printf(text, "%s ", words[i % G_N_ELEMENTS(words)]);
	const int rounds = 50;
	gint64 t0 = g_get_monotonic_time();
	for (int i = 0; i < rounds; i++)
		g_assert_null(wb_serious_match(builtin(), text->str));
	double ms = (double)(g_get_monotonic_time() - t0) / 1000.0 / rounds;
	g_test_message("a 4 KiB text against %u entries: %.3f ms", wb_serious_count(builtin()),
		       ms);
	g_assert_cmpfloat(ms, <, 200.0); /* a sanitizer or valgrind build is far slower */

	/* the shipped file compiled afresh; the built-in list is compiled once and shared */
	const char *top = g_getenv("WB_TOP");
	g_autofree char *path = g_build_filename(top ? top : ".", "templates",
						 "serious-keywords.txt", NULL);
	t0 = g_get_monotonic_time();
	g_autoptr(GError) err = NULL;
	struct wb_serious *s = wb_serious_load(path, &err);
	g_assert_no_error(err);
	g_test_message("loading %s: %.1f ms", path,
		       (double)(g_get_monotonic_time() - t0) / 1000.0);
	g_assert_cmpuint(wb_serious_count(s), ==, wb_serious_count(builtin()));
	wb_serious_free(s);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_autoptr(GError) err = NULL;
	scratch = g_dir_make_tmp("wb-test-serious-XXXXXX", &err);
	g_assert_no_error(err);
	g_test_add_func("/serious/builtin/loads", test_builtin_loads);
	g_test_add_func("/serious/builtin/fires", test_builtin_fires);
	g_test_add_func("/serious/builtin/near-misses", test_builtin_quiet);
	g_test_add_func("/serious/words", test_words);
	g_test_add_func("/serious/star", test_star);
	g_test_add_func("/serious/phrases", test_phrases);
	g_test_add_func("/serious/normal-forms", test_normal_forms);
	g_test_add_func("/serious/order-and-once", test_order_and_once);
	g_test_add_func("/serious/literal", test_literal);
	g_test_add_func("/serious/file-format", test_file_format);
	g_test_add_func("/serious/file-errors", test_file_errors);
	g_test_add_func("/serious/hostile-text", test_hostile_text);
	g_test_add_func("/serious/threads", test_threads);
	g_test_add_func("/serious/speed", test_speed);
	int rc = g_test_run();
	wb_serious_free(builtin());
	rm_rf(scratch);
	g_free(scratch);
	return rc;
}
