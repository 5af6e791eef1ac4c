"""Training: schedules, checkpoints, run logs, distributed set-up, and the trainer loop."""
