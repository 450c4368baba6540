"""One declaration per number (issue 17, section 2).

Every numeric config key declares its range once (:mod:`gbltr.ranges`); the config loader and
the CLI enforce that same declaration. NaN and inf are refused wherever no key documents a
meaning for them, and a key given the wrong type is an error, never ``str()`` of it.
"""

from __future__ import annotations

import dataclasses
import math
import typing

import pytest

from gbltr.config import FitConfig, dotted, load_config
from gbltr.errors import ConfigError
from gbltr.labels.llm.config import AnnotateConfig, load_annotate_config
from gbltr.ranges import RANGE, Number, Range

from .conftest import TINY, run_cli

TINY_FLAGS = [x for k, v in TINY.items() for x in (f"--{k.replace('_', '-')}", str(v))]


def _no_work(monkeypatch):
    """Make any work that starts fail the test: a refusal must come first."""
    # the modules that bind ``prepare`` by name are imported first, so no one keeps the stand-in
    import gbltr.analysis.ablation
    import gbltr.data.simulate
    import gbltr.data.simulate.over
    import gbltr.experiment
    import gbltr.pipeline
    import gbltr.train.fit

    def no_work(*a, **k):
        raise AssertionError("work started before the numbers were checked")

    for mod, name in ((gbltr.pipeline, "prepare"), (gbltr.train.fit, "prepare"), (gbltr.experiment, "prepare"),
                      (gbltr.analysis.ablation, "prepare"), (gbltr.pipeline, "builtin_world"),
                      (gbltr.data.simulate, "simulate_world"), (gbltr.data.simulate.over, "simulate_over")):
        monkeypatch.setattr(mod, name, no_work)


# --- cases seen (each passed with exit 0 before) -------------------------------------------------

@pytest.mark.parametrize("flag", ["--judge-noise", "--llm-noise", "--click-noise", "--session-noise",
                                  "--retrieval-noise", "--click-bias", "--intent-bias", "--brand-bias",
                                  "--llm-leniency"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_simulate_refuses_nan_and_inf_world_parameters(tmp_path, capsys, flag, value):
    """NaN noise, bias or leniency built a degenerate world with exit 0 (every human label 4, or
    CTR 0), on which a fit reported nDCG 1.0."""
    code, out, err = run_cli(["simulate", "--out", str(tmp_path / "w"), *TINY_FLAGS, flag, value], capsys)
    assert code == 2, (out, err)
    assert f"Invalid value for '{flag}'" in err and "expected a finite number" in err
    assert "Traceback" not in err
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("key", ["judge_noise", "llm_noise", "click_bias", "llm_leniency", "intent_coupling"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_world_section_of_a_config_refuses_nan_and_inf(tmp_path, capsys, monkeypatch, key, value):
    """The same parameters in a config's ``[world]`` table, through ``gbltr fit``."""
    _no_work(monkeypatch)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[world]\n{key} = {value}\n")
    code, out, err = run_cli(["fit", "--config", str(cfg), "--out", str(tmp_path / "run")], capsys)
    assert code == 2, (out, err)
    assert f"error: world.{key}={float(value)!r}; expected a finite number" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("value, expected", [("-1", ">= 0"), ("inf", ">= 0"), ("nan", ">= 0")])
def test_simulate_over_refuses_a_bad_ranker_noise(world, tmp_path, capsys, monkeypatch, value, expected):
    _no_work(monkeypatch)
    code, out, err = run_cli(["simulate", "--over", str(world), "--out", str(tmp_path / "o"),
                              "--ranker-noise", value], capsys)
    assert code == 2, (out, err)
    assert "Invalid value for '--ranker-noise'" in err and expected in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("flag", ["--title-length", "--body-length"])
def test_simulate_refuses_negative_text_lengths(tmp_path, capsys, flag):
    code, out, err = run_cli(["simulate", "--out", str(tmp_path / "w"), *TINY_FLAGS, flag, "-3"], capsys)
    assert code == 2, (out, err)
    assert f"Invalid value for '{flag}'" in err and "expected a finite number >= 0" in err
    assert "Traceback" not in err and not (tmp_path / "w").exists()


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "3"])
def test_annotate_refuses_a_bad_temperature(world, tmp_path, capsys, value):
    code, out, err = run_cli(["annotate", "--data", str(world), "--model", "m", "--dry-run",
                              "--out", str(tmp_path / "l.parquet"), "--temperature", value], capsys)
    assert code == 2, (out, err)
    assert "Invalid value for '--temperature'" in err and "expected a finite number in [0, 2]" in err


def test_annotate_config_refuses_nan_temperature(tmp_path):
    cfg = tmp_path / "a.toml"
    cfg.write_text("data = 'd'\nout = 'o.parquet'\n[client]\nmodel = 'm'\ntemperature = nan\n")
    with pytest.raises(ConfigError, match=r"client.temperature=nan; expected a finite number in \[0, 2\]"):
        load_annotate_config(cfg)


@pytest.mark.parametrize("text, message", [
    ("out = true\n", "out: expected a string, found true (a boolean)"),
    ("out = ['x']\n", 'out: expected a string, found ["x"] (a list)'),
    ("data = 3\n", "data: expected a string, found 3 (an integer)"),
    ("[features]\ncatalogue = {a = 1}\n", "features.catalogue: expected a string, found"),
    ("[train]\nrounds = '30'\n", 'train.rounds: expected an integer, found "30" (a string)'),
    ("[click]\ndebias = 'maybe'\n", 'click.debias: expected true or false, found "maybe" (a string)'),
    ("[click]\nips_weights = 1.5\n", "click.ips_weights: expected true or false, found 1.5 (a number)"),
])
def test_a_key_of_the_wrong_type_is_an_error_not_its_str(tmp_path, capsys, monkeypatch, text, message):
    """``out = true`` wrote a run folder named ``True``, ``out = ["x"]`` one named ``['x']``."""
    _no_work(monkeypatch)
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    code, out, err = run_cli(["fit", "--config", str(cfg)], capsys)
    assert code == 2, (out, err)
    assert f"error: {message}" in err
    assert not (tmp_path / "True").exists() and not (tmp_path / "['x']").exists()


@pytest.mark.parametrize("text, message", [
    ("[features]\nbm25_k1 = nan\n", "features.bm25_k1=nan; expected a finite number >= 0"),
    ("[features]\nbm25_b = 2\n", "features.bm25_b=2.0; expected a finite number in [0, 1]"),
    ("[features]\nlm_lambda = -0.5\n", "features.lm_lambda=-0.5; expected a finite number in [0, 1]"),
    ("[features]\nlm_mu = 0\n", "features.lm_mu=0.0; expected a finite number > 0"),
    ("[click]\nthresholds = [0.1, nan, 0.3, 0.5]\n", "click.thresholds=[0.1, nan, 0.3, 0.5]; expected each value"),
    ("[click]\nem_tolerance = inf\n", "click.em_tolerance=inf; expected a finite number > 0"),
    ("[click.priors]\nchoice = 'fixed'\nattractiveness = [1, nan]\n",
     "click.priors.attractiveness=[1.0, nan]; expected two pseudo-counts, each a finite number >= 0"),
    ("labels = 'fused'\n[fusion]\nclick_gain = [0, 1, nan, 7, 15]\n", "fusion.click_gain=[0.0, 1.0, nan, 7.0, 15.0]"),
    ("labels = 'fused'\n[fusion]\nllm_scale = inf\n", "fusion.llm_scale=inf; expected a finite number >= 0"),
    ("labels = 'fused'\n[fusion]\nweight_fn = 'log'\nweight_params = {f_max = inf}\n",
     "weight function 'log': f_max=inf; expected a finite number > 0"),
    ("labels = 'fused'\n[fusion]\nweight_fn = 'log'\nweight_params = {f_max = nan}\n", "f_max=nan"),
    ("labels = 'fused'\n[fusion]\nweight_fn = 'sigmoid'\nweight_params = {alpha = 1.0, beta = nan}\n",
     "beta=nan; expected a finite number"),
    ("[buckets]\nquantiles = [0.5, nan]\n", "buckets.quantiles=[0.5, nan]; expected each value"),
    ("[eval]\nks = [1, 0]\n", "eval.ks=[1, 0]; expected each value an integer"),
])
def test_config_keys_without_a_range_before_now_have_one(tmp_path, text, message):
    """Keys that had no check (BM25/LM parameters) or let NaN through a comparison."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert message in str(err.value)


# --- the declarations themselves -----------------------------------------------------------------

def _numeric(hint) -> bool:
    """int or float, optional, or a tuple of them."""
    args = [a for a in typing.get_args(hint) if a is not type(None) and a is not Ellipsis]
    if typing.get_origin(hint) in (typing.Union, tuple) or type(hint).__name__ == "UnionType":
        return any(_numeric(a) for a in args)
    return hint in (int, float)


def _declared_fields(cls, prefix=""):
    """(key, field, hint) of every field of the config tree under ``cls``."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(hints[f.name]):
            yield from _declared_fields(hints[f.name], key + ".")
        else:
            yield key, f, hints[f.name]


CONFIGS = {"fit": FitConfig, "annotate": AnnotateConfig}


@pytest.mark.parametrize("command", sorted(CONFIGS))
def test_every_numeric_config_key_declares_its_range(command):
    """A number added to a config without a declaration fails here (no case-by-case checks)."""
    missing = [key for key, f, hint in _declared_fields(CONFIGS[command])
               if _numeric(hint) and key not in ("strategy.scale", "world.human_thresholds")
               and RANGE not in f.metadata]
    # the scale is a pair of labels.
    assert not missing, f"numeric config keys without a gbltr.ranges declaration: {missing}"


def _load(command, key, value):
    if command == "fit":
        extra = {"labels": "fused"} if key.startswith("fusion.") else {}
        return load_config(None, {**extra, **dotted({key: value})})
    base = {"data": "d", "out": "o.parquet", "client": {"model": "m"}}
    over = dotted({key: value})
    merged = {**base, **{k: ({**base[k], **v} if isinstance(v, dict) and k in base else v) for k, v in over.items()}}
    return load_annotate_config(None, merged)


CASES = [(command, key, f.metadata[RANGE], isinstance(f.default, tuple))
         for command, cls in CONFIGS.items() for key, f, hint in _declared_fields(cls) if RANGE in f.metadata]


@pytest.mark.parametrize("command, key, declared, is_tuple", CASES, ids=[f"{c}:{k}" for c, k, _, _ in CASES])
def test_the_config_loader_enforces_each_declaration(command, key, declared, is_tuple):
    """NaN, inf, -1, 0 and a huge value: refused exactly when the declaration refuses them."""
    for value in (math.nan, math.inf, -math.inf, -1, 0, 10**30, 1e300):
        value = value if not declared.integer or isinstance(value, int) or not math.isfinite(value) else int(value)
        given = [value, value, value, value] if is_tuple else value
        if declared.contains(value):
            try:
                _load(command, key, given)
            except ConfigError as exc:  # a cross-field rule may still refuse it, with a message
                assert key.rpartition(".")[2] in str(exc) or "expected" in str(exc)
        else:
            with pytest.raises(ConfigError, match="expected"):
                _load(command, key, given)


def test_an_option_that_sets_a_config_key_uses_the_keys_declaration():
    """One place: ``--rounds`` is ``train.rounds``'s declaration, not a copy of it."""
    import click

    from gbltr.cli import cli
    from gbltr.data.world import WorldParams

    ctx = click.Context(cli)
    keyed = {}
    for name in cli.list_commands(ctx):
        cmd = cli.get_command(ctx, name)
        for sub in (cmd.commands.values() if isinstance(cmd, click.Group) else [cmd]):
            for p in sub.params:
                if isinstance(p.type, Number) and p.type.key:
                    keyed[(name, p.name)] = p.type
    assert keyed, "no option declares its config key"
    ranges = {}
    from gbltr.labels.budget.run import PlanRequest

    for cls, prefix in ((FitConfig, ""), (AnnotateConfig, ""), (WorldParams, "world."), (PlanRequest, "plan.")):
        for key, f, _ in _declared_fields(cls, prefix):
            if RANGE in f.metadata:
                ranges.setdefault(key, f.metadata[RANGE])
    from gbltr.data.simulate.over import OverParams
    for f in dataclasses.fields(OverParams):
        if RANGE in f.metadata:
            ranges.setdefault(f.name, f.metadata[RANGE])
    for (command, option), kind in keyed.items():
        assert kind.key in ranges, f"{command} --{option}: unknown config key {kind.key}"
        assert kind.range is ranges[kind.key], f"{command} --{option} copies the range of {kind.key}"


def test_range_words():
    assert Range(integer=True, low=1).describe() == "an integer >= 1"
    assert Range(low=0.0, high=1.0, low_open=True).describe() == "a finite number in (0, 1]"
    assert not Range().contains(math.nan) and not Range().contains(math.inf) and not Range().contains(True)
    assert Range(low=0.0, inf="no limit").contains(math.inf) and not Range(low=0.0, inf="no limit").contains(-math.inf)
    assert not Range(integer=True).contains(2.0)


@pytest.mark.parametrize("seeds, message", [
    ("1000000000000", "--seeds=1000000000000; expected an integer in [1, 10000]"),
    ("0", "--seeds=0; expected an integer in [1, 10000]"),
    ("3,99999999999", "--seeds seed=99999999999; expected an integer in [0, 2**32 - 1]"),
    ("nan", "expected a number of seeds (5) or a list of seeds"),
])
def test_experiment_seeds_are_declared_numbers(tmp_path, capsys, monkeypatch, seeds, message):
    """``--seeds 1000000000000`` built a list of 10**12 seeds (memory) before any check."""
    _no_work(monkeypatch)
    code, out, err = run_cli(["experiment", "--seeds", seeds, "--out", str(tmp_path / "e")], capsys)
    assert code == 2, (out, err)
    assert message in err


def test_a_schedule_stage_declares_its_numbers(tmp_path):
    """A stage's early_stopping of -1 was accepted; its rounds and early stopping are declared."""
    from gbltr.train.fused import load_schedule

    path = tmp_path / "s.toml"
    path.write_text("[[stage]]\nsource = 'llm'\nrounds = 5\nearly_stopping = -1\n")
    with pytest.raises(ConfigError, match=r"stage.early_stopping=-1; expected an integer in \[0, 2\*\*31 - 1\]"):
        load_schedule(str(path))


# --- the CLI and the config loader agree, on generated numbers ------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

GENERATED = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 0.0, 1.0, 0.5, 1e-300, -0.0, 2.0, 2.5]),
)

# (command line before the value, option, config section/key, loader of a {key: value} override)
AGREE = [
    (["fit", "--out", "{tmp}/r"], "--rounds", "train.rounds"),
    (["fit", "--out", "{tmp}/r"], "--workers", "train.workers"),
    (["fit", "--out", "{tmp}/r"], "--seed", "seed"),
    (["simulate", "--out", "{tmp}/w"], "--judge-noise", "world.judge_noise"),
    (["simulate", "--out", "{tmp}/w"], "--authority-weight-nav", "world.authority_weight_nav"),
    (["simulate", "--out", "{tmp}/w"], "--frequency-range", "world.frequency_range"),
    (["simulate", "--out", "{tmp}/w"], "--candidates-min", "world.candidates_min"),
    (["annotate", "--data", "{world}", "--model", "m", "--dry-run"], "--temperature", "client.temperature"),
    (["annotate", "--data", "{world}", "--model", "m", "--dry-run"], "--stride", "strategy.stride"),
    (["annotate", "--data", "{world}", "--model", "m", "--dry-run"], "--poll-s", "poll_s"),
]


def _cli_accepts(argv, capsys, monkeypatch) -> bool:
    from gbltr.checkpoint import STOP_ENV, STOPPED_LINE

    monkeypatch.setenv(STOP_ENV, "1")
    code, out, err = run_cli(argv, capsys)
    assert code == 0 or ("Traceback" not in err and ("error: " in err or "Error: " in err)), err
    return code == 0 and STOPPED_LINE in out


def _config_accepts(command, key, value) -> bool:
    try:
        _load("annotate" if command == "annotate" else "fit", key, value)
    except ConfigError:
        return False
    return True


@pytest.mark.parametrize("prefix, option, key", AGREE, ids=[o for _, o, _ in AGREE])
def test_the_cli_and_the_config_loader_agree(prefix, option, key, world, tmp_path, capsys, monkeypatch):
    """One declaration, two doors: a value the flag accepts is one the config key accepts."""

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(value=GENERATED)
    def check(value):
        text = repr(value) if isinstance(value, float) else str(value)
        argv = [a.format(tmp=tmp_path, world=world) for a in prefix] + [option, text]
        cli = _cli_accepts(argv, capsys, monkeypatch)
        # a whole float on the command line ("3.0") is refused for a count, as a float in a config is
        config = _config_accepts(prefix[0], key, value)
        assert cli == config, f"{option} {text}: the CLI {'accepts' if cli else 'refuses'} it, {key} does not agree"

    check()
