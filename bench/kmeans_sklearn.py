"""scikit-learn's KMeans on the benchmark's points, for bench/kmeans.bench.ts.

Usage: /usr/bin/python3 bench/kmeans_sklearn.py POINTS.f64 DIMENSIONS K N_INIT ALGORITHM TOL
Prints one JSON line: fit seconds (wall and CPU), inertia (SSE), iterations of the best init, cluster sizes.
"""
import json
import sys
import time

import numpy as np
from sklearn.cluster import KMeans

path, dimensions, k, n_init, algorithm, tol = sys.argv[1:7]
points = np.fromfile(path, dtype="<f8").reshape(-1, int(dimensions))
model = KMeans(
    n_clusters=int(k),
    init="k-means++",
    n_init=int(n_init),
    algorithm=algorithm,
    tol=float(tol),
    max_iter=300,
    random_state=0,
)
started = time.perf_counter()
cpu_started = time.process_time()
model.fit(points)
seconds = time.perf_counter() - started
cpu_seconds = time.process_time() - cpu_started
print(
    json.dumps(
        {
            "seconds": seconds,
            "cpuSeconds": cpu_seconds,
            "sse": float(model.inertia_),
            "iterations": int(model.n_iter_),
            "sizes": np.bincount(model.labels_, minlength=int(k)).tolist(),
        }
    )
)
