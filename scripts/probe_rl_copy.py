"""Does an agent learn the NTM paper's Copy by RL? A length curriculum, then every length.

    nice -n 10 python scripts/probe_rl_copy.py --agent ntm --ladder 2 5 10 20 \\
        --budget 500000 --seconds 900 --eval 5 10 20 50 100 \\
        --json benchmarks/results/ntm-copy-rl-cpu/probe/ntm-seed0.json

``memenvs/Copy-v0`` (``--num-symbols``, ``min_length`` = ``--min-length``): the return of an
episode is the fraction of output symbols written right (per-symbol accuracy), success is all
of them right. One model (``--agent``, registry defaults plus ``--core-kwargs``, MemoryPPO /
RecurrentPPO settings ``--hyper`` over :data:`HYPER`) trains up ``--ladder`` (``max_length``
values; moves on once ``--advance`` of the last 100 training episodes succeed, as
:func:`agents.ladder.train_ladder`; stops at ``--stop-success`` (99%) at the last rung) until
``--budget`` env steps or ``--seconds`` of training; ``--final-hyper`` gives the last rung
settings of its own (of :data:`RETUNABLE`, e.g. a KL stop there only; recorded in ``retuned``).
``--gate-length G`` adds a gate to that stop rule, for failures the training window hardly sees
(the longest lengths are a few of its episodes): once it is met, the deterministic policy is
scored on fresh episodes of exactly ``G`` symbols, and the run stops only if their per-symbol
accuracy reaches ``--gate-accuracy``; otherwise it trains on with a fresh window and checks
again (every check is in the ``gates`` record); ``--gate-every K`` also checks it every ``K``
env steps at the last rung (after an update; a pass stops the run there, before the next): it
keeps a policy that may have collapsed by the time the stop rule is met, but it also stops at
policies that copy ``G`` and not longer (measured: ``ntm-copy-rl-cpu/probe/README.md``,
thirteenth round). Gate episodes come from ``--gate-seed``, not the final evaluation's
``--eval-seed``, so the final score at ``G`` is not on the episodes the stop was selected on.
Every rollout the mean training return (last 100 episodes) is logged; at the end the
deterministic policy is scored on fresh episodes with ``min_length = max_length = L`` for each
``--eval`` length ``L``. An NTM keeps its trained memory size unless ``--eval-slots`` gives a
larger one for evaluation (:meth:`NTMCore.with_memory_slots`).

Long runs across sessions: ``--checkpoint DIR`` (MemoryPPO and RecurrentPPO agents) saves
the run into ``DIR`` every ``--checkpoint-every`` seconds of training and when training stops
(:func:`agents.checkpoint.save_checkpoint` plus ``probe.json``: the settings, the rung, the
curriculum and the curve so far). Run the same command again and it continues from there:
same model, optimizer, env and RNG states, with ``--seconds`` counting this invocation only
and ``--budget`` the total. Settings that define the run (agent, seed, ladder, envs,
hyperparameters, core) must match the checkpoint's (``ValueError`` naming them), except that
a ``--ladder`` that starts with the saved one continues it: a solved run trains on at the next
rung (e.g. ``--ladder 2 5 10 20 50`` after ``2 5 10 20``), and that with ``--retune`` the
optimisation settings of :data:`RETUNABLE` in ``--hyper`` replace the saved ones from the
resume on (e.g. a lower learning rate to fine-tune a checkpoint; ``probe.json`` and the
``--json`` record list each change with the step it took effect at). The
ladder's success window starts empty after a resume (the next 100 episodes decide).
The stop rule and the gate are not settings of the run: a solved run resumed with a gate it
has not passed trains on at its last rung until it does; with ``--train-on`` a solved run
trains on at its last rung in any case, until the stop rule (from an empty window) and the gate
are met again (``probe.json`` and the record list the steps of each ``trained_on``).
``kill -TERM`` stops training at the next env step, saves and exits without evaluating
(status 143); the steps of the unfinished rollout are counted but not trained on.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from agents.benchutil import check_output_paths, command_line, provenance  # noqa: E402
from agents.checks import MAX_SEED  # noqa: E402
from agents.cli.common import json_dict  # noqa: E402
from agents.ladder import STOP_SUCCESS  # noqa: E402
from agents.script_args import (  # noqa: E402
    check_agent,
    check_float,
    check_ints,
    usage_errors,
)

ENV_ID = "memenvs/Copy-v0"
HYPER = {"learning_rate": 1e-3, "ent_coef": 0.01, "n_steps": 64, "batch_size": 1024, "n_epochs": 4}


def grow_memory(model, slots: int) -> None:
    """Give an NTM policy's core (and critic core) ``slots`` memory slots, in place."""
    policy = model.policy
    for name in ("core", "critic_core"):
        core = getattr(policy, name, None)
        if core is not None and hasattr(core, "with_memory_slots") and slots > core.N:
            setattr(policy, name, core.with_memory_slots(slots))


# optimisation settings that --retune may change on resume (the rest define the run)
RETUNABLE = (
    "learning_rate",
    "clip_range",
    "ent_coef",
    "internal_ent_coef",
    "target_kl",
    "n_epochs",
)
RUN_SETTINGS = ("agent", "seed", "ladder", "advance", "num_symbols", "min_length", "n_envs")
PROBE = "probe.json"


def run_settings(args, hyper: dict) -> dict:
    """What defines a run: a checkpoint resumes only under the same settings."""
    settings = {k: getattr(args, k) for k in RUN_SETTINGS}
    settings.update(hyper=hyper, core_kwargs=args.core_kwargs)
    if args.final_hyper:  # only when given: runs saved before it existed still resume
        settings["final_hyper"] = args.final_hyper
    return settings


def load_probe(args, hyper: dict) -> dict | None:
    """The probe state saved in ``args.checkpoint`` (None: start a new run there)."""
    if not args.checkpoint or not os.path.isfile(os.path.join(args.checkpoint, PROBE)):
        return None
    with open(os.path.join(args.checkpoint, PROBE)) as f:
        saved = json.load(f)
    now, before = run_settings(args, hyper), saved["settings"]
    longer = args.ladder[: len(before["ladder"])] == before["ladder"]  # continues the ladder
    compared = dict(before)
    if args.retune:  # the retunable settings are compared as if saved with the new values
        kept = {k: v for k, v in before["hyper"].items() if k not in RETUNABLE}
        compared["hyper"] = {**kept, **{k: v for k, v in hyper.items() if k in RETUNABLE}}
    keys = dict.fromkeys([*now, *before])
    differ = [k for k in keys if compared.get(k) != now.get(k) and not (k == "ladder" and longer)]
    if differ:
        pairs = ", ".join(f"{k}: {before.get(k)!r} saved, {now.get(k)!r} now" for k in differ)
        raise ValueError(f"--checkpoint {args.checkpoint!r} is another run ({pairs})")
    return saved


def retune(model, saved_hyper: dict, hyper: dict) -> dict:
    """Apply the :data:`RETUNABLE` settings of ``hyper`` that differ from ``saved_hyper``."""
    from stable_baselines3.common.utils import FloatSchedule

    changes = {k: hyper.get(k) for k in RETUNABLE if hyper.get(k) != saved_hyper.get(k)}
    for key, value in changes.items():
        if value is None and key != "target_kl":
            raise ValueError(f"--retune: --hyper must give {key!r} (saved {saved_hyper[key]!r})")
        setattr(model, key, FloatSchedule(value) if key == "clip_range" else value)
    if "learning_rate" in changes:
        model._setup_lr_schedule()
    return changes


def gate_passed(args, gates: list) -> bool:
    """Whether the last gate check in ``gates`` was ``--gate-length``'s and passed."""
    if not gates or gates[-1]["length"] != args.gate_length:
        return False
    return gates[-1]["mean_return"] >= args.gate_accuracy


def score_length(args, model, length: int, seed: int) -> dict:
    """The deterministic policy on ``--eval-episodes`` fresh episodes (from ``seed``) of exactly
    ``length`` symbols: :func:`agents.training.evaluate_success`'s success and mean return."""
    from agents.training import evaluate_success

    kwargs = {"num_symbols": args.num_symbols, "min_length": length, "max_length": length}
    return evaluate_success(
        model, ENV_ID, kwargs, n_episodes=args.eval_episodes, seed=seed, n_envs=32
    )


def gate_passes(args, model, state: dict) -> bool:
    """The gate of the stop rule: :func:`score_length` at ``--gate-length`` (the model's own
    memory size) on ``--gate-seed``'s episodes; the run is solved once their per-symbol
    accuracy (mean return) reaches ``--gate-accuracy``. Each check is appended to
    ``state["gates"]`` and printed."""
    r = score_length(args, model, args.gate_length, args.gate_seed)
    state["gates"].append({"steps": int(model.num_timesteps), "length": args.gate_length, **r})
    print(json.dumps({"gate": state["gates"][-1]}), flush=True)
    return gate_passed(args, state["gates"])


def save_probe(args, hyper: dict, model, state: dict, reached: list, log: list) -> None:
    """Save the model (:func:`agents.checkpoint.save_checkpoint`) and the probe's state."""
    from agents.checkpoint import save_checkpoint

    save_checkpoint(model, args.checkpoint)
    record = {
        "settings": run_settings(args, hyper),
        "rung_index": state["rung_index"],
        "solved": state["solved"],
        "steps": int(model.num_timesteps),
        "train_s": state["train_s"],
        "curriculum": reached,
        "retuned": state["retuned"],
        "trained_on": state["trained_on"],
        "gates": state["gates"],
        "log": log,
    }
    tmp = os.path.join(args.checkpoint, PROBE + ".tmp")
    with open(tmp, "w") as f:
        json.dump(record, f)
    os.replace(tmp, os.path.join(args.checkpoint, PROBE))


def run(args) -> dict:
    import numpy as np
    import torch
    from stable_baselines3.common.callbacks import BaseCallback

    torch.set_num_threads(1)
    import memenvs  # noqa: F401
    from agents.ladder import progress_callback, switch_env
    from agents.training import make_agent
    from agents.vec_env import make_vec_env

    fixed = {"num_symbols": args.num_symbols, "min_length": args.min_length}

    def make_env(rung):
        kwargs = {**fixed, "max_length": rung}
        return make_vec_env(ENV_ID, n_envs=args.n_envs, seed=args.seed, env_kwargs=kwargs)

    hyper = {**HYPER, **args.hyper}
    core = args.core_kwargs or None
    saved = load_probe(args, hyper)
    if saved is None:
        model = make_agent(
            args.agent, make_env(args.ladder[0]), seed=args.seed, core_kwargs=core, **hyper
        )
        saved = {"settings": run_settings(args, hyper), "rung_index": 0, "train_s": 0.0}
        saved.update(curriculum=[], log=[])
    else:
        from agents.checkpoint import load_checkpoint

        model = load_checkpoint(args.checkpoint)
        print(json.dumps({"resumed": args.checkpoint, "steps": model.num_timesteps}), flush=True)
        changes = retune(model, saved["settings"]["hyper"], hyper)
        if changes:
            saved.setdefault("retuned", []).append({"steps": model.num_timesteps, **changes})
            print(json.dumps({"retuned": changes}), flush=True)
    retuned: list = saved.get("retuned", [])
    earlier_s, resumed_at = saved["train_s"], int(model.num_timesteps)
    start = time.perf_counter()
    log: list[dict] = saved["log"]
    reached: list = saved["curriculum"]
    state = {"rung_index": saved["rung_index"], "solved": saved.get("solved", False)}
    state.update(last_save=start, stop=False, terminated=False, retuned=retuned)
    state.update(gates=saved.get("gates", []), gated=False, trained_on=saved.get("trained_on", []))
    resumed, saved_rungs = bool(reached), len(saved["settings"]["ladder"])
    if state["solved"] and len(args.ladder) > saved_rungs:
        # a longer --ladder takes a solved run on to its next rung
        state.update(solved=False, rung_index=saved_rungs)
        resumed = False
    elif state["solved"] and args.gate_length and not gate_passed(args, state["gates"]):
        state.update(solved=False)  # a gate given on resume: trains on at the last rung
    elif state["solved"] and args.train_on:  # the stop rule and the gate decide again
        state.update(solved=False)
        state["trained_on"].append(int(model.num_timesteps))

    def elapsed() -> float:
        return earlier_s + time.perf_counter() - start

    def save() -> None:
        state["last_save"] = time.perf_counter()
        if args.checkpoint:
            save_probe(args, hyper, model, {**state, "train_s": elapsed()}, reached, log)

    class Log(BaseCallback):
        def __init__(self, rung, last: bool):
            super().__init__()
            self.rung, self.last_print = rung, 0
            every = args.gate_every if last else 0  # --gate-every: at the last rung only
            self.next_gate = model.num_timesteps + every if every else None

        def _on_rollout_end(self) -> None:
            infos = self.model.ep_info_buffer
            if len(infos) < 20:
                return
            entry = {
                "steps": int(self.num_timesteps),
                "seconds": round(elapsed(), 1),
                "max_length": self.rung,
                "mean_return": float(np.mean([i["r"] for i in infos])),
                "success": float(np.mean(self.model.ep_success_buffer)),
            }
            log.append(entry)
            if self.num_timesteps - self.last_print >= args.print_every:
                self.last_print = self.num_timesteps
                print(json.dumps(entry), flush=True)

        def _on_rollout_start(self) -> None:  # after an update: a clean point to stop or save
            state["stop"] |= time.perf_counter() - start >= args.seconds
            if self.next_gate is not None and self.num_timesteps >= self.next_gate:
                self.next_gate = self.num_timesteps + args.gate_every
                state["gated"] = gate_passes(args, model, state)
                state["stop"] |= state["gated"]
            if time.perf_counter() - state["last_save"] >= args.checkpoint_every:
                save()

        def _on_step(self) -> bool:  # a time stop loses one step of n_envs, never an update
            return not state["stop"]

    def terminate(signum, frame) -> None:  # SIGTERM: stop now, save, skip the evaluation
        state["stop"] = state["terminated"] = True

    signal.signal(signal.SIGTERM, terminate)
    curve: list = []
    first = len(args.ladder) if state["solved"] else state["rung_index"]
    for i in range(first, len(args.ladder)):
        rung = args.ladder[i]
        state["rung_index"] = i
        last, fresh = i == len(args.ladder) - 1, i == 0 and not resumed
        if not resumed:
            if i > 0:
                switch_env(model, make_env(rung), rung)
            reached.append([rung, int(model.num_timesteps), round(elapsed(), 1)])
            print(json.dumps({"rung": rung, "steps": int(model.num_timesteps)}), flush=True)
            if last and args.final_hyper:  # the last rung trains at its own settings
                changes = retune(model, hyper, {**hyper, **args.final_hyper})
                retuned.append({"steps": int(model.num_timesteps), "rung": rung, **changes})
                print(json.dumps({"retuned": changes, "rung": rung}), flush=True)
        while True:  # at the last rung, until the stop rule is met and the gate (if any) passes
            progress = progress_callback(curve, args.stop_success if last else args.advance)
            model.learn(
                args.budget - model.num_timesteps,
                callback=[progress, Log(rung, last)],
                reset_num_timesteps=fresh,
            )
            resumed = fresh = False
            if state["gated"]:  # a --gate-every check passed: solved, stopped before an update
                met, state["stop"] = True, False
                break
            met = progress.met
            if not (last and met and args.gate_length):
                break
            met = gate_passes(args, model, state)  # failed: a fresh stop window, train on
            if met or state["stop"] or model.num_timesteps >= args.budget:
                break
        state["solved"] = last and met
        if not met or model.num_timesteps >= args.budget:
            break
    train_s = elapsed()
    save()
    if state["terminated"]:
        print(json.dumps({"terminated": int(model.num_timesteps)}), flush=True)
        sys.exit(143)
    if args.eval_slots:
        grow_memory(model, args.eval_slots)
    evals = {}
    for length in args.eval:
        r = score_length(args, model, length, args.eval_seed)
        evals[str(length)] = r
        print(json.dumps({"eval_length": length, **r}), flush=True)
    return {
        "agent": args.agent,
        "seed": args.seed,
        "env": ENV_ID,
        "fixed": fixed,
        "ladder": args.ladder,
        "advance": args.advance,
        "n_envs": args.n_envs,
        "hyperparameters": hyper,
        "core_kwargs": args.core_kwargs,
        "eval_slots": args.eval_slots,
        "eval_memory_slots": getattr(model.policy.core, "N", None)
        if hasattr(model.policy, "core")
        else None,
        "budget": args.budget,
        "seconds_limit": None if math.isinf(args.seconds) else args.seconds,  # JSON: no inf
        "steps_trained": int(model.num_timesteps),
        "resumed_at_steps": resumed_at,
        "train_s": train_s,
        "env_steps_per_s": model.num_timesteps / train_s,
        "curriculum": reached,
        "retuned": retuned,
        "trained_on": state["trained_on"],
        "stop_success": args.stop_success,
        "gate": {"length": args.gate_length, "accuracy": args.gate_accuracy},
        "gate_seed": args.gate_seed,
        "eval_seed": args.eval_seed,
        "gates": state["gates"],
        "final_train": log[-1] if log else None,
        "eval": evals,
        "log": log,
    }


def check_args(args) -> None:
    """The arguments the parser's own checks leave, before any training: ``ValueError``
    naming the flag and the range. Builds each env once (its knob and memory checks) and the
    model (the core's and the algorithm's checks of ``--core-kwargs`` and ``--hyper``, and of
    ``--final-hyper`` over them)."""
    from agents.cores.base import MAX_SIZE
    from agents.training import make_agent
    from agents.vec_env import make_vec_env
    from memenvs.core import MAX_KNOB

    for flag in ("--seed", "--eval-seed", "--gate-seed"):
        check_ints(flag, getattr(args, flag[2:].replace("-", "_")), 0, MAX_SEED)
    check_ints("--min-length", args.min_length, 1, MAX_KNOB)
    check_ints("--ladder", args.ladder, 1, MAX_KNOB)
    check_ints("--eval", args.eval, 1, MAX_KNOB)
    check_ints("--num-symbols", args.num_symbols, 2, MAX_KNOB)
    check_ints("--budget", args.budget, 1)
    check_ints("--n-envs", args.n_envs, 1, MAX_KNOB)
    check_ints("--eval-episodes", args.eval_episodes, 1, MAX_KNOB)
    check_ints("--eval-slots", args.eval_slots, 0, MAX_SIZE)
    check_ints("--print-every", args.print_every, 0)
    check_float("--advance", args.advance, 0, 1)
    check_float("--seconds", args.seconds, 0, above=True, inf="no time limit")
    check_float("--checkpoint-every", args.checkpoint_every, 0, inf="only when training stops")
    spec = check_agent(args.agent, args.hyper, args.core_kwargs)
    if args.eval_slots and not hasattr(spec.core_class, "with_memory_slots"):
        raise ValueError(f"--eval-slots needs an NTM core, got agent {args.agent!r}")
    eval_envs = min(32, args.eval_episodes)  # score_length's
    lengths = [(f"--ladder {n}", args.min_length, n, args.n_envs) for n in args.ladder]
    lengths += [(f"--eval {n}", n, n, eval_envs) for n in args.eval]
    if args.gate_length:
        lengths.append((f"--gate-length {args.gate_length}", *[args.gate_length] * 2, eval_envs))
    for flag, low, high, n in lengths:
        kwargs = {"num_symbols": args.num_symbols, "min_length": low, "max_length": high}
        try:
            make_vec_env(ENV_ID, n_envs=n, env_kwargs=kwargs).close()
        except ValueError as err:
            raise ValueError(f"{flag} ({n} envs): {err}") from None
    hyper = {**HYPER, **args.hyper}
    core = args.core_kwargs or None
    kwargs = {"num_symbols": args.num_symbols, "min_length": args.min_length}
    env = make_vec_env(
        ENV_ID, n_envs=args.n_envs, env_kwargs={**kwargs, "max_length": args.ladder[0]}
    )
    for flag, settings in (("--hyper", hyper), ("--final-hyper", {**hyper, **args.final_hyper})):
        try:
            make_agent(args.agent, env, seed=args.seed, core_kwargs=core, **settings)
        except (TypeError, ValueError) as err:
            flags = f"--core-kwargs or {flag}" if spec.is_memory_agent else flag
            raise ValueError(f"{flags}: {err}") from None
        if not args.final_hyper:
            break
    env.close()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agent", default="ntm")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ladder", nargs="+", type=int, default=[5])
    parser.add_argument("--advance", type=float, default=0.95, help="success to move on")
    parser.add_argument("--num-symbols", type=int, default=8)
    parser.add_argument("--min-length", type=int, default=1)
    parser.add_argument("--budget", type=int, default=300_000)
    parser.add_argument("--seconds", type=float, default=float("inf"))
    parser.add_argument("--n-envs", type=int, default=32)
    parser.add_argument("--hyper", type=json_dict, default={}, help=f"JSON over {HYPER}")
    parser.add_argument("--core-kwargs", type=json_dict, default={}, help="JSON")
    parser.add_argument(
        "--final-hyper",
        type=json_dict,
        default={},
        help=f"JSON over {RETUNABLE}: replace --hyper's from the last rung on",
    )
    parser.add_argument("--eval", nargs="*", type=int, default=[5])
    parser.add_argument("--eval-episodes", type=int, default=128)
    parser.add_argument("--eval-slots", type=int, default=0)
    parser.add_argument("--eval-seed", type=int, default=10_000, help="of the eval's episodes")
    parser.add_argument("--print-every", type=int, default=20_000)
    parser.add_argument("--json", default="")
    parser.add_argument("--checkpoint", default="", help="folder: save, and resume from, here")
    parser.add_argument("--checkpoint-every", type=float, default=600.0, help="seconds")
    parser.add_argument(
        "--retune", action="store_true", help=f"on resume, take {RETUNABLE} from --hyper"
    )
    parser.add_argument(
        "--train-on",
        action="store_true",
        help="on resume, a solved run trains on at its last rung until the stop rule and the "
        "gate are met again",
    )
    parser.add_argument(
        "--stop-success",
        type=float,
        default=STOP_SUCCESS,
        help="training success (last 100 episodes) that ends the last rung",
    )
    parser.add_argument(
        "--gate-length",
        type=int,
        default=0,
        help="stop rule also needs this length copied (deterministic eval); 0: no gate",
    )
    parser.add_argument("--gate-accuracy", type=float, default=0.95, help="of --gate-length")
    parser.add_argument(
        "--gate-every",
        type=int,
        default=0,
        help="at the last rung, also check the gate every this many env steps (0: only when "
        "the stop rule is met); a pass stops the run there, possibly at a policy that copies "
        "--gate-length symbols and no more",
    )
    parser.add_argument(
        "--gate-seed", type=int, default=20_000, help="of the gate's episodes (not --eval-seed)"
    )
    args = parser.parse_args(argv)
    if not 0.0 <= args.stop_success <= 1.0:
        parser.error(f"--stop-success must be in [0, 1], got {args.stop_success}")
    if args.gate_length < 0:
        parser.error(f"--gate-length must be >= 0 (0: no gate), got {args.gate_length}")
    if args.gate_every < 0 or (args.gate_every and not args.gate_length):
        parser.error(f"--gate-every must be >= 0 and needs --gate-length, got {args.gate_every}")
    if not 0.0 <= args.gate_accuracy <= 1.0:
        parser.error(f"--gate-accuracy must be in [0, 1], got {args.gate_accuracy}")
    if args.checkpoint and args.agent == "ppo":
        parser.error("--checkpoint needs a recurrent agent (MemoryPPO or RecurrentPPO), not 'ppo'")
    if min(args.ladder) < args.min_length:
        parser.error("--ladder values must be >= --min-length")
    unknown = sorted(set(args.final_hyper) - set(RETUNABLE))
    if unknown:
        parser.error(f"--final-hyper takes only {RETUNABLE}, got {unknown}")
    if args.retune and not args.checkpoint:
        parser.error("--retune changes a resumed run: it needs --checkpoint")
    if args.train_on and not args.checkpoint:
        parser.error("--train-on continues a resumed run: it needs --checkpoint")
    with usage_errors(parser):
        check_args(args)
        check_output_paths(json=args.json)
    command = command_line("probe_rl_copy.py", argv)
    record = {**provenance(command), **run(args)}
    if args.json:
        os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(record, f)
            f.write("\n")


if __name__ == "__main__":
    main()
