"""A harness that walks the CLI (issue 17, section 7): a new option is covered without a new test.

For every command of ``gbltr`` (found by walking the click tree, sub-groups included) and every
number-valued or file-valued parameter, it applies mutations to a valid baseline invocation:

- numbers: NaN, inf, -1, 0 and a huge value;
- input files (and folders): missing, a directory, empty, binary garbage, non-UTF-8 text, a
  truncated Parquet file;
- outputs: one of the command's own inputs, and an existing foreign file where a folder is to be
  written.

Each run is in-process with ``GBLTR_STOP_AFTER_CHECKS=1`` (:mod:`gbltr.checkpoint`): a command
stops where its checks end, so the whole walk costs seconds. Allowed outcomes:

(a) a non-zero exit with a short error (``error: ...`` or click's usage error), no traceback;
(b) exit 0 at the checkpoint, with a value the option's help documents: a number inside the
    option's declared range (:class:`gbltr.ranges.Number`, shown in ``--help``). No file
    mutation is documented as accepted.

In both cases no file outside the command's own outputs changed (input trees are hashed before
and after). Every number-valued option must carry a declaration (``Number``), and every command
must reach its checkpoint from its baseline (a new command without one fails here).

There is no list of known failures: every case must hold. A refusal counts only when it comes
before the checkpoint, which each command reaches right after reading and checking the files it
names and its outputs (for fit, experiment and ablation: :func:`gbltr.pipeline.read_named_files`,
``--data`` included).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

import click
import pytest

from gbltr.analysis.budget_curves import BUDGET_SHARE, BUDGET_USD
from gbltr.checkpoint import STOP_ENV, STOPPED_LINE
from gbltr.cli import cli
from gbltr.cli.experiment import SEED_COUNT
from gbltr.labels.fusion import WEIGHT_PARAM_RANGES
from gbltr.ranges import Number, Range

from .conftest import TINY

# --- the command tree --------------------------------------------------------------------------


def _walk() -> dict[str, click.Command]:
    ctx = click.Context(cli)
    found: dict[str, click.Command] = {}

    def walk(cmd, path):
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, name), (*path, name))
        else:
            found[" ".join(path)] = cmd

    walk(cli, ())
    return found


COMMANDS = _walk()

OUTPUT_NAMES = {"out", "out_dir", "qrels_out", "cache", "batch_dir", "report_dir"}
"""Parameters that name what a command writes (the rest of the file-valued ones are inputs)."""
NOT_FILES = {("ablation", "groups"), ("rerank", "tag"), ("export", "name")}
"""Parameters whose help mentions a file without naming one."""
_FILEY = re.compile(r"\b(file|folder|parquet|toml|json|qrels)\b", re.I)
VALUE_FORMAT = {("import", "also"): "qrels={}", ("fit", "weight_param"): "alpha={}"}
"""Parameters whose value embeds a path or a number."""
EMBEDDED_NUMBERS = {("fit", "weight_param"): WEIGHT_PARAM_RANGES["alpha"], ("experiment", "seeds"): SEED_COUNT,
                    ("experiment", "budgets"): BUDGET_SHARE, ("experiment", "budgets_usd"): BUDGET_USD}
"""Text parameters that carry a declared number (mutated as numbers, judged by that declaration)."""


def kind_of(command: str, param: click.Parameter) -> str | None:
    """``number``, ``input``, ``output`` or None (not mutated)."""
    if getattr(param, "is_flag", False) or isinstance(param.type, click.Choice):
        return None
    if isinstance(param.type, (Number, click.types.IntParamType, click.types.FloatParamType)):
        return "number"
    if (command, param.name) in EMBEDDED_NUMBERS:
        return "number"
    if (command, param.name) in NOT_FILES:
        return None
    if param.name in OUTPUT_NAMES:
        return "output"
    if isinstance(param.type, click.Path) or _FILEY.search(getattr(param, "help", None) or ""):
        return "input"
    return None


# --- baselines -------------------------------------------------------------------------------------
# Each command's valid invocation on the tiny world, as {parameter name: value}; "{world}",
# "{run}" (a fitted 3-round run), "{out}" (the case's output folder), "{fast}" (a 3-round
# config), "{svm}" (an SVMlight file), "{pairs}" (an annotate pairs file) and "{prices}" (a price table) are filled in.

BASELINES: dict[str, dict[str, object]] = {
    "simulate": {"out": "{out}/w", **{k: str(v) for k, v in TINY.items()}},
    "simulate --over": {"over": "{world}", "out": "{out}/o"},
    "fit": {"data": "{world}", "config_file": "{fast}", "out": "{out}/run"},
    "fit llm": {"data": "{world}", "config_file": "{fast}", "out": "{out}/run", "labels": "llm"},
    "fit schedule": {"data": "{world}", "config_file": "{fast}", "out": "{out}/run", "labels": "fused",
                     "fusion": "schedule", "schedule": "llm-then-click"},
    "fit weights": {"data": "{world}", "config_file": "{fast}", "out": "{out}/run", "labels": "fused",
                    "weight_fn": "sigmoid", "weight_param": ["alpha=1.5"]},
    "compare": {"runs": ["{run}", "{run2}"], "out_dir": "{out}/cmp"},
    "experiment": {"data": "{world}", "config_file": "{fast}", "out": "{out}/exp", "seeds": "1",
                   "setups": "click", "rounds": "3"},
    "experiment usd": {"data": "{world}", "config_file": "{fast}", "out": "{out}/exp", "seeds": "1",
                       "budgets_usd": "0.01", "prices": "{prices}", "price_model": "m", "planners": "random-pairs",
                       "rounds": "3"},
    "ablation": {"data": "{world}", "config_file": "{fast}", "out": "{out}/abl", "labels": "click",
                 "groups": "document", "rounds": "3"},
    "annotate": {"data": "{world}", "model": "m", "dry_run": True, "out": "{out}/labels.parquet"},
    "annotate pairs": {"pairs": "{pairs}", "model": "m", "dry_run": True, "out": "{out}/labels.parquet"},
    "annotate listrank": {"data": "{world}", "model": "m", "dry_run": True, "out": "{out}/labels.parquet",
                          "strategy": "listrank"},
    "clicks fit": {"log_path": "{world}", "out": "{out}/clicks", "models": "pbm"},
    "import": {"format": "svmlight", "src": ["{svm}"], "out": "{out}/imported"},
    "rerank": {"run": "{run}", "data": "{world}", "out": "{out}/rerank.txt"},
    "export": {"run": "{run}", "fmt": "opensearch", "out": "{out}/export", "allow_missing_definitions": True},
    "plan": {"data": "{world}", "budget": "5", "out": "{out}/plan.parquet"},
    "plan usd": {"data": "{world}", "budget_usd": "0.01", "prices": "{prices}", "price_model": "m",
                 "out": "{out}/plan.parquet"},
}
VARIANT = {
    **{("simulate", n): "simulate --over" for n in ("over", "click_matrix", "ranker_noise", "llm_accuracy",
                                                    "llm_labels")},
    ("fit", "llm_labels"): "fit llm",
    ("fit", "schedule"): "fit schedule",
    ("fit", "weight_param"): "fit weights",
    ("annotate", "pairs"): "annotate pairs",
    ("annotate", "stride"): "annotate listrank",
    ("plan", "budget_usd"): "plan usd",
    ("experiment", "budgets_usd"): "experiment usd",
    ("experiment", "prices"): "experiment usd",
    ("plan", "prices"): "plan usd",
}
"""The baseline an option is mutated on when it applies only with other settings."""


def baseline_of(command: str, name: str) -> str:
    return VARIANT.get((command, name), command)


def _command_of(baseline: str) -> str:
    return next(c for c in sorted(COMMANDS, key=len, reverse=True) if baseline == c or baseline.startswith(c + " "))


# --- mutations -------------------------------------------------------------------------------------

NUMBER_MUTATIONS = ("nan", "inf", "-1", "0", "huge")
INPUT_MUTATIONS = ("missing", "directory", "empty", "garbage", "non_utf8", "truncated_parquet")
OUTPUT_MUTATIONS = ("an_input", "existing_file")


def _declared(command: str, param: click.Parameter) -> Range | None:
    if isinstance(param.type, Number):
        return param.type.range
    return EMBEDDED_NUMBERS.get((command, param.name))


def _number_text(mutation: str, command: str, param: click.Parameter) -> str:
    if mutation != "huge":
        return mutation
    declared = _declared(command, param)
    integer = declared.integer if declared else isinstance(param.type, click.types.IntParamType)
    return "1" + "0" * 30 if integer else "1e300"


def _suffix(param: click.Parameter) -> str:
    text = (getattr(param, "help", None) or "") + " " + param.name
    for word, suffix in (("parquet", ".parquet"), ("toml", ".toml"), ("json", ".json"), ("qrels", ".txt"),
                         ("trec", ".txt")):
        if word in text.lower():
            return suffix
    return ""


def _make_input(mutation: str, param: click.Parameter, where: Path, world: Path) -> Path:
    """Create (or not) the mutated input under ``where``; return its path."""
    where.mkdir(parents=True, exist_ok=True)
    path = where / f"bad{'.parquet' if mutation == 'truncated_parquet' else _suffix(param)}"
    if mutation == "directory":
        path.mkdir()
    elif mutation == "empty":
        path.write_bytes(b"")
    elif mutation == "garbage":
        path.write_bytes(bytes(range(256)) * 16)
    elif mutation == "non_utf8":
        path.write_bytes(b"query_id\tdoc_id\tlabel\nq1\td\xff\xfe\xfa1\t2\n")
    elif mutation == "truncated_parquet":
        data = (world / "queries.parquet").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    return path


def _make_output(mutation: str, param: click.Parameter, where: Path, source: Path) -> Path:
    """``an_input``: the command's own input ``source`` (a run folder or the world), or a file in it."""
    if mutation == "an_input":
        file_out = isinstance(param.type, click.Path) and not param.type.dir_okay or "parquet" in (
            getattr(param, "help", None) or "").lower() or param.name in ("qrels_out", "cache")
        return (source / ("config.json" if (source / "config.json").exists() else "queries.parquet")
                if file_out else source)
    where.mkdir(parents=True, exist_ok=True)
    path = where / "foreign"
    path.write_bytes(b"not gbltr's\n")
    return path


def _applies(mutation: str, kind: str, param: click.Parameter) -> bool:
    if kind == "output" and mutation == "existing_file":
        return isinstance(param.type, click.Path) and not param.type.file_okay  # a folder output
    return True


def _cases():
    for command, cmd in sorted(COMMANDS.items()):
        for param in cmd.params:
            kind = kind_of(command, param)
            mutations = {"number": NUMBER_MUTATIONS, "input": INPUT_MUTATIONS, "output": OUTPUT_MUTATIONS}.get(kind, ())
            for mutation in mutations:
                if _applies(mutation, kind, param):
                    yield command, param.name, kind, mutation


def _params():
    for command, name, kind, mutation in _cases():
        yield pytest.param(command, name, kind, mutation, id=f"{command}:{name}:{mutation}")


# --- running and judging ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def places(world, tmp_path_factory):
    """The session's inputs: the tiny world, a fitted 3-round run, a config, an SVMlight file and a
    pairs file, all under one root that every case hashes."""
    from gbltr.cli import main

    root = tmp_path_factory.mktemp("harness")
    shutil.copytree(world, root / "world", ignore=shutil.ignore_patterns("latent"))
    fast = root / "fast.toml"
    fast.write_text("[train]\nrounds = 3\nearly_stopping = 0\nthreads = 1\n")
    (root / "rank.svm").write_text("2 qid:1 1:0.5 2:0.1\n0 qid:1 1:0.2 2:0.3\n1 qid:2 1:0.9 2:0.4\n0 qid:2 1:0.1 2:0.2\n")
    (root / "pairs.tsv").write_text("query_id\tquery\tdoc_id\ttext\nq1\tcheap flights\td1\tflights to rome\n")
    (root / "prices.toml").write_text('[models."m"]\ninput = 0.15\noutput = 0.6\n')
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GBLTR_CACHE", str(root / "cache"))
        mp.delenv(STOP_ENV, raising=False)
        try:
            main(["fit", "--data", str(root / "world"), "--config", str(fast), "--out", str(root / "run")])
        except SystemExit as exc:
            assert not exc.code, f"the harness's baseline run did not train (exit {exc.code})"
    shutil.rmtree(root / "cache", ignore_errors=True)
    shutil.copytree(root / "run", root / "run2")  # compare takes two or more distinct run folders
    return {"world": root / "world", "run": root / "run", "run2": root / "run2", "fast": fast, "svm": root / "rank.svm",
            "pairs": root / "pairs.tsv", "prices": root / "prices.toml", "root": root}


def _fill(value, places, out):
    """A copy of ``value`` (a baseline, a list or a string) with the places filled in."""
    if isinstance(value, dict):
        return {k: _fill(v, places, out) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, places, out) for v in value]
    if isinstance(value, str):
        return value.format(**{k: str(v) for k, v in places.items()}, out=str(out))
    return value


def _argv(command: str, given: dict[str, object]) -> list[str]:
    cmd = COMMANDS[command]
    options, arguments = [], []
    for param in cmd.params:
        if param.name not in given:
            continue
        value = given[param.name]
        if isinstance(param, click.Argument):
            arguments += value if isinstance(value, list) else [value]
        elif value is True:
            options.append(param.opts[0])
        else:
            for v in value if isinstance(value, list) else [value]:
                options += [param.opts[0], str(v)]
    unknown = set(given) - {p.name for p in cmd.params}
    assert not unknown, f"baseline of {command!r} names unknown parameters {sorted(unknown)}"
    return [*command.split(), *options, *arguments]


def _digest(roots: list[Path], skip: list[Path]) -> dict[str, str]:
    """Path -> content hash (or 'dir') of everything under ``roots`` but the ``skip`` paths."""
    skip_r = [p.resolve() for p in skip]
    out = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            d = Path(dirpath)
            if any(d.resolve() == s or s in d.resolve().parents for s in skip_r):
                continue
            for name in filenames:
                p = d / name
                if p.resolve() in skip_r or p.is_symlink():
                    continue
                out[str(p)] = hashlib.sha1(p.read_bytes()).hexdigest()
            for name in dirnames:
                out[str(d / name)] = "dir"
    return out


def run_stopped(argv: list[str], capsys, monkeypatch, tmp_path) -> tuple[int, str, str]:
    """``gbltr ARGV`` in-process, stopping at the checkpoint: (exit code, stdout, stderr).
    An exception that escapes ``gbltr.cli.main`` is a traceback the user would see."""
    from gbltr.cli import main

    monkeypatch.setenv(STOP_ENV, "1")
    monkeypatch.setenv("GBLTR_CACHE", str(tmp_path / "cache"))
    code = 0
    try:
        main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except Exception as exc:  # noqa: BLE001 (that is the finding)
        out, err = capsys.readouterr()
        pytest.fail(f"gbltr {' '.join(argv)}: traceback {type(exc).__name__}: {exc}\n{err[-2000:]}")
    out, err = capsys.readouterr()
    return code, out, err


def is_short_error(err: str) -> bool:
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("gbltr: ")]
    return ("Traceback" not in err and 0 < len(lines) <= 6
            and (lines[-1].startswith("error: ") or lines[-1].startswith("Error: ")))


def _number_documented(command: str, param: click.Parameter, text: str) -> bool:
    """The value is inside the option's declared range (shown in its help)."""
    declared = _declared(command, param)
    if declared is None:
        return False
    try:
        value = int(text) if declared.integer else float(text)
    except ValueError:
        return False
    return declared.contains(value)


@pytest.mark.parametrize("command, name, kind, mutation", list(_params()))
def test_mutation(command, name, kind, mutation, places, tmp_path, capsys, monkeypatch):
    base = baseline_of(command, name)
    param = next(p for p in COMMANDS[command].params if p.name == name)
    out = tmp_path / "out"
    given = _fill(BASELINES[base], places, out)
    if kind == "number":
        value = _number_text(mutation, command, param)
    elif kind == "input":
        value = str(_make_input(mutation, param, tmp_path / "mutated", places["world"]))
    else:
        source = places["run"] if "{run}" in str(BASELINES[base]) else places["world"]
        value = str(_make_output(mutation, param, tmp_path / "mutated", source))
    text, value = value, VALUE_FORMAT.get((command, name), "{}").format(value)
    given[name] = [value] if param.nargs == -1 or getattr(param, "multiple", False) else value
    argv = _argv(command, given)
    outputs = [Path(str(v)) for n, v in given.items()
               if n in OUTPUT_NAMES and not (kind == "output" and n == name)]
    roots = [places["root"], tmp_path / "mutated"]
    before = _digest(roots, outputs)
    code, stdout, err = run_stopped(argv, capsys, monkeypatch, tmp_path)
    after = _digest(roots, outputs)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert not changed, f"gbltr {' '.join(argv)} changed files outside its outputs: {changed[:5]}"
    if code == 0:
        assert STOPPED_LINE in stdout, f"gbltr {' '.join(argv)}: exit 0 without reaching its checkpoint"
        documented = kind == "number" and _number_documented(command, param, text)
        assert documented, (f"gbltr {' '.join(argv)}: exit 0 with --{name.replace('_', '-')} {mutation}, an "
                            "outcome its help does not document; expected a short error before the checkpoint")
    else:
        assert is_short_error(err), f"gbltr {' '.join(argv)}: exit {code} without a short error:\n{err[-3000:]}"


# --- the harness's own guarantees ------------------------------------------------------------------


@pytest.mark.parametrize("baseline", sorted(BASELINES))
def test_every_baseline_reaches_its_checkpoint(baseline, places, tmp_path, capsys, monkeypatch):
    """With valid arguments each command stops at its checkpoint, having written nothing."""
    command = _command_of(baseline)
    out = tmp_path / "out"
    argv = _argv(command, _fill(BASELINES[baseline], places, out))
    before = _digest([places["root"]], [])
    code, stdout, err = run_stopped(argv, capsys, monkeypatch, tmp_path)
    assert code == 0 and f"{STOPPED_LINE}{command}" in stdout, (
        f"gbltr {' '.join(argv)} did not reach gbltr.checkpoint.checkpoint({command!r}): exit {code}\n{err[-2000:]}")
    assert _digest([places["root"]], []) == before
    written = [str(p) for p in out.rglob("*") if not p.is_dir()] if out.exists() else []
    assert not written, f"gbltr {' '.join(argv)} wrote {written} before its checkpoint"  # (parents may be made)


def test_every_command_has_a_baseline():
    """A new command needs a baseline here (and a checkpoint in its code) to be covered."""
    missing = sorted(set(COMMANDS) - {_command_of(b) for b in BASELINES})
    assert not missing, f"commands without a harness baseline: {missing}"


def test_every_number_option_declares_its_range():
    """An int/float option without a gbltr.ranges declaration would accept NaN, inf or -1."""
    bare = [f"{c} --{p.name}" for c, cmd in COMMANDS.items() for p in cmd.params
            if kind_of(c, p) == "number" and _declared(c, p) is None]
    assert not bare, f"numeric options without a declared range (use gbltr.ranges.Number): {bare}"


def test_the_walk_finds_the_known_options():
    """The classification sees what a reader sees (guards against a walk that finds nothing)."""
    kinds = {(c, n): k for c, n, k, _ in _cases()}
    assert kinds[("fit", "rounds")] == "number" and kinds[("annotate", "temperature")] == "number"
    assert kinds[("simulate", "click_matrix")] == "input" and kinds[("rerank", "run_file")] == "input"
    assert kinds[("compare", "runs")] == "input" and kinds[("fit", "out")] == "output"
    assert ("clicks fit", "test_share") in kinds
