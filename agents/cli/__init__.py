"""The installed console commands: ``memenvs-train``, ``memenvs-evaluate``, ``memenvs-enjoy``.

Each module's ``main(argv)`` parses arguments and wires library calls; the logic lives in
:mod:`agents.training`, :mod:`agents.runs` and :mod:`agents.callbacks`.
"""
