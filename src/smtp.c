/* smtp: send one mail by SMTP with libcurl (see smtp.h). */
#include <curl/curl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "smtp.h"
#include "tls.h"

G_DEFINE_QUARK(wb-smtp-error-quark, wb_smtp_error)

#define REPLY_MAX    300 /* bytes of a server reply quoted in an error */
#define VERB_MAX     16  /* "end of data" and the longest SMTP verb fit */
#define REFUSED_MAX  2000 /* bytes of refused recipients listed in a log line */

/* What the debug callback saw of the conversation: never AUTH's arguments. */
struct talk {
	char verb[VERB_MAX];   /* the command the next reply answers: "greeting", "MAIL", … */
	int code;              /* the last complete reply's code, 0 before any */
	char reply[REPLY_MAX + 1]; /* its text, cleaned */
	char rcpt[WB_SMTP_ADDR_MAX + 1]; /* the address of the RCPT in flight */
	unsigned rcpts_refused;
	bool quit;             /* QUIT sent: its reply must not hide the failure before it */
	GString *refused;      /* "addr: reply; " for each refused recipient */
};

struct send {
	const char *host;
	unsigned port;
	const struct wb_tls_plan *plan;
	const char *ca_file;   /* NULL: the system CAs */
	bool require_tls;      /* CURLUSESSL_ALL, else TRY */
	bool loopback_only;    /* refuse any address that is not loopback */
	bool refused_remote;   /* and it did */
	const unsigned char *mail;
	size_t len, sent;
	struct talk talk;
	char errbuf[CURL_ERROR_SIZE];
};

/* ---- addresses ------------------------------------------------------------------- */

bool wb_smtp_address_ok(const char *addr)
{
	if (addr == NULL)
		return false;
	size_t n = strlen(addr);
	const char *at = strrchr(addr, '@');

	if (n == 0 || n > WB_SMTP_ADDR_MAX || at == NULL || at == addr || at[1] == '\0')
		return false;
	for (const char *p = addr; *p != '\0'; p++) {
		if (*p <= ' ' || *p >= 0x7f || *p == '<' || *p == '>')
			return false;
	}
	return true;
}

/* ---- the conversation as libcurl shows it ---------------------------------------- */

static const char *const verbs[] = {
	"EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "RSET", "QUIT", "NOOP",
};

/* The verb a command line starts with; NULL for anything else (AUTH's continuation
 * lines, which carry the credentials). */
static const char *known_verb(const char *line, size_t len)
{
	for (size_t i = 0; i < G_N_ELEMENTS(verbs); i++) {
		size_t v = strlen(verbs[i]);
		if (len >= v && g_ascii_strncasecmp(line, verbs[i], v) == 0 &&
		    (len == v || line[v] == ' ' || line[v] == '\r' || line[v] == '\n'))
			return verbs[i];
	}
	return NULL;
}

static void copy_clean(char *dst, size_t cap, const char *src, size_t len)
{
	size_t n = MIN(len, cap - 1);

	for (size_t i = 0; i < n; i++)
		dst[i] = (src[i] < 0x20 || src[i] == 0x7f) ? ' ' : src[i];
	dst[n] = '\0';
	g_strchomp(dst);
}

static void command_sent(struct talk *t, const char *line, size_t len)
{
	const char *verb = known_verb(line, len);

	if (verb == NULL)
		return; /* an AUTH continuation: keep "AUTH", look at nothing */
	if (strcmp(verb, "QUIT") == 0) {
		t->quit = true;
		return;
	}
	g_strlcpy(t->verb, verb, sizeof t->verb);
	t->rcpt[0] = '\0';
	if (strcmp(verb, "RCPT") == 0) {
		const char *lt = memchr(line, '<', len), *gt = memchr(line, '>', len);
		if (lt != NULL && gt != NULL && gt > lt)
			copy_clean(t->rcpt, sizeof t->rcpt, lt + 1, (size_t)(gt - lt - 1));
	}
}

/* One reply line, "NNN-text" (more follow) or "NNN text" (the last). */
static void reply_seen(struct talk *t, const char *line, size_t len)
{
	if (t->quit || len < 3 || !g_ascii_isdigit(line[0]) || !g_ascii_isdigit(line[1]) ||
	    !g_ascii_isdigit(line[2]) || (len > 3 && line[3] == '-'))
		return;
	t->code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	copy_clean(t->reply, sizeof t->reply, line, len);
	if (strcmp(t->verb, "RCPT") == 0 && t->code >= 400) {
		t->rcpts_refused++;
		if (t->refused->len < REFUSED_MAX)
			g_string_append_printf(t->refused, "%s<%s>: %s", t->refused->len ? "; " : "",
					       t->rcpt, t->reply);
	}
	if (strcmp(t->verb, "DATA") == 0 && t->code == 354)
		g_strlcpy(t->verb, "end of data", sizeof t->verb);
}

static int on_debug(CURL *h, curl_infotype type, char *data, size_t len, void *clientp)
{
	struct talk *t = clientp;

	(void)h;
	if (type == CURLINFO_HEADER_OUT)
		command_sent(t, data, len);
	else if (type == CURLINFO_HEADER_IN)
		reply_seen(t, data, len);
	return 0;
}

/* ---- callbacks ------------------------------------------------------------------- */

static size_t on_read(char *buf, size_t size, size_t nitems, void *userp)
{
	struct send *s = userp;
	size_t n = MIN(size * nitems, s->len - s->sent);

	memcpy(buf, s->mail + s->sent, n);
	s->sent += n;
	return n;
}

/* Before each connect: where plain text is allowed only on loopback, no other address
 * is connected to at all. */
static curl_socket_t on_open(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct send *s = clientp;

	(void)purpose;
	if (s->loopback_only && !wb_tls_plain_ok(s->plan, &a->addr)) {
		s->refused_remote = true;
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* ---- errors ---------------------------------------------------------------------- */

static bool fail(GError **error, const struct send *s, enum wb_fail f, const char *fmt, ...)
	G_GNUC_PRINTF(4, 5);

static bool fail(GError **error, const struct send *s, enum wb_fail f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (s != NULL)
		g_set_error(error, WB_SMTP_ERROR, f, "smtp %s:%u: %s", s->host, s->port, msg);
	else
		g_set_error(error, WB_SMTP_ERROR, f, "smtp: %s", msg);
	return false;
}

static bool is_policy(const struct talk *t)
{
	/* 530 (authentication or STARTTLS required) and enhanced codes 5.7.x */
	return t->code == 530 || strncmp(t->reply + 3, " 5.7.", 5) == 0;
}

/* The server refused with a reply: the class by the command it answered. */
static bool server_refused(const struct send *s, GError **error)
{
	const struct talk *t = &s->talk;
	bool before_mail = strcmp(t->verb, "MAIL") != 0 && strcmp(t->verb, "RCPT") != 0 &&
			   strcmp(t->verb, "DATA") != 0 && strcmp(t->verb, "end of data") != 0;

	if (t->code < 500)
		return fail(error, s, WB_FAIL_SOON, "%s: the server answered \"%s\"; trying "
			    "again soon", t->verb, t->reply);
	if (strcmp(t->verb, "AUTH") == 0)
		return fail(error, s, WB_FAIL_LATER, "login refused (\"%s\"); check [smtp] user "
			    "and password_file", t->reply);
	if (before_mail || is_policy(t))
		return fail(error, s, WB_FAIL_LATER, "%s: the server refused (\"%s\"); check "
			    "[smtp] url, user and the server's policy for %s", t->verb, t->reply,
			    strcmp(t->verb, "RCPT") == 0 ? t->rcpt : "this sender");
	if (strcmp(t->verb, "RCPT") == 0)
		return fail(error, s, WB_FAIL_FINAL, "every recipient was refused (%s); fix the "
			    "addresses", s->talk.refused->str);
	return fail(error, s, WB_FAIL_FINAL, "%s: the server refused the mail (\"%s\"); it "
		    "cannot go as it is", t->verb, t->reply);
}

static const struct {
	CURLcode rc;
	enum wb_fail fail;
	const char *what; /* what to do */
} curl_fail[] = {
	{ CURLE_USE_SSL_FAILED, WB_FAIL_LATER, NULL }, /* told by tls.h */
	{ CURLE_PEER_FAILED_VERIFICATION, WB_FAIL_LATER,
	  "set [smtp] ca_file to the CA that signed the server's certificate, or fix the url's "
	  "host name" },
	{ CURLE_SSL_CACERT_BADFILE, WB_FAIL_LATER, "fix [smtp] ca_file" },
	{ CURLE_SSL_CONNECT_ERROR, WB_FAIL_LATER,
	  "check the server's TLS setup and [smtp] ca_file" },
	{ CURLE_SSL_CERTPROBLEM, WB_FAIL_LATER, "check the server's TLS setup" },
	{ CURLE_LOGIN_DENIED, WB_FAIL_LATER, "check [smtp] user and password_file" },
	{ CURLE_URL_MALFORMAT, WB_FAIL_LATER, "fix [smtp] url" },
	{ CURLE_UNSUPPORTED_PROTOCOL, WB_FAIL_LATER, "fix [smtp] url" },
	{ CURLE_OUT_OF_MEMORY, WB_FAIL_SOON, "trying again soon" },
	{ CURLE_COULDNT_RESOLVE_HOST, WB_FAIL_SOON, "trying again soon" },
	{ CURLE_COULDNT_CONNECT, WB_FAIL_SOON, "trying again soon" },
	{ CURLE_OPERATION_TIMEDOUT, WB_FAIL_SOON, "trying again soon" },
};

static bool curl_failed(const struct send *s, CURLcode rc, GError **error)
{
	const char *detail = s->errbuf[0] != '\0' ? s->errbuf : curl_easy_strerror(rc);

	if (rc == CURLE_USE_SSL_FAILED) {
		g_autofree char *why = wb_tls_refusal(s->plan, s->host, "smtp");
		return fail(error, s, WB_FAIL_LATER, "%s", why);
	}
	if (rc == CURLE_LOGIN_DENIED && s->talk.code >= 500 && strcmp(s->talk.verb, "AUTH") == 0)
		return server_refused(s, error);
	if (rc != CURLE_LOGIN_DENIED && s->talk.code >= 400)
		return server_refused(s, error);
	for (size_t i = 0; i < G_N_ELEMENTS(curl_fail); i++) {
		if (curl_fail[i].rc == rc)
			return fail(error, s, curl_fail[i].fail, "%s; %s", detail, curl_fail[i].what);
	}
	/* Lost connections, odd replies, a stall: the server or the network, for now. */
	return fail(error, s, WB_FAIL_SOON, "%s; trying again soon", detail);
}

/* ---- the transfer ---------------------------------------------------------------- */

/* "smtp://HOST:PORT/EHLO-NAME" for the parsed url (libcurl takes the EHLO name from the
 * path). */
static char *transfer_url(const struct wb_mailurl *u, const char *ehlo)
{
	bool v6 = strchr(u->host, ':') != NULL;

	return g_strdup_printf("%s://%s%s%s:%u/%s", u->implicit_tls ? "smtps" : "smtp",
			       v6 ? "[" : "", u->host, v6 ? "]" : "", u->port, ehlo);
}

static struct curl_slist *rcpt_list(const char *const *rcpts)
{
	struct curl_slist *list = NULL;

	for (size_t i = 0; rcpts[i] != NULL; i++) {
		g_autofree char *path = g_strdup_printf("<%s>", rcpts[i]);
		struct curl_slist *more = curl_slist_append(list, path);
		if (more == NULL) {
			curl_slist_free_all(list);
			return NULL;
		}
		list = more;
	}
	return list;
}

static CURLcode set_options(CURL *h, struct send *s, const struct wb_config *cfg,
			    const char *url, const char *from, struct curl_slist *rcpts)
{
	const struct {
		CURLoption opt;
		long value;
	} longs[] = {
		{ CURLOPT_NOSIGNAL, 1L },
		{ CURLOPT_UPLOAD, 1L },
		{ CURLOPT_VERBOSE, 1L }, /* for on_debug; nothing is printed */
		{ CURLOPT_SSL_VERIFYPEER, 1L },
		{ CURLOPT_SSL_VERIFYHOST, 2L },
		{ CURLOPT_USE_SSL, s->require_tls ? (long)CURLUSESSL_ALL : (long)CURLUSESSL_TRY },
		{ CURLOPT_CONNECTTIMEOUT, WB_SMTP_CONNECT_S },
		{ CURLOPT_LOW_SPEED_LIMIT, WB_SMTP_STALL_BPS },
		{ CURLOPT_LOW_SPEED_TIME, WB_SMTP_STALL_S },
		{ CURLOPT_FORBID_REUSE, 1L },
		{ CURLOPT_MAIL_RCPT_ALLLOWFAILS, 1L },
	};
	CURLcode rc = CURLE_OK;

	for (size_t i = 0; rc == CURLE_OK && i < G_N_ELEMENTS(longs); i++)
		rc = curl_easy_setopt(h, longs[i].opt, longs[i].value);
	const struct {
		CURLoption opt;
		const char *value; /* skipped when NULL */
	} strings[] = {
		{ CURLOPT_URL, url },
		{ CURLOPT_PROTOCOLS_STR, "smtp,smtps" },
		{ CURLOPT_MAIL_FROM, from },
		{ CURLOPT_CAINFO, s->ca_file },
		{ CURLOPT_USERNAME, cfg->smtp_user },
		{ CURLOPT_PASSWORD, cfg->smtp_user != NULL ? cfg->smtp_password : NULL },
		{ CURLOPT_ERRORBUFFER, s->errbuf },
	};
	for (size_t i = 0; rc == CURLE_OK && i < G_N_ELEMENTS(strings); i++) {
		if (strings[i].value != NULL)
			rc = curl_easy_setopt(h, strings[i].opt, strings[i].value);
	}
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpts);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)s->len);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h, CURLOPT_READDATA, s);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, on_open);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, s);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, on_debug);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h, CURLOPT_DEBUGDATA, &s->talk);
	return rc;
}

/* One attempt: connect, secure, log in, send. */
static CURLcode attempt(struct send *s, const struct wb_config *cfg, const char *url,
			const char *from, struct curl_slist *rcpts)
{
	CURL *h = curl_easy_init();

	if (h == NULL)
		return CURLE_OUT_OF_MEMORY;
	s->sent = 0;
	s->errbuf[0] = '\0';
	g_strlcpy(s->talk.verb, "greeting", sizeof s->talk.verb);
	s->talk.code = 0;
	s->talk.reply[0] = '\0';
	s->talk.rcpts_refused = 0;
	s->talk.quit = false;
	g_string_truncate(s->talk.refused, 0);
	CURLcode rc = set_options(h, s, cfg, url, from, rcpts);
	if (rc == CURLE_OK)
		rc = curl_easy_perform(h);
	curl_easy_cleanup(h);
	return rc;
}

static bool envelope_ok(const struct wb_config *cfg, const char *const *rcpts, size_t len,
			GError **error)
{
	size_t n = 0;

	if (!wb_smtp_address_ok(cfg->smtp_from))
		return fail(error, NULL, WB_FAIL_LATER, "[smtp] from is not a usable address");
	for (; rcpts != NULL && rcpts[n] != NULL; n++) {
		if (!wb_smtp_address_ok(rcpts[n])) {
			g_autofree char *shown = g_strescape(rcpts[n], NULL);
			return fail(error, NULL, WB_FAIL_FINAL, "recipient \"%.80s\" is not a usable "
				    "address; nothing was sent", shown);
		}
	}
	if (n == 0 || n > WB_SMTP_RCPTS_MAX)
		return fail(error, NULL, WB_FAIL_FINAL, "%zu recipients (1 to %d can be sent)",
			    n, WB_SMTP_RCPTS_MAX);
	if (len == 0)
		return fail(error, NULL, WB_FAIL_FINAL, "the mail is empty");
	return true;
}

static bool send_on(struct send *s, const struct wb_config *cfg, const struct wb_mailurl *u,
		    const char *const *rcpts, GError **error)
{
	const char *ehlo = cfg->domain != NULL && cfg->domain[0] != '\0' ? cfg->domain : "localhost";
	g_autofree char *url = transfer_url(u, ehlo);
	g_autofree char *from = g_strdup_printf("<%s>", cfg->smtp_from);
	struct curl_slist *list = rcpt_list(rcpts);

	if (list == NULL)
		return fail(error, s, WB_FAIL_SOON, "out of memory");
	s->require_tls = s->plan->mode != WB_TLS_STARTTLS_OPTIONAL;
	s->loopback_only = !s->require_tls && !s->plan->allow_plaintext;
	CURLcode rc = attempt(s, cfg, url, from, list);
	if (rc == CURLE_COULDNT_CONNECT && s->refused_remote) {
		/* The name led off loopback: that connection must use STARTTLS. */
		s->require_tls = true;
		s->loopback_only = false;
		rc = attempt(s, cfg, url, from, list);
	}
	curl_slist_free_all(list);
	if (rc != CURLE_OK)
		return curl_failed(s, rc, error);
	if (s->talk.rcpts_refused > 0)
		g_warning("smtp %s:%u: the mail went, but these recipients were refused: %s",
			  s->host, s->port, s->talk.refused->str);
	return true;
}

bool wb_smtp_send(const struct wb_config *cfg, const char *const *rcpts,
		  const void *mail, size_t len, GError **error)
{
	struct wb_mailurl u;

	if (cfg->smtp_url == NULL)
		return fail(error, NULL, WB_FAIL_LATER, "no [smtp] url is set; set it to send mail");
	if (!wb_mailurl_parse(cfg->smtp_url, "smtp", &u))
		return fail(error, NULL, WB_FAIL_LATER, "[smtp] url must be smtp://HOST[:PORT] or "
			    "smtps://HOST[:PORT]");
	if (!envelope_ok(cfg, rcpts, len, error)) {
		wb_mailurl_clear(&u);
		return false;
	}
	bool anchored = cfg->smtp_ca_file != NULL && cfg->smtp_ca_file[0] != '\0';
	struct wb_tls_plan plan = wb_tls_plan(&u, cfg->smtp_allow_plaintext, anchored);
	struct send s = {
		.host = u.host, .port = u.port, .plan = &plan, .mail = mail, .len = len,
		.ca_file = anchored ? cfg->smtp_ca_file : NULL,
		.talk.refused = g_string_new(NULL),
	};
	bool ok = send_on(&s, cfg, &u, rcpts, error);
	g_string_free(s.talk.refused, TRUE);
	wb_mailurl_clear(&u);
	return ok;
}
