"""client.py: one torture client's HTTP connection to kahunad (REST, SPEC
§3): http.client with keep-alive and timeouts, and the classification of
every attempt into the outcomes of history.py:

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
    def __init__(self, nodes, timeout=1.0, start=0):
        """nodes: list of (node_id, host, port). The client talks to one
        node and moves to the next when it cannot connect."""
        self.nodes = list(nodes)
        self.timeout = timeout
        self.cur = start % len(self.nodes)
        self.conn = None

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass
            self.conn = None

    def _stale(self):
        sock = self.conn.sock if self.conn is not None else None
        if sock is None:
            return True
        try:
            r, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(r)   # an idle HTTP connection has nothing to read unless closed

    def node_id(self):
        return self.nodes[self.cur][0]

    def request(self, method, path, body=None, timeout=None):
        """One attempt. Returns an Answer; never raises for network errors."""
        nid, host, port = self.nodes[self.cur]
        tmo = self.timeout if timeout is None else timeout
        if self.conn is not None and self._stale():
            self.close()
        if self.conn is None:
            conn = http.client.HTTPConnection(host, port, timeout=tmo)
            try:
                conn.connect()
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError as e:
                conn.close()
                if len(self.nodes) > 1:
                    self.cur = (self.cur + 1) % len(self.nodes)
                return Answer(FAIL, error="connect: %s" % (e.__class__.__name__,), node=nid)
            self.conn = conn
        conn = self.conn
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
                self.close()
        except socket.timeout:
            self.close()
            return Answer(UNKNOWN, error="timeout", node=nid)
        except (OSError, http.client.HTTPException) as e:
            self.close()
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
