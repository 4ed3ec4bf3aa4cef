"""Re-detection by appearance: a region's lost initial tracks are found again when their surface comes back.

``lk`` follows a point frame to frame. When a held object turns, the painted side
is foreshortened, turns away and later turns back; frame-to-frame tracking loses
its points on the way and, once lost, carries them along with whatever is near
(often the background), so they never come back. DOT's learned trackers see the
whole clip and find a point again wherever it looks as it did; this is the
weight-free stand-in:

1. SIFT keypoints and descriptors are taken inside the region on the query frame.
2. In other frames they are matched to the whole frame's keypoints (Lowe's
   ratio test), and the matches that agree with one homography (RANSAC) are kept:
   too few, and the region is not recognised by keypoints in that frame.
3. A hidden track is predicted from its nearest kept matches (their affine motion
   from the query frame, fitted around the track). A plain region (few keypoints: fabric,
   plastic) that is mostly lost is looked for as a whole instead: its bounding box
   on the query frame is matched (normalised correlation, three scales each of width
   and height) and a place predicts every track. Either prediction is refined by LK directly
   from the query frame (its appearance then, not a drifted copy) and kept only when LK
   converges, returns to the start on the way back, lands near the prediction and the patch
   still matches (normalised cross-correlation); a whole-box guess stands only when
   ``TEMPLATE_CONFIRM`` of the region's tracks are re-found that way. A track not
   re-found stays hidden; it is carried to its prediction only when matches lie near
   it (``CARRY_REACH``).
   A turning object's look drifts (shading, angle) until the query frame's no longer
   finds it, so the whole-box search has up to three *views*: the query frame, the
   latest frame where the query frame's look found the region (its box, tracks and
   patches there; on backpack.mp4 the side panel turned back on frame 74 is found
   only through frame 23), and the frame just before, when the region was found
   there, which carries a found region on frame by frame (``VIEW_FLOOR``).
4. A track LK calls visible in such a frame but far from where its nearest matches
   put it, and found there by the same check, had slid off its surface (onto the
   background at the object's outline): it moves there.
5. In a frame where most of the region is lost, a visible track whose patch no longer
   correlates with its patch on the query frame (``KEEP_NCC``) is hidden: frame-to-frame
   checks pass while a point slides off a turning object's outline onto the background,
   since every single step is small; the query frame's appearance tells.

Only frames where at least ``SEARCH_LOST`` of the region's tracks are lost are searched.
"""

from __future__ import annotations

import cv2
import numpy as np

from studio.dense.sampling import InitialTracks
from studio.progress import ProgressFn, no_progress
from studio.trackers.lk import LK_CRITERIA, patches_at

MIN_MATCHES = 8
"""Fewest matches agreeing with one homography for the region to count as seen in a frame."""
SIFT_CONTRAST = 0.01
"""SIFT's contrast threshold (OpenCV's default is 0.04)."""
RATIO = 0.8
"""Lowe's ratio test: best match distance below this share of the second best."""
RANSAC_PX = 8.0
"""Homography inlier threshold in working pixels (loose: a turning object is not planar)."""
NEAR_MATCHES = 6
"""Matches whose median displacement predicts a track when no affine motion fits (see ``reach`` too)."""
AFFINE_MATCHES = 12
"""Matches whose affine motion predicts a track."""
AFFINE_CONDITION = 0.01
"""Smallest ratio of the least to the largest singular value of an affine fit (else nearly collinear)."""
CARRY_REACH = 32.0
"""A lost track that is not re-found moves to its prediction only when its ``NEAR_MATCHES`` nearest
matches lie within this many working pixels of it on the query frame."""
FB_PX = 1.5
"""Largest forward-backward error of a re-found track in pixels."""
PREDICTION_PX = 6.0
"""How far LK may move a re-found track from its prediction, and how far a visible track may lie from it."""
MIN_NCC = 0.6
"""Smallest normalised cross-correlation between a re-found track's patch then and now."""
SEARCH_LOST = 0.1
"""Frames where fewer than this share of the region's tracks are lost are left alone (nothing to find,
and matching every frame of a well-tracked region would double the cost of the initial tracks)."""
KEEP_NCC = 0.3
"""In a frame where most of the region is lost (``TEMPLATE_LOST``), a visible track whose patch
correlates less than this with its patch on the query frame is hidden: it slid onto something else.
Applied in every frame it would also hide good tracks on fur or under changing light (on cat.mp4
7% of the visible tracks correlate below 0), so it is kept for frames where the few survivors of a
turned-away region are suspect anyway. Correlation ignores gain and offset."""
PATCH = 7
"""Half-size of the patch compared by ``MIN_NCC``."""
TEMPLATE_SCALES = (0.8, 1.0, 1.25)
"""Scales of width and height (each with each) at which the region's box is looked for when it has too
few keypoints to match."""
PROBE_AFTER = 3
"""Searched frames in a row with fewer than half ``MIN_MATCHES`` ratio-test matches before matching is thinned."""
PROBE_EVERY = 5
"""Then only every this many frames is matched (a turned-back surface is recognised at most this late; the
turning-object clip's figures and the blurred and rigid held objects' are those of matching every frame)."""
COARSE_MIN = 8
"""A box whose short side is at least twice this is looked for on half-size images first."""
VIEW_FLOOR = 0.05
"""Fewest re-found tracks, as a share of the region's, for a view made from another view to count."""
SAMPLE_TRACKS = 64
"""Tracks that try each place of the box before the best place is checked with all of them."""
TEMPLATE_LOST = 0.5
"""The box is looked for only in frames where at least this share of the region's tracks is lost."""
TEMPLATE_CONFIRM = 0.25
"""A box match counts only when at least this share of the region's tracks is re-found there."""


def _keypoints(sift, gray: np.ndarray, mask: np.ndarray | None):
    kp, des = sift.detectAndCompute(gray, None if mask is None else mask.astype(np.uint8) * 255)
    xy = np.array([k.pt for k in kp], np.float32).reshape(-1, 2)
    return xy, des


def _ncc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation of patch stacks [N, k, k] -> [N]."""
    a = a - a.mean(axis=(1, 2), keepdims=True)
    b = b - b.mean(axis=(1, 2), keepdims=True)
    den = np.sqrt((a * a).sum(axis=(1, 2)) * (b * b).sum(axis=(1, 2))) + 1e-6
    return (a * b).sum(axis=(1, 2)) / den


def _patches(gray: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """[N, 2k+1, 2k+1] float32 patches of ``gray`` centred on ``xy`` (sub-pixel; k = ``PATCH``)."""
    return patches_at(gray, xy, 2 * PATCH + 1)


def redetect(
    init: InitialTracks, video: np.ndarray, mask: np.ndarray, frame: int, progress: ProgressFn = no_progress
) -> tuple[InitialTracks, dict]:
    """Find a region's lost tracks again by appearance (see the module docstring).

    Args:
      init: the region's tracks [T, N, 2] ``(x, y)`` pixels of ``video`` and visibility [T, N]
        (all of them on the region on ``frame``).
      video: [T, H, W, 3] uint8 RGB the tracks were made on.
      mask: [H, W] bool, the region on ``frame``.
      frame: the query frame.
      progress: ``ProgressFn`` called once per frame (the search takes seconds on a long clip).

    Returns:
      ``(tracks, stats)``: new ``InitialTracks`` (copies; ``init`` is not changed; ``refound`` marks the
      tracks made visible here) and counts
      ``{"frames_seen", "refound", "slid", "faded"}``.
    """
    tracks, visible = init.tracks.copy(), init.visible.copy()
    refound = np.zeros_like(visible)
    stats = {"frames_seen": 0, "refound": 0, "slid": 0, "faded": 0}
    t_len, n = visible.shape
    if n == 0 or t_len < 2:
        return init, stats
    gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in video])
    # A low contrast threshold: held objects are often plain fabric or plastic with few strong corners
    # (4 default keypoints on backpack.mp4's painted side, 13 at this threshold).
    sift = cv2.SIFT_create(contrastThreshold=SIFT_CONTRAST)
    # Keypoints just outside the painted edge still belong to the object more often than not;
    # a small dilation gives the matching more to go on without reaching far onto the background.
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    src_xy, src_des = _keypoints(sift, gray[frame], grown)
    can_match = len(src_xy) >= MIN_MATCHES  # a region with too few keypoints is only checked (step 5)
    matcher = cv2.BFMatcher(cv2.NORM_L2)
    start = tracks[frame]
    src_patch = _patches(gray[frame], start)
    start_ok = visible[frame]
    query_view = _View.on_query(gray[frame], frame, mask, start, start_ok, src_patch)
    views = [] if query_view is None else [query_view]
    misses, probed = 0, -PROBE_EVERY
    for t in range(t_len):
        progress(t / t_len, f"looking for lost tracks again, frame {t + 1}/{t_len}")
        if t == frame:
            continue
        lost_share = (start_ok & ~visible[t]).sum() / max(start_ok.sum(), 1)
        if lost_share < SEARCH_LOST:
            continue
        if lost_share >= TEMPLATE_LOST:
            shown = np.nonzero(start_ok & visible[t])[0]
            faded = shown[_ncc(src_patch[shown], _patches(gray[t], tracks[t, shown])) < KEEP_NCC]
            visible[t, faded] = False
            stats["faded"] += len(faded)
        found = None
        # SIFT on the whole frame is most of the search's cost. Where the region's keypoints have been
        # nowhere near a match for a while (a plain or turned-away surface), only every PROBE_EVERY-th
        # frame is matched until one comes near again.
        if can_match and (misses < PROBE_AFTER or t - probed >= PROBE_EVERY):
            probed = t
            found, count = _predict_by_matches(sift, matcher, src_xy, src_des, gray[t], start)
            misses = misses + 1 if count < MIN_MATCHES // 2 else 0
        pred, reach = found if found is not None else (None, None)
        if pred is not None:
            stats["frames_seen"] += 1
            # A visible track far from where its surface is seen, when its appearance on the query frame is
            # confirmed there, had slid off it (onto the background at the object's outline): it moves there.
            far = np.nonzero(start_ok & visible[t] & (np.linalg.norm(tracks[t] - pred, axis=1) > 2 * PREDICTION_PX))[0]
            if len(far):
                p1, ok = _verify(gray[frame], gray[t], start[far], pred[far], src_patch[far])
                tracks[t, far[ok]] = p1[ok]
                refound[t, far[ok]] = True
                stats["slid"] += int(ok.sum())
        lost = np.nonzero(start_ok & ~visible[t])[0]
        if len(lost) == 0:
            continue
        if pred is None:
            # Too few keypoints to match (plain surfaces): when most of the region is lost, look for
            # the whole region's look; such a guess is kept only if many of its tracks confirm it.
            if len(lost) < TEMPLATE_LOST * start_ok.sum() or not views:
                continue
            found = None
            for k, view in enumerate(views):
                if k == 2 and view.frame != t - 1:
                    break  # a view made from a view only carries the region on to the next frame
                # Such a view stands on fewer tracks each time; below a share of the whole region
                # they would confirm a guess by a handful of points on something else.
                found = view.find(gray[t], lost, int(VIEW_FLOOR * start_ok.sum()) if k == 2 else 0)
                if found is not None:
                    break
            if found is None:
                continue
            idx, p1, placed, confirmed = found
            tracks[t, idx] = p1
            visible[t, idx] = refound[t, idx] = True
            stats["refound"] += len(idx)
            # This frame's look (another angle, other light) can find the region where the query frame's
            # cannot: found by the query frame's look, it is kept as the second view; found otherwise, it is
            # the third (the latest), which follows the region on from there.
            view = _View.at(gray[t], t, placed, tracks[t], visible[t] & start_ok)
            view.confirmed = confirmed
            if k == 0:
                views[1:] = [view]
            else:
                views[2:] = [view]
            continue
        p1, ok = _verify(gray[frame], gray[t], start[lost], pred[lost], src_patch[lost])
        tracks[t, lost[ok]] = p1[ok]
        visible[t, lost[ok]] = refound[t, lost[ok]] = True
        # The rest stay hidden but are carried with their surface, not with whatever lk left them on; the
        # refiner's photometric test near the edge of the visible part then finds the pixels that are
        # truly in view there. Only where matches are near, though: a prediction far beyond them is a
        # guess, and on a perspective clip it put pixels that had left the frame just inside it, where
        # that test called them visible (occlusion IoU 0.731 -> 0.676 in bench_dense.py).
        carry = lost[~ok]
        carry = carry[reach[carry] <= CARRY_REACH]
        tracks[t, carry] = pred[carry]
        stats["refound"] += int(ok.sum())
    return InitialTracks(tracks, visible, init.queries, refound), stats


def _predict_by_matches(sift, matcher, src_xy, src_des, gray: np.ndarray, start: np.ndarray):
    """Where each track [N, 2] of the query frame should be in ``gray``, from the region's SIFT matches
    that agree with one homography: ``((pred [N, 2], reach [N]) or None when too few match, ratio-test matches)``.

    ``pred`` maps the track by the affine motion of its ``AFFINE_MATCHES`` nearest matches (least
    squares; the median displacement of its ``NEAR_MATCHES`` nearest where those are nearly collinear):
    a surface seen in perspective stretches, and one translation for a neighbourhood put points of a
    clip's perspective warp 5-45 px from their place. ``reach`` is the distance from the track to the
    farthest of its ``NEAR_MATCHES`` nearest matches on the query frame: how far the prediction reaches
    beyond what was seen."""
    dst_xy, dst_des = _keypoints(sift, gray, None)
    if dst_des is None or len(dst_xy) < 2:
        return None, 0
    pairs = [m for m in matcher.knnMatch(src_des, dst_des, k=2) if len(m) == 2 and m[0].distance < RATIO * m[1].distance]
    if len(pairs) < MIN_MATCHES:
        return None, len(pairs)
    a = src_xy[[m[0].queryIdx for m in pairs]]
    b = dst_xy[[m[0].trainIdx for m in pairs]]
    _, inl = cv2.findHomography(a, b, cv2.RANSAC, RANSAC_PX)
    if inl is None or inl.sum() < MIN_MATCHES:
        return None, len(pairs)
    keep = inl.ravel().astype(bool)
    return _local_affine(a[keep], b[keep], start), len(pairs)


def _local_affine(a: np.ndarray, b: np.ndarray, start: np.ndarray):
    """Points ``start`` [N, 2] moved as the pairs ``a -> b`` [M, 2] near them move: ``(pred [N, 2], reach [N])``
    (see ``_predict_by_matches``)."""
    d2 = ((start[:, None, :] - a[None, :, :]) ** 2).sum(-1)
    order = np.argsort(d2, axis=1)
    near = order[:, : min(NEAR_MATCHES, len(a))]
    reach = np.sqrt(np.take_along_axis(d2, near[:, -1:], axis=1)[:, 0])
    pred = start + np.median(b[near] - a[near], axis=1)
    nk = order[:, : min(AFFINE_MATCHES, len(a))]
    # Coordinates relative to the track: the fitted offset is then its predicted place.
    design = np.concatenate([a[nk] - start[:, None], np.ones(nk.shape + (1,), np.float32)], axis=-1)  # [N, k, 3]
    u, sv, vt = np.linalg.svd(design, full_matrices=False)
    fit = sv[:, -1] > AFFINE_CONDITION * sv[:, 0]
    coef = np.einsum("nji,nj,nkj,nkc->nic", vt[fit], 1.0 / sv[fit], u[fit], b[nk[fit]])  # [n, 3, 2]
    pred[fit] = coef[:, 2]
    return pred.astype(np.float32), reach.astype(np.float32)


class _View:
    """A frame where the region is known, for the whole-box search: its box there (blurred grey patch
    [h, w] uint8 and top-left ``(x0, y0)``), the region's tracks' places [N, 2] there, which of them are
    on it (``seen`` [N] bool), their patches, and the frame's grey image."""

    def __init__(self, gray, frame, patch, origin, points, seen, patches):
        self.gray, self.frame, self.patch, self.origin = gray, frame, patch, origin
        self.points, self.seen, self.patches = points, seen, patches
        self.confirmed = int(seen.sum())
        """How many tracks a guess from this view must confirm is a share of this (for a view made from
        a found frame: of the tracks the box's place confirmed there, before more were found near them)."""

    @classmethod
    def on_query(cls, gray, frame, mask, points, seen, patches):
        """The query frame's view: the mask's bounding box; None when tiny."""
        ys, xs = np.nonzero(mask)
        x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
        if min(x1 - x0, y1 - y0) < 8:
            return None
        return cls(gray, frame, cv2.GaussianBlur(gray, (3, 3), 0)[y0:y1, x0:x1], (float(x0), float(y0)),
                   points, seen, patches)

    @classmethod
    def at(cls, gray, frame, placed, points, seen):
        """A view of ``frame`` where the box was found at ``placed = (x0, y0, w, h)``."""
        x0, y0, w, h = placed
        patch = cv2.GaussianBlur(gray, (3, 3), 0)[y0 : y0 + h, x0 : x0 + w]
        return cls(gray, frame, patch, (float(x0), float(y0)), points.copy(), seen.copy(), _patches(gray, points))

    def places(self, gray: np.ndarray) -> list:
        """The box's best match in ``gray`` at each of ``TEMPLATE_SCALES`` in width and height (a turned-back
        object is rarely at its old distance or angle), best first: ``[(pred [N, 2], (x0, y0, w, h))]``,
        where ``pred`` are the view's points moved with the box."""
        image = cv2.GaussianBlur(gray, (3, 3), 0)
        # The search runs on half-size images (a quarter of the pixels, a quarter of the template) and the
        # best half-size place is refined at full size within two pixels of it either way.
        coarse = min(self.patch.shape) >= 2 * COARSE_MIN
        small = cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA) if coarse else image
        x0, y0 = self.origin
        out = []
        for sx in TEMPLATE_SCALES:
            for sy in TEMPLATE_SCALES:
                tpl = cv2.resize(self.patch, None, fx=sx, fy=sy, interpolation=cv2.INTER_AREA)
                if tpl.shape[0] > image.shape[0] or tpl.shape[1] > image.shape[1] or min(tpl.shape) < 4:
                    continue
                if coarse:
                    half = cv2.resize(tpl, ((tpl.shape[1] + 1) // 2, (tpl.shape[0] + 1) // 2), interpolation=cv2.INTER_AREA)
                    if half.shape[0] > small.shape[0] or half.shape[1] > small.shape[1]:
                        continue
                    _, _, _, (hx, hy) = cv2.minMaxLoc(cv2.matchTemplate(small, half, cv2.TM_CCOEFF_NORMED))
                    ax = min(max(2 * hx - 2, 0), image.shape[1] - tpl.shape[1])
                    ay = min(max(2 * hy - 2, 0), image.shape[0] - tpl.shape[0])
                    window = image[ay : ay + tpl.shape[0] + 4, ax : ax + tpl.shape[1] + 4]
                    _, score, _, (lx, ly) = cv2.minMaxLoc(cv2.matchTemplate(window, tpl, cv2.TM_CCOEFF_NORMED))
                    lx, ly = lx + ax, ly + ay
                else:
                    _, score, _, (lx, ly) = cv2.minMaxLoc(cv2.matchTemplate(image, tpl, cv2.TM_CCOEFF_NORMED))
                pred = np.stack([lx + sx * (self.points[:, 0] - x0), ly + sy * (self.points[:, 1] - y0)], axis=1)
                out.append((score, pred.astype(np.float32), (int(lx), int(ly), tpl.shape[1], tpl.shape[0])))
        return [(pred, placed) for _, pred, placed in sorted(out, key=lambda o: -o[0])]

    def find(self, gray: np.ndarray, lost: np.ndarray, floor: int = 0):
        """Look for the region in ``gray`` by this view's box and confirm the guess by LK from this view:
        ``(indices, places [n, 2], box, confirmed)`` of the ``lost`` tracks re-found (``confirmed`` of them
        by the box's place alone, the rest near those), or None when fewer than
        ``TEMPLATE_CONFIRM`` of the view's tracks (and ``MIN_MATCHES``, and ``floor``) confirm it.

        The best correlation is not always the right place (a plain box aligns its edges at a wrong
        scale), so each scale's best place is tried on ``SAMPLE_TRACKS`` tracks first, and only the
        one most of them confirm is checked in full."""
        cand = lost[self.seen[lost]]
        need = max(MIN_MATCHES, TEMPLATE_CONFIRM * self.confirmed, floor)
        if len(cand) < need:
            return None
        sample = cand[np.linspace(0, len(cand) - 1, min(SAMPLE_TRACKS, len(cand))).astype(int)]
        best, best_ok = None, 0
        for pred, placed in self.places(gray):
            _, ok = _verify(self.gray, gray, self.points[sample], pred[sample], self.patches[sample])
            if ok.sum() > best_ok:
                best, best_ok = (pred, placed), int(ok.sum())
        # Half the needed share in the sample: a looser bar than the full check, which decides.
        if best is None or best_ok * len(cand) < 0.5 * need * len(sample):
            return None
        pred, placed = best
        p1, ok = _verify(self.gray, gray, self.points[cand], pred[cand], self.patches[cand])
        if ok.sum() < need:
            return None
        confirmed = int(ok.sum())
        # One box moved and scaled fits a turned surface only roughly; the tracks just found tell how it
        # moved near each of the others, which are tried again from there.
        rest = np.nonzero(~ok)[0]
        if len(rest):
            again, reach = _local_affine(self.points[cand[ok]], p1[ok], self.points[cand[rest]])
            near = rest[reach <= CARRY_REACH]
            p1[near], ok[near] = _verify(self.gray, gray, self.points[cand[near]], again[reach <= CARRY_REACH],
                                         self.patches[cand[near]])
        return cand[ok], p1[ok], placed, confirmed


def _verify(g0: np.ndarray, g1: np.ndarray, p0: np.ndarray, pred: np.ndarray, patch0: np.ndarray):
    """LK from ``g0`` (the query frame or a view) straight to ``g1`` started at ``pred``: ``(p1 [N, 2], ok [N] bool)``,
    ok where LK converges both ways, returns within ``FB_PX``, stays within ``PREDICTION_PX`` of the
    prediction, inside the frame, and the patch correlates at least ``MIN_NCC`` with ``patch0``."""
    lk = dict(winSize=(15, 15), maxLevel=1, criteria=LK_CRITERIA)
    # OpenCV builds both images' pyramids on every call; the points of one call lie in two small boxes
    # (where the view has them, where they are predicted), so each image is cropped to its box (with a
    # margin wider than LK's reach) and both crops padded to one size, as LK needs.
    (c0, o0), (c1, o1) = _crops(g0, p0, g1, pred)
    a = (p0 - o0).reshape(-1, 1, 2).astype(np.float32)
    p1, st1, _ = cv2.calcOpticalFlowPyrLK(c0, c1, a, (pred - o1).reshape(-1, 1, 2).astype(np.float32).copy(),
                                          flags=cv2.OPTFLOW_USE_INITIAL_FLOW, **lk)
    back, st2, _ = cv2.calcOpticalFlowPyrLK(c1, c0, p1, a.copy(), flags=cv2.OPTFLOW_USE_INITIAL_FLOW, **lk)
    p1, back = p1.reshape(-1, 2) + o1, back.reshape(-1, 2) + o0
    h, w = g1.shape
    ok = (st1.ravel() == 1) & (st2.ravel() == 1)
    ok &= np.linalg.norm(back - p0, axis=1) <= FB_PX
    ok &= np.linalg.norm(p1 - pred, axis=1) <= PREDICTION_PX
    ok &= (p1[:, 0] >= 0) & (p1[:, 0] <= w - 1) & (p1[:, 1] >= 0) & (p1[:, 1] <= h - 1)
    if ok.any():
        ok[ok] = _ncc(patch0[ok], _patches(g1, p1[ok])) >= MIN_NCC
    return p1, ok


CROP_MARGIN = 40
"""Pixels kept around the points of one LK check (its window, two pyramid levels and the prediction's slack)."""


def _crops(g0: np.ndarray, p0: np.ndarray, g1: np.ndarray, p1: np.ndarray):
    """``((crop0, origin0), (crop1, origin1))``: ``g0`` around points ``p0`` [N, 2] and ``g1`` around ``p1``,
    each cut to the points' box plus ``CROP_MARGIN`` (within the image), the smaller one zero-padded to the
    larger one's size; ``origin`` [2] float32 ``(x, y)`` of each crop in its image."""
    h, w = g0.shape
    boxes = []
    for pts in (p0, p1):
        lo = np.clip(np.floor(pts.min(0)) - CROP_MARGIN, 0, [w, h]).astype(int)
        hi = np.clip(np.ceil(pts.max(0)) + CROP_MARGIN + 1, 0, [w, h]).astype(int)
        boxes.append((lo, np.maximum(hi, lo + 1)))
    size = np.maximum(boxes[0][1] - boxes[0][0], boxes[1][1] - boxes[1][0])
    out = []
    for g, (lo, _) in zip((g0, g1), boxes):
        lo = np.minimum(lo, np.maximum([w, h] - size, 0))  # keep the full size inside the image when it fits
        crop = g[lo[1] : lo[1] + size[1], lo[0] : lo[0] + size[0]]
        if crop.shape != (size[1], size[0]):
            crop = cv2.copyMakeBorder(crop, 0, size[1] - crop.shape[0], 0, size[0] - crop.shape[1], cv2.BORDER_CONSTANT)
        out.append((np.ascontiguousarray(crop), lo.astype(np.float32)))
    return out
