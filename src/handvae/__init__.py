"""handvae: 3D hand pose estimation from one RGB image by aligning latent spaces (Yang et al., ICCV 2019)."""

__version__ = "0.1.0"
