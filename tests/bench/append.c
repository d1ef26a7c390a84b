/* append: the delivery baseline for the bench — plain IMAP APPEND with libetpan, the
 * library and call wabridge's IMAP back end uses (mailimap_uidplus_append, no flags),
 * of pre-rendered mails over one logged-in connection.
 *
 *   append -p PORT (-u USER | -U) -w PASSWORD_FILE [-f FOLDER] [-n MAX] DIR
 *
 * Reads every file of DIR (one mail each, CRLF wire form) into memory, logs in to
 * 127.0.0.1:PORT, then APPENDs them in name order, one after the other, and times that
 * part only. With -u all go to USER's folder over one connection; with -U each file is
 * named ID.USER.eml and goes to that USER's folder, over one connection per user (all
 * logged in before the clock starts) — the pattern of wabridge's worker, which keeps
 * one connection per station and appends one mail at a time.
 * Output: one `key=value` per line, for tests/bench/run.sh. */
#define _GNU_SOURCE
#include <dirent.h>
#include <libetpan/libetpan.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct mail {
	char *data;
	size_t len;
	unsigned conn;  /* index into the connections */
};

#define MAX_USERS 16

static void die(const char *what)
{
	fprintf(stderr, "append: %s\n", what);
	exit(2);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct stat sb;
	char *buf = NULL;
	if (fstat(fileno(f), &sb) == 0 && sb.st_size >= 0 && (buf = malloc((size_t)sb.st_size + 1))) {
		*len = fread(buf, 1, (size_t)sb.st_size, f);
		buf[*len] = '\0';
	}
	fclose(f);
	return buf;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void usage(void)
{
	fprintf(stderr, "usage: append -p PORT (-u USER | -U) -w PASSWORD_FILE [-f FOLDER] [-n MAX] DIR\n");
	exit(2);
}

int main(int argc, char **argv)
{
	long port = 0, max = 1000000;
	const char *user = NULL, *pwfile = NULL, *folder = "INBOX";
	bool user_from_name = false;
	int opt;
	while ((opt = getopt(argc, argv, "p:u:Uw:f:n:")) != -1) {
		switch (opt) {
		case 'p': port = strtol(optarg, NULL, 10); break;
		case 'u': user = optarg; break;
		case 'U': user_from_name = true; break;
		case 'w': pwfile = optarg; break;
		case 'f': folder = optarg; break;
		case 'n': max = strtol(optarg, NULL, 10); break;
		default: usage();
		}
	}
	if (port < 1 || port > 65535 || !(user || user_from_name) || (user && user_from_name) ||
	    !pwfile || max < 1 || optind != argc - 1)
		usage();
	size_t pwlen;
	char *password = slurp(pwfile, &pwlen);
	if (!password)
		die("cannot read the password file");
	password[strcspn(password, "\r\n")] = '\0';

	/* The mails, in name order, all in memory before the clock starts. */
	DIR *d = opendir(argv[optind]);
	if (!d)
		die("cannot open the mail directory");
	size_t cap = 1024, nnames = 0;
	char **names = malloc(cap * sizeof *names);
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		if (nnames == cap && !(names = realloc(names, (cap *= 2) * sizeof *names)))
			die("out of memory");
		if (asprintf(&names[nnames++], "%s/%s", argv[optind], e->d_name) < 0)
			die("out of memory");
	}
	closedir(d);
	qsort(names, nnames, sizeof *names, cmp_str);
	size_t n = nnames < (size_t)max ? nnames : (size_t)max;
	if (n == 0)
		die("no mails in the directory");
	struct mail *mails = calloc(n, sizeof *mails);
	double *lat = calloc(n, sizeof *lat);
	const char *users[MAX_USERS];
	unsigned nusers = 0;
	size_t total = 0;
	for (size_t i = 0; i < n; i++) {
		if (!(mails[i].data = slurp(names[i], &mails[i].len)))
			die("cannot read a mail file");
		total += mails[i].len;
		const char *who = user;
		if (user_from_name) { /* DIR/ID.USER.eml */
			char *base = strrchr(names[i], '/') + 1, *dot = strchr(base, '.');
			char *ext = strrchr(base, '.');
			if (!dot || ext == dot)
				die("with -U, mail files are named ID.USER.eml");
			*ext = '\0';
			who = dot + 1;
		}
		unsigned u = 0;
		while (u < nusers && strcmp(users[u], who) != 0)
			u++;
		if (u == nusers) {
			if (nusers == MAX_USERS)
				die("too many users");
			users[nusers++] = who;
		}
		mails[i].conn = u;
	}

	mailimap *imap[MAX_USERS];
	for (unsigned u = 0; u < nusers; u++) {
		imap[u] = mailimap_new(0, NULL);
		if (mailimap_socket_connect(imap[u], "127.0.0.1", (uint16_t)port) !=
		    MAILIMAP_NO_ERROR_NON_AUTHENTICATED)
			die("cannot connect");
		if (mailimap_login(imap[u], users[u], password) != MAILIMAP_NO_ERROR)
			die("login refused");
	}
	size_t ok = 0, failed = 0;
	double t0 = now_s();
	for (size_t i = 0; i < n; i++) {
		uint32_t uidvalidity = 0, uid = 0;
		struct mailimap_flag_list *flags = mailimap_flag_list_new_empty();
		double a = now_s();
		int r = mailimap_uidplus_append(imap[mails[i].conn], folder, flags, NULL, mails[i].data,
						mails[i].len, &uidvalidity, &uid);
		lat[ok] = now_s() - a;
		mailimap_flag_list_free(flags);
		if (r == MAILIMAP_NO_ERROR)
			ok++;
		else
			failed++;
	}
	double span = now_s() - t0;
	for (unsigned u = 0; u < nusers; u++) {
		mailimap_logout(imap[u]);
		mailimap_free(imap[u]);
	}

	qsort(lat, ok, sizeof *lat, cmp_double);
	printf("mails=%zu\nappended=%zu\nfailed=%zu\nconnections=%u\n", n, ok, failed, nusers);
	printf("mail_bytes_avg=%zu\n", total / n);
	printf("elapsed_s=%.3f\n", span);
	printf("append_per_s=%.1f\n", span > 0 ? (double)ok / span : 0.0);
	printf("p50_ms=%.2f\n", ok ? lat[ok / 2] * 1e3 : 0.0);
	printf("p99_ms=%.2f\n", ok ? lat[(size_t)((double)ok * 0.99)] * 1e3 : 0.0);
	for (size_t i = 0; i < n; i++)
		free(mails[i].data);
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	free(mails);
	free(lat);
	free(password);
	return failed ? 1 : 0;
}
