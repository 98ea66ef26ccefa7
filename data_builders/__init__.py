"""TFDS dataset builders (manual download), one folder per dataset as in tensorflow/datasets."""
