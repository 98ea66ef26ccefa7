"""``python -m data_builders.scface --manual_dir=DIR [--data_dir=DIR] [--config=paper]``: prepares SCface."""
from data_builders import prepare_main
from data_builders.scface.scface_dataset_builder import Builder

if __name__ == "__main__":
    prepare_main(Builder)
