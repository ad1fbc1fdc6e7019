#!/bin/bash
# test_resp_python.sh: the RESP listener from a real client library,
# redis-py (Debian's python3-redis, run with /usr/bin/python3): connecting,
# pipelines, the SET NX PX lock idiom, kahuna's LOCK.* and SEQ.* commands,
# binary values, MULTI/EXEC with WATCH, SCAN iteration, many clients at once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/resp_lib.sh"

if ! "$RESP_PYTHON" -c 'import redis' 2>/dev/null; then
    echo "SKIP: $RESP_PYTHON has no redis module (apt-get install python3-redis)"
    exit 77
fi
start_resp n1 || { echo "kahunad did not start"; exit 1; }

cat > "$TEST_TMP/t.py" <<'PY'
import sys, threading
import redis

port = int(sys.argv[1])
fails = 0
passes = 0

def check(name, cond):
    global fails, passes
    if cond:
        passes += 1
    else:
        fails += 1
        print("FAIL:", name, file=sys.stderr)

r = redis.Redis(port=port)
check("connect and ping", r.ping() is True)
check("set and get", r.set("a", "1") and r.get("a") == b"1")

# binary values, every byte
blob = bytes(range(256)) * 64
r.set(b"bin\x00key\xff", blob)
check("binary key and value round trip", r.get(b"bin\x00key\xff") == blob)

# pipeline without transaction: replies in order
p = r.pipeline(transaction=False)
for i in range(500):
    p.set("p%d" % i, i)
for i in range(500):
    p.incr("p%d" % i)
for i in range(500):
    p.get("p%d" % i)
res = p.execute()
check("pipeline sets", all(x is True for x in res[:500]))
check("pipeline incrs", res[500:1000] == list(range(1, 501)))
check("pipeline gets in order", res[1000:] == [str(i + 1).encode() for i in range(500)])

# the lock idiom: SET key token NX PX ttl
check("lock idiom acquire", r.set("lock:job", "tok1", nx=True, px=30000) is True)
check("lock idiom busy", r.set("lock:job", "tok2", nx=True, px=30000) is None)
check("lock idiom ttl", 29000 < r.pttl("lock:job") <= 30000)
check("lock idiom owner", r.get("lock:job") == b"tok1")
check("lock idiom release", r.delete("lock:job") == 1)

# kahuna's locks and sequences
tok = r.execute_command("LOCK.ACQUIRE", "jobs/nightly", "w1", 30000)
check("lock.acquire token", isinstance(tok, int) and tok > 0)
check("lock.acquire held", r.execute_command("LOCK.ACQUIRE", "jobs/nightly", "w2", 30000) is None)
info = r.execute_command("LOCK.INFO", "jobs/nightly")
check("lock.info", info[0] == b"w1" and info[1] == tok and 0 < info[2] <= 30000)
check("lock.release", r.execute_command("LOCK.RELEASE", "jobs/nightly", "w1") == 1)
check("seq.next", r.execute_command("SEQ.NEXT", "ids", 5) == 1)
check("seq.next again", r.execute_command("SEQ.NEXT", "ids") == 6)

# MULTI/EXEC through redis-py's transaction pipeline, and WATCH
p = r.pipeline(transaction=True)
p.set("t", 1).incr("t").get("t")
check("transaction", p.execute() == [True, 2, b"2"])
r.set("balance", 100)
def spend(pipe):
    b = int(pipe.get("balance"))
    pipe.multi()
    pipe.set("balance", b - 10)
r.transaction(spend, "balance")
check("watch transaction", r.get("balance") == b"90")
w = r.pipeline()
w.watch("balance")
r.set("balance", 0)
w.multi()
w.set("balance", 999)
try:
    w.execute()
    check("watch conflict raises", False)
except redis.WatchError:
    check("watch conflict raises", True)
check("watch conflict changed nothing", r.get("balance") == b"0")
# a watched absent key created and deleted before EXEC is a change too
# (found by the torture suite: EXEC used to apply)
w = r.pipeline()
w.watch("aba")
r.set("aba", "x")
r.delete("aba")
w.multi()
w.set("aba", "mine")
try:
    w.execute()
    check("watch sees a create and delete in between", False)
except redis.WatchError:
    check("watch sees a create and delete in between", True)
check("the aborted transaction wrote nothing", r.get("aba") is None)
w = r.pipeline()
w.watch("never")
w.multi()
w.set("never", "v")
check("watch of an untouched absent key lets EXEC run", w.execute() == [True])

# scan_iter sees every key once
keys = set(r.scan_iter(count=37))
check("scan_iter", keys == set(r.keys("*")) and len(keys) > 500)
check("scan_iter match", set(r.scan_iter(match="p1*")) == set(r.keys("p1*")))

# errors become exceptions with Redis's text
try:
    r.incr("bin\x00key\xff".encode("latin1"))
    check("incr error", False)
except redis.ResponseError as e:
    check("incr error text", "not an integer" in str(e))

# many clients at once
errors = []
def worker(n):
    try:
        c = redis.Redis(port=port)
        for i in range(50):
            c.incr("shared")
            c.set("w%d" % n, i)
        c.close()
    except Exception as e:
        errors.append(e)
threads = [threading.Thread(target=worker, args=(n,)) for n in range(40)]
[t.start() for t in threads]
[t.join() for t in threads]
check("40 clients at once (%s)" % errors[:1], not errors)
check("no increment lost", r.get("shared") == b"2000")
print("python: %d passed, %d failed" % (passes, fails))
sys.exit(1 if fails else 0)
PY
check "redis-py client" "$RESP_PYTHON" "$TEST_TMP/t.py" "$KRESP_PORT"
done_testing
