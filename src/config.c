/* config: the GKeyFile configuration of SPEC §4.
 *
 * Design
 *  - options[] holds one row per key: group, key, type, default, validator, and the offset
 *    of the field it fills (in struct wb_config, or in struct wb_station for the rows of
 *    group "station", which serve every [station:KEY]). Defaults, parsing, checking and
 *    freeing all walk this one table, so a new key is one new row.
 *  - Loading and checking are one pass, build(), that never stops at a problem: each one
 *    becomes a line "FILE: [group] key: what is wrong; what to do". wb_config_load() turns
 *    a non-empty list into one GError; wb_config_check() hands the list back.
 *  - A syntax error stops GKeyFile and its message has no line number. The parser reads
 *    top to bottom, so the shortest prefix of the file that fails to parse ends at the bad
 *    line: we find it by bisection, report it, blank it and parse again, so one run still
 *    reports every problem. Our messages never quote the line (it might hold a secret).
 *  - Values are read raw (g_key_file_get_value): no backslash escapes, so a regex like
 *    \d+ is written as is. GKeyFile has no inline comments; a value holding " ;" or " #"
 *    is reported instead of being kept with the comment in it.
 *  - Secrets come from *_file keys and are read through one descriptor (open, then fstat):
 *    it must be a regular file with no group or other permission bits. We test the mode
 *    bits, never access(): root passes access() for anything. No message quotes a secret.
 *  - Relative paths are relative to the working directory, as for deliver = maildir:PATH.
 *
 * Embedded defaults (no file) are the table defaults plus dry_run = true and
 * auto_stations = true. domain defaults to "localhost": Message-IDs and reply addresses
 * then stay on this machine, where a local MTA can pipe complaint+…@localhost into
 * `wabridge reply`; every real deployment sets its own domain.
 */
#include "config.h"
#include "db.h"
#include "caps.h"
#include "tls.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef WB_SYSTEM_CONFIG
#define WB_SYSTEM_CONFIG "/etc/wabridge/wabridge.conf"
#endif

#define EMBEDDED_LABEL "(embedded defaults)"
#define BAD_GROUP "wabridge:unparsable" /* replaces a group line GKeyFile refused */
#define MAX_SYNTAX_ERRORS 20u
#define MAX_STATION_KEY 64u
#define MAX_STATION_NAME_CHARS 128u
#define MAX_PHONE_NUMBER_ID 32u
#define MAX_CODE 8u /* characters of a station code */
#define TOKEN_SECRET_NAME "reply_secret"
#define TOKEN_SECRET_BYTES 32u
/* A mail carries each medium in base64 (4/3 larger) and must stay under WB_MAX_MAIL_BYTES
 * (150 MiB): 100 MiB of media is 134 MiB encoded, which leaves room for the rest. */
#define MEDIA_MAX_CEILING (100u * 1024u * 1024u)

/* The GError domain of wb_config_load(). */
G_DEFINE_QUARK(wb-config-error-quark, wb_config_error)
enum { WB_CONFIG_ERROR_INVALID = 1 };

/* ---- the table ------------------------------------------------------------------------ */

enum opt_type {
	T_STRING,  /* char *, validated by check */
	T_TEXT,    /* char *, free text: may hold ';' and '#' */
	T_PATH,    /* char *, a file or directory name */
	T_BOOL,    /* bool: true/false, yes/no, on/off, 1/0 */
	T_INT,     /* int within min..max */
	T_SIZE,    /* size_t within min..max, see wb_parse_size() */
	T_ENUM,    /* char *, one of choices */
	T_SECRET,  /* char *: the key names a file, the field gets its first line */
	T_LIST,    /* char **: comma-separated, each item validated by check */
	T_REGEXES, /* char **: ';'-separated GRegex patterns, each with a capture group */
	T_FINGERPRINT, /* char *: SHA-256 in hex, stored as 64 lowercase digits */
	T_DELIVER, /* enum wb_deliver_kind + maildir: "imap" | "maildir" | "maildir:PATH" */
};

/* Checks a value; on failure writes "what is wrong; what to do" into why. */
typedef bool check_fn(const char *value, GString *why);

struct option {
	const char *group; /* "bridge", …; "station" stands for every [station:KEY] */
	const char *key;
	enum opt_type type;
	const char *def;   /* default as written in a file; NULL = unset */
	size_t offset;     /* of the field in struct wb_config or struct wb_station */
	check_fn *check;   /* extra validation, may be NULL */
	long long min, max;
	const char *const *choices;
	bool required;
	bool lower;        /* store list items in lowercase (mail addresses) */
};

static check_fn check_path, check_state, check_node, check_hostname, check_timezone, check_dir, check_file,
	check_listen, check_http_path, check_api_base, check_template_name, check_imap_url,
	check_smtp_url, check_address, check_printable, check_local_part, check_station_name,
	check_code, check_phone_number_id, check_officer, check_authserv_id,
	check_archive_deliver;

static const char *const languages[] = { "bn", "en", "hi", NULL };
static const char *const reply_modes[] = { "pipe", "imap", NULL };

#define CFG(f) offsetof(struct wb_config, f)
#define STN(f) offsetof(struct wb_station, f)

static const struct option options[] = {
	{ .group = "bridge", .key = "state", .type = T_PATH,
	  .def = "./wabridge-data/state.db", .offset = CFG(state), .check = check_state },
	{ .group = "bridge", .key = "state_password_file", .type = T_SECRET,
	  .def = NULL, .offset = CFG(state_password) },
	{ .group = "bridge", .key = "data_dir", .type = T_PATH,
	  .def = NULL, .offset = CFG(data_dir), .check = check_path },
	{ .group = "bridge", .key = "node", .type = T_STRING,
	  .def = NULL, .offset = CFG(node), .check = check_node },
	{ .group = "bridge", .key = "lease_seconds", .type = T_INT,
	  .def = "120", .offset = CFG(lease_seconds), .min = 10, .max = 3600 },
	{ .group = "bridge", .key = "domain", .type = T_STRING,
	  .def = "localhost", .offset = CFG(domain), .check = check_hostname },
	{ .group = "bridge", .key = "timezone", .type = T_STRING,
	  .def = "Asia/Kolkata", .offset = CFG(timezone), .check = check_timezone },
	{ .group = "bridge", .key = "default_language", .type = T_ENUM,
	  .def = "bn", .offset = CFG(default_language), .choices = languages },
	/* 0: no clock (no due-soon, overdue or escalation by time) */
	{ .group = "bridge", .key = "sla_hours", .type = T_INT,
	  .def = "24", .offset = CFG(sla_hours), .min = 0, .max = 720 },
	{ .group = "bridge", .key = "complaint_idle_days", .type = T_INT,
	  .def = "7", .offset = CFG(complaint_idle_days), .min = 1, .max = 365 },
	/* unset: <data_dir>/spool, filled in by finish() */
	{ .group = "bridge", .key = "spool_dir", .type = T_PATH,
	  .def = NULL, .offset = CFG(spool_dir), .check = check_path },
	{ .group = "bridge", .key = "templates", .type = T_PATH,
	  .def = NULL, .offset = CFG(templates), .check = check_dir },
	{ .group = "bridge", .key = "serious_keywords_file", .type = T_PATH,
	  .def = NULL, .offset = CFG(serious_keywords_file), .check = check_file },
	{ .group = "bridge", .key = "send_ack", .type = T_BOOL,
	  .def = "true", .offset = CFG(send_ack) },
	{ .group = "bridge", .key = "serious_sla_hours", .type = T_INT,
	  .def = "4", .offset = CFG(serious_sla_hours), .min = 1, .max = 720 },
	/* 0: no reminder */
	{ .group = "bridge", .key = "signature_reminder_hours", .type = T_INT,
	  .def = "48", .offset = CFG(signature_reminder_hours), .min = 0, .max = 720 },
	/* -1: no digest */
	{ .group = "bridge", .key = "digest_hour", .type = T_INT,
	  .def = "8", .offset = CFG(digest_hour), .min = -1, .max = 23 },

	{ .group = "webhook", .key = "listen", .type = T_STRING,
	  .def = "127.0.0.1:8080", .offset = CFG(listen), .check = check_listen },
	{ .group = "webhook", .key = "path", .type = T_STRING,
	  .def = "/webhook", .offset = CFG(path_webhook), .check = check_http_path },
	{ .group = "webhook", .key = "app_secret_file", .type = T_SECRET,
	  .def = NULL, .offset = CFG(app_secret) },
	/* only matters off loopback without app_secret_file: see check_webhook_exposure() */
	{ .group = "webhook", .key = "allow_unsigned", .type = T_BOOL,
	  .def = "false", .offset = CFG(allow_unsigned) },
	{ .group = "webhook", .key = "verify_token_file", .type = T_SECRET,
	  .def = NULL, .offset = CFG(verify_token) },
	{ .group = "webhook", .key = "max_body", .type = T_SIZE,
	  .def = "4MiB", .offset = CFG(max_body), .min = 1024, .max = WB_MAX_BODY_CEILING },
	{ .group = "webhook", .key = "max_connections", .type = T_INT,
	  .def = "10000", .offset = CFG(max_connections), .min = 16, .max = 1000000 },
	{ .group = "webhook", .key = "max_connections_per_ip", .type = T_INT,
	  .def = "64", .offset = CFG(max_connections_per_ip), .min = 0, .max = 1000000 },
	{ .group = "webhook", .key = "request_timeout", .type = T_INT,
	  .def = "30", .offset = CFG(request_timeout), .min = 1, .max = 3600 },
	{ .group = "webhook", .key = "body_memory", .type = T_SIZE,
	  .def = "64MiB", .offset = CFG(body_memory), .min = 2048, .max = WB_BODY_MEMORY_CEILING },

	{ .group = "whatsapp", .key = "api_base", .type = T_STRING,
	  .def = "https://graph.facebook.com/v26.0", .offset = CFG(api_base),
	  .check = check_api_base },
	{ .group = "whatsapp", .key = "access_token_file", .type = T_SECRET,
	  .def = NULL, .offset = CFG(access_token) },
	/* false when a file is given; build() makes it true for the embedded defaults */
	{ .group = "whatsapp", .key = "dry_run", .type = T_BOOL,
	  .def = "false", .offset = CFG(dry_run) },
	{ .group = "whatsapp", .key = "template_registered", .type = T_STRING,
	  .def = "complaint_registered", .offset = CFG(template_registered),
	  .check = check_template_name },
	{ .group = "whatsapp", .key = "template_reminder", .type = T_STRING,
	  .def = "complaint_signature_reminder", .offset = CFG(template_reminder),
	  .check = check_template_name },
	{ .group = "whatsapp", .key = "template_transferred", .type = T_STRING,
	  .def = "complaint_transferred", .offset = CFG(template_transferred),
	  .check = check_template_name },
	{ .group = "whatsapp", .key = "template_language", .type = T_ENUM,
	  .def = "bn", .offset = CFG(template_language), .choices = languages },
	{ .group = "whatsapp", .key = "media_max", .type = T_SIZE,
	  .def = "100MiB", .offset = CFG(media_max), .min = 1024, .max = MEDIA_MAX_CEILING },
	{ .group = "whatsapp", .key = "ca_file", .type = T_PATH,
	  .def = NULL, .offset = CFG(wa_ca_file), .check = check_file },

	{ .group = "imap", .key = "url", .type = T_STRING,
	  .def = NULL, .offset = CFG(imap_url), .check = check_imap_url },
	{ .group = "imap", .key = "ca_file", .type = T_PATH,
	  .def = NULL, .offset = CFG(imap_ca_file), .check = check_file },
	{ .group = "imap", .key = "tls_fingerprint", .type = T_FINGERPRINT,
	  .def = NULL, .offset = CFG(imap_tls_fingerprint) },
	{ .group = "imap", .key = "idle", .type = T_BOOL,
	  .def = "true", .offset = CFG(imap_idle) },
	{ .group = "imap", .key = "allow_plaintext", .type = T_BOOL,
	  .def = "false", .offset = CFG(imap_allow_plaintext) },
	/* logged-in delivery sessions kept at once, all mailboxes together (imappool.h) */
	{ .group = "imap", .key = "max_connections", .type = T_INT,
	  .def = "16", .offset = CFG(imap_max_connections), .min = 1,
	  .max = WB_IMAP_CONNECTIONS_CEILING },

	{ .group = "smtp", .key = "url", .type = T_STRING,
	  .def = NULL, .offset = CFG(smtp_url), .check = check_smtp_url },
	/* unset: wabridge@<domain>, filled in by finish() */
	{ .group = "smtp", .key = "from", .type = T_STRING,
	  .def = NULL, .offset = CFG(smtp_from), .check = check_address },
	{ .group = "smtp", .key = "allow_plaintext", .type = T_BOOL,
	  .def = "false", .offset = CFG(smtp_allow_plaintext) },
	{ .group = "smtp", .key = "user", .type = T_STRING,
	  .def = NULL, .offset = CFG(smtp_user), .check = check_printable },
	{ .group = "smtp", .key = "password_file", .type = T_SECRET,
	  .def = NULL, .offset = CFG(smtp_password) },
	{ .group = "smtp", .key = "ca_file", .type = T_PATH,
	  .def = NULL, .offset = CFG(smtp_ca_file), .check = check_file },

	{ .group = "replies", .key = "mode", .type = T_ENUM,
	  .def = "pipe", .offset = CFG(replies_mode), .choices = reply_modes },
	{ .group = "replies", .key = "imap_user", .type = T_STRING,
	  .def = NULL, .offset = CFG(replies_imap_user), .check = check_printable },
	{ .group = "replies", .key = "imap_password_file", .type = T_SECRET,
	  .def = NULL, .offset = CFG(replies_imap_password) },
	{ .group = "replies", .key = "folder", .type = T_STRING,
	  .def = "INBOX", .offset = CFG(replies_folder), .check = check_printable },
	{ .group = "replies", .key = "address", .type = T_STRING,
	  .def = "complaint", .offset = CFG(replies_address), .check = check_local_part },
	/* unset: <data_dir>/reply_secret, created at load */
	{ .group = "replies", .key = "token_secret_file", .type = T_SECRET,
	  .def = NULL, .offset = CFG(token_secret) },
	{ .group = "replies", .key = "trusted_authserv_id", .type = T_LIST, .lower = true,
	  .def = NULL, .offset = CFG(trusted_authserv_ids), .check = check_authserv_id },

	/* unset or empty: no anchors; filled into archive by finish() */
	{ .group = "archive", .key = "deliver", .type = T_STRING,
	  .def = NULL, .offset = CFG(archive_deliver), .check = check_archive_deliver },
	{ .group = "archive", .key = "imap_user", .type = T_STRING,
	  .def = NULL, .offset = CFG(archive.imap_user), .check = check_printable },
	{ .group = "archive", .key = "imap_password_file", .type = T_SECRET,
	  .def = NULL, .offset = CFG(archive.imap_password) },
	{ .group = "archive", .key = "folder", .type = T_STRING,
	  .def = "Journal", .offset = CFG(archive.folder), .check = check_printable },
	/* unset: [smtp] from, filled in by finish() */
	{ .group = "archive", .key = "address", .type = T_STRING,
	  .def = NULL, .offset = CFG(archive.address), .check = check_address },
	/* -1: on demand only (wabridge journal anchor) */
	{ .group = "archive", .key = "anchor_hour", .type = T_INT,
	  .def = "0", .offset = CFG(anchor_hour), .min = -1, .max = 23 },

	{ .group = "station", .key = "name", .type = T_TEXT, .required = true,
	  .def = NULL, .offset = STN(name), .check = check_station_name },
	{ .group = "station", .key = "code", .type = T_STRING, .required = true,
	  .def = NULL, .offset = STN(code), .check = check_code },
	{ .group = "station", .key = "phone_number_id", .type = T_STRING, .required = true,
	  .def = NULL, .offset = STN(phone_number_id), .check = check_phone_number_id },
	/* unset: station-<phone_number_id>@<domain>, filled in by finish() */
	{ .group = "station", .key = "address", .type = T_STRING,
	  .def = NULL, .offset = STN(address), .check = check_address },
	{ .group = "station", .key = "deliver", .type = T_DELIVER,
	  .def = "maildir", .offset = STN(deliver) },
	{ .group = "station", .key = "imap_user", .type = T_STRING,
	  .def = NULL, .offset = STN(imap_user), .check = check_printable },
	{ .group = "station", .key = "imap_password_file", .type = T_SECRET,
	  .def = NULL, .offset = STN(imap_password) },
	{ .group = "station", .key = "folder", .type = T_STRING,
	  .def = "INBOX", .offset = STN(folder), .check = check_printable },
	{ .group = "station", .key = "officers", .type = T_LIST, .lower = true,
	  .def = NULL, .offset = STN(officers), .check = check_officer },
	{ .group = "station", .key = "escalate_to", .type = T_STRING,
	  .def = NULL, .offset = STN(escalate_to), .check = check_address },
	{ .group = "station", .key = "escalate_late_to", .type = T_STRING,
	  .def = NULL, .offset = STN(escalate_late_to), .check = check_address },
	/* unset (0): [bridge] sla_hours */
	{ .group = "station", .key = "sla_hours", .type = T_INT,
	  .def = NULL, .offset = STN(sla_hours), .min = 1, .max = 720 },
	{ .group = "station", .key = "number_patterns", .type = T_REGEXES,
	  .def = NULL, .offset = STN(number_patterns) },
};

static const char *const global_groups[] = {
	"bridge", "webhook", "whatsapp", "imap", "smtp", "replies", "archive", NULL
};

#define STATION_PREFIX "station:"

#define FIELD(base, o, T) ((T *)(void *)((char *)(base) + (o)->offset))

static const struct option *find_option(const char *group, const char *key)
{
	for (size_t i = 0; i < G_N_ELEMENTS(options); i++)
		if (strcmp(options[i].group, group) == 0 && strcmp(options[i].key, key) == 0)
			return &options[i];
	return NULL;
}

/* ---- small checks ----------------------------------------------------------------------- */

static bool all_chars(const char *s, const char *set)
{
	return *s != '\0' && s[strspn(s, set)] == '\0';
}

#define DIGITS "0123456789"
#define LOWER "abcdefghijklmnopqrstuvwxyz"
#define UPPER "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
/* RFC 5322 atext, and '.' between atoms */
#define ATEXT LOWER UPPER DIGITS "!#$%&'*+-/=?^_`{|}~"

static bool is_hostname(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len > 253)
		return false;
	for (const char *label = s;;) {
		size_t n = strcspn(label, ".");
		if (n == 0 || n > 63 || label[0] == '-' || label[n - 1] == '-')
			return false;
		if (strspn(label, LOWER UPPER DIGITS "-") != n)
			return false;
		if (label[n] == '\0')
			return true;
		label += n + 1;
	}
}

/* Dot-atom: atoms of the allowed characters separated by single dots. */
static bool is_dot_atom(const char *s, size_t len, const char *set)
{
	if (len == 0 || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.' ? s[i + 1] == '.' : strchr(set, s[i]) == NULL)
			return false;
	}
	return true;
}

/* local@domain, simple form: no quoted local parts, no address literals. */
static bool is_address(const char *s)
{
	const char *at = strrchr(s, '@');
	if (at == NULL || at - s > 64)
		return false;
	return is_dot_atom(s, (size_t)(at - s), ATEXT) && is_hostname(at + 1);
}

static bool is_phone_number_id(const char *s)
{
	return all_chars(s, DIGITS) && strlen(s) <= MAX_PHONE_NUMBER_ID;
}

static bool is_station_key(const char *s)
{
	return all_chars(s, LOWER DIGITS "_-") && strlen(s) <= MAX_STATION_KEY;
}

static char *join(const char *const *v, const char *sep)
{
	GString *s = g_string_new(NULL);
	for (size_t i = 0; v[i]; i++)
		g_string_append_printf(s, "%s%s", i ? sep : "", v[i]);
	return g_string_free(s, FALSE);
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static bool check_printable(const char *v, GString *why)
{
	if (!has_control(v))
		return true;
	g_string_assign(why, "contains a control character; remove it");
	return false;
}

static bool check_path(const char *v, GString *why)
{
	return check_printable(v, why);
}

/* A bridge's name: letters, digits, '.', '-', '_' (it is part of each claim's owner). */
static bool check_node(const char *v, GString *why)
{
	for (const char *p = v; *p; p++) {
		if (!g_ascii_isalnum(*p) && *p != '.' && *p != '-' && *p != '_') {
			g_string_printf(why, "\"%s\" is not a node name: use letters, digits, '.', "
					"'-' and '_' (for example bridge-a)", v);
			return false;
		}
	}
	if (*v && strlen(v) <= 64)
		return true;
	g_string_printf(why, "a node name is 1 to 64 characters");
	return false;
}

/* A SQLite file, or a PostgreSQL connection URI that libpq can read. */
static bool check_state(const char *v, GString *why)
{
	if (!check_printable(v, why))
		return false;
	if (!db_location_is_pg(v))
		return true;
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(v, &err);
	if (!opts) {
		g_string_printf(why, "\"%s\" is not a PostgreSQL connection URI libpq can read "
				"(%s); write it as postgresql://user@host:port/dbname?sslmode="
				"verify-full", v, err ? g_strstrip(err) : "out of memory");
		PQfreemem(err);
		return false;
	}
	PQconninfoFree(opts);
	return true;
}

static bool check_kind(const char *v, GFileTest test, const char *what, GString *why)
{
	if (!check_printable(v, why))
		return false;
	if (g_file_test(v, test))
		return true;
	g_string_printf(why, "%s is not %s; fix the path or remove the line", v, what);
	return false;
}

static bool check_dir(const char *v, GString *why)
{
	return check_kind(v, G_FILE_TEST_IS_DIR, "an existing directory", why);
}

static bool check_file(const char *v, GString *why)
{
	return check_kind(v, G_FILE_TEST_IS_REGULAR, "an existing regular file", why);
}

static bool check_hostname(const char *v, GString *why)
{
	if (is_hostname(v))
		return true;
	g_string_printf(why, "\"%s\" is not a valid domain name; use letters, digits, '-' and "
			"dots, like wa.police.example", v);
	return false;
}

static bool check_timezone(const char *v, GString *why)
{
	GTimeZone *tz = g_time_zone_new_identifier(v);
	if (tz != NULL) {
		g_time_zone_unref(tz);
		return true;
	}
	g_string_printf(why, "unknown time zone \"%s\"; use an IANA name like Asia/Kolkata "
			"(see /usr/share/zoneinfo)", v);
	return false;
}

static bool check_listen(const char *v, GString *why)
{
	g_autofree char *host = NULL;
	bool bracketed;
	guint16 port;
	bool port_ok = wb_split_host_port(v, &host, &bracketed, &port);
	bool host_ok = bracketed ? strchr(host, ':') != NULL && g_hostname_is_ip_address(host)
		: host[0] != '\0' && strchr(host, ':') == NULL &&
		  (g_hostname_is_ip_address(host) || is_hostname(host));
	if (host_ok && port_ok)
		return true;
	g_string_printf(why, "\"%s\" is not HOST:PORT; write it like 127.0.0.1:8080 or "
			"[::1]:8080, with a port from 1 to 65535", v);
	return false;
}

static bool check_http_path(const char *v, GString *why)
{
	if (v[0] == '/' && strpbrk(v, " ?#\\") == NULL && strlen(v) <= 256 && !has_control(v))
		return true;
	g_string_printf(why, "\"%s\" is not a URL path; it must start with / and hold no "
			"spaces, ? or #, like /webhook", v);
	return false;
}

/* A URL with one of the schemes and a host; returns the parsed URI or NULL. */
static GUri *parse_url(const char *v, const char *const *schemes)
{
	GUri *uri = g_uri_parse(v, G_URI_FLAGS_NONE, NULL);
	if (uri == NULL)
		return NULL;
	const char *host = g_uri_get_host(uri);
	if (host != NULL && host[0] != '\0' && g_strv_contains(schemes, g_uri_get_scheme(uri)))
		return uri;
	g_uri_unref(uri);
	return NULL;
}

/* https:// anywhere; plain http:// only to this machine, for tests with a fake API. */
static bool check_api_base(const char *v, GString *why)
{
	static const char *const schemes[] = { "https", "http", NULL };
	g_autoptr(GUri) uri = parse_url(v, schemes);
	if (uri == NULL) {
		g_string_printf(why, "\"%s\" is not a URL; use https://graph.facebook.com/v26.0", v);
		return false;
	}
	if (strcmp(g_uri_get_scheme(uri), "http") == 0 && !wb_loopback_host(g_uri_get_host(uri))) {
		g_string_printf(why, "\"%s\" is plain http; use https:// (http:// is allowed "
				"only to a loopback host such as 127.0.0.1 or localhost, for tests)", v);
		return false;
	}
	if (g_str_has_suffix(v, "/") || g_uri_get_query(uri) != NULL) {
		g_string_printf(why, "\"%s\" must end with the API version, with no trailing / "
				"or query, like https://graph.facebook.com/v26.0", v);
		return false;
	}
	return true;
}

static bool check_mail_url(const char *v, const char *proto, const char *example, GString *why)
{
	struct wb_mailurl u;
	if (wb_mailurl_parse(v, proto, &u)) {
		wb_mailurl_clear(&u);
		return true;
	}
	g_string_printf(why, "\"%s\" is not a %s://, %ss:// URL with a host; write it like %s",
			v, proto, proto, example);
	return false;
}

static bool check_imap_url(const char *v, GString *why)
{
	return check_mail_url(v, "imap", "imaps://mail.police.example", why);
}

static bool check_smtp_url(const char *v, GString *why)
{
	return check_mail_url(v, "smtp", "smtp://127.0.0.1:25", why);
}

static bool check_address(const char *v, GString *why)
{
	if (is_address(v))
		return true;
	g_string_printf(why, "\"%s\" is not a mail address; write it like "
			"oc.bhowanipore@police.example", v);
	return false;
}

/* [archive] deliver: the archive is a mailbox of its own, never a station's default. */
static bool check_archive_deliver(const char *v, GString *why)
{
	if (strcmp(v, "imap") == 0 ||
	    (g_str_has_prefix(v, "maildir:") && v[strlen("maildir:")] != '\0'))
		return true;
	g_string_printf(why, "\"%s\" is not a delivery for the archive; use imap (with "
			"imap_user and imap_password_file) or maildir:/path/to/Maildir, or leave "
			"it empty for no anchors", v);
	return false;
}

/* The local part of reply addresses: complaint+REF.TOKEN@domain, so no '+' of its own. */
static bool check_local_part(const char *v, GString *why)
{
	if (is_dot_atom(v, strlen(v), LOWER UPPER DIGITS "_-"))
		return true;
	g_string_printf(why, "\"%s\" is not a plain mail local part; use letters, digits, "
			"'.', '_' and '-' (no '+', no '@'), like complaint", v);
	return false;
}

/* Meta's template names: lowercase letters, digits and underscores. */
static bool check_template_name(const char *v, GString *why)
{
	if (all_chars(v, LOWER DIGITS "_") && strlen(v) <= 512)
		return true;
	g_string_printf(why, "\"%s\" is not a WhatsApp template name; use the approved name, "
			"in lowercase letters, digits and _", v);
	return false;
}

static bool check_station_name(const char *v, GString *why)
{
	if (!check_printable(v, why))
		return false;
	if (g_utf8_strlen(v, -1) <= (glong)MAX_STATION_NAME_CHARS)
		return true;
	g_string_printf(why, "longer than %u characters; shorten it", MAX_STATION_NAME_CHARS);
	return false;
}

static bool check_code(const char *v, GString *why)
{
	size_t n = strlen(v);
	if (n >= 2 && n <= MAX_CODE && all_chars(v, UPPER DIGITS))
		return true;
	g_string_printf(why, "\"%s\" is not a station code; use 2 to 8 capital letters or "
			"digits, like BHP", v);
	return false;
}

static bool check_phone_number_id(const char *v, GString *why)
{
	if (is_phone_number_id(v))
		return true;
	g_string_printf(why, "\"%s\" is not a phone_number_id; copy the number's ID (digits "
			"only, at most %u) from WhatsApp Manager", v, MAX_PHONE_NUMBER_ID);
	return false;
}

/* An address or a glob pattern over one (*@bhowanipore.police.example). */
static bool check_officer(const char *v, GString *why)
{
	const char *at = strrchr(v, '@');
	if (at != NULL && is_dot_atom(v, (size_t)(at - v), ATEXT) &&
	    is_dot_atom(at + 1, strlen(at + 1), LOWER UPPER DIGITS "-*?"))
		return true;
	g_string_printf(why, "\"%s\" is not an address or pattern; write addresses like "
			"oc@police.example or *@bhowanipore.police.example, separated by commas", v);
	return false;
}

/* An authserv-id as the receiving mail server writes it (RFC 8601 §2.5): a MIME token,
 * normally its host name. */
static bool check_authserv_id(const char *v, GString *why)
{
	if (strlen(v) <= 255 && all_chars(v, LOWER UPPER DIGITS "!#$%&'*+-.^_`{|}~"))
		return true;
	g_string_printf(why, "\"%s\" is not an authserv-id; give the name your mail server "
			"writes first in its Authentication-Results header (normally its host "
			"name, e.g. mx.police.example), several separated by commas", v);
	return false;
}

/* ---- sizes and other typed values ------------------------------------------------------ */

/* Units are binary whatever their spelling: K, KB, KiB = 1024; M, MB, MiB = 1024²;
 * G, GB, GiB = 1024³; case does not matter. A size is a plain decimal integer with an
 * optional unit, spaces allowed around and between; no sign, no fraction. */
bool wb_parse_size(const char *s, size_t *out)
{
	static const struct { const char *name; unsigned shift; } units[] = {
		{ "", 0 }, { "b", 0 },
		{ "k", 10 }, { "kb", 10 }, { "kib", 10 },
		{ "m", 20 }, { "mb", 20 }, { "mib", 20 },
		{ "g", 30 }, { "gb", 30 }, { "gib", 30 },
	};
	if (s == NULL)
		return false;
	while (g_ascii_isspace(*s))
		s++;
	if (!g_ascii_isdigit(*s))
		return false;
	guint64 n = 0;
	for (; g_ascii_isdigit(*s); s++) {
		unsigned d = (unsigned)(*s - '0');
		if (n > (G_MAXUINT64 - d) / 10)
			return false;
		n = n * 10 + d;
	}
	while (g_ascii_isspace(*s))
		s++;
	size_t ulen = strcspn(s, " \t\r\n\f\v");
	for (const char *p = s + ulen; *p; p++)
		if (!g_ascii_isspace(*p))
			return false;
	for (size_t i = 0; i < G_N_ELEMENTS(units); i++) {
		if (strlen(units[i].name) != ulen || g_ascii_strncasecmp(s, units[i].name, ulen) != 0)
			continue;
		if (n > (guint64)(SIZE_MAX >> units[i].shift))
			return false;
		*out = (size_t)(n << units[i].shift);
		return true;
	}
	return false;
}

static bool parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1", NULL };
	static const char *const no[] = { "false", "no", "off", "0", NULL };
	for (size_t i = 0; yes[i]; i++) {
		if (g_ascii_strcasecmp(v, yes[i]) == 0 || g_ascii_strcasecmp(v, no[i]) == 0) {
			*out = g_ascii_strcasecmp(v, yes[i]) == 0;
			return true;
		}
	}
	return false;
}

/* ---- secrets ---------------------------------------------------------------------------- */

static void secret_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		g_free(s);
	}
}

/* Is the open file fit to hold a secret? A regular file with no group or other bits. */
static bool secret_file_ok(int fd, const char *path, GString *why)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		g_string_printf(why, "cannot stat %s: %s", path, g_strerror(errno));
	else if (!S_ISREG(st.st_mode))
		g_string_printf(why, "%s is not a regular file; point this key at a file that "
				"holds the secret", path);
	else if ((st.st_mode & 077) != 0)
		g_string_printf(why, "%s: %s by group or others (mode %04o); run chmod 600 %s",
				path, (st.st_mode & 044) ? "readable" : "accessible",
				(unsigned)(st.st_mode & 07777), path);
	else
		return true;
	return false;
}

/* Reads at most cap bytes into buf; -1 on a read error (errno set). */
static ssize_t read_capped(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	while (len < cap) {
		ssize_t got = read(fd, buf + len, cap - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -1;
		if (got == 0)
			break;
		len += (size_t)got;
	}
	return (ssize_t)len;
}

/* The first line of a secret file, trailing CR, LF, spaces and tabs removed. On failure
 * NULL, and why says what is wrong with the file; it never quotes the content. */
static char *read_secret(const char *path, GString *why)
{
	char buf[WB_MAX_SECRET_BYTES + 1];
	char *secret = NULL;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		g_string_printf(why, "cannot open %s: %s; create it holding the secret "
				"(chmod 600) or fix the path", path, g_strerror(errno));
		return NULL;
	}
	ssize_t len = secret_file_ok(fd, path, why) ? read_capped(fd, buf, sizeof buf) : -2;
	size_t n = 0;
	while (len > 0 && n < (size_t)len && buf[n] != '\n')
		n++;
	while (n > 0 && (buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		n--;
	if (len == -1)
		g_string_printf(why, "cannot read %s: %s", path, g_strerror(errno));
	else if (len > (ssize_t)WB_MAX_SECRET_BYTES)
		g_string_printf(why, "%s is larger than %u bytes; it must hold the secret on "
				"one line", path, WB_MAX_SECRET_BYTES);
	else if (len >= 0 && n == 0)
		g_string_printf(why, "%s is empty; write the secret on its first line", path);
	else if (len >= 0 && memchr(buf, '\0', n) != NULL)
		g_string_printf(why, "%s holds a NUL byte; write the secret as text", path);
	else if (len >= 0)
		secret = g_strndup(buf, n);
	explicit_bzero(buf, sizeof buf);
	close(fd);
	return secret;
}

static bool random_bytes(unsigned char *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = getrandom(buf + done, len - done, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		done += (size_t)n;
	}
	return true;
}

static bool write_all(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, s, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		s += n;
		len -= (size_t)n;
	}
	return true;
}

/* Creates path holding a fresh random hex secret. The secret is written to a temporary
 * file and linked into place: link() never replaces an existing file, so two processes
 * starting at once end up sharing whichever secret won. Returns false with errno set;
 * EEXIST means another process created it first. */
static bool create_token_secret(const char *dir, const char *path)
{
	unsigned char raw[TOKEN_SECRET_BYTES];
	char hex[2 * TOKEN_SECRET_BYTES + 2];
	if (g_mkdir_with_parents(dir, 0700) != 0 || !random_bytes(raw, sizeof raw))
		return false;
	for (size_t i = 0; i < sizeof raw; i++)
		g_snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	hex[2 * TOKEN_SECRET_BYTES] = '\n';
	hex[2 * TOKEN_SECRET_BYTES + 1] = '\0';
	explicit_bzero(raw, sizeof raw);

	g_autofree char *tmp = g_build_filename(dir, "." TOKEN_SECRET_NAME ".XXXXXX", NULL);
	int fd = g_mkstemp_full(tmp, O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return false;
	bool ok = fchmod(fd, 0600) == 0 && write_all(fd, hex, strlen(hex)) && fsync(fd) == 0;
	int err = errno;
	explicit_bzero(hex, sizeof hex);
	if (close(fd) != 0 && ok) {
		ok = false;
		err = errno;
	}
	if (ok && link(tmp, path) != 0) {
		ok = false;
		err = errno;
	}
	unlink(tmp);
	if (ok) {
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			(void)fsync(dfd);
			close(dfd);
		}
	}
	errno = err;
	return ok;
}

/* ---- the pass that loads and checks ----------------------------------------------------- */

struct build {
	const char *label;     /* file name, or EMBEDDED_LABEL */
	GPtrArray *problems;   /* of char *, appended to */
	GPtrArray *warnings;   /* of char *, appended to: allowed but risky; NULL: not kept */
	GPtrArray *notes;      /* of char *, appended to: how TLS will be used, per URL; NULL:
				* not kept */
	guint first_problem;   /* problems->len when this pass began */
	struct wb_config *cfg;
	GKeyFile *kf;          /* NULL for the embedded defaults or an unreadable file */
	GHashTable *bad;       /* "group\037key" of values that were present but refused */
	GHashTable *lines;     /* where things are in the file: "[group" → the line of its
				* first [group] line, "group\037key" → the line of the value
				* that counts (the last); from scan_lines() */
	bool load;             /* loading (may create the token secret), not only checking */
	bool templates;        /* read and check the templates too */
};

/* The line of group's key (key NULL: of the [group] line itself) in the file; 0 when it
 * is not there (the embedded defaults, a key left out, a problem of no group). */
static guint line_of(const struct build *b, const char *group, const char *key)
{
	if (b->lines == NULL || group == NULL)
		return 0;
	g_autofree char *id = key != NULL ? g_strconcat(group, "\037", key, NULL)
					  : g_strconcat("[", group, NULL);
	return GPOINTER_TO_UINT(g_hash_table_lookup(b->lines, id));
}

/* " (line N)" after a problem or warning, so that one among a thousand stations is found
 * at once: the key's line, or for a key left out the line of its group. Empty when the
 * file does not hold the group. */
static char *where(const struct build *b, const char *group, const char *key)
{
	guint line = line_of(b, group, key);
	if (line != 0)
		return g_strdup_printf(" (line %u)", line);
	line = key != NULL ? line_of(b, group, NULL) : 0;
	if (line != 0)
		return g_strdup_printf(" (its group starts on line %u)", line);
	return g_strdup("");
}

/* Appends "FILE: [group] key: what" to a list: problems, warnings (allowed but risky,
 * b->warnings) and notes (how a valid setting will behave, b->notes) all read so.
 * Problems and warnings end with where the file says it (where()), unless located says
 * the text names its lines itself. */
static void vadd_line(const struct build *b, GPtrArray *to, bool located, const char *group,
		      const char *key, const char *fmt, va_list ap) G_GNUC_PRINTF(6, 0);

static void vadd_line(const struct build *b, GPtrArray *to, bool located, const char *group,
		      const char *key, const char *fmt, va_list ap)
{
	if (to == NULL)
		return;
	g_autofree char *what = g_strdup_vprintf(fmt, ap);
	g_autofree char *at = located || to == b->notes ? g_strdup("") : where(b, group, key);
	char *line;
	if (group != NULL && key != NULL)
		line = g_strdup_printf("%s: [%s] %s: %s%s", b->label, group, key, what, at);
	else if (group != NULL)
		line = g_strdup_printf("%s: [%s]: %s%s", b->label, group, what, at);
	else
		line = g_strdup_printf("%s: %s%s", b->label, what, at);
	g_ptr_array_add(to, line);
}

static void add_line(const struct build *b, GPtrArray *to, const char *group, const char *key,
		     const char *fmt, ...) G_GNUC_PRINTF(5, 6);

static void add_line(const struct build *b, GPtrArray *to, const char *group, const char *key,
		     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vadd_line(b, to, false, group, key, fmt, ap);
	va_end(ap);
}

static void problem(struct build *b, const char *group, const char *key, const char *fmt, ...)
	G_GNUC_PRINTF(4, 5);

static void problem(struct build *b, const char *group, const char *key, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vadd_line(b, b->problems, false, group, key, fmt, ap);
	va_end(ap);
}

/* A problem whose text already says on which lines it is. */
static void problem_located(struct build *b, const char *group, const char *key,
			    const char *fmt, ...) G_GNUC_PRINTF(4, 5);

static void problem_located(struct build *b, const char *group, const char *key,
			    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vadd_line(b, b->problems, true, group, key, fmt, ap);
	va_end(ap);
}

static bool has_problems(const struct build *b)
{
	return b->problems->len > b->first_problem;
}

static bool given(const struct build *b, const char *group, const char *key)
{
	return b->kf != NULL && g_key_file_has_key(b->kf, group, key, NULL);
}

static void mark_bad(struct build *b, const char *group, const char *key)
{
	g_hash_table_add(b->bad, g_strconcat(group, "\037", key, NULL));
}

static bool was_bad(const struct build *b, const char *group, const char *key)
{
	g_autofree char *k = g_strconcat(group, "\037", key, NULL);
	return g_hash_table_contains(b->bad, k);
}

static void free_field(const struct option *o, void *base)
{
	switch (o->type) {
	case T_STRING: case T_TEXT: case T_PATH: case T_ENUM: case T_FINGERPRINT:
		g_clear_pointer(FIELD(base, o, char *), g_free);
		break;
	case T_SECRET:
		g_clear_pointer(FIELD(base, o, char *), secret_free);
		break;
	case T_LIST: case T_REGEXES:
		g_clear_pointer(FIELD(base, o, char **), g_strfreev);
		break;
	case T_DELIVER:
		g_clear_pointer(&((struct wb_station *)base)->maildir, g_free);
		break;
	case T_BOOL: case T_INT: case T_SIZE:
		break;
	}
}

/* Splits a list value, trims the items and drops empty ones. */
static char **split_list(const char *v, const char *sep, bool lower)
{
	g_auto(GStrv) parts = g_strsplit(v, sep, -1);
	GPtrArray *items = g_ptr_array_new();
	for (size_t i = 0; parts[i]; i++) {
		char *item = g_strstrip(parts[i]);
		if (item[0] != '\0')
			g_ptr_array_add(items, lower ? g_ascii_strdown(item, -1) : g_strdup(item));
	}
	g_ptr_array_add(items, NULL);
	return (char **)g_ptr_array_free(items, FALSE);
}

static bool parse_regexes(const char *v, char ***out, GString *why)
{
	g_auto(GStrv) items = split_list(v, ";", false);
	for (size_t i = 0; items[i]; i++) {
		g_autoptr(GError) err = NULL;
		g_autoptr(GRegex) re = g_regex_new(items[i], G_REGEX_DEFAULT, G_REGEX_MATCH_DEFAULT,
						   &err);
		if (re == NULL) {
			g_string_printf(why, "pattern %zu does not compile: %s; fix the regex "
					"(patterns are separated by ;)", i + 1, err->message);
			return false;
		}
		if (g_regex_get_capture_count(re) < 1) {
			g_string_printf(why, "pattern %zu (%s) has no capture group; put the "
					"complaint number in ( )", i + 1, items[i]);
			return false;
		}
	}
	*out = g_steal_pointer(&items);
	return true;
}

static bool parse_deliver(const char *v, struct wb_station *st, GString *why)
{
	if (strcmp(v, "imap") == 0) {
		st->deliver = WB_DELIVER_IMAP;
		return true;
	}
	if (strcmp(v, "maildir") == 0 ||
	    (g_str_has_prefix(v, "maildir:") && v[strlen("maildir:")] != '\0')) {
		st->deliver = WB_DELIVER_MAILDIR;
		if (v[strlen("maildir")] == ':')
			st->maildir = g_strdup(v + strlen("maildir:"));
		return true;
	}
	g_string_printf(why, "\"%s\" is not a delivery; use imap, maildir (the default "
			"<data_dir>/mail/<station>) or maildir:/path/to/Maildir", v);
	return false;
}

/* Converts one value into its field. The field is free when called. */
static bool parse_value(const struct option *o, const char *v, void *base, GString *why)
{
	size_t size = 0;
	gint64 sn = 0;
	char *fpr;
	switch (o->type) {
	case T_STRING: case T_TEXT: case T_PATH:
		if (o->check != NULL && !o->check(v, why))
			return false;
		*FIELD(base, o, char *) = g_strdup(v);
		return true;
	case T_ENUM:
		if (!g_strv_contains(o->choices, v)) {
			g_autofree char *list = join(o->choices, " | ");
			g_string_printf(why, "\"%s\" is not one of %s; pick one", v, list);
			return false;
		}
		*FIELD(base, o, char *) = g_strdup(v);
		return true;
	case T_BOOL:
		if (parse_bool(v, FIELD(base, o, bool)))
			return true;
		g_string_printf(why, "\"%s\" is not a boolean; use true or false", v);
		return false;
	case T_INT:
		if (all_chars(v[0] == '-' && o->min < 0 ? v + 1 : v, DIGITS) && v[v[0] == '-'] &&
		    g_ascii_string_to_signed(v, 10, o->min, o->max, &sn, NULL)) {
			*FIELD(base, o, int) = (int)sn;
			return true;
		}
		g_string_printf(why, "\"%s\" is not a whole number from %lld to %lld; fix it", v,
				o->min, o->max);
		return false;
	case T_SIZE:
		if (wb_parse_size(v, &size) && size >= (size_t)o->min && size <= (size_t)o->max) {
			*FIELD(base, o, size_t) = size;
			return true;
		}
		g_string_printf(why, "\"%s\" is not a size from %lld KiB to %lld MiB; write it "
				"like 4MiB or 512KiB", v, o->min / 1024, o->max / (1024 * 1024));
		return false;
	case T_SECRET:
		if (!check_printable(v, why))
			return false;
		*FIELD(base, o, char *) = read_secret(v, why);
		return *FIELD(base, o, char *) != NULL;
	case T_LIST: {
		g_auto(GStrv) items = split_list(v, ",", o->lower);
		for (size_t i = 0; items[i]; i++)
			if (o->check != NULL && !o->check(items[i], why))
				return false;
		*FIELD(base, o, char **) = g_steal_pointer(&items);
		return true;
	}
	case T_REGEXES:
		return parse_regexes(v, FIELD(base, o, char **), why);
	case T_FINGERPRINT:
		fpr = wb_tls_fingerprint(v);
		if (fpr == NULL) {
			g_string_printf(why, "\"%s\" is not a SHA-256 fingerprint; give 64 hex "
					"digits, with or without colons (openssl x509 -noout "
					"-fingerprint -sha256)", v);
			return false;
		}
		*FIELD(base, o, char *) = fpr;
		return true;
	case T_DELIVER:
		return parse_deliver(v, base, why);
	}
	return false;
}

/* An optional value may be left empty ("ca_file =") to mean unset. */
static bool may_be_empty(const struct option *o)
{
	return o->def == NULL && !o->required && o->type != T_BOOL && o->type != T_INT &&
	       o->type != T_SIZE;
}

static void apply_default(struct build *b, const struct option *o, void *base,
			  const char *group)
{
	g_autoptr(GString) why = g_string_new(NULL);
	free_field(o, base);
	if (o->def != NULL) {
		if (!parse_value(o, o->def, base, why))
			problem(b, group, o->key, "default refused (%s); this is a bug", why->str);
	} else if (o->type == T_LIST || o->type == T_REGEXES) {
		*FIELD(base, o, char **) = g_new0(char *, 1);
	}
}

/* Sets one option from its raw value in the file. A refused value is reported, marked
 * bad, and replaced by the default so later steps see a consistent struct. */
static void apply_value(struct build *b, const struct option *o, void *base,
			const char *group, const char *raw)
{
	g_autoptr(GString) why = g_string_new(NULL);
	g_autofree char *v = g_strstrip(g_strdup(raw));
	bool ok = false;
	free_field(o, base);
	if (!g_utf8_validate(v, -1, NULL)) {
		g_string_assign(why, "not valid UTF-8; save the file as UTF-8");
	} else if (o->type != T_TEXT && o->type != T_REGEXES &&
		   (strstr(v, " ;") || strstr(v, "\t;") || strstr(v, " #") || strstr(v, "\t#"))) {
		g_string_assign(why, "holds what looks like a comment after the value; this "
				"file format has no inline comments, so put it on its own line "
				"starting with #");
	} else if (v[0] == '\0') {
		if (may_be_empty(o)) {
			apply_default(b, o, base, group);
			return;
		}
		if (o->required)
			g_string_assign(why, "empty; set it");
		else
			g_string_printf(why, "empty; set a value or delete the line for the "
					"default (%s)", o->def);
	} else {
		ok = parse_value(o, v, base, why);
	}
	if (ok)
		return;
	problem(b, group, o->key, "%s", why->str);
	mark_bad(b, group, o->key);
	free_field(o, base);
	apply_default(b, o, base, group);
}

/* Levenshtein distance of two short ASCII names, capped at 64 characters each. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = MIN(strlen(a), 64), lb = MIN(strlen(b), 64);
	size_t row[65];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t sub = diag + (g_ascii_tolower(a[i - 1]) != g_ascii_tolower(b[j - 1]));
			row[j] = MIN(sub, MIN(up, row[j - 1]) + 1);
			diag = up;
		}
	}
	return row[lb];
}

static bool close_enough(const char *typed, const char *known, size_t *best)
{
	size_t d = edit_distance(typed, known);
	size_t limit = strlen(known) >= 6 ? 2 : 1;
	if (d > limit || d >= *best)
		return false;
	*best = d;
	return true;
}

static void unknown_key(struct build *b, const char *group, const char *tgroup, const char *key)
{
	g_autofree char *as_file = g_strconcat(key, "_file", NULL);
	const struct option *secret = find_option(tgroup, as_file);
	if (secret != NULL && secret->type == T_SECRET) {
		problem(b, group, key, "secrets are not accepted in the config file; write it to "
			"a file only its owner can read (chmod 600) and name that file with %s",
			as_file);
		return;
	}
	const char *near = NULL;
	size_t best = SIZE_MAX;
	g_autoptr(GString) elsewhere = g_string_new(NULL);
	for (size_t i = 0; i < G_N_ELEMENTS(options); i++) {
		const struct option *o = &options[i];
		if (strcmp(o->group, tgroup) != 0) {
			if (strcmp(o->key, key) == 0)
				g_string_append_printf(elsewhere, "%s[%s%s]", elsewhere->len ? " or " : "",
						       o->group, strcmp(o->group, "station") ? "" : ":NAME");
		} else if (close_enough(key, o->key, &best)) {
			near = o->key;
		}
	}
	if (elsewhere->len > 0)
		problem(b, group, key, "unknown key here; it belongs in %s", elsewhere->str);
	else if (near != NULL)
		problem(b, group, key, "unknown key; did you mean %s?", near);
	else
		problem(b, group, key, "unknown key; remove it (contrib/wabridge.conf.example "
			"lists every key)");
}

static void unknown_group(struct build *b, const char *group)
{
	const char *colon = strchr(group, ':');
	size_t best = SIZE_MAX;
	const char *near = NULL;
	if (colon != NULL) {
		g_autofree char *head = g_strndup(group, (size_t)(colon - group));
		if (close_enough(head, "station", &best)) {
			problem(b, group, NULL, "unknown group; did you mean [station%s]?", colon);
			return;
		}
	}
	for (size_t i = 0; global_groups[i]; i++)
		if (close_enough(group, global_groups[i], &best))
			near = global_groups[i];
	if (near != NULL)
		problem(b, group, NULL, "unknown group; did you mean [%s]?", near);
	else
		problem(b, group, NULL, "unknown group; the groups are [bridge], [webhook], "
			"[whatsapp], [imap], [smtp], [replies], [archive] and [station:NAME]");
}

/* Applies every key of a group of the file to base, then the defaults of the keys it
 * does not set. tgroup is the table group ("station" for [station:KEY]). */
static void apply_group(struct build *b, const char *group, const char *tgroup, void *base)
{
	g_auto(GStrv) keys = b->kf ? g_key_file_get_keys(b->kf, group, NULL, NULL) : NULL;
	for (size_t i = 0; keys != NULL && keys[i]; i++) {
		if (!g_utf8_validate(keys[i], -1, NULL)) {
			problem(b, group, NULL, "a key name is not valid UTF-8; fix it");
			continue;
		}
		const struct option *o = find_option(tgroup, keys[i]);
		if (o == NULL) {
			unknown_key(b, group, tgroup, keys[i]);
			continue;
		}
		g_autofree char *raw = g_key_file_get_value(b->kf, group, keys[i], NULL);
		apply_value(b, o, base, group, raw != NULL ? raw : "");
	}
	for (size_t i = 0; i < G_N_ELEMENTS(options); i++) {
		const struct option *o = &options[i];
		if (strcmp(o->group, tgroup) != 0 || given(b, group, o->key))
			continue;
		if (o->required)
			problem(b, group, o->key, "missing; every station needs a %s", o->key);
		apply_default(b, o, base, group);
	}
}

static void station_free(gpointer p)
{
	struct wb_station *st = p;
	if (st == NULL)
		return;
	for (size_t i = 0; i < G_N_ELEMENTS(options); i++)
		if (strcmp(options[i].group, "station") == 0)
			free_field(&options[i], st);
	g_free(st->key);
	g_free(st);
}

static struct wb_station *station_new(const char *key)
{
	struct wb_station *st = g_new0(struct wb_station, 1);
	st->key = g_strdup(key);
	return st;
}

static void apply_station(struct build *b, const char *group)
{
	const char *key = group + strlen(STATION_PREFIX);
	if (!is_station_key(key))
		problem(b, group, NULL, "\"%s\" is not a station name; after station: use "
			"lowercase letters, digits, _ and - (it names a Maildir directory), "
			"like [station:bhowanipore]", key);
	struct wb_station *st = station_new(key);
	g_ptr_array_add(b->cfg->stations, st);
	apply_group(b, group, "station", st);
}

/* The group line and key lines as GKeyFile sees them (after a successful parse): where
 * each is (b->lines, for the problems found later), and what GKeyFile accepts silently:
 * a key set twice (the last wins), a group written twice (merged), a localized key[xx]
 * (invisible to g_key_file_get_keys). */
static void scan_lines(struct build *b, char **lines)
{
	g_autofree char *group = NULL;
	for (guint i = 0; lines[i]; i++) {
		g_autofree char *s = g_strstrip(g_strdup(lines[i]));
		guint line = i + 1, first;
		if (s[0] == '\0' || s[0] == '#' || !g_utf8_validate(s, -1, NULL))
			continue;
		if (s[0] == '[') {
			const char *close = strrchr(s, ']');
			g_free(group);
			group = g_strndup(s + 1, close ? (size_t)(close - s - 1) : strlen(s + 1));
			if (strcmp(group, BAD_GROUP) == 0)
				continue;
			if ((first = line_of(b, group, NULL)) != 0)
				problem_located(b, group, NULL, "written twice (lines %u and %u); merge "
						"the two into one group", first, line);
			else
				g_hash_table_insert(b->lines, g_strconcat("[", group, NULL),
						    GUINT_TO_POINTER(line));
			continue;
		}
		if (group == NULL || strcmp(group, BAD_GROUP) == 0)
			continue;
		g_autofree char *key = g_strstrip(g_strndup(s, strcspn(s, "=")));
		if (strchr(key, '[') != NULL) {
			problem_located(b, group, key, "localized keys are not supported; remove "
					"the [...] (line %u)", line);
			continue;
		}
		if ((first = line_of(b, group, key)) != 0)
			problem_located(b, group, key, "set twice (lines %u and %u), and only the "
					"last one counts; delete one", first, line);
		g_hash_table_insert(b->lines, g_strconcat(group, "\037", key, NULL),
				    GUINT_TO_POINTER(line));
	}
}

static bool parses(const char *text, size_t len, GError **error)
{
	GKeyFile *kf = g_key_file_new();
	bool ok = g_key_file_load_from_data(kf, text, len, G_KEY_FILE_NONE, error);
	g_key_file_free(kf);
	return ok;
}

/* Index of the first line GKeyFile refuses (see the design note at the top), and the
 * error it gives there. */
static guint first_bad_line(char **lines, GError **error)
{
	g_autofree char *text = g_strjoinv("\n", lines);
	guint n = g_strv_length(lines);
	if (n == 0)
		return 0;
	g_autofree size_t *end = g_new(size_t, n); /* end[i]: length of lines 0..i */
	size_t pos = 0;
	for (guint i = 0; i < n; i++) {
		pos += strlen(lines[i]);
		end[i] = pos++;
	}
	guint lo = 0, hi = n - 1; /* the prefix ending at hi fails */
	while (lo < hi) {
		guint mid = lo + (hi - lo) / 2;
		if (parses(text, end[mid], NULL))
			lo = mid + 1;
		else
			hi = mid;
	}
	(void)parses(text, end[lo], error);
	return lo;
}

static void report_syntax(struct build *b, guint line, const char *text, const GError *err)
{
	g_autofree char *s = g_strstrip(g_strdup(text));
	const char *what;
	if (err != NULL && g_error_matches(err, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND))
		what = "a key before the first [group]; move it under its group";
	else if (!g_utf8_validate(s, -1, NULL))
		what = "not valid UTF-8; save the file as UTF-8";
	else if (s[0] == '[')
		what = "not a valid [group] line; write it as [name] with no [ ] inside the name";
	else if (s[0] == ';')
		what = "not a comment: comments start with #, not ;";
	else if (strchr(s, '=') == NULL)
		what = "not a [group], a key = value or a # comment; fix or remove the line";
	else
		what = "not a valid key = value line; the key must be a non-empty name before =";
	problem(b, NULL, NULL, "line %u: %s", line, what);
}

/* Parses the text, reporting and blanking each line GKeyFile refuses. */
static GKeyFile *parse_text(struct build *b, const char *text)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	for (guint round = 0;; round++) {
		g_autofree char *joined = g_strjoinv("\n", lines);
		GKeyFile *kf = g_key_file_new();
		if (g_key_file_load_from_data(kf, joined, strlen(joined), G_KEY_FILE_NONE, NULL)) {
			b->kf = kf;
			scan_lines(b, lines);
			return kf;
		}
		g_key_file_free(kf);
		if (round == MAX_SYNTAX_ERRORS) {
			problem(b, NULL, NULL, "too many syntax errors; fix the ones above first");
			return NULL;
		}
		g_autoptr(GError) err = NULL;
		guint bad = first_bad_line(lines, &err);
		report_syntax(b, bad + 1, lines[bad], err);
		bool group_line = g_strchug(lines[bad])[0] == '[';
		g_free(lines[bad]);
		lines[bad] = g_strdup(group_line ? "[" BAD_GROUP "]" : "");
	}
}

/* The file's text (text[len] is NUL): its size, NUL bytes inside, then its syntax. */
static void take_text(struct build *b, const char *text, size_t len)
{
	if (len > WB_MAX_CONFIG_BYTES) {
		problem(b, NULL, NULL, "larger than %u bytes; is this the config file?",
			WB_MAX_CONFIG_BYTES);
		return;
	}
	if (memchr(text, '\0', len) != NULL) {
		problem(b, NULL, NULL, "holds a NUL byte; is this the config file?");
		return;
	}
	parse_text(b, text);
}

static void read_file(struct build *b, const char *path)
{
	g_autofree char *text = NULL;
	gsize len = 0;
	g_autoptr(GError) err = NULL;
	struct stat st;
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > (off_t)WB_MAX_CONFIG_BYTES) {
		problem(b, NULL, NULL, "larger than %u bytes; is this the config file?",
			WB_MAX_CONFIG_BYTES);
		return;
	}
	if (!g_file_get_contents(path, &text, &len, &err)) {
		problem(b, NULL, NULL, "cannot read: %s; check the path given with -c or "
			"$WABRIDGE_CONFIG", err->message);
		return;
	}
	take_text(b, text, len);
}

/* Every group of the file in file order (so problems come in file order), then the
 * defaults of the global groups the file leaves out, or of all for the embedded ones. */
static void apply_groups(struct build *b)
{
	g_auto(GStrv) groups = b->kf ? g_key_file_get_groups(b->kf, NULL) : g_new0(char *, 1);
	for (size_t i = 0; groups[i]; i++) {
		const char *g = groups[i];
		if (strcmp(g, BAD_GROUP) == 0)
			continue;
		if (!g_utf8_validate(g, -1, NULL))
			problem(b, NULL, NULL, "a group name is not valid UTF-8; fix it");
		else if (g_str_has_prefix(g, STATION_PREFIX))
			apply_station(b, g);
		else if (g_strv_contains(global_groups, g))
			apply_group(b, g, g, b->cfg);
		else
			unknown_group(b, g);
	}
	for (size_t i = 0; global_groups[i]; i++)
		if (!g_strv_contains((const char *const *)groups, global_groups[i]))
			apply_group(b, global_groups[i], global_groups[i], b->cfg);
}

/* Values that depend on others: data_dir, default addresses, auto_stations. */
static void finish(struct build *b)
{
	struct wb_config *cfg = b->cfg;
	if (cfg->data_dir == NULL)
		cfg->data_dir = db_location_is_pg(cfg->state) ? g_strdup("./wabridge-data")
							      : g_path_get_dirname(cfg->state);
	if (cfg->spool_dir == NULL)
		cfg->spool_dir = g_build_filename(cfg->data_dir, "spool", NULL);
	if (cfg->smtp_from == NULL && !was_bad(b, "smtp", "from"))
		cfg->smtp_from = g_strconcat("wabridge@", cfg->domain, NULL);
	for (guint i = 0; i < cfg->stations->len; i++) {
		struct wb_station *st = cfg->stations->pdata[i];
		if (st->address == NULL)
			st->address = g_strdup_printf("station-%s@%s", st->phone_number_id
						      ? st->phone_number_id : st->key, cfg->domain);
	}
	cfg->auto_stations = cfg->stations->len == 0;
	struct wb_station *ar = &cfg->archive;
	ar->key = g_strdup("archive");
	ar->name = g_strdup("Journal archive");
	ar->code = g_strdup("ARCHIVE");
	if (ar->address == NULL && cfg->smtp_from != NULL && !was_bad(b, "archive", "address"))
		ar->address = g_strdup(cfg->smtp_from);
	if (cfg->archive_deliver != NULL) {
		ar->deliver = strcmp(cfg->archive_deliver, "imap") == 0 ? WB_DELIVER_IMAP
									 : WB_DELIVER_MAILDIR;
		if (ar->deliver == WB_DELIVER_MAILDIR)
			ar->maildir = g_strdup(cfg->archive_deliver + strlen("maildir:"));
	}
	/* Unset, the body budget grows with max_body: four of the largest bodies fit. */
	if (!given(b, "webhook", "body_memory"))
		cfg->body_memory = MAX(cfg->body_memory, 4 * cfg->max_body);
}

/* A key that must be set for another's sake; silent when it was set but refused. */
static void need(struct build *b, const void *field, const char *group, const char *key,
		 const char *why)
{
	if (field == NULL && !was_bad(b, group, key))
		problem(b, group, key, "not set, %s", why);
}

/* A value another station already has: name both stations and both lines. seen maps the
 * values so far to their station (hash tables: a thousand stations cost a thousand
 * lookups, not half a million comparisons). */
static void unique(struct build *b, GHashTable *seen, const char *value, const char *key,
		   const struct wb_station *st, const char *group, const char *rule)
{
	if (value == NULL)
		return;
	const struct wb_station *other = g_hash_table_lookup(seen, value);
	if (other == NULL) {
		g_hash_table_insert(seen, (gpointer)value, (gpointer)st);
		return;
	}
	g_autofree char *other_group = g_strconcat(STATION_PREFIX, other->key, NULL);
	guint line = line_of(b, other_group, key);
	g_autofree char *at = line ? g_strdup_printf(" on line %u", line) : g_strdup("");
	problem(b, group, key, "%s is also the %s of [%s]%s; %s", value, key, other_group, at,
		rule);
}

/* The mailbox a station delivers to, as "imap USER FOLDER" or "maildir PATH"; NULL for
 * the default Maildir, which is the station's own. */
static char *mailbox_of(const struct wb_station *st)
{
	if (st->deliver == WB_DELIVER_IMAP)
		return st->imap_user != NULL ? g_strdup_printf("imap_user %s, folder %s",
							       st->imap_user, st->folder) : NULL;
	return st->maildir != NULL ? g_strdup_printf("maildir:%s", st->maildir) : NULL;
}

/* Two stations filling one mailbox folder is allowed (a shared account), but most often
 * a copied group left unchanged: warn, naming both. */
static void shared_mailbox(struct build *b, GHashTable *boxes, const struct wb_station *st,
			   const char *group)
{
	char *box = mailbox_of(st);
	if (box == NULL)
		return;
	const struct wb_station *other = g_hash_table_lookup(boxes, box);
	if (other == NULL) {
		g_hash_table_insert(boxes, box, (gpointer)st);
		return;
	}
	g_autofree char *other_group = g_strconcat(STATION_PREFIX, other->key, NULL);
	const char *key = st->deliver == WB_DELIVER_IMAP ? "imap_user" : "deliver";
	guint line = line_of(b, other_group, NULL);
	g_autofree char *at = line ? g_strdup_printf(" on line %u", line) : g_strdup("");
	add_line(b, b->warnings, group, key, "delivers into the same mailbox (%s) as [%s]%s: "
		 "their mails mix in one folder; give each station its own folder, unless "
		 "that is meant", box, other_group, at);
	g_free(box);
}

static void check_stations(struct build *b)
{
	struct wb_config *cfg = b->cfg;
	g_autoptr(GHashTable) codes = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GHashTable) ids = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GHashTable) boxes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	bool imap_url_reported = false;
	if (cfg->stations->len > WB_MAX_STATIONS)
		problem(b, NULL, NULL, "%u stations; at most %u are supported",
			cfg->stations->len, WB_MAX_STATIONS);
	for (guint i = 0; i < cfg->stations->len; i++) {
		struct wb_station *st = cfg->stations->pdata[i];
		g_autofree char *group = g_strconcat(STATION_PREFIX, st->key, NULL);
		unique(b, codes, st->code, "code", st, group, "every station needs its own");
		unique(b, ids, st->phone_number_id, "phone_number_id", st, group,
		       "each number belongs to one station");
		shared_mailbox(b, boxes, st, group);
		if (st->deliver != WB_DELIVER_IMAP)
			continue;
		if (!imap_url_reported) {
			need(b, cfg->imap_url, "imap", "url", "but a station delivers by imap; set it "
			     "or use deliver = maildir:PATH");
			imap_url_reported = true;
		}
		need(b, st->imap_user, group, "imap_user", "but deliver = imap; set the "
		     "station mailbox's login");
		need(b, st->imap_password, group, "imap_password_file", "but deliver = imap; "
		     "name the file holding the mailbox password (chmod 600)");
	}
}

/* The rules of tls.h for one mail server URL: a note on how the connection will go,
 * and a warning when allow_plaintext lets secrets cross the network unencrypted. */
static void check_mail_transport(struct build *b, const char *group, const char *url,
				 const char *ca_file, const char *fingerprint,
				 bool allow_plaintext, const char *exposed)
{
	struct wb_mailurl u;
	if (url == NULL || was_bad(b, group, "url") || !wb_mailurl_parse(url, group, &u))
		return;
	struct wb_tls_plan plan = wb_tls_plan(&u, allow_plaintext,
					      ca_file != NULL || fingerprint != NULL);
	if (b->notes != NULL) {
		g_autofree char *how = wb_tls_describe(&plan, &u, ca_file, fingerprint);
		add_line(b, b->notes, group, "url", "%s: %s", url, how);
	}
	if (wb_tls_plaintext_by_config(&plan))
		add_line(b, b->warnings, group, "allow_plaintext", "true, and %s is not a "
			 "loopback host: when the server offers no STARTTLS, %s cross the "
			 "network unencrypted; use %ss:// or turn STARTTLS on in the server, then "
			 "remove this line", u.host, exposed, group);
	wb_mailurl_clear(&u);
}

/* How a PostgreSQL state will be reached: a note, and a warning when it is another
 * host's and the server's certificate is not verified (sslmode verify-full, or
 * verify-ca), since every complaint crosses that connection. */
static void check_state_transport(struct build *b)
{
	const struct wb_config *cfg = b->cfg;
	if (!db_location_is_pg(cfg->state) || was_bad(b, "bridge", "state"))
		return;
	PQconninfoOption *opts = PQconninfoParse(cfg->state, NULL);
	if (!opts)
		return;
	const char *host = NULL, *mode = NULL, *root = NULL, *password = NULL;
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (!o->val)
			continue;
		if (strcmp(o->keyword, "host") == 0 || (strcmp(o->keyword, "hostaddr") == 0 && !host))
			host = o->val;
		else if (strcmp(o->keyword, "sslmode") == 0)
			mode = o->val;
		else if (strcmp(o->keyword, "sslrootcert") == 0)
			root = o->val;
		else if (strcmp(o->keyword, "password") == 0)
			password = o->val;
	}
	bool local = !host || !*host || host[0] == '/' || wb_loopback_host(host);
	bool verified = mode && (strcmp(mode, "verify-full") == 0 || strcmp(mode, "verify-ca") == 0);
	g_autofree char *shown = db_shown_location(cfg->state);
	if (b->notes != NULL)
		add_line(b, b->notes, "bridge", "state", "%s: PostgreSQL on %s, %s%s%s", shown,
			 local ? (host && *host && host[0] != '/' ? host : "a local socket") : host,
			 verified ? "TLS, certificate verified against " : mode ? "sslmode=" :
			 "libpq's default sslmode (prefer: TLS if offered, NOT verified)",
			 verified ? (root ? root : "~/.postgresql/root.crt") : mode ? mode : "",
			 verified && strcmp(mode, "verify-ca") == 0 ? " (host name not checked)" : "");
	if (!local && !verified)
		add_line(b, b->warnings, "bridge", "state", "%s is not a loopback host and the "
			 "server's certificate is not verified: every complaint and the state "
			 "password cross a connection someone in between could read or take over; "
			 "add sslmode=verify-full&sslrootcert=/path/to/ca.pem to the URI", host);
	if (password)
		add_line(b, b->warnings, "bridge", "state", "the URI holds a password, and "
			 "configuration files get copied and shown; move it to "
			 "state_password_file (chmod 600) and remove it from the URI");
	PQconninfoFree(opts);
}

/* Signature checking may be off only where nobody else can post: on loopback, or when
 * allow_unsigned says so (then loudly). */
static void check_webhook_exposure(struct build *b)
{
	const struct wb_config *cfg = b->cfg;
	if (cfg->app_secret != NULL || was_bad(b, "webhook", "app_secret_file") ||
	    was_bad(b, "webhook", "listen"))
		return;
	g_autofree char *host = NULL;
	bool bracketed;
	guint16 port;
	wb_split_host_port(cfg->listen, &host, &bracketed, &port);
	if (wb_loopback_host(host))
		return;
	if (cfg->allow_unsigned)
		add_line(b, b->warnings, "webhook", "allow_unsigned", "true, and listen = %s is "
			 "not a loopback address: signature checking is OFF on a listener others "
			 "can reach, so anyone who reaches it can post messages in any citizen's "
			 "name; set app_secret_file and remove this line", cfg->listen);
	else
		problem(b, "webhook", "app_secret_file", "not set, but listen = %s is not a "
			"loopback address, so anyone who can reach it could post messages in any "
			"citizen's name; name the file holding the Meta app secret, or listen on "
			"127.0.0.1 behind a TLS proxy (allow_unsigned = true accepts the risk, for "
			"a closed test network only)", cfg->listen);
}

/* Escalation mail needs a mail server; an SMTP login needs both halves. */
static void check_escalation(struct build *b)
{
	struct wb_config *cfg = b->cfg;
	if ((cfg->smtp_user != NULL) != (cfg->smtp_password != NULL) &&
	    !was_bad(b, "smtp", "user") && !was_bad(b, "smtp", "password_file"))
		problem(b, "smtp", cfg->smtp_user ? "password_file" : "user", "not set, but %s "
			"is; an SMTP login needs both user and password_file, or neither",
			cfg->smtp_user ? "user" : "password_file");
	if (cfg->smtp_url != NULL || was_bad(b, "smtp", "url"))
		return;
	for (guint i = 0; i < cfg->stations->len; i++) {
		const struct wb_station *st = cfg->stations->pdata[i];
		const char *key = st->escalate_to ? "escalate_to"
				  : st->escalate_late_to ? "escalate_late_to" : NULL;
		if (key != NULL) {
			g_autofree char *group = g_strconcat(STATION_PREFIX, st->key, NULL);
			problem(b, group, key, "is set, but [smtp] url is not, so escalation "
				"mail cannot be sent; set [smtp] url (for example "
				"smtp://127.0.0.1:25) or remove this key");
			return;
		}
	}
}

/* Rules across keys. */
static void cross_check(struct build *b)
{
	struct wb_config *cfg = b->cfg;
	if (!cfg->dry_run)
		need(b, cfg->access_token, "whatsapp", "access_token_file", "but dry_run = "
		     "false; name the file holding the Graph API token, or set dry_run = true");
	if (strcmp(cfg->replies_mode, "imap") == 0) {
		need(b, cfg->imap_url, "imap", "url", "but [replies] mode = imap; set it or use "
		     "mode = pipe");
		need(b, cfg->replies_imap_user, "replies", "imap_user", "but mode = imap; set the "
		     "login of the replies mailbox");
		need(b, cfg->replies_imap_password, "replies", "imap_password_file", "but mode = "
		     "imap; name the file holding its password (chmod 600)");
	}
	if (cfg->body_memory < 2 * cfg->max_body && !was_bad(b, "webhook", "body_memory") &&
	    !was_bad(b, "webhook", "max_body"))
		problem(b, "webhook", "body_memory", "smaller than twice max_body; large bodies "
			"may use half of it, so set it to at least %zu KiB or lower max_body",
			2 * cfg->max_body / 1024);
	if (cfg->archive_deliver != NULL && strcmp(cfg->archive_deliver, "imap") == 0) {
		need(b, cfg->imap_url, "imap", "url", "but [archive] deliver = imap; set it or "
		     "use deliver = maildir:PATH");
		need(b, cfg->archive.imap_user, "archive", "imap_user", "but deliver = imap; set "
		     "the archive mailbox's login");
		need(b, cfg->archive.imap_password, "archive", "imap_password_file", "but deliver "
		     "= imap; name the file holding the archive mailbox's password (chmod 600)");
	}
	check_stations(b);
	check_webhook_exposure(b);
	check_state_transport(b);
	check_mail_transport(b, "imap", cfg->imap_url, cfg->imap_ca_file,
			     cfg->imap_tls_fingerprint, cfg->imap_allow_plaintext,
			     "the mailbox passwords and every complaint mail");
	check_mail_transport(b, "smtp", cfg->smtp_url, cfg->smtp_ca_file, NULL,
			     cfg->smtp_allow_plaintext, "the SMTP login and every escalation mail");
	check_escalation(b);
}

/* With no token_secret_file, the reply secret lives in <data_dir>/reply_secret: loading
 * creates it on first use; checking only checks it when it exists. */
static void token_secret(struct build *b)
{
	struct wb_config *cfg = b->cfg;
	if (cfg->token_secret != NULL || was_bad(b, "replies", "token_secret_file"))
		return;
	/* A secret made up here would be this bridge's alone: a reply token one bridge
	 * wrote would not verify on another. */
	if (db_location_is_pg(cfg->state)) {
		problem(b, "replies", "token_secret_file", "not set, but the state is on "
			"PostgreSQL, where every bridge must verify the reply tokens of the others: "
			"make one secret (head -c 32 /dev/urandom | base64 > reply_secret; chmod 600 "
			"reply_secret), give every bridge the same file and name it here");
		return;
	}
	g_autofree char *path = g_build_filename(cfg->data_dir, TOKEN_SECRET_NAME, NULL);
	g_autoptr(GString) why = g_string_new(NULL);
	struct stat st;
	bool exists = lstat(path, &st) == 0;
	if (!exists && !b->load)
		return;
	if (!exists && !create_token_secret(cfg->data_dir, path) && errno != EEXIST) {
		problem(b, "replies", "token_secret_file", "not set, and %s cannot be created: "
			"%s; make %s writable or set token_secret_file", path, g_strerror(errno),
			cfg->data_dir);
		return;
	}
	cfg->token_secret = read_secret(path, why);
	if (cfg->token_secret == NULL)
		problem(b, "replies", "token_secret_file", "not set, so the reply secret is "
			"read from %s", why->str);
}

/* ---- station lookups ---------------------------------------------------------------------- */

/* The configured stations are indexed once at load and only read afterwards. Auto
 * stations are made while the program runs, by any thread: they live in their own
 * registry under its lock, and are freed only with the configuration, so a pointer
 * handed out stays valid. */
struct wb_station_index {
	GHashTable *by_key;     /* configured stations by key (borrowed from cfg->stations) */
	GHashTable *by_pnid;    /* … by phone_number_id */
	GHashTable *by_code;    /* … by code (codes are upper case) */
	GMutex lock;            /* guards the three below */
	GPtrArray *autos;       /* of struct wb_station *, owned */
	GHashTable *auto_by_id; /* phone_number_id (= key) → station, borrowed */
	GHashTable *auto_codes; /* codes taken by auto stations */
};

static struct wb_station_index *index_new(const GPtrArray *stations)
{
	struct wb_station_index *ix = g_new0(struct wb_station_index, 1);
	ix->by_key = g_hash_table_new(g_str_hash, g_str_equal);
	ix->by_pnid = g_hash_table_new(g_str_hash, g_str_equal);
	ix->by_code = g_hash_table_new(g_str_hash, g_str_equal);
	for (guint i = 0; i < stations->len; i++) {
		struct wb_station *st = stations->pdata[i];
		g_hash_table_insert(ix->by_key, st->key, st);
		if (st->phone_number_id != NULL)
			g_hash_table_insert(ix->by_pnid, st->phone_number_id, st);
		if (st->code != NULL)
			g_hash_table_insert(ix->by_code, st->code, st);
	}
	g_mutex_init(&ix->lock);
	ix->autos = g_ptr_array_new_with_free_func(station_free);
	ix->auto_by_id = g_hash_table_new(g_str_hash, g_str_equal);
	ix->auto_codes = g_hash_table_new(g_str_hash, g_str_equal);
	return ix;
}

static void index_free(struct wb_station_index *ix)
{
	if (ix == NULL)
		return;
	g_hash_table_destroy(ix->by_key);
	g_hash_table_destroy(ix->by_pnid);
	g_hash_table_destroy(ix->by_code);
	g_hash_table_destroy(ix->auto_by_id);
	g_hash_table_destroy(ix->auto_codes);
	g_ptr_array_unref(ix->autos);
	g_mutex_clear(&ix->lock);
	g_free(ix);
}

/* The templates are part of the configuration: a broken one is a problem of
 * [bridge] templates, and a reload (SIGHUP) takes the files as they are then. */
static void load_templates(struct build *b)
{
	if (!b->templates || was_bad(b, "bridge", "templates"))
		return;
	GError *err = NULL;
	b->cfg->tpl = wb_templates_load(b->cfg->templates, &err);
	if (b->cfg->tpl == NULL) {
		problem(b, "bridge", "templates", "%s; fix the file, or remove it to use the "
			"built-in one", err->message);
		g_error_free(err);
	}
}

/* The serious-crime list goes with the templates: a broken one is a problem of
 * [bridge] serious_keywords_file naming its lines; unset, the built-in list. */
static void load_serious(struct build *b)
{
	if (!b->templates || was_bad(b, "bridge", "serious_keywords_file"))
		return;
	GError *err = NULL;
	b->cfg->serious = wb_serious_load(b->cfg->serious_keywords_file, &err);
	if (b->cfg->serious == NULL) {
		problem(b, "bridge", "serious_keywords_file", "%s; fix the file, or unset the key "
			"to use the built-in list", err->message);
		g_error_free(err);
	}
}

/* path: the file, or NULL for the embedded defaults; with text (NUL-terminated at len),
 * path only names that text. warnings and notes may be NULL. */
static struct wb_config *build(const char *path, const char *text, size_t len, bool load,
			       bool templates, GPtrArray *problems, GPtrArray *warnings,
			       GPtrArray *notes)
{
	struct wb_config *cfg = g_new0(struct wb_config, 1);
	struct build b = {
		.label = path ? path : EMBEDDED_LABEL,
		.problems = problems,
		.warnings = warnings,
		.notes = notes,
		.first_problem = problems->len,
		.cfg = cfg,
		.bad = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
		.lines = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
		.load = load,
		.templates = templates,
	};
	cfg->path = g_strdup(path);
	cfg->stations = g_ptr_array_new_with_free_func(station_free);
	if (text != NULL)
		take_text(&b, text, len);
	else if (path != NULL)
		read_file(&b, path);
	if (path == NULL || b.kf != NULL) { /* else the file's problems say it all */
		apply_groups(&b);
		if (path == NULL)
			cfg->dry_run = true;
		finish(&b);
		cross_check(&b);
		if (!has_problems(&b))
			token_secret(&b);
		load_templates(&b);
		load_serious(&b);
	}
	cfg->index = index_new(cfg->stations);
	if (b.kf != NULL)
		g_key_file_free(b.kf);
	g_hash_table_destroy(b.bad);
	g_hash_table_destroy(b.lines);
	return cfg;
}

/* ---- the interface ---------------------------------------------------------------------- */

const char *wb_config_choose_path(const char *explicit_path)
{
	if (explicit_path != NULL && explicit_path[0] != '\0')
		return explicit_path;
	const char *env = g_getenv("WABRIDGE_CONFIG");
	if (env != NULL && env[0] != '\0')
		return env;
	if (g_file_test(WB_SYSTEM_CONFIG, G_FILE_TEST_EXISTS))
		return WB_SYSTEM_CONFIG;
	return NULL;
}

static struct wb_config *load(const char *path, bool templates, GError **error)
{
	g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
	GPtrArray *warnings = g_ptr_array_new_with_free_func(g_free);
	struct wb_config *cfg = build(path, NULL, 0, true, templates, problems, warnings, NULL);
	if (problems->len > 0) {
		g_ptr_array_add(problems, NULL);
		g_autofree char *all = g_strjoinv("\n", (char **)problems->pdata);
		g_set_error_literal(error, wb_config_error_quark(), WB_CONFIG_ERROR_INVALID, all);
		wb_config_free(cfg);
		g_ptr_array_unref(warnings);
		return NULL;
	}
	g_ptr_array_set_free_func(warnings, NULL);
	g_ptr_array_add(warnings, NULL);
	cfg->warnings = (char **)g_ptr_array_free(warnings, FALSE);
	if (path != NULL && cfg->auto_stations)
		g_message("%s: no [station:*] group, so every phone_number_id becomes a station "
			  "of its own, delivering to a Maildir under %s", path, cfg->data_dir);
	return cfg;
}

struct wb_config *wb_config_load(const char *path, GError **error)
{
	return load(path, true, error);
}

struct wb_config *wb_config_load_no_templates(const char *path, GError **error)
{
	return load(path, false, error);
}

bool wb_config_check(const char *path, GPtrArray *problems, GPtrArray *warnings,
		     GPtrArray *notes)
{
	guint before = problems->len;
	wb_config_free(build(path, NULL, 0, false, true, problems, warnings, notes));
	return problems->len == before;
}

bool wb_config_check_text(const char *label, const void *text, size_t len,
			  GPtrArray *problems)
{
	guint before = problems->len;
	g_autofree char *copy = g_malloc(len + 1);
	if (len > 0)
		memcpy(copy, text, len);
	copy[len] = '\0';
	wb_config_free(build(label, copy, len, false, true, problems, NULL, NULL));
	return problems->len == before;
}

void wb_config_log_warnings(const struct wb_config *cfg)
{
	for (size_t i = 0; cfg->warnings != NULL && cfg->warnings[i] != NULL; i++)
		g_warning("%s", cfg->warnings[i]);
}

void wb_config_free(struct wb_config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < G_N_ELEMENTS(options); i++)
		if (strcmp(options[i].group, "station") != 0)
			free_field(&options[i], cfg);
	g_free(cfg->archive.key);
	g_free(cfg->archive.name);
	g_free(cfg->archive.code);
	g_free(cfg->archive.maildir);
	index_free(cfg->index);
	g_ptr_array_unref(cfg->stations);
	wb_templates_free(cfg->tpl);
	wb_serious_free(cfg->serious);
	g_strfreev(cfg->warnings);
	g_free(cfg->path);
	g_free(cfg);
}

const struct wb_station *wb_config_station_by_key(const struct wb_config *cfg, const char *key)
{
	if (cfg == NULL || key == NULL || cfg->index == NULL)
		return NULL;
	struct wb_station_index *ix = cfg->index;
	const struct wb_station *st = g_hash_table_lookup(ix->by_key, key);
	if (st == NULL && cfg->auto_stations) {
		g_mutex_lock(&ix->lock);
		st = g_hash_table_lookup(ix->auto_by_id, key);
		g_mutex_unlock(&ix->lock);
	}
	return st;
}

const struct wb_station *wb_config_station_by_code(const struct wb_config *cfg,
						   const char *code)
{
	if (cfg == NULL || code == NULL || cfg->index == NULL || strlen(code) > MAX_CODE)
		return NULL;
	char up[MAX_CODE + 1];
	for (size_t i = 0; i <= strlen(code); i++)
		up[i] = g_ascii_toupper(code[i]);
	return g_hash_table_lookup(cfg->index->by_code, up);
}

const struct wb_station *wb_config_station_stored(const struct wb_config *cfg, const char *key)
{
	const struct wb_station *st = wb_config_station_by_key(cfg, key);
	if (!st && cfg != NULL && cfg->auto_stations)
		st = wb_config_station_for(cfg, key);
	return st;
}

/* An auto station's code is "P" and the last 4 digits of its phone_number_id (all of
 * them when shorter): P0101 for 331770000100101. When another auto station already has
 * that code, more digits are taken, up to the 8 characters a code may have. Called with
 * the registry locked. */
static char *auto_code(const struct wb_station_index *ix, const char *id)
{
	size_t len = strlen(id);
	for (size_t digits = MIN(4, len); digits <= MIN(7, len); digits++) {
		char *code = g_strconcat("P", id + len - digits, NULL);
		if (!g_hash_table_contains(ix->auto_codes, code))
			return code;
		g_free(code);
		if (digits == len)
			break;
	}
	return NULL;
}

static struct wb_station *auto_station_new(const struct wb_config *cfg, const char *id,
					   char *code)
{
	struct wb_station *st = station_new(id);
	st->code = code;
	st->name = g_strconcat("WhatsApp number ", id, NULL);
	st->phone_number_id = g_strdup(id);
	st->address = g_strdup_printf("station-%s@%s", id, cfg->domain);
	st->deliver = WB_DELIVER_MAILDIR;
	st->maildir = NULL; /* the default, <data_dir>/mail/<key>: wb_deliver_maildir_path() */
	st->folder = g_strdup("INBOX");
	st->officers = g_new0(char *, 1);
	st->number_patterns = g_new0(char *, 1);
	st->is_auto = true;
	return st;
}

/* Find or make the auto station for id, with the registry locked. */
static const struct wb_station *auto_station(const struct wb_config *cfg, const char *id)
{
	struct wb_station_index *ix = cfg->index;
	const struct wb_station *st = g_hash_table_lookup(ix->auto_by_id, id);
	if (st != NULL)
		return st;
	if (ix->autos->len >= WB_MAX_STATIONS) {
		g_message("phone_number_id %s: not made a station, %u auto stations already; "
			  "configure [station:*] groups", id, WB_MAX_STATIONS);
		return NULL;
	}
	char *code = auto_code(ix, id);
	if (code == NULL) {
		g_message("phone_number_id %s: no free station code; configure [station:*] "
			  "groups", id);
		return NULL;
	}
	struct wb_station *made = auto_station_new(cfg, id, code);
	g_ptr_array_add(ix->autos, made);
	g_hash_table_insert(ix->auto_by_id, made->key, made);
	g_hash_table_add(ix->auto_codes, made->code);
	return made;
}

const struct wb_station *wb_config_station_for(const struct wb_config *cfg,
					       const char *phone_number_id)
{
	if (cfg == NULL || phone_number_id == NULL || cfg->index == NULL)
		return NULL;
	const struct wb_station *st = g_hash_table_lookup(cfg->index->by_pnid, phone_number_id);
	if (st != NULL || !cfg->auto_stations || !is_phone_number_id(phone_number_id))
		return st;
	g_mutex_lock(&cfg->index->lock);
	st = auto_station(cfg, phone_number_id);
	g_mutex_unlock(&cfg->index->lock);
	return st;
}
