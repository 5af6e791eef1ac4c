"""The synthetic multimodal hand world: a posable hand, a ray-cast surface, realistic appearance,
and writers in RHD's and STB's formats. Entry points: :func:`handvae.synth.generate.generate_dataset`
and ``handvae synth``."""
