"""The simulated world: contract, determinism, the documented mechanisms."""

import json

import numpy as np
import polars as pl
import pytest

from gbltr.data.frequency import BucketSpec, query_stats
from gbltr.data.simulate import WorldParams, control_world, read_world_params, simulate_world, write_world
from gbltr.data.store import read_dataset
from gbltr.errors import ConfigError, DataError

SMALL = WorldParams(queries=600, sessions=20000, test_queries_per_bucket=25, valid_queries_per_bucket=15,
                    min_train_queries_per_bucket=10)


@pytest.fixture(scope="module")
def world():
    return simulate_world(SMALL)


def test_same_seed_same_world(world):
    again, _ = simulate_world(SMALL)
    assert again.impressions.equals(world[0].impressions)
    assert again.documents.equals(world[0].documents)
    other, _ = simulate_world(WorldParams(**{**SMALL.to_json(), "seed": 1, "human_thresholds": SMALL.human_thresholds}))
    assert not other.impressions.equals(world[0].impressions)


def test_every_bucket_has_the_requested_test_and_valid_queries(world):
    ds, _ = world
    stats = query_stats(ds.impressions, ds.queries["query_id"], BucketSpec(SMALL.high_min, SMALL.medium_min))
    counts = ds.queries.join(stats, on="query_id").group_by("bucket", "split").len()
    for bucket in ("high", "medium", "low"):
        for split, n in (("test", 25), ("valid", 15)):
            got = counts.filter((pl.col("bucket") == bucket) & (pl.col("split") == split))["len"]
            assert got.to_list() == [n]


def test_human_labels_only_on_valid_and_test_llm_labels_everywhere(world):
    ds, _ = world
    judged = ds.labels["human"].join(ds.queries, on="query_id")["split"].unique().sort().to_list()
    assert judged == ["test", "valid"]
    assert ds.labels["llm"].height == ds.candidates.height


def test_llm_annotator_is_lenient_and_blind_to_authority(world):
    ds, latent = world
    pairs = latent["pairs"].join(ds.labels["llm"], on=["query_id", "doc_id"]).join(
        ds.labels["human"].rename({"label": "human"}).drop("source"), on=["query_id", "doc_id"])
    # fewer zeros than the human judges on the same pairs
    assert (pairs["label"] == 0).sum() < (pairs["human"] == 0).sum()
    # LLM labels follow match; authority adds nothing once match is known (partial correlation ~ 0)
    resid = pairs["label"].to_numpy() - np.polyval(np.polyfit(pairs["match"], pairs["label"], 1), pairs["match"])
    assert abs(np.corrcoef(resid, pairs["authority"])[0, 1]) < 0.05
    hres = pairs["human"].to_numpy() - np.polyval(np.polyfit(pairs["match"], pairs["human"], 1), pairs["match"])
    assert np.corrcoef(hres, pairs["authority"])[0, 1] > 0.15


def test_intent_depends_on_frequency_except_in_the_control_world(world):
    def nav_share_by_half(latent):
        q = latent["queries"].sort("popularity")
        half = q.height // 2
        nav = (q["intent"] == "navigational").to_numpy()
        return nav[:half].mean(), nav[half:].mean()

    lo, hi = nav_share_by_half(world[1])
    assert hi - lo > 0.25
    _, control = simulate_world(control_world(SMALL))
    lo, hi = nav_share_by_half(control)
    assert abs(hi - lo) < 0.1


def test_clicks_are_position_biased(world):
    ctr = world[0].impressions.group_by("position").agg(pl.col("clicked").mean()).sort("position")["clicked"]
    assert ctr[0] > 2 * ctr[4] > 0


def test_write_and_read_back(tmp_path):
    folder = write_world(SMALL, tmp_path / "w")
    ds = read_dataset(folder)
    assert read_world_params(folder) == SMALL
    assert json.loads((folder / "world.json").read_text())["queries"] == 600
    assert (folder / "latent" / "pairs.parquet").exists()
    assert ds.impressions.height > 0


def test_too_few_queries_for_the_buckets_is_a_clear_error():
    with pytest.raises(DataError, match="high-frequency queries; expected at least"):
        simulate_world(WorldParams(queries=100, sessions=500))


def test_invalid_parameter_names_the_range():
    with pytest.raises(ConfigError, match="candidates_min"):
        WorldParams(candidates_min=1)
    with pytest.raises(ConfigError, match="unknown world parameter"):
        WorldParams.from_json({"queriez": 5})


def test_join_texts_matches_a_per_document_python_join():
    """The numba text writer equals sorting each document's tokens by key and joining them."""
    import numpy as np

    from gbltr.data.simulate.text import _join_texts

    rng = np.random.default_rng(3)
    nd = 57
    vocab = [f"t{i}" for i in range(30)] + ["t1 t2 t3", "t4"]
    pieces = []
    for lo, hi in ((1, 6), (0, 3), (0, 2)):
        counts = rng.integers(lo, hi, nd)
        pieces.append((counts, rng.integers(0, len(vocab), counts.sum()), rng.random(counts.sum())))
    got = _join_texts(pieces, vocab, nd).to_list()
    want = []
    starts = [0, 0, 0]
    for i in range(nd):
        toks = []
        for p, (counts, tok, key) in enumerate(pieces):
            a, c = starts[p], counts[i]
            toks += list(zip(key[a:a + c], tok[a:a + c]))
            starts[p] = a + c
        want.append(" ".join(vocab[t] for _, t in sorted(toks)))
    assert got == want
