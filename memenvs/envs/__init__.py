"""One module per task, each defining ``<Task>`` (dynamics), ``<Task>Env``, ``<Task>VectorEnv``."""
