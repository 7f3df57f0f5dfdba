"""Live half of the STSNet_SW spotter: capture, face crops, ONNX Runtime, online events.

Never imports torch: the ONNX graphs and their metadata contract are its only link to the model.
"""

__version__ = "0.1.0"
