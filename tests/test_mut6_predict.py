"""Mutation round 6, aukit.predict.faces (tracks over chunk boundaries: rules, match, Carry's re-track decision)
and aukit.predict.reid (person ids), on hand-made boxes, signatures and tracks (no dlib)."""
from __future__ import annotations

import numpy as np

from aukit.predict import faces as F
from test_mut4_predict import _box, _frame, _Scripted

A, B = np.array([1.0, 0.0]), np.array([0.0, 1.0])          # two faces' unit signatures: NCC 0 apart


def _track(face, box, ref=None):
    return dict(face=face, box=box, ref=ref)


def test_a_chunk_keeps_missed_tracks_only_where_it_tracks_with_a_check():
    """P2: with track_ncc 0 (no check) a track the detector missed was kept all the same."""
    assert F.rules(2, 0.5, 3) == (0.5, 3)
    assert F.rules(2, 0.0, 3) == (0.0, 0)
    assert F.rules(1, 0.5, 3) == (0.0, 0)


def test_match_takes_an_overlap_of_exactly_0_3_and_the_first_track_on_a_tie():
    """P7 (IoU 0.3 itself not enough), P9 (a tie went to the highest id, not the first track)."""
    assert F.iou((0, 0, 10, 10), (0, 0, 10, 3)) == F.SAME_FACE_IOU
    assert F.match([((0, 0, 10, 3), None)], [_track(4, (0, 0, 10, 10))], 0.0) == ([(4, False)], {4})
    assert F.match([((0, 0, 10, 2), None)], [_track(4, (0, 0, 10, 10))], 0.0) == ([(None, False)], set())
    same = (0, 0, 10, 10)
    assert F.match([(same, None)], [_track(2, same), _track(5, same)], 0.0)[0] == [(2, False)]
    assert F.match([(same, None)], [_track(5, same), _track(2, same)], 0.0)[0] == [(5, False)]


def test_a_track_cut_by_one_detection_is_continued_by_no_other():
    """P8: the track a detection failed the check of (a cut) was left for the next detection over it."""
    box = (0, 0, 10, 10)
    got = F.match([(box, B), ((1, 0, 10, 10), A)], [_track(0, box, A)], 0.5)
    assert got == ([(None, True), (None, False)], {0})


def test_retrack_only_where_a_missed_carried_track_could_be_kept():
    """P12 (as many first-frame faces as kept already: the missed track cannot be kept, no re-track), P14 (an
    unreadable first frame ends every track: the clean start is the same, no re-track), P15."""
    carry = F.Carry(2, 0.5, max_faces=2)
    carry.take(F.Ends(None, [_track(0, (0, 0, 10, 10), A), _track(1, (100, 0, 10, 10), B)], 2))
    cont, new = ((0, 0, 10, 10), A), ((200, 0, 10, 10), B)
    assert not carry.retrack(F.Ends([cont, new], [], 2))         # track 1 missed, but two faces already
    assert carry.retrack(F.Ends([cont], [], 1))                  # track 1 missed with room for it
    assert not carry.retrack(F.Ends([cont, ((100, 0, 10, 10), B)], [], 2))
    assert not carry.retrack(F.Ends(None, [], 0))                # the first frame unreadable
    one = F.Carry(2, 0.5, max_faces=3)
    one.take(F.Ends(None, [_track(0, (0, 0, 10, 10), A), _track(1, (100, 0, 10, 10), B)], 2))
    assert one.retrack(F.Ends([((100, 0, 10, 10), B)], [], 1))   # track 0 missed, track 1 continued


def test_a_chunk_tracked_on_from_carried_tracks_has_no_first(monkeypatch):
    """P4: Ends.first is a clean start's first-frame detections (what Carry matches); None from carried ones."""
    monkeypatch.setattr(F, "_ALIGNER", _Scripted({k: [(_box(50, 50), 1.0)] for k in range(4)}))
    frames = [_frame(k, [(1, 50, 50)]) for k in range(4)]
    _, ends = F.track_chunk(frames[:2], 2)
    assert len(ends.first) == 1 and ends.next_id == 1
    res, again = F.track_chunk(frames[2:], 2, carried=ends)
    assert again.first is None and [r.face for fl in res for r in fl] == [0, 0]


def test_a_chunk_linked_after_a_retracked_one_numbers_new_faces_on_from_it():
    """P19: take() kept the carry's next id: the next chunk's new face took an id the retracked chunk had given."""
    carry = F.Carry(2, 0.5, max_faces=2)
    carry.take(F.Ends(None, [_track(4, (0, 0, 10, 10), A)], 5))
    res = [[F.FaceResult(True, (0, 0, 10, 10), 1.0, face=0), F.FaceResult(True, (200, 0, 10, 10), 0.9, face=1)]]
    carry.link(res, F.Ends([((0, 0, 10, 10), A), ((200, 0, 10, 10), B)], [_track(1, (200, 0, 10, 10), B)], 2))
    assert [r.face for r in res[0]] == [4, 5] and carry.next == 6
    assert [t["face"] for t in carry.tracks] == [5]


def _person_ids(xs_per_frame, threshold=0.6):
    """Person ids of frames of faces ``(track, x)``, each face's descriptor its x (a 1-d point)."""
    from aukit.predict.reid import PersonIds
    ids = PersonIds(threshold=threshold, describe=lambda image, r: np.array([r.box[0]], float))
    frames = [[F.FaceResult(True, (x, 0, 10, 10), 1.0, face=t) for t, x in fl] for fl in xs_per_frame]
    ids.assign([None] * len(frames), frames)
    return [[r.face for r in fl] for fl in frames]


def test_every_track_of_a_person_describes_them_and_the_threshold_is_dlibs_under():
    """R5 (only a person's first track's descriptor kept: a face drifting back in steps of 0.5 became a new person
    on its third track), R1 (a distance of exactly the threshold taken as one person: dlib's rule is under 0.6)."""
    assert _person_ids([[(0, 0.0), (1, 5.0)], [], [(2, 0.5)], [], [(3, 1.0)]]) == [[0, 1], [], [0], [], [0]]
    assert _person_ids([[(0, 0.0)], [], [(1, 0.75)]], threshold=0.75) == [[0], [], [1]]
    assert _person_ids([[(0, 0.0)], [], [(1, 0.5)]], threshold=0.75) == [[0], [], [0]]


def test_the_pipeline_carries_as_many_tracks_as_its_workers_follow(monkeypatch):
    """P26: with --max-faces 1 the workers track FOLLOW_TRACKS faces, and the carry's keep was 1: a face missed
    on a chunk's first frame beside another one detected was not tracked again (one piece kept it)."""
    made = []

    class Recorded(F.Carry):
        def __init__(self, *args):
            made.append(args)
            super().__init__(*args)
    monkeypatch.setattr(F, "Carry", Recorded)
    monkeypatch.setattr(F, "_init", lambda policy, min_face: None)
    pipe = F.FacePipeline("tas", detect_every=5, workers=0, max_faces=1)
    assert list(pipe.stream([("a", [])])) == [("a", [])]
    assert made == [(5, pipe.track_ncc, F.FOLLOW_TRACKS)] and F.FOLLOW_TRACKS > 1


def test_two_new_tracks_take_two_persons_each_its_nearest():
    """R3 (two new tracks nearest one absent person both given that person), R4 (a track given its second
    nearest person as well, the later pair overwriting the nearest)."""
    assert _person_ids([[(0, 0.0)], [], [(1, 0.1), (2, 0.2)]]) == [[0], [], [0, 1]]
    assert _person_ids([[(0, 0.0), (1, 0.3)], [], [(2, 0.1)]]) == [[0, 1], [], [0]]
