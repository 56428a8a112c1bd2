"""Plots of a benchmark suite: success versus the knob, and learning curves (matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents.ladder import SUCCESS
from agents.report import median_success, task_records
from agents.suite import task_name

INSTALL_HINT = "pip install 'memenvs-agents[bench]'"


def require_matplotlib(
    purpose: str = "the benchmark report's plots", without: str = "--no-plots"
) -> None:
    """Raise ``ImportError`` naming ``purpose``, the extra to install and ``without`` (the
    flag that does without the images, if any) if matplotlib is missing.

    Callers check before the work that needs it (the benchmark app before training, not
    after hours of it; ``memenvs-enjoy --png`` before its episode).
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        instead = f" (or pass {without})" if without else ""
        raise ImportError(f"{purpose} need matplotlib: {INSTALL_HINT}{instead}") from None


def write_plots(suite: dict[str, Any], records: list[dict], out_dir: Path) -> None:
    """Write ``success_vs_<knob>_<task>.png`` and ``curves_<task>.png`` into ``out_dir``
    (``<task>-<i>`` for the ``i``-th task when several tasks share an env)."""
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [task_name(t["env"]) for t in suite["tasks"]]
    for i, task in enumerate(suite["tasks"]):
        name = names[i] if names.count(names[i]) == 1 else f"{names[i]}-{i}"
        task_rs = task_records(records, task)  # only this task's, not its env's
        if not task_rs:
            continue  # nothing measured yet: no empty figures
        fig, ax = plt.subplots(figsize=(6, 4))
        for agent in suite["agents"]:
            pts = []
            for v in task["ladder"]:
                rs = [r for r in task_rs if r["agent"] == agent and r["value"] == v]
                if rs:
                    pts.append((v, median_success(rs)))
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", label=agent)
        if any(isinstance(v, (int, float)) and v <= 0 for v in task["ladder"]):
            ax.set_xscale("symlog", base=2, linthresh=1)  # a log axis drops 0 and below
        else:
            ax.set_xscale("log", base=2)
        ax.axhline(SUCCESS, color="gray", linestyle=":", linewidth=1)
        ax.set_xlabel(task["knob"])
        ax.set_ylabel("success rate (median over seeds)")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"{name}: success vs {task['knob']}")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        fig.savefig(out_dir / f"success_vs_{task['knob']}_{name}.png", dpi=100, bbox_inches="tight")
        plt.close(fig)

        fig, ax = plt.subplots(figsize=(6, 4))
        for agent in suite["agents"]:
            rs = [r for r in task_rs if r["agent"] == agent and r["value"] == task["ladder"][0]]
            for i, r in enumerate(rs):
                if r["curve"]:
                    ax.plot(
                        *zip(*r["curve"], strict=True),
                        label=agent if i == 0 else None,
                        color=f"C{suite['agents'].index(agent)}",
                        alpha=0.7,
                    )
        ax.set_xlabel("env steps")
        ax.set_ylabel("training success (last 100 episodes)")
        ax.set_title(f"{name}, {task['knob']}={task['ladder'][0]}: learning curves")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        fig.savefig(out_dir / f"curves_{name}.png", dpi=100, bbox_inches="tight")
        plt.close(fig)
