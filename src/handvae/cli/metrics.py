"""``handvae metrics PRED GT``: placeholder until the metrics module lands (same commit series)."""

HELP = "score predicted 3D poses against ground truth under the pinned protocol"


def add_arguments(parser):
    pass


def run(args):
    raise NotImplementedError
