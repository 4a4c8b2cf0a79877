// Single sign-on in the web UI: the "Sign in with <provider>" link (the server runs the OpenID
// Connect flow and sets an HttpOnly session cookie this script never sees), the message of a failed
// sign-in (the server's callback sends the browser to /?sso_error=...), and the session's CSRF
// token, which api.js sends in X-CSRF-Token with every change.

const $ = (id) => document.getElementById(id);

/** Show the SSO link when the server offers it; `apiBase` is where the API lives (api.js). */
export function showSsoLink(config, apiBase) {
  const box = $("signin-sso");
  if (!config || !config.oidc) {
    box.hidden = true;
    return;
  }
  const link = $("signin-sso-link");
  const back = location.pathname + (location.hash.startsWith("#/") ? location.hash : "");
  link.href = `${apiBase}${config.login_url}?return_to=${encodeURIComponent(back)}`;
  $("signin-sso-label").textContent = `Sign in with ${config.provider_name || "single sign-on"}`;
  box.hidden = false;
}

/** The message of a sign-in that failed at the callback, once (it is removed from the address). */
export function takeSsoError() {
  const params = new URLSearchParams(location.search);
  const message = params.get("sso_error");
  if (message === null) return "";
  params.delete("sso_error");
  const query = params.toString();
  history.replaceState(null, "", location.pathname + (query ? `?${query}` : "") + location.hash);
  return message || "Single sign-on failed. Try again.";
}
