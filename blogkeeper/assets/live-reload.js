// Live reload for `blogkeeper serve`. Served at /__blogkeeper/live.js and added to HTML
// pages as they are served; never copied into a built site.
//
// The server streams its state (build id and errors) on /__blogkeeper/events. Browsers
// allow six connections per host over HTTP/1.1, so a stream per tab would freeze the
// seventh tab: one tab per browser holds the stream (a Web Lock elects it) and passes the
// state to the others over a BroadcastChannel. Without those APIs (a page reached over
// plain http from another machine is not a secure context), every tab listens itself.
(() => {
  const built = document.currentScript.dataset.build;
  const [server, generation] = built.split(".");
  const name = "blogkeeper-live";
  const scroll = "blogkeeper-scroll";

  const saved = sessionStorage.getItem(scroll);
  if (saved) {
    sessionStorage.removeItem(scroll);
    const [path, y] = JSON.parse(saved);
    if (path === location.pathname) addEventListener("load", () => scrollTo(0, y));
  }

  // `built`: whether a build has ever succeeded. Until then the page is the server's
  // "does not build yet" page, whose list of errors is kept up to date instead.
  function overlay(errors, built) {
    const first = document.getElementById("blogkeeper-first-errors");
    if (!built && first) {
      first.textContent = errors.join("\n") || "The site is being built.";
      return;
    }
    let box = document.getElementById("blogkeeper-errors");
    if (!errors.length) {
      if (box) box.remove();
      return;
    }
    if (!box) {
      box = document.createElement("div");
      box.id = "blogkeeper-errors";
      box.setAttribute("role", "alert");
      box.style.cssText = "position:fixed;inset:auto 0 0 0;max-height:60vh;overflow:auto;"
        + "z-index:2147483647;margin:0;padding:1em;background:#2b0b0b;color:#ffd7d7;"
        + "font:14px/1.4 ui-monospace,monospace;border-top:4px solid #e5484d;";
      document.body.appendChild(box);
    }
    const title = document.createElement("strong");
    title.textContent = built
      ? "Build failed; showing the last good build. Fix the errors and save:"
      : "Build failed; nothing has built yet. Fix the errors and save:";
    const list = document.createElement("pre");
    list.style.cssText = "white-space:pre-wrap;margin:.5em 0 0";
    list.textContent = errors.join("\n");
    box.replaceChildren(title, list);
  }

  let reloading = false;
  function show(state) {
    if (reloading) return;
    const [stateServer, stateGeneration] = state.build.split(".");
    const newer = stateServer !== server || Number(stateGeneration) > Number(generation);
    if (state.generation > 0 && newer) {
      reloading = true;
      sessionStorage.setItem(scroll, JSON.stringify([location.pathname, scrollY]));
      location.reload();
    } else if (state.generation === 0 || stateGeneration === generation) {
      overlay(state.errors, state.generation > 0);
    }  // else: a state older than this page, already out of date
  }

  function listen(onState) {
    const events = new EventSource("/__blogkeeper/events");
    events.addEventListener("state", (event) => onState(JSON.parse(event.data)));
  }

  if (!("locks" in navigator) || !("BroadcastChannel" in window)) {
    listen(show);
    return;
  }
  const channel = new BroadcastChannel(name);
  let latest = null;  // set only in the tab that holds the stream
  channel.onmessage = (event) => {
    if (event.data === "hello") {
      if (latest) channel.postMessage(latest);
    } else {
      show(event.data);
    }
  };
  navigator.locks.request(name, () => new Promise(() => {
    listen((state) => {
      latest = state;
      channel.postMessage(state);
      show(state);
    });
  }));
  channel.postMessage("hello");  // the tab holding the stream answers with the state
})();
