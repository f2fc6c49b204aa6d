"""The process and port helpers live in ``sandbox.ports`` (``make run`` starts the sandbox with them)."""

from sandbox.ports import LOOPBACK, free_port, start_server, stop_process, wait_for_port

__all__ = ["LOOPBACK", "free_port", "start_server", "stop_process", "wait_for_port"]
