"""`twine check --strict` (or `twine check` with `--lenient` first) on every
file given, in one Python process.

`twine check` stops at the first file whose metadata it refuses, so this
runs twine's own check once per file (same code path as the command) and
prints {filename: {"ok": bool, "detail": str}} as JSON. Used by
tests/it/check_corpus.rs and benches/check.rs.
"""

import contextlib
import io
import json
import logging
import os
import sys

from twine.commands import check as twine_check

logging.disable(logging.CRITICAL)
args = sys.argv[1:]
strict = not (args and args[0] == "--lenient")
if not strict:
    args = args[1:]
verdicts = {}
for path in args:
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            failed = twine_check.check([path], strict=strict)
        verdicts[os.path.basename(path)] = {"ok": not failed, "detail": out.getvalue()}
    except Exception as err:  # twine raises InvalidDistribution for bad metadata
        verdicts[os.path.basename(path)] = {"ok": False, "detail": f"{type(err).__name__}: {err}"}
json.dump(verdicts, sys.stdout, indent=1, sort_keys=True)
