"""imapproxy: a loopback relay in front of the private Dovecot that a test can hold.

A crash test needs the daemon to be killed at a known point of its IMAP work, on a fast
machine as on a slow one. Waiting a while and hoping proves nothing; holding the server
does: while the relay holds, the daemon's work cannot get past the point it holds.

    proxy = IMAPProxy(upstream_port).start()      # point [imap] url at proxy.port
    proxy.hold()             # nothing more is relayed, either way, on any connection (new
                             # ones are accepted and hear nothing): a server that hangs
    proxy.hold_answers()     # the next APPEND a client sends whole reaches the server,
                             # but its answer is kept from the client: the mail is
                             # stored and the client never hears so. answered is set
                             # once the server's answer is here; appended_id is the
                             # Message-ID of that mail
    proxy.cut_append()       # the next APPEND stops halfway through its mail: the server
                             # has half of it. cut is set then
    proxy.release()          # relay again, what was held included
    proxy.drop()             # close every connection, what was held is lost (as when
                             # the client was killed), and relay new ones
    proxy.stop()
    proxy.accepted           # connections relayed so far
    proxy.most_open          # the most open at once, by the client's side (a connection
                             # the client has closed counts no more);
                             # proxy.reset_counts() starts afresh
    proxy.open_count()       # open now

Commands are followed through their literals ({n} and {n+}) in both directions, so a
literal that happens to hold "APPEND" does not count. Standard library only."""

import re
import select
import socket
import threading

APPEND_LINE = re.compile(rb"^(\S+) APPEND .*\{(\d+)\+?\}$", re.I)
LITERAL = re.compile(rb"\{(\d+)\+?\}$")
MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]*>)", re.I | re.M)


class _Commands:
    """Follows a client's byte stream command by command (literals included) and says
    where the APPEND commands in it end and where their literals begin."""

    def __init__(self):
        self.line = b""
        self.literal_left = 0
        self.append = None        # (tag, literal bytes so far) inside an APPEND

    def feed(self, data):
        """Events in data as (offset just after it, what, detail), in order: "literal"
        (an APPEND's mail begins; detail its size) and "appended" (an APPEND's whole
        command has been sent; detail (tag, the mail))."""
        events = []
        i = 0
        while i < len(data):
            if self.literal_left:
                n = min(self.literal_left, len(data) - i)
                if self.append is not None:
                    self.append = (self.append[0], self.append[1] + data[i:i + n])
                self.literal_left -= n
                i += n
                continue
            end = data.find(b"\r\n", i)
            if end < 0:
                self.line += data[i:]
                break
            line = self.line + data[i:end]
            self.line = b""
            i = end + 2
            m = APPEND_LINE.match(line)
            lit = LITERAL.search(line)
            if m and self.append is None:
                self.append = (m.group(1), b"")
                events.append((i, "literal", int(m.group(2))))
            if lit:
                self.literal_left = int(lit.group(1))
            elif self.append is not None:
                events.append((i, "appended", self.append))
                self.append = None
        return events


class IMAPProxy:
    def __init__(self, upstream_port, host="127.0.0.1"):
        self.upstream = (host, int(upstream_port))
        self.listener = socket.create_server((host, 0))
        self.port = self.listener.getsockname()[1]
        self.cond = threading.Condition()
        self.mode = "pass"            # pass | hold | answers | cut
        self.answered = threading.Event()
        self.cut = threading.Event()
        self.appended_id = None
        self.conns = []
        self.stopping = False
        self.accepted = 0
        self.most_open = 0

    # ---- what a test calls --------------------------------------------------------------

    def start(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def hold(self):
        self._set("hold")

    def hold_answers(self):
        self.answered.clear()
        self.appended_id = None
        self._set("answers")

    def cut_append(self):
        self.cut.clear()
        self._set("cut")

    def release(self):
        with self.cond:
            self.mode = "pass"
            for c in self.conns:
                c["held_down"] = c["held_up"] = False
            self.cond.notify_all()

    def drop(self):
        with self.cond:
            self.mode = "pass"
            conns = list(self.conns)
        for c in conns:
            self._close(c)

    def open_count(self):
        with self.cond:
            return len(self.conns)

    def reset_counts(self):
        with self.cond:
            self.accepted = 0
            self.most_open = len(self.conns)

    def stop(self):
        self.stopping = True
        self.listener.close()
        self.drop()

    # ---- the relay ------------------------------------------------------------------------

    def _set(self, mode):
        with self.cond:
            self.mode = mode
            self.cond.notify_all()

    def _accept(self):
        while not self.stopping:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=10)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            c = {"client": client, "server": server, "held_down": False, "held_up": False,
                 "closed": False, "tag": None, "answer": b""}
            with self.cond:
                self.conns.append(c)
                self.accepted += 1
                # A client that closed one connection and then opened this one is not
                # counted twice because our thread has not read the end of the old one
                # yet: its end is already in the socket.
                live = sum(1 for x in self.conns if not self._client_gone(x))
                self.most_open = max(self.most_open, live)
            threading.Thread(target=self._up, args=(c,), daemon=True).start()
            threading.Thread(target=self._down, args=(c,), daemon=True).start()

    @staticmethod
    def _client_gone(c):
        """Has the client closed its end of c? Its end of stream may still wait behind
        bytes our thread has not read (a LOGOUT sent just before the close)."""
        try:
            p = select.poll()
            p.register(c["client"], select.POLLRDHUP)
            return any(ev & (select.POLLRDHUP | select.POLLHUP | select.POLLERR)
                       for _, ev in p.poll(0))
        except (OSError, ValueError):
            return True

    def _close(self, c):
        with self.cond:
            c["closed"] = True
            if c in self.conns:
                self.conns.remove(c)
            self.cond.notify_all()
        for s in (c["client"], c["server"]):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _wait(self, c, flag):
        """Wait while the relay holds everything or this direction of c; False once c is
        closed."""
        with self.cond:
            while not c["closed"] and (self.mode == "hold" or c[flag]):
                self.cond.wait()
            return not c["closed"]

    def _up(self, c):
        """Client to server, following the commands."""
        cmds = _Commands()
        try:
            while True:
                data = c["client"].recv(65536)
                if not data:
                    break
                start = 0
                for at, what, detail in cmds.feed(data):
                    with self.cond:
                        mode = self.mode
                    if what == "literal" and mode == "cut":
                        half = at + max(detail // 2, 1)
                        if not self._send(c, "server", data[start:half]):
                            return
                        start = half
                        with self.cond:
                            c["held_up"] = True
                            self.mode = "pass"
                        self.cut.set()
                    elif what == "appended" and mode == "answers":
                        # Held before the last bytes go: the answer cannot overtake it.
                        with self.cond:
                            c["held_down"], c["tag"] = True, detail[0]
                            self.mode = "pass"
                        m = MESSAGE_ID.search(detail[1])
                        self.appended_id = m.group(1).decode() if m else None
                if not self._send(c, "server", data[start:]):
                    return
        except OSError:
            pass
        finally:
            self._close(c)

    def _down(self, c):
        """Server to client."""
        try:
            while True:
                data = c["server"].recv(65536)
                if not data:
                    break
                with self.cond:
                    tag = c["tag"] if c["held_down"] else None
                if tag is not None:
                    c["answer"] += data
                    if re.search(rb"(^|\r\n)" + re.escape(tag) + rb" (OK|NO|BAD)", c["answer"]):
                        self.answered.set()
                if not self._send(c, "client", data):
                    return
        except OSError:
            pass
        finally:
            self._close(c)

    def _send(self, c, to, data):
        """Send data on to the client or the server once nothing holds it."""
        if not self._wait(c, "held_down" if to == "client" else "held_up"):
            return False
        if data:
            c[to].sendall(data)
        return True
