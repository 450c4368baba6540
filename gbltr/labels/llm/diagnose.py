"""Why labels are missing: the evidence a run collects, and the one sentence that names the cause.

When most labels of a run are missing, ``gbltr annotate`` names the dominant ``parse_status``
(:mod:`gbltr.labels.llm.parse`) and its remedy, instead of sending the user to check an endpoint
that was fine (issue 21):

``length``            the answers reached the answer budget: raise --max-tokens or lower --window;
``context_overflow``  the prompts did not fit the model's context: lower --window or --doc-tokens;
``invalid_json`` ...  the answers did not parse: one raw answer, cut short, shows what came back;
``failed``            the endpoint failed: check it (only then);
``content_filter``    the provider filtered the answers.

:class:`Evidence` is filled while the run goes (by :func:`gbltr.labels.llm.strategies.ask_parsed`
and the client) and read by :func:`missing_cause`.
"""

from __future__ import annotations

from dataclasses import dataclass

RAW_SHOWN = 160
"""Characters of a raw answer shown in a parse-failure message."""

_PARSE = ("invalid_json", "invalid_label", "missing_id", "duplicate_id", "out_of_range_id")


@dataclass
class Evidence:
    """What the run saw, for the message about missing labels (first occurrence kept).

    ``unparsed``: one answer that did not parse, as sent by the server; ``length_budget``: the
    largest ``max_tokens`` an answer ran into; ``overflow_prompt`` / ``overflow_context``: the
    prompt tokens and the context of one request the server refused as too long (from the
    server's error, else our estimate and the known context)."""

    unparsed: str | None = None
    length_budget: int | None = None
    overflow_prompt: int | None = None
    overflow_context: int | None = None

    def saw_unparsed(self, text: str) -> None:
        if self.unparsed is None:
            self.unparsed = text

    def saw_length(self, max_tokens: int) -> None:
        self.length_budget = max(self.length_budget or 0, max_tokens)

    def saw_overflow(self, prompt_tokens: int | None, context: int | None) -> None:
        if self.overflow_prompt is None:
            self.overflow_prompt, self.overflow_context = prompt_tokens, context


def dominant(by_status: dict[str, int]) -> str | None:
    """The status of the most missing labels (ties: the first in sorted order)."""
    if not by_status:
        return None
    return max(sorted(by_status), key=lambda s: by_status[s])


def missing_cause(by_status: dict[str, int], evidence: Evidence, *, max_tokens: int, endpoint: str) -> str:
    """One sentence naming the dominant cause of the missing labels ``by_status`` and its fix."""
    status = dominant(by_status)
    if status == "length":
        raised = f" (re-asks raised it to {evidence.length_budget})" if evidence.length_budget and evidence.length_budget > max_tokens else ""
        return f"answers reached --max-tokens {max_tokens}{raised}: raise it or lower --window"
    if status == "context_overflow":
        prompt = f"about {evidence.overflow_prompt}" if evidence.overflow_prompt else "some"
        context = f"the model's context {evidence.overflow_context}" if evidence.overflow_context else "the model's context"
        return f"prompts of {prompt} tokens exceed {context}: lower --window or --doc-tokens"
    if status in _PARSE:
        raw = evidence.unparsed
        if raw is None:
            return f"the answers did not parse ({status})"
        shown = raw if len(raw) <= RAW_SHOWN else raw[:RAW_SHOWN] + f"... ({len(raw)} characters)"
        return f"the answers did not parse ({status}); one of them: {shown!r}"
    if status == "content_filter":
        return "the provider's content filter blocked the answers"
    if status == "pending":
        return "the Batch API has not answered these requests yet: rerun with the same --batch-dir to collect them"
    return f"Check the endpoint ({endpoint}) and rerun: answers obtained so far are cached"
