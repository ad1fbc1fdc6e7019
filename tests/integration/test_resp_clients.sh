#!/bin/bash
# test_resp_clients.sh: how the RESP listener treats its clients (SPEC §4):
# a client that sends half a frame and waits does not hold up the others;
# a client that never reads its replies does not make the server's memory
# grow without bound; netcat-style inline commands work; redis-benchmark's
# pipelined load is answered in full.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/resp_lib.sh"

start_resp n1 || { echo "kahunad did not start"; exit 1; }

# redis-benchmark first: every test answered (numbers are the lead's to
# judge; the large values below would slow writes: see docs/resp.md)
out=$(redis-benchmark -p "$KRESP_PORT" -t ping,set,get,incr,mset -n 20000 -P 16 -q 2>&1 | tr '\r' '\n' | grep 'requests per second')
echo "$out" | sed 's/^/# /'
for t in PING_INLINE PING_MBULK SET GET INCR 'MSET (10 keys)'; do
    check "redis-benchmark $t" bash -c 'grep -qF "$1: " <<< "$2"' _ "$t" "$out"
done
got=$(redis-cli -p "$KRESP_PORT" GET counter:__rand_int__)
check "redis-benchmark's INCR counted ($got)" [ "${got:-0}" -ge 20000 ]

cat > "$TEST_TMP/clients.py" <<'PY'
import os, socket, sys, time

port, pid = int(sys.argv[1]), int(sys.argv[2])
fails = passes = 0

def check(name, cond):
    global fails, passes
    if cond:
        passes += 1
    else:
        fails += 1
        print("FAIL:", name, file=sys.stderr)

def dial(rcvbuf=None):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", port))
    s.settimeout(5)
    return s

def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            break
        out += chunk
    return out

def rss_kb():
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

# half a frame waits; another client is served meanwhile
a, b = dial(), dial()
a.sendall(b"*3\r\n$3\r\nSET\r\n$4\r\nhalf\r\n$5\r\nval")
time.sleep(0.2)
b.sendall(b"PING\r\n")
check("others are served while a frame is half sent", recv_exact(b, 7) == b"+PONG\r\n")
a.settimeout(0.2)
try:
    early = a.recv(10)
except socket.timeout:
    early = b""
check("half a frame gets no reply yet", early == b"")
a.settimeout(5)
a.sendall(b"ue\r\nGET half\r\n")
check("the rest of the frame completes it", recv_exact(a, 16) == b"+OK\r\n$5\r\nvalue\r\n")
a.close(); b.close()

# inline commands, as nc or telnet send them
c = dial()
c.sendall(b"SET inline \"two words\"\r\nGET inline\r\nQUIT\r\n")
check("inline commands", recv_exact(c, 5 + 15 + 5) == b"+OK\r\n$9\r\ntwo words\r\n+OK\r\n")
c.close()

# a client that never reads: memory stays bounded, others are served
w = dial()
big = b"x" * (512 * 1024)
w.sendall(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n" % len(big) + big + b"\r\n")
check("big value stored", recv_exact(w, 5) == b"+OK\r\n")
before = rss_kb()
lazy = dial(rcvbuf=4096)
lazy.setblocking(False)
sent = 0
deadline = time.time() + 3
while time.time() < deadline:
    try:
        sent += lazy.send(b"GET big\r\n" * 64)
    except BlockingIOError:
        time.sleep(0.02)
requests = sent // 9
grown_mb = (rss_kb() - before) / 1024.0
check("the lazy client sent many GETs (%d, %d MiB of replies)" % (requests, requests // 2), requests > 200)
check("server memory bounded (grew %.1f MiB)" % grown_mb, grown_mb < 64)
w.sendall(b"PING\r\n")
check("others still served", recv_exact(w, 7) == b"+PONG\r\n")
lazy.close()
w.sendall(b"DBSIZE\r\n")
check("the server survived", recv_exact(w, 4).startswith(b":"))
w.close()
print("clients: %d passed, %d failed" % (passes, fails))
sys.exit(1 if fails else 0)
PY
check "client behaviour" "$RESP_PYTHON" "$TEST_TMP/clients.py" "$KRESP_PORT" "$KPID"

done_testing
