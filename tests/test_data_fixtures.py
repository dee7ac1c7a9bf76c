"""Tiny dataset trees in the exact on-disk formats of the releases, written by the tests.

Other tests import the writers from here (pytest puts tests/ on sys.path).
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import skimage.data

# BP4D fixture content: frames on disk and labels (9 = not coded / invalid)
BP4D_OCC_AUS = [1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24]


def face_image(shift: int = 0, size: int = 200) -> np.ndarray:
    """RGB crop of skimage's astronaut around her face, shifted right by `shift` px."""
    img = skimage.data.astronaut()
    crop = img[40:320, 100 - shift:380 - shift]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


def _jpg(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def _occ_csv(path: Path, frames, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(["0"] + [str(a) for a in BP4D_OCC_AUS])]
    lines += [",".join([str(f)] + [str(v) for v in r]) for f, r in zip(frames, rows)]
    path.write_text("\n".join(lines) + "\n")


def _int_csv(path: Path, frames, values) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{f},{v}\n" for f, v in zip(frames, values)))


def write_bp4d(root: Path, faces: bool = True) -> Path:
    """F001/T1 frames 730-735 named '730.jpg' (AU_INT folder naming), F001/T2 frames 10-13
    named '0010.jpg', M001/T1 frames 1-4 ('AU Intensity Codes3.0' folder naming).

    F001/T1: occurrence has an extra frame 736 without image; AU06 has a 9 at 731;
    frame 735 is an unreadable JPEG. F001/T2 frame 13 is a blank image (no face).
    """
    root = Path(root)
    img = (lambda k: face_image(k)) if faces else (lambda k: np.full((32, 32, 3), 100 + k, np.uint8))
    for k, f in enumerate(range(730, 736)):
        _jpg(root / f"2D/F001/T1/{f}.jpg", img(2 * k))
    (root / "2D/F001/T1/735.jpg").write_bytes(b"not a jpeg")
    for k, f in enumerate(range(10, 14)):
        _jpg(root / f"2D/F001/T2/{f:04d}.jpg", img(k))
    _jpg(root / "2D/F001/T2/0013.jpg", np.full((200, 200, 3), 128, np.uint8))
    for k, f in enumerate(range(1, 5)):
        _jpg(root / f"2D/M001/T1/{f}.jpg", img(3 * k))
    occ = np.zeros((7, 12), int)
    occ[:, 0] = [0, 1, 1, 9, 0, 1, 1]        # AU1 with a not-coded 9 at frame 733
    occ[:, 6] = [1, 1, 1, 1, 0, 0, 9]        # AU12
    _occ_csv(root / "AUCoding/AU_OCC/F001_T1.csv", range(730, 737), occ)
    _occ_csv(root / "AUCoding/AU_OCC/F001_T2.csv", range(10, 14), np.ones((4, 12), int))
    _occ_csv(root / "AUCoding/AU_OCC/M001_T1.csv", range(1, 5), np.zeros((4, 12), int))
    _int_csv(root / "AUCoding/AU_INT/AU06/F001_T1_AU06.csv", range(730, 736), [0, 9, 2, 3, 4, 5])
    _int_csv(root / "AUCoding/AU_INT/AU12/F001_T1_AU12.csv", range(730, 736), [1, 2, 3, 2, 1, 0])
    _int_csv(root / "AUCoding/AU_INT/AU06/F001_T2_AU06.csv", range(10, 14), [0, 1, 2, 3])
    alt = "AUCoding/AU Intensity Codes3.0"
    _int_csv(root / f"{alt}/AU12/M001_T1_AU12.csv", range(1, 5), [5, 4, 9, 3])
    return root


def write_video(path: Path, frames: list[np.ndarray], fps: float = 25.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    assert vw.isOpened(), "OpenCV cannot write MJPG AVI here"
    for f in frames:
        vw.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    vw.release()


DISFA_AUS = [1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26]


def write_disfa(root: Path, faces: bool = True, n: int = 6) -> Path:
    """SN001: n frames, n labels. SN010: n frames, n-1 labels (short label file).
    SN002: n frames, n+1 labels (labels beyond the video). AU1 of SN001 = 0,1,2,3,... ."""
    root = Path(root)
    for subj, n_lab in (("SN001", n), ("SN010", n - 1), ("SN002", n + 1)):
        frames = [face_image(2 * k) if faces else np.full((32, 32, 3), 40 * k, np.uint8) for k in range(n)]
        write_video(root / f"Videos_LeftCamera/LeftVideo{subj}_comp.avi", frames)
        for au in DISFA_AUS:
            vals = [(k + au) % 6 if subj != "SN001" or au != 1 else k % 6 for k in range(n_lab)]
            p = root / f"ActionUnit_Labels/{subj}/{subj}_au{au}.txt"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("".join(f"{k + 1},{v}\n" for k, v in enumerate(vals)))
    return root


def write_aux(tree: Path) -> Path:
    """Aff-Wild2, EmotioNet, CASIA-WebFace and AFEW-VA trees (a few tiny images each)."""
    tree = Path(tree)
    small = np.full((24, 24, 3), 90, np.uint8)
    for v in ("vid1", "vid2"):
        for k in range(1, 4):
            _jpg(tree / f"affwild2/cropped_aligned/{v}/{k:05d}.jpg", small)
    lab = tree / "affwild2/AU_Detection_Challenge/Train_Set/vid1.txt"
    lab.parent.mkdir(parents=True, exist_ok=True)
    lab.write_text("AU1,AU2,AU4\n0,1,-1\n1,0,0\n1,1,1\n")
    for name in ("a", "b"):
        _jpg(tree / f"emotionet/images/{name}.jpg", small)
    (tree / "emotionet/labels.csv").write_text("image,AU1,AU2\na.jpg,1,999\nb.jpg,0,1\n")
    for ident in ("0000045", "0000099"):
        for k in (1, 2):
            _jpg(tree / f"casia_webface/{ident}/{k:03d}.jpg", small)
    for clip in ("001", "002"):
        frames = {}
        for k in range(3):
            p = tree / f"afew_va/{clip}/{k:05d}.png"
            p.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(p), small)
            frames[f"{k:05d}"] = {"landmarks": [[float(i), float(k)] for i in range(68)],
                                  "arousal": k, "valence": -k}
        (tree / f"afew_va/{clip}/{clip}.json").write_text(json.dumps({"frames": frames}))
    return tree


def test_fixture_video_has_the_frames_written(tmp_path):
    root = write_disfa(tmp_path / "disfa", faces=False, n=4)
    cap = cv2.VideoCapture(str(root / "Videos_LeftCamera/LeftVideoSN001_comp.avi"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    ok, frame = cap.read()
    assert ok and frame.shape == (32, 32, 3)
    cap.release()


def test_fixture_bp4d_has_both_frame_namings(tmp_path):
    root = write_bp4d(tmp_path / "bp4d", faces=False)
    assert (root / "2D/F001/T1/732.jpg").is_file()
    assert (root / "2D/F001/T2/0011.jpg").is_file()
