"""TFDS builder for any "one folder per identity" face dataset with a 5-point landmarks CSV (LFW, CASIA-WebFace,
VGGFace2, MS1M extracts, synthetic sets written by `write_folder.write_face_folder`); see README.md. The builder is
`face_folder_dataset_builder.Builder`."""
