"""Run a benchmark suite: agents x tasks x difficulty ladder x seeds (see agents/benchmark.py).

python scripts/benchmark.py --suite smoke
python scripts/benchmark.py --suite frontier-cpu --jobs 2
tensorboard --logdir benchmarks/results/runs/frontier-cpu
"""

from agents.benchmark_app import main

if __name__ == "__main__":
    main(prog="python scripts/benchmark.py")
