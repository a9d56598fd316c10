# SPDX-License-Identifier: ISC
"""grow.py SRCDIR OUTDIR - copy the library's sources into OUTDIR as a
later libsmtpd would have them: struct smtpd_config with one field more,
appended after the 2.0 layout as server.h's ABI policy says, with a
default in config_defaults, and smtpd_server_new refusing a configuration
whose appended field lost its default.  tests/abi/old_program.c, built
against the frozen 2.0 header, then runs on that library (`make abi`)."""
import pathlib
import shutil
import sys

src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
for f in list(src.glob("*.c")) + list(src.glob("*.h")):
    shutil.copy(f, out / f.name)
(out / "web").mkdir(exist_ok=True)
for f in list((src / "web").glob("*.h")) + [src / "web" / "web_none.c"]:
    shutil.copy(f, out / "web" / f.name)


def insert(name, anchor, text, after=True):
    """Put text after (or before) the one line containing anchor."""
    path = out / name
    lines = path.read_text().split("\n")
    hits = [i for i, line in enumerate(lines) if anchor in line]
    if len(hits) != 1:
        sys.exit(f"grow.py: {name}: {anchor!r} found {len(hits)} times")
    lines.insert(hits[0] + 1 if after else hits[0], text)
    path.write_text("\n".join(lines))


# The field goes in front of the "};" that closes the struct, right after
# the end-of-layout marker comment.
insert("server.h", "each with its default in config.c (config_defaults) ---- */",
       "\tint\t\t abi_appended;\t/* tests/abi: a field added later */")
insert("config.c", "Fields appended after the 2.0 layout get their defaults",
       "\tcfg->abi_appended = 42;")
insert("config.c", "if (config_copy(cfg, given, err, errsz) != 0)",
       "\tif (config_copy(cfg, given, err, errsz) == 0 &&\n"
       "\t    cfg->abi_appended != 42) {\n"
       "\t\tsnprintf(err, errsz, \"abi_appended lost its default\");\n"
       "\t\treturn -1;\n\t}", after=False)
