"""Motion masks from video: shots, optical flow, motion saliency, superpixels and consensus voting.

A uNLC-style segmenter (Pathak et al. 2017, after Faktor & Irani's NLC): `segment.segment_frames`
turns a short sequence of RGB frames into one soft foreground mask per frame; per-shot colour
(`appearance`) and ImageNet-feature (`features`) models fitted to the shot's own motion sharpen
it. `synthetic` makes seeded test videos with true masks; `davis` holds the DAVIS-2016 measures
(J, F).
"""
