-- The Kendra-compatible endpoint (/kendra) authenticates AWS SigV4 requests, whose signature is an
-- HMAC keyed by the whole API key: a hash alone cannot verify it. Each key therefore also keeps a
-- copy encrypted with AES-GCM under the installation's key-encryption key (api.key_encryption_key,
-- or a generated file in <data_dir>/secrets/): version byte, KEK id, nonce, ciphertext and tag,
-- bound to the key's id. NULL for keys created before this migration until their next successful
-- bearer authentication writes it.
ALTER TABLE api_keys ADD COLUMN secret_enc bytea;
