#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""seqdiag.py - draw a sequence diagram with Graphviz: read a small text
format, write a Graphviz graph whose every node is pinned in place, for
`neato -n2` to render.  `make docs` runs it on docs/session.seq:

    python3 docs/seqdiag.py docs/session.seq | neato -n2 -Tsvg -o docs/session.svg

The format, one item a line ('#' starts a comment, '\\n' breaks a label):

    actor NAME = LABEL          a column, left to right in order
    A -> B : TEXT               a message from A to B
    A --> B : TEXT              a reply or return (dashed)
    note A : TEXT               a box on A's line (what A does)
    --- : TEXT                  a separator across the diagram
"""
import re
import sys

COL = 260          # points between two columns
MARGIN = 150       # left of the first column, right of the last
LINE = 14          # height of a line of text
FONT = 'Helvetica'


def esc(s):
    return s.replace('\\', '\\\\').replace('"', '\\"')


def label(text):
    """A Graphviz label: lines centred ('\\n' in the source breaks a line)."""
    return esc(text).replace('\\\\n', '\\n')


def parse(path):
    """The actors [(name, label)] and the items, in order."""
    actors, items = [], []
    for n, raw in enumerate(open(path, encoding='utf-8'), 1):
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        uses = ()
        if (m := re.match(r'actor\s+(\w+)\s*=\s*(.+)$', line)):
            actors.append((m.group(1), m.group(2)))
        elif (m := re.match(r'note\s+(\w+)\s*:\s*(.*)$', line)):
            items.append(('note', m.group(1), m.group(2)))
            uses = (m.group(1),)
        elif (m := re.match(r'---\s*:\s*(.*)$', line)):
            items.append(('sep', m.group(1)))
        elif (m := re.match(r'(\w+)\s*(-->|->)\s*(\w+)\s*:\s*(.*)$', line)):
            items.append(('msg',) + m.groups())
            uses = (m.group(1), m.group(3))
        else:
            sys.exit('%s:%d: cannot read: %s' % (path, n, line))
        for a in uses:
            if a not in [name for name, _ in actors]:
                sys.exit('%s:%d: unknown actor %s' % (path, n, a))
    return actors, items


def lines(text):
    return text.count('\\n') + 1


def render(actors, items, out):
    x = {a: MARGIN + i * COL for i, (a, _) in enumerate(actors)}
    width = 2 * MARGIN + (len(actors) - 1) * COL
    w = out.write
    w('digraph seq {\n')
    w('\tgraph [bgcolor=white, pad=0.2, splines=line, outputorder=edgesfirst];\n')
    w('\tnode [fontname="%s", fontsize=11, shape=plaintext, margin=0, width=0, height=0];\n' % FONT)
    w('\tedge [fontname="%s", arrowsize=0.8, color="#333333"];\n' % FONT)
    pt = [0]

    def point(px, py):
        pt[0] += 1
        name = 'p%d' % pt[0]
        w('\t%s [shape=point, width=0.01, height=0.01, style=invis, pos="%d,%d!"];\n'
          % (name, px, py))
        return name

    def heads(py, tag):
        for a, text in actors:
            w('\t%s_%s [shape=box, style="rounded,filled", fillcolor="#e3f2fd", '
              'margin="0.15,0.06", label="%s", pos="%d,%d!"];\n'
              % (tag, a, label(text), x[a], py))

    y = 0
    heads(y, 'top')
    y -= 40
    top = y
    for it in items:
        if it[0] == 'msg':
            _, a, arrow, b, text = it
            n = lines(text)
            y -= n * LINE + 4
            mid = (x[a] + x[b]) / 2
            w('\tl%d [label="%s", style=filled, fillcolor=white, pos="%d,%d!"];\n'
              % (pt[0], label(text), mid, y + n * LINE / 2 + 3))
            style = ', style=dashed' if arrow == '-->' else ''
            w('\t%s -> %s [penwidth=1.2%s];\n' % (point(x[a], y), point(x[b], y), style))
            y -= 14
        elif it[0] == 'note':
            _, a, text = it
            n = lines(text)
            y -= n * LINE / 2 + 8
            w('\tn%d [shape=box, style="filled", fillcolor="#fff8e1", color="#b08800", '
              'fontsize=10, fontname="Courier", margin="0.1,0.04", label="%s", pos="%d,%d!"];\n'
              % (pt[0], label(text), x[a], y))
            pt[0] += 1
            y -= n * LINE / 2 + 14
        else:
            _, text = it
            y -= 12
            w('\t%s -> %s [dir=none, style=dotted, color="#777777"];\n'
              % (point(20, y), point(width - 20, y)))
            w('\ts%d [label="%s", style=filled, fillcolor=white, fontsize=10, '
              'fontcolor="#555555", margin="0.06,0.02", pos="%d,%d!"];\n'
              % (pt[0], label(text), width / 2, y))
            pt[0] += 1
            y -= 18
    y -= 10
    for a, _ in actors:
        w('\t%s -> %s [dir=none, style=dashed, color="#999999"];\n'
          % (point(x[a], top + 25), point(x[a], y)))
    w('}\n')


def main():
    if len(sys.argv) != 2:
        sys.exit('usage: seqdiag.py FILE.seq > FILE.dot')
    actors, items = parse(sys.argv[1])
    render(actors, items, sys.stdout)


if __name__ == '__main__':
    main()
