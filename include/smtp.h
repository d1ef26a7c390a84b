/* smtp: send one finished mail by SMTP (libcurl), for the escalation mails of the duty of
 * care. The caller (a durable queue) composes the mail and retries by the error's class.
 *
 * Design:
 * - One libcurl easy handle per call, no connection kept: escalations are rare, and a
 *   fresh connection never carries an earlier session's state.
 * - TLS follows tls.h exactly as imapconn.c does: smtps:// is TLS from the first byte;
 *   smtp:// uses STARTTLS whenever offered, and requires it (CURLUSESSL_ALL) off loopback
 *   unless [smtp] allow_plaintext, or always when [smtp] ca_file is set. The certificate
 *   is verified by libcurl (chain against ca_file or the system CAs, host name) during
 *   the handshake, before AUTH or any mail. When STARTTLS is optional (a host written as
 *   loopback) the socket callback refuses every address that is not loopback, so plain
 *   text can only ever reach a loopback address; when that left nothing to connect to, a
 *   second attempt requires STARTTLS (tls.h: "must then in fact reach a loopback
 *   address").
 * - Envelope addresses are checked before anything connects: one with a control
 *   character, a space or angle brackets could add SMTP commands (CRLF injection).
 * - Failures are classified by what to do next (fail.h): no connection, a lost one, a
 *   timeout and any 4xx reply are WB_FAIL_SOON; a refused login, TLS refused or not
 *   verifiable, a server without STARTTLS where it is required, 5xx to the greeting,
 *   EHLO or AUTH, a policy refusal (530, 5.7.x) and a missing or bad [smtp] url are
 *   WB_FAIL_LATER; any other 5xx to MAIL, to every RCPT, or to the mail itself is
 *   WB_FAIL_FINAL. Recipients refused while others are accepted are logged and the mail
 *   goes to the rest.
 * - The server's replies are watched through libcurl's debug callback to name the
 *   command that failed and quote the reply (cut, control characters blanked). Of what
 *   we send only the command verb and RCPT addresses are kept: AUTH's arguments and the
 *   lines after it (the password, in base64) never reach a message or a log.
 * - Error messages read "smtp HOST:PORT: WHAT: DETAIL; WHAT TO DO".
 * - Blocking, up to WB_SMTP_CONNECT_S to connect and WB_SMTP_STALL_S without progress
 *   (slower than WB_SMTP_STALL_BPS): run it off any event callback that must answer
 *   quickly. No signals (CURLOPT_NOSIGNAL). curl_global_init() must have run. */
#ifndef WB_SMTP_H
#define WB_SMTP_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "fail.h"

#ifndef WB_SMTP_CONNECT_S
#define WB_SMTP_CONNECT_S  30 /* TCP connect and TLS handshake */
#endif
#ifndef WB_SMTP_STALL_S
#define WB_SMTP_STALL_S    60 /* a server this long below WB_SMTP_STALL_BPS is given up */
#endif
#define WB_SMTP_STALL_BPS  1  /* bytes per second */
#define WB_SMTP_ADDR_MAX   254 /* octets of an envelope address (RFC 5321 path limit) */
#define WB_SMTP_RCPTS_MAX  100 /* recipients of one mail (RFC 5321's minimum a server takes) */

#define WB_SMTP_ERROR (wb_smtp_error_quark())
GQuark wb_smtp_error_quark(void); /* codes: enum wb_fail (include/fail.h) */

/* Send one complete RFC 5322 mail (CRLF line ends) from cfg->smtp_from to the
 * NULL-terminated recipients, through cfg->smtp_url. False with an error whose code says
 * what to do next: WB_FAIL_SOON (server down, connection lost, 4xx), WB_FAIL_LATER (login
 * refused, TLS refused/unverifiable, no [smtp] url), WB_FAIL_FINAL (5xx for the mail or
 * every recipient, or an envelope address that cannot be sent: it can never go as it is).
 * The message names the server and what to do. */
bool wb_smtp_send(const struct wb_config *cfg, const char *const *rcpts,
		  const void *mail, size_t len, GError **error);

/* Is addr usable as an envelope address: at most WB_SMTP_ADDR_MAX octets of printable
 * ASCII without space, '<' or '>', with an '@' that has text on both sides? (No SMTPUTF8:
 * the addresses come from the configuration, which holds ASCII ones.) */
bool wb_smtp_address_ok(const char *addr);

#endif
