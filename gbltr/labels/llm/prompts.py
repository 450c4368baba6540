"""Versioned prompt templates shipped with the package (``gbltr/labels/llm/prompts/*.toml``).

One file per strategy and language, ``{strategy}.{lang}.toml``, with keys ``version``,
``system`` and ``user`` (a :meth:`str.format` template). The version string goes into every
cache key and into the ``prompt_version`` column of the label set, so editing a prompt without
bumping its version is the only way to reuse stale answers: bump it.

Documents reach the prompts only through :func:`delimit` (``<passage>...</passage>``), and every
system prompt says that what stands between those tags is data to judge, not instructions
(version 2; version 1 pasted documents raw).

Sources: pointwise prompt after UMBRELA (Upadhyay et al. 2024) / Thomas et al. 2024; listwise
ranking after RankGPT (Sun et al. 2023); ListAnn / ListSel after Yu, Bi, Guo et al. 2025
(arXiv 2511.06635).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from gbltr.errors import ConfigError, unknown_choice

LANGUAGES = ("en", "zh")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_TAG = re.compile(r"<(/?)(passage)", re.I)


@dataclass(frozen=True)
class Prompt:
    """A prompt template: ``version`` names it in caches and label sets."""

    strategy: str
    lang: str
    version: str
    system: str
    user: str

    def messages(self, **fields) -> list[dict]:
        """Chat messages with ``fields`` filled into the user template."""
        return [
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.user.format(**fields)},
        ]


@lru_cache(maxsize=None)
def load_prompt(strategy: str, lang: str) -> Prompt:
    """The shipped prompt of ``strategy`` in ``lang`` (``en`` or ``zh``)."""
    if lang not in LANGUAGES:
        raise unknown_choice("prompt language", lang, LANGUAGES)
    name = f"{strategy}.{lang}.toml"
    path = resources.files("gbltr.labels.llm").joinpath("prompts", name)
    if not path.is_file():
        raise ConfigError(f"no prompt file {name!r} shipped in gbltr/labels/llm/prompts/; expected one per strategy and language")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    missing = {"version", "system", "user"} - set(data)
    if missing:
        raise ConfigError(f"prompt {name}: missing key(s) {sorted(missing)}; expected version, system, user")
    return Prompt(strategy, lang, data["version"], data["system"], data["user"])


def delimit(text: str) -> str:
    """``text`` between ``<passage>`` and ``</passage>`` tags, the delimiters every shipped prompt
    (version 2 and later) names as data-not-instructions. A tag written inside the text is
    defused (``</passage`` -> ``</_passage``, ``<passage`` -> ``<_passage``) so a document cannot close its own delimiter."""
    return "<passage>" + _TAG.sub(r"<\1_\2", text) + "</passage>"


def detect_language(text: str) -> str:
    """``zh`` when ``text`` contains CJK ideographs, else ``en``."""
    return "zh" if _CJK.search(text or "") else "en"


def approx_tokens(text: str) -> int:
    """A cheap token estimate: one token per CJK character plus one per 4 other characters."""
    n_cjk = len(_CJK.findall(text))
    return n_cjk + (len(text) - n_cjk + 3) // 4


def truncate_tokens(text: str, budget: int) -> str:
    """Cut ``text`` so that :func:`approx_tokens` of it is at most ``budget`` (whitespace-trimmed)."""
    text = " ".join((text or "").split())
    if budget <= 0 or approx_tokens(text) <= budget:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # longest prefix within the budget
        mid = (lo + hi + 1) // 2
        if approx_tokens(text[:mid]) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + " ..."
