/* "Copy link" buttons (issue 18). A page holds the button in an inert
   <template data-copy-button>, which this script replaces with its content: without
   JavaScript there is no button that does nothing, and the link is selected by hand.
   The button, <button data-copy="ID" data-copy-status="ID" data-copied="…"
   data-copy-failed="…">, copies the value (or text) of #data-copy and says so in the
   aria-live element #data-copy-status, in the page's language. Loaded with defer by the
   pages that show such a button; content htmx swaps in later (the invite form's answer)
   is handled on htmx:load, and clicks by one listener on the document. CSP: script-src
   'self', no inline code. */
(function () {
  "use strict";

  function reveal(root) {
    if (!root || !root.querySelectorAll) {
      return;
    }
    root.querySelectorAll("template[data-copy-button]").forEach(function (template) {
      template.replaceWith(template.content.cloneNode(true));
    });
  }

  function say(button, text) {
    var spot = document.getElementById(button.dataset.copyStatus);
    if (!spot) {
      return;
    }
    // Emptied first, so that a second copy is announced again.
    spot.textContent = "";
    window.setTimeout(function () {
      spot.textContent = text;
    }, 50);
  }

  function selectAll(source) {
    source.focus();
    if (typeof source.select === "function") {
      source.select();
      return;
    }
    var range = document.createRange();
    range.selectNodeContents(source);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function copyBySelection(button, source) {
    selectAll(source);
    var done = false;
    try {
      done = document.execCommand("copy");
    } catch (error) {
      done = false;
    }
    say(button, done ? button.dataset.copied : button.dataset.copyFailed);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) {
      return;
    }
    var source = document.getElementById(button.dataset.copy);
    if (!source) {
      return;
    }
    var text = "value" in source ? source.value : source.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () {
        say(button, button.dataset.copied);
      }, function () {
        copyBySelection(button, source);
      });
    } else {
      copyBySelection(button, source);
    }
  });

  reveal(document);
  document.addEventListener("htmx:load", function (event) {
    reveal(event.target);
  });
}());
