"""Registries of components: encoder trunks and decoders by modality letter, strategies by name.

``ENCODERS[letter]`` is an :class:`EncoderEntry` (``build_trunk(cfg)`` and whether the mean
head ends in Tanh); ``DECODERS[letter](cfg)`` returns a decoder module; ``STRATEGIES[name]``
is a ``(strategy, alignment)`` preset. New components register with ``@REGISTRY.register(key)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from torch import nn

from handvae.errors import UserError
from handvae.models.decoders import DepthDecoder, FoldingDecoder, HeatmapDecoder, PoseDecoder
from handvae.models.encoders import DepthTrunk, RGBTrunk
from handvae.models.respel import ResPELTrunk
from handvae.models.strategy import STRATEGY_PRESETS
from handvae.schema import Config

T = TypeVar("T")


class Registry(Generic[T]):
    """A named mapping with a decorator to add entries and a clear error for unknown keys."""

    def __init__(self, kind: str, items: dict[str, T] | None = None) -> None:
        self.kind = kind
        self._items: dict[str, T] = {} if items is None else items  # shared: registering adds to ``items``

    def register(self, key: str) -> Callable[[T], T]:
        def add(item: T) -> T:
            if key in self._items:
                raise KeyError(f"{self.kind} {key!r} registered twice")
            self._items[key] = item
            return item

        return add

    def __getitem__(self, key: str) -> T:
        if key not in self._items:
            raise UserError(f"unknown {self.kind} {key!r}; known: {sorted(self._items)}")
        return self._items[key]

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def names(self) -> list[str]:
        return list(self._items)


@dataclass(frozen=True)
class EncoderEntry:
    """How to build one modality's trunk; ``tanh_mu``: the latent mean head ends in Tanh."""

    build_trunk: Callable[[Config], nn.Module]
    tanh_mu: bool = False


ENCODERS: Registry[EncoderEntry] = Registry("encoder")
DECODERS: Registry[Callable[[Config], nn.Module]] = Registry("decoder")
# the presets that compile_strategy reads: a registered strategy is usable by name everywhere
STRATEGIES: Registry[tuple[str, str]] = Registry("strategy", STRATEGY_PRESETS)


def _rgb_trunk(cfg: Config) -> nn.Module:
    return RGBTrunk(width=cfg.model.rgb_width)


def _cloud_trunk(cfg: Config) -> nn.Module:
    return ResPELTrunk(width_mult=cfg.model.point_width)


def _depth_trunk(cfg: Config) -> nn.Module:
    return DepthTrunk(width=cfg.model.depth_width)


ENCODERS.register("R")(EncoderEntry(_rgb_trunk))
# Table 2 ends in "FC-(N64), Tanh": the cloud expert's mean lies in [-1, 1].
ENCODERS.register("C")(EncoderEntry(_cloud_trunk, tanh_mu=True))
ENCODERS.register("D")(EncoderEntry(_depth_trunk))


@DECODERS.register("P")
def _pose(cfg: Config) -> nn.Module:
    return PoseDecoder(cfg.model.latent_dim)


@DECODERS.register("H")
def _heat(cfg: Config) -> nn.Module:
    return HeatmapDecoder(cfg.model.latent_dim, size=cfg.data.heatmap_size,
                          base_ch=max(8, round(128 * cfg.model.heat_width)), kernel=cfg.model.heat_kernel)


@DECODERS.register("C")
def _fold(cfg: Config) -> nn.Module:
    return FoldingDecoder(cfg.model.latent_dim, n_points=cfg.data.n_points, width_mult=cfg.model.point_width)


@DECODERS.register("D")
def _depth_dec(cfg: Config) -> nn.Module:
    return DepthDecoder(cfg.model.latent_dim, size=cfg.data.crop_size, width=cfg.model.depth_width)
