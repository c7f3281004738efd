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
from dissim.losses import TRIPLET_FORMS, pair_bce, triplet_loss, triplet_loss_from_distances
from dissim.memory import check_fits
from dissim.optim import create as create_optimizer
from dissim.sampling import (
    SAMPLERS,
    all_pairs,
    all_triplets,
    class_balanced_batch,
    images_per_iteration,
)
from dissim.siamese import SiameseNet, euclidean
from dissim.topologies import NORMALIZATIONS
from dissim.topologies import create as create_backbone

LOSSES = ("cross", "triplet")
AMP = (None, "bf16")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines one Siamese training run (paper Sections 2.2 and 3).

    The paper's settings are the defaults: Adam, learning rate 1e-4, 3000 iterations, a fresh
    mini-batch of 180 pairs per iteration (MathWorks' default; the paper does not give it).
    Our choices where the paper is silent (book: Assumptions, each with its ablation):

    ``normalization``
        The input layer: ``"zerocenter"`` (MATLAB ``imageInputLayer``'s default, subtract the
        training set's mean image) or ``"none"``; see :mod:`dissim.topologies`.
    ``triplet_form``
        ``"conventional"``, ``max(d_ap - d_an + margin, 0)``: the printed form
        ``max(d_ap - d_an, margin)`` is constant with zero gradient at initialisation
        (:func:`dissim.losses.triplet_loss`), so a network trained with it never moves.
    ``convergence_threshold``, ``max_retries``
        The companion's rerun rule ("if the siamese network does not converge in the training
        set we rerun the training"): a run converged when its loss stayed finite and its pair
        accuracy on fresh training pairs reaches the threshold (chance is 0.5; 0.8 means it
        learned). Reruns use seeds ``seed + 1000 * attempt``; the best attempt is kept and
        flagged when none converged.
    ``holdout``
        The fraction of each class's training images kept out of the pairs the network trains
        on (never out of the prototypes or the SVM), to measure held-out pair accuracy: pairs of
        a held-out image and a training image. 0 measures none.
    ``sampler``
        ``"pairs"``, the paper's MathWorks sampler (two fresh images per pair, three per
        triplet), or ``"batch"``: as many images, class balanced, forwarded once, with every
        pair (every valid triplet) among them in the loss (:mod:`dissim.sampling`); the
        cross-entropy then weighs the same-class and the different-class pairs equally, as the
        paper's half-and-half pairs do.
    ``sync_every``
        How often the loop reads the loss on the host (None: every step on the CPU, every 50 on
        CUDA, where each read waits for the GPU). A non-finite loss zeroes that step's gradients
        on the device and stops the run at the next read, so no bad gradient is applied.

    The GPU speed switches (``amp="bf16"`` autocast, ``tf32``, ``channels_last`` NHWC) change
    arithmetic, not the algorithm.
    """

    topology: int
    loss: str = "cross"
    optimizer: str = "adam"
    iterations: int = 3000
    batch_size: int = 180
    lr: float = 1e-4
    seed: int = 0
    triplet_form: str = "conventional"
    margin: float = 1.0
    normalization: str = "zerocenter"
    convergence_threshold: float = 0.8
    max_retries: int = 2
    eval_pairs: int = 256
    holdout: float = 0.1
    sync_every: int | None = None
    sampler: str = "pairs"
    amp: str | None = None
    tf32: bool = False
    channels_last: bool = False

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ConfigError(f"unknown loss {self.loss!r}; choose cross or triplet")
        if self.triplet_form not in TRIPLET_FORMS:
            raise ConfigError(f"unknown triplet_form {self.triplet_form!r}; choose one of "
                              f"{', '.join(TRIPLET_FORMS)}")
        if self.normalization not in NORMALIZATIONS:
            raise ConfigError(f"unknown normalization {self.normalization!r}; choose one of "
                              f"{', '.join(NORMALIZATIONS)}")
        for name in ("iterations", "batch_size", "eval_pairs"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer; got {value!r}")
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ConfigError(f"max_retries must be an integer >= 0; got {self.max_retries!r}")
        if self.sync_every is not None and (
                not isinstance(self.sync_every, int) or self.sync_every < 1):
            raise ConfigError(f"sync_every must be a positive integer; got {self.sync_every!r}")
        if not 0.0 <= self.holdout < 1.0:
            raise ConfigError(f"holdout must be in [0, 1); got {self.holdout!r}")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"unknown sampler {self.sampler!r}; choose one of "
                              f"{', '.join(SAMPLERS)}")
        if not isinstance(self.lr, int | float) or not self.lr > 0:
            raise ConfigError(f"lr must be a positive number; got {self.lr!r}")
        if self.amp not in AMP:
            raise ConfigError(f"unknown amp {self.amp!r}; choose bf16 or None (float32)")


@dataclass
class TrainLog:
    """What a training run reports: the loss curve, timings, learning and the rerun verdict.

    Pair accuracies are same/different decisions on balanced pairs (chance 0.5): cross networks
    call a pair "same" when the head's similarity exceeds 0.5; triplet networks when the
    distance is below ``pair_threshold``, the cut that is best on the training pairs.
    ``untrained_*`` are the same measures for the network at initialisation (the control).
    """

    loss: list[float] = field(default_factory=list)
    seconds: float = 0.0
    total_seconds: float = 0.0
    pair_accuracy: float = float("nan")
    heldout_pair_accuracy: float = float("nan")
    untrained_pair_accuracy: float = float("nan")
    untrained_heldout_pair_accuracy: float = float("nan")
    pair_threshold: float | None = None
    heldout_images: int = 0
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
    """Draw a mini-batch of pairs like MathWorks' ``getSiameseBatch`` (the paper's MATLAB example).

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
    """Draw anchor, positive and negative indices (Section 2.2.2; our choice, like the pairs).

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


def sample_pairs_between(
    query_labels: np.ndarray, ref_labels: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Balanced pairs of a query image and a reference image (held-out pair accuracy).

    Like :func:`sample_pairs` (classes uniform, half of the pairs similar), but the first image
    of each pair comes from the query set (images held out of training) and the second from the
    reference set (training images): a similar pair takes a query class that the reference set
    also has; a dissimilar one a query image and a reference image of another class.
    """
    q_groups = {int(c): np.flatnonzero(query_labels == c) for c in np.unique(query_labels)}
    r_groups = {int(c): np.flatnonzero(ref_labels == c) for c in np.unique(ref_labels)}
    shared = np.array(sorted(set(q_groups) & set(r_groups)))
    q_classes = np.array(sorted(q_groups))
    if len(shared) == 0 or len(r_groups) < 2:
        raise DataError("held-out pairs need a class in both sets and two reference classes")
    i = np.empty(n, dtype=np.int64)
    j = np.empty(n, dtype=np.int64)
    y = np.empty(n, dtype=np.float32)
    for b in range(n):
        if rng.random() < 0.5:
            c = shared[rng.integers(len(shared))]
            i[b], j[b], y[b] = rng.choice(q_groups[c]), rng.choice(r_groups[c]), 1.0
        else:
            c1 = q_classes[rng.integers(len(q_classes))]
            others = [c for c in r_groups if c != c1]
            c2 = others[rng.integers(len(others))]
            i[b], j[b], y[b] = rng.choice(q_groups[c1]), rng.choice(r_groups[c2]), 0.0
    return i, j, y


def split_holdout(labels: np.ndarray, fraction: float, seed: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, held out): ``round(fraction * n)`` images of each class held out.

    Only classes with at least 4 images give any (at least one each), and every class keeps
    at least 3 images for training pairs; the draw is seeded.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    held = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if fraction <= 0 or len(idx) < 4:
            continue
        n = min(max(1, round(fraction * len(idx))), len(idx) - 3)
        held.extend(rng.choice(idx, size=n, replace=False).tolist())
    held = np.sort(np.array(held, dtype=np.int64))
    train = np.setdiff1d(np.arange(len(labels)), held)
    return train, held


def default_device() -> torch.device:
    """CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def native_bf16(device: str | torch.device) -> bool:
    """Whether ``device`` multiplies bfloat16 matrices in hardware: a CUDA GPU with bfloat16
    support, or a CPU with AMX tiles or AVX512-BF16 (oneDNN's bfloat16 kernels). Elsewhere
    bfloat16 autocast is emulated and slower than float32."""
    device = torch.device(device)
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
        return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)
    return False


def resolve_amp(amp: str | None, device: str | torch.device) -> str | None:
    """``amp`` as training runs it: ``"auto"`` is ``"bf16"`` where :func:`native_bf16` says
    the device computes bfloat16 in hardware, else None (float32); other values unchanged.

    >>> resolve_amp(None, "cpu") is None, resolve_amp("bf16", "cpu")
    (True, 'bf16')
    """
    if amp == "auto":
        return "bf16" if native_bf16(device) else None
    return amp


class _Staging:
    """A reused page-locked host buffer for batches streamed to a CUDA device.

    Used when the training set does not fit the device (:func:`place_inputs`): each batch is
    gathered into the same pinned buffer and copied asynchronously; an event makes the next
    gather wait until the previous copy has left the buffer.
    """

    def __init__(self) -> None:
        self.buf: torch.Tensor | None = None
        self.event: torch.cuda.Event | None = None

    def __call__(self, x: np.ndarray, idx: np.ndarray, device: torch.device) -> torch.Tensor:
        shape = (len(idx), *x.shape[1:])
        if self.buf is None or self.buf.shape[0] < len(idx):
            self.buf = torch.empty(shape, dtype=torch.from_numpy(x[:1]).dtype).pin_memory()
        if self.event is not None:
            self.event.synchronize()
        view = self.buf[: len(idx)]
        np.take(x, idx, axis=0, out=view.numpy())
        out = view.to(device, non_blocking=True)
        self.event = torch.cuda.Event()
        self.event.record()
        return out


def place_inputs(x: np.ndarray | torch.Tensor, device: torch.device,
                 need_bytes: int = 0, free_bytes: int | None = None) -> np.ndarray | torch.Tensor:
    """Where the training set lives during training: on ``device`` if it fits, else the host.

    On the CPU a NumPy array becomes a tensor sharing its memory (no copy). On CUDA the set is
    copied to the device once when ``x.nbytes + need_bytes`` (the training's own need) fits in
    90 % of the free memory (``free_bytes``, measured when None); otherwise it stays on the host
    and batches stream through a reused pinned buffer (:class:`_Staging`).
    """
    if device.type != "cuda":
        return torch.as_tensor(x) if isinstance(x, np.ndarray) else x
    if isinstance(x, torch.Tensor) and x.device.type == "cuda":
        return x
    nbytes = x.nbytes if isinstance(x, np.ndarray) else x.numel() * x.element_size()
    if free_bytes is None:
        free_bytes = torch.cuda.mem_get_info(device)[0]
    if resident(nbytes, need_bytes, free_bytes):
        return torch.as_tensor(x).to(device)
    return x.numpy() if isinstance(x, torch.Tensor) else x


def resident(data_bytes: int, need_bytes: int, free_bytes: int) -> bool:
    """Whether a training set of ``data_bytes`` goes on the device once (:func:`place_inputs`):
    it and the training's own need must fit in 90 % of the free memory."""
    return data_bytes + need_bytes <= 0.9 * free_bytes


def _batch(x: np.ndarray | torch.Tensor, idx: np.ndarray, device: torch.device,
           channels_last: bool = False, staging: _Staging | None = None) -> torch.Tensor:
    """Gather images ``idx`` onto ``device``: on the device when ``x`` lives there, else from
    the host (through ``staging``'s pinned buffer on CUDA)."""
    if isinstance(x, torch.Tensor):
        batch = x[torch.from_numpy(idx).to(x.device)]
        if batch.device != device:
            batch = batch.to(device)
    elif device.type == "cuda":
        batch = (staging or _Staging())(x, idx, device)
    else:
        batch = torch.from_numpy(x[idx])
    return batch.contiguous(memory_format=torch.channels_last) if channels_last else batch


def _loss(net: SiameseNet, x, labels, rng, cfg: TrainConfig, device,
          index: np.ndarray | None = None, staging: _Staging | None = None) -> torch.Tensor:
    """One mini-batch loss; both images of every pair go through the backbone in ONE pass.

    ``labels`` are those of the training images; ``index`` maps them to rows of ``x`` (None:
    row i).
    """
    def rows(i):
        return i if index is None else index[i]

    if cfg.sampler == "batch":
        return _batch_loss(net, x, labels, rng, cfg, device, rows, staging)
    if cfg.loss == "cross":
        i1, i2, y = sample_pairs(labels, cfg.batch_size, rng)
        e = net.embed(_batch(x, rows(np.concatenate([i1, i2])), device, cfg.channels_last,
                             staging))
        logits = net.pair_logits(e[: cfg.batch_size], e[cfg.batch_size :])
        return pair_bce(logits, torch.from_numpy(y).to(device))
    a, p, n = sample_triplets(labels, cfg.batch_size, rng)
    e = net.embed(_batch(x, rows(np.concatenate([a, p, n])), device, cfg.channels_last,
                         staging))
    b = cfg.batch_size
    return triplet_loss(e[:b], e[b : 2 * b], e[2 * b :], margin=cfg.margin, form=cfg.triplet_form)


def _batch_loss(net: SiameseNet, x, labels, rng, cfg: TrainConfig, device, rows,
                staging: _Staging | None) -> torch.Tensor:
    """The batch sampler's loss: one class-balanced batch, every pair / valid triplet in it."""
    idx = class_balanced_batch(labels, images_per_iteration(cfg.batch_size, cfg.loss), rng)
    e = net.embed(_batch(x, rows(idx), device, cfg.channels_last, staging))
    lab = torch.from_numpy(np.asarray(labels)[idx])
    if cfg.loss == "cross":
        pi, pj, ni, nj = (t.to(device) for t in all_pairs(lab))
        parts = []
        for i, j, y in ((pi, pj, 1.0), (ni, nj, 0.0)):
            if len(i):
                logits = net.pair_logits(e[i], e[j])
                parts.append(pair_bce(logits, torch.full_like(logits, y)))
        return torch.stack(parts).mean()
    a, p, n = (t.to(device) for t in all_triplets(lab))
    if len(a) == 0:  # no valid triplet (cannot happen with two classes of two images)
        return e.sum() * 0.0
    # every distance of the batch once (exact differences: at initialisation the distances are
    # ~1e-3, below the rounding of a Gram expansion), each triplet reads two of them
    i, j = torch.triu_indices(len(idx), len(idx), 1, device=e.device)
    d = euclidean(e[i], e[j])
    dist = e.new_zeros(len(idx), len(idx)).index_put((i, j), d).index_put((j, i), d)
    return triplet_loss_from_distances(dist[a, p], dist[a, n], margin=cfg.margin,
                                       form=cfg.triplet_form)


def best_threshold(distance: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """The distance cut ``t`` ("same" when ``distance < t``) with the best accuracy, and it.

    Exhaustive over the midpoints between sorted distances (and both ends), in O(n log n).
    """
    d = np.asarray(distance, dtype=np.float64)
    s = np.asarray(same, dtype=bool)
    order = np.argsort(d, kind="stable")
    d, s = d[order], s[order]
    # cut after the first i pairs (i = 0..n): the first i are called same
    same_below = np.concatenate([[0], np.cumsum(s)])
    diff_above = (~s).sum() - np.concatenate([[0], np.cumsum(~s)])
    correct = same_below + diff_above
    valid = np.concatenate([[True], d[1:] > d[:-1], [True]])  # no cut between equal values
    correct = np.where(valid, correct, -1)
    i = int(np.argmax(correct))
    lo = d[i - 1] if i > 0 else d[0] - 1.0
    hi = d[i] if i < len(d) else d[-1] + 1.0
    return float((lo + hi) / 2), float(correct[i] / len(d))


@torch.no_grad()
def evaluate_pairs(net: SiameseNet, x, labels: np.ndarray, n_pairs: int, seed: int,
                   device=None, *, train_idx: np.ndarray | None = None,
                   heldout_idx: np.ndarray | None = None) -> dict:
    """Pair accuracy on fresh training pairs and, when given, on held-out pairs.

    Like the companion's ``evaluateSiamese``: ``n_pairs`` balanced pairs of training images
    (:func:`sample_pairs`), and as many pairs of a held-out image and a training image
    (:func:`sample_pairs_between`). Returns ``{"train": acc, "heldout": acc or nan,
    "threshold": distance cut or None}`` (see :class:`TrainLog`).
    """
    device = device or next(net.parameters()).device
    labels = np.asarray(labels)
    train_idx = np.arange(len(labels)) if train_idx is None else np.asarray(train_idx)
    rng = np.random.default_rng(seed)
    i1, i2, y = sample_pairs(labels[train_idx], n_pairs, rng)
    rows = [train_idx[i1], train_idx[i2]]
    yh = None
    if heldout_idx is not None and len(heldout_idx):
        h, t, yh = sample_pairs_between(labels[heldout_idx], labels[train_idx], n_pairs, rng)
        rows += [np.asarray(heldout_idx)[h], train_idx[t]]
    was_training = net.training
    net.eval()
    try:
        e = _embed_unique(net, x, np.concatenate(rows), device)
    finally:
        net.train(was_training)
    n = n_pairs
    score = net.pair_score(e[:n], e[n:2 * n]).float().cpu().numpy()
    held = (net.pair_score(e[2 * n:3 * n], e[3 * n:]).float().cpu().numpy()
            if yh is not None else None)
    if net.mode == "cross":  # a similarity: "same" above 0.5
        cut = None
        acc = float(np.mean((score > 0.5) == (y > 0.5)))
        def same(s):
            return s > 0.5
    else:  # a distance: "same" below the cut that is best on the training pairs
        cut, acc = best_threshold(score, y > 0.5)
        def same(s):
            return s < cut
    heldout = float(np.mean(same(held) == (yh > 0.5))) if held is not None else float("nan")
    return {"train": acc, "heldout": heldout, "threshold": cut}


def pair_accuracy(
    net: SiameseNet, x, labels: np.ndarray, n_pairs: int, seed: int, device=None
) -> float:
    """Accuracy on ``n_pairs`` fresh training pairs (:func:`evaluate_pairs`, training part)."""
    return evaluate_pairs(net, x, labels, n_pairs, seed, device)["train"]


def _embed_unique(net: SiameseNet, x, idx: np.ndarray, device, chunk: int = 64) -> torch.Tensor:
    """Embeddings of ``x[idx]``: each distinct image once, in chunks (bounded memory)."""
    uniq, inverse = np.unique(idx, return_inverse=True)
    parts = [net.embed(_batch(x, uniq[s : s + chunk], device))
             for s in range(0, len(uniq), chunk)]
    return torch.cat(parts)[torch.from_numpy(inverse).to(device)]


@contextlib.contextmanager
def tf32(enabled: bool):
    """Allow TensorFloat-32 in CUDA matmuls and cuDNN convolutions inside the block.

    A no-op when ``enabled`` is false or CUDA is absent; torch releases without the
    ``fp32_precision`` switches use the older ``allow_tf32`` flags.
    """
    if not enabled or not torch.cuda.is_available():
        yield
        return
    matmul, conv = torch.backends.cuda.matmul, torch.backends.cudnn.conv
    if hasattr(matmul, "fp32_precision"):
        before = matmul.fp32_precision, conv.fp32_precision
        matmul.fp32_precision = conv.fp32_precision = "tf32"
        try:
            yield
        finally:
            matmul.fp32_precision, conv.fp32_precision = before
    else:  # older torch
        before = matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        try:
            yield
        finally:
            matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def build_network(x, cfg: TrainConfig, seed: int, device) -> SiameseNet:
    """The Siamese network of ``cfg`` at initialisation, its input layer fitted to ``x``.

    With 0 iterations this is the "untrained network" control of the results tables.
    """
    torch.manual_seed(seed)
    in_channels, size = int(x.shape[1]), int(x.shape[-1])
    backbone = create_backbone(cfg.topology, in_channels=in_channels, input_size=size,
                               normalization=cfg.normalization)
    net = SiameseNet(backbone, mode=cfg.loss).to(device)
    net.backbone.fit_input(x)
    if cfg.channels_last:
        net = net.to(memory_format=torch.channels_last)
    return net


def _sync_every(cfg: TrainConfig, device: torch.device) -> int:
    if cfg.sync_every is not None:
        return cfg.sync_every
    return 50 if device.type == "cuda" else 1


def _train_once(x, labels, cfg: TrainConfig, seed: int, device, progress: bool,
                train_idx: np.ndarray, heldout_idx: np.ndarray, on_checkpoint=None,
                checkpoints: frozenset[int] = frozenset()):
    net = build_network(x, cfg, seed, device)
    rng = np.random.default_rng(seed)
    log = TrainLog(device=str(device), heldout_images=len(heldout_idx))
    before = evaluate_pairs(net, x, labels, cfg.eval_pairs, seed + 1, device,
                            train_idx=train_idx, heldout_idx=heldout_idx)
    log.untrained_pair_accuracy = before["train"]
    log.untrained_heldout_pair_accuracy = before["heldout"]
    net.train()
    opt = create_optimizer(cfg.optimizer, net.parameters(), lr=cfg.lr, total_steps=cfg.iterations)
    params = [p for p in net.parameters() if p.requires_grad]
    train_labels = labels[train_idx]
    index = None if len(train_idx) == len(labels) else train_idx
    staging = _Staging() if device.type == "cuda" and isinstance(x, np.ndarray) else None
    every = _sync_every(cfg, device)
    pending: list[torch.Tensor] = []
    bar = tqdm(
        range(cfg.iterations), desc=f"train t{cfg.topology} {cfg.loss}/{cfg.optimizer}",
        disable=not progress, leave=False,
    )
    start = time.perf_counter()
    aside = 0.0  # seconds spent in on_checkpoint, not training

    def checkpoint(done: int) -> None:
        nonlocal aside
        if on_checkpoint is not None and done in checkpoints:
            t = time.perf_counter()
            on_checkpoint(done, net)
            net.train()
            aside += time.perf_counter() - t

    for it in bar:
        checkpoint(it)
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.amp == "bf16"):
            loss = _loss(net, x, train_labels, rng, cfg, device, index, staging)
        if every == 1:
            value = float(loss.detach())
            log.loss.append(value)
            if not math.isfinite(value):
                # A NaN/inf loss cannot recover: stop BEFORE the step (the weights stay
                # finite) and let the rerun rule decide.
                break
            loss.backward()
            opt.step()
            if progress:
                bar.set_postfix(loss=f"{value:.4f}", refresh=False)
            continue
        # Device-side guard, no host round trip: a non-finite loss zeroes its gradients, so
        # the step applies no bad value; the run stops at the next read of the history.
        value = loss.detach().float()
        pending.append(value)
        loss.backward()
        bad = ~torch.isfinite(value)
        for p in params:
            if p.grad is not None:
                p.grad.masked_fill_(bad, 0.0)
        opt.step()
        if len(pending) == every or it == cfg.iterations - 1:
            values = torch.stack(pending).tolist()
            pending.clear()
            finite = [math.isfinite(v) for v in values]
            log.loss.extend(values[: finite.index(False) + 1] if not all(finite) else values)
            if not all(finite):
                break
            if progress:
                bar.set_postfix(loss=f"{values[-1]:.4f}", refresh=False)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    if len(log.loss) == cfg.iterations:
        checkpoint(cfg.iterations)
    log.seconds = time.perf_counter() - start - aside
    finite = all(math.isfinite(v) for v in log.loss)
    if finite:
        after = evaluate_pairs(net, x, labels, cfg.eval_pairs, seed + 1, device,
                               train_idx=train_idx, heldout_idx=heldout_idx)
        log.pair_accuracy, log.heldout_pair_accuracy = after["train"], after["heldout"]
        log.pair_threshold = after["threshold"]
    else:
        log.pair_accuracy = 0.0
    log.converged = finite and log.pair_accuracy >= cfg.convergence_threshold
    return net, log


def train_siamese(
    x: np.ndarray | torch.Tensor,
    labels: np.ndarray,
    cfg: TrainConfig,
    *,
    device: str | torch.device | None = None,
    progress: bool = True,
    on_checkpoint=None,
    checkpoints=(),
) -> tuple[SiameseNet, TrainLog]:
    """Train one Siamese network on network inputs ``x`` (N, C, S, S) with class ``labels``.

    Implements the paper's training (Section 2.2): sampling per iteration, Adam / DGrad /
    DecayDGrad with lr 1e-4 and betas (0.9, 0.99), ``cfg.iterations`` iterations, and the rerun
    rule: when a run does not converge (non-finite loss, or pair accuracy on fresh training
    pairs below ``cfg.convergence_threshold``) it is rerun with a new seed, at most
    ``cfg.max_retries`` times; the best run is returned and ``log.converged`` says whether it
    met the threshold. ``log.attempts`` counts the runs; ``log.seconds`` is the training time of
    the returned run (Table 4 reports the time of one network), ``log.total_seconds`` of all.
    ``cfg.holdout`` of each class's images are kept out of the training pairs to measure
    held-out pair accuracy (:class:`TrainConfig`); the training set is placed on the device
    once when it fits (:func:`place_inputs`).

    ``on_checkpoint(iterations_done, net)`` is called, when given, before the first step and
    after each step count in ``checkpoints`` (0 is the network at initialisation), the
    payoff curves' hook (``benchmarks/payoff.py``); its time is not training time, and it must
    leave the weights as it found them.
    """
    device = torch.device(device) if device is not None else default_device()
    labels = np.asarray(labels)
    if len(labels) != len(x):
        raise DataError(f"got {len(x)} images but {len(labels)} labels")
    need = check_fits(cfg.topology, int(x.shape[-1]), cfg.batch_size, device, mode=cfg.loss,
                      amp=cfg.amp, channels_last=cfg.channels_last,
                      tf32=cfg.tf32 and device.type == "cuda")
    x = place_inputs(x, device, need)
    train_idx, heldout_idx = split_holdout(labels, cfg.holdout, cfg.seed)
    best = None
    total = 0.0
    for attempt in range(cfg.max_retries + 1):
        with tf32(cfg.tf32 and device.type == "cuda"):
            net, log = _train_once(x, labels, cfg, cfg.seed + 1000 * attempt, device, progress,
                                   train_idx, heldout_idx, on_checkpoint,
                                   frozenset(int(c) for c in checkpoints))
        total += log.seconds
        if best is None or log.pair_accuracy > best[1].pair_accuracy:
            best = (net, log)
        if log.converged:
            break
    net, log = best
    log.attempts = attempt + 1
    log.total_seconds = total
    if cfg.channels_last:  # the standard layout again: it scores as it will once saved and loaded
        net = net.to(memory_format=torch.contiguous_format)
    net.eval()
    return net, log


def untrained_network(
    x: np.ndarray | torch.Tensor,
    labels: np.ndarray,
    cfg: TrainConfig,
    *,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> tuple[SiameseNet, TrainLog]:
    """The network of ``cfg`` at initialisation (input layer fitted): the untrained control.

    A drop-in for :func:`train_siamese` with zero iterations: the log holds the pair accuracies
    of the initialised network (``pair_accuracy`` = ``untrained_pair_accuracy``), an empty loss
    curve and ``converged=False``.
    """
    device = torch.device(device) if device is not None else default_device()
    labels = np.asarray(labels)
    x = place_inputs(x, device)
    train_idx, heldout_idx = split_holdout(labels, cfg.holdout, cfg.seed)
    net = build_network(x, cfg, cfg.seed, device)
    acc = evaluate_pairs(net, x, labels, cfg.eval_pairs, cfg.seed + 1, device,
                         train_idx=train_idx, heldout_idx=heldout_idx)
    log = TrainLog(device=str(device), heldout_images=len(heldout_idx), attempts=0,
                   pair_accuracy=acc["train"], heldout_pair_accuracy=acc["heldout"],
                   untrained_pair_accuracy=acc["train"],
                   untrained_heldout_pair_accuracy=acc["heldout"],
                   pair_threshold=acc["threshold"])
    net.eval()
    return net, log
