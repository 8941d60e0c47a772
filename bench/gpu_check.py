"""GPU throughput check: fine-tune SmolLM2 with our train() on CUDA (bf16 autocast) and report tokens/s and MFU.

    bench/gpu_check.sh                      # on the GPU machine (sets up Python, then runs this)
    python bench/gpu_check.py --dry-run-cpu # the CPU code path, 2 steps, tiny model: checks the script itself

MFU = 6 * n_params * tokens_per_s / peak_flops, with tokens counted over whole batches (padding included: the GPU
computes on it) and n_params = every parameter once (tied embeddings counted once; the lm_head matmul is real
compute). Peak: H200 SXM dense BF16 = 989e12 FLOP/s (NVIDIA's 1,979 TFLOPS figure is with 2:4 sparsity); override with
--peak-flops. A second figure adds the attention matmuls that the dense masked SDPA kernel executes over the full
seq_len x seq_len block (12 * n_layers * d_model * seq_len per token, PaLM's accounting). Weights stay float32 (train()
autocasts to bf16 on CUDA), so this is a mixed-precision MFU.

Timing: train() evaluates at step 0 and at its last step; both are excluded (see bench_common.run_our_loop), as are
the warm-up steps (CUDA context, cuBLAS heuristics, allocator growth). A short probe sizes the step count so the
timed run fits --budget-s.

After training, a second step (bench/gpu_augment_step.py; --augment-per-method-per-lang 0 skips it) runs the
augmentation's generation (Self-Instruct, Evol-Instruct: instruction, answer and grade) and the LLM judge on the
GPU with a transformers model through the model runtime, and reports children/s and judged pairs/s.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_common as bc  # noqa: E402

H200_BF16_DENSE = 989e12


def default_out(dry: bool) -> Path:
    name = "gpu_check_dryrun.json" if dry else "gpu_check.json"
    if os.environ.get("OUT"):
        return Path(os.environ["OUT"]) / name
    return Path(__file__).resolve().parent / "results" / name


def write_report(args, info, stats, results, wall0, augment=None) -> Path:
    by = {r["variant"]: r for r in results}
    report = {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["bench/gpu_check.py", *sys.argv[1:]]), "dry_run_cpu": args.dry_run_cpu,
        "machine": info, "data": stats, "results": results,
        "peak_flops_used": args.peak_flops,
        "packed_vs_padded_useful": (round(by["packed"]["useful_tokens_per_s"] / by["padded"]["useful_tokens_per_s"], 3)
                                    if {"packed", "padded"} <= by.keys() else None),
        "augment_judge": augment,
        "total_wall_seconds": round(time.perf_counter() - wall0, 1),
    }
    out = Path(args.out) if args.out else default_out(args.dry_run_cpu)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="smollm2 (default) or tiny (default with --dry-run-cpu)")
    p.add_argument("--steps", type=int, default=200, help="timed steps (capped by --budget-s)")
    p.add_argument("--warmup", type=int, default=5, help="untimed warm-up steps")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=1024)
    p.add_argument("--variants", default="packed,padded", help="packed and/or padded (one sample a row)")
    p.add_argument("--budget-s", type=float, default=120.0, help="max timed training seconds per variant")
    p.add_argument("--peak-flops", type=float, default=H200_BF16_DENSE)
    p.add_argument("--n-verifiable", type=int, default=100, help="generate_verifiable_tasks(n, seed=7) per kind x lang")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--augment-model", default=None, help="transformers folder or cached hub id for the generation "
                   "and judge step (default: the bundled SmolLM2-135M-Instruct saved as a folder)")
    p.add_argument("--augment-per-method-per-lang", type=int, default=3,
                   help="generation attempts per method (self_instruct, evol_instruct) and language; 0 skips the step")
    p.add_argument("--judge-pairs", type=int, default=64, help="seed pairs the judge grades")
    p.add_argument("--augment-batch-size", type=int, default=16)
    p.add_argument("--dry-run-cpu", action="store_true", help="2 steps on the CPU with small shapes; no CUDA needed")
    p.add_argument("--out", default=None)
    args = p.parse_args()

    import torch

    from instr_assets.core.models import modeling
    from instr_assets.core.train.train import TrainSettings

    if args.dry_run_cpu:
        device = "cpu"
        args.model = args.model or "tiny"
        args.steps, args.warmup, args.batch_size, args.seq_len, args.n_verifiable = 2, 1, 2, 256, 2
        args.augment_per_method_per_lang, args.judge_pairs = min(args.augment_per_method_per_lang, 1), 2
        torch.set_num_threads(min(2, os.cpu_count() or 1))
    else:
        if not torch.cuda.is_available():
            print("gpu_check: torch.cuda.is_available() is False; use --dry-run-cpu to check the CPU path", file=sys.stderr)
            return 2
        device = "cuda"
        args.model = args.model or "smollm2"
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    wall0 = time.perf_counter()
    info = {"device": device, "torch": torch.__version__, "python": platform.python_version(),
            "host_cpus": os.cpu_count()}
    if device == "cuda":
        info.update({"gpu": torch.cuda.get_device_name(0), "cuda": torch.version.cuda,
                     "gpu_memory_gib": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)})
    try:
        import transformers
        info["transformers"] = transformers.__version__
    except Exception:  # pragma: no cover
        pass
    print(f"gpu_check: {json.dumps(info)}", flush=True)

    t0 = time.perf_counter()
    tok = modeling.load_tokenizer()
    packed, padded, stats = bc.prepare_rows(tok, bc.build_pairs(args.n_verifiable, seed=7), args.seq_len)
    print(f"data ({time.perf_counter() - t0:.1f}s): {json.dumps(stats)}", flush=True)

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    results = []
    for variant in variants:
        rows = {"packed": packed, "padded": padded}[variant]
        if len(rows) < args.batch_size:
            raise SystemExit(f"{variant}: {len(rows)} rows < batch size {args.batch_size}; raise --n-verifiable")
        t0 = time.perf_counter()
        model, tok = modeling.load_base_model(args.model, seed=0)
        load_s = time.perf_counter() - t0
        cfg = model.config
        n_params = sum(p.numel() for p in model.parameters())

        def settings(total):
            return TrainSettings(max_steps=total, batch_size=args.batch_size, lr=args.lr, warmup_steps=3,
                                 eval_every=total + 1000, eval_max_sequences=1, seed=0, seq_len=args.seq_len,
                                 device=device)

        steps = args.steps
        probe = None
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
            probe = bc.run_our_loop(model, rows, settings(args.warmup + 5), tok.pad_token_id, warmup_steps=args.warmup)
            fit = max(10, int(args.budget_s / max(probe["s_per_step"], 1e-6)))
            steps = min(args.steps, fit)
            print(f"{variant}: probe {probe['s_per_step']:.3f} s/step -> {steps} timed steps", flush=True)
            model, tok = modeling.load_base_model(args.model, seed=0)  # fresh weights for the timed run
        res = bc.run_our_loop(model, rows, settings(args.warmup + steps), tok.pad_token_id, warmup_steps=args.warmup)
        attn = 12 * cfg.num_hidden_layers * cfg.hidden_size * args.seq_len
        res.update({
            "variant": variant, "model": args.model, "n_params": n_params, "load_seconds": round(load_s, 2),
            "warmup_steps": args.warmup, "batch_size": args.batch_size, "seq_len": args.seq_len,
            "peak_flops": args.peak_flops,
            "mfu": 6 * n_params * res["tokens_per_s"] / args.peak_flops,
            "mfu_with_attention": (6 * n_params + attn) * res["tokens_per_s"] / args.peak_flops,
            "mfu_useful_tokens": 6 * n_params * res["useful_tokens_per_s"] / args.peak_flops,
            "loss_finite": res["final_train_loss"] is not None and math.isfinite(res["final_train_loss"]),
            "probe_s_per_step": probe["s_per_step"] if probe else None,
            "peak_rss_mb": bc.peak_rss_mb(),
        })
        if device == "cuda":
            res["peak_gpu_mem_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        results.append(res)
        print(f"{variant}: {res['timed_steps']} steps in {res['seconds']:.1f}s | {res['tokens_per_s']:,.0f} tok/s "
              f"({res['useful_tokens_per_s']:,.0f} useful, {res['supervised_tokens_per_s']:,.0f} supervised) | "
              f"MFU {100 * res['mfu']:.2f}% (with attention {100 * res['mfu_with_attention']:.2f}%) | "
              f"final loss {res['final_train_loss']:.4f}", flush=True)
        write_report(args, info, stats, results, wall0)  # partial results survive a timeout
        del model
        if device == "cuda":
            torch.cuda.empty_cache()

    augment = None
    if args.augment_per_method_per_lang > 0:
        import gpu_augment_step

        augment = gpu_augment_step.run(args.augment_model, args.augment_per_method_per_lang, args.judge_pairs,
                                       args.augment_batch_size, args.dry_run_cpu)
        print(f"augment+judge: {augment['attempts']} generation attempts in {augment['generation_seconds']}s "
              f"({augment['children_kept']} kept, {augment['children_per_s']} children/s) | judge "
              f"{augment['judge_pairs']} pairs at {augment['judge_pairs_per_s']} pairs/s on {augment['device']}",
              flush=True)
    out = write_report(args, info, stats, results, wall0, augment)
    print(f"wrote {out} ({time.perf_counter() - wall0:.1f}s in all)")
    ok = all(r["loss_finite"] for r in results) and (augment is None or augment["judge_scores_finite"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
