/* imapconn: one IMAP client connection (see imapconn.h). */
#include <poll.h>
#include <stdarg.h>
#include <string.h>

#include "deliver.h"
#include "imapconn.h"
#include "tls.h"

#define SERVER_TEXT_MAX      300 /* bytes of a server response quoted in an error */

/* ---- errors ---------------------------------------------------------------------- */

/* Errors after which the session cannot be trusted and is dropped. BAD is among them
 * because libetpan reports it like a tag mismatch (MAILIMAP_ERROR_PROTOCOL). */
bool wb_imapconn_unusable(int r)
{
	switch (r) {
	case MAILIMAP_ERROR_BAD_STATE:
	case MAILIMAP_ERROR_STREAM:
	case MAILIMAP_ERROR_PARSE:
	case MAILIMAP_ERROR_CONNECTION_REFUSED:
	case MAILIMAP_ERROR_MEMORY:
	case MAILIMAP_ERROR_FATAL:
	case MAILIMAP_ERROR_PROTOCOL:
	case MAILIMAP_ERROR_DONT_ACCEPT_CONNECTION:
	case MAILIMAP_ERROR_SSL:
		return true;
	default:
		return false;
	}
}

/* Did r come with a fresh tagged (or BYE) response? Only then do the session's response
 * text and codes belong to this command rather than an earlier one. */
static bool server_answered(int r)
{
	switch (r) {
	case MAILIMAP_ERROR_BAD_STATE:
	case MAILIMAP_ERROR_STREAM:
	case MAILIMAP_ERROR_PARSE:
	case MAILIMAP_ERROR_CONNECTION_REFUSED:
	case MAILIMAP_ERROR_MEMORY:
	case MAILIMAP_ERROR_SSL:
		return false;
	default:
		return true;
	}
}

static const char *etpan_error_text(int r)
{
	switch (r) {
	case MAILIMAP_ERROR_STREAM: return "connection lost or timed out";
	case MAILIMAP_ERROR_PARSE: return "connection closed or unparsable response";
	case MAILIMAP_ERROR_CONNECTION_REFUSED: return "cannot connect";
	case MAILIMAP_ERROR_MEMORY: return "out of memory";
	case MAILIMAP_ERROR_FATAL: return "server closed the session (BYE)";
	case MAILIMAP_ERROR_PROTOCOL: return "server answered BAD";
	case MAILIMAP_ERROR_DONT_ACCEPT_CONNECTION: return "server refused the connection (BYE)";
	case MAILIMAP_ERROR_SSL: return "TLS handshake failed";
	case MAILIMAP_ERROR_BAD_STATE: return "not connected";
	default: return "server answered NO";
	}
}

/* RFC 5530 response codes (and TRYCREATE's kin) that decide the class over the command. */
static const struct {
	const char *code;
	enum wb_fail fail;
} code_fail[] = {
	{ "OVERQUOTA", WB_FAIL_LATER },
	{ "UNAVAILABLE", WB_FAIL_LATER },
	{ "SERVERBUG", WB_FAIL_LATER },
	{ "NOPERM", WB_FAIL_LATER },         /* an admin can grant the right; then retry */
	{ "AUTHENTICATIONFAILED", WB_FAIL_LATER },
	{ "AUTHORIZATIONFAILED", WB_FAIL_LATER },
	{ "EXPIRED", WB_FAIL_LATER },
	{ "CONTACTADMIN", WB_FAIL_LATER },
	{ "PRIVACYREQUIRED", WB_FAIL_LATER },
	{ "INUSE", WB_FAIL_SOON },
	{ "TOOBIG", WB_FAIL_FINAL },
	{ "LIMIT", WB_FAIL_FINAL },
};

/* libetpan keeps unknown codes as rsp_atom/rsp_value and TRYCREATE as a flag. */
const char *wb_imapconn_code(const struct wb_imapconn *c)
{
	const mailimap *s = c->imap;
	const struct mailimap_response_info *ri = s != NULL ? s->imap_response_info : NULL;

	return ri != NULL ? ri->rsp_atom : NULL;
}

bool wb_imapconn_trycreate(const struct wb_imapconn *c)
{
	const mailimap *s = c->imap;

	return s != NULL && s->imap_response_info != NULL && s->imap_response_info->rsp_trycreate;
}

static enum wb_fail classify(const struct wb_imapconn *c, int r, enum wb_fail on_no)
{
	if (r == MAILIMAP_ERROR_SSL)
		return WB_FAIL_LATER;
	if (!server_answered(r) || r == MAILIMAP_ERROR_FATAL ||
	    r == MAILIMAP_ERROR_DONT_ACCEPT_CONNECTION)
		return WB_FAIL_SOON;
	const char *code = wb_imapconn_code(c);
	for (size_t i = 0; code != NULL && i < G_N_ELEMENTS(code_fail); i++) {
		if (g_ascii_strcasecmp(code, code_fail[i].code) == 0)
			return code_fail[i].fail;
	}
	return on_no;
}

/* What the server said, as `"[CODE] text"`, cut and with control characters blanked; or
 * libetpan's error when the server said nothing. */
static char *describe(const struct wb_imapconn *c, int r)
{
	const mailimap *s = c->imap;

	if (!server_answered(r) || s == NULL || s->imap_response == NULL)
		return g_strdup(etpan_error_text(r));
	GString *d = g_string_new(etpan_error_text(r));
	g_string_append(d, ": \"");
	size_t start = d->len;
	const char *code = wb_imapconn_code(c);
	const char *value = s->imap_response_info != NULL ? s->imap_response_info->rsp_value : NULL;
	if (code != NULL)
		g_string_append_printf(d, "[%s%s%s] ", code, value ? " " : "", value ? value : "");
	else if (wb_imapconn_trycreate(c))
		g_string_append(d, "[TRYCREATE] ");
	/* Cut first: make_valid then mends a character the cut split. */
	size_t len = MIN(strlen(s->imap_response), (size_t)SERVER_TEXT_MAX);
	g_autofree char *text = g_utf8_make_valid(s->imap_response, (gssize)len);
	g_string_append(d, text);
	for (size_t i = start; i < d->len; i++) {
		if ((unsigned char)d->str[i] < 0x20 || d->str[i] == 0x7f)
			d->str[i] = ' ';
	}
	g_string_append_c(d, '"');
	return g_string_free(d, FALSE);
}

void wb_imapconn_drop(struct wb_imapconn *c)
{
	if (c->imap == NULL)
		return;
	if (c->imap->imap_stream != NULL) {
		mailstream_close(c->imap->imap_stream);
		c->imap->imap_stream = NULL;
	}
	mailimap_free(c->imap);
	c->imap = NULL;
}

bool wb_imapconn_fail(struct wb_imapconn *c, GError **error, int r, enum wb_fail on_no,
		      const char *what)
{
	g_autofree char *detail = describe(c, r);

	g_set_error(error, c->domain, classify(c, r, on_no), "imap %s:%u (user %s): %s: %s",
		    c->host, c->port, c->user, what, detail);
	if (wb_imapconn_unusable(r))
		wb_imapconn_drop(c);
	return false;
}

bool wb_imapconn_fail_local(const struct wb_imapconn *c, GError **error, enum wb_fail f,
			    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error(error, c->domain, f, "imap %s:%u (user %s): %s", c->host, c->port, c->user,
		    msg);
	return false;
}

/* ---- configuration --------------------------------------------------------------- */

static bool parse_url(struct wb_imapconn *c, const char *url, bool allow_plaintext,
		      GError **error)
{
	struct wb_mailurl u;

	if (!wb_mailurl_parse(url, "imap", &u)) {
		g_set_error(error, c->domain, WB_FAIL_LATER,
			    "imap: [imap] url must be imap://HOST[:PORT] or imaps://HOST[:PORT]");
		return false;
	}
	c->plan = wb_tls_plan(&u, allow_plaintext, c->ca_file != NULL || c->fingerprint != NULL);
	c->host = g_steal_pointer(&u.host);
	c->port = u.port;
	return true;
}

static void flush_base64(GString *out, GByteArray *utf16)
{
	if (utf16->len == 0)
		return;
	g_autofree char *b64 = g_base64_encode(utf16->data, utf16->len);
	g_string_append_c(out, '&');
	for (const char *p = b64; *p != '\0' && *p != '='; p++)
		g_string_append_c(out, *p == '/' ? ',' : *p);
	g_string_append_c(out, '-');
	g_byte_array_set_size(utf16, 0);
}

static void push_utf16(GByteArray *utf16, gunichar c)
{
	const guint8 be[2] = { (guint8)(c >> 8), (guint8)(c & 0xff) };
	g_byte_array_append(utf16, be, 2);
}

/* Printable ASCII as is ("&" as "&-"), every other run as UTF-16BE in base64 with ','
 * for '/'. Folder names like "অভিযোগ" need it. */
char *wb_imapconn_mutf7(const char *utf8)
{
	if (!g_utf8_validate(utf8, -1, NULL))
		return NULL;
	GString *out = g_string_new(NULL);
	GByteArray *utf16 = g_byte_array_new();
	for (const char *p = utf8; *p != '\0'; p = g_utf8_find_next_char(p, NULL)) {
		gunichar c = g_utf8_get_char(p);
		if (c >= 0x20 && c <= 0x7e) {
			flush_base64(out, utf16);
			g_string_append(out, c == '&' ? "&-" : (const char[]){ (char)c, '\0' });
		} else if (c > 0xffff) {
			push_utf16(utf16, 0xd800 + ((c - 0x10000) >> 10));
			push_utf16(utf16, 0xdc00 + ((c - 0x10000) & 0x3ff));
		} else {
			push_utf16(utf16, c);
		}
	}
	flush_base64(out, utf16);
	g_byte_array_unref(utf16);
	return g_string_free(out, FALSE);
}

bool wb_imapconn_init(struct wb_imapconn *c, GQuark domain, const struct wb_config *cfg,
		      const char *user, const char *password, GError **error)
{
	c->domain = domain;
	c->user = g_strdup(user != NULL ? user : "");
	c->password = g_strdup(password != NULL ? password : "");
	if (cfg->imap_ca_file != NULL && cfg->imap_ca_file[0] != '\0')
		c->ca_file = g_strdup(cfg->imap_ca_file);
	bool pinned = cfg->imap_tls_fingerprint != NULL && cfg->imap_tls_fingerprint[0] != '\0';
	if (pinned)
		c->fingerprint = wb_tls_fingerprint(cfg->imap_tls_fingerprint);
	if (!parse_url(c, cfg->imap_url, cfg->imap_allow_plaintext, error))
		return false;
	if (pinned && c->fingerprint == NULL)
		return wb_imapconn_fail_local(c, error, WB_FAIL_LATER,
					      "[imap] tls_fingerprint must be the 64 hex digits "
					      "of the SHA-256 of the server certificate");
	return true;
}

void wb_imapconn_init_like(struct wb_imapconn *c, const struct wb_imapconn *like)
{
	c->domain = like->domain;
	c->host = g_strdup(like->host);
	c->port = like->port;
	c->plan = like->plan;
	c->ca_file = g_strdup(like->ca_file);
	c->fingerprint = g_strdup(like->fingerprint);
	c->user = g_strdup(like->user);
	c->password = g_strdup(like->password);
}

/* ---- TLS ------------------------------------------------------------------------- */

/* Called by libetpan before the handshake: send SNI (never for an address literal). */
static void tls_setup(struct mailstream_ssl_context *ctx, void *data)
{
	const struct wb_imapconn *c = data;

	if (!g_hostname_is_ip_address(c->host))
		mailstream_ssl_set_server_name(ctx, c->host);
}

/* After the handshake, before anything secret is sent. */
static bool verify_peer(struct wb_imapconn *c, GError **error)
{
	carray *chain = mailstream_get_certificate_chain(c->imap->imap_stream);
	size_t n = chain != NULL ? MIN(carray_count(chain), (unsigned)WB_TLS_CHAIN_MAX) : 0;
	struct wb_tls_der der[WB_TLS_CHAIN_MAX];
	g_autoptr(GError) why = NULL;

	for (size_t i = 0; i < n; i++) {
		const MMAPString *s = carray_get(chain, (unsigned)i);
		der[i] = (struct wb_tls_der){ s->str, s->len };
	}
	bool ok = wb_tls_verify(der, n, c->host, c->ca_file, c->fingerprint, "imap", &why);
	if (chain != NULL)
		mailstream_certificate_chain_free(chain);
	return ok || wb_imapconn_fail_local(c, error, why->code, "%s", why->message);
}

bool wb_imapconn_has_capability(struct wb_imapconn *c, const char *name)
{
	const struct mailimap_connection_info *ci = c->imap->imap_connection_info;

	if (ci == NULL || ci->imap_capability == NULL) {
		struct mailimap_capability_data *cap = NULL;
		if (mailimap_capability(c->imap, &cap) == MAILIMAP_NO_ERROR)
			mailimap_capability_data_free(cap);
	}
	return mailimap_has_extension(c->imap, name) != 0;
}

/* The address the session is connected to; false when it cannot be told. */
static bool peer_address(const struct wb_imapconn *c, struct sockaddr_storage *sa)
{
	socklen_t len = sizeof *sa;
	int fd = mailstream_low_get_fd(mailstream_get_low(c->imap->imap_stream));

	return fd >= 0 && getpeername(fd, (struct sockaddr *)sa, &len) == 0;
}

/* No STARTTLS offered: go on in plain text only where tls.h allows it. */
static bool without_starttls(struct wb_imapconn *c, GError **error)
{
	struct sockaddr_storage sa;
	bool known = peer_address(c, &sa);

	if (wb_tls_plain_ok(&c->plan, known ? (struct sockaddr *)&sa : NULL)) {
		if (!c->plan.loopback)
			g_message("imap %s:%u: the server offers no STARTTLS; logging in in plain "
				  "text as [imap] allow_plaintext = true says", c->host, c->port);
		return true;
	}
	g_autofree char *why = wb_tls_refusal(&c->plan, c->host, "imap");
	return wb_imapconn_fail_local(c, error, WB_FAIL_LATER, "%s", why);
}

/* imap://: STARTTLS whenever offered, always verified (tls.h). */
static bool starttls(struct wb_imapconn *c, GError **error)
{
	if (!wb_imapconn_has_capability(c, "STARTTLS"))
		return without_starttls(c, error);
	int r = mailimap_socket_starttls_with_callback(c->imap, tls_setup, c);
	if (r != MAILIMAP_NO_ERROR)
		return wb_imapconn_fail(c, error, r, WB_FAIL_LATER, "STARTTLS");
	/* Bytes already buffered were sent in clear text after the OK: an injection attempt
	 * (CVE-2020-15953) that libetpan 1.9 does not catch itself. */
	if (c->imap->imap_stream->read_buffer_len != 0) {
		wb_imapconn_drop(c);
		return wb_imapconn_fail_local(c, error, WB_FAIL_LATER,
					      "server sent data after STARTTLS before the TLS "
					      "handshake");
	}
	return verify_peer(c, error);
}

/* ---- session --------------------------------------------------------------------- */

static bool login(struct wb_imapconn *c, GError **error)
{
	int r = mailimap_login(c->imap, c->user, c->password);

	if (r == MAILIMAP_NO_ERROR)
		return true;
	return wb_imapconn_fail(c, error, r, WB_FAIL_LATER, "login refused");
}

bool wb_imapconn_connect(struct wb_imapconn *c, GError **error)
{
	wb_imapconn_drop(c);
	c->imap = mailimap_new(0, NULL);
	if (c->imap == NULL)
		return wb_imapconn_fail_local(c, error, WB_FAIL_SOON, "out of memory");
	mailimap_set_timeout(c->imap, WB_IMAPCONN_TIMEOUT_S);
	bool tls = c->plan.mode == WB_TLS_IMPLICIT;
	int r = tls ? mailimap_ssl_connect_with_callback(c->imap, c->host, c->port, tls_setup, c)
		    : mailimap_socket_connect(c->imap, c->host, c->port);
	if (r != MAILIMAP_NO_ERROR_AUTHENTICATED && r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED) {
		wb_imapconn_fail(c, error, r, WB_FAIL_SOON, "connect");
		wb_imapconn_drop(c);
		return false;
	}
	bool ok = tls ? verify_peer(c, error) : starttls(c, error);
	if (ok && r == MAILIMAP_NO_ERROR_NON_AUTHENTICATED)
		ok = login(c, error);
	if (!ok) {
		wb_imapconn_drop(c);
		return false;
	}
	c->last_used = g_get_monotonic_time();
	c->generation++;
	return true;
}

bool wb_imapconn_quiet(const struct wb_imapconn *c)
{
	if (c->imap == NULL || c->imap->imap_stream == NULL)
		return false;
	if (c->imap->imap_stream->read_buffer_len != 0)
		return false;
	struct pollfd p = {
		.fd = mailstream_low_get_fd(mailstream_get_low(c->imap->imap_stream)),
		.events = POLLIN | POLLRDHUP,
	};
	return p.fd >= 0 && poll(&p, 1, 0) == 0;
}

bool wb_imapconn_ready(struct wb_imapconn *c, GError **error)
{
	gint64 now = g_get_monotonic_time();

	if (c->imap != NULL && now - c->last_used > WB_IMAPCONN_IDLE_CHECK_S * G_USEC_PER_SEC) {
		if (mailimap_noop(c->imap) == MAILIMAP_NO_ERROR)
			c->last_used = now;
		else
			wb_imapconn_drop(c);
	}
	return c->imap != NULL || wb_imapconn_connect(c, error);
}

void wb_imapconn_leave(struct wb_imapconn *c)
{
	static const char logout[] = "wb0 LOGOUT\r\n";
	mailstream *s = c->imap != NULL ? c->imap->imap_stream : NULL;

	if (s != NULL && mailstream_write(s, logout, sizeof logout - 1) ==
			     (ssize_t)(sizeof logout - 1))
		(void)mailstream_flush(s);
	wb_imapconn_drop(c);
}

void wb_imapconn_clear(struct wb_imapconn *c)
{
	if (c->imap != NULL)
		(void)mailimap_logout(c->imap);
	wb_imapconn_drop(c);
	if (c->password != NULL)
		explicit_bzero(c->password, strlen(c->password));
	g_clear_pointer(&c->password, g_free);
	g_clear_pointer(&c->host, g_free);
	g_clear_pointer(&c->ca_file, g_free);
	g_clear_pointer(&c->fingerprint, g_free);
	g_clear_pointer(&c->user, g_free);
}

/* ---- folders and flags ----------------------------------------------------------- */

/* Servers differ in saying a folder is missing ([NONEXISTENT] is not universal); LIST is. */
int wb_imapconn_listed(struct wb_imapconn *c, const char *folder_wire, GError **error)
{
	clist *list = NULL;
	int r = mailimap_list(c->imap, "", folder_wire, &list);

	if (r != MAILIMAP_NO_ERROR) {
		wb_imapconn_fail(c, error, r, WB_FAIL_LATER, "LIST");
		return -1;
	}
	int n = list != NULL ? clist_count(list) : 0;
	if (list != NULL)
		mailimap_list_result_free(list);
	return n > 0;
}

static struct mailimap_flag *flag_new(const char *name)
{
	static const struct {
		const char *name;
		struct mailimap_flag *(*make)(void);
	} system_flags[] = {
		{ "\\Seen", mailimap_flag_new_seen },     { "\\Answered", mailimap_flag_new_answered },
		{ "\\Flagged", mailimap_flag_new_flagged }, { "\\Deleted", mailimap_flag_new_deleted },
		{ "\\Draft", mailimap_flag_new_draft },
	};

	if (name[0] == '\\') {
		for (size_t i = 0; i < G_N_ELEMENTS(system_flags); i++) {
			if (g_ascii_strcasecmp(name, system_flags[i].name) == 0)
				return system_flags[i].make();
		}
		return NULL; /* \Recent and unknown system flags cannot be set */
	}
	if (!wb_deliver_keyword_ok(name))
		return NULL;
	char *kw = strdup(name);
	struct mailimap_flag *f = kw != NULL ? mailimap_flag_new_flag_keyword(kw) : NULL;
	if (f == NULL)
		free(kw);
	return f;
}

struct mailimap_flag_list *wb_imapconn_flag_list(const struct wb_imapconn *c,
						 const char *const *flags, GError **error)
{
	struct mailimap_flag_list *list = mailimap_flag_list_new_empty();

	for (size_t i = 0; list != NULL && flags != NULL && flags[i] != NULL; i++) {
		struct mailimap_flag *f = flag_new(flags[i]);
		if (f == NULL || mailimap_flag_list_add(list, f) != MAILIMAP_NO_ERROR) {
			if (f != NULL)
				mailimap_flag_free(f);
			mailimap_flag_list_free(list);
			g_autofree char *shown = g_strescape(flags[i], NULL);
			wb_imapconn_fail_local(c, error, WB_FAIL_FINAL, "cannot set IMAP flag \"%s\"",
					       shown);
			return NULL;
		}
	}
	if (list == NULL)
		wb_imapconn_fail_local(c, error, WB_FAIL_SOON, "out of memory");
	return list;
}

static bool store_flags(struct wb_imapconn *c, struct mailimap_set *set,
			struct mailimap_flag_list *list, bool remove, const char *what,
			GError **error)
{
	struct mailimap_store_att_flags *att = set == NULL || list == NULL ? NULL
		: remove ? mailimap_store_att_flags_new_remove_flags_silent(list)
			 : mailimap_store_att_flags_new_add_flags_silent(list);

	if (att == NULL) {
		if (list != NULL)
			mailimap_flag_list_free(list);
		if (set != NULL)
			mailimap_set_free(set);
		return wb_imapconn_fail_local(c, error, WB_FAIL_SOON, "out of memory");
	}
	int r = mailimap_uid_store(c->imap, set, att);
	mailimap_store_att_flags_free(att); /* and list with it */
	mailimap_set_free(set);
	if (r != MAILIMAP_NO_ERROR)
		return wb_imapconn_fail(c, error, r, WB_FAIL_SOON, what);
	c->last_used = g_get_monotonic_time();
	return true;
}

bool wb_imapconn_store_add(struct wb_imapconn *c, struct mailimap_set *set,
			   struct mailimap_flag_list *list, const char *what, GError **error)
{
	return store_flags(c, set, list, false, what, error);
}

bool wb_imapconn_store_remove(struct wb_imapconn *c, struct mailimap_set *set,
			      struct mailimap_flag_list *list, const char *what, GError **error)
{
	return store_flags(c, set, list, true, what, error);
}

static const char *flag_text(const struct mailimap_flag_fetch *ff)
{
	if (ff->fl_type == MAILIMAP_FLAG_FETCH_RECENT)
		return "\\Recent";
	if (ff->fl_type != MAILIMAP_FLAG_FETCH_OTHER || ff->fl_flag == NULL)
		return NULL;
	switch (ff->fl_flag->fl_type) {
	case MAILIMAP_FLAG_ANSWERED: return "\\Answered";
	case MAILIMAP_FLAG_FLAGGED: return "\\Flagged";
	case MAILIMAP_FLAG_DELETED: return "\\Deleted";
	case MAILIMAP_FLAG_SEEN: return "\\Seen";
	case MAILIMAP_FLAG_DRAFT: return "\\Draft";
	case MAILIMAP_FLAG_KEYWORD: return ff->fl_flag->fl_data.fl_keyword;
	default: return NULL; /* \extension: nothing of ours */
	}
}

char **wb_imapconn_att_flags(const struct mailimap_msg_att *att)
{
	GPtrArray *out = g_ptr_array_new();

	for (clistiter *it = clist_begin(att->att_list); it != NULL; it = clist_next(it)) {
		const struct mailimap_msg_att_item *item = clist_content(it);
		if (item->att_type != MAILIMAP_MSG_ATT_ITEM_DYNAMIC ||
		    item->att_data.att_dyn == NULL || item->att_data.att_dyn->att_list == NULL)
			continue;
		clist *flags = item->att_data.att_dyn->att_list;
		for (clistiter *f = clist_begin(flags); f != NULL; f = clist_next(f)) {
			const char *text = flag_text(clist_content(f));
			if (text != NULL)
				g_ptr_array_add(out, g_strdup(text));
		}
	}
	g_ptr_array_add(out, NULL);
	return (char **)g_ptr_array_free(out, FALSE);
}

bool wb_imapconn_flags_have(char *const *flags, const char *flag)
{
	for (size_t i = 0; flags != NULL && flags[i] != NULL; i++) {
		if (g_ascii_strcasecmp(flags[i], flag) == 0)
			return true;
	}
	return false;
}

char *wb_imapconn_url(const struct wb_imapconn *c, const char *folder, uint32_t uidvalidity,
		      uint32_t uid)
{
	g_autofree char *box = g_uri_escape_string(folder, "/", TRUE);
	bool v6 = strchr(c->host, ':') != NULL;
	GString *s = g_string_new(NULL);

	g_string_printf(s, "imap://%s%s%s:%u/%s", v6 ? "[" : "", c->host, v6 ? "]" : "",
			c->port, box);
	if (uidvalidity != 0 && uid != 0)
		g_string_append_printf(s, ";UIDVALIDITY=%" G_GUINT32_FORMAT ";UID=%" G_GUINT32_FORMAT,
				       uidvalidity, uid);
	return g_string_free(s, FALSE);
}

const struct mailimap_msg_att_static *wb_imapconn_att_static(const struct mailimap_msg_att *att,
							     int type)
{
	for (clistiter *it = clist_begin(att->att_list); it != NULL; it = clist_next(it)) {
		const struct mailimap_msg_att_item *item = clist_content(it);
		if (item->att_type == MAILIMAP_MSG_ATT_ITEM_STATIC &&
		    item->att_data.att_static != NULL && item->att_data.att_static->att_type == type)
			return item->att_data.att_static;
	}
	return NULL;
}
