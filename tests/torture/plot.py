"""plot.py: an SVG picture of a torture run, no dependencies: throughput
(ok / fail / unknown completions per second) and latency (median, p99, max
of ok operations, log scale) over time, with the fault windows shaded and
labelled.
"""

import math
from xml.sax.saxutils import escape

from history import OK, FAIL, UNKNOWN, is_nemesis

W, H = 1000, 560
L, R = 70, 20                       # left / right margins
TOP1, BOT1 = 50, 250                # throughput panel
TOP2, BOT2 = 300, 500               # latency panel
COLORS = {OK: "#2a9d3f", FAIL: "#e08a00", UNKNOWN: "#d62828"}


def _nice_step(span, target=8):
    raw = span / max(1, target)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def _quantile(xs, q):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def windows(ops):
    """Fault windows [(start, end, label)] from the nemesis events."""
    out, open_ = [], {}
    for op in sorted((o for o in ops if is_nemesis(o)), key=lambda o: o.invoke):
        if op.kind == "nemesis.start":
            open_[op.key] = op.invoke
        elif op.kind == "nemesis.end" and op.key in open_:
            out.append((open_.pop(op.key), op.invoke, op.key))
    return out


def render(ops, path, title=""):
    data = [o for o in ops if not is_nemesis(o) and o.complete is not None]
    wins = windows(ops)
    t_end = max([o.complete for o in data] + [w[1] for w in wins] + [1.0])
    bucket = max(0.25, t_end / 200.0)
    nb = int(t_end / bucket) + 1
    counts = {k: [0] * nb for k in (OK, FAIL, UNKNOWN)}
    lat = [[] for _ in range(nb)]
    for o in data:
        b = min(nb - 1, int(o.complete / bucket))
        counts[o.outcome][b] += 1
        if o.outcome == OK:
            lat[b].append(max(1e-5, o.complete - o.invoke))
    rate = {k: [c / bucket for c in v] for k, v in counts.items()}
    ymax = max([max(v) for v in rate.values()] + [1.0])
    ystep = _nice_step(ymax, 5)
    ymax = math.ceil(ymax / ystep) * ystep

    def x(t):
        return L + (W - L - R) * t / t_end

    def y1(v):
        return BOT1 - (BOT1 - TOP1) * v / ymax

    lo, hi = -4, 1     # latency axis: 0.1 ms .. 10 s

    def y2(v):
        lv = min(hi, max(lo, math.log10(v)))
        return BOT2 - (BOT2 - TOP2) * (lv - lo) / (hi - lo)

    s = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
         'font-family="sans-serif" font-size="11">' % (W, H),
         '<rect width="100%" height="100%" fill="white"/>',
         '<text x="%d" y="20" font-size="14">%s</text>' % (L, escape(title))]
    for (a, b, label) in wins:
        s.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#f4a3a3" opacity="0.35"/>'
                 % (x(a), TOP1, max(1.0, x(b) - x(a)), BOT2 - TOP1))
        s.append('<text x="%.1f" y="%d" fill="#a11">%s</text>' % (x(a) + 2, TOP1 - 4, escape(label)))
    # axes and grid
    tstep = _nice_step(t_end, 10)
    t = 0.0
    while t <= t_end + 1e-9:
        s.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>' % (x(t), TOP1, x(t), BOT2))
        s.append('<text x="%.1f" y="%d" text-anchor="middle">%g</text>' % (x(t), BOT2 + 15, t))
        t += tstep
    s.append('<text x="%d" y="%d" text-anchor="middle">time (s)</text>' % ((L + W - R) // 2, BOT2 + 32))
    v = 0.0
    while v <= ymax + 1e-9:
        s.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>' % (L, y1(v), W - R, y1(v)))
        s.append('<text x="%d" y="%.1f" text-anchor="end">%g</text>' % (L - 4, y1(v) + 4, v))
        v += ystep
    for e in range(lo, hi + 1):
        lab = {-4: "0.1ms", -3: "1ms", -2: "10ms", -1: "100ms", 0: "1s", 1: "10s"}[e]
        s.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>' % (L, y2(10 ** e), W - R, y2(10 ** e)))
        s.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (L - 4, y2(10 ** e) + 4, lab))
    for top, bot, name in ((TOP1, BOT1, "completions / s"), (TOP2, BOT2, "latency of ok ops")):
        s.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>'
                 % (L, top, W - L - R, bot - top))
        s.append('<text x="14" y="%d" transform="rotate(-90 14 %d)" text-anchor="middle">%s</text>'
                 % ((top + bot) // 2, (top + bot) // 2, name))

    def poly(points, color, width=1.5, dash=None):
        if len(points) < 2:
            return
        d = " ".join("%.1f,%.1f" % p for p in points)
        extra = ' stroke-dasharray="%s"' % dash if dash else ""
        s.append('<polyline fill="none" stroke="%s" stroke-width="%s"%s points="%s"/>'
                 % (color, width, extra, d))

    for k in (OK, FAIL, UNKNOWN):
        poly([(x((i + 0.5) * bucket), y1(r)) for i, r in enumerate(rate[k])], COLORS[k])
    for q, color, dash in ((0.5, "#1d4e89", None), (0.99, "#7b2cbf", "4,2"), (1.0, "#999", "2,2")):
        pts = []
        for i, ls in enumerate(lat):
            if ls:
                pts.append((x((i + 0.5) * bucket), y2(_quantile(ls, q))))
        poly(pts, color, 1.2, dash)
    # legends
    lx = L + 8
    for label, color in (("ok", COLORS[OK]), ("fail", COLORS[FAIL]), ("unknown", COLORS[UNKNOWN])):
        s.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>'
                 % (lx, TOP1 + 12, lx + 18, TOP1 + 12, color))
        s.append('<text x="%d" y="%d">%s</text>' % (lx + 22, TOP1 + 16, label))
        lx += 80
    lx = L + 8
    for label, color in (("p50", "#1d4e89"), ("p99", "#7b2cbf"), ("max", "#999")):
        s.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>'
                 % (lx, TOP2 + 12, lx + 18, TOP2 + 12, color))
        s.append('<text x="%d" y="%d">%s</text>' % (lx + 22, TOP2 + 16, label))
        lx += 70
    s.append('<text x="%d" y="%d" fill="#666">buckets of %.2f s; shaded: fault windows</text>'
             % (W - R - 260, H - 10, bucket))
    s.append("</svg>")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(s) + "\n")
