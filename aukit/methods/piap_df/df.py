"""Discrete Feedback semi-supervised learning (PIAP-DF §3.3, Eqs. 7-11).

One call of :class:`DFStep` is one teacher/student step inside :func:`aukit.train.fit`:

1. teacher f_theta pseudo-labels x_u: Y_p; g_{theta,u} = grad_theta L_PIAP(f_theta(x_u), G_p)  (Eq. 7)
2. g_{xi,u} = grad_xi L_PIAP(f_xi(x_u), G_p); student step xi' = xi - eta g_{xi,u}          (Eqs. 7, 8)
3. g_{xi',l} = grad_xi' L_PIAP(f_xi'(x_l), G_l); g_{theta,l} likewise for the teacher       (Eq. 9)
4. fb = g_{xi',l}^T g_{xi,u}; fb_d = sigma * h(fb), h = 1 if fb > 0 else -0.1, P(sigma=0)=5%  (Eq. 10)
5. teacher .grad = fb_d * g_{theta,u} + g_{theta,l}; the loop's optimizer step applies Eq. 11.

The student's optimizer is stepped inside step 2 (Eq. 8 must happen before Eq. 9);
its gradients are then cleared to ``None`` so the loop's own ``step()`` of every
optimizer leaves the student untouched. The step returns ``StepOutput(manual=True)``.
"""
from __future__ import annotations

import itertools
from typing import Iterable, Iterator

import torch
import torch.nn as nn
from torch.profiler import record_function

from aukit.train import StepOutput

from .config import DFConfig
from .losses import PIAPLoss
from .step import PITargets


def discrete_feedback(fb: torch.Tensor | float, sigma: torch.Tensor | float,
                      positive: float, negative: float) -> torch.Tensor:
    """Eq. 10: ``fb_discrete = sigma * h(fb)`` with ``h(z) = positive if z > 0 else negative``
    (``DFConfig.fb_positive`` / ``fb_negative``: 1 and -0.1 in the paper)."""
    fb = torch.as_tensor(fb, dtype=torch.float32)
    h = torch.where(fb > 0, torch.full_like(fb, positive), torch.full_like(fb, negative))
    return torch.as_tensor(sigma, dtype=torch.float32, device=fb.device) * h


class TeacherStudent(nn.Module):
    """Two copies of PIAP (§3.3): ``teacher`` f_theta and ``student`` f_xi.

    ``forward`` is the student's (the student's Encoder AU is the final model, §3.4).
    """

    def __init__(self, teacher: nn.Module, student: nn.Module):
        super().__init__()
        self.teacher = teacher
        self.student = student

    def forward(self, x: torch.Tensor, pi: bool = False) -> dict:
        return self.student(x, pi=pi)


class PairedLoader:
    """Yields ``{"l": labelled batch, "u": unlabelled batch}``; one epoch = one pass over
    the labelled loader, the unlabelled loaders (e.g. hidden-label BP4D frames, DISFA
    frames) are cycled round-robin. ``set_epoch`` is forwarded for resumable order."""

    def __init__(self, labelled: Iterable, unlabelled: list[Iterable]):
        if not unlabelled:
            raise ValueError("PairedLoader needs at least one unlabelled loader")
        self.labelled, self.unlabelled = labelled, list(unlabelled)

    def set_epoch(self, epoch: int) -> None:
        for loader in [self.labelled, *self.unlabelled]:
            if hasattr(loader, "set_epoch"):
                loader.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.labelled)

    def __iter__(self) -> Iterator[dict]:
        streams = [itertools.chain.from_iterable(itertools.repeat(u)) for u in self.unlabelled]
        for i, batch_l in enumerate(self.labelled):
            yield {"l": batch_l, "u": next(streams[i % len(streams)])}


def _grads(loss: torch.Tensor, params: list[nn.Parameter]) -> list[torch.Tensor]:
    """d loss / d params, zeros for parameters the loss does not reach (e.g. an unused decoder)."""
    gs = torch.autograd.grad(loss, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for g, p in zip(gs, params)]


def _flat(ts: list[torch.Tensor]) -> torch.Tensor:
    """A gradient list as one fp32 vector (a copy): Eq. 10's dot product is then one kernel
    instead of two per parameter tensor (launch-bound on a GPU otherwise)."""
    return torch.cat([t.reshape(-1) for t in ts]).float()


class DFStep:
    """Eqs. 7-11 as a manual-gradient step for ``fit(TeacherStudent, ...)``.

    ``loss`` is the :class:`PIAPLoss` (Eq. 6) shared by teacher and student;
    ``student_optimizer`` performs Eq. 8 inside the step; the teacher's optimizer (in the
    dict passed to ``fit``) performs Eq. 11 after it. Batches: ``{"l": {image, au, [person]},
    "u": {image, [person]}}``.
    """

    def __init__(self, loss: PIAPLoss, student_optimizer: torch.optim.Optimizer, cfg: DFConfig | None = None,
                 pi_targets: PITargets | None = None):
        self.cfg = cfg = cfg or DFConfig()
        if not 0.0 <= cfg.disable_prob <= 1.0:
            raise ValueError(f"disable_prob must lie in [0, 1], got {cfg.disable_prob}")
        if cfg.pseudo not in ("hard", "sample"):
            raise ValueError(f"pseudo must be 'hard' or 'sample', got {cfg.pseudo!r}")
        if loss.uses_pi and pi_targets is None:
            raise ValueError("beta > 0 (L_PI) needs pi_targets from PI Generator 1")
        self.loss, self.student_optimizer, self.pi_targets = loss, student_optimizer, pi_targets

    def _targets(self, bl: dict, bu: dict) -> tuple[tuple, tuple]:
        """(M, P) for x_l and for x_u. Generator 1 is frozen in eval mode, so one forward over
        both batches gives the maps two calls would, with half the launches."""
        m_l = m_u = None
        if self.loss.uses_pi:
            n_l, n_u = bl["image"].shape[0], bu["image"].shape[0]
            m_l, m_u = self.pi_targets(torch.cat([bl["image"], bu["image"]])).split([n_l, n_u])
        p_l, p_u = (bl["person"], bu["person"]) if self.loss.uses_ap else (None, None)
        return (m_l, p_l), (m_u, p_u)

    def pseudo_labels(self, logits: torch.Tensor) -> torch.Tensor:
        """Y_p from the teacher's logits (B, C): thresholded at 0.5 or Bernoulli-sampled."""
        prob = torch.sigmoid(logits.detach().float())
        return (prob > 0.5).float() if self.cfg.pseudo == "hard" else torch.bernoulli(prob)

    def __call__(self, model: nn.Module, batch: dict) -> StepOutput:
        if isinstance(model, nn.parallel.DistributedDataParallel):
            raise RuntimeError("DF runs in one process only: its gradients come from torch.autograd.grad, which "
                               "DistributedDataParallel does not all-reduce, so each rank's teacher and student "
                               "would drift apart; train it without torchrun (one GPU)")
        teacher, student = model.teacher, model.student
        t_params = [p for p in teacher.parameters() if p.requires_grad]
        s_params = [p for p in student.parameters() if p.requires_grad]
        bl, bu = batch["l"], batch["u"]
        (m_l, p_l), (m_u, p_u) = self._targets(bl, bu)
        pi = self.loss.uses_pi

        # Eq. 7: teacher on x_u; its own pseudo-labels define G_p = (M, P, Y_p).
        with record_function("df.teacher"):                              # bench profile labels
            out_tu = teacher(bu["image"], pi=pi)
            y_p = self.pseudo_labels(out_tu["logits"])
            loss_tu, _ = self.loss(out_tu, y_p, m_u, p_u)
            g_tu = _grads(loss_tu, t_params)

        # Eqs. 7-8: student on (x_u, G_p), one optimizer step xi -> xi'.
        with record_function("df.student"):
            loss_su, _ = self.loss(student(bu["image"], pi=pi), y_p, m_u, p_u)
            g_su = _grads(loss_su, s_params)
            flat_su = _flat(g_su)          # kept for Eq. 10 before the optimizer may reuse its gradients
            for p, g in zip(s_params, g_su):
                p.grad = g
            self.student_optimizer.step()
            for p in s_params:
                p.grad = None  # the loop's optimizer.step() must not move the student again
            # autocast keeps one low-precision copy of each weight for its whole region and does not
            # see the in-place update: without this, Eq. 9 would run the old student xi in bf16
            torch.clear_autocast_cache()

        # Eq. 9: the updated student and the teacher on labelled data G_l.
        with record_function("df.student"):
            loss_sl, parts_sl = self.loss(student(bl["image"], pi=pi), bl["au"], m_l, p_l)
            g_sl = _grads(loss_sl, s_params)
        with record_function("df.teacher"):
            loss_tl, _ = self.loss(teacher(bl["image"], pi=pi), bl["au"], m_l, p_l)
            g_tl = _grads(loss_tl, t_params)

        # Eq. 10: discrete feedback, randomly disabled with probability disable_prob.
        fb = torch.dot(_flat(g_sl), flat_su)
        sigma = (torch.rand((), device=fb.device) >= self.cfg.disable_prob).float()  # drawn on the device: no copy
        fb_d = discrete_feedback(fb.detach(), sigma, self.cfg.fb_positive, self.cfg.fb_negative)

        # Eq. 11: theta' = theta - eta (fb_d g_{theta,u} + g_{theta,l}); the loop steps the teacher.
        grads = torch._foreach_add(torch._foreach_mul(g_tu, fb_d.to(g_tu[0].dtype)), g_tl)  # fused over tensors
        for p, g in zip(t_params, grads):
            p.grad = g
        logs = {"l_teacher_u": loss_tu.detach(), "l_teacher_l": loss_tl.detach(), "l_student_u": loss_su.detach(),
                "fb_positive": (fb > 0).float(), "fb_discrete": fb_d, **{f"student_{k}": v for k, v in parts_sl.items()}}
        return StepOutput(loss_sl.detach(), logs, n_images=2 * (bl["image"].shape[0] + bu["image"].shape[0]),
                          manual=True)
