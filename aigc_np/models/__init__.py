"""Generative models composed from aigc_np layers: AE, VAE, GAN, DCGAN."""
from .base import Model
from .dcgan import DCGAN, dcgan_discriminator, dcgan_generator
from .gan import GAN, mlp_discriminator, mlp_generator
from .vae import VAE, Autoencoder, reparameterize, reparameterize_backward
from .conditional import ConditionalGAN, ConditionalVAE, join, join_backward, join_labels, one_hot
from .wgan_gp import WGANGP, mlp_critic

__all__ = ["Model", "Autoencoder", "VAE", "GAN", "DCGAN", "mlp_generator", "mlp_discriminator",
           "dcgan_generator", "dcgan_discriminator", "reparameterize", "reparameterize_backward"]
__all__ += ["WGANGP", "mlp_critic"]
__all__ += ["ConditionalGAN", "ConditionalVAE", "join", "join_backward", "join_labels", "one_hot"]
