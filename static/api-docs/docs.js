/* /api/docs: load /api/v1/openapi.json with the browser session and show it with Swagger
   UI; without a session, say so and link to the login page. */
(function () {
  "use strict";

  var SPEC_URL = "/api/v1/openapi.json";
  var status = document.getElementById("docs-status");
  var login = document.getElementById("docs-login");

  function fail(message) {
    status.textContent = message;
    status.className = "docs-status docs-error";
  }

  fetch(SPEC_URL, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (response) {
      if (response.status === 401) {
        status.hidden = true;
        login.hidden = false;
        return null;
      }
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      return response.json();
    })
    .then(function (spec) {
      if (spec === null) {
        return;
      }
      status.hidden = true;
      window.SwaggerUIBundle({
        spec: spec,
        dom_id: "#swagger-ui",
        deepLinking: true,
        validatorUrl: null, // never ask validator.swagger.io: nothing leaves the portal
        defaultModelsExpandDepth: 0,
        docExpansion: "list",
        tryItOutEnabled: false,
        presets: [window.SwaggerUIBundle.presets.apis]
      });
    })
    .catch(function (error) {
      fail("The API description could not be loaded (" + error.message + "). Reload the page.");
    });
})();
