"""Cached and batched vertex images equal the plain products; objectives' gradients are right."""
import pytest
import torch

from rigorlab.tools.fw import LeastSquares, Logistic, Quadratic, make_oracle


def _ls():
    gen = torch.Generator().manual_seed(0)
    return LeastSquares(torch.randn((20, 30), generator=gen, dtype=torch.float64),
                        torch.randn(20, generator=gen, dtype=torch.float64))


def test_vertex_images_match_direct_products_with_batches_and_signs():
    obj = _ls()
    oracle = make_oracle("l1", {"n": 30, "radius": 2.0})
    gen = torch.Generator().manual_seed(1)
    for _ in range(20):
        g = torch.randn(30, generator=gen, dtype=torch.float64)
        v = oracle.lmo(g)
        for candidate in (v, -v):
            got = obj.vertex_image(candidate, lambda: oracle.runners_up(g, 5))  # noqa: B023 - called at once
            want = obj.image(candidate)
            assert all(torch.allclose(a, b, rtol=1e-13, atol=1e-13) for a, b in zip(got, want))
    assert 0 < len(obj._cache) <= 30


@pytest.mark.parametrize("make", ["ls", "quad", "logistic"])
def test_gradients_match_autograd_and_moves_match_fresh_points(make):
    gen = torch.Generator().manual_seed(2)
    A = torch.randn((12, 8), generator=gen, dtype=torch.float64)
    obj = {"ls": lambda: LeastSquares(A, torch.randn(12, generator=gen, dtype=torch.float64)),
           "quad": lambda: Quadratic(A.T @ A, torch.randn(8, generator=gen, dtype=torch.float64)),
           "logistic": lambda: Logistic(A, torch.where(torch.randn(12, generator=gen) > 0, 1.0, -1.0)
                                        .double())}[make]()
    x = torch.randn(8, generator=gen, dtype=torch.float64)
    d = torch.randn(8, generator=gen, dtype=torch.float64)
    p = obj.at(x)
    num = torch.tensor([(obj.at(x + 1e-6 * e).f - obj.at(x - 1e-6 * e).f) / 2e-6
                        for e in torch.eye(8, dtype=torch.float64)])
    assert torch.allclose(p.g, num, atol=1e-6)
    moved, fresh = obj.move(p, d, obj.image(d), 0.3), obj.at(x + 0.3 * d)
    assert moved.f == pytest.approx(fresh.f, rel=1e-12) and torch.allclose(moved.g, fresh.g, atol=1e-12)
    assert obj.along(p, d, obj.image(d), 0.3) == pytest.approx(fresh.f, rel=1e-12)
