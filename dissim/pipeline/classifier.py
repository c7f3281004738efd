"""The paper's ensemble as one scikit-learn classifier for any images (Sections 2-4).

:class:`DissimilarityClassifier` runs the member pipeline of the results store
(:func:`dissim.pipeline.member.fit_unit`: train -> encode -> prototypes -> space -> SVM) for
every (input, topology, method) it is given: one Siamese network (Section 2.2), supervised
k-means prototypes of the training images for every k (Section 2.1), the FULLY and DEEPER
dissimilarity spaces (Section 2.1) and one one-vs-rest RBF SVM per (network, k, space) member.
Scores are fused by the average rule; an optional ImageNet CNN (``ecnn=``, ``cnn_fusion=``) is
added by the z-score sum rule (Section 4, "Fusion + eCNN"): fine-tuned, as in the paper, or
frozen (its ImageNet features and a standardised SVM: the cheap way to the complete system).
Seeds and options are those of ``dissim run``: on the same images, trained in float32 as the
store's are (``amp=None``), the classifier's members score exactly as the stored members of
fold 0.

Defaults are the paper's best Siamese ensemble, "Triplet+Cross" with FULLY+DEEPER (Section 4,
Table 2: the best average), on topology 1 (the MathWorks net) and scaled to the profile
(:mod:`dissim.profiles`): ``paper`` trains each network 3000 iterations at 224 px with k in
15/30/45/60 (one network per k); ``quick`` and ``smoke`` shrink iterations, batch and input side
(never below the topology's minimum side). ``topologies=(1, 2, ..., 8)`` gives the paper's
"Fusion 1-8".

>>> clf = DissimilarityClassifier(profile="smoke", topologies=(6,))   # doctest: +SKIP
>>> clf.fit(train_images, train_labels).score(test_images, test_labels)   # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from tqdm import tqdm

from dissim.baselines import create as create_cnn
from dissim.baselines import get as get_cnn
from dissim.baselines import predict as predict_cnn
from dissim.errors import ConfigError, DataError, warn
from dissim.fusion import SCALINGS, average, zscore_sum
from dissim.images import as_images
from dissim.pipeline import persist, validate
from dissim.pipeline.controls import choose_side, frozen_features, frozen_sides, frozen_svms
from dissim.pipeline.defaults import DEFAULTS
from dissim.pipeline.member import (
    INPUTS,
    METHODS,
    ClassifierMember,
    Network,
    Options,
    fit_cnn,
    fit_unit,
    input_size,
    network_seed,
    pixel_prototypes,
    score_members,
    train_config,
)
from dissim.preprocess import to_network_input
from dissim.profiles import get as get_profile
from dissim.profiles import with_switches
from dissim.sampling import SAMPLERS
from dissim.siamese import SiameseNet
from dissim.spaces import SPACE_NAMES, NetworkEncoder, PixelEncoder
from dissim.topologies import available
from dissim.topologies import create as create_backbone
from dissim.train import (
    AMP,
    TrainLog,
    default_device,
    resolve_amp,
    train_siamese,
    untrained_network,
)

__all__ = ["ClassifierMember", "DissimilarityClassifier", "Network", "as_images"]

#: ``ecnn_zscore`` names: the classifier's default ``row`` is batch independent.
ECNN_ZSCORES = {"row": "row", "batch": "matrix"}
#: How the CNN of "Fusion + eCNN" (Section 4) is fitted: fine-tuned end to end (the paper's
#: eCNN) or frozen (ImageNet features + the standardised SVM of the frozen-CNN control).
CNN_FUSIONS = ("finetuned", "frozen")
#: What stands in the "train" step (book: Your own images, the controls): the trained
#: networks, the same networks at initialisation, or the pixels through the same spaces.
ENCODERS = ("trained", "untrained", "pixels")
#: Parameters added after model files were first written, and the value an older file means.
#: ``amp``: files written before it trained in float32.
#: ``cnn_fusion``: files written before it fine-tuned ``ecnn`` when it was set.
ADDED_PARAMS = {"encoder": "trained", "sampler": None, "amp": None, "cnn_fusion": None}


class DissimilarityClassifier(ClassifierMixin, BaseEstimator):
    """Siamese dissimilarity-space ensemble (Nanni et al. 2021) as a scikit-learn classifier.

    Parameters
    ----------
    topologies : tuple of int, default (1,)
        Appendix A subnetworks; the paper's "Fusion 1-8" uses all eight. This default and
        those of ``methods``, ``spaces``, ``profile``, ``sampler`` and ``amp`` are
        :data:`dissim.pipeline.defaults.DEFAULTS`.
    methods : tuple of str, default ("cross", "triplet")
        Paper names (Section 4): ``cross`` (BCE + Adam), ``crossdd`` (BCE + DecayDGrad),
        ``triplet`` (triplet loss + Adam). One network per (input, topology, method).
    spaces : tuple of str, default ("fully", "deeper")
        Dissimilarity spaces built from each network (Section 2.1).
    k_values : tuple of int, optional
        Prototypes per class (default: the profile's; 15/30/45/60 in the paper). A value given
        here above the smallest class's image count is refused (a ``ConfigError`` naming the
        class and the k values that fit); the profile's are dropped with a warning, and when
        all are, that count is used.
    inputs : tuple of str, default ("orig",)
        ``orig`` and/or ``hasc`` network inputs (Section 2).
    profile : str, default "quick"
        Scale (:mod:`dissim.profiles`): input side, iterations, batch size, reruns, k values,
        one network per k or one for all k, the eCNN's epochs, batch and input side. The
        profile's data-set caps (``max_per_class``, ``max_folds``) do not apply here.
    device : str, optional
        Torch device (default CUDA when present).
    seed : int, default 0
        Seeds training, k-means and the eCNN exactly as ``dissim run`` seeds fold 0
        (:func:`dissim.pipeline.member.network_seed`); 0 to 2**32 - 1, the range of
        k-means' ``random_state``.
    ecnn : str, optional
        Name of an ImageNet CNN (:func:`dissim.baselines.available`) fitted on the same images
        as ``cnn_fusion`` says and fused with the Siamese ensemble by the z-score sum rule
        (Section 4, "Fusion + eCNN"). None with ``cnn_fusion`` set: the profile's first CNN.
    cnn_fusion : {None, "finetuned", "frozen"}, default None
        How the CNN is fitted. ``"finetuned"``: fine-tuned end to end (Section 4's eCNN, at the
        profile's ``cnn_input_size``), its softmax scores. ``"frozen"``: its ImageNet weights
        kept, its pooled features (:func:`dissim.pipeline.controls.frozen_features`) at the side
        that classifies the training images better in an inner cross-validation (the native
        side or the profile's, :func:`~dissim.pipeline.controls.choose_side`), a standardised
        RBF SVM's one-vs-rest scores (:func:`~dissim.pipeline.controls.frozen_svms`): no CNN
        training. None: ``"finetuned"`` when ``ecnn`` names a CNN, else no CNN.
    ecnn_epochs : int, optional
        Fine-tuning epochs (default: the profile's; 20 with ``paper``, as in Section 4).
    ecnn_zscore : {"row", "batch"}, default "row"
        Statistics of the z-scores before the sum (:func:`dissim.fusion.zscore`): ``batch`` is
        the paper's (mean and std of the whole score matrix of the images scored together, so a
        prediction depends on the batch); ``row`` normalises each image's scores over the
        classes (batch independent).
    svm_C, svm_gamma, svm_scaling
        SVM settings (paper: 1000, 0.1, none; Section 2). The other open choices take the
        defaults of :class:`~dissim.pipeline.member.Options`, as in ``dissim run``.
    sampler : {None, "pairs", "batch"}
        How a training mini-batch is formed (:mod:`dissim.sampling`); None: the profile's.
    amp : {"auto", "bf16", None}, default "auto"
        Training arithmetic. ``"auto"``: bfloat16 autocast with channels-last tensors where
        the device computes bfloat16 in hardware (:func:`dissim.train.native_bf16`: a CPU with
        AMX or AVX512-BF16, a GPU with bfloat16), float32 elsewhere; ``"bf16"`` always; None
        float32. Spaces, SVMs and scoring stay float32. ``amp_`` says what ran.
    encoder : {"trained", "untrained", "pixels"}, default "trained"
        What stands in the pipeline's "train" step. ``untrained`` keeps each network as
        initialised (same seed, no iteration); ``pixels`` compares the zero-centred images
        themselves (one unit per network input, whatever the topologies and methods). Both are
        the controls of ``dissim evaluate`` (book: Your own images): the same images, seeds,
        prototypes, spaces and SVMs, so a difference is what training added.
    verbose : bool, default False
        Progress bars.

    Attributes
    ----------
    classes_ : ndarray
        Sorted class labels.
    networks_ : list of Network
    members_ : list of ClassifierMember
    k_values_ : tuple of int
        The k values actually used.
    amp_ : str or None
        The training arithmetic that ran: ``"bf16"`` (with channels-last tensors when
        ``amp="auto"`` chose it) or None (float32).
    train_logs_ : list of dict
        :class:`~dissim.train.TrainLog` of each network (loss curve, convergence, time).
    cnn_, cnn_fusion_ : str or None
        The fused CNN's name and how it was fitted (``"finetuned"``, ``"frozen"``; None: no CNN).
    cnn_input_size_ : int or None
        The side the fused CNN is fed (the frozen CNN's chosen side; the profile's for the
        fine-tuned one).
    ecnn_model_ : torch.nn.Module or None
        The fine-tuned CNN.
    cnn_svm_ : RBFSVMs or None
        The frozen CNN's standardised SVM.

    Notes
    -----
    There is no ``predict_proba``: the fused scores are averaged SVM margins, not probabilities.
    Wrap the classifier in :class:`sklearn.calibration.CalibratedClassifierCV` (it uses
    :meth:`decision_function`) when calibrated probabilities are needed.
    """

    def __init__(
        self, topologies: Sequence[int] = DEFAULTS.topologies,
        methods: Sequence[str] = DEFAULTS.methods, spaces: Sequence[str] = DEFAULTS.spaces,
        k_values: Sequence[int] | None = None, inputs: Sequence[str] = ("orig",),
        profile: str = DEFAULTS.profile, device: str | None = None,
        seed: int = 0, ecnn: str | None = None, ecnn_epochs: int | None = None,
        ecnn_zscore: str = "row", svm_C: float = 1000.0, svm_gamma: float = 0.1,
        svm_scaling: str = "none", verbose: bool = False,
        sampler: str | None = DEFAULTS.sampler, encoder: str = "trained",
        amp: str | None = DEFAULTS.amp, cnn_fusion: str | None = None,
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
        self.sampler = sampler
        self.encoder = encoder
        self.amp = amp
        self.cnn_fusion = cnn_fusion

    # -- validation ------------------------------------------------------------------------
    def _check_params(self):
        def names(value, allowed, what):
            value = (value,) if isinstance(value, str | int | np.integer) else tuple(value)
            bad = [v for v in value if v not in allowed]
            if not value or bad:
                raise ConfigError(f"{what} must be a non-empty subset of "
                                  f"{', '.join(map(str, allowed))}; got {value!r}")
            return tuple(dict.fromkeys(value))

        prof = get_profile(self.profile)
        if self.ecnn_zscore not in ECNN_ZSCORES:
            raise ConfigError(f"unknown ecnn_zscore {self.ecnn_zscore!r}; choose row or batch")
        if self.svm_scaling not in SCALINGS:
            raise ConfigError(f"unknown svm_scaling {self.svm_scaling!r}; choose one of "
                              f"{', '.join(SCALINGS)}")
        if self.ecnn is not None:
            get_cnn(self.ecnn)
        if self.cnn_fusion is not None and self.cnn_fusion not in CNN_FUSIONS:
            raise ConfigError(f"unknown cnn_fusion {self.cnn_fusion!r}; choose finetuned, frozen "
                              "or None (no CNN unless ecnn is set)")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int | np.integer):
            raise ConfigError(f"seed must be an integer; got {self.seed!r}")
        validate.seed(int(self.seed), "seed")
        if self.encoder not in ENCODERS:
            raise ConfigError(f"unknown encoder {self.encoder!r}; choose one of "
                              f"{', '.join(ENCODERS)}")
        if self.sampler is not None and self.sampler not in SAMPLERS:
            raise ConfigError(f"unknown sampler {self.sampler!r}; choose one of "
                              f"{', '.join(SAMPLERS)} (or None: the profile's)")
        if self.amp != "auto" and self.amp not in AMP:
            raise ConfigError(f"unknown amp {self.amp!r}; choose auto, bf16 or None (float32)")
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
        if self.k_values is not None:  # an explicit k a class cannot support: refused
            validate.k_supported(ks, y, self.classes_, profile=prof.name)
        smallest = int(np.bincount(y).min())
        kept = tuple(sorted({int(k) for k in ks if k <= smallest})) or (smallest,)
        if set(kept) != {int(k) for k in ks}:  # the profile's k values: lowered, said once
            warn(f"the smallest class has {smallest} training images: the profile's k values "
                 f"{','.join(map(str, ks))} -> {','.join(map(str, kept))}")
        return kept

    def options(self) -> Options:
        """The :class:`~dissim.pipeline.member.Options` the members are built with."""
        return Options(svm_C=self.svm_C, svm_gamma=self.svm_gamma, svm_scaling=self.svm_scaling,
                       sampler=self.sampler)

    def twin(self, encoder: str) -> DissimilarityClassifier:
        """An unfitted copy with ``encoder`` changed and no eCNN: the untrained or pixel
        control of this configuration's Siamese pipeline (same seeds, prototypes, spaces and
        SVMs; book: Your own images)."""
        return clone(self).set_params(encoder=encoder, ecnn=None, cnn_fusion=None)

    def cnn_plan(self) -> tuple[str | None, str | None]:
        """``(cnn, how)``: the CNN fused by the z-score sum rule and ``"finetuned"`` or
        ``"frozen"``, or ``(None, None)`` (see ``ecnn`` and ``cnn_fusion``)."""
        how = self.cnn_fusion or ("finetuned" if self.ecnn is not None else None)
        if how is None:
            return None, None
        return self.ecnn or get_profile(self.profile).cnns[0], how

    # -- fit ---------------------------------------------------------------------------------
    def fit(self, X, y, *, trainer=None, cache: dict | None = None) -> DissimilarityClassifier:
        """Train the ensemble (Sections 2-4) on images ``X`` with labels ``y``.

        Parameters
        ----------
        X : sequence of images or paths
            See :func:`dissim.images.as_images`; any sizes, grey or colour.
        y : array-like, shape (n_images,)
            Class labels of any kind (strings, integers); at least two classes.
        trainer : callable, optional
            The training step of the member pipeline (default
            :func:`dissim.train.train_siamese`; :func:`~dissim.train.untrained_network` with
            ``encoder="untrained"``).
        cache : dict, optional
            Network inputs and pixel prototypes already computed by a fit on the same ``X``,
            ``y`` and ``seed`` (a classifier and its :meth:`twin` controls on one fold): pass
            the same empty dict to each fit, and each input and k-means is computed once.

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
        prof, inputs, topologies, methods, spaces = self._check_params()
        options = self.options()
        images = as_images(X)
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(images):
            raise DataError(f"got {len(images)} images but labels of shape {y.shape}")
        check_classification_targets(y)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise DataError(f"need at least two classes; got {self.classes_.tolist()}")
        if self.encoder != "pixels" and np.bincount(y_idx).max() < 2:  # before any work
            raise DataError("every class has one image, but training a Siamese network needs "
                            "a class with two (a positive pair, Section 2.2); add images")
        self.k_values_ = self._ks(prof, y_idx)
        device = default_device() if self.device is None else self.device
        self.amp_ = resolve_amp(self.amp, device)
        prof = with_switches(prof, amp=self.amp_,  # training only: spaces stay float32
                             channels_last=self.amp == "auto" and bool(self.amp_))
        self.networks_, self.members_, self.train_logs_ = [], [], []
        names = [str(c) for c in self.classes_]
        # one network per (input, topology, method), and per k when the profile says so
        k_groups = ([(k,) for k in self.k_values_] if prof.one_net_per_k
                    else [self.k_values_])
        plan = [(i, t, m, ks) for i in inputs for t in topologies for m in methods
                for ks in k_groups]
        if self.encoder == "pixels":  # no network: one unit per distinct network input
            plan = list({(i, input_size(t, prof), ks): (i, t, m, ks)
                         for i, t, m, ks in plan}.values())
        cache = {} if cache is None else cache
        seconds = dict.fromkeys(("inputs", "prototypes", "training", "spaces_svms"), 0.0)
        for inp, topo, method, ks in tqdm(plan, desc="networks", disable=not self.verbose):
            size = input_size(topo, prof)
            t0 = time.perf_counter()
            if ("inputs", inp, size) not in cache:
                cache["inputs", inp, size] = to_network_input(
                    images, size, representation=inp, pixel_range=options.pixel_range,
                    progress=self.verbose)
            x = cache["inputs", inp, size]
            t1 = time.perf_counter()
            if ("prototypes", inp, size, ks, self.seed) not in cache:
                cache["prototypes", inp, size, ks, self.seed] = (
                    pixel_prototypes(x, y_idx, ks, options, self.seed, names)
                    if options.cluster_space == "pixel" else None)
            t2 = time.perf_counter()
            seed = network_seed(self.seed, 0, ks[0] if prof.one_net_per_k else None)
            train, make_encoder = self._steps(trainer, x)
            t_train = [0.0]

            def timed(*args, _train=train, _t=t_train, **kwargs):
                t = time.perf_counter()
                out = _train(*args, **kwargs)
                _t[0] += time.perf_counter() - t
                return out

            fitted = fit_unit(
                x, y_idx, train_config(topo, method, prof, options, seed),
                ks=ks, spaces=spaces, options=options, n_classes=len(self.classes_),
                kmeans_seed=self.seed, class_names=names, trainer=timed,
                make_encoder=make_encoder, device=self.device, progress=self.verbose,
                prototypes=cache["prototypes", inp, size, ks, self.seed])
            t3 = time.perf_counter()
            seconds["inputs"] += t1 - t0
            seconds["prototypes"] += t2 - t1
            seconds["training"] += t_train[0]
            seconds["spaces_svms"] += t3 - t2 - t_train[0]
            j = len(self.networks_)
            self.networks_.append(Network(inp, topo, method, size, fitted.net))
            self.train_logs_.append(fitted.log.to_dict())
            self.members_ += [ClassifierMember(j, fm) for fm in fitted.members]
        self.seconds_ = seconds
        return self._fit_cnn(images, y_idx, cache)

    def fit_cnn(self, X, y, *, cache: dict | None = None) -> DissimilarityClassifier:
        """Fit only the CNN part (``ecnn``, ``cnn_fusion``) of a fitted classifier on the images
        its Siamese part was fitted on, keeping the networks and members: ``dissim evaluate``
        fits one ensemble per fold and fuses it with each CNN, on a shallow copy with the CNN
        parameters changed (:func:`copy.copy`, then :meth:`set_params`).

        ``cache``: as in :meth:`fit`; ``("frozen", cnn, side)`` may hold the frozen features of
        ``X`` (computed once for all images of every fold, :mod:`dissim.pipeline.controls`).
        """
        check_is_fitted(self, "members_")
        self._check_params()
        images = as_images(X)
        y = np.asarray(y)
        if y.shape != (len(images),) or not np.isin(y, self.classes_).all():
            raise DataError(f"fit_cnn needs one label per image ({len(images)}), each a class "
                            "the classifier was fitted with")
        return self._fit_cnn(images, np.searchsorted(self.classes_, y),
                             {} if cache is None else cache)

    def _fit_cnn(self, images, y_idx: np.ndarray, cache: dict) -> DissimilarityClassifier:
        """The CNN of "Fusion + eCNN" (Section 4), fine-tuned or frozen (``cnn_fusion``)."""
        prof = get_profile(self.profile)
        self.cnn_, self.cnn_fusion_ = self.cnn_plan()
        self.ecnn_model_ = self.cnn_svm_ = self.cnn_input_size_ = None
        self.seconds_ = {k: v for k, v in self.seconds_.items()  # a copy: fit_cnn on a copy
                         if k not in ("ecnn", "frozen_cnn")}      # leaves the original's alone
        t0 = time.perf_counter()
        if self.cnn_fusion_ == "finetuned":
            self.ecnn_model_ = fit_cnn(self.cnn_, images, y_idx, n_classes=len(self.classes_),
                                       profile=prof, seed=network_seed(self.seed),
                                       epochs=self.ecnn_epochs, device=self.device,
                                       progress=self.verbose)
            self.cnn_input_size_ = prof.cnn_input_size
            self.seconds_["ecnn"] = time.perf_counter() - t0
        elif self.cnn_fusion_ == "frozen":
            feats = {}
            for side in frozen_sides(self.cnn_, prof.cnn_input_size):
                key = ("frozen", self.cnn_, side)
                if key not in cache:
                    cache[key] = frozen_features(self.cnn_, images, input_size=side,
                                                 device=self.device)
                feats[side] = cache[key]
            self.cnn_input_size_ = choose_side(feats, y_idx, np.arange(len(y_idx)),
                                               int(self.seed))
            self.cnn_svm_ = frozen_svms(feats[self.cnn_input_size_], y_idx, len(self.classes_))
            self.seconds_["frozen_cnn"] = time.perf_counter() - t0
        return self

    def _steps(self, trainer, x_train: np.ndarray):
        """The trainer and encoder factory of :func:`~dissim.pipeline.member.fit_unit` for
        ``encoder``: the trained network, the initialised one, or the pixels (book: Training
        health, the controls)."""
        if self.encoder == "pixels":
            def no_network(*args, **kwargs):  # the pixels are the encoder
                return None, TrainLog(attempts=0)

            def pixels(net, dct_size):
                return PixelEncoder(x_train.mean(0), dct_size)

            return no_network, pixels
        if trainer is None:
            trainer = untrained_network if self.encoder == "untrained" else train_siamese
        return trainer, NetworkEncoder

    # -- scoring -----------------------------------------------------------------------------
    def member_scores(self, X) -> list[np.ndarray]:
        """The SVM score matrix ``(n, n_classes)`` of every member, in ``members_`` order."""
        check_is_fitted(self, "members_")
        images = as_images(X)
        pixel_range = self.options().pixel_range
        cache: dict[tuple[str, int], np.ndarray] = {}
        out: list[np.ndarray] = []
        for j, nw in enumerate(self.networks_):
            key = (nw.input, nw.input_size)
            if key not in cache:
                cache[key] = to_network_input(images, nw.input_size, representation=nw.input,
                                              pixel_range=pixel_range)
            mine = [m.fitted for m in self.members_ if m.network == j]
            encoder = mine[0].transformer.encoder if mine else NetworkEncoder(nw.net)
            out += score_members(encoder, mine, cache[key])
        return out

    def siamese_scores(self, X) -> np.ndarray:
        """The Siamese ensemble's scores ``(n, n_classes)``: the average rule over its members
        (Section 4)."""
        return average(self.member_scores(X))

    def cnn_scores(self, X) -> np.ndarray | None:
        """The fused CNN's scores ``(n, n_classes)`` (None without one): the fine-tuned CNN's
        softmax probabilities, or the frozen CNN's standardised SVM's one-vs-rest margins."""
        check_is_fitted(self, "members_")
        if getattr(self, "cnn_fusion_", None) is None:
            return None
        images = as_images(X)
        if self.cnn_fusion_ == "finetuned":
            prof = get_profile(self.profile)
            return predict_cnn(self.ecnn_model_, self.cnn_, images, device=self.device,
                               batch_size=prof.cnn_batch_size, input_size=self.cnn_input_size_)
        feats = frozen_features(self.cnn_, images, input_size=self.cnn_input_size_,
                                device=self.device)
        return self.cnn_svm_.decision_function(feats)

    def fuse(self, siamese: np.ndarray, cnn: np.ndarray | None) -> np.ndarray:
        """The z-score sum rule of "Fusion + eCNN" (Section 4: both score matrices normalised to
        mean 0 and standard deviation 1, then summed; :func:`dissim.fusion.zscore_sum`, with
        the statistics ``ecnn_zscore`` names), or ``siamese`` alone when ``cnn`` is None."""
        if cnn is None:
            return siamese
        return zscore_sum([siamese, cnn], ECNN_ZSCORES[self.ecnn_zscore])

    def decision_function(self, X) -> np.ndarray:
        """Fused scores ``(n, n_classes)``: average rule over members (Section 4), plus the
        CNN by the z-score sum rule when ``ecnn`` or ``cnn_fusion`` is set (Section 4)."""
        check_is_fitted(self, "members_")
        return self.fuse(self.siamese_scores(X), self.cnn_scores(X))

    def predict(self, X) -> np.ndarray:
        """The class of each image: arg-max of :meth:`decision_function`."""
        check_is_fitted(self, "members_")
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]

    # -- persistence -------------------------------------------------------------------------
    def model_bytes(self, n_classes: int) -> int:
        """About how many bytes :meth:`save` will write for ``n_classes`` classes, known before
        :meth:`fit`: every planned network's ``state_dict`` (built on torch's ``meta`` device,
        so nothing is allocated), each member's prototypes (k per class, of the network's
        embedding size), the eCNN's weights, and 1 MiB for the manifest and the SVMs. ``dissim
        fit`` checks the free space against it before training (book: What can go wrong)."""
        prof, inputs, topologies, methods, spaces = self._check_params()
        ks = prof.k_values if self.k_values is None else self.k_values
        ks = (ks,) if isinstance(ks, int | np.integer) else tuple(ks)
        copies = len(inputs) * (len(ks) if prof.one_net_per_k else 1)
        total = 1 << 20
        for topo in topologies:
            for method in methods:
                with torch.device("meta"):
                    net = SiameseNet(create_backbone(topo, in_channels=3,
                                                     input_size=input_size(topo, prof)),
                                     mode=METHODS[method][0])
                weights = sum(t.numel() * t.element_size() for t in net.state_dict().values())
                protos = sum(ks) * n_classes * net.backbone.embedding_dim * 4 * len(spaces)
                total += copies * (weights + protos)
        cnn_name, how = self.cnn_plan()
        if how == "finetuned":
            try:
                with torch.device("meta"):
                    cnn = create_cnn(cnn_name, n_classes, pretrained=False,
                                     input_size=prof.cnn_input_size)
                total += sum(t.numel() * t.element_size() for t in cnn.state_dict().values())
            except Exception:  # noqa: BLE001 - an estimate: the write itself still checks
                pass
        return int(total)

    # -- persistence -------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the fitted model to ``path`` (a zip; format in :mod:`dissim.pipeline.persist`)."""
        check_is_fitted(self, "members_")
        if self.encoder == "pixels":
            raise ConfigError("a pixel control has no networks to save; save the trained "
                              "classifier (encoder='trained')")
        return persist.save(path, params=self.get_params(deep=False), classes=self.classes_,
                            k_values=self.k_values_, networks=self.networks_,
                            members=self.members_, train_logs=self.train_logs_,
                            ecnn=self.ecnn_model_, cnn=self._cnn_record(),
                            cnn_svm=self.cnn_svm_)

    def _cnn_record(self) -> dict | None:
        """The manifest's ``ecnn`` record: the fused CNN's name, and for a frozen one how it is
        fitted and the side it is fed (:mod:`dissim.pipeline.persist`)."""
        if self.cnn_fusion_ is None:
            return None
        if self.cnn_fusion_ == "finetuned":
            return {"name": self.cnn_}
        return {"name": self.cnn_, "fusion": "frozen", "input_size": int(self.cnn_input_size_)}

    @classmethod
    def load(cls, path: str | Path, *, device: str | None = None) -> DissimilarityClassifier:
        """Read and verify a model written by :meth:`save` (no pickle is ever loaded)."""
        parts = persist.load(path, device=device, check_params=cls._check_saved_params)
        clf = cls(**{**ADDED_PARAMS, **parts.params})  # an older file: what it was fitted with
        clf.classes_, clf.k_values_ = parts.classes, parts.k_values
        clf.networks_, clf.train_logs_ = parts.networks, parts.train_logs
        clf.members_ = [ClassifierMember(j, fm) for j, fm in parts.members]
        clf.ecnn_model_, clf.cnn_svm_ = parts.ecnn, parts.cnn_svm
        record = parts.cnn or {}
        clf.cnn_ = record.get("name")
        clf.cnn_fusion_ = None if not record else record.get("fusion", "finetuned")
        clf.cnn_input_size_ = (record.get("input_size") if clf.cnn_fusion_ == "frozen" else
                               get_profile(clf.profile).cnn_input_size if record else None)
        return clf

    @classmethod
    def _check_saved_params(cls, params: dict) -> None:
        """A model file's parameters: exactly this class's, each of them acceptable."""
        known = set(cls().get_params(deep=False))
        if set(params) - known:
            raise ConfigError(f"unknown parameter(s) {', '.join(sorted(set(params) - known))}")
        missing = known - set(params) - set(ADDED_PARAMS)
        if missing:
            raise ConfigError(f"missing parameter(s) {', '.join(sorted(missing))}")
        cls(**params)._check_params()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # images (N, H, W[, C]) or paths, not features
        tags.input_tags.three_d_array = True
        tags.input_tags.string = True
        tags.non_deterministic = False
        return tags
