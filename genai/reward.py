"""A learned reward model: how likely a marketer is to accept a draft, from its text and brief.

The features are the draft's sentence embedding (what it talks about and how) and a few named
features e-mail platforms report on (subject length, a question or a number in the subject, body
length, whether a product of the brand or the offer is named, closeness to the brief). A
logistic regression with an L2 penalty maps them to the chance of acceptance. It is small enough
to train in seconds on a laptop from a few hundred labelled drafts, and its named weights can be
read. The weights are plain lists, so a trained model is stored as JSON (immutable, versioned,
with its training set's manifest, by `feedback.rewards`) and scored anywhere the embedder runs.

`train_reward` holds out a share of the generation requests (never a request's drafts on both
sides) and reports the held-out AUC and pairwise accuracy (within a request and segment, how often
the accepted draft scores above the rejected one), as `genai.reward_metrics` computes them for
every kind of reward model. The other kind, a fine-tuned cross-encoder that reads the brief and the
draft together, is `genai.reward_cross`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

import numpy as np
from scipy.optimize import minimize

from genai.brief import Brief
from genai.draft import EmailDraft
from genai.embed import Embedder
from genai.errors import InvalidInputError
from genai.reward_metrics import MIN_LABELLED, check_trainable, held_out_figures, held_out_mask, log_loss

__all__ = [
    "MIN_LABELLED",
    "NAMED_FEATURES",
    "BoundReward",
    "LabelledDraft",
    "RewardModel",
    "RewardScorer",
    "brief_text",
    "draft_features",
    "train_reward",
]

NAMED_FEATURES = (
    "subject_chars",
    "subject_question",
    "subject_number",
    "subject_exclamation",
    "body_words",
    "paragraphs",
    "names_product",
    "offer_in_subject",
    "brief_similarity",
)
_NUMBER_RE = re.compile(r"\d")


@dataclass(frozen=True)
class LabelledDraft:
    """A draft, what it was written for, and the marketer's verdict (1 accepted, 0 rejected)."""

    draft: EmailDraft
    brief: Brief
    products: tuple[str, ...]  # the brand's product names
    label: float
    weight: float = 1.0
    group: str = ""  # the generation request and segment: drafts written for the same prompt
    segment: str = ""  # the name of the brief's segment it was written for, when known


class RewardScorer(Protocol):
    """What the ranking asks of a reward model: a version to name and a score in 0..1 per draft.

    `embedder_name` names the embedder whose vectors of the drafts it can take instead of
    computing them (None: it takes none).
    """

    version: str
    embedder_name: str | None

    def score(
        self,
        drafts: Sequence[EmailDraft],
        brief: Brief,
        products: Sequence[str],
        vectors: np.ndarray | None = None,
    ) -> list[float]:
        """The chance each draft is accepted; `vectors` are the drafts' embeddings when the caller
        has them already (of `EmailDraft.full_text`, by the same embedder)."""
        ...


def brief_text(brief: Brief) -> str:
    """What a brief asks for, as the reward models read it: its goal, offer and facts."""
    return ". ".join([brief.goal, brief.offer, *brief.facts])


def _named(draft: EmailDraft, brief: Brief, products: Sequence[str], similarity: float) -> list[float]:
    text = draft.full_text().lower()
    subject = draft.subject.strip()
    body_words = sum(len(p.split()) for p in draft.body)
    offer = brief.offer.strip().lower()
    return [
        len(subject) / 60,
        float(subject.endswith("?")),
        float(bool(_NUMBER_RE.search(subject))),
        float("!" in subject),
        body_words / 100,
        len(draft.body) / 3,
        float(any(p.strip() and p.lower() in text for p in products)),
        float(bool(offer) and offer in subject.lower()),
        similarity,
    ]


def draft_features(
    embedder: Embedder,
    drafts: Sequence[EmailDraft],
    briefs: Sequence[Brief],
    products: Sequence[Sequence[str]],
    *,
    vectors: np.ndarray | None = None,
) -> np.ndarray:
    """One row per draft: the named features, then the draft's embedding.

    `vectors`, when given, are the drafts' embeddings already computed by `embedder`; each distinct
    brief is embedded once.
    """
    if not drafts:
        return np.zeros((0, len(NAMED_FEATURES)), dtype=np.float64)
    if vectors is None:
        vectors = embedder.encode([d.full_text() for d in drafts])
    if len(vectors) != len(drafts):
        raise InvalidInputError(f"{len(vectors)} embeddings for {len(drafts)} drafts", field="vectors")
    vectors = np.asarray(vectors, dtype=np.float64)
    brief_texts = [brief_text(b) for b in briefs]
    distinct = list(dict.fromkeys(brief_texts))
    encoded = dict(zip(distinct, embedder.encode(distinct).astype(np.float64), strict=True))
    brief_vectors = np.stack([encoded[text] for text in brief_texts])
    similarity = np.sum(vectors * brief_vectors, axis=1)
    named = np.array(
        [_named(d, b, p, float(s)) for d, b, p, s in zip(drafts, briefs, products, similarity, strict=True)]
    )
    return np.hstack([named, vectors])


@dataclass(frozen=True)
class RewardModel:
    """A trained scorer: standardisation, weights and bias, and how well it did on held-out data."""

    embedder: str
    feature_names: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    metrics: dict[str, Any] = field(default_factory=dict)

    def predict(self, features: np.ndarray) -> np.ndarray:
        """The chance of acceptance for each row of features."""
        if features.shape[1] != len(self.weights):
            raise InvalidInputError(
                f"the model takes {len(self.weights)} features, got {features.shape[1]}", field="features"
            )
        z = (features - np.asarray(self.mean)) / np.asarray(self.scale)
        logits: np.ndarray = z @ np.asarray(self.weights) + self.bias
        return np.asarray(1.0 / (1.0 + np.exp(-logits)))

    def named_weights(self) -> dict[str, float]:
        """The weights of the named features (per standard deviation), to read what was learned."""
        named = len(NAMED_FEATURES)
        return {n: round(w, 4) for n, w in zip(self.feature_names[:named], self.weights[:named], strict=True)}

    kind = "logistic"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"kind": self.kind, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RewardModel:
        """Read a stored model back (one stored before models had a kind included)."""
        return cls(
            embedder=str(data["embedder"]),
            feature_names=tuple(data["feature_names"]),
            mean=tuple(float(x) for x in data["mean"]),
            scale=tuple(float(x) for x in data["scale"]),
            weights=tuple(float(x) for x in data["weights"]),
            bias=float(data["bias"]),
            metrics=dict(data.get("metrics") or {}),
        )


class BoundReward:
    """A stored reward model with the embedder that computes its features, as the ranking uses it."""

    def __init__(self, model: RewardModel, embedder: Embedder, version: str) -> None:
        if embedder.name != model.embedder:
            raise InvalidInputError(
                f"the reward model was trained on {model.embedder} embeddings, not {embedder.name}",
                field="embedder",
            )
        self.model = model
        self.embedder = embedder
        self.embedder_name: str | None = embedder.name
        self.version = version

    def score(
        self,
        drafts: Sequence[EmailDraft],
        brief: Brief,
        products: Sequence[str],
        vectors: np.ndarray | None = None,
    ) -> list[float]:
        """The chance each draft is accepted (`vectors`: the drafts' embeddings, when known)."""
        if not drafts:
            return []
        features = draft_features(
            self.embedder, drafts, [brief] * len(drafts), [products] * len(drafts), vectors=vectors
        )
        return [float(p) for p in self.model.predict(features)]


def _fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """Weighted logistic regression with an L2 penalty on the weights (not the bias): `l2` on the
    embedding's, `NAMED_L2` on the few named features'."""
    dims = x.shape[1]
    total = float(w.sum())
    penalty = np.full(dims, l2)
    penalty[: len(NAMED_FEATURES)] = NAMED_L2

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        coef, bias = theta[:dims], theta[dims]
        z = x @ coef + bias
        # log(1 + e^z) - y z, computed stably
        nll = np.logaddexp(0.0, z) - y * z
        p = 1.0 / (1.0 + np.exp(-z))
        r = w * (p - y)
        value = float(w @ nll) / total + 0.5 * float(penalty @ (coef * coef))
        grad = np.concatenate([x.T @ r / total + penalty * coef, [r.sum() / total]])
        return value, grad

    result = minimize(loss, np.zeros(dims + 1), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return result.x[:dims], float(result.x[dims])


# Penalties on the embedding's weights tried; the held-out log-loss picks one. The named features
# are few and each means something, so they get a light fixed penalty.
L2_GRID = (0.1, 1.0, 10.0, 100.0)
NAMED_L2 = 0.01


def train_reward(
    examples: Sequence[LabelledDraft],
    embedder: Embedder,
    *,
    holdout: float = 0.2,
    seed: int = 0,
) -> RewardModel:
    """Fit a reward model on `examples`, holding out a share of their groups to pick the penalty
    on the embedding's weights (from `L2_GRID`, by held-out log-loss: a few hundred labels cannot
    carry 384 free embedding weights) and to report its metrics, then refit on all of them with
    that penalty: the model that is stored has seen every label it was given."""
    labels = np.array([e.label for e in examples], dtype=np.float64)
    check_trainable(labels)
    features = draft_features(
        embedder, [e.draft for e in examples], [e.brief for e in examples], [e.products for e in examples]
    )
    weights = np.array([e.weight for e in examples], dtype=np.float64)
    groups = [e.group or str(i) for i, e in enumerate(examples)]
    test = held_out_mask(groups, holdout, seed)
    metrics: dict[str, Any] = {"labelled": len(examples), "positives": int((labels >= 0.5).sum())}
    l2 = 1.0
    if test.any() and (~test).any() and len(set(labels[~test])) > 1:
        fits = {
            penalty: _model(features[~test], labels[~test], weights[~test], penalty, embedder.name)
            for penalty in L2_GRID
        }
        losses = {
            penalty: log_loss(m.predict(features[test]), labels[test], weights[test])
            for penalty, m in fits.items()
        }
        l2 = min(losses, key=lambda penalty: (losses[penalty], -penalty))
        metrics |= held_out_figures(
            fits[l2].predict(features[test]),
            labels[test],
            weights[test],
            [g for g, t in zip(groups, test, strict=True) if t],
        )
    metrics["l2"] = l2
    final = _model(features, labels, weights, l2, embedder.name)
    return replace(final, metrics=metrics)


def _model(x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float, embedder: str) -> RewardModel:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    coef, bias = _fit((x - mean) / scale, y, w, l2)
    dims = x.shape[1]
    names = (*NAMED_FEATURES, *(f"embedding_{i}" for i in range(dims - len(NAMED_FEATURES))))
    return RewardModel(
        embedder=embedder,
        feature_names=names,
        mean=tuple(float(v) for v in mean),
        scale=tuple(float(v) for v in scale),
        weights=tuple(float(v) for v in coef),
        bias=bias,
    )
