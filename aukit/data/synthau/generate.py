"""Plan SynthAU (subjects, folds, jobs), run the jobs on worker processes, write meta.json."""
from __future__ import annotations

import json
import os
import shutil
import time
import zlib
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .aus import AU_INFO, AUS
from .presets import SynthConfig, resolve
from .subjects import Subject, sample_subject
from .writers import BP4D_INT_AUS, BP4D_OCC_AUS, DISFA_AUS, WRITERS, Job

SUBDIRS = ("bp4d", "disfa", "affwild2", "emotionet", "casia_webface", "afew_va", "ground_truth")


def default_root() -> Path:
    """``$AUKIT_SYNTHAU`` or ``<repo>/data/synthau``."""
    env = os.environ.get("AUKIT_SYNTHAU")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "data" / "synthau"


def _subject(seed: int, name: str, sex: str, cfg: SynthConfig) -> Subject:
    rng = np.random.default_rng([seed, zlib.crc32(f"subject/{name}".encode())])
    return sample_subject(name, sex, rng, cfg.glasses_rate)


def _parts(names: list[str]) -> dict[str, list[str]]:
    """Subject-exclusive thirds, round robin over an F/M-interleaved list."""
    return {f"part{k + 1}": names[k::3] for k in range(3)}


def _interleave(f: list[str], m: list[str]) -> list[str]:
    out = []
    for i in range(max(len(f), len(m))):
        out += ([f[i]] if i < len(f) else []) + ([m[i]] if i < len(m) else [])
    return out


def plan(cfg: SynthConfig, seed: int) -> tuple[list[Job], dict]:
    """All jobs and the subject/fold part of meta.json."""
    nf = (cfg.bp4d_subjects + 1) // 2
    bp4d_f = [f"F{i + 1:03d}" for i in range(nf)]
    bp4d_m = [f"M{i + 1:03d}" for i in range(cfg.bp4d_subjects - nf)]
    bp4d = _interleave(bp4d_f, bp4d_m)
    disfa = [f"SN{i + 1:03d}" for i in range(cfg.disfa_subjects)]
    disfa_sex = {n: "FM"[i % 2] for i, n in enumerate(disfa)}
    folds = {"bp4d": _parts(bp4d), "disfa": _parts(disfa)}
    # FERA-style intensity split: train = parts 1+2, test = part 3 (the spurious cue is absent there)
    folds["bp4d"]["fera_train"] = sorted(folds["bp4d"]["part1"] + folds["bp4d"]["part2"])
    folds["bp4d"]["fera_test"] = sorted(folds["bp4d"]["part3"])
    subjects, jobs = {}, []

    def shift(name: str, sex: str, held_out: list[str]) -> dict[int, float]:
        if cfg.spurious == 0 or name in held_out:
            return {}
        return {12: cfg.spurious if sex == "M" else -cfg.spurious}

    for name in bp4d:
        s = _subject(seed, name, name[0], cfg)
        subjects[name] = {"dataset": "bp4d", **s.to_dict()}
        for t in range(cfg.bp4d_tasks):
            jobs.append(Job("bp4d", f"{name}_T{t + 1}", [s], cfg.bp4d_frames,
                            shift(name, s.sex, folds["bp4d"]["part3"])))
    for name in disfa:
        s = _subject(seed, name, disfa_sex[name], cfg)
        subjects[name] = {"dataset": "disfa", **s.to_dict()}
        jobs.append(Job("disfa", name, [s], cfg.disfa_frames, shift(name, s.sex, folds["disfa"]["part3"])))
    for i in range(cfg.affwild_videos):
        name = f"aw{i + 1:03d}"
        s = _subject(seed, name, "FM"[i % 2], cfg)
        subjects[name] = {"dataset": "affwild2", **s.to_dict()}
        jobs.append(Job("affwild2", name, [s], cfg.affwild_frames))
    for i in range(cfg.afew_clips):
        name = f"{i + 1:03d}"
        s = _subject(seed, f"afew{name}", "FM"[i % 2], cfg)
        subjects[f"afew{name}"] = {"dataset": "afew_va", **s.to_dict()}
        jobs.append(Job("afew_va", name, [s], cfg.afew_frames))
    pool = [_subject(seed, f"EN{i + 1:04d}", "FM"[i % 2], cfg) for i in range(cfg.emotionet_identities)]
    for s in pool:
        subjects[s.name] = {"dataset": "emotionet", **s.to_dict()}
    batch = 100
    for b, start in enumerate(range(0, cfg.emotionet_images, batch)):
        jobs.append(Job("emotionet", f"en{b:03d}", pool, min(batch, cfg.emotionet_images - start)))
    for i in range(cfg.casia_identities):
        name = f"{i + 1:07d}"
        s = _subject(seed, f"CW{name}", "FM"[i % 2], cfg)
        subjects[f"CW{name}"] = {"dataset": "casia_webface", **s.to_dict()}
        jobs.append(Job("casia_webface", name, [s], cfg.casia_images))
    spurious = {"au": 12, "shift": cfg.spurious, "present_in": sorted(
        [n for n in bp4d if n not in folds["bp4d"]["part3"]] + [n for n in disfa if n not in folds["disfa"]["part3"]]),
        "absent_in": sorted(folds["bp4d"]["part3"] + folds["disfa"]["part3"]),
        "rule": "AU12 apex + shift for M subjects, - shift for F subjects, in present_in only"}
    return jobs, {"subjects": subjects, "folds": folds, "spurious": spurious}


# Bump when the same seed and preset give other pixels, labels or files: `aukit reproduce`
# regenerates a tree of another version, and the notebooks warn about one (see :func:`stale`).
# 1: sessions 1-22; 2: neutral mouth closed flat, upper-lid folds and brow undersides held.
VERSION = 2


def stale(root: str | Path, preset: str | None = None, seed: int | None = None) -> str | None:
    """Why the finished SynthAU tree at ``root`` is not what this code generates, or None.

    Compares meta.json's ``version`` (and ``preset``/``seed`` when given) with this code's.
    A tree without meta.json is not judged here (absent, or being generated).
    """
    path = Path(root) / "meta.json"
    if not path.is_file():
        return None
    meta = json.loads(path.read_text())
    why = []
    if meta.get("version") != VERSION:
        why.append(f"it was generated by SynthAU version {meta.get('version')}, this aukit renders version {VERSION}")
    if preset is not None and meta.get("preset") != preset:
        why.append(f"its preset is {meta.get('preset')!r}, not {preset!r}")
    if seed is not None and meta.get("seed") != seed:
        why.append(f"its seed is {meta.get('seed')}, not {seed}")
    return f"{path}: " + "; ".join(why) if why else None


def _init_worker() -> None:
    import cv2
    from threadpoolctl import threadpool_limits
    cv2.setNumThreads(1)
    threadpool_limits(1)


MARK = ".synthau"     # written before any subfolder: a folder aukit generates into, finished or not


def _check_replaceable(out: Path) -> None:
    """Generation replaces ``out``'s bp4d/, disfa/, ... subfolders: only a SynthAU tree's (its meta.json, or the
    :data:`MARK` of a generation that did not finish). ``aukit synth --out $AUKIT_DATA`` deleted the licensed
    BP4D and DISFA copies there."""
    taken = [sub for sub in SUBDIRS if (out / sub).exists()]
    if not taken or (out / MARK).exists():
        return
    try:
        ours = json.loads((out / "meta.json").read_text()).get("name") == "SynthAU"
    except (OSError, ValueError, AttributeError):
        ours = False
    if not ours:
        raise ValueError(f"{out} holds {', '.join(s + '/' for s in taken)} that are not SynthAU's (no SynthAU "
                              "meta.json): generating there would delete them. Give an empty folder or a SynthAU "
                              "tree (aukit synth --out), or remove those folders yourself")


def _run(args: tuple[Job, str, SynthConfig, int]) -> tuple[str, str, dict]:
    job, out, cfg, seed = args
    return job.kind, job.key, WRITERS[job.kind](job, Path(out), cfg, seed)


def generate(out: str | Path | None = None, preset: str | SynthConfig = "default", seed: int = 0,
             progress: bool = True, **knobs) -> dict:
    """Generate SynthAU into ``out`` (default :func:`default_root`) and return meta.json's dict.

    Deterministic in ``seed``, whatever ``workers``: the same labels and decoded pixels (every
    process renders with single-threaded BLAS and OpenCV). With workers > 1, scripts must guard the
    call with ``if __name__ == "__main__"`` (spawned workers).
    Existing SynthAU subfolders of ``out`` are replaced; a folder holding others is refused
    (:func:`_check_replaceable`).
    """
    from tqdm.auto import tqdm
    from .face import base_face
    cfg = resolve(preset, **knobs)
    out = Path(out) if out is not None else default_root()
    _check_replaceable(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARK).touch()                          # this folder's subfolders are SynthAU's, from now on
    (out / "meta.json").unlink(missing_ok=True)   # written last: a tree without it is unfinished (readers refuse it)
    for sub in SUBDIRS:
        if (out / sub).exists():
            shutil.rmtree(out / sub)
    t0 = time.time()
    base_face()  # fail early (before any worker starts) if the base face cannot be built
    jobs, meta = plan(cfg, seed)
    jobs.sort(key=lambda j: -j.n)  # big jobs first balances the workers
    args = [(j, str(out), cfg, seed) for j in jobs]
    truth: dict[str, dict] = {}
    bar = tqdm(total=sum(j.n for j in jobs), unit="frame", desc=f"SynthAU {preset if isinstance(preset, str) else ''}",
               disable=not progress)
    if cfg.workers > 1:
        from ...workers import imap, process_pool
        # spawn, not fork: a forked child of a process with OpenMP/BLAS threads running can deadlock
        with process_pool(cfg.workers, initializer=_init_worker, method="spawn") as pool:
            for _, (kind, key, info) in imap(pool, _run, args, "SynthAU generation", ordered=False,
                                             inflight=2 * cfg.workers):
                truth.setdefault(kind, {})[key] = info
                bar.update(info["frames"])
    else:  # same single-threaded BLAS/OpenCV as the workers: bit-identical pixels either way
        import cv2
        from threadpoolctl import threadpool_limits
        n_cv = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            with threadpool_limits(1):
                for a in args:
                    kind, key, info = _run(a)
                    truth.setdefault(kind, {})[key] = info
                    bar.update(info["frames"])
        finally:
            cv2.setNumThreads(n_cv)
    bar.close()
    truth = {k: dict(sorted(v.items())) for k, v in sorted(truth.items())}
    meta = {
        "name": "SynthAU", "version": VERSION, "seed": seed,
        "preset": preset if isinstance(preset, str) else "custom", "knobs": asdict(cfg),
        **meta,
        "aus": {"all": list(AUS), "bp4d_occ": list(BP4D_OCC_AUS), "bp4d_int": list(BP4D_INT_AUS),
                "disfa": list(DISFA_AUS)},
        "au_info": {str(au): {"name": i.name, "region": i.region} for au, i in AU_INFO.items()},
        "ground_truth": truth,
        "counts": {k: sum(v["frames"] for v in d.values()) for k, d in truth.items()},
        "rendering": "frames rendered from the continuous trajectory (ground_truth/*_intensity.npy); "
                     "labels = round half up to 0-5; label_noise perturbs the written labels only",
        "generation_seconds": round(time.time() - t0, 2),
        "source_image": "skimage.data.astronaut() (public domain, NASA)",
    }
    with open(out / "meta.json", "w") as f:
        json.dump(meta, f, indent=1)
    return meta
