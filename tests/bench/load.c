/* load: a load generator for `wabridge serve` (bench only; talks to 127.0.0.1 only).
 *
 *   load -p PORT[,PORT...] -s SECRET_FILE -P PNID[,PNID...] [-n REQUESTS] [-c CONNECTIONS]
 *        [-t SECONDS] [-k CITIZENS] [-r RUN_TAG] [-u PATH] [-R RATE]
 *        [-m PID [-M N,N,...]] [-D STATE_DB [-E EXPECTED] [-T SECONDS]] [-X]
 *   load --free-port
 *
 * Before the clock starts it builds REQUESTS distinct webhook POSTs: each a WhatsApp
 * Cloud API text message in Meta's wire style (ASCII JSON, \uXXXX escapes, escaped
 * slashes) with a unique wamid, a sender among CITIZENS, the phone_number_id of one of
 * the given stations, 1-2 KB with Bengali text, signed with HMAC-SHA256 of the app
 * secret in X-Hub-Signature-256 (with -X: status webhooks instead, sent, delivered and
 * read for each of REQUESTS / 3 sends, about 600 B each). It then drives them over
 * CONNECTIONS keep-alive HTTP/1.1 connections from one epoll loop (one request in flight
 * per connection) and measures each request from its first byte written to its last
 * byte read (monotonic clock). It stops after REQUESTS or after SECONDS, whichever comes
 * first. With several PORTs (several `serve` processes on one shared state) connection i
 * goes to the i-th port, round robin, and the figures are of all requests together
 * ("ok_port_P" counts those answered 200 on each).
 *
 * Without -R it is a closed loop: each connection sends its next request as soon as the
 * last is answered (the most the listener takes at that concurrency; mean latency is
 * then CONNECTIONS / rate by Little's law). With -R the requests are due on a fixed
 * schedule of RATE a second, as Meta would send them, and a connection that is free
 * takes the next one when it is due; latency counts from the due time, so a request
 * that waited for a free connection shows it ("late_5ms" counts those that started more
 * than 5 ms after their slot).
 *
 * -m PID samples VmRSS (and RssAnon) of that process when the number of answered requests reaches each
 * N of -M (default: 10%, 50% and 100% of REQUESTS).
 * -D waits, after the last answer, until EXPECTED messages (default: the number answered
 * 200) are in state 'delivered' in wabridge's state database, at most -T seconds
 * (default 120), and reports the time from the first byte sent; with -m also VmRSS as
 * each tenth of them is delivered.
 *
 * -A (attack) measures Meta's requests while hostile clients hold the listener: SLOW
 * connections (PER_ADDRESS from each address of 127.10.0.0/16) send a request line and
 * then one header line a second, never the end of the headers; FLOOD connections at a
 * time post bodies of almost MAX_BODY (-B) with no signature, over and over, each from
 * the next address of 127.20.0.0/16; HELD connections (4 per address of 127.30.0.0/16)
 * post such bodies with a well-formed wrong signature, send all but the last byte and
 * hold on. Once the attack is on, a prober sends one after the other, for SECONDS, a
 * signed POST and a GET /healthz from 127.0.0.1, each on a new connection, and times
 * them; -m samples VmRSS every second (the most is reported).
 *
 * Output: one `key=value` per line, for tests/bench/run.sh.
 * --free-port prints a TCP port on 127.0.0.1 that was free a moment ago. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1024
#define REQ_TIMEOUT_S 30.0
#define DRAIN_GRACE_S 35.0 /* after the deadline: wait this long for requests in flight */
#define IN_BUF 16384

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("load: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time (user + system) of this process so far. */
static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- deterministic random numbers (xorshift64*) ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1du;
}

static unsigned rnd_below(unsigned n)
{
	return (unsigned)(rnd() % n);
}

/* ---- payload text ---- */

static const char *const first_names[] = {
	"তনুশ্রী", "রাহুল", "সুমিতা", "অরিজিৎ", "মৌমিতা", "দেবাশিস", "পায়েল", "সৌরভ",
	"রিয়া", "অনির্বাণ", "শ্রেয়া", "কৌশিক", "প্রিয়াঙ্কা", "সুব্রত", "মধুমিতা", "অভিজিৎ",
};
static const char *const last_names[] = {
	"বসু", "ঘোষ", "মুখার্জি", "চ্যাটার্জি", "দাস", "সেন", "রায়", "মিত্র", "দত্ত",
	"ব্যানার্জি", "সাহা", "পাল",
};
static const char *const sentences[] = {
	"আমার মোবাইল ফোন চুরি হয়েছে।",
	"গতকাল রাতে বাজারের কাছে ঘটনাটি ঘটে।",
	"দয়া করে তাড়াতাড়ি ব্যবস্থা নিন।",
	"আমার প্রতিবেশী প্রতিদিন রাতে খুব জোরে মাইক বাজায়, বাচ্চারা পড়তে পারে না।",
	"রাস্তার আলো কয়েক সপ্তাহ ধরে বন্ধ, সন্ধ্যার পরে মহিলাদের চলাফেরা করতে ভয় লাগে।",
	"একজন অপরিচিত ব্যক্তি আমাকে ফোন করে ব্যাংকের ওটিপি চাইছিল।",
	"আমার সাইকেল বাড়ির সামনে থেকে কেউ নিয়ে গেছে।",
	"ঠিকানা: ১২ রাসবিহারী অ্যাভিনিউ, কলকাতা ৭০০০২৬",
	"গাড়ির নম্বর WB-06-B-4521, রং সাদা।",
	"আমি থানায় আসতে পারব না, অনুগ্রহ করে ফোনে যোগাযোগ করুন।",
	"ঘটনাটি সকাল দশটা নাগাদ ঘটেছে, সাক্ষী আছে।",
	"পাড়ার মোড়ে কয়েকজন যুবক রোজ ঝামেলা করে এবং পথচারীদের হয়রান করে।",
	"ছবি আর ভিডিও পরে পাঠাচ্ছি।",
	"See map: https://maps.example.org/?q=22.5204,88.3476",
	"ধন্যবাদ 🙏",
};

/* Append UTF-8 text as a JSON string body in Meta's style: ASCII only, non-ASCII as
 * \uXXXX (surrogate pairs above the BMP), '/' as "\/", newlines as "\n". */
static void json_escape(GString *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		uint32_t cp;
		int extra;
		if (*p < 0x80) {
			cp = *p;
			extra = 0;
		} else if ((*p & 0xe0) == 0xc0) {
			cp = *p & 0x1f;
			extra = 1;
		} else if ((*p & 0xf0) == 0xe0) {
			cp = *p & 0x0f;
			extra = 2;
		} else {
			cp = *p & 0x07;
			extra = 3;
		}
		p++;
		for (int i = 0; i < extra && (*p & 0xc0) == 0x80; i++, p++)
			cp = (cp << 6) | (*p & 0x3f);
		if (cp == '"' || cp == '\\' || cp == '/') {
			g_string_append_c(out, '\\');
			g_string_append_c(out, (char)cp);
		} else if (cp == '\n') {
			g_string_append(out, "\\n");
		} else if (cp >= 0x20 && cp < 0x80) {
			g_string_append_c(out, (char)cp);
		} else if (cp < 0x10000) {
			g_string_append_printf(out, "\\u%04x", cp);
		} else {
			cp -= 0x10000;
			g_string_append_printf(out, "\\u%04x\\u%04x", 0xd800 + (cp >> 10),
					       0xdc00 + (cp & 0x3ff));
		}
	}
}

struct citizen {
	char phone[16];
	char user_id[24];
	char name[128];
};

/* A wamid's part after "wamid." in Meta's shape: base64 of an opaque blob (a valid
 * dot-atom), distinct for each phone, run, number and what. */
static char *wamid_b64(const char *phone, const char *run_tag, unsigned n, const char *what)
{
	char blob[64];
	int blen = snprintf(blob, sizeof blob, "\x0c%s\x15\x02%s-%08u-%s", phone, run_tag, n, what);
	return g_base64_encode((const guchar *)blob, (gsize)blen);
}

/* A webhook body's envelope up to the phone_number_id's closing brace. */
static GString *body_start(const char *pnid, size_t size)
{
	GString *b = g_string_sized_new(size);
	g_string_append(b, "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"209384756102938\","
			   "\"changes\":[{\"value\":{\"messaging_product\":\"whatsapp\",\"metadata\":"
			   "{\"display_phone_number\":\"91983120");
	g_string_append(b, pnid + strlen(pnid) - 4);
	g_string_append_printf(b, "\",\"phone_number_id\":\"%s\"}", pnid);
	return b;
}

static char *make_body(unsigned idx, const char *run_tag, const char *pnid,
		       const struct citizen *c, long ts)
{
	g_autofree char *b64 = wamid_b64(c->phone, run_tag, idx, "BENCH");

	GString *text = g_string_new(NULL);
	unsigned nsent = 3 + rnd_below(6);
	for (unsigned i = 0; i < nsent; i++) {
		if (i)
			g_string_append_c(text, i % 3 ? ' ' : '\n');
		g_string_append(text, sentences[rnd_below(G_N_ELEMENTS(sentences))]);
	}
	GString *b = body_start(pnid, 2048);
	g_string_append(b, ",\"contacts\":[{\"profile\":{\"name\":\"");
	json_escape(b, c->name);
	g_string_append_printf(b, "\"},\"wa_id\":\"%s\",\"user_id\":\"%s\"}],\"messages\":[{"
			       "\"from\":\"%s\",\"from_user_id\":\"%s\",\"id\":\"wamid.%s\","
			       "\"timestamp\":\"%ld\",\"type\":\"text\",\"text\":{\"body\":\"",
			       c->phone, c->user_id, c->phone, c->user_id, b64, ts);
	json_escape(b, text->str);
	g_string_append(b, "\"}}]},\"field\":\"messages\"}]}]}");
	g_string_free(text, TRUE);
	return g_string_free(b, FALSE);
}

/* A status webhook as Meta sends them for the bridge's own sends: idx / 3 names the send,
 * idx % 3 its sent, delivered and read; the first two with the conversation and pricing. */
static char *make_status_body(unsigned idx, const char *run_tag, const char *pnid,
			      const struct citizen *c, long ts)
{
	static const char *const kinds[] = { "sent", "delivered", "read" };
	g_autofree char *b64 = wamid_b64(c->phone, run_tag, idx / 3, "SEND");
	GString *b = body_start(pnid, 1024);
	g_string_append_printf(b, ",\"statuses\":[{\"id\":\"wamid.%s\",\"status\":\"%s\","
			       "\"timestamp\":\"%ld\",\"recipient_id\":\"%s\","
			       "\"recipient_user_id\":\"%s\"",
			       b64, kinds[idx % 3], ts, c->phone, c->user_id);
	if (idx % 3 != 2)
		g_string_append_printf(b, ",\"conversation\":{\"id\":\"%032x\",%s\"origin\":"
				       "{\"type\":\"utility\"}},\"pricing\":{\"billable\":true,"
				       "\"pricing_model\":\"PMP\",\"category\":\"utility\","
				       "\"type\":\"regular\"}",
				       idx / 3, idx % 3 ? "" : "\"expiration_timestamp\":\"1792159200\",");
	g_string_append(b, "}]},\"field\":\"messages\"}]}]}");
	return g_string_free(b, FALSE);
}

static char *read_secret(const char *path)
{
	char *s = NULL;
	GError *err = NULL;
	if (!g_file_get_contents(path, &s, NULL, &err))
		die("cannot read the app secret: %s", err->message);
	s[strcspn(s, "\r\n")] = '\0';
	if (!*s)
		die("%s: empty secret", path);
	return s;
}

/* ---- the HTTP driver ---- */

struct req {
	char *data;     /* the whole request: head and body */
	size_t len;
};

enum cstate { C_IDLE, C_SEND, C_RECV, C_DEAD };

struct conn {
	int fd;
	enum cstate st;
	size_t req;     /* index of the request in flight */
	size_t off;     /* bytes of it written so far */
	double t0;      /* its first byte written, or when it was due (-R) */
	unsigned target; /* index into L.ports */
	char in[IN_BUF + 1]; /* NUL-terminated after each read */
	size_t inlen;
};

#define MAX_PORTS 8

static struct {
	uint16_t port;      /* the first of ports: the one -A and the prober use */
	uint16_t ports[MAX_PORTS];
	unsigned nports;
	unsigned ok_by_port[MAX_PORTS];
	struct req *reqs;
	size_t n;           /* requests prepared */
	size_t next;        /* next to send */
	size_t done;        /* answered or failed */
	size_t answered;
	double *lat;        /* latency of each answered request, seconds */
	unsigned status[600];
	size_t errors_conn, errors_proto, errors_timeout;
	double t_first, t_last;
	double rate;        /* -R: requests per second on a fixed schedule; 0 = closed loop */
	double t_start;
	size_t late;
	int ep;
	/* VmRSS sampling */
	long rss_pid;
	size_t rss_at[16];
	long rss_kb[16];
	long anon_kb[16];
	unsigned rss_n;
} L;

static int connect_to(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/* A connection to the first (the only, but for several -p) port. */
static int connect_one(void)
{
	return connect_to(L.port);
}

static void watch(struct conn *c, uint32_t events, int op)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };
	if (epoll_ctl(L.ep, op, c->fd, &ev) != 0)
		die("epoll_ctl: %s", strerror(errno));
}

/* A "Name:  N kB" field of /proc/PID/status, -1 if absent. */
static long read_status_kb(long pid, const char *name)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%ld/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long kb = -1;
	size_t n = strlen(name);
	while (fgets(line, sizeof line, f))
		if (strncmp(line, name, n) == 0 && line[n] == ':')
			kb = strtol(line + n + 1, NULL, 10);
	fclose(f);
	return kb;
}

static void finished_one(void)
{
	L.done++;
	for (unsigned i = 0; i < L.rss_n; i++)
		if (L.rss_pid > 0 && L.done == L.rss_at[i]) {
			L.rss_kb[i] = read_status_kb(L.rss_pid, "VmRSS");
			L.anon_kb[i] = read_status_kb(L.rss_pid, "RssAnon");
		}
}

static void start_next(struct conn *c, double t, bool accepting);

/* The connection is unusable: count the request in flight as failed, open a new one. */
static void reconnect(struct conn *c, size_t *counter, double t, bool accepting)
{
	if (c->st == C_SEND || c->st == C_RECV) {
		(*counter)++;
		finished_one();
	}
	epoll_ctl(L.ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = connect_to(L.ports[c->target]);
	c->st = C_IDLE;
	if (c->fd < 0) {
		c->st = C_DEAD;
		L.errors_conn++;
		return;
	}
	watch(c, EPOLLIN, EPOLL_CTL_ADD);
	start_next(c, t, accepting);
}

static void try_send(struct conn *c, bool accepting)
{
	const struct req *r = &L.reqs[c->req];
	while (c->off < r->len) {
		ssize_t w = send(c->fd, r->data + c->off, r->len - c->off, MSG_NOSIGNAL);
		if (w > 0) {
			c->off += (size_t)w;
		} else if (w < 0 && errno == EINTR) {
			continue;
		} else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			watch(c, EPOLLOUT, EPOLL_CTL_MOD);
			return;
		} else {
			reconnect(c, &L.errors_conn, now_s(), accepting);
			return;
		}
	}
	c->st = C_RECV;
	c->inlen = 0;
	watch(c, EPOLLIN, EPOLL_CTL_MOD);
}

/* When request i is due: at once (closed loop), or at its slot of the -R schedule. */
static double due_at(size_t i, double t)
{
	return L.rate > 0 ? L.t_start + (double)i / L.rate : t;
}

static void start_next(struct conn *c, double t, bool accepting)
{
	c->st = C_IDLE;
	if (!accepting || L.next >= L.n)
		return;
	t = now_s();
	double due = due_at(L.next, t);
	if (due > t)
		return;
	if (t - due > 0.005)
		L.late++; /* no connection was free when it was due */
	c->req = L.next++;
	c->off = 0;
	c->t0 = due; /* paced: latency counts from the slot, so waiting for a free
		      * connection is not hidden (no coordinated omission) */
	if (L.t_first == 0)
		L.t_first = t;
	c->st = C_SEND;
	try_send(c, accepting);
}

/* Is a whole response in c->in? Returns its length, 0 if not yet, -1 if malformed.
 * Sets *status and *close_after. */
static long parse_response(struct conn *c, unsigned *status, bool *close_after)
{
	char *end = memmem(c->in, c->inlen, "\r\n\r\n", 4);
	if (!end)
		return c->inlen >= IN_BUF ? -1 : 0;
	size_t head = (size_t)(end - c->in) + 4;
	if (c->inlen < 12 || memcmp(c->in, "HTTP/1.", 7) != 0)
		return -1;
	*status = (unsigned)strtoul(c->in + 9, NULL, 10);
	*close_after = memcmp(c->in, "HTTP/1.0", 8) == 0;
	long clen = -1;
	for (char *p = memchr(c->in, '\n', head); p; p = memchr(p, '\n', (size_t)(c->in + head - p))) {
		if (++p >= c->in + head)
			break;
		if (strncasecmp(p, "Content-Length:", 15) == 0)
			clen = strtol(p + 15, NULL, 10);
		else if (strncasecmp(p, "Connection:", 11) == 0) {
			const char *v = p + 11;
			while (*v == ' ')
				v++;
			*close_after = strncasecmp(v, "close", 5) == 0;
		}
	}
	if (clen < 0 || head + (size_t)clen > IN_BUF)
		return -1;
	return c->inlen >= head + (size_t)clen ? (long)(head + (size_t)clen) : 0;
}

static void on_readable(struct conn *c, bool accepting)
{
	for (;;) {
		ssize_t r = recv(c->fd, c->in + c->inlen, IN_BUF - c->inlen, 0);
		if (r > 0) {
			c->inlen += (size_t)r;
			c->in[c->inlen] = '\0';
			unsigned status = 0;
			bool close_after = false;
			long whole = parse_response(c, &status, &close_after);
			if (whole < 0) {
				reconnect(c, &L.errors_proto, now_s(), accepting);
				return;
			}
			if (whole == 0)
				continue;
			if (c->st != C_RECV) { /* an answer we did not ask for */
				reconnect(c, &L.errors_proto, now_s(), accepting);
				return;
			}
			double t = now_s();
			L.lat[L.answered++] = t - c->t0;
			L.status[status < 600 ? status : 0]++;
			if (status == 200)
				L.ok_by_port[c->target]++;
			L.t_last = t;
			c->st = C_IDLE;
			finished_one();
			if (close_after)
				reconnect(c, &L.errors_conn, t, accepting);
			else
				start_next(c, t, accepting);
			return;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		reconnect(c, &L.errors_conn, now_s(), accepting); /* closed or reset */
		return;
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(const double *sorted, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t i = (size_t)(p / 100.0 * (double)n);
	return sorted[i < n ? i : n - 1];
}

static void drive(unsigned nconn, double max_s)
{
	struct conn *conns = calloc(nconn, sizeof *conns);
	if (!conns)
		die("out of memory");
	L.ep = epoll_create1(EPOLL_CLOEXEC);
	for (unsigned i = 0; i < nconn; i++) {
		conns[i].target = i % L.nports;
		conns[i].fd = connect_to(L.ports[conns[i].target]);
		if (conns[i].fd < 0)
			die("cannot connect to 127.0.0.1:%u: %s", L.ports[conns[i].target],
			    strerror(errno));
		watch(&conns[i], EPOLLIN, EPOLL_CTL_ADD);
	}
	L.t_start = now_s();
	double deadline = L.t_start + max_s;
	for (unsigned i = 0; i < nconn; i++)
		start_next(&conns[i], L.t_start, true);
	struct epoll_event evs[64];
	for (;;) {
		double t = now_s();
		bool accepting = t < deadline;
		size_t in_flight = 0, alive = 0;
		for (unsigned i = 0; i < nconn; i++) {
			struct conn *c = &conns[i];
			if ((c->st == C_SEND || c->st == C_RECV) && t - c->t0 > REQ_TIMEOUT_S)
				reconnect(c, &L.errors_timeout, t, accepting);
			if (c->st == C_SEND || c->st == C_RECV)
				in_flight++;
			if (c->st != C_DEAD)
				alive++;
		}
		if (in_flight == 0 && (!accepting || L.next >= L.n || alive == 0))
			break;
		if (t > deadline + DRAIN_GRACE_S)
			break;
		int wait_ms = 100;
		if (accepting && L.next < L.n && L.rate > 0) {
			double until = due_at(L.next, t) - t;
			wait_ms = until <= 0 ? 0 : until >= 0.1 ? 100 : (int)(until * 1000) + 1;
		}
		int k = epoll_wait(L.ep, evs, 64, wait_ms);
		for (int i = 0; i < k; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c->st == C_SEND && (evs[i].events & EPOLLOUT))
				try_send(c, accepting);
			else if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				on_readable(c, accepting);
		}
		for (unsigned i = 0; i < nconn && L.next < L.n; i++) /* paced: slots now due */
			if (conns[i].st == C_IDLE)
				start_next(&conns[i], t, now_s() < deadline);
	}
	for (unsigned i = 0; i < nconn; i++)
		if (conns[i].fd >= 0)
			close(conns[i].fd);
	close(L.ep);
	free(conns);
}

/* ---- waiting for delivery ---- */

static long db_count(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	long n = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = (long)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void wait_delivered(const char *dbpath, long expected, double max_s)
{
	sqlite3 *db;
	if (sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		die("cannot open %s: %s", dbpath, sqlite3_errmsg(db));
	sqlite3_busy_timeout(db, 2000);
	static const char q[] = "SELECT count(*) FROM messages WHERE state = 'delivered'";
	printf("delivered_at_send_end=%ld\n", db_count(db, q));
	double t_end = now_s() + max_s, t = now_s();
	long n = 0;
	/* With -m: VmRSS and RssAnon as each tenth of the mails is delivered. */
	long rss[10], anon[10];
	int tenths = 0;
	for (;;) {
		n = db_count(db, q);
		while (L.rss_pid > 0 && expected > 0 && tenths < 10 && n >= expected * (tenths + 1) / 10) {
			rss[tenths] = read_status_kb(L.rss_pid, "VmRSS");
			anon[tenths++] = read_status_kb(L.rss_pid, "RssAnon");
		}
		if (n >= expected || (t = now_s()) >= t_end)
			break;
		usleep(50000);
	}
	t = now_s();
	for (int i = 0; i < tenths; i++)
		printf("rss_kb_delivered_%ld=%ld\nanon_kb_delivered_%ld=%ld\n",
		       expected * (i + 1) / 10, rss[i], expected * (i + 1) / 10, anon[i]);
	printf("delivered=%ld\n", n);
	printf("delivery_expected=%ld\n", expected);
	printf("delivery_complete=%d\n", n >= expected);
	printf("e2e_s=%.3f\n", t - L.t_first);
	printf("e2e_per_s=%.1f\n", (double)n / (t - L.t_first));
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT state, count(*) FROM messages GROUP BY state", -1, &st,
			       NULL) == SQLITE_OK) {
		while (sqlite3_step(st) == SQLITE_ROW)
			printf("msg_state_%s=%lld\n", (const char *)sqlite3_column_text(st, 0),
			       (long long)sqlite3_column_int64(st, 1));
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
}

/* ---- attack mode (-A): Meta's requests while hostile clients hold the listener ---- */

#define SLOW_NET 10   /* 127.10.0.0/16: the slow connections */
#define FLOOD_NET 20  /* 127.20.0.0/16: unsigned bodies */
#define HELD_NET 30   /* 127.30.0.0/16: held wrong-signature bodies */
#define HELD_PER_ADDR 4
#define PROBE_TIMEOUT_S 10

static struct {
	long max_body;
	unsigned slow, per_addr, flood, held;
	char *unsigned_req, *held_req;  /* a whole request each */
	size_t unsigned_len, held_len;
	unsigned flood_addr;
	size_t flood_posts, flood_401, flood_other, held_503, held_other, held_holding;
	double lat_post[100000], lat_hz[100000];
	size_t n_post, n_hz, ok_post, ok_hz;
	gint probing;                     /* atomic: the prober still runs */
	long rss_max;
} A;

/* 127.net.x.y, the i-th (from 1) address of its /16. */
static void attack_addr(char *buf, size_t n, unsigned net, unsigned i)
{
	snprintf(buf, n, "127.%u.%u.%u", net, (i >> 8) & 255, i & 255);
}

static int connect_from(unsigned net, unsigned i)
{
	char src[32];
	attack_addr(src, sizeof src, net, i);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	inet_pton(AF_INET, src, &sa.sin_addr);
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(L.port) };
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    connect(fd, (struct sockaddr *)&to, sizeof to) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* One hostile POST: its socket, its request and how far it got. */
struct hostile {
	int fd;
	bool held;
	size_t off;
	char in[64];
	size_t inlen;
};

static void hostile_close(struct hostile *h)
{
	epoll_ctl(L.ep, EPOLL_CTL_DEL, h->fd, NULL);
	close(h->fd);
	h->fd = -1;
}

static void flood_start(struct hostile *h)
{
	A.flood_addr = A.flood_addr % 60000 + 1;
	h->fd = connect_from(FLOOD_NET, A.flood_addr);
	h->off = h->inlen = 0;
	if (h->fd < 0)
		return;
	fcntl(h->fd, F_SETFL, fcntl(h->fd, F_GETFL) | O_NONBLOCK);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = h };
	epoll_ctl(L.ep, EPOLL_CTL_ADD, h->fd, &ev);
	A.flood_posts++;
}

/* The status line the server sent on h, if any; the connection is then done. */
static void hostile_answered(struct hostile *h)
{
	unsigned st = h->inlen > 12 ? (unsigned)strtoul(h->in + 9, NULL, 10) : 0;
	if (h->held) {
		if (st == 503)
			A.held_503++;
		else
			A.held_other++;
		if (h->off + 1 >= A.held_len)
			A.held_holding--;
	} else if (st == 401) {
		A.flood_401++;
	} else {
		A.flood_other++;
	}
	hostile_close(h);
	if (!h->held)
		flood_start(h);
}

static void hostile_event(struct hostile *h, uint32_t events)
{
	const char *req = h->held ? A.held_req : A.unsigned_req;
	/* held bodies stop one byte short of their end */
	size_t end = h->held ? A.held_len - 1 : A.unsigned_len;
	while ((events & EPOLLOUT) && h->off < end) {
		ssize_t w = send(h->fd, req + h->off, end - h->off, MSG_NOSIGNAL);
		if (w <= 0)
			break;
		h->off += (size_t)w;
		if (h->held && h->off == end)
			A.held_holding++;
	}
	if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		return;
	ssize_t r = recv(h->fd, h->in + h->inlen, sizeof h->in - 1 - h->inlen, 0);
	if (r > 0)
		h->inlen += (size_t)r;
	h->in[h->inlen] = '\0';
	if (r <= 0 || strstr(h->in, "\r\n"))
		hostile_answered(h);
}

static char *hostile_request(const char *sig_header, size_t *len)
{
	size_t body = (size_t)A.max_body - 1024;
	GString *r = g_string_sized_new(body + 512);
	g_string_printf(r, "POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
			"application/json\r\n%sContent-Length: %zu\r\n\r\n{", sig_header, body);
	for (size_t i = 2; i < body; i++)
		g_string_append_c(r, ' ');
	g_string_append_c(r, '}');
	*len = r->len;
	return g_string_free(r, FALSE);
}

/* Send a request on a new connection from 127.0.0.1 and read its whole answer: the
 * status, 0 when none came within PROBE_TIMEOUT_S. */
static unsigned probe_once(const char *req, size_t len)
{
	int fd = connect_one();
	if (fd < 0)
		return 0;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	struct timeval tv = { .tv_sec = PROBE_TIMEOUT_S };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	unsigned status = 0;
	char in[4096];
	size_t n = 0;
	if (send(fd, req, len, MSG_NOSIGNAL) == (ssize_t)len) {
		ssize_t r;
		while (n < sizeof in - 1 && (r = recv(fd, in + n, sizeof in - 1 - n, 0)) > 0) {
			n += (size_t)r;
			in[n] = '\0';
			char *head_end = strstr(in, "\r\n\r\n");
			const char *cl = strcasestr(in, "\r\nContent-Length:");
			if (head_end && cl && (size_t)(head_end + 4 - in) + strtoul(cl + 17, NULL, 10) <= n) {
				status = (unsigned)strtoul(in + 9, NULL, 10);
				break;
			}
		}
	}
	close(fd);
	return status;
}

static gpointer prober(gpointer data)
{
	double until = now_s() + *(double *)data;
	static const char hz[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	while (now_s() < until && A.n_post < L.n && A.n_post < G_N_ELEMENTS(A.lat_post)) {
		double t0 = now_s();
		A.ok_post += probe_once(L.reqs[A.n_post].data, L.reqs[A.n_post].len) == 200;
		double t1 = now_s();
		A.lat_post[A.n_post++] = t1 - t0;
		A.ok_hz += probe_once(hz, sizeof hz - 1) == 200;
		A.lat_hz[A.n_hz++] = now_s() - t1;
		usleep(20000);
	}
	g_atomic_int_set(&A.probing, 0);
	return NULL;
}

static int *open_slow(void)
{
	int *fds = calloc(A.slow, sizeof *fds);
	static const char *const first[] = {
		"GET /healthz HTTP/1.1\r\nHost: slow\r\n",
		"POST /webhook HTTP/1.1\r\nHost: slow\r\nContent-Type: application/json\r\n",
	};
	for (unsigned i = 0; i < A.slow; i++) {
		fds[i] = connect_from(SLOW_NET, 1 + i / A.per_addr);
		if (fds[i] < 0)
			die("cannot open slow connection %u: %s", i, strerror(errno));
		send(fds[i], first[i % 2], strlen(first[i % 2]), MSG_NOSIGNAL);
	}
	return fds;
}

/* One more header line on each slow connection; how many are still open. */
static unsigned dribble(int *fds)
{
	unsigned open_n = 0;
	for (unsigned i = 0; i < A.slow; i++) {
		if (fds[i] < 0)
			continue;
		ssize_t w = send(fds[i], "X-Slow: 1\r\n", 11, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			close(fds[i]);
			fds[i] = -1;
			continue;
		}
		open_n++;
	}
	return open_n;
}

static void print_latencies(const char *name, double *lat, size_t n, size_t ok)
{
	qsort(lat, n, sizeof *lat, cmp_double);
	printf("%s_n=%zu\n%s_ok=%zu\n%s_p50_ms=%.2f\n%s_p99_ms=%.2f\n%s_max_ms=%.2f\n", name, n,
	       name, ok, name, pct(lat, n, 50) * 1e3, name, pct(lat, n, 99) * 1e3, name,
	       n ? lat[n - 1] * 1e3 : 0.0);
}

static void attack(double seconds)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	A.unsigned_req = hostile_request("", &A.unsigned_len);
	A.held_req = hostile_request("X-Hub-Signature-256: sha256=abababababababababababababab"
				     "abababababababababababababababababab\r\n", &A.held_len);
	L.ep = epoll_create1(EPOLL_CLOEXEC);
	A.rss_max = L.rss_pid > 0 ? read_status_kb(L.rss_pid, "VmRSS") : -1;
	int *slow = open_slow();
	struct hostile *h = calloc(A.flood + A.held, sizeof *h);
	for (unsigned i = 0; i < A.held; i++) {
		h[i].held = true;
		h[i].fd = connect_from(HELD_NET, 1 + i / HELD_PER_ADDR);
		if (h[i].fd < 0)
			continue;
		fcntl(h[i].fd, F_SETFL, fcntl(h[i].fd, F_GETFL) | O_NONBLOCK);
		struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = &h[i] };
		epoll_ctl(L.ep, EPOLL_CTL_ADD, h[i].fd, &ev);
	}
	for (unsigned i = A.held; i < A.held + A.flood; i++)
		flood_start(&h[i]);
	g_atomic_int_set(&A.probing, 1);
	GThread *probe = NULL;
	double t_probe = 0, next_tick = now_s();
	unsigned slow_open = A.slow;
	struct epoll_event evs[256];
	while (!probe || g_atomic_int_get(&A.probing)) {
		int k = epoll_wait(L.ep, evs, 256, 50);
		for (int i = 0; i < k; i++)
			if (((struct hostile *)evs[i].data.ptr)->fd >= 0)
				hostile_event(evs[i].data.ptr, evs[i].events);
		if (now_s() < next_tick)
			continue;
		next_tick += 1.0;
		slow_open = dribble(slow);
		long rss = L.rss_pid > 0 ? read_status_kb(L.rss_pid, "VmRSS") : -1;
		A.rss_max = rss > A.rss_max ? rss : A.rss_max;
		if (!probe && ++t_probe >= 2) /* the attack is on: start measuring */
			probe = g_thread_new("prober", prober, &seconds);
	}
	g_thread_join(probe);
	printf("attack_slow=%u\nattack_slow_open_at_end=%u\n", A.slow, slow_open);
	printf("attack_flood_posts=%zu\nattack_flood_401=%zu\nattack_flood_other=%zu\n",
	       A.flood_posts, A.flood_401, A.flood_other);
	printf("attack_held=%u\nattack_held_holding=%zu\nattack_held_503=%zu\nattack_held_other=%zu\n",
	       A.held, A.held_holding, A.held_503, A.held_other);
	print_latencies("post", A.lat_post, A.n_post, A.ok_post);
	print_latencies("healthz", A.lat_hz, A.n_hz, A.ok_hz);
	printf("rss_kb_max=%ld\n", A.rss_max);
	for (unsigned i = 0; i < A.slow; i++)
		if (slow[i] >= 0)
			close(slow[i]);
	for (unsigned i = 0; i < A.flood + A.held; i++)
		if (h[i].fd >= 0)
			close(h[i].fd);
	free(slow);
	free(h);
	g_free(A.unsigned_req);
	g_free(A.held_req);
	close(L.ep);
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof sa;
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
		die("cannot find a free port: %s", strerror(errno));
	printf("%u\n", ntohs(sa.sin_port));
	close(fd);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: load -p PORT[,PORT...] -s SECRET_FILE -P PNID[,PNID...] [-n REQUESTS] [-c CONNS]\n"
		"            [-t SECONDS] [-k CITIZENS] [-r RUN_TAG] [-u PATH] [-R RATE]\n"
		"            [-m PID [-M N,N,...]] [-D STATE_DB [-E EXPECTED] [-T SECONDS]] [-X]\n"
		"       load -A -B MAX_BODY -p PORT -s SECRET_FILE -P PNID [-S SLOW] [-a PER_ADDRESS]\n"
		"            [-F FLOOD] [-H HELD] [-t SECONDS] [-n REQUESTS] [-m PID]\n"
		"       load --free-port\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--free-port") == 0)
		return free_port();
	long port = 0, n = 20000, nconn = 32, citizens = 300, expected = -1;
	double max_s = 60, wait_s = 120;
	const char *secret_file = NULL, *pnids = NULL, *tag = "r0", *path = "/webhook";
	const char *rss_list = NULL, *dbpath = NULL;
	bool attacking = false, statuses = false;
	A.slow = 5000, A.per_addr = 8, A.flood = 32, A.held = 300;
	int opt;
	while ((opt = getopt(argc, argv, "p:s:P:n:c:t:k:r:u:m:M:D:E:T:R:AB:S:a:F:H:X")) != -1) {
		switch (opt) {
		case 'p': {
			g_auto(GStrv) ps = g_strsplit(optarg, ",", -1);
			for (unsigned i = 0; ps[i]; i++) {
				long p = strtol(ps[i], NULL, 10);
				if (p < 1 || p > 65535 || L.nports >= MAX_PORTS)
					usage();
				L.ports[L.nports++] = (uint16_t)p;
			}
			port = L.nports ? L.ports[0] : 0;
			break;
		}
		case 's': secret_file = optarg; break;
		case 'P': pnids = optarg; break;
		case 'n': n = strtol(optarg, NULL, 10); break;
		case 'c': nconn = strtol(optarg, NULL, 10); break;
		case 't': max_s = strtod(optarg, NULL); break;
		case 'k': citizens = strtol(optarg, NULL, 10); break;
		case 'r': tag = optarg; break;
		case 'u': path = optarg; break;
		case 'm': L.rss_pid = strtol(optarg, NULL, 10); break;
		case 'M': rss_list = optarg; break;
		case 'D': dbpath = optarg; break;
		case 'E': expected = strtol(optarg, NULL, 10); break;
		case 'T': wait_s = strtod(optarg, NULL); break;
		case 'R': L.rate = strtod(optarg, NULL); break;
		case 'A': attacking = true; break;
		case 'X': statuses = true; break; /* status webhooks instead of texts */
		case 'B': A.max_body = strtol(optarg, NULL, 10); break;
		case 'S': A.slow = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'a': A.per_addr = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'F': A.flood = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'H': A.held = (unsigned)strtoul(optarg, NULL, 10); break;
		default: usage();
		}
	}
	if (port < 1 || port > 65535 || !secret_file || !pnids || n < 1 || n > 1000000 ||
	    nconn < 1 || nconn > MAX_CONNS || citizens < 1 || citizens > 100000 || max_s <= 0 ||
	    strlen(tag) > 16 || path[0] != '/' || L.rate < 0 ||
	    (attacking && (A.max_body < 2048 || A.per_addr < 1)))
		usage();
	signal(SIGPIPE, SIG_IGN);
	L.port = (uint16_t)port;
	L.n = (size_t)n;

	g_autofree char *secret = read_secret(secret_file);
	g_auto(GStrv) stations = g_strsplit(pnids, ",", -1);
	unsigned nst = g_strv_length(stations);
	if (nst == 0)
		usage();
	for (unsigned i = 0; i < nst; i++)
		if (strlen(stations[i]) < 4)
			die("phone_number_id %s is too short", stations[i]);

	/* Citizens, then the requests: all built before the clock starts. */
	rng_state ^= (uint64_t)g_str_hash(tag) << 17;
	struct citizen *cit = calloc((size_t)citizens, sizeof *cit);
	for (long i = 0; i < citizens; i++) {
		snprintf(cit[i].phone, sizeof cit[i].phone, "9198%08ld", 30000000 + i * 7919 % 9000000);
		snprintf(cit[i].user_id, sizeof cit[i].user_id, "IN.%016llu",
			 (unsigned long long)(rnd() % 10000000000000000ull));
		snprintf(cit[i].name, sizeof cit[i].name, "%s %s",
			 first_names[rnd_below(G_N_ELEMENTS(first_names))],
			 last_names[rnd_below(G_N_ELEMENTS(last_names))]);
	}
	L.reqs = calloc(L.n, sizeof *L.reqs);
	L.lat = calloc(L.n, sizeof *L.lat);
	if (!cit || !L.reqs || !L.lat)
		die("out of memory");
	long ts0 = (long)time(NULL) - n;
	size_t body_total = 0;
	for (size_t i = 0; i < L.n; i++) {
		const struct citizen *c = &cit[rnd_below((unsigned)citizens)];
		const char *pnid = stations[rnd_below(nst)];
		g_autofree char *body = (statuses ? make_status_body : make_body)(
			(unsigned)i, tag, pnid, c, ts0 + (long)i);
		size_t blen = strlen(body);
		g_autofree char *sig = g_compute_hmac_for_data(G_CHECKSUM_SHA256,
							      (const guchar *)secret, strlen(secret),
							      (const guchar *)body, blen);
		GString *r = g_string_sized_new(blen + 400);
		g_string_printf(r, "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%ld\r\n"
				"User-Agent: facebookexternalua\r\nAccept: */*\r\n"
				"Content-Type: application/json\r\nContent-Length: %zu\r\n"
				"X-Hub-Signature-256: sha256=%s\r\n\r\n",
				path, port, blen, sig);
		g_string_append_len(r, body, (gssize)blen);
		L.reqs[i].len = r->len;
		L.reqs[i].data = g_string_free(r, FALSE);
		body_total += blen;
	}
	free(cit);

	/* VmRSS sample points: default 10%, 50%, 100% of the requests. */
	if (L.rss_pid > 0) {
		if (rss_list) {
			g_auto(GStrv) at = g_strsplit(rss_list, ",", -1);
			for (unsigned i = 0; at[i] && L.rss_n < G_N_ELEMENTS(L.rss_at); i++)
				L.rss_at[L.rss_n++] = (size_t)strtoul(at[i], NULL, 10);
		} else {
			L.rss_at[0] = L.n / 10;
			L.rss_at[1] = L.n / 2;
			L.rss_at[2] = L.n;
			L.rss_n = 3;
		}
		for (unsigned i = 0; i < L.rss_n; i++)
			L.rss_kb[i] = L.anon_kb[i] = -1;
		printf("rss_kb_start=%ld\n", read_status_kb(L.rss_pid, "VmRSS"));
		printf("anon_kb_start=%ld\n", read_status_kb(L.rss_pid, "RssAnon"));
	}

	if (attacking) {
		attack(max_s);
		return 0;
	}
	double cpu_before = cpu_s();
	drive((unsigned)nconn, max_s);
	double cpu_after = cpu_s();

	size_t non200 = L.answered - L.status[200];
	double span = L.t_last > L.t_first ? L.t_last - L.t_first : 0;
	qsort(L.lat, L.answered, sizeof *L.lat, cmp_double);
	printf("body_bytes_avg=%zu\n", body_total / L.n);
	printf("connections=%ld\n", nconn);
	printf("prepared=%zu\n", L.n);
	printf("sent=%zu\n", L.next);
	printf("answered=%zu\n", L.answered);
	printf("ok=%u\n", L.status[200]);
	printf("non200=%zu\n", non200);
	if (L.nports > 1)
		for (unsigned i = 0; i < L.nports; i++)
			printf("ok_port_%u=%u\n", L.ports[i], L.ok_by_port[i]);
	for (unsigned s = 0; s < 600; s++)
		if (s != 200 && L.status[s])
			printf("status_%u=%u\n", s, L.status[s]);
	printf("errors_conn=%zu\nerrors_proto=%zu\nerrors_timeout=%zu\n", L.errors_conn,
	       L.errors_proto, L.errors_timeout);
	printf("elapsed_s=%.3f\n", span);
	printf("client_cpu_s=%.2f\n", cpu_after - cpu_before);
	printf("rps=%.1f\n", span > 0 ? (double)L.answered / span : 0.0);
	printf("ok_per_s=%.1f\n", span > 0 ? (double)L.status[200] / span : 0.0);
	double sum = 0;
	for (size_t i = 0; i < L.answered; i++)
		sum += L.lat[i];
	printf("paced_rate=%.0f\nlate_5ms=%zu\n", L.rate, L.late);
	printf("mean_ms=%.2f\n", L.answered ? sum / (double)L.answered * 1e3 : 0.0);
	printf("p50_ms=%.2f\n", pct(L.lat, L.answered, 50) * 1e3);
	printf("p90_ms=%.2f\n", pct(L.lat, L.answered, 90) * 1e3);
	printf("p99_ms=%.2f\n", pct(L.lat, L.answered, 99) * 1e3);
	printf("max_ms=%.2f\n", L.answered ? L.lat[L.answered - 1] * 1e3 : 0.0);
	/* A coarse latency histogram: how many answers took at most each bound. */
	static const double bounds_ms[] = { 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000 };
	for (size_t b = 0, i = 0; b < G_N_ELEMENTS(bounds_ms); b++) {
		while (i < L.answered && L.lat[i] * 1e3 <= bounds_ms[b])
			i++;
		printf("lat_le_%gms=%zu\n", bounds_ms[b], i);
	}
	for (unsigned i = 0; i < L.rss_n; i++)
		printf("rss_kb_at_%zu=%ld\nanon_kb_at_%zu=%ld\n", L.rss_at[i], L.rss_kb[i],
		       L.rss_at[i], L.anon_kb[i]);
	fflush(stdout);

	if (dbpath)
		wait_delivered(dbpath, expected >= 0 ? expected : (long)L.status[200], wait_s);
	for (size_t i = 0; i < L.n; i++)
		g_free(L.reqs[i].data);
	free(L.reqs);
	free(L.lat);
	return 0;
}
