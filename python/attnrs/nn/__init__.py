"""Neural-network layers. Each file holds one family of layers."""

from .module import Module, Parameter

__all__ = ["Module", "Parameter"]
