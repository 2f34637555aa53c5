// sfumato studio: plain JavaScript over the native API (/api). No build step, no framework.
"use strict";

const $ = (selector) => document.querySelector(selector);
const FIELDS = ["prompt", "negative_prompt", "model", "sampler", "schedule_type", "steps", "guidance_scale",
  "width", "height", "seed", "batch_size", "batch_count", "subseed", "subseed_strength"];
const NUMBERS = new Set(["steps", "guidance_scale", "width", "height", "seed", "batch_size", "batch_count",
  "subseed", "subseed_strength"]);
const VARIATION_DEFAULTS = { subseed: "", subseed_strength: 0 };  // a recipe without a variation clears them
let lastSeed = null;
let shownPicture = null;

function token() { return localStorage.getItem("sfumato-token") || ""; }
function withToken(url) { return token() ? `${url}${url.includes("?") ? "&" : "?"}token=${encodeURIComponent(token())}` : url; }

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) {
    const given = window.prompt("This server needs its API token:");
    if (given) { localStorage.setItem("sfumato-token", given); return api(path, options); }
  }
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) throw new Error(body?.detail && typeof body.detail === "string" ? body.detail : body?.message || response.statusText);
  return body;
}

function showError(message) { $("#error").textContent = message || ""; }

// --- views ---------------------------------------------------------------------------------------------
function showView(name) {
  document.querySelectorAll(".tab").forEach((tab) => tab.setAttribute("aria-pressed", String(tab.dataset.view === name)));
  document.querySelectorAll(".view").forEach((view) => { view.hidden = view.id !== `view-${name}`; });
  if (name === "gallery") searchGallery();
  if (name === "queue") refreshQueue();
}

// --- generate ------------------------------------------------------------------------------------------
function formRecipe() {
  const recipe = {};
  for (const name of FIELDS) {
    const value = $(`#${name}`).value;
    if (value === "") continue;
    recipe[name] = NUMBERS.has(name) ? Number(value) : value;
  }
  return recipe;
}

function fillForm(recipe) {
  recipe = { ...recipe };
  for (const [name, value] of Object.entries(VARIATION_DEFAULTS)) if (recipe[name] == null) recipe[name] = value;
  for (const name of FIELDS) {
    if (recipe[name] === undefined || recipe[name] === null) continue;
    const input = $(`#${name}`);
    if (input.tagName === "SELECT" && ![...input.options].some((o) => o.value === String(recipe[name]))) {
      input.add(new Option(String(recipe[name]), String(recipe[name])));
    }
    input.value = recipe[name];
  }
  $("#batch_size").value = 1;
  $("#batch_count").value = 1;
}

// A request goes to /api/jobs/many: a plain prompt makes one job, a template ("a {red|blue} owl") one job per
// picture. The jobs run one after another, so they are followed in turn and the results grow as each finishes.
async function generate(event) {
  event?.preventDefault();
  showError("");
  let jobs;
  try {
    jobs = await api("/api/jobs/many", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ recipe: formRecipe(), requested_by: "web" }) });
  } catch (error) { showError(error.message); return; }
  $("#status").textContent = jobs.length > 1 ? `Queued ${jobs.length} jobs` : "Queued";
  $("#progress").value = 0;
  $("#results").replaceChildren();
  const run = { jobs, pictures: [], failed: [] };
  for (const [index, job] of jobs.entries()) {
    await finished(run, await followJob(job, (current) => showProgress(current, index, jobs.length)));
  }
  showDone(run);
}

function followJob(job, onUpdate = () => {}) {
  // Resolves with the job once it is final (or with its last known state if the stream breaks off).
  return new Promise((resolve) => {
    let current = job;
    const events = new EventSource(withToken(`/api/jobs/${job.id}/events`));
    events.addEventListener("job", (message) => {
      current = JSON.parse(message.data);
      onUpdate(current);
      if (["done", "failed", "cancelled"].includes(current.state)) { events.close(); resolve(current); }
    });
    events.onerror = () => { events.close(); api(`/api/jobs/${job.id}`).then(resolve, () => resolve(current)); };
  });
}

function showProgress(job, index = 0, count = 1) {
  const progress = job.progress;
  const which = count > 1 ? `job ${index + 1}/${count} ` : "";
  if (job.state === "queued") { $("#status").textContent = `Waiting in the queue${which ? `: ${which}` : ""}`; return; }
  if (!progress) return;
  $("#progress").value = (index + progress.fraction) / count;
  const eta = progress.eta_s == null ? "" : `, about ${Math.ceil(progress.eta_s)} s left`;
  if (progress.preview) { $("#preview").src = progress.preview; $("#preview").hidden = false; }
  $("#status").textContent = `${which}${progress.stage}: batch ${progress.batch + 1}/${progress.batches}, step ${progress.step}/${progress.steps}${eta}`;
}

async function finished(run, job) {
  if (job.state !== "done") run.failed.push(job);
  const pictures = await Promise.all(job.picture_ids.map((id) => api(`/api/pictures/${id}`)));
  run.pictures.push(...pictures);
  $("#results").append(...pictures.map(thumbnail));
  if (pictures.length) lastSeed = pictures[pictures.length - 1].seed;
}

function showDone(run) {
  $("#preview").hidden = true;
  if (!run.failed.length) $("#progress").value = 1;
  const made = `${run.pictures.length} picture(s)${run.jobs.length > 1 ? ` from ${run.jobs.length} jobs` : ""}`;
  const failures = run.failed.map((job) => `${job.state}: ${job.error || ""}`).join("; ");
  $("#status").textContent = failures ? (run.jobs.length > 1 ? `${failures} (${made})` : failures) : `Done: ${made}`;
  if (run.failed.some((job) => job.state === "failed")) showError(run.failed.map((job) => job.error).filter(Boolean).join("; "));
}

function thumbnail(picture) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "thumb";
  button.setAttribute("aria-label", `Open picture: ${picture.prompt || "(no prompt)"}, seed ${picture.seed}`);
  const image = document.createElement("img");
  image.src = withToken(picture.url);
  image.alt = picture.prompt || "generated picture";
  image.loading = "lazy";
  button.append(image);
  button.addEventListener("click", () => openPicture(picture));
  return button;
}

// --- picture view --------------------------------------------------------------------------------------
function openPicture(picture) {
  shownPicture = picture;
  $("#picture-title").textContent = picture.prompt || "Picture";
  $("#picture-image").src = withToken(picture.url);
  $("#picture-image").alt = picture.prompt || "picture";
  $("#picture-recipe").textContent = picture.infotext;
  const download = $("#download");
  download.hidden = !picture.url;
  if (picture.url) download.href = withToken(`${picture.url}?download=true`);
  $("#same-seed").hidden = false;
  $("#picture-dialog").showModal();
}

function useSettings(sameSeedOnly) {
  const recipe = shownPicture.recipe;
  fillForm(recipe);
  if (sameSeedOnly) $("#prompt").value = "";
  $("#picture-dialog").close();
  showView("generate");
  $("#prompt").focus();
}

// "More like this": the same recipe, four variations at strength 0.2 around a fresh variation seed.
function moreLikeThis() {
  const recipe = shownPicture.recipe;
  if (recipe.subseed_strength > 0) { showError("This picture is already a variation: vary the one it came from"); }
  else {
    fillForm(recipe);
    $("#subseed").value = -1;
    $("#subseed_strength").value = 0.2;
    $("#batch_count").value = 4;
  }
  $("#picture-dialog").close();
  showView("generate");
  if (recipe.subseed_strength === 0 || recipe.subseed_strength == null) generate();
}

// --- gallery -------------------------------------------------------------------------------------------
async function searchGallery(event) {
  event?.preventDefault();
  const query = new URLSearchParams();
  const pairs = { q: $("#search").value, model: $("#filter-model").value, sampler: $("#filter-sampler").value,
    collection: $("#filter-collection").value };
  for (const [key, value] of Object.entries(pairs)) if (value) query.set(key, value);
  try {
    const page = await api(`/api/pictures?${query}`);
    $("#gallery-count").textContent = `${page.total} picture(s)`;
    $("#gallery").replaceChildren(...page.pictures.map(thumbnail));
  } catch (error) { $("#gallery-count").textContent = error.message; }
}

// --- queue ---------------------------------------------------------------------------------------------
async function refreshQueue() {
  if ($("#view-queue").hidden) return;
  // A run folder that cannot be read must not stop the job list from refreshing.
  const [jobs, trainings] = await Promise.all([api("/api/jobs?limit=50"), api("/api/trainings").catch((error) => error)]);
  showTrainings(trainings);
  $("#queue-table tbody").replaceChildren(...jobs.map((job) => {
    const row = document.createElement("tr");
    const fraction = job.progress ? `${Math.round(job.progress.fraction * 100)}%` : "";
    for (const text of [job.state, job.recipe.prompt, fraction, String(job.picture_ids.length)]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    const cell = document.createElement("td");
    if (job.state === "queued" || job.state === "running") {
      const cancel = document.createElement("button");
      cancel.type = "button";
      cancel.textContent = "Cancel";
      cancel.setAttribute("aria-label", `Cancel job ${job.recipe.prompt}`);
      cancel.addEventListener("click", () => api(`/api/jobs/${job.id}/cancel`, { method: "POST" }).then(refreshQueue));
      cell.append(cancel);
    }
    row.append(cell);
    return row;
  }));
  setTimeout(refreshQueue, 1000);
}

// Training runs (sfumato train lora/dreambooth/embedding/base), read from their run folders by /api/trainings.
function showTrainings(trainings) {
  const failed = trainings instanceof Error;
  $("#trainings-table caption").textContent = failed ? `Trainings: ${trainings.message}` : "Trainings, most recently updated first";
  if (failed) return;
  const rows = trainings.map((run) => {
    const row = document.createElement("tr");
    const step = `${run.step}/${run.steps} (${Math.floor(100 * run.step / run.steps)}%)`;
    const eta = run.eta_s == null ? "" : `about ${Math.ceil(run.eta_s)} s`;
    const started = run.started_at ? new Date(run.started_at).toLocaleString() : "";
    const output = run.output ? run.output.split(/[\\/]/).pop() : "";
    const kind = run.phase ? `${run.kind} (${run.phase})` : run.kind; // base runs: the vae or unet phase's steps
    for (const text of [run.name, kind, run.state, step, run.last_loss == null ? "" : run.last_loss.toFixed(4), eta,
      started, output]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    row.title = `updated ${new Date(run.updated_at).toLocaleString()}${run.output ? `, output ${run.output}` : ""}`;
    return row;
  });
  if (!rows.length) {
    const cell = document.createElement("td");
    cell.colSpan = 8;
    cell.textContent = "No trainings (sfumato train lora, dreambooth or embedding starts one)";
    rows.push(document.createElement("tr"));
    rows[0].append(cell);
  }
  $("#trainings-table tbody").replaceChildren(...rows);
}

// --- reading a recipe from a picture file ----------------------------------------------------------------
async function readRecipe(file) {
  try {
    const found = await api("/api/png-info", { method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: file });
    shownPicture = { recipe: found.recipe, prompt: found.recipe.prompt, url: null, infotext: found.infotext, seed: found.recipe.seed };
    $("#picture-title").textContent = `Recipe read from ${file.name}`;
    $("#picture-image").src = URL.createObjectURL(file);
    $("#picture-image").alt = file.name;
    $("#picture-recipe").textContent = `source: ${found.source}\n${found.infotext}`;
    $("#download").hidden = true;
    $("#picture-dialog").showModal();
  } catch (error) { showError(`${file.name}: ${error.message}`); showView("generate"); }
}

function setUpDrop() {
  let depth = 0;
  const overlay = $("#drop-overlay");
  document.addEventListener("dragenter", (e) => { e.preventDefault(); depth += 1; overlay.hidden = false; });
  document.addEventListener("dragleave", () => { depth -= 1; if (depth <= 0) { depth = 0; overlay.hidden = true; } });
  document.addEventListener("dragover", (e) => e.preventDefault());
  document.addEventListener("drop", (e) => {
    e.preventDefault();
    depth = 0;
    overlay.hidden = true;
    const file = e.dataTransfer?.files?.[0];
    // On the Image tab's canvas a dropped picture becomes the init picture (image.js); elsewhere its recipe is read.
    if (file && e.target instanceof Element && e.target.closest("#image-stage")) loadInitPicture(file);
    else if (file) readRecipe(file);
  });
}

// --- start ---------------------------------------------------------------------------------------------
async function loadChoices() {
  const [models, samplers] = await Promise.all([api("/api/models"), api("/api/samplers")]);
  for (const model of models.filter((m) => !m.error)) {
    $("#model").add(new Option(model.title, model.name, model.is_default, model.is_default));
    $("#filter-model").add(new Option(model.title, model.name));
  }
  for (const sampler of samplers.samplers) {
    $("#sampler").add(new Option(sampler.name, sampler.name));
    $("#filter-sampler").add(new Option(sampler.name, sampler.name));
  }
  for (const schedule of samplers.schedule_types) $("#schedule_type").add(new Option(schedule, schedule));
  $("#sampler").insertBefore(new Option("model default", ""), $("#sampler").firstChild);
  $("#sampler").value = "";
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".tab").forEach((tab) => tab.addEventListener("click", () => showView(tab.dataset.view)));
  $("#generate-form").addEventListener("submit", generate);
  document.addEventListener("keydown", (e) => {
    if (!(e.key === "Enter" && (e.ctrlKey || e.metaKey))) return;
    const exploreForm = e.target instanceof Element ? e.target.closest("#grid-form, #walk-form") : null;
    if (exploreForm) { e.preventDefault(); exploreForm.requestSubmit(); return; }  // the Explore tab's forms
    showView("generate");
    generate(e);
  });
  $("#seed-random").addEventListener("click", () => { $("#seed").value = -1; });
  $("#seed-reuse").addEventListener("click", () => { if (lastSeed !== null) $("#seed").value = lastSeed; });
  $("#interrupt-button").addEventListener("click", () => api("/api/queue/interrupt", { method: "POST" }));
  $("#skip-button").addEventListener("click", () => api("/api/queue/skip", { method: "POST" }));
  $("#gallery-form").addEventListener("submit", searchGallery);
  $("#use-settings").addEventListener("click", () => useSettings(false));
  $("#same-seed").addEventListener("click", () => useSettings(true));
  $("#more-like-this").addEventListener("click", moreLikeThis);
  $("#close-dialog").addEventListener("click", () => $("#picture-dialog").close());
  $("#png-input").addEventListener("change", (e) => { if (e.target.files[0]) readRecipe(e.target.files[0]); });
  setUpDrop();
  loadChoices().catch((error) => showError(error.message));
});
