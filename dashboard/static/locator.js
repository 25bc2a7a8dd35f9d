// The store locator: search as you type, "Near me", and a map whose markers and list entries
// select each other. The server-rendered list works without any of this.
(function () {
  "use strict";

  // Tiles from the configured server; `settings` is the element carrying data-tile-*.
  function tileLayer(holder, settings, fallback) {
    const layer = L.tileLayer(settings.dataset.tileUrl, { attribution: settings.dataset.tileAttribution, maxZoom: 18 });
    let warned = false;
    layer.on("tileerror", () => {
      if (warned) return;
      warned = true;
      const note = document.createElement("p");
      note.className = "map-note";
      note.setAttribute("role", "status");
      note.textContent = `The map could not be loaded.${fallback ? ` ${fallback}` : ""}`;
      holder.append(note);
    });
    return layer;
  }

  // A single store's page: a small map with its marker.
  const single = document.querySelector(".small-map");
  if (single && typeof L !== "undefined") {
    const at = [Number(single.dataset.lat), Number(single.dataset.lng)];
    const map = L.map(single, { scrollWheelZoom: false }).setView(at, 15);
    tileLayer(single, single, "").addTo(map);
    L.marker(at, { title: single.dataset.name, alt: single.dataset.name }).addTo(map);
  }

  const root = document.querySelector("[data-locator]");
  if (!root) return;
  const entries = Array.from(root.querySelectorAll("li.store"));
  const search = document.getElementById("store-search");
  const status = document.getElementById("locator-status");
  const list = document.getElementById("store-list");
  root.querySelector(".locator-tools").hidden = false;

  // Accent- and case-insensitive: "cafe" finds "Café".
  const fold = (text) => text.normalize("NFD").replace(/\p{Diacritic}/gu, "").toLowerCase();
  for (const entry of entries) {
    entry.dataset.search = fold(`${entry.dataset.name} ${entry.dataset.city} ${entry.dataset.state}`);
  }

  const miles = /^(en-US|en-LR|my)/.test(navigator.language || "");
  const distanceText = (km) =>
    miles ? `${(km / 1.609344).toFixed(km < 16 ? 1 : 0)} mi` : `${km.toFixed(km < 10 ? 1 : 0)} km`;

  function haversine(lat1, lng1, lat2, lng2) {
    const rad = Math.PI / 180;
    const a = Math.sin(((lat2 - lat1) * rad) / 2) ** 2 +
      Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(((lng2 - lng1) * rad) / 2) ** 2;
    return 12742 * Math.asin(Math.sqrt(a));
  }

  function announce() {
    const shown = entries.filter((entry) => !entry.hidden).length;
    status.textContent = shown === entries.length ? `${shown} stores` : `${shown} of ${entries.length} stores shown`;
    // A state or city heading only above stores that are shown.
    for (const group of list.querySelectorAll("section")) group.hidden = !group.querySelector("li.store:not([hidden])");
    for (const heading of list.querySelectorAll("h3")) {
      const stores = heading.nextElementSibling;
      heading.hidden = !stores || !stores.querySelector("li.store:not([hidden])");
      if (stores) stores.hidden = heading.hidden;
    }
  }

  search.addEventListener("input", () => {
    const words = fold(search.value).split(/\s+/).filter(Boolean);
    for (const entry of entries) entry.hidden = !words.every((word) => entry.dataset.search.includes(word));
    announce();
    if (map) refreshMarkers();
  });

  // The map: an aid beside the list, never the only way.
  let map = null;
  let cluster = null;
  const markers = new Map();
  const holder = document.getElementById("store-map");
  if (typeof L !== "undefined") {
    holder.hidden = false;
    map = L.map(holder, { scrollWheelZoom: false }).setView([20.6, 78.9], 4);
    tileLayer(holder, root, "The list of stores below still works.").addTo(map);
    cluster = L.markerClusterGroup();
    for (const entry of entries) {
      if (!entry.dataset.lat) continue;
      const marker = L.marker([Number(entry.dataset.lat), Number(entry.dataset.lng)], {
        title: entry.dataset.name,
        alt: entry.dataset.name,
      });
      marker.bindPopup(() => popupFor(entry));
      marker.on("click", () => select(entry, false));
      markers.set(entry, marker);
      entry.querySelector(".show-on-map").hidden = false;
      entry.querySelector(".show-on-map").addEventListener("click", () => select(entry, true));
    }
    map.addLayer(cluster);
    refreshMarkers();
  }

  function popupFor(entry) {
    const box = document.createElement("div");
    const name = document.createElement("strong");
    name.textContent = entry.dataset.name; // text, never markup
    box.append(name, document.createElement("br"), entry.dataset.city);
    return box;
  }

  function refreshMarkers() {
    cluster.clearLayers();
    const shown = Array.from(markers).filter(([entry]) => !entry.hidden).map(([, marker]) => marker);
    cluster.addLayers(shown);
    if (shown.length) map.fitBounds(L.featureGroup(shown).getBounds(), { maxZoom: 12, padding: [20, 20] });
  }

  function select(entry, fromList) {
    for (const other of entries) other.classList.toggle("selected", other === entry);
    const marker = markers.get(entry);
    if (fromList && marker) {
      const at = marker.getLatLng();
      map.setView(at, 15, { animate: false });
      L.popup().setLatLng(at).setContent(popupFor(entry)).openOn(map);
      holder.scrollIntoView({ block: "nearest" });
    } else {
      entry.scrollIntoView({ block: "nearest" });
      entry.querySelector(".store-name").focus();
    }
  }

  document.getElementById("near-me").addEventListener("click", () => {
    if (!navigator.geolocation) {
      status.textContent = "This browser cannot tell where you are.";
      return;
    }
    status.textContent = "Finding where you are…";
    navigator.geolocation.getCurrentPosition(
      (position) => {
        const { latitude, longitude } = position.coords;
        const withDistance = entries.map((entry) => {
          const km = entry.dataset.lat
            ? haversine(latitude, longitude, Number(entry.dataset.lat), Number(entry.dataset.lng))
            : Infinity;
          entry.querySelector(".store-distance").textContent = Number.isFinite(km) ? distanceText(km) : "";
          return [km, entry];
        });
        withDistance.sort((a, b) => a[0] - b[0]);
        // Nearest first, as one flat list: the grouping by place no longer helps.
        const flat = document.createElement("ol");
        flat.className = "nearest";
        for (const [, entry] of withDistance) flat.append(entry);
        list.replaceChildren(flat);
        const nearest = withDistance.find(([km, entry]) => Number.isFinite(km) && !entry.hidden);
        status.textContent = nearest ? `Nearest first: ${nearest[1].dataset.name} is ${distanceText(nearest[0])} away.` : "Sorted by distance.";
        if (map && nearest) map.setView([Number(nearest[1].dataset.lat), Number(nearest[1].dataset.lng)], 11);
      },
      () => (status.textContent = "Your location is not available. Search by city instead."),
      { timeout: 10000, maximumAge: 600000 },
    );
  });
})();
