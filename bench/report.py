#!/usr/bin/env python3
"""Comparison report of one bench/run.sh run (Huiying vs Orthanc), as markdown.

  report.py --huiying DIR --orthanc DIR [--orthanc-label L] [--gen-args A] [--reps N] [--elapsed S]
            [--huiying-cmd C] [--orthanc-cmd C] [--rc huiying=0,orthanc=0]      -> markdown on stdout
  report.py --splice docs/benchmarks.md --from report.md
            replaces the text between <!-- bench:begin --> and <!-- bench:end --> in the doc.

DIR is a run_peer.sh results folder (raw.tsv, meta.txt); a missing one shows as "not measured".
Ratios are taken per run (value / limit of the same run) and the median is shown, like benchlib.py.
Stdlib only.
"""
import argparse
import os
import statistics
import sys

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

# The targets: (label, metric, divisor metric, required ratio)
TARGETS = [
    ("C-STORE ingest, 1 association ÷ dcmtk storescu→storescp (1 assoc.)", "cstore_1assoc_MBps", "L_dcmtk_store_MBps", 0.85),
    ("C-STORE ingest, 4 associations ÷ dcmtk storescu→storescp (1 assoc.)", "cstore_4assoc_MBps", "L_dcmtk_store_MBps", 0.95),
    ("small one-image studies ÷ dcmtk filler rate", "cstore_filler_small_inst_s", "L_dcmtk_store_filler_inst_s", 0.80),
]


def read_raw(path):
    meta, vals, order = {}, {}, []
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            rep, metric, value, unit, better, lim1, lim2 = (line.rstrip("\n").split("\t") + [""] * 7)[:7]
            try:
                value = float(value)
            except ValueError:
                continue
            if metric not in meta:
                order.append(metric)
                meta[metric] = dict(unit=unit, better=better, lim1=lim1, lim2=lim2)
            vals[(int(rep), metric)] = value
    return meta, vals, order


def load(d):
    if not d or not os.path.isfile(os.path.join(d, "raw.tsv")):
        return None
    meta, vals, order = read_raw(os.path.join(d, "raw.tsv"))
    if not any(m for m in order if not m.startswith("env_")):
        return None
    info = {}
    mp = os.path.join(d, "meta.txt")
    if os.path.isfile(mp):
        for line in open(mp):
            k, _, v = line.partition(": ")
            info[k.strip()] = v.strip()
    return dict(dir=d, meta=meta, vals=vals, order=order, info=info)


def fmt(x):
    if x is None:
        return "–"
    ax = abs(x)
    return "%.0f" % x if ax >= 100 else "%.1f" % x if ax >= 10 else "%.2f" % x if ax >= 1 else "%.3f" % x


def series(run, metric):
    return [x for (r, m), x in sorted(run["vals"].items()) if m == metric]


def ratio(run, metric, lim):
    if run is None or not lim:
        return None
    rs = [x / run["vals"][(r, lim)] for (r, m), x in run["vals"].items()
          if m == metric and run["vals"].get((r, lim))]
    return statistics.median(rs) if rs else None


def cell(run, metric):
    if run is None:
        return "not measured"
    v = series(run, metric)
    if not v:
        return "–"
    return "%s [%s–%s]" % (fmt(statistics.median(v)), fmt(min(v)), fmt(max(v)))


def report(a):
    h, o = load(a.huiying), load(a.orthanc)
    ol = a.orthanc_label
    rc = dict(kv.split("=", 1) for kv in a.rc.split(",") if "=" in kv)
    out = [BEGIN, ""]
    ref = o or h
    info = ref["info"] if ref else {}
    out.append("### Last run")
    out.append("")
    out.append("- date: %s; elapsed %s s; reps %s" % (info.get("date", "?"), a.elapsed, a.reps))
    out.append("- machine: %s cores, %s, kernel %s" % (info.get("nproc", "?"), info.get("cpu", "?"), info.get("kernel", "?")))
    out.append("- dataset: `GEN_ARGS='%s'` → %s" % (a.gen_args, info.get("dataset", "?")))
    out.append("- TCP_NODELAY %s, netns %s" % (info.get("TCP_NODELAY", "?"), info.get("netns", "?")))
    out.append("- exit status: Huiying %s, %s %s" % (rc.get("huiying", "?"), ol, rc.get("orthanc", "?")))
    out.append("- results: `%s`, `%s`" % (a.huiying if h else "(none)", a.orthanc if o else "(none)"))
    out.append("")
    out.append("Commands (from the repository root, run by `bench/run.sh`):")
    out.append("")
    out.append("```")
    out.append("GEN_ARGS='%s' %s" % (a.gen_args, a.huiying_cmd))
    out.append("GEN_ARGS='%s' %s" % (a.gen_args, a.orthanc_cmd))
    out.append("```")
    out.append("")
    out.append("### Targets")
    out.append("")
    out.append("| target | required | Huiying | %s |" % ol)
    out.append("|---|---|---|---|")
    for label, metric, lim, req in TARGETS:
        cells = []
        for run in (h, o):
            r = ratio(run, metric, lim)
            if run is None:
                cells.append("**not measured**")
            elif r is None:
                cells.append("–")
            else:
                cells.append("%s %s" % (fmt(r), "✅" if r >= req else "❌") if run is h else fmt(r))
        out.append("| %s | ≥ %.2f | %s | %s |" % (label, req, cells[0], cells[1]))
    out.append("| peak RSS while receiving a 500 MB multi-frame instance (`bench/big-instance.sh`) | ≤ 200 MB "
               "| see below | – |")
    out.append("")
    out.append("### All figures")
    out.append("")
    out.append("Median [min–max] over the runs; ÷ limit and ÷ floor are medians of per-run ratios "
               "to the limit / floor named in the last column, measured in the same run.")
    out.append("")
    out.append("| figure | unit | Huiying | ÷ limit | ÷ floor | %s | ÷ limit | ÷ floor | limit / floor |" % ol)
    out.append("|---|---|---|---|---|---|---|---|---|")
    order = []
    for run in (h, o):
        if run:
            for m in run["order"]:
                if m not in order:
                    order.append(m)
    for m in order:
        if m.startswith("env_"):
            continue
        mm = (h or {}).get("meta", {}).get(m) or (o or {}).get("meta", {}).get(m)
        lim1, lim2 = mm["lim1"], mm["lim2"]
        row = [m, mm["unit"]]
        for run in (h, o):
            row += [cell(run, m), fmt(ratio(run, m, lim1)) if run else "", fmt(ratio(run, m, lim2)) if run else ""]
        row.append(" / ".join(x for x in (lim1, lim2) if x) or "")
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    out.append(END)
    print("\n".join(out))


def splice(a):
    body = open(a.from_).read().strip("\n")
    doc = open(a.splice).read() if os.path.isfile(a.splice) else ""
    if BEGIN in doc and END in doc:
        pre, rest = doc.split(BEGIN, 1)
        _, post = rest.split(END, 1)
        doc = pre + body + post
    else:
        doc = doc.rstrip("\n") + "\n\n## Results\n\n" + body + "\n"
    open(a.splice, "w").write(doc)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--huiying", default="")
    ap.add_argument("--orthanc", default="")
    ap.add_argument("--orthanc-label", default="Orthanc 1.10")
    ap.add_argument("--gen-args", default="")
    ap.add_argument("--reps", default="?")
    ap.add_argument("--elapsed", default="?")
    ap.add_argument("--huiying-cmd", default="")
    ap.add_argument("--orthanc-cmd", default="")
    ap.add_argument("--rc", default="")
    ap.add_argument("--splice", default="")
    ap.add_argument("--from", dest="from_", default="")
    a = ap.parse_args()
    if a.splice:
        splice(a)
    else:
        report(a)


if __name__ == "__main__":
    sys.exit(main())
