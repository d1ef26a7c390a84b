/* config: the GKeyFile configuration of SPEC §4, its embedded defaults and its checker.
 *
 * wb_config_load() returns a fully validated configuration, with its templates and its
 * serious-crime list loaded, or NULL with a WB_CONFIG_ERROR whose message lists every problem, one a line;
 * wb_config_check() reports the same problems as a list.
 *
 * A loaded configuration never changes: every thread may read it at once, without a
 * lock, for as long as it holds it (serve shares it by reference count and swaps in a
 * new one on SIGHUP). What is learnt at run time, the auto stations of the embedded
 * defaults, lives in a registry of its own behind its own lock; the stations it hands
 * out stay valid until the configuration is freed. Officer patterns are stored lowercase, the TLS
 * fingerprint as 64 lowercase hex digits; a station's maildir NULL means the default
 * <data_dir>/mail/<key>.
 * Secrets are read from *_file keys at load time; a secret file readable by group or
 * others is refused. Secrets are never logged or printed. */
#ifndef WB_CONFIG_H
#define WB_CONFIG_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

#include "serious.h"
#include "templates.h"

#define WB_CONFIG_ERROR (wb_config_error_quark())
GQuark wb_config_error_quark(void);

enum wb_deliver_kind { WB_DELIVER_MAILDIR, WB_DELIVER_IMAP };

struct wb_station {
	char *key;             /* the part after "station:"; for auto stations the phone_number_id */
	char *name;            /* "Bhowanipore Police Station" */
	char *code;            /* "BHP": [A-Z0-9]{2,8}, the prefix of complaint references */
	char *phone_number_id; /* digits */
	char *address;         /* the station's mail address, used in To: */
	enum wb_deliver_kind deliver;
	char *maildir;         /* deliver = maildir:PATH (absolute or relative to cwd) */
	char *imap_user;
	char *imap_password;   /* secret, read from imap_password_file */
	char *folder;          /* IMAP folder, default INBOX */
	char **officers;       /* NULL-terminated glob patterns, may be empty */
	char *escalate_to;     /* told when a complaint passes its clock, at once when serious */
	char *escalate_late_to; /* second tier: told at twice the clock */
	int sla_hours;         /* the station's clock; [bridge] sla_hours when not set */
	char **number_patterns; /* NULL-terminated regexes, may be empty */
	bool is_auto;          /* made up for an unknown phone_number_id (embedded defaults) */
};

struct wb_config {
	char *path;            /* file it came from, NULL for the embedded defaults */
	/* [bridge] */
	char *state;           /* SQLite file, or a PostgreSQL URI (db.h) */
	char *state_password;  /* secret: PostgreSQL's password (state_password_file) */
	char *data_dir;        /* where default Maildirs and spool files live: [bridge]
				* data_dir, else the SQLite file's directory, else
				* ./wabridge-data */
	char *node;            /* this bridge's name among several (NULL: the host name) */
	int lease_seconds;     /* how long a claim of work outlives its bridge's heartbeat */
	char *spool_dir;       /* media and the mails made from them (spool.h); default
				* <data_dir>/spool */
	char *domain;
	char *timezone;
	char *default_language;
	int sla_hours;
	int complaint_idle_days;
	char *templates;       /* directory; NULL = templates built into the binary */
	char *serious_keywords_file;
	bool send_ack;
	int serious_sla_hours; /* the clock of a complaint escalated as serious */
	int signature_reminder_hours; /* 0: no reminder */
	int digest_hour;       /* local hour of the daily digest, -1: none */
	/* [webhook] */
	char *listen;
	char *path_webhook;
	char *app_secret;      /* secret; NULL = signature checking off (loud warning) */
	bool allow_unsigned;   /* no app secret off loopback: accepted, with a warning */
	char *verify_token;    /* secret */
	size_t max_body;
	int max_connections;   /* open at once, all peers together */
	int max_connections_per_ip; /* 0: no per-address limits (behind a local proxy) */
	int request_timeout;   /* seconds for a whole request: headers and body */
	size_t body_memory;    /* bodies in flight together; see budget.h */
	/* [whatsapp] */
	char *api_base;
	char *access_token;    /* secret */
	bool dry_run;
	char *template_registered;
	char *template_reminder;    /* the signature reminder outside the 24-hour window */
	char *template_transferred; /* "now held by station X" outside the window */
	char *template_language;
	size_t media_max;
	char *wa_ca_file;
	/* [imap] */
	char *imap_url;
	char *imap_ca_file;
	char *imap_tls_fingerprint;
	bool imap_idle;
	bool imap_allow_plaintext; /* no STARTTLS off loopback: log in anyway (tls.h) */
	int imap_max_connections;  /* delivery sessions kept at once (imappool.h) */
	/* [smtp] */
	char *smtp_url;
	char *smtp_from;
	bool smtp_allow_plaintext; /* the same rule for the SMTP sender */
	char *smtp_user;       /* AUTH user; NULL: no AUTH */
	char *smtp_password;   /* secret, from password_file */
	char *smtp_ca_file;
	/* [replies] */
	char *replies_mode;
	char *replies_imap_user;
	char *replies_imap_password; /* secret */
	char *replies_folder;
	char *replies_address;
	char *token_secret;    /* secret; generated into the data dir when not configured */
	char **trusted_authserv_ids; /* lowercase; empty: only a reply token proves a reply */
	/* [archive]: where the journal's anchors go (anchor.h). archive_deliver NULL: no
	 * anchors. archive is the mailbox as a station the delivery back ends take: key
	 * "archive", deliver and maildir from archive_deliver, imap_user, imap_password,
	 * folder (default "Journal") and address (default [smtp] from) from the group. */
	char *archive_deliver; /* "imap" or "maildir:PATH" as written */
	struct wb_station archive;
	int anchor_hour;       /* local hour of the daily anchor, -1: on demand only */
	/* stations, in file order */
	GPtrArray *stations;   /* of struct wb_station *, owned; the configured ones only */
	bool auto_stations;    /* no [station:*] group: any phone_number_id is its own station */
	/* loaded from templates (or the built-in set) along with the configuration */
	struct wb_templates *tpl;
	/* the serious-crime list of serious_keywords_file, or the built-in one when that is
	 * unset; loaded with the templates (NULL when they are not) */
	struct wb_serious *serious;
	struct wb_station_index *index; /* private: lookups, and the auto stations' registry */
	char **warnings;       /* what check-config warns about, NULL-terminated; owned */
};

/* Resolve which file to use: explicit (-c) wins, then $WABRIDGE_CONFIG, then
 * /etc/wabridge/wabridge.conf if it exists, else NULL (embedded defaults). */
const char *wb_config_choose_path(const char *explicit_path);

/* Load and validate. path NULL = embedded defaults. */
struct wb_config *wb_config_load(const char *path, GError **error);
/* The same without the templates and the serious-crime list (cfg->tpl and cfg->serious
 * NULL), for commands that render no mail and send nothing (ingest, status, the
 * complaint listings, parse-reply): they neither read those files nor stop at a broken
 * one. */
struct wb_config *wb_config_load_no_templates(const char *path, GError **error);

/* Validate everything, appending one human-readable line per problem
 * ("FILE: [group] key: what is wrong; what to do") to problems. Returns true when none.
 * warnings (may be NULL) gets the lines about what is allowed but risky, such as an
 * allow_plaintext that lets a password cross the network unencrypted (cfg->warnings of
 * a loaded configuration holds the same); notes (may be NULL) how each mail server URL
 * will be connected to (tls.h), e.g. "STARTTLS required". Both read like problems. */
bool wb_config_check(const char *path, GPtrArray *problems, GPtrArray *warnings,
		     GPtrArray *notes);

/* The same check on a configuration's text (any bytes); label stands for FILE in the
 * problems. The files the text names (secrets, CA files, directories) are looked at as
 * by wb_config_check(); nothing is created. */
bool wb_config_check_text(const char *label, const void *text, size_t len,
			  GPtrArray *problems);

void wb_config_free(struct wb_config *cfg);

/* Log cfg->warnings as warnings (serve: at start and after each reload). */
void wb_config_log_warnings(const struct wb_config *cfg);

/* Station lookups. Each returns a station owned by cfg (valid while cfg lives) or NULL;
 * all are safe to call from several threads at once.
 *
 * The station for a phone_number_id: configured, or (auto_stations) the auto station
 * for it, made on first use. NULL when unknown and auto_stations is off. */
const struct wb_station *wb_config_station_for(const struct wb_config *cfg,
					       const char *phone_number_id);
/* A configured station, or an auto station already made, by its key. */
const struct wb_station *wb_config_station_by_key(const struct wb_config *cfg, const char *key);
/* A configured station by its code, in any case ("grh" finds GRH); auto stations are
 * not looked at. */
const struct wb_station *wb_config_station_by_code(const struct wb_config *cfg,
						   const char *code);
/* The station a stored row names by key: a configured one, or (auto stations, whose key
 * is their phone_number_id) the auto station, made again after a restart. NULL when the
 * station is no longer configured. */
const struct wb_station *wb_config_station_stored(const struct wb_config *cfg, const char *key);

/* Parse "4MiB", "100MiB", "512KiB", "1024" into bytes. */
bool wb_parse_size(const char *s, size_t *out);

#endif
