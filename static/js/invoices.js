// "Mes factures": the amount to pay follows the invoices ticked (the server recomputes it).
(function () {
  var form = document.getElementById("pay-form");
  if (!form) return;
  var out = document.getElementById("amount-to-pay");
  var fmt = new Intl.NumberFormat("fr-FR", {style: "currency", currency: "EUR"});
  form.addEventListener("change", function () {
    var total = Math.round(parseFloat(form.dataset.hiddenDue || "0") * 100);
    form.querySelectorAll("input[name=invoices]:checked").forEach(function (box) {
      total += Math.round(parseFloat(box.dataset.amount) * 100);
    });
    out.textContent = fmt.format(total / 100);
  });
})();
