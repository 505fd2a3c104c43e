#!/usr/bin/env python3
"""Reference outputs for gen's OpenPose annotators (src/annotators/openpose_*), made by running
controlnet-aux 0.0.10's own code (controlnet_aux/open_pose/*). Nothing of it is copied into gen.

  nets DIR    random weights in the original files' key layouts (body_pose_model.pth,
              hand_pose_model.pth, facenet.pth, and hand_pose_model.safetensors), small inputs
              and the networks' outputs (nets.safetensors). Made at test time (the files are
              ~600 MB together), not committed.
  post DIR    synthetic heat maps / PAFs that DO contain people, built from a few integers by
              formulas that are exact in float32 (so gen rebuilds bit-identical maps from the
              same parameters), and what the reference post-processing finds on them: body
              candidates and subsets, hand and face boxes, hand and face peaks; plus
              scipy.ndimage.gaussian_filter on a small map. Writes post.json (committed,
              tests/data/openpose/).
  draw DIR    poses (the body result of `post`, hands and faces) drawn by draw_poses:
              draw_poses.json + draw_*.png (committed).
"""
import json
import os
import sys

import numpy as np

os.environ.setdefault("KMP_DUPLICATE_LIB_OK", "TRUE")


# ------------------------------------------------------------------ synthetic maps (also in C++)
def cone_map(h, w, blobs):
    """max over blobs (cx, cy, r, a_num, a_den) of a * (1 - d2 / r2), clipped at 0, float32."""
    out = np.zeros((h, w), np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    for cx, cy, r, an, ad in blobs:
        d2 = ((xx - cx) ** 2 + (yy - cy) ** 2).astype(np.float32)
        a = np.float32(an) / np.float32(ad)
        v = a * (np.float32(1) - d2 / np.float32(r * r))
        out = np.maximum(out, np.maximum(v, np.float32(0)))
    return out


def limb_mask(h, w, ax, ay, bx, by, width):
    """Pixels within `width` of segment A-B: integer-exact test."""
    yy, xx = np.mgrid[0:h, 0:w]
    dx, dy = bx - ax, by - ay
    L2 = dx * dx + dy * dy
    px, py = xx - ax, yy - ay
    dot = px * dx + py * dy
    cross = px * dy - py * dx
    return (dot >= 0) & (dot <= L2) & (cross * cross <= width * width * L2)


LIMB_SEQ = [[2, 3], [2, 6], [3, 4], [4, 5], [6, 7], [7, 8], [2, 9], [9, 10], [10, 11], [2, 12], [12, 13],
            [13, 14], [2, 1], [1, 15], [15, 17], [1, 16], [16, 18], [3, 17], [6, 18]]
MAP_IDX = [[31, 32], [39, 40], [33, 34], [35, 36], [41, 42], [43, 44], [19, 20], [21, 22], [23, 24], [25, 26],
           [27, 28], [29, 30], [47, 48], [49, 50], [53, 54], [51, 52], [55, 56], [37, 38], [45, 46]]


def body_maps(p):
    h, w = p["height"], p["width"]
    heat = np.zeros((19, h, w), np.float32)
    paf = np.zeros((38, h, w), np.float32)
    for part in range(18):
        heat[part] = cone_map(h, w, [b[1:] for b in p["blobs"] if b[0] == part])
    for person in p["people"]:
        joints = person["joints"]  # 18 x [x, y] or None
        for k, (a, b) in enumerate(LIMB_SEQ):
            A, B = joints[a - 1], joints[b - 1]
            if A is None or B is None:
                continue
            m = limb_mask(h, w, A[0], A[1], B[0], B[1], p["limb_width"])
            dx, dy = np.float64(B[0] - A[0]), np.float64(B[1] - A[1])
            n = np.sqrt(dx * dx + dy * dy)
            ux, uy = np.float32(dx / n), np.float32(dy / n)
            paf[MAP_IDX[k][0] - 19][m] = ux
            paf[MAP_IDX[k][1] - 19][m] = uy
    return heat, paf


def stack_maps(h, w, channels, blobs):
    out = np.zeros((channels, h, w), np.float32)
    for c in range(channels):
        out[c] = cone_map(h, w, [b[1:] for b in blobs if b[0] == c])
    return out


class FakeNet:
    """Stands in for a network: returns the given maps (the reference code around it runs as is)."""

    def __init__(self, outputs):
        import torch
        self.outputs = outputs
        self.p = torch.nn.Parameter(torch.zeros(1))

    def parameters(self):
        return iter([self.p])

    def __call__(self, x):
        return self.outputs


def jsonable(x):
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    raise TypeError(type(x))


# ------------------------------------------------------------------ post
def make_post(out_dir):
    import torch
    from controlnet_aux.open_pose import util, body as body_mod, hand as hand_mod, face as face_mod
    from scipy.ndimage import gaussian_filter

    P = [[20, 18], [20, 34], [12, 34], [8, 52], [6, 70], [28, 34], [32, 52], [34, 70], [16, 66], [16, 90],
         [16, 112], [24, 66], [24, 90], [24, 114], [14, 12], [26, 12], [10, 16], [30, 16]]
    Q = [[68, 26], None, [58, 44], [54, 62], [52, 80], [78, 44], [82, 62], None, [62, 76], [62, 98],
         [62, 120], [74, 76], [74, 98], [74, 120], [63, 21], [73, 21], [59, 25], [77, 25]]
    blobs = []
    for person, amp in ((P, 9), (Q, 8)):
        for part, j in enumerate(person):
            if j is not None:
                blobs.append([part, j[0], j[1], 5, amp, 10])
    blobs.append([0, 44, 110, 4, 3, 10])   # a lone weak nose
    blobs.append([4, 45, 8, 4, 7, 10])     # a lone right wrist
    body_p = {"height": 128, "width": 96, "limb_width": 2, "blobs": blobs,
              "people": [{"joints": P}, {"joints": Q}]}
    heat, paf = body_maps(body_p)

    util_identity = lambda x, *a, **k: x  # noqa: E731
    saved = (util.smart_resize, util.smart_resize_k)
    util.smart_resize, util.smart_resize_k = util_identity, util_identity
    try:
        b = object.__new__(body_mod.Body)
        b.model = FakeNet((torch.from_numpy(paf[None]), torch.from_numpy(heat[None])))
        img = np.zeros((body_p["height"], body_p["width"], 3), np.uint8)
        candidate, subset = b(img)
        bodies = body_mod.Body.format_body_result(candidate, subset)

        # hands: 22 maps at 128 x 128 (the reference's wsize), crop 136 x 136
        hb = []
        for c in range(21):
            hb.append([c, 10 + 5 * c, 20 + 4 * c, 6, 5 + (c % 4), 10])
        hb.append([3, 100, 100, 3, 9, 10])     # a higher but smaller second component
        hb.append([7, 30, 110, 9, 3, 10])      # a wide weak second component
        hb = [b_ for b_ in hb if b_[0] != 11]  # no peak at all for part 11
        hand_p = {"size": 128, "channels": 22, "blobs": hb, "crop": 136}
        hmaps = stack_maps(128, 128, 22, hb)
        hnd = object.__new__(hand_mod.Hand)
        hnd.model = FakeNet(torch.from_numpy(hmaps[None]))
        hand_peaks = hnd(np.zeros((136, 136, 3), np.uint8))
    finally:
        util.smart_resize, util.smart_resize_k = saved

    # face: 71 maps at the crop's size
    fb = [[c, 3 + (c * 7) % 40, 4 + (c * 5) % 30, 4, 2 + (c % 7), 10] for c in range(71) if c % 9 != 4]
    face_p = {"height": 38, "width": 44, "channels": 71, "blobs": fb}
    fmaps = stack_maps(38, 44, 71, fb)
    face_peaks = face_mod.Face.compute_peaks_from_heatmaps(None, fmaps)

    # boxes on a 160 x 120 image for the people found, and on a small one (clipping, < 20 px)
    boxes = []
    for ih, iw in ((128, 96), (70, 60)):
        im = np.zeros((ih, iw, 3), np.uint8)
        boxes.append({"height": ih, "width": iw,
                      "hands": [[list(map(int, r[:3])) + [bool(r[3])] for r in util.handDetect(bd, im)] for bd in bodies],
                      "faces": [None if (f := util.faceDetect(bd, im)) is None else list(map(int, f)) for bd in bodies]})

    gx = np.array([[((i * 37 + j * 11) % 101) / 101.0 for j in range(17)] for i in range(20)])
    gauss = {"rows": 20, "cols": 17, "sigma3": gaussian_filter(gx, sigma=3).ravel().tolist(),
             "sigma2_5": gaussian_filter(gx, sigma=2.5).ravel().tolist()}

    out = {"body": body_p, "candidate": candidate.tolist(), "subset": subset.tolist(),
           "hand": hand_p, "hand_peaks": hand_peaks.tolist(),
           "face": face_p, "face_peaks": face_peaks.tolist(), "boxes": boxes, "gaussian": gauss}
    with open(os.path.join(out_dir, "post.json"), "w") as f:
        json.dump(out, f, default=jsonable)
    print(f"people found: {len(subset)}, candidates: {len(candidate)}")


# ------------------------------------------------------------------ draw
def install_hsv_to_rgb_stub():
    """draw_handpose imports matplotlib only for matplotlib.colors.hsv_to_rgb. The venv has no
    matplotlib (and nothing may be installed into it): when it is missing, this stands in,
    following matplotlib's published HSV→RGB sector formula for one colour."""
    try:
        import matplotlib.colors  # noqa: F401
        return
    except ImportError:
        pass
    import types

    def hsv_to_rgb(hsv):
        h, s, v = (float(c) for c in np.asarray(hsv, dtype=float))
        i = int(h * 6.0)
        f = h * 6.0 - i
        p, q, t = v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f))
        rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i % 6]
        return np.array(rgb if s != 0 else (v, v, v))

    mpl = types.ModuleType("matplotlib")
    mpl.colors = types.ModuleType("matplotlib.colors")
    mpl.colors.hsv_to_rgb = hsv_to_rgb
    sys.modules["matplotlib"], sys.modules["matplotlib.colors"] = mpl, mpl.colors


def make_draw(out_dir):
    install_hsv_to_rgb_stub()
    from PIL import Image
    from controlnet_aux.open_pose import PoseResult, draw_poses
    from controlnet_aux.open_pose.body import BodyResult, Keypoint

    post = json.load(open(os.path.join(out_dir, "post.json")))
    H, W = post["body"]["height"], post["body"]["width"]
    cand = post["candidate"]
    rng = np.random.default_rng(7)
    poses = []
    for person in post["subset"]:
        kps = [None if int(i) == -1 else Keypoint(x=np.float64(cand[int(i)][0]) / float(W),
                                                  y=np.float64(cand[int(i)][1]) / float(H))
               for i in person[:18]]
        # hands / faces as the detector leaves them: float32, -1 / size where not found
        def f32pts(n, lo, hi):
            p = rng.uniform(lo, hi, size=(n, 2)).astype(np.float32)
            p[rng.integers(0, n, 2), 0] = np.float32(-1) / np.float32(W)
            return [Keypoint(x=q[0], y=q[1]) for q in p]
        poses.append(PoseResult(BodyResult(kps, person[18], person[19]), f32pts(21, 0.0, 0.5), f32pts(21, 0.4, 1.0),
                                f32pts(68, 0.1, 0.9)))
    doc = {"poses": [{"body": [None if k is None else [float(k.x), float(k.y)] for k in p.body.keypoints],
                      "left_hand": [[float(k.x), float(k.y)] for k in p.left_hand],
                      "right_hand": [[float(k.x), float(k.y)] for k in p.right_hand],
                      "face": [[float(k.x), float(k.y)] for k in p.face]} for p in poses], "cases": []}
    for name, h, w, flags in (("full", H, W, (1, 1, 1)), ("body", H, W, (1, 0, 0)), ("wide", 200, 300, (1, 1, 1)),
                              ("hand_face", 96, 72, (0, 1, 1))):
        canvas = draw_poses(poses, h, w, draw_body=bool(flags[0]), draw_hand=bool(flags[1]), draw_face=bool(flags[2]))
        Image.fromarray(canvas).save(os.path.join(out_dir, f"draw_{name}.png"))
        doc["cases"].append({"name": name, "height": h, "width": w, "body": flags[0], "hand": flags[1],
                             "face": flags[2]})
    with open(os.path.join(out_dir, "draw_poses.json"), "w") as f:
        json.dump(doc, f)


# ------------------------------------------------------------------ nets
def make_nets(out_dir):
    import torch
    from safetensors.torch import save_file
    from controlnet_aux.open_pose.model import bodypose_model, handpose_model
    from controlnet_aux.open_pose.face import FaceNet

    torch.manual_seed(0)
    os.makedirs(out_dir, exist_ok=True)

    def randomise(model):
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name.endswith("weight"):
                    fan_in = p.shape[1] * p.shape[2] * p.shape[3]
                    p.normal_(0, (2.0 / fan_in) ** 0.5)
                else:
                    p.uniform_(-0.05, 0.05)
        return model.eval()

    def original_keys(model):  # the .pth files hold the names without the first component
        return {".".join(k.split(".")[1:]): v.clone() for k, v in model.state_dict().items()}

    body, hand, face = randomise(bodypose_model()), randomise(handpose_model()), randomise(FaceNet())
    torch.save(original_keys(body), os.path.join(out_dir, "body_pose_model.pth"))
    torch.save(original_keys(hand), os.path.join(out_dir, "hand_pose_model.pth"))
    save_file(original_keys(hand), os.path.join(out_dir, "hand_pose_model.safetensors"))
    torch.save({k: v.clone() for k, v in face.state_dict().items()}, os.path.join(out_dir, "facenet.pth"))

    xb = torch.rand(1, 3, 40, 48) - 0.5
    xh = torch.rand(1, 3, 32, 40) - 0.5
    xf = torch.rand(1, 3, 24, 32) - 0.5
    with torch.no_grad():
        l1, l2 = body(xb)
        ho = hand(xh)
        fo = face(xf)[-1]
    # The body and face paths around the networks (resizing, padding, upscaling): the body's
    # heat maps as Body.__call__ hands them to gaussian_filter, the hand's likewise (a 36 x 36 crop),
    # the face's as Face.__call__ returns them.
    from controlnet_aux.open_pose import body as body_mod, face as face_mod
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, size=(72, 56, 3), dtype=np.uint8)  # BGR, as detect_poses passes it
    seen = []
    real_filter = body_mod.gaussian_filter
    body_mod.gaussian_filter = lambda m, sigma: (seen.append(m.copy()), real_filter(m, sigma=sigma))[1]
    try:
        b = object.__new__(body_mod.Body)
        b.model = body
        b(img)
    finally:
        body_mod.gaussian_filter = real_filter
    from controlnet_aux.open_pose import hand as hand_mod
    hand_seen = []
    real_hand_filter = hand_mod.gaussian_filter
    hand_mod.gaussian_filter = lambda m, sigma: (hand_seen.append(m.copy()), real_hand_filter(m, sigma=sigma))[1]
    try:
        h = object.__new__(hand_mod.Hand)
        h.model = hand
        hand_img = rng.integers(0, 256, size=(36, 36, 3), dtype=np.uint8)
        h(hand_img)
    finally:
        hand_mod.gaussian_filter = real_hand_filter
    f = object.__new__(face_mod.Face)
    f.model = face
    face_img = rng.integers(0, 256, size=(30, 26, 3), dtype=np.uint8)
    face_maps = f(face_img)
    extra = {"image": torch.from_numpy(img), "body_heat": torch.from_numpy(np.stack(seen)),
             "face_image": torch.from_numpy(face_img), "hand_image": torch.from_numpy(hand_img),
             "hand_heat": torch.from_numpy(np.stack(hand_seen)), "face_maps": torch.from_numpy(face_maps)}
    save_file({**extra, "x_body": xb, "body_L1": l1, "body_L2": l2, "x_hand": xh, "hand": ho, "x_face": xf, "face": fo},
              os.path.join(out_dir, "nets.safetensors"))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("nets", "post", "draw"):
        sys.exit(__doc__)
    {"nets": make_nets, "post": make_post, "draw": make_draw}[sys.argv[1]](sys.argv[2])
