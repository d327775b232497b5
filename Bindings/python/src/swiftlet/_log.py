"""The library's log lines, sent to a Python function."""

from __future__ import annotations

import atexit
import threading
from typing import Callable, Optional

from ._library import decode, lib
from ._structs import LogCallback

LOG_ERROR = 0
LOG_WARN = 1
LOG_INFO = 2
LOG_DEBUG = 3

_log_lock = threading.Lock()
_log_trampoline: Optional[object] = None  # referenced while installed: the library keeps the pointer


def set_log_handler(handler: Optional[Callable[[int, str], None]], max_level: int = LOG_INFO) -> None:
    """Sends the library's log lines at ``max_level`` and below to ``handler(level, message)``.

    ``None`` removes the handler (the default: the library logs nothing). The handler may be called
    from any thread that calls into the library, so it must be thread-safe; exceptions it raises are
    swallowed (a log line must never break a call). To use the logging module::

        log = logging.getLogger("swiftlet")
        levels = [logging.ERROR, logging.WARNING, logging.INFO, logging.DEBUG]
        swiftlet.set_log_handler(lambda level, msg: log.log(levels[level], msg), swiftlet.LOG_DEBUG)
    """
    global _log_trampoline
    with _log_lock:
        if handler is None:
            lib.swl_set_log_callback(LogCallback(), 0, None)
            _log_trampoline = None
            return

        def trampoline(level: int, message: Optional[bytes], _user_data: Optional[int]) -> None:
            try:
                handler(int(level), decode(message))
            except Exception:  # noqa: BLE001 - see the docstring
                pass

        callback = LogCallback(trampoline)
        lib.swl_set_log_callback(callback, int(max_level), None)
        _log_trampoline = callback


@atexit.register
def _remove_log_handler() -> None:
    # The trampoline dies with the interpreter; the library must not call it afterwards.
    if _log_trampoline is not None:
        lib.swl_set_log_callback(LogCallback(), 0, None)
