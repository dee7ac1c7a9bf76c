"""CPC report: Tables 1-5 measured beside reported, figures, metrics.json (through ``aukit.report``)."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from aukit import reported
from aukit.metrics import aggregate
from aukit.report import Report, frame_from_results
from aukit.report.flags import over_seeds

from .experiment import REPORTED_ROW, VARIANTS_2PCT, VARIANTS_SUP, Results
from .figures import au_distribution, pretext_curves


def key_of(name: str) -> str:
    """'Ours(*pool)-2%' -> 'ours_pool_2pct' (metric-key form of a variant name)."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower().replace("%", "pct").replace("+", "_")).strip("_")


def variant_tables(res: Results, variants, metric: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(mean, std) over seeds: rows = variants run, columns = AUs + Avg."""
    names = [v for v in variants if all(v in s for s in res.per_seed)]
    means, stds = {}, {}
    for v in names:
        agg = aggregate([{k: x for k, x in s[v][metric].items() if k != "flags"} for s in res.per_seed])
        means[v] = {k: m for k, (m, _) in agg.items()}
        stds[v] = {k: sd for k, (_, sd) in agg.items()}
    return frame_from_results(means, res.aus), frame_from_results(stds, res.aus)


def variant_flags(res: Results, variants, metric: str) -> dict[str, dict[str, str]]:
    """{variant: {AU: flag}} over seeds (``aukit.report.flags.over_seeds``) of the variants :func:`variant_tables`
    shows: the AUs whose ICC a constant test label leaves undefined (out of Avg) or a constant prediction zeroes."""
    names = [v for v in variants if all(v in s for s in res.per_seed)]
    return {v: f for v in names if (f := over_seeds([s[v][metric].get("flags", {}) for s in res.per_seed], res.aus))}


def pretext_table(res: Results) -> tuple[pd.DataFrame, pd.DataFrame]:
    cols = ["Top-1", "Top-3", "Top-5"]
    means, stds = {}, {}
    for src in ("target", "pool"):
        runs = [p[src]["val"] for p in res.pretext if src in p]
        if not runs:
            continue
        agg = aggregate(runs)
        name = f"{src} ({res.dataset if src == 'target' else res.pool})"
        means[name] = [agg[f"top{n}"][0] for n in (1, 3, 5)]
        stds[name] = [agg[f"top{n}"][1] for n in (1, 3, 5)]
    return (pd.DataFrame.from_dict(means, orient="index", columns=cols),
            pd.DataFrame.from_dict(stds, orient="index", columns=cols))


def _pool_row(table1: pd.DataFrame) -> pd.DataFrame:
    """The paper's Table 1 cut to its Aff-Wild2 row (pre-training on the pool), labelled as Aff-Wild2's."""
    row = table1.loc[["Aff-Wild2"]].copy()
    row.attrs = {**table1.attrs, "dataset": "affwild2",
                 "sources": {"Aff-Wild2": table1.attrs["sources"]["Aff-Wild2"]}}
    return row


def write_report(res: Results, out_dir="reports/cpc", *, preset: str) -> dict:
    """Fill the report folder ``out_dir`` (e.g. ``reports/cpc``) with the tables, figures, metrics
    and provenance of ``res``."""
    from pathlib import Path

    from aukit.viz import intensity_curves

    rep = Report("cpc", dataset=res.dataset, preset=preset, seeds=res.seeds, device=res.device,
                 config=res.configs, folder=Path(out_dir))  # the notebook's out_dir is the report folder
    rep.aus_dropped.update(getattr(res.split, "aus_dropped", None) or {})   # a dataset of your own's AUs left out
    base = res.dataset.removeprefix("synthau-")
    # the "2%" arms at another label fraction: rows say the fraction they had and stand alone (the paper's
    # rows are at 2%); metric keys keep their 2pct names, and metrics.json says the fraction
    fraction = float((res.configs.get("sparse") or {}).get("label_fraction", 0.02))
    paper_fraction = abs(fraction - 0.02) < 1e-12
    rep.add_metrics(label_fraction=fraction)

    def arm(n: str) -> str:
        return n if paper_fraction else n.replace("2%", f"{100 * fraction:g}%")

    def shown(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.rename(index=arm)
    # Table 1: predictive-task accuracy
    t1, t1s = pretext_table(res)
    # a row sits beside the paper's only where it measured the same kind of data (a BP4D target has no
    # reported row); the difference needs both rows on the real sets (the paper's DISFA and Aff-Wild2)
    # each row's (dataset measured, the paper's dataset, its reported row), by the row's source
    kinds = {"target": (res.dataset, "disfa", "DISFA"), "pool": (res.pool or "", "affwild2", "Aff-Wild2")}
    rows = {n: kinds[n.split(" ")[0]] for n in t1.index}
    row_map = {n: ref for n, (ds, paper, ref) in rows.items() if ds.removeprefix("synthau-") == paper}
    real = all(ds == paper for ds, paper, _ in rows.values())
    if rep.own_dataset:
        # no paper pre-trained on a dataset of your own: its target row stands alone; pre-training on the pool
        # never reads the target, so the pool row keeps the paper's Aff-Wild2 row beside it
        ref = _pool_row(reported.table("cpc", "table1")) if res.pool else None
        rep.add_table("table1_pretext_topn", t1, ref, measured_std=t1s, row_map=row_map,
                      same_dataset=res.pool == "affwild2", decimals=3, compared_on=res.pool or None)
    else:
        rep.add_table("table1_pretext_topn", t1, reported.table("cpc", "table1"), measured_std=t1s,
                      row_map=row_map, same_dataset=real and len(t1.index) == 2, decimals=3)
    for name in t1.index:
        src = name.split(" ")[0]
        for col in t1.columns:
            rep.add_metrics(**{f"{src}_val_{col.lower().replace('-', '')}": float(t1.loc[name, col])})
    # Tables 2 and 3: ablations (ICC and MAE per AU)
    for table, variants in (("table2", VARIANTS_2PCT), ("table3", VARIANTS_SUP)):
        for metric in ("icc", "mae"):
            mean, std = variant_tables(res, variants, metric)
            if mean.empty:
                continue
            ref = (reported.table("cpc", f"{table}_{metric}") if base == "disfa" and (paper_fraction or table == "table3")
                   else None)
            flags = {arm(v): f for v, f in variant_flags(res, variants, metric).items()}
            rep.add_table(f"{table}_{metric}", shown(mean), ref, measured_std=shown(std), row_map=REPORTED_ROW,
                          decimals=3, flags=flags or None)
            for v in mean.index:
                rep.add_metrics(**{f"{metric}_avg_{key_of(v)}": float(mean.loc[v, "Avg"]),
                                   f"{metric}_avg_std_{key_of(v)}": float(std.loc[v, "Avg"])})
    # Tables 4 / 5: ours beside the reported semi-supervised methods
    if base in ("bp4d", "disfa") and paper_fraction:
        key = "table4" if base == "bp4d" else "table5"
        ours = "Ours(*pool)-2%" if "Ours(*pool)-2%" in res.per_seed[0] else "Ours(*target)-2%"
        for metric in ("icc", "mae"):
            mean, std = variant_tables(res, [ours], metric)
            ref = reported.table("cpc", f"{key}_{metric}")
            cols = [c for c in ref.columns if c in mean.columns]
            rep.add_table(f"{key}_{metric}", mean[cols], ref, measured_std=std[cols], row_map={ours: "Ours 2%"},
                          decimals=3, flags=variant_flags(res, [ours], metric) or None)
    const = aggregate([{"icc": c["icc"]["avg"], "mae": c["mae"]["avg"]} for c in res.const])
    median = aggregate([{"mae": c["mae"]["avg"]} for c in res.const_median])
    rep.add_metrics(const_icc_avg=const["icc"][0], const_mae_avg=const["mae"][0],
                    const_median_mae_avg=median["mae"][0], wall_s=res.wall_s, n_aus=len(res.aus))
    heads = [k for k in ("icc_avg_ours_pool_2pct", "icc_avg_r18_2pct", "icc_avg_r18_gru_scratch_2pct",
                         "mae_avg_ours_pool_2pct", "const_median_mae_avg", "pool_val_top1") if k in rep.metrics]
    rep.headline(*heads)
    if base == "disfa" and paper_fraction and "icc_avg_ours_pool_2pct" in rep.metrics:
        rep.add_reference("icc_avg_ours_pool_2pct", "cpc", "table2_icc", "Ours(*Affwild2)-2%")
    # figures
    rep.add_figure("pretext_curves", pretext_curves(res.pretext))
    if res.curves:
        rep.add_figure("intensity_curves", intensity_curves(res.curves["labels"], res.curves["preds"], aus=res.aus,
                                                            title="test sequence: labels vs R18 2% vs ours"))
    if res.split is not None:
        rep.add_figure("au_distribution", au_distribution(res.split.labels[res.split.train_rows], res.aus))
    return rep.write(wall_s=res.wall_s)


def summary(res: Results, variants=VARIANTS_2PCT) -> pd.DataFrame:
    """Mean ± std of the average ICC and MAE per variant (the scientific check's table)."""
    rows = {}
    for v in variants:
        if not all(v in s for s in res.per_seed):
            continue
        icc = np.array([s[v]["icc"]["avg"] for s in res.per_seed])
        mae = np.array([s[v]["mae"]["avg"] for s in res.per_seed])
        sd = (lambda a: float(a.std(ddof=1)) if len(a) > 1 else float("nan"))   # one seed has no spread
        rows[v] = {"ICC mean": icc.mean(), "ICC std": sd(icc), "MAE mean": mae.mean(), "MAE std": sd(mae)}
    return pd.DataFrame.from_dict(rows, orient="index")
