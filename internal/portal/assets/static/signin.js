// Signs in from a portal link: the token is in the URL's fragment, which the
// browser never sends to a server. It is posted once to /portal/session,
// which sets the session cookie; then the page moves on with
// location.replace, so the link (and its token) leaves the history.
(function () {
  "use strict";
  var box = document.getElementById("signin");
  var status = document.getElementById("signin-status");
  var params = new URLSearchParams(location.hash.slice(1));
  var token = params.get("token");
  if (!token) {
    var next = box && box.getAttribute("data-next");
    if (next) {
      location.replace(next);
      return;
    }
    status.textContent = "This page needs the link you were given: it carries your sign-in token. Open that link again.";
    return;
  }
  // Drop the token from the address bar at once.
  history.replaceState(null, "", location.pathname);
  var body = new URLSearchParams();
  body.set("token", token);
  fetch("/portal/session", {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-Requested-With": "herald" },
    body: body
  }).then(function (resp) {
    return resp.json();
  }).then(function (data) {
    location.replace(data.next || "/portal/invalid");
  }).catch(function () {
    status.textContent = "Could not sign in: the server did not answer. Check your connection and open the link again.";
  });
})();
