"""What the lessons share: the common options and RESULT line (``lesson``), the 2-D toy data
(``toy``) and toy GAN game (``toy_gan``), and latent walks (``latent``)."""
