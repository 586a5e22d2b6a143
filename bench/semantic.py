"""What a semantic signal would add to the rules, and what it would cost: measured, not shipped.

The signal: WordLlama (MIT; `pip install wordllama`), whose 256-dimension token embeddings ship inside its PyPI
wheel (16 MB; nothing is fetched from a model hub: the files are read from the installed package), averaged over
title and summary; on top of them a softmax of the four labels (none and the three themes) trained here on the
dev halves of every unseen set and the tuning week. It is used as a veto: an article the rules file under
Labor stays there only when the signal gives Labor at least a threshold, chosen by 5-fold cross-validation on the
dev halves. Then, once, the held-out halves.

    .venv/bin/pip install wordllama && .venv/bin/python bench/semantic.py

Prints, for each set, the rules alone and the rules with the veto (per theme F1 and macro-F1), and the time the
signal adds to a build of the real week beside the time of the group stage.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from common import FEEDS, real_week_files  # noqa: E402
from grouping import v1_config  # noqa: E402
from grouping_eval import (  # noqa: E402
    THEMES,
    Labelled,
    evaluate,
    load_huffpost,
    load_labelled,
    load_pooled,
    load_unseen,
    macro_f1,
    predict_with,
    with_unseen_feeds,
)

from digest.config import Config, load_config  # noqa: E402
from digest.feeds.parse import parse_feed  # noqa: E402
from digest.models import Article  # noqa: E402

LABELS = ("none", *THEMES)
VETOED = "labor"  # the theme whose precision held-out sets found wanting (0.74 on the work-word sample)


def load_model() -> Any:
    """WordLlama from the files of its wheel. (Its own WordLlama.load() looks for the tokenizer under
    `tokenizer/`, which the wheel names `tokenizers/`, and then tries Hugging Face.)"""
    import numpy  # noqa: F401 - the dependencies of the extra, imported here so their cost is counted
    import wordllama
    from safetensors import safe_open
    from tokenizers import Tokenizer
    from wordllama.inference import WordLlamaInference

    root = Path(wordllama.__file__).parent
    tokenizer = Tokenizer.from_file(str(root / "tokenizers" / "l2_supercat_tokenizer_config.json"))
    with safe_open(str(root / "weights" / "l2_supercat_256.safetensors"), framework="np", device="cpu") as f:
        table = f.get_tensor("embedding.weight")
    return WordLlamaInference(table, tokenizer)


def text(article: Article) -> str:
    return f"{article.title}. {article.summary or article.teaser or ''}"


def fit(x: Any, y: Any, rounds: int = 300, rate: float = 0.5, l2: float = 1e-3) -> tuple[Any, Any]:
    """A softmax over the labels, by gradient descent, each label weighted by the inverse of its frequency."""
    import numpy as np

    n, k = len(x), len(LABELS)
    w, b = np.zeros((x.shape[1], k)), np.zeros(k)
    onehot = np.eye(k)[y]
    weight = (onehot * (n / (k * np.maximum(onehot.sum(0), 1)))).sum(1)
    for _ in range(rounds):
        p = _softmax(x @ w + b)
        g = (p - onehot) * weight[:, None] / n
        w -= rate * (x.T @ g + l2 * w)
        b -= rate * g.sum(0)
    return w, b


def _softmax(z: Any) -> Any:
    import numpy as np

    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def vetoed(rules: Callable[[Article], str], chance: dict[int, float], threshold: float) -> Callable[[Article], str]:
    def predict(article: Article) -> str:
        placed = rules(article)
        return "none" if placed == VETOED and chance[id(article)] < threshold else placed

    return predict


SHIPPED = load_config(REPO / "config.yaml").model


def rules_for(items: list[Labelled], config: Config = SHIPPED) -> Callable[[Article], str]:
    """The rules of `config` for these items: the tuning week's feeds as shipped, the unseen outlets declared."""
    week, unseen = predict_with(config), predict_with(with_unseen_feeds(config))
    tuning = {id(i.article) for i in items if i.kind == "tuning-week"}
    return lambda a: (week if id(a) in tuning else unseen)(a)


def cells(items: list[Labelled], predict: Callable[[Article], str]) -> str:
    metrics = evaluate(items, predict)
    return f"macro {macro_f1(metrics):.3f}  " + "  ".join(f"{t} {m.f1:.2f}" for t, m in metrics.items())


def main() -> None:
    import numpy as np

    started = time.perf_counter()
    model = load_model()
    loaded = time.perf_counter() - started

    def embed(items: list[Labelled]) -> Any:
        return model.embed([text(i.article) for i in items], norm=True)

    dev = load_pooled(FEEDS, "dev") + load_labelled(FEEDS)
    x = embed(dev)
    y = np.array([LABELS.index(i.label) if i.label in LABELS else 0 for i in dev])
    column = LABELS.index(VETOED)

    # the threshold: 5-fold cross-validation on the dev halves, the highest that loses nothing there
    folds = np.random.default_rng(0).integers(0, 5, len(dev))
    chance_cv = np.zeros(len(dev))
    for k in range(5):
        w, b = fit(x[folds != k], y[folds != k])
        chance_cv[folds == k] = _softmax(x[folds == k] @ w + b)[:, column]
    rules = rules_for(dev)
    by_article = {id(i.article): float(c) for i, c in zip(dev, chance_cv, strict=True)}
    base = macro_f1(evaluate(dev, rules))
    threshold = 0.0
    print("dev halves and tuning week, 5-fold cross-validation")
    print(f"  rules            {cells(dev, rules)}")
    for candidate in (0.1, 0.2, 0.3, 0.4, 0.5):
        predict = vetoed(rules, by_article, candidate)
        print(f"  veto below {candidate:.1f}   {cells(dev, predict)}")
        if macro_f1(evaluate(dev, predict)) >= base - 1e-9:
            threshold = candidate
    print(f"  chosen threshold: {threshold:.1f}")
    # The signal does tell a story of work from a word of work: on the rules before the context rules, whose
    # mistakes on these halves were not yet fixed by hand, the same veto is worth much more.
    v1 = rules_for(dev, v1_config(SHIPPED))
    print(f"  v1 rules         {cells(dev, v1)}")
    print(f"  v1, veto at 0.3  {cells(dev, vetoed(v1, by_article, 0.3))}\n")

    w, b = fit(x, y)
    held = {
        "all unseen, held-out": load_pooled(FEEDS, "held-out"),
        "all unseen, held-out, without the work-word sample": load_pooled(FEEDS, "held-out", ("random",)),
        "unseen outlets, held-out": load_unseen(FEEDS, "held-out"),
        "HuffPost work words, held-out": load_huffpost("enriched", "held-out")
        + load_huffpost("spring2018", "held-out"),
    }
    for title, items in held.items():
        chance = _softmax(embed(items) @ w + b)[:, column]
        by_article = {id(i.article): float(c) for i, c in zip(items, chance, strict=True)}
        rules = rules_for(items)
        print(f"{title}: {sum(i.clear for i in items)} articles")
        print(f"  rules            {cells(items, rules)}")
        for candidate in sorted({threshold, 0.2, 0.3, 0.4}):
            chosen = " (chosen)" if candidate == threshold else ""
            print(f"  veto below {candidate:.1f}   {cells(items, vetoed(rules, by_article, candidate))}{chosen}")

    week = [a for path in real_week_files() for a in parse_feed(path.read_bytes(), path.stem, "").articles]
    runs = []
    for _ in range(9):
        t = time.perf_counter()
        _softmax(model.embed([text(a) for a in week], norm=True) @ w + b)
        runs.append(time.perf_counter() - t)
    print(
        f"\ncost: loading the model {loaded * 1000:.0f} ms (once per build, with numpy, tokenizers and safetensors); "
        f"the real week's {len(week)} articles {statistics.median(runs) * 1000:.1f} ms (median of 9)"
    )


if __name__ == "__main__":
    main()
