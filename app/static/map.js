// The /map page: every collection of the twin as vector tiles on a MapLibre map, with a legend that
// switches layers on and off and says which data are real and which synthetic.
//
// Everything comes from this origin: /collections (the catalog), the collections' vector tiles, and
// MapLibre itself (/vendor/maplibre, from npm). No basemap: a plain background colour.
//
// Buildings can be seen in 3D (extruded by their height from the vector tiles; synthetic ones in grey),
// and a scenario beside the baseline: its added buildings in red and its changed heights in orange over
// the baseline, which turns translucent.
//
// For tests: window.twinMap is the map; window.twinMapReady becomes true once the style and the
// district's tiles have loaded; window.twinMapError holds a message when the page could not start;
// window.twinSet3D(on) and window.twinShowScenario(id or null) do what the panel's controls do.
(() => {
  "use strict";

  const BACKGROUND = "#f4f1ea";
  const PALETTE = [
    "#1f5fa8", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
  ];
  const DISTRICT = "district";
  const TILE_MAX_ZOOM = 16; // beyond this MapLibre over-zooms the z16 tiles: fewer requests, same shapes
  const POLYGONS = ["match", ["geometry-type"], ["Polygon", "MultiPolygon"], true, false];
  const LINES = [
    "match", ["geometry-type"], ["LineString", "MultiLineString", "Polygon", "MultiPolygon"], true, false,
  ];
  const POINTS = ["match", ["geometry-type"], ["Point", "MultiPoint"], true, false];
  // Collections drawn in 3D, and the property their height is in.
  const EXTRUDED = { buildings: "height_m", scenario_buildings: "height_m" };
  const SYNTHETIC_COLOUR = "#b9b2a6";
  const ADDED_COLOUR = "#d62728";
  const RAISED_COLOUR = "#ff7f0e";
  const SCENARIO = "scenario";

  const statusEl = document.getElementById("status");
  const legendEl = document.getElementById("legend");

  window.twinMapReady = false;

  function setStatus(text, isError) {
    statusEl.textContent = text;
    statusEl.classList.toggle("error", Boolean(isError));
  }

  function fail(message) {
    window.twinMapError = message;
    setStatus(message, true);
    console.error("twin map: " + message);
  }

  // Text for MapLibre's attribution control, which inserts it as HTML.
  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, (ch) => "&#" + ch.charCodeAt(0) + ";");
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function bboxOf(collection) {
    const bbox = collection.extent && collection.extent.spatial && collection.extent.spatial.bbox;
    const first = Array.isArray(bbox) ? bbox[0] : null;
    if (!Array.isArray(first) || first.length < 4 || !first.every(Number.isFinite)) return null;
    // A 3D bbox is [minx, miny, minz, maxx, maxy, maxz].
    return first.length >= 6 ? [first[0], first[1], first[3], first[4]] : first.slice(0, 4);
  }

  function unionBbox(boxes) {
    const valid = boxes.filter(Boolean);
    if (!valid.length) return null;
    return valid.reduce((a, b) => [
      Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[2], b[2]), Math.max(a[3], b[3]),
    ]);
  }

  function tilesUrl(id) {
    return location.origin + "/collections/" + encodeURIComponent(id) + "/tiles/WebMercatorQuad/{z}/{y}/{x}";
  }

  function layerIds(id) {
    const ids = [id + "--fill", id + "--line", id + "--circle"];
    if (EXTRUDED[id]) ids.push(id + "--extrusion");
    return ids;
  }

  function extrusion(id, source, colour, extra) {
    return {
      id, type: "fill-extrusion", source, "source-layer": source === SCENARIO ? "scenario_buildings" : source,
      filter: POLYGONS, layout: { visibility: "none" }, ...extra,
      paint: {
        "fill-extrusion-color": [
          "case",
          ["==", ["get", "changed"], "added"], ADDED_COLOUR,
          ["==", ["get", "changed"], "height"], RAISED_COLOUR,
          ["to-boolean", ["get", "synthetic"]], SYNTHETIC_COLOUR,
          colour,
        ],
        "fill-extrusion-height": ["coalesce", ["to-number", ["get", "height_m"]], 0],
        "fill-extrusion-opacity": 0.85,
      },
    };
  }

  // One vector source and three layers (fill, line, circle; each filtered by geometry type) per
  // collection, so any geometry type draws without knowing it in advance. Fills go under all lines,
  // lines under all points.
  function buildStyle(entries) {
    const sources = {};
    const fills = [];
    const lines = [];
    const circles = [];
    const extrusions = [];
    for (const { collection: c, colour, visible } of entries) {
      const source = {
        type: "vector",
        tiles: [tilesUrl(c.id)],
        minzoom: 0,
        maxzoom: TILE_MAX_ZOOM,
      };
      const bbox = bboxOf(c);
      if (bbox) source.bounds = bbox;
      const credit = [c.attribution, c.synthetic ? "(synthetic data)" : ""].filter(Boolean).join(" ");
      if (credit) source.attribution = escapeHtml(credit);
      sources[c.id] = source;

      const visibility = visible ? "visible" : "none";
      const isDistrict = c.id === DISTRICT;
      const [fillId, lineId, circleId] = layerIds(c.id);
      fills.push({
        id: fillId, type: "fill", source: c.id, "source-layer": c.id, filter: POLYGONS,
        layout: { visibility },
        paint: { "fill-color": colour, "fill-opacity": isDistrict ? 0.12 : 0.25 },
      });
      lines.push({
        id: lineId, type: "line", source: c.id, "source-layer": c.id, filter: LINES,
        layout: { visibility, "line-join": "round", "line-cap": "round" },
        paint: { "line-color": colour, "line-width": isDistrict ? 3 : 1.5, "line-opacity": 0.9 },
      });
      if (EXTRUDED[c.id]) extrusions.push(extrusion(c.id + "--extrusion", c.id, colour));
      circles.push({
        id: circleId, type: "circle", source: c.id, "source-layer": c.id, filter: POINTS,
        layout: { visibility },
        paint: {
          "circle-color": colour, "circle-opacity": 0.85, "circle-radius": 5,
          "circle-stroke-color": "#ffffff", "circle-stroke-width": 1,
        },
      });
    }
    return {
      version: 8,
      sources,
      layers: [
        { id: "background", type: "background", paint: { "background-color": BACKGROUND } },
        ...fills, ...lines, ...circles, ...extrusions,
      ],
    };
  }

  function legendItem(entry, onToggle) {
    const c = entry.collection;
    const li = el("li");
    li.dataset.collection = c.id;
    li.id = "legend-" + c.id;

    const label = el("label");
    const box = el("input");
    box.type = "checkbox";
    box.checked = entry.visible;
    box.dataset.collection = c.id;
    box.addEventListener("change", () => onToggle(c.id, box.checked));
    const swatch = el("span", "swatch");
    swatch.style.borderColor = entry.colour;
    swatch.style.backgroundColor = entry.colour + "55";
    label.append(box, swatch, el("span", "title", c.title || c.id));
    label.title = c.description || "";
    li.append(label);

    const meta = el("div", "meta");
    meta.append(el("span", "badge " + (c.synthetic ? "synthetic" : "real"), c.synthetic ? "synthetic" : "real data"));
    if (c.kind === "derived") meta.append(el("span", "kind", "derived layer"));
    const link = el("a", null, "details");
    link.href = "/collections/" + encodeURIComponent(c.id);
    meta.append(" ", link);
    if (c.attribution) meta.append(el("span", "attribution", "© " + c.attribution));
    li.append(meta);
    return li;
  }

  function popupContent(features, titles) {
    const root = el("div", "twin-popup");
    for (const feature of features) {
      const section = el("section");
      section.append(el("h2", null, titles[feature.source] || feature.source));
      const table = el("table");
      const rows = [];
      if (feature.id !== undefined && feature.id !== null) rows.push(["id", feature.id]);
      for (const [key, value] of Object.entries(feature.properties || {})) rows.push([key, value]);
      for (const [key, value] of rows) {
        const tr = el("tr");
        tr.append(el("th", null, key), el("td", null, value === null ? "" : value));
        table.append(tr);
      }
      section.append(table);
      root.append(section);
    }
    return root;
  }

  async function loadCollections() {
    const response = await fetch("/collections", { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error("GET /collections answered " + response.status);
    const body = await response.json();
    if (!body || !Array.isArray(body.collections)) throw new Error("GET /collections: no collections list");
    return body.collections;
  }

  async function start() {
    if (!window.maplibregl) {
      fail("MapLibre GL JS did not load (is node_modules installed?).");
      return;
    }
    let collections;
    try {
      collections = await loadCollections();
    } catch (err) {
      fail("Could not read the collections: " + err.message);
      return;
    }
    if (!collections.length) {
      setStatus("No collection is loaded yet.");
    }

    const focusId = decodeURIComponent(location.hash.slice(1));
    const entries = collections.map((c, i) => ({
      collection: c,
      colour: PALETTE[i % PALETTE.length],
      // Derived layers compute on their first request: off unless asked for by the URL's #hash.
      visible: c.kind !== "derived" || c.id === focusId,
    }));
    const byId = new Map(entries.map((e) => [e.collection.id, e]));
    const titles = Object.fromEntries(collections.map((c) => [c.id, c.title || c.id]));
    const interactive = entries.flatMap((e) => layerIds(e.collection.id));

    const district = byId.get(DISTRICT);
    const home = (district && bboxOf(district.collection)) || unionBbox(collections.map(bboxOf));

    let map;
    try {
      map = new maplibregl.Map({
        container: "map",
        style: buildStyle(entries),
        bounds: home || undefined,
        center: home ? undefined : [23.3256, 42.6599],
        zoom: home ? undefined : 13,
        fitBoundsOptions: { padding: 24 },
        maxZoom: 20,
        attributionControl: { compact: false },
      });
    } catch (err) {
      fail("The map could not start (WebGL unavailable?): " + err.message);
      return;
    }
    window.twinMap = map;
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
    map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");
    map.on("error", (event) => {
      const err = event && event.error;
      console.error("twin map: " + (err && err.message ? err.message : String(err)));
    });

    let threeD = false;

    function setVisible(id, visible) {
      const entry = byId.get(id);
      if (!entry) return;
      entry.visible = visible;
      for (const layer of layerIds(id)) {
        const solid = layer.endsWith("--extrusion");
        const flatHidden = threeD && EXTRUDED[id] && layer.endsWith("--fill");
        const shown = visible && (solid ? threeD : !flatHidden);
        map.setLayoutProperty(layer, "visibility", shown ? "visible" : "none");
      }
      const box = legendEl.querySelector('input[data-collection="' + CSS.escape(id) + '"]');
      if (box) box.checked = visible;
    }

    function focus(id, animate) {
      const entry = byId.get(id);
      for (const li of legendEl.children) li.classList.toggle("focused", li.dataset.collection === id);
      if (!entry) return;
      setVisible(id, true);
      const item = document.getElementById("legend-" + id);
      if (item) item.scrollIntoView({ block: "nearest" });
      const bbox = bboxOf(entry.collection);
      if (bbox && id !== DISTRICT) map.fitBounds(bbox, { padding: 24, animate: Boolean(animate) });
    }

    legendEl.replaceChildren(...entries.map((e) => legendItem(e, setVisible)));
    setStatus(collections.length + " collections · click a feature for its properties");

    map.on("click", (event) => {
      const p = event.point;
      const hits = map.queryRenderedFeatures(
        [[p.x - 3, p.y - 3], [p.x + 3, p.y + 3]],
        { layers: interactive.filter((id) => map.getLayer(id)) },
      );
      const seen = new Set();
      const top = [];
      for (const feature of hits) {
        if (seen.has(feature.source)) continue; // the topmost feature of each collection
        seen.add(feature.source);
        top.push(feature);
      }
      if (!top.length) return;
      new maplibregl.Popup({ maxWidth: "340px" })
        .setLngLat(event.lngLat)
        .setDOMContent(popupContent(top, titles))
        .addTo(map);
    });
    for (const id of interactive) {
      map.on("mouseenter", id, () => { map.getCanvas().style.cursor = "pointer"; });
      map.on("mouseleave", id, () => { map.getCanvas().style.cursor = ""; });
    }

    function set3D(on) {
      threeD = Boolean(on);
      for (const id of Object.keys(EXTRUDED)) if (byId.has(id)) setVisible(id, byId.get(id).visible);
      if (map.getLayer(SCENARIO + "--extrusion")) {
        map.setLayoutProperty(SCENARIO + "--extrusion", "visibility", threeD ? "visible" : "none");
      }
      map.easeTo({ pitch: threeD ? 55 : 0, duration: 0 });
      const box = document.getElementById("three-d");
      if (box) box.checked = threeD;
    }

    function showScenario(id) {
      // A style still changing (layers being added after a catalog change) refuses new sources: wait.
      if (!map.isStyleLoaded()) {
        map.once("idle", () => showScenario(id));
        return;
      }
      if (map.getLayer(SCENARIO + "--extrusion")) map.removeLayer(SCENARIO + "--extrusion");
      if (map.getSource(SCENARIO)) map.removeSource(SCENARIO);
      const ghost = id ? 0.35 : 0.85;
      if (map.getLayer("buildings--extrusion")) map.setPaintProperty("buildings--extrusion", "fill-extrusion-opacity", ghost);
      if (!id) return;
      map.addSource(SCENARIO, {
        type: "vector",
        tiles: [tilesUrl("scenario_buildings") + "?scenario=" + encodeURIComponent(id)],
        minzoom: 0, maxzoom: TILE_MAX_ZOOM, attribution: "scenario " + escapeHtml(id) + " (hypothetical)",
      });
      // Only what the scenario changes, over the baseline: added buildings and changed heights.
      map.addLayer(extrusion(SCENARIO + "--extrusion", SCENARIO, ADDED_COLOUR, {
        filter: ["all", POLYGONS, ["!=", ["get", "changed"], "unchanged"]],
      }));
      if (byId.has("buildings")) setVisible("buildings", true);
      set3D(true);
    }

    window.twinSet3D = set3D;
    window.twinShowScenario = showScenario;
    const threeBox = document.getElementById("three-d");
    if (threeBox) threeBox.addEventListener("change", () => set3D(threeBox.checked));
    const chooser = document.getElementById("scenario-choice");
    if (chooser) {
      fetch("/scenarios?limit=500", { headers: { Accept: "application/json" } })
        .then((r) => (r.ok ? r.json() : { scenarios: [] }))
        .then((body) => {
          for (const s of body.scenarios || []) {
            const option = el("option", null, s.name + " (v" + s.version + ")");
            option.value = String(s.id);
            chooser.append(option);
          }
        })
        .catch(() => {});
      chooser.addEventListener("change", () => showScenario(chooser.value || null));
    }

    window.addEventListener("hashchange", () => focus(decodeURIComponent(location.hash.slice(1)), true));

    map.once("load", () => {
      if (focusId) focus(focusId, false);
      // Ready once every visible source (the district's among them) has its tiles: then idle fires.
      const markReady = () => {
        if (district && !map.isSourceLoaded(DISTRICT)) {
          map.once("idle", markReady);
          return;
        }
        window.twinMapReady = true;
        document.body.dataset.ready = "true";
      };
      map.once("idle", markReady);
    });
  }

  start().catch((err) => fail("Unexpected error: " + (err && err.message ? err.message : err)));
})();
