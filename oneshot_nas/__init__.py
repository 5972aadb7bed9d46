"""oneshot-nas: Single Path One-Shot NAS (joint block + channel search) in MXNet Gluon."""
__version__ = "0.1.0"
