/* authres: read Authentication-Results fields; decide whether a trusted server vouches.
 *
 * Design rationale: the parser is a small lexer over (pointer, end) that skips CFWS and
 * reads four kinds of word (keyword, MIME token or quoted string, lenient pvalue, digits),
 * and a grammar on top that follows RFC 8601 §2.2 in order. The authserv-id is read
 * before anything else can fail, so that the decision knows whose field it could not
 * read: a trusted field that is unreadable refuses the reply, any other is ignored.
 * Error messages give byte offsets and never quote the field. */
#include "authres.h"

#include <stdarg.h>
#include <string.h>

G_DEFINE_QUARK(wb-authres-error-quark, wb_authres_error)

#define MAX_VERSION_DIGITS 9
/* RFC 2045 tspecials: they end a MIME token. */
#define TSPECIALS "()<>@,;:\\\"/[]?="

/* ---- the lexer ----------------------------------------------------------------------- */

struct lex {
	const char *start, *p, *end;
	GError **error;
	bool failed;         /* fail() was called: the error is set once */
};

G_GNUC_PRINTF(2, 3)
static bool fail(struct lex *x, const char *fmt, ...)
{
	if (x->failed)
		return false;
	x->failed = true;
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *what = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error(x->error, WB_AUTHRES_ERROR, WB_AUTHRES_BAD, "at byte %zu: %s",
		    (size_t)(x->p - x->start), what);
	return false;
}

static bool at_end(const struct lex *x)
{
	return x->p >= x->end;
}

static bool is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* NUL, C0 controls other than folding white space, and DEL. */
static bool is_ctl(unsigned char c)
{
	return (c < 0x20 && !is_wsp(c)) || c == 0x7f;
}

/* What may follow a backslash: anything but a control character or a line break. */
static bool quotable(unsigned char c)
{
	return !is_ctl(c) && c != '\r' && c != '\n';
}

static bool is_keyword_char(unsigned char c)
{
	return g_ascii_isalnum(c) || c == '-' || c == '_';
}

static bool is_token_char(unsigned char c)
{
	return c > 0x20 && c != 0x7f && !strchr(TSPECIALS, c);
}

static bool is_pvalue_char(unsigned char c)
{
	return c > 0x20 && c != 0x7f && !strchr(";()\"\\", c);
}

/* Folding white space and comments (nested, with quoted-pairs). */
static bool skip_cfws(struct lex *x)
{
	unsigned depth = 0;
	for (; !at_end(x); x->p++) {
		unsigned char c = (unsigned char)*x->p;
		if (c == '(') {
			if (++depth > WB_AUTHRES_MAX_NESTING)
				return fail(x, "comments nested deeper than %u", WB_AUTHRES_MAX_NESTING);
		} else if (is_ctl(c)) {
			return fail(x, "a control character (0x%02x)", c);
		} else if (depth == 0 && !is_wsp(c)) {
			return true;
		} else if (c == ')') {
			depth--;
		} else if (c == '\\') {
			if (x->p + 1 >= x->end)
				break;
			if (!quotable((unsigned char)x->p[1]))
				return fail(x, "a control character after a backslash in a comment");
			x->p++;
		}
	}
	return depth == 0 || fail(x, "a comment that is not closed");
}

/* A run of accepted characters, at most WB_AUTHRES_MAX_WORD bytes; NULL when empty. */
static char *run(struct lex *x, bool (*accept)(unsigned char))
{
	const char *from = x->p;
	while (!at_end(x) && accept((unsigned char)*x->p))
		x->p++;
	size_t n = (size_t)(x->p - from);
	if (n == 0)
		return NULL;
	if (n > WB_AUTHRES_MAX_WORD) {
		x->p = from;
		fail(x, "a word longer than %u bytes", WB_AUTHRES_MAX_WORD);
		return NULL;
	}
	return g_strndup(from, n);
}

/* A name (method, result, ptype, property), lowercase; what names the place. */
static char *keyword(struct lex *x, const char *what)
{
	if (!skip_cfws(x))
		return NULL;
	char *k = run(x, is_keyword_char);
	if (!k)
		fail(x, "expected %s", what);
	if (!k)
		return NULL;
	char *low = g_ascii_strdown(k, -1);
	g_free(k);
	return low;
}

/* A quoted string, without its quotes and quoted-pair backslashes; line breaks inside
 * (folding) are dropped. */
static char *quoted(struct lex *x)
{
	const char *open = x->p++;
	GString *s = g_string_new(NULL);
	for (; !at_end(x); x->p++) {
		unsigned char c = (unsigned char)*x->p;
		if (c == '"') {
			x->p++;
			return g_string_free(s, FALSE);
		}
		if (is_ctl(c)) {
			fail(x, "a control character (0x%02x) in a quoted string", c);
			break;
		}
		if (c == '\\' && x->p + 1 < x->end) {
			if (!quotable((unsigned char)x->p[1])) {
				fail(x, "a control character after a backslash in a quoted string");
				break;
			}
			c = (unsigned char)*++x->p;
		} else if (c == '\r' || c == '\n') {
			continue;
		}
		if (s->len >= WB_AUTHRES_MAX_WORD) {
			fail(x, "a quoted string longer than %u bytes", WB_AUTHRES_MAX_WORD);
			break;
		}
		g_string_append_c(s, (char)c);
	}
	if (at_end(x)) {
		x->p = open;
		fail(x, "a quoted string that is not closed");
	}
	g_string_free(s, TRUE);
	return NULL;
}

/* RFC 8601 value: a MIME token or a quoted string. */
static char *value(struct lex *x, const char *what)
{
	if (!skip_cfws(x))
		return NULL;
	if (!at_end(x) && *x->p == '"')
		return quoted(x);
	char *v = run(x, is_token_char);
	if (!v)
		fail(x, "expected %s", what);
	return v;
}

/* RFC 8601 pvalue: a value, or [local-part] "@" domain; read as a quoted string
 * (optionally followed by "@domain") or as a run of anything but CFWS, ';' and quotes. */
static char *pvalue(struct lex *x)
{
	if (!skip_cfws(x))
		return NULL;
	g_autofree char *head = NULL;
	if (!at_end(x) && *x->p == '"') {
		head = quoted(x);
		if (!head)
			return NULL;
		if (at_end(x) || *x->p != '@')
			return g_steal_pointer(&head);
	}
	g_autofree char *tail = run(x, is_pvalue_char);
	if (!tail) {
		fail(x, "expected a property value");
		return NULL;
	}
	return g_strconcat(head ? head : "", tail, NULL);
}

/* Expect one character (after CFWS). */
static bool punct(struct lex *x, char c)
{
	if (!skip_cfws(x))
		return false;
	if (at_end(x) || *x->p != c)
		return fail(x, "expected '%c'", c);
	x->p++;
	return true;
}

/* Optional version digits; *out keeps its value when there are none. */
static bool digits(struct lex *x, unsigned *out)
{
	const char *from = x->p;
	unsigned v = 0;
	while (!at_end(x) && g_ascii_isdigit(*x->p)) {
		if (x->p - from >= MAX_VERSION_DIGITS)
			return fail(x, "a version number longer than %d digits", MAX_VERSION_DIGITS);
		v = v * 10 + (unsigned)(*x->p++ - '0');
	}
	if (x->p > from)
		*out = v;
	return true;
}

/* ---- the grammar --------------------------------------------------------------------- */

static void result_free(gpointer p)
{
	struct wb_authres_result *r = p;
	g_free(r->method);
	g_free(r->result);
	g_free(r->reason);
	for (unsigned i = 0; i < r->n_props; i++) {
		g_free(r->props[i].ptype);
		g_free(r->props[i].property);
		g_free(r->props[i].value);
	}
	g_free(r);
}

void wb_authres_free(struct wb_authres *a)
{
	if (!a)
		return;
	g_free(a->authserv_id);
	g_ptr_array_unref(a->results);
	g_free(a);
}

/* reason=value, or ptype.property=pvalue, after the methodspec. */
static bool propspec(struct lex *x, struct wb_authres_result *r)
{
	g_autofree char *k = keyword(x, "a property (ptype.property=value)");
	if (!k || !skip_cfws(x))
		return false;
	if (strcmp(k, "reason") == 0 && !at_end(x) && *x->p == '=') {
		x->p++;
		char *v = value(x, "the reason");
		if (!v)
			return false;
		if (r->reason)
			g_free(v); /* the first one stands */
		else
			r->reason = v;
		return true;
	}
	if (r->n_props >= WB_AUTHRES_MAX_PROPS)
		return fail(x, "more than %u properties in one result", WB_AUTHRES_MAX_PROPS);
	g_autofree char *property = NULL;
	g_autofree char *v = NULL;
	if (!punct(x, '.') || !(property = keyword(x, "a property name after the '.'")) ||
	    !punct(x, '=') || !(v = pvalue(x)))
		return false;
	r->props[r->n_props++] = (struct wb_authres_prop){ .ptype = g_steal_pointer(&k),
		.property = g_steal_pointer(&property), .value = g_steal_pointer(&v) };
	return true;
}

/* One resinfo after its ';': methodspec, then reason and properties up to ';' or the end. */
static bool resinfo(struct lex *x, struct wb_authres *a, char *method)
{
	if (a->results->len >= WB_AUTHRES_MAX_RESULTS) {
		g_free(method);
		return fail(x, "more than %u results in one field", WB_AUTHRES_MAX_RESULTS);
	}
	struct wb_authres_result *r = g_new0(struct wb_authres_result, 1);
	r->method = method;
	g_ptr_array_add(a->results, r);
	unsigned version = 0;
	if (!skip_cfws(x))
		return false;
	if (!at_end(x) && *x->p == '/') {
		x->p++;
		if (!skip_cfws(x) || !digits(x, &version))
			return false;
	}
	if (!punct(x, '=') || !(r->result = keyword(x, "a result after the '='")))
		return false;
	for (;;) {
		if (!skip_cfws(x))
			return false;
		if (at_end(x) || *x->p == ';')
			return true;
		if (!propspec(x, r))
			return false;
	}
}

/* Everything after the authserv-id. */
static bool results(struct lex *x, struct wb_authres *a)
{
	const char *id_end = x->p;
	if (!skip_cfws(x))
		return false;
	if (x->p > id_end && !digits(x, &a->version))
		return false;
	if (at_end(x))
		return fail(x, "no result: neither \"none\" nor method=result follows the "
			    "authserv-id");
	while (!at_end(x)) {
		if (!punct(x, ';') || !skip_cfws(x))
			return false;
		if (at_end(x))
			break; /* a trailing ';' */
		char *method = keyword(x, "a method name");
		if (!method)
			return false;
		if (!skip_cfws(x)) {
			g_free(method);
			return false;
		}
		if (strcmp(method, "none") == 0 && a->results->len == 0 && at_end(x)) {
			g_free(method);
			return true;
		}
		if (!resinfo(x, a, method))
			return false;
	}
	return a->results->len > 0 || fail(x, "no result after the authserv-id");
}

/* Parse into a (allocated by the caller); a->authserv_id is set whenever it could be
 * read, even when the rest fails. */
static bool parse_into(const char *field, size_t len, struct wb_authres *a, GError **error)
{
	a->version = 1;
	a->results = g_ptr_array_new_with_free_func(result_free);
	if (!field)
		return false;
	struct lex x = { .start = field, .p = field, .end = field + MIN(len, WB_AUTHRES_MAX_BYTES),
			 .error = error };
	if (!(a->authserv_id = value(&x, "the authserv-id")))
		return false;
	if (!*a->authserv_id) /* "": names no server, so no server stands behind it */
		return fail(&x, "an empty authserv-id");
	if (len > WB_AUTHRES_MAX_BYTES)
		return fail(&x, "the field is longer than %u bytes", WB_AUTHRES_MAX_BYTES);
	const char *bad = NULL;
	if (!g_utf8_validate(field, (gssize)len, &bad)) {
		x.p = bad;
		return fail(&x, *bad ? "not valid UTF-8" : "a NUL byte");
	}
	return results(&x, a);
}

struct wb_authres *wb_authres_parse(const char *field, size_t len, GError **error)
{
	GError *e = NULL;
	struct wb_authres *a = g_new0(struct wb_authres, 1);
	if (parse_into(field, len, a, &e))
		return a;
	if (!e)
		e = g_error_new(WB_AUTHRES_ERROR, WB_AUTHRES_BAD, "no field");
	g_propagate_error(error, e);
	wb_authres_free(a);
	return NULL;
}

const char *wb_authres_prop(const struct wb_authres_result *r, const char *ptype,
			    const char *property)
{
	for (unsigned i = 0; i < r->n_props; i++)
		if (strcmp(r->props[i].ptype, ptype) == 0 &&
		    strcmp(r->props[i].property, property) == 0)
			return r->props[i].value;
	return NULL;
}

/* ---- the decision -------------------------------------------------------------------- */

enum about { NOT_ABOUT, FOR, AGAINST };

/* The domain of "domain", "@domain" or "local@domain"; NULL for "local@". */
static const char *domain_of(const char *v)
{
	const char *at = v ? strrchr(v, '@') : NULL;
	if (!at)
		return v && *v ? v : NULL;
	return at[1] ? at + 1 : NULL;
}

/* What one trusted result says about domain. */
static enum about judge(const struct wb_authres_result *r, const char *domain)
{
	bool pass = strcmp(r->result, "pass") == 0;
	const char *d = NULL;
	if (strcmp(r->method, "dmarc") == 0) {
		d = domain_of(wb_authres_prop(r, "header", "from"));
		if (!d)
			return pass ? NOT_ABOUT : AGAINST;
	} else if (strcmp(r->method, "dkim") == 0) {
		d = domain_of(wb_authres_prop(r, "header", "d"));
		if (!d) {
			const char *i = wb_authres_prop(r, "header", "i");
			d = i && strchr(i, '@') ? domain_of(i) : NULL;
		}
	}
	if (!d || g_ascii_strcasecmp(d, domain) != 0)
		return NOT_ABOUT;
	return pass ? FOR : AGAINST;
}

/* The configured id that id matches, or NULL. */
static const char *trusted_id(const char *const *trusted, const char *id)
{
	for (size_t i = 0; id && trusted[i]; i++)
		if (g_ascii_strcasecmp(trusted[i], id) == 0)
			return trusted[i];
	return NULL;
}

static enum wb_authres_verdict say(char **why, enum wb_authres_verdict v, char *line)
{
	if (why)
		*why = line;
	else
		g_free(line);
	return v;
}

enum wb_authres_verdict wb_authres_vouch(const char *const *fields, const char *const *trusted,
					 const char *domain, char **why)
{
	if (!trusted || !trusted[0])
		return say(why, WB_AUTHRES_UNPROVEN, g_strdup("no mail server is trusted to "
			   "authenticate replies ([replies] trusted_authserv_id is empty)"));
	if (!domain || !*domain)
		return say(why, WB_AUTHRES_UNPROVEN, g_strdup("the mail has no From: domain"));
	size_t n = fields ? g_strv_length((char **)fields) : 0;
	if (n > WB_AUTHRES_MAX_FIELDS)
		return say(why, WB_AUTHRES_UNREADABLE, g_strdup_printf("the mail has more than %u "
			   "Authentication-Results fields, so none is believed",
			   WB_AUTHRES_MAX_FIELDS));
	g_autofree char *pass = NULL;
	unsigned others = 0;
	for (size_t i = 0; i < n; i++) {
		g_autoptr(GError) e = NULL;
		g_autoptr(wb_authres) a = g_new0(struct wb_authres, 1);
		bool ok = parse_into(fields[i], strlen(fields[i]), a, &e);
		const char *id = trusted_id(trusted, a->authserv_id);
		if (!id) {
			others++;
			continue;
		}
		if (!ok)
			return say(why, WB_AUTHRES_UNREADABLE, g_strdup_printf("an "
				   "Authentication-Results field of trusted %s cannot be read (%s)",
				   id, e ? e->message : "?"));
		for (guint k = 0; k < a->results->len; k++) {
			const struct wb_authres_result *r = a->results->pdata[k];
			enum about says = judge(r, domain);
			if (says == AGAINST)
				return say(why, WB_AUTHRES_REFUTED, g_strdup_printf("trusted %s reports "
					   "%s=%.40s for %s", id, r->method, r->result, domain));
			if (says == FOR && !pass)
				pass = g_strdup_printf("%s=pass for %s from trusted %s", r->method,
						       domain, id);
		}
	}
	if (pass)
		return say(why, WB_AUTHRES_VOUCHED, g_steal_pointer(&pass));
	g_autofree char *ids = g_strjoinv(", ", (char **)trusted);
	return say(why, WB_AUTHRES_UNPROVEN, g_strdup_printf("no Authentication-Results from a "
		   "trusted server (%s) report dmarc=pass or aligned dkim=pass for %s%s", ids,
		   domain, others ? "; fields from other servers are ignored" : ""));
}
