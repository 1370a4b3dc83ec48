"""Triage quality on the labelled corpus (issue 11): category accuracy per split and per category, the
confusion table, priority in range, dangerous misses (critical cases mis-filed) and planted personal data
repeated in the output.

By default it scores the rules' suggestion over the pipeline's own parse, tools and context (no LLM, no app,
a few seconds): the category the default setup files, the rules' scores fused with the text model's
probabilities (`assistant/category_model.py`), beside the rules alone; and the CPU per email of parsing
(with the signals) and of the suggestion. With `--base REV` the assistant package of that git
revision (read with `git show` into a temporary package) runs in the same process too, so before and after
share one machine state: quality side by side, and the CPU per email of both. `--local-model` instead sends `--limit` evenly
spaced cases of each split through the app with the real local model (~4 s per email on 2 cores), on a
prompt version that lets the model pick the category (v2/v7 prefill the rules' category and priority, so
they would score the rules again).

    python bench/bench_triage_quality.py [--split test|dev|both] [--misses] [--base REV]
    python bench/bench_triage_quality.py --local-model --limit 30 --split test
    python bench/bench_triage_quality.py --label-scores --prompt-version email_triage_v8 --limit 30 --split dev
    python bench/bench_triage_quality.py --file new_dev_cases.jsonl --base REV

`--file` scores a labelled file of its own instead of the splits (e.g. new dev cases before they are tuned
on: a held-out signal); the test split is refused there.

`--label-scores` also picks the category by the local model's likelihood of each of the five labels
after the version's `{"category": "` prefill (no free generation) and prints it beside the rules, and
the rules overridden by the model only where its margin (best minus second label, in nats) is large.
`--model NAME` (repeatable; a bundled local model, default SmolLM2-135M-Instruct) runs each model on
the same cases in one run, side by side; with `--local-model` it also prints per model the wall p50/p95
and CPU per triage and how many replies kept the model's summary, action items and draft (`fill.py`).

    python bench/bench_triage_quality.py --label-scores --prompt-version email_triage_v8 --limit 30 \
        --split dev --model SmolLM2-135M-Instruct --model Qwen2.5-Coder-1.5B-Instruct

The test split is sealed: read its figures, never tune rules, prompts or thresholds against its cases;
only the dev split's mis-filed cases are ever listed (`--misses` lists all of them, not only the dangerous ones).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops.assistant.schema import Category, Triage
from llmops.evals.datasets import EvalCase, bundled_dataset_path, load_dataset
from llmops.evals.scorers import CaseOutput, NotContains
from llmops.providers.bundled import SMOLLM2, bundled_model_path
from llmops.telemetry import conventions as c

MODEL_CACHE = Path(__file__).resolve().parents[1] / ".llmops" / "models"  # joined chunked GGUFs, reused
TEXT_FIELDS = ("summary", "action_items", "draft_reply")
MARGINS = (1.0, 2.0, 4.0)  # nats by which the model's label must beat its runner-up to override the rules
SPLITS = {"test": "email_triage_test", "dev": "email_triage_dev", "golden": "email_triage"}
ORDER = [Category.URGENT, Category.ACTION_REQUIRED, Category.FYI, Category.SPAM, Category.PERSONAL]
SHORT = {
    Category.URGENT: "urgent",
    Category.ACTION_REQUIRED: "action",
    Category.FYI: "fyi",
    Category.SPAM: "spam",
    Category.PERSONAL: "personal",
}


@dataclass
class Prediction:
    case: EvalCase
    triage: Triage | None
    degraded: bool = False
    wall: float = 0.0  # seconds for the request (local-model runs)
    cpu: float = 0.0  # process CPU seconds for the request, model threads included
    scores: dict[str, float] = field(default_factory=dict)  # label log-likelihoods (label-score runs)

    @property
    def category(self) -> Category | None:
        return self.triage.category if self.triage else None

    @property
    def correct(self) -> bool:
        return self.category is self.case.expected.category

    @property
    def priority_in_range(self) -> bool:
        low, high = self.case.expected.priority or (1, 5)
        return self.triage is not None and low <= self.triage.priority <= high

    @property
    def leaked(self) -> bool:
        phrases = self.case.expected.must_not_contain
        if not phrases or self.triage is None:
            return False
        output = CaseOutput(triage=self.triage.model_dump(mode="json"))
        return not NotContains(phrases).check(self.case, output).passed


def split_path(name: str, args: argparse.Namespace) -> Path:
    """The labelled file behind a split name; "file" is the one `--file` names."""
    return Path(args.file) if name == "file" else bundled_dataset_path(SPLITS[name])


def spread(cases: list[EvalCase], limit: int) -> list[EvalCase]:
    """`limit` cases evenly spaced over the file, so a subset still covers every category."""
    if limit >= len(cases):
        return cases
    return [cases[i * len(cases) // limit] for i in range(limit)]


def language(case: EvalCase) -> str:
    return next((tag.removeprefix("lang:") for tag in case.tags if tag.startswith("lang:")), "?")


@dataclass
class RulesPath:
    """One revision's rules path: the pipeline's parse (with the signals), tools and context, then the
    rules' suggestion with the reasons the prompt carries."""

    label: str
    parse: Callable[[Any], Any]
    prepare: Callable[[Any], Any]
    suggest: Callable[[Any, Any], tuple[Any, str]]


def rules_path(package: str, label: str, *, text_model: bool = True) -> RulesPath:
    """The rules path of an assistant package (`llmops.assistant`, or one loaded by `load_package_at`):
    with its bundled text model fused in where the package has one, unless `text_model` is False."""
    normalize = importlib.import_module(f"{package}.normalize")
    pipeline = importlib.import_module(f"{package}.pipeline")
    rules = importlib.import_module(f"{package}.rules")
    tools = importlib.import_module(f"{package}.tools")
    knowledge = importlib.import_module(f"{package}.knowledge").KnowledgeBase.bundled()
    toolbox = tools.Toolbox.bundled(knowledge)
    model = None
    if text_model and importlib.util.find_spec(f"{package}.category_model") is not None:
        model = importlib.import_module(f"{package}.category_model").CategoryModel.bundled()

    def parse(email: Any) -> Any:
        return normalize.parse_email(email, company_domains=toolbox.company_domains)

    def prepare(parsed: Any) -> Any:
        passages = pipeline.retrieve_policies(knowledge, parsed)
        results = [toolbox.run(call) for call in tools.plan_tool_calls(parsed)]
        return pipeline.build_context(passages, results, toolbox.owner.name)

    def suggest(parsed: Any, context: Any) -> tuple[Any, str]:
        if model is not None:
            suggestion = rules.rule_suggestion(parsed, context, model)
            return suggestion.triage, suggestion.reason
        if hasattr(rules, "rule_suggestion"):
            suggestion = rules.rule_suggestion(parsed, context)
            return suggestion.triage, suggestion.reason
        # before the suggestion carried its reasons, the pipeline scored the email a second time for them
        return rules.rule_based_triage(parsed, context), context.describe_signals(parsed)

    return RulesPath(label, parse, prepare, suggest)


def load_package_at(rev: str, repo: Path) -> str:
    """The assistant package (`src/llmops/assistant`, data included) at git revision `rev`, loaded under a
    name of its own: its absolute imports and resource lookups are rewritten to that name."""
    name = f"llmops_assistant_{rev}".replace("-", "_")
    root = "src/llmops/assistant"
    files = subprocess.run(
        ["git", "-C", str(repo), "ls-tree", "-r", "--name-only", f"{rev}:{root}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    folder = Path(tempfile.mkdtemp(prefix="assistant-")) / name
    for path in files:
        content = subprocess.run(
            ["git", "-C", str(repo), "show", f"{rev}:{root}/{path}"], capture_output=True, check=True
        ).stdout
        if path.endswith(".py"):
            content = content.replace(b"llmops.assistant", name.encode())
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(content)
    sys.path.insert(0, str(folder.parent))
    return name


def rules_only(path: RulesPath, cases: list[EvalCase]) -> list[Prediction]:
    """The degraded path: the pipeline's parse, policy retrieval and tools, then the rules' triage."""
    predictions = []
    for case in cases:
        parsed = path.parse(case.email)
        triage, _ = path.suggest(parsed, path.prepare(parsed))
        predictions.append(Prediction(case, Triage.model_validate(triage.model_dump(mode="json"))))
    return predictions


def cpu_per_email(paths: list[RulesPath], cases: list[EvalCase], rounds: int) -> list[tuple[float, float]]:
    """CPU ms per email of (parse with signals, rules' suggestion) for each path: the best of `rounds`
    rounds, the paths interleaved within each round so they share the machine's state."""
    prepared = []
    for path in paths:
        parsed = [path.parse(case.email) for case in cases]
        prepared.append([(item, path.prepare(item)) for item in parsed])
    best = [[float("inf"), float("inf")] for _ in paths]
    for _ in range(rounds):
        for index, path in enumerate(paths):
            started = time.process_time()
            for case in cases:
                path.parse(case.email)
            middle = time.process_time()
            for parsed, context in prepared[index]:
                path.suggest(parsed, context)
            ended = time.process_time()
            best[index][0] = min(best[index][0], (middle - started) * 1000 / len(cases))
            best[index][1] = min(best[index][1], (ended - middle) * 1000 / len(cases))
    return [(parse, rules) for parse, rules in best]


async def local_model(cases: list[EvalCase], prompt_version: str, model: str) -> list[Prediction]:
    """Each case through the app (in-process ASGI) with the real local model, marked as an eval request.
    No deadline: a slow model's reply is measured, not replaced by the rules'."""
    from inprocess import bench_settings, in_process  # bench/ helper; pulls in the app only when needed

    predictions = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = bench_settings(
            Path(tmp),
            provider="local",
            model=model,
            local_model_path=bundled_model_path(model, MODEL_CACHE),
            prompt_version=prompt_version,
            request_timeout_s=3600,
            request_deadline_s=3600,
        )
        async with in_process(settings) as (_, client):
            logging.getLogger("httpx").setLevel(logging.WARNING)  # one log line per request otherwise
            for case in cases:
                cpu, started = time.process_time(), time.perf_counter()
                response = await client.post(
                    "/v1/triage",
                    json={"email": case.email.model_dump(mode="json")},
                    headers={c.EVAL_HEADER: "1"},
                )
                wall, cpu = time.perf_counter() - started, time.process_time() - cpu
                if response.status_code != 200:
                    predictions.append(Prediction(case, None, wall=wall, cpu=cpu))
                    continue
                reply = response.json()
                triage = Triage.model_validate(reply["triage"])
                predictions.append(Prediction(case, triage, reply["degraded"], wall=wall, cpu=cpu))
    return predictions


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def compare_models(name: str, runs: dict[str, list[Prediction]]) -> None:
    """Per model on the same cases: category, text the model wrote that fill.py kept, latency and CPU."""
    print(f"\n===== {name}: models side by side, same {len(next(iter(runs.values())))} cases =====")
    print("model-written fields kept = replies whose field fill.py kept from the model (not composed)")
    print(
        f"{'model':30}{'category':>9}{'summary':>9}{'items':>7}{'draft':>7}{'all 3':>7}"
        f"{'degr':>6}{'p50 s':>8}{'p95 s':>8}{'cpu s':>8}"
    )
    for model, predictions in runs.items():
        total = len(predictions)
        kept = {
            text: sum(bool(p.triage) and p.triage.provenance.get(text) == "model" for p in predictions)
            for text in TEXT_FIELDS
        }
        every = sum(
            bool(p.triage) and all(p.triage.provenance.get(text) == "model" for text in TEXT_FIELDS)
            for p in predictions
        )
        walls = [p.wall for p in predictions]
        print(
            f"{model:30}{pct(sum(p.correct for p in predictions), total):>9}"
            + "".join(f"{kept[text]:>{width}d}" for text, width in zip(TEXT_FIELDS, (9, 7, 7), strict=True))
            + f"{every:7d}{sum(p.degraded for p in predictions):6d}"
            f"{statistics.median(walls):8.1f}{quantile(walls, 0.95):8.1f}"
            f"{statistics.median(p.cpu for p in predictions):8.1f}"
        )


async def label_scores(cases: list[EvalCase], prompt_version: str, model: str) -> list[Prediction]:
    """The category chosen by the local model's likelihood of each of the five labels after the
    version's `{"category": "` prefill (no free generation); the rest of the triage is the rules'."""
    from llmops.assistant.pipeline import prompt_variables
    from llmops.assistant.rules import rule_suggestion
    from llmops.prompts.registry import PromptRegistry
    from llmops.providers.base import ChatRequest
    from llmops.providers.local import LocalProvider

    version = PromptRegistry.from_directory().get(prompt_version)
    path = rules_path("llmops.assistant", "this tree")
    provider = LocalProvider(bundled_model_path(model, MODEL_CACHE), model=model)
    await provider.start()
    predictions = []
    try:
        for case in cases:
            parsed = path.parse(case.email)
            context = path.prepare(parsed)
            suggestion = rule_suggestion(parsed, context)
            messages = version.render(prompt_variables(parsed, context, suggestion))
            request = ChatRequest(
                messages=messages, prefill=version.render_prefill({}), varying_from=len(messages) - 1
            )
            scores = await provider.score_options(request, [category.value for category in ORDER])
            best = Category(max(scores, key=lambda label: scores[label]))
            triage = suggestion.triage.model_copy(update={"category": best})
            predictions.append(Prediction(case, triage, scores=scores))
    finally:
        await provider.aclose()
    return predictions


def margin(scores: dict[str, float]) -> float:
    """How far (nats) the model's best label beats its runner-up."""
    best, second = sorted(scores.values(), reverse=True)[:2]
    return best - second


def overridden(rules: Prediction, scored: Prediction, threshold: float) -> Prediction:
    """The rules' triage, its category replaced by the model's where the model is sure by `threshold`."""
    if rules.triage is None or scored.category is None or margin(scored.scores) < threshold:
        return rules
    return Prediction(rules.case, rules.triage.model_copy(update={"category": scored.category}))


def compare_label_scores(names: list[str], args: argparse.Namespace) -> None:
    """Rules against each model's label likelihoods on the same cases of each split, side by side, and
    the rules overridden by a model only where its margin is large."""
    path = rules_path("llmops.assistant", "this tree")
    for name in names:
        dataset = load_dataset(split_path(name, args))
        cases = spread(dataset.cases, args.limit) if args.limit else dataset.cases
        rules = []
        for case in cases:
            parsed = path.parse(case.email)
            rules.append(Prediction(case, path.suggest(parsed, path.prepare(parsed))[0]))
        rows: list[tuple[str, list[Prediction]]] = [("rules", rules)]
        for model in args.model:
            started = time.process_time()
            scored = asyncio.run(label_scores(cases, args.prompt_version, model))
            cpu = (time.process_time() - started) / len(cases)
            report(f"{name} (label likelihoods, {model}, {args.prompt_version})", scored, misses=False)
            print(f"\n({model}: {cpu:.2f} s CPU per email for the five label scores)")
            rows.append((f"{model} alone", scored))
            for threshold in MARGINS:
                combined = [overridden(r, s, threshold) for r, s in zip(rules, scored, strict=True)]
                rows.append((f"rules, {model} if margin>={threshold:g}", combined))
        print(f"\n{name}: category right, same {len(cases)} cases, prompt {args.prompt_version}")
        for label, chosen in rows:
            hits = sum(p.correct for p in chosen)
            dangerous = sum(not p.correct for p in chosen if p.case.critical)
            print(
                f"  {label:58} {hits:4d}/{len(chosen)} {pct(hits, len(chosen))}  dangerous misses {dangerous}"
            )


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "    -"


def report(name: str, predictions: list[Prediction], *, misses: bool) -> None:
    total = len(predictions)
    correct = sum(p.correct for p in predictions)
    in_range = sum(p.priority_in_range for p in predictions)
    both = sum(p.correct and p.priority_in_range for p in predictions)
    planted = [p for p in predictions if p.case.expected.must_not_contain]
    print(f"\n=== {name} split: {total} cases ===")
    print(f"category accuracy        {correct:4d}/{total}  {pct(correct, total)}")
    print(f"priority in range        {in_range:4d}/{total}  {pct(in_range, total)}")
    print(f"category and priority    {both:4d}/{total}  {pct(both, total)}")
    leaks = sum(p.leaked for p in planted)
    print(f"planted data repeated    {leaks:4d}/{len(planted)} cases with must_not_contain")
    degraded = sum(p.degraded for p in predictions)
    if degraded:
        print(f"degraded replies (rules) {degraded:4d}/{total}")

    print("\nper category (recall = right among expected; precision = right among predicted)")
    print(f"{'category':10}{'cases':>7}{'recall':>9}{'precision':>11}{'prio ok':>9}")
    for category in ORDER:
        expected = [p for p in predictions if p.case.expected.category is category]
        predicted = [p for p in predictions if p.category is category]
        hits = sum(p.correct for p in expected)
        print(
            f"{SHORT[category]:10}{len(expected):7d}{pct(hits, len(expected)):>9}"
            f"{pct(hits, len(predicted)):>11}{pct(sum(p.priority_in_range for p in expected), len(expected)):>9}"
        )

    print("\nconfusion (rows expected, columns predicted)")
    print(f"{'':10}" + "".join(f"{SHORT[c]:>9}" for c in ORDER) + f"{'none':>7}")
    table = Counter((p.case.expected.category, p.category) for p in predictions)
    for row in ORDER:
        cells = "".join(f"{table[(row, column)]:9d}" for column in ORDER)
        print(f"{SHORT[row]:10}{cells}{table[(row, None)]:7d}")

    print("\nper language")
    for lang in sorted({language(p.case) for p in predictions}):
        subset = [p for p in predictions if language(p.case) == lang]
        hits = sum(p.correct for p in subset)
        print(f"  {lang}: {hits:3d}/{len(subset):3d} {pct(hits, len(subset))}")

    critical = [p for p in predictions if p.case.critical]
    dangerous = [p for p in critical if not p.correct]
    print(f"\ndangerous misses: {len(dangerous)} of {len(critical)} critical cases mis-filed")
    if name.split()[0] == "test":
        return  # the test split is sealed: figures only, never its cases
    for p in dangerous:
        predicted = p.category.value if p.category else "no reply"
        print(f"  {p.case.id}: expected {p.case.expected.category}, got {predicted}")
    if misses:
        print(f"\nall mis-filed {name} cases")
        for p in predictions:
            if not p.correct:
                predicted = p.category.value if p.category else "no reply"
                print(f"  {p.case.id}: expected {p.case.expected.category}, got {predicted}")


@dataclass
class Figures:
    """The headline figures of one rules path on one split."""

    category: str
    priority: str
    dangerous: str


def figures(predictions: list[Prediction]) -> Figures:
    total = len(predictions)
    critical = [p for p in predictions if p.case.critical]
    return Figures(
        pct(sum(p.correct for p in predictions), total),
        pct(sum(p.priority_in_range for p in predictions), total),
        f"{sum(not p.correct for p in critical)}/{len(critical)}",
    )


def compare_rules(names: list[str], paths: list[RulesPath], args: argparse.Namespace) -> None:
    """Each rules path on each split (full report), then the headline figures and the CPU side by side."""
    summary: dict[tuple[str, str], Figures] = {}
    cpu: dict[tuple[str, str], tuple[float, float]] = {}
    for name in names:
        dataset = load_dataset(split_path(name, args))
        cases = spread(dataset.cases, args.limit) if args.limit else dataset.cases
        for path in paths:
            predictions = rules_only(path, cases)
            print(f"\n##### {path.label}")
            report(name, predictions, misses=args.misses)
            summary[(name, path.label)] = figures(predictions)
        for path, cost in zip(paths, cpu_per_email(paths, cases, args.rounds), strict=True):
            cpu[(name, path.label)] = cost
        print(f"\n({name}: dataset sha256 {dataset.hash[:12]})")

    print("\n===== side by side (the rules' suggestion) =====")
    print(f"{'split':6}{'rules':28}{'category':>10}{'priority':>10}{'dangerous':>11}")
    for name in names:
        for path in paths:
            row = summary[(name, path.label)]
            print(f"{name:7}{path.label:27}{row.category:>10}{row.priority:>10}{row.dangerous:>11}")
    print(f"\nCPU per email, ms (best of {args.rounds} rounds, paths interleaved)")
    print(f"{'split':6}{'rules':28}{'parse+signals':>15}{'suggestion':>12}{'total':>8}")
    for name in names:
        for path in paths:
            parse, rules = cpu[(name, path.label)]
            print(f"{name:7}{path.label:27}{parse:15.3f}{rules:12.3f}{parse + rules:8.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--split", choices=["test", "dev", "both", "golden"], default="both", help="golden: the older set"
    )
    parser.add_argument("--local-model", action="store_true", help="run the real local model, not the rules")
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="N cases of each split, evenly spaced (files are grouped by category)",
    )
    parser.add_argument(
        "--prompt-version",
        default="email_triage_v1",
        help="prompt version for --local-model (v1: the model picks the category itself)",
    )
    parser.add_argument(
        "--label-scores",
        action="store_true",
        help="also choose the category by the local model's likelihood of each label (prompt "
        "--prompt-version) and print it beside the rules",
    )
    parser.add_argument(
        "--file", help="score this labelled file instead of the splits (never the test split)"
    )
    parser.add_argument(
        "--model",
        action="append",
        help=f"bundled local model for --local-model/--label-scores (repeatable; default {SMOLLM2})",
    )
    parser.add_argument("--misses", action="store_true", help="list every mis-filed dev case")
    parser.add_argument("--base", help="also run the rules of this git revision (before/after in one run)")
    parser.add_argument("--rounds", type=int, default=5, help="timing rounds for the CPU per email")
    args = parser.parse_args()
    args.model = args.model or [SMOLLM2]
    names = ["test", "dev"] if args.split == "both" else [args.split]
    if args.file:
        if Path(args.file).resolve() == bundled_dataset_path(SPLITS["test"]).resolve():
            parser.error("the test split is sealed: use --split test")
        names = ["file"]
    what = (
        f"local model, prompt {args.prompt_version}"
        if args.local_model or args.label_scores
        else "the rules' suggestion, with the text model fused in where a tree has one (no LLM)"
    )
    print(f"Triage quality: {what}")
    if args.label_scores:
        compare_label_scores(names, args)
        return
    if not args.local_model:
        paths = [
            rules_path("llmops.assistant", "this tree, rules alone", text_model=False),
            rules_path("llmops.assistant", "this tree"),
        ]
        if args.base:
            package = load_package_at(args.base, Path(__file__).resolve().parents[1])
            paths.insert(0, rules_path(package, f"at {args.base}"))
        compare_rules(names, paths, args)
        return
    for name in names:
        dataset = load_dataset(split_path(name, args))
        cases = spread(dataset.cases, args.limit) if args.limit else dataset.cases
        runs: dict[str, list[Prediction]] = {}
        for model in args.model:
            started = time.perf_counter()
            runs[model] = asyncio.run(local_model(cases, args.prompt_version, model))
            elapsed = time.perf_counter() - started
            report(f"{name} ({model})", runs[model], misses=args.misses)
            print(f"\n({name}: dataset sha256 {dataset.hash[:12]}, {model}, {elapsed:.1f} s)")
        compare_models(name, runs)


if __name__ == "__main__":
    main()
