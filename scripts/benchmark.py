"""Run a benchmark suite: agents x tasks x difficulty ladder x seeds (see agents/benchmark.py).

python scripts/benchmark.py --suite smoke
python scripts/benchmark.py --suite frontier-cpu --jobs 2
tensorboard --logdir runs/frontier-cpu
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from agents.benchmark import main  # noqa: E402

if __name__ == "__main__":
    main()
