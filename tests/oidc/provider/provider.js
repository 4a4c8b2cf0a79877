// A real OpenID Provider for AWSomeChat's single sign-on tests: panva/oidc-provider (the certified
// Node.js implementation) on a loopback port, configured by the tests through two JSON files that it
// re-reads on every use:
//
//   OIDC_STATE  {"accounts": {"<username>": {"sub", "name", "email", "groups": [..], "admin"}},
//                "access_token_ttl": <seconds>}
//   OIDC_JWKS   {"keys": [<private JWKs>]}  (read at start: a restart with other keys is a rotation)
//
// Clients: the AWSomeChat web app (confidential, the callback in OIDC_WEB_REDIRECT) and "cli", a
// public native client (PKCE, any loopback redirect) with which tests fetch access tokens for the
// API audience (OIDC_API_AUDIENCE) or for another one (OIDC_OTHER_AUDIENCE). Access tokens are JWTs
// (RFC 9068) carrying the account's groups, as Cognito's carry cognito:groups.
//
// Sign-in: a plain form at /interaction/<uid> asks for a user name (no password: the tests are the
// users); consent is granted without asking, as for a first-party application.
import { readFileSync } from "node:fs";
import http from "node:http";

import Provider from "oidc-provider";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const PORT = Number(env("OIDC_PORT"));
const ISSUER = `http://127.0.0.1:${PORT}`;
const API_AUDIENCE = env("OIDC_API_AUDIENCE");
const OTHER_AUDIENCE = env("OIDC_OTHER_AUDIENCE");
const state = () => JSON.parse(readFileSync(env("OIDC_STATE"), "utf8"));
const accountBySub = (sub) => Object.entries(state().accounts).find(([, a]) => a.sub === sub);

const SCOPES = ["openid", "profile", "email", "groups"];

const configuration = {
  clients: [
    {
      client_id: env("OIDC_WEB_CLIENT_ID"),
      client_secret: env("OIDC_WEB_SECRET"),
      redirect_uris: [env("OIDC_WEB_REDIRECT")],
      post_logout_redirect_uris: [new URL(env("OIDC_WEB_REDIRECT")).origin + "/"],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
    {
      client_id: "cli",
      application_type: "native",
      token_endpoint_auth_method: "none",
      redirect_uris: ["http://127.0.0.1/callback"],
      grant_types: ["authorization_code"],
      response_types: ["code"],
    },
  ],
  jwks: JSON.parse(readFileSync(env("OIDC_JWKS"), "utf8")),
  scopes: SCOPES,
  claims: {
    openid: ["sub"],
    profile: ["name", "preferred_username"],
    email: ["email"],
    groups: ["groups", "admin"],
  },
  // The claims of the granted scopes in the ID token itself (as Cognito and most providers do).
  conformIdTokenClaims: false,
  async findAccount(_ctx, sub) {
    const found = accountBySub(sub);
    if (!found) return undefined;
    const [username, account] = found;
    return {
      accountId: sub,
      async claims() {
        // Read again here: a test that changes a user's groups sees it at the next token.
        const [, now] = accountBySub(sub) || [username, account];
        return {
          sub,
          preferred_username: username,
          name: now.name || username,
          email: now.email || `${username}@example.com`,
          groups: now.groups || [],
          admin: Boolean(now.admin),
        };
      },
    };
  },
  async extraTokenClaims(_ctx, token) {
    if (token.kind !== "AccessToken" || !token.accountId) return undefined;
    const found = accountBySub(token.accountId);
    return found ? { groups: found[1].groups || [], username: found[0] } : undefined;
  },
  // First-party clients: every scope granted without a consent screen.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      const existing = await ctx.oidc.provider.Grant.find(grantId);
      if (existing) return existing;
    }
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope("openid profile email groups");
    grant.addResourceScope(API_AUDIENCE, "api");
    grant.addResourceScope(OTHER_AUDIENCE, "api");
    await grant.save();
    return grant;
  },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo(_ctx, resourceIndicator) {
        if (resourceIndicator !== API_AUDIENCE && resourceIndicator !== OTHER_AUDIENCE) {
          throw new Provider.errors.InvalidTarget();
        }
        return {
          scope: "api",
          audience: resourceIndicator,
          accessTokenTTL: state().access_token_ttl || 3600,
          accessTokenFormat: "jwt",
        };
      },
    },
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  pkce: { required: () => true },
  ttl: { AccessToken: () => state().access_token_ttl || 3600, IdToken: 3600, Interaction: 600, Session: 3600, Grant: 3600, AuthorizationCode: 60 },
  cookies: { keys: ["awsomechat-test-provider-cookie-key"] },
};

const provider = new Provider(ISSUER, configuration);
const oidc = provider.callback();

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(res, uid, message = "") {
  res.statusCode = message ? 401 : 200;
  res.setHeader("Content-Type", "text/html; charset=utf-8");
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test identity provider</title></head>
<body><main><h1>Test identity provider</h1>
${message ? `<p role="alert">${escape(message)}</p>` : ""}
<form method="post" action="/interaction/${escape(uid)}/login">
<label for="username">Username</label> <input id="username" name="username" autocomplete="username" autofocus>
<button type="submit">Log in</button></form></main></body></html>`);
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

// Consent without asking (native clients are always prompted): grant what is missing.
async function grantConsent(req, res, details) {
  const { prompt, params, session } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(" "));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes || {})) {
    grant.addResourceScope(indicator, scopes.join(" "));
  }
  const grantId = await grant.save();
  const consent = details.grantId ? {} : { grantId };
  await provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
}

async function interaction(req, res) {
  const [, , uid, action] = new URL(req.url, ISSUER).pathname.split("/");
  try {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) throw new Error("interaction mismatch");
    if (details.prompt.name === "consent") return await grantConsent(req, res, details);
    if (req.method === "GET") return loginPage(res, uid);
    if (req.method === "POST" && action === "login") {
      const username = (await readForm(req)).get("username") || "";
      const account = state().accounts[username];
      if (!account) return loginPage(res, uid, `No user ${username}`);
      return await provider.interactionFinished(req, res, { login: { accountId: account.sub } }, {
        mergeWithLastSubmission: false,
      });
    }
    res.statusCode = 405;
    res.end();
  } catch (err) {
    res.statusCode = 400;
    res.setHeader("Content-Type", "text/plain; charset=utf-8");
    res.end(`interaction failed: ${err.message}`);
  }
}

http
  .createServer((req, res) => {
    if (req.url.startsWith("/interaction/")) {
      interaction(req, res);
    } else {
      oidc(req, res);
    }
  })
  .listen(PORT, "127.0.0.1", () => {
    console.log(`oidc-provider listening on ${ISSUER}`);
  });
