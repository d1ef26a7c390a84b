/* tls: when a connection may go without TLS, and how TLS is verified (see tls.h).
 *
 * The certificate check is our own: libetpan's GnuTLS build verifies nothing
 * (mailstream_ssl_set_server_certicate is a stub there), so the caller hands us the
 * chain the server sent and we check it with GnuTLS after the handshake, before the
 * caller sends a password. */
#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <string.h>

#include "tls.h"
#include "util.h"

G_DEFINE_QUARK(wb-tls-error-quark, wb_tls_error)

/* ---- loopback -------------------------------------------------------------------- */

static bool v4_loopback(const struct in_addr *a)
{
	return (ntohl(a->s_addr) >> 24) == 127;
}

static bool v6_loopback(const struct in6_addr *a)
{
	if (IN6_IS_ADDR_LOOPBACK(a))
		return true;
	if (!IN6_IS_ADDR_V4MAPPED(a))
		return false;
	struct in_addr v4;
	memcpy(&v4, &a->s6_addr[12], sizeof v4);
	return v4_loopback(&v4);
}

bool wb_loopback_host(const char *host)
{
	if (host == NULL)
		return false;
	size_t n = strlen(host);
	g_autofree char *bare = n >= 2 && host[0] == '[' && host[n - 1] == ']'
		? g_strndup(host + 1, n - 2) : g_strdup(host);
	struct in_addr v4;
	struct in6_addr v6;

	if (inet_pton(AF_INET, bare, &v4) == 1)
		return v4_loopback(&v4);
	if (inet_pton(AF_INET6, bare, &v6) == 1)
		return v6_loopback(&v6);
	return g_ascii_strcasecmp(bare, "localhost") == 0;
}

bool wb_loopback_addr(const struct sockaddr *sa)
{
	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET)
		return v4_loopback(&((const struct sockaddr_in *)(const void *)sa)->sin_addr);
	if (sa->sa_family == AF_INET6)
		return v6_loopback(&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr);
	return false;
}

/* ---- URLs and the plan ----------------------------------------------------------- */

static const struct {
	const char *proto, *scheme;
	uint16_t port;
	bool implicit_tls;
} schemes[] = {
	{ "imap", "imap", 143, false },
	{ "imap", "imaps", 993, true },
	{ "smtp", "smtp", 25, false },
	{ "smtp", "smtps", 465, true },
};

bool wb_mailurl_parse(const char *url, const char *proto, struct wb_mailurl *out)
{
	g_autoptr(GUri) uri = url != NULL ? g_uri_parse(url, G_URI_FLAGS_NONE, NULL) : NULL;
	const char *scheme = uri != NULL ? g_uri_get_scheme(uri) : NULL;
	const char *host = uri != NULL ? g_uri_get_host(uri) : NULL;

	memset(out, 0, sizeof *out);
	if (scheme == NULL || host == NULL || host[0] == '\0' || g_uri_get_port(uri) == 0)
		return false;
	for (size_t i = 0; i < G_N_ELEMENTS(schemes); i++) {
		if (strcmp(schemes[i].proto, proto) != 0 ||
		    g_ascii_strcasecmp(schemes[i].scheme, scheme) != 0)
			continue;
		int port = g_uri_get_port(uri);
		out->host = g_strdup(host);
		out->port = port > 0 ? (uint16_t)port : schemes[i].port;
		out->implicit_tls = schemes[i].implicit_tls;
		return true;
	}
	return false;
}

void wb_mailurl_clear(struct wb_mailurl *u)
{
	g_clear_pointer(&u->host, g_free);
}

struct wb_tls_plan wb_tls_plan(const struct wb_mailurl *u, bool allow_plaintext, bool anchored)
{
	struct wb_tls_plan p = {
		.loopback = wb_loopback_host(u->host),
		.allow_plaintext = allow_plaintext,
		.anchored = anchored,
	};

	if (u->implicit_tls)
		p.mode = WB_TLS_IMPLICIT;
	else if (!anchored && (p.loopback || allow_plaintext))
		p.mode = WB_TLS_STARTTLS_OPTIONAL;
	else
		p.mode = WB_TLS_STARTTLS_REQUIRED;
	return p;
}

/* A host written as loopback must have been reached on loopback: a "localhost" that
 * /etc/hosts sends elsewhere gets no plain text. */
bool wb_tls_plain_ok(const struct wb_tls_plan *p, const struct sockaddr *peer)
{
	if (p->mode != WB_TLS_STARTTLS_OPTIONAL)
		return false;
	return p->allow_plaintext || wb_loopback_addr(peer);
}

char *wb_tls_refusal(const struct wb_tls_plan *p, const char *host, const char *group)
{
	if (p->anchored)
		return g_strdup_printf("the server offers no STARTTLS, but [%s] ca_file or "
				       "tls_fingerprint asks for verified TLS; use %ss://, turn "
				       "STARTTLS on in the server, or drop them", group, group);
	return g_strdup_printf("the server offers no STARTTLS and %s %s, so nothing secret is "
			       "sent; use %ss://, turn STARTTLS on in the server, or set [%s] "
			       "allow_plaintext = true", host, p->loopback
			       ? "was not reached at a loopback address" : "is not a loopback host",
			       group, group);
}

bool wb_tls_plaintext_by_config(const struct wb_tls_plan *p)
{
	return p->mode == WB_TLS_STARTTLS_OPTIONAL && !p->loopback;
}

static char *describe_trust(const char *host, const char *ca_file, const char *fingerprint)
{
	if (fingerprint != NULL && ca_file != NULL)
		return g_strdup_printf("certificate pinned by tls_fingerprint and verified "
				       "against %s for %s", ca_file, host);
	if (fingerprint != NULL)
		return g_strdup("certificate pinned by tls_fingerprint");
	return g_strdup_printf("certificate verified against %s for %s",
			       ca_file != NULL ? ca_file : "the system CAs", host);
}

char *wb_tls_describe(const struct wb_tls_plan *p, const struct wb_mailurl *u,
		      const char *ca_file, const char *fingerprint)
{
	g_autofree char *trust = describe_trust(u->host, ca_file, fingerprint);

	switch (p->mode) {
	case WB_TLS_IMPLICIT:
		return g_strdup_printf("TLS, %s", trust);
	case WB_TLS_STARTTLS_REQUIRED:
		return g_strdup_printf("STARTTLS required (%s), %s; a server without STARTTLS "
				       "is refused before any login",
				       p->anchored ? "a CA or pin is set" : "not a loopback host",
				       trust);
	case WB_TLS_STARTTLS_OPTIONAL:
	default:
		return g_strdup_printf("STARTTLS when the server offers it, %s; plain text "
				       "when it does not (%s)", trust,
				       p->loopback ? "loopback host" : "allow_plaintext = true");
	}
}

/* ---- fingerprints ---------------------------------------------------------------- */

char *wb_tls_fingerprint(const char *text)
{
	if (text == NULL)
		return NULL;
	if (g_ascii_strncasecmp(text, "sha256:", strlen("sha256:")) == 0)
		text += strlen("sha256:");
	GString *hex = g_string_new(NULL);
	for (const char *p = text; *p != '\0'; p++) {
		if (*p == ':' || *p == ' ')
			continue;
		if (!g_ascii_isxdigit(*p) || hex->len == 64) {
			g_string_free(hex, TRUE);
			return NULL;
		}
		g_string_append_c(hex, g_ascii_tolower(*p));
	}
	if (hex->len != 64) {
		g_string_free(hex, TRUE);
		return NULL;
	}
	return g_string_free(hex, FALSE);
}

/* ---- the certificate check ------------------------------------------------------- */

/* Sets a refusal (WB_FAIL_LATER: a human has to act) and returns false. */
static bool refuse(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static bool refuse(GError **error, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error_literal(error, WB_TLS_ERROR, WB_FAIL_LATER, msg);
	return false;
}

static bool pin_ok(const struct wb_tls_der *leaf, const char *fingerprint, const char *group,
		   GError **error)
{
	g_autofree char *hex = wb_sha256_hex(leaf->data, leaf->len);

	if (wb_ct_equal(hex, strlen(hex), fingerprint, strlen(fingerprint)))
		return true;
	return refuse(error, "server certificate SHA-256 %s does not match [%s] tls_fingerprint",
		      hex, group);
}

static unsigned import_chain(const struct wb_tls_der *chain, size_t n, gnutls_x509_crt_t *crts)
{
	unsigned got = 0;

	for (size_t i = 0; i < n && got < WB_TLS_CHAIN_MAX; i++) {
		const gnutls_datum_t d = { (unsigned char *)chain[i].data, (unsigned)chain[i].len };
		if (gnutls_x509_crt_init(&crts[got]) < 0)
			break;
		if (gnutls_x509_crt_import(crts[got], &d, GNUTLS_X509_FMT_DER) < 0) {
			gnutls_x509_crt_deinit(crts[got]);
			break;
		}
		got++;
	}
	return got;
}

/* gnutls' verdict on the chain for host and TLS server use: 0 with *status 0 is trusted.
 * An address as host is matched against the certificate's IP entries. */
static int verify_crts(gnutls_x509_trust_list_t list, gnutls_x509_crt_t *crts, unsigned n,
		       const char *host, unsigned *status)
{
	static unsigned char purpose[] = GNUTLS_KP_TLS_WWW_SERVER;
	gnutls_typed_vdata_st data[] = {
		{ .type = GNUTLS_DT_DNS_HOSTNAME, .data = (unsigned char *)host },
		{ .type = GNUTLS_DT_KEY_PURPOSE_OID, .data = purpose },
	};
	return gnutls_x509_trust_list_verify_crt2(list, crts, n, data, G_N_ELEMENTS(data), 0,
						  status, NULL);
}

static bool chain_refused(int r, unsigned status, const char *group, GError **error)
{
	gnutls_datum_t text = { NULL, 0 };

	if (r < 0 || gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509,
								   &text, 0) < 0)
		text.data = NULL;
	refuse(error, "server certificate not trusted (%s): set [%s] ca_file to the CA that "
	       "signed it, or pin it with tls_fingerprint",
	       text.data != NULL ? g_strstrip((char *)text.data) : gnutls_strerror(r), group);
	gnutls_free(text.data);
	return false;
}

/* The trust anchors: ca_file, else the system's. */
static bool load_trust(gnutls_x509_trust_list_t list, const char *ca_file, const char *group,
		       GError **error)
{
	int loaded = ca_file != NULL
		? gnutls_x509_trust_list_add_trust_file(list, ca_file, NULL, GNUTLS_X509_FMT_PEM, 0, 0)
		: gnutls_x509_trust_list_add_system_trust(list, 0, 0);
	if (loaded > 0)
		return true;
	if (ca_file != NULL)
		return refuse(error, "no CA certificate could be read from %s; fix [%s] ca_file",
			      ca_file, group);
	return refuse(error, "no CA certificate could be read from the system trust store; "
		      "install ca-certificates or set [%s] ca_file", group);
}

static bool chain_ok(const struct wb_tls_der *chain, size_t n, const char *host,
		     const char *ca_file, const char *group, GError **error)
{
	gnutls_x509_trust_list_t list;
	gnutls_x509_crt_t crts[WB_TLS_CHAIN_MAX];
	unsigned status = 0;

	if (gnutls_x509_trust_list_init(&list, 0) < 0)
		return refuse(error, "out of memory");
	if (!load_trust(list, ca_file, group, error)) {
		gnutls_x509_trust_list_deinit(list, 1);
		return false;
	}
	unsigned got = import_chain(chain, n, crts);
	int r = got > 0 ? verify_crts(list, crts, got, host, &status) : GNUTLS_E_NO_CERTIFICATE_FOUND;
	for (unsigned i = 0; i < got; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_x509_trust_list_deinit(list, 1);
	return (r == 0 && status == 0) || chain_refused(r, status, group, error);
}

bool wb_tls_verify(const struct wb_tls_der *chain, size_t n, const char *host,
		   const char *ca_file, const char *fingerprint, const char *group, GError **error)
{
	if (n == 0)
		return refuse(error, "server sent no certificate");
	if (fingerprint != NULL)
		return pin_ok(&chain[0], fingerprint, group, error) &&
		       (ca_file == NULL || chain_ok(chain, n, host, ca_file, group, error));
	return chain_ok(chain, n, host, ca_file, group, error);
}
