"""Fine-tuning one eCNN member: the net's input transform, training and scoring (Section 4).

Paper: batch 30, max 20 epochs, no frozen layers. Everything else is our documented choice
(Section 4; see :mod:`dissim.baselines`): SGD momentum 0.9, weight decay 1e-4, lr 1e-3, no
augmentation, each net's native input side, softmax probabilities as scores.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from dissim.baselines.registry import create, get, input_side
from dissim.errors import ConfigError, DataError


def _as_rgb(image: np.ndarray, i: int) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:  # grey replicated to three bands (paper, Section 2)
        return np.stack([a, a, a], axis=2)
    if a.ndim == 3 and a.shape[2] in (3, 4):
        return a[:, :, :3]  # an alpha band is dropped
    raise DataError(f"image {i} has shape {a.shape}; expected HxW (grey) or HxWx3 (RGB)")


def transform(name: str, images: Sequence[np.ndarray], *, input_size: int | None = None) -> Tensor:
    """The net's own input transform: ``(N, 3, S, S)`` float32, ready for its forward pass.

    Each image (uint8 or float in 0-255 pixel units, HxW grey or HxWx3 RGB) is replicated to
    three bands if grey, resized to S x S (bilinear, antialiased, aspect ratio not kept;
    S = the net's native side unless ``input_size``), then normalised ``(x - mean) / std``
    with the net's :class:`CNNSpec` statistics.
    """
    spec = get(name)
    side = input_side(spec, input_size)
    mean = torch.tensor(spec.mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(spec.std, dtype=torch.float32).view(1, 3, 1, 1)
    out = torch.empty(len(images), 3, side, side, dtype=torch.float32)
    for i, image in enumerate(images):
        x = torch.from_numpy(np.ascontiguousarray(_as_rgb(image, i), dtype=np.float32))
        x = x.permute(2, 0, 1).unsqueeze(0)
        if x.shape[-2:] != (side, side):
            x = F.interpolate(x, size=(side, side), mode="bilinear", antialias=True,
                              align_corners=False)
        out[i] = ((x - mean) / std)[0]
    return out


def _logits(output) -> Tensor:
    return output if isinstance(output, Tensor) else output.logits  # googlenet namedtuple


def _device(device) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def train(
    model: nn.Module, name: str, images: Sequence[np.ndarray], labels, *, epochs: int = 20,
    batch_size: int = 30, lr: float = 1e-3, momentum: float = 0.9, weight_decay: float = 1e-4,
    input_size: int | None = None, seed: int = 0, device=None, progress: bool = True,
    max_steps: int | None = None,
) -> nn.Module:
    """Fine-tune every layer of ``model`` on ``images`` (Section 4), in place.

    SGD (momentum, L2 weight decay), constant ``lr``, mini-batches of ``batch_size`` drawn from
    a per-epoch permutation of a ``torch.Generator`` seeded with ``seed``; images are
    transformed batch by batch with :func:`transform`. ``max_steps`` caps the optimiser
    steps (tests, profiles). Returns the model, in eval mode, on ``device``.
    """
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != len(images) or len(y) == 0:
        raise DataError(f"{len(images)} training images but labels of shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"labels must be integers 0..n_classes-1, got dtype {y.dtype}")
    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise ConfigError(f"need epochs >= 1, batch_size >= 1, lr > 0; got {epochs}, "
                          f"{batch_size}, {lr}")
    dev = _device(device)
    model.to(dev).train()
    optimiser = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum,
                                weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    targets = torch.as_tensor(y, dtype=torch.long)
    n = len(y)
    # A last batch of one image breaks batch norm on a 1x1 map (small input sizes): drop that
    # image for the epoch (a different one each epoch, the order is reshuffled).
    per_epoch = n // batch_size if n % batch_size == 1 and n > 1 else -(-n // batch_size)
    total = epochs * per_epoch if max_steps is None else min(max_steps, epochs * per_epoch)
    bar = tqdm(total=total, desc=f"fine-tune {name}", unit="step", disable=not progress)
    step = 0
    while step < total:
        order = torch.randperm(n, generator=generator)
        for b in range(per_epoch):
            if step == total:
                break
            idx = order[b * batch_size:(b + 1) * batch_size].tolist()
            x = transform(name, [images[i] for i in idx], input_size=input_size).to(dev)
            loss = F.cross_entropy(_logits(model(x)), targets[idx].to(dev))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            step += 1
            bar.update()
            bar.set_postfix(epoch=step // per_epoch + (step % per_epoch > 0), loss=f"{loss:.3f}")
    bar.close()
    return model.eval()


@torch.no_grad()
def predict(
    model: nn.Module, name: str, images: Sequence[np.ndarray], *, batch_size: int = 30,
    input_size: int | None = None, device=None,
) -> np.ndarray:
    """Softmax probabilities ``(n_images, n_classes)`` of ``model`` (eval mode) on ``images``."""
    dev = _device(device)
    model.to(dev).eval()
    parts = []
    for b in range(0, len(images), batch_size):
        x = transform(name, images[b:b + batch_size], input_size=input_size).to(dev)
        parts.append(_logits(model(x)).softmax(dim=1).double().cpu().numpy())
    return np.concatenate(parts) if parts else np.zeros((0, 0))


def fine_tune(
    name: str, train_images: Sequence[np.ndarray], train_labels, test_images: Sequence[np.ndarray],
    *, n_classes: int, epochs: int = 20, batch_size: int = 30, lr: float = 1e-3,
    momentum: float = 0.9, weight_decay: float = 1e-4, input_size: int | None = None,
    seed: int = 0, device=None, progress: bool = True, max_steps: int | None = None,
    pretrained: bool = True,
) -> np.ndarray:
    """One eCNN member: fine-tune ImageNet ``name`` on a fold, score its test images.

    Paper Section 4: ImageNet-pretrained CNN, no frozen layers, batch 30, max 20 epochs; the
    rest is Section 4's documented choice (see :mod:`dissim.baselines`). All ``epochs`` are run
    (no early stopping; MATLAB's MaxEpochs). Deterministic on CPU for a given ``seed`` (it
    seeds the new classifier, dropout and the shuffling, without touching the caller's global
    RNG state); on a GPU cuDNN may add run-to-run noise.

    Returns
    -------
    numpy.ndarray
        ``(len(test_images), n_classes)`` softmax probabilities, float64.

    Examples
    --------
    >>> scores = fine_tune("efficientnet_lite0", x_train, y_train, x_test, n_classes=4)
    ... # doctest: +SKIP
    """
    dev = _device(device)
    model = fit(name, train_images, train_labels, n_classes=n_classes, epochs=epochs,
                batch_size=batch_size, lr=lr, momentum=momentum, weight_decay=weight_decay,
                input_size=input_size, seed=seed, device=dev, progress=progress,
                max_steps=max_steps, pretrained=pretrained)
    return predict(model, name, test_images, batch_size=batch_size, input_size=input_size,
                   device=dev)


def fit(
    name: str, train_images: Sequence[np.ndarray], train_labels, *, n_classes: int,
    epochs: int = 20, batch_size: int = 30, lr: float = 1e-3, momentum: float = 0.9,
    weight_decay: float = 1e-4, input_size: int | None = None, seed: int = 0, device=None,
    progress: bool = True, max_steps: int | None = None, pretrained: bool = True,
) -> nn.Module:
    """The fine-tuned model of :func:`fine_tune` (same arguments, no test images)."""
    y = np.asarray(train_labels)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise DataError(f"train_labels must lie in 0..{n_classes - 1}, got {y.min()}..{y.max()}")
    dev = _device(device)
    rng_devices = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=rng_devices):  # seed without leaking global RNG state
        torch.manual_seed(seed)
        model = create(name, n_classes, pretrained=pretrained, input_size=input_size)
        train(model, name, train_images, train_labels, epochs=epochs, batch_size=batch_size,
              lr=lr, momentum=momentum, weight_decay=weight_decay, input_size=input_size,
              seed=seed, device=dev, progress=progress, max_steps=max_steps)
    return model
