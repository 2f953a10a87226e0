"""cxr: GAN-augmented COVID-19 detection on chest X-rays, leakage-safe by default."""

__version__ = "0.1.0"
