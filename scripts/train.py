"""Train a memory agent: the ``memenvs-train`` command (agents.cli.train) for a checkout.

python scripts/train.py --agent ntm --env memenvs/DelayedRecall-v0 --env-kwargs '{"delay": 8}'
"""

from agents.cli.train import main

if __name__ == "__main__":
    raise SystemExit(main())
