"""The one place that names the classifier's default configuration (book: Your own images).

:class:`~dissim.pipeline.classifier.DissimilarityClassifier`, ``dissim fit`` and ``dissim
evaluate`` all read :data:`DEFAULTS`; changing a default is one line here, and the book page's
table of defaults says what was measured to pick it (``benchmarks/defaults.py`` prints the
accuracy per CPU-minute of candidate configurations and of the controls on real folders).

Today's value was measured, not assumed (book: Your own images, "Which default?"): on five
real folders of different kinds (faces, handwritten symbols, paintings, spectrograms, blood
cells), two of five stratified folds each, the candidates were the paper's best Siamese ensemble
at ``quick`` scale (topology 1, Cross + Triplet, FULLY + DEEPER) and topology 6 Triplet with
the ``medium`` profile's training, each alone and fused with a frozen and a fine-tuned CNN. The
rule: the cheapest system at least level with each folder's strongest control (McNemar's exact
test) on most folders. **Topology 6 Triplet, FULLY + DEEPER, ``medium``** was level on 4 of 5
at the least CPU (:mod:`dissim.report.default_rule`); the same fused with the frozen CNN
(``cnn_fusion="frozen"``) was level on all five at about a quarter more CPU. The arithmetic is
bfloat16 where the hardware computes it (``amp="auto"``: a CPU with AMX or AVX512-BF16, a GPU
with bfloat16; float32 elsewhere).

>>> DEFAULTS.methods
('triplet',)
>>> DEFAULTS.with_(topologies=(6,)).topologies
(6,)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

__all__ = ["DEFAULTS", "Defaults"]


@dataclass(frozen=True)
class Defaults:
    """One configuration of the classifier: what a user gets without naming any option.

    Parameters
    ----------
    topologies : tuple of int
        Appendix A subnetworks, one network per (topology, method).
    methods : tuple of str
        Paper names (Section 4): ``cross``, ``crossdd``, ``triplet``.
    spaces : tuple of str
        Dissimilarity spaces (Section 2.1): ``fully``, ``deeper``.
    profile : str
        Scale of training (:mod:`dissim.profiles`).
    sampler : str or None
        How a training mini-batch is formed (:mod:`dissim.sampling`); None: the profile's.
    amp : {"auto", "bf16", None}
        Training arithmetic (:func:`dissim.train.resolve_amp`): ``"auto"`` trains under
        bfloat16 autocast, with channels-last tensors, where the device computes bfloat16 in
        hardware, and in float32 elsewhere; ``"bf16"`` always; None float32.
    """

    topologies: tuple[int, ...] = (6,)
    methods: tuple[str, ...] = ("triplet",)
    spaces: tuple[str, ...] = ("fully", "deeper")
    profile: str = "medium"
    sampler: str | None = None
    amp: str | None = "auto"

    def with_(self, **changes) -> Defaults:
        """A copy with some fields changed (a candidate of ``benchmarks/defaults.py``)."""
        return replace(self, **changes)

    def to_dict(self) -> dict:
        """The classifier's keyword arguments of this configuration."""
        return asdict(self)

    def label(self) -> str:
        """A short name: ``t1 cross+triplet fully+deeper quick``, then the sampler when set and
        the arithmetic when not ``auto`` (``float32``, ``bf16``)."""
        parts = [f"t{','.join(map(str, self.topologies))}", "+".join(self.methods),
                 "+".join(self.spaces), self.profile]
        if self.sampler:
            parts.append(self.sampler)
        if self.amp != "auto":
            parts.append(self.amp or "float32")
        return " ".join(parts)


#: The defaults of ``DissimilarityClassifier`` and of ``dissim fit`` / ``dissim evaluate``.
DEFAULTS = Defaults()
