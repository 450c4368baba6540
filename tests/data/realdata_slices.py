"""Small slices of ../shared/data for the real-data tests, and an in-process CLI runner."""

from __future__ import annotations

from gbltr.cli import main


def gbltr(*args, capsys=None):
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = e.code or 0
    out = capsys.readouterr() if capsys else None
    return code, (out.out if out else ""), (out.err if out else "")


def head(src, dst, n, encoding=None):
    lines = src.read_text(encoding="utf-8").split("\n")[:n]
    dst.write_text("\n".join(lines) + "\n", encoding=encoding or "utf-8")


def letor_slice(root, tmp, n=400):
    out = tmp / "letor"
    out.mkdir()
    for f in ("mq2008_fold1_vali.txt", "mq2008_fold1_test.txt"):
        head(root / f, out / f, n)
    return out


def qbqtc_slice(root, tmp, n=300):
    out = tmp / "qbqtc"
    out.mkdir()
    for f in ("train.jsonl", "dev.jsonl", "test_public.jsonl"):
        head(root / f, out / f, n)
    return out
