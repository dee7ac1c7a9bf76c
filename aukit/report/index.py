"""``reports/index.md``: one line per paper folder with the headline measured numbers
beside the reported ones, dataset, preset, device, date, commit and links."""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from .writer import load_metrics

__all__ = ["write_index"]


def _run_info(folder: Path) -> dict:
    path = folder / "run.yaml"
    if not path.is_file():
        return {}
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def _unit(ref: dict) -> str:
    """The unit of a reference's table ("%" for F1 tables), from the reported numbers."""
    from .. import reported
    try:
        return reported.table(ref["paper"], ref["table"]).attrs.get("unit", "")
    except (KeyError, ValueError):
        return ""


def _headline(metrics: dict, refs: dict) -> str:
    parts = []
    for key in metrics.get("headline", []):
        s = f"{key} {metrics[key]:.3g}" if isinstance(metrics.get(key), (int, float)) else f"{key} {metrics.get(key)}"
        if key in refs:
            r = refs[key]
            if _unit(r) == "%":       # F1 is measured 0-1; the paper prints 64.4 (%): one scale in a row
                s += f" (reported {r['value'] / 100:.3g}, printed {r['value']:g}%: {r['source']})"
            else:
                s += f" (reported {r['value']:g}: {r['source']})"
        parts.append(s)
    return "; ".join(parts) or "-"


def write_index(reports_dir: str | Path = "reports") -> Path:
    """Scan ``<reports_dir>/*/metrics.json`` and write ``<reports_dir>/index.md``."""
    root = Path(reports_dir)
    root.mkdir(parents=True, exist_ok=True)
    lines = ["# aukit reports", "",
             "Measured numbers come from the runs below; reported numbers are the papers' own, "
             "on the papers' datasets (a SynthAU run is not comparable to them).", "",
             "| paper | headline: measured (reported) | dataset | preset | device | date | commit | links |",
             "|---|---|---|---|---|---|---|---|"]
    from ..nb import RUN_LOCK, changes_text
    unfinished = []
    for folder in sorted(p for p in root.iterdir() if (p / "metrics.json").is_file()):
        if (folder / RUN_LOCK).exists():      # running now, or killed before it ended: its metrics are no result
            unfinished.append(folder.name)
            continue
        m = load_metrics(folder)
        refs_path = folder / "reported.json"
        refs = json.loads(refs_path.read_text(encoding="utf-8")) if refs_path.is_file() else {}
        run = _run_info(folder)
        commit = str(run.get("commit", "unknown"))[:10] + (" (dirty)" if run.get("dirty") else "")
        date = str(run.get("created", m.get("written", "?")))[:19]
        links = [f"[folder]({folder.name}/)"] + [f"[{h.name}]({folder.name}/{h.name})" for h in sorted(folder.glob("*.html"))]
        changed = m.get("changed_parameters") or {}           # e.g. the full preset cut to steps=2
        preset = f"{m.get('preset', '?')}" + (f" (changed: {changes_text(changed)})" if changed else "")
        lines.append(f"| {m.get('slug', folder.name)} | {_headline(m, refs)} | {m.get('dataset', '?')} | "
                     f"{preset} | {m.get('device', '?')} | {date} | {commit} | {' '.join(links)} |")
    if unfinished:
        lines += ["", f"Not listed, their run still running or killed before it ended ({RUN_LOCK} left in the "
                      f"folder): {', '.join(unfinished)}."]
    checks = sorted(root.glob("*/checks/*/README.md"))
    if checks:
        lines += ["", "## Scientific checks", "",
                  "Each paper's key ablation rerun with several seeds, with what it shows (folder README):", ""]
        for readme in checks:
            title = next((ln.lstrip("# ").strip() for ln in readme.read_text(encoding="utf-8").splitlines()
                          if ln.startswith("# ")), readme.parent.name)
            rel = readme.relative_to(root).as_posix()
            lines.append(f"- {readme.parts[-4]}: [{title}]({rel})")
    lines += _sweeps(root)
    path = root / "index.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _sweeps(root: Path) -> list[str]:
    """index.md's sweep section: each ``<paper>/sweeps/<name>/`` with an aggregate, its finished cells and
    links (a sweep's results were in no index)."""
    found = sorted(root.glob("*/sweeps/*/aggregate.md"))
    if not found:
        return []
    lines = ["", "## Sweeps", "", "A notebook run over a grid of parameters (`aukit sweep`): per cell and "
             "aggregated over seeds and folds (measured only).", ""]
    for agg in found:
        folder = agg.parent
        cells = [c for c in folder.iterdir() if c.is_dir() and (c / "params.json").is_file()]
        done = sum((c / "metrics.json").is_file() for c in cells)
        rel = folder.relative_to(root).as_posix()
        extra = f" [README]({rel}/README.md)" if (folder / "README.md").is_file() else ""
        lines.append(f"- {folder.parts[-3]}: `{folder.name}`, {done} of {len(cells)} cells finished: "
                     f"[aggregate]({rel}/aggregate.md){extra}")
    return lines
