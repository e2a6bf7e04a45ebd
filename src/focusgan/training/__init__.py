"""Training: networks and losses per architecture, the loop, checkpoints, runs, export."""

# The flag that lets `convert-checkpoint` unpickle a file (which can run code): named here, in a
# module without torch, so the command line's parser and `checkpoint`'s errors share it.
TRUST_FLAG = "--trust-pickle"
