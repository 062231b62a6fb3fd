"""How good are the samples? Metrics beside their real-data baselines (``metrics``), the judge CNN
that reads digits (``judge``, trained by ``classifier``), and the yardstick that picks a GAN's best
epoch (``quality``)."""
