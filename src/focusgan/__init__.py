"""focusgan: object-focused GAN training with an extra focus (foreground-probability) channel."""

__version__ = "0.1.0"
