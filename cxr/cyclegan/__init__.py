"""CycleGAN stage (Zhu et al., ICCV 2017): networks, losses, image pool,
unpaired-domain sampling, the LightningModule and batched synthesis."""
