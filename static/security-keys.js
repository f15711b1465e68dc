// Security keys and passkeys (WebAuthn) on the staff pages: the forms marked
// data-webauthn ("register" on the two-factor page, "sign-in" on the code page).
// The server put what the key must sign in data-options (JSON, binary fields in
// base64url); this asks the browser's navigator.credentials for the key's answer,
// puts it in the form's "credential" field as JSON, and sends the form as it is, its
// CSRF token with it. The server checks everything; without this script the forms
// stay hidden and the pages work with codes alone.
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return;
  }

  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    base64 += "====".slice((base64.length + 3) % 4 + 1);
    var raw = atob(base64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) {
      bytes[i] = raw.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) {
      raw += String.fromCharCode(bytes[i]);
    }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withBytes(descriptors) {
    return (descriptors || []).map(function (descriptor) {
      return Object.assign({}, descriptor, { id: toBytes(descriptor.id) });
    });
  }

  function ask(kind, options) {
    options.challenge = toBytes(options.challenge);
    if (kind === "register") {
      options.user.id = toBytes(options.user.id);
      options.excludeCredentials = withBytes(options.excludeCredentials);
      return navigator.credentials.create({ publicKey: options });
    }
    options.allowCredentials = withBytes(options.allowCredentials);
    return navigator.credentials.get({ publicKey: options });
  }

  function answer(credential) {
    var response = credential.response;
    var sent = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: toText(response.clientDataJSON) }
    };
    if (response.attestationObject) {
      sent.response.attestationObject = toText(response.attestationObject);
      sent.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      sent.response.authenticatorData = toText(response.authenticatorData);
      sent.response.signature = toText(response.signature);
      sent.response.userHandle = response.userHandle ? toText(response.userHandle) : null;
    }
    return JSON.stringify(sent);
  }

  function complain(form, error) {
    var box = form.querySelector("[role=alert]");
    var why = error && error.name === "InvalidStateError"
      ? "That security key is registered already."
      : "The security key did not answer (it was cancelled, or took too long). Try again.";
    box.textContent = why;
    box.hidden = false;
  }

  document.querySelectorAll("form[data-webauthn]").forEach(function (form) {
    form.hidden = false;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var options = JSON.parse(form.dataset.options);
      ask(form.dataset.webauthn, options).then(function (credential) {
        form.querySelector("input[name=credential]").value = answer(credential);
        form.submit();
      }, function (error) {
        complain(form, error);
      });
    });
  });
})();
