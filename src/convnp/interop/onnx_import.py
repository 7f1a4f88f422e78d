def from_onnx(path): raise NotImplementedError
