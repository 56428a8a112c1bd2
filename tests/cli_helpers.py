"""A helper shared by the command-line tests."""

from __future__ import annotations

import pytest


def usage_error(main, argv: list[str], capsys) -> str:
    """Run a command line's ``main`` that must refuse ``argv`` with a usage error (exit 2,
    no traceback); its stderr."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err
