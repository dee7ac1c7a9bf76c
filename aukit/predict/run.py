"""The main process of ``aukit predict``: reader, detection pool, batched inference, CSV and plots."""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .. import deploy
from ..runtime import pick_device
from .faces import FOLLOW_TRACKS, KEEP_NOTE, MIN_FACE, TRACK_NCC, FacePipeline, FollowOne
from .frames import ChunkReader, input_stem, read_frames
from .infer import CompiledOrEager, TrackHistory
from .infer import infer as _infer
from .options import check_options
from .outdir import PATH, absolute, check_writable, claimed
from .output import PartialRows, Problems, annotate, curves_figure, fit, rows_frame, write_csv
from .reid import PersonIds, ids_note

# what the CSV's confidence column is (OpenFace's is a 0-1 landmark confidence: a `confidence >= 0.8` filter
# written for OpenFace kept 20% of a clear face's rows)
CONFIDENCE_NOTE = ("confidence: dlib's face detector score of the face's last detection (unbounded, about 0-3 on "
                   "clear faces; repeated on tracked frames), not OpenFace's 0-1 confidence; filter on success")
MAX_PROBLEMS = 20  # unreadable frames named in the result and the CSV header; the rest are counted
# decoded frames waiting for the workers or in their hands, at most (a 4K frame is 24 MiB: with a chunk of
# 32 and two chunks queued and two out per worker, 16 workers held about 50 GiB)
BUFFER_MB = int(os.environ.get("AUKIT_PREDICT_BUFFER_MB", "1024"))


@dataclass
class PredictResult:
    csv: Path
    png: Path | None
    n_frames: int
    n_faces: int
    unreadable: int
    seconds: float
    startup_s: float = 0.0          # model load + detection pool start (predict(); 0 from a Predictor)
    redetected: int = 0             # tracked frames that failed the track check and were detected afresh
    stages: dict = field(default_factory=dict)  # seconds: decode (reader thread, overlapped), faces_wait
    #   (main thread waiting on the detection workers), infer, rows (CSV table), write (CSV + PNG)
    problems: list = field(default_factory=list)  # why frames were unreadable, the first MAX_PROBLEMS
    skipped: list = field(default_factory=list)   # a folder's files that are not images (by suffix) and subfolders ('x/')
    notes: list = field(default_factory=list)     # what the user should know (also in the CSV header)
    video: Path | None = None       # the annotated video (annotate_video)
    unit: str = "frame"             # what a row is of: "frame" (a video, --frames) or "image" (photos)

    def read(self):
        """The CSV as a DataFrame (its ``#`` header lines skipped)."""
        import pandas as pd
        return pd.read_csv(self.csv, comment="#")

    @property
    def frames_per_s(self) -> float:
        """The whole call: start-up included."""
        return self.n_frames / max(self.seconds, 1e-9)

    @property
    def steady_frames_per_s(self) -> float:
        """Once the model and the detection workers are up (what a long recording sees)."""
        return self.n_frames / max(self.seconds - self.startup_s, 1e-9)


def _smooth(x: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average over frames (axis 0), NaN-aware (window 0/1: off): the mean of the
    values present in each window, from cumulative sums (one pass, any length); NaN stays NaN. The
    window is the row and ``window // 2`` rows each side: an odd ``window`` is that many rows (predict
    refuses an even one, which would be ``window + 1``)."""
    if window <= 1:
        return x
    half, n = window // 2, len(x)
    present = ~np.isnan(x)
    zero = np.zeros((1, *x.shape[1:]))
    total = np.concatenate([zero, np.cumsum(np.where(present, x, 0.0), 0)])
    count = np.concatenate([zero, np.cumsum(present, 0)])
    t = np.arange(n)
    lo, hi = np.clip(t - half, 0, n), np.clip(t + half + 1, 0, n)
    k = count[hi] - count[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (total[hi] - total[lo]) / k
    return np.where(present & (k > 0), out, np.nan)


def pipeline_sizes(chunk: int, detect_every: int, n_frames: int, workers: int, frame_bytes: int,
                   buffer_mb: int | None = None) -> tuple[int, int, int]:
    """(frames per chunk, chunks the reader may queue, chunks the workers may hold): two of each per
    worker, shrunk so that the decoded frames in both fit ``buffer_mb`` (:data:`BUFFER_MB`), down to
    one chunk of ``detect_every`` frames per worker and one queued (frame_bytes 0: unknown, no cap)."""
    c = chunk_size(chunk, detect_every, n_frames, workers)
    w = max(1, workers)
    ahead = inflight = 2 * w
    if frame_bytes > 0:
        k = max(1, detect_every)
        fit = max(1, ((BUFFER_MB if buffer_mb is None else buffer_mb) << 20) // frame_bytes)   # frames
        c = max(k, min(c, fit // (4 * w)) // k * k)
        inflight = max(w, min(2 * w, fit // c // 2))
        ahead = max(1, min(2 * w, fit // c - inflight))
    return c, ahead, inflight


def chunk_size(chunk: int, detect_every: int, n_frames: int, workers: int) -> int:
    """Frames per detection task: at most ``chunk``, a multiple of ``detect_every`` (a chunk
    starts with a detection, so such chunks add none), and, for an input of known length,
    small enough that every worker gets about four (they finish together)."""
    k = max(1, detect_every)
    if n_frames and workers > 1:
        chunk = min(chunk, -(-n_frames // (4 * workers)))
    return max(k, chunk // k * k)


# Detector every k-th frame when the caller does not say: a video's frames follow one another,
# so tracking between detections is safe; a folder may hold unrelated photos, where a track
# carried from one photo to the next can pass the NCC check on a different face (seen: 10 px
# mean landmark error on SynthAU stills), so each image is detected, unless the caller says the
# folder holds one video's frames (``frames=True``, ``--frames``).
DETECT_EVERY_VIDEO = 5


def consecutive(kind: str, frames: bool) -> bool:
    """Whether an input's images follow one another in time (tracking, sequence models)."""
    return kind == "video" or (kind == "folder" and frames)


def detect_every_for(kind: str, detect_every: int | None, frames: bool = False) -> int:
    """The caller's ``detect_every``; else 5 for one video's frames, 1 for photos."""
    if detect_every is not None:
        return detect_every
    return DETECT_EVERY_VIDEO if consecutive(kind, frames) else 1


class Predictor:
    """A deployable model and a face-detection pool, kept for many inputs.

        with Predictor("tas", workers=16) as p:
            for video in videos:
                p(video, out="predictions")

    Starting costs about a second (every worker loads dlib's models): :func:`predict` pays it
    for each input, a Predictor once. ``track_ncc``: between detections a tracked face whose
    aligned crop correlates less than this with the last detected face's is detected afresh
    (0: trust the tracker). ``max_faces``: faces kept a frame (1: the best-scoring one, one row a
    frame; more: one row per frame and face, ``face_id`` tracked). ``detect_every``: the
    detector every k-th frame, landmarks tracked between; None: 5 for a video (and a folder
    called with ``frames=True``), every image of a folder of photos. ``min_face``:
    the smallest face (dlib box side, input pixels) looked for when detection on a copy downscaled
    to 640 px finds none (see :class:`aukit.data.align.FaceAligner`; None: only that copy).
    ``compile``: run the model through ``torch.compile`` (:class:`~aukit.predict.infer.CompiledOrEager`).
    ``reid``: with ``max_faces`` above 1, ``face_id`` is one per person, a face tracked afresh (back in
    view) taking its earlier id by its dlib face descriptor (:mod:`aukit.predict.reid`); False: one per track.
    """

    def __init__(self, model: str | Path | deploy.Deployed = "tas", *, batch: int = 64, device: str | None = None,
                 detect_every: int | None = None,
                 workers: int | None = None, track_ncc: float = TRACK_NCC, max_faces: int = 1,
                 min_face: int | None = MIN_FACE, runs: str | Path | tuple = deploy.RUN_FOLDERS,
                 compile: bool = False, reid: bool = True):
        t0 = time.perf_counter()
        self.device = pick_device(device)
        if isinstance(model, deploy.Deployed):     # one loaded in the caller's own code (deploy.load)
            self.model_path = "(a Deployed object in memory)"    # a wrapper of our own: compile swaps its model
            self.net = deploy.place(deploy.Deployed(model.model, model.spec), self.device)
        elif isinstance(model, (str, Path)):
            self.model_path = deploy.find(str(model), runs)
            self.net = deploy.load(self.model_path, self.device)
        else:
            raise TypeError(f"model: a run name (tas), a deploy.pt path or an aukit.deploy.Deployed, got "
                            f"{type(model).__name__} (a trained network: export it first, e.g. the method's "
                            "export_deployable, then aukit.deploy.load)")
        if compile:                                 # compiled on the first batch (seconds, once)
            self.net.model = CompiledOrEager(self.net.model)
        self.batch, self.detect_every, self.track_ncc, self.max_faces = batch, detect_every, track_ncc, max_faces
        self.min_face, self.reid = min_face, reid
        self.pipe = FacePipeline(self.net.spec.policy, workers=workers, track_ncc=track_ncc, max_faces=max_faces,
                                 min_face=min_face)     # detect_every: given per input to stream()
        self.left: list[Path] = []                   # what the last call left when it stopped early
        self.startup_s = time.perf_counter() - t0

    def __enter__(self) -> "Predictor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.pipe.close()

    def __call__(self, input: str | Path, out: str | Path = "predictions", *, smooth: int = 0,
                 annotate_video: bool = False, chunk: int = 32, plot: bool = True,
                 progress: bool = False, frames: bool = False, name: str | None = None,
                 frame_step: int = 1, fps: float | None = None) -> PredictResult:
        """Predict AUs for every frame of ``input``; write ``out/<input>.csv`` (+ ``.png``).
        ``frame_step``: only frames 1, 1 + step, 1 + 2 * step, ... (Py-Feat's ``skip_frames``); rows keep
        the input's frame numbers (counted from 1, as OpenFace's) and times. A sequence model (CPC),
        which reads consecutive frames, refuses it.
        ``progress``: a bar over the frames (their count from the container for a video).
        ``frames``: a folder holds one video's frames in name order, not photos: its faces are
        tracked between detections, and a sequence model (CPC) reads them as a sequence.
        ``name``: the outputs' name (default: the input's stem; see ``frames.output_names``).
        ``fps``: a ``frames`` folder's frame rate: frame i is timed at (i - 1) / fps (a folder has no
        times of its own: without it every timestamp is 0 and the header says so)."""
        t0 = time.perf_counter()
        self.left = []                                # what this call leaves if stopped (the CLI names it)
        out, stem = self._check_call(input, out, name, smooth=smooth, annotate_video=annotate_video, plot=plot,
                                     frames=frames, frame_step=frame_step, fps=fps)
        with claimed(input, out, stem, plot, annotate_video):     # no other run writes these names meanwhile
            frames_iter, info = read_frames(input, every=frame_step)
            if fps:
                frames_iter, info["fps"] = _timed(frames_iter, fps), float(fps)
            run = _Run(input, out, stem, info, frames=frames, frame_step=frame_step,
                       every=detect_every_for(info["kind"], self.detect_every, frames), annotate_video=annotate_video,
                       aus=list(self.net.spec.aus))
            self._stream(run, frames_iter, chunk, progress)
            t_write = time.perf_counter()
            if progress and run.n_frames > 10_000:        # an hour's CSV and figure take a minute or two
                print(f"[aukit] {stem}: writing the CSV{' and the plot' if plot else ''} of {run.n_frames} frames",
                      file=sys.stderr)
            import pandas as pd
            df = _smoothed(pd.concat(run.parts, ignore_index=True), smooth)
            header, notes, problems = self._header(run, df, smooth)
            csv, avi, png = self._write(run, df, header, plot)
        run.stages["write_s"] = time.perf_counter() - t_write
        return PredictResult(csv, png, run.n_frames, int(df.success.sum()), run.unreadable, time.perf_counter() - t0,
                             0.0, run.redetected, {k: round(v, 4) for k, v in run.stages.items()}, problems,
                             info.get("skipped", []), notes, avi, "frame" if run.consecutive else "image")

    def _check_call(self, input, out, name: str | None, *, smooth: int, annotate_video: bool, plot: bool,
                    frames: bool, frame_step: int, fps: float | None = None) -> tuple[Path, str]:
        """The arguments of one call, checked before anything is read or written; returns the output
        folder (created) and the outputs' name. The outputs already there are checked once they are claimed
        (:func:`~aukit.predict.outdir.claimed`)."""
        net, spec = self.net, self.net.spec
        if frame_step < 1:
            raise ValueError(f"frame_step must be at least 1, got {frame_step}")
        check_options(input, frames=frames, fps=fps, smooth=smooth)
        if frame_step > 1 and net.context:
            raise ValueError(f"{spec.method or spec.model} reads {net.context} consecutive frames before each one: "
                             f"it cannot skip frames (frame_step {frame_step})")
        out = Path(out)
        stem = name or input_stem(input)
        check_writable(out)
        if smooth < 0 or (smooth > 1 and smooth % 2 == 0):     # an even window averaged smooth + 1 rows
            raise ValueError(f"smooth must be 0 (off) or an odd number of rows (a centred window: the row and as "
                             f"many on each side), got {smooth}" + (f"; use {smooth - 1} or {smooth + 1}"
                                                                    if smooth > 0 else ""))
        return out, stem

    def _stream(self, run: "_Run", frames_iter, chunk: int, progress: bool) -> None:
        """Read, detect and predict every frame into ``run`` (its rows in ``run.parts``); rows predicted
        before an interruption or a failure stay on disk (named in ``self.left``)."""
        from tqdm.auto import tqdm
        net, pipe, info = self.net, self.pipe, run.info
        history = TrackHistory(net.context, run.consecutive) if net.context else None
        chunk, ahead, inflight = pipeline_sizes(chunk, run.every, info["n_frames"], pipe.workers,
                                                info.get("frame_bytes", 0))
        reader = ChunkReader(frames_iter, chunk, ahead=ahead)
        bar = tqdm(total=info["n_frames"] or None, desc=run.stem, unit="frame", disable=not progress,
                   dynamic_ncols=True)
        group: list = []                              # (frames, faces) chunks waiting for a full batch
        held_frames = held_faces = 0                  # in ``group``
        partial = run.partial = PartialRows(run.out / f"{run.stem}.partial.csv", run.input)
        run.avi_part = run.out / f"{run.stem}_annotated.part.avi"   # renamed when whole, as the CSV is
        run.one = FollowOne(follow=run.consecutive) if self.max_faces == 1 else None
        persons = PersonIds() if self.max_faces > 1 and self.reid and run.consecutive else None
        results = pipe.stream(((fr, [f.image for f in fr]) for fr in reader), inflight=inflight,
                              detect_every=run.every)
        try:
            while True:
                t = time.perf_counter()
                item = next(results, None)
                run.stages["faces_wait_s"] += time.perf_counter() - t
                if item is None:
                    break
                self._assign_faces(item[1], run.one, run.photos)
                # before the frames go: a new track's face is described (it keeps the frame it needs), and the
                # chunks come back once their faces' persons are decided
                ready = [item] if persons is None else persons.feed(item, [f.image for f in item[0]], item[1])
                if not run.annotate_video:            # the faces are aligned: the frames are not needed again
                    for f in item[0]:
                        f.image = None
                for it in ready:
                    group.append(it)
                    held_frames += len(it[1])
                    held_faces += sum(r.success for fl in it[1] for r in fl)
                    # a full batch, or a long faceless stretch
                    if held_faces >= self.batch or held_frames >= max(self.batch, 256):
                        self._flush(run, group, history, partial, bar)
                        held_frames = held_faces = 0
            group += persons.finish() if persons is not None else []
            if group:
                self._flush(run, group, history, partial, bar)
        except BaseException:                         # Ctrl-C, SIGTERM, a failure: the rows so far stay on disk
            kept = partial.close(keep=True)
            self.left = [p for p in (kept, _end_video(run.video, run.avi_part,
                                                      run.out / f"{run.stem}_annotated.partial.avi")) if p]
            if kept:
                print(f"[aukit] {run.stem}: stopped after {run.n_frames} frames; the {partial.rows} rows predicted "
                      f"so far are in {kept}" + (f", their annotated frames in {self.left[1]}" if len(self.left) > 1
                                                 else ""), file=sys.stderr)
            raise
        finally:
            results.close()                           # an early exit: the chunks still in the workers are dropped
            reader.close()
            bar.close()
            if run.video.get("writer"):
                run.video.pop("writer").release()
        run.stages["decode_s"] = reader.busy_s

    @staticmethod
    def _assign_faces(per_frame: list, one: FollowOne | None, photos: bool) -> None:
        """Set the ``face`` of each frame's faces: the face followed (or each photo's best-scoring one)
        with one face a frame; each photo's faces 0, 1, ... by detection score; else the tracks' ids."""
        if one is not None:
            one.keep(per_frame)
        elif photos:                                  # unrelated pictures: no identity carried between them
            for faces in per_frame:
                for k, r in enumerate(sorted((r for r in faces if r.success), key=lambda r: -r.confidence)):
                    r.face = k
                faces.sort(key=lambda r: r.face)

    def _flush(self, run: "_Run", group: list, history, partial: PartialRows, bar) -> None:
        """Predict the faces of the chunks in ``group`` (emptied) as one batch; their rows go to
        ``run.parts``, the partial CSV and (if asked) the annotated video."""
        frames = [f for fr, _ in group for f in fr]
        per_frame = [fl for _, fa in group for fl in fa]      # the faces of each frame, one or more
        faces = [r for fl in per_frame for r in fl]           # one CSV row each
        rows = [f for f, fl in zip(frames, per_frame) for _ in fl]
        group.clear()
        t = time.perf_counter()
        seqs = history.split(faces, [f.frame for f in rows]) if history else None   # a missing number: a gap
        preds = _infer(self.net, faces, self.batch, self.device, seqs)
        t1 = time.perf_counter()
        df = rows_frame(rows, faces, preds, run.aus, blank_faceless=self.max_faces > 1)
        run.parts.append(df)
        partial.add(df)
        run.stages["infer_s"] += t1 - t
        run.stages["rows_s"] += time.perf_counter() - t1
        run.n_frames += len(frames)
        bad = [f for f in frames if f.error]
        run.unreadable += len(bad)
        run.problems.feed(frames)
        run.redetected += sum(any(r.redetected for r in fl) for fl in per_frame)
        run.found += sum(r.success for r in faces)
        bar.set_postfix(faces=run.found, refresh=False)
        bar.update(len(frames))
        if run.annotate_video:
            _annotate_block(run.video, frames, [len(fl) for fl in per_frame], df, run.aus,
                            run.avi_part, run.info["fps"] / run.frame_step)   # plays in real time

    def _header(self, run: "_Run", df, smooth: int) -> tuple[list[str], list[str], list[str]]:
        """The CSV's ``#`` header lines, the notes the user should know (also in the header) and the
        unreadable frames' reasons as text."""
        spec, info = self.net.spec, run.info
        synthetic = spec.dataset.startswith("synthau")
        trained = f"{spec.dataset} (SynthAU: synthetic faces, not a real-data model)" if synthetic else spec.dataset
        if spec.changed:                              # e.g. a 2-step "full" run: not the paper's model
            trained += f" (its run changed {spec.changed})"
        if spec.preset:
            trained += f" ({spec.preset} preset)"
        clock = f" timestamps={info['clock'].source}" if "clock" in info else ""
        if run.consecutive and info["kind"] == "folder":   # a folder of frames has no times of its own
            clock = f" timestamps=(frame-first)/fps fps={info['fps']:g}" if info["fps"] else \
                " timestamps=none (a folder of frames has no times: --fps gives them)"
        header = [f"aukit predict: input={run.input}{PATH}{absolute(run.input)}{clock}",
                  f"model={spec.method or spec.model} trained on {trained} file={self.model_path}",
                  f"policy={spec.policy} size={spec.size} frame_step={run.frame_step} detect_every={run.every} "
                  f"track_ncc={self.track_ncc} max_faces={self.max_faces} min_face={self.min_face or 'off'} "
                  f"smooth={smooth}",
                  f"frames={run.n_frames} {'frame=file number' if info.get('numbered') else 'first_frame=1'} "
                  f"faces={int(df.success.sum())} unreadable={run.unreadable} "
                  f"track_lost_redetected={run.redetected}",
                  CONFIDENCE_NOTE] + ([ids_note(run.photos, self.reid), KEEP_NOTE] if self.max_faces > 1 else [])
        one = run.one
        notes = [crowded_note(one.crowded, run.n_frames, run.photos)] if one is not None and one.crowded else []
        notes += [info["clock"].note] if "clock" in info and info["clock"].note else []
        if spec.smoke:          # a smoke run by hand in JupyterLab writes the deploy.pt a real run would
            notes.append("note: this model comes from a smoke run (a few steps at tiny sizes, a wiring check): "
                         "its outputs mean nothing")
        header += notes
        more = len(run.problems.runs) > MAX_PROBLEMS
        problems = run.problems.texts(ends_video=info["kind"] == "video")
        if problems:
            header.append("unreadable: " + "; ".join(problems) + ("; ..." if more else ""))
        if self.net.context and run.photos:
            note = (f"note: {spec.method or spec.model} reads {self.net.context} consecutive frames before each one; "
                    "these are photos, so each was read alone, without them (outputs differ from a video's; "
                    "give --frames if the folder holds one video's frames)")
            header.append(note)
            print(f"[aukit] {run.stem}: {note}", file=sys.stderr)
        skipped = info.get("skipped", [])
        if skipped:
            header.append(f"skipped, not images: {len(skipped)} file(s) or folder(s): " + ", ".join(skipped[:MAX_PROBLEMS])
                          + (", ..." if len(skipped) > MAX_PROBLEMS else ""))
        return header, notes, problems

    def _write(self, run: "_Run", df, header: list[str], plot: bool) -> tuple[Path, Path | None, Path | None]:
        """The CSV (the partial one removed), the annotated video renamed whole, and the plot: their paths."""
        spec, out, stem = self.net.spec, run.out, run.stem
        csv = write_csv(df, out / f"{stem}.csv", header)
        run.partial.close(keep=False)
        avi = _end_video(run.video, run.avi_part, out / f"{stem}_annotated.avi")
        (out / f"{stem}_annotated.partial.avi").unlink(missing_ok=True)     # an interrupted run's, now replaced
        png = None
        if plot:
            synthetic = spec.dataset.startswith("synthau")
            title = f"{stem}: {spec.method or spec.model}" + (" (trained on SynthAU)" if synthetic else "")
            fig = curves_figure(df, run.aus, title, photos=run.info["kind"] == "folder" and not run.frames)
            png = out / f"{stem}.png"
            fig.savefig(png, dpi=110)
        return csv, avi, png


@dataclass(eq=False)
class _Run:
    """One call's input, its choices and what its streaming loop counted and kept."""
    input: str | Path
    out: Path
    stem: str
    info: dict                                        # read_frames' description of the input
    frames: bool                                      # a folder holds one video's frames
    frame_step: int
    every: int                                        # detect_every for this input
    annotate_video: bool
    aus: list                                         # the model's AUs, the CSV's order
    parts: list = field(default_factory=list)         # the rows, one DataFrame per predicted batch
    video: dict = field(default_factory=dict)         # the annotated video's writer (_annotate_block)
    n_frames: int = 0
    unreadable: int = 0
    redetected: int = 0
    found: int = 0                                    # faces found (the progress bar's count)
    problems: Problems = field(default_factory=lambda: Problems(MAX_PROBLEMS))  # the first reasons, as runs of frames
    stages: dict = field(default_factory=lambda: {"decode_s": 0.0, "faces_wait_s": 0.0, "infer_s": 0.0,
                                                  "rows_s": 0.0, "write_s": 0.0})
    one: FollowOne | None = None                      # the face followed with max_faces 1
    partial: PartialRows | None = None                # the rows so far on disk
    avi_part: Path | None = None                      # the annotated video while written

    @property
    def consecutive(self) -> bool:
        """The input's images follow one another in time (a video, or frames=True)."""
        return consecutive(self.info["kind"], self.frames)

    @property
    def photos(self) -> bool:
        """Unrelated pictures: no identity carried between them."""
        return not self.consecutive


def _timed(frames_iter, fps: float):
    """A folder's frames timed at (frame - first frame) / fps (the first at 0 s, as a video's; a numbered
    image keeps its number's time, so frames missing from the folder leave their time out)."""
    first = None
    for f in frames_iter:
        first = f.frame if first is None else first
        f.timestamp = (f.frame - first) / fps
        yield f


def _smoothed(df, window: int):
    """``df`` with each face's AU columns (``_r``, ``_p``) averaged over ``window`` frames of its own
    (:func:`_smooth`), occurrence (``_c``) following the smoothed probability; ``df`` as it is for 0/1."""
    if window <= 1:
        return df
    cols = [c for c in df.columns if c.endswith(("_r", "_p"))]
    v = df[cols].to_numpy(float, copy=True)
    for idx in df.groupby("face_id").indices.values():
        v[idx] = _smooth(v[idx], window).round(3)
    df[cols] = v
    for c in cols:                                    # occurrence follows the smoothed probability
        if c.endswith("_p") and f"{c[:-2]}_c" in df:
            df[f"{c[:-2]}_c"] = np.where(np.isnan(df[c]), np.nan, (df[c] >= 0.5).astype(float))
    return df


def predict(input: str | Path, model: str | Path | deploy.Deployed = "tas", out: str | Path = "predictions", *,
            batch: int = 64, device: str | None = None, detect_every: int | None = None, smooth: int = 0,
            annotate_video: bool = False,
            workers: int | None = None, chunk: int = 32, plot: bool = True,
            runs: str | Path | tuple = deploy.RUN_FOLDERS, track_ncc: float = TRACK_NCC, max_faces: int = 1,
            min_face: int | None = MIN_FACE, progress: bool = False, frames: bool = False,
            compile: bool = False, frame_step: int = 1, fps: float | None = None,
            reid: bool = True) -> PredictResult:
    """One input with a :class:`Predictor` of its own (its start-up counted in the result)."""
    t0 = time.perf_counter()
    with Predictor(model, batch=batch, device=device, detect_every=detect_every, workers=workers,
                   track_ncc=track_ncc, max_faces=max_faces, min_face=min_face, runs=runs, compile=compile,
                   reid=reid) as p:
        res = p(input, out, smooth=smooth, annotate_video=annotate_video, chunk=chunk, plot=plot, progress=progress,
                frames=frames, frame_step=frame_step, fps=fps)
    return replace(res, seconds=time.perf_counter() - t0, startup_s=p.startup_s)


def crowded_note(crowded: int, n_frames: int, photos: bool) -> str:
    """What the CSV header and the summary say when --max-faces 1 saw several faces."""
    unit = "images" if photos else "frames"
    kept = "the best-scoring face of each" if photos else "one face, followed while in view"
    return (f"{FOLLOW_TRACKS} or more faces seen in {crowded} of {n_frames} {unit}; kept {kept} "
            f"(--max-faces {FOLLOW_TRACKS} keeps {FOLLOW_TRACKS}, each tracked)")


def _end_video(video: dict, part: Path, to: Path) -> Path | None:
    """The annotated video written to ``part`` closed and renamed ``to`` (returned); None when none was
    written or it could not be renamed (this runs while an interrupt is on its way: it never raises)."""
    try:
        if video.get("writer"):
            video.pop("writer").release()
        if part.exists():
            os.replace(part, to)
            return to
    except OSError:
        pass
    return None


def _annotate_block(video: dict, frames, counts: list[int], df, aus, path: Path, fps: float) -> None:
    """Append a block's annotated frames to the video in ``video`` (opened on first use);
    ``counts[i]``: the rows of ``df`` that belong to frame i (its faces, in order). Blocks before
    the first image (unreadable frames only) wait for it, to be written at its size."""
    import cv2
    if not video.get("writer"):
        shape = next((f.image.shape[:2] for f in frames if f.image is not None), None)
        if shape is None:
            video.setdefault("pending", []).append((frames, counts, df))
            return
        video["shape"] = shape
        video["writer"] = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps or 10.0,
                                          (shape[1], shape[0]))
        for block in video.pop("pending", []):
            _annotate_block(video, *block, aus, path, fps)
    h, w = video["shape"]
    start = np.concatenate([[0], np.cumsum(counts)])
    for i, f in enumerate(frames):
        rows = [row for _, row in df.iloc[start[i]:start[i + 1]].iterrows()]
        img = f.image if f.image is not None else np.zeros((h, w, 3), np.uint8)
        fitted, scale, offset = fit(img, h, w)                             # photos of other sizes: scaled first
        video["writer"].write(annotate(fitted, rows, aus, scale=scale, offset=offset,
                                       empty="no face" if f.image is not None else "unreadable"))
