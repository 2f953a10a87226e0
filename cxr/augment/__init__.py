"""Training-time augmentation: named albumentations pipelines, the real / augmented / GAN
mixing sampler and its replayable seeded draws. Import submodules directly
(``cxr.augment.transforms``, ``cxr.augment.mixing``, ``cxr.augment.sampling``); nothing
heavy is imported here.
"""
