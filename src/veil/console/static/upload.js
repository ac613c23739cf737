// veil console: chunked, resumable uploads of files, folders and zips into a job.
// No inline script (the CSP forbids it): this file is loaded by the job page only.
// Nothing is stored in the browser: resuming asks the server what it has.
// Loaded on every page (base.html): a job page reached by an htmx-boosted link gets its body
// swapped in, and htmx runs no script found in swapped content (allowScriptTags: false), so
// the uploader starts from htmx.onLoad, once per #upload section.
(function () {
  "use strict";

  function boot(root) {
    if (!root || !root.querySelector) { return; }
    var box = root.id === "upload" ? root : root.querySelector("#upload");
    if (!box || box.getAttribute("data-ready")) { return; }
    box.setAttribute("data-ready", "1");
    uploader(box);
  }

  if (window.htmx) {
    window.htmx.onLoad(boot);
  } else {
    document.addEventListener("DOMContentLoaded", function () { boot(document.body); });
  }

function uploader(box) {
  var job = box.getAttribute("data-job");
  var chunk = parseInt(box.getAttribute("data-chunk"), 10) || 8388608;
  var headers = {};
  try { headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}"); } catch (e) { headers = {}; }
  var base = "/api/v1/jobs/" + encodeURIComponent(job);
  var summary = document.getElementById("upload-summary");
  var queue = [];
  var active = 0;
  var CONCURRENT = 3;
  var totals = { files: 0, done: 0, failed: 0, bytes: 0, sent: 0 };
  var claimed = {};

  function request(method, url, body, type) {
    var init = { method: method, headers: Object.assign({}, headers), credentials: "same-origin" };
    if (body !== undefined) {
      init.body = body;
      init.headers["Content-Type"] = type || "application/octet-stream";
    }
    return fetch(url, init).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { status: response.status, data: data };
      });
    });
  }

  function refresh() {
    if (window.htmx) { window.htmx.trigger(document.body, "refresh-job"); }
  }

  function show() {
    var mb = function (n) { return (n / 1048576).toFixed(1) + " MB"; };
    summary.textContent = totals.done + " of " + totals.files + " file(s) uploaded" +
      (totals.failed ? ", " + totals.failed + " failed (drop them again to resume)" : "") +
      " · " + mb(totals.sent) + " of " + mb(totals.bytes);
  }

  function sleep(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

  function sendFrom(item, offset, attempt) {
    if (offset >= item.file.size) { return Promise.resolve(); }
    var end = Math.min(item.file.size, offset + chunk);
    var url = base + "/files/" + item.number + "?offset=" + offset;
    return request("POST", url, item.file.slice(offset, end)).then(function (answer) {
      if (answer.status === 200) {
        totals.sent += end - offset;
        show();
        if (answer.data.state === "refused") { item.refused = answer.data.problem; return; }
        return sendFrom(item, answer.data.received, 0);
      }
      if (answer.status === 409 && typeof answer.data.received === "number") {
        return sendFrom(item, answer.data.received, attempt);  // resume where the server is
      }
      throw new Error(answer.data.detail || ("HTTP " + answer.status));
    }, function (error) {
      if (attempt >= 5) { throw error; }
      return sleep(500 * Math.pow(2, attempt)).then(function () {
        return request("GET", base + "/files").then(function (answer) {
          var found = (answer.data || []).filter(function (f) { return f.file === item.number; })[0];
          return sendFrom(item, found ? found.received : offset, attempt + 1);
        });
      });
    });
  }

  function start(item) {
    active += 1;
    var ready = item.number ? Promise.resolve({ status: 200, data: { file: item.number, received: item.received } })
      : request("POST", base + "/files", JSON.stringify({ name: item.name, size: item.file.size }), "application/json");
    ready.then(function (answer) {
      if (answer.status !== 200 && answer.status !== 201) {
        throw new Error(answer.data.detail || ("HTTP " + answer.status));
      }
      item.number = answer.data.file;
      totals.sent += answer.data.received || 0;
      return sendFrom(item, answer.data.received || 0, 0);
    }).then(function () {
      totals.done += 1;
    }, function (error) {
      totals.failed += 1;
      summary.setAttribute("data-last-error", String(error && error.message || error));
    }).then(function () {
      active -= 1;
      show();
      refresh();
      pump();
    });
  }

  function pump() {
    while (active < CONCURRENT && queue.length) { start(queue.shift()); }
  }

  function add(files) {
    request("GET", base + "/files").then(function (answer) {
      var known = Array.isArray(answer.data) ? answer.data : [];
      files.forEach(function (entry) {
        var item = { file: entry.file, name: entry.name, number: 0, received: 0 };
        var match = known.filter(function (f) {
          return f.state === "receiving" && f.name === entry.name && f.size === entry.file.size && !claimed[f.file];
        })[0];
        if (match) { claimed[match.file] = true; item.number = match.file; item.received = match.received; }
        else if (known.some(function (f) { return f.state !== "receiving" && f.name === entry.name && f.size === entry.file.size; })) {
          return;  // received already (a second drop after a reload)
        }
        totals.files += 1;
        totals.bytes += entry.file.size;
        queue.push(item);
      });
      show();
      pump();
    });
  }

  function fromInput(input) {
    var files = [];
    for (var i = 0; i < input.files.length; i += 1) {
      var f = input.files[i];
      files.push({ file: f, name: f.webkitRelativePath || f.name });
    }
    input.value = "";
    add(files);
  }

  function readEntry(entry, path, out) {
    return new Promise(function (resolve) {
      if (entry.isFile) {
        entry.file(function (f) { out.push({ file: f, name: path + f.name }); resolve(); }, function () { resolve(); });
        return;
      }
      var reader = entry.createReader();
      var all = [];
      (function more() {
        reader.readEntries(function (batch) {
          if (!batch.length) {
            Promise.all(all.map(function (child) { return readEntry(child, path + entry.name + "/", out); })).then(resolve);
            return;
          }
          all = all.concat(Array.prototype.slice.call(batch));
          more();
        }, function () { resolve(); });
      })();
    });
  }

  var zone = document.getElementById("dropzone");
  zone.addEventListener("dragover", function (event) { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    zone.classList.remove("over");
    var items = event.dataTransfer.items;
    var out = [];
    var walks = [];
    for (var i = 0; items && i < items.length; i += 1) {
      var entry = items[i].webkitGetAsEntry && items[i].webkitGetAsEntry();
      if (entry) { walks.push(readEntry(entry, "", out)); }
    }
    if (!walks.length) {
      for (var j = 0; j < event.dataTransfer.files.length; j += 1) {
        out.push({ file: event.dataTransfer.files[j], name: event.dataTransfer.files[j].name });
      }
    }
    Promise.all(walks).then(function () { add(out); });
  });
  document.getElementById("pick-files").addEventListener("change", function (event) { fromInput(event.target); });
  document.getElementById("pick-folder").addEventListener("change", function (event) { fromInput(event.target); });
  window.addEventListener("beforeunload", function (event) {
    if (active || queue.length) { event.preventDefault(); event.returnValue = ""; }
  });
}
})();
