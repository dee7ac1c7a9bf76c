"""BatchLoader and device augmentation: contents, determinism per (seed, epoch), clips, targets."""
from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest
import torch

from aukit.data import FrameStore, augment as A
from aukit.data.align import get_policy
from aukit.data.loader import BatchLoader


def make_store(path, n=40, size=16) -> FrameStore:
    """A hand-made store folder: image i is filled with value i (so rows can be read back)."""
    path.mkdir(parents=True)
    imgs = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, size, size, 3)).copy()
    imgs[:, :, : size // 2, 0] = 255  # left half red: a flip is visible
    np.save(path / "images.npy", imgs)
    np.save(path / "landmarks.npy", np.zeros((n, 68, 2), np.float32))
    np.save(path / "affine.npy", np.zeros((n, 2, 3), np.float32))
    pd.DataFrame({"row": np.arange(n), "subject": "S1", "sequence": "T1", "frame": np.arange(n),
                  "source": "x", "AU12": np.arange(n) % 6}).to_csv(path / "index.csv", index=False)
    (path / "qa.json").write_text("{}")
    pol = get_policy("cpc", size=size)
    (path / "meta.json").write_text(json.dumps({"hash": "test", "key": {"dataset": "bp4d", "policy": asdict(pol)}}))
    return FrameStore(path)


@pytest.fixture()
def store(tmp_path):
    return make_store(tmp_path / "s")


def test_batches_hold_the_right_rows_normalised(store):
    rows = np.arange(5, 35)
    ld = BatchLoader(store, rows, 8, device="cpu", seed=1, targets={"au": store.index["AU12"].to_numpy()})
    assert len(ld) == 3 and not ld.on_device
    seen = []
    for b in ld:
        x, r = b["image"], b["rows"]
        assert x.shape == (8, 3, 16, 16) and x.dtype == torch.float32
        assert x.is_contiguous()          # NCHW on the CPU (channels_last only on CUDA: runtime.image_layout)
        # green channel holds the row number: (v/255 - .5)/.5
        v = (x[:, 1, 0, 0] * 0.5 + 0.5) * 255
        assert torch.allclose(v, r.float(), atol=1e-3)
        assert torch.equal(b["au"], r % 6)
        seen += r.tolist()
    assert len(set(seen)) == 24 and set(seen) <= set(rows)
    assert len(BatchLoader(store, rows, 8, device="cpu", drop_last=False)) == 4


def test_order_is_a_function_of_seed_and_epoch(store):
    def epoch_rows(seed, epoch, on_device=False):
        ld = BatchLoader(store, np.arange(40), 10, device="cpu", seed=seed, on_device=on_device,
                         augment=A.Compose([A.flip(), A.color_jitter(), A.affine(10, 0.1)]))
        ld.set_epoch(epoch)
        return [(b["rows"].clone(), b["image"].clone()) for b in ld]

    a, b = epoch_rows(0, 3), epoch_rows(0, 3)
    assert all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(a, b))
    c = epoch_rows(0, 4)
    assert not torch.equal(torch.cat([x[0] for x in a]), torch.cat([x[0] for x in c]))
    d = epoch_rows(1, 3)
    assert not torch.equal(torch.cat([x[0] for x in a]), torch.cat([x[0] for x in d]))
    # the device-resident path gives the same batches as the host path
    e = epoch_rows(0, 3, on_device=True)
    assert all(torch.equal(x[0], y[0]) and torch.allclose(x[1], y[1]) for x, y in zip(a, e))


def test_clips(store):
    rows = np.arange(32).reshape(8, 4)
    b = next(iter(BatchLoader(store, rows, 4, device="cpu", shuffle=False,
                              augment=A.random_crop(12))))
    assert b["image"].shape == (4, 4, 3, 12, 12) and b["rows"].shape == (4, 4)
    assert b["image"].is_contiguous()          # CPU: NCHW frames, as the CPU model expects
    v = (b["image"][:, :, 1, 0, 0] * 0.5 + 0.5) * 255
    assert torch.allclose(v, b["rows"].float(), atol=1e-3)


def test_augment_ops_are_seeded_and_shape_preserving():
    x = torch.rand(6, 3, 20, 20)
    g = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    for op in (A.flip(), A.random_crop(16), A.color_jitter(), A.affine(), A.center_crop(16)):
        y1, y2 = op(x, g()), op(x, g())
        assert torch.equal(y1, y2) and y1.shape[:2] == (6, 3)
    f = A.flip(p=1.0)(x, g())
    assert torch.equal(f, x.flip(-1))
    c = A.random_crop(16)(x, g())
    # each crop is a window of its own image
    for i in range(6):
        win = x[i].unfold(1, 16, 1).unfold(2, 16, 1)  # (3, 5, 5, 16, 16)
        assert any(torch.equal(win[:, a, b], c[i]) for a in range(5) for b in range(5))
    # clips share parameters over time
    clip = x[:2, None].expand(2, 3, 3, 20, 20).contiguous()
    out = A.affine(20, 0.1)(clip, g())
    assert torch.allclose(out[:, 0], out[:, 2])
    with pytest.raises(ValueError):
        A.random_crop(32)(x, g())


def test_bad_rows_and_targets(store):
    with pytest.raises(IndexError):
        BatchLoader(store, [0, 99], 2, device="cpu")
    with pytest.raises(ValueError, match="targets"):
        BatchLoader(store, [0, 1], 2, device="cpu", targets={"y": np.zeros(3)})


def test_ranks_shard_each_global_batch(store):
    """DDP: rank r takes its contiguous slice of every global batch; together the ranks see
    exactly the single-process batches, and no frame twice in an epoch."""
    rows = np.arange(40)
    single = [b["rows"].numpy() for b in BatchLoader(store, rows, 8, device="cpu", seed=3)]
    shards = [[b["rows"].numpy() for b in BatchLoader(store, rows, 8, device="cpu", seed=3, rank=r, world=2)]
              for r in (0, 1)]
    for i, full in enumerate(single):
        np.testing.assert_array_equal(np.concatenate([shards[0][i], shards[1][i]]), full)
    seen = np.concatenate([np.concatenate(s) for s in shards])
    assert len(seen) == len(set(seen.tolist())) == 40
    with pytest.raises(ValueError, match="divisible"):
        BatchLoader(store, rows, 7, device="cpu", rank=0, world=2)


def test_image_layout_is_nhwc_only_on_cuda():
    from aukit.runtime import image_layout
    assert image_layout("cpu") == torch.contiguous_format
    assert image_layout(torch.device("cuda", 0)) == torch.channels_last


def test_clips_reach_the_step_in_the_device_layout_whatever_the_augment_did():
    """CPC's hue einsum returned clips in (B, T, 3, S, S) memory order and the loader passed 5-D batches on
    as they came on CUDA: the NHWC model then converted every conv's input. clip_layout puts them back."""
    import torch
    from aukit.data.loader import clip_layout
    u8 = torch.randint(0, 255, (2 * 3, 8, 8, 3), dtype=torch.uint8)
    loaded = u8.permute(0, 3, 1, 2).float().reshape(2, 3, 3, 8, 8)           # as the loader decodes a clip
    mixed = torch.einsum("ij,btjhw->btihw", torch.eye(3), loaded)             # an augment mixing channels
    assert mixed.stride() != loaded.stride()
    for x in (loaded, mixed):
        out = clip_layout(x, torch.channels_last)
        assert torch.equal(out, x) and out.stride() == loaded.stride()
        assert out.flatten(0, 1).is_contiguous(memory_format=torch.channels_last)
        assert clip_layout(x, torch.contiguous_format).is_contiguous()
    assert clip_layout(loaded, torch.channels_last).data_ptr() == loaded.data_ptr()   # no copy when in order
