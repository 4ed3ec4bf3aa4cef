// The Live tab's page side (the body of a gr.HTML ``js_on_load``: ``element`` is the component's root,
// ``server`` calls the Python functions given as ``server_functions``).
//
// The page owns the camera: it shows each captured frame with that frame's tracked points drawn on it,
// and sends the server only the frame (a JPEG, once) and gets back small JSON (the points), instead
// of a JPEG in each direction through Gradio's streaming queue. Per frame:
//   capture (video -> canvas, kept as an ImageBitmap) -> JPEG (canvas.toBlob, off the main thread)
//   -> server.live_frame (one POST: decode, track, record) -> points JSON
//   -> draw the kept bitmap and its points on the view canvas (the screen shows it at its next refresh).
// A frame is *shown* when its picture and its points are drawn; *latency* is from the moment it was
// grabbed from the camera to that drawing. At most MAX_IN_FLIGHT frames are on their way at once; a new
// one is grabbed as soon as there is room and the camera has had time for a new frame. A result that
// arrives after a newer frame's was shown is dropped.
(() => {
  const MAX_SIDE = %(max_side)d;
  const QUALITY = %(quality).2f;
  const MAX_IN_FLIGHT = %(in_flight)d;
  const TAIL = %(tail)d;
  const KEEP = 20000; // measurements kept for window.__studioLive (a bench reads them)

  const view = element.querySelector("canvas.live-view");
  const video = element.querySelector("video.live-src");
  const startButton = element.querySelector("button.live-start");
  const statsLine = element.querySelector(".live-stats");
  const noteLine = element.querySelector(".live-note");
  const grab = document.createElement("canvas");
  const grabCtx = grab.getContext("2d", { alpha: false });
  const ctx = view.getContext("2d", { alpha: false });

  const id = (self.crypto && crypto.randomUUID) ? crypto.randomUUID()
    : Array.from({ length: 4 }, () => Math.random().toString(36).slice(2, 10)).join("-");
  // What the page measures (a bench and the browser test read it): when each frame was shown, its latency,
  // and the newest server answer drawn.
  const live = window.__studioLive = { id, shown: [], latencies: [], sent: 0, errors: 0, last: null };

  let stream = null, running = false, inFlight = 0, seq = 0, lastShownSeq = -1;
  let minGap = 1000 / 30, lastGrab = -1e9;
  let size = null; // [H, W] of the frames sent (the server's working frame)
  let history = []; // points [[x, y, visible], ...] of the last TAIL + 1 frames shown, oldest first
  let colors = [];
  let serverText = "";

  let noteTimer = null;
  function note(text) { // a message about the last click or failure, cleared after a few seconds
    noteLine.textContent = text || "";
    clearTimeout(noteTimer);
    if (text) noteTimer = setTimeout(() => { noteLine.textContent = ""; }, 6000);
  }

  async function start() {
    if (running) { stop(); return; }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      note("this browser gives pages a camera only over https (or on localhost)");
      return;
    }
    try {
      const want = { width: { ideal: 640 }, height: { ideal: 480 } };
      stream = await navigator.mediaDevices.getUserMedia({ video: want, audio: false });
    } catch (err) {
      note("camera not available: " + err.message);
      return;
    }
    video.srcObject = stream;
    await video.play();
    const rate = stream.getVideoTracks()[0].getSettings().frameRate;
    if (rate) minGap = 1000 / rate * 0.9;
    running = true;
    startButton.textContent = "Pause camera";
    note("");
    pump();
  }

  function stop() {
    running = false;
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
    startButton.textContent = "Start camera";
  }

  // The next grab: as soon as a frame may be on its way and the camera has had time for a new one. Driven by
  // the replies (and a timer), not by animation frames: an idle page does no work between frames.
  // While another tab of the app is shown the Live tab's element has no boxes: nothing is grabbed, sent or
  // recorded until it is shown again (the camera stays open so coming back is instant).
  let timer = null;
  const shown = () => element.getClientRects().length > 0;
  function pump() {
    if (!running || timer !== null || inFlight >= MAX_IN_FLIGHT) return;
    const wait = !shown() ? 250 : video.videoWidth ? Math.max(0, lastGrab + minGap - performance.now()) : 50;
    timer = setTimeout(() => {
      timer = null;
      if (!running) return;
      if (video.videoWidth && inFlight < MAX_IN_FLIGHT && shown()) { lastGrab = performance.now(); sendFrame(); }
      pump();
    }, wait);
  }

  async function sendFrame() {
    const vw = video.videoWidth, vh = video.videoHeight;
    const scale = Math.min(1, MAX_SIDE / Math.max(vw, vh));
    const w = Math.max(16, Math.floor(vw * scale / 2) * 2), h = Math.max(16, Math.floor(vh * scale / 2) * 2);
    if (grab.width !== w || grab.height !== h) { grab.width = w; grab.height = h; }
    inFlight++;
    const mine = seq++;
    const grabbed = performance.now();
    try {
      grabCtx.drawImage(video, 0, 0, w, h);
      const bitmap = await createImageBitmap(grab);
      const blob = await new Promise((ok) => grab.toBlob(ok, "image/jpeg", QUALITY));
      const url = await new Promise((ok, bad) => {
        const r = new FileReader(); r.onload = () => ok(r.result); r.onerror = bad; r.readAsDataURL(blob);
      });
      live.sent++;
      const res = await server.live_frame({ client: id, seq: mine, image: url });
      if (res.error) { note(res.error); live.errors++; bitmap.close(); return; }
      if (res.skipped || mine < lastShownSeq) { bitmap.close(); return; }
      lastShownSeq = mine;
      draw(bitmap, res, grabbed);
    } catch (err) {
      live.errors++;
      note("live frame failed: " + err);
    } finally {
      inFlight--;
      pump();
    }
  }

  function draw(bitmap, res, grabbed) {
    if (view.width !== bitmap.width || view.height !== bitmap.height) {
      view.width = bitmap.width; view.height = bitmap.height;
    }
    ctx.drawImage(bitmap, 0, 0);
    bitmap.close();
    size = res.size;
    if (res.colors) colors = res.colors;
    // A new session (after Stop) starts with fewer points: its tails start afresh.
    if (history.length && history[history.length - 1].length > res.points.length) history = [];
    history.push(res.points);
    if (history.length > TAIL + 1) history.shift();
    drawPoints();
    const now = performance.now();
    live.shown.push(now);
    live.latencies.push(now - grabbed);
    if (live.shown.length > KEEP) { live.shown.splice(0, KEEP / 2); live.latencies.splice(0, KEEP / 2); }
    live.last = res;
    serverText = res.status || "";
    showStats(now);
  }

  function drawPoints() {
    const pts = history[history.length - 1];
    if (!pts || !pts.length || !size) return;
    const sx = view.width / size[1], sy = view.height / size[0];
    const radius = Math.max(2, Math.min(view.width, view.height) / 120);
    const line = Math.max(1, Math.round(radius / 2));
    ctx.lineCap = "round";
    // Tails first (older segments fainter), then the points on top.
    for (let age = history.length - 1; age >= 1; age--) {
      const a = history[history.length - 1 - age], b = history[history.length - age];
      ctx.globalAlpha = 1 - (age - 1) / Math.max(TAIL, 1);
      ctx.lineWidth = line;
      for (let i = 0; i < b.length && i < a.length; i++) {
        if (!a[i] || !b[i] || a[i][0] === null || b[i][0] === null) continue;
        ctx.strokeStyle = colors[i] || "#ff0";
        ctx.beginPath();
        ctx.moveTo((a[i][0] + 0.5) * sx, (a[i][1] + 0.5) * sy);
        ctx.lineTo((b[i][0] + 0.5) * sx, (b[i][1] + 0.5) * sy);
        ctx.stroke();
      }
    }
    ctx.globalAlpha = 1;
    for (let i = 0; i < pts.length; i++) {
      const p = pts[i];
      if (p[0] === null) continue; // starts with the next frame
      const c = colors[i] || "#ff0";
      ctx.beginPath();
      ctx.arc((p[0] + 0.5) * sx, (p[1] + 0.5) * sy, radius, 0, 2 * Math.PI);
      if (p[2]) { ctx.fillStyle = c; ctx.fill(); } else { ctx.strokeStyle = c; ctx.lineWidth = line; ctx.stroke(); }
    }
  }

  function showStats(now) {
    // Over the last 2 s: frames shown per second and the median latency.
    const shown = live.shown, lat = live.latencies;
    let k = shown.length - 1;
    while (k > 0 && now - shown[k - 1] <= 2000) k--;
    const n = shown.length - k;
    const fps = n > 1 ? (n - 1) / ((shown[shown.length - 1] - shown[k]) / 1000) : 0;
    const recent = lat.slice(k).sort((a, b) => a - b);
    const median = recent.length ? recent[Math.floor(recent.length / 2)] : 0;
    statsLine.textContent = `${fps.toFixed(1)} frames/s shown · latency ${median.toFixed(0)} ms · ${serverText}`;
  }

  view.addEventListener("click", async (e) => {
    if (!size) { note("start the camera first, then click on the picture"); return; }
    const box = view.getBoundingClientRect();
    // The pointer in the server frame's pixels: the picture's left edge is x = -0.5 (integer = pixel centre).
    const at = (offset, extent, n) => Math.min(n - 1, Math.max(0, Math.round((offset / extent * n - 0.5) * 100) / 100));
    const x = at(e.clientX - box.left, box.width, size[1]), y = at(e.clientY - box.top, box.height, size[0]);
    try {
      const res = await server.live_click({ client: id, x, y });
      note(res.error || res.status);
    } catch (err) {
      note("click failed: " + err);
    }
  });
  startButton.addEventListener("click", start);
})();
