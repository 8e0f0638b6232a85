"""Score-based criteria: magnitude, Wanda (arXiv 2306.11695), RIA. Masks only, no update."""
from __future__ import annotations

from rigorlab.tools.pruning.patterns import Pattern, mask_from_scores


def feature_norms(G):
    """||X_j||_2 for every input j, from the diagonal of G."""
    return G.diagonal().clamp_min(0).sqrt().to(G.dtype)


def magnitude_scores(W, G=None):
    return W.abs()


def wanda_scores(W, G):
    return W.abs() * feature_norms(G).to(W.dtype)[None, :]


def ria_scores(W, G, a: float = 0.5):
    """(|W|/row sum + |W|/column sum) * ||X_j||^a (relative importance and activations)."""
    A = W.abs()
    rel = A / A.sum(1, keepdim=True).clamp_min(1e-30) + A / A.sum(0, keepdim=True).clamp_min(1e-30)
    return rel * feature_norms(G).to(W.dtype)[None, :].pow(a)


SCORES = {"magnitude": magnitude_scores, "wanda": wanda_scores, "ria": ria_scores}


def score_mask(method: str, W, G, pattern: Pattern):
    return mask_from_scores(SCORES[method](W, G), pattern)
