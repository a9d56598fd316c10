#!/bin/sh
# SPDX-License-Identifier: ISC
# Bar chart of a bench/bench.sh --json file: msgs/s per column, the
# project's ./smtpd beside Postfix's smtp-sink, with ours/smtp-sink under
# each column.
#
#   bench/plot.sh RESULT.json [OUT.png]      (default OUT: RESULT.png)
#
# Needs gnuplot (Debian: apt-get install -y gnuplot-nox) and python3.
set -eu
[ $# -ge 1 ] || { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
json=$1
png=${2:-${json%.json}.png}
if ! command -v gnuplot >/dev/null 2>&1; then
    echo "plot.sh: needs gnuplot: apt-get install -y gnuplot-nox" >&2
    exit 2
fi
[ -r "$json" ] || { echo "plot.sh: cannot read $json" >&2; exit 2; }
data=$(mktemp "${TMPDIR:-/tmp}/smtpd-plot.XXXXXX")
trap 'rm -f "$data"' EXIT

# One line per column: label ours sink; a failed cell is 0 (drawn as FAIL).
# The first line is the title.
python3 - "$json" >"$data" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
title = (f"smtp-source throughput, msgs/s (median of {d.get('rounds', '?')} rounds,"
         f" {d.get('mode', '?')} run, {d.get('date', '')[:16].replace('T', ' ')})")
print("#", title)
for key, case in d["cases"].items():
    s = case["servers"]
    vals = [(s.get(k) or {}).get("msgs_per_s") or 0 for k in ("project", "smtp-sink")]
    r = case.get("ratio_msgs_per_s")
    label = f"{key}\\n{r:.2f}x" if r else f"{key}\\nn/a"
    print(f'"{label}" {vals[0]} {vals[1]}')
PY
title=$(sed -n '1s/^# //p' "$data")
ncases=$(grep -c '^"' "$data" || true)
[ "$ncases" -gt 0 ] || { echo "plot.sh: no cases in $json" >&2; exit 2; }

gnuplot <<GP
set terminal pngcairo size 900,520 font "DejaVu Sans,11"
set output "$png"
set title "$title"
set style data histograms
set style histogram clustered gap 1.5
set style fill solid 0.85 border -1
set boxwidth 0.9
set key top left
set ylabel "messages / second (higher is better)"
set xlabel "case, and ours/smtp-sink msgs/s ratio" offset 0,-0.8
set bmargin 5
set yrange [0:*]
set xrange [-0.6:$ncases - 0.4]
set offsets 0, 0, graph 0.12, 0
set grid ytics
set xtics nomirror scale 0
set datafile commentschars "#"
plot "$data" using 2:xtic(1) title "project ./smtpd" lc rgb "#2b6cb0", \
     ""      using 3 title "postfix smtp-sink" lc rgb "#b0b0b0", \
     ""      using (\$0 - 0.18):2:(\$2 > 0 ? sprintf("%.0f", \$2) : "FAIL") with labels offset 0,0.7 font ",9" notitle, \
     ""      using (\$0 + 0.18):3:(\$3 > 0 ? sprintf("%.0f", \$3) : "FAIL") with labels offset 0,0.7 font ",9" notitle
GP
echo "plot.sh: wrote $png" >&2
