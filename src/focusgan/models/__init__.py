# The ImageNet classifiers of `backbones.py`, named here so that options can list them without
# importing torch (the command line starts without it).
BACKBONES = ("inception", "efficientnet-lite0")
