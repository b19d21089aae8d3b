// A WeChat Pay merchant transfer waiting for the sharer (WAIT_USER_CONFIRM): inside WeChat's
// browser, "Accept" opens WeChat's confirmation sheet (JSAPI requestMerchantTransfer) with
// what the server got from WeChat Pay; then the page reloads to show the withdrawal's state.
(function () {
  document.querySelectorAll("[data-wx-transfer]").forEach(function (button) {
    button.addEventListener("click", function () {
      if (typeof WeixinJSBridge === "undefined") { return; }  // outside WeChat: the note says to open it there
      WeixinJSBridge.invoke("requestMerchantTransfer",
        { mchId: button.dataset.mchId, appId: button.dataset.appId, package: button.dataset.package },
        function () { location.reload(); });
    });
  });
})();
