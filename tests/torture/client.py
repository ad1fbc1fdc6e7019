"""client.py: one torture client's connections to the kahunad nodes (REST,
SPEC §3; each request to a node picked at random, as any node must serve):
http.client with keep-alive and timeouts, and the classification of every
attempt into the outcomes of history.py:

  ok       an HTTP answer that says what happened: 2xx, 404, 409
  fail     certainly not applied: the connection could not be opened (so
           nothing was sent), 503 (no leader / shutting down: node.h says
           such requests were not applied), 400/405/413 (refused input)
  unknown  anything else after the request may have left: a timeout, a
           reset or closed connection before the answer, 504, 500, an
           unparsable answer

A kept-alive connection whose peer has closed it (the node was killed or
restarted) is noticed before reuse (it reads as ready) and replaced, so a
request is only sent on a connection that looked alive.
"""

import http.client
import json
import random
import select
import socket
import urllib.parse

from history import OK, FAIL, UNKNOWN


class Answer:
    __slots__ = ("outcome", "status", "body", "error", "node")

    def __init__(self, outcome, status=None, body=None, error=None, node=None):
        self.outcome = outcome
        self.status = status
        self.body = body
        self.error = error
        self.node = node

    def __repr__(self):
        return "Answer(%s %s %s %s)" % (self.outcome, self.status, self.body, self.error)


def quote(name):
    """A key or name in a path: percent-encode all but unreserved and '/'."""
    return urllib.parse.quote(name, safe="/")


class Client:
    def __init__(self, nodes, timeout=1.0, start=0, rng=None):
        """nodes: a list of (node_id, host, port, ...) or a function that
        returns the current one (the membership changes during a run).
        Every request goes to a node picked at random (any node must serve:
        followers forward); with one node, always that one. One kept-alive
        connection per node."""
        self._nodes = nodes if callable(nodes) else (lambda: list(nodes))
        self.timeout = timeout
        self.rng = rng or random.Random(start)
        self.conns = {}       # node id -> HTTPConnection
        self.cur = None       # (id, host, port) of the node the next request goes to
        self.pick()

    def close(self):
        for c in self.conns.values():
            try:
                c.close()
            except OSError:
                pass
        self.conns = {}

    def _close(self, nid):
        c = self.conns.pop(nid, None)
        if c is not None:
            try:
                c.close()
            except OSError:
                pass

    @staticmethod
    def _stale(conn):
        sock = conn.sock if conn is not None else None
        if sock is None:
            return True
        try:
            r, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(r)   # an idle HTTP connection has nothing to read unless closed

    def pick(self):
        """Chooses the node of the next request (at random) and returns its id."""
        nodes = self._nodes()
        self.cur = tuple(self.rng.choice(nodes)[:3]) if nodes else None
        return self.node_id()

    def node_id(self):
        return self.cur[0] if self.cur else None

    def request(self, method, path, body=None, timeout=None):
        """One attempt, to the node pick() chose (then picks the next one).
        Returns an Answer; never raises for network errors."""
        if self.cur is None:
            self.pick()
        if self.cur is None:
            return Answer(FAIL, error="no node to talk to")
        nid, host, port = self.cur
        try:
            return self._request(nid, host, port, method, path, body, timeout)
        finally:
            self.pick()

    def _request(self, nid, host, port, method, path, body, timeout):
        tmo = self.timeout if timeout is None else timeout
        conn = self.conns.get(nid)
        if conn is not None and (self._stale(conn) or conn.port != port):
            self._close(nid)
            conn = None
        if conn is None:
            conn = http.client.HTTPConnection(host, port, timeout=tmo)
            try:
                conn.connect()
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError as e:
                conn.close()
                return Answer(FAIL, error="connect: %s" % (e.__class__.__name__,), node=nid)
            self.conns[nid] = conn
        conn.sock.settimeout(tmo)
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            status = resp.status
            if resp.will_close:
                self._close(nid)
        except socket.timeout:
            self._close(nid)
            return Answer(UNKNOWN, error="timeout", node=nid)
        except (OSError, http.client.HTTPException) as e:
            self._close(nid)
            return Answer(UNKNOWN, error="%s: %s" % (e.__class__.__name__, e), node=nid)
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = None
        if status in (200, 404, 409):
            if parsed is None or not isinstance(parsed, dict):
                return Answer(UNKNOWN, status, None, error="unparsable answer %r" % raw[:200], node=nid)
            return Answer(OK, status, parsed, node=nid)
        err = None
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
            err = "%s %s" % (status, parsed["error"].get("code"))
        else:
            err = "%s %r" % (status, raw[:200])
        if status in (503, 400, 405, 413):
            return Answer(FAIL, status, parsed, error=err, node=nid)
        return Answer(UNKNOWN, status, parsed, error=err, node=nid)


class RespError(Exception):
    """A RESP error reply (-ERR ..., -TRYAGAIN ...)."""


class RespClient:
    """One torture client's RESP2 connections (raw sockets, no library):
    one per node, the node of each command sequence picked at random.
    Outcomes as for REST: a connection that cannot be opened, -TRYAGAIN
    (no leader, shutting down), -EXECABORT: fail; a timeout, a reset or
    closed connection after sending, `-ERR timeout` or any other error:
    unknown. A connection is dropped after any trouble (a reply may still
    be on its way: the stream cannot be trusted)."""

    def __init__(self, nodes, timeout=1.0, start=0, rng=None):
        """nodes: list or function of (node_id, host, port, resp_port)."""
        self._nodes = nodes if callable(nodes) else (lambda: list(nodes))
        self.timeout = timeout
        self.rng = rng or random.Random(start)
        self.socks = {}       # node id -> (socket, buffer, resp_port)
        self.cur = None
        self.pick()

    def pick(self):
        nodes = self._nodes()
        if nodes:
            n = self.rng.choice(nodes)
            self.cur = (n[0], n[1], n[3])
        else:
            self.cur = None
        return self.node_id()

    def node_id(self):
        return self.cur[0] if self.cur else None

    def close(self):
        for nid in list(self.socks):
            self.drop(nid)

    def drop(self, nid=None):
        nid = nid or self.node_id()
        s = self.socks.pop(nid, None)
        if s is not None:
            try:
                s[0].close()
            except OSError:
                pass

    def connect(self):
        """The connection to the current node: (sock, buf) or an Answer(FAIL)."""
        if self.cur is None:
            return Answer(FAIL, error="no node to talk to")
        nid, host, port = self.cur
        s = self.socks.get(nid)
        if s is not None and s[2] == port:
            try:
                r, _, _ = select.select([s[0]], [], [], 0)
            except (OSError, ValueError):
                r = True
            if not r:      # nothing unread: not closed, no stray reply
                return s
        self.drop(nid)
        try:
            sock = socket.create_connection((host, port), timeout=self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as e:
            return Answer(FAIL, error="connect: %s" % (e.__class__.__name__,), node=nid)
        s = (sock, bytearray(), port)
        self.socks[nid] = s
        return s

    @staticmethod
    def encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        return b"".join(out)

    def _line(self, s):
        sock, buf, _ = s
        while True:
            i = buf.find(b"\r\n")
            if i >= 0:
                line = bytes(buf[:i])
                del buf[:i + 2]
                return line
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("connection closed by the server")
            buf.extend(chunk)

    def _exact(self, s, n):
        sock, buf, _ = s
        while len(buf) < n + 2:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("connection closed by the server")
            buf.extend(chunk)
        data = bytes(buf[:n])
        del buf[:n + 2]
        return data

    def _reply(self, s):
        line = self._line(s)
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return RespError(rest.decode("utf-8", "replace"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(s, n).decode("utf-8", "surrogateescape")
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply(s) for _ in range(n)]
        raise ValueError("unparsable RESP reply %r" % line[:100])

    def command(self, *args, timeout=None):
        """Sends one command on the current node's connection and reads its
        reply. Returns Answer(OK, body=reply) (reply: str, int, None, list,
        or RespError for an error reply, classified by the caller with
        classify()), or Answer(FAIL/UNKNOWN) for connection trouble."""
        s = self.connect()
        if isinstance(s, Answer):
            return s
        nid = self.node_id()
        try:
            s[0].settimeout(self.timeout if timeout is None else timeout)
            s[0].sendall(self.encode(args))
            rep = self._reply(s)
        except socket.timeout:
            self.drop(nid)
            return Answer(UNKNOWN, error="timeout", node=nid)
        except (OSError, ValueError) as e:
            self.drop(nid)
            return Answer(UNKNOWN, error="%s: %s" % (e.__class__.__name__, e), node=nid)
        if isinstance(rep, RespError):
            self.drop(nid)
            return classify_error(rep, nid)
        return Answer(OK, None, rep, node=nid)


def classify_error(rep, nid=None):
    """The outcome of a RESP error reply: -TRYAGAIN (no leader, shutting
    down) and -EXECABORT say nothing was applied; anything else (-ERR
    timeout: fate unknown, or an error we did not expect) is unknown."""
    msg = str(rep)
    if msg.startswith(("TRYAGAIN", "EXECABORT")):
        return Answer(FAIL, None, None, error=msg[:200], node=nid)
    return Answer(UNKNOWN, None, None, error=msg[:200], node=nid)
