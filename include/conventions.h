/* conventions: the rules every header of wabridge follows, written down once. A header
 * states only its exceptions. This file declares nothing.
 *
 * Ownership
 *  - What a function returns is the caller's: free it with g_free(), or with the
 *    module's own _free(), _unref(), _close() or _clear() named beside it (g_autoptr
 *    cleanups are declared for the structs that have one).
 *  - Except a `const` pointer: it is borrowed from an argument (a station from the
 *    configuration, a template from its set, a string inside a struct) and lives as long
 *    as that argument. Never free it.
 *  - Arguments are borrowed for the call. A function that keeps one beyond the call says
 *    so in its prototype's comment.
 *  - A result struct filled through a pointer is valid only when the call succeeded;
 *    its _clear() frees what it holds.
 *
 * Threads (`serve` runs the HTTP listener with its committer, a worker, and the replies
 *   watcher; every other command is one thread, but for the short-lived helper that lets
 *   a spooled mail's read pages go while it is delivered, spool.h)
 *  - Read-only after load, shared by every thread without a lock: struct wb_config and
 *    all it holds (stations, officer patterns, struct wb_templates). serve hands it out by
 *    reference count and swaps a new one in on SIGHUP; a thread keeps the one it took
 *    until its pass ends. Nothing ever writes to a loaded configuration.
 *  - Shared and locked inside their module: the auto stations' registry (config.c,
 *    reached through wb_config_station_for() and friends), the metrics counters
 *    (metrics.c, atomics) and the pool of IMAP sessions (imappool.c), whose sessions
 *    are one taker's at a time, from take to give.
 *  - One thread at a time, each thread opening its own: struct wb_store (one SQLite
 *    connection), struct wb_target (an open mailbox), struct wb_imapconn, struct
 *    wb_replywatch. A `stop` flag passed in may be set from another thread.
 *  - Pure modules (webhook, view, render, replyparse) keep no state between calls and
 *    may be called from any thread.
 *
 * Time
 *  - Pure modules take the time they need as an argument (`now`, `when`). Modules that
 *    act (store, pipeline, outbox, reply, deliver) read wb_now(), which tests pin with
 *    $WABRIDGE_NOW: every time that is stored, shown or decided on comes from it. The
 *    monotonic clock only measures waits and timeouts.
 *
 * Errors
 *  - A function that can fail returns false or NULL and sets a GError made where the
 *    failure happened, saying what went wrong and what to do; a GError's code says what to
 *    do next where it matters (enum wb_fail: retry soon, retry later, final). main maps
 *    failures to sysexits codes. No message carries a secret.
 *
 * Input
 *  - Everything from outside (webhook bodies, mails, media, configuration files) is
 *    hostile until checked; every size that grows with it has a named cap in caps.h. */
#ifndef WB_CONVENTIONS_H
#define WB_CONVENTIONS_H
#endif
