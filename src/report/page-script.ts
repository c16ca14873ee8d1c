/** The report page's script (inline; the page's CSP allows it by hash). It builds the page from its JSON. */
export const PAGE_SCRIPT = `
"use strict";
(function () {
  var data = JSON.parse(document.getElementById("truecast-data").textContent);
  var app = document.getElementById("app");
  document.title = data.title;
  var h = document.createElement("h1");
  h.id = "verdict";
  h.textContent = data.verdict.text;
  app.appendChild(h);
})();
`;
