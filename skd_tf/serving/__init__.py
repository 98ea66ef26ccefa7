"""Deployable artifacts of a trained student (Section IV-F: the student is what runs "in the wild").

Laid out as tensorflow/models' `official/vision/serving`, one module per job:

* `loading`: a student from a `keras.Model`, a `.keras` / `.weights.h5` checkpoint or a training run folder, its
  resolution cross-checked against the run's records, damaged files refused naming them;
* `signatures`: the exported computation (uint8 RGB in, `embedding` / `mimic` out, preprocessing in the graph), the
  SavedModel with its `serving_default` (uint8 pixels) and `serving_bytes` (encoded images) signatures;
* `tflite`: conversion to float32 / float16 / dynamic-range int8 / full int8 TFLite, the metadata entry carrying the
  sidecar, the ai-edge-litert runtime and throughput;
* `parity`: each artifact against the Keras model, and the bounds each kind is held to;
* `sidecars`: the JSON beside each artifact (input contract, outputs, provenance, parity, size, sha256);
* `export`: `export_student`, which writes them all with `manifest.json`.

The calibration faces of the full-int8 model come from `skd_tf.data.calibration`. Outputs are always looked up by
signature and output name (`run_tflite`, `load_saved_model_signature`), never by tensor order.
"""
from skd_tf.serving.export import KINDS, export_student
from skd_tf.serving.loading import (
                                    CHECKPOINT_SUFFIXES,
                                    STUDENT_SUFFIXES,
                                    check_student,
                                    check_weights_file,
                                    load_keras_file,
                                    load_student,
                                    resolve_student_path,
                                    run_records,
)
from skd_tf.serving.parity import PARITY_BOUNDS, cosine_rows, keras_reference, parity
from skd_tf.serving.sidecars import (
                                    OUTPUT_MEANING,
                                    TFLITE_DESCRIPTION,
                                    artifact_sha256,
                                    artifact_size_bytes,
                                    build_sidecar,
                                    sidecar_path,
)
from skd_tf.serving.signatures import (
                                    BYTES_INPUT_NAME,
                                    BYTES_SIGNATURE,
                                    INPUT_NAME,
                                    OUTPUT_NAMES,
                                    SIGNATURE,
                                    as_uint8_images,
                                    load_saved_model_signature,
                                    serving_outputs,
                                    write_saved_model,
)
from skd_tf.serving.tflite import (
                                    TFLITE_KINDS,
                                    TFLITE_METADATA_NAME,
                                    convert_tflite,
                                    embed_tflite_metadata,
                                    read_tflite_metadata,
                                    run_tflite,
                                    tflite_signature_runner,
                                    tflite_throughput,
)

__all__ = ["BYTES_INPUT_NAME", "BYTES_SIGNATURE", "CHECKPOINT_SUFFIXES", "INPUT_NAME", "KINDS", "OUTPUT_MEANING",
           "OUTPUT_NAMES", "PARITY_BOUNDS", "SIGNATURE", "STUDENT_SUFFIXES", "TFLITE_DESCRIPTION", "TFLITE_KINDS",
           "TFLITE_METADATA_NAME", "artifact_sha256", "artifact_size_bytes", "as_uint8_images", "build_sidecar",
           "check_student", "check_weights_file", "convert_tflite", "cosine_rows", "embed_tflite_metadata",
           "export_student", "keras_reference", "load_keras_file", "load_saved_model_signature", "load_student",
           "parity", "read_tflite_metadata", "resolve_student_path", "run_records", "run_tflite",
           "serving_outputs", "sidecar_path", "tflite_signature_runner", "tflite_throughput", "write_saved_model"]
