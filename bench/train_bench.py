"""Training throughput on the CPU: our loop with packing vs our loop with plain padding vs transformers' Trainer.

    .venv/bin/python bench/train_bench.py [--models tiny,smollm2] [--steps N] [--seq-len 256] [--batch-size 4]
                                          [--cost-split N] [--out PATH]

Same model (same initial weights), same data, same seq_len and batch size for every variant:
  packed  - instr_assets.core.train.train() on sequences from tokenize_and_pack (several samples per row)
  padded  - the same train() on the same samples, one per row, each row padded to seq_len by collate
  trainer - transformers.Trainer on the packed sequences, data_collator = our collate (4D block-diagonal mask)

Each (model, variant) runs in a fresh subprocess (clean peak RSS, no allocator or thread-pool state carried over),
with torch.set_num_threads(--threads) and 1 warm-up step (configurable) that is excluded from timing. The data is
tokenized once by the parent and handed to the workers in a temporary JSON file. Results go to
bench/results/train_bench.json (or --out) and a Markdown table is printed.

--cost-split N adds, for packed and padded, a split of N timed batches' forward+backward into the transformer body
(every position, padding included) and the LM head + loss (supervised positions only): see bench_common.cost_split.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_common as bc  # noqa: E402

DEFAULT_STEPS = {"tiny": 20, "smollm2": 4}
VARIANTS = ("packed", "padded", "trainer")


# ------------------------------------------------------------------------------------------------ worker side
def _settings(args, steps_total: int):
    from instr_assets.core.train.train import TrainSettings

    return TrainSettings(max_steps=steps_total, batch_size=args.batch_size, lr=args.lr, warmup_steps=3,
                         eval_every=steps_total + 1000, eval_max_sequences=1, seed=0, seq_len=args.seq_len,
                         device="cpu")


def _run_trainer(model, rows, args, steps_total: int, pad_id: int) -> dict:
    import torch
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from instr_assets.core.train.tokenize_pack import collate

    class Rows(torch.utils.data.Dataset):
        def __len__(self):
            return len(rows)

        def __getitem__(self, i):
            return rows[i]

    batches: list[list[dict]] = []

    def data_collator(features):
        batches.append(list(features))
        out = collate(features, args.seq_len, pad_id, dtype=torch.float32)
        out.pop("segment_ids")
        return out

    step_end: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, targs, state, control, **kw):
            step_end.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as tmp:
        targs = TrainingArguments(
            output_dir=tmp, max_steps=steps_total, per_device_train_batch_size=args.batch_size,
            gradient_accumulation_steps=1, learning_rate=args.lr, lr_scheduler_type="cosine_with_min_lr",
            lr_scheduler_kwargs={"min_lr_rate": 0.1}, warmup_steps=3, weight_decay=0.01, adam_beta1=0.9,
            adam_beta2=0.95, max_grad_norm=1.0, eval_strategy="no", save_strategy="no", logging_strategy="no",
            report_to=[], use_cpu=True, dataloader_num_workers=0, dataloader_pin_memory=False,
            remove_unused_columns=False, disable_tqdm=True, seed=0, data_seed=0,
        )
        trainer = Trainer(model=model, args=targs, train_dataset=Rows(), data_collator=data_collator,
                          callbacks=[Clock()])
        t0 = time.perf_counter()
        out = trainer.train()
        call_seconds = time.perf_counter() - t0
    w = args.warmup
    if len(step_end) != steps_total:
        raise RuntimeError(f"Trainer ran {len(step_end)} steps, expected {steps_total}")
    seconds = step_end[-1] - (step_end[w - 1] if w else t0)
    res = {"call_seconds": round(call_seconds, 3), "final_train_loss": None,
           "mean_train_loss": out.training_loss, "timing": "on_step_end callback, warm-up excluded (no eval, no saving)"}
    res.update(bc.summarize(batches[w:steps_total], seconds, args.seq_len))
    return res


def worker(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    from instr_assets.core.models import modeling

    data = json.loads(Path(args.data).read_text())
    rows = data["padded"] if args.variant == "padded" else data["packed"]
    t0 = time.perf_counter()
    model, tok = modeling.load_base_model(args.model, seed=0)
    load_seconds = time.perf_counter() - t0
    rss_after_load = bc.peak_rss_mb()
    steps_total = args.steps + args.warmup
    if args.variant == "trainer":
        res = _run_trainer(model, rows, args, steps_total, tok.pad_token_id)
    else:
        res = bc.run_our_loop(model, rows, _settings(args, steps_total), tok.pad_token_id, warmup_steps=args.warmup,
                              split_batches=args.cost_split)
    res.update({"model": args.model, "variant": args.variant, "warmup_steps": args.warmup,
                "load_seconds": round(load_seconds, 2), "peak_rss_after_load_mb": rss_after_load,
                "peak_rss_mb": bc.peak_rss_mb(), "torch_threads": torch.get_num_threads(),
                "n_params": sum(p.numel() for p in model.parameters())})
    Path(args.result).write_text(json.dumps(res))


# ------------------------------------------------------------------------------------------------ parent side
def _fmt(x, nd=1):
    return "–" if x is None else f"{x:,.{nd}f}"


def markdown(results: list[dict], ratios: dict) -> str:
    head = ("| model | variant | timed steps | wall s | tokens/s (incl. pad) | useful tokens/s | supervised tokens/s "
            "| peak RSS MB |\n|---|---|---:|---:|---:|---:|---:|---:|")
    lines = [head]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['variant']} | failed: {r['error'][:60]} | | | | | |")
            continue
        lines.append(f"| {r['model']} | {r['variant']} | {r['timed_steps']} | {_fmt(r['seconds'], 2)} | "
                     f"{_fmt(r['tokens_per_s'])} | {_fmt(r['useful_tokens_per_s'])} | "
                     f"{_fmt(r['supervised_tokens_per_s'])} | {_fmt(r['peak_rss_mb'], 0)} |")
    lines.append("")
    lines.append("| model | packed / padded useful tokens/s (target ≥ 1.5) | ours (packed) / Trainer tokens/s (target ≥ 1.0) |")
    lines.append("|---|---:|---:|")
    for m, q in ratios.items():
        a, b = q.get("packed_vs_padded_useful"), q.get("ours_vs_trainer_tokens")
        lines.append(f"| {m} | {_fmt(a, 2)}{'' if a is None else (' met' if a >= 1.5 else ' NOT met')} | "
                     f"{_fmt(b, 2)}{'' if b is None else (' met' if b >= 1.0 else ' NOT met')} |")
    splits = [r for r in results if "cost_split" in r]
    if splits:
        lines += ["", "| model | variant | pad share | fwd+bwd ms | body share | body ms / position "
                      "| head ms / supervised token |", "|---|---|---:|---:|---:|---:|---:|"]
        for r in splits:
            c = r["cost_split"]
            lines.append(f"| {r['model']} | {r['variant']} | {r['pad_share']:.1%} | {_fmt(1e3 * c['fwd_bwd_s'])} | "
                         f"{c['body_share']:.1%} | {_fmt(c['body_ms_per_position'], 4)} | "
                         f"{_fmt(c['head_ms_per_supervised_token'], 3)} |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="tiny,smollm2")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--steps", type=int, default=None, help="timed steps (default: tiny 20, smollm2 4)")
    p.add_argument("--warmup", type=int, default=1, help="untimed warm-up steps before the timed ones")
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cost-split", type=int, default=0, metavar="N",
                   help="after timing, split N timed batches' forward+backward into body and LM head (packed, padded)")
    p.add_argument("--n-verifiable", type=int, default=20, help="generate_verifiable_tasks(n, seed=7) per kind x lang")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "train_bench.json"))
    # internal: one (model, variant) in this process
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--variant", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return 0

    from instr_assets.core.models.modeling import load_tokenizer

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for v in variants:
        if v not in VARIANTS:
            p.error(f"unknown variant {v!r}")
    t0 = time.perf_counter()
    tok = load_tokenizer()
    packed, padded, stats = bc.prepare_rows(tok, bc.build_pairs(args.n_verifiable, seed=7), args.seq_len)
    prep_seconds = time.perf_counter() - t0
    print(f"data: {json.dumps(stats)} (prepared in {prep_seconds:.1f}s)", flush=True)

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        data_path = Path(tmp) / "data.json"
        data_path.write_text(json.dumps({"packed": packed, "padded": padded}))
        for model in models:
            steps = args.steps if args.steps is not None else DEFAULT_STEPS.get(model, 10)
            for variant in variants:
                res_path = Path(tmp) / f"{model}-{variant}.json"
                cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--model", model, "--variant", variant,
                       "--data", str(data_path), "--result", str(res_path), "--steps", str(steps),
                       "--warmup", str(args.warmup), "--seq-len", str(args.seq_len), "--batch-size",
                       str(args.batch_size), "--lr", str(args.lr), "--threads", str(args.threads),
                       "--cost-split", str(args.cost_split)]
                print(f"running {model}/{variant}: {steps} timed steps + {args.warmup} warm-up ...", flush=True)
                w0 = time.perf_counter()
                proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
                if proc.returncode != 0 or not res_path.exists():
                    err = (proc.stderr or proc.stdout).strip().splitlines()
                    print("\n".join(err[-20:]), file=sys.stderr)
                    results.append({"model": model, "variant": variant, "error": err[-1] if err else f"rc {proc.returncode}"})
                    continue
                res = json.loads(res_path.read_text())
                res["subprocess_seconds"] = round(time.perf_counter() - w0, 1)
                results.append(res)
                print(f"  {res['seconds']:.2f}s for {res['timed_steps']} steps, {res['tokens_per_s']:.0f} tok/s, "
                      f"{res['useful_tokens_per_s']:.0f} useful tok/s ({res['subprocess_seconds']}s in all)", flush=True)

    ratios = {}
    for model in models:
        by = {r["variant"]: r for r in results if r["model"] == model and "error" not in r}
        q = {}
        if "packed" in by and "padded" in by:
            q["packed_vs_padded_useful"] = round(by["packed"]["useful_tokens_per_s"] / by["padded"]["useful_tokens_per_s"], 3)
            q["packed_vs_padded_supervised"] = round(by["packed"]["supervised_tokens_per_s"] / by["padded"]["supervised_tokens_per_s"], 3)
            q["packed_vs_padded_tokens"] = round(by["packed"]["tokens_per_s"] / by["padded"]["tokens_per_s"], 3)
        if "packed" in by and "trainer" in by:
            q["ours_vs_trainer_tokens"] = round(by["packed"]["tokens_per_s"] / by["trainer"]["tokens_per_s"], 3)
        q["targets"] = {"packing_ge_1.5x_padded_useful": q.get("packed_vs_padded_useful", 0) >= 1.5 if "packed_vs_padded_useful" in q else None,
                        "ours_not_slower_than_trainer": q.get("ours_vs_trainer_tokens", 0) >= 1.0 if "ours_vs_trainer_tokens" in q else None}
        ratios[model] = q

    import torch
    import transformers

    report = {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", "bench/train_bench.py", *sys.argv[1:]]),
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
                    "torch": torch.__version__, "transformers": transformers.__version__,
                    "load_avg_at_end": os.getloadavg()},
        "settings": {"seq_len": args.seq_len, "batch_size": args.batch_size, "lr": args.lr, "threads": args.threads,
                     "warmup_steps": args.warmup, "n_verifiable": args.n_verifiable, "cost_split_batches": args.cost_split},
        "data": stats, "results": results, "ratios": ratios,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Keep earlier models' figures when this run covers only some of them.
    if out.exists():
        try:
            old = json.loads(out.read_text())
            kept = [r for r in old.get("results", []) if r.get("model") not in models]
            if kept:
                report["results"] = kept + report["results"]
                report["ratios"] = {**{k: v for k, v in old.get("ratios", {}).items() if k not in models}, **ratios}
                report["earlier_runs"] = old.get("earlier_runs", []) + [
                    {"command": old.get("command"), "created": old.get("created"), "models": sorted({r.get("model") for r in kept})}]
        except (json.JSONDecodeError, AttributeError):
            pass
    out.write_text(json.dumps(report, indent=2))
    print()
    print(markdown(report["results"], report["ratios"]))
    print(f"\nwrote {out}")
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
