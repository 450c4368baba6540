"""One Dask worker dies while the other waits in LightGBM's collective (its socket allreduce).

tests/train/test_dask.py kills every worker at once (XGBoost). Here only the first worker to
compute a gradient ends its process; the survivor goes on to build its histograms and waits for
the dead peer inside LightGBM's network. The fit must fail with a DeviceError, and no run folder
(nor its temporary sibling) may be left.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

from gbltr.config import load_config
from gbltr.errors import DeviceError

pytest.importorskip("distributed")

TINY = Path(__file__).resolve().parents[2] / "configs" / "tiny-world.toml"


def _one_worker_dies(maker, lock_dir, *args, **kw):
    """The real kernel, except in the first worker to compute a gradient: that one exits."""
    kernel = maker(*args, **kw)

    def dying(scores, gp):
        try:
            os.close(os.open(os.path.join(lock_dir, "dead"), os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            open(os.path.join(lock_dir, f"survivor-{os.getpid()}"), "w").close()
            return kernel(scores, gp)  # and on to the histograms' allreduce, where the peer is gone
        os._exit(1)

    return dying


@pytest.mark.slow
def test_a_worker_dying_while_the_other_waits_in_lightgbm_collective(tmp_path, monkeypatch):
    import sys

    import cloudpickle
    import dask
    from distributed import Client, LocalCluster

    import gbltr.train.backends.custom as custom
    from gbltr.train.fit import fit

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module
    real = custom.make_famol_objective
    lock_dir = tmp_path / "lock"
    lock_dir.mkdir()

    def famol_with_one_dying_worker(*args, **kw):
        kernel = real(*args, **kw)
        kernel.maker = functools.partial(_one_worker_dies, kernel.maker, str(lock_dir))
        return kernel

    monkeypatch.setattr(custom, "make_famol_objective", famol_with_one_dying_worker)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as lc, \
                Client(lc) as client:
            monkeypatch.setattr("gbltr.train.backends.dask.connect", lambda *a, **k: client)
            monkeypatch.setattr("gbltr.train.backends.dask._close", lambda c: None)
            cfg = load_config(TINY, {"labels": "fused", "fusion": {"method": "famol", "form": "objective",
                                                                   "weight_fn": "bucket"},
                                     "train": {"rounds": 5, "backend": "lightgbm", "engine": "dask"}})
            with pytest.raises(DeviceError, match="Dask worker was lost during training"):
                fit(cfg, tmp_path / "run")
    assert (lock_dir / "dead").exists()  # one worker did die ...
    assert list(lock_dir.glob("survivor-*"))  # ... while the other went past its gradient into the collective
    assert not (tmp_path / "run").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("run")]
