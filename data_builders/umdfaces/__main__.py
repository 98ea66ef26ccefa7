"""``python -m data_builders.umdfaces --manual_dir=DIR [--data_dir=DIR] [--config=aligned_224]``: prepares UMDFaces."""
from data_builders import prepare_main
from data_builders.umdfaces.umdfaces_dataset_builder import Builder

if __name__ == "__main__":
    prepare_main(Builder)
