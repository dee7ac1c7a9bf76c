"""`prepare` on broken dataset trees: nothing is stored as a face that was not read whole, every
subject and every non-zero count reaches qa.json and the summary, and a changed dataset is
never served from a stale store (while codec noise in the images keeps the store)."""
from __future__ import annotations

import contextlib
import io
import json
import re

import cv2
import numpy as np
import pytest
import simplejpeg

from aukit import data as D
from aukit.data import preprocess as prep_mod
from aukit.data.imagefile import jpeg_complete, lost_pixels, read_bgr
from test_data_fixtures import _int_csv, _jpg, _occ_csv, face_image, write_bp4d, write_disfa

ALT = "AUCoding/AU Intensity Codes3.0"  # the fixture's M001 intensity folder


def zeroed(jpg, n: int = 200):
    """Zero ``n`` bytes in the middle of a JPEG's entropy data (a damaged block on disk)."""
    raw = bytearray(jpg.read_bytes())
    raw[len(raw) // 2:len(raw) // 2 + n] = bytes(n)
    jpg.write_bytes(bytes(raw))
    return jpg


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    """write_bp4d, then: F001/T2/0011.jpg cut to 35% of its bytes; 0012.jpg with 200 bytes zeroed
    mid-file; M001's labels shifted by 100 frames (M001 keeps no frame); a 7 (out of range 0..5)
    in F001_T2_AU06."""
    d = tmp_path_factory.mktemp("broken")
    root = write_bp4d(d / "bp4d")
    jpg = root / "2D/F001/T2/0011.jpg"
    raw = jpg.read_bytes()
    jpg.write_bytes(raw[:int(0.35 * len(raw))])
    zeroed(root / "2D/F001/T2/0012.jpg")
    _occ_csv(root / "AUCoding/AU_OCC/M001_T1.csv", range(101, 105), np.zeros((4, 12), int))
    _int_csv(root / f"{ALT}/AU12/M001_T1_AU12.csv", range(101, 105), [5, 4, 9, 3])
    _int_csv(root / "AUCoding/AU_INT/AU06/F001_T2_AU06.csv", range(10, 14), [0, 7, 2, 3])
    return root, d / "cache"


@pytest.fixture(scope="module")
def broken_store(broken):
    """The store of `broken` and what prepare printed."""
    root, cache = broken
    with contextlib.redirect_stdout(io.StringIO()) as out:
        s = D.prepare("bp4d", "tas", root=root, workers=1, out=cache, progress=False)
    return s, out.getvalue()


def test_truncated_jpeg_is_unreadable_named_and_not_stored(broken, broken_store):
    root, _ = broken
    s, printed = broken_store
    cut = str(root / "2D/F001/T2/0011.jpg")
    assert cv2.imread(cut) is not None  # libjpeg alone would decode it (grey-filled)
    assert ("T2", 11) not in set(zip(s.index.sequence, s.index.frame))
    assert s.qa["per_subject"]["F001"]["unreadable"] == 3  # 735.jpg (not a JPEG), the cut and the zeroed one
    assert ("T2", 12) not in set(zip(s.index.sequence, s.index.frame))
    assert str(root / "2D/F001/T2/0012.jpg") in s.qa["unreadable_files"]
    assert cut in s.qa["unreadable_files"] and str(root / "2D/F001/T1/735.jpg") in s.qa["unreadable_files"]
    assert "unreadable (missing, cut short or not decodable):" in printed
    assert f"\n    {cut}: JPEG cut short (no end-of-image marker): 0011.jpg\n" in printed   # each with its reason
    why = s.qa["unreadable_why"][str(root / "2D/F001/T1/735.jpg")]
    assert why == "unreadable image 735.jpg (a text file, not an image)"
    assert json.loads((s.path / "qa.json").read_text())["unreadable_files"] == s.qa["unreadable_files"]


def test_truncated_jpeg_never_reaches_libjpeg(broken, capfd):
    """libjpeg's bare "Premature end of JPEG file" (no file name) is not printed: the file is
    refused before decoding, and named in qa.json instead."""
    root, _ = broken
    assert list(prep_mod._decode([str(root / "2D/F001/T2/0011.jpg")])) == [None]
    assert "Premature end" not in capfd.readouterr().err
    cv2.imread(str(root / "2D/F001/T2/0011.jpg"))  # what the check spares the user
    assert "Premature end" in capfd.readouterr().err


def test_jpeg_damaged_inside_is_refused_and_harmless_warnings_pass(tmp_path):
    """libjpeg decodes a JPEG with a zeroed block (what follows it garbage) and only warns that
    the image ended before its data; read_bgr refuses it with the warning. Bytes before a header marker also make libjpeg warn, but every
    pixel decodes: that file is read, with OpenCV's pixels."""
    for name in ("bad.jpg", "ok.jpg"):
        _jpg(tmp_path / name, face_image())
    bad = zeroed(tmp_path / "bad.jpg")
    assert cv2.imread(str(bad)) is not None
    img, why = read_bgr(bad)
    assert img is None and why == "damaged JPEG (Corrupt JPEG data: 87 extraneous bytes before marker 0xd9): bad.jpg"
    assert list(prep_mod._decode([str(bad)])) == [None]
    raw = (tmp_path / "ok.jpg").read_bytes()
    second = raw.index(b"\xff", 2 + int.from_bytes(raw[4:6], "big"))     # the marker after APP0
    extra = tmp_path / "extra.jpg"
    extra.write_bytes(raw[:second] + b"\x00\x00" + raw[second:])
    with pytest.raises(ValueError, match="extraneous bytes"):
        simplejpeg.decode_jpeg(extra.read_bytes(), strict=True)
    img, why = read_bgr(extra)
    assert why == "" and np.array_equal(img, cv2.imread(str(tmp_path / "ok.jpg")))
    raw = (tmp_path / "ok.jpg").read_bytes()
    mid = (raw.index(b"\xff\xda") + len(raw)) // 2                       # inside the entropy data
    marker = tmp_path / "marker.jpg"
    marker.write_bytes(raw[:mid] + b"\xff\x1f\x00\x02" + raw[mid:])      # a fatal error for libjpeg
    assert cv2.imread(str(marker)) is not None                            # OpenCV: the rows before it
    assert read_bgr(marker) == (None, "damaged JPEG (Unsupported marker type 0x1f): marker.jpg")
    warnings = {"Corrupt JPEG data: bad Huffman code": True, "Corrupt JPEG data: bad ICC marker": False,
                "Corrupt JPEG data: found marker 0xd9 instead of RST3": True, "Premature end of JPEG file": True,
                "Corrupt JPEG data: premature end of data segment": True,
                "Corrupt JPEG data: 87 extraneous bytes before marker 0xd9": True,
                "Corrupt JPEG data: 4 extraneous bytes before marker 0xd3": True,
                "Corrupt JPEG data: 2 extraneous bytes before marker 0xd9": False,
                "Corrupt JPEG data: 300 extraneous bytes before marker 0xdb": False,
                "Invalid SOS parameters for sequential JPEG": False}
    assert {w: lost_pixels(w) for w in warnings} == warnings


def test_exif_orientation_is_applied_as_opencv_does(tmp_path):
    """A phone photo stored sideways with its EXIF orientation (1-8): read_bgr shows it upright,
    pixel for pixel as cv2.imread does, also through the OpenCV path of a harmless warning."""
    from PIL import Image
    rgb = face_image()[:, :150]                                        # not square: a turn shows in the shape
    for o in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = o
        p = tmp_path / f"o{o}.jpg"
        Image.fromarray(rgb).save(p, "JPEG", exif=exif.tobytes(), quality=95)
        img, why = read_bgr(p)
        assert why == "" and np.array_equal(img, cv2.imread(str(p))), o
        assert img.shape[:2] == ((150, 200) if o >= 5 else (200, 150)), o
        if o == 6:
            raw = p.read_bytes()
            k = raw.index(b"\xff\xdb")                                 # 2 bytes before the DQT marker
            q = tmp_path / "o6_extra.jpg"
            q.write_bytes(raw[:k] + b"\x00\x00" + raw[k:])
            got, why = read_bgr(q)
            assert why == "" and np.array_equal(got, cv2.imread(str(q))) and got.shape[:2] == (150, 200)


def test_jpeg_check_allows_zero_padding(tmp_path):
    p = tmp_path / "a.jpg"
    _jpg(p, face_image())
    assert jpeg_complete(p)
    p.write_bytes(p.read_bytes() + b"\0" * 100)
    assert jpeg_complete(p)
    p.write_bytes(p.read_bytes().rstrip(b"\0")[:-1])
    assert not jpeg_complete(p) and not jpeg_complete(tmp_path / "missing.jpg")


def test_subject_without_frames_keeps_its_counts(broken_store):
    s, printed = broken_store
    m = s.qa["per_subject"]["M001"]
    assert m["frames"] == 0 and m["aligned"] == 0 and m["label_without_frame"] == 4
    assert s.qa["label_without_frame"] == sum(c["label_without_frame"] for c in s.qa["per_subject"].values())
    assert "subjects without any aligned frame:\n    M001" in printed


def test_video_that_cannot_be_opened_keeps_its_subject(tmp_path):
    root = write_disfa(tmp_path / "disfa", n=3)
    (root / "Videos_LeftCamera/LeftVideoSN002_comp.avi").write_bytes(b"garbage" * 100)
    s = D.prepare("disfa", "tas", root=root, workers=1, out=tmp_path / "cache", progress=False)
    assert set(s.index.subject) == {"SN001", "SN010"}
    sn2 = s.qa["per_subject"]["SN002"]
    assert sn2["frames"] == 0 and sn2["label_without_frame"] == 4  # 4 label rows, no video


def test_summary_prints_every_nonzero_count(broken_store, capsys):
    s, printed = broken_store
    assert s.qa["out_of_range"] == 1 and s.qa["missing_label_file"] > 0
    line = next(t for t in printed.splitlines() if "frames aligned" in t)
    known = s.qa["expected"]
    assert known == {"frame_without_label": 4}       # the fixture's images without a label row (bp4d_unlabelled)
    for k, v in s.qa.items():
        if k not in ("frames", "aligned") and type(v) is int:
            shown = f"{k.replace('_', ' ')} {v} expected" if k in known else f"{k.replace('_', ' ')} {v}"
            assert (shown in line) == (v > 0), (k, line)


def _detected(monkeypatch) -> list:
    """Sources of every frame sent to dlib from now on (workers=1 runs units in-process)."""
    seen, real = [], prep_mod._detect_unit
    monkeypatch.setattr(prep_mod, "_detect_unit", lambda job: (seen.extend(job[1]), real(job))[1])
    return seen


def test_changed_dataset_is_rebuilt_not_served_stale(tmp_path, monkeypatch, capsys):
    root = write_bp4d(tmp_path / "bp4d")
    kw = dict(root=root, out=tmp_path / "cache")
    s1 = D.prepare("bp4d", "tas", workers=1, progress=False, **kw)
    assert ("M001", 4) in set(zip(s1.index.subject, s1.index.frame)) and s1.meta["fingerprint"]
    # codec noise in every image with a face (another JPEG quality), same names and labels: the store stays
    # (the grey F001/T2/0013.jpg, where no face was found, is watched: see the test below)
    for p in (root / "2D").rglob("*.jpg"):
        img = cv2.imread(str(p))
        if img is not None and p.name != "0013.jpg":
            cv2.imwrite(str(p), img, [cv2.IMWRITE_JPEG_QUALITY, 70])
    seen = _detected(monkeypatch)
    assert D.prepare("bp4d", "tas", workers=1, progress=False, **kw).meta["created"] == s1.meta["created"]
    assert seen == [] and "changed since" not in capsys.readouterr().out
    # a label set to 9, a frame deleted, a frame added
    (root / "2D/M001/T1/4.jpg").unlink()
    _jpg(root / "2D/M001/T1/5.jpg", face_image(12))
    _occ_csv(root / "AUCoding/AU_OCC/M001_T1.csv", range(1, 6), np.zeros((5, 12), int))
    _int_csv(root / f"{ALT}/AU12/M001_T1_AU12.csv", range(1, 6), [5, 9, 9, 3, 2])
    with pytest.raises(ValueError, match=r"changed since .*aukit prepare bp4d --policy tas"):
        D.load_store("bp4d", "tas", prepare=False, **kw)
    s2 = D.prepare("bp4d", "tas", workers=1, progress=False, **kw)
    assert "changed since" in capsys.readouterr().out and s2.path == s1.path
    kept = s2.index.set_index(["subject", "frame"])
    assert (("M001", 5) in kept.index and ("M001", 4) not in kept.index
            and np.isnan(kept.loc[("M001", 2), "AU12"]))
    assert s2.meta["fingerprint"] != s1.meta["fingerprint"] and len(s2.images) == len(s2.index)
    # dlib re-ran only on units holding a new or once unreadable frame: F001/T2 reused its faces
    assert any("M001" in p for p in seen) and not any("/T2/" in p for p in seen)
    assert D.load_store("bp4d", "tas", prepare=False, **kw).meta["created"] == s2.meta["created"]


@pytest.mark.parametrize("rel, frame, said", [
    ("2D/F001/T1/735.jpg", ("F001", 735), "file(s) it could not read"),           # "not a jpeg" in the fixture
    ("2D/F001/T2/0013.jpg", ("F001", 13), "image(s) where no face was found"),     # a grey image in the fixture
])
def test_a_fixed_unreadable_or_faceless_file_rebuilds_the_store(tmp_path, monkeypatch, capsys, rel, frame, said):
    """Image bytes are not in the fingerprint (codec noise keeps a store), but the files prepare
    could not read, or found no face in, are watched: one replaced by a good image makes the store stale,
    and only the units holding it are detected again. (A re-extracted black frame kept its 'no face'.)"""
    root = write_bp4d(tmp_path / "bp4d")
    kw = dict(root=root, out=tmp_path / "cache")
    s1 = D.prepare("bp4d", "tas", workers=1, progress=False, **kw)
    fixed = root / rel
    assert s1.qa["unreadable_files"] == [str(root / "2D/F001/T1/735.jpg")] and list(s1.meta["no_face_stats"]) == [
        str(root / "2D/F001/T2/0013.jpg")]
    assert frame not in set(zip(s1.index.subject, s1.index.frame))
    _jpg(fixed, face_image(10))
    with pytest.raises(ValueError, match=rf"1 {re.escape(said)} changed on disk \({fixed.name}\)"):
        D.load_store("bp4d", "tas", prepare=False, **kw)
    seen = _detected(monkeypatch)
    s2 = D.prepare("bp4d", "tas", workers=1, progress=False, **kw)
    assert f"{said} changed on disk ({fixed.name}) since" in capsys.readouterr().out
    assert frame in set(zip(s2.index.subject, s2.index.frame)) and str(fixed) not in (
        s2.qa["unreadable_files"] + list(s2.meta["no_face_stats"]))
    assert str(fixed) in seen and not any("M001" in p for p in seen)
    seen.clear()
    assert D.load_store("bp4d", "tas", **kw).path == s2.path and seen == []
    assert "rebuilding" not in capsys.readouterr().out


def test_a_permission_fixed_with_chmod_counts_as_a_change(tmp_path, monkeypatch):
    """chmod changes neither size nor mtime: readability is recorded too (a store that recorded
    only size and mtime is compared on those)."""
    from aukit.data import store
    f = tmp_path / "1.jpg"
    f.write_bytes(b"x")
    real = store.os.access
    monkeypatch.setattr(store.os, "access", lambda p, mode: False if str(p) == str(f) else real(p, mode))
    recorded = store.file_stats([str(f)])
    assert recorded[str(f)][2] == 0 and store.changed_files(recorded) == []
    monkeypatch.setattr(store.os, "access", real)            # chmod 644
    assert store.changed_files(recorded) == [str(f)]
    assert store.changed_files({str(f): recorded[str(f)][:2]}) == []


def test_store_without_fingerprint_loads_with_a_note(tmp_path, capsys):
    root = write_bp4d(tmp_path / "bp4d")
    kw = dict(root=root, out=tmp_path / "cache")
    s = D.prepare("bp4d", "cpc", workers=1, progress=False, **kw)
    meta = {k: v for k, v in s.meta.items() if k != "fingerprint"}  # as stores built before it
    (s.path / "meta.json").write_text(json.dumps(meta))
    (root / "2D/M001/T1/4.jpg").unlink()  # a change it cannot see
    capsys.readouterr()
    assert len(D.load_store("bp4d", "cpc", prepare=False, **kw)) == len(s)
    assert len(D.prepare("bp4d", "cpc", progress=False, **kw)) == len(s)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and "predates index fingerprints" in out[0] and str(s.path) in out[0]   # said once


def test_store_without_its_dataset_is_used_unchecked(tmp_path, capsys):
    """A store copied to a machine without the raw dataset (a cluster, the GPU machine) still loads."""
    import shutil
    root = write_bp4d(tmp_path / "bp4d")
    kw = dict(root=root, out=tmp_path / "cache")
    s = D.prepare("bp4d", "cpc", workers=1, progress=False, **kw)
    shutil.rmtree(root)
    capsys.readouterr()
    again = D.load_store("bp4d", "cpc", prepare=False, **kw)
    assert again.path == s.path and len(again) == len(s)
    assert "not checked against the dataset, which is not here" in capsys.readouterr().out


def test_dataset_level_counts_reach_the_totals(tmp_path):
    """A stray file that belongs to no subject (in the occurrence folder) is counted for the
    dataset: qa.json's total includes it though no subject's count does."""
    root = write_bp4d(tmp_path / "bp4d")
    (root / "AUCoding/AU_OCC/notes from the lab.txt").write_text("not a label file\n")
    with contextlib.redirect_stdout(io.StringIO()) as out:
        s = D.prepare("bp4d", "cpc", root=root, out=tmp_path / "cache", workers=1, progress=False)
    assert s.qa["ignored_file"] == 1
    assert sum(c.get("ignored_file", 0) for c in s.qa["per_subject"].values()) == 0
    assert "ignored file 1" in out.getvalue()


def test_the_prepare_summary_keeps_a_datasets_own_shortfall_apart(tmp_path, capsys):
    """DISFA's SN010 lacks its last label: `aukit data check` counted it as expected, the prepare summary
    as one more 'frame without label'. Every subject's qa.json entry has the same keys."""
    from aukit.data import labelio
    root = write_disfa(tmp_path / "disfa")
    s = D.prepare("disfa", "scc", root=root, out=tmp_path / "cache", workers=1, progress=False)
    assert s.qa["expected"] == {"frame_without_label": 1}        # the fixture's SN010, one label short
    s.qa["frame_without_label"], s.qa["expected"] = 5, {"frame_without_label": 1}
    capsys.readouterr()
    prep_mod.print_summary(s)
    assert "; frame without label 4 (+1 expected)" in capsys.readouterr().out
    assert len({tuple(c) for c in s.qa["per_subject"].values()}) == 1
    assert set(labelio.QA_KEYS) <= set(next(iter(s.qa["per_subject"].values())))


def test_an_undecodable_file_says_what_it_seems_to_be(tmp_path):
    """EmotioNet's URL lists give web pages where a photo went away: prepare said only "unreadable image
    x.jpg". The first bytes now name an HTML page, a HEIC photo (no decoder here), a cut PNG, text."""
    ok = tmp_path / "ok.png"
    cv2.imwrite(str(ok), face_image())
    files = {"page.jpg": b"\n<!DOCTYPE html><html><body>404 Not Found</body></html>",
             "photo.jpg": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64),
             "cut.png": ok.read_bytes()[:60], "notes.jpg": b"AU12 present\nAU6 absent\n",
             "noise.jpg": bytes(range(200, 256)) * 4}
    why = {}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        img, why[name] = read_bgr(tmp_path / name)
        assert img is None and why[name].startswith(f"unreadable image {name} (")
    assert "an HTML or XML page, not an image" in why["page.jpg"]
    assert "a HEIC/HEIF image, which OpenCV does not decode" in why["photo.jpg"]
    assert "a PNG image, damaged or cut short" in why["cut.png"]
    assert "a text file, not an image" in why["notes.jpg"]
    assert "not an image format OpenCV decodes (first bytes c8 c9 ca cb cc cd ce cf)" in why["noise.jpg"]


def test_a_subset_store_and_the_whole_copy_share_one_detection_pass(tmp_path, monkeypatch):
    """load_store(subjects=[...]) ran dlib on every frame of those subjects again, beside the whole copy's
    cached faces (a faces cache per subset; on BP4D, hours). Now one cache per copy: a subset reuses the
    whole copy's faces, and the whole copy after a subset detects only the frames the subset lacked."""
    root = write_bp4d(tmp_path / "bp4d")
    kw = dict(root=root, out=tmp_path / "cache", workers=1, progress=False)
    seen = _detected(monkeypatch)
    part = D.prepare("bp4d", "tas", subjects=["M001"], **kw)
    first = len(seen)
    assert set(part.index.subject) == {"M001"} and first == len(D.index("bp4d", root).query("subject == 'M001'"))
    whole = D.prepare("bp4d", "tas", **kw)
    assert len(seen) - first == len(D.index("bp4d", root).query("subject != 'M001'"))     # only the others
    assert not any("/M001/" in s for s in seen[first:])
    seen.clear()
    again = D.prepare("bp4d", "scc", subjects=["M001"], **kw)                     # another policy, the subset again
    assert seen == [] and len(list((tmp_path / "cache").glob("bp4d__faces__*"))) == 1
    sub = whole.index.subject.to_numpy() == "M001"
    np.testing.assert_array_equal(again.index.frame.to_numpy(), whole.index.frame.to_numpy()[sub])
    assert len(part) == sub.sum()
