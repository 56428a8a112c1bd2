"""Show one episode of a trained run: the ``memenvs-enjoy`` command (agents.cli.enjoy).

python scripts/enjoy.py runs/<run> [--model best] [--png heat.png]
"""

from agents.cli.enjoy import main

if __name__ == "__main__":
    raise SystemExit(main())
