// sfumato studio, Explore tab: X/Y/Z grids (/api/grids) and latent walks (/api/walks) with progress over their jobs.
// Uses app.js's api(), withToken(), thumbnail(), openPicture(), formRecipe() and $().
"use strict";

// Axis kinds as /api/grids names them (A1111's labels); "" sends the values text as typed ("seed: 1-3").
const AXIS_KINDS = [["", "As typed"], ["seed", "Seed"], ["prompt s/r", "Prompt S/R"], ["sampler", "Sampler"],
  ["steps", "Steps"], ["cfg scale", "CFG Scale"], ["checkpoint name", "Checkpoint name"],
  ["schedule type", "Schedule type"], ["var. seed", "Var. seed"], ["var. strength", "Var. strength"],
  ["clip skip", "Clip skip"], ["adapter", "Adapter weight (NAME: weights)"]];
const AXIS_DEFAULTS = { x: "seed", y: "prompt s/r", z: "" };
const FINAL = ["done", "failed", "cancelled"];

function exploreStamp() { return new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").replace(".", "-").slice(0, 19); }

// The Generate tab's settings, with this tab's steps/size/seed on top where filled in.
function exploreRecipe(prefix, prompt) {
  const recipe = { ...formRecipe(), prompt, batch_size: 1, batch_count: 1 };
  delete recipe.subseed; delete recipe.subseed_strength;
  for (const name of ["steps", "width", "height", "seed"]) {
    const value = $(`#${prefix}-${name}`)?.value;
    if (value) recipe[name] = Number(value);
  }
  return recipe;
}

function axisText(name) {
  const kind = $(`#axis-${name}-kind`).value;
  const values = $(`#axis-${name}-values`).value.trim();
  if (!values) return null;
  if (!kind) return values;
  return kind === "adapter" ? `adapter ${values}` : `${kind}: ${values}`;
}

const stopping = { grid: false, walk: false };  // set by the Stop buttons until the request answers

// Follows the jobs of one explore request (they share its collection and run one after another) until it answers.
// While Stop is on, every job of it not yet final is cancelled, so a cell queued just after the click stops too.
function watchJobs(collection, total, prefix) {
  let stopped = false;
  const poll = async () => {
    if (stopped) return;
    try {
      const jobs = (await api(`/api/jobs?limit=${Math.min(1000, total + 50)}`)).filter((job) => job.collection === collection);
      if (stopping[prefix]) {
        for (const job of jobs.filter((j) => !FINAL.includes(j.state))) await api(`/api/jobs/${job.id}/cancel`, { method: "POST" });
      }
      const done = jobs.filter((job) => FINAL.includes(job.state)).length;
      const running = jobs.find((job) => job.state === "running");
      const fraction = running?.progress?.fraction || 0;
      $(`#${prefix}-progress`).value = Math.min(1, (done + fraction) / total);
      const step = running?.progress ? `: step ${running.progress.step}/${running.progress.steps}` : "";
      const text = `${done}/${total} done${running ? `, making ${done + 1}${step}` : ""}`;
      $(`#${prefix}-status`).textContent = stopping[prefix] ? `Stopping (${text})` : text;
    } catch (error) { /* the next poll tries again; the request itself reports failures */ }
    if (!stopped) setTimeout(poll, 400);
  };
  poll();
  return () => { stopped = true; };
}

async function runExplore(prefix, path, body, total) {
  $(`#${prefix}-error`).textContent = "";
  $(`#${prefix}-progress`).value = 0;
  $(`#${prefix}-run`).disabled = true;
  $(`#${prefix}-stop`).disabled = false;
  stopping[prefix] = false;
  const stop = watchJobs(body.collection, total, prefix);
  try {
    return await api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  } catch (error) {
    $(`#${prefix}-error`).textContent = error.message;
    $(`#${prefix}-status`).textContent = "Stopped";
    return null;
  } finally { stop(); $(`#${prefix}-run`).disabled = false; $(`#${prefix}-stop`).disabled = true; }
}

// --- grid ----------------------------------------------------------------------------------------------
async function runGrid(event) {
  event?.preventDefault();
  const body = { recipe: exploreRecipe("grid", $("#grid-prompt").value), collection: `grids/web-${exploreStamp()}` };
  for (const name of ["x", "y", "z"]) { const text = axisText(name); if (text) body[name] = text; }
  let plan;
  try {
    plan = await api("/api/grids/plan", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  } catch (error) { $("#grid-error").textContent = error.message; return; }
  $("#grid-status").textContent = `Queued ${plan.cells} cells (${plan.axes.map((a) => `${a.label} x${a.value_labels.length}`).join(", ")})`;
  $("#grid-sheets").replaceChildren();
  const result = await runExplore("grid", "/api/grids", body, plan.cells);
  if (!result) return;
  $("#grid-progress").value = 1;
  $("#grid-status").textContent = `Done: ${result.picture_ids.length} cells in ${result.collection}`;
  $("#grid-sheets").replaceChildren(...result.sheets.map((sheet, index) => sheetFigure(sheet, result.files[index])));
}

function cellLabel(sheet, cell) {
  const parts = sheet.axes.filter((axis) => axis.axis !== "z").map((axis) => axis.value_labels[cell[axis.axis]]);
  if (sheet.z_label) parts.push(sheet.z_label);
  return parts.join(", ");
}

// The sheet image with one button over each cell: a click (or Enter) opens that cell's picture.
function sheetFigure(sheet, file) {
  const [left, top] = sheet.origin;
  const [cellWidth, cellHeight] = sheet.cell_size;
  const width = left + sheet.columns * sheet.column_width;
  const height = top + sheet.rows * cellHeight;
  const figure = document.createElement("figure");
  figure.className = "sheet";
  const stage = document.createElement("div");
  stage.className = "sheet-stage";
  stage.style.width = `${Math.min(768, width * 4)}px`;
  const image = document.createElement("img");
  image.src = withToken(`/api/explore-files/${file}`);
  image.alt = `Grid sheet: ${sheet.axes.map((a) => `${a.label} (${a.value_labels.join(", ")})`).join(" by ")}`;
  stage.append(image);
  for (const cell of sheet.cells) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "cell";
    button.setAttribute("aria-label", `Open cell: ${cellLabel(sheet, cell)}`);
    button.title = cellLabel(sheet, cell);
    Object.assign(button.style, { left: `${100 * cell.at[0] / width}%`, top: `${100 * cell.at[1] / height}%`,
      width: `${100 * cellWidth / width}%`, height: `${100 * cellHeight / height}%` });
    button.addEventListener("click", async () => {
      try { openPicture(await api(`/api/pictures/${cell.picture_id}`)); }
      catch (error) { $("#grid-error").textContent = error.message; }
    });
    stage.append(button);
  }
  const caption = document.createElement("figcaption");
  const link = document.createElement("a");
  link.href = image.src;
  link.download = file.split("/").pop();
  link.textContent = `Download sheet${sheet.z_label ? ` (${sheet.z_label})` : ""}: ${file}`;
  caption.append(link);
  figure.append(caption, stage);
  return figure;
}

// --- walk ----------------------------------------------------------------------------------------------
async function runWalk(event) {
  event?.preventDefault();
  const frames = Number($("#walk-frames").value || 8);
  const body = { recipe: exploreRecipe("walk", $("#walk-prompt").value), frames, formats: ["webp"],
    collection: `walks/web-${exploreStamp()}` };
  if ($("#walk-to-seed").value !== "") body.to_seed = Number($("#walk-to-seed").value);
  if ($("#walk-to-prompt").value.trim()) body.to_prompt = $("#walk-to-prompt").value;
  $("#walk-status").textContent = `Queued ${frames} frames`;
  $("#walk-frames-strip").replaceChildren();
  $("#walk-animation").hidden = true;
  $("#walk-result").hidden = false;
  const result = await runExplore("walk", "/api/walks", body, frames);
  if (!result) return;
  $("#walk-progress").value = 1;
  const pictures = await Promise.all(result.picture_ids.map((id) => api(`/api/pictures/${id}`)));
  $("#walk-frames-strip").replaceChildren(...pictures.map(thumbnail));
  const animation = result.files.find((file) => file.endsWith(".webp"));
  if (animation) { $("#walk-animation").src = withToken(`/api/explore-files/${animation}`); $("#walk-animation").hidden = false; }
  const notes = result.notes.length ? ` (${result.notes.join("; ")})` : "";
  $("#walk-status").textContent = `Done: ${pictures.length} frames in ${result.collection}${notes}`;
}

function setUpExploreTab() {
  for (const name of ["x", "y", "z"]) {
    const select = $(`#axis-${name}-kind`);
    for (const [value, label] of AXIS_KINDS) select.add(new Option(label, value));
    select.value = AXIS_DEFAULTS[name];
  }
  $("#grid-form").addEventListener("submit", runGrid);
  $("#walk-form").addEventListener("submit", runWalk);
  for (const prefix of ["grid", "walk"]) {
    $(`#${prefix}-stop`).addEventListener("click", () => {
      stopping[prefix] = true;
      $(`#${prefix}-status`).textContent = "Stopping...";
    });
  }
}

document.addEventListener("DOMContentLoaded", setUpExploreTab);
