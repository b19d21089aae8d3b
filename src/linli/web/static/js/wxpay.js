// WeChat's in-app browser opens the payment sheet with the parameters the server signed
// (WeChat Pay JSAPI 调起支付); then back to the order page, which waits for the notification.
(function () {
  var button = document.getElementById("wx-pay");
  var params = JSON.parse(document.getElementById("wx-params").textContent);
  function pay() {
    if (typeof WeixinJSBridge === "undefined") { return; }
    WeixinJSBridge.invoke("getBrandWCPayRequest", params, function () { location.href = button.dataset.done; });
  }
  button.addEventListener("click", pay);
  if (typeof WeixinJSBridge !== "undefined") { pay(); } else { document.addEventListener("WeixinJSBridgeReady", pay, false); }
})();
