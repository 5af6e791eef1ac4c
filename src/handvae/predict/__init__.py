"""Predictions on a user's photos: crop like training, predict, place in mm, draw (``handvae predict``)."""
