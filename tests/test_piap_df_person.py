"""PIAP-DF person features (AP, §3.2): identification accuracy and the dlib descriptor."""
import numpy as np
import pytest
import torch

from aukit.methods.piap_df.person import dlib_descriptors, encoder_features, identification_accuracy, models_dir


def test_identification_accuracy_known_answers():
    ids = np.repeat(np.arange(4), 3)
    clean = np.eye(4)[ids] + 0.01 * np.random.default_rng(0).standard_normal((12, 4))
    assert identification_accuracy(clean, ids) == 1.0
    # features that only encode a nuisance (two values shared across identities) cannot identify 4 people
    nuisance = np.stack([np.arange(12) % 2, 1 - np.arange(12) % 2], 1).astype(float) + 1e-3
    assert identification_accuracy(nuisance, ids) < 0.75
    with pytest.raises(ValueError):
        identification_accuracy(np.ones((3, 2)), [0, 1, 2])  # no identity with 2 images
    with pytest.raises(ValueError):
        identification_accuracy(np.full((4, 2), np.nan), [0, 0, 1, 1])


def test_encoder_features_fills_rows():
    net = torch.nn.Identity()

    class Net(torch.nn.Module):
        def forward(self, x):
            return {"feature": x.flatten(1)[:, :2]}

    # image j of batch i holds 10 i + j, so each row shows which image filled it
    batches = [{"image": (10.0 * i + torch.arange(2.0)).view(2, 1, 1, 1).expand(2, 1, 1, 2).contiguous(),
                "rows": torch.tensor([2 * i + 1, 2 * i])} for i in range(2)]
    f = encoder_features(Net(), batches, n_rows=5)
    assert f.shape == (5, 2) and np.isnan(f[4]).all()
    assert f[:4, 0].tolist() == [1.0, 0.0, 11.0, 10.0]          # row 2 i + 1 <- image 0 of batch i, row 2 i <- image 1
    del net


def test_dlib_descriptor_identifies_the_same_face():
    from skimage.data import astronaut
    import cv2
    from aukit.data.synthau.face import dlib_landmarks

    assert (models_dir() / "dlib_face_recognition_resnet_model_v1.dat").is_file()
    img = astronaut()
    lm = dlib_landmarks(img)
    assert lm is not None
    small = cv2.resize(img, (256, 256), interpolation=cv2.INTER_AREA)
    lm_small = lm * 256 / img.shape[0]
    flipped_colours = small[..., ::-1].copy()  # a different-looking face with the same geometry
    noise = np.random.default_rng(0).integers(0, 256, small.shape, dtype=np.uint8)  # no face at those points
    d = dlib_descriptors(np.stack([small, small, flipped_colours, noise]), np.stack([lm_small] * 4))
    assert d.shape == (4, 128) and np.isfinite(d).all()
    assert np.allclose(d[0], d[1])
    # dlib's same-person threshold is 0.6: the recoloured astronaut is her (0.15), noise is nobody (0.84)
    assert 0 < np.linalg.norm(d[0] - d[2]) < 0.3 and np.linalg.norm(d[0] - d[3]) > 0.6
    with pytest.raises(ValueError):
        dlib_descriptors(small[None], lm_small[None, :10])
