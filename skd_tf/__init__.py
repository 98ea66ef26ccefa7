"""skd_tf: Selective Knowledge Distillation for low-resolution face recognition.

TensorFlow/Keras reference implementation of Ge, Zhao, Li and Li, "Low-resolution Face Recognition in the Wild via
Selective Knowledge Distillation", IEEE Transactions on Image Processing, 2019.

The method has three stages (Section III):
  1. initialisation: a pretrained teacher on high-resolution faces; a tiny student trained with softmax on
     low-resolution faces (Eq. 1);
  2. selection: informative faces chosen from teacher features by an exact graph cut of Eq. 3 (`skd_tf.selection`);
  3. fine-tuning: softmax plus an L2 regression of the student's mimic layer onto the teacher's features on the
     selected faces (Eq. 4-6, `skd_tf.training`).
"""

__version__ = "0.1.0"
