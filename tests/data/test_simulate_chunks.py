"""Simulation in chunks (issue 13: x10 world under 2 GB): the same world whatever the chunking.

Text is drawn and rendered a chunk of documents at a time from generator copies placed at the
old one-pass stream offsets (``_ahead``), and ``write_world`` writes impressions a chunk of
sessions at a time (``write_dataset(impression_chunks=...)``). Both must leave the world exactly
as the one-pass, whole-table code wrote it.
"""

import hashlib
import json

import numpy as np
import polars as pl
import pytest

from gbltr.data.simulate import WorldParams, simulate_world, write_world
from gbltr.data.simulate import build, chunking, documents, ids, laws, resolution, sessions, text
from gbltr.data.store import SearchDataset, read_dataset, write_dataset
from gbltr.errors import SchemaError

TINY = WorldParams(queries=240, sessions=12000, test_queries_per_bucket=8, valid_queries_per_bucket=6,
                   min_train_queries_per_bucket=5, vocab_size=800, topics=8, candidates_min=6,
                   candidates_max=10)

#: (rows, sha256 of ``write_csv()``, first 16 hex) of every table of the TINY world (seed 0), as
#: written by main at e7c39a7 with the stored resolution of issue 17 (``simulate.resolution.stored``: dwell
#: times to the millisecond, other floats to 6 decimals), Polars 2.1, numpy 2.4, on an AVX2
#: machine. Exact on every CPU: the stored values are rounded, and
#: ``test_last_bit_differences_do_not_reach_the_stored_world`` checks that no value of this world
#: lies within one ulp of a rounding boundary. A Polars upgrade that changes CSV number formatting
#: would need them recomputed; ``benchmarks/bench_simulate.py --baseline`` compares two trees.
GOLDEN_TINY = {
    "candidates.parquet": (1918, "620c84e4e9d8ce3e"),
    "documents.parquet": (1918, "ea21da9582239ea5"),
    "impressions.parquet": (92251, "600262313004d871"),
    "labels/human.parquet": (334, "684d3ba63b1a189b"),
    "labels/llm.parquet": (1918, "fc37cde9018b7ced"),
    "latent/pairs.parquet": (1918, "5984029f45df5649"),
    "latent/queries.parquet": (240, "c59cdde9368726a1"),
    "queries.parquet": (240, "196f14fd77faf7b8"),
}


def _digests(folder):
    out = {}
    for f in sorted(folder.rglob("*.parquet")):
        df = pl.read_parquet(f)
        out[str(f.relative_to(folder))] = (df.height, hashlib.sha256(df.write_csv().encode()).hexdigest()[:16])
    return out


@pytest.fixture(scope="module")
def one_pass_world(tmp_path_factory):
    """The TINY world written with the default chunk sizes (one chunk of each here)."""
    return write_world(TINY, tmp_path_factory.mktemp("onepass") / "w")


def test_one_pass_world_equals_its_golden_tables(one_pass_world):
    assert _digests(one_pass_world) == GOLDEN_TINY
    manifest = json.loads((one_pass_world / "dataset.json").read_text())
    assert manifest["tables"] == {"candidates": 1918, "documents": 1918, "impressions": 92251, "queries": 240}
    assert manifest["labels"] == {"human": 334, "llm": 1918}


@pytest.mark.parametrize("doc_chunk,frame_sessions", [
    (7, 997),           # boundaries inside queries' documents and inside a pass of sessions
    (333, 250),         # 48 written chunks
])
def test_chunked_world_equals_the_one_pass_world(tmp_path, monkeypatch, one_pass_world, doc_chunk, frame_sessions):
    """Two code paths compared in one run (not against a golden): exact on any CPU."""
    monkeypatch.setattr(chunking, "_DOC_CHUNK", doc_chunk)
    monkeypatch.setattr(chunking, "_FRAME_SESSIONS", frame_sessions)
    folder = write_world(TINY, tmp_path / "w")
    assert _digests(folder) == _digests(one_pass_world)
    assert (folder / "dataset.json").read_text() == (one_pass_world / "dataset.json").read_text()


def test_last_bit_differences_do_not_reach_the_stored_world(monkeypatch):
    """Every float the simulator stores goes through ``stored``; a value one ulp up or down (what
    another CPU's exp/log kernel may give) rounds to the same stored value for this whole world,
    so the golden digests and the dataset fingerprint hold on AVX2, AVX-512 and ARM alike."""
    seen = []
    real = resolution.stored

    def spy(values, decimals=resolution.FLOAT_DECIMALS):
        seen.append((np.asarray(values, dtype=np.float64).copy(), decimals))
        return real(values, decimals)

    monkeypatch.setattr(resolution, "stored", spy)
    world, _ = simulate_world(TINY)
    assert world.impressions["dwell_time"].drop_nulls().len() > 1000
    assert {d for _, d in seen} == {resolution.DWELL_DECIMALS, resolution.FLOAT_DECIMALS}
    n = 0
    for values, decimals in seen:
        finite = values[np.isfinite(values)]
        n += finite.size
        for direction in (-np.inf, np.inf):
            np.testing.assert_array_equal(real(np.nextafter(finite, direction), decimals), real(finite, decimals))
    assert n > 20_000
    # and the stored dwell times are whole milliseconds
    dwell = world.impressions["dwell_time"].drop_nulls().to_numpy()
    np.testing.assert_array_equal(np.round(dwell * 1000) / 1000, dwell)


def test_stored_rounds_to_the_declared_resolution():
    x = np.array([1.23456789, 2.0004999, np.nan, -0.0000004])
    np.testing.assert_array_equal(resolution.stored(x), [1.234568, 2.0005, np.nan, -0.0])
    np.testing.assert_array_equal(resolution.stored(x, resolution.DWELL_DECIMALS), [1.235, 2.0, np.nan, -0.0])


def test_texts_rendered_one_document_at_a_time_equal_one_chunk(monkeypatch):
    rng = np.random.default_rng(2)
    topic_terms = np.stack([rng.permutation(60) for _ in range(4)])
    cdf = laws._zipf_cdf(60, 1.0)
    nd = 23
    topics, counts = rng.integers(0, 3, nd), rng.integers(1, 6, nd)
    extra_counts = rng.integers(0, 3, nd)
    extra = [(extra_counts, rng.integers(0, 60, extra_counts.sum()), rng.random(extra_counts.sum()))]
    vocab = [f"t{i}" for i in range(60)]
    texts = []
    for chunk in (10**6, 1, 4):
        monkeypatch.setattr(chunking, "_DOC_CHUNK", chunk)
        filler = text._Filler(np.random.default_rng(9), topic_terms, cdf, topics, counts, 0.2)
        texts.append(text._render_field(filler, extra, vocab, nd).to_list())
    assert texts[0] == texts[1] == texts[2]
    assert len(texts[0]) == nd and all(len(t.split(" ")) == c + e for t, c, e in zip(texts[0], counts, extra_counts))


def test_log_frames_split_anywhere_equal_one_pass_tables(monkeypatch):
    """Frames of 1, 4 or all sessions vs an independent one-pass build of the same table."""
    rng = np.random.default_rng(8)
    ns, nq, nd = 30, 5, 12
    sq = rng.integers(0, nq, ns).astype(np.int32)
    shown = rng.integers(0, 4, ns).astype(np.int8)  # sessions with nothing shown included
    n = int(shown.sum())
    doc = rng.integers(0, nd, n).astype(np.int32)
    click = rng.random(n) < 0.4
    pos = np.concatenate([np.arange(1, k + 1) for k in shown]).astype(np.int8)
    utility = rng.random(nd)
    qid, did = ids._ids("q", nq, 5), ids._ids("d", nd, 7)
    ref = np.random.default_rng(99)
    want = pl.DataFrame({
        "session_id": [f"s{7 + i:08d}" for i in range(ns) for _ in range(shown[i])],
        "query_id": [f"q{sq[i]:05d}" for i in range(ns) for _ in range(shown[i])],
        "position": pl.Series(pos.astype(np.int32)),
        "doc_id": [f"d{x:07d}" for x in doc],
        "clicked": click,
        "dwell_time": pl.Series(np.where(click, np.round(ref.lognormal(3.0 + 2.0 * utility[doc], 0.8), 3),
                                         np.nan)).fill_nan(None),  # stored to the millisecond
    })
    for size in (1, 4, 10**6):
        monkeypatch.setattr(chunking, "_FRAME_SESSIONS", size)
        chunks = [(7, sq[:20], shown[:20], doc[: shown[:20].sum()], click[: shown[:20].sum()], pos[: shown[:20].sum()]),
                  (27, sq[20:], shown[20:], doc[shown[:20].sum():], click[shown[:20].sum():], pos[shown[:20].sum():])]
        log = sessions._Log(chunks, np.random.default_rng(99), utility, qid, did, ns)
        frames = list(log.frames())
        assert len(frames) == {1: ns, 4: 5 + 3, 10**6: 2}[size]  # frames stay within a pass
        assert pl.concat(frames).equals(want)


def test_written_world_equals_the_in_memory_world(tmp_path, monkeypatch):
    monkeypatch.setattr(chunking, "_FRAME_SESSIONS", 1000)  # 12 written chunks
    ds, latent = simulate_world(TINY)
    back = read_dataset(write_world(TINY, tmp_path / "w"))
    for name in ("queries", "documents", "candidates", "impressions"):
        assert getattr(back, name).equals(getattr(ds, name)), name
    assert back.labels["llm"].equals(ds.labels["llm"])
    assert pl.read_parquet(tmp_path / "w" / "latent" / "pairs.parquet").equals(latent["pairs"])


def test_generator_ahead_gives_the_doubles_after_k_draws():
    rng = np.random.default_rng(5)
    rng.integers(0, 10, 3, dtype=np.int32)  # leaves a buffered 32-bit half in PCG64
    assert rng.bit_generator.state["has_uint32"] == 1
    ahead = chunking._ahead(rng, 1000)
    skipped = chunking._ahead(rng, 0)
    chunking._skip(skipped, 1000)
    x = rng.random(1500)
    assert np.array_equal(ahead.random(500), x[1000:])
    assert np.array_equal(skipped.random(500), x[1000:])
    # the buffered half survives: the next 32-bit draws agree with a generator that really drew
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    a.integers(0, 10, 3, dtype=np.int32)
    b.integers(0, 10, 3, dtype=np.int32)
    c = chunking._ahead(a, 0)
    assert np.array_equal(c.integers(0, 10, 9, dtype=np.int32), b.integers(0, 10, 9, dtype=np.int32))


def test_filler_tokens_in_chunks_equal_one_pass_draws():
    """Independent reference: the old one-pass order (all ranks, all sides, all keys)."""
    rng = np.random.default_rng(11)
    topic_terms = np.stack([rng.permutation(50) for _ in range(4)])
    cdf = laws._zipf_cdf(50, 1.1)
    topics = rng.integers(0, 3, 40)
    counts = rng.integers(1, 9, 40)
    ref = np.random.default_rng(1)
    n = int(counts.sum())
    r = np.minimum(np.searchsorted(cdf, ref.random(n)), 49)
    side = ref.random(n) >= 0.3
    tt = np.repeat(topics, counts)
    want_tok = np.where(side, topic_terms[tt, r], topic_terms[-1, r])
    want_key = ref.random(n)
    after = ref.random(5)
    got = np.random.default_rng(1)
    filler = text._Filler(got, topic_terms, cdf, topics, counts, 0.3)
    assert np.array_equal(got.random(5), after)  # the caller's generator skipped all 3n draws
    parts = [filler.draw(lo, min(lo + 6, 40)) for lo in range(0, 40, 6)]
    assert np.array_equal(np.concatenate([c for c, _, _ in parts]), counts)
    assert np.array_equal(np.concatenate([t for _, t, _ in parts]), want_tok)
    assert np.array_equal(np.concatenate([k for _, _, k in parts]), want_key)


def test_urls_equal_one_scalar_draw_per_path_part():
    rng, ref = np.random.default_rng(4), np.random.default_rng(4)
    depth = np.array([0, 3, 1, 0, 2, 5, 0])
    domain = np.array([1, 0, 2, 2, 1, 0, 1])
    names = np.array(["a.example", "b.example", "c.example"], dtype=object)
    got = documents._urls(rng, names, domain, depth).to_list()
    want = [f"https://{names[dm]}/" + "/".join(f"p{ref.integers(0, 10_000)}" for _ in range(k))
            for dm, k in zip(domain, depth)]
    assert got == want
    assert rng.random() == ref.random()


def _world_without_impressions():
    tables, _, log = build._simulate(TINY)
    return SearchDataset(**tables), log


def _frames(rows):
    """Hand-made impression frames over known ids: ``rows`` = [(session, position), ...] per frame."""
    return [pl.DataFrame({"session_id": [s for s, _ in f], "query_id": ["q00000"] * len(f),
                          "position": pl.Series([p for _, p in f], dtype=pl.Int32),
                          "doc_id": ["d0000000"] * len(f), "clicked": [False] * len(f)}) for f in rows]


def test_impression_chunks_are_checked_like_a_whole_log(tmp_path):
    ds, _ = _world_without_impressions()
    # a session split over two chunks is fine while its positions differ
    out = write_dataset(ds, tmp_path / "ok", impression_chunks=_frames([[("s1", 1), ("s1", 2)], [("s1", 3)], []]))
    assert read_dataset(out).impressions["position"].to_list() == [1, 2, 3]
    assert json.loads((out / "dataset.json").read_text())["tables"]["impressions"] == 3
    # ... but a key repeated across chunks is the whole-table error, found on the written file
    with pytest.raises(SchemaError, match=r"1 duplicate key\(s\) on \['session_id', 'position'\]"):
        write_dataset(ds, tmp_path / "dup", impression_chunks=_frames([[("s1", 1)], [("s2", 1), ("s1", 1)]]))
    assert not (tmp_path / "dup").exists()  # nothing half-written is left behind
    bad = _frames([[("s1", 1)], [("s2", 1)]])
    bad[1] = bad[1].with_columns(doc_id=pl.lit("d9999999"))
    with pytest.raises(SchemaError, match=r"impressions rows 1\.\.1: 1 doc_id\(s\) not in the documents table"):
        write_dataset(ds, tmp_path / "ids", impression_chunks=bad)
    other = _frames([[("s1", 1)], [("s2", 1)]])
    other[1] = other[1].with_columns(dwell_time=pl.lit(1.0))
    with pytest.raises(SchemaError, match="expected those of the first chunk"):
        write_dataset(ds, tmp_path / "cols", impression_chunks=other)
    with pytest.raises(SchemaError, match="position outside"):
        write_dataset(ds, tmp_path / "pos", impression_chunks=_frames([[("s1", 0)]]))


def test_no_impression_chunks_writes_an_empty_log(tmp_path):
    ds, _ = _world_without_impressions()
    out = write_dataset(ds, tmp_path / "empty", impression_chunks=iter([]))
    back = read_dataset(out)
    assert back.impressions.height == 0
    assert {"session_id", "query_id", "position", "doc_id", "clicked"} <= set(back.impressions.columns)


def test_impressions_in_the_dataset_and_as_chunks_is_refused(tmp_path):
    ds = simulate_world(TINY)[0]
    assert isinstance(ds, SearchDataset) and ds.impressions is not None
    with pytest.raises(Exception, match="either in the dataset or as chunks"):
        write_dataset(ds, tmp_path / "x", impression_chunks=[])
