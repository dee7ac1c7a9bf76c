"""Mutation audit round 3, aukit.report.provenance: run.yaml's datasets and metrics.json's training numbers."""
import json

from aukit.report.provenance import datasets_read, training


def _store(cache, name, root):
    (cache / name).mkdir(parents=True)
    (cache / name / "meta.json").write_text(json.dumps({"key": {"root": str(root)}}))


def test_a_store_of_no_manifest_dataset_is_left_out(tmp_path, monkeypatch):
    monkeypatch.setenv("AUKIT_CACHE", str(tmp_path / "cache"))
    assert datasets_read({"mydata__tas256__ab": {}, "notadataset": {}}) == {}


def test_a_root_read_twice_among_two_roots_is_listed_once(tmp_path, monkeypatch):
    """Three stores of DISFA: two from copy a, one from copy b. run.yaml lists a and b, each once."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("AUKIT_CACHE", str(cache))
    monkeypatch.setenv("AUKIT_DATA_DISFA", str(tmp_path / "nowhere"))
    a, b = tmp_path / "a", tmp_path / "b"
    _store(cache, "disfa__cpc128__1", a)        # sorted: 1, 2, 3 -> a, b, a
    _store(cache, "disfa__scc224__2", b)
    _store(cache, "disfa__tas256__3", a)
    rec = datasets_read({"disfa__cpc128__1": {}, "disfa__scc224__2": {}, "disfa__tas256__3": {}})["disfa"]
    assert rec["root"] == [str(a), str(b)]
    assert len(rec["root_from"]) == 2


def test_a_store_outside_the_cache_gets_the_root_resolved_now_and_says_so(tmp_path, monkeypatch):
    disfa = tmp_path / "DISFA"
    disfa.mkdir()
    monkeypatch.setenv("AUKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("AUKIT_DATA_DISFA", str(disfa))
    rec = datasets_read({"disfa__cpc128__ab": {}})["disfa"]
    assert rec["root"] == str(disfa.resolve())
    assert rec["root_from"] == ("env AUKIT_DATA_DISFA, resolved when the report was written "
                                "(the store is not in the cache)")


def test_fits_that_trained_no_image_give_wall_time_only():
    fits = [{"wall_s": 2.5, "images": 0, "images_per_s": None}, {"wall_s": 1.5, "images": 0, "images_per_s": 0.0}]
    assert training(fits) == {"train_wall_s": 4.0}
    # weighted by images: (100 * 10 + 300 * 30) / 400 = 25, not the plain mean 20
    assert training([{"wall_s": 1.0, "images": 100, "images_per_s": 10.0},
                     {"wall_s": 1.0, "images": 300, "images_per_s": 30.0}])["train_images_per_s"] == 25.0
