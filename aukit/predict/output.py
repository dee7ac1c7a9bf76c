"""OpenFace-style CSV, AU curves figure and the annotated video of ``aukit predict``."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from .outdir import AFTER_PATH, MARK, PATH, absolute


def rows_frame(frames, faces, preds: dict, aus: list[str], blank_faceless: bool = False) -> pd.DataFrame:
    """One row per (frame, face): ``frames[i]`` is row i's frame (repeated for a frame with
    several faces); AU and landmark columns empty (NaN) where there is no face. ``blank_faceless``
    (several faces a frame): a faceless row's ``face_id`` is empty, not 0, a real face's id that
    ``groupby('face_id')`` mixed it into (an integer column all the same, pandas' Int64); with one
    face a frame it stays 0, as OpenFace writes it."""
    n = len(frames)
    ids = [r.face for r in faces]
    if blank_faceless:
        ids = pd.array([r.face if r.success else pd.NA for r in faces], dtype="Int64")
    data = {"frame": [f.frame for f in frames]}  # counted from 1, as OpenFace's and DISFA's, or the file's number
    if any(f.name for f in frames):                  # image inputs: which file each row is
        data["file"] = [f.name for f in frames]
    data.update({"face_id": ids, "timestamp": [round(f.timestamp, 4) for f in frames],
                 "confidence": [round(r.confidence, 3) if r.success else np.nan for r in faces],
                 "success": [int(r.success) for r in faces]})
    boxes = np.array([r.box if r.success else (np.nan,) * 4 for r in faces], float).reshape(n, 4)
    for j, k in enumerate(("face_x", "face_y", "face_w", "face_h")):
        data[k] = boxes[:, j]
    lms = np.full((n, 68, 2), np.nan)
    for i, r in enumerate(faces):
        if r.success:
            lms[i] = r.landmarks
    for i in range(68):
        data[f"x_{i}"] = lms[:, i, 0].round(2)
    for i in range(68):
        data[f"y_{i}"] = lms[:, i, 1].round(2)
    for key, suffix in (("intensity", "_r"), ("occurrence", "_c")):
        if key in preds:
            vals = preds[key]
            for j, au in enumerate(aus):
                data[f"{au}{suffix}"] = vals[:, j].round(3) if key == "intensity" else \
                    np.where(np.isnan(vals[:, j]), np.nan, (vals[:, j] >= 0.5).astype(float))
            if key == "occurrence":
                for j, au in enumerate(aus):
                    data[f"{au}_p"] = vals[:, j].round(3)
    return pd.DataFrame(data)


def write_csv(df: pd.DataFrame, path: Path, header: list[str]) -> Path:
    """``# `` header lines (a line break in a file name written as \\n, so every header line stays a
    comment), then the rows. Values are written as rounded by :func:`rows_frame` (times to 0.1 ms,
    landmarks to 0.01 px, AUs to 0.001): a fixed number of significant digits cut the times of a
    long recording to whole seconds (frame 36000 at 29.97 frames/s read 1201)."""
    part = path.with_name(path.name + ".part")   # renamed when whole: a killed run leaves no CSV that looks complete
    with open(part, "w") as f:
        for line in header:
            f.write("# " + line.replace("\r", "\\r").replace("\n", "\\n") + "\n")
        f.write(csv_text(df))
    os.replace(part, path)
    return path


TEXT_COLUMNS = ("file",)   # the CSV's text columns: written quoted (csv_text)


def csv_text(df: pd.DataFrame, header: bool = True) -> str:
    """``df`` as CSV text, its text columns (:data:`TEXT_COLUMNS`, a file's name) always quoted: the
    readers the README names skip ``#`` to the end of a line (pandas' ``comment='#'``, R's
    ``comment.char``) except inside quotes, and a name like ``subj#1.png`` left bare lost the rest of
    its row (and turned face_id into floats for the whole file). The header line and the numeric
    cells stay as pandas writes them, an empty one empty (``csv.QUOTE_NONNUMERIC`` quotes them
    all and writes a missing value as ``""``). Numeric cells hold no comma, so each line is split at
    the text column's place and the quoted name put back there."""
    text = [c for c in df.columns if c in TEXT_COLUMNS]
    if not text:
        return df.to_csv(index=False, header=header, lineterminator="\n")
    rest = df.drop(columns=text)
    body = rest.to_csv(index=False, header=False, lineterminator="\n").split("\n")[:len(df)] if len(df) else []
    quoted = {c: ['"' + v.replace('"', '""') + '"' if isinstance(v, str) else "" for v in df[c]] for c in text}
    where = {c: list(df.columns).index(c) for c in text}
    lines = [",".join(map(str, df.columns))] if header else []
    for i, line in enumerate(body):
        cells = line.split(",") if rest.shape[1] else []
        for c in text:                           # left to right: each at its place in df's columns
            cells.insert(where[c], quoted[c][i])
        lines.append(",".join(cells))
    return "".join(line + "\n" for line in lines)


class PartialRows:
    """The rows predicted so far, appended to ``<stem>.partial.csv`` as they come, so that an
    interrupted run of a long recording keeps its work (an hour's video lost everything to Ctrl-C
    at 50%). A finished run writes the whole CSV and removes this file."""

    def __init__(self, path: Path, input: str | Path):
        self.path, self.input, self.file, self.columns, self.rows = path, input, None, None, 0

    def add(self, df: pd.DataFrame) -> None:
        if self.file is None:
            self.file = open(self.path, "w")
            self.file.write(f"{MARK}{self.input}{PATH}{absolute(self.input)}{AFTER_PATH[1]} (unsmoothed); "
                            "a finished run writes the whole CSV and removes this file\n")
            self.columns = list(df.columns)
            self.file.write(csv_text(df))
        else:
            self.file.write(csv_text(df.reindex(columns=self.columns), header=False))
        self.file.flush()
        self.rows += len(df)

    def close(self, keep: bool) -> Path | None:
        """Close; keep the file (returned) for a run that stopped early, else remove it.
        Never raises: it runs while another error is on its way (a full or read-only disk), which it
        would hide."""
        try:
            if self.file is not None:
                self.file.close()
            if keep and self.rows:
                return self.path
            self.path.unlink(missing_ok=True)
        except OSError:
            pass
        return None


def curves_figure(df: pd.DataFrame, aus: list[str], title: str, photos: bool = False):
    """AU curves over time, a panel per AU and a line per face; one frame (a photo) is a bar chart
    of its AUs instead (a curve of one point on a -0.04..0.04 axis says nothing), and a folder of
    ``photos`` (unrelated pictures, no time between them) a heatmap of photo x AU."""
    from ..viz.style import theme

    with theme():      # a style for these figures only; a Figure, not pyplot: the caller's backend and rcParams stay
        suffix = "_r" if f"{aus[0]}_r" in df else "_p"
        if df["frame"].nunique() == 1:
            return _bars_figure(df, aus, title, suffix)
        if photos:
            return _photos_figure(df, aus, title, suffix)
        return _curves(df, aus, title, suffix)


CURVE_BINS = 800    # above this many frames a panel shows each bin's mean and its min-max band


def _curves(df: pd.DataFrame, aus: list[str], title: str, suffix: str):
    """A panel per AU, a line per face; stretches without any face shaded grey. A long recording
    (more frames than :data:`CURVE_BINS`) is binned: a mean line in a min-max band, so an hour's
    90,000 frames read as a curve, not a solid band; its time axis is in minutes past 10 minutes."""
    import seaborn as sns
    from matplotlib.figure import Figure

    ncol = 3
    nrow = int(np.ceil(len(aus) / ncol))
    fig = Figure(figsize=(4 * ncol, 1.8 * nrow))
    axes = fig.subplots(nrow, ncol, sharex=True, squeeze=False)
    timed = df["timestamp"].max() > 0
    t = df.groupby("frame")["timestamp" if timed else "frame"].first()            # a row per frame
    minutes = timed and t.max() > 600
    t = t / 60 if minutes else t
    ids = sorted(df.loc[df["success"] == 1, "face_id"].unique()) or [0]
    colours = sns.color_palette("deep", len(ids))
    bins = _bins(t.to_numpy(float)) if len(t) > CURVE_BINS else None
    faceless = _faceless_spans(df, t)
    for ax, au in zip(axes.flat, aus):
        # one line per face over every frame (NaN where that face is absent: a gap, not a bridge)
        wide = df[df["success"] == 1].pivot(index="frame", columns="face_id", values=f"{au}{suffix}").reindex(t.index)
        for a, b in faceless:
            ax.axvspan(a, b, color="0.8", lw=0, zorder=0)
        for fid, c in zip(ids, colours):
            y = wide[fid].to_numpy(float) if fid in wide else np.full(len(wide), np.nan)
            label = f"face {fid}" if len(ids) > 1 else None
            if bins is None:     # a lone frame (a photo, a face seen once between gaps) is a point: a line needs two
                ax.plot(t.to_numpy(float), y, lw=1, color=c, label=label, marker="o" if len(wide) <= 60 else None,
                        ms=3)
                continue
            centre, mean, low, high = _binned(t.to_numpy(float), y, bins)
            ax.fill_between(centre, low, high, color=c, alpha=0.25, lw=0)
            ax.plot(centre, mean, lw=1, color=c, label=label)
        ax.set_title(au, fontsize=9)
        ax.set_ylim(0, 5 if suffix == "_r" else 1)
    legend = 1 < len(ids) <= 10                       # a crowd's ids would fill a column
    if legend:          # beside the panels, in a margin of its own: inside the first one it covered its curves
        axes.flat[0].legend(fontsize=7, loc="center left", bbox_to_anchor=(LEGEND_AT, 0.5),
                            bbox_transform=fig.transFigure, frameon=False).set_in_layout(False)
    elif len(ids) > 10:
        title += f" ({len(ids)} faces, one line each)"
    if bins is not None:
        title += f"\n{len(t)} frames in {len(bins) - 1} bins: mean line, min-max band"
    if faceless:
        title += ("; " if bins is not None else "\n") + "grey: no face"
    for ax in list(axes.flat)[len(aus):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("time (min)" if minutes else "time (s)" if timed else "frame")
    for ax in axes[:, 0]:
        ax.set_ylabel("intensity" if suffix == "_r" else "probability", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, LEGEND_AT, 1) if legend else None)
    return fig


LEGEND_AT = 0.92    # share of a curves figure's width left of the per-face legend


def _bins(t: np.ndarray) -> np.ndarray:
    return np.linspace(np.nanmin(t), np.nanmax(t), CURVE_BINS + 1)


def _binned(t: np.ndarray, y: np.ndarray, edges: np.ndarray):
    """(bin centres, mean, min, max) of ``y`` over ``t``'s bins; NaN where a bin has no value."""
    k = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, len(edges) - 2)
    ok = np.isfinite(y)
    n = np.bincount(k[ok], minlength=len(edges) - 1)
    with np.errstate(invalid="ignore"):
        mean = np.bincount(k[ok], y[ok], minlength=len(edges) - 1) / n
    low, high = np.full(len(n), np.inf), np.full(len(n), -np.inf)
    np.minimum.at(low, k[ok], y[ok])
    np.maximum.at(high, k[ok], y[ok])
    empty = n == 0
    mean[empty] = low[empty] = high[empty] = np.nan
    return (edges[:-1] + edges[1:]) / 2, mean, low, high


def _faceless_spans(df: pd.DataFrame, t: pd.Series) -> list[tuple[float, float]]:
    """(start, end) on ``t``'s axis of every stretch of frames with no face at all."""
    found = df.groupby("frame")["success"].max().reindex(t.index).fillna(0).to_numpy() > 0
    if found.all() or not found.any():      # all faceless: the title says "no face found"
        return []
    tv = t.to_numpy(float)
    step = float(np.median(np.diff(tv))) if len(tv) > 1 else 0.0
    edges = np.flatnonzero(np.diff(np.r_[0, (~found).astype(np.int8), 0]))
    return [(tv[a] - step / 2, tv[b - 1] + step / 2) for a, b in zip(edges[::2], edges[1::2])]


def _bars_figure(df: pd.DataFrame, aus: list[str], title: str, suffix: str):
    """One image's AUs as bars, a group per face found (none found: the title says so)."""
    import seaborn as sns
    from matplotlib.figure import Figure

    faces = df[df["success"] == 1]
    fig = Figure(figsize=(max(5.0, 0.55 * len(aus) * max(1, len(faces))), 3.2))
    ax = fig.subplots()
    colours = sns.color_palette("deep", max(1, len(faces)))
    width = 0.8 / max(1, len(faces))
    x = np.arange(len(aus))
    for k, (_, row) in enumerate(faces.iterrows()):
        ax.bar(x + (k - (len(faces) - 1) / 2) * width, [row[f"{a}{suffix}"] for a in aus], width, color=colours[k],
               label=f"face {int(row['face_id'])}" if len(faces) > 1 else None)
    ax.set_xticks(x, aus, rotation=45 if len(aus) > 8 else 0, ha="right" if len(aus) > 8 else "center",
                  rotation_mode="anchor")            # a slanted label ends under its bar
    ax.set_ylim(0, 5 if suffix == "_r" else 1)
    ax.set_ylabel("intensity (0-5)" if suffix == "_r" else "occurrence probability")
    if len(faces) > 1:
        ax.legend(fontsize=7)
    fig.suptitle(title if len(faces) else f"{title}: no face found", fontsize=10)
    fig.tight_layout()
    return fig


PHOTO_ROWS = 60   # photos shown in a folder's heatmap (the CSV has them all)


def _photos_figure(df: pd.DataFrame, aus: list[str], title: str, suffix: str):
    """A folder of photos: rows = photos (and faces, where a photo has several), columns = AUs; a photo
    without a face is a grey row. The first PHOTO_ROWS rows, the title says when there are more."""
    import seaborn as sns
    from matplotlib.figure import Figure

    several = df.groupby("frame")["face_id"].transform("size") > 1
    names = df["file"] if "file" in df else df["frame"].astype(str)
    labels = [f"{n} #{int(f)}" if m else str(n) for n, f, m in zip(names, df["face_id"], several)]
    grid = pd.DataFrame(df[[f"{a}{suffix}" for a in aus]].to_numpy(float), index=labels, columns=aus)
    shown = grid.iloc[:PHOTO_ROWS]
    fig = Figure(figsize=(max(5.0, 0.55 * len(aus) + 2.5), 1.2 + 0.28 * len(shown)))
    ax = fig.subplots()
    sns.heatmap(shown, vmin=0, vmax=5 if suffix == "_r" else 1, cmap="viridis", ax=ax,
                annot=len(shown) <= 25 and len(aus) <= 12, fmt=".1f" if suffix == "_r" else ".2f",
                cbar_kws={"label": "intensity (0-5)" if suffix == "_r" else "occurrence probability"})
    ax.set_facecolor("#d9d9d9")                          # NaN (no face) cells show the background
    ax.grid(False)
    ax.tick_params(axis="y", rotation=0)
    ax.set_ylabel("")
    more = f" (first {PHOTO_ROWS} of {len(grid)} rows; all in the CSV)" if len(grid) > PHOTO_ROWS else ""
    fig.suptitle(title + more, fontsize=10)
    fig.tight_layout()
    return fig


class Problems:
    """Why frames were unreadable, as runs of consecutive frames with one reason: a video cut short
    gave 47 rows each saying "the video's frame does not decode" and a header listing 20 of them;
    now "frames 104-150: the video's frame does not decode (to the end: the file may be cut short)"."""

    def __init__(self, limit: int):
        self.limit, self.runs, self.open = limit, [], False   # runs: [first, last, reason]

    def feed(self, frames) -> None:
        for f in frames:
            if not f.error:
                self.open = False
            elif self.open and self.runs[-1][2] == f.error:
                self.runs[-1][1] = f.frame
            else:
                self.runs.append([f.frame, f.frame, f.error])
                self.open = True

    def texts(self, ends_video: bool = False) -> list[str]:
        """The first ``limit`` runs as text; ``ends_video``: a run reaching the video's last frame
        says the file may end early."""
        out = []
        for k, (a, b, why) in enumerate(self.runs[:self.limit]):
            last = ends_video and self.open and k == len(self.runs) - 1 and b > a
            out.append((f"frame {a}" if a == b else f"frames {a}-{b}") + f": {why}"
                       + (" (to the end: the file may be cut short)" if last else ""))
        return out


def annotate(frame_bgr: np.ndarray, rows, aus: list[str], *, scale: float = 1.0, offset=(0, 0),
             empty: str = "no face") -> np.ndarray:
    """Face boxes, landmarks and an AU bar chart per face drawn on a copy of one BGR frame (for
    VideoWriter). ``rows``: the frame's CSV rows (a Series, or a list of them, one per face), in the
    pixels of the image the frame was ``scale``d from and placed at ``offset`` (:func:`fit`): drawn
    after scaling, so a 64-px photo's text and a 4000-px photo's box keep the video's size.
    ``empty``: the word shown on a frame without a face ("unreadable" where it did not decode)."""
    img = frame_bgr.copy()
    rows = [rows] if isinstance(rows, pd.Series) else list(rows)
    faces = [r for r in rows if r["success"]]
    if not faces:
        cv2.putText(img, empty, (10, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 255), 2)
        return img

    def at(px, py):
        return int(round(px * scale + offset[0])), int(round(py * scale + offset[1]))
    for n, row in enumerate(faces):
        x, y = at(row["face_x"], row["face_y"])
        x2, y2 = at(row["face_x"] + row["face_w"], row["face_y"] + row["face_h"])
        cv2.rectangle(img, (x, y), (x2, y2), (0, 255, 0), 2)
        for i in range(68):
            cv2.circle(img, at(row[f"x_{i}"], row[f"y_{i}"]), 1, (0, 255, 255), -1)
        suffix, top = ("_r", 5.0) if f"{aus[0]}_r" in row else ("_p", 1.0)
        x0 = 5 if len(faces) == 1 else max(0, x)      # several faces: each chart above its own box
        y_top = 10 if len(faces) == 1 else max(0, y - 14 * len(aus) - 4)
        if len(faces) > 1:
            cv2.putText(img, f"face {int(row['face_id'])}", (x, y2 + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                        (0, 255, 0), 1)
        for j, au in enumerate(aus):
            v = float(row[f"{au}{suffix}"]) / top
            y0 = y_top + 14 * j
            cv2.rectangle(img, (x0, y0), (x0 + int(80 * v), y0 + 10), (255, 128, 0), -1)
            cv2.putText(img, au, (x0 + 85, y0 + 9), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1)
    return img


def letterbox(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """``img`` scaled to fit (h, w) whole, centred on black (a folder's photos differ in size;
    a video holds one)."""
    return fit(img, h, w)[0]


def fit(img: np.ndarray, h: int, w: int) -> tuple[np.ndarray, float, tuple[int, int]]:
    """:func:`letterbox`'s image with its scale and the (x, y) offset of the scaled image."""
    if img.shape[:2] == (h, w):
        return img, 1.0, (0, 0)
    s = min(h / img.shape[0], w / img.shape[1])
    nh, nw = max(1, round(img.shape[0] * s)), max(1, round(img.shape[1] * s))
    out = np.zeros((h, w, 3), np.uint8)
    y, x = (h - nh) // 2, (w - nw) // 2
    out[y:y + nh, x:x + nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    return out, s, (x, y)
