// sfumato studio, Image tab: an init picture, a mask painted over it (brush, eraser), strength, before/after.
// Uses app.js's api(), withToken() and $(); submits to /api/jobs with the picture and mask inline (base64).
"use strict";

const imageTab = { hasPicture: false, painting: false, last: null };

function stageCanvases() { return [$("#init-canvas"), $("#mask-canvas")]; }

async function loadInitPicture(source) {
  // source: a File/Blob, or a URL of a picture in the library ("send to img2img").
  const url = typeof source === "string" && !source.startsWith("blob:") ? withToken(source) : source;
  const blob = source instanceof Blob ? source : await (await fetch(url)).blob();
  const bitmap = await createImageBitmap(blob);
  for (const canvas of stageCanvases()) { canvas.width = bitmap.width; canvas.height = bitmap.height; }
  $("#init-canvas").getContext("2d").drawImage(bitmap, 0, 0);
  clearMask();
  imageTab.hasPicture = true;
  $("#after-image").hidden = true;
  $("#image-status").textContent = `Init picture: ${bitmap.width}x${bitmap.height}`;
}

function clearMask() {
  const canvas = $("#mask-canvas");
  canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
}

function canvasPoint(event) {
  const canvas = $("#mask-canvas");
  const box = canvas.getBoundingClientRect();
  return [(event.clientX - box.left) * canvas.width / box.width, (event.clientY - box.top) * canvas.height / box.height];
}

function paintTo(event) {
  const context = $("#mask-canvas").getContext("2d");
  const [x, y] = canvasPoint(event);
  const [fromX, fromY] = imageTab.last || [x, y];
  context.globalCompositeOperation = $("#eraser").checked ? "destination-out" : "source-over";
  context.strokeStyle = "rgb(255, 40, 40)";
  context.lineWidth = Number($("#brush-size").value);
  context.lineCap = "round";
  context.beginPath();
  context.moveTo(fromX, fromY);
  context.lineTo(x, y);
  context.stroke();
  imageTab.last = [x, y];
}

function maskDataUrl() {
  // The painted strokes as a black-and-white mask of the picture's size; null when nothing is painted.
  const painted = $("#mask-canvas");
  const pixels = painted.getContext("2d").getImageData(0, 0, painted.width, painted.height).data;
  const out = document.createElement("canvas");
  out.width = painted.width;
  out.height = painted.height;
  const context = out.getContext("2d");
  const mask = context.createImageData(out.width, out.height);
  let any = false;
  for (let i = 0; i < pixels.length; i += 4) {
    const value = pixels[i + 3] >= 128 ? 255 : 0;
    any ||= value > 0;
    mask.data.set([value, value, value, 255], i);
  }
  context.putImageData(mask, 0, 0);
  return any ? out.toDataURL("image/png") : null;
}

function imageRecipe() {
  const recipe = { prompt: $("#image-prompt").value, negative_prompt: $("#image-negative").value,
    denoising_strength: Number($("#strength").value), seed: Number($("#image-seed").value || -1),
    mask_blur: Number($("#mask-blur").value || 0), inpaint_area: $("#inpaint-area").value,
    masked_content: $("#masked-content").value, invert_mask: $("#invert-mask").checked };
  if ($("#image-steps").value) recipe.steps = Number($("#image-steps").value);
  if ($("#model").value) recipe.model = $("#model").value;  // the Generate tab's model and sampler
  if ($("#sampler").value) recipe.sampler = $("#sampler").value;
  return recipe;
}

async function runImage(event) {
  event?.preventDefault();
  $("#image-error").textContent = "";
  if (!imageTab.hasPicture) { $("#image-error").textContent = "Choose or drop an init picture first"; return; }
  const body = { recipe: imageRecipe(), init_image: $("#init-canvas").toDataURL("image/png"), mask: maskDataUrl(),
    requested_by: "web" };
  let job;
  try {
    job = await api("/api/jobs", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  } catch (error) { $("#image-error").textContent = error.message; return; }
  $("#image-status").textContent = body.mask ? "Inpainting..." : "Working...";
  const events = new EventSource(withToken(`/api/jobs/${job.id}/events`));
  events.addEventListener("job", async (message) => {
    const current = JSON.parse(message.data);
    if (!["done", "failed", "cancelled"].includes(current.state)) return;
    events.close();
    if (current.state !== "done") { $("#image-error").textContent = `${current.state}: ${current.error || ""}`; return; }
    const picture = await api(`/api/pictures/${current.picture_ids[0]}`);
    $("#after-image").src = withToken(picture.url);
    $("#after-image").hidden = false;
    $("#image-status").textContent = `Done: seed ${picture.seed}`;
  });
  events.onerror = () => { events.close(); };
}

function setUpImageTab() {
  const canvas = $("#mask-canvas");
  canvas.addEventListener("pointerdown", (e) => { imageTab.painting = true; imageTab.last = null; canvas.setPointerCapture(e.pointerId); paintTo(e); });
  canvas.addEventListener("pointermove", (e) => { if (imageTab.painting) paintTo(e); });
  for (const type of ["pointerup", "pointercancel"]) canvas.addEventListener(type, () => { imageTab.painting = false; });
  $("#brush-size").addEventListener("input", () => { $("#brush-size-value").textContent = $("#brush-size").value; });
  $("#strength").addEventListener("input", () => { $("#strength-value").textContent = $("#strength").value; });
  $("#clear-mask").addEventListener("click", clearMask);
  $("#init-input").addEventListener("change", (e) => { if (e.target.files[0]) loadInitPicture(e.target.files[0]); });
  $("#image-form").addEventListener("submit", runImage);
  $("#send-to-image").addEventListener("click", () => {
    $("#picture-dialog").close();
    showView("image");
    loadInitPicture(shownPicture.url || $("#picture-image").src);
    $("#image-prompt").value = shownPicture.recipe?.prompt || "";
  });
}

document.addEventListener("DOMContentLoaded", setUpImageTab);
