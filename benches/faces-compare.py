#!/usr/bin/env python3
"""Compare Refract's face detector (SeetaFace frontal cascade, rustface) with OpenCV's Haar
frontal-face cascade on the corpus's photos, both on the same 320-px greyscale downscale.

Not part of `make test`; run by hand when revisiting the choice (BENCHMARKS.md, "Faces"):

    python3 -m venv /tmp/cv && /tmp/cv/bin/pip install "opencv-python-headless<5" numpy
    target/release/refract serve --root ../shared/corpus --listen 127.0.0.1:8931 &
    /tmp/cv/bin/python benches/faces-compare.py http://127.0.0.1:8931 ../shared/corpus

Prints, per image, the faces each detector finds (as x,y,w,h fractions of the upright image)
and OpenCV's CPU per detection; Refract's is `cargo bench --bench transform -- faces/`.
"""
import json
import sys
import time
import urllib.request

import cv2

IMAGES = [
    # With faces (established by eye).
    "photos/thumbor-Giunchedi_Filippo_January_2015_01.jpg",
    "photos/skimage-astronaut.png",
    "photos/pillow-hopper.jpg",
    "photos/skimage-camera-grayscale.png",
    "color/thumbor-Giunchedi-cmyk.jpg",
    # Without.
    "exif/recurser-Portrait_1.jpg",
    "photos/skimage-chelsea.png",
    "photos/skimage-coffee.png",
    "photos/skimage-rocket.jpg",
    "photos/imagepng-kodim23.png",
    "photos/libavif-dog_exif_extended_xmp_icc.jpg",
    "photos/kde-ColorfulCups-2560x1600.jpg",
    "photos/mate-Elephants_3840x2160.jpg",
    "photos/sharp-concert.jpg",
]
SIDE = 320


def refract(base, rel):
    with urllib.request.urlopen(f"{base}/{rel}?fm=json&faces=1") as r:
        meta = json.load(r)
    w, h = meta["PixelWidth"], meta["PixelHeight"]
    if meta.get("Orientation", 1) in (5, 6, 7, 8):
        w, h = h, w
    return [
        (f["bounds"]["x"] / w, f["bounds"]["y"] / h, f["bounds"]["width"] / w, f["bounds"]["height"] / h)
        for f in meta["Faces"]
    ]


def opencv(path, cascade):
    img = cv2.imread(path, cv2.IMREAD_GRAYSCALE)  # applies the EXIF orientation
    h, w = img.shape
    scale = SIDE / max(w, h)
    small = cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    best = None
    for _ in range(5):
        t = time.process_time()
        found = cascade.detectMultiScale(small, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
        spent = time.process_time() - t
        best = spent if best is None else min(best, spent)
    sh, sw = small.shape
    return [(x / sw, y / sh, fw / sw, fh / sh) for (x, y, fw, fh) in found], best


def main():
    base, corpus = sys.argv[1], sys.argv[2]
    cv2.setNumThreads(1)
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    fmt = lambda faces: " ".join("(%.2f,%.2f %.2fx%.2f)" % f for f in faces) or "-"
    for rel in IMAGES:
        ours = refract(base, rel)
        theirs, cpu = opencv(f"{corpus}/{rel}", cascade)
        print(f"{rel}\n  refract: {len(ours)} {fmt(ours)}\n  opencv:  {len(theirs)} {fmt(theirs)}  [{cpu * 1000:.1f} ms]")


main()
