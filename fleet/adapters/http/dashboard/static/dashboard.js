// fleet dashboard: keep the page live without reloading it.
// The server sends "change" on /ui/stream when anything changed; the page then fetches
// its own URL again and swaps the [data-live-region] element for the fresh one, so what
// it shows always comes from the server's own rendering. No other script runs here.
(function () {
  "use strict";
  var indicator = document.querySelector('[data-testid="live"]');
  var region = document.querySelector("[data-live-region]");
  if (!indicator || document.body.getAttribute("data-live") !== "on") {
    return;
  }
  var fetching = false;
  var again = false;
  var timer = null;

  // The session ended (signed out, expired, or the daemon restarted and forgot it):
  // sign in again, then come back here. The target is this page's own path, so it
  // cannot lead off this site.
  function signIn() {
    var here = window.location.pathname + window.location.search;
    window.location.assign("/login?next=" + encodeURIComponent(here));
  }

  function show(state) {
    indicator.textContent = state;
    indicator.setAttribute("data-state", state);
  }

  function refresh() {
    if (!region) {
      return;
    }
    if (fetching) {
      again = true;
      return;
    }
    fetching = true;
    // The diff (?diff=) is outside the live region: asking for it again would only
    // repeat dry-runs on the cluster.
    var url = new URL(window.location.href);
    url.searchParams.delete("diff");
    fetch(url.toString(), { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (response.redirected && new URL(response.url).pathname === "/login") {
          signIn();
          return "";
        }
        if (!response.ok) {
          throw new Error("status " + response.status);
        }
        return response.text();
      })
      .then(function (text) {
        var fresh = new DOMParser().parseFromString(text, "text/html").querySelector("[data-live-region]");
        if (fresh) {
          region.replaceWith(fresh);
          region = fresh;
          document.dispatchEvent(new CustomEvent("fleet:updated"));
        }
      })
      .catch(function () {
        show("disconnected");
      })
      .then(function () {
        fetching = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }

  function connect() {
    // The stream URL names what this page shows (a status fingerprint and the last
    // event id): the server reports any change since, even one before we connected.
    var source = new EventSource(document.body.getAttribute("data-stream") || "/ui/stream");
    source.addEventListener("open", function () { show("connected"); });
    source.addEventListener("hello", function () { show("connected"); });
    source.addEventListener("change", function () {
      show("connected");
      if (timer === null) {
        // Coalesce a burst of changes (a sync step and its event) into one fetch.
        timer = window.setTimeout(function () { timer = null; refresh(); }, 150);
      }
    });
    source.addEventListener("signin", function () {
      source.close();
      show("disconnected");
      signIn();
    });
    source.addEventListener("bye", function () {
      // The daemon is stopping: it ended the stream cleanly. Try again a little later.
      source.close();
      show("disconnected");
      window.setTimeout(connect, 2000);
    });
    source.addEventListener("error", function () {
      show("disconnected");
      if (source.readyState === EventSource.CLOSED) {
        window.setTimeout(connect, 3000);
      }
    });
  }

  connect();
})();
