"""Video data: the synthetic world, dataset layouts and split files, and the clip reader."""
