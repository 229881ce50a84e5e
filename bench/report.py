#!/usr/bin/python3
"""Turns bench/run.sh's raw figures into the markdown table (with ratios) and the chart.

    report.py RESULTS --markdown OUT.md --svg OUT.svg [--docs docs/benchmarks.md --docs-svg docs/img/NAME.svg]

RESULTS has one record per line: a kind ("gai", "dnsperf", "resperf", "latency", "first", "stale", "pass",
"start", "meta", "baseline") followed by key=value pairs. With --docs, the part of the markdown file between
<!-- suite:begin --> and <!-- suite:end --> is replaced (the section is added before "## Summary" if missing).
"""
import argparse
import os
import statistics
import sys
from collections import defaultdict

SERVERS = ["sidecache", "sidecache-socket", "nscd-no", "nscd-yes", "unbound", "dnsmasq"]
LABEL = {
    "sidecache": "sidecache (as shipped: shared map on)",
    "sidecache-socket": "sidecache `--shared-map off`",
    "nscd-no": "glibc nscd `shared hosts no`",
    "nscd-yes": "glibc nscd `shared hosts yes`",
    "unbound": "unbound (2 threads)",
    "dnsmasq": "dnsmasq",
}
SHORT = {"sidecache": "sidecache", "sidecache-socket": "sidecache socket", "nscd-no": "nscd no", "nscd-yes": "nscd yes", "unbound": "unbound",
         "dnsmasq": "dnsmasq"}
COLOR = {"sidecache": "#d95f02", "sidecache-socket": "#fdae6b", "nscd-no": "#7570b3", "nscd-yes": "#b3b0e0", "unbound": "#1b9e77",
         "dnsmasq": "#66a61e"}
DOOR = {"gai": "nscd door", "dns": "DNS door"}
BUSY = 25  # % of one core used outside the pod during a run, above which the run is marked as disturbed (*)


def parse(path):
    records = defaultdict(list)
    meta = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            kv = {}
            for p in parts[1:]:
                if "=" in p:
                    k, v = p.split("=", 1)
                    kv[k] = v
            if parts[0] == "meta":
                meta.update(kv)
            else:
                records[parts[0]].append(kv)
    return meta, records


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt_int(x):
    return "–" if x is None else f"{x:,.0f}"


def fmt_ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def rtext(r):
    if r is None:
        return "–"
    if r < 0.1:
        return f"{r:.2g}×"
    return f"{r:.2f}×" if r < 10 else (f"{r:.1f}×" if r < 100 else f"{r:.0f}×")


def busy(r):
    v = num(r.get("other_cpu"))
    return v is not None and v > BUSY


def runs_text(values, busies):
    return ", ".join(fmt_int(v) + ("\\*" if b else "") for v, b in zip(values, busies))


class Suite:
    def __init__(self, meta, rec):
        self.meta, self.rec = meta, rec
        # getaddrinfo
        self.gai = defaultdict(lambda: {"cps": [], "p50": [], "p99": [], "bad": 0, "calls": 0, "busy": False})
        for r in rec["gai"]:
            g = self.gai[(r["server"], int(r["threads"]), r["family"])]
            g["cps"].append(num(r["cps"]))
            g["p50"].append(num(r["p50"]))
            g["p99"].append(num(r["p99"]))
            g["bad"] += int(r["fail"]) + int(r["wrong"])
            g["calls"] += int(r["calls"])
            g["busy"] |= busy(r)
        self.gai_configs = sorted({(t, f) for (_, t, f) in self.gai}, key=lambda c: (c[0], c[1] != "inet"))
        self.dnsperf = defaultdict(list)
        self.dnsperf_busy = defaultdict(list)
        self.dnsperf_lost = defaultdict(int)
        for r in rec["dnsperf"]:
            self.dnsperf[r["server"]].append(num(r["qps"]))
            self.dnsperf_busy[r["server"]].append(busy(r))
            self.dnsperf_lost[r["server"]] += int(num(r["lost"]) or 0)
        self.resperf = defaultdict(list)
        self.resperf_fell = defaultdict(list)
        self.resperf_busy = defaultdict(list)
        for r in rec["resperf"]:
            self.resperf[r["server"]].append(num(r["max_qps"]))
            self.resperf_busy[r["server"]].append(busy(r))
            self.resperf_fell[r["server"]].append(num(r.get("fell_behind_at")))
        self.latency = defaultdict(lambda: {"p50": [], "p99": [], "busy": False})
        for r in rec["latency"]:
            self.latency[r["server"]]["busy"] |= busy(r)
            self.latency[r["server"]]["p50"].append(num(r["p50_us"]))
            self.latency[r["server"]]["p99"].append(num(r["p99_us"]))
        self.first = {(r["server"], r["door"]): r for r in rec["first"]}
        self.stale = {(r["server"], r["door"]): r for r in rec["stale"]}
        self.passes = {(r["server"], r["door"]): r for r in rec["pass"]}
        self.starts = defaultdict(lambda: {"ready": [], "dns": [], "nscd": [], "rss": [], "anon": []})
        for r in rec["start"]:
            s = self.starts[r["server"]]
            s["ready"].append(num(r["ready_ms"]))
            s["dns"].append(num(r["first_dns_ms"]))
            s["nscd"].append(num(r["first_nscd_ms"]))
            s["rss"].append(num(r["idle_rss_kib"].split("/")[0]))
            s["anon"].append(num(r["idle_rss_kib"].split("/")[1]))

    # --- derived figures ---------------------------------------------------------------------------------------
    def gai_cps(self, s, t, f):
        g = self.gai.get((s, t, f))
        return mean(g["cps"]) if g else None

    def stale_ms(self, s, d):
        r = self.stale.get((s, d))
        if not r:
            return None, None
        v = num(r["staleness_ms"])
        if v is None:
            return None, num(r["bound_ms"])  # not seen within the bound
        return v, None

    def hit_pct(self, s, d):
        r = self.passes.get((s, d))
        if not r:
            return None
        up1, up2 = int(r["upstream_first"]), int(r["upstream_second"])
        return 100.0 * (1 - up2 / up1) if up1 > 0 else None

    def pass_rss(self, s, d):
        r = self.passes.get((s, d))
        return num(r["rss_kib"].split("/")[0]) if r else None

    def idle_rss(self, s):
        return median(self.starts[s]["rss"]) if s in self.starts else None

    def cold(self, s):
        return median(self.starts[s]["ready"]) if s in self.starts else None


def verdict(ok):
    return "**met**" if ok else "**not met**"


def stale_text(v, bound):
    if v is None and bound is not None:
        return f"≥ {bound / 1000:.0f} s (not seen)"
    if v is None:
        return "–"
    if v < 0:
        return f"{v:.0f} ms (refreshed before expiry)"
    return f"{v:,.0f} ms"


def markdown(su):
    m = su.meta
    out = []
    total = int(num(m.get("total_secs")) or 0) - int(num(m.get("lock_wait_secs")) or 0)
    out.append(
        f"Run of {m.get('date', '?')} (`{m.get('mode', '?')}` mode, {total // 60} min {total % 60} s of "
        f"measuring, not counting waits for the build lock), sidecache "
        f"{m.get('commit', '?').replace('_', ' ')} ({m.get('binary', '?').replace('_', ' ')}); glibc/nscd "
        f"{m.get('nscd', '?')}, unbound {m.get('unbound', '?')}, dnsmasq {m.get('dnsmasq', '?')}, dnsperf/resperf "
        f"{m.get('dnsperf', '?')}, knot {m.get('knot', '?')}; {m.get('cores', '?')} cores. Each server alone in the "
        f"pod, started fresh per block. Ratios are sidecache ÷ the reference named; for rows marked ↓ lower is "
        f"better.")
    out.append("")
    head = ["measure"] + [LABEL[s] for s in SERVERS] + ["sidecache ÷ reference", "target"]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "---|" * len(head))

    def row(name, cells, ratio="", target=""):
        if not cells:
            return
        out.append("| " + " | ".join([name] + [cells.get(s, "–") for s in SERVERS] + [ratio, target]) + " |")

    # getaddrinfo
    for (t, f) in su.gai_configs:
        cells, cps = {}, {}
        for s in SERVERS:
            g = su.gai.get((s, t, f))
            if not g:
                continue
            cps[s] = mean(g["cps"])
            bad = f", **{g['bad']} failed**" if g["bad"] else ""
            us = lambda v: "<1" if v is not None and v < 0.5 else fmt_int(v)  # 1 µs histogram buckets
            star = "\\*" if g["busy"] else ""
            cells[s] = f"{fmt_int(cps[s])}{star} ({us(mean(g['p50']))} / {us(mean(g['p99']))}{bad})"
        r_no = fmt_ratio(cps.get("sidecache"), cps.get("nscd-no"))
        r_yes = fmt_ratio(cps.get("sidecache"), cps.get("nscd-yes"))
        r_sock = fmt_ratio(cps.get("sidecache-socket"), cps.get("nscd-no"))
        fam = "AF_INET" if f == "inet" else "AF_UNSPEC"
        row(f"nscd door: getaddrinfo calls/s (p50 / p99 µs), {t} thread{'s' if t > 1 else ''}, {fam}", cells,
            f"{rtext(r_yes)} nscd yes, {rtext(r_no)} nscd no; socket only: {rtext(r_sock)} nscd no",
            f"≥ 1.0× nscd no: {verdict(r_no is not None and r_no >= 1.0)}; "
            f"socket only ≥ 1.3×: {verdict(r_sock is not None and r_sock >= 1.3)}")
    # DNS door
    cells, q = {}, {}
    for s in SERVERS:
        if su.dnsperf.get(s):
            q[s] = mean(su.dnsperf[s])
            runs = runs_text(su.dnsperf[s], su.dnsperf_busy[s])
            lost = f", {su.dnsperf_lost[s]} lost" if su.dnsperf_lost[s] else ""
            cells[s] = f"{fmt_int(q[s])} ({runs}{lost})"
    ru, rd = fmt_ratio(q.get("sidecache"), q.get("unbound")), fmt_ratio(q.get("sidecache"), q.get("dnsmasq"))
    row("DNS door: dnsperf QPS, -c 16 -q 200 (runs)", cells, f"{rtext(ru)} unbound; {rtext(rd)} dnsmasq",
        f"≥ 1.2× unbound: {verdict(ru is not None and ru >= 1.2)}")
    cells, q = {}, {}
    for s in SERVERS:
        if su.resperf.get(s):
            q[s] = mean(su.resperf[s])
            fell = [x for x in su.resperf_fell[s] if x is not None]
            note = f"; resperf fell behind at {', '.join(fmt_int(x) for x in fell)}" if fell else ""
            cells[s] = f"{fmt_int(q[s])} ({runs_text(su.resperf[s], su.resperf_busy[s])}{note})"
    ru, rd = fmt_ratio(q.get("sidecache"), q.get("unbound")), fmt_ratio(q.get("sidecache"), q.get("dnsmasq"))
    row("DNS door: resperf maximum throughput, QPS (runs)", cells, f"{rtext(ru)} unbound; {rtext(rd)} dnsmasq",
        f"≥ 1.2× unbound: {verdict(ru is not None and ru >= 1.2)}")
    cells, p50, p99 = {}, {}, {}
    rate = su.meta.get("latency_rate", "?")
    for s in SERVERS:
        if s in su.latency:
            p50[s], p99[s] = mean(su.latency[s]["p50"]), mean(su.latency[s]["p99"])
            star = "\\*" if su.latency[s]["busy"] else ""
            cells[s] = f"{fmt_int(p50[s])} / {fmt_int(p99[s])}{star}"
    ru, rd = fmt_ratio(p99.get("sidecache"), p99.get("unbound")), fmt_ratio(p99.get("sidecache"), p99.get("dnsmasq"))
    r50 = fmt_ratio(p50.get("sidecache"), p50.get("unbound"))
    row(f"DNS door: p50 / p99 µs at {int(num(rate) or 0):,} QPS ↓", cells,
        f"p50 {rtext(r50)}, p99 {rtext(ru)} unbound; p99 {rtext(rd)} dnsmasq",
        f"p50 and p99 ≤ unbound: {verdict(ru is not None and ru <= 1.0 and r50 is not None and r50 <= 1.0)}")
    # first address
    cells, worst = {}, {}
    for s in SERVERS:
        parts = []
        for d in ("gai", "dns"):
            r = su.first.get((s, d))
            if r:
                share = num(r["top_share"])
                worst[s] = max(worst.get(s, 0), share)
                err = f", {r['errors']} errors" if r["errors"] != "0" else ""
                parts.append((f"{DOOR[d]} " if s == "sidecache" else "") + f"{share:.0f} % ({r['distinct']} first{err})")
                if s.startswith("sidecache"):
                    worst["sidecache"] = max(worst.get("sidecache", 0), share)
        if parts:
            cells[s] = "; ".join(parts)
    sc = worst.get("sidecache")
    row("first-address share, 4 A records (distinct first addresses) ↓", cells, "",
        f"≤ 30 % (25 % is even): {verdict(sc is not None and sc <= 30)}")
    # staleness
    cells, worst_stale, unseen = {}, None, False
    for s in SERVERS:
        parts = []
        for d in ("dns", "gai"):
            if (s, d) in su.stale:
                v, bound = su.stale_ms(s, d)
                parts.append((f"{DOOR[d]} " if s == "sidecache" else "") + stale_text(v, bound))
                if s.startswith("sidecache"):
                    if v is None:
                        unseen = True
                    else:
                        worst_stale = v if worst_stale is None else max(worst_stale, v)
        if parts:
            cells[s] = "; ".join(parts)
    row(f"staleness: new answer seen this long after the TTL ({su.meta.get('stale_ttl', '?')} s) ended ↓", cells, "",
        f"≤ 50 ms: {verdict(not unseen and worst_stale is not None and worst_stale <= 50)}")
    # cache pass
    cells = {}
    for s in SERVERS:
        parts = []
        for d in ("gai", "dns"):
            r = su.passes.get((s, d))
            if r:
                h = su.hit_pct(s, d)
                lost = int(r["first_lost"]) + int(r["second_lost"])
                extra = f", {lost} unanswered" if lost else ""
                secs = f" in {num(r['first_secs']):.1f} s" if num(r.get("first_secs")) is not None else ""
                parts.append((f"{DOOR[d]} " if s == "sidecache" else "")
                             + f"{'–' if h is None else f'{h:.1f}'} %, {su.pass_rss(s, d) / 1024:.1f} MiB "
                             + f"(first pass: {int(r['upstream_first']):,} upstream queries{secs}){extra}")
        if parts:
            cells[s] = "; ".join(parts)
    names = int(num(su.meta.get("pass_names")) or 0)
    row(f"cache pass, {names:,} names asked twice: hit % of the second pass, RSS after ↓", cells,
        f"RSS {rtext(fmt_ratio(su.pass_rss('sidecache', 'gai'), su.pass_rss('nscd-no', 'gai')))} nscd (nscd door); "
        f"{rtext(fmt_ratio(su.pass_rss('sidecache', 'dns'), su.pass_rss('unbound', 'dns')))} unbound, "
        f"{rtext(fmt_ratio(su.pass_rss('sidecache', 'dns'), su.pass_rss('dnsmasq', 'dns')))} dnsmasq (DNS door)", "")
    # idle RSS
    cells = {}
    for s in SERVERS:
        if su.idle_rss(s) is not None:
            anon = median(su.starts[s]["anon"])
            cells[s] = f"{su.idle_rss(s) / 1024:.1f} MiB ({anon / 1024:.1f} anonymous)"
    si = su.idle_rss("sidecache")
    row("idle RSS, after start (median) ↓", cells,
        "; ".join(f"{rtext(fmt_ratio(si, su.idle_rss(s)))} {SHORT[s]}" for s in ("nscd-no", "unbound", "dnsmasq")),
        f"≤ 16 MiB: {verdict(si is not None and si <= 16 * 1024)}")
    # cold start
    cells = {}
    for s in SERVERS:
        if s not in su.starts:
            continue
        st = su.starts[s]
        n = len([x for x in st["ready"] if x is not None])
        if s.startswith("sidecache"):
            cells[s] = (f"/readyz {median(st['ready']):.0f} ms; first DNS answer {median(st['dns']):.0f}, "
                        f"first nscd answer {median(st['nscd']):.0f} ({n} starts)")
        else:
            cells[s] = f"{median(st['ready']):.0f} ms ({n} starts)"
    sc = su.cold("sidecache")
    row("cold start to ready (first answer for the others), median ↓", cells,
        "; ".join(f"{rtext(fmt_ratio(sc, su.cold(s)))} {SHORT[s]}" for s in ("nscd-no", "unbound", "dnsmasq")), "")
    out.append("")
    other = [(k, num(x.get("other_cpu"))) for k in ("gai", "dnsperf", "resperf", "latency") for x in su.rec.get(k, [])]
    other = [(k, v) for k, v in other if v is not None]
    if other:
        worst = max(other, key=lambda kv: kv[1])
        n_busy = len([v for _, v in other if v > BUSY])
        out.append(f"CPU used by processes outside the pod during the {len(other)} timed runs (other work on the "
                   f"machine): mean {mean([v for _, v in other]):.0f} %, at most {worst[1]:.0f} % of one core "
                   f"(in a {worst[0]} run). \\* marks a figure with a run during which it exceeded {BUSY} % "
                   f"({n_busy} of {len(other)} runs): such runs had less than the whole machine.")
    base = su.rec.get("baseline")
    if base:
        out.append(f"Check with no server on the nscd socket (the getaddrinfo clients' own DNS is dead): "
                   f"{base[0].get('ok', '?')} of {base[0].get('calls', '?')} names resolved.")
    dist = []
    for s in SERVERS:
        for d in ("gai", "dns"):
            r = su.first.get((s, d))
            if r:
                dist.append(f"{SHORT[s]} {DOOR[d]}: {r['dist'].replace(',', ', ')}")
    if dist:
        out.append(f"First addresses over {su.meta.get('first_count', '?')} lookups each: " + "; ".join(dist) + ".")
    return "\n".join(out) + "\n"


def tick(s):
    return SHORT[s].replace("sidecache socket", "sidecache\nsocket")


def chart(su, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams["svg.fonttype"] = "none"  # text stays text: smaller, searchable SVG
    plt.rcParams["svg.hashsalt"] = "sidecache"  # stable element ids from run to run

    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    fig.suptitle(f"sidecache benchmark suite, {su.meta.get('date', '')} ({su.meta.get('mode', '')} run, "
                 f"{su.meta.get('cores', '?')} cores)", fontsize=13)

    def bars(ax, groups, servers, value, ylabel, title, log=False, line=None, line_label=None, fmt="{:,.0f}"):
        width = 0.8 / len(servers)
        for i, s in enumerate(servers):
            vals = [value(s, g) for g in groups]
            xs = [j + (i - (len(servers) - 1) / 2) * width for j in range(len(groups))]
            hv = [v if v is not None else 0 for v in vals]
            b = ax.bar(xs, hv, width, label=SHORT[s], color=COLOR[s])
            for rect, v in zip(b, vals):
                if v is not None:
                    ax.annotate(fmt.format(v), (rect.get_x() + rect.get_width() / 2, rect.get_height()),
                                ha="center", va="bottom", fontsize=6.5, rotation=90, xytext=(0, 2),
                                textcoords="offset points")
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels([g[1] for g in groups], fontsize=8)
        ax.set_ylabel(ylabel, fontsize=9)
        ax.set_title(title, fontsize=10)
        if log:
            ax.set_yscale("log")
            top = max([value(s, g) or 0 for s in servers for g in groups] + [1])
            ax.set_ylim(top=top * 60)
        if line is not None:
            ax.axhline(line, color="black", linestyle="--", linewidth=0.8, label=line_label)
        ax.margins(y=0.35)
        ax.legend(fontsize=7, loc="upper center", ncol=len(servers) + (line is not None))

    cfgs = [((t, f), f"{t} thr {'INET' if f == 'inet' else 'UNSPEC'}") for (t, f) in su.gai_configs]
    bars(axes[0][0], cfgs, ["sidecache", "sidecache-socket", "nscd-no", "nscd-yes"],
         lambda s, g: su.gai_cps(s, *g[0]), "getaddrinfo calls/s (log)", "nscd door: getaddrinfo throughput", log=True)
    dns_groups = [("dnsperf", "dnsperf QPS"), ("resperf", "resperf max QPS")]
    bars(axes[0][1], dns_groups, ["sidecache", "unbound", "dnsmasq"],
         lambda s, g: mean((su.dnsperf if g[0] == "dnsperf" else su.resperf).get(s, [])), "queries/s",
         "DNS door: throughput")
    lat_groups = [("p50", "p50"), ("p99", "p99")]
    bars(axes[0][2], lat_groups, ["sidecache", "unbound", "dnsmasq"],
         lambda s, g: mean(su.latency[s][g[0]]) if s in su.latency else None, "µs",
         f"DNS door: latency at {int(num(su.meta.get('latency_rate')) or 0):,} QPS")
    # staleness: one bar per server/door; unseen ones drawn at the bound and hatched
    ax = axes[1][0]
    items = [(s, d) for s in SERVERS for d in ("dns", "gai") if (s, d) in su.stale]
    vals, labels, colors, hatches = [], [], [], []
    for s, d in items:
        v, bound = su.stale_ms(s, d)
        vals.append(v if v is not None else bound)
        labels.append(f"{tick(s)}\n{DOOR[d]}")
        colors.append(COLOR[s])
        hatches.append("//" if v is None else "")
    b = ax.bar(range(len(items)), vals, color=colors)
    for rect, h, (s, d) in zip(b, hatches, items):
        rect.set_hatch(h)
        v, bound = su.stale_ms(s, d)
        label = stale_text(v, bound).replace(" (not seen)", "").replace(" (refreshed before expiry)", "")
        ax.annotate(label, (rect.get_x() + rect.get_width() / 2, max(rect.get_height(), 0)), ha="center",
                    va="bottom", fontsize=7, xytext=(0, 2), textcoords="offset points")
    ax.set_yscale("symlog", linthresh=10)
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.axhline(50, color="black", linestyle="--", linewidth=0.8, label="target 50 ms")
    ax.set_xticks(range(len(items)))
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_ylabel("ms after TTL end (symmetric log)", fontsize=9)
    ax.set_title("staleness after expiry (hatched: not seen within the bound)", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    ax.margins(y=0.25)
    # first-address share
    ax = axes[1][1]
    items = [(s, d) for s in SERVERS for d in ("gai", "dns") if (s, d) in su.first]
    vals = [num(su.first[k]["top_share"]) for k in items]
    b = ax.bar(range(len(items)), vals, color=[COLOR[s] for s, _ in items])
    for rect, v in zip(b, vals):
        ax.annotate(f"{v:.0f} %", (rect.get_x() + rect.get_width() / 2, rect.get_height()), ha="center",
                    va="bottom", fontsize=7, xytext=(0, 2), textcoords="offset points")
    ax.axhline(30, color="black", linestyle="--", linewidth=0.8, label="target 30 %")
    ax.axhline(25, color="grey", linestyle=":", linewidth=0.8, label="even 25 %")
    ax.set_xticks(range(len(items)))
    ax.set_xticklabels([f"{tick(s)}\n{DOOR[d]}" for s, d in items], fontsize=7)
    ax.set_ylim(0, 115)
    ax.set_ylabel("% of lookups with the most frequent first address", fontsize=9)
    ax.set_title("first-address share, 4 A records", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    # memory and cold start
    ax = axes[1][2]
    mem_groups = [("idle", "idle RSS"), ("gai", "RSS after 10k pass,\nnscd door"), ("dns", "RSS after 10k pass,\nDNS door")]

    def mem(s, g):
        v = su.idle_rss(s) if g[0] == "idle" else su.pass_rss(s, g[0])
        return v / 1024 if v is not None else None
    bars(ax, mem_groups, ["sidecache", "nscd-no", "unbound", "dnsmasq"], mem, "MiB",
         "memory (and cold start, ms, in the legend)", line=16, line_label="target 16 MiB idle", fmt="{:.1f}")
    handles, labels = ax.get_legend_handles_labels()
    labels = [f"{lab} — start {su.cold(s):.0f} ms" if s and su.cold(s) is not None else lab
              for lab, s in zip(labels, [next((k for k, v in SHORT.items() if v == lab), None) for lab in labels])]
    ax.legend(handles, labels, fontsize=7, loc="upper left", ncol=2)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, format=os.path.splitext(path)[1][1:] or "svg")


def update_docs(doc_path, table, svg_rel, meta):
    begin, end = "<!-- suite:begin -->", "<!-- suite:end -->"
    quick = meta.get("mode") == "quick"
    block = (f"{begin}\n{table}\n![The suite's figures: getaddrinfo and DNS throughput, DNS latency, staleness, "
             f"first-address share, memory and cold start]({svg_rel})\n{end}")
    text = open(doc_path).read()
    if begin in text and end in text:
        a, b = text.index(begin), text.index(end) + len(end)
        text = text[:a] + block + text[b:]
    else:
        section = (f"## Suite — `sudo bash bench/run.sh`\n\n"
                   f"One command measures sidecache against glibc nscd, unbound and dnsmasq in the pod of "
                   f"`Tests/Scenarios/pod-lib.sh` and writes this table and the chart (`--quick` for a short run).\n\n"
                   f"{block}\n\n")
        at = text.index("## Summary") if "## Summary" in text else len(text)
        text = text[:at] + section + text[at:]
    if quick:
        print("report.py: not writing the docs from a quick run", file=sys.stderr)
        return
    with open(doc_path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--markdown", required=True)
    ap.add_argument("--svg", required=True)
    ap.add_argument("--docs")
    ap.add_argument("--docs-svg")
    a = ap.parse_args()
    meta, rec = parse(a.results)
    su = Suite(meta, rec)
    table = markdown(su)
    with open(a.markdown, "w") as f:
        f.write(table)
    chart(su, a.svg)
    if a.docs:
        os.makedirs(os.path.dirname(a.docs_svg), exist_ok=True)
        chart(su, a.docs_svg)
        update_docs(a.docs, table, os.path.relpath(a.docs_svg, os.path.dirname(a.docs)), meta)


if __name__ == "__main__":
    main()
