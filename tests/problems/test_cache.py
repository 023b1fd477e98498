"""Certified-minimizer cache: round trip, shipped entries, corruption, failed certification, LIBSVM."""

import json
import shutil

import numpy as np
import pytest

from ratecheck import problems
from ratecheck.errors import CertificationError, RatecheckError
from ratecheck.problems import certify, lad, logistic, newton, svm

CACHED_DEFAULTS = ["lad", "hinge_svm", "huber", "logistic", "logistic_wine", "logistic_iris", "logistic_digits"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RATECHECK_CACHE", str(tmp_path / "user"))
    return tmp_path / "user"


def no_solver(*a, **k):
    raise AssertionError("the solver ran although a valid cache entry exists")


def forbid_solvers(monkeypatch):
    monkeypatch.setattr(lad, "solve_lad_cvxpy", no_solver)
    monkeypatch.setattr(svm, "solve_svm_cvxpy", no_solver)
    monkeypatch.setattr(logistic, "newton", no_solver)
    import ratecheck.problems.huber as huber

    monkeypatch.setattr(huber, "newton", no_solver)


@pytest.mark.parametrize("name", CACHED_DEFAULTS)
def test_default_instances_load_from_the_shipped_cache(cache, monkeypatch, name):
    forbid_solvers(monkeypatch)
    p = problems.get(name)
    c = p.certificate
    assert c.residual <= c.tol
    assert not cache.exists()  # nothing recomputed, nothing written


def test_round_trip_then_load_without_solving(cache, monkeypatch):
    pytest.importorskip("cvxpy")
    p1 = problems.get("lad", n=25, d=4, seed=3)
    files = sorted(f.name for f in cache.iterdir())
    assert len(files) == 2 and files[0].startswith("lad-") and {f.split(".")[-1] for f in files} == {"json", "npz"}
    meta = json.loads((cache / files[0]).read_text())
    assert meta["certificate"]["residual"] <= meta["certificate"]["tol"] == 1e-10
    monkeypatch.setattr(lad, "solve_lad_cvxpy", no_solver)
    p2 = problems.get("lad", n=25, d=4, seed=3)
    assert np.array_equal(p1.x_star, p2.x_star) and p1.f_star == p2.f_star
    # Another parameter is another key: it must solve (and here the solver is forbidden).
    with pytest.raises(AssertionError, match="solver ran"):
        problems.get("lad", n=25, d=4, seed=4)


def _entry(cache, stem):
    return cache / f"{stem}.npz", cache / f"{stem}.json"


def test_garbage_file_is_reported_and_recomputed(cache):
    pytest.importorskip("cvxpy")
    p1 = problems.get("lad", n=25, d=4, seed=5)
    npz = next(cache.glob("*.npz"))
    npz.write_bytes(b"not a zip file")
    with pytest.warns(UserWarning, match="failed verification"):
        p2 = problems.get("lad", n=25, d=4, seed=5)
    assert np.allclose(p1.x_star, p2.x_star, atol=1e-12) and abs(p1.f_star - p2.f_star) <= 1e-15
    with np.load(npz) as z:  # rewritten, valid again
        assert np.array_equal(z["x_star"], p2.x_star)


def test_tampered_minimizer_with_matching_hash_is_caught_by_the_certificate(cache):
    p1 = problems.get("logistic", dataset="iris", task="binary")
    npz = next(cache.glob("*.npz"))
    meta = npz.with_suffix(".json")
    x = p1.x_star.copy()
    x[0] += 1e-3
    np.savez(npz, x_star=x)
    info = json.loads(meta.read_text())
    info["x_star_sha256"] = certify._x_hash(x)  # a consistent forgery: only the certificate can tell
    meta.write_text(json.dumps(info))
    with pytest.warns(UserWarning, match="certificate fails on reload"):
        p2 = problems.get("logistic", dataset="iris", task="binary")
    assert np.allclose(p2.x_star, p1.x_star, atol=1e-12)


def test_tampered_f_star_is_caught(cache):
    problems.get("huber", n=30, d=3)
    meta = next(cache.glob("*.json"))
    info = json.loads(meta.read_text())
    info["f_star"] = repr(float(info["f_star"]) - 1e-3)
    meta.write_text(json.dumps(info))
    with pytest.warns(UserWarning, match="stored f\\*"):
        p = problems.get("huber", n=30, d=3)
    assert json.loads(meta.read_text())["f_star"] == repr(p.f_star)


def test_damaged_shipped_entry_is_recomputed_into_the_user_cache(cache, tmp_path, monkeypatch):
    shipped = tmp_path / "shipped"
    shutil.copytree(certify.SHIPPED, shipped)
    monkeypatch.setattr(certify, "SHIPPED", shipped)
    victim = next(shipped.glob("logistic_iris-*.npz"))
    victim.write_bytes(victim.read_bytes()[:40])
    with pytest.warns(UserWarning, match="logistic_iris"):
        p = problems.get("logistic_iris")
    assert p.certificate.residual <= 1e-10
    assert list(cache.glob("logistic_iris-*.npz"))


def test_failed_certification_raises_and_writes_nothing(cache, monkeypatch):
    real = newton.newton

    def sloppy(prob, **k):
        sol = real(prob, **k)
        sol.x_star = sol.x_star + 1e-4  # gradient norm ~1e-5 >> 1e-10
        return sol

    monkeypatch.setattr(logistic, "newton", sloppy)
    with pytest.raises(CertificationError, match="not certified.*nothing cached"):
        problems.get("logistic", dataset="wine", task="binary")
    assert not cache.exists() or not any(cache.iterdir())
    # The LP path too: a non-vertex point fails its vertex/duality check.
    monkeypatch.setattr(lad, "solve_lad_cvxpy", lambda A, b: certify.Solution(np.zeros(A.shape[1]), np.zeros(A.shape[0])))
    with pytest.raises(CertificationError):
        problems.get("lad", n=25, d=4, seed=9)
    assert not cache.exists() or not any(cache.iterdir())


def test_svm_polish_rejects_an_infeasible_dual(cache):
    p = problems.get("hinge_svm")
    verify = svm.svm_verifier(p)
    bad = certify.Solution(p.x_star, np.clip(p.dual * 1.5, 0, 1.2))
    assert not verify(bad).ok


def write_libsvm(path, X, y):
    with open(path, "w") as f:
        for xi, yi in zip(X, y):
            feats = " ".join(f"{j + 1}:{v:.17g}" for j, v in enumerate(xi) if v != 0)
            f.write(f"{yi:g} {feats}\n")


def test_libsvm_loader_and_problems(cache, tmp_path):
    rng = np.random.default_rng(0)
    X = np.round(rng.standard_normal((40, 5)), 3)
    X[X[:, 0] > 1, 2] = 0.0  # some sparsity
    y = np.where(X @ rng.standard_normal(5) + 0.5 * rng.standard_normal(40) > 0, 1, -1)
    path = tmp_path / "toy.svm"
    write_libsvm(path, X, y)
    from ratecheck.problems.data import load_libsvm

    Xl, yl = load_libsvm(path)
    assert np.array_equal(Xl, X) and np.array_equal(yl, (y > 0).astype(int))
    p = problems.get("logistic", libsvm=str(path))
    assert p.n == 40 and p.d == 6 and p.params["source"] == "libsvm:toy.svm"
    assert p.certificate.residual <= 1e-10
    if pytest.importorskip("cvxpy"):
        q = problems.get("hinge_svm", libsvm=str(path))
        assert q.certificate.residual <= 1e-10 and q.n == 40
    with pytest.raises(RatecheckError, match="does not exist"):
        problems.get("logistic", libsvm=str(tmp_path / "missing.svm"))
    (tmp_path / "bad.svm").write_text("1 a:b\n")
    with pytest.raises(RatecheckError, match="could not be parsed"):
        problems.get("logistic", libsvm=str(tmp_path / "bad.svm"))


def test_table_prints_from_the_shipped_cache_without_cvxpy(tmp_path):
    import os
    import subprocess
    import sys

    code = (
        "import sys\n"
        "sys.modules['cvxpy'] = None  # any import of cvxpy now fails\n"
        "from ratecheck.cli import main\n"
        "main(['problems'])\n"
    )
    env = {**os.environ, "RATECHECK_CACHE": str(tmp_path / "empty")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    for name in problems.names():
        assert any(line.split()[0] == name for line in lines[2:]), name
    assert "failed verification" not in out.stderr
    assert not (tmp_path / "empty").exists()
