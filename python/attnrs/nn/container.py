"""Containers: Sequential, ModuleList, ModuleDict.

Children are named by position ("0", "1", …) or key, as in PyTorch, so
``layers.0.weight`` names the weight of the first layer of ``self.layers``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .module import Module

__all__ = ["ModuleDict", "ModuleList", "Sequential"]


def _check(m: Any, owner: str) -> Module:
    if not isinstance(m, Module):
        raise TypeError(f"{owner}: expected a Module; got {type(m).__name__}")
    return m


class Sequential(Module):
    """Calls its modules in order, each on the previous one's output.

    ``Sequential(a, b, c)`` or ``Sequential(OrderedDict(name=module, …))``.
    """

    def __init__(self, *modules: Any) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], Mapping):
            items = [(str(k), _check(v, "Sequential")) for k, v in modules[0].items()]
        else:
            items = [(str(i), _check(m, "Sequential")) for i, m in enumerate(modules)]
        self._modules: OrderedDict[str, Module] = OrderedDict(items)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        yield from self._modules.items()

    def forward(self, x: Any) -> Any:
        for m in self._modules.values():
            x = m(x)
        return x

    def append(self, module: Module) -> Sequential:
        self._modules[str(len(self._modules))] = _check(module, "Sequential.append")
        return self

    def __getitem__(self, i: int | slice) -> Any:
        mods = list(self._modules.values())
        if isinstance(i, slice):
            return Sequential(*mods[i])
        return mods[i]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())


class ModuleList(Module):
    """A list of modules whose parameters the parent module sees."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        self._list: list[Module] = [_check(m, "ModuleList") for m in modules]

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for i, m in enumerate(self._list):
            yield str(i), m

    def append(self, module: Module) -> ModuleList:
        self._list.append(_check(module, "ModuleList.append"))
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        self._list.insert(index, _check(module, "ModuleList.insert"))

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return ModuleList(self._list[i])
        return self._list[i]

    def __setitem__(self, i: int, module: Module) -> None:
        self._list[i] = _check(module, "ModuleList")

    def __len__(self) -> int:
        return len(self._list)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._list)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ModuleList has no forward; iterate over it instead")


class ModuleDict(Module):
    """A dict of modules (insertion order) whose parameters the parent module sees."""

    def __init__(
        self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None
    ) -> None:
        super().__init__()
        self._dict: OrderedDict[str, Module] = OrderedDict()
        if modules is not None:
            self.update(modules)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        yield from self._dict.items()

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        items = modules.items() if isinstance(modules, Mapping) else modules
        for k, m in items:
            self[k] = m

    def __getitem__(self, key: str) -> Module:
        return self._dict[key]

    def __getattr__(self, name: str) -> Module:
        """``blocks.wte`` as well as ``blocks["wte"]`` (PyTorch's attribute access)."""
        d = self.__dict__.get("_dict")
        if d is not None and name in d:
            return d[name]
        raise AttributeError(f"{type(self).__name__} has no attribute or key {name!r}")

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(key, str) or not key or "." in key:
            raise KeyError(f"ModuleDict: keys must be non-empty strings without '.'; got {key!r}")
        self._dict[key] = _check(module, "ModuleDict")

    def __contains__(self, key: object) -> bool:
        return key in self._dict

    def __len__(self) -> int:
        return len(self._dict)

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def keys(self) -> Any:
        return self._dict.keys()

    def values(self) -> Any:
        return self._dict.values()

    def items(self) -> Any:
        return self._dict.items()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ModuleDict has no forward; index it instead")
