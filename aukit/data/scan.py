"""Turn manifest path patterns ('2D/{subject}/{task}/{frame}.jpg') into file scans."""
from __future__ import annotations

import glob
import re
from pathlib import Path

_FIELD = re.compile(r"\{(\w+)(?::[^}]*)?\}")


def scan(root: Path, pattern: str, **fixed) -> list[tuple[dict[str, str], Path]]:
    """All files under `root` matching `pattern`; returns (fields, path) sorted by path.

    Fields given in `fixed` are substituted before globbing.
    """
    pat = pattern
    for k, v in fixed.items():
        pat = re.sub(r"\{" + k + r"(?::[^}]*)?\}", str(v), pat)
    glob_pat = glob.escape(str(root)) + "/" + _FIELD.sub("*", glob.escape(pat))
    regex_src = ""
    pos = 0
    seen = set()
    for m in _FIELD.finditer(pat):
        name = m.group(1)  # a field used twice must match the same text
        regex_src += re.escape(pat[pos:m.start()]) + (f"(?P={name})" if name in seen else f"(?P<{name}>[^/]+?)")
        seen.add(name)
        pos = m.end()
    regex = re.compile(regex_src + re.escape(pat[pos:]) + r"\Z")
    out = []
    for p in glob.glob(glob_pat):
        rel = Path(p).relative_to(root).as_posix()
        m = regex.match(rel)
        if m:
            out.append((m.groupdict(), Path(p)))
    out.sort(key=lambda t: str(t[1]))
    return out


def fill(root: Path, patterns: list[str], **fields) -> tuple[Path | None, list[Path]]:
    """First existing file among `patterns` filled with `fields`; also every path tried."""
    tried = []
    for pat in patterns:
        p = root / pat.format(**fields)
        tried.append(p)
        if p.is_file():
            return p, tried
    return None, tried
