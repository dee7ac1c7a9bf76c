"""``reports/<slug>/``: metrics.json, reported.json, tables/*.csv|md, figures/*.png|pdf,
run.yaml. The executed notebook and its HTML are added by the papermill runner."""
from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .flags import FLAG_WORDS, figure_note, flagged_cells, split
from .provenance import data_read, training
from .tables import DIFF_NA, compare, to_markdown

__all__ = ["Report", "load_metrics", "FLAG_WORDS"]

_PAPER_NAMES = {"tas": "TAS", "cpc": "CPC", "rtatl": "RTATL", "piap_df": "PIAP-DF", "scc": "SCC"}
_DATASET_NAMES = {"bp4d": "BP4D", "disfa": "DISFA", "affwild2": "Aff-Wild2"}


def dataset_name(ds) -> str:
    """A reported table's dataset as the papers write it: "disfa, affwild2" (CPC's Table 1) -> "DISFA, Aff-Wild2"."""
    return ", ".join(_DATASET_NAMES.get(part.strip(), part.strip()) for part in str(ds).split(","))
_STD_KEY = re.compile(r"(^|_)std(_|$)")  # a std over seeds in a metric name


def _scalar(key: str, v):
    """JSON-safe metric value; NaN/inf and nested containers are errors (never written)."""
    if isinstance(v, (bool, str)) or v is None:
        return v
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        if not math.isfinite(float(v)):
            raise ValueError(f"metric {key!r} is {v}: not written (measure it or leave it out)")
        return float(v)
    if isinstance(v, (list, tuple)) and all(isinstance(x, (int, float, str, np.number)) for x in v):
        return [_scalar(key, x) for x in v]
    raise TypeError(f"metric {key!r} must be a number, string or flat list, got {type(v).__name__}; "
                    "flatten dicts into keys like 'icc_AU06'")


def stamp_figure(fig, text: str) -> None:
    """Write ``text`` in small grey type right-aligned just below everything drawn on ``fig`` (its
    tight bounding box), so that it overlaps no tick label; drawn once, a second call replaces it."""
    for old in [t for t in fig.texts if t.get_gid() == "aukit-stamp"]:
        old.remove()
    fig.draw_without_rendering()                                # a layout engine moves the axes on draw
    box = fig.get_tightbbox()                                   # inches
    w, h = fig.get_size_inches()
    fig.text(box.x1 / w, box.y0 / h - 0.02 / h, text, ha="right", va="top", fontsize=6, color="0.35",
             gid="aukit-stamp")


def load_metrics(path: str | Path) -> dict:
    """Read ``metrics.json`` (a file or a report folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.json"
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


class Report:
    """Collects one paper run's results and writes them under ``<out_dir>/<slug>/``.

    r = Report("tas", folder=out_dir, dataset="synthau-bp4d", preset="smoke", seeds=[0, 1], device="cpu")
    r.add_metrics(icc_avg=0.41, mae_avg=0.9); r.headline("icc_avg", "mae_avg")
    r.add_reference("icc_avg", "tas", "table1_bp4d_icc", "Ours")
    r.add_table("table1_bp4d_icc", measured_df, aukit.reported.table("tas", "table1_bp4d_icc"),
                row_map={"TAS (ours)": "Ours"})
    r.add_figure("tsne", fig); r.write()
    """

    def __init__(self, slug: str, out_dir: str | Path = "reports", *, dataset: str, preset: str,
                 seeds: Sequence[int], device: str, config=None, folder: str | Path | None = None,
                 weights: str | None = None):
        self.slug, self.dataset, self.preset = slug, dataset, preset
        self.weights = weights or None      # the local ImageNet file the trunk started from (None: random)
        self.seeds, self.device, self.config = [int(s) for s in seeds], str(device), config
        # folder: the exact output folder (a notebook's papermill ``out_dir``, a sweep cell);
        # otherwise <out_dir>/<slug>
        self.dir = Path(folder) if folder is not None else Path(out_dir) / slug
        # a run's report starts empty: a notebook run by hand (no `aukit run`, which clears first) showed
        # the last run's Fig. 6 as its own when this run drew none
        from ..nb import clear_outputs
        if (kept := clear_outputs(self.dir)) is not None:
            print(f"Report: the last run's results in {self.dir} moved to {kept}")
        self.metrics: dict = {}
        self.references: dict = {}
        # AUs of the dataset's list the method left out ({'AU25': why}): named under every table and in metrics.json
        self.aus_dropped: dict[str, str] = dict(getattr(config, "aus_dropped", None) or {})
        self.headline_keys: list[str] = []
        self.files: dict[str, list[Path]] = {"tables": [], "figures": []}
        # each table's flagged scores ({table: {method: {au: flag}}}, aukit.report.flags): in metrics.json
        self.flags: dict[str, dict] = {}

    # ------------------------------------------------------------------ labels
    @property
    def measured_label(self) -> str:
        seeds = ",".join(map(str, self.seeds))
        partial = ", PARTIAL COPY" if self.caveats else ""
        fold = self.fold
        split = "" if fold is None else (", FERA2015 split" if fold == "fera" else f", fold {fold}")
        from ..nb import changes_text
        changed = f", changed: {changes_text(self.changed)}" if self.changed else ""
        return f"measured ({self.dataset}{split}{partial}, {self.preset}{changed}, seeds {seeds})"

    @property
    def changed(self) -> dict:
        """The parameters this run set away from its notebook's defaults (``aukit.nb.changed_parameters``,
        handed over in ``AUKIT_RUN_CHANGED``), other than the ones that only choose what runs."""
        from ..nb import run_changes
        return run_changes()

    @property
    def setup_gap(self) -> str | None:
        """Why this run is not the paper's setup, whatever its dataset and split, or None: the quick
        and smoke presets train a smaller network for fewer steps; a full run with ``steps 2`` or
        ``epochs 1`` is no full run; a trunk from random weights where the paper started from ImageNet
        (:data:`aukit.reported.IMAGENET_START`); synthetic side sets beside a real dataset. Such runs
        get no difference rows against the paper."""
        from ..reported import IMAGENET_START
        why = []
        if self.preset != "full":
            why.append(f"preset {self.preset} trains a smaller network for fewer steps than the paper "
                       "(-p preset full runs the paper's setup)")
        elif self.changed:
            from ..nb import changes_text
            why.append(f"the full preset with {changes_text(self.changed)} (not the notebook's defaults)")
        if self.slug in IMAGENET_START and not self.weights:
            why.append(f"the trunk started from random weights; the paper started from ImageNet "
                       f"({IMAGENET_START[self.slug]}; -p weights PATH names a local file)")
        if self.synthetic_side_sets:
            why.append(f"it read synthetic side sets ({', '.join(self.synthetic_side_sets)}) where the paper "
                       "read real ones")
        if self.lacking_side_sets:
            why.append(f"it ran without {', '.join(self.lacking_side_sets)}")
        return "; ".join(why) or None

    @property
    def trunk_start(self) -> str | None:
        """How the trunk of a paper that started from ImageNet (IMAGENET_START) started here, for
        metrics.json and a sweep's aggregate: "random (the paper: ImageNet)" or the weights file's name."""
        from ..reported import IMAGENET_START
        if self.slug not in IMAGENET_START:
            return None
        return f"ImageNet file {Path(self.weights).name}" if self.weights else "random (the paper: ImageNet)"

    @property
    def input_norm(self) -> dict:
        """The normalisation the run's trunk saw, decided by its start (:func:`aukit.models.input_norm.input_norm`
        of ``weights``): ``{"mean", "std", "source"}``, in metrics.json and run.yaml."""
        from ..models.input_norm import input_norm
        return input_norm(self.weights).record()

    @property
    def lacking_side_sets(self) -> list[str]:
        """What this process's run left out that its paper read beside a real dataset
        (:data:`aukit.data.sidesets.LACKING`): named in metrics.json and under every table."""
        from ..data.sidesets import LACKING
        return [] if self.dataset.startswith("synthau-") else list(LACKING)

    @property
    def synthetic_side_sets(self) -> list[str]:
        """SynthAU datasets this run read beside a real target (CPC's pool, RTATL's unlabelled faces,
        PIAP-DF's person and PI sets take SynthAU's stand-in when the real set is not found, or when named):
        named under every table and in metrics.json."""
        if self.dataset.startswith("synthau-"):
            return []
        from ..data.store import OPENED
        return sorted({name.split("__")[0] for name in OPENED if name.startswith("synthau-")})

    @property
    def fold(self):
        """The fold this run's loaders split ``dataset`` by (1..3 or 'fera'), None if none was recorded."""
        from ..data.splits import USED
        return USED.get(self.dataset)

    def _protocol_gap(self, attrs: dict) -> str | None:
        """Why a same-dataset comparison is not like for like (the paper's split is another), or None."""
        from ..reported import protocol
        want, fold = protocol(attrs), self.fold
        if want is None or fold is None:
            return None
        if want == "fera" and fold != "fera":
            return (f"the paper used the FERA2015 split (21 train / 20 test subjects); this run fold {fold}"
                    " (TAS and CPC take it by default, fold -1 or 0; SCC with -p fera true)")
        if want == "3-fold":
            return (f"the paper reports the mean over the three subject-exclusive folds; this run measured "
                    f"{'the FERA2015 split' if fold == 'fera' else f'fold {fold} only'} (a sweep over folds "
                    "1-3 puts their mean beside the paper's, in the sweep's tables/)")
        if want == "one fold" and fold == "fera":
            return "the paper used one DISFA fold; this run the FERA2015 split"
        return None

    @property
    def caveats(self) -> list[str]:
        """Folds this process ran on an incomplete copy (AUKIT_ALLOW_PARTIAL=1): named under every
        table and in metrics.json, so a partial run is never read as the paper's protocol."""
        from ..data.splits import PARTIAL
        return list(PARTIAL)

    @property
    def frames_lost(self) -> list[str]:
        """Frames of ``dataset``'s copy that no store this run read holds (no face found, unreadable): named
        under every table and in metrics.json, since a run's scores leave them out. One line per store."""
        from ..data.store import OPENED
        out = []
        for name in sorted(OPENED):
            rec = OPENED[name]
            lost = rec.get("no_face", 0) + rec.get("unreadable", 0)
            if name.split("__")[0] == self.dataset and lost:
                out.append(f"{self.dataset} ({name.split('__')[1]} faces): {lost} of {rec['indexed']} indexed "
                           f"frames have no aligned face (no face found {rec['no_face']}, unreadable "
                           f"{rec['unreadable']}), left out of training and scoring")
        return out

    @property
    def own_dataset(self) -> bool:
        """A dataset of the user's own (a manifest entry with a ``layout:``): no paper reports it, so no
        paper's rows are put beside its tables (their AUs and protocol are another dataset's)."""
        from ..data.manifest import DATASETS, is_custom
        return self.dataset not in DATASETS and is_custom(self.dataset)

    def _own_note(self, attrs: dict, compared_on: str | None) -> str:
        """The note under every table of a dataset of your own: no paper's rows, or (``compared_on``) only
        those that sit beside rows measured on another dataset."""
        head = f"No paper reports {self.dataset} (a dataset of your own)"
        if not attrs:
            return f"{head}: the papers' rows are not shown."
        ds = dataset_name(attrs.get("dataset"))
        return (f"{head}: no paper row on it is shown; the reported rows are the paper's on {ds}, beside the "
                f"rows measured on {compared_on} (they do not read {self.dataset}).")

    def _partial_note(self, caveat: str) -> str:
        """The note of a fold run on an incomplete copy: not the paper's protocol, or on a dataset of your own (no
        paper protocol) part of the fold its entry defines."""
        if not self.own_dataset:
            return f"PARTIAL COPY: {caveat}; not comparable with the paper's protocol."
        from ..data.splits import fold_source
        return (f"PARTIAL COPY: {caveat}; the run trained and tested on part of its fold (the folds: "
                f"{fold_source(self.dataset)}).")

    @staticmethod
    def reported_label(reported: pd.DataFrame, same_dataset: bool) -> str:
        paper = _PAPER_NAMES.get(reported.attrs.get("paper"), reported.attrs.get("paper", "paper"))
        ds = reported.attrs.get("dataset", "?")
        ds = dataset_name(ds)
        return f"reported ({paper}, {ds})" if same_dataset else f"reported ({paper}, {ds}; different dataset)"

    # ------------------------------------------------------------------ content
    def add_metrics(self, **flat) -> None:
        """Measured metrics only: flat ``key=value`` (numbers, strings, flat lists)."""
        for k, v in flat.items():
            self.metrics[k] = _scalar(k, v)

    def headline(self, *keys: str) -> None:
        """Metric keys shown in ``reports/index.md``."""
        self.headline_keys = list(keys)

    def add_reference(self, key: str, paper: str, table_key: str, method: str, column: str = "Avg") -> None:
        """The paper's number that the measured metric ``key`` is compared with (reported.json)."""
        from .. import reported as R

        if self.own_dataset:          # no paper measured the user's dataset: nothing to compare with
            return
        df = R.table(paper, table_key)
        value = float(df.loc[method, column])
        self.references[key] = {"value": value, "paper": paper, "table": table_key, "method": method,
                                "column": column, "dataset": df.attrs["dataset"], "source": df.attrs["sources"][method]}

    def add_table(self, name: str, measured: pd.DataFrame, reported: pd.DataFrame | None = None, *,
                  measured_label: str | None = None, reported_label: str | None = None,
                  same_dataset: bool | None = None, row_map: Mapping[str, str] | None = None,
                  measured_std: pd.DataFrame | None = None, scale: float | None = None,
                  flags: Mapping[str, Mapping[str, str]] | None = None, decimals: int | None = None,
                  title: str | None = None, compared_on: str | None = None, unit: str | None = None,
                  extra_notes: Sequence[str] = ()) -> list[Path]:
        """Write ``tables/<name>.csv`` and ``.md``: measured rows beside reported ones.

        same_dataset defaults to ``dataset == reported.attrs["dataset"]`` (so SynthAU runs
        never get a difference column); ``unit`` defaults to the paper's table's (``"%"`` for F1), also where
        its rows are not shown (a dataset of your own), and is said under the table; "%" scales the measured
        fractions by 100 (``scale`` overrides); flags ``{method: {au: flag}}`` (``aukit.metrics``' degenerate
        cases, ``aukit.report.flags.over_seeds`` over seeds) mark their cells and are named in the notes: an
        undefined score shows "n/a" and is left out of Avg, the model's own zero counts in it.
        compared_on: the dataset that the rows beside ``reported`` were measured on, where that is not
        the run's ``dataset`` (CPC's Table 1: pre-training on the pool, which never reads the target);
        a dataset of your own keeps such reported rows, and drops every other paper row.
        extra_notes: the method's own lines under the table, last (TAS: what its constant floor row means).
        """
        own = self.own_dataset
        if unit is None:             # the paper's table's unit, kept where its rows are not shown
            unit = reported.attrs.get("unit") if reported is not None else None
        metric = reported.attrs.get("metric") if reported is not None else None
        paper_decimals = reported.attrs.get("decimals", 2) if reported is not None else 2
        if own and compared_on is None:   # the papers' rows are of another dataset, AUs and protocol: left out
            reported = None
        attrs = reported.attrs if reported is not None else {}
        if same_dataset is None:
            same_dataset = reported is not None and attrs.get("dataset") == (compared_on or self.dataset)
        gap = self._protocol_gap(attrs) if same_dataset else None
        setup = self.setup_gap if same_dataset else None
        if gap or setup:             # the same dataset on another split or setup: no difference rows either
            same_dataset = False
        if scale is None:
            scale = 100.0 if unit == "%" else 1.0
        m_label = measured_label or self.measured_label
        r_label = reported_label or (self.reported_label(reported, same_dataset) if reported is not None else "")
        if gap and not reported_label:
            from ..reported import protocol
            r_label = r_label.replace("; different dataset)", f", {protocol(attrs)} split)")
        elif setup and not reported_label:
            r_label = r_label.replace("; different dataset)", ")")
        one_seed = measured_std is not None and self.one_seed
        if one_seed:
            measured_std = None          # one run has no spread: "± 0.00" would claim a spread of zero
        dec = decimals if decimals is not None else int(paper_decimals)
        measured, measured_std, marks, flag_notes = flagged_cells(flags, measured, measured_std, scale=scale,
                                                                  decimals=dec)
        self.add_flags(name, flags)
        long = compare(measured, reported, measured_label=m_label, reported_label=r_label,
                       same_dataset=same_dataset, row_map=row_map, measured_std=measured_std, scale=scale)
        notes = [self._partial_note(c) for c in self.caveats]
        notes += [f"Frames lost: {x} (`aukit data check` and the store's qa.json name them)." for x in self.frames_lost]
        if self.synthetic_side_sets:
            notes.append(f"This {self.dataset} run also read synthetic SynthAU data: "
                         f"{', '.join(self.synthetic_side_sets)} (stand-ins read where a real side set was "
                         "not found or a stand-in was named; CPC's -p pool, RTATL's -p unlabelled and PIAP-DF's "
                         "-p landmark_set / -p identity_set take real ones).")
        notes += ["One seed: no spread over seeds to show (run more seeds for mean ± std)."] if one_seed else []
        notes += [self._own_note(attrs, compared_on)] if own else []
        notes += [f"{au} (in {self.dataset}'s AU list) not trained or scored: {why}."
                  for au, why in self.aus_dropped.items()]
        if reported is not None:
            paper = _PAPER_NAMES.get(attrs.get("paper"), attrs.get("paper"))
            notes.append(f"Reported: {paper} Table {attrs.get('table', '?')}, {attrs.get('caption', '')} "
                         "Reported numbers are the paper's, not measured here.")
            if gap:
                notes.append(f"Difference: n/a: another split: {gap}; the reported rows are for orientation only.")
            if setup:
                notes.append(f"Difference: n/a: not the paper's setup: {setup}; the reported rows are for "
                             "orientation only.")
            if not (gap or setup or same_dataset):
                notes.append(f"Difference: {DIFF_NA} (measured on {compared_on or self.dataset}, reported on "
                             f"{attrs.get('dataset')}); the reported rows are for orientation only.")
        if unit == "%" and scale == 100.0:
            notes.append(f"Unit: {metric + ' in ' if metric else ''}% (measured fractions x 100; metrics.json "
                         "keeps fractions, 0-1).")
        elif scale != 1.0:
            notes.append(f"Measured values multiplied by {scale:g}.")
        notes += flag_notes + list(extra_notes)
        folder = self.dir / "tables"
        folder.mkdir(parents=True, exist_ok=True)
        csv, md = folder / f"{name}.csv", folder / f"{name}.md"
        long.to_csv(csv, index=False)
        md.write_text(to_markdown(long, title=title or name, notes=notes, decimals=dec, marks=marks),
                      encoding="utf-8")
        # what a sweep needs to put the mean over this table's runs beside the paper (report.folds)
        side = folder / f"{name}.json"
        side.write_text(json.dumps({
            # a sweep's mean over runs on a dataset of your own stands alone (report.folds reads the whole table)
            "reported": {"paper": attrs["paper"], "key": attrs["key"]} if attrs.get("key") and not own else None,
            "row_map": dict(row_map or {}), "title": title or name, "decimals": dec,
            "dataset": self.dataset, "fold": self.fold, "preset": self.preset, "changed": self.changed,
            "setup_gap": self.setup_gap, "partial_copy": self.caveats, "seeds": self.seeds,
            "synthetic_side_sets": self.synthetic_side_sets, "flags": {m: dict(f) for m, f in (flags or {}).items()},
        }, indent=1), encoding="utf-8")
        self.files["tables"] += [csv, md, side]
        return [csv, md]

    def add_flags(self, name: str, flags: Mapping[str, Mapping[str, str]] | None) -> None:
        """Record flagged scores ``{method: {au: flag}}`` under ``name`` for metrics.json (``undefined_scores``,
        ``model_zero_scores``): every table's (:meth:`add_table`), and those of an average no table shows (RTATL's
        and PIAP-DF's ``auc``: an AU of one class is left out of ``auc_avg``)."""
        kept = {str(m): dict(f) for m, f in (flags or {}).items() if f}
        if kept:
            self.flags[name] = kept

    def add_figure(self, name: str, fig, flags: Mapping[str, Mapping[str, str]] | None = None) -> list[Path]:
        """Write ``figures/<name>.png`` and ``.pdf``, with the measured label under the figure
        (dataset, split, preset, changes, seeds): a figure copied out of the report still says what
        it was measured on, where a paper's figure of the same name shows real data. ``flags``
        ``{point: {au: flag}}`` of a figure whose points average over AUs (every point drawn): a line under
        it names the undefined scores its averages leave out and the model's zeros they count
        (:func:`aukit.report.flags.figure_note`), and metrics.json records them under ``name``."""
        from ..viz.style import save_figure

        note = figure_note(flags)
        stamp_figure(fig, self.measured_label + (f"\n{note}" if note else ""))
        self.add_flags(name, flags)
        paths = save_figure(fig, self.dir / "figures", name)
        self.files["figures"] += paths
        return paths

    @property
    def one_seed(self) -> bool:
        """A run of one seed: no spread over seeds to show, in the tables or in metrics.json."""
        return len(self.seeds) < 2

    # ------------------------------------------------------------------ output
    @property
    def measured(self) -> dict:
        """The metrics as metrics.json has them: every std over seeds (a ``std`` token in the key:
        ``f1_std_rtatl``, ``t3_A0_icc_avg_std``) null for a one-seed run: one run has no spread, and 0
        would claim one of zero (the tables say the same in words). What a notebook shows of its run
        (the 0.0 it showed beside metrics.json's null)."""
        if not self.one_seed:
            return self.metrics
        return {k: None if _STD_KEY.search(k) else v for k, v in self.metrics.items()}

    def _flag_record(self) -> dict:
        """metrics.json's record of the tables' flagged scores, ``{table: {method: {au: flag}}}``:
        ``undefined_scores`` (left out of every ``*_avg``) and ``model_zero_scores`` (counted in them)."""
        kinds = {"undefined_scores": {}, "model_zero_scores": {}}
        for table, flags in self.flags.items():
            for key, part in zip(kinds, split(flags)):
                if part:
                    kinds[key][table] = part
        return {k: v for k, v in kinds.items() if v}

    def write(self, **run_extra) -> dict[str, Path | list[Path]]:
        """Write metrics.json, reported.json (if references were added) and run.yaml. Beside the
        measured metrics, metrics.json gets the run's training throughput and time from every
        ``aukit.train.fit`` call of this process (:func:`aukit.report.provenance.training`), and
        run.yaml each call's numbers (``train_fits``)."""
        from .. import runtime
        from ..train import FITS

        self.dir.mkdir(parents=True, exist_ok=True)
        missing = [k for k in self.headline_keys if k not in self.metrics]
        if missing:
            raise ValueError(f"headline keys without a measured value: {missing}")
        head = {"slug": self.slug, "dataset": self.dataset, "preset": self.preset, "seeds": self.seeds,
                "device": self.device, "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "headline": self.headline_keys, **({"partial_copy": self.caveats} if self.caveats else {}),
                **({"synthetic_side_sets": self.synthetic_side_sets} if self.synthetic_side_sets else {}),
                **({"lacking_side_sets": self.lacking_side_sets} if self.lacking_side_sets else {}),
                **({"trunk_start": self.trunk_start} if self.trunk_start else {}), "input_norm": self.input_norm,
                **({"frames_lost": self.frames_lost} if self.frames_lost else {}),
                **({"aus_dropped": dict(self.aus_dropped)} if self.aus_dropped else {}),
                **self._flag_record(),
                "paper_setup": self.setup_gap is None,     # a sweep's aggregate.md reads it, not its own rules
                **({"changed_parameters": self.changed} if self.changed else {})}
        # train_images_per_s, train_wall_s over every fit call; after the measured metrics, which a
        # sweep's aggregate lists (and draws) in metrics.json's order
        trained = training(FITS)
        run_extra.setdefault("train_fits", [dict(f) for f in FITS])
        run_extra.setdefault("input_norm", self.input_norm)
        clash = sorted((set(head) | set(trained)) & set(self.metrics))
        if clash:
            raise ValueError(f"metric names clash with report fields: {clash}")
        out = {"metrics": self.dir / "metrics.json"}
        out["metrics"].write_text(json.dumps({**head, **self.measured, **trained}, indent=2),
                                  encoding="utf-8")
        if self.references:
            out["reported"] = self.dir / "reported.json"
            out["reported"].write_text(json.dumps(self.references, indent=2), encoding="utf-8")
        for key, value in data_read().items():       # the stores, datasets and folds it read
            run_extra.setdefault(key, value)
        out["run"] = runtime.write_run_yaml(self.dir / "run.yaml", config=self.config, slug=self.slug,
                                            dataset=self.dataset, preset=self.preset, seeds=self.seeds,
                                            device=self.device, **run_extra)
        out["tables"], out["figures"] = list(self.files["tables"]), list(self.files["figures"])
        return out
