// Progressive enhancement of the survey form (/s/<slug>); the form works without it.
// Hides the questions whose show_if the answers above do not meet (and disables their inputs,
// so they are not posted) and keeps the progress bar current. The server applies the same
// show_if at submit and checks every answer: nothing here decides what is stored.
(function () {
  "use strict";
  var form = document.querySelector(".survey-form");
  if (!form) { return; }
  var questions = Array.prototype.slice.call(form.querySelectorAll(".question"));
  var progress = form.querySelector(".survey-progress progress");
  var answeredOut = form.querySelector("[data-answered]");
  var applicableOut = form.querySelector("[data-applicable]");
  var hint = form.querySelector("[data-hint]");
  if (hint) { hint.hidden = true; }

  function valuesOf(question) {
    var out = [];
    var inputs = question.querySelectorAll("input[name], textarea[name]");
    Array.prototype.forEach.call(inputs, function (input) {
      if (input.name !== question.dataset.key || input.disabled) { return; }
      if (input.type === "radio" || input.type === "checkbox") {
        if (input.checked) { out.push(input.value); }
      } else if (input.value.trim() !== "") {
        out.push(input.value);
      }
    });
    return out;
  }

  function update() {
    var kept = {};  // key -> answers, of the questions shown so far (as the server chains them)
    var shown = 0;
    var answered = 0;
    questions.forEach(function (question) {
      var rule = question.dataset.showIf ? JSON.parse(question.dataset.showIf) : {};
      var visible = Object.keys(rule).every(function (key) {
        var given = kept[key] || [];
        return rule[key].some(function (value) { return given.indexOf(String(value)) !== -1; });
      });
      question.hidden = !visible;
      question.classList.remove("not-applicable");
      Array.prototype.forEach.call(question.querySelectorAll("input, textarea"), function (input) {
        input.disabled = !visible;
      });
      if (!visible) { return; }
      shown += 1;
      var values = valuesOf(question);
      if (values.length) {
        answered += 1;
        kept[question.dataset.key] = values;
      }
    });
    if (progress) { progress.max = shown; progress.value = answered; }
    if (answeredOut) { answeredOut.textContent = String(answered); }
    if (applicableOut) { applicableOut.textContent = String(shown); }
  }

  form.addEventListener("change", update);
  form.addEventListener("input", update);
  update();
  // The hints that explain conditions in words are for pages without this script.
  Array.prototype.forEach.call(form.querySelectorAll(".condition"), function (p) { p.hidden = true; });
})();
