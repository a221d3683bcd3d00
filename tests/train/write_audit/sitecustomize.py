"""Test-only: records, per process, every write a Python process makes under a folder.

Active only when AUDIOLORA_AUDIT_ROOT (the folder to watch) and AUDIOLORA_AUDIT_OUT (where each
process writes its list) are set, and this folder is on PYTHONPATH (Python imports `sitecustomize`
at start-up). An audit hook (PEP 578) sees opens for writing, mkdir, rename/replace, remove, rmdir
and chmod; writes done outside Python (safetensors' Rust writer) are seen through the folder
creation and rename that enclose them.
"""

import atexit
import os
import sys

_ROOT = os.environ.get("AUDIOLORA_AUDIT_ROOT")
_OUT = os.environ.get("AUDIOLORA_AUDIT_OUT")

if _ROOT and _OUT:
    _root = os.path.realpath(_ROOT)
    _seen: list[str] = []
    _WRITE = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC

    def _under(path) -> str | None:
        if isinstance(path, int) or path is None:
            return None
        try:
            full = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return None
        return full if full == _root or full.startswith(_root + os.sep) else None

    def _hook(event, args):
        if event == "open":
            path, mode, flags = args
            writing = (mode is not None and any(c in str(mode) for c in "wax+")) or (
                isinstance(flags, int) and flags & _WRITE
            )
            paths = [path] if writing else []
        elif event in ("os.mkdir", "os.remove", "os.rmdir", "os.chmod", "shutil.rmtree"):
            paths = [args[0]]
        elif event == "os.rename":
            paths = [args[0], args[1]]
        else:
            return
        for p in paths:
            hit = _under(p)
            if hit is not None:
                _seen.append(f"{event} {hit}")

    def _dump():
        rank = os.environ.get("RANK", "launcher")
        os.makedirs(_OUT, exist_ok=True)
        with open(os.path.join(_OUT, f"rank-{rank}-{os.getpid()}.txt"), "w") as fh:
            fh.write("\n".join(_seen) + ("\n" if _seen else ""))

    sys.addaudithook(_hook)
    atexit.register(_dump)
