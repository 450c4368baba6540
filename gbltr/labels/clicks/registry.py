"""Click models by name: the registry that drives ``--click-model`` and ``gbltr clicks --models``."""

from __future__ import annotations

from gbltr.errors import unknown_choice
from gbltr.labels.clicks.base import ClickModel
from gbltr.labels.clicks.ctr import CTR, DCTR
from gbltr.labels.clicks.dbn import DBN, SDBN, Cascade
from gbltr.labels.clicks.pbm import PBM
from gbltr.labels.clicks.ubm import UBM

MODELS: dict[str, type[ClickModel]] = {m.name: m for m in (CTR, DCTR, PBM, Cascade, UBM, DBN, SDBN)}
CLICK_MODELS = tuple(MODELS)


def get_model(name: str) -> ClickModel:
    if name not in MODELS:
        raise unknown_choice("click model", name, MODELS)
    return MODELS[name]()


def parse_models(text: str) -> tuple[str, ...]:
    """``"pbm,ubm"`` -> ("pbm", "ubm"), each checked against the registry."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    for n in names:
        get_model(n)
    if not names:
        raise unknown_choice("click model", text, MODELS)
    return names
