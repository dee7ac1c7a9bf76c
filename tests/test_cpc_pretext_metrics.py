"""CPC Table 1's Top-n metrics of the predictive task (aukit.methods.cpc.infer, beside pretext_accuracy)."""
import torch

from aukit.methods.cpc import infer, losses
from aukit.methods.cpc.infer import topk_accuracy, topk_rates


def test_topk_accuracy_hand_made():
    logits = torch.tensor([[[5.0, 1.0, 0.0, 0.0],     # positive first -> top1
                            [3.0, 2.0, 1.0, 0.0],     # positive 2nd -> top3
                            [9.0, 8.0, 1.0, 7.0],     # positive 4th -> top5 only
                            [0.0, 0.0, 0.0, 0.0]]])   # tie with all: rank 3 -> top5 only
    acc = topk_accuracy(logits, ks=(1, 3, 5))
    assert acc == {"top1": 0.25, "top3": 0.5, "top5": 1.0}


def test_topk_rates_are_tensors_with_the_accuracy_values():
    """The training step logs topk_rates: 0-d tensors on the logits' device (no host sync), same values."""
    logits = torch.randn(2, 7, 7, generator=torch.Generator().manual_seed(0))
    logits[0, 3] = 0.0                                 # a row of ties: the positive ranks last
    rates = topk_rates(logits, ks=(1, 3, 5))
    assert all(torch.is_tensor(v) and v.ndim == 0 and v.device == logits.device for v in rates.values())
    assert {k: v.item() for k, v in rates.items()} == topk_accuracy(logits, ks=(1, 3, 5))


def test_the_metrics_live_beside_pretext_accuracy_not_among_the_losses():
    """topk_rates / topk_accuracy are metrics: they sat in losses.py; they are infer.py's, with pretext_accuracy."""
    for f in (topk_rates, topk_accuracy):
        assert f.__module__ == infer.__name__ == infer.pretext_accuracy.__module__
        assert not hasattr(losses, f.__name__)
