-- Single sign-on (issue 18): which provider identity is which user, browser sessions, and logins in
-- flight. All in PostgreSQL so that every worker and replica knows them (the callback of a login
-- may reach another replica than the one that started it).

-- A provider's subject (iss, sub) is linked to one user on first sign-in; later sign-ins and tokens
-- find the user by this link only, never by a name claim (a local user is never taken over).
CREATE TABLE oidc_identities (
    issuer        text        NOT NULL,
    subject       text        NOT NULL,
    user_id       text        NOT NULL REFERENCES api_users (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    seen_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX oidc_identities_user_idx ON oidc_identities (user_id);

-- A browser session: only the SHA-256 of the cookie's value is stored. The CSRF token is sent by
-- the web UI in X-CSRF-Token with every state-changing request.
CREATE TABLE auth_sessions (
    token_hash    bytea       PRIMARY KEY,
    user_id       text        NOT NULL REFERENCES api_users (id) ON DELETE CASCADE,
    csrf_token    text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX auth_sessions_user_idx ON auth_sessions (user_id);
CREATE INDEX auth_sessions_expiry_idx ON auth_sessions (expires_at);

-- A login between the redirect to the provider and its callback: the state (hashed), bound to the
-- browser that started it by a cookie (hashed), with the nonce and the PKCE verifier. Used once.
CREATE TABLE oidc_logins (
    state_hash    bytea       PRIMARY KEY,
    browser_hash  bytea       NOT NULL,
    nonce         text        NOT NULL,
    code_verifier text        NOT NULL,
    redirect_url  text        NOT NULL,
    return_to     text        NOT NULL,
    expires_at    timestamptz NOT NULL
);
