"""Click commands, one module per area; `audiolora.cli` registers each module's COMMANDS."""

from ..errors import NotBuiltYet


def not_built(command: str, issue: int) -> None:
    """Fail in one line for a command whose issue has not landed."""
    raise NotBuiltYet(f"`audiolora {command}` is not built yet (tracked in issue {issue})")
