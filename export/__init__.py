"""PyTorch half of the STSNet_SW spotter: model, datasets, training, evaluation, ONNX export."""

__version__ = "0.1.0"
