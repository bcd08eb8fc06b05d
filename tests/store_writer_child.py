"""A second writer for the store's conflict test, run in its own process.

``python -m tests.store_writer_child STORE SEED N_LEADS`` builds ``Emulator(SEED, N_LEADS)``,
appends 5 events to its first lead, and refreshes ``STORE`` with the writer lock bypassed (as
another tool writing the Delta table would), then prints ``COMMITTED <version>``.
"""

from __future__ import annotations

import contextlib
import sys


def main(store_dir: str, seed: int, n_leads: int) -> None:
    from leadping_nb.emulator import Emulator
    from leadping_nb.store import EventStore

    emu = Emulator(seed=seed, n_leads=n_leads)
    emu.add_events(emu.lead_ids()[0], 5)
    store = EventStore(store_dir)
    store._locked = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    with emu.client() as client:
        result = store.refresh(client, emu.lead_ids())
    print("COMMITTED", result.version, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
