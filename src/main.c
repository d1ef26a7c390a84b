/* main: the command line. Parses global options, loads the configuration, dispatches
 * through the commands[] table and maps errors to sysexits codes. */
#include "anchor.h"
#include "config.h"
#include "export.h"
#include "imappool.h"
#include "ingest.h"
#include "journal.h"
#include "verify.h"
#include "duty.h"
#include "outbox.h"
#include "pipeline.h"
#include "render.h"
#include "reply.h"
#include "replyparse.h"
#include "caps.h"
#include "serve.h"
#include "store.h"
#include "util.h"
#include "version.h"

#include <curl/curl.h>
#include <gmime/gmime.h>
#include <jansson.h>
#include <libetpan/libetpan.h>
#include <libxml/xmlversion.h>
#include <microhttpd.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>
#include <unistd.h>

static const char usage_text[] =
"Usage: wabridge [-c FILE] [-v|-q] COMMAND [ARGS]\n"
"\n"
"wabridge bridges the WhatsApp Business Cloud API and ordinary mail. Each WhatsApp\n"
"message a citizen sends to a police station's number becomes one mail in that\n"
"station's mailbox (IMAP or Maildir), threaded by complaint. An officer's reply\n"
"with the complaint number goes back to the citizen on WhatsApp.\n"
"\n"
"Commands:\n"
"  serve            Run the daemon in the foreground: webhook listener (GET handshake,\n"
"                   signed POSTs, /healthz, /metrics), delivery, WhatsApp sends, and\n"
"                   the replies mailbox watched with IDLE ([replies] mode = imap),\n"
"                   and the station's duty (see Duty below).\n"
"                   The listener answers Meta with thousands of slow or hostile\n"
"                   connections open, within the [webhook] limits max_connections,\n"
"                   max_connections_per_ip, request_timeout and body_memory.\n"
"                   SIGTERM/SIGINT finish in-flight work and exit 0; SIGHUP reloads\n"
"                   the configuration (a broken one is refused, the old one kept).\n"
"  run              One pass for cron: deliver everything queued, fire the duties\n"
"                   that are due, send escalation mail, poll the replies mailbox\n"
"                   once ([replies] mode = imap), send queued WhatsApp messages and\n"
"                   write their records into the threads, then exit.\n"
"                   Exit 0 when all is done, 75 when some work waits for a retry.\n"
"  ingest [FILE]    Accept one webhook POST body from FILE or standard input.\n"
"                   --signature 'sha256=HEX'  the X-Hub-Signature-256 header value\n"
"                   (default: $HTTP_X_HUB_SIGNATURE_256). Run by a web server\n"
"                   ($GATEWAY_INTERFACE set) it is a CGI program: GET answers the\n"
"                   handshake, POST stores the body, a Status header says how.\n"
"                   Exit 0 stored; 77 bad or missing signature (nothing stored);\n"
"                   65 signed but not a webhook body (kept as bad, see status).\n"
"  reply [FILE] [--recipient ADDR]...\n"
"                   Take one officer's reply mail from FILE or standard input, as an\n"
"                   MTA pipe (Postfix pipe, .forward, procmail) or as a mail client's\n"
"                   sendmail (its options are accepted and ignored; recipients are\n"
"                   searched for the reply token). Finds the complaint, checks that\n"
"                   the sender is one of the station's officers and that the reply\n"
"                   proves itself (the token of the complaint's reply address, or\n"
"                   Authentication-Results from a server named in [replies]\n"
"                   trusted_authserv_id), records the complaint number and sends it\n"
"                   to the citizen on WhatsApp. The mail is kept whatever happens\n"
"                   (see status). Exit 0 done (also for a mail already taken:\n"
"                   nothing is sent twice); 65 unparsable or nothing in it; 67 no\n"
"                   complaint matches; 77 refused: not from an officer, nothing\n"
"                   proves it (the station is told in the complaint's thread), or a\n"
"                   forged reply address; 75 temporary failure (the MTA retries).\n";

/* In parts: C17 compilers need only take string literals up to 4095 bytes. */
static const char usage_text_more[] =
"  parse-reply [FILE] [--json] [--station KEY]\n"
"                   Run the reply parser alone on one mail (no store, no network)\n"
"                   and print the officer's new text; --json prints an object with\n"
"                   text, number, tags and cuts: where the parser dropped lines\n"
"                   and by which rule ([{\"line\": 7, \"rule\": \"attribution\"}];\n"
"                   rules: quote, attribution, header-block, separator, signature,\n"
"                   footer, banner; lines of the body's text, from 1). --station\n"
"                   adds that station's number_patterns. Exit 0, or 65 when the\n"
"                   mail cannot be parsed.\n"
"  complaints [--station KEY] [--open|--overdue]\n"
"                   List complaints, oldest first: reference, station, state, when\n"
"                   opened, last activity, messages, complaint number, and for open\n"
"                   ones where the clock stands [unacknowledged, due soon, overdue,\n"
"                   escalated, number sent, number delivered]; --overdue lists those\n"
"                   past their clock without a delivered number.\n"
"  complaint REF    Show one complaint and its whole history: the citizen's messages\n"
"                   and their mails, officers' replies (taken or refused, and why),\n"
"                   WhatsApp sends and every status, duties kept, escalation mail,\n"
"                   transfers and splits (#new); then its clock. Exit 67 for an\n"
"                   unknown REF.\n"
"  status           Queue depth, oldest waiting message, last error per station,\n"
"                   webhook bodies kept for inspection, reply mails that were\n"
"                   refused and why, WhatsApp sends that failed or wait, duties\n"
"                   kept, escalation mail waiting for the mail server, the\n"
"                   journal's anchors (today's shown MISSING when it failed), and\n"
"                   per station where the open complaints stand on their clocks.\n"
"  journal verify   Recompute the custody journal's hash chain from its first entry\n"
"                   (README: Custody journal) and name the first entry that does\n"
"                   not fit: its id, time, kind and why. Prints how many entries\n"
"                   were checked and the head hash. Exit 0 intact, 1 broken.\n"
"  journal show [--ref REF] [--limit N]\n"
"                   Print journal entries, oldest first: id, time (UTC), kind,\n"
"                   complaint, subject, detail; --ref only that complaint's,\n"
"                   --limit only the last N.\n"
"  journal anchor   Write an anchor now: a short plain-text mail with the journal's\n"
"                   head hash, its last entry and how to check them, into the\n"
"                   [archive] mailbox, so that a copy of the chain's state lives\n"
"                   outside the bridge's database (README: Journal anchors); then\n"
"                   journal it as an entry of kind anchor. serve and run write one\n"
"                   a day by themselves at [archive] anchor_hour. Prints the entry,\n"
"                   the head and where the mail went. Exit 0 written; 78 [archive]\n"
"                   is not configured; 75 the archive mailbox cannot be reached or\n"
"                   written (nothing is journaled; try again).\n";

static const char usage_text_export[] =
"  verify [--station KEY] [--all] [PATH...]\n"
"                   Check mail against the custody journal and the state database\n"
"                   (README: For archivists): the station's own mailbox (IMAP or\n"
"                   Maildir, read-only), or Maildirs, mbox files, directories of\n"
"                   .eml files and .eml files given as PATHs (with --station, taken\n"
"                   as copies of its mailbox). Each mail is found by Message-ID\n"
"                   among the recorded deliveries; its bytes, headers and parts\n"
"                   are compared with what was delivered, its media with their\n"
"                   Content-Description hashes, its whatsapp-message.json and\n"
"                   X-Payload-SHA256 with the stored webhook body. One line per\n"
"                   problem: altered (what differs), unknown (not the bridge's, or\n"
"                   never delivered by it), missing (with --station: delivered\n"
"                   there, not found); then a summary. Journal anchor mails are\n"
"                   checked against the journal. --all (or -v) also lists intact\n"
"                   mails. Exit 0 all intact; 1 problems found; 66 no such input\n"
"                   or station; 75 mailbox or state database unreachable.\n"
"  export REF -o DIR [--tar]\n"
"  export --station KEY --from DATE --to DATE -o DIR [--tar]\n"
"                   Make an evidence package in DIR (a new or empty directory, made\n"
"                   mode 0700) of every mail delivered for complaint REF, or to\n"
"                   station KEY from DATE to DATE inclusive (YYYY-MM-DD, whole days\n"
"                   in [bridge] timezone). Each mail is read back from the station's\n"
"                   mailbox and checked against its delivery record. DIR gets\n"
"                   mails/ (.eml as the mailbox holds them), webhooks/ (the raw\n"
"                   webhook bodies, named by SHA-256), media/ (photos, documents),\n"
"                   journal.jsonl (the custody journal's entries concerned),\n"
"                   report.txt (intact, altered or MISSING, per mail),\n"
"                   certificate.txt and .html (a sheet for section 63 of the\n"
"                   Bharatiya Sakshya Adhiniyam 2023, for the responsible officer\n"
"                   to complete and sign) and MANIFEST (sha256sum -c format);\n"
"                   --tar also writes DIR.tar (ustar). Prints the counts and the\n"
"                   MANIFEST's SHA-256. A mail gone from the mailbox is reported\n"
"                   MISSING with a warning; the package is still made. Exit 0; 64\n"
"                   bad dates or station; 67 unknown REF; 73 DIR not empty or\n"
"                   DIR.tar exists; 75 mailbox or state database unreachable.\n"
"  check-config     Validate the configuration and print every problem (exit 78),\n"
"                   then warnings (allowed but risky; exit 0) and how each mail\n"
"                   server URL will be reached (see Network rules below). Each\n"
"                   line names the file, [group] and key, and ends with the line\n"
"                   it is on; a duplicate code or phone_number_id names both\n"
"                   stations.\n"
"  version          Print the version of wabridge and its libraries.\n"
"\n";

static const char usage_text2[] =
"Options:\n"
"  -c, --config FILE  Configuration file. Default: $WABRIDGE_CONFIG, then\n"
"                     /etc/wabridge/wabridge.conf if it exists, else the embedded\n"
"                     defaults (state and Maildirs under ./wabridge-data/, listener\n"
"                     on 127.0.0.1:8080, signature checking OFF).\n"
"  -v, --verbose      Also log informational and debug lines.\n"
"  -q, --quiet        Log warnings and errors only.\n"
"      --syslog       Log to syslog (facility daemon) instead of standard error.\n"
"                     Under systemd, logs go to the journal by themselves.\n"
"  -h, --help         Show this help.\n"
"\n"
"Environment:\n"
"  WABRIDGE_CONFIG          Configuration file when -c is not given.\n"
"  HTTP_X_HUB_SIGNATURE_256 Signature for ingest (set by web servers for CGI).\n"
"\n"
"Duty (both serve and run, each step once per complaint, across restarts):\n"
"  A new complaint is acknowledged to the citizen on WhatsApp ([bridge] send_ack),\n"
"  asking for the signed paper complaint until a photo or document comes. Its clock\n"
"  (sla_hours, from the first message) stops only when the complaint number is\n"
"  DELIVERED to the citizen: at half a \"due soon\" note in the thread, at the\n"
"  limit an \"overdue\" note, $WA_Overdue and mail to escalate_to, at twice the\n"
"  limit mail to escalate_late_to. Serious-crime words (serious_keywords_file;\n"
"  mail with Importance: high) or an officer's #escalate escalate at once, and the\n"
"  clock becomes serious_sla_hours.\n"
"  No photo or document after signature_reminder_hours: one reminder. At\n"
"  digest_hour each station gets a digest of its open complaints. #transfer CODE\n"
"  in a reply moves a complaint to another station; #new in a reply to a citizen's\n"
"  message splits it and the later ones off into a new complaint (acknowledged,\n"
"  with its own clock). Mail goes out by [smtp].\n"
"\n"
"State:\n"
"  [bridge] state is a SQLite file (one machine) or a PostgreSQL URI\n"
"  (postgresql://user@host/db?sslmode=verify-full, password in\n"
"  state_password_file) shared by several bridges behind a load balancer. Work is\n"
"  claimed by one bridge ([bridge] node, default the host name) for lease_seconds\n"
"  (default 120), renewed by serve's heartbeat; a bridge that dies loses its claims\n"
"  when the lease runs out (at once on the same host) and another finishes them.\n"
"  /healthz answers 503 when the state cannot take a write.\n"
"\n"
"Media (serve and run):\n"
"  A photo, voice note, video or document is downloaded into [bridge] spool_dir\n"
"  (default: spool/ in [bridge] data_dir), the mail is written there from it\n"
"  and delivered from that file: memory does not grow with the media, and the\n"
"  state database never holds such a mail. A retry sends the same file; it goes\n"
"  once delivered. Room needed: 1.4 times the media of the mails waiting, and\n"
"  2.4 times a medium while its mail is written.\n"
"\n"
"Network rules:\n"
"  TLS is always verified: against ca_file or the tls_fingerprint pin when set,\n"
"  else the system CAs, host name included. imap:// and smtp:// use STARTTLS\n"
"  when the server offers it; without it they go on in plain text only to a\n"
"  loopback host (127.0.0.0/8, ::1, localhost) or with allow_plaintext = true in\n"
"  [imap] or [smtp] (check-config warns); otherwise no password is sent.\n"
"  [webhook] listen off loopback needs app_secret_file, or allow_unsigned = true\n"
"  (check-config warns).\n"
"  Station mailboxes share at most [imap] max_connections (16) logged-in IMAP\n"
"  sessions, kept for the next mail and closed after 5 minutes unused; the\n"
"  replies mailbox (mode = imap) takes one more.\n"
"\n"
"Exit codes (sysexits.h): 0 ok, 64 usage, 65 bad data, 67 unknown complaint or no\n"
"complaint matches a reply, 69 unavailable, 70 internal error, 73 cannot create\n"
"output, 75 temporary failure (try again), 77 not permitted (bad signature, or a\n"
"reply not from an officer or that proves nothing), 78 configuration error.\n"
"\n"
"Logs go to standard error (the journal under systemd, syslog with --syslog), one\n"
"line per state change. No command prints a secret.\n"
"See the README and contrib/wabridge.conf.example for configuration and deployment.\n";

static int verbosity = 0; /* -1 quiet, 0 normal, 1 verbose */
static enum { TO_STDERR, TO_JOURNAL, TO_SYSLOG } log_to = TO_STDERR;

static int syslog_priority(GLogLevelFlags level)
{
	if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
		return LOG_ERR;
	if (level & G_LOG_LEVEL_WARNING)
		return LOG_WARNING;
	if (level & G_LOG_LEVEL_MESSAGE)
		return LOG_NOTICE;
	return level & G_LOG_LEVEL_INFO ? LOG_INFO : LOG_DEBUG;
}

static GLogWriterOutput log_writer(GLogLevelFlags level, const GLogField *fields,
				   gsize n_fields, gpointer user_data)
{
	const char *msg = NULL;
	for (gsize i = 0; i < n_fields; i++)
		if (strcmp(fields[i].key, "MESSAGE") == 0)
			msg = fields[i].value;
	if (!msg)
		return G_LOG_WRITER_UNHANDLED;
	const char *tag = "";
	if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
		tag = "error: ";
	else if (level & G_LOG_LEVEL_WARNING)
		tag = "warning: ";
	else if (level & G_LOG_LEVEL_MESSAGE) {
		if (verbosity < 0)
			return G_LOG_WRITER_HANDLED;
	} else if (verbosity < 1) {
		return G_LOG_WRITER_HANDLED; /* info, debug */
	}
	if (log_to == TO_JOURNAL)
		return g_log_writer_journald(level, fields, n_fields, user_data);
	/* Messages quote what came from outside (a bad body, a server's answer). */
	g_autofree char *shown = wb_escape_controls(msg, true);
	if (log_to == TO_SYSLOG)
		syslog(syslog_priority(level), "%s%s", tag, shown);
	else
		fprintf(stderr, "wabridge: %s%s\n", tag, shown);
	return G_LOG_WRITER_HANDLED;
}

struct cmd_ctx {
	const char *config_path;
	int argc;
	char **argv; /* argv[0] is the command name */
};

static void say_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void say_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_autofree char *shown = wb_escape_controls(msg, true);
	fprintf(stderr, "wabridge: %s\n", shown);
}

/* templates: the command renders mail or sends (run, reply, serve); the others load no
 * templates and do not stop at a broken one. */
static struct wb_config *load_config(const struct cmd_ctx *c, bool templates)
{
	GError *err = NULL;
	const char *path = wb_config_choose_path(c->config_path);
	struct wb_config *cfg = templates ? wb_config_load(path, &err)
					  : wb_config_load_no_templates(path, &err);
	if (!cfg) {
		say_error("configuration problems:\n%s\nRun 'wabridge check-config' for the full "
			  "list.", err->message);
		g_error_free(err);
		return NULL;
	}
	if (!path)
		g_info("no configuration file: using the embedded defaults");
	wb_bridge_init(cfg->node, cfg->lease_seconds, c->argv[0]);
	return cfg;
}

static void warn_unsigned(const struct wb_config *cfg)
{
	if (!cfg->app_secret)
		g_warning("webhook signature checking is OFF ([webhook] app_secret_file is not "
			  "set): anyone who can reach the webhook can inject messages. Set it "
			  "before exposing wabridge to the internet.");
}

static struct wb_store *open_store(const struct wb_config *cfg)
{
	GError *err = NULL;
	struct wb_store *s = wb_store_open_cfg(cfg, &err);
	if (!s) {
		say_error("%s", err->message);
		g_error_free(err);
	}
	return s;
}

/* A command's own options and at most one FILE argument. On a usage error says why and
 * how to use the command, and returns false. */
/* The command's options; at most max_args words after the command. */
static bool parse_options_n(const struct cmd_ctx *c, GOptionEntry *opts, const char *usage,
			    int *argc, char ***argv, int max_args)
{
	g_autoptr(GOptionContext) oc = g_option_context_new("[FILE]");
	g_option_context_add_main_entries(oc, opts, NULL);
	g_option_context_set_help_enabled(oc, FALSE);
	*argc = c->argc;
	*argv = c->argv;
	GError *err = NULL;
	if (g_option_context_parse(oc, argc, argv, &err) && *argc <= 1 + max_args)
		return true;
	say_error("%s: %s\nUsage: %s", c->argv[0], err ? err->message : "too many arguments",
		  usage);
	g_clear_error(&err);
	return false;
}

static bool parse_options(const struct cmd_ctx *c, GOptionEntry *opts, const char *usage,
			  int *argc, char ***argv)
{
	return parse_options_n(c, opts, usage, argc, argv, 1);
}

/* ---- ingest ------------------------------------------------------------------------- */

static int cmd_ingest(const struct cmd_ctx *c)
{
	char *signature = NULL;
	GOptionEntry opts[] = {
		{ "signature", 0, 0, G_OPTION_ARG_STRING, &signature,
		  "X-Hub-Signature-256 value (sha256=HEX)", "SIG" },
		G_OPTION_ENTRY_NULL
	};
	int argc;
	char **argv;
	GError *err = NULL;
	if (!parse_options(c, opts, "wabridge ingest [--signature 'sha256=HEX'] [FILE]", &argc,
			   &argv)) {
		g_free(signature);
		return EX_USAGE;
	}
	g_autofree char *sig = signature ? signature : g_strdup(g_getenv("HTTP_X_HUB_SIGNATURE_256"));
	struct wb_config *cfg = load_config(c, false);
	if (!cfg)
		return EX_CONFIG;
	warn_unsigned(cfg);
	if (g_getenv("GATEWAY_INTERFACE")) { /* run by a web server */
		int rc = wb_ingest_cgi(cfg);
		wb_config_free(cfg);
		return rc;
	}
	GBytes *body = NULL;
	int rc = EX_OK;
	if (!wb_read_all(argc == 2 ? argv[1] : NULL, cfg->max_body, &body, &err)) {
		say_error("ingest: %s; nothing stored", err->message);
		rc = g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT) ? EX_NOINPUT : EX_DATAERR;
		g_error_free(err);
		wb_config_free(cfg);
		return rc;
	}
	static const int codes[] = { [WB_INGEST_STORED] = EX_OK, [WB_INGEST_BAD] = EX_DATAERR,
				     [WB_INGEST_SIGNATURE] = EX_NOPERM, [WB_INGEST_STORE] = EX_TEMPFAIL };
	gsize len;
	const void *data = g_bytes_get_data(body, &len);
	g_autofree char *why = NULL;
	enum wb_ingest_outcome r = wb_ingest_body(cfg, data, len, sig, "ingest", &why);
	if (why)
		say_error("ingest: %s", why);
	g_bytes_unref(body);
	wb_config_free(cfg);
	return codes[r];
}

/* ---- run ---------------------------------------------------------------------------- */

/* The reply side of a pass: the watched mailbox once (mode imap), then the outbox.
 * *waiting counts what waits for a retry. False when the store failed. */
static bool reply_side(const struct wb_config *cfg, struct wb_store *store, unsigned *waiting)
{
	GError *err = NULL;
	if (strcmp(cfg->replies_mode, "imap") == 0) {
		unsigned taken = 0;
		if (!wb_reply_poll_mailbox(cfg, store, NULL, NULL, &taken, &err)) {
			g_warning("replies mailbox: %s; polled again next run", err->message);
			g_clear_error(&err);
			(*waiting)++;
		} else if (taken) {
			g_info("run: %u reply mail%s taken from the replies mailbox", taken,
			       taken == 1 ? "" : "s");
		}
	}
	struct wb_outbox_result res;
	if (!wb_outbox_pass(cfg, store, NULL, &res, &err)) {
		say_error("run: %s", err->message);
		g_error_free(err);
		return false;
	}
	unsigned pending = 0;
	gint64 soonest = 0;
	if (!wb_store_reply_pending(store, &pending, &soonest, &err)) {
		say_error("run: %s", err->message);
		g_error_free(err);
		return false;
	}
	if (res.sent || res.failed || res.retrying || res.notes)
		g_info("run: WhatsApp: %u sent, %u failed, %u waiting; %u notes for threads",
		       res.sent, res.failed, res.retrying, res.notes);
	*waiting += pending;
	return true;
}

/* The station's duty: timers, escalations, the digest, mail to superiors. */
static bool duty_side(const struct wb_config *cfg, struct wb_store *store, unsigned *waiting)
{
	GError *err = NULL;
	struct wb_duty_result res;
	if (!wb_duty_pass(cfg, store, NULL, &res, &err)) {
		say_error("run: %s", err->message);
		g_error_free(err);
		return false;
	}
	if (res.fired || res.mails_sent || res.mails_waiting || res.mails_failed)
		g_info("run: duty: %u fired; mail: %u sent, %u waiting, %u failed", res.fired,
		       res.mails_sent, res.mails_waiting, res.mails_failed);
	unsigned pending = 0;
	gint64 soonest = 0;
	if (!wb_store_mailout_pending(store, &pending, &soonest, &err)) {
		say_error("run: %s", err->message);
		g_error_free(err);
		return false;
	}
	*waiting += pending + res.anchors_waiting;
	return true;
}

static int cmd_run(const struct cmd_ctx *c)
{
	if (c->argc > 1) {
		say_error("run takes no arguments");
		return EX_USAGE;
	}
	struct wb_config *cfg = load_config(c, true);
	if (!cfg)
		return EX_CONFIG;
	GError *err = NULL;
	int rc = EX_OK;
	struct wb_store *store = open_store(cfg);
	struct wb_pass_result res;
	unsigned waiting = 0;
	if (!store) {
		rc = EX_TEMPFAIL;
	} else if (!wb_pass(cfg, store, NULL, &res, &err)) {
		say_error("run: %s", err->message);
		rc = EX_TEMPFAIL;
	} else if (!duty_side(cfg, store, &waiting)) {
		rc = EX_TEMPFAIL;
	} else if (!reply_side(cfg, store, &waiting)) {
		rc = EX_TEMPFAIL;
	} else {
		g_info("run: %u delivered, %u waiting for a retry, %u failed", res.delivered,
		       res.waiting, res.failed);
		rc = res.waiting || waiting ? EX_TEMPFAIL : EX_OK;
	}
	g_clear_error(&err);
	/* Space the pass freed goes back to the disk, even after a failed pass (a full disk
	 * is when it matters most); failing that changes nothing about the run. */
	if (store && !wb_store_give_back(store, &err)) {
		g_warning("run: %s; tried again next run", err->message);
		g_clear_error(&err);
	}
	wb_store_close(store);
	wb_config_free(cfg);
	return rc;
}

/* ---- reply -------------------------------------------------------------------------- */

/* `reply` also stands in for sendmail (mail clients and MTAs call it with sendmail's
 * options): -oi, -oem, -i, -t and the like are ignored, -f/-F/-r take a value that is
 * ignored, arguments with an @ (or after "--") are envelope recipients, searched for
 * the reply token; --recipient ADDR names one explicitly. */
static bool reply_args(const struct cmd_ctx *c, const char **file, GPtrArray *rcpts)
{
	bool rest = false;
	for (int i = 1; i < c->argc; i++) {
		const char *a = c->argv[i];
		if (rest || (a[0] != '-' && strchr(a, '@'))) {
			g_ptr_array_add(rcpts, (gpointer)a);
		} else if (strcmp(a, "--") == 0) {
			rest = true;
		} else if (strcmp(a, "--recipient") == 0 && i + 1 < c->argc) {
			g_ptr_array_add(rcpts, c->argv[++i]);
		} else if (g_str_has_prefix(a, "--recipient=")) {
			g_ptr_array_add(rcpts, (gpointer)(a + 12));
		} else if (strcmp(a, "-f") == 0 || strcmp(a, "-F") == 0 || strcmp(a, "-r") == 0) {
			i++;
		} else if (a[0] == '-' && a[1] && a[1] != '-') {
			continue; /* -oi, -oem, -i, -t, -fADDR, -FName ... */
		} else if (a[0] != '-' && !*file) {
			*file = a;
		} else {
			say_error("reply: unexpected argument %s\nUsage: wabridge reply [FILE] "
				  "[--recipient ADDR]... (sendmail options are accepted and ignored)",
				  a);
			return false;
		}
	}
	g_ptr_array_add(rcpts, NULL);
	return true;
}

static int cmd_reply(const struct cmd_ctx *c)
{
	const char *file = NULL;
	g_autoptr(GPtrArray) rcpts = g_ptr_array_new();
	if (!reply_args(c, &file, rcpts))
		return EX_USAGE;
	GError *err = NULL;
	GBytes *mail = NULL;
	if (!wb_read_all(file, WB_MAX_REPLY_BYTES, &mail, &err)) {
		say_error("reply: %s; nothing was done", err->message);
		int rc = g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT) ? EX_NOINPUT
										 : EX_DATAERR;
		g_error_free(err);
		return rc;
	}
	/* Whatever is wrong on this side (configuration, store, templates) is temporary for
	 * the MTA: it keeps the mail and tries again, so no reply is lost while the admin
	 * fixes it. */
	struct wb_config *cfg = load_config(c, true);
	struct wb_store *store = cfg ? open_store(cfg) : NULL;
	int rc = EX_TEMPFAIL;
	if (store) {
		gsize len;
		const void *data = g_bytes_get_data(mail, &len);
		struct wb_reply_result r;
		enum wb_reply_outcome o = wb_reply_take(cfg, store, data, len, "pipe",
							(const char *const *)rcpts->pdata, &r);
		rc = wb_reply_exit_code(o);
		/* The MTA puts what we print into its bounce: the reason once. On standard
		 * error the log line already says it. */
		if (o != WB_RA_OK && log_to != TO_STDERR)
			say_error("reply: %s", r.message);
		struct wb_outbox_result res;
		/* Send (or tell the station of a refusal) at once; what cannot go now stays
		 * queued for run or serve. */
		if (((o == WB_RA_OK && !r.replay) || r.noted) &&
		    !wb_outbox_pass(cfg, store, NULL, &res, &err)) {
			g_warning("reply: %s, but the %s waits: %s", o == WB_RA_OK ? "accepted"
				  : "refused", o == WB_RA_OK ? "send" : "note", err->message);
			g_clear_error(&err);
		}
		wb_reply_result_clear(&r);
	}
	if (rc == EX_TEMPFAIL && !store)
		say_error("reply: not taken now; the mail system will deliver it again");
	wb_store_close(store);
	wb_config_free(cfg);
	g_bytes_unref(mail);
	return rc;
}

/* ---- status, check-config, version -------------------------------------------------- */

/* Where each station's open complaints stand on their clocks (SPEC §2: open and
 * overdue per station): "bhowanipore: 3 open: 1 overdue, 2 due soon". */
static bool clock_report(const struct wb_config *cfg, struct wb_store *store, GString *out,
			 GError **error)
{
	g_autoptr(GArray) ids = wb_store_open_ids(store, error);
	if (!ids)
		return false;
	g_string_append(out, "Open complaints on the clock:");
	if (!ids->len)
		g_string_append(out, " none\n");
	else
		g_string_append_c(out, '\n');
	gint64 now = wb_now();
	g_autofree char *station = NULL;
	g_autoptr(GHashTable) counts = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GPtrArray) order = g_ptr_array_new();
	unsigned open = 0;
	for (guint i = 0; i <= ids->len; i++) {
		g_autoptr(wb_duty_case) dc = i < ids->len
			? wb_store_duty_case(store, g_array_index(ids, int64_t, i), error) : NULL;
		if (i < ids->len && !dc)
			return false;
		if (station && (!dc || strcmp(dc->station, station) != 0)) {
			g_autofree char *key = wb_escape_controls(station, false);
			g_string_append_printf(out, "  %s: %u open", key, open);
			for (guint k = 0; k < order->len; k++)
				g_string_append_printf(out, "%s%u %s", k ? ", " : ": ",
						       GPOINTER_TO_UINT(g_hash_table_lookup(
							       counts, order->pdata[k])),
						       (const char *)order->pdata[k]);
			g_string_append_c(out, '\n');
			g_hash_table_remove_all(counts);
			g_ptr_array_set_size(order, 0);
			open = 0;
		}
		if (!dc)
			break;
		if (!station || strcmp(dc->station, station) != 0) {
			g_free(station);
			station = g_strdup(dc->station);
		}
		const char *state = wb_duty_state(cfg, wb_config_station_stored(cfg, dc->station),
						  dc, now);
		guint n = GPOINTER_TO_UINT(g_hash_table_lookup(counts, state));
		if (!n)
			g_ptr_array_add(order, (gpointer)state);
		g_hash_table_insert(counts, (gpointer)state, GUINT_TO_POINTER(n + 1));
		open++;
	}
	return true;
}

static int cmd_status(const struct cmd_ctx *c)
{
	struct wb_config *cfg = load_config(c, false);
	if (!cfg)
		return EX_CONFIG;
	struct wb_store *store = open_store(cfg);
	int rc = EX_OK;
	GError *err = NULL;
	g_autoptr(GString) out = g_string_new(NULL);
	if (!store)
		rc = EX_TEMPFAIL;
	else if (!wb_store_report(store, out, &err) || !wb_store_reply_report(store, out, &err) ||
		 !wb_store_duty_report(store, out, &err) ||
		 !wb_anchor_report(cfg, store, out, &err) ||
		 !clock_report(cfg, store, out, &err) ||
		 !wb_store_report_bridges(store, out, &err)) {
		say_error("status: %s", err->message);
		g_error_free(err);
		rc = EX_TEMPFAIL;
	} else {
		fputs(out->str, stdout);
	}
	wb_store_close(store);
	wb_config_free(cfg);
	return rc;
}

static void print_lines(const GPtrArray *lines, const char *tag)
{
	for (guint i = 0; i < lines->len; i++) {
		g_autofree char *shown = wb_escape_controls(lines->pdata[i], false);
		printf("%s%s\n", tag, shown);
	}
}

static int cmd_check_config(const struct cmd_ctx *c)
{
	const char *path = wb_config_choose_path(c->config_path);
	g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) notes = g_ptr_array_new_with_free_func(g_free);
	bool ok = wb_config_check(path, problems, warnings, notes);
	print_lines(problems, "");
	print_lines(warnings, "warning: ");
	if (ok) {
		print_lines(notes, "");
		printf("%s: configuration is valid", path ? path : "embedded defaults");
		if (warnings->len > 0)
			printf(", with %u warning%s", warnings->len, warnings->len == 1 ? "" : "s");
		printf("\n");
		return EX_OK;
	}
	fprintf(stderr, "wabridge: %u problem%s found\n", problems->len,
		problems->len == 1 ? "" : "s");
	return EX_CONFIG;
}

static int cmd_version(const struct cmd_ctx *c)
{
	printf("wabridge %s\n", WB_VERSION);
	printf("  GLib %u.%u.%u, GMime %u.%u.%u, libcurl %s, libxml2 %s, SQLite %s,\n",
	       glib_major_version, glib_minor_version, glib_micro_version, gmime_major_version,
	       gmime_minor_version, gmime_micro_version, curl_version_info(CURLVERSION_NOW)->version,
	       LIBXML_DOTTED_VERSION, sqlite3_libversion());
	printf("  jansson %s, libmicrohttpd %s, libetpan %d.%d\n", jansson_version_str(),
	       MHD_get_version(), libetpan_get_version_major(), libetpan_get_version_minor());
	return EX_OK;
}

static int cmd_serve(const struct cmd_ctx *c)
{
	struct wb_config *cfg = load_config(c, true);
	if (!cfg)
		return EX_CONFIG;
	warn_unsigned(cfg);
	return wb_serve(cfg, wb_config_choose_path(c->config_path));
}

/* ---- parse-reply ------------------------------------------------------------------- */

static void print_reply_json(const struct wb_reply *r)
{
	json_t *tags = json_array();
	if (r->escalate)
		json_array_append_new(tags, json_string("escalate"));
	if (r->close)
		json_array_append_new(tags, json_string("close"));
	if (r->split)
		json_array_append_new(tags, json_string("new"));
	if (r->transfer_to)
		json_array_append_new(tags, json_pack("{s:s}", "transfer", r->transfer_to));
	json_t *cuts = json_array();
	for (size_t i = 0; i < r->n_cuts; i++)
		json_array_append_new(cuts, json_pack("{s:I, s:s}", "line", (json_int_t)r->cuts[i].line,
						      "rule", r->cuts[i].rule));
	json_t *o = json_pack("{s:s, s:o, s:o, s:o}", "text", r->text,
			      "number", r->number ? json_string(r->number) : json_null(), "tags", tags,
			      "cuts", cuts);
	char *out = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (out)
		puts(out);
	free(out);
	json_decref(o);
}

static int cmd_parse_reply(const struct cmd_ctx *c)
{
	gboolean as_json = FALSE;
	char *station = NULL;
	GOptionEntry opts[] = {
		{ "json", 0, 0, G_OPTION_ARG_NONE, &as_json,
		  "print text, number, tags and cuts as JSON",
		  NULL },
		{ "station", 0, 0, G_OPTION_ARG_STRING, &station,
		  "also try this station's number_patterns", "KEY" },
		G_OPTION_ENTRY_NULL
	};
	int argc;
	char **argv;
	GError *err = NULL;
	if (!parse_options(c, opts, "wabridge parse-reply [--json] [--station KEY] [FILE]", &argc,
			   &argv)) {
		g_free(station);
		return EX_USAGE;
	}
	g_autofree char *station_key = station;
	struct wb_config *cfg = NULL;
	const char *const *patterns = NULL;
	if (station_key) {
		cfg = load_config(c, false);
		const struct wb_station *st = cfg ? wb_config_station_by_key(cfg, station_key) : NULL;
		if (!st) {
			if (cfg)
				say_error("parse-reply: no [station:%s] in the configuration", station_key);
			wb_config_free(cfg);
			return EX_CONFIG;
		}
		patterns = (const char *const *)st->number_patterns;
	}
	GBytes *mail = NULL;
	int rc = EX_OK;
	if (!wb_read_all(argc == 2 ? argv[1] : NULL, WB_MAX_REPLY_BYTES, &mail, &err)) {
		say_error("parse-reply: %s", err->message);
		rc = g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT) ? EX_NOINPUT : EX_DATAERR;
	} else {
		gsize len;
		const void *data = g_bytes_get_data(mail, &len);
		struct wb_reply *r = wb_reply_parse(data, len, patterns, &err);
		if (!r) {
			say_error("parse-reply: %s", err->message);
			rc = EX_DATAERR;
		} else if (as_json) {
			print_reply_json(r);
		} else {
			g_autofree char *shown = wb_escape_controls(r->text, true);
			printf("%s%s", shown, *shown ? "\n" : "");
		}
		wb_reply_free(r);
	}
	g_clear_error(&err);
	if (mail)
		g_bytes_unref(mail);
	wb_config_free(cfg);
	return rc;
}

/* ---- complaints, complaint ------------------------------------------------------------ */

struct duty_ctx {
	const struct wb_config *cfg;
	struct wb_store *store;
	gint64 now;
};

static const char *duty_state_of(void *data, int64_t id)
{
	struct duty_ctx *x = data;
	g_autoptr(wb_duty_case) dc = wb_store_duty_case(x->store, id, NULL);
	return dc ? wb_duty_state(x->cfg, wb_config_station_stored(x->cfg, dc->station), dc,
				  x->now) : NULL;
}

static int cmd_complaints(const struct cmd_ctx *c)
{
	char *station = NULL;
	gboolean open = FALSE, late = FALSE;
	GOptionEntry opts[] = {
		{ "station", 0, 0, G_OPTION_ARG_STRING, &station, "only this station", "KEY" },
		{ "open", 0, 0, G_OPTION_ARG_NONE, &open, "only open complaints", NULL },
		{ "overdue", 0, 0, G_OPTION_ARG_NONE, &late, "only overdue complaints", NULL },
		G_OPTION_ENTRY_NULL
	};
	int argc;
	char **argv;
	const char *usage = "wabridge complaints [--station KEY] [--open|--overdue]";
	if (!parse_options(c, opts, usage, &argc, &argv)) {
		g_free(station);
		return EX_USAGE;
	}
	if (argc > 1 || (open && late)) {
		say_error("complaints: %s\nUsage: %s", argc > 1 ? "takes no arguments"
			  : "--open and --overdue exclude each other", usage);
		g_free(station);
		return EX_USAGE;
	}
	g_autofree char *key = station;
	struct wb_config *cfg = load_config(c, false);
	if (!cfg)
		return EX_CONFIG;
	int rc = EX_OK;
	if (key && !wb_config_station_by_key(cfg, key) && !cfg->auto_stations) {
		say_error("complaints: no [station:%s] in the configuration", key);
		rc = EX_USAGE;
	}
	struct wb_store *store = rc == EX_OK ? open_store(cfg) : NULL;
	GError *err = NULL;
	g_autoptr(GString) out = g_string_new(NULL);
	unsigned n = 0;
	struct duty_ctx dctx = { cfg, store, wb_now() };
	enum wb_complaint_filter f = late ? WB_COMPLAINTS_OVERDUE : open ? WB_COMPLAINTS_OPEN
									 : WB_COMPLAINTS_ALL;
	if (rc == EX_OK && !store) {
		rc = EX_TEMPFAIL;
	} else if (store && !wb_store_complaints_list(store, key, f, duty_state_of, &dctx,
						      out, &n, &err)) {
		say_error("complaints: %s", err->message);
		g_error_free(err);
		rc = EX_TEMPFAIL;
	} else if (store) {
		fputs(out->str, stdout);
		printf("%u complaint%s\n", n, n == 1 ? "" : "s");
	}
	wb_store_close(store);
	wb_config_free(cfg);
	return rc;
}

static char *local_text(const struct wb_config *cfg, gint64 t)
{
	return wb_local_text(t, cfg->timezone, "%Y-%m-%d %H:%M %Z");
}

/* Where the complaint's clock stands, after its history. */
static void clock_lines(const struct wb_config *cfg, struct wb_store *store, const char *ref,
			GString *out)
{
	g_autoptr(wb_complaint) k = wb_store_complaint(store, ref, 0, NULL);
	g_autoptr(wb_duty_case) dc = k ? wb_store_duty_case(store, k->id, NULL) : NULL;
	if (!dc)
		return;
	const struct wb_station *st = wb_config_station_stored(cfg, dc->station);
	bool esc = dc->escalated_at > 0 || dc->serious;
	gint64 clock = wb_duty_clock(cfg, st, esc), now = wb_now();
	g_string_append(out, "\nClock:\n");
	if (!clock) {
		g_string_append(out, "  none (sla_hours = 0)\n");
	} else {
		g_autofree char *due = local_text(cfg, dc->opened_at + clock);
		g_string_append_printf(out, "  %" G_GINT64_FORMAT " h%s from the first message: the "
				       "number is due by %s\n", clock / 3600,
				       esc ? " (escalated: serious_sla_hours)" : "", due);
	}
	if (dc->number_delivered) {
		g_autofree char *when = local_text(cfg, dc->delivered_at);
		g_string_append_printf(out, "  stopped: the number reached the citizen's phone %s\n",
				       when);
	} else if (dc->open) {
		g_string_append_printf(out, "  running: %" G_GINT64_FORMAT " h so far; now %s\n",
				       (now - dc->opened_at) / 3600,
				       wb_duty_state(cfg, st, dc, now));
	}
	if (dc->serious) {
		g_autofree char *words = wb_escape_controls(dc->serious, false);
		g_string_append_printf(out, "  serious words: %s\n", words);
	}
}

static int cmd_complaint(const struct cmd_ctx *c)
{
	if (c->argc != 2) {
		say_error("complaint: name one complaint\nUsage: wabridge complaint REF "
			  "(for example BHP-2026-000042)");
		return EX_USAGE;
	}
	struct wb_config *cfg = load_config(c, false);
	if (!cfg)
		return EX_CONFIG;
	struct wb_store *store = open_store(cfg);
	int rc = store ? EX_OK : EX_TEMPFAIL;
	GError *err = NULL;
	g_autoptr(GString) out = g_string_new(NULL);
	if (store && !wb_store_complaint_history(store, c->argv[1], out, &err)) {
		bool unknown = g_error_matches(err, WB_STORE_ERROR, WB_STORE_NOT_FOUND);
		if (unknown)
			say_error("complaint: %s; 'wabridge complaints' lists them", err->message);
		else
			say_error("complaint: %s", err->message);
		rc = unknown ? EX_NOUSER : EX_TEMPFAIL;
		g_error_free(err);
	} else if (store) {
		clock_lines(cfg, store, c->argv[1], out);
		fputs(out->str, stdout);
	}
	wb_store_close(store);
	wb_config_free(cfg);
	return rc;
}

/* ---- verify ----------------------------------------------------------------------------- */

static int cmd_verify(const struct cmd_ctx *c)
{
	char *station = NULL;
	gboolean all = FALSE;
	GOptionEntry opts[] = {
		{ "station", 0, 0, G_OPTION_ARG_STRING, &station,
		  "the station whose mailbox is checked (and whose missing mails are named)",
		  "KEY" },
		{ "all", 0, 0, G_OPTION_ARG_NONE, &all, "also print a line for each intact mail",
		  NULL },
		G_OPTION_ENTRY_NULL
	};
	int argc;
	char **argv;
	const char *usage = "wabridge verify [--station KEY] [--all] [PATH…]";
	if (!parse_options_n(c, opts, usage, &argc, &argv, G_MAXINT - 1)) {
		g_free(station);
		return EX_USAGE;
	}
	g_autofree char *st = station;
	if (!st && argc < 2) {
		say_error("verify: name a station (--station KEY) or the mail to check (Maildirs, "
			  "mbox files, .eml files)\nUsage: %s", usage);
		return EX_USAGE;
	}
	struct wb_config *cfg = load_config(c, false);
	if (!cfg)
		return EX_CONFIG;
	struct wb_store *store = open_store(cfg);
	g_autofree char **paths = g_new0(char *, (gsize)argc);
	for (int i = 1; i < argc; i++)
		paths[i - 1] = argv[i];
	int rc = store ? wb_verify(cfg, store, st, paths, all || verbosity > 0, stdout)
		       : EX_TEMPFAIL;
	wb_store_close(store);
	wb_config_free(cfg);
	return rc;
}

/* ---- journal verify, journal show ---------------------------------------------------- */

/* SPEC §2: a broken chain is a finding, like the problems `verify` finds. */
#define EX_JOURNAL_BROKEN 1

static int journal_verify(struct wb_store *store)
{
	GError *err = NULL;
	struct wb_journal_check jc;
	if (!wb_store_journal_verify(store, &jc, &err)) {
		say_error("journal verify: %s", err->message);
		g_error_free(err);
		return EX_TEMPFAIL;
	}
	int rc = EX_OK;
	if (jc.bad_id) {
		g_autofree char *at = wb_local_text(jc.bad_at, "UTC", "%Y-%m-%d %H:%M:%SZ");
		g_autofree char *kind = wb_escape_controls(jc.bad_kind ? jc.bad_kind : "", false);
		printf("BROKEN at entry %" G_GINT64_FORMAT " (%s, %s): %s\n", (gint64)jc.bad_id, at,
		       kind, jc.why);
		printf("%" G_GINT64_FORMAT " entries checked; the chain holds before it, head there "
		       "%s\n", (gint64)jc.checked, jc.head);
		rc = EX_JOURNAL_BROKEN;
	} else {
		printf("intact: %" G_GINT64_FORMAT " entr%s checked, head %s\n", (gint64)jc.checked,
		       jc.checked == 1 ? "y" : "ies", jc.head);
	}
	wb_journal_check_clear(&jc);
	return rc;
}

static int journal_show(struct wb_store *store, const char *ref, int limit)
{
	GError *err = NULL;
	g_autoptr(GString) out = g_string_new(NULL);
	unsigned n = 0;
	if (!wb_store_journal_show(store, ref, limit, out, &n, &err)) {
		say_error("journal show: %s", err->message);
		g_error_free(err);
		return EX_TEMPFAIL;
	}
	fputs(out->str, stdout);
	printf("%u entr%s\n", n, n == 1 ? "y" : "ies");
	return EX_OK;
}

/* The anchor on demand: 0 written, 78 no [archive], 75 the mailbox or the store failed. */
static int journal_anchor(const struct wb_config *cfg, struct wb_store *store)
{
	GError *err = NULL;
	struct wb_anchor_result r;
	if (!wb_anchor_write(cfg, store, 0, &r, &err)) {
		bool config = err->domain == WB_CONFIG_ERROR;
		say_error("journal anchor: %s%s", err->message, config ? ""
			  : "; nothing was journaled, try again");
		g_error_free(err);
		wb_anchor_result_clear(&r);
		return config ? EX_CONFIG : EX_TEMPFAIL;
	}
	g_autofree char *where = wb_escape_controls(r.location ? r.location : "?", false);
	printf("anchored entry %" G_GINT64_FORMAT ", head %s\nmail <%s> %s %s\n",
	       (gint64)r.entry, r.head, r.message_id, r.found ? "already in" : "written to", where);
	wb_anchor_result_clear(&r);
	return EX_OK;
}

static int cmd_journal(const struct cmd_ctx *c)
{
	char *ref = NULL;
	int limit = 0;
	GOptionEntry opts[] = {
		{ "ref", 0, 0, G_OPTION_ARG_STRING, &ref, "only this complaint's entries", "REF" },
		{ "limit", 0, 0, G_OPTION_ARG_INT, &limit, "only the last N entries", "N" },
		G_OPTION_ENTRY_NULL
	};
	int argc;
	char **argv;
	const char *usage = "wabridge journal verify | wabridge journal show [--ref REF] "
			    "[--limit N] | wabridge journal anchor";
	if (!parse_options(c, opts, usage, &argc, &argv)) {
		g_free(ref);
		return EX_USAGE;
	}
	g_autofree char *r = ref;
	bool verify = argc == 2 && strcmp(argv[1], "verify") == 0;
	bool show = argc == 2 && strcmp(argv[1], "show") == 0;
	bool anchor = argc == 2 && strcmp(argv[1], "anchor") == 0;
	if ((!verify && !show && !anchor) || ((verify || anchor) && (r || limit)) || limit < 0) {
		say_error("journal: %s\nUsage: %s", !verify && !show && !anchor
			  ? "name verify, show or anchor" : limit < 0
			  ? "--limit takes a positive number" : verify
			  ? "verify takes no options" : "anchor takes no options", usage);
		return EX_USAGE;
	}
	struct wb_config *cfg = load_config(c, false);
	if (!cfg)
		return EX_CONFIG;
	if (anchor && !wb_anchor_configured(cfg)) {
		say_error("journal anchor: [archive] deliver is not set, so there is no mailbox "
			  "to anchor the journal in; set it to imap (with imap_user and "
			  "imap_password_file) or maildir:/path/to/Maildir, a mailbox the bridge's "
			  "administrators cannot change (contrib/wabridge.conf.example)");
		wb_config_free(cfg);
		return EX_CONFIG;
	}
	struct wb_store *store = open_store(cfg);
	int rc = !store ? EX_TEMPFAIL : verify ? journal_verify(store)
			: anchor ? journal_anchor(cfg, store) : journal_show(store, r, limit);
	wb_store_close(store);
	wb_config_free(cfg);
	return rc;
}

/* ---- export ---------------------------------------------------------------------------- */

static int cmd_export(const struct cmd_ctx *c)
{
	char *station = NULL, *from = NULL, *to = NULL, *dir = NULL;
	gboolean tar = FALSE;
	GOptionEntry opts[] = {
		{ "station", 0, 0, G_OPTION_ARG_STRING, &station, "the station", "KEY" },
		{ "from", 0, 0, G_OPTION_ARG_STRING, &from, "first day", "YYYY-MM-DD" },
		{ "to", 0, 0, G_OPTION_ARG_STRING, &to, "last day", "YYYY-MM-DD" },
		{ "output", 'o', 0, G_OPTION_ARG_FILENAME, &dir, "the package directory", "DIR" },
		{ "tar", 0, 0, G_OPTION_ARG_NONE, &tar, "also write DIR.tar", NULL },
		G_OPTION_ENTRY_NULL
	};
	int argc;
	char **argv;
	const char *usage = "wabridge export (REF | --station KEY --from YYYY-MM-DD --to "
			    "YYYY-MM-DD) -o DIR [--tar]";
	bool parsed = parse_options(c, opts, usage, &argc, &argv);
	g_autofree char *st = station, *f = from, *t = to, *d = dir;
	if (!parsed)
		return EX_USAGE;
	const char *ref = argc == 2 ? argv[1] : NULL;
	const char *why = !d ? "name the package directory with -o DIR"
			: ref && (st || f || t) ? "name a complaint or a station, not both"
			: !ref && !st ? "name a complaint (REF) or a station (--station KEY)"
			: !ref && (!f || !t) ? "--station needs --from and --to"
			: !*d ? "-o DIR is empty" : NULL;
	if (why) {
		say_error("export: %s\nUsage: %s", why, usage);
		return EX_USAGE;
	}
	struct wb_config *cfg = load_config(c, false);
	if (!cfg)
		return EX_CONFIG;
	struct wb_store *store = open_store(cfg);
	struct wb_export_opts o = { .ref = ref, .station = st, .from = f, .to = t, .dir = d,
				    .tar = tar };
	int rc = store ? wb_export(cfg, store, &o, stdout) : EX_TEMPFAIL;
	wb_store_close(store);
	wb_config_free(cfg);
	return rc;
}

static const struct command {
	const char *name;
	int (*run)(const struct cmd_ctx *c);
} commands[] = {
	{ "serve", cmd_serve },
	{ "run", cmd_run },
	{ "ingest", cmd_ingest },
	{ "status", cmd_status },
	{ "check-config", cmd_check_config },
	{ "version", cmd_version },
	{ "reply", cmd_reply },
	{ "parse-reply", cmd_parse_reply },
	{ "complaints", cmd_complaints },
	{ "complaint", cmd_complaint },
	{ "journal", cmd_journal },
	{ "verify", cmd_verify },
	{ "export", cmd_export },
};

int main(int argc, char **argv)
{
	struct cmd_ctx c = { 0 };
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-c") || !strcmp(a, "--config")) {
			if (++i == argc) {
				say_error("%s needs a file name", a);
				return EX_USAGE;
			}
			c.config_path = argv[i];
		} else if (g_str_has_prefix(a, "--config=")) {
			c.config_path = a + 9;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			verbosity = 1;
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			verbosity = -1;
		} else if (!strcmp(a, "--syslog")) {
			log_to = TO_SYSLOG;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage_text, stdout);
			fputs(usage_text_more, stdout);
			fputs(usage_text_export, stdout);
			fputs(usage_text2, stdout);
			return EX_OK;
		} else if (!strcmp(a, "--version")) {
			return cmd_version(&c);
		} else {
			say_error("unknown option %s (try 'wabridge --help')", a);
			return EX_USAGE;
		}
	}
	if (i == argc) {
		fputs(usage_text, stderr);
		fputs(usage_text_more, stderr);
		fputs(usage_text_export, stderr);
		fputs(usage_text2, stderr);
		return EX_USAGE;
	}
	/* Under systemd, stderr is the journal: log structured entries there. */
	if (log_to == TO_STDERR && g_log_writer_is_journald(fileno(stderr)))
		log_to = TO_JOURNAL;
	if (log_to == TO_SYSLOG)
		openlog("wabridge", LOG_PID, LOG_DAEMON);
	g_log_set_writer_func(log_writer, NULL, NULL);
	/* A server that closes while we write must give an error, not kill the process. */
	signal(SIGPIPE, SIG_IGN);
	c.argc = argc - i;
	c.argv = argv + i;
	for (size_t k = 0; k < G_N_ELEMENTS(commands); k++) {
		if (strcmp(commands[k].name, argv[i]) == 0) {
			/* Library set-up before any thread starts. */
			curl_global_init(CURL_GLOBAL_DEFAULT);
			g_mime_init();
			int rc = commands[k].run(&c);
			/* The mailbox sessions kept for reuse end with a LOGOUT, not a cut. */
			wb_imappool_close_idle(wb_imappool_shared());
			g_mime_shutdown();
			curl_global_cleanup();
			return rc;
		}
	}
	say_error("unknown command '%s' (try 'wabridge --help')", argv[i]);
	return EX_USAGE;
}
