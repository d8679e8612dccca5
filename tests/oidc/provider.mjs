// A real, independent OpenID Connect provider (panva/oidc-provider) on 127.0.0.1 for Warden's
// federation tests. It listens on a free port (or PORT), prints one JSON line
// {"issuer": "http://127.0.0.1:<port>"} on stdout once it serves, and runs until killed.
//
// Access tokens are JWTs (RFC 9068) for the resource `urn:warden:api`, signed with a fresh ES256
// key, and carry each account's `groups`, custom `department` and `clearance` claims and
// Auth0-style `permissions`. Two ways to get one, neither needs a browser:
//   - client_credentials for the client `warden-test` (the token names the client);
//   - `urn:warden:test:account`, a test-only extension grant (RFC 6749 §4.5) of the same client
//     that names an account: a user's token without a login page.
import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider, { errors } from 'oidc-provider';

const AUDIENCE = 'urn:warden:api';
const SCOPES = 'documents:read documents:write';
export const ACCOUNT_GRANT = 'urn:warden:test:account';

// The test accounts (and the client's own claims, for client_credentials).
const ACCOUNTS = {
  alice: { groups: ['viewer'], department: 'eng', clearance: 2, permissions: ['documents:read'] },
  bob: { groups: ['editor'], department: 'eng', clearance: 3, permissions: ['documents:read', 'documents:write'] },
  // clearance as a string: a type the mapping must not coerce
  mallory: { groups: ['viewer'], department: 'eng', clearance: '3', permissions: ['documents:read'] },
};
const CLIENT_CLAIMS = { groups: ['auditor'], department: 'audit', clearance: 1, permissions: ['documents:read'] };

const key = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
const jwks = { keys: [{ ...key, kid: crypto.randomUUID(), alg: 'ES256', use: 'sig' }] };

const server = http.createServer();
await new Promise((resolve) => { server.listen(Number(process.env.PORT || 0), '127.0.0.1', resolve); });
const issuer = `http://127.0.0.1:${server.address().port}`;

const resourceServer = {
  scope: SCOPES,
  audience: AUDIENCE,
  accessTokenFormat: 'jwt',
  accessTokenTTL: 300,
  jwt: { sign: { alg: 'ES256' } },
};

const provider = new Provider(issuer, {
  jwks,
  scopes: ['openid', ...SCOPES.split(' ')],
  clients: [{
    client_id: 'warden-test',
    client_secret: 'warden-test-secret',
    grant_types: ['client_credentials', ACCOUNT_GRANT],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_post',
    id_token_signed_response_alg: 'ES256',
    scope: SCOPES,
  }],
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => AUDIENCE,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, indicator) => {
        if (indicator !== AUDIENCE) throw new errors.InvalidTarget();
        return resourceServer;
      },
    },
  },
  extraTokenClaims: (ctx, token) => (token.accountId ? ACCOUNTS[token.accountId] : CLIENT_CLAIMS),
  findAccount: (ctx, id) => (ACCOUNTS[id] ? { accountId: id, claims: () => ({ sub: id }) } : undefined),
});

provider.registerGrantType(ACCOUNT_GRANT, async (ctx) => {
  const { account } = ctx.oidc.params;
  if (!Object.hasOwn(ACCOUNTS, account)) throw new errors.InvalidGrant('unknown test account');
  const { client } = ctx.oidc;
  const token = new provider.AccessToken({
    accountId: account,
    client,
    gty: ACCOUNT_GRANT,
    scope: SCOPES,
  });
  token.resourceServer = new provider.ResourceServer(AUDIENCE, resourceServer);
  token.setAudience(AUDIENCE);
  ctx.body = {
    access_token: await token.save(),
    token_type: 'Bearer',
    expires_in: token.expiration,
    scope: token.scope,
  };
}, ['account']);

server.on('request', provider.callback());
process.stdout.write(`${JSON.stringify({ issuer })}\n`);
