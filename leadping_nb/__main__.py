"""``python -m leadping_nb``: the ``leadping-nb`` command."""

from __future__ import annotations

from leadping_nb.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
