"""The paper's ensemble as one scikit-learn classifier for any images (issue 9; SPEC 3-6).

:class:`DissimilarityClassifier` trains, for every (input, topology, method) it is given, one
Siamese network (Section 2.2, :func:`dissim.train.train_siamese`), finds supervised k-means
prototypes of the training images for every k (SPEC 5.1), builds the FULLY and DEEPER
dissimilarity spaces (SPEC 5.2-5.3) and trains one one-vs-rest RBF SVM per (network, k, space)
member (SPEC 6). Scores are fused by the average rule; an optional fine-tuned ImageNet CNN
(``ecnn=``) is added by the z-score sum rule (Section 4, SPEC 6).

Defaults are the paper's best Siamese ensemble, "Triplet+Cross" with FULLY+DEEPER (Section 3,
Table 2: the best average), on topology 1 (the MathWorks net) and scaled to the profile
(:mod:`dissim.profiles`): ``paper`` trains each network 3000 iterations at 224 px with k in
15/30/45/60; ``quick`` and ``smoke`` shrink iterations, batch and input side (never below the
topology's minimum side). ``topologies=(1, 2, ..., 8)`` gives the paper's "Fusion 1-8".

>>> clf = DissimilarityClassifier(profile="smoke", topologies=(6,))   # doctest: +SKIP
>>> clf.fit(train_images, train_labels).score(test_images, test_labels)   # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial.distance import cdist
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import SVC
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from tqdm import tqdm

from dissim.errors import ConfigError, DataError
from dissim.images import as_images

if TYPE_CHECKING:
    import torch

__all__ = ["DissimilarityClassifier", "RBFSVMs", "as_images"]

ZSCORES = ("row", "batch")


# ---------------------------------------------------------------------------------------------
# SVMs as plain arrays (so a saved model loads without pickle)
# ---------------------------------------------------------------------------------------------
@dataclass
class RBFSVMs:
    """One-vs-rest RBF SVMs as arrays; column ``c`` of the decision is

    ``sum_i dual[c][i] * exp(-gamma * |x' - support[c][i]|^2) + intercept[c]``,  ``x' = x *
    scale + offset`` (the fitted feature scaling, or none). This is scikit-learn's
    ``SVC.decision_function`` written out from its public ``support_vectors_``, ``dual_coef_``
    and ``intercept_``; with two classes ``SVC`` trains one SVM ``f`` and the columns are
    ``[-f, f]``, as :func:`dissim.fusion.svm_scores` returns them (SPEC 6).
    """

    gamma: float
    support: list[np.ndarray]
    dual: list[np.ndarray]
    intercept: np.ndarray
    scale: np.ndarray | None = None
    offset: np.ndarray | None = None

    @classmethod
    def fit(cls, D: np.ndarray, y: np.ndarray, n_classes: int, *, C: float = 1000.0,
            gamma: float | str = 0.1, scaling: str = "none") -> RBFSVMs:
        """Train ``OneVsRestClassifier(SVC(kernel="rbf", C, gamma))`` on ``D`` with classes
        ``y`` in ``0 .. n_classes - 1`` (all present), then keep only its arrays."""
        D = np.asarray(D, dtype=np.float64)
        scale = offset = None
        if scaling == "minmax":
            s = MinMaxScaler().fit(D)
            scale, offset = s.scale_, s.min_
        elif scaling == "standard":
            s = StandardScaler().fit(D)
            scale, offset = 1.0 / s.scale_, -s.mean_ / s.scale_
        elif scaling != "none":
            raise ConfigError(f"unknown svm_scaling {scaling!r}; choose none, minmax or standard")
        if scale is not None:
            D = D * scale + offset
        model = OneVsRestClassifier(SVC(kernel="rbf", C=C, gamma=gamma)).fit(D, y)
        svs = model.estimators_
        rows = [(e.support_vectors_, e.dual_coef_[0], float(e.intercept_[0]), e._gamma)
                for e in svs]
        if n_classes == 2:  # one SVM f (class 1 vs class 0): columns [-f, f]
            sv, a, b, g = rows[0]
            rows = [(sv, -a, -b, g), (sv, a, b, g)]
        return cls(float(rows[0][3]), [r[0].copy() for r in rows], [r[1].copy() for r in rows],
                   np.array([r[2] for r in rows]), scale, offset)

    def decision_function(self, D: np.ndarray) -> np.ndarray:
        """Scores ``(n, n_classes)`` of the dissimilarity vectors ``D`` (n, n_prototypes)."""
        D = np.asarray(D, dtype=np.float64)
        if self.scale is not None:
            D = D * self.scale + self.offset
        out = np.empty((D.shape[0], len(self.support)))
        for c, (sv, a) in enumerate(zip(self.support, self.dual, strict=True)):
            out[:, c] = np.exp(-self.gamma * cdist(D, sv, "sqeuclidean")) @ a
        return out + self.intercept


# ---------------------------------------------------------------------------------------------
# the estimator
# ---------------------------------------------------------------------------------------------
@dataclass
class Network:
    """One trained Siamese network of the ensemble and what it was trained on."""

    input: str
    topology: int
    method: str
    input_size: int
    net: torch.nn.Module


@dataclass
class Member:
    """One ensemble member: a network's space at one k, its prototypes' features and SVMs."""

    network: int
    space: str
    k: int
    prototypes: torch.Tensor
    svms: RBFSVMs


class DissimilarityClassifier(ClassifierMixin, BaseEstimator):
    """Siamese dissimilarity-space ensemble (Nanni et al. 2021) as a scikit-learn classifier.

    Parameters
    ----------
    topologies : tuple of int, default (1,)
        Appendix A subnetworks; the paper's "Fusion 1-8" uses all eight.
    methods : tuple of str, default ("cross", "triplet")
        Paper names (Section 3): ``cross`` (BCE + Adam), ``crossdd`` (BCE + DecayDGrad),
        ``triplet`` (triplet loss + Adam). One network per (input, topology, method).
    spaces : tuple of str, default ("fully", "deeper")
        Dissimilarity spaces built from each network (SPEC 5.2, 5.3).
    k_values : tuple of int, optional
        Prototypes per class (default: the profile's; 15/30/45/60 in the paper). Values above
        the smallest class's image count are dropped with a warning; when all are, that count is
        used.
    inputs : tuple of str, default ("orig",)
        ``orig`` and/or ``hasc`` network inputs (Section 2.1).
    profile : str, default "quick"
        Scale (:mod:`dissim.profiles`): input side, iterations, batch size, reruns, k values.
        The profile's data-set caps (``max_per_class``, ``max_folds``) do not apply here.
    device : str, optional
        Torch device (default CUDA when present).
    seed : int, default 0
        Seeds training (network ``j`` uses ``seed + 7919 * j``), k-means and the eCNN.
    ecnn : str, optional
        Name of an ImageNet CNN (:func:`dissim.baselines.available`) fine-tuned on the same
        images and fused with the Siamese ensemble by the z-score sum rule (Section 4).
    ecnn_epochs : int, optional
        Fine-tuning epochs (default 20 with profile ``paper``, as in Section 4; else 2).
    ecnn_zscore : {"row", "batch"}, default "row"
        Statistics of the z-scores before the sum: ``batch`` is the paper's (mean and std of the
        whole score matrix of the images scored together, so a prediction depends on the batch);
        ``row`` normalises each image's scores over the classes (batch independent).
    svm_C, svm_gamma, svm_scaling
        SVM settings (paper: 1000, 0.1, none; SPEC 6).
    verbose : bool, default False
        Progress bars.

    Attributes
    ----------
    classes_ : ndarray
        Sorted class labels.
    networks_ : list of Network
    members_ : list of Member
    k_values_ : tuple of int
        The k values actually used.
    train_logs_ : list of dict
        :class:`~dissim.train.TrainLog` of each network (loss curve, convergence, time).

    Notes
    -----
    There is no ``predict_proba``: the fused scores are averaged SVM margins, not probabilities.
    Wrap the classifier in :class:`sklearn.calibration.CalibratedClassifierCV` (it uses
    :meth:`decision_function`) when calibrated probabilities are needed.
    """

    def __init__(
        self, topologies: Sequence[int] = (1,), methods: Sequence[str] = ("cross", "triplet"),
        spaces: Sequence[str] = ("fully", "deeper"), k_values: Sequence[int] | None = None,
        inputs: Sequence[str] = ("orig",), profile: str = "quick", device: str | None = None,
        seed: int = 0, ecnn: str | None = None, ecnn_epochs: int | None = None,
        ecnn_zscore: str = "row", svm_C: float = 1000.0, svm_gamma: float = 0.1,
        svm_scaling: str = "none", verbose: bool = False,
    ) -> None:
        self.topologies = topologies
        self.methods = methods
        self.spaces = spaces
        self.k_values = k_values
        self.inputs = inputs
        self.profile = profile
        self.device = device
        self.seed = seed
        self.ecnn = ecnn
        self.ecnn_epochs = ecnn_epochs
        self.ecnn_zscore = ecnn_zscore
        self.svm_C = svm_C
        self.svm_gamma = svm_gamma
        self.svm_scaling = svm_scaling
        self.verbose = verbose

    # -- validation ------------------------------------------------------------------------
    def _check_params(self):
        from dissim.experiment import INPUTS, METHODS, SPACE_NAMES
        from dissim.profiles import get as get_profile
        from dissim.topologies import available

        def names(value, allowed, what):
            value = (value,) if isinstance(value, str | int | np.integer) else tuple(value)
            bad = [v for v in value if v not in allowed]
            if not value or bad:
                raise ConfigError(f"{what} must be a non-empty subset of "
                                  f"{', '.join(map(str, allowed))}; got {value!r}")
            return tuple(dict.fromkeys(value))

        try:
            prof = get_profile(self.profile)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        if self.ecnn_zscore not in ZSCORES:
            raise ConfigError(f"unknown ecnn_zscore {self.ecnn_zscore!r}; choose row or batch")
        if self.ecnn is not None:
            from dissim.baselines import get as get_cnn

            get_cnn(self.ecnn)
        return (prof, names(self.inputs, INPUTS, "inputs"),
                names(self.topologies, available(), "topologies"),
                names(self.methods, tuple(METHODS), "methods"),
                names(self.spaces, SPACE_NAMES, "spaces"))

    def _ks(self, prof, y: np.ndarray) -> tuple[int, ...]:
        ks = prof.k_values if self.k_values is None else self.k_values
        ks = (ks,) if isinstance(ks, int | np.integer) else tuple(ks)
        if not ks or any(isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1
                         for k in ks):
            raise ConfigError(f"k_values must be positive integers; got {ks!r}")
        smallest = int(np.bincount(y).min())
        kept = tuple(sorted({int(k) for k in ks if k <= smallest})) or (smallest,)
        if set(kept) != {int(k) for k in ks}:
            warnings.warn(f"the smallest class has {smallest} images: k values {ks} -> {kept}",
                          stacklevel=3)
        return kept

    # -- fit ---------------------------------------------------------------------------------
    def fit(self, X, y) -> DissimilarityClassifier:
        """Train the ensemble (Section 2.2, SPEC 3-6) on images ``X`` with labels ``y``.

        Parameters
        ----------
        X : sequence of images or paths
            See :func:`dissim.images.as_images`; any sizes, grey or colour.
        y : array-like, shape (n_images,)
            Class labels of any kind (strings, integers); at least two classes.

        Returns
        -------
        self

        Raises
        ------
        DataError
            Unreadable images, mismatched labels, a single class.
        ConfigError
            An unknown topology, method, space, input, profile or CNN name.
        """
        from dissim.experiment import METHODS
        from dissim.experiment import input_size as side_for
        from dissim.preprocess import to_network_input
        from dissim.prototypes import SupervisedKMeans
        from dissim.spaces import encode
        from dissim.train import TrainConfig, train_siamese

        prof, inputs, topologies, methods, spaces = self._check_params()
        images = as_images(X)
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(images):
            raise DataError(f"got {len(images)} images but labels of shape {y.shape}")
        check_classification_targets(y)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise DataError(f"need at least two classes; got {self.classes_.tolist()}")
        n_classes = len(self.classes_)
        self.k_values_ = self._ks(prof, y_idx)
        self.networks_, self.members_, self.train_logs_ = [], [], []
        plan = [(i, t, m) for i in inputs for t in topologies for m in methods]
        cache: dict[tuple[str, int], np.ndarray] = {}
        protos: dict[tuple[str, int, int], np.ndarray] = {}
        for j, (inp, topo, method) in enumerate(tqdm(plan, desc="networks",
                                                     disable=not self.verbose)):
            size = side_for(topo, prof)
            if (inp, size) not in cache:
                cache[inp, size] = to_network_input(images, size, representation=inp,
                                                    progress=self.verbose)
            x = cache[inp, size]
            loss, optimizer = METHODS[method]
            cfg = TrainConfig(topology=topo, loss=loss, optimizer=optimizer,
                              iterations=prof.iterations, batch_size=prof.batch_size,
                              seed=self.seed + 7919 * j, max_retries=prof.max_train_retries,
                              # no reruns (smoke): the convergence check only feeds the log
                              eval_pairs=256 if prof.max_train_retries else 16,
                              amp=prof.amp, tf32=prof.tf32, channels_last=prof.channels_last)
            net, log = train_siamese(x, y_idx, cfg, device=self.device, progress=self.verbose)
            self.networks_.append(Network(inp, topo, method, size, net))
            self.train_logs_.append(log.to_dict())
            enc = encode(net, x, deeper="deeper" in spaces)
            for k in self.k_values_:
                if (inp, size, k) not in protos:  # pixel-space prototypes (SPEC 5.1 [R])
                    km = SupervisedKMeans(k=k, random_state=self.seed).fit(x, y_idx)
                    protos[inp, size, k] = km.prototypes_.astype(np.float32)
                penc = encode(net, protos[inp, size, k], deeper="deeper" in spaces)
                for space in spaces:
                    p = penc.embedding if space == "fully" else penc.code
                    member = Member(j, space, k, p, None)
                    D = self._dissimilarity(member, enc)
                    member.svms = RBFSVMs.fit(D, y_idx, n_classes, C=self.svm_C,
                                              gamma=self.svm_gamma, scaling=self.svm_scaling)
                    self.members_.append(member)
        self.ecnn_model_ = None
        if self.ecnn is not None:
            self._fit_ecnn(images, y_idx, prof)
        return self

    def _ecnn_side(self, prof) -> int | None:
        from dissim.baselines import MIN_INPUT_SIZE

        return None if prof.name == "paper" else max(prof.input_size, MIN_INPUT_SIZE)

    def _fit_ecnn(self, images, y_idx, prof) -> None:
        import torch

        from dissim.baselines import create, train

        epochs = self.ecnn_epochs or (20 if prof.name == "paper" else 2)
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            model = create(self.ecnn, len(self.classes_), input_size=self._ecnn_side(prof))
            self.ecnn_model_ = train(model, self.ecnn, images, y_idx, epochs=epochs,
                                     input_size=self._ecnn_side(prof), seed=self.seed,
                                     device=self.device, progress=self.verbose)

    # -- scoring -----------------------------------------------------------------------------
    def _dissimilarity(self, member: Member, enc) -> np.ndarray:
        from dissim.spaces import deeper_matrix, fully_matrix

        if member.space == "fully":  # the head runs where the network lives
            net = self.networks_[member.network].net
            dev = next(net.parameters()).device
            E, P = enc.embedding.to(dev), member.prototypes.to(dev, enc.embedding.dtype)
            return fully_matrix(net, E, P).cpu().numpy()
        return deeper_matrix(enc.code, member.prototypes.to(enc.code)).numpy()

    def member_scores(self, X) -> list[np.ndarray]:
        """The SVM score matrix ``(n, n_classes)`` of every member, in ``members_`` order."""
        from dissim.preprocess import to_network_input
        from dissim.spaces import encode

        check_is_fitted(self, "members_")
        images = as_images(X)
        cache: dict[tuple[str, int], np.ndarray] = {}
        out: list[np.ndarray] = []
        for j, nw in enumerate(self.networks_):
            key = (nw.input, nw.input_size)
            if key not in cache:
                cache[key] = to_network_input(images, nw.input_size, representation=nw.input)
            mine = [m for m in self.members_ if m.network == j]
            enc = encode(nw.net, cache[key], deeper=any(m.space == "deeper" for m in mine))
            out += [m.svms.decision_function(self._dissimilarity(m, enc)) for m in mine]
        return out

    def decision_function(self, X) -> np.ndarray:
        """Fused scores ``(n, n_classes)``: average rule over members (SPEC 6), plus the eCNN
        by the z-score sum rule when ``ecnn`` is set (Section 4)."""
        from dissim.fusion import average, zscore_sum

        check_is_fitted(self, "members_")
        siamese = average(self.member_scores(X))
        if self.ecnn_model_ is None:
            return siamese
        from dissim.baselines import predict
        from dissim.profiles import get as get_profile

        cnn = predict(self.ecnn_model_, self.ecnn, as_images(X), device=self.device,
                      input_size=self._ecnn_side(get_profile(self.profile)))
        if self.ecnn_zscore == "batch":
            return zscore_sum([siamese, cnn])
        return sum((s - s.mean(1, keepdims=True)) / np.maximum(s.std(1, keepdims=True), 1e-12)
                   for s in (siamese, cnn))

    def predict(self, X) -> np.ndarray:
        """The class of each image: arg-max of :meth:`decision_function`."""
        check_is_fitted(self, "members_")
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]

    # -- persistence -------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the fitted model to ``path`` (a zip; format in :mod:`dissim.persist`)."""
        from dissim.persist import save

        return save(self, path)

    @classmethod
    def load(cls, path: str | Path, *, device: str | None = None) -> DissimilarityClassifier:
        """Read a model written by :meth:`save` (no pickle is ever loaded)."""
        from dissim.persist import load

        return load(path, device=device)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # images (N, H, W[, C]) or paths, not features
        tags.input_tags.three_d_array = True
        tags.input_tags.string = True
        tags.non_deterministic = False
        return tags
