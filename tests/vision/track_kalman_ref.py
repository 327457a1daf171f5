#!/usr/bin/env python3
"""Cross-check of the tracker's Kalman filter (src/vision/track.c).

Runs `vp_track_test --kalman`, which prints a scripted run of the filter:
"init z0..z3", "predict", "update z0..z3" operations, each followed by a
"state" line with the 8 means and the 64 covariance entries (%.17g). This
script replays the same operations from the same inputs, independently of
the C state, twice:

  * numpy, written from the equations of ByteTrack / DeepSORT's model
    (constant velocity in (cx, cy, a, h), std weights 1/20 and 1/160 of h,
    P -= K S K');
  * filterpy's KalmanFilter (a third-party implementation: its own predict,
    and an update in Joseph form), given the same F, H, Q and R per step.

Both must agree with the C filter to a relative 1e-9 on every state (the C
code uses double precision). As a check that the comparison can fail, the
numpy replay is also run with a velocity weight of 1/100 instead of 1/160,
which must be rejected. Exit 0 pass, 1 mismatch, 77 when numpy or filterpy
is missing (pip install numpy filterpy; scripts/setup-python.sh has both).
"""
import argparse
import subprocess
import sys

try:
    import numpy as np
except ImportError:
    print("track_kalman_ref: numpy missing: skipped")
    sys.exit(77)
try:
    from filterpy.kalman import KalmanFilter
except ImportError:
    print("track_kalman_ref: filterpy missing (pip install filterpy): skipped")
    sys.exit(77)

F = np.eye(8)
for i in range(4):
    F[i, 4 + i] = 1.0
H = np.eye(4, 8)


def noise(h, wp, wv):
    """Q (process) and R (measurement) for the current height h."""
    q = np.square([wp * h, wp * h, 1e-2, wp * h, wv * h, wv * h, 1e-5, wv * h])
    r = np.square([wp * h, wp * h, 1e-1, wp * h])
    return np.diag(q), np.diag(r)


def initiate(z, wp, wv):
    h = z[3]
    mean = np.concatenate([z, np.zeros(4)])
    std = [2 * wp * h, 2 * wp * h, 1e-2, 2 * wp * h, 10 * wv * h, 10 * wv * h, 1e-5, 10 * wv * h]
    return mean, np.diag(np.square(std))


class NumpyKF:
    def __init__(self, wp=1 / 20, wv=1 / 160):
        self.wp, self.wv = wp, wv

    def init(self, z):
        self.x, self.P = initiate(z, self.wp, self.wv)

    def predict(self):
        Q, _ = noise(self.x[3], self.wp, self.wv)
        self.x = F @ self.x
        self.P = F @ self.P @ F.T + Q

    def update(self, z):
        _, R = noise(self.x[3], self.wp, self.wv)
        S = H @ self.P @ H.T + R
        K = np.linalg.solve(S, (self.P @ H.T).T).T  # P H' S^-1 (S symmetric)
        self.x = self.x + K @ (z - H @ self.x)
        self.P = self.P - K @ S @ K.T

    def state(self):
        return self.x, self.P


class FilterpyKF:
    def __init__(self):
        self.kf = KalmanFilter(dim_x=8, dim_z=4)
        self.kf.F = F.copy()
        self.kf.H = H.copy()

    def init(self, z):
        x, P = initiate(z, 1 / 20, 1 / 160)
        self.kf.x = x.reshape(8, 1)
        self.kf.P = P

    def predict(self):
        self.kf.Q, _ = noise(self.kf.x[3, 0], 1 / 20, 1 / 160)
        self.kf.predict()

    def update(self, z):
        _, self.kf.R = noise(self.kf.x[3, 0], 1 / 20, 1 / 160)
        self.kf.update(z.reshape(4, 1))

    def state(self):
        return self.kf.x.reshape(8), self.kf.P


def parse(text):
    """[(op, z or None, mean, cov)] from the tool's output."""
    steps, pending = [], None
    for line in text.splitlines():
        f = line.split()
        if not f:
            continue
        if f[0] in ("init", "update"):
            pending = (f[0], np.array([float(v) for v in f[1:5]]))
        elif f[0] == "predict":
            pending = ("predict", None)
        elif f[0] == "state":
            vals = np.array([float(v) for v in f[1:]])
            if pending is None or vals.size != 72:
                raise ValueError(f"malformed state line: {line[:80]}")
            steps.append((pending[0], pending[1], vals[:8], vals[8:].reshape(8, 8)))
            pending = None
    return steps


def replay(kf, steps, tol=1e-9):
    """Largest relative difference over the run, and the first step over tol."""
    worst, first_bad = 0.0, None
    for n, (op, z, mean, cov) in enumerate(steps):
        getattr(kf, op)(*(() if z is None else (z,)))
        x, P = kf.state()
        scale_x = np.maximum(np.abs(mean), 1e-3)
        scale_p = np.max(np.abs(cov))  # covariances: relative to the largest entry
        d = max(np.max(np.abs(x - mean) / scale_x), np.max(np.abs(P - cov)) / scale_p)
        worst = max(worst, d)
        if d > tol and first_bad is None:
            first_bad = (n, op, d)
    return worst, first_bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tool", required=True, help="path to vp_track_test")
    args = ap.parse_args()
    out = subprocess.run([args.tool, "--kalman"], check=True, capture_output=True, text=True).stdout
    steps = parse(out)
    n_upd = sum(op == "update" for op, *_ in steps)
    if len(steps) < 40 or n_upd < 20:
        print(f"track_kalman_ref: only {len(steps)} steps parsed")
        return 1
    fails = 0
    for name, kf in (("numpy", NumpyKF()), ("filterpy", FilterpyKF())):
        worst, bad = replay(kf, steps)
        status = "ok" if bad is None else f"MISMATCH at step {bad[0]} ({bad[1]}): {bad[2]:.3g}"
        print(f"track_kalman_ref: {name}: {len(steps)} steps ({n_upd} updates), "
              f"max relative difference {worst:.3g}: {status}")
        fails += bad is not None
    # the comparison must be able to fail: a wrong velocity noise weight
    _, bad = replay(NumpyKF(wv=1 / 100), steps)
    if bad is None:
        print("track_kalman_ref: a wrong model (velocity weight 1/100) was not told apart")
        fails += 1
    else:
        print(f"track_kalman_ref: wrong model rejected as expected at step {bad[0]}")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
