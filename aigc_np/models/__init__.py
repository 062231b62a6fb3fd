"""The generative models, each composed from aigc_np layers and trained by its own ``train_step``:
autoencoder and VAE, the GAN family (MLP GAN, DCGAN, WGAN-GP), the conditional GAN and VAE, and
denoising diffusion with its U-Net. The table of kinds (``aigc_np.kinds``) builds them from configs."""
from .base import Model
from .conditional import ConditionalGAN, ConditionalVAE, join, join_backward, join_labels, one_hot
from .dcgan import DCGAN, dcgan_discriminator, dcgan_generator
from .diffusion import Diffusion, NoiseSchedule
from .gan import GAN, mlp_discriminator, mlp_generator
from .unet import UNet
from .vae import VAE, Autoencoder, reparameterize, reparameterize_backward
from .wgan_gp import WGANGP, mlp_critic

__all__ = ["Model", "Autoencoder", "VAE", "GAN", "DCGAN", "WGANGP", "ConditionalGAN", "ConditionalVAE", "Diffusion",
           "NoiseSchedule", "UNet", "mlp_generator", "mlp_discriminator", "mlp_critic", "dcgan_generator",
           "dcgan_discriminator", "reparameterize", "reparameterize_backward", "join", "join_backward",
           "join_labels", "one_hot"]
