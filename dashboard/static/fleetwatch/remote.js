// A remote session's page: the terminal (xterm.js) or the file browser, over the session's own socket.
// Binary messages carry data (1 byte kind, 4 bytes stream, the bytes); JSON carries everything else.
// Both directions keep to a window: output is acknowledged once the terminal has drawn it, uploads are sent
// only as fast as the agent acknowledges them.
(function () {
  "use strict";
  const root = document.getElementById("remote");
  if (!root) return;

  // The terminal makes <style> elements; the page's Content-Security-Policy admits them by this response's nonce.
  const nonce = document.querySelector('meta[name="csp-nonce"]');
  if (nonce && nonce.content) {
    const make = document.createElement.bind(document);
    document.createElement = function (tag, options) {
      const element = make(tag, options);
      if (String(tag).toLowerCase() === "style") element.setAttribute("nonce", nonce.content);
      return element;
    };
  }

  const TERMINAL = 1, FILE = 2, CHUNK = 64 * 1024, WINDOW = 256 * 1024, ACK_EVERY = 16 * 1024;
  const status = document.getElementById("remote-status");
  const encoder = new TextEncoder();
  let socket = null;
  let ended = false;
  let nextId = 0;
  const state = document.getElementById("session-state");
  const say = (text) => { status.textContent = text; };
  const send = (message) => { if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message)); };

  function packed(kind, stream, bytes) {
    const out = new Uint8Array(5 + bytes.length);
    out[0] = kind;
    new DataView(out.buffer).setUint32(1, stream);
    out.set(bytes, 5);
    return out;
  }

  function connect(query, handlers) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${scheme}//${location.host}${root.dataset.ws}${query}`);
    socket.binaryType = "arraybuffer";
    socket.addEventListener("message", (event) => {
      if (typeof event.data !== "string") {
        const view = new DataView(event.data);
        handlers.data(view.getUint8(0), view.getUint32(1), new Uint8Array(event.data, 5));
        return;
      }
      const message = JSON.parse(event.data);
      if (message.event === "opened") { if (state) state.textContent = "Open"; handlers.opened(message); }
      else if (message.event === "closed" || message.event === "refused") finish(message, handlers);
      else if (message.event === "error") say(message.message);
      else if (handlers[message.event]) handlers[message.event](message);
    });
    socket.addEventListener("close", () => finish({event: "closed", reason: "the connection to the server closed"}, handlers));
    document.getElementById("remote-close").addEventListener("click", () => {
      send({op: "close"});
    });
  }

  function finish(message, handlers) {
    if (ended) return;
    ended = true;
    if (state) state.textContent = message.event === "refused" ? "Refused" : "Ended";
    const why = message.event === "refused" ? `Refused: ${message.reason}` : `Session ended: ${message.reason}`;
    say(message.exit_code !== undefined && message.exit_code !== null ? `${why} (exit code ${message.exit_code})` : why);
    document.getElementById("remote-close").disabled = true;
    if (handlers.ended) handlers.ended(why);
  }

  // --- the terminal -------------------------------------------------------------------------------------
  function terminal() {
    const term = new Terminal({cursorBlink: true, scrollback: 5000, fontSize: 14,
      fontFamily: "ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace"});
    const fit = new FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(document.getElementById("terminal"));
    fit.fit();
    let drawn = 0, ackTimer = null;
    const acknowledge = () => {
      ackTimer = null;
      if (drawn > 0) { send({op: "ack", stream: 0, bytes: drawn}); drawn = 0; }
    };
    connect(`?cols=${term.cols}&rows=${term.rows}`, {
      opened(message) {
        say(`Connected${message.shell ? ` (${message.shell})` : ""}. Everything here is recorded.`);
        term.focus();
      },
      data(kind, stream, bytes) {
        if (kind !== TERMINAL) return;
        const size = bytes.length;
        term.write(bytes, () => {
          drawn += size;
          if (drawn >= ACK_EVERY) acknowledge();
          else if (!ackTimer) ackTimer = setTimeout(acknowledge, 50);
        });
      },
      ended(why) { term.write(`\r\n\x1b[2m[${why}]\x1b[0m\r\n`); term.options.disableStdin = true; },
    });
    const type = (text) => {
      if (socket && socket.readyState === WebSocket.OPEN && !ended) {
        const bytes = encoder.encode(text);
        for (let start = 0; start < bytes.length; start += CHUNK) {
          socket.send(packed(TERMINAL, 0, bytes.subarray(start, start + CHUNK)));
        }
      }
    };
    // Ctrl+C interrupts, as in any terminal; Ctrl+Shift+C copies the selection and Ctrl+Shift+V pastes.
    term.attachCustomKeyEventHandler((event) => {
      if (event.type === "keydown" && event.ctrlKey && event.shiftKey && event.code === "KeyC") {
        if (term.hasSelection() && navigator.clipboard) navigator.clipboard.writeText(term.getSelection());
        return false;
      }
      return true;
    });
    term.onData(type);
    term.onBinary((text) => type(text));
    term.onResize(({cols, rows}) => send({op: "resize", cols, rows}));
    window.addEventListener("resize", () => fit.fit());
    window.__fleetwatchTerminal = term;  // the browser tests read what the terminal shows
  }

  // --- the file browser ------------------------------------------------------------------------------------
  function fileBrowser() {
    const pathInput = document.getElementById("files-path");
    const tbody = document.querySelector("#files-table tbody");
    const progress = document.getElementById("files-progress");
    const note = document.getElementById("files-message");
    const requests = new Map();
    let folder = null, parent = null;

    const tell = (text) => { note.textContent = text; };
    const ask = (op, fields, handlers) => {
      const id = ++nextId;
      requests.set(id, {op, ...handlers});
      send({op, id, ...fields});
      return id;
    };
    const separator = () => (folder && folder.includes("\\") && !folder.includes("/") ? "\\" : "/");
    const join = (name) => (folder.endsWith(separator()) ? folder + name : folder + separator() + name);
    const sizeText = (size) => (size === null || size === undefined ? "" : size < 1024 ? `${size} B`
      : size < 1048576 ? `${(size / 1024).toFixed(1)} KB` : `${(size / 1048576).toFixed(1)} MB`);
    const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
    const digest = async (buffer) => {
      if (!window.crypto || !crypto.subtle) throw new Error("checksums need a secure page (HTTPS)");
      return hex(await crypto.subtle.digest("SHA-256", buffer));
    };
    const showProgress = (done, total) => {
      progress.hidden = false;
      progress.value = total ? Math.round((done / total) * 100) : 100;
    };

    function cell(row, content) {
      const td = document.createElement("td");
      if (content instanceof Node) td.appendChild(content); else td.textContent = content;
      row.appendChild(td);
      return td;
    }
    function button(label, action, danger) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      if (danger) b.className = "danger";
      b.addEventListener("click", action);
      return b;
    }

    // Only the last folder asked for is shown, and a folder being typed is never overwritten: the first
    // listing (asked for on connect) can come back after the technician has typed or opened another folder.
    let lastListing = 0, typing = false;
    pathInput.addEventListener("input", () => { typing = true; });
    function open(path, keepMessage) {
      if (!keepMessage) tell("");
      const id = ask("list", {path}, {
        reply(message) {
          if (id !== lastListing) return;
          if (!message.ok) { tell(message.error); return; }
          const listing = message.result;
          folder = listing.path; parent = listing.parent;
          if (!typing) pathInput.value = folder;
          tbody.replaceChildren();
          if (!listing.entries.length) {
            const row = tbody.insertRow();
            const td = cell(row, "This folder is empty.");
            td.colSpan = 5; td.className = "empty";
          }
          for (const entry of listing.entries) {
            const row = tbody.insertRow();
            const name = entry.type === "dir" ? button(`${entry.name}/`, () => open(entry.path)) : document.createTextNode(entry.name);
            const th = document.createElement("th");
            th.scope = "row";
            th.appendChild(name);
            row.appendChild(th);
            cell(row, sizeText(entry.size));
            cell(row, entry.modified ? new Date(entry.modified * 1000).toLocaleString() : "");
            cell(row, entry.mode);
            const actions = document.createElement("span");
            actions.className = "row-actions";
            if (entry.type === "file") actions.appendChild(button("Download", () => download(entry)));
            actions.appendChild(button("Rename", () => rename(entry)));
            actions.appendChild(button("Delete", () => remove(entry), true));
            cell(row, actions);
          }
          if (listing.truncated) tell("Only the first 5,000 entries are shown.");
        },
      });
      lastListing = id;
      typing = false;
    }

    function simple(op, fields, doneText) {
      ask(op, fields, {
        reply(message) { if (!message.ok) tell(message.error); },
        done(message) { tell(message.ok ? doneText : message.error); if (message.ok) open(folder, true); },
      });
    }
    function rename(entry) {
      const name = window.prompt(`New name for ${entry.name}`, entry.name);
      if (name && name !== entry.name) simple("rename", {path: entry.path, to: join(name)}, `Renamed ${entry.name} to ${name}.`);
    }
    function remove(entry) {
      if (window.confirm(`Delete ${entry.path} on the device? This cannot be undone.`)) {
        simple("delete", {path: entry.path}, `Deleted ${entry.name}.`);
      }
    }

    function download(entry) {
      const chunks = [];
      let received = 0, size = 0, drawn = 0;
      tell(`Downloading ${entry.name}…`);
      const id = ask("download", {path: entry.path}, {
        reply(message) {
          if (!message.ok) { tell(message.error); return; }
          size = message.result.size;
          requests.get(id).stream = message.stream;
          showProgress(0, size);
        },
        data(bytes) {
          chunks.push(bytes.slice());
          received += bytes.length;
          drawn += bytes.length;
          showProgress(received, size);
          if (drawn >= ACK_EVERY || received === size) { send({op: "ack", stream: requests.get(id).stream, bytes: drawn}); drawn = 0; }
        },
        async done(message) {
          if (!message.ok) { tell(`Download failed: ${message.error}`); return; }
          const blob = new Blob(chunks);
          try {
            const found = await digest(await blob.arrayBuffer());
            if (found !== message.sha256) { tell(`Download damaged (SHA-256 ${found}, the agent read ${message.sha256}); not saved.`); return; }
          } catch (error) { tell(`Downloaded, but not checked: ${error.message}.`); }
          const link = document.createElement("a");
          link.href = URL.createObjectURL(blob);
          link.download = entry.name;
          document.body.appendChild(link);
          link.click();
          link.remove();
          setTimeout(() => URL.revokeObjectURL(link.href), 10000);
          tell(`Downloaded ${entry.name} (${sizeText(message.size)}, SHA-256 ${message.sha256}).`);
        },
      });
    }

    async function upload(file) {
      const limit = Number(root.dataset.uploadLimit) * 1024 * 1024;
      if (file.size > limit) { tell(`${file.name} is larger than ${root.dataset.uploadLimit} MB.`); return; }
      const buffer = new Uint8Array(await file.arrayBuffer());
      let sha256;
      try { sha256 = await digest(buffer); } catch (error) { tell(`Cannot upload: ${error.message}.`); return; }
      let sent = 0, acknowledged = 0, stream = null;
      const pump = () => {
        while (stream !== null && sent < buffer.length && sent - acknowledged < WINDOW) {
          const piece = buffer.subarray(sent, sent + CHUNK);
          socket.send(packed(FILE, stream, piece));
          sent += piece.length;
        }
      };
      tell(`Uploading ${file.name}…`);
      showProgress(0, buffer.length);
      ask("upload", {path: join(file.name), size: buffer.length, sha256}, {
        reply(message) {
          if (!message.ok) { tell(message.error); return; }
          stream = message.stream;
          pump();
        },
        progress(message) { acknowledged = message.bytes; showProgress(acknowledged, buffer.length); pump(); },
        done(message) {
          tell(message.ok ? `Uploaded ${file.name} (${sizeText(message.size)}, SHA-256 ${message.sha256}, checked by the agent).`
            : `Upload failed: ${message.error}`);
          if (message.ok) open(folder, true);
        },
      });
    }

    connect("", {
      opened() { say("Connected. Every file operation is recorded."); open(""); },
      reply(message) { const r = requests.get(message.id); if (r) r.reply(message); },
      progress(message) { const r = requests.get(message.id); if (r && r.progress) r.progress(message); },
      done(message) { const r = requests.get(message.id); if (r) { requests.delete(message.id); if (r.done) r.done(message); } },
      data(kind, stream, bytes) {
        if (kind !== FILE) return;
        for (const request of requests.values()) if (request.stream === stream && request.data) request.data(bytes);
      },
      ended() { document.querySelectorAll("#remote button, #remote input").forEach((el) => { el.disabled = true; }); },
    });
    document.getElementById("files-go").addEventListener("submit", (event) => { event.preventDefault(); open(pathInput.value); });
    document.getElementById("files-up").addEventListener("click", () => { if (parent !== null && parent !== undefined) open(parent); });
    document.getElementById("files-upload").addEventListener("submit", (event) => {
      event.preventDefault();
      const file = document.getElementById("upload-file").files[0];
      if (file && folder !== null) upload(file);
    });
    document.getElementById("files-mkdir").addEventListener("submit", (event) => {
      event.preventDefault();
      const name = document.getElementById("mkdir-name").value.trim();
      if (name && folder !== null) simple("mkdir", {path: join(name)}, `Made ${name}.`);
    });
  }

  if (root.dataset.kind === "shell") terminal(); else fileBrowser();
})();
