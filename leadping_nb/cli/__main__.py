"""``python -m leadping_nb.cli``: the ``leadping-nb`` command (as ``python -m leadping_nb``)."""

from __future__ import annotations

from leadping_nb.cli import main

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
