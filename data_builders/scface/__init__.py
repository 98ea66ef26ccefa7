"""TFDS builder for SCface (manual download); see README.md. The builder is `scface_dataset_builder.Builder`."""
