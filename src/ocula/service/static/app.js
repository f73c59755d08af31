// ocula web UI: plain JavaScript against the same /v1 API a client uses (no build step).
"use strict";

const $ = (id) => document.getElementById(id);
const keyInput = $("key");
keyInput.value = localStorage.getItem("ocula-key") || "";
keyInput.addEventListener("change", () => {
  localStorage.setItem("ocula-key", keyInput.value.trim());
  refreshLists();
});

function say(text, ok = false) {
  const m = $("message");
  m.textContent = text;
  m.className = ok ? "ok" : "";
}

// One call to the API: a problem document (RFC 7807) becomes an Error with its detail.
async function api(method, path, form) {
  const response = await fetch(path, {
    method,
    body: form,
    headers: { Authorization: "Bearer " + keyInput.value.trim() },
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(`${body.title || response.statusText}${body.detail ? ": " + body.detail : ""}`);
  }
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);  // strings become text nodes: never HTML
  return node;
}

// -- busy state and answers, in the panel that made the call -----------------------------------
// A call that can take seconds marks its panel aria-busy (a spinner and "Working…" in the
// panel's status line, its controls disabled) until the answer or the error, which is shown in
// that same status line: never on another page, and replaced as soon as the user acts again.
function statusOf(panel) {
  return panel.querySelector(".status");
}

function report(status, text, ok) {
  status.textContent = text;
  status.className = "status " + (ok ? "ok" : "error");
  status.setAttribute("role", ok ? "status" : "alert");
}

async function working(panel, job, status = statusOf(panel)) {
  const controls = [...panel.querySelectorAll("button, input, select")].filter((c) => !c.disabled);
  panel.setAttribute("aria-busy", "true");
  controls.forEach((c) => (c.disabled = true));
  status.textContent = "Working…";
  status.className = "status working";
  status.setAttribute("role", "status");
  try {
    const answer = await job();  // a string, or [text, ok] for an answer that is partly a refusal
    const [text, ok] = Array.isArray(answer) ? answer : [answer, true];
    report(status, text || "", ok);
  } catch (error) {
    report(status, error.message, false);
  } finally {
    controls.forEach((c) => (c.disabled = false));
    panel.setAttribute("aria-busy", "false");
  }
}

// Face thumbnails come from the API, which needs the key: fetched (a few at a time, so a big
// page does not fill the service's queue) and shown through blob: URLs.
const thumbQueue = { running: 0, waiting: [] };

function thumbnail(path, alt, missing = "no thumbnail: the photo is not where it was enrolled any more") {
  const img = el("img", { class: "thumb", alt });
  const load = async () => {
    try {
      const response = await fetch(path, { headers: { Authorization: "Bearer " + keyInput.value.trim() } });
      if (!response.ok) throw new Error(response.statusText);
      img.src = URL.createObjectURL(await response.blob());
      img.addEventListener("load", () => URL.revokeObjectURL(img.src), { once: true });
    } catch {
      img.classList.add("missing");  // the photo moved or changed: a grey tile, not a broken image
      img.title = missing;
    } finally {
      thumbQueue.running--;
      if (thumbQueue.waiting.length) thumbQueue.waiting.shift()();
    }
  };
  const start = () => {
    thumbQueue.running++;
    load();
  };
  if (thumbQueue.running < 4) start();
  else thumbQueue.waiting.push(start);
  return img;
}

// -- pages ------------------------------------------------------------------------------------
document.querySelectorAll("nav button").forEach((button) =>
  button.addEventListener("click", () => {
    document.querySelectorAll("nav button").forEach((b) => b.classList.toggle("active", b === button));
    document.querySelectorAll(".page").forEach((p) => (p.hidden = p.id !== button.dataset.page));
    say("");
    refreshLists();
    if (button.dataset.page === "people-page" && $("people-gallery").value) showPeoplePage();
  })
);

async function refreshLists() {
  if (!keyInput.value.trim()) {
    say("Paste an API key (ocula keys create NAME) to start.");
    return;
  }
  try {
    const [g, c] = await Promise.all([api("GET", "/v1/galleries"), api("GET", "/v1/collections")]);
    fillSelect($("look-gallery"), g.galleries.map((x) => x.name), "(faces only)");
    fillSelect($("people-gallery"), g.galleries.map((x) => x.name), "(choose one)");
    fillSelect($("look-collection"), c.collections.map((x) => x.name), "(none)");
    fillSelect($("words-collection"), c.collections.map((x) => x.name), "(choose one)");
    $("gallery-list").replaceChildren(...g.galleries.map((x) => el("option", { value: x.name })));
    $("collection-list").replaceChildren(
      ...c.collections.map((x) => el("li", {}, el("b", {}, x.name), ` ${x.items} items`))
    );
  } catch (error) {
    say(error.message);
  }
}

function fillSelect(select, names, empty) {
  const keep = select.value;
  select.replaceChildren(el("option", { value: "" }, empty), ...names.map((n) => el("option", { value: n }, n)));
  if (names.includes(keep)) select.value = keep;
}

// -- look: tags, faces, similar items -----------------------------------------------------------
const drop = $("drop");
drop.addEventListener("dragover", (e) => {
  e.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  if (e.dataTransfer.files.length) look(e.dataTransfer.files[0]);
});
$("photo").addEventListener("change", () => $("photo").files.length && look($("photo").files[0]));

function upload(file, fields = {}) {
  const form = new FormData();
  form.append("file", file);
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  return form;
}

function look(file) {
  if ($("look").getAttribute("aria-busy") === "true") return;  // one photo at a time
  return working($("look"), async () => {
    const preview = $("preview");
    preview.src = URL.createObjectURL(file);
    $("boxes").replaceChildren();
    $("tags").replaceChildren();
    $("faces").replaceChildren();
    $("similar").replaceChildren();
    const gallery = $("look-gallery").value;
    const collection = $("look-collection").value;
    const jobs = [
      api("POST", "/v1/tag", upload(file)).then(showTags),
      (gallery
        ? api("POST", `/v1/galleries/${encodeURIComponent(gallery)}/identify`, upload(file))
        : api("POST", "/v1/faces/detect", upload(file))
      ).then(showFaces),
    ];
    if (collection) {
      jobs.push(api("POST", `/v1/collections/${encodeURIComponent(collection)}/search`, upload(file, { k: 12 })).then(showSimilar));
    }
    const failed = (await Promise.allSettled(jobs)).filter((r) => r.status === "rejected");
    if (failed.length) throw failed[0].reason;
    return "Done.";
  });
}

function showTags(result) {
  // Below the confidence floor the tags are guesses, and the page says so (a blank photo
  // still has a "best" class).
  const best = result.tags[0];
  const nothing = result.recognised
    ? []
    : [el("li", { class: "tag nothing" }, "Nothing recognised",
        best ? ` (best guess: ${best.label} ${best.score.toFixed(2)})` : "")];
  $("tags").replaceChildren(
    ...nothing,
    ...result.tags.map((t) =>
      el("li", { class: "tag" }, el("span", { class: "label" }, t.label), " ", el("span", { class: "score" }, t.score.toFixed(3)),
        el("div", { class: "score" }, t.ancestors.slice(0, 4).join(" › ")))
    )
  );
}

function showFaces(result) {
  // Boxes are percentages of the photo, so they stay on the faces however the image is scaled.
  const boxes = result.faces.map((f) => {
    const [x0, y0, x1, y1] = f.box;
    const known = "person" in f && f.person !== null;
    const name = "person" in f ? (f.person === null ? "unknown" : f.person) : "face";
    const box = el("div", { class: "box" + (known ? " known" : ""), "data-person": name }, el("span", {}, name));
    Object.assign(box.style, {
      left: (100 * x0) / result.width + "%",
      top: (100 * y0) / result.height + "%",
      width: (100 * (x1 - x0)) / result.width + "%",
      height: (100 * (y1 - y0)) / result.height + "%",
    });
    return box;
  });
  $("boxes").replaceChildren(...boxes);
  $("faces").replaceChildren(
    ...result.faces.map((f) => {
      const name = "person" in f ? (f.person === null ? "unknown" : f.person) : "face";
      const sim = f.similarity == null ? "" : ` ${f.similarity.toFixed(3)}`;
      return el("li", { class: "face" }, name, el("span", { class: "score" }, sim));
    })
  );
  if (!result.faces.length) $("faces").append(el("li", {}, "no face found"));
}

// A match of a collection search as a tile: the item's thumbnail (made by the API from the file
// it was indexed from), its id, score, metadata and, for a search by words, what it shows.
function matchTile(collection, m) {
  const path = `/v1/collections/${encodeURIComponent(collection)}/items/${encodeURIComponent(m.id)}/thumbnail`;
  const shows = (m.concepts || []).map((c) => c.concept).join(", ");
  return el("div", { class: "tile" },
    thumbnail(path, m.id, "no thumbnail: the item has no file here, or it changed"),
    el("b", {}, m.id), el("small", {}, `score ${m.score.toFixed(3)}`),
    ...(shows ? [el("div", { class: "concepts" }, el("small", {}, shows))] : []),
    el("div", {}, el("small", {}, Object.entries(m.metadata).map(([k, v]) => `${k}: ${v}`).join(", "))));
}

function showSimilar(result) {
  $("similar").replaceChildren(...result.matches.map((m) => matchTile(result.collection, m)));
  if (!result.matches.length) $("similar").append(el("div", {}, "no items"));
}

// -- galleries: people, enrol, forget -----------------------------------------------------------
$("gallery-open").addEventListener("click", () => working($("galleries"), showPeople));

function personThumbnail(gallery, p) {
  // An inline JPEG stored by the service at a web enrolment; otherwise the API makes one from
  // the photo the gallery recorded (CLI and Python enrolments). A URL set through the library
  // is never fetched.
  const thumb = p.metadata.thumbnail;
  if (typeof thumb === "string" && thumb.startsWith("data:image/jpeg;base64,")) {
    return el("img", { class: "thumb", src: thumb, alt: p.person });
  }
  return thumbnail(`/v1/galleries/${encodeURIComponent(gallery)}/people/${encodeURIComponent(p.person)}/thumbnail`, p.person);
}

async function showPeople() {
  const gallery = $("gallery-name").value.trim();
  if (!gallery) throw new Error("Name a gallery.");
  try {
    const result = await api("GET", `/v1/galleries/${encodeURIComponent(gallery)}/people`);
    $("people").replaceChildren(
      ...result.people.map((p) => {
        const forget = el("button", { type: "button", class: "forget" }, "Forget");
        forget.addEventListener("click", () => forgetPerson($("galleries"), gallery, p.person, showPeople));
        return el("li", { "data-person": p.person }, personThumbnail(gallery, p), el("span", { class: "name" }, p.person),
          ` ${p.photos} photo(s)`, forget);
      })
    );
    if (!result.people.length) $("people").append(el("li", {}, "nobody enrolled"));
  } catch (error) {
    $("people").replaceChildren();
    throw error;
  }
  return "";
}

function forgetPerson(panel, gallery, person, refresh) {
  if (!confirm(`Forget ${person}? Every photo reference, template and thumbnail of ${person} is erased.`)) return;
  return working(panel, async () => {
    const done = await api("DELETE", `/v1/galleries/${encodeURIComponent(gallery)}/people/${encodeURIComponent(person)}`);
    await refresh();
    refreshLists();
    // Pending: another connection to the gallery's files (a long read by another process) kept
    // the erased rows from being wiped yet; the next open or close of the gallery finishes it.
    return done.erasure_pending
      ? [`${person} forgotten; erasure pending: the gallery's files still hold the erased rows until the ` +
          "other connection reading them ends (the next open or close of the gallery finishes it).", false]
      : `${person} forgotten.`;
  });
}

$("enroll").addEventListener("submit", (e) => {
  e.preventDefault();
  working($("enroll"), async () => {
    const gallery = $("gallery-name").value.trim();
    if (!gallery) throw new Error("Name a gallery first.");
    const form = new FormData();
    form.append("person", $("enroll-name").value.trim());
    for (const file of $("enroll-photos").files) form.append("file", file);
    const result = await api("POST", `/v1/galleries/${encodeURIComponent(gallery)}/people`, form);
    const refused = result.refused.map((r) => `${r.photo}: ${r.reason}`).join("; ");
    await showPeople().catch(() => "");
    refreshLists();
    return [`${result.person}: ${result.added.length} photo(s) added${refused ? "; refused " + refused : ""}.`, !refused];
  });
});

// -- people: the people and the unnamed clusters of a gallery, as face thumbnails -----------------
$("people-show").addEventListener("click", showPeoplePage);
$("people-gallery").addEventListener("change", () => $("people-gallery").value && showPeoplePage());

function peopleGallery() {
  return encodeURIComponent($("people-gallery").value);
}

function showPeoplePage() {
  return working($("people-page"), loadPeoplePage);
}

async function loadPeoplePage() {
  const name = $("people-gallery").value;
  if (!name) throw new Error("Choose a gallery.");
  const g = `/v1/galleries/${peopleGallery()}`;
  const [people, clusters] = await Promise.all([api("GET", `${g}/people`), api("GET", `${g}/clusters`)]);
  $("named").replaceChildren(...people.people.map((p) => personCard(name, p)));
  if (!people.people.length) $("named").append(el("p", { class: "hint" }, "nobody named yet"));
  $("people-names").replaceChildren(...people.people.map((p) => el("option", { value: p.person })));
  const targets = [
    ...people.people.map((p) => ({ value: "person:" + p.person, label: p.person })),
    ...clusters.clusters.map((c) => ({ value: "cluster:" + c.cluster, label: `${c.cluster} (${c.size} faces)` })),
  ];
  $("clusters").replaceChildren(...clusters.clusters.map((c) => clusterCard(c, targets)));
  if (!clusters.clusters.length) $("clusters").append(el("p", { class: "hint" }, "no unnamed faces stored"));
  const [n, k] = [people.people.length, clusters.clusters.length];
  return `${n} ${n === 1 ? "person" : "people"} named, ${k} ${k === 1 ? "cluster" : "clusters"} of unnamed faces.`;
}

function personCard(gallery, p) {
  const forget = el("button", { type: "button", class: "forget" }, "Forget");
  const card = el("figure", { class: "person", "data-person": p.person }, personThumbnail(gallery, p),
    el("figcaption", {}, el("b", {}, p.person), el("small", {}, `${p.photos} photo(s)`)), forget);
  forget.addEventListener("click", () => forgetPerson($("people-page"), gallery, p.person, loadPeoplePage));
  return card;
}

function clusterCard(c, targets) {
  const base = `/v1/galleries/${peopleGallery()}/clusters/${encodeURIComponent(c.cluster)}`;
  const faces = c.faces.map((f) =>
    el("label", { class: "face", title: f.photo }, thumbnail(`${base}/faces/${f.position}/thumbnail`, `${c.cluster} face ${f.position}`),
      el("input", { type: "checkbox", value: String(f.position), "aria-label": `select face ${f.position} (${f.photo})` }))
  );
  const name = el("input", { class: "cluster-name", list: "people-names", placeholder: "Who is this?", required: "" });
  const nameForm = el("form", { class: "name-form" }, name, el("button", { type: "submit" }, "Name"));
  const others = targets.filter((t) => t.value !== "cluster:" + c.cluster);
  const target = el("select", { class: "merge-target" }, el("option", { value: "" }, "Merge into…"),
    ...others.map((t) => el("option", { value: t.value }, t.label)));
  const merge = el("button", { type: "button", class: "merge" }, "Merge");
  const split = el("button", { type: "button", class: "split" }, "Split selected out");
  const card = el("div", { class: "cluster", "data-cluster": c.cluster },
    el("div", { class: "cluster-head" }, el("b", {}, c.cluster), el("small", {}, ` ${c.size} faces`)),
    el("div", { class: "faces" }, ...faces), nameForm, el("div", { class: "actions" }, target, merge, split));
  const act = (job) => working(card, async () => {
    const text = await job();
    await loadPeoplePage();
    refreshLists();
    return text;
  }, statusOf($("people-page")));
  nameForm.addEventListener("submit", (e) => {
    e.preventDefault();
    act(async () => {
      const r = await api("POST", `${base}/name`, fields({ person: name.value.trim() }));
      return `${c.cluster} named ${r.person} (${r.photos} photo(s)).`;
    });
  });
  merge.addEventListener("click", () => act(async () => {
    const [kind, value] = splitOnce(target.value);
    if (!kind) throw new Error("Choose a cluster or person to merge into.");
    if (kind === "person") {  // a cluster merged into a person: its faces become their photos
      const r = await api("POST", `${base}/name`, fields({ person: value }));
      return `${c.cluster} merged into ${r.person} (${r.photos} photo(s)).`;
    }
    const r = await api("POST", `/v1/galleries/${peopleGallery()}/clusters/${encodeURIComponent(value)}/merge`,
      fields({ other: c.cluster }));
    return `${c.cluster} merged into ${value} (${r.size} faces).`;
  }));
  split.addEventListener("click", () => act(async () => {
    const picked = [...card.querySelectorAll(".face input:checked")].map((i) => i.value);
    if (!picked.length) throw new Error("Tick the faces to split out first.");
    const form = new FormData();
    picked.forEach((p) => form.append("faces", p));
    const r = await api("POST", `${base}/split`, form);
    return `${picked.length} face(s) of ${c.cluster} moved to ${r.new_cluster}.`;
  }));
  return card;
}

function fields(values) {
  const form = new FormData();
  for (const [k, v] of Object.entries(values)) form.append(k, v);
  return form;
}

function splitOnce(value) {
  const at = value.indexOf(":");
  return at < 0 ? ["", ""] : [value.slice(0, at), value.slice(at + 1)];
}

// -- collections: search by words ---------------------------------------------------------------
$("word-search").addEventListener("submit", (e) => {
  e.preventDefault();
  working($("word-search"), async () => {
    const collection = $("words-collection").value;
    if (!collection) throw new Error("Choose a collection.");
    const query = new URLSearchParams({ text: $("words-text").value.trim(), k: "24" });
    if ($("words-where").value.trim()) query.set("where", $("words-where").value.trim());
    const result = await api("GET", `/v1/collections/${encodeURIComponent(collection)}/search?${query}`);
    $("word-results").replaceChildren(...result.matches.map((m) => matchTile(collection, m)));
    return result.matches.length ? `${result.matches.length} item(s) match “${result.text}”, best first.` : "No item shows that.";
  });
});

// -- collections: add an item -------------------------------------------------------------------
$("add-item").addEventListener("submit", (e) => {
  e.preventDefault();
  working($("add-item"), async () => {
    const collection = $("item-collection").value.trim();
    const fields = { id: $("item-id").value.trim() };
    if ($("item-meta").value.trim()) fields.metadata = $("item-meta").value.trim();
    await api("POST", `/v1/collections/${encodeURIComponent(collection)}/items`, upload($("item-photo").files[0], fields));
    refreshLists();
    return `Added ${fields.id} to ${collection}.`;
  });
});

refreshLists();
