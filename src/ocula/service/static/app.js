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

// -- pages ------------------------------------------------------------------------------------
document.querySelectorAll("nav button").forEach((button) =>
  button.addEventListener("click", () => {
    document.querySelectorAll("nav button").forEach((b) => b.classList.toggle("active", b === button));
    document.querySelectorAll(".page").forEach((p) => (p.hidden = p.id !== button.dataset.page));
    say("");
    refreshLists();
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
    fillSelect($("look-collection"), c.collections.map((x) => x.name), "(none)");
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

async function look(file) {
  say("Looking…", true);
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
  const results = await Promise.allSettled(jobs);
  const failed = results.filter((r) => r.status === "rejected");
  say(failed.length ? failed[0].reason.message : "Done.", !failed.length);
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

function showSimilar(result) {
  $("similar").replaceChildren(
    ...result.matches.map((m) =>
      el("div", { class: "tile" }, el("b", {}, m.id), el("small", {}, `score ${m.score.toFixed(3)}`),
        el("div", {}, el("small", {}, Object.entries(m.metadata).map(([k, v]) => `${k}: ${v}`).join(", "))))
    )
  );
  if (!result.matches.length) $("similar").append(el("div", {}, "no items"));
}

// -- galleries: people, enrol, forget -----------------------------------------------------------
$("gallery-open").addEventListener("click", () => showPeople(true));

async function showPeople(clearMessage = false) {
  const gallery = $("gallery-name").value.trim();
  if (!gallery) return say("Name a gallery.");
  try {
    const result = await api("GET", `/v1/galleries/${encodeURIComponent(gallery)}/people`);
    $("people").replaceChildren(
      ...result.people.map((p) => {
        const forget = el("button", { type: "button", class: "forget" }, "Forget");
        forget.addEventListener("click", () => forgetPerson(gallery, p.person));
        // Only an inline JPEG made by the service: a URL set through the library is never fetched.
        const thumb = p.metadata.thumbnail;
        const face = typeof thumb === "string" && thumb.startsWith("data:image/jpeg;base64,")
          ? el("img", { class: "thumb", src: thumb, alt: p.person })
          : el("span", { class: "thumb" });
        return el("li", { "data-person": p.person }, face, el("span", { class: "name" }, p.person), ` ${p.photos} photo(s)`, forget);
      })
    );
    if (!result.people.length) $("people").append(el("li", {}, "nobody enrolled"));
    if (clearMessage) say("");
  } catch (error) {
    $("people").replaceChildren();
    say(error.message);
  }
}

async function forgetPerson(gallery, person) {
  if (!confirm(`Forget ${person}? Every photo reference and template of ${person} is erased.`)) return;
  try {
    await api("DELETE", `/v1/galleries/${encodeURIComponent(gallery)}/people/${encodeURIComponent(person)}`);
    say(`${person} forgotten.`, true);
    showPeople();
  } catch (error) {
    say(error.message);
  }
}

$("enroll").addEventListener("submit", async (e) => {
  e.preventDefault();
  const gallery = $("gallery-name").value.trim();
  if (!gallery) return say("Name a gallery first.");
  const form = new FormData();
  form.append("person", $("enroll-name").value.trim());
  for (const file of $("enroll-photos").files) form.append("file", file);
  try {
    const result = await api("POST", `/v1/galleries/${encodeURIComponent(gallery)}/people`, form);
    const refused = result.refused.map((r) => `${r.photo}: ${r.reason}`).join("; ");
    say(`${result.person}: ${result.added.length} photo(s) added${refused ? "; refused " + refused : ""}.`, !refused);
    showPeople();
    refreshLists();
  } catch (error) {
    say(error.message);
  }
});

// -- collections: add an item -------------------------------------------------------------------
$("add-item").addEventListener("submit", async (e) => {
  e.preventDefault();
  const collection = $("item-collection").value.trim();
  const fields = { id: $("item-id").value.trim() };
  if ($("item-meta").value.trim()) fields.metadata = $("item-meta").value.trim();
  try {
    await api("POST", `/v1/collections/${encodeURIComponent(collection)}/items`, upload($("item-photo").files[0], fields));
    say(`Added ${fields.id} to ${collection}.`, true);
    refreshLists();
  } catch (error) {
    say(error.message);
  }
});

refreshLists();
