"""Export stage: ONNX, TFLite and CoreML files in float and int8, each validated against PyTorch."""
