"""Training-time augmentation: named albumentations pipelines and the
real / augmented / GAN mixing sampler. Import submodules directly
(``cxr.augment.pipelines``, ``cxr.augment.mixing``); nothing heavy is imported here.
"""
