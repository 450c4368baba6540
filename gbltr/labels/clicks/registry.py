"""Click models by name: the registry that drives ``--click-model`` and ``gbltr clicks --models``.

Names map to their module and class; a model's module (numba kernels) is imported only when the
model is used, so the config and ``--help`` stay light.
"""

from __future__ import annotations

from importlib import import_module

from gbltr.errors import unknown_choice

MODELS: dict[str, str] = {
    "ctr": "gbltr.labels.clicks.ctr:CTR",
    "dctr": "gbltr.labels.clicks.ctr:DCTR",
    "pbm": "gbltr.labels.clicks.pbm:PBM",
    "cascade": "gbltr.labels.clicks.dbn:Cascade",
    "ubm": "gbltr.labels.clicks.ubm:UBM",
    "dbn": "gbltr.labels.clicks.dbn:DBN",
    "sdbn": "gbltr.labels.clicks.dbn:SDBN",
}
CLICK_MODELS = tuple(MODELS)


def get_model(name: str):
    """The :class:`~gbltr.labels.clicks.base.ClickModel` registered as ``name``."""
    if name not in MODELS:
        raise unknown_choice("click model", name, MODELS)
    module, cls = MODELS[name].split(":")
    return getattr(import_module(module), cls)()


def parse_models(text: str) -> tuple[str, ...]:
    """``"pbm,ubm"`` -> ("pbm", "ubm"), each checked against the registry."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    for n in names:
        if n not in MODELS:
            raise unknown_choice("click model", n, MODELS)
    if not names:
        raise unknown_choice("click model", text, MODELS)
    return names
