/* deliver_imap: delivery by IMAP APPEND with libetpan (mailimap).
 *
 * Design:
 * - One connection per target, opened and logged in by open() and reused. Any error
 *   that leaves the protocol state unknown drops the connection; the next call then
 *   connects afresh, as does a call on a connection idle for IMAP_IDLE_CHECK_S that
 *   fails a NOOP. Every connect, TLS handshake, read and write times out after
 *   IMAP_TIMEOUT_S (libetpan's per-session timeout): a hanging server cannot hang us.
 * - TLS: imaps:// always verifies the server: against the tls_fingerprint pin (SHA-256
 *   of the certificate DER) when set, else against ca_file, else against the system
 *   CAs, host name included. imap:// uses STARTTLS when the server offers it; with
 *   ca_file or tls_fingerprint set, STARTTLS is required and verified the same way,
 *   without them it is opportunistic (it stops eavesdropping, not an active attacker).
 *   libetpan's GnuTLS build verifies nothing itself (mailstream_ssl_set_server_certicate
 *   is a stub there), so we check the peer's chain with GnuTLS after the handshake and
 *   before LOGIN sends the password.
 * - Failures are classified as in isync's drv_imap.c: network trouble and BYE are
 *   WB_FAIL_SOON; refused logins, [OVERQUOTA], [UNAVAILABLE], [SERVERBUG], [NOPERM]
 *   and TLS problems need time or a human (WB_FAIL_LATER); any other NO or BAD to the
 *   APPEND of one mail ([TOOBIG], [LIMIT], ...) is WB_FAIL_FINAL for that mail.
 * - APPEND answered NO [TRYCREATE] creates the folder (and subscribes it: many clients
 *   show subscribed folders only) and appends once more. APPENDUID comes back through
 *   mailimap_uidplus_append; without UIDPLUS uid and uidvalidity stay 0.
 * - Folder names are sent in modified UTF-7, so a folder may be named in Bengali.
 * - Error messages carry the server's text, never a password (we install no protocol
 *   logger, and LOGIN's arguments never reach a message).
 * - libetpan writes with send(2) without MSG_NOSIGNAL: the program must ignore SIGPIPE,
 *   or a server closing the connection under a write kills the process.
 * - libetpan turns every bare CR or LF of the mail into CRLF on the wire. */
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <libetpan/libetpan.h>
#include <stdarg.h>
#include <string.h>

#include "caps.h"
#include "deliver.h"
#include "util.h"

#ifndef IMAP_TIMEOUT_S        /* -D override: a quick manual test of a hanging server */
#define IMAP_TIMEOUT_S       30  /* connect, TLS handshake, each read and write */
#endif
#define IMAP_IDLE_CHECK_S    60  /* NOOP a connection idle this long before reusing it */
#define SERVER_TEXT_MAX      300 /* bytes of a server response quoted in an error */
#define CHAIN_MAX            16  /* certificates of a server chain we look at */
#define MESSAGE_ID_MAX       998

struct wb_target {
	char *host;         /* without [] for IPv6 */
	uint16_t port;
	bool tls;           /* imaps:// */
	char *ca_file;      /* NULL: system CAs */
	char *fingerprint;  /* lowercase hex without ':', NULL when unset */
	char *user;
	char *password;
	char *folder;       /* UTF-8 as configured, for messages and locations */
	char *folder_wire;  /* modified UTF-7 (RFC 3501 5.1.3) as sent */
	mailimap *imap;     /* NULL while disconnected */
	gint64 last_used;   /* monotonic time of the last command that worked */
};

/* ---- errors ---------------------------------------------------------------------- */

/* Errors after which the connection cannot be trusted and is dropped. BAD is among them
 * because libetpan reports it like a tag mismatch (MAILIMAP_ERROR_PROTOCOL). */
static bool connection_unusable(int r)
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

/* The response code atom of the last tagged response, NULL if none or not one of RFC
 * 5530's. libetpan keeps unknown codes as rsp_atom/rsp_value and TRYCREATE as a flag. */
static const char *response_code(const mailimap *s)
{
	const struct mailimap_response_info *ri = s != NULL ? s->imap_response_info : NULL;

	return ri != NULL ? ri->rsp_atom : NULL;
}

static bool trycreate(const mailimap *s)
{
	return s != NULL && s->imap_response_info != NULL && s->imap_response_info->rsp_trycreate;
}

/* on_no: the class of a NO or BAD without a deciding response code. */
static enum wb_fail classify(const mailimap *s, int r, enum wb_fail on_no)
{
	if (r == MAILIMAP_ERROR_SSL)
		return WB_FAIL_LATER;
	if (!server_answered(r) || r == MAILIMAP_ERROR_FATAL ||
	    r == MAILIMAP_ERROR_DONT_ACCEPT_CONNECTION)
		return WB_FAIL_SOON;
	const char *code = response_code(s);
	for (size_t i = 0; code != NULL && i < G_N_ELEMENTS(code_fail); i++) {
		if (g_ascii_strcasecmp(code, code_fail[i].code) == 0)
			return code_fail[i].fail;
	}
	return on_no;
}

/* What the server said, as `"[CODE] text"`, cut and with control characters blanked; or
 * libetpan's error when the server said nothing. */
static char *describe(const mailimap *s, int r)
{
	if (!server_answered(r) || s == NULL || s->imap_response == NULL)
		return g_strdup(etpan_error_text(r));
	GString *d = g_string_new(etpan_error_text(r));
	g_string_append(d, ": \"");
	size_t start = d->len;
	const char *code = response_code(s);
	const char *value = s->imap_response_info != NULL ? s->imap_response_info->rsp_value : NULL;
	if (code != NULL)
		g_string_append_printf(d, "[%s%s%s] ", code, value ? " " : "", value ? value : "");
	else if (trycreate(s))
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

/* Forget the connection without a word: mailimap_free() would send LOGOUT first and,
 * on a dead or hanging connection, wait a whole timeout for the answer. */
static void drop(struct wb_target *t)
{
	if (t->imap == NULL)
		return;
	if (t->imap->imap_stream != NULL) {
		mailstream_close(t->imap->imap_stream);
		t->imap->imap_stream = NULL;
	}
	mailimap_free(t->imap);
	t->imap = NULL;
}

/* Set error for libetpan result r of `what`, drop the connection if it is no longer
 * trustworthy, and return false. on_no: see classify(). */
static bool fail(struct wb_target *t, GError **error, int r, enum wb_fail on_no, const char *what)
{
	g_autofree char *detail = describe(t->imap, r);

	g_set_error(error, WB_DELIVER_ERROR, classify(t->imap, r, on_no),
		    "imap %s:%u (user %s): %s: %s", t->host, t->port, t->user, what, detail);
	if (connection_unusable(r))
		drop(t);
	return false;
}

/* An error found by us rather than the server (TLS checks, bad input); drops nothing. */
G_GNUC_PRINTF(4, 5)
static bool fail_local(const struct wb_target *t, GError **error, enum wb_fail f,
		       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error(error, WB_DELIVER_ERROR, f, "imap %s:%u (user %s): %s", t->host, t->port,
		    t->user, msg);
	return false;
}

/* ---- configuration --------------------------------------------------------------- */

static bool parse_url(struct wb_target *t, const char *url, GError **error)
{
	g_autoptr(GUri) uri = url != NULL ? g_uri_parse(url, G_URI_FLAGS_NONE, NULL) : NULL;
	const char *scheme = uri != NULL ? g_uri_get_scheme(uri) : NULL;
	const char *host = uri != NULL ? g_uri_get_host(uri) : NULL;
	bool imaps = scheme != NULL && g_ascii_strcasecmp(scheme, "imaps") == 0;

	if (scheme == NULL || (!imaps && g_ascii_strcasecmp(scheme, "imap") != 0) ||
	    host == NULL || host[0] == '\0' || g_uri_get_port(uri) == 0) {
		g_set_error(error, WB_DELIVER_ERROR, WB_FAIL_LATER,
			    "imap: [imap] url must be imap://HOST[:PORT] or imaps://HOST[:PORT]");
		return false;
	}
	t->tls = imaps;
	t->host = g_strdup(host);
	int port = g_uri_get_port(uri);
	t->port = port > 0 ? (uint16_t)port : imaps ? 993 : 143;
	return true;
}

/* "AB:cd:..." or "abcd..." → 64 lowercase hex digits; NULL when malformed. */
static char *normalize_fingerprint(const char *fp)
{
	GString *hex = g_string_new(NULL);

	if (g_str_has_prefix(fp, "sha256:"))
		fp += strlen("sha256:");
	for (; *fp != '\0'; fp++) {
		if (*fp == ':' || g_ascii_isspace(*fp))
			continue;
		if (!g_ascii_isxdigit(*fp)) {
			g_string_free(hex, TRUE);
			return NULL;
		}
		g_string_append_c(hex, g_ascii_tolower(*fp));
	}
	if (hex->len != 64) {
		g_string_free(hex, TRUE);
		return NULL;
	}
	return g_string_free(hex, FALSE);
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

/* IMAP's modified UTF-7 (RFC 3501 5.1.3) for a mailbox name: printable ASCII as is
 * ("&" as "&-"), every other run as UTF-16BE in base64 with ',' for '/'. NULL for
 * invalid UTF-8. Folder names like "অভিযোগ" need it. */
static char *mutf7_encode(const char *utf8)
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

static bool configure(struct wb_target *t, const struct wb_config *cfg,
		      const struct wb_station *st, GError **error)
{
	if (!parse_url(t, cfg->imap_url, error))
		return false;
	t->user = g_strdup(st->imap_user != NULL ? st->imap_user : "");
	t->password = g_strdup(st->imap_password != NULL ? st->imap_password : "");
	t->folder = g_strdup(st->folder != NULL && st->folder[0] != '\0' ? st->folder : "INBOX");
	t->folder_wire = mutf7_encode(t->folder);
	if (cfg->imap_ca_file != NULL && cfg->imap_ca_file[0] != '\0')
		t->ca_file = g_strdup(cfg->imap_ca_file);
	if (cfg->imap_tls_fingerprint != NULL && cfg->imap_tls_fingerprint[0] != '\0') {
		t->fingerprint = normalize_fingerprint(cfg->imap_tls_fingerprint);
		if (t->fingerprint == NULL)
			return fail_local(t, error, WB_FAIL_LATER,
					  "[imap] tls_fingerprint must be the 64 hex digits of the "
					  "SHA-256 of the server certificate");
	}
	if (t->user[0] == '\0')
		return fail_local(t, error, WB_FAIL_LATER, "station %s has no imap_user", st->key);
	if (t->folder_wire == NULL)
		return fail_local(t, error, WB_FAIL_LATER, "folder of station %s is not UTF-8",
				  st->key);
	return true;
}

/* ---- TLS ------------------------------------------------------------------------- */

/* Called by libetpan before the handshake: send SNI (never for an address literal). */
static void tls_setup(struct mailstream_ssl_context *ctx, void *data)
{
	const struct wb_target *t = data;

	if (!g_hostname_is_ip_address(t->host))
		mailstream_ssl_set_server_name(ctx, t->host);
}

static bool pin_ok(const struct wb_target *t, const MMAPString *leaf, GError **error)
{
	g_autofree char *hex = wb_sha256_hex(leaf->str, leaf->len);

	if (wb_ct_equal(hex, strlen(hex), t->fingerprint, strlen(t->fingerprint)))
		return true;
	return fail_local(t, error, WB_FAIL_LATER,
			  "server certificate SHA-256 %s does not match [imap] tls_fingerprint", hex);
}

static int load_trust(const struct wb_target *t, gnutls_x509_trust_list_t list)
{
	if (t->ca_file != NULL)
		return gnutls_x509_trust_list_add_trust_file(list, t->ca_file, NULL,
							     GNUTLS_X509_FMT_PEM, 0, 0);
	return gnutls_x509_trust_list_add_system_trust(list, 0, 0);
}

/* Verify the chain (leaf first) against the trust anchors, for our host name and for
 * TLS server use. Returns gnutls' verdict: 0 and *status 0 means trusted. */
static int verify_crts(const struct wb_target *t, gnutls_x509_trust_list_t list,
		       gnutls_x509_crt_t *crts, unsigned n, unsigned *status)
{
	static unsigned char purpose[] = GNUTLS_KP_TLS_WWW_SERVER;
	gnutls_typed_vdata_st data[] = {
		{ .type = GNUTLS_DT_DNS_HOSTNAME, .data = (unsigned char *)t->host },
		{ .type = GNUTLS_DT_KEY_PURPOSE_OID, .data = purpose },
	};
	return gnutls_x509_trust_list_verify_crt2(list, crts, n, data, G_N_ELEMENTS(data), 0,
						  status, NULL);
}

static unsigned import_chain(carray *chain, gnutls_x509_crt_t *crts)
{
	unsigned n = 0;

	for (unsigned i = 0; i < carray_count(chain) && n < CHAIN_MAX; i++) {
		const MMAPString *der = carray_get(chain, i);
		const gnutls_datum_t d = { (unsigned char *)der->str, (unsigned)der->len };
		if (gnutls_x509_crt_init(&crts[n]) < 0)
			break;
		if (gnutls_x509_crt_import(crts[n], &d, GNUTLS_X509_FMT_DER) < 0) {
			gnutls_x509_crt_deinit(crts[n]);
			break;
		}
		n++;
	}
	return n;
}

static bool chain_ok(const struct wb_target *t, carray *chain, GError **error)
{
	gnutls_x509_trust_list_t list;
	gnutls_x509_crt_t crts[CHAIN_MAX];
	unsigned status = 0;

	if (gnutls_x509_trust_list_init(&list, 0) < 0)
		return fail_local(t, error, WB_FAIL_SOON, "out of memory");
	if (load_trust(t, list) <= 0) {
		gnutls_x509_trust_list_deinit(list, 1);
		return fail_local(t, error, WB_FAIL_LATER, "no CA certificate could be read from %s",
				  t->ca_file != NULL ? t->ca_file : "the system trust store");
	}
	unsigned n = import_chain(chain, crts);
	int r = n > 0 ? verify_crts(t, list, crts, n, &status) : GNUTLS_E_NO_CERTIFICATE_FOUND;
	for (unsigned i = 0; i < n; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_x509_trust_list_deinit(list, 1);
	if (r == 0 && status == 0)
		return true;
	gnutls_datum_t why = { NULL, 0 };
	if (r < 0 || gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509,
								   &why, 0) < 0)
		why.data = NULL;
	fail_local(t, error, WB_FAIL_LATER,
		   "server certificate not trusted (%s): set [imap] ca_file or tls_fingerprint",
		   why.data != NULL ? g_strstrip((char *)why.data) : gnutls_strerror(r));
	gnutls_free(why.data);
	return false;
}

/* After the handshake, before anything secret is sent. */
static bool verify_peer(struct wb_target *t, GError **error)
{
	carray *chain = mailstream_get_certificate_chain(t->imap->imap_stream);
	bool ok;

	if (chain == NULL || carray_count(chain) == 0)
		ok = fail_local(t, error, WB_FAIL_LATER, "server sent no certificate");
	else if (t->fingerprint != NULL)
		ok = pin_ok(t, carray_get(chain, 0), error) &&
		     (t->ca_file == NULL || chain_ok(t, chain, error));
	else
		ok = chain_ok(t, chain, error);
	if (chain != NULL)
		mailstream_certificate_chain_free(chain);
	return ok;
}

static bool has_capability(struct wb_target *t, const char *name)
{
	const struct mailimap_connection_info *ci = t->imap->imap_connection_info;

	if (ci == NULL || ci->imap_capability == NULL) {
		struct mailimap_capability_data *cap = NULL;
		if (mailimap_capability(t->imap, &cap) == MAILIMAP_NO_ERROR)
			mailimap_capability_data_free(cap);
	}
	return mailimap_has_extension(t->imap, name) != 0;
}

/* imap://: STARTTLS when offered; required and verified when a trust anchor is set. */
static bool starttls(struct wb_target *t, GError **error)
{
	bool verify = t->ca_file != NULL || t->fingerprint != NULL;

	if (!has_capability(t, "STARTTLS")) {
		if (!verify)
			return true;
		return fail_local(t, error, WB_FAIL_LATER,
				  "server offers no STARTTLS, but [imap] ca_file or tls_fingerprint "
				  "asks for verified TLS (use imaps:// or drop them)");
	}
	int r = mailimap_socket_starttls_with_callback(t->imap, tls_setup, t);
	if (r != MAILIMAP_NO_ERROR)
		return fail(t, error, r, WB_FAIL_LATER, "STARTTLS");
	/* Bytes already buffered were sent in clear text after the OK: an injection attempt
	 * (CVE-2020-15953) that libetpan 1.9 does not catch itself. */
	if (t->imap->imap_stream->read_buffer_len != 0) {
		drop(t);
		return fail_local(t, error, WB_FAIL_LATER,
				  "server sent data after STARTTLS before the TLS handshake");
	}
	return !verify || verify_peer(t, error);
}

/* ---- session --------------------------------------------------------------------- */

static bool imap_login(struct wb_target *t, GError **error)
{
	int r = mailimap_login(t->imap, t->user, t->password);

	if (r == MAILIMAP_NO_ERROR)
		return true;
	return fail(t, error, r, WB_FAIL_LATER, "login refused");
}

static bool imap_connect(struct wb_target *t, GError **error)
{
	t->imap = mailimap_new(0, NULL);
	if (t->imap == NULL)
		return fail_local(t, error, WB_FAIL_SOON, "out of memory");
	mailimap_set_timeout(t->imap, IMAP_TIMEOUT_S);
	int r = t->tls ? mailimap_ssl_connect_with_callback(t->imap, t->host, t->port, tls_setup, t)
		       : mailimap_socket_connect(t->imap, t->host, t->port);
	if (r != MAILIMAP_NO_ERROR_AUTHENTICATED && r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED) {
		fail(t, error, r, WB_FAIL_SOON, "connect");
		drop(t);
		return false;
	}
	bool ok = t->tls ? verify_peer(t, error) : starttls(t, error);
	if (ok && r == MAILIMAP_NO_ERROR_NON_AUTHENTICATED)
		ok = imap_login(t, error);
	if (!ok) {
		drop(t);
		return false;
	}
	t->last_used = g_get_monotonic_time();
	return true;
}

/* A usable, logged-in connection: the current one if it still answers, else a new one. */
static bool ready(struct wb_target *t, GError **error)
{
	gint64 now = g_get_monotonic_time();

	if (t->imap != NULL && now - t->last_used > IMAP_IDLE_CHECK_S * G_USEC_PER_SEC) {
		if (mailimap_noop(t->imap) == MAILIMAP_NO_ERROR)
			t->last_used = now;
		else
			drop(t);
	}
	return t->imap != NULL || imap_connect(t, error);
}

static void imap_close(struct wb_target *t)
{
	if (t == NULL)
		return;
	if (t->imap != NULL)
		(void)mailimap_logout(t->imap);
	drop(t);
	if (t->password != NULL)
		explicit_bzero(t->password, strlen(t->password));
	g_free(t->password);
	g_free(t->host);
	g_free(t->ca_file);
	g_free(t->fingerprint);
	g_free(t->user);
	g_free(t->folder);
	g_free(t->folder_wire);
	g_free(t);
}

static struct wb_target *imap_open(const struct wb_config *cfg, const struct wb_station *st,
				   GError **error)
{
	struct wb_target *t = g_new0(struct wb_target, 1);

	if (!configure(t, cfg, st, error) || !imap_connect(t, error)) {
		imap_close(t);
		return NULL;
	}
	return t;
}

/* ---- exists ---------------------------------------------------------------------- */

/* Printable ASCII without <>, quotes or backslash: what a Message-ID (RFC 5322 msg-id,
 * without the brackets) can hold, and safe to send in a SEARCH. */
static bool message_id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > MESSAGE_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)id[i];
		if (c <= 0x20 || c >= 0x7f || strchr("<>\"\\", c) != NULL)
			return false;
	}
	return true;
}

/* After EXAMINE failed with NO: does the folder exist at all? (If not, no mail is in
 * it; servers differ in saying so, [NONEXISTENT] is not universal, LIST is.) */
static int folder_listed(struct wb_target *t, GError **error)
{
	clist *list = NULL;
	int r = mailimap_list(t->imap, "", t->folder_wire, &list);

	if (r != MAILIMAP_NO_ERROR) {
		fail(t, error, r, WB_FAIL_LATER, "LIST");
		return -1;
	}
	int n = list != NULL ? clist_count(list) : 0;
	if (list != NULL)
		mailimap_list_result_free(list);
	return n > 0;
}

/* UID SEARCH HEADER Message-ID <id>. IMAP's header search is a case-insensitive
 * substring match; with the brackets included it can only match this id or one that
 * differs in case, which wamids (Meta-made) never do. */
static int search_message_id(struct wb_target *t, const char *message_id, GError **error)
{
	g_autofree char *value = g_strdup_printf("<%s>", message_id);
	char *name_m = strdup("Message-ID"), *value_m = strdup(value);
	struct mailimap_search_key *key = name_m != NULL && value_m != NULL ?
		mailimap_search_key_new_header(name_m, value_m) : NULL;

	if (key == NULL) {
		free(name_m);
		free(value_m);
		fail_local(t, error, WB_FAIL_SOON, "out of memory");
		return -1;
	}
	clist *result = NULL;
	int r = mailimap_uid_search(t->imap, NULL, key, &result);
	mailimap_search_key_free(key);
	if (r != MAILIMAP_NO_ERROR) {
		fail(t, error, r, WB_FAIL_LATER, "UID SEARCH");
		return -1;
	}
	int found = result != NULL && clist_count(result) > 0;
	if (result != NULL)
		mailimap_search_result_free(result);
	return found;
}

static int imap_exists(struct wb_target *t, const char *message_id, GError **error)
{
	if (!message_id_ok(message_id)) {
		fail_local(t, error, WB_FAIL_FINAL, "not a usable Message-ID: \"%s\"", message_id);
		return -1;
	}
	if (!ready(t, error))
		return -1;
	/* EXAMINE each time: read-only, and it makes the server show mail appended since. */
	int r = mailimap_examine(t->imap, t->folder_wire);
	if (r != MAILIMAP_NO_ERROR && connection_unusable(r)) {
		g_autofree char *what = g_strdup_printf("EXAMINE %s", t->folder);
		fail(t, error, r, WB_FAIL_LATER, what);
		return -1;
	}
	if (r != MAILIMAP_NO_ERROR) {
		int listed = folder_listed(t, error);
		if (listed == 1) {
			fail_local(t, error, WB_FAIL_LATER, "folder %s exists but EXAMINE was refused",
				   t->folder);
			return -1;
		}
		return listed;
	}
	int found = search_message_id(t, message_id, error);
	if (found >= 0)
		t->last_used = g_get_monotonic_time();
	return found;
}

/* ---- deliver --------------------------------------------------------------------- */

/* atom (RFC 3501) without atom-specials: what a keyword may be. */
static bool keyword_ok(const char *kw)
{
	if (kw[0] == '\0' || strlen(kw) > 100)
		return false;
	for (const char *p = kw; *p != '\0'; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f ||
		    strchr("(){%*\"\\]", *p) != NULL)
			return false;
	}
	return true;
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
	if (!keyword_ok(name))
		return NULL;
	char *kw = strdup(name);
	struct mailimap_flag *f = kw != NULL ? mailimap_flag_new_flag_keyword(kw) : NULL;
	if (f == NULL)
		free(kw);
	return f;
}

static struct mailimap_flag_list *flag_list_new(const struct wb_target *t,
						const char *const *flags, GError **error)
{
	struct mailimap_flag_list *list = mailimap_flag_list_new_empty();

	for (size_t i = 0; list != NULL && flags != NULL && flags[i] != NULL; i++) {
		struct mailimap_flag *f = flag_new(flags[i]);
		if (f == NULL || mailimap_flag_list_add(list, f) != MAILIMAP_NO_ERROR) {
			if (f != NULL)
				mailimap_flag_free(f);
			mailimap_flag_list_free(list);
			fail_local(t, error, WB_FAIL_FINAL, "cannot set IMAP flag \"%s\"", flags[i]);
			return NULL;
		}
	}
	if (list == NULL)
		fail_local(t, error, WB_FAIL_SOON, "out of memory");
	return list;
}

/* CREATE after [TRYCREATE], then SUBSCRIBE: many clients show subscribed folders only. */
static bool create_folder(struct wb_target *t, GError **error)
{
	int r = mailimap_create(t->imap, t->folder_wire);
	const char *code = response_code(t->imap);

	/* Someone else may have created it since: fine. */
	if (r != MAILIMAP_NO_ERROR &&
	    !(r == MAILIMAP_ERROR_CREATE && code != NULL && g_ascii_strcasecmp(code, "ALREADYEXISTS") == 0)) {
		g_autofree char *what = g_strdup_printf("CREATE %s", t->folder);
		return fail(t, error, r, WB_FAIL_LATER, what);
	}
	r = mailimap_subscribe(t->imap, t->folder_wire);
	if (r != MAILIMAP_NO_ERROR && connection_unusable(r)) {
		g_autofree char *what = g_strdup_printf("SUBSCRIBE %s", t->folder);
		return fail(t, error, r, WB_FAIL_SOON, what);
	}
	return true;
}

/* "imap://host:port/FOLDER;UIDVALIDITY=v;UID=n" (the UID part only with APPENDUID). */
static char *location(const struct wb_target *t, uint32_t uidvalidity, uint32_t uid)
{
	g_autofree char *box = g_uri_escape_string(t->folder, "/", TRUE);
	bool v6 = strchr(t->host, ':') != NULL;
	GString *s = g_string_new(NULL);

	g_string_printf(s, "imap://%s%s%s:%u/%s", v6 ? "[" : "", t->host, v6 ? "]" : "", t->port,
			box);
	if (uidvalidity != 0 && uid != 0)
		g_string_append_printf(s, ";UIDVALIDITY=%" G_GUINT32_FORMAT ";UID=%" G_GUINT32_FORMAT,
				       uidvalidity, uid);
	return g_string_free(s, FALSE);
}

static bool append(struct wb_target *t, struct mailimap_flag_list *flags, const char *mail,
		   size_t len, struct wb_delivered *out, GError **error)
{
	uint32_t uidvalidity = 0, uid = 0;
	int r = mailimap_uidplus_append(t->imap, t->folder_wire, flags, NULL, mail, len,
					&uidvalidity, &uid);

	if (r == MAILIMAP_ERROR_APPEND && trycreate(t->imap)) {
		if (!create_folder(t, error))
			return false;
		r = mailimap_uidplus_append(t->imap, t->folder_wire, flags, NULL, mail, len,
					    &uidvalidity, &uid);
	}
	if (r != MAILIMAP_NO_ERROR) {
		g_autofree char *what = g_strdup_printf("APPEND to %s (%zu bytes)", t->folder, len);
		return fail(t, error, r, WB_FAIL_FINAL, what);
	}
	t->last_used = g_get_monotonic_time();
	*out = (struct wb_delivered){
		.uidvalidity = uidvalidity,
		.uid = uid,
		.location = location(t, uidvalidity, uid),
	};
	return true;
}

static bool imap_deliver(struct wb_target *t, const char *mail, size_t len,
			 const char *const *flags, struct wb_delivered *out, GError **error)
{
	if (len > WB_MAX_MAIL_BYTES)
		return fail_local(t, error, WB_FAIL_FINAL, "mail of %zu bytes is over the %u limit",
				  len, WB_MAX_MAIL_BYTES);
	struct mailimap_flag_list *list = flag_list_new(t, flags, error);
	if (list == NULL)
		return false;
	bool ok = ready(t, error) && append(t, list, mail, len, out, error);
	mailimap_flag_list_free(list);
	return ok;
}

const struct wb_deliver_ops wb_deliver_imap = {
	.name = "imap",
	.open = imap_open,
	.exists = imap_exists,
	.deliver = imap_deliver,
	.close = imap_close,
};
