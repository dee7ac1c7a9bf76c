"""The dataset manifest (`data_manifest.yaml` at the repo root) and root resolution.

A dataset's root is found, first hit wins, from: the `root=` argument; env
`AUKIT_DATA_<DATASET>` (upper case, '-' -> '_'); env `AUKIT_DATA`/<dataset> (a folder
named like the dataset ignoring case, '-', '_' and spaces: `CASIA-WebFace`, `Aff-Wild2`); the
manifest's `root:`. A `root=` or `AUKIT_DATA_<DATASET>` that is not a folder is an
error (`RootNotFound`), not a reason to try the next place: a typo must not silently
read another copy. SynthAU datasets (`synthau-<name>`) live in
`<repo>/data/synthau/<name>/` unless env `AUKIT_SYNTHAU` points elsewhere, and are
read with the path patterns of the real dataset `<name>`.

A dataset whose entry says `part_of: <dataset>` (`bp4d_unlabelled`: the BP4D frames without any AU
code) is another selection of that dataset's copy: its root is its own `root=` or
`AUKIT_DATA_<DATASET>` when given, else wherever `<dataset>` is found; it is read with that
dataset's patterns, and has its subjects and folds.
"""
from __future__ import annotations

import difflib
import functools
import os
import re
from pathlib import Path

import yaml

from .schema import ManifestError, check_entry  # noqa: F401  (ManifestError: raised by entry())

REPO = Path(__file__).resolve().parents[2]
MANIFEST_PATH = REPO / "data_manifest.yaml"

REAL_DATASETS = ("bp4d", "disfa", "affwild2", "emotionet", "casia_webface", "afew_va")
# parts of a real dataset's copy (`part_of` in the manifest); SynthAU's BP4D tree codes every frame: no stand-in
PART_DATASETS = ("bp4d_unlabelled",)
DATASETS = REAL_DATASETS[:1] + PART_DATASETS + REAL_DATASETS[1:] + tuple(f"synthau-{d}" for d in REAL_DATASETS)


# the paper notebooks an entry's `notebooks:` may name (aukit.nb.PAPERS, kept here as that module imports torch)
NOTEBOOKS = ("tas", "cpc", "rtatl", "piap_df", "scc")


class DatasetNotFound(FileNotFoundError):
    """Raised when a dataset root (or a file it must contain) is missing."""


class RootNotFound(DatasetNotFound):
    """The root given explicitly for one dataset (root= or env AUKIT_DATA_<DATASET>) is not a folder."""


@functools.lru_cache(maxsize=4)
def _load(path: str) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


def manifest_path() -> Path:
    """The manifest in use: env AUKIT_MANIFEST, else the repository's data_manifest.yaml. Messages name
    it, and a relative ``root:`` in it is read from its folder (a copied manifest was named as the
    repository's and its relative roots read from the repository)."""
    return Path(os.environ.get("AUKIT_MANIFEST") or MANIFEST_PATH).resolve()


def manifest(path: str | os.PathLike | None = None) -> dict:
    """The whole manifest as a dict (env AUKIT_MANIFEST overrides the path)."""
    p = Path(path) if path else manifest_path()
    if not p.is_file():
        raise FileNotFoundError(f"dataset manifest not found: {p}")
    return _load(str(p.resolve()))


# a dataset of the user's own: a manifest entry that is none of DATASETS and names its `layout:`, the reader
# its files take (bp4d's or disfa's layout under another name, or "table": frame images or one video a sequence,
# plus one label CSV a sequence)
LAYOUTS = ("bp4d", "disfa", "table")


def custom_datasets() -> tuple[str, ...]:
    """The user's own datasets: entries of the manifest in use with a ``layout:`` that aukit does not know."""
    return tuple(name for name, e in manifest().items()
                 if name not in DATASETS and isinstance(e, dict) and "layout" in e)


def is_custom(dataset: str) -> bool:
    """Whether ``dataset`` is one of :func:`custom_datasets` (no paper reports it)."""
    return dataset not in DATASETS and dataset in custom_datasets()


def check_name(dataset: str) -> str:
    if dataset not in DATASETS and dataset not in custom_datasets():
        raise ValueError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS + custom_datasets())}. A dataset "
                         f"of your own needs an entry with a `layout:` ({', '.join(LAYOUTS)}) in {manifest_path()} "
                         "(README: 'Your own dataset')")
    return dataset


def base_name(dataset: str) -> str:
    """'synthau-bp4d' -> 'bp4d' (the reader and patterns to use); a custom dataset is its own base."""
    return check_name(dataset).removeprefix("synthau-")


def dataset_aus(dataset: str) -> dict[str, tuple[int, ...]]:
    """The AUs a dataset's entry codes: {"intensity": (...), "occurrence": (...)} (AU numbers; empty when
    the entry lists none). An entry with no ``occurrence_aus`` whose reader derives occurrence from intensities
    (:func:`occurrence_threshold`: DISFA and its layout, a ``table`` entry of intensities) has its intensity AUs
    as occurrence AUs, as its index has their ``occ_`` columns. For BP4D/DISFA and their SynthAU trees these are
    the manifest's lists too."""
    e = entry(dataset)
    out = {kind: tuple(int(a) for a in (e.get(f"{kind}_aus") or ())) for kind in ("intensity", "occurrence")}
    if not out["occurrence"] and occurrence_threshold(dataset) is not None:
        out["occurrence"] = out["intensity"]
    return out


# the threshold a reader of intensities derives occ_AUxx = AUxx >= it at when the entry gives no
# occurrence_threshold: DISFA's detection convention for its layout, 1 (any intensity) for a table of intensities
DEFAULT_THRESHOLD = {"disfa": 2, "table": 1}


def occurrence_threshold(dataset: str) -> float | None:
    """The intensity at or above which ``dataset``'s reader writes an AU as present (``occ_AUxx``): the entry's
    ``occurrence_threshold``, else its reader's default (:data:`DEFAULT_THRESHOLD`); None where occurrence is
    not derived from intensities (BP4D's occurrence files, a table of 0/1 labels, the side sets)."""
    e = entry(dataset)
    reader = reader_of(dataset)
    if reader == "table" and e.get("label_kind", "intensity") != "intensity":
        return None
    if e.get("occurrence_threshold") is not None:
        return float(e["occurrence_threshold"])
    return float(DEFAULT_THRESHOLD[reader]) if reader in DEFAULT_THRESHOLD else None


def occurrence_rule(dataset: str) -> str | None:
    """How ``dataset``'s occurrence labels are derived, in words (data check, run.yaml), or None when they are
    not derived from intensities."""
    thr = occurrence_threshold(dataset)
    if thr is None or not dataset_aus(dataset)["intensity"]:
        return None
    given = entry(dataset).get("occurrence_threshold") is not None
    return (f"occ_AUxx = AUxx >= {thr:g} (" + ("the entry's occurrence_threshold" if given else
            f"layout {reader_of(dataset)}'s default; occurrence_threshold in the entry sets another") + ")")


def part_of(dataset: str) -> str | None:
    """The dataset whose copy ``dataset`` is a part of (its entry's ``part_of``: bp4d_unlabelled -> bp4d),
    read from that copy with its patterns, subjects and folds; None for any other dataset."""
    return manifest().get(base_name(dataset), {}).get("part_of")


def entry(dataset: str) -> dict:
    """Manifest entry of `dataset`; SynthAU entries inherit the real set's patterns, and a ``part_of``
    entry every field of the dataset it is part of that it does not set itself (patterns, AUs, codes).
    Each entry used is checked against the keys its reader reads (:mod:`aukit.data.schema`): a key
    none reads (a typo) is a :class:`~aukit.data.schema.ManifestError` naming the manifest, entry and key."""
    m = manifest()
    base = base_name(dataset)
    if base not in m:
        raise KeyError(f"{manifest_path()} has no entry {base!r}")
    _check(base, m)
    whole = m[base].get("part_of")
    e = {**m[whole], **m[base]} if whole else dict(m[base])
    if dataset != base:
        e.update(m.get(dataset, {}))
    return e


def reader_of(dataset: str) -> str:
    """The reader that reads ``dataset``'s files: its own (bp4d, ...), its real set's (synthau-*), the
    whole dataset's (part_of), or a user's entry's ``layout``."""
    base = base_name(dataset)
    whole = manifest().get(base, {}).get("part_of")
    if whole:
        return reader_of(whole)
    if base in DATASETS:
        return base
    return manifest()[base]["layout"]


def _check(base: str, m: dict) -> None:
    """Check entry ``base`` (and, when it is a SynthAU or part_of entry, the entry it takes fields from)."""
    e = m[base]
    if isinstance(e, dict) and "layout" in e and base not in DATASETS and e["layout"] not in LAYOUTS:
        raise ManifestError(f"{manifest_path()}: entry {base!r}: layout is {e['layout']!r}; one of "
                            f"{', '.join(LAYOUTS)}")
    if isinstance(e, dict) and "layout" in e and base not in DATASETS:
        _check_own_name(base)
    whole = e.get("part_of") if isinstance(e, dict) else None
    if whole:
        if whole not in m:
            raise ManifestError(f"{manifest_path()}: entry {base!r}: part_of {whole!r}, which has no entry")
        _check(whole, m)
    reader = reader_of(base)
    check_entry(base, e, reader, manifest_path(), custom=is_custom(base), extra=("part_of",) if whole else ())
    _check_notebooks(base, e)
    synth = f"synthau-{base}"
    if synth in m and base in REAL_DATASETS:
        check_entry(synth, m[synth], reader, manifest_path(), extra=("synthau_subdir",))
        _check_notebooks(synth, m[synth])


def notebook_names(listed) -> list[str]:
    """An entry's ``notebooks:`` as aukit names the notebooks: case and '-' do not matter ('TAS', 'PIAP-DF' ->
    'tas', 'piap_df'), as the papers write the methods in capitals and with '-'; None -> []."""
    return [str(n).strip().lower().replace("-", "_") for n in listed or ()]


def _check_notebooks(name: str, e: dict) -> None:
    """``notebooks:`` must be a list of paper notebooks: a name aukit does not know (a typo) would keep the entry
    from that notebook only when a run asks for it, after data check had shown the entry ok."""
    listed = e.get("notebooks") if isinstance(e, dict) else None
    where = f"{manifest_path()}: entry {name!r}"
    if listed is not None and not isinstance(listed, list):
        raise ManifestError(f"{where}: notebooks must be a list of notebook names ([{', '.join(NOTEBOOKS)}] or "
                            f"some of them), got {listed!r}")
    bad = []
    for given, key in zip(listed or (), notebook_names(listed)):
        if key not in NOTEBOOKS:
            close = difflib.get_close_matches(key, NOTEBOOKS, n=1)
            bad.append(f"unknown notebook {given!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    if bad:
        raise ManifestError(f"{where}: notebooks: {', '.join(bad)}; known: {', '.join(NOTEBOOKS)} (case and '-' "
                            "do not matter)")


def _check_own_name(name: str) -> None:
    """A dataset of the user's own may not be named like one of aukit's ignoring case, '-' and '_' ('DISFA',
    'casia-webface'): it would share that dataset's env AUKIT_DATA_<NAME> and read as it where names are
    compared loosely, while its entry, AUs and folds are the user's."""
    same = [d for d in DATASETS if _env_key(d) == _env_key(name)]
    if same:
        raise ManifestError(f"{manifest_path()}: entry {name!r}: a dataset of your own cannot be named like aukit's "
                            f"{same[0]!r} (names are compared ignoring case, '-' and '_': both would be read from env "
                            f"{_env_key(name)}); rename the entry (e.g. 'lab_{name.lower()}')")
    twin = [d for d in custom_datasets() if d != name and _env_key(d) == _env_key(name)]
    if twin:             # 'mylab' and 'MyLab': one env AUKIT_DATA_MYLAB would point both at one folder
        raise ManifestError(f"{manifest_path()}: entries {name!r} and {twin[0]!r} differ only in case, '-' or '_': "
                            f"both would be read from env {_env_key(name)}; rename one")


def synthau_root() -> Path:
    """Root of the SynthAU tree (holds bp4d/, disfa/, ..., meta.json)."""
    return Path(os.environ.get("AUKIT_SYNTHAU", REPO / "data" / "synthau"))


def _env_key(dataset: str) -> str:
    return "AUKIT_DATA_" + dataset.upper().replace("-", "_")


def candidate_roots(dataset: str, root: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """(where it came from, path) in the order they are tried."""
    check_name(dataset)
    out: list[tuple[str, Path]] = []
    if root is not None:
        out.append(("root= argument", Path(root)))
        return out
    key = _env_key(dataset)
    if os.environ.get(key):
        out.append((f"env {key}", Path(os.environ[key])))
    whole = part_of(dataset)
    if whole:                               # the copy of the dataset it is part of, found as that one is
        return out + [(f"{src} ({whole}'s root)", p) for src, p in candidate_roots(whole)]
    if dataset.startswith("synthau-"):
        out.append(("SynthAU tree (env AUKIT_SYNTHAU or <repo>/data/synthau)",
                    synthau_root() / base_name(dataset)))
        return out
    if os.environ.get("AUKIT_DATA"):
        out.append(("env AUKIT_DATA", _child(Path(os.environ["AUKIT_DATA"]), dataset)))
    r = entry(dataset).get("root")
    if r:
        p = Path(os.path.expanduser(str(r)))
        out.append((f"{manifest_path().name} {dataset}.root", p if p.is_absolute() else manifest_path().parent / p))
    return out


def _folder_key(name: str) -> str:
    """'CASIA-WebFace', 'casia_webface', 'Casia WebFace' -> 'casiawebface'."""
    return re.sub(r"[-_\s]", "", name).lower()


def _alike(folder: Path, name: str) -> list[Path]:
    """Subfolders of ``folder`` named ``name`` ignoring case, '-', '_' and spaces."""
    try:
        return sorted(p for p in folder.iterdir() if _folder_key(p.name) == _folder_key(name) and p.is_dir())
    except OSError:
        return []


def _child(folder: Path, name: str) -> Path:
    """``folder/name``, or the one subfolder named like it or like one of its manifest ``folder_names``
    ignoring case, '-', '_' and spaces (the copies are distributed as BP4D or BP4D-Spontaneous,
    CASIA-WebFace, AFEW-VA, Aff-Wild2); the exact name when none or several match (`_not_found` names them)."""
    if (folder / name).is_dir() or not folder.is_dir():
        return folder / name
    for alias in (name, *as_list(entry(name).get("folder_names"))):
        same = _alike(folder, alias)
        if same:
            return same[0] if len(same) == 1 else folder / name
    return folder / name


def resolve_root(dataset: str, root: str | os.PathLike | None = None) -> Path:
    """The first existing candidate root, else a `DatasetNotFound` that says what was tried."""
    tried = candidate_roots(dataset, root)
    for i, (src, p) in enumerate(tried):
        if p.is_dir():
            return p.resolve()
        if src == "root= argument" or src.startswith("env AUKIT_DATA_"):  # set on purpose: never fall back
            raise RootNotFound(_not_found(dataset, f": {src} is {p}, which is not a folder; nothing else is "
                                                   "tried (fix or unset it)", tried[:i + 1]))
    raise DatasetNotFound(_not_found(dataset, " not found", tried))


def _not_found(dataset: str, what: str, tried: list[tuple[str, Path]]) -> str:
    lines = [f"dataset {dataset!r}{what} (manifest entry {dataset!r} in {manifest_path()})."]
    whole = part_of(dataset)
    lines += [f"  tried {src}: {p}" + (_alike_note(whole or dataset, p.parent) if src.startswith("env AUKIT_DATA ")
                                        or src == "env AUKIT_DATA" else "")
              for src, p in tried] or ["  no root configured"]
    owner = whole or dataset
    if dataset.startswith("synthau-"):        # generated under the SynthAU tree, not a licensed copy's root
        lines.append("  SynthAU trees live under <repo>/data/synthau/ (env AUKIT_SYNTHAU=FOLDER for another tree)")
    else:
        lines.append(f"  set env {_env_key(owner)}=PATH or AUKIT_DATA=FOLDER, or edit '{base_name(owner)}.root' in "
                     f"{manifest_path()} (`aukit prepare` and `aukit data check` also take --root PATH)"
                     + (f"; {dataset} is read from {whole}'s copy." if whole else "."))
    if whole:
        lines.append(f"  SynthAU has no stand-in for {dataset}: its {whole} tree codes every frame.")
    elif not dataset.startswith("synthau-"):
        lines.append(f"  No licensed copy? Generate SynthAU with `aukit synth` and use dataset "
                     f"'synthau-{dataset}' instead.")
    else:
        from .sidesets import standin_hint
        lines += ["  Generate it with `aukit synth` first."] + [h for h in [standin_hint(base_name(dataset))] if h]
    return "\n".join(lines)


def _alike_note(dataset: str, folder: Path) -> str:
    """What else AUKIT_DATA's folder was searched for: the names tried, or the folders that match
    more than once."""
    same = _alike(folder, dataset)
    if len(same) > 1:
        return (f" (several folders there match, ignoring case, '-', '_' and spaces: "
                f"{', '.join(p.name for p in same)}; set env {_env_key(dataset)} to one)")
    names = [dataset, *as_list(entry(dataset).get("folder_names"))]
    return f" (also any name equal ignoring case, '-', '_' and spaces, e.g. {', '.join(names)})"


def as_list(x) -> list:
    """A manifest field that may be one pattern or a list of them."""
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]
