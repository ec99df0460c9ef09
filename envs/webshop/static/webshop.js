// Choosing an option reloads the item page with that option selected (its URL is on the input).
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll('input[type="radio"]').forEach(function (input) {
    input.addEventListener("click", function () {
      window.location.href = input.dataset.url;
    });
  });
});
