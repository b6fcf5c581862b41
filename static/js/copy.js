// Copy buttons for the one-time secrets and the quickstart's commands. Each button names the
// element it copies: <button type="button" data-copy="ID" hidden>…</button>, and an element
// with id "ID-status" (role="status") says what happened. Without JavaScript, or without the
// Clipboard API, the buttons stay hidden and the text can be selected and copied by hand.
(function () {
  "use strict";
  if (!navigator.clipboard) {
    return;
  }
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.dataset.copy);
    var status = document.getElementById(button.dataset.copy + "-status");
    if (!source) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = "value" in source ? source.value : source.textContent;
      navigator.clipboard.writeText(text.trim()).then(
        function () {
          if (status) status.textContent = "Copied.";
        },
        function () {
          if (status) status.textContent = "Could not copy: select the text and copy it.";
        }
      );
    });
  });
})();
