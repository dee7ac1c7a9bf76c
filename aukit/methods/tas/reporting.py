"""TAS tables and figures: measured results beside the paper's (``aukit.reported``), figures
from ``aukit.viz``. Every function takes results of :mod:`.experiment` and a ``Report``."""
from __future__ import annotations

import time
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from aukit import reported, viz
from aukit.methods.aus import family_or_bp4d, is_own
from aukit.report import Report
from aukit.report.flags import undefined_aus
from aukit.report.tables import order_groups
from aukit.viz.style import new_figure

from . import experiment as E
from .data import TASData

PAPER_NAME = "TAS (ours)"  # our TAS row; maps to the paper's "Ours"
FIG4_AU = "AU12"           # Fig. 4's AU (TAS: AU12's features)

# what each constant predictor (experiment.constant_values) predicts, in the floor's table row and sentences
FLOOR_WORDS = {"zero": "0 for every AU (no AU active)",
               "train_median": "each AU's median over every labelled training frame",
               "keyframe_median": "each AU's median training keyframe label",
               "keyframe_mean": "each AU's mean training keyframe label"}
FLOOR_SHORT = {"zero": "0", "train_median": "training-frame median", "keyframe_median": "keyframe median",
               "keyframe_mean": "keyframe mean"}

# Table titles, and on a dataset of your own, where no paper's row stands beside the measured ones
# (aukit.report), the titles of the tables that would otherwise name the methods compared with
TITLES = {"table1": "Table 1 ({metric}): {name} vs semi-supervised methods",
          "table2": "Table 2: vs fully supervised methods",
          "table3": "Table 3: ablation (ICC up, MAE down)",
          "table4": "Table 4: other semi-supervised settings"}
OWN_TITLES = {"table1": "Table 1 ({metric}): {name} per AU on {dataset}",
              "table2": "Table 2: TAS on {dataset}, ICC and MAE averaged over AUs"}


def _bench(dataset: str) -> str:
    """The paper's tables to show beside a run (a dataset of your own: none are shown, aukit.report)."""
    return family_or_bp4d(dataset)


def table_title(key: str, dataset: str, *, metric: str = "", name: str = "A6") -> str:
    """The title of table ``key`` (:data:`TITLES`, :data:`OWN_TITLES` on a dataset of your own) on ``dataset``;
    ``metric`` and ``name`` fill Table 1's."""
    title = OWN_TITLES.get(key, TITLES[key]) if is_own(dataset) else TITLES[key]
    return title.format(metric=metric.upper(), name=name, dataset=dataset)


def floor_row(const: Mapping) -> str:
    """The floor's row name in the tables: which constant it is (``const``: :func:`experiment.constant_predictor`)."""
    return f"constant {FLOOR_SHORT[const['floor_constant']]} (floor)"


def _floor_verdict(maes: Mapping[str, float], floor: float, decimals: int) -> str:
    """'A6 (0.45) does not beat it' / 'A2 (0.20) beats it': each row against the floor as the table prints them
    (equal when printed: not beaten)."""
    shown = {n: round(float(v), decimals) for n, v in maes.items()}
    above = [n for n, v in shown.items() if v >= round(floor, decimals)]
    below = [n for n in shown if n not in above]
    name = lambda ns: ", ".join(f"{n} ({shown[n]:.{decimals}f})" for n in ns)     # noqa: E731
    parts = [f"{name(above)} {'does' if len(above) == 1 else 'do'} not beat it"] if above else []
    parts += [f"{name(below)} {'beats' if len(below) == 1 else 'beat'} it"] if below else []
    return "; ".join(parts)


def floor_note(maes: Mapping[str, float], const: Mapping, decimals: int = 2) -> str:
    """The line under a table with the floor row: which constant the floor is, that the constants come from
    training labels alone, and whether each measured row (``maes``: AU-averaged MAE) beats it. A constant's ICC
    is 0, so its ICC cell is empty."""
    floor = float(const["floor_mae_avg"])
    return (f"Floor: predicting {FLOOR_WORDS[const['floor_constant']]}, MAE {floor:.{decimals}f}, the lowest test "
            f"MAE of {len(FLOOR_WORDS)} constant predictors, none fitted to the test labels (0; each AU's median over "
            "the labelled training frames; the median and the mean of the training keyframes, what TAS's "
            f"supervision sees); a constant's ICC is 0. {_floor_verdict(maes, floor, decimals)}.")


def _floor_frame(const: Mapping, columns: Sequence[str]) -> pd.DataFrame:
    """The floor's row for a table with ``columns``: per-AU and Avg MAE (``AU06``..., ``Avg`` or ``MAE``), no ICC."""
    value = {c: const.get(f"floor_mae_{c}", np.nan) for c in columns}
    value.update({c: const["floor_mae_avg"] for c in columns if c in ("Avg", "MAE")})
    return pd.DataFrame([value], index=[floor_row(const)], columns=list(columns))


def add_table1(report: Report, data: TASData, results: Mapping[str, dict], name: str = "A6",
               floor: Mapping | None = None) -> dict:
    """Table 1: per-AU ICC and MAE of the full model beside the semi-supervised methods; ``floor`` (the
    constants of :func:`experiment.constant_predictor`) adds the floor's row to the MAE table, and says under
    it whether the model beats it: a MAE below the published rows' means nothing when a constant does better."""
    bench, out = _bench(data.dataset), {}
    report.aus_dropped.update(data.aus_dropped)
    for metric in ("icc", "mae"):
        mean, std = E.summary({PAPER_NAME: results[name]}, metric, data.aus)
        ref = reported.table("tas", f"table1_{bench}_{metric}")
        flags = E.seed_flags(results[name], metric, data.aus)         # an undefined ICC, a constant prediction
        shown, notes = mean, []
        if floor is not None and metric == "mae":
            shown = pd.concat([mean, _floor_frame(floor, mean.columns)])
            notes = [_table1_floor_note(float(mean.loc[PAPER_NAME, "Avg"]), floor, ref.attrs.get("decimals", 2))]
        report.add_table(f"table1_{metric}", shown, ref, measured_std=std, row_map={PAPER_NAME: "Ours"},
                         flags={PAPER_NAME: flags} if flags else None, extra_notes=notes,
                         title=table_title("table1", data.dataset, metric=metric, name=name))
        undefined = undefined_aus(flags)                              # null in metrics.json, n/a† in the table
        out.update({f"{metric}_{au}": None if au in undefined else float(mean.loc[PAPER_NAME, au]) for au in data.aus})
    return out


def _table1_floor_note(mae: float, floor: Mapping, decimals: int) -> str:
    """Table 1 MAE's floor line: :func:`floor_note`, and where the model does not beat the floor, that its MAE is
    no result to set beside the published methods' (which the paper measured on its own dataset)."""
    note = floor_note({PAPER_NAME: mae}, floor, decimals)
    if round(mae, decimals) >= round(float(floor["floor_mae_avg"]), decimals):
        note += (" Its MAE is no result to set beside the published methods': a constant does better on these "
                 "test frames.")
    return note


def add_overall_table(report: Report, key: str, data: TASData, results: Mapping[str, dict],
                      row_map: Mapping[str, str] | None = None, title: str = "",
                      floor: Mapping | None = None) -> pd.DataFrame:
    """Tables 2-4 layout (ICC, MAE averaged over AUs) beside the reported table ``<key>_<bench>``; ``title``
    defaults to :func:`table_title`'s. The notes name the AUs whose ICC the averages leave out (undefined: a
    constant test label) and the model's zeros they count (``aukit.report.flags``). ``floor`` (the constants of
    :func:`experiment.constant_predictor`) adds the floor's row and says which rows beat it; the frame returned
    holds the measured rows alone."""
    mean, std = E.overall(results, data.aus)
    report.aus_dropped.update(data.aus_dropped)             # a dataset of your own: its AUs TAS could not train
    ref = reported.table("tas", f"{key}_{_bench(data.dataset)}")
    flags = {name: f for name, r in results.items() if (f := E.seed_flags(r, "icc", data.aus))}
    shown, notes = mean, []
    if floor is not None:
        shown = pd.concat([mean, _floor_frame(floor, mean.columns)])
        notes = [floor_note(mean["MAE"].to_dict(), floor, ref.attrs.get("decimals", 2))]
    report.add_table(key, shown, ref, measured_std=std, row_map=row_map, flags=flags or None, extra_notes=notes,
                     title=title or (table_title(key, data.dataset) if key in TITLES else key))
    return mean


def ordering(mean: pd.DataFrame, names: Sequence[str], col: str = "ICC", decimals: int = 3) -> str:
    """'A6 (0.712) > A5 (0.705) = A4 (0.705) > ...' by the measured mean (higher ICC / lower MAE first). Rows equal
    at ``decimals`` places, as printed, are joined by '=': a tie is no order (seven ICC of 0.00x printed
    'A5 (-0.000) > A6 (-0.000)')."""
    sub = mean.loc[[n for n in names if n in mean.index], col]
    groups = order_groups(sub.to_dict(), decimals)            # low -> high
    if col != "MAE":
        groups = groups[::-1]
    sep = " < " if col == "MAE" else " > "
    # + 0.0: -0.0 prints as 0.000
    return sep.join(" = ".join(f"{k} ({round(float(sub[k]), decimals) + 0.0:.{decimals}f})" for k in g)
                    for g in groups)


def summary_metrics(data: TASData, results: Mapping[str, dict], full: str, *, per_au: Mapping[str, float],
                    const: Mapping, t3: pd.DataFrame, t_start: float) -> dict:
    """metrics.json's run summary, in its key order: the ``full`` model's AU-averaged test ICC / MAE (mean over
    seeds) and ``per_au`` (:func:`add_table1`), the floor (``floor_mae_avg``, ``floor_constant``: the best
    constant predictor, ``const`` from :func:`experiment.constant_predictor`) and every constant's MAE, the full
    model's mean fit to its training subjects, the data's segment count and keyframe fraction, Table 3's ICC
    order (``t3``) and every variant's mean / std, the training throughput (``images_per_s``: the last epoch's,
    averaged over every variant and seed) and the wall time since ``t_start`` (``time.perf_counter()`` when the
    run began). ``const_mae_avg`` / ``const_median_mae_avg`` keep their names (the training keyframes' mean and
    median); they were shown as the floor, but keyframes are peaks and valleys and predicting 0 did better."""
    m = E.overall({full: results[full]}, data.aus)[0].loc[full]
    seen = {k: float(np.mean([r[f"train_{k}"] for r in results[full]["runs"]])) for k in ("icc_avg", "mae_avg")}
    speed = [h[-1]["images_per_s"] for r in results.values() for h in r["history"]]
    consts = {f"const_{E.CONST_PREFIX[k]}mae_avg": float(const[f"{E.CONST_PREFIX[k]}mae_avg"]) for k in E.CONSTANTS}
    return dict(icc_avg=float(m["ICC"]), mae_avg=float(m["MAE"]), **per_au,
                floor_mae_avg=float(const["floor_mae_avg"]), floor_constant=const["floor_constant"], **consts,
                train_icc_avg=seen["icc_avg"], train_mae_avg=seen["mae_avg"],
                n_segments=int(len(data.seg_rows)), keyframe_fraction=data.keyframe_fraction(),
                t3_order_icc=ordering(t3, list(results)), **E.flat_summary(results, "t3_"),
                images_per_s=float(np.mean(speed)), wall_time_s=time.perf_counter() - t_start)


def floor_line(m: Mapping, name: str = "A6", decimals: int = 3) -> str:
    """The notebook's plain sentence on whether ``name``'s test MAE (``m``: :func:`summary_metrics`) beats the
    floor, compared as printed: 'A6's MAE 0.452 is above the floor 0.278, predicting 0 for every AU (no AU
    active): A6 does not beat it.'"""
    mae, floor = round(m["mae_avg"], decimals), round(m["floor_mae_avg"], decimals)
    where = "above" if mae > floor else "equal to" if mae == floor else "below"
    verdict = f"{name} beats every constant predictor" if mae < floor else f"{name} does not beat it"
    return (f"{name}'s MAE {mae:.{decimals}f} is {where} the floor {floor:.{decimals}f}, "
            f"predicting {FLOOR_WORDS[m['floor_constant']]}: {verdict}.")


def add_headline(report: Report, dataset: str) -> None:
    """The headline metrics (test ICC and MAE, and the floor: the best constant predictor's MAE and which
    constant it is) beside Table 1's "Ours" row of the paper's benchmark for ``dataset`` (DISFA's for a
    DISFA-like set, else BP4D's)."""
    report.headline("icc_avg", "mae_avg", "floor_mae_avg", "floor_constant")
    for metric in ("icc", "mae"):
        report.add_reference(f"{metric}_avg", "tas", f"table1_{_bench(dataset)}_{metric}", "Ours")


def curves_figure(data: TASData, results: Mapping[str, dict], names: Sequence[str] = ("A1", "A2", "A5", "A6"),
                  au: str | None = None):
    """Fig. 3: predicted intensity of several models vs the labels on one test sequence: the one (and, without
    ``au``, the AU) whose label varies most, named in the title with why it was chosen. The first test
    sequence's AU12 was flat at 0: no trend for the models to follow, which the figure is about."""
    evals = {n: results[n]["eval"] for n in names if "eval" in results.get(n, {})}
    pick = E.varying_sequence(data, next(iter(evals.values())), au)
    labels, preds, (subj, seq) = E.sequence_curves(data, evals, pick["au"], subject=pick["subject"],
                                                   sequence=pick["sequence"])
    fig, grid = new_figure(1, len(preds), size=(3.2, 2.2), sharey=True)
    for ax, (name, pred) in zip(grid[0], preds.items()):
        viz.intensity_curves(labels, {name: pred}, aus=[pick["au"]], axes=[ax], title=name)
    fig.suptitle(_curves_title(pick, au is None))
    return fig


def _curves_title(pick: dict, au_chosen: bool) -> str:
    """Fig. 3's title: which subject / sequence / AU it shows and why (the test one whose label varies most)."""
    what = f"{pick['au']} on test subject {pick['subject']}, sequence {pick['sequence']}"
    among = "test sequence and AU" if au_chosen else f"test sequence for {pick['au']}"
    if pick["var"] <= 0:      # every test sequence's label is flat: say so rather than imply a trend
        return f"Fig. 3: {what}\n(constant label: the label is flat on every {among})"
    return (f"Fig. 3: {what}\nchosen as the {among} whose label varies most "
            f"(label {pick['lo']:.1f} to {pick['hi']:.1f}, variance {pick['var']:.2f})")


def fig4_au(data: TASData) -> str:
    """Fig. 4's AU: :data:`FIG4_AU` where the data has it, else its first AU (a dataset of your own)."""
    return FIG4_AU if FIG4_AU in data.aus else data.aus[0]


def tsne_au_figure(data: TASData, results: Mapping[str, dict], names=("A1", "A4"), au: str | None = None,
                   seed: int = 0):
    """Fig. 4: t-SNE of one AU's features (``au``, default :func:`fig4_au`) for two models, coloured by
    intensity and subject."""
    au = au if au in data.aus else fig4_au(data)
    feats, colour = {}, None
    for n in names:
        d = E.tsne_inputs(data, results[n]["eval"], au=au)
        feats[f"{n} {au}"] = d["X"]
        colour = {"intensity": d["intensity"], "subject": d["subject"]}
    subjects = list(dict.fromkeys(colour["subject"]))[:2]
    return viz.tsne_features(feats, colour, highlight=subjects, perplexity=min(30.0, max(5.0, len(colour["subject"]) / 4)),
                             seed=seed)


def tsne_subject_figure(data: TASData, results: Mapping[str, dict], names=("A1", "A6"), seed: int = 0):
    """Fig. 6: t-SNE of all AU features of one test subject, coloured by AU. Small points (``tsne_features``
    draws categories see-through, shuffled): A1's AU features of a frame nearly coincide, and at the default
    size the AU drawn last hid the others (two of five colours showed)."""
    feats, colour = {}, None
    for n in names:
        d = E.tsne_inputs(data, results[n]["eval"])
        feats[f"{n} ({d['subject']})"] = d["X"]
        colour = {"AU": d["AU"]}
    return viz.tsne_features(feats, colour, perplexity=min(30.0, max(5.0, len(colour["AU"]) / 6)), seed=seed,
                             point_size=5.0)


def sweep_figures(sweep: Mapping[str, Mapping[str, dict]], data: TASData, reference: Mapping[str, dict] | None = None):
    """Fig. 5: ICC and MAE against each lambda (mean +/- std over seeds); A1 as a dotted line."""
    figs = {}
    ref_mean = E.overall(reference, data.aus)[0] if reference else None
    for lam, res in sweep.items():
        mean, std = E.overall(res, data.aus)
        xs = [k.split("=")[1] for k in res]
        for col in ("ICC", "MAE"):
            ref = {f"A1 {col}": float(ref_mean.loc["A1", col])} if ref_mean is not None and "A1" in ref_mean.index else None
            figs[f"fig5_{lam}_{col.lower()}"] = viz.sweep_plot(xs, {col: mean[col].tolist()}, {col: std[col].tolist()},
                                                               xlabel=lam, ylabel=col, reference=ref,
                                                               categorical_x=True)
    return figs


def add_sweep_figures(report: Report, sweep: Mapping[str, Mapping[str, dict]], data: TASData,
                      reference: Mapping[str, dict] | None = None) -> dict:
    """:func:`sweep_figures` into ``report``, each ICC figure with its points' flags (the AUs its averages leave
    out, the model's zeros they count: a line under it, :meth:`Report.add_figure`); returns the figures."""
    figs = sweep_figures(sweep, data, reference)
    for name, fig in figs.items():
        lam, _, metric = name.removeprefix("fig5_").rpartition("_")
        flags = {k: E.seed_flags(r, "icc", data.aus) for k, r in sweep[lam].items()} if metric == "icc" else None
        report.add_figure(name, fig, flags=flags)
    return figs


def explore_view(data: TASData, results: Mapping[str, dict], name: str = "A6", **selection):
    """Interactive browser (static figure headless): test sequence, AU, frame -> face and curves."""
    ev = results[name]["eval"]
    rows = ev["rows"]
    faces = data.store.images[rows]
    idx = data.store.index.iloc[rows].reset_index(drop=True)
    return viz.explore(faces, idx, ev["label"], ev["pred"], data.aus, **selection)
