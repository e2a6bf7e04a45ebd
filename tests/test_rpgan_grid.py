"""RpGAN + R1 + R2 on the 25-Gaussian grid (issue 22 item 4), against the non-saturating loss
without penalties: same MLPs, data, noise and 6,000 steps, seed 0 (tests/gaussian_grid.py).

Measured (benchmarks/RESULTS.md, "R3GAN"): RpGAN + R1 + R2 puts at least 1% of its samples on
22 of the 25 modes, the non-saturating loss on 16 (it drops 9 modes to a few stray samples);
both have some sample within 3 std of every mode (PacGAN's count), and 49% / 62% of their
samples lie within 3 std of a mode. At this CPU budget RpGAN spreads over more modes, not yet
with most samples near one: the issue's "all 25 modes, most samples near" was not reached.
"""

from gaussian_grid import train_grid


def test_rpgan_covers_more_modes_than_the_non_saturating_loss():
    r3 = train_grid("rpgan", seed=0)
    ns = train_grid("ns", seed=0)
    assert r3.modes_any == 25 and r3.modes >= 20, r3  # measured 25 and 22
    assert ns.modes <= 18, ns  # measured 16: the non-saturating loss drops modes
    assert r3.near > 0.4, r3  # measured 0.49: samples are concentrating on the modes
