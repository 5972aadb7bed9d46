"""Gluon networks: supernet, fixed subnet and their building blocks."""
from .subnet import Subnet, build_subnet
from .supernet import Supernet, inherit_weights

__all__ = ["Subnet", "Supernet", "build_subnet", "inherit_weights"]
