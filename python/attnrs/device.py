"""``attnrs.device``: attnrs computes on the CPU only, so the one device is ``cpu``.

PyTorch programs pick a device with ``torch.device("cuda" if torch.cuda.is_available()
else "cpu")`` and move tensors and modules with ``.to(device)``; on attnrs that
program takes the CPU branch and every move is a no-op. Asking for another
device raises, so a program that needs a GPU does not silently run elsewhere.
"""

from __future__ import annotations

from typing import Any

__all__ = ["device", "check_device"]


class device:  # noqa: N801  (PyTorch's name)
    """A device: always ``cpu`` (``device("cpu")``, ``device("cpu", 0)``)."""

    __slots__ = ("index",)

    def __init__(self, type: Any = "cpu", index: int | None = None) -> None:  # noqa: A002
        if isinstance(type, device):
            type, index = "cpu", type.index  # noqa: A001
        name = str(type)
        if ":" in name:
            name, _, idx = name.partition(":")
            index = int(idx)
        if name != "cpu":
            raise RuntimeError(
                f"device: attnrs runs on the CPU only; got {type!r} "
                "(use attnrs.cuda.is_available() to choose 'cpu')"
            )
        self.index = index

    @property
    def type(self) -> str:
        return "cpu"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, (device, str)) and str(other).partition(":")[0] == "cpu"

    def __hash__(self) -> int:
        return hash("cpu")

    def __str__(self) -> str:
        return "cpu" if self.index is None else f"cpu:{self.index}"

    def __repr__(self) -> str:
        return f"device(type='cpu'{'' if self.index is None else f', index={self.index}'})"


def check_device(dev: Any) -> None:
    """Raises unless ``dev`` is None or names the CPU."""
    if dev is not None:
        device(dev)
