"""Figures drawn from real runs: FLOPs/params distribution of sampled paths (PNG + GIF)."""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import numpy as np

TITLES = {"none": "no constraint", "random": "constraints met by random sampling",
          "evolution": "constraints met by strolling evolution"}


def _matplotlib():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _draw_box(ax, box):
    from matplotlib.patches import Rectangle
    ax.add_patch(Rectangle((box.flops_min / 1e6, box.params_min / 1e6), (box.flops_max - box.flops_min) / 1e6,
                           (box.params_max - box.params_min) / 1e6, fill=False, linestyle="--",
                           edgecolor="tab:blue", linewidth=1.5))


def distribution_figure(points: Dict[str, Sequence[Tuple[float, float]]], box, path: str, title: str = "") -> None:
    """One panel per method: sampled paths' (FLOPs, params) with the dashed target box."""
    plt = _matplotlib()
    fig, axes = plt.subplots(1, len(points), figsize=(5 * len(points), 4.3), sharex=True, sharey=True)
    axes = np.atleast_1d(axes)
    for ax, (method, pts) in zip(axes, points.items()):
        arr = np.asarray(pts, dtype=float)
        ax.scatter(arr[:, 0] / 1e6, arr[:, 1] / 1e6, s=2, alpha=0.35, color="tab:red")
        _draw_box(ax, box)
        ax.set_title(f"{TITLES.get(method, method)}\n({len(arr)} paths)", fontsize=10)
        ax.set_xlabel("FLOPs (M)")
    axes[0].set_ylabel("params (M)")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def distribution_gif(pts: Sequence[Tuple[float, float]], box, path: str, frames: int = 12, title: str = "") -> None:
    """Animated build-up of one method's samples over its steps."""
    from matplotlib.animation import FuncAnimation, PillowWriter
    plt = _matplotlib()
    arr = np.asarray(pts, dtype=float) / 1e6
    fig, ax = plt.subplots(figsize=(5, 4.3))
    pad_f, pad_p = (box.flops_max - box.flops_min) / 1e6 * 0.15, (box.params_max - box.params_min) / 1e6 * 0.15
    lims = (min(arr[:, 0].min(), box.flops_min / 1e6) - pad_f, max(arr[:, 0].max(), box.flops_max / 1e6) + pad_f,
            min(arr[:, 1].min(), box.params_min / 1e6) - pad_p, max(arr[:, 1].max(), box.params_max / 1e6) + pad_p)

    def draw(k):
        ax.clear()
        n = max(1, round(len(arr) * (k + 1) / frames))
        ax.scatter(arr[:n, 0], arr[:n, 1], s=3, alpha=0.4, color="tab:red")
        _draw_box(ax, box)
        ax.set_xlim(lims[0], lims[1])
        ax.set_ylim(lims[2], lims[3])
        ax.set_xlabel("FLOPs (M)")
        ax.set_ylabel("params (M)")
        ax.set_title(f"{title} step {n}/{len(arr)}", fontsize=10)

    FuncAnimation(fig, draw, frames=frames).save(path, writer=PillowWriter(fps=3))
    plt.close(fig)


def coverage(points: Dict[str, List[Tuple[float, float]]], box, cell=(20e6, 0.25e6)) -> Dict[str, dict]:
    """How evenly each method covers the box: share of reachable grid cells occupied, and chi^2/N
    against a uniform spread over the reachable cells (0 = perfectly even). A cell is reachable when any
    method put a path in it."""
    def cells(pts):
        return [(int((f - box.flops_min) // cell[0]), int((p - box.params_min) // cell[1]))
                for f, p in pts if box.flops_min <= f <= box.flops_max and box.params_min <= p <= box.params_max]
    per_method = {m: cells(pts) for m, pts in points.items()}
    reachable = sorted(set().union(*per_method.values()))
    out = {}
    for method, cs in per_method.items():
        counts = np.array([cs.count(c) for c in reachable], dtype=float)
        n = counts.sum()
        expected = n / len(reachable) if reachable and n else 0
        chi2 = float(((counts - expected) ** 2 / expected).sum() / n) if expected else float("nan")
        out[method] = {"in_box": int(n), "samples": len(points[method]),
                       "occupied_cells": int((counts > 0).sum()), "reachable_cells": len(reachable),
                       "occupied_share": float((counts > 0).mean()) if reachable else 0.0,
                       "chi2_per_sample": chi2}
    return out


def training_curves(histories: Dict[str, List[dict]], path: str, title: str = "") -> None:
    """Train accuracy, validation top-1 and train loss per epoch, one line per run (history.jsonl)."""
    plt = _matplotlib()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for label, records in histories.items():
        epochs = [r["epoch"] + 1 for r in records]
        line, = axes[0].plot(epochs, [1 - r["val_err_top1"] for r in records], marker="o", label=f"{label} val top-1")
        axes[0].plot(epochs, [r["train_acc"] for r in records], linestyle="--", color=line.get_color(),
                     label=f"{label} train")
        axes[1].plot(epochs, [r["train_loss"] for r in records], marker="o", color=line.get_color(), label=label)
    axes[0].set_ylabel("accuracy")
    axes[1].set_ylabel("train loss")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# search
# ---------------------------------------------------------------------------------------------
SCORE_AXIS = "1 - normalised score  (1 - (F/F_ref + P/P_ref) / 2; right = cheaper)"


def _scatter_generation(ax, records: List[dict], history: List[dict], lims=None, comparison: str = "") -> None:
    if history:
        ax.scatter([1 - r["normalized_score"] / 2 for r in history], [r["top1"] for r in history], s=8,
                   color="lightgrey", label="earlier generations")
    ax.scatter([1 - r["normalized_score"] / 2 for r in records], [r["top1"] for r in records], s=14,
               color="tab:blue", alpha=0.8, label="this generation")
    best = max(records, key=lambda r: (r["fitness"], r["candidate"]))
    ax.scatter([1 - best["normalized_score"] / 2], [best["top1"]], s=120, marker="*", color="tab:red",
               label=f"best: top-1 {best['top1']:.4f}")
    if lims:
        ax.set_xlim(*lims[:2])
        ax.set_ylim(*lims[2:])
    ax.set_xlabel(SCORE_AXIS + (f"\nreference {comparison}" if comparison else ""), fontsize=8)
    ax.set_ylabel("supernet validation top-1 (after BN recalibration)", fontsize=8)
    ax.legend(fontsize=7, loc="lower left")


def search_scatter(records: List[dict], path: str, title: str = "", comparison: str = "") -> None:
    """One generation: (1 - normalised score) vs validation top-1, the best point highlighted."""
    plt = _matplotlib()
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    _scatter_generation(ax, records, [], comparison=comparison)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _limits(records: List[dict]):
    xs = [1 - r["normalized_score"] / 2 for r in records]
    ys = [r["top1"] for r in records]
    px, py = (max(xs) - min(xs)) * 0.08 or 0.01, (max(ys) - min(ys)) * 0.08 or 0.01
    return min(xs) - px, max(xs) + px, min(ys) - py, max(ys) + py


def search_gif(generations: List[Tuple[str, List[dict]]], path: str, comparison: str = "") -> None:
    """All generations as one animation on fixed axes, earlier generations in grey."""
    from matplotlib.animation import FuncAnimation, PillowWriter
    if not generations:
        return
    plt = _matplotlib()
    lims = _limits([r for _, records in generations for r in records])
    fig, ax = plt.subplots(figsize=(5.5, 4.5))

    def draw(k):
        ax.clear()
        history = [r for _, records in generations[:k] for r in records]
        _scatter_generation(ax, generations[k][1], history, lims, comparison)
        ax.set_title(f"generation {generations[k][0]}", fontsize=10)
        fig.tight_layout()

    FuncAnimation(fig, draw, frames=len(generations)).save(path, writer=PillowWriter(fps=2))
    plt.close(fig)


def search_progress(generations: List[Tuple[str, List[dict]]], path: str) -> None:
    """Best and mean validation top-1 of each generation's population."""
    plt = _matplotlib()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    x = np.arange(len(generations))
    ax.plot(x, [max(r["top1"] for r in rs) for _, rs in generations], "o-", label="best top-1")
    ax.plot(x, [float(np.mean([r["top1"] for r in rs])) for _, rs in generations], "s--", label="mean top-1")
    ax.set_xticks(x)
    ax.set_xticklabels([label for label, _ in generations], rotation=45 if len(x) > 12 else 0, fontsize=7)
    ax.set_xlabel("generation")
    ax.set_ylabel("supernet validation top-1")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def rank_scatter(rows: List[dict], result: dict, path: str) -> None:
    """Supernet top-1 (after BN recalibration) against stand-alone top-1, with the rank correlations."""
    plt = _matplotlib()
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.scatter([r["supernet_top1"] for r in rows], [r["standalone_top1"] for r in rows], s=30, color="tab:blue")
    split = result.get("supernet_split")
    ax.set_xlabel(f"supernet top-1 on the {split} split" if split else "supernet validation top-1", fontsize=8)
    scored_by = ("each on the few-shot sub-supernet of its block" if result.get("few_shot_params") else
                 f"mean over {1 + len(result['ensemble_params'])} supernets" if result.get("ensemble_params") else "")
    ax.text(0.99, 0.01, "inherited weights, BN recalibrated" + (f"; {scored_by}" if scored_by else ""),
            transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="gray")
    ax.set_ylabel("top-1 trained from scratch" + (" (mean over seeds, test split)" if "baselines" in result else ""),
                  fontsize=8)
    title = f"{result['n']} subnets: a ranking is constant"
    if result["kendall_tau"] is not None:
        ci = result.get("kendall_tau_ci95")
        title = (f"{result['n']} subnets: Kendall tau {result['kendall_tau']:.2f}"
                 + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "") + f", Spearman rho {result['spearman_rho']:.2f}")
        flops = result.get("baselines", {}).get("flops", {}).get("kendall_tau")
        if flops is not None:
            title += f"\nby FLOPs alone: Kendall tau {flops:.2f}"
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
