// The JWS algorithms the docs API accepts: asymmetric only, never `none`, never HS* (a public key used
// as an HMAC secret).

/** Access tokens: the algorithms the auth server signs with and publishes keys for. */
export const ACCEPTED_ALGORITHMS = ['ES256', 'RS256', 'EdDSA'];

/**
 * DPoP proofs (RFC 9449 §4.3 check 5): those the auth server takes at its token endpoint (its
 * `dpop_signing_alg_values_supported`), so every key it binds a token to can prove possession here.
 */
export const DPOP_ALGORITHMS = ['ES256', 'EdDSA', 'Ed25519'];
