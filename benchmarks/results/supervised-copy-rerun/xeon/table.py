"""``python table.py FOLDER``: the summary tables of the ten Copy runs in FOLDER.

Per setting (without and with ``--clip-norm 1``) and seed: sequences to <= 1 bit wrong at
lengths 10 and 20, final bits wrong at 10 / 20 and 30 / 50 / 100 / 120 (128 slots), 200 / 500
with the evaluation's 512 slots (and as % of the bits), seconds."""

import json
import os
import sys

HEADER = (
    "| seed | sequences to <= 1 bit at 10 and 20 | final 10 / 20 | 30 / 50 / 100 / 120 "
    "(128 slots) | 200 / 500 with 512 slots (% of bits) | seconds |\n"
    "| --- | --- | --- | --- | --- | --- |"
)


def row(seed: int, r: dict) -> str:
    f, e, t = r["final_bits_wrong"], r["final_bits_wrong_eval_slots"], r["sequences_to_1_bit"]
    long = [f"{e[str(n)]:,.1f} ({100 * e[str(n)] / (8 * n):.2g}%)" for n in (200, 500)]
    return (
        f"| {seed} | {'not reached' if t is None else f'{t:,}'} | {f['10']:.2f} / {f['20']:.2f} "
        f"| {' / '.join(f'{f[str(n)]:.2f}' for n in (30, 50, 100, 120))} | {' / '.join(long)} "
        f"| {r['seconds']:.0f} |"
    )


def main(folder: str) -> None:
    for clip in ("", "clipnorm1-"):
        print("\nWith `--clip-norm 1`:\n" if clip else "\nWithout the norm clip:\n")
        print(HEADER)
        for seed in range(5):
            path = os.path.join(folder, f"ntm-copy-{clip}seed{seed}.json")
            if not os.path.exists(path):
                print(f"| {seed} | not run | | | | |")
                continue
            with open(path) as f:
                print(row(seed, json.load(f)))


if __name__ == "__main__":
    main(sys.argv[1])
