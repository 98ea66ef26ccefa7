"""TFDS builder for UMDFaces still images (manual download); see README.md. The builder is
`umdfaces_dataset_builder.Builder`."""
