"""Adversarial and energy-based models on vectors: objectives table, penalties, networks, the
kind registry (gan, conditional, meg, ebm-langevin, ogan, anchored, kplus1, bigan-qp, glann, began,
flow, boundary), one trainer loop, saved models.

Data-agnostic: trains on any (N, D) float tensor (the core GAN also on (N, C, H, W) images);
knows nothing of text.
"""
from textgan.gan.anchored import AnchoredConfig, prototype_of
from textgan.gan.boundary import BoundaryConfig
from textgan.gan.conditional import ConditionalConfig, read_labels
from textgan.gan.config import PRESETS, GANConfig, KindConfig, carry_over
from textgan.gan.data import load_vectors
from textgan.gan.energy import MEGConfig
from textgan.gan.flow import FlowConfig
from textgan.gan.langevin import EBMConfig
from textgan.gan.objectives import F_DIVERGENCES, OBJECTIVES, Objective, make_objective
from textgan.gan.ogan import OGANConfig
from textgan.gan.penalties import PENALTIES, clip_weights, div_penalty, gradient_penalty, make_penalty, r1_penalty
from textgan.gan.registry import KINDS, Kind, kind_of_config, load, make_kind, sample, train_by_name, train_gan

__all__ = ["GANConfig", "KindConfig", "ConditionalConfig", "AnchoredConfig", "prototype_of", "MEGConfig", "EBMConfig", "OGANConfig", "FlowConfig",
           "BoundaryConfig", "PRESETS",
           "carry_over", "load_vectors", "read_labels", "OBJECTIVES", "F_DIVERGENCES", "Objective",
           "make_objective", "PENALTIES", "make_penalty", "gradient_penalty", "div_penalty", "r1_penalty",
           "clip_weights", "KINDS", "Kind", "make_kind", "kind_of_config", "train_gan", "train_by_name", "load",
           "sample"]


def __getattr__(name: str):
    """Submodules load on first use: `textgan.<package>.<module>` works after `import textgan` alone."""
    from textgan.common.lazy import submodule

    return submodule(__name__, __path__, name)
