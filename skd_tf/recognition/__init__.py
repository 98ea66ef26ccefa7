"""Face recognition for people, not only experiments: photos in, "same"/"different" or identities out.

* `faces`: image files -> detected face, dlib's 5 landmarks and the student's crop (`FaceFinder`), never dropping a
  file without a face silently;
* `students`: the student (a pretrained name, "auto", or a user's .keras / .weights.h5 / .tflite), its score `both`
  and its threshold (`load_recognizer`);
* `verify`: two image files -> same or different, with the score and the threshold (`verify`);
* `identify`: a gallery folder (one subfolder per person) and probe images -> top-k people with scores (`identify`).

The CLIs `experiments/verify.py` and `experiments/identify.py` call these.
"""
from skd_tf.recognition.faces import FaceFinder, PhotoFace, gallery_files, image_files
from skd_tf.recognition.identify import format_identification, identify
from skd_tf.recognition.students import AUTO, Recognizer, auto_student, both_scores, load_recognizer
from skd_tf.recognition.verify import format_verification, verify

__all__ = ["AUTO", "FaceFinder", "PhotoFace", "Recognizer", "auto_student", "both_scores", "format_identification",
           "format_verification", "gallery_files", "identify", "image_files", "load_recognizer", "verify"]
