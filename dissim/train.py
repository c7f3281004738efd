"""Siamese training (paper Section 2.2): pair / triplet sampling and the training loop.

The loop follows MATLAB's custom Siamese training loop that the paper used ("the default
settings in the MATLAB framework for Siamese networks were used"): a fresh random mini-batch of
pairs every iteration, no epochs, a fixed number of iterations (3000 in the paper), learning rate
1e-4, and "if the siamese network does not converge in the training set we rerun the training"
(companion README). Our convergence test, which the paper does not define, is documented in
:func:`train_siamese`.

Example
-------
>>> from dissim.train import TrainConfig
>>> TrainConfig(topology=1, loss="cross", optimizer="adam", iterations=3000, batch_size=180).lr
0.0001
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from dissim.errors import ConfigError, DataError
from dissim.losses import pair_bce, triplet_loss
from dissim.memory import check_fits
from dissim.optim import create as create_optimizer
from dissim.siamese import SiameseNet
from dissim.topologies import create as create_backbone

LOSSES = ("cross", "triplet")
AMP = (None, "bf16")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines one Siamese training run (Section 4).

    ``convergence_threshold`` is our reading of the companion's rerun rule: a run counts as
    converged when its loss stayed finite and its pair accuracy on fresh training pairs reaches
    the threshold (chance is 0.5). ``max_retries`` reruns use seeds ``seed + 1000 * attempt``;
    the best attempt is kept and flagged when none converged.

    The GPU speed switches (``Profile.amp``, ``tf32``, ``channels_last``) change arithmetic,
    not the algorithm: ``amp="bf16"`` runs the forward pass and loss under bfloat16 autocast,
    ``tf32`` allows TensorFloat-32 on CUDA, ``channels_last`` trains in NHWC layout.
    """

    topology: int
    loss: str = "cross"
    optimizer: str = "adam"
    iterations: int = 3000
    batch_size: int = 180
    lr: float = 1e-4
    seed: int = 0
    triplet_form: str = "printed"
    margin: float = 1.0
    convergence_threshold: float = 0.6
    max_retries: int = 2
    eval_pairs: int = 256
    amp: str | None = None
    tf32: bool = False
    channels_last: bool = False

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ConfigError(f"unknown loss {self.loss!r}; choose cross or triplet")
        for name in ("iterations", "batch_size", "eval_pairs"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer; got {value!r}")
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ConfigError(f"max_retries must be an integer >= 0; got {self.max_retries!r}")
        if self.amp not in AMP:
            raise ConfigError(f"unknown amp {self.amp!r}; choose bf16 or None (float32)")


@dataclass
class TrainLog:
    """What a training run reports: the loss curve, timings and the convergence verdict."""

    loss: list[float] = field(default_factory=list)
    seconds: float = 0.0
    total_seconds: float = 0.0
    pair_accuracy: float = float("nan")
    converged: bool = False
    attempts: int = 1
    device: str = "cpu"

    def to_dict(self) -> dict:
        return asdict(self)


def _sampling_classes(labels, what: str) -> tuple[dict[int, np.ndarray], np.ndarray, np.ndarray]:
    """Indices per class, the classes, and the classes with at least two images."""
    labels = np.asarray(labels)
    groups = {int(c): np.flatnonzero(labels == c) for c in np.unique(labels)}
    classes = np.array(sorted(groups))
    twins = np.array([c for c in classes if len(groups[c]) >= 2])
    if len(classes) < 2 or len(twins) == 0:
        raise DataError(
            f"{what} sampling needs at least two classes and one class with two images; "
            f"got {len(classes)} classes"
        )
    return groups, classes, twins


def sample_pairs(
    labels: np.ndarray, batch_size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw a mini-batch of pairs like MathWorks' ``getSiameseBatch`` (Section 4, MATLAB defaults).

    Each pair is similar with probability 1/2: a class drawn uniformly among the classes with at
    least two images, then two different images of it (label 1); otherwise two different classes
    drawn uniformly and one image of each (label 0). Classes are sampled uniformly whatever their
    size.

    Returns
    -------
    i1, i2 : int arrays (batch_size,)
        Indices into ``labels`` of the two images of each pair.
    y : float32 array (batch_size,)
        1 for a same-class pair, 0 otherwise.
    """
    groups, classes, twins = _sampling_classes(labels, "pair")
    i1 = np.empty(batch_size, dtype=np.int64)
    i2 = np.empty(batch_size, dtype=np.int64)
    y = np.empty(batch_size, dtype=np.float32)
    for b in range(batch_size):
        if rng.random() < 0.5:
            c = twins[rng.integers(len(twins))]
            i1[b], i2[b] = rng.choice(groups[c], size=2, replace=False)
            y[b] = 1.0
        else:
            c1, c2 = rng.choice(classes, size=2, replace=False)
            i1[b] = rng.choice(groups[c1])
            i2[b] = rng.choice(groups[c2])
            y[b] = 0.0
    return i1, i2, y


def sample_triplets(
    labels: np.ndarray, batch_size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw anchor, positive and negative indices (Section 2.2.2, our choice consistent with 3.1).

    The anchor class is uniform over the classes with at least two images; anchor and positive
    are two different images of it; the negative is one image of another, uniformly drawn class.
    """
    groups, classes, twins = _sampling_classes(labels, "triplet")
    a = np.empty(batch_size, dtype=np.int64)
    p = np.empty(batch_size, dtype=np.int64)
    n = np.empty(batch_size, dtype=np.int64)
    for b in range(batch_size):
        c = twins[rng.integers(len(twins))]
        a[b], p[b] = rng.choice(groups[c], size=2, replace=False)
        others = classes[classes != c]
        n[b] = rng.choice(groups[others[rng.integers(len(others))]])
    return a, p, n


def default_device() -> torch.device:
    """CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _batch(x: np.ndarray | torch.Tensor, idx: np.ndarray, device: torch.device,
           channels_last: bool = False) -> torch.Tensor:
    """Gather images ``idx`` onto ``device``; through pinned host memory on CUDA."""
    if isinstance(x, torch.Tensor):
        batch = x[torch.from_numpy(idx).to(x.device)]
    else:
        batch = torch.from_numpy(x[idx])
    if device.type == "cuda" and batch.device.type == "cpu":
        batch = batch.pin_memory()  # an asynchronous copy needs page-locked memory
    batch = batch.to(device, non_blocking=True)
    return batch.contiguous(memory_format=torch.channels_last) if channels_last else batch


def _loss(net: SiameseNet, x, labels, rng, cfg: TrainConfig, device) -> torch.Tensor:
    """One mini-batch loss; both images of every pair go through the backbone in ONE pass."""
    if cfg.loss == "cross":
        i1, i2, y = sample_pairs(labels, cfg.batch_size, rng)
        e = net.embed(_batch(x, np.concatenate([i1, i2]), device, cfg.channels_last))
        logits = net.pair_logits(e[: cfg.batch_size], e[cfg.batch_size :])
        return pair_bce(logits, torch.from_numpy(y).to(device))
    a, p, n = sample_triplets(labels, cfg.batch_size, rng)
    e = net.embed(_batch(x, np.concatenate([a, p, n]), device, cfg.channels_last))
    b = cfg.batch_size
    return triplet_loss(e[:b], e[b : 2 * b], e[2 * b :], margin=cfg.margin, form=cfg.triplet_form)


@torch.no_grad()
def pair_accuracy(
    net: SiameseNet, x, labels: np.ndarray, n_pairs: int, seed: int, device=None
) -> float:
    """Accuracy on fresh training pairs, like the companion's ``evaluateSiamese`` (README).

    Cross: a pair is called "same" when the head's similarity exceeds 0.5. Triplet: a triplet is
    correct when the anchor is closer to the positive than to the negative.
    """
    device = device or next(net.parameters()).device
    rng = np.random.default_rng(seed)
    was_training = net.training
    net.eval()
    try:
        if net.mode == "cross":
            i1, i2, y = sample_pairs(labels, n_pairs, rng)
            e = _embed_unique(net, x, np.concatenate([i1, i2]), device)
            p = net.pair_score(e[:n_pairs], e[n_pairs:]).cpu().numpy()
            return float(np.mean((p > 0.5) == (y > 0.5)))
        a, p_, n = sample_triplets(labels, n_pairs, rng)
        e = _embed_unique(net, x, np.concatenate([a, p_, n]), device)
        d_ap = net.pair_score(e[:n_pairs], e[n_pairs : 2 * n_pairs])
        d_an = net.pair_score(e[:n_pairs], e[2 * n_pairs :])
        return float((d_ap < d_an).float().mean())
    finally:
        net.train(was_training)


def _embed_unique(net: SiameseNet, x, idx: np.ndarray, device, chunk: int = 64) -> torch.Tensor:
    """Embeddings of ``x[idx]``: each distinct image once, in chunks (bounded memory)."""
    uniq, inverse = np.unique(idx, return_inverse=True)
    parts = [net.embed(_batch(x, uniq[s : s + chunk], device))
             for s in range(0, len(uniq), chunk)]
    return torch.cat(parts)[torch.from_numpy(inverse).to(device)]


@contextlib.contextmanager
def _tf32(enabled: bool):
    """Allow TensorFloat-32 in CUDA matmuls and cuDNN convolutions inside the block."""
    if not enabled:
        yield
        return
    matmul, conv = torch.backends.cuda.matmul, torch.backends.cudnn.conv
    before = matmul.fp32_precision, conv.fp32_precision
    matmul.fp32_precision = conv.fp32_precision = "tf32"
    try:
        yield
    finally:
        matmul.fp32_precision, conv.fp32_precision = before


def _train_once(x, labels, cfg: TrainConfig, seed: int, device, progress: bool):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    in_channels, size = int(x.shape[1]), int(x.shape[-1])
    backbone = create_backbone(cfg.topology, in_channels=in_channels, input_size=size)
    net = SiameseNet(backbone, mode=cfg.loss).to(device)
    if cfg.channels_last:
        net = net.to(memory_format=torch.channels_last)
    net.train()
    opt = create_optimizer(cfg.optimizer, net.parameters(), lr=cfg.lr, total_steps=cfg.iterations)
    log = TrainLog(device=str(device))
    bar = tqdm(
        range(cfg.iterations), desc=f"train t{cfg.topology} {cfg.loss}/{cfg.optimizer}",
        disable=not progress, leave=False,
    )
    start = time.perf_counter()
    for _ in bar:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.amp == "bf16"):
            loss = _loss(net, x, labels, rng, cfg, device)
        value = float(loss.detach())
        log.loss.append(value)
        if not math.isfinite(value):
            # A NaN/inf loss cannot recover: stop BEFORE the step (the weights stay finite)
            # and let the rerun rule decide.
            break
        loss.backward()
        opt.step()
        if progress:
            bar.set_postfix(loss=f"{value:.4f}", refresh=False)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    log.seconds = time.perf_counter() - start
    finite = all(math.isfinite(v) for v in log.loss)
    log.pair_accuracy = (
        pair_accuracy(net, x, labels, cfg.eval_pairs, seed + 1, device) if finite else 0.0
    )
    log.converged = finite and log.pair_accuracy >= cfg.convergence_threshold
    return net, log


def train_siamese(
    x: np.ndarray | torch.Tensor,
    labels: np.ndarray,
    cfg: TrainConfig,
    *,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> tuple[SiameseNet, TrainLog]:
    """Train one Siamese network on network inputs ``x`` (N, C, S, S) with class ``labels``.

    Implements the paper's training (Section 2.2): sampling per iteration, Adam /
    DGrad / DecayDGrad with lr 1e-4 and betas (0.9, 0.99), ``cfg.iterations`` iterations, and
    the rerun rule: when a run does not converge (non-finite loss, or pair accuracy on fresh
    training pairs below ``cfg.convergence_threshold``) it is rerun with a new seed, at most
    ``cfg.max_retries`` times; the best run is returned and ``log.converged`` says whether it
    met the threshold. ``log.attempts`` counts the runs; ``log.seconds`` is the training time of
    the returned run (Table 4 reports the time of one network), ``log.total_seconds`` of all.
    """
    device = torch.device(device) if device is not None else default_device()
    labels = np.asarray(labels)
    if len(labels) != len(x):
        raise DataError(f"got {len(x)} images but {len(labels)} labels")
    check_fits(cfg.topology, int(x.shape[-1]), cfg.batch_size, device, mode=cfg.loss)
    best = None
    total = 0.0
    for attempt in range(cfg.max_retries + 1):
        with _tf32(cfg.tf32 and device.type == "cuda"):
            net, log = _train_once(x, labels, cfg, cfg.seed + 1000 * attempt, device, progress)
        total += log.seconds
        if best is None or log.pair_accuracy > best[1].pair_accuracy:
            best = (net, log)
        if log.converged:
            break
    net, log = best
    log.attempts = attempt + 1
    log.total_seconds = total
    net.eval()
    return net, log
