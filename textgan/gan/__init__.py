"""Adversarial core: objectives table, penalties, MLP networks, one trainer, saved generators.

Data-agnostic: trains on any (N, D) float tensor or (N, C, H, W) images; knows nothing of text.
"""
from textgan.gan.config import PRESETS, GANConfig
from textgan.gan.data import load_vectors
from textgan.gan.objectives import F_DIVERGENCES, OBJECTIVES, Objective, make_objective
from textgan.gan.penalties import PENALTIES, clip_weights, div_penalty, gradient_penalty, make_penalty, r1_penalty
from textgan.gan.saved import SavedGenerator, load_critic, load_generator
from textgan.gan.trainer import train_gan

__all__ = ["GANConfig", "PRESETS", "load_vectors", "OBJECTIVES", "F_DIVERGENCES", "Objective", "make_objective",
           "PENALTIES", "make_penalty", "gradient_penalty", "div_penalty", "r1_penalty", "clip_weights",
           "SavedGenerator", "load_generator", "load_critic", "train_gan"]
