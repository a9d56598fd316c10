# SPDX-License-Identifier: ISC
"""The documentation cannot rot: the tour's excerpts match the code, its
exercise code compiles, the names it uses exist, the diagrams are drawn from
their sources, and the man page and `smtpd --help` list the same options.

docs/TOUR.md marks each code block with what it is:

    <!-- excerpt: server.c -->     the block's lines appear, in order and
                                   contiguously, in server.c (whitespace and
                                   blank lines aside); a line `...` marks
                                   lines left out between two runs
    <!-- compile: NAME.c -->       the block is a C file that compiles
                                   against the headers in the repository

Every ```c block must carry one of the two marks.
"""
import glob
import html
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import unittest

from helpers import REPO, smtpd_path

DOCS = os.path.join(REPO, 'docs')
TOUR = os.path.join(DOCS, 'TOUR.md')
MAN = os.path.join(REPO, 'smtpd.1')
README = os.path.join(REPO, 'README')
RUN_TIMEOUT = 30

MARK = re.compile(r'<!--\s*(excerpt|compile):\s*(\S+)\s*-->')
FENCE = re.compile(r'^```(\w*)\s*$')


def read(path):
    with open(path, encoding='utf-8') as f:
        return f.read()


def normalise(line):
    return ' '.join(line.split())


def code_blocks(text):
    """Every fenced block: (language, mark kind, mark argument, first line
    number, lines).  The mark is the nearest non-blank line above the fence."""
    lines = text.split('\n')
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, lang = i, m.group(1)
        j = i + 1
        while j < len(lines) and not lines[j].startswith('```'):
            j += 1
        above = start - 1
        while above >= 0 and not lines[above].strip():
            above -= 1
        mark = MARK.search(lines[above]) if above >= 0 else None
        blocks.append((lang, mark.group(1) if mark else None,
                       mark.group(2) if mark else None, start + 1,
                       lines[start + 1:j]))
        i = j + 1
    return blocks


def chunks(lines):
    """An excerpt's runs of normalised, non-blank lines, split at `...`."""
    runs, run = [], []
    for line in lines:
        n = normalise(line)
        if n == '...':
            if run:
                runs.append(run)
            run = []
        elif n:
            run.append(n)
    if run:
        runs.append(run)
    return runs


def find_run(source, run, start):
    """Index of run in source at or after start, or -1."""
    for i in range(start, len(source) - len(run) + 1):
        if source[i:i + len(run)] == run:
            return i
    return -1


def closest(source, run):
    """How much of run matches somewhere: (lines matched, source index)."""
    best = (0, -1)
    for i in range(len(source)):
        k = 0
        while k < len(run) and i + k < len(source) and source[i + k] == run[k]:
            k += 1
        if k > best[0]:
            best = (k, i)
    return best


def prose(text):
    """The tour without its fenced code blocks, up to the exercises (which
    name what the reader is asked to add)."""
    text = re.sub(r'^```.*?^```\s*$', '', text, flags=re.M | re.S)
    return re.split(r'\n## \d+\. Exercises', text)[0]


def code_spans(text):
    """The `...` spans of prose, white space normalised (a span may wrap)."""
    return [normalise(s) for s in re.findall(r'`([^`]+)`', prose(text))]


def source_words():
    """Every identifier in the repository's C, headers, Python and docs
    sources, for checking that the names the documentation uses exist."""
    words = set()
    patterns = ['*.c', '*.h', 'web/*.c', 'web/*.h', 'tests/**/*.c',
                'tests/**/*.h', 'tests/**/*.py',
                'docs/*.py', 'examples/*.c', 'fuzz/*.c']
    for pat in patterns:
        for path in glob.glob(os.path.join(REPO, pat), recursive=True):
            words.update(re.findall(r'[A-Za-z_][A-Za-z0-9_]*', read(path)))
    return words


def defines():
    """Every macro #defined in the repository's C sources and headers."""
    names = set()
    for path in glob.glob(os.path.join(REPO, '*.[ch]')):
        names.update(re.findall(r'^#define\s+([A-Za-z_]\w*)', read(path), re.M))
    return names


class TourExcerptsTest(unittest.TestCase):
    """docs/TOUR.md quotes the code as it is."""

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.tour = read(TOUR)
        cls.blocks = code_blocks(cls.tour)

    def test_every_c_block_is_an_excerpt_or_compiled(self):
        unmarked = [line for lang, kind, _, line, _ in self.blocks
                    if lang == 'c' and kind is None]
        self.assertEqual(unmarked, [], 'TOUR.md: ```c blocks at these lines '
                         'need <!-- excerpt: FILE --> or <!-- compile: NAME.c -->')

    def test_the_tour_has_excerpts_from_server_c_and_channel_c(self):
        files = {arg for _, kind, arg, _, _ in self.blocks if kind == 'excerpt'}
        self.assertLessEqual({'server.c', 'channel.c'}, files)

    def test_excerpts_match_their_source_files(self):
        excerpts = [(arg, line, body) for _, kind, arg, line, body in self.blocks
                    if kind == 'excerpt']
        self.assertTrue(excerpts, 'no excerpts found in TOUR.md')
        problems = []
        for name, line, body in excerpts:
            path = os.path.join(REPO, name)
            if not os.path.exists(path):
                problems.append('TOUR.md:%d: no such file %s' % (line, name))
                continue
            source = [n for n in map(normalise, read(path).split('\n')) if n]
            runs = chunks(body)
            if not runs:
                problems.append('TOUR.md:%d: empty excerpt' % line)
            at = 0
            for run in runs:
                i = find_run(source, run, at)
                if i < 0:
                    k, _ = closest(source, run)
                    problems.append(
                        'TOUR.md:%d: the excerpt from %s no longer matches it: %s'
                        % (line, name, 'its parts are out of order' if k == len(run)
                           else 'no line %r after the %d before it'
                           % (run[k], k)))
                    break
                at = i + len(run)
        self.assertEqual(problems, [], '\n' + '\n'.join(problems) +
                         '\nCopy the code again from the source file.')

    def test_exercise_code_compiles(self):
        snippets = [(arg, line, body) for _, kind, arg, line, body in self.blocks
                    if kind == 'compile']
        self.assertTrue(snippets, 'no <!-- compile: --> blocks in TOUR.md')
        cc = os.environ.get('CC', 'cc')
        if shutil.which(cc) is None:
            self.skipTest('no C compiler (%s)' % cc)
        problems = []
        with tempfile.TemporaryDirectory() as tmp:
            for name, line, body in snippets:
                src = os.path.join(tmp, name)
                with open(src, 'w') as f:
                    f.write('\n'.join(body) + '\n')
                r = subprocess.run(
                    [cc, '-std=gnu11', '-Wall', '-Wextra', '-Werror', '-pthread',
                     '-I', REPO, '-c', '-o', os.path.join(tmp, name + '.o'), src],
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                    timeout=RUN_TIMEOUT)
                if r.returncode != 0:
                    problems.append('TOUR.md:%d: %s does not compile:\n%s'
                                    % (line, name, r.stdout.decode(errors='replace')))
        self.assertEqual(problems, [], '\n' + '\n'.join(problems))

    def test_file_and_function_names_exist(self):
        """`server.c: server_spawn` names a function defined in server.c."""
        route = '\n'.join(l for l in self.tour.split('\n')
                          if l.startswith('    ') and '\u2192' in l)
        refs = set(re.findall(r'\b((?:web/)?\w+\.[ch]): ([A-Za-z_]\w*)',
                              '\n'.join(code_spans(self.tour)) + '\n' + route))
        self.assertGreater(len(refs), 20, 'too few file: function references found')
        problems = []
        for name, ident in sorted(refs):
            path = os.path.join(REPO, name)
            if not os.path.exists(path):
                problems.append('no such file: %s' % name)
                continue
            if ident.isupper():
                pattern = r'^#define\s+%s\b' % ident
            else:
                pattern = r'^%s\(' % ident      # style(9): the name at column 0
            if not re.search(pattern, read(path), re.M):
                problems.append('%s: %s is not defined in %s' % (name, ident, name))
        self.assertEqual(problems, [], 'TOUR.md names what is not there')

    def test_names_in_backquotes_exist_in_the_sources(self):
        """Every `snake_case` or `UPPER_CASE` name the tour uses is in the code."""
        words = source_words()
        names = set()
        for span in code_spans(self.tour):
            names.update(re.findall(r'\b([a-z][a-z0-9]*(?:_[a-z0-9]+)+)\b', span))
            names.update(re.findall(r'\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b', span))
        self.assertGreater(len(names), 20)
        missing = sorted(n for n in names if n not in words)
        self.assertEqual(missing, [], 'TOUR.md uses names the code does not have')

    def test_no_line_numbers(self):
        """Line numbers rot at the first edit: name the function instead."""
        self.assertEqual(re.findall(r'\b\w+\.[ch]:\d+', self.tour), [])

    def test_relative_links_lead_somewhere(self):
        for target in re.findall(r'\]\(([^)#\s]+)(?:#[^)]*)?\)', self.tour):
            if re.match(r'[a-z]+:', target):
                continue
            with self.subTest(link=target):
                self.assertTrue(os.path.exists(os.path.join(DOCS, target)),
                                'TOUR.md links to %s, which does not exist' % target)

    def test_contents_links_match_headings(self):
        def slug(heading):
            s = re.sub(r'[^\w\- ]', '', heading.strip().lower())
            return s.replace(' ', '-')
        slugs = {slug(h) for h in re.findall(r'^#+ (.+)$', self.tour, re.M)}
        for anchor in re.findall(r'\]\(#([^)]+)\)', self.tour):
            with self.subTest(anchor=anchor):
                self.assertIn(anchor, slugs)

    def test_options_in_backquotes_are_real(self):
        helptext = help_text(self)
        opts = set()
        for span in code_spans(self.tour):
            opts.update(re.findall(r'(?<![\w-])(--[a-z][a-z0-9-]+)', span))
        self.assertTrue(opts)
        for opt in opts:
            with self.subTest(option=opt):
                self.assertIn(opt, helptext)

    def test_readme_leads_to_the_tour_and_the_man_page(self):
        readme = read(README)
        self.assertIn('docs/TOUR.md', readme)
        self.assertIn('smtpd.1', readme)


def readme_commands(first_word):
    """The README's indented shell commands that start with first_word,
    each with its backslash-continued lines joined."""
    cmds, cur = [], None
    for line in read(README).splitlines():
        if cur is not None:
            cur += ' ' + line.strip().rstrip('\\').strip()
            if not line.rstrip().endswith('\\'):
                cmds.append(cur)
                cur = None
        elif line.startswith('    ' + first_word + ' '):
            cur = line.strip().rstrip('\\').strip()
            if not line.rstrip().endswith('\\'):
                cmds.append(cur)
                cur = None
    return cmds


class QuickStartTest(unittest.TestCase):
    """The README's curl lines work as written, in an empty directory (no
    file the reader does not have), against the server they describe."""

    def setUp(self):
        if not os.path.exists(smtpd_path()):
            self.skipTest('no binary')
        if not shutil.which('curl'):
            self.skipTest('curl is not installed')
        from helpers import testing_python_reference
        if testing_python_reference():
            self.skipTest('the README describes our server')
        self.cwd = tempfile.mkdtemp(prefix='smtpd-readme-')
        self.addCleanup(shutil.rmtree, self.cwd, True)

    def run_readme(self, cmd, port):
        cmd = cmd.replace('localhost:8025', 'localhost:%d' % port)
        cmd = cmd.replace('/tmp/smtpd.pem', os.path.join(self.cwd, 'smtpd.pem'))
        r = subprocess.run(['sh', '-c', cmd], cwd=self.cwd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=RUN_TIMEOUT)
        self.assertEqual(r.returncode, 0, '%s\n%s' % (cmd, r.stderr.decode(errors='replace')))

    def server(self, *options):
        from helpers import Server
        srv = Server(*options).start()
        self.addCleanup(srv.cleanup)
        self.addCleanup(srv.stop)
        return srv

    def test_plain_curl_line(self):
        curls = [c for c in readme_commands('printf') if '| curl smtp://' in c]
        self.assertEqual(len(curls), 1, curls)
        srv = self.server()
        self.run_readme(curls[0], srv.port)
        self.assertIn('hello', srv.wait_for_messages(1)[0].lines)

    def test_verifying_curl_line_with_the_make_run_options(self):
        curls = [c for c in readme_commands('printf') if '--cacert' in c]
        self.assertEqual(len(curls), 1, curls)
        runs = [c for c in readme_commands('make') if '--tls-self-signed-out' in c]
        self.assertEqual(len(runs), 1, runs)
        args = shlex.split(runs[0])[2].split('=', 1)[1].split()
        args = [a.replace('/tmp/smtpd.pem', os.path.join(self.cwd, 'smtpd.pem'))
                for a in args]
        from test_tls import tls_built
        if not tls_built():
            self.skipTest('smtpd was built with TLS=no')
        srv = self.server(*args)
        self.run_readme(curls[0], srv.port)
        self.assertIn('hello', srv.wait_for_messages(1)[0].lines)


def diagram_labels(path):
    """The lines of text a diagram's source asks to be drawn."""
    text = read(path)
    if path.endswith('.dot'):
        raw = [l for l in re.findall(r'label="((?:[^"\\]|\\.)*)"', text)]
    else:
        spec = importlib.util.spec_from_file_location(
            'seqdiag', os.path.join(DOCS, 'seqdiag.py'))
        seqdiag = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(seqdiag)
        actors, items = seqdiag.parse(path)
        raw = [label for _, label in actors] + [item[-1] for item in items]
    out = []
    for label in raw:
        for piece in re.split(r'\\[nlr]', label):
            piece = piece.replace('\\"', '"').strip()
            if piece:
                out.append(piece)
    return out


class DiagramsTest(unittest.TestCase):
    """docs/*.dot and docs/*.seq are drawn, beside them, as .svg and .png."""

    maxDiff = None

    def sources(self):
        found = sorted(glob.glob(os.path.join(DOCS, '*.dot')) +
                       glob.glob(os.path.join(DOCS, '*.seq')))
        self.assertGreaterEqual(len(found), 2, 'the diagrams\' sources are missing')
        return found

    def test_each_diagram_has_an_svg_and_a_png(self):
        for src in self.sources():
            base = os.path.splitext(src)[0]
            with self.subTest(diagram=os.path.basename(src)):
                with open(base + '.png', 'rb') as f:
                    self.assertEqual(f.read(8), b'\x89PNG\r\n\x1a\n')
                self.assertIn('<svg', read(base + '.svg'))

    def test_svg_is_drawn_from_the_current_source(self):
        """Every label in the source is text in the SVG: run `make docs`
        after editing a diagram."""
        problems = []
        for src in self.sources():
            svg = read(os.path.splitext(src)[0] + '.svg')
            texts = {html.unescape(t).strip()
                     for t in re.findall(r'<text[^>]*>(.*?)</text>', svg, re.S)}
            missing = [l for l in diagram_labels(src) if l not in texts]
            if missing:
                problems.append('%s has text its SVG lacks (%s): run make docs'
                                % (os.path.basename(src), ', '.join(map(repr, missing))))
        self.assertEqual(problems, [])

    def test_names_in_diagrams_exist_in_the_sources(self):
        words, macros = source_words(), defines()
        problems = []
        for src in self.sources():
            text = ' '.join(diagram_labels(src))
            for n in sorted(set(re.findall(r'\b([a-z][a-z0-9]*(?:_[a-z0-9]+)+)\b', text))):
                if n not in words:
                    problems.append('%s: %s' % (os.path.basename(src), n))
            for n in sorted(set(re.findall(r'\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b', text))):
                if n not in macros:
                    problems.append('%s: %s (no such #define)' % (os.path.basename(src), n))
        self.assertEqual(problems, [], 'the diagrams name what the code lacks')

    def test_the_tour_shows_every_diagram(self):
        tour = read(TOUR)
        for src in self.sources():
            base = os.path.basename(os.path.splitext(src)[0])
            with self.subTest(diagram=base):
                self.assertIn('](%s.png)' % base, tour)


def run(args, testcase):
    try:
        return subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=RUN_TIMEOUT, cwd=REPO)
    except subprocess.TimeoutExpired:
        testcase.fail('%s did not finish in %ds' % (' '.join(args), RUN_TIMEOUT))


def help_text(testcase):
    if not os.path.exists(smtpd_path()):
        testcase.skipTest('no binary %s' % smtpd_path())
    r = run([smtpd_path(), '--help'], testcase)
    testcase.assertEqual(r.returncode, 0)
    return r.stdout.decode()


def man_text(source):
    """The man page source as plain text: font and character escapes gone."""
    s = re.sub(r'\\f[BIRP]', '', source)
    s = s.replace('\\(dq', '"').replace('\\-', '-').replace('\\ ', ' ')
    return s


def man_section(source, name):
    m = re.search(r'^\.SH %s\s*$(.*?)(?=^\.SH |\Z)' % re.escape(name), source,
                  re.M | re.S)
    return m.group(1) if m else ''


def man_tags(section):
    """The tag lines of a section's .TP paragraphs, as plain text:
    `.BR \\-n ", " \\-\\-nosetuid` is `-n, --nosetuid`."""
    tags = []
    for t in re.findall(r'^\.TP\s*\n(.*)$', section, re.M):
        t = re.sub(r'^\.[BIR]{1,2}\s+', '', t)
        tags.append(man_text(t).replace('"', ''))
    return tags


class ManPageTest(unittest.TestCase):
    """smtpd.1 and `smtpd --help` agree, and smtpd.1 installs and renders."""

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.source = read(MAN)

    def help_options(self):
        return set(re.findall(r'^\s{2,}(--?[A-Za-z][A-Za-z0-9-]*)', help_text(self), re.M))

    def man_options(self):
        opts = set()
        for tag in man_tags(man_section(self.source, 'OPTIONS')):
            opts.update(re.findall(r'(?<![\w-])(--?[A-Za-z][A-Za-z0-9-]*)', tag))
        return opts

    def test_every_option_in_help_is_in_the_man_page(self):
        missing = sorted(self.help_options() - self.man_options())
        self.assertEqual(missing, [], 'options in smtpd --help but not in '
                         'smtpd.1 OPTIONS')

    def test_every_option_in_the_man_page_is_in_help(self):
        extra = sorted(self.man_options() - self.help_options())
        self.assertEqual(extra, [], 'options in smtpd.1 OPTIONS but not in '
                         'smtpd --help')

    def test_the_man_page_has_long_and_short_options(self):
        opts = self.man_options()
        self.assertIn('--nosetuid', opts)
        self.assertIn('-n', opts)

    def test_every_class_is_in_the_man_page_and_no_other(self):
        if not os.path.exists(smtpd_path()):
            self.skipTest('no binary %s' % smtpd_path())
        r = run([smtpd_path(), '-n', '-c', 'NoSuchClass', '127.0.0.1:1'], self)
        self.assertEqual(r.returncode, 1)
        m = re.search(r'known: ([^)]*)\)', r.stderr.decode())
        self.assertIsNotNone(m, 'smtpd -c NoSuchClass no longer lists the classes')
        known = {c.strip() for c in m.group(1).split(',')}
        documented = {t.strip() for t in man_tags(man_section(self.source, 'CLASSES'))}
        self.assertEqual(documented, known)

    def test_version_in_the_man_page_is_the_programs(self):
        if not os.path.exists(smtpd_path()):
            self.skipTest('no binary %s' % smtpd_path())
        version = run([smtpd_path(), '-V'], self).stdout.decode().split()[-1]
        th = re.search(r'^\.TH .*$', self.source, re.M).group(0)
        self.assertIn('smtpd %s' % version, th)

    def test_numbers_in_help_are_in_the_man_page(self):
        """Defaults, RFC numbers, ports: when --help changes one, so must smtpd.1."""
        text = man_text(self.source)
        for n in sorted(set(re.findall(r'\b\d{2,}\b', help_text(self)))):
            with self.subTest(number=n):
                self.assertRegex(text, r'\b%s\b' % n)

    def test_the_man_page_renders_without_warnings(self):
        if shutil.which('groff') is None:
            self.skipTest('groff is not installed')
        r = run(['groff', '-man', '-Tutf8', '-ww', '-z', MAN], self)
        self.assertEqual((r.returncode, r.stderr.decode()), (0, ''))

    def test_man_reads_it_from_the_source_tree(self):
        if shutil.which('man') is None:
            self.skipTest('man is not installed')
        r = subprocess.run(['man', '-l', MAN], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=RUN_TIMEOUT,
                           env=dict(os.environ, MANPAGER='cat', PAGER='cat',
                                    MANWIDTH='80'))
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertIn('SYNOPSIS', r.stdout.decode())

    def test_make_install_installs_the_man_page(self):
        if shutil.which('make') is None:
            self.skipTest('make is not installed')
        r = run(['make', '-n', '-o', 'all', 'install', 'DESTDIR=/DESTDIR',
                 'MANDIR=/MANDIR'], self)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        cmds = r.stdout.decode()
        self.assertRegex(cmds, r'smtpd\.1\s+\\?\s*"?/DESTDIR/MANDIR/man1/smtpd\.1')


if __name__ == '__main__':
    unittest.main()
