/*
 * Web chat page: plain ES5 and XMLHttpRequest, so old phones' browsers run it; no libraries.
 *
 * The conversation token lives in this browser's localStorage (never a cookie). Each message
 * gets a random client id, kept with its text until the server has answered, so a network flake
 * or a reload sends the same message again and the server recognises it (no second reply).
 * While the page is visible it asks every 15 s for messages queued for it (status changes,
 * results): web chat has no push.
 */
(function () {
  "use strict";

  var TOKEN_KEY = "zhitong.chat.token";
  var PENDING_KEY = "zhitong.chat.pending";
  var POLL_MS = 15000;
  var RETRY_MS = [2000, 5000, 15000, 30000];
  var CASE_NUMBER = /((?:ZT)?\d{12,16})/;

  var root = document.getElementById("chat");
  var thread = document.getElementById("thread");
  var form = document.getElementById("send");
  var input = document.getElementById("text");
  var submit = document.getElementById("submit");
  var statusLine = document.getElementById("status");
  var forget = document.getElementById("forget");
  var api = root.getAttribute("data-api");
  var tokenHeader = root.getAttribute("data-token-header");
  var maxChars = parseInt(root.getAttribute("data-max-chars"), 10) || 2000;
  var memory = {};
  var shown = {};
  var lastId = 0;
  var sending = false;
  var polling = false;

  function text(name) {
    return root.getAttribute("data-" + name) || "";
  }

  // localStorage can be missing or refuse writes (private mode): fall back to this page's memory.
  function load(key) {
    try {
      return window.localStorage.getItem(key);
    } catch (e) {
      return Object.prototype.hasOwnProperty.call(memory, key) ? memory[key] : null;
    }
  }

  function store(key, value) {
    try {
      if (value === null) {
        window.localStorage.removeItem(key);
      } else {
        window.localStorage.setItem(key, value);
      }
    } catch (e) {
      if (value === null) {
        delete memory[key];
      } else {
        memory[key] = value;
      }
    }
  }

  function say(message) {
    statusLine.textContent = message || "";
  }

  function newClientId() {
    var bytes = new Uint8Array(16);
    var cryptoObj = window.crypto || window.msCrypto;
    var hex = "";
    var i;
    if (cryptoObj && cryptoObj.getRandomValues) {
      cryptoObj.getRandomValues(bytes);
    } else {
      for (i = 0; i < bytes.length; i += 1) {
        bytes[i] = Math.floor(Math.random() * 256);
      }
    }
    for (i = 0; i < bytes.length; i += 1) {
      hex += ("0" + bytes[i].toString(16)).slice(-2);
    }
    return "c" + hex;
  }

  function call(method, url, body, done) {
    var xhr = new XMLHttpRequest();
    var token = load(TOKEN_KEY);
    xhr.open(method, url, true);
    xhr.timeout = 20000;
    xhr.setRequestHeader("Accept", "application/json");
    if (body !== null) {
      xhr.setRequestHeader("Content-Type", "application/json");
    } else if (token) {
      xhr.setRequestHeader(tokenHeader, token);
    }
    xhr.onreadystatechange = function () {
      var data = null;
      if (xhr.readyState !== 4) {
        return;
      }
      try {
        data = JSON.parse(xhr.responseText);
      } catch (e) {
        data = null;
      }
      done(xhr.status, data);
    };
    xhr.send(body === null ? null : JSON.stringify(body));
  }

  // Text as DOM nodes (never HTML), with case numbers set apart so they stay whole and visible.
  function fill(element, value) {
    var parts = String(value).split(CASE_NUMBER);
    var i;
    var span;
    for (i = 0; i < parts.length; i += 1) {
      if (i % 2 === 1) {
        span = document.createElement("span");
        span.className = "case-number";
        span.textContent = parts[i];
        element.appendChild(span);
      } else if (parts[i]) {
        element.appendChild(document.createTextNode(parts[i]));
      }
    }
  }

  function clock(at) {
    var moment = at ? new Date(at) : new Date();
    if (isNaN(moment.getTime())) {
      return "";
    }
    return ("0" + moment.getHours()).slice(-2) + ":" + ("0" + moment.getMinutes()).slice(-2);
  }

  function bubble(direction, value, id, at) {
    var item = document.createElement("li");
    var who = document.createElement("span");
    var time = document.createElement("span");
    item.className = "msg " + direction;
    who.className = "who";
    who.textContent = (direction === "inbound" ? text("you") : text("service")) + ": ";
    item.appendChild(who);
    fill(item, value);
    time.className = "time";
    time.textContent = clock(at);
    item.appendChild(time);
    if (id) {
      item.setAttribute("data-id", String(id));
      shown[id] = true;
    }
    thread.appendChild(item);
    thread.scrollTop = thread.scrollHeight;
    return item;
  }

  // Only what the server lists moves `lastId`: a notification stored while a reply was on its
  // way has a lower id than the reply and must still be fetched.
  function render(messages) {
    var i;
    var m;
    for (i = 0; i < messages.length; i += 1) {
      m = messages[i];
      if (!shown[m.id]) {
        bubble(m.direction, m.text, m.id, m.at);
      }
      lastId = Math.max(lastId, m.id);
    }
  }

  function clearThread() {
    var items = thread.querySelectorAll("li:not(.welcome)");
    var i;
    for (i = 0; i < items.length; i += 1) {
      thread.removeChild(items[i]);
    }
    shown = {};
    lastId = 0;
  }

  function expire() {
    store(TOKEN_KEY, null);
    clearThread();
    say(text("expired"));
  }

  function poll() {
    var token = load(TOKEN_KEY);
    if (!token || polling || document.visibilityState === "hidden") {
      return;
    }
    polling = true;
    call("GET", api + "?after=" + lastId, null, function (status, data) {
      polling = false;
      if (status === 200 && data && data.messages) {
        render(data.messages);
      } else if (status === 403) {
        expire();
      }
    });
  }

  function finish(item, data, pending) {
    var i;
    store(PENDING_KEY, null);
    if (data.token) {
      store(TOKEN_KEY, data.token);
    }
    if (shown[data.message_id]) {
      // Sent before a reload; the history already shows it.
      item.parentNode.removeChild(item);
    } else {
      item.className = item.className.replace(" pending", "");
      item.setAttribute("data-id", String(data.message_id));
      shown[data.message_id] = true;
    }
    for (i = 0; i < data.replies.length; i += 1) {
      if (!shown[data.reply_ids[i]]) {
        bubble("outbound", data.replies[i], data.reply_ids[i]);
      }
    }
    if (!data.replies.length) {
      bubble("outbound", text("received"));
    }
    say("");
    sending = false;
    submit.disabled = false;
    if (pending.text === input.value) {
      input.value = "";
    }
    poll();
  }

  function deliver(item, pending, attempt) {
    var body = {
      text: pending.text,
      client_id: pending.client_id,
      token: load(TOKEN_KEY) || "",
      language: document.documentElement.lang === "en" ? "en" : "zh",
    };
    say(text("sending"));
    call("POST", api, body, function (status, data) {
      if (status === 200 && data && data.replies) {
        finish(item, data, pending);
        return;
      }
      if (status === 403) {
        expire();
        thread.appendChild(item);
        deliver(item, pending, attempt);
        return;
      }
      if (status === 0 || status >= 500) {
        say(text("offline"));
        window.setTimeout(function () {
          deliver(item, pending, attempt + 1);
        }, RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]);
        return;
      }
      // Refused (limited, too long, …): nothing was recorded; give the text back to edit.
      store(PENDING_KEY, null);
      item.parentNode.removeChild(item);
      input.value = pending.text;
      say(status === 429 ? text("limited") : text("refused"));
      sending = false;
      submit.disabled = false;
    });
  }

  function start(pending) {
    var item = bubble("inbound", pending.text);
    item.className += " pending";
    sending = true;
    submit.disabled = true;
    store(PENDING_KEY, JSON.stringify(pending));
    deliver(item, pending, 0);
  }

  form.addEventListener("submit", function (event) {
    var value = input.value.replace(/^\s+|\s+$/g, "");
    event.preventDefault();
    if (sending || !value) {
      return;
    }
    if (value.length > maxChars) {
      say(text("too-long"));
      return;
    }
    start({ text: value, client_id: newClientId() });
  });

  input.addEventListener("keydown", function (event) {
    // Enter sends; Shift+Enter is a new line; Enter that confirms an IME composition is not.
    var composing = event.isComposing || event.keyCode === 229;
    if ((event.key === "Enter" || event.keyCode === 13) && !event.shiftKey && !composing) {
      event.preventDefault();
      if (typeof form.requestSubmit === "function") {
        form.requestSubmit();
      } else {
        form.dispatchEvent(new Event("submit", { cancelable: true }));
      }
    }
  });

  forget.addEventListener("click", function () {
    store(TOKEN_KEY, null);
    store(PENDING_KEY, null);
    clearThread();
    say("");
  });

  document.addEventListener("visibilitychange", poll);
  window.setInterval(poll, POLL_MS);

  // On load: the history first, then anything left unsent by a reload mid-flight.
  (function resume() {
    var saved = load(PENDING_KEY);
    var pending = null;
    try {
      pending = saved ? JSON.parse(saved) : null;
    } catch (e) {
      pending = null;
    }
    if (!load(TOKEN_KEY)) {
      if (pending && pending.text && pending.client_id) {
        start(pending);
      }
      return;
    }
    call("GET", api + "?after=0", null, function (status, data) {
      if (status === 200 && data && data.messages) {
        render(data.messages);
      } else if (status === 403) {
        expire();
      }
      if (pending && pending.text && pending.client_id) {
        start(pending);
      }
    });
  })();
})();
