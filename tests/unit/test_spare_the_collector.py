"""Start-up's objects are frozen out of full collections; later garbage is not."""

from __future__ import annotations

import gc
import weakref

from pourtier.presentation.app import spare_the_collector


class _Node:
    def __init__(self) -> None:
        self.me = self


def test_start_up_objects_are_frozen_and_new_cycles_still_collected() -> None:
    try:
        spare_the_collector()
        assert gc.get_freeze_count() > 0
        cycle = _Node()
        gone = weakref.ref(cycle)
        del cycle
        gc.collect()
        assert gone() is None
    finally:
        gc.unfreeze()
