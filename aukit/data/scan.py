"""Turn manifest path patterns ('2D/{subject}/{task}/{frame}.jpg') into file scans."""
from __future__ import annotations

import glob
import os
import re
from pathlib import Path

_FIELD = re.compile(r"\{(\w+)(?::[^}]*)?\}")
_DIGITS = {"frame", "au"}  # fields that are numbers: 'SN001_au1_old.txt' is not AU '1_old'


def _regex(pat: str) -> re.Pattern:
    """Pattern -> regex with one group per field; the text after the last field in any case."""
    src, pos, seen = "", 0, set()
    for m in _FIELD.finditer(pat):
        name = m.group(1)  # a field used twice must match the same text
        field = r"\d+" if name in _DIGITS else r"[^/]+?"
        src += re.escape(pat[pos:m.start()]) + (f"(?P={name})" if name in seen else f"(?P<{name}>{field})")
        seen.add(name)
        pos = m.end()
    return re.compile(src + "(?i:" + re.escape(pat[pos:]) + r")\Z")


def scan(root: Path, pattern: str, unmatched: list[tuple[dict[str, str], Path]] | None = None,
         strings: bool = False, **fixed) -> list[tuple[dict[str, str], Path]]:
    """All files under `root` matching `pattern`; returns (fields, path) sorted by path.
    ``strings``: the matched paths as str, not Path (BP4D's 146k frames: 1.5 s of Path objects).

    Fields given in `fixed` are substituted before globbing. {frame} and {au} match digits
    only; the text after the last field matches in any case ('733.JPG'). Files in the
    scanned folders that do not match are appended to `unmatched`, when given, with the
    fields of their folder (e.g. the subject).
    """
    pat = pattern
    for k, v in fixed.items():
        pat = re.sub(r"\{" + k + r"(?::[^}]*)?\}", str(v), pat)
    head = pat.rpartition("/")[0]  # glob every name in the last folder level; the regex decides
    glob_pat = glob.escape(str(root)) + "/" + _FIELD.sub("*", glob.escape(head + "/" if head else "")) + "*"
    regex, folder = _regex(pat), _regex(head)
    out, other = [], []
    cut = len(str(root)) + 1   # glob's paths start with root + "/": the rest is the relative path
    for p in glob.glob(glob_pat):
        rel = p[cut:]          # strings, not Paths: BP4D has 146k frames
        m = regex.match(rel)
        if m:
            out.append((m.groupdict(), p if strings else Path(p)))
        elif unmatched is not None:
            d = folder.match(rel.rpartition("/")[0] if head else "")
            other.append((d.groupdict() if d else {}, Path(p)))
    out.sort(key=lambda t: str(t[1]))
    if unmatched is not None:
        unmatched += sorted(other, key=lambda t: str(t[1]))
    return out


def deeper(root: Path, pattern: str, limit: int = 100) -> list[Path]:
    """The folders one, else two, levels below `root` under which `pattern` matches a file: a copy
    unzipped with an extra level ('CASIA-WebFace/', AFEW-VA's '01/'); the first `limit` of each
    level are looked at."""
    for level in ("*", "*/*"):
        hits = [d for d in sorted(Path(root).glob(level))[:limit] if d.is_dir() and scan(d, pattern)]
        if hits:
            return hits
    return []


def fill(root: Path, patterns: list[str], **fields) -> tuple[Path | None, list[Path]]:
    """First existing file among `patterns` filled with `fields`; also every path tried."""
    tried = []
    for pat in patterns:
        p = root / pat.format(**fields)
        tried.append(p)
        try:
            if p.is_file():
                return p, tried
        except PermissionError:  # a folder on the way cannot be entered: `absent` says which
            pass
    return None, tried


def blocked(root: Path, rel: str | Path) -> Path | None:
    """The first folder between `root` and the file `root/rel` that exists but cannot be listed
    (glob passes such a folder by without a word), or None."""
    p = Path(root)
    for part in Path(rel).parts[:-1]:
        p = p / part
        try:
            if not p.is_dir():
                return None
        except PermissionError:
            return p.parent
        if not os.access(p, os.R_OK | os.X_OK):
            return p
    return None


def blocked_note(root: Path, rel: str | Path) -> str:
    """'; folder X cannot be read: permission denied' when `blocked`, else ''."""
    b = blocked(root, rel)
    return "" if b is None else f"; folder {b} cannot be read: permission denied"


def absent(root: Path, rel: str | Path) -> str:
    """Why `root/rel` was not read: 'is missing', 'is not a file' or that a folder on its way
    cannot be read."""
    b = blocked(root, rel)
    if b is not None:
        return f"cannot be read: permission denied on folder {b}"
    try:
        return "is not a file" if (Path(root) / rel).exists() else "is missing"
    except PermissionError:
        return "cannot be read: permission denied"
