/* tls: when a connection may go without TLS, and how TLS is verified, in one place.
 * IMAP (imapconn.c: station mailboxes and the replies mailbox) uses it now, the SMTP
 * sender of escalation mails will use it as it is, and check-config (config.c) reports
 * what it decides for each URL.
 *
 * The rules, for imap:// imaps:// smtp:// smtps:// alike:
 * - TLS, whenever it is used, is verified before anything secret is sent: the server's
 *   certificate chain against ca_file when set, else against the system CAs, for the
 *   URL's host (a name, or an address against the certificate's IP entries) and for TLS
 *   server use. A tls_fingerprint pin (SHA-256 of the certificate's DER) trusts exactly
 *   that certificate instead; with ca_file as well, both must hold.
 * - imaps:// and smtps:// speak TLS from the first byte.
 * - imap:// and smtp:// use STARTTLS whenever the server offers it. A server that does
 *   not is spoken to in plain text only when the host is loopback, or when the group
 *   says allow_plaintext = true; otherwise the connection is refused before any login
 *   or mail is sent. allow_plaintext never turns verification off, and a configured
 *   ca_file or tls_fingerprint says TLS is expected: STARTTLS is then required even to a
 *   loopback host and despite allow_plaintext.
 * - Loopback: a host written as an IPv4 address in 127.0.0.0/8, as ::1 (also
 *   ::ffff:127.x.y.z, with or without []), or as the name localhost; and the connection
 *   must then in fact reach a loopback address (wb_tls_plain_ok). Any other name counts
 *   as remote, whatever it resolves to today: a DNS answer can change between
 *   check-config and a connection, and is no proof that the bytes stay on this machine.
 *   The same definition decides where the webhook listener may run without signatures
 *   and where the Graph API may be reached over http://.
 *
 * Everything here is pure (no network, no DNS, no clock) except wb_tls_verify(), which
 * reads ca_file or the system trust store. */
#ifndef WB_TLS_H
#define WB_TLS_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "fail.h"

#define WB_TLS_ERROR (wb_tls_error_quark())
GQuark wb_tls_error_quark(void);
/* GError codes in WB_TLS_ERROR are enum wb_fail values. */

/* Is host (as written in a URL or a listen address, [] allowed around IPv6) loopback? */
bool wb_loopback_host(const char *host);
/* Is a connected socket address loopback? false for NULL and non-IP families. */
bool wb_loopback_addr(const struct sockaddr *sa);

/* A mail server URL: imap://HOST[:PORT], imaps://, smtp:// or smtps://. */
struct wb_mailurl {
	char *host;        /* without [] for IPv6 */
	uint16_t port;     /* as given, else the scheme's: 143, 993, 25, 465 */
	bool implicit_tls; /* imaps://, smtps:// */
};

/* Parse url for proto "imap" or "smtp" (its plain and its TLS scheme, any case). false
 * for anything else, a missing host or port 0; out is then left empty. */
bool wb_mailurl_parse(const char *url, const char *proto, struct wb_mailurl *out);
void wb_mailurl_clear(struct wb_mailurl *u);

enum wb_tls_mode {
	WB_TLS_IMPLICIT,          /* TLS from the first byte */
	WB_TLS_STARTTLS_REQUIRED, /* STARTTLS, or refuse before any credential */
	WB_TLS_STARTTLS_OPTIONAL, /* STARTTLS when offered, else plain text */
};

struct wb_tls_plan {
	enum wb_tls_mode mode;
	bool loopback;        /* the host counts as loopback by how it is written */
	bool allow_plaintext; /* the group's allow_plaintext */
	bool anchored;        /* ca_file or tls_fingerprint set: TLS is expected */
};

/* What the rules say for a connection to u; anchored: ca_file or tls_fingerprint set. */
struct wb_tls_plan wb_tls_plan(const struct wb_mailurl *u, bool allow_plaintext, bool anchored);
/* The server offered no STARTTLS and the connection reached peer (NULL: unknown): may
 * it go on in plain text? */
bool wb_tls_plain_ok(const struct wb_tls_plan *p, const struct sockaddr *peer);
/* Why a server without STARTTLS was refused (wb_tls_plain_ok said no): what is wrong
 * and what to do, naming the keys of group ("imap" or "smtp"). */
char *wb_tls_refusal(const struct wb_tls_plan *p, const char *host, const char *group);
/* Does allow_plaintext let a password cross the network in plain text here (a host
 * that is not loopback, without implicit TLS)? check-config warns then. */
bool wb_tls_plaintext_by_config(const struct wb_tls_plan *p);
/* One sentence for check-config on how a connection to u goes, e.g. "STARTTLS
 * required, certificate verified against the system CAs for mail.police.example".
 * ca_file and fingerprint may be NULL. */
char *wb_tls_describe(const struct wb_tls_plan *p, const struct wb_mailurl *u,
		      const char *ca_file, const char *fingerprint);

/* A tls_fingerprint as written ("sha256:AB:CD:…", "AB:CD:…", "abcd…", spaces allowed
 * between digit pairs) → 64 lowercase hex digits; NULL when it is not a SHA-256. */
char *wb_tls_fingerprint(const char *text);

#define WB_TLS_CHAIN_MAX 16 /* certificates of a server chain looked at */

/* One certificate of a chain, DER. */
struct wb_tls_der {
	const void *data;
	size_t len;
};

/* Verify the chain a server sent (leaf first; past WB_TLS_CHAIN_MAX it is cut) by the
 * rules above, for host. fingerprint is normalised (wb_tls_fingerprint) or NULL; ca_file
 * NULL means the system CAs. A refusal is a WB_TLS_ERROR with code WB_FAIL_LATER whose
 * message says what is wrong and what to do, naming the keys of group ("imap"). */
bool wb_tls_verify(const struct wb_tls_der *chain, size_t n, const char *host,
		   const char *ca_file, const char *fingerprint, const char *group,
		   GError **error);

#endif
